#!/usr/bin/env python3
"""Start-up cost as PID 1: `unshare --pid --fork --mount-proc X -- /bin/true` for X = nothing
(bare), tini, dumb-init and secure-init (default: pytorch profile, drop to 1001, default log
level with stderr to /dev/null), runs interleaved so drift and the noisy namespace teardown
hit all alike. Prints medians and the time each adds over bare, and over tini.

Run as root from the repository root, after `cargo build --release --bins`:
    python3 bench/startup.py [RUNS] [--no-ns] [--compare=PATH]
--no-ns runs the same commands without the PID namespace (secure-init then is a subreaper);
--compare=PATH adds another secure-init binary (an older build) to the same run.
"""
import os, resource, shutil, statistics, subprocess, sys, time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
COMPARE = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--compare=")]
RUNS = int(args[0]) if args else 400
NS = "--no-ns" not in sys.argv
SI = os.path.abspath("target/release/secure-init")
TRUE = "/bin/true"
PRE = ["unshare", "--pid", "--fork", "--mount-proc"] if NS else []
env = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_INIT_")}

cmds = {
    "bare": PRE + [TRUE],
    "tini": PRE + ["tini", "--", TRUE],
    "dumb-init": PRE + ["dumb-init", TRUE],
    "secure-init": PRE + [SI, "--", TRUE],
    "secure-init --seccomp unconfined": PRE + [SI, "--seccomp", "unconfined", "--", TRUE],
}
for c in COMPARE:
    cmds[f"{c} --"] = PRE + [os.path.abspath(c), "--", TRUE]
for c in cmds.values():
    if not shutil.which(c[0]):
        sys.exit(f"missing {c[0]}: apt-get install tini dumb-init; cargo build --release --bins")

times = {k: [] for k in cmds}
cpu = {k: [] for k in cmds}
for _ in range(10):  # warm-up
    for c in cmds.values():
        subprocess.run(c, env=env, check=True, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def used():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

for _ in range(RUNS):
    for k, c in cmds.items():
        u = used()
        t = time.perf_counter_ns()
        subprocess.run(c, env=env, check=True, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[k].append((time.perf_counter_ns() - t) / 1e6)
        cpu[k].append((used() - u) * 1e3)

med = {k: statistics.median(v) for k, v in times.items()}
base, tini = med["bare"], med["tini"]
print(f"{'PID 1 in a PID namespace' if NS else 'no namespace (subreaper)'}; {RUNS} runs each, "
      f"interleaved; {os.cpu_count()} CPUs, kernel {os.uname().release}\n")
print("| command | median ms | added over bare ms | added minus tini's |")
print("|---|---:|---:|---:|")
for k, m in med.items():
    print(f"| `{k}` | {m:.3f} | {m - base:+.3f} | {(m - base) - (tini - base):+.3f} ms |")

# CPU time (user + system, every process of the run): less sensitive to scheduling noise
# than wall time on a shared 2-CPU machine.
cmed = {k: statistics.mean(v) for k, v in cpu.items()}
cb, ct = cmed["bare"], cmed["tini"]
print("\n| command | mean CPU ms | added over bare | added minus tini's |")
print("|---|---:|---:|---:|")
for k, m in cmed.items():
    print(f"| `{k}` | {m:.3f} | {m - cb:+.3f} | {(m - cb) - (ct - cb):+.3f} ms |")
