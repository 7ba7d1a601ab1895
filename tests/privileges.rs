//! Privilege drop asserted from inside the hardened child (the probe reads
//! /proc/self/status and tries forbidden calls).

mod common;
use common::*;
use std::collections::HashMap;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\naiuser:x:1001:44:AI user:/home/aiuser:/bin/sh\ntrainer:x:2001:2001::/nonexistent:/bin/sh\n";
const GROUP: &str = "root:x:0:\nvideo:x:44:\nrender:x:993:\ndata:x:3000:\ntrainer:x:2001:\n";

fn posture(o: &std::process::Output) -> HashMap<String, String> {
    assert_code(o, 0);
    kv(o)
}

fn assert_locked_down(p: &HashMap<String, String>, uid: u32) {
    let ids = format!("{uid} {uid} {uid} {uid}");
    assert_eq!(p["Uid"], ids);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(p[set], "0000000000000000", "{set}");
    }
    assert_eq!(p["NoNewPrivs"], "1");
    assert_eq!(p["Seccomp"], "2");
    for call in [
        "setuid0",
        "setgroups",
        "chown_root",
        "mount",
        "chroot",
        "mknod",
        "unshare_user",
        "ptrace_attach",
        "setns",
    ] {
        assert_eq!(p[call], "EPERM", "{call}");
    }
}

#[test]
fn default_root_start_drops_to_1001() {
    let p = probe();
    let o = output(cmd(&["--", p.to_str().unwrap(), "posture"]));
    let p = posture(&o);
    assert_locked_down(&p, 1001);
    assert_eq!(p["Gid"], "1001 1001 1001 1001");
    assert_eq!(p["Groups"], "");
    assert_eq!(p["USER"], "1001");
    assert_eq!(p["LOGNAME"], "1001");
    assert!(
        p["HOME"].starts_with("/tmp/secure-init-home-1001"),
        "{}",
        p["HOME"]
    );
    assert!(stderr(&o).contains("identity.home"), "fallback is logged");
}

#[test]
fn user_by_name_and_by_number() {
    let p = probe();
    let (c, _d) = cmd_with_etc(
        PASSWD,
        GROUP,
        &["--user", "aiuser", "--", p.to_str().unwrap(), "posture"],
    );
    let m = posture(&output(c));
    assert_locked_down(&m, 1001);
    assert_eq!(m["Gid"], "44 44 44 44", "primary group from /etc/passwd");
    assert_eq!(m["USER"], "aiuser");
    let (c, _d) = cmd_with_etc(
        PASSWD,
        GROUP,
        &["--user", "2001:data", "--", p.to_str().unwrap(), "posture"],
    );
    let m = posture(&output(c));
    assert_locked_down(&m, 2001);
    assert_eq!(m["Gid"], "3000 3000 3000 3000");
    assert_eq!(m["USER"], "trainer");
    // /nonexistent home: fallback
    assert!(m["HOME"].starts_with("/tmp/secure-init-home-2001"));
    let (c, _d) = cmd_with_etc(
        PASSWD,
        GROUP,
        &["--user", "4321", "--", p.to_str().unwrap(), "posture"],
    );
    let m = posture(&output(c));
    assert_locked_down(&m, 4321);
    assert_eq!(m["Gid"], "4321 4321 4321 4321");
    assert_eq!(m["USER"], "4321", "no passwd entry: USER is the uid");
    assert!(m["HOME"].ends_with("secure-init-home-4321"));
}

