//! Model files, checked before the workload can load them: sha256 manifests and a scan of
//! every pickle for imports a tensor checkpoint never needs.

pub mod pickle;
pub mod zip;

use crate::error::{Error, Result};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a file cannot be checked (a malformed archive or pickle, an I/O error): it is then
/// refused, never called clean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Unreadable {
    fn from(e: std::io::Error) -> Self {
        Unreadable(e.to_string())
    }
}

impl From<String> for Unreadable {
    fn from(s: String) -> Self {
        Unreadable(s)
    }
}

impl From<&str> for Unreadable {
    fn from(s: &str) -> Self {
        Unreadable(s.to_string())
    }
}

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
const ALLOWED_NUMPY_DTYPES: &[&str] = &[
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

pub const EXTENSIONS: &[&str] = &["pt", "pth", "bin", "ckpt", "pkl", "pickle", "safetensors"];

/// Pickle members and raw pickles larger than this are refused (a tensor checkpoint's
/// pickle is kilobytes to a few megabytes; the tensor data lives elsewhere).
const PICKLE_LIMIT: u64 = 512 << 20;

/// Whether `b` starts with the legacy magic number pickled with any protocol
/// (`_use_new_zipfile_serialization=False` with `pickle_protocol` 1–5): `L…L\n` for 0 and 1,
/// PROTO n [FRAME] LONG1 for 2–5.
fn is_legacy(b: &[u8]) -> bool {
    const LONG1: &[u8] = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
    if b.starts_with(b"L119547037146038801333356L\n")
        || b.starts_with(b"L119547037146038801333356\n")
    {
        return true;
    }
    match b {
        [0x80, 2..=5, 0x95, rest @ ..] if rest.len() >= 8 => rest[8..].starts_with(LONG1),
        [0x80, 2..=5, rest @ ..] => rest.starts_with(LONG1),
        _ => false,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Offence {
    pub member: String,
    pub global: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// pickle, torch-zip, torch-legacy, safetensors
    pub kind: String,
    pub clean: bool,
    pub globals: Vec<String>,
    pub offending: Vec<Offence>,
    pub error: Option<String>,
    pub bytes_read: u64,
    pub size: u64,
    /// Found in a directory and no format torch.load reads code from (a config, a
    /// tokenizer, an ONNX or HDF5 file): not a model file, not scanned further.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The pickles read: zip members, or `(pickle)` for a raw or legacy file.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub files: Vec<FileReport>,
    pub clean: usize,
    pub refused: usize,
    /// Files in scanned directories that are no model format.
    pub skipped: usize,
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub millis: u64,
}

/// The element types of the legacy `torch.*Tensor` / `torch.cuda.*Tensor` /
/// `torch.sparse.*Tensor` and `torch.cuda.*Storage` classes.
const LEGACY_TYPES: &[&str] = &[
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
fn py3_name(g: &str) -> std::borrow::Cow<'_, str> {
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

fn allowed(g: &str, extra: &[String]) -> bool {
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

/// A file to scan: named (`sniffed` false: it must be a model file) or found in a
/// directory (every regular file, sniffed by content: one in no model format is skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    pub sniffed: bool,
}

/// Files to scan under the given paths: files as given; directories walked whole, every
/// regular file sniffed by content (extensions say nothing: `model_best.pth.tar`, a Hugging
/// Face blob); symlinks followed when they resolve inside the scanned tree (each target
/// once: a snapshot's links into `blobs/`), refused when they leave it.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        let md = std::fs::symlink_metadata(p).map_err(|e| {
            Error::config(format!(
                "--scan-models {}: {e}; check the path",
                p.display()
            ))
        })?;
        if md.is_dir() {
            let root = std::fs::canonicalize(p)
                .map_err(|e| Error::config(format!("--scan-models {}: {e}", p.display())))?;
            let before = out.len();
            walk(&root, &root, &mut out, &mut seen)?;
            if out.len() == before {
                return Err(Error::data(format!(
                    "--scan-models {}: the directory holds no file to check; point at the model files",
                    p.display()
                )));
            }
        } else if md.is_file() {
            if seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())) {
                out.push(Target {
                    path: p.clone(),
                    sniffed: false,
                });
            }
        } else {
            return Err(Error::data(format!(
                "--scan-models {}: not a regular file or directory (a symlink?); point at the file itself",
                p.display()
            )));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<Target>,
    seen: &mut std::collections::HashSet<PathBuf>,
) -> Result<()> {
    if !seen.insert(dir.to_path_buf()) {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::config(format!("--scan-models {}: {e}", dir.display())))?;
    for e in rd {
        let e = e.map_err(|e| Error::config(format!("--scan-models {}: {e}", dir.display())))?;
        let mut p = e.path();
        let mut ft = e.file_type().map_err(|err| {
            Error::config(format!(
                "--scan-models {}: {err}; check the path",
                p.display()
            ))
        })?;
        if ft.is_symlink() {
            let t = std::fs::canonicalize(&p).map_err(|err| {
                Error::data(format!(
                    "--scan-models: {} is a symlink that does not resolve ({err}); remove it",
                    p.display()
                ))
            })?;
            if !t.starts_with(root) {
                return Err(Error::data(format!(
                    "--scan-models: {} is a symlink leaving the scanned tree (to {}); scan the target itself, or remove the link",
                    p.display(),
                    t.display()
                )));
            }
            ft = std::fs::symlink_metadata(&t)
                .map_err(|err| Error::data(format!("--scan-models {}: {err}", t.display())))?
                .file_type();
            p = t;
        }
        if ft.is_dir() {
            walk(root, &p, out, seen)?;
        } else if ft.is_file() && seen.insert(p.clone()) {
            out.push(Target {
                path: p,
                sniffed: true,
            });
        }
    }
    Ok(())
}

