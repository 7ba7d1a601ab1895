//! The stop contract for ML jobs: one SIGTERM per process and a grace that holds, SIGKILL
//! at `--stop-grace` with a `child.stop` event, `--signal-map`, why the child ended
//! (`reason`, OOM from the memory cgroup, the termination log), a fallback HOME that leaves
//! no litter, and job control under `docker run -it --init`.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A trainer: counts every SIGTERM it gets in `$DIR/terms`, takes 0.3 s to write
/// `$DIR/ckpt` on the first, then exits; with `ignore` it never exits (only SIGKILL ends it).
const TRAINER: &str = r#"
import os, signal, sys, time
d = os.environ["DIR"]
ignore = len(sys.argv) > 1
n = 0
def on_term(sig, frame):
    global n
    n += 1
    open(os.path.join(d, "terms"), "w").write(str(n))
    if n == 1 and not ignore:
        time.sleep(0.3)          # writing the checkpoint
        open(os.path.join(d, "ckpt"), "w").write("weights")
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open(os.path.join(d, "ready"), "w").write("1")
while True:
    time.sleep(0.05)
"#;

fn setup(t: &TempDir) -> String {
    let p = t.path().join("trainer.py");
    std::fs::write(&p, TRAINER).unwrap();
    p.display().to_string()
}

fn read(t: &TempDir, name: &str) -> Option<String> {
    std::fs::read_to_string(t.path().join(name)).ok()
}

/// Start `c`, wait for the trainer's `ready`, send `sig` to secure-init, wait for the end.
fn stop_after_ready(mut c: Command, t: &TempDir, sig: i32) -> (std::process::Output, Duration) {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let _guard = KillOnDrop(vec![child.id()]);
    assert!(
        wait_for(20, || t.path().join("ready").exists()),
        "the trainer never started"
    );
    // secure-init is unshare's child (PID 1 of the new namespace); unshare ignores SIGTERM
    let target = first_child(child.id()).unwrap();
    let at = Instant::now();
    kill(target, sig);
    let o = child.wait_with_output().unwrap();
    (o, at.elapsed())
}

