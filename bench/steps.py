#!/usr/bin/env python3
"""Where start-up time goes, step by step: a timeline of one secure-init start as PID 1.

Builds secure-init with `--features steptime` (into target/steptime, so the normal build
is untouched) and a tiny workload (`bench/stamp.c`: writes its start time and exits).
Each run is `unshare --pid --fork --mount-proc secure-init -- stamp`, launched by
`stamp` itself (it writes the launch time, then runs the rest and writes the time its
child was reaped); secure-init writes `@T <step> <ns>` at each step (CLOCK_MONOTONIC,
comparable across processes). tini, and the workload alone (bare), run the same way for
comparison. Prints the median
time of each step since the launch, and the step-to-step differences.

Run as root from the repository root:  python3 bench/steps.py [RUNS]
"""
import os, statistics, subprocess, sys, tempfile

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
root = os.getcwd()
subprocess.run(["cargo", "build", "--release", "--bins", "--features", "steptime",
                "--target-dir", "target/steptime"], check=True)
SI = os.path.join(root, "target/steptime/release/secure-init")
STAMP = os.path.join(tempfile.gettempdir(), "secure-init-stamp")
subprocess.run(["cc", "-O2", "-static", "-o", STAMP, "bench/stamp.c"], check=True)
env = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_INIT_")}
PRE = ["unshare", "--pid", "--fork", "--mount-proc"]

def run(cmd):
    r = subprocess.run([STAMP, "--launch"] + PRE + cmd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    marks = []
    for line in r.stderr.decode(errors="replace").splitlines():
        if line.startswith("@T "):
            _, name, ns = line.split()
            marks.append((name, int(ns)))
    t0 = dict(marks)["launch"]
    return [(n, (t - t0) / 1e3) for n, t in marks]

cmds = {"bare": [STAMP], "tini": ["tini", "--", STAMP], "secure-init": [SI, "--", STAMP]}
res = {k: [] for k in cmds}
for i in range(10 + RUNS):
    for k, c in cmds.items():
        m = run(c)
        if i >= 10:
            res[k].append(m)

for k, runs in res.items():
    names = [n for n, _ in runs[0]]
    print(f"\n{k}: {RUNS} runs, median µs since launch (PID namespace)\n")
    print("| step | at µs | since previous µs |")
    print("|---|---:|---:|")
    prev = 0.0
    for idx, n in enumerate(names):
        vals = [r[idx][1] for r in runs if len(r) == len(names) and r[idx][0] == n]
        med = statistics.median(vals)
        print(f"| {n} | {med:.0f} | {med - prev:+.0f} |")
        prev = med
