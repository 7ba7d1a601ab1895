#!/usr/bin/env python3
"""Landlock's costs: start-up (building and installing the ruleset) and per-open overhead.

Run as root from the repository root, after `cargo build --release --bins`:
    python3 bench/landlock.py [RUNS] [OPENS]
"""
import os, statistics, subprocess, sys, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
OPENS = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
SI = os.path.abspath("target/release/secure-init")
env = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_INIT_")}

starts = {"landlock (default)": [SI, "--", "/bin/true"],
          "--landlock off": [SI, "--landlock", "off", "--", "/bin/true"]}
times = {k: [] for k in starts}
for _ in range(RUNS):
    for k, c in starts.items():
        t = time.perf_counter_ns()
        subprocess.run(c, env=env, check=True, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[k].append((time.perf_counter_ns() - t) / 1e6)
print(f"start-to-exit of /bin/true, {RUNS} runs interleaved (median ms):\n")
print("| command | median ms |\n|---|---:|")
for k, v in times.items():
    print(f"| `secure-init {k}` | {statistics.median(v):.3f} |")

loop = f"""
import os, time
p = "/tmp/ll-bench-" + str(os.getpid())
open(p, "w").close()
best = []
for _ in range(5):
    t = time.perf_counter_ns()
    for _ in range({OPENS}):
        os.close(os.open(p, os.O_WRONLY))
    best.append((time.perf_counter_ns() - t) / {OPENS})
os.unlink(p)
print(f"{{min(best):.1f}}")
"""
res = {}
for k, flag in [("Landlock", []), ("no Landlock", ["--landlock", "off"])]:
    o = subprocess.run([SI, "--log-level", "error", *flag, "--", "/usr/bin/python3", "-c", loop],
                       env=env, check=True, capture_output=True, text=True)
    res[k] = float(o.stdout.strip())
print(f"\nopen(O_WRONLY)+close of a file in /tmp, {OPENS} times, best of 5 (ns per pair):\n")
print("| | ns |\n|---|---:|")
for k, v in res.items():
    print(f"| {k} | {v:.1f} |")
print(f"| ratio | {res['Landlock'] / res['no Landlock']:.2f}x |")
