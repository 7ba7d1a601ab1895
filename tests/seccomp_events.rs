//! Seccomp denials as events: the workload's denied calls are answered by the supervisor
//! with the profile's errno and logged (name, decoded arguments, pid, comm, severity,
//! hint); ENOSYS fallbacks are not reported; a flood is aggregated and does not hold up
//! the supervisor; learn mode records what a workload needs; without user notification
//! the plain filter is installed with a warning.

mod common;
use common::*;
use std::process::{Command, Stdio};

const PY: &str = "/usr/bin/python3";

/// A Python workload with ctypes' libc as `libc` and `call(nr, *args) -> (ret, errno)`.
fn py(code: &str) -> Vec<String> {
    let prelude = "import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\ndef call(nr, *a):\n    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(x) for x in a])\n    return r, ctypes.get_errno()\n";
    vec![PY.into(), "-c".into(), format!("{prelude}{code}")]
}

fn run(extra: &[&str], code: &str) -> std::process::Output {
    let p = py(code);
    let mut a: Vec<&str> = extra.to_vec();
    a.push("--");
    a.extend(p.iter().map(String::as_str));
    output(cmd(&a))
}

// x86_64 numbers (CI's architecture; the unit tests cover the tables)
const NR_PTRACE: i64 = 101;
const NR_UNSHARE: i64 = 272;
const NR_MOUNT: i64 = 165;
const NR_BPF: i64 = 321;
const NR_KEYCTL: i64 = 250;
const NR_CLONE3: i64 = 435;
const NR_IO_URING_SETUP: i64 = 425;