/// `module.name` made of Python identifiers (what an import could resolve).
fn is_python_path(g: &str) -> bool {
    g.contains('.')
        && g.split('.').all(|p| {
            let mut c = p.chars();
            c.next().is_some_and(|f| f.is_alphabetic() || f == '_')
                && c.all(|x| x.is_alphanumeric() || x == '_')
        })
}

/// Whether `head` starts with a tar header as Python's `tarfile` (which torch.load tries
/// before pickle) accepts one: not an all-zero block, and the checksum field agreeing with
/// the header's unsigned or signed byte sum. No magic is needed (`tarfile` reads v7
/// headers). The field is read leniently (a sign, `0o`, underscores, spaces): a lenient read
/// can only call more files tar, never fewer.
fn is_tar(head: &[u8]) -> bool {
    let Some(h) = head.get(..512) else {
        return false;
    };
    if h.iter().all(|b| *b == 0) {
        return false;
    }
    // the sums tarfile compares, with the checksum field itself counted as spaces
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, b) in h.iter().enumerate() {
        let (u, s) = if (148..156).contains(&i) {
            (32, 32)
        } else {
            (*b as i64, *b as i8 as i64)
        };
        unsigned += u;
        signed += s;
    }
    let field = &h[148..156];
    let value: Option<i64> = if field[0] == 0o200 || field[0] == 0o377 {
        // base-256
        let mut n: i64 = 0;
        for b in &field[1..] {
            n = (n << 8) + *b as i64;
        }
        Some(if field[0] == 0o377 {
            n - (1i64 << 56)
        } else {
            n
        })
    } else {
        let text: Vec<u8> = field.iter().copied().take_while(|b| *b != 0).collect();
        let t = String::from_utf8_lossy(&text);
        let t = t.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
        let (neg, t) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let t = t
            .strip_prefix("0o")
            .or_else(|| t.strip_prefix("0O"))
            .unwrap_or(t);
        let digits: String = t.chars().filter(|c| *c != '_').collect();
        if digits.is_empty() {
            Some(0)
        } else {
            i64::from_str_radix(&digits, 8)
                .ok()
                .map(|v| if neg { -v } else { v })
        }
    };
    value.is_some_and(|v| v == unsigned || v == signed)
}

