#!/usr/bin/env python3
"""Where a start goes, from the kernel's own scheduler events: `unshare --pid --fork
--mount-proc X /bin/true` for each NAME=COMMAND, interleaved, recorded with `perf record -a`
on the sched tracepoints (exec, fork, exit, switch), and cut into phases per run:

  load   exec of the init (secure-init, tini) until it forks the command
  spawn  that fork until the command's exec (the child's hardening, for secure-init)
  work   the command's exec until it exits (/bin/true: its loader and CPUID traps)
  tail   the command's exit until unshare exits (wake, reap, the init's own exit)
  exit   of the tail: the init's exit event until it is a zombie (address-space teardown)

Medians per phase and name; the scheduler's timestamps need no instrumentation of the
programs, so the phases of secure-init and tini are cut at the same events. Tracing adds a
little to every phase (more to those with many context switches).

Run as root from the repository root (needs `perf`: apt-get install linux-perf):
    python3 bench/phases.py 60 "tini=tini --" "si=target/release/secure-init --"
"""
import collections, os, re, statistics, subprocess, sys, tempfile

RUNS = int(sys.argv[1])
V = [a.split("=", 1) for a in sys.argv[2:]]
PRE = "unshare --pid --fork --mount-proc"
tmp = tempfile.mkdtemp()
script = os.path.join(tmp, "runs.sh")
with open(script, "w") as f:
    f.write("#!/bin/sh\nfor i in $(seq %d); do\n" % RUNS)
    for _, cmd in V:
        f.write(f"  {PRE} {cmd} /bin/true 2>/dev/null\n")
    f.write("done\n")
os.chmod(script, 0o755)
data = os.path.join(tmp, "perf.data")
events = ",".join("sched:" + e for e in
                  ["sched_process_exec", "sched_process_fork", "sched_process_exit", "sched_switch"])
subprocess.run(["perf", "record", "-q", "-a", "-o", data, "-e", events, "--", script],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
text = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,cpu,time,event,trace"],
                      check=True, capture_output=True, text=True).stdout

LINE = re.compile(r"\s*(\S+)\s+(\d+) \[(\d+)\] ([\d.]+):\s+sched:(\w+): (.*)")
runs, cur = [], None
for line in text.splitlines():
    m = LINE.match(line)
    if not m:
        continue
    comm, pid, _cpu, t, ev, rest = m.groups()
    if ev == "sched_process_exec" and "filename=/usr/bin/unshare" in rest:
        cur = []
        runs.append(cur)
    if cur is not None:
        cur.append((float(t) * 1e6, comm, int(pid), ev, rest))

inits = {os.path.realpath(cmd.split()[0]) if "/" in cmd.split()[0] else cmd.split()[0]: name
         for name, cmd in V}
res = collections.defaultdict(lambda: collections.defaultdict(list))
for r in runs:
    name = init_pid = None
    t = {}
    for (ts, comm, pid, ev, rest) in r:
        if ev == "sched_process_exec":
            fn = rest.split()[0].split("=", 1)[1]
            for path, n in inits.items():
                if fn == path or os.path.basename(fn) == os.path.basename(path):
                    if name is None and fn != "/usr/bin/unshare":
                        name, init_pid, t["exec"] = n, pid, ts
            if fn == "/bin/true" and "fork" in t:
                t.setdefault("cmd_exec", ts)
        elif ev == "sched_process_fork" and pid == init_pid:
            t.setdefault("fork", ts)
        elif ev == "sched_process_exit":
            if comm == "true" and "cmd_exec" in t:
                t.setdefault("cmd_exit", ts)
            elif pid == init_pid:
                t.setdefault("init_exit", ts)
            elif comm == "unshare" and "init_exit" in t:
                t.setdefault("unshare_exit", ts)
        elif ev == "sched_switch" and pid == init_pid and "prev_state=Z" in rest:
            t.setdefault("zombie", ts)
    need = ["exec", "fork", "cmd_exec", "cmd_exit", "init_exit", "zombie", "unshare_exit"]
    if name is None or any(k not in t for k in need):
        continue
    p = res[name]
    p["load"].append(t["fork"] - t["exec"])
    p["spawn"].append(t["cmd_exec"] - t["fork"])
    p["work"].append(t["cmd_exit"] - t["cmd_exec"])
    p["tail"].append(t["unshare_exit"] - t["cmd_exit"])
    p["exit"].append(t["zombie"] - t["init_exit"])
    p["total"].append(t["unshare_exit"] - t["exec"])

phases = ["load", "spawn", "work", "tail", "exit", "total"]
print(f"{RUNS} runs each, median µs (exit is part of tail; total: init exec to unshare exit)\n")
print("| command | runs | " + " | ".join(phases) + " |")
print("|---|---:|" + "---:|" * len(phases))
for name, _ in V:
    p = res.get(name)
    if not p:
        print(f"| {name} | 0 |" + " |" * len(phases))
        continue
    cells = " | ".join(f"{statistics.median(p[k]):.0f}" for k in phases)
    print(f"| {name} | {len(p['load'])} | {cells} |")