#[test]
fn groups_explicit_and_auto() {
    let p = probe();
    let (c, _d) = cmd_with_etc(
        PASSWD,
        GROUP,
        &[
            "--groups",
            "video,3000,render",
            "--",
            p.to_str().unwrap(),
            "posture",
        ],
    );
    let m = posture(&output(c));
    assert_eq!(m["Groups"], "44 993 3000");
    // auto: a fake GPU device node owned by a test group
    let dev = TempDir::new("dev");
    for (name, gid) in [
        ("nvidiactl", 4444u32),
        ("nvidia0", 4444),
        ("nvidia-uvm", 4445),
    ] {
        let f = dev.path().join(name);
        std::fs::write(&f, "").unwrap();
        std::os::unix::fs::chown(&f, Some(0), Some(gid)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o660)).unwrap();
    }
    // a root-group node is never added
    let f = dev.path().join("nvidia1");
    std::fs::write(&f, "").unwrap();
    let o = output(cmd(&[
        "--gpu",
        "off",
        "--dev-dir",
        dev.path().to_str().unwrap(),
        "--",
        p.to_str().unwrap(),
        "posture",
    ]));
    let m = posture(&o);
    assert_eq!(m["Groups"], "4444 4445");
    // no GPU: no groups
    let empty = TempDir::new("nodev");
    let o = output(cmd(&[
        "--dev-dir",
        empty.path().to_str().unwrap(),
        "--",
        p.to_str().unwrap(),
        "posture",
    ]));
    assert_eq!(posture(&o)["Groups"], "");
}

#[test]
fn keep_cap_net_bind_service_only() {
    let p = probe();
    // (Landlock allows no listening port unless named: --net-bind 80)
    let o = output(cmd(&[
        "--keep-cap",
        "NET_BIND_SERVICE",
        "--net-bind",
        "80",
        "--",
        p.to_str().unwrap(),
        "bind",
        "80",
    ]));
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "bind=ok");
    let o = output(cmd(&[
        "--keep-cap",
        "net_bind_service",
        "--",
        p.to_str().unwrap(),
        "posture",
    ]));
    let m = posture(&o);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(m[set], "0000000000000400", "{set}");
    }
    assert_eq!(m["setuid0"], "EPERM");
    assert_eq!(m["chown_root"], "EPERM");
    // without it: port 80 is refused (by the capability check: Landlock allows the port)
    let o = output(cmd(&[
        "--net-bind",
        "80",
        "--",
        p.to_str().unwrap(),
        "bind",
        "80",
    ]));
    assert_eq!(stdout(&o).trim(), "bind=EACCES");
}

/// secure-init started as uid 1001 without capabilities (Kubernetes' runAsUser), with
/// further `setpriv` options and secure-init's own arguments.
fn as_uid_1001(setpriv: &[&str], args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("setpriv");
    c.args([
        "--reuid=1001",
        "--regid=1001",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .args(setpriv)
    .arg(bin())
    .args(args)
    .env("SECURE_INIT_LOG_FORMAT", "json")
    .env("HOME", "/tmp");
    c
}

#[test]
fn started_non_root_is_verify_only() {
    require_root();
    let p = probe();
    let run = |extra: &[&str]| output(as_uid_1001(&[], extra));
    let o = run(&["--", p.to_str().unwrap(), "posture"]);
    let m = posture(&o);
    assert_eq!(m["Uid"], "1001 1001 1001 1001");
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(m[set], "0000000000000000", "{set}");
    }
    assert_eq!(m["NoNewPrivs"], "1");
    assert_eq!(m["Seccomp"], "2");
    assert_eq!(m["setuid0"], "EPERM");
    assert_eq!(m["HOME"], "/tmp");
    assert!(stderr(&o).contains("priv.verify"));
    // an explicit --user that differs: 77 with an explanation
    let o = run(&["--user", "1002", "--", "true"]);
    assert_code(&o, 77);
    assert!(fatal_msg(&o).contains("non-root"));
    // the same uid is fine
    let o = run(&["--user", "1001", "--", "true"]);
    assert_code(&o, 0);
}

#[test]
fn setuid_binaries_are_inert() {
    require_root();
    let dir = TempDir::new("suid");
    let id = dir.path().join("id-suid");
    std::fs::copy("/usr/bin/id", &id).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o4755)).unwrap();
    // sanity: without secure-init the copy really is setuid-root
    let mut c = std::process::Command::new("setpriv");
    c.args(["--reuid=1001", "--regid=1001", "--clear-groups"])
        .arg(&id)
        .arg("-u");
    assert_eq!(
        stdout(&output(c)).trim(),
        "0",
        "the test copy must be setuid root"
    );
    let o = output(cmd(&["--", id.to_str().unwrap(), "-u"]));
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "1001");
    if std::path::Path::new("/bin/su").exists() {
        let o = output(cmd(&["--", "su", "-c", "id -u", "root"]));
        assert_ne!(o.status.code(), Some(0), "su must not work: {}", stdout(&o));
        assert!(!stdout(&o).contains('0'));
    }
}