/// A safetensors file by content: an 8-byte header length that fits, then a JSON object.
fn looks_safetensors(head: &[u8], size: u64) -> bool {
    head.len() > 8 && {
        let n = u64::from_le_bytes(head[..8].try_into().unwrap_or([0xff; 8]));
        n <= size.saturating_sub(8) && head[8] == b'{'
    }
}

fn check_safetensors(
    f: &mut std::fs::File,
    size: u64,
    rep: &mut FileReport,
) -> std::result::Result<(), Unreadable> {
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|_| "truncated safetensors header length".to_string())?;
    rep.bytes_read += 8;
    let hlen = u64::from_le_bytes(n);
    if hlen > 100 << 20 || hlen > size.saturating_sub(8) {
        return Err(format!("safetensors header length {hlen} is out of range").into());
    }
    let mut h = vec![0u8; hlen as usize];
    f.read_exact(&mut h)
        .map_err(|_| "truncated safetensors header".to_string())?;
    rep.bytes_read += hlen;
    let v: serde_json::Value =
        serde_json::from_slice(&h).map_err(|e| format!("safetensors header is not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("safetensors header is not a JSON object")?;
    let data_len = size - 8 - hlen;
    for (k, t) in obj {
        if k == "__metadata__" {
            continue;
        }
        let offs = t["data_offsets"]
            .as_array()
            .ok_or(format!("tensor {k}: no data_offsets"))?;
        let (a, b) = (
            offs.first().and_then(|x| x.as_u64()),
            offs.get(1).and_then(|x| x.as_u64()),
        );
        match (a, b, t["dtype"].as_str(), t["shape"].as_array()) {
            (Some(a), Some(b), Some(_), Some(_)) if a <= b && b <= data_len => {}
            _ => {
                return Err(
                    format!("tensor {k}: malformed entry or data offsets outside the file").into(),
                )
            }
        }
    }
    Ok(())
}

/// Why bytes found in a directory are no pickle a loader could run anything from: they stop
/// being a pickle where Python's unpickler stops too (a truncation counts only when `whole`:
/// the bytes end where the file ends), before anything was called and before any global a
/// loader would refuse.
fn not_a_pickle(
    found: &pickle::Found,
    err: Option<pickle::PickleError>,
    whole: bool,
    extra: &[String],
) -> Option<String> {
    let e = err.filter(|e| e.is_certain() && (whole || !e.0.starts_with("truncated")))?;
    (!found.called && found.globals.iter().all(|g| allowed(g, extra)))
        .then(|| format!("not a pickle ({e})"))
}

/// The globals a loader reading the file as pickles would import before it fails: up to the
/// five consecutive pickles of the legacy format, each read until its bytes stop being a
/// pickle. A pickle still going at the read limit is refused.
fn pickle_prefix_globals(
    f: &mut std::fs::File,
    head: &[u8],
    size: u64,
    rep: &mut FileReport,
) -> std::result::Result<Vec<String>, Unreadable> {
    // (globals, whether the bytes ran out while still a pickle)
    let prefix = |buf: &[u8]| {
        let mut globals = Vec::new();
        let mut at = 0;
        for _ in 0..5 {
            let (found, err) = pickle::scan_partial(&buf[at..]);
            globals.extend(found.globals);
            match err {
                None => at += found.len,
                Some(e) => return (globals, e.0.starts_with("truncated")),
            }
        }
        (globals, false)
    };
    let (globals, short) = prefix(head);
    if !short || head.len() as u64 >= size {
        return Ok(globals);
    }
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0))?;
    let mut buf = Vec::new();
    f.take(PICKLE_LIMIT).read_to_end(&mut buf)?;
    rep.bytes_read = rep.bytes_read.max(buf.len() as u64);
    let (globals, short) = prefix(&buf);
    if short && (buf.len() as u64) < size {
        return Err(format!(
            "the file's first {} bytes are still one unfinished pickle: refused as a possible polyglot",
            buf.len()
        )
        .into());
    }
    Ok(globals)
}