#[test]
fn docker_stop_through_a_wrapper_shell_gives_the_trainer_one_sigterm_and_its_checkpoint() {
    // CMD ["bash","-c","python train.py; echo done"] + docker stop: the shell dies at once,
    // the trainer is a leftover of secure-init (PID 1)
    let t = TempDir::new("stop-wrap");
    let trainer = setup(&t);
    let mut c = cmd_pid1(&["--gpu", "off", "--audit", "off", "--", "bash", "-c"]);
    c.arg(format!("/usr/bin/python3 {trainer}; echo done"))
        .env("DIR", t.path());
    let (o, took) = stop_after_ready(c, &t, libc::SIGTERM);
    assert_eq!(read(&t, "terms").as_deref(), Some("1"), "{}", stderr(&o));
    assert_eq!(
        read(&t, "ckpt").as_deref(),
        Some("weights"),
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(took < Duration::from_secs(4), "{took:?}");
    let left = events(&o, "child.leftovers");
    let end = left.last().unwrap();
    assert_eq!(end["killed"], 0, "{}", stderr(&o));
}

#[test]
fn a_leftover_that_ignores_sigterm_gets_it_once_then_sigkill_at_the_grace() {
    let t = TempDir::new("stop-ignore");
    let trainer = setup(&t);
    let mut c = cmd(&[
        "--gpu",
        "off",
        "--audit",
        "off",
        "--stop-grace",
        "1",
        "--",
        "sh",
        "-c",
    ]);
    c.arg(format!("/usr/bin/python3 {trainer} ignore & while [ ! -e \"$DIR/ready\" ]; do sleep 0.05; done; exit 3"))
        .env("DIR", t.path());
    let at = Instant::now();
    let o = output(c);
    let took = at.elapsed();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(
        read(&t, "terms").as_deref(),
        Some("1"),
        "one SIGTERM, not one per pass: {}",
        stderr(&o)
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "SIGKILL at the 1 s grace: {took:?}"
    );
    let left = events(&o, "child.leftovers");
    assert_eq!(left.last().unwrap()["killed"], 1, "{}", stderr(&o));
}

#[test]
fn a_command_that_ignores_the_forwarded_stop_is_killed_at_the_grace_and_says_so() {
    let t = TempDir::new("stop-child");
    let trainer = setup(&t);
    let mut c = cmd_pid1(&[
        "--gpu",
        "off",
        "--audit",
        "off",
        "--stop-grace",
        "1",
        "--",
        "/usr/bin/python3",
    ]);
    c.args([trainer.as_str(), "ignore"]).env("DIR", t.path());
    let (o, took) = stop_after_ready(c, &t, libc::SIGTERM);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(read(&t, "terms").as_deref(), Some("1"));
    let stop = events(&o, "child.stop");
    assert!(
        stop.iter()
            .any(|e| e["killed"] == true && e["after_ms"].as_u64().unwrap() >= 900),
        "{}",
        stderr(&o)
    );
    let exit = &events(&o, "child.exit")[0];
    assert_eq!(exit["reason"], "signaled");
    assert_eq!(exit["signal"], "SIGKILL");
    // one that saves and exits: the time it took
    let t = TempDir::new("stop-quick");
    let trainer = setup(&t);
    let mut c = cmd_pid1(&["--gpu", "off", "--audit", "off", "--", "/usr/bin/python3"]);
    c.arg(&trainer).env("DIR", t.path());
    let (o, _) = stop_after_ready(c, &t, libc::SIGTERM);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stop = events(&o, "child.stop");
    let done = stop
        .iter()
        .find(|e| e["killed"] == false)
        .unwrap_or_else(|| panic!("{}", stderr(&o)));
    assert!(done["exited_after_ms"].as_u64().unwrap() >= 300, "{done}");
    assert_eq!(events(&o, "child.exit")[0]["reason"], "exited");
}

#[test]
fn signal_map_turns_docker_stop_into_keyboard_interrupt() {
    let t = TempDir::new("stop-map");
    let script = t.path().join("kbi.py");
    std::fs::write(
        &script,
        "import os, time\nopen(os.path.join(os.environ['DIR'], 'ready'), 'w').write('1')\ntry:\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    print('KEYBOARD-INTERRUPT', flush=True)\n",
    )
    .unwrap();
    let mut c = cmd_pid1(&[
        "--gpu",
        "off",
        "--audit",
        "off",
        "--signal-map",
        "TERM:INT",
        "--",
        "/usr/bin/python3",
    ]);
    c.arg(&script).env("DIR", t.path());
    let (o, _) = stop_after_ready(c, &t, libc::SIGTERM);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("KEYBOARD-INTERRUPT"));
    let stop = &events(&o, "child.stop")[0];
    assert_eq!(
        (stop["received"].as_str(), stop["sent"].as_str()),
        (Some("SIGTERM"), Some("SIGINT"))
    );
    // bad maps: usage errors that name the item, nothing started
    for (bad, what) in [
        ("KILL:TERM", "cannot be rewritten"),
        ("TERM", "no ':'"),
        ("TERM:BOGUS", "TO is not a signal"),
    ] {
        let o = output(cmd(&[
            "--gpu",
            "off",
            "--signal-map",
            bad,
            "--",
            "echo",
            "STARTED",
        ]));
        assert_code(&o, 64);
        let m = fatal_msg(&o);
        assert!(m.contains(bad) && m.contains(what), "{m}");
        assert!(!stdout(&o).contains("STARTED"));
    }
}

