#!/usr/bin/env python3
"""Cost of a denied system call reported to the supervisor (user notification, answered with
the profile's errno) against the plain filter, and of an allowed call (unchanged: it never
reaches the listener).

Run as root from the repository root, after `cargo build --release --bins`:
    python3 bench/seccomp_events.py [CALLS]
"""
import os, subprocess, sys

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
SI = os.path.abspath("target/release/secure-init")
env = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_INIT_")}

loop = f"""
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
sc = libc.syscall
def per_call(nr, *a):
    best = []
    for _ in range(5):
        t = time.perf_counter_ns()
        for _ in range({CALLS}):
            sc(nr, *a)
        best.append((time.perf_counter_ns() - t) / {CALLS})
    return min(best)
print(per_call(101, 16, 1, 0, 0), per_call(110))  # ptrace (denied), getppid (allowed)
"""
res = {}
for k, flag in [("events on (default)", []), ("--seccomp-events off", ["--seccomp-events", "off"])]:
    o = subprocess.run([SI, "--log-level", "error", *flag, "--", "/usr/bin/python3", "-c", loop],
                       env=env, check=True, capture_output=True, text=True)
    res[k] = [float(x) for x in o.stdout.split()]
print(f"ctypes syscall() in a Python loop, {CALLS} calls, best of 5 (ns per call, Python's own"
      " loop and ctypes overhead included):\n")
print("| | denied `ptrace` | allowed `getppid` |\n|---|---:|---:|")
for k, (d, a) in res.items():
    print(f"| {k} | {d:.0f} | {a:.0f} |")
on, off = res["events on (default)"], res["--seccomp-events off"]
print(f"| difference | +{on[0] - off[0]:.0f} | {on[1] - off[1]:+.0f} |")
