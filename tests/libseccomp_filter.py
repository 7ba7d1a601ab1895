"""Build a Docker/OCI JSON seccomp profile into a filter with libseccomp (python3-seccomp), the
way runc does for this machine (amd64, no capabilities, the running kernel), and write the
BPF program to a file: the reference secure-init's compiler is compared with.

    python3 tests/libseccomp_filter.py PROFILE.json OUT.bpf
"""
import json, os, sys
import seccomp

prof = json.load(open(sys.argv[1]))


def errno_of(entry, num_key, name_key):
    n = entry.get(num_key)
    if n is None and entry.get(name_key):
        import errno as E
        n = getattr(E, entry[name_key])
    return 1 if n is None else n


def action(name, errno_ret):
    return {
        "SCMP_ACT_ALLOW": seccomp.ALLOW,
        "SCMP_ACT_ERRNO": seccomp.ERRNO(errno_ret),
        "SCMP_ACT_KILL": seccomp.KILL,
        "SCMP_ACT_KILL_THREAD": seccomp.KILL,
        "SCMP_ACT_KILL_PROCESS": seccomp.KILL_PROCESS,
        "SCMP_ACT_TRAP": seccomp.TRAP,
        "SCMP_ACT_LOG": seccomp.LOG,
    }[name]


OPS = {"SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT, "SCMP_CMP_LE": seccomp.LE,
       "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_GE": seccomp.GE, "SCMP_CMP_GT": seccomp.GT,
       "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}

rel = os.uname().release.split("-")[0].split(".")
kernel = (int(rel[0]), int(rel[1]))


def applies(e):
    inc, exc = e.get("includes") or {}, e.get("excludes") or {}
    if inc.get("caps"):
        return False  # no capability is kept
    if inc.get("arches") and "amd64" not in inc["arches"]:
        return False
    if exc.get("arches") and "amd64" in exc["arches"]:
        return False
    mk = inc.get("minKernel")
    if mk and tuple(int(x) for x in mk.split(".")[:2]) > kernel:
        return False
    return True


f = seccomp.SyscallFilter(action(prof["defaultAction"], errno_of(prof, "defaultErrnoRet", "defaultErrno")))
for e in prof.get("syscalls") or []:
    if not applies(e):
        continue
    act = action(e["action"], errno_of(e, "errnoRet", "errno"))
    args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in e.get("args") or []]
    # runc: conditions on different arguments AND-ed in one rule; several on the same
    # argument OR-ed (one rule each)
    same = len({a["index"] for a in e.get("args") or []}) != len(e.get("args") or [])
    for name in e.get("names") or [e.get("name")]:
        try:
            if same:
                for a in args:
                    f.add_rule(act, name, a)
            else:
                f.add_rule(act, name, *args)
        except (RuntimeError, ValueError, OSError):
            pass  # a name this architecture lacks, as runc ignores it
with open(sys.argv[2], "wb") as out:
    f.export_bpf(out)
