#!/usr/bin/env python3
"""Where secure-init's start-up time goes: `unshare --pid --fork --mount-proc X /bin/true`
for tini and secure-init with one feature switched off at a time (the audit, the seccomp
denial events, Landlock, info logging, seccomp, all of them, --exec), runs interleaved;
prints each median and its difference from the default and from tini.

Run as root from the repository root, after `cargo build --release --bins`:
    python3 bench/startup_variants.py [RUNS] [PATH-TO-SECURE-INIT]
"""
import os, statistics, subprocess, sys, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SI = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/release/secure-init")
PRE = ["unshare", "--pid", "--fork", "--mount-proc"]
V = {
    "tini": ["tini", "--"],
    "default": [SI, "--"],
    "audit off": [SI, "--audit", "off", "--"],
    "events off": [SI, "--seccomp-events", "off", "--"],
    "landlock off": [SI, "--landlock", "off", "--"],
    "log error": [SI, "--log-level", "error", "--"],
    "unconfined": [SI, "--seccomp", "unconfined", "--"],
    "all off": [SI, "--audit", "off", "--seccomp-events", "off", "--landlock", "off",
                "--log-level", "error", "--seccomp", "unconfined", "--"],
    "exec": [SI, "--exec", "--"],
    "err+audit off": [SI, "--log-level", "error", "--audit", "off", "--"],
    "err+events off": [SI, "--log-level", "error", "--seccomp-events", "off", "--"],
}
env = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_INIT_")}
t = {k: [] for k in V}
for i in range(RUNS + 5):
    for k, c in V.items():
        s = time.perf_counter()
        subprocess.run(PRE + c + ["/bin/true"], env=env, stdin=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        if i >= 5:  # warm-up
            t[k].append(time.perf_counter() - s)
base = statistics.median(t["default"])
tini = statistics.median(t["tini"])
for k in V:
    m = statistics.median(t[k])
    print(f"{k:14} {m*1000:7.3f} ms  vs default {1000*(m-base):+7.3f}  vs tini {1000*(m-tini):+7.3f}")