#[test]
fn pid1_memory_and_environment_are_unreadable() {
    let p = probe();
    let mut c = cmd_pid1(&["--", p.to_str().unwrap(), "posture"]);
    c.env("SUPER_SECRET", "do-not-leak");
    let o = output(c);
    let m = posture(&o);
    assert_eq!(m["read_pid1_environ"], "EACCES");
    assert_eq!(m["ptrace_attach"], "EPERM");
    assert_eq!(m["process_vm_readv"], "EPERM");
    let mut c = cmd_pid1(&["--", p.to_str().unwrap(), "read", "/proc/1/mem"]);
    c.env("SUPER_SECRET", "do-not-leak");
    let o = output(c);
    assert_eq!(stdout(&o).trim(), "read=EACCES");
    // even without seccomp (ptrace-class calls allowed), the supervisor is out of reach
    let o = output(cmd_pid1(&[
        "--seccomp",
        "unconfined",
        "--",
        p.to_str().unwrap(),
        "posture",
    ]));
    let m = posture(&o);
    assert_eq!(m["read_pid1_environ"], "EACCES");
    assert_eq!(m["ptrace_attach"], "EPERM");
    assert_eq!(m["Seccomp"], "0");
    assert!(stderr(&o).contains("seccomp is OFF"));
}

#[test]
fn root_target_needs_allow_root() {
    let p = probe();
    let o = output(cmd(&["--user", "0", "--", "true"]));
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("--allow-root"));
    let o = output(cmd(&[
        "--user",
        "0",
        "--allow-root",
        "--",
        p.to_str().unwrap(),
        "posture",
    ]));
    let m = posture(&o);
    assert_eq!(m["Uid"], "0 0 0 0");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(m[set], "0000000000000000", "{set}");
    }
    assert_eq!(m["NoNewPrivs"], "1");
    assert_eq!(m["setgroups"], "EPERM", "no CAP_SETGID even as uid 0");
    assert_eq!(m["mknod"], "EPERM", "no CAP_MKNOD even as uid 0");
    assert_eq!(m["mount"], "EPERM");
}

#[test]
fn core_dumps_off_unless_allowed() {
    let o = output(cmd(&["--", "sh", "-c", "ulimit -c; ulimit -Hc"]));
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "0\n0\n");
    let o = output(cmd(&["--allow-core-dumps", "--", "sh", "-c", "ulimit -Hc"]));
    assert_ne!(stdout(&o), "0\n");
}

#[test]
fn bad_identity_values_are_one_line_errors() {
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--user", "no-such-user-q"], 78, "no user named"),
        (&["--user", ""], 78, "empty user"),
        (&["--user", "1001:no-such-group-q"], 78, "no group named"),
        (&["--user", "99999999999"], 78, "out of range"),
        (&["--groups", "video,no-such-group-q"], 78, "no group named"),
        (&["--groups", "1,,2"], 78, "empty group"),
        (&["--keep-cap", "NET_FLY"], 78, "unknown capability"),
        (&["--keep-cap", ""], 78, "empty capability"),
        (&["--seccomp", "nosuchprofile"], 78, "unknown profile"),
        (
            &["--seccomp", "/nonexistent/profile.json"],
            78,
            "cannot read profile",
        ),
        (&["--allow-root=perhaps"], 64, "perhaps"),
    ];
    for (args, code, want) in cases {
        let mut a = args.to_vec();
        a.extend(["--", "true"]);
        let o = output(cmd(&a));
        assert_code(&o, *code);
        let msg = if *code == 64 {
            stderr(&o)
        } else {
            fatal_msg(&o)
        };
        assert!(msg.contains(want), "{args:?}: {msg}");
        assert!(!stdout(&o).contains("true"), "workload must not start");
    }
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let o = output(cmd(&[
        "--dry-run",
        "--keep-cap",
        "NET_BIND_SERVICE",
        "--",
        "python",
        "train.py",
    ]));
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["user"]["uid"], 1001);
    assert_eq!(v["capabilities"]["ambient"][0], "CAP_NET_BIND_SERVICE");
    assert_eq!(v["seccomp"]["profile"], "pytorch");
    assert_eq!(v["no_new_privs"], true);
    assert_eq!(v["command"][1], "train.py");
    assert!(v["environment"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "HOME"));
}

