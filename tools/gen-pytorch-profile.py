#!/usr/bin/env python3
"""Derive profiles/pytorch.json from Docker's default profile (profiles/docker-default.json).

Run: python3 tools/gen-pytorch-profile.py > profiles/pytorch.json
Every rule that differs from Docker's carries a `comment` saying why.
"""
import json, sys

src = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "profiles/docker-default.json"))

policy = json.load(open("profiles/pytorch-policy.json"))
DENY, ENOSYS, NUMA = policy["deny"], policy["enosys"], policy["numa"]
special = set(DENY) | set(ENOSYS) | set(NUMA)

out = {k: v for k, v in src.items() if k != "syscalls"}
out["comment"] = ("secure-init 'pytorch' profile: Docker's default profile (moby/profiles "
                  "seccomp/default.json, Apache-2.0) adjusted for PyTorch + CUDA workloads; every "
                  "changed rule has a comment. Hot syscalls (ioctl, futex, mmap, read, write) carry "
                  "no argument conditions so the kernel's action cache keeps them free.")
rules = []
for s in src["syscalls"]:
    names = [n for n in s["names"] if n not in special]
    if not names:
        continue
    r = dict(s)
    if names != s["names"]:
        r["names"] = names
        r["comment"] = ((s.get("comment") or "") + " [pytorch: " +
                        ", ".join(n for n in s["names"] if n in special) +
                        " removed; handled by the rules below]").strip()
    rules.append(r)

rules.append({
    "names": ["memfd_create"], "action": "SCMP_ACT_ALLOW",
    "comment": "pytorch: CUDA's initialisation fails with error 304 without memfd_create "
               "(already in Docker's list; restated so edits to that list cannot drop it)"})
rules.append({
    "names": ["socket"], "action": "SCMP_ACT_ALLOW",
    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}],
    "comment": "pytorch: AF_UNIX sockets for DataLoader workers, NCCL/Gloo bootstrap and "
               "Jupyter kernels (covered by Docker's domain < 38 rule; restated)"})
rules.append({
    "names": [n for n in NUMA], "action": "SCMP_ACT_ALLOW",
    "comment": "pytorch: NUMA binding of one's own memory needs no capability (Docker "
               "requires CAP_SYS_NICE); DataLoader pinning and NCCL use mbind/set_mempolicy"})
rules.append({
    "names": ENOSYS, "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
    "comment": "pytorch: ENOSYS, not EPERM, so glibc falls back from clone3 to clone (whose "
               "namespace flags Docker's rule blocks) and liburing users fall back to epoll; "
               "io_uring is a large kernel attack surface"})
rules.append({
    "names": DENY, "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
    "comment": "pytorch: denied even when a capability would let Docker's profile allow them: "
               "debugging/introspection of other processes (ptrace, process_vm_*, pidfd_getfd, "
               "perf_event_open), kernel keyrings, eBPF, userfaultfd (a heap-exploit primitive), "
               "namespaces and mounts, module loading, kexec, reboot and swap"})
for name, request in policy["ioctl_deny"].items():
    rules.append({
        "names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
        "args": [{"index": 1, "value": request, "op": "SCMP_CMP_EQ"}],
        "comment": f"pytorch: {name} pushes input into (or drives) a terminal; from a workload "
                   "on a terminal it did not create, that is code injected into the caller's "
                   "shell. The request is compared on 32 bits, as the kernel reads it. The only "
                   "argument condition on a hot syscall: it costs every ioctl a pass through "
                   "the filter (see BENCHMARKS.md)"})
out["syscalls"] = rules
print(json.dumps(out, indent=2))
