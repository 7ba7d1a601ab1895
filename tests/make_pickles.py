"""Make the scanner's test files with Python's own pickle (nothing here is ever loaded).

usage: make_pickles.py OUTDIR MARKER
MARKER is a path the malicious payloads would create if anything executed them.
"""
import collections, io, os, pickle, struct, sys, types, zipfile, json

out, marker = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)

# A stand-in torch, so a state dict pickles exactly as torch.save writes it.
torch = types.ModuleType("torch")
utils = types.ModuleType("torch._utils")
def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks):
    raise RuntimeError("never called")
_rebuild_tensor_v2.__module__ = "torch._utils"
utils._rebuild_tensor_v2 = _rebuild_tensor_v2
class FloatStorage: pass
FloatStorage.__module__ = "torch"
torch.FloatStorage = FloatStorage
torch._utils = utils
sys.modules["torch"] = torch
sys.modules["torch._utils"] = utils

class Tensor:
    def __init__(self, key, n):
        self.key, self.n = key, n
    def __reduce__(self):
        return (_rebuild_tensor_v2, (("storage", FloatStorage, self.key, "cpu", self.n), 0, (self.n,), (1,), False, collections.OrderedDict()))

class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, tuple) and obj and obj[0] == "storage":
            return obj
        return None

def state_dict():
    return collections.OrderedDict([("layer.weight", Tensor("0", 4)), ("layer.bias", Tensor("1", 2)), ("step", 7)])

def torch_pickle(obj, proto=2):
    b = io.BytesIO()
    TorchPickler(b, protocol=proto).dump(obj)
    return b.getvalue()

def torch_zip(path, pkl, extra_members=None):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", b"\0" * 16)
        z.writestr("archive/data/1", b"\0" * 8)
        z.writestr("archive/version", "3\n")
        for name, data in (extra_members or {}).items():
            z.writestr(name, data)

class Evil:
    def __init__(self, fn):
        self.fn = fn
    def __reduce__(self):
        import os as _os, subprocess, builtins, posix
        f = {"os.system": _os.system, "subprocess.Popen": subprocess.Popen,
             "builtins.eval": builtins.eval, "posix.system": posix.system}[self.fn]
        cmd = f"touch {marker}"
        return (f, (cmd,) if self.fn != "builtins.eval" else (f"__import__('os').system('touch {marker}')",))

for proto in range(0, 6):
    with open(f"{out}/clean_state_dict_p{proto}.pkl", "wb") as f:
        f.write(torch_pickle(state_dict(), proto))
    for fn in ["os.system", "subprocess.Popen", "builtins.eval", "posix.system"]:
        with open(f"{out}/evil_{fn.replace('.', '_')}_p{proto}.pkl", "wb") as f:
            pickle.dump({"model": state_dict() if proto >= 2 else 1, "x": Evil(fn)}, f, protocol=proto)

torch_zip(f"{out}/clean_model.pt", torch_pickle(state_dict()))
torch_zip(f"{out}/evil_model.pt", pickle.dumps({"state": 1, "x": Evil("os.system")}, protocol=2))
torch_zip(f"{out}/evil_second_member.pth", torch_pickle(state_dict()),
          {"archive/extra.pkl": pickle.dumps(Evil("subprocess.Popen"), protocol=4)})
# os.system via STACK_GLOBAL with module and name memoized, then fetched back
p = bytearray(b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00")
p += b"\x8c\x02os\x94"            # 'os'      -> memo 0
p += b"\x8c\x06system\x94"        # 'system'  -> memo 1
p += b"0" + b"0"                  # pop both: nothing on the stack mentions them
p += b"]\x94"                     # an empty list -> memo 2
p += b"h\x00h\x01\x93"            # BINGET 0, BINGET 1, STACK_GLOBAL -> os.system
p += b"\x8c\x02id\x85R."          # ('id',) REDUCE STOP
with open(f"{out}/evil_memo_stack_global.pkl", "wb") as f:
    f.write(bytes(p))
good = torch_pickle(state_dict())
with open(f"{out}/evil_truncated.pkl", "wb") as f:
    f.write(good[: len(good) // 2])
with open(f"{out}/evil_after_stop.pkl", "wb") as f:
    f.write(good + pickle.dumps(Evil("os.system"), protocol=2))
with open(f"{out}/evil_garbage_after_stop.pkl", "wb") as f:
    f.write(good + b"\xff\xfe not a pickle")
# safetensors: header length, JSON header, data
hdr = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "__metadata__": {"format": "pt"}}).encode()
with open(f"{out}/clean.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8)
with open(f"{out}/evil_header.safetensors", "wb") as f:
    f.write(struct.pack("<Q", 10) + b"{not json}")
hdr = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4096]}}).encode()
with open(f"{out}/evil_offsets.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8)
print("ok")
