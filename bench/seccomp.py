#!/usr/bin/env python3
"""Per-call cost of seccomp filters: secure-init's compiled profiles vs no filter vs Docker's
profile compiled by libseccomp (Debian's python3-seccomp), in one run.

Run as root from the repository root after `cargo build --release --bins --examples`:
    /usr/bin/python3 bench/seccomp.py [CALLS] [ROUNDS]
Needs Debian's python3-seccomp for the libseccomp case (the interpreter must be /usr/bin/python3).
"""
import json, os, statistics, subprocess, sys

CALLS = sys.argv[1] if len(sys.argv) > 1 else "2000000"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
SI = os.path.abspath("target/release/secure-init")
PROBE = os.path.abspath("target/release/examples/probe")
DOCKER = os.path.abspath("profiles/docker-default.json")

LIBSECCOMP_LOADER = r'''
import json, os, sys, seccomp
prof = json.load(open(sys.argv[1]))
def act(a, e):
    return {"SCMP_ACT_ALLOW": seccomp.ALLOW, "SCMP_ACT_ERRNO": seccomp.ERRNO(e or 1)}[a]
ops = {"SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT,
       "SCMP_CMP_LE": seccomp.LE, "SCMP_CMP_GT": seccomp.GT, "SCMP_CMP_GE": seccomp.GE,
       "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
f = seccomp.SyscallFilter(act(prof["defaultAction"], prof.get("defaultErrnoRet")))
for r in prof["syscalls"]:
    inc, exc = r.get("includes") or {}, r.get("excludes") or {}
    if inc.get("caps") or (inc.get("arches") and "amd64" not in inc["arches"]) or "amd64" in (exc.get("arches") or []):
        continue
    for n in r["names"]:
        try:
            nr = seccomp.resolve_syscall(seccomp.Arch.NATIVE, n)
        except Exception:
            continue
        if nr < 0:
            continue
        args = []
        for a in r.get("args") or []:
            if a["op"] == "SCMP_CMP_MASKED_EQ":
                args.append(seccomp.Arg(a["index"], ops[a["op"]], a["value"], a.get("valueTwo", 0)))
            else:
                args.append(seccomp.Arg(a["index"], ops[a["op"]], a["value"]))
        try:
            f.add_rule(act(r["action"], r.get("errnoRet")), nr, *args)
        except Exception:
            pass
os.setgid(1001); os.setgroups([]); os.setuid(1001)
f.load()
os.execv(sys.argv[2], sys.argv[2:])
'''

def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ, SECURE_INIT_LOG_LEVEL="error")).stdout
    return {k: float(v) for k, v in (l.split("=") for l in out.split())}

cases = {
    "no filter (uid 1001, no_new_privs)": ["setpriv", "--reuid=1001", "--regid=1001", "--clear-groups", "--no-new-privs", PROBE, "bench", CALLS],
    # --seccomp-events off: the filter alone (a reported denial is a round trip to the
    # supervisor, measured by bench/seccomp_events.py)
    "secure-init pytorch": [SI, "--seccomp", "pytorch", "--seccomp-events", "off", "--", PROBE, "bench", CALLS],
    "secure-init docker-default": [SI, "--seccomp", "docker-default", "--seccomp-events", "off", "--", PROBE, "bench", CALLS],
    "Docker's profile via libseccomp": ["/usr/bin/python3", "-c", LIBSECCOMP_LOADER, DOCKER, PROBE, "bench", CALLS],
}
res = {k: [] for k in cases}
for _ in range(ROUNDS):
    for k, c in cases.items():
        res[k].append(run(c))
med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in res.items()}
base = med["no filter (uid 1001, no_new_privs)"]
lib = med["Docker's profile via libseccomp"]
print(f"{CALLS} calls x {ROUNDS} rounds, median ns per call; kernel {os.uname().release}\n")
print("| filter | getppid (cached) | socket (arg-checked) | add_key (denied) | getppid vs none | socket vs libseccomp | add_key vs libseccomp |")
print("|---|---:|---:|---:|---:|---:|---:|")
for k, m in med.items():
    print(f"| {k} | {m['getppid_ns']:.1f} | {m['socket_ns']:.1f} | {m['add_key_ns']:.1f} | "
          f"{m['getppid_ns'] / base['getppid_ns']:.3f}x | {m['socket_ns'] / lib['socket_ns']:.2f}x | {m['add_key_ns'] / lib['add_key_ns']:.2f}x |")
