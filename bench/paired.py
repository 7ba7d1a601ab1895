#!/usr/bin/env python3
"""Paired start-up comparison as PID 1: `unshare --pid --fork --mount-proc X /bin/true` for each
NAME=COMMAND given, every round running each once in a fresh random order; prints each
median, the 10th percentile, and the median of the per-round differences from the second
command (with a bootstrap 95% interval). Differences taken within a round cancel the slow
drift of this VM's speed, which sequential runs (hyperfine) and even interleaved medians
do not: two copies of one binary measured 0.2-0.3 ms apart that way.

Run as root from the repository root (cp the binaries to compare next to each other, e.g.
into /tmp, so their page-cache state is alike):
    python3 bench/paired.py 600 "tini=tini --" "old=/tmp/si-old --" "new=/tmp/si-new --"
"""
import os, random, statistics, subprocess, sys, time

RUNS = int(sys.argv[1])
# A fallback HOME with contents is emptied by the next start (docs "Options", HOME): a workload
# that writes there makes every measured start pay for the removal.
home = "/tmp/secure-init-home-1001"
if os.path.isdir(home) and os.listdir(home):
    print(f"warning: {home} is not empty: the next secure-init start empties it "
          f"(remove its contents first for figures comparable with tini's)", file=sys.stderr)
V = {}
for a in sys.argv[2:]:
    name, cmd = a.split("=", 1)
    V[name] = cmd.split()
PRE = ["unshare", "--pid", "--fork", "--mount-proc"]
env = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_INIT_")}
keys = list(V)
t = {k: [] for k in keys}
for i in range(RUNS + 5):
    order = keys[:]
    random.shuffle(order)
    row = {}
    for k in order:
        s = time.perf_counter()
        subprocess.run(PRE + V[k] + ["/bin/true"], env=env, stdin=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        row[k] = time.perf_counter() - s
    if i >= 5:  # warm-up
        for k in keys:
            t[k].append(row[k])
ref = keys[1] if len(keys) > 1 else keys[0]
for k in keys:
    m = statistics.median(t[k])
    d = [a - b for a, b in zip(t[k], t[ref])]
    boots = sorted(statistics.median(random.choices(d, k=len(d))) for _ in range(300))
    print(f"{k:24} median {m * 1e3:6.3f} ms  p10 {1e3 * statistics.quantiles(t[k], n=10)[0]:6.3f}"
          f"  minus {ref}: {1e3 * statistics.median(d):+6.3f} ms"
          f" [{1e3 * boots[7]:+.3f}, {1e3 * boots[292]:+.3f}]")
