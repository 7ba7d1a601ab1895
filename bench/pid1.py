#!/usr/bin/env python3
"""Start-to-exit time and supervisor memory: secure-init vs bare, tini, dumb-init, and (for
the privilege drop alone, no supervisor) setpriv against `secure-init --exec`.

Run as root from the repository root, after `cargo build --release`:
    python3 bench/pid1.py [RUNS]
Prints a Markdown table (medians over RUNS runs, interleaved so drift hits all alike).
"""
import os, shutil, statistics, subprocess, sys, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
SI = os.path.abspath("target/release/secure-init")
TRUE = "/bin/true"
env = dict(os.environ, SECURE_INIT_LOG_LEVEL="error")

cmds = {
    "bare /bin/true": [TRUE],
    "tini -- /bin/true": ["tini", "-s", "--", TRUE],
    "dumb-init /bin/true": ["dumb-init", TRUE],
    "secure-init -- /bin/true (pytorch seccomp, drop to 1001)": [SI, "--", TRUE],
    "secure-init --seccomp unconfined -- /bin/true": [SI, "--seccomp", "unconfined", "--", TRUE],
    "setpriv (uid 1001, no caps, no_new_privs) /bin/true": [
        "setpriv", "--reuid=1001", "--regid=1001", "--clear-groups", "--inh-caps=-all",
        "--bounding-set=-all", "--no-new-privs", "--", TRUE],
    "secure-init --exec -- /bin/true (no supervisor)": [SI, "--exec", "--", TRUE],
}
for c in cmds.values():
    if not shutil.which(c[0]):
        sys.exit(f"missing {c[0]}: apt-get install tini dumb-init; cargo build --release")

times = {k: [] for k in cmds}
for _ in range(RUNS):
    for k, c in cmds.items():
        t = time.perf_counter_ns()
        subprocess.run(c, env=env, check=True, stdin=subprocess.DEVNULL)
        times[k].append((time.perf_counter_ns() - t) / 1e6)

def rss(cmd):
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    time.sleep(0.5)
    kb = None
    with open(f"/proc/{p.pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                kb = int(l.split()[1])
    p.terminate()
    p.wait()
    return kb

mem = {
    "tini": rss(["tini", "-s", "--", "sleep", "3"]),
    "dumb-init": rss(["dumb-init", "sleep", "3"]),
    "secure-init": rss([SI, "--", "sleep", "3"]),
}

med = {k: statistics.median(v) for k, v in times.items()}
base = med["bare /bin/true"]
tini = med["tini -- /bin/true"]
print(f"runs per command: {RUNS}; machine: {os.cpu_count()} CPUs, kernel {os.uname().release}\n")
print("| command | median ms | added over bare ms | vs tini (added) |")
print("|---|---:|---:|---:|")
for k, m in med.items():
    added = m - base
    print(f"| `{k}` | {m:.3f} | {added:.3f} | {added - (tini - base):+.3f} ms |")
print("\n| supervisor | VmRSS KiB | ratio to tini |")
print("|---|---:|---:|")
for k, v in mem.items():
    print(f"| {k} | {v} | {v / mem['tini']:.2f}x |")