/// A memory cgroup limited to 64 MiB (v2 where the memory controller is there, else v1),
/// removed when dropped.
struct MemCg(std::path::PathBuf);
impl MemCg {
    fn new() -> MemCg {
        let name = format!("secure-init-test-oom-{}", std::process::id());
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control")
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"));
        let dir = if v2 {
            std::path::Path::new("/sys/fs/cgroup").join(name)
        } else {
            std::path::Path::new("/sys/fs/cgroup/memory").join(name)
        };
        std::fs::create_dir_all(&dir).unwrap();
        let limit = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        std::fs::write(dir.join(limit), (64u64 << 20).to_string()).unwrap();
        if v2 {
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
        }
        MemCg(dir)
    }
}
impl Drop for MemCg {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_job_killed_for_memory_says_oom_killed_and_writes_the_termination_log() {
    let cg = MemCg::new();
    let t = TempDir::new("oom");
    let tlog = t.path().join("termination-log");
    std::fs::write(&tlog, "").unwrap();
    // secure-init in the cgroup, its command allocating `mib` MiB
    let run = |mib: u32| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(r#"echo $$ > "$CG/cgroup.procs" && exec "$@""#)
            .arg("sh")
            .arg(bin())
            .args(["--gpu", "off", "--audit", "off", "--termination-log"])
            .arg(&tlog)
            .args(["--", "/usr/bin/python3", "-c"])
            .arg(format!("b = b'x' * ({mib} << 20); print('survived')"))
            .env("CG", &cg.0)
            .env("SECURE_INIT_LOG_FORMAT", "json");
        output(c)
    };
    let o = run(400);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    let e = &events(&o, "child.exit")[0];
    assert_eq!(e["reason"], "oom_killed", "{e}");
    assert_eq!(e["level"], "error");
    assert!(e["oom_kills"].as_u64().unwrap() >= 1, "{e}");
    let peak = e["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak > 50 << 20 && peak <= 65 << 20, "{e}");
    let line = std::fs::read_to_string(&tlog).unwrap();
    assert!(
        line.starts_with("secure-init: child was killed by the out-of-memory killer"),
        "{line}"
    );
    // the control: the same job within the limit exits 0 with reason exited
    let o = run(8);
    assert_code(&o, 0);
    assert_eq!(events(&o, "child.exit")[0]["reason"], "exited");
    assert_eq!(events(&o, "child.exit")[0]["oom_kills"], 0);
    let line = std::fs::read_to_string(&tlog).unwrap();
    assert!(
        line.starts_with("secure-init: child exited with status 0 (peak memory "),
        "{line}"
    );
    assert_eq!(
        line.lines().count(),
        1,
        "the line replaces the last one: {line}"
    );
}

fn homes(tmp: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("secure-init-home-"))
        .collect();
    v.sort();
    v
}

#[test]
fn the_fallback_home_is_reused_emptied_and_never_littered() {
    let t = TempDir::new("home-litter");
    let run = |script: &str| {
        let mut c = cmd(&["--gpu", "off", "--audit", "off", "--", "sh", "-c", script]);
        c.env_remove("HOME").env("TMPDIR", t.path());
        output(c)
    };
    for i in 0..3 {
        let o = run("echo \"$HOME\"; ls -A \"$HOME\"; echo planted > \"$HOME/.bashrc\"");
        assert_code(&o, 0);
        let out = stdout(&o);
        assert_eq!(
            out.lines().next(),
            Some(t.path().join("secure-init-home-1001").to_str().unwrap()),
            "run {i}: {out}"
        );
        assert!(
            !out.contains(".bashrc"),
            "run {i}: an earlier start's files are gone: {out}"
        );
    }
    assert_eq!(homes(t.path()), ["secure-init-home-1001"]);
    // a start that is still running holds it: the next gets one of its own, removed by the
    // first start after both ended
    let mut long = cmd(&[
        "--gpu",
        "off",
        "--audit",
        "off",
        "--",
        "sh",
        "-c",
        "echo up > \"$HOME/up\"; sleep 2",
    ]);
    long.env_remove("HOME").env("TMPDIR", t.path());
    let long = spawn_logged(&mut long);
    let _g = KillOnDrop(vec![long.id()]);
    assert!(wait_for(10, || t
        .path()
        .join("secure-init-home-1001/up")
        .exists()));
    let o = run("echo \"$HOME\"");
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("secure-init-home-1001."),
        "{}",
        stdout(&o)
    );
    assert!(
        t.path().join("secure-init-home-1001/up").exists(),
        "the running start's HOME was left alone"
    );
    assert_eq!(homes(t.path()).len(), 2);
    let _ = long.wait_with_output();
    let o = run("true");
    assert_code(&o, 0);
    assert_eq!(homes(t.path()), ["secure-init-home-1001"], "{}", stderr(&o));
}

#[test]
fn docker_run_it_init_keeps_job_control_and_a_shell_started_by_hand_does_not_get_it() {
    require_root();
    // docker run -it --init: tini is PID 1 and leads the terminal's session; secure-init is
    // its child. `script` gives a pty; setsid -c makes PID 1 its session leader as runc does.
    let t = TempDir::new("jobctl");
    let check = t.path().join("check.sh");
    std::fs::write(
        &check,
        "case $- in *m*) m=on;; *) m=off;; esac\nfg=$(ps -o tpgid= -p $$ | tr -d ' ')\npg=$(ps -o pgid= -p $$ | tr -d ' ')\n[ \"$fg\" = \"$pg\" ] && f=yes || f=no\necho \"MONITOR=$m FG=$f\"\n",
    )
    .unwrap();
    let check = check.display();
    let inner = format!(
        "unshare --pid --fork --mount-proc setsid -c tini -s -- {} --gpu off --audit off --log-level error -- bash --norc -i {check}",
        bin().display()
    );
    let o = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.contains("MONITOR=on FG=yes"), "{out}\n{}", stderr(&o));
    assert!(!out.contains("no job control"), "{out}");
    // started by hand from a shell (the shell leads the session): a session of its own
    let inner = format!(
        "{} --gpu off --audit off --log-level error -- bash --norc -i {check}; true",
        bin().display()
    );
    let o = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.contains("MONITOR=off"), "{out}");
}
