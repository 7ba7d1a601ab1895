//! What a tensor checkpoint's pickle may import: torch's `weights_only` allowlist (and
//! NumPy's array reconstruction, which it admits), the legacy tensor classes, and Python 2
//! names judged under the names they really import.

/// Globals a tensor checkpoint needs. Source: PyTorch's `weights_only` unpickler
/// (torch/_weights_only_unpickler.py: `_get_allowed_globals`, `_tensor_rebuild_functions`,
/// the storage and dtype lists) and NumPy's array reconstruction helpers, which the same
/// unpickler admits.
pub const ALLOWED_GLOBALS: &[&str] = &[
    "collections.OrderedDict",
    "collections.Counter",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch._tensor._rebuild_from_type_v2",
    "torch.serialization._get_layout",
    "torch.nn.parameter.Parameter",
    "torch.Tensor",
    "torch.Size",
    "torch.device",
    "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage",
    "torch.UntypedStorage",
    "torch.TypedStorage",
    "torch.FloatStorage",
    "torch.DoubleStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
    "torch.ComplexFloatStorage",
    "torch.ComplexDoubleStorage",
    "torch.QUInt8Storage",
    "torch.QInt8Storage",
    "torch.QInt32Storage",
    "torch.QUInt4x2Storage",
    "torch.QUInt2x4Storage",
    "torch.float32",
    "torch.float",
    "torch.float64",
    "torch.double",
    "torch.float16",
    "torch.half",
    "torch.bfloat16",
    "torch.float8_e4m3fn",
    "torch.float8_e5m2",
    "torch.float8_e4m3fnuz",
    "torch.float8_e5m2fnuz",
    "torch.complex32",
    "torch.complex64",
    "torch.complex128",
    "torch.uint8",
    "torch.uint16",
    "torch.uint32",
    "torch.uint64",
    "torch.int8",
    "torch.int16",
    "torch.int32",
    "torch.int64",
    "torch.long",
    "torch.int",
    "torch.bool",
    "torch.quint8",
    "torch.qint8",
    "torch.qint32",
    "torch.quint4x2",
    "torch.quint2x4",
    "torch.contiguous_format",
    "torch.channels_last",
    "torch.channels_last_3d",
    "torch.preserve_format",
    "torch.strided",
    "torch.sparse_coo",
    "torch.sparse_csr",
    "torch.sparse_csc",
    "torch.sparse_bsr",
    "torch.sparse_bsc",
    "torch._mkldnn",
    "torch.per_tensor_affine",
    "torch.per_channel_affine",
    "torch.per_tensor_symmetric",
    "torch.per_channel_symmetric",
    "torch.per_channel_affine_float_qparams",
    "builtins.set",
    "builtins.frozenset",
    "builtins.slice",
    "builtins.range",
    "builtins.complex",
    "builtins.bytearray",
    // the dtypes of torch.storage._new_dtypes() (2.x), the legacy tensor and storage
    // classes of torch._tensor_classes / torch._storage_classes
    "torch.float8_e8m0fnu",
    "torch.float4_e2m1fn_x2",
    "torch.uint1",
    "torch.uint2",
    "torch.uint3",
    "torch.uint4",
    "torch.uint5",
    "torch.uint6",
    "torch.uint7",
    "torch.int1",
    "torch.int2",
    "torch.int3",
    "torch.int4",
    "torch.int5",
    "torch.int6",
    "torch.int7",
    "torch.bits1x8",
    "torch.bits2x4",
    "torch.bits4x2",
    "torch.bits8",
    "torch.bits16",
    "torch.bcomplex32",
    "_codecs.encode",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.ndarray",
    "numpy.dtype",
];