/// Scan a buffer holding one or more consecutive pickles (all are checked).
fn scan_pickles(
    buf: &[u8],
    member: &str,
    extra: &[String],
    rep: &mut FileReport,
    legacy: bool,
) -> std::result::Result<(), Unreadable> {
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        let found = pickle::scan(&buf[at..]).map_err(|e| {
            if n == 0 {
                format!("{member}: {e}")
            } else {
                format!("{member}: data after STOP (pickle #{}) {e}", n + 1)
            }
        })?;
        for g in found.globals {
            if !rep.globals.contains(&g) {
                rep.globals.push(g.clone());
            }
            if !allowed(&g, extra)
                && !rep
                    .offending
                    .iter()
                    .any(|o| o.global == g && o.member == member)
            {
                rep.offending.push(Offence {
                    member: member.to_string(),
                    global: g,
                });
            }
        }
        at += found.len;
        n += 1;
        // Legacy torch files: magic, protocol, sys_info, the object, storage keys; raw
        // storage bytes follow.
        if legacy && n == 5 {
            break;
        }
    }
    Ok(())
}

/// Scan one named file.
pub fn scan_file(path: &Path, extra: &[String]) -> FileReport {
    scan_target(
        &Target {
            path: path.to_path_buf(),
            sniffed: false,
        },
        extra,
    )
}