#[test]
fn a_foreign_fallback_home_is_never_used() {
    // Another user planted the fallback path: secure-init must not hand it to the workload.
    let p = probe();
    let uid = "4777";
    let planted = std::env::temp_dir().join(format!("secure-init-home-{uid}"));
    let _ = std::fs::remove_dir_all(&planted);
    std::fs::create_dir(&planted).unwrap();
    std::os::unix::fs::chown(&planted, Some(4778), Some(4778)).unwrap();
    let o = output(cmd(&["--user", uid, "--", p.to_str().unwrap(), "posture"]));
    let _ = std::fs::remove_dir_all(&planted);
    let m = posture(&o);
    assert_ne!(m["HOME"], planted.to_str().unwrap());
    assert_eq!(m["HOME"], "/");
    let w = events(&o, "identity.home");
    assert!(
        w.iter().any(|e| e["msg"]
            .as_str()
            .unwrap()
            .contains("not a private directory")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn verification_catches_steps_that_silently_did_nothing() {
    for (syscall, extra, want) in [
        // uid 0 keeps its capabilities through the id switch: only capset removes them
        (
            "capset",
            vec!["--user", "0", "--allow-root"],
            "verify capability sets",
        ),
        // with --keep-cap, PR_SET_KEEPCAPS keeps the full permitted set until capset
        // (here raising the ambient set already fails: the inheritable set was never set)
        (
            "capset",
            vec!["--keep-cap", "NET_BIND_SERVICE"],
            "capabilit",
        ),
        ("setresuid", vec![], "verify uid/gid"),
        ("setresgid", vec![], "verify uid/gid"),
        (
            "setgroups",
            vec!["--groups", "44"],
            "verify supplementary groups",
        ),
        ("prctl", vec![], "verify"),
    ] {
        let mut a = extra.clone();
        a.extend(["--", "echo", "STARTED"]);
        let o = under_parent_filter(syscall, 0, &a);
        assert_code(&o, 77);
        let m = fatal_msg(&o);
        assert!(
            m.contains(want) && m.contains("not started"),
            "{syscall}: {m}"
        );
        assert!(
            !stdout(&o).contains("STARTED"),
            "{syscall}: the workload ran half-hardened"
        );
    }
    // sanity: the same wrapper with a harmless syscall faked lets the workload start
    let o = under_parent_filter("acct", 0, &["--", "echo", "STARTED"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("STARTED"));
}

#[test]
fn exec_mode_hardens_the_same_way() {
    let p = probe();
    let o = output(cmd(&["--exec", "--", p.to_str().unwrap(), "posture"]));
    let m = posture(&o);
    assert_locked_down(&m, 1001);
    assert!(
        events(&o, "child.start").is_empty(),
        "no supervisor in --exec mode"
    );
}

#[test]
fn root_without_setuid_capabilities_is_refused_with_the_fix() {
    // root whose container dropped SETUID/SETGID: the switch fails, nothing runs
    require_root();
    let mut c = std::process::Command::new("setpriv");
    c.args(["--bounding-set=-setuid,-setgid", "--inh-caps=-all"])
        .arg(bin())
        .args(["--", "echo", "STARTED"])
        .env("SECURE_INIT_LOG_FORMAT", "json");
    let o = output(c);
    assert_code(&o, 77);
    let m = fatal_msg(&o);
    assert!(m.contains("CAP_SETUID") && m.contains("--cap-add"), "{m}");
    assert!(!stdout(&o).contains("STARTED"));
    // without SETPCAP the bounding set is left, loudly, and the workload still runs hardened
    let p = probe();
    let mut c = std::process::Command::new("setpriv");
    c.args(["--bounding-set=-setpcap", "--inh-caps=-all"])
        .arg(bin())
        .args(["--", p.to_str().unwrap(), "posture"])
        .env("SECURE_INIT_LOG_FORMAT", "json");
    let o = output(c);
    assert_code(&o, 0);
    let m = kv(&o);
    assert_eq!(m["CapEff"], "0000000000000000");
    assert_eq!(m["CapPrm"], "0000000000000000");
    assert_eq!(m["NoNewPrivs"], "1");
    assert_eq!(m["setuid0"], "EPERM");
    assert!(events(&o, "priv.bounding")
        .iter()
        .any(|e| e["level"] == "warn"));
}

#[test]
fn without_cap_kill_the_supervisor_takes_the_workloads_uid_and_still_forwards_signals() {
    // Docker's `--cap-drop ALL --cap-add SETUID --cap-add SETGID --cap-add SETPCAP`: no
    // CAP_KILL, so a supervisor under a uid of its own could not signal the workload
    require_root();
    let mut c = std::process::Command::new("setpriv");
    c.args(["--bounding-set", "-all,+setuid,+setgid,+setpcap"])
        .arg(bin())
        .args([
            "--",
            "/usr/bin/python3",
            "-c",
            "import os, signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: (print('TERM', flush=True), os._exit(7)))\nprint(os.getuid(), flush=True)\ntime.sleep(30)",
        ])
        .env("SECURE_INIT_LOG_FORMAT", "json")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    let _g = KillOnDrop(vec![pid]);
    assert!(wait_for(10, || first_child(pid).is_some()));
    std::thread::sleep(std::time::Duration::from_millis(500));
    kill(pid, libc::SIGTERM);
    let st = wait_timeout(&mut child, 10);
    let o = child.wait_with_output().unwrap();
    let out = stdout(&o);
    assert_eq!(st.code(), Some(7), "{out}\n{}", stderr(&o));
    assert!(out.starts_with("1001\nTERM"), "{out}");
    let w = events(&o, "supervisor.posture");
    assert!(
        w.iter()
            .any(|e| e["level"] == "warn" && e["msg"].as_str().unwrap().contains("KILL")),
        "{}",
        stderr(&o)
    );
    // naming a supervisor uid there is a configuration error
    let mut c = std::process::Command::new("setpriv");
    c.args(["--bounding-set", "-all,+setuid,+setgid,+setpcap"])
        .arg(bin())
        .args(["--supervisor-uid", "65000", "--", "true"])
        .env("SECURE_INIT_LOG_FORMAT", "json");
    let o = output(c);
    assert_code(&o, 78);
}

#[test]
fn a_non_root_start_warns_about_the_bounding_set_only_when_it_holds_something() {
    // Kubernetes' "restricted" (runAsUser, drop ALL): the bounding set is empty already, so
    // the advice to add SETPCAP (which "restricted" forbids) would be wrong; with a full
    // bounding set it stands
    require_root();
    let p = probe();
    let run = |bounding: &str| {
        output(as_uid_1001(
            &[&format!("--bounding-set={bounding}")],
            &["--", p.to_str().unwrap(), "posture"],
        ))
    };
    let empty = run("-all");
    assert_code(&empty, 0);
    assert_eq!(kv(&empty)["CapBnd"], "0000000000000000");
    assert!(
        events(&empty, "priv.bounding").is_empty(),
        "{}",
        stderr(&empty)
    );
    let full = run("+all");
    assert_code(&full, 0);
    assert!(
        events(&full, "priv.bounding")
            .iter()
            .any(|e| e["level"] == "warn"),
        "{}",
        stderr(&full)
    );
}