/// Module prefixes whose every name is allowed: NumPy 2's dtype classes.
/// NumPy's dtype classes (numpy ≥ 1.25 pickles `numpy.dtypes.Float32DType` and kin), by
/// exact name: no prefix is ever allowed — from pickle protocol 4 a dotted name is an
/// attribute path, so `numpy.dtypes.<anything>` could reach any object.
pub(super) const ALLOWED_NUMPY_DTYPES: &[&str] = &[
    "numpy.dtypes.BoolDType",
    "numpy.dtypes.Int8DType",
    "numpy.dtypes.UInt8DType",
    "numpy.dtypes.Int16DType",
    "numpy.dtypes.UInt16DType",
    "numpy.dtypes.Int32DType",
    "numpy.dtypes.UInt32DType",
    "numpy.dtypes.Int64DType",
    "numpy.dtypes.UInt64DType",
    "numpy.dtypes.ByteDType",
    "numpy.dtypes.UByteDType",
    "numpy.dtypes.ShortDType",
    "numpy.dtypes.UShortDType",
    "numpy.dtypes.IntDType",
    "numpy.dtypes.UIntDType",
    "numpy.dtypes.LongDType",
    "numpy.dtypes.ULongDType",
    "numpy.dtypes.LongLongDType",
    "numpy.dtypes.ULongLongDType",
    "numpy.dtypes.Float16DType",
    "numpy.dtypes.Float32DType",
    "numpy.dtypes.Float64DType",
    "numpy.dtypes.LongDoubleDType",
    "numpy.dtypes.Complex64DType",
    "numpy.dtypes.Complex128DType",
    "numpy.dtypes.CLongDoubleDType",
];

/// The element types of the legacy `torch.*Tensor` / `torch.cuda.*Tensor` /
/// `torch.sparse.*Tensor` and `torch.cuda.*Storage` classes.
pub(super) const LEGACY_TYPES: &[&str] = &[
    "Double",
    "Float",
    "Half",
    "BFloat16",
    "Long",
    "Int",
    "Short",
    "Char",
    "Byte",
    "Bool",
    "ComplexFloat",
    "ComplexDouble",
];

/// Python 2 names the loader maps (pickle's `IMPORT_MAPPING`/`NAME_MAPPING`, applied by
/// torch's `weights_only` unpickler too): judged under the name it really imports.
pub(super) fn py3_name(g: &str) -> std::borrow::Cow<'_, str> {
    match g {
        "__builtin__.xrange" => "builtins.range".into(),
        "__builtin__.unicode" => "builtins.str".into(),
        "__builtin__.long" => "builtins.int".into(),
        "__builtin__.reduce" => "functools.reduce".into(),
        "copy_reg._reconstructor" => "copyreg._reconstructor".into(),
        _ => match g.strip_prefix("__builtin__.") {
            Some(n) => format!("builtins.{n}").into(),
            None => g.into(),
        },
    }
}

pub(super) fn allowed(g: &str, extra: &[String]) -> bool {
    let g3 = py3_name(g);
    let g = g3.as_ref();
    let legacy_class = |g: &str| {
        let n = g
            .strip_prefix("torch.cuda.sparse.")
            .or_else(|| g.strip_prefix("torch.cuda."))
            .or_else(|| g.strip_prefix("torch.sparse."))
            .or_else(|| g.strip_prefix("torch."));
        n.is_some_and(|n| {
            LEGACY_TYPES.iter().any(|t| {
                n.strip_prefix(t).is_some_and(|rest| {
                    rest == "Tensor" || (rest == "Storage" && !g.contains("sparse"))
                })
            })
        })
    };
    ALLOWED_GLOBALS.contains(&g)
        || ALLOWED_NUMPY_DTYPES.contains(&g)
        || legacy_class(g)
        || extra.iter().any(|e| e == g)
}

/// `module.name` made of Python identifiers (what an import could resolve).
pub(super) fn is_python_path(g: &str) -> bool {
    g.contains('.')
        && g.split('.').all(|p| {
            let mut c = p.chars();
            c.next().is_some_and(|f| f.is_alphabetic() || f == '_')
                && c.all(|x| x.is_alphanumeric() || x == '_')
        })
}