/// Scan one file by its content, in torch.load's order: zip, tar, then pickle (safetensors
/// beside it).
pub fn scan_target(t: &Target, extra: &[String]) -> FileReport {
    let path = t.path.as_path();
    let mut rep = FileReport {
        path: path.display().to_string(),
        kind: "unknown".into(),
        clean: false,
        globals: vec![],
        offending: vec![],
        error: None,
        bytes_read: 0,
        size: 0,
        skipped: None,
        members: vec![],
    };
    let r = (|| -> std::result::Result<(), Unreadable> {
        let mut f = open_regular(path)?;
        let size = f.metadata()?.len();
        rep.size = size;
        let ext = path
            .extension()
            .and_then(|x| x.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut head = vec![0u8; 4096];
        let got = {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            n
        };
        head.truncate(got);
        rep.bytes_read = got as u64;
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(0))?;
        let magic: &[u8] = head.get(..4).unwrap_or(&[]);
        if magic != b"PK\x03\x04" && is_tar(&head) {
            // any tar, wherever it is found: torch.load takes it for a legacy tar checkpoint
            // and unpickles the members it finds by name anywhere in it
            rep.kind = "tar".into();
            return Err("a tar archive: torch.load reads a tar as a legacy checkpoint and unpickles its members, which this scan does not open; re-save it with torch.save (zip) or as safetensors, or keep it out of the scanned paths".into());
        }
        if magic != b"PK\x03\x04" && looks_safetensors(&head, size) {
            rep.kind = "safetensors".into();
            // torch.load (by any name but `*.safetensors` in recent torch, 2.15 here) reads these same
            // bytes as pickles: refuse a polyglot
            let globals = pickle_prefix_globals(&mut f, &head, size, &mut rep)?;
            if let Some(g) = globals.iter().find(|g| !allowed(g, extra)) {
                return Err(format!("a safetensors file whose bytes are also a pickle importing {g}: refused as a polyglot").into());
            }
            f.seek(std::io::SeekFrom::Start(0))?;
            return check_safetensors(&mut f, size, &mut rep);
        }
        if t.sniffed && magic != b"PK\x03\x04" {
            // found in a directory: a model file only if a loader would take it as one
            match head.first() {
                Some(b) if pickle::is_opcode(*b) => {}
                _ => {
                    rep.kind = "other".into();
                    rep.skipped = Some("not a model format (no zip, pickle or safetensors)".into());
                    return Ok(());
                }
            }
            let (found, err) = pickle::scan_partial(&head);
            // text that happens to start with `c` (GLOBAL): the first import, read from its
            // line exactly as the loader reads it, names no module a loader could import, so
            // loading fails there, before anything runs
            if let Some(g) = found
                .globals
                .first()
                .filter(|g| found.first_from_line && !is_python_path(g))
            {
                rep.kind = "other".into();
                rep.skipped = Some(format!(
                    "not a pickle (its first import {g:?} names no module)"
                ));
                return Ok(());
            }
            // loading fails within the head, before anything could run
            if let Some(why) = not_a_pickle(&found, err, head.len() as u64 == size, extra) {
                rep.kind = "other".into();
                rep.skipped = Some(why);
                return Ok(());
            }
        }
        if ext == "safetensors"
            && magic != b"PK\x03\x04"
            && !head.first().is_some_and(|b| pickle::is_opcode(*b))
        {
            rep.kind = "safetensors".into();
            return check_safetensors(&mut f, size, &mut rep);
        }
        if magic == b"PK\x03\x04" {
            rep.kind = "torch-zip".into();
            let mut c = zip::Counting { inner: f, read: 0 };
            let members = zip::members(&mut c, size)?;
            let pkls: Vec<&zip::Member> = members
                .iter()
                .filter(|m| m.name.ends_with(".pkl"))
                .collect();
            if pkls.is_empty() {
                rep.bytes_read = c.read;
                return Err("zip archive with no .pkl member: not a PyTorch checkpoint".into());
            }
            for m in pkls {
                rep.members.push(m.name.clone());
                let buf = zip::read_member(&mut c, m, size, PICKLE_LIMIT)?;
                scan_pickles(&buf, &m.name, extra, &mut rep, false)?;
            }
            rep.bytes_read = c.read;
            return Ok(());
        }
        if size > PICKLE_LIMIT {
            // A large non-zip file: only the legacy torch format keeps its pickles first.
            if !is_legacy(&head) {
                return Err(format!("{size}-byte file is neither a zip checkpoint nor a pickle under the {PICKLE_LIMIT}-byte limit").into());
            }
            f.seek(std::io::SeekFrom::Start(0))?;
        }
        let mut buf = Vec::new();
        f.take(PICKLE_LIMIT).read_to_end(&mut buf)?;
        rep.bytes_read = buf.len() as u64;
        let legacy = is_legacy(&buf);
        if t.sniffed && !legacy {
            // found in a directory and longer than the head: the same test on all of it
            let (found, err) = pickle::scan_partial(&buf);
            if let Some(why) = not_a_pickle(&found, err, buf.len() as u64 == size, extra) {
                rep.kind = "other".into();
                rep.skipped = Some(why);
                return Ok(());
            }
        }
        rep.kind = if legacy { "torch-legacy" } else { "pickle" }.into();
        rep.members.push("(pickle)".into());
        scan_pickles(&buf, "(pickle)", extra, &mut rep, legacy)
    })();
    match r {
        Ok(()) => rep.clean = rep.offending.is_empty(),
        Err(e) => rep.error = Some(e.0),
    }
    rep
}

/// Scan every model file under `paths`.
pub fn scan(paths: &[PathBuf], extra: &[String]) -> Result<ScanReport> {
    let t = Instant::now();
    let targets = collect(paths)?;
    let files: Vec<FileReport> = targets.iter().map(|t| scan_target(t, extra)).collect();
    let skipped = files.iter().filter(|f| f.skipped.is_some()).count();
    let clean = files
        .iter()
        .filter(|f| f.clean && f.skipped.is_none())
        .count();
    if clean + skipped == files.len() && clean == 0 {
        return Err(Error::data(format!(
            "--scan-models: no model file among the {} file(s) found ({} skipped as no model format); nothing was checked, so nothing is called clean: point at the model files",
            files.len(),
            skipped
        )));
    }
    Ok(ScanReport {
        clean,
        skipped,
        refused: files.len() - clean - skipped,
        bytes_read: files.iter().map(|f| f.bytes_read).sum(),
        bytes_total: files.iter().map(|f| f.size).sum(),
        millis: t.elapsed().as_millis() as u64,
        files,
    })
}

