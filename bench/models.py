#!/usr/bin/env python3
"""Model-file checks: manifest hashing vs sha256sum, and the pickle scan of a 1 GiB checkpoint.

Run as root from the repository root after `cargo build --release`:
    python3 bench/models.py [WORKDIR] [ROUNDS]
Files are created once in WORKDIR (default /var/tmp/secure-init-bench, ~5 GiB) and read from
the page cache by every tool alike (one warm-up run each first).
"""
import json, os, statistics, subprocess, sys, time, zipfile

WORK = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp/secure-init-bench"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
SI = os.path.abspath("target/release/secure-init")
os.makedirs(WORK, exist_ok=True)
MiB = 1 << 20

def make(path, size):
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    with open(path, "wb") as f:
        block = os.urandom(16 * MiB)
        for _ in range(size // len(block)):
            f.write(block)

big = f"{WORK}/model-2g.bin"
make(big, 2048 * MiB)
parts = [f"{WORK}/shard-{i}.bin" for i in range(8)]
for p in parts:
    make(p, 256 * MiB)

def sha256sum(files):
    out = subprocess.run(["sha256sum", *files], check=True, capture_output=True, text=True).stdout
    return out

def manifest(name, files):
    path = f"{WORK}/{name}"
    with open(path, "w") as f:
        f.write(sha256sum(files).replace(WORK + "/", ""))
    return path

m_big = manifest("big.sha256", [big])
m_parts = manifest("parts.sha256", parts)

def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t

def si(m):
    return [SI, "--gpu", "off", "--seccomp", "unconfined", "--log-level", "error", "--verify-manifest", m, "--", "/bin/true"]

def median(cmd):
    timed(cmd)  # warm-up: page cache
    return statistics.median(timed(cmd) for _ in range(ROUNDS))

rows = []
for label, files, m in [("1 file of 2 GiB", [big], m_big), ("8 files of 256 MiB", parts, m_parts)]:
    a = median(["sha256sum", *files])
    b = median(si(m))
    gib = sum(os.path.getsize(f) for f in files) / (1 << 30)
    rows.append((label, a, b, gib))

# a 1 GiB checkpoint laid out like torch.save's zip: data.pkl plus stored tensor data
ckpt = f"{WORK}/model-1g.pt"
if not os.path.exists(ckpt):
    import pickle, collections
    with zipfile.ZipFile(ckpt, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        z.writestr("archive/data.pkl", pickle.dumps(collections.OrderedDict((f"layer{i}", i) for i in range(1000)), protocol=2))
        z.writestr("archive/version", "3\n")
        block = os.urandom(64 * MiB)
        for i in range(16):
            z.writestr(f"archive/data/{i}", block)
scan_cmd = [SI, "scan", "--log-format", "json", ckpt]
subprocess.run(scan_cmd, check=True, capture_output=True)
ts, rep = [], None
for _ in range(ROUNDS):
    t = time.perf_counter()
    rep = json.loads(subprocess.run(scan_cmd, check=True, capture_output=True, text=True).stdout)
    ts.append(time.perf_counter() - t)

print(f"{ROUNDS} rounds, median wall time, warm page cache; {os.cpu_count()} CPUs\n")
print("| input | sha256sum | secure-init --verify-manifest | secure-init throughput | ratio (sha256sum time / secure-init time) |")
print("|---|---:|---:|---:|---:|")
for label, a, b, gib in rows:
    print(f"| {label} | {a:.2f} s ({gib / a:.2f} GiB/s) | {b:.2f} s | {gib / b:.2f} GiB/s | {a / b:.2f}x |")
print(f"\n| scan of a {os.path.getsize(ckpt) / (1 << 30):.2f} GiB torch-zip checkpoint | median time | bytes read |")
print("|---|---:|---:|")
print(f"| `secure-init scan` | {statistics.median(ts) * 1000:.1f} ms | {rep['bytes_read']} of {rep['bytes_total']} |")