#[test]
fn denials_are_events_with_decoded_arguments_and_the_same_errno() {
    let o = run(
        &[],
        &format!(
            "print('unshare', *call({NR_UNSHARE}, 0x10000000))\n\
             print('ptrace', *call({NR_PTRACE}, 16, 1, 0, 0))\n\
             print('mount', *call({NR_MOUNT}, 0, 0, 0, 0, 0))\n\
             print('bpf', *call({NR_BPF}, 0, 0, 0))\n\
             print('keyctl', *call({NR_KEYCTL}, 0, 0, 0))\n\
             print('tiocsti', *call(16, 0, 0x5412, 0))\n"
        ),
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    // the workload sees exactly what the plain filter gave: EPERM
    for n in ["unshare", "ptrace", "mount", "bpf", "keyctl", "tiocsti"] {
        assert!(out.contains(&format!("{n} -1 1\n")), "{n}: {out}");
    }
    let ev = events(&o, "seccomp.denied");
    let get = |name: &str| {
        ev.iter()
            .find(|e| e["syscall"] == name)
            .unwrap_or_else(|| panic!("no event for {name}: {}", stderr(&o)))
            .clone()
    };
    let u = get("unshare");
    assert_eq!(u["args"], "flags=CLONE_NEWUSER");
    assert_eq!(u["severity"], "high");
    assert_eq!(u["level"], "error");
    assert_eq!(u["errno"], "EPERM");
    assert_eq!(u["comm"], "python3");
    assert!(u["pid"].as_u64().unwrap() > 1);
    let p = get("ptrace");
    assert_eq!(p["args"], "PTRACE_ATTACH, pid=1");
    assert!(p["hint"].as_str().unwrap().contains("py-spy"), "{p}");
    for n in ["mount", "bpf", "keyctl"] {
        assert_eq!(get(n)["severity"], "high", "{n}");
    }
    let t = get("ioctl");
    assert!(t["args"].as_str().unwrap().contains("TIOCSTI"), "{t}");
    assert_eq!(t["severity"], "high");
}

#[test]
fn enosys_fallbacks_are_not_reported() {
    let o = run(
        &[],
        &format!(
            "print('clone3', *call({NR_CLONE3}, 0, 0))\nprint('io_uring', *call({NR_IO_URING_SETUP}, 1, 0))\n\
             print('ptrace', *call({NR_PTRACE}, 0, 0, 0, 0))\n"
        ),
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("clone3 -1 38"), "{out}"); // ENOSYS
    assert!(out.contains("io_uring -1 38"), "{out}");
    let ev = events(&o, "seccomp.denied");
    assert!(
        ev.iter()
            .all(|e| e["syscall"] != "clone3" && e["syscall"] != "io_uring_setup"),
        "{ev:?}"
    );
    // the control: a real denial in the same run is reported
    assert!(
        ev.iter().any(|e| e["syscall"] == "ptrace"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_flood_of_denials_is_aggregated_and_does_not_hold_up_signals() {
    // one thread denies ptrace in a loop; SIGTERM must still reach the workload at once
    let code = format!(
        "import signal, threading, time\n\
         def term(*_):\n    print('TERM', flush=True); os._exit(0)\n\
         signal.signal(signal.SIGTERM, term)\n\
         def flood():\n    n = 0\n    while True:\n        call({NR_PTRACE}, 16, 1, 0, 0); n += 1\n        if n == 100000: print('FLOODED', flush=True)\n\
         threading.Thread(target=flood, daemon=True).start()\n\
         while True: time.sleep(0.01)\n"
    );
    let p = py(&code);
    let mut a: Vec<&str> = vec!["--"];
    a.extend(p.iter().map(String::as_str));
    let mut c = cmd(&a)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = c.id();
    let _guard = KillOnDrop(vec![pid]);
    // wait until 100k denials happened (read stdout in a thread)
    let out = c.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let flooded = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
    assert_eq!(flooded, "FLOODED");
    let t = std::time::Instant::now();
    kill(pid, libc::SIGTERM);
    let got = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(got, "TERM");
    let o = c.wait_with_output().unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    // one event for the kind, then counts: not 100k lines
    assert!(
        err.lines().count() < 40,
        "{} lines:\n{err}",
        err.lines().count()
    );
    assert_eq!(events(&o, "seccomp.denied").len(), 1, "{err}");
    let total: u64 = events(&o, "seccomp.denied.count")
        .iter()
        .filter(|e| e["syscall"] == "ptrace")
        .map(|e| e["count"].as_u64().unwrap())
        .max()
        .unwrap_or(0);
    assert!(total >= 100_000, "{err}");
}

#[test]
fn learn_mode_records_what_the_workload_needs_and_its_profile_runs_it() {
    let dir = TempDir::root_only("learn");
    let out = dir.path().join("learned.json");
    let out_s = out.to_str().unwrap();
    // succeeds only when ptrace(PTRACE_TRACEME) and personality(READ_IMPLIES_EXEC) work
    let code = format!(
        "r1 = call({NR_PTRACE}, 0, 0, 0, 0)[0]\nr2 = call(135, 0x0400000)[0]\nprint(r1, r2)\nsys.exit(0 if r1 == 0 and r2 != -1 else 3)\n"
    );
    let o = run(&[], &code);
    assert_code(&o, 3); // the profile denies them
    let o = run(&["--seccomp-learn", out_s], &code);
    assert_code(&o, 0);
    assert!(
        events(&o, "seccomp.learn")
            .iter()
            .any(|e| e["syscall"] == "ptrace"),
        "{}",
        stderr(&o)
    );
    let learned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let added = learned["syscalls"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(added["action"], "SCMP_ACT_ALLOW");
    assert!(
        added["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "ptrace"),
        "{added}"
    );
    // the learned profile is a valid profile that lets the recorded workload run
    let o = run(&["--seccomp", out_s], &code);
    assert_code(&o, 0);
    // and it still denies what was not recorded
    let o = run(
        &["--seccomp", out_s],
        &format!("print(*call({NR_UNSHARE}, 0x10000000))"),
    );
    assert_code(&o, 0);
    assert!(stdout(&o).contains("-1 1"), "{}", stdout(&o));
}

#[test]
fn without_user_notification_the_plain_filter_runs_with_a_warning() {
    // a parent filter that refuses SECCOMP_FILTER_FLAG_NEW_LISTENER, as a kernel before 5.0
    // does (EINVAL)
    let loader = r#"
import os, sys, seccomp
f = seccomp.SyscallFilter(seccomp.ALLOW)
f.add_rule(seccomp.ERRNO(22), "seccomp", seccomp.Arg(1, seccomp.MASKED_EQ, 8, 8))
f.load()
os.execv(sys.argv[1], sys.argv[1:])
"#;
    let p = py(&format!("print(*call({NR_PTRACE}, 16, 1, 0, 0))"));
    let mut c = Command::new(PY);
    c.args(["-c", loader])
        .arg(bin())
        .arg("--")
        .args(&p)
        .env("SECURE_INIT_LOG_FORMAT", "json");
    let o = output(c);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("-1 1"), "still denied: {}", stdout(&o));
    let w = events(&o, "seccomp.notify");
    assert!(
        w.iter()
            .any(|e| e["level"] == "warn" && e["msg"].as_str().unwrap().contains("not reported")),
        "{}",
        stderr(&o)
    );
    assert!(events(&o, "seccomp.denied").is_empty());
    // learn mode cannot work there: refused
    let dir = TempDir::root_only("learn-nolistener");
    let out = dir.path().join("l.json");
    let mut c = Command::new(PY);
    c.args(["-c", loader])
        .arg(bin())
        .args(["--seccomp-learn", out.to_str().unwrap(), "--"])
        .args(&p)
        .env("SECURE_INIT_LOG_FORMAT", "json");
    let o = output(c);
    assert_code(&o, 77);
    assert!(fatal_msg(&o).contains("learn"), "{}", fatal_msg(&o));
}

#[test]
fn events_can_be_turned_off() {
    let o = run(
        &["--seccomp-events", "off"],
        &format!("print(*call({NR_PTRACE}, 16, 1, 0, 0))"),
    );
    assert_code(&o, 0);
    assert!(stdout(&o).contains("-1 1"));
    assert!(events(&o, "seccomp.denied").is_empty(), "{}", stderr(&o));
}

/// The supervisor's threads, by name, while `secure-init ARGS -- sleep 2` runs.
fn supervisor_threads(extra: &[&str]) -> Vec<String> {
    let mut a = extra.to_vec();
    a.extend(["--", "sleep", "2"]);
    let mut c = cmd(&a);
    let mut child = c
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let names = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .unwrap()
        .map(|t| {
            std::fs::read_to_string(t.unwrap().path().join("comm"))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    let _ = child.wait();
    names
}

#[test]
fn the_listener_thread_starts_with_the_first_denial_and_answers_leftovers() {
    // a command that is denied nothing: no listener thread in the supervisor
    assert_eq!(supervisor_threads(&[]), ["secure-init"]);
    // learn mode starts it at once (it writes the profile at the end)
    let t = TempDir::root_only("learn-thread");
    let out = t.path().join("learned.json");
    let threads = supervisor_threads(&["--seccomp-learn", out.to_str().unwrap()]);
    assert!(
        threads.iter().any(|n| n.starts_with("seccomp-list")),
        "{threads:?}"
    );
    // a process the command left behind makes a denied call while it is being ended: it
    // is answered (EPERM, an event) at once, not left waiting until the SIGKILL 3 s later
    let script = format!(
        "{PY} -c '
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
def term(*_):
    r = libc.syscall(ctypes.c_long({NR_UNSHARE}), ctypes.c_long(0x10000000))
    print(\"leftover\", r, ctypes.get_errno(), flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, term)
print(\"ready\", flush=True)
time.sleep(30)
' &
sleep 0.5"
    );
    let start = std::time::Instant::now();
    let o = output(cmd(&["--", "sh", "-c", &script]));
    let took = start.elapsed();
    assert_code(&o, 0);
    assert!(stdout(&o).contains("leftover -1 1"), "{}", stdout(&o));
    assert!(took < std::time::Duration::from_millis(2500), "{took:?}");
    let ev = events(&o, "seccomp.denied");
    assert!(
        ev.iter().any(|e| e["syscall"] == "unshare"),
        "{}",
        stderr(&o)
    );
}