/// One line per refused file, for errors and the text report.
pub fn refusal_line(f: &FileReport) -> String {
    if let Some(e) = &f.error {
        format!("{}: cannot be checked: {e}", f.path)
    } else {
        let o: Vec<String> = f
            .offending
            .iter()
            .map(|o| format!("{} (in {})", o.global, o.member))
            .collect();
        format!("{}: imports {}", f.path, o.join(", "))
    }
}

// ---------------------------------------------------------------- manifests

#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub shown: String,
    pub want: String,
}

/// Parse a sha256sum-format manifest (`<64 hex>  <path>` or `<64 hex> *<path>`).
pub fn parse_manifest(manifest: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(manifest).map_err(|e| {
        Error::data(format!(
            "--verify-manifest {}: cannot read: {e}",
            manifest.display()
        ))
    })?;
    parse_manifest_text(&text, manifest)
}

/// Parse the text of the manifest at `manifest` (paths are relative to its directory).
pub fn parse_manifest_text(text: &str, manifest: &Path) -> Result<Vec<Entry>> {
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = || {
            Error::data(format!(
                "--verify-manifest {}:{}: malformed line {line:?}; expected `<64 hex digits>  <path>` as written by sha256sum",
                manifest.display(),
                i + 1
            ))
        };
        if line.is_empty() {
            continue;
        }
        if line.len() < 67 || !line.is_char_boundary(64) {
            // (a multi-byte character across byte 64 is no hex digit either; found by
            // fuzzing: split_at would panic there)
            return Err(bad());
        }
        let (hash, rest) = line.split_at(64);
        if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let name = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        let p = Path::new(name);
        let path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        out.push(Entry {
            path,
            shown: name.to_string(),
            want: hash.to_ascii_lowercase(),
        });
    }
    if out.is_empty() {
        return Err(Error::data(format!(
            "--verify-manifest {}: lists no files",
            manifest.display()
        )));
    }
    Ok(out)
}

/// Open a model file once, without following a symlink, and check through the descriptor
/// that it is a regular file: what is hashed or scanned is what was checked, whatever
/// happens to the path meanwhile.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other("a symlink (not followed: give the file itself)")
            } else {
                e
            }
        })?;
    if !f.metadata()?.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(f)
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    let mut f = open_regular(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    let d = h.finalize();
    Ok((d.iter().map(|b| format!("{b:02x}")).collect(), total))
}

/// One file's hash result, by entry index.
type Hashed = (usize, std::io::Result<(String, u64)>);

/// Verify every manifest: regular files only, hashed in parallel (threads are joined
/// before this returns, so the caller is single-threaded again).
pub fn verify(manifests: &[PathBuf]) -> Result<(usize, u64)> {
    let t = Instant::now();
    let mut entries = Vec::new();
    for m in manifests {
        entries.extend(parse_manifest(m)?);
    }
    for e in &entries {
        let md = std::fs::symlink_metadata(&e.path).map_err(|err| {
            Error::data(format!(
                "model file {} (listed as {}): {err}; the manifest and the files disagree",
                e.path.display(),
                e.shown
            ))
        })?;
        if !md.file_type().is_file() {
            return Err(Error::data(format!(
                "model file {}: not a regular file ({}); manifests must list the files themselves",
                e.path.display(),
                if md.file_type().is_symlink() {
                    "a symlink"
                } else {
                    "not a file"
                }
            )));
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(entries.len())
        .max(1);
    let results: Vec<Vec<Hashed>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= entries.len() {
                            break;
                        }
                        mine.push((i, sha256_file(&entries[i].path)));
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut flat: Vec<(usize, std::io::Result<(String, u64)>)> =
        results.into_iter().flatten().collect();
    if flat.len() != entries.len() {
        return Err(Error::internal("a hashing thread failed"));
    }
    flat.sort_by_key(|(i, _)| *i);
    let mut bytes = 0;
    for (i, r) in flat {
        let e = &entries[i];
        let (got, n) = r.map_err(|err| {
            Error::data(format!(
                "model file {}: cannot read: {err}",
                e.path.display()
            ))
        })?;
        if got != e.want {
            return Err(Error::data(format!(
                "model file {} does not match its manifest: expected sha256 {}, found {got}; the file was changed or corrupted: restore it or update the manifest from a trusted source",
                e.path.display(),
                e.want
            )));
        }
        bytes += n;
    }
    log::info!(target: "model.verify", files = entries.len(), bytes = bytes, millis = t.elapsed().as_millis() as u64, threads = threads;
        "{} model file(s) match their manifests", entries.len());
    Ok((entries.len(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutated and truncated pickles and zips are refusals or clean results, never panics.
    #[test]
    fn mutations_never_panic() {
        let dir = std::env::temp_dir().join(format!("si-mut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // a protocol-2 state-dict-like pickle and a stored zip around it
        let pkl: Vec<u8> =
            b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02K\x07s."
                .to_vec();
        assert!(pickle::scan(&pkl).is_ok());
        let mut zip = Vec::new();
        {
            // local header + data + central directory + EOCD for one stored member
            let name = b"archive/data.pkl";
            let crc = 0u32;
            zip.extend(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
            zip.extend(crc.to_le_bytes());
            zip.extend((pkl.len() as u32).to_le_bytes());
            zip.extend((pkl.len() as u32).to_le_bytes());
            zip.extend((name.len() as u16).to_le_bytes());
            zip.extend(0u16.to_le_bytes());
            zip.extend(name);
            zip.extend(&pkl);
            let cd = zip.len() as u32;
            zip.extend(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
            zip.extend(crc.to_le_bytes());
            zip.extend((pkl.len() as u32).to_le_bytes());
            zip.extend((pkl.len() as u32).to_le_bytes());
            zip.extend((name.len() as u16).to_le_bytes());
            zip.extend([0u8; 12]);
            zip.extend(0u32.to_le_bytes());
            zip.extend(name);
            let cd_len = zip.len() as u32 - cd;
            zip.extend(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
            zip.extend(cd_len.to_le_bytes());
            zip.extend(cd.to_le_bytes());
            zip.extend(0u16.to_le_bytes());
        }
        let f = dir.join("m.pt");
        std::fs::write(&f, &zip).unwrap();
        assert!(scan_file(&f, &[]).clean, "{:?}", scan_file(&f, &[]));
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3000 {
            let base = if round % 2 == 0 { &pkl } else { &zip };
            let mut m = base.clone();
            for _ in 0..1 + rnd() % 4 {
                let i = (rnd() as usize) % m.len();
                m[i] = rnd() as u8;
            }
            if rnd() % 4 == 0 {
                let cut = (rnd() as usize) % m.len();
                m.truncate(cut);
            }
            let _ = pickle::scan(&m);
            std::fs::write(&f, &m).unwrap();
            let _ = scan_file(&f, &[]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_dotted_name_under_an_allowed_module_is_refused() {
        // protocol 4: STACK_GLOBAL("numpy.dtypes", "__loader__.set_data") resolves an
        // attribute path from an allowed-looking module to an arbitrary callable
        let mut p = b"\x80\x04".to_vec();
        for s in ["numpy.dtypes", "__loader__.set_data"] {
            p.push(0x8c); // SHORT_BINUNICODE
            p.push(s.len() as u8);
            p.extend(s.as_bytes());
        }
        p.extend(b"\x93)R."); // STACK_GLOBAL, EMPTY_TUPLE, REDUCE, STOP
        let dir = std::env::temp_dir().join(format!("si-dotted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.pkl");
        std::fs::write(&f, &p).unwrap();
        let r = scan_file(&f, &[]);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!r.clean, "{r:?}");
        assert_eq!(
            r.offending[0].global, "numpy.dtypes.__loader__.set_data",
            "{r:?}"
        );
    }

    #[test]
    fn scanned_files_are_opened_without_following_symlinks() {
        let dir = std::env::temp_dir().join(format!("si-nofollow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let real = dir.join("real.pkl");
        std::fs::write(&real, b"\x80\x02}q\x00.").unwrap();
        let link = dir.join("link.pkl");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(scan_file(&real, &[]).clean);
        let r = scan_file(&link, &[]);
        assert!(
            !r.clean && r.error.as_deref().unwrap_or("").contains("symlink"),
            "{r:?}"
        );
        assert!(sha256_file(&link).is_err());
        assert!(
            open_regular(&dir).is_err(),
            "a directory is not a model file"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_manifest_with_a_character_across_the_hash_end_is_malformed_not_a_panic() {
        // the input the fuzzer found
        let line =
            "012345678f0179348526a?cden23913578abcdef0123456345678\u{0}9abJc mod\u{5d0}l.pt\n";
        let text = format!("{}{line}", "0".repeat(10));
        let _ = parse_manifest_text(&text, Path::new("/m/manifest"));
        let t = format!("{}\u{e9}  model.pt\n", "a".repeat(63));
        assert!(parse_manifest_text(&t, Path::new("/m/manifest")).is_err());
    }

    #[test]
    fn what_the_weights_only_loader_accepts_is_accepted() {
        for g in [
            "__builtin__.complex",
            "__builtin__.bytearray",
            "__builtin__.set",
            "__builtin__.xrange",
            "torch.float8_e8m0fnu",
            "torch.float4_e2m1fn_x2",
            "torch.uint3",
            "torch.int7",
            "torch.bits16",
            "torch.FloatTensor",
            "torch.cuda.HalfTensor",
            "torch.sparse.LongTensor",
            "torch.cuda.sparse.FloatTensor",
            "torch.cuda.BFloat16Storage",
        ] {
            assert!(allowed(g, &[]), "{g}");
        }
        for g in [
            "__builtin__.eval",
            "__builtin__.getattr",
            "torch.cuda.FloatTensor.__init__",
            "torch.sparse.FloatStorage",
            "torch.cuda.os",
            "torch.FloatTensorx",
        ] {
            assert!(!allowed(g, &[]), "{g}");
        }
        // the legacy magic number, pickled with every protocol
        let magic: [&[u8]; 4] = [
            b"L119547037146038801333356L\n.",
            b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",
            b"\x80\x03\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",
            b"\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",
        ];
        for m in magic {
            assert!(is_legacy(m), "{m:?}");
        }
        assert!(!is_legacy(b"\x80\x02}q\x00."));
    }

    #[test]
    fn allowlist() {
        assert!(allowed("torch._utils._rebuild_tensor_v2", &[]));
        assert!(allowed("collections.OrderedDict", &[]));
        assert!(allowed("numpy.dtypes.Float32DType", &[]));
        assert!(!allowed("os.system", &[]));
        assert!(!allowed("builtins.eval", &[]));
        assert!(!allowed("builtins.getattr", &[]));
        assert!(!allowed("argparse.Namespace", &[]));
        // exact names only: an allowed prefix reaches anything through attribute paths
        for bypass in [
            "numpy.dtypes.__builtins__.eval",
            "numpy.dtypes.__loader__.set_data",
            "numpy.dtypes.Float32DType.__init__.__globals__",
            "torch._utils._rebuild_tensor_v2.__globals__",
            "collections.OrderedDict.__class__",
        ] {
            assert!(!allowed(bypass, &[]), "{bypass}");
        }
        assert!(allowed(
            "argparse.Namespace",
            &["argparse.Namespace".into()]
        ));
    }
}
