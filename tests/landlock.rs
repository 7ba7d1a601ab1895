//! Landlock, from inside the hardened workload: writes where DAC allows but the workload has
//! no business writing, the scanned model directory, ports, signal and socket scopes, and
//! what happens on a kernel without Landlock.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A world-writable directory outside every writable tree (not under /tmp).
struct Outside(PathBuf);

impl Outside {
    fn new(tag: &str) -> Outside {
        let p = PathBuf::from(format!("/srv/secure-init-ll-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        Outside(p)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run a shell script as the workload; one `name=ok|EACCES|…` line per attempt.
fn sh(flags: &[&str], script: &str, cwd: &Path) -> std::collections::HashMap<String, String> {
    let mut a: Vec<&str> = flags.to_vec();
    a.extend(["--", "sh", "-c", script]);
    let mut c = cmd(&a);
    c.current_dir(cwd);
    let o = output(c);
    assert_code(&o, 0);
    kv(&o)
}

const TRY: &str =
    r#"t() { if ( : > "$2" ) 2>/dev/null; then echo "$1=ok"; else echo "$1=denied"; fi; }"#;

#[test]
fn writes_only_where_work_happens() {
    let out = Outside::new("w");
    let vol = Outside::new("vol");
    let cwd = Outside::new("cwd");
    let script = format!(
        "{TRY}; t outside {o}/x; t home \"$HOME/x\"; t tmp /tmp/ll-$$; t vartmp /var/tmp/ll-$$; t shm /dev/shm/ll-$$; t cwd ./x; t vol {v}/x; t devnull /dev/null; t etc /etc/ll-$$; rm -f /tmp/ll-$$ /var/tmp/ll-$$ /dev/shm/ll-$$",
        o = out.0.display(),
        v = vol.0.display()
    );
    let m = sh(&["--writable", vol.0.to_str().unwrap()], &script, &cwd.0);
    assert_eq!(
        m["outside"], "denied",
        "a world-writable directory outside: {m:?}"
    );
    for ok in ["home", "tmp", "vartmp", "shm", "cwd", "vol", "devnull"] {
        assert_eq!(m[ok], "ok", "{ok}: {m:?}");
    }
    assert_eq!(m["etc"], "denied");
    // the same script without Landlock writes outside (the test can fail)
    let m = sh(&["--landlock", "off"], &script, &cwd.0);
    assert_eq!(m["outside"], "ok");
}

#[test]
fn a_scanned_model_directory_stays_read_only_inside_a_writable_tree() {
    let t = TempDir::new("models"); // under /tmp: a writable tree
    let models = t.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let ckpt = models.join("model.pkl");
    // a clean pickle: {'w': [1, 2]}
    std::fs::write(
        &ckpt,
        b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01w\x94]\x94(K\x01K\x02es.",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&models, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&ckpt, std::fs::Permissions::from_mode(0o666)).unwrap();
    let sibling = t.path().join("logs");
    std::fs::create_dir(&sibling).unwrap();
    std::fs::set_permissions(&sibling, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = format!(
        "{TRY}; t overwrite {c}; t create {m}/new.pkl; if mv {c} {m}/moved 2>/dev/null; then echo rename=ok; else echo rename=denied; fi; if mv {m} {s}/gone 2>/dev/null; then echo rename_dir=ok; else echo rename_dir=denied; fi; if rm -f {c} 2>/dev/null && [ ! -e {c} ]; then echo unlink=ok; else echo unlink=denied; fi; t sibling {l}/x; t elsewhere /var/tmp/ll-$$; rm -f /var/tmp/ll-$$",
        c = ckpt.display(),
        m = models.display(),
        s = t.path().display(),
        l = sibling.display()
    );
    let m = sh(
        &["--scan-models", models.to_str().unwrap()],
        &script,
        Path::new("/"),
    );
    for denied in ["overwrite", "create", "rename", "rename_dir", "unlink"] {
        assert_eq!(m[denied], "denied", "{denied}: {m:?}");
    }
    assert_eq!(
        m["sibling"], "ok",
        "the rest of the tree stays writable: {m:?}"
    );
    assert_eq!(m["elsewhere"], "ok", "{m:?}");
    assert!(ckpt.exists());
    // and the same attack succeeds without Landlock (the test can fail)
    let m = sh(
        &[
            "--landlock",
            "off",
            "--scan-models",
            models.to_str().unwrap(),
        ],
        &format!("{TRY}; t overwrite {}", ckpt.display()),
        Path::new("/"),
    );
    assert_eq!(m["overwrite"], "ok");
}

fn python(flags: &[&str], code: &str) -> std::collections::HashMap<String, String> {
    let mut a: Vec<&str> = flags.to_vec();
    a.extend(["--", "/usr/bin/python3", "-c", code]);
    let o = output(cmd(&a));
    assert_code(&o, 0);
    kv(&o)
}

const NET: &str = r#"
import socket, sys
def attempt(name, f):
    s = socket.socket()
    try:
        f(s); print(f"{name}=ok")
    except PermissionError:
        print(f"{name}=denied")
    except OSError as e:
        print(f"{name}=other:{e.errno}")
    finally:
        s.close()
port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
"#;

#[test]
fn ports_are_what_the_flags_say() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let code = format!(
        "{NET}\nattempt('bind_any', lambda s: s.bind(('127.0.0.1', 47123)))\nattempt('bind_allowed', lambda s: s.bind(('127.0.0.1', 47124)))\nattempt('bind_ephemeral', lambda s: s.bind(('127.0.0.1', 0)))\nattempt('connect', lambda s: s.connect(('127.0.0.1', {port})))\n"
    );
    let m = python(&["--net-bind", "47124"], &code);
    assert_eq!(m["bind_any"], "denied", "{m:?}");
    assert_eq!(m["bind_allowed"], "ok", "{m:?}");
    assert_eq!(
        m["bind_ephemeral"], "ok",
        "a port the kernel chooses: {m:?}"
    );
    assert_eq!(m["connect"], "ok", "connect is open by default: {m:?}");
    let m = python(&["--net-connect", "443,29500"], &code);
    assert_eq!(m["connect"], "denied", "{m:?}");
    let allowed = format!("443,{port}");
    let m = python(&["--net-connect", &allowed], &code);
    assert_eq!(m["connect"], "ok", "{m:?}");
    drop(server);
}

#[test]
fn the_workload_cannot_signal_or_reach_outside_its_domain() {
    // Started non-root, the supervisor shares the workload's uid: only the signal scope
    // stands between the workload and it.
    require_root();
    let code = r#"
import os, socket
try:
    os.kill(os.getppid(), 0); print("signal_parent=ok")
except PermissionError:
    print("signal_parent=denied")
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0secure-init-ll-test"); print("abstract=ok")
except PermissionError:
    print("abstract=denied")
except OSError as e:
    print(f"abstract=other:{e.errno}")
"#;
    let listener = std::os::unix::net::UnixListener::bind_addr(
        &<std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(
            b"secure-init-ll-test",
        )
        .unwrap(),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=1001",
            "--regid=1001",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(bin())
        .args(extra)
        .args(["--", "/usr/bin/python3", "-c", code])
        .env("SECURE_INIT_LOG_FORMAT", "json")
        .env("HOME", "/tmp")
        .current_dir("/tmp");
        let o = output(c);
        assert_code(&o, 0);
        kv(&o)
    };
    let m = run(&[]);
    assert_eq!(m["signal_parent"], "denied", "{m:?}");
    assert_eq!(m["abstract"], "denied", "{m:?}");
    let m = run(&["--landlock", "off"]);
    assert_eq!(
        m["signal_parent"], "ok",
        "without the scope the same uid may: {m:?}"
    );
    assert_eq!(m["abstract"], "ok", "{m:?}");
    drop(listener);
}

#[test]
fn multiprocessing_keeps_working() {
    let code = r#"
import multiprocessing as mp, tempfile, os
def sq(x): return x * x
if __name__ == "__main__":
    with mp.get_context("fork").Pool(2) as p:
        assert p.map(sq, range(50)) == [x * x for x in range(50)]
    with mp.get_context("spawn").Pool(2) as p:
        assert sum(p.map(sq, range(10))) == 285
    q = mp.shared_memory.SharedMemory(create=True, size=1 << 20) if hasattr(mp, "shared_memory") else None
    import multiprocessing.shared_memory as shm
    m = shm.SharedMemory(create=True, size=1 << 20); m.buf[0] = 7; m.close(); m.unlink()
    d = tempfile.mkdtemp(); open(os.path.join(d, "ckpt"), "wb").write(b"x")
    os.makedirs(os.path.expanduser("~/.cache/torch/inductor"), exist_ok=True)
    print("mp=ok")
"#;
    let dir = TempDir::new("mp");
    let f = dir.path().join("mp.py");
    std::fs::write(&f, code).unwrap();
    let o = output(cmd(&["--", "/usr/bin/python3", f.to_str().unwrap()]));
    assert_code(&o, 0);
    assert_eq!(kv(&o)["mp"], "ok");
}

#[test]
fn a_kernel_without_landlock_is_best_effort_or_refused() {
    // a parent filter answers ENOSYS to landlock_create_ruleset, as an old kernel would
    let o = under_parent_filter(
        "landlock_create_ruleset",
        libc::ENOSYS,
        &["--", "echo", "STARTED"],
    );
    assert_code(&o, 0);
    assert!(stdout(&o).contains("STARTED"));
    let w = events(&o, "landlock.install");
    assert!(
        w.iter()
            .any(|e| e["level"] == "warn" && e["msg"].as_str().unwrap().contains("not enforced")),
        "{}",
        stderr(&o)
    );
    let o = under_parent_filter(
        "landlock_create_ruleset",
        libc::ENOSYS,
        &["--landlock", "require", "--", "echo", "STARTED"],
    );
    assert_code(&o, 77);
    assert!(!stdout(&o).contains("STARTED"));
    assert!(fatal_msg(&o).contains("Landlock"), "{}", fatal_msg(&o));
}

#[test]
fn dry_run_shows_the_rules_and_bad_flags_are_refused() {
    let o = output(cmd(&["--dry-run", "--net-bind", "6006", "--", "true"]));
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ll = &v["landlock"];
    assert_eq!(ll["mode"], "besteffort");
    assert_eq!(ll["tcp_bind"][0], 6006);
    assert_eq!(ll["tcp_connect"], "any");
    assert!(ll["writable"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["path"] == "/tmp"));
    for (args, want) in [
        (vec!["--net-bind", "http"], "--net-bind"),
        (vec!["--net-connect", "0"], "--net-connect"),
        (vec!["--writable", "/no/such/dir"], "--writable"),
        (vec!["--writable", "/"], "whole file system"),
    ] {
        let mut a = args.clone();
        a.extend(["--", "true"]);
        let o = output(cmd(&a));
        assert_code(&o, 78);
        assert!(fatal_msg(&o).contains(want), "{args:?}: {}", fatal_msg(&o));
    }
}

#[test]
fn a_writable_path_through_a_symlink_the_workload_planted_is_refused() {
    // ~/data replaced by a link to an image directory the workload owns (a conda prefix):
    // the next start would grant writes there
    let home = Outside::new("plant-home");
    std::os::unix::fs::chown(&home.0, Some(1001), Some(1001)).unwrap();
    let image = Outside::new("plant-image");
    std::os::unix::fs::chown(&image.0, Some(1001), Some(1001)).unwrap();
    let link = home.0.join("data");
    std::os::unix::fs::symlink(&image.0, &link).unwrap();
    let o = output(cmd(&[
        "--writable",
        link.to_str().unwrap(),
        "--",
        "echo",
        "STARTED",
    ]));
    assert_code(&o, 78);
    let m = fatal_msg(&o);
    assert!(
        m.starts_with("--writable") && m.contains("is a symlink in"),
        "{m}"
    );
    assert!(!stdout(&o).contains("STARTED"));
    // the control: the real directory is accepted, and writable
    let real = home.0.join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::chown(&real, Some(1001), Some(1001)).unwrap();
    let m = sh(
        &["--writable", real.to_str().unwrap()],
        &format!("{TRY}; t real {}/x", real.display()),
        Path::new("/"),
    );
    assert_eq!(m["real"], "ok");
}

#[test]
fn nothing_can_be_planted_inside_a_scanned_directory() {
    // Landlock rights accumulate down the tree: a create right on a directory on the way to
    // the scanned one would let the workload plant a link to an unscanned pickle, or a
    // subdirectory, beside model.pkl — and make every later start refuse with 65
    let t = TempDir::new("plant-scan"); // under /tmp: a writable tree
    let models = t.path().join("models");
    std::fs::create_dir(&models).unwrap();
    std::fs::write(
        models.join("model.pkl"),
        b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01w\x94]\x94(K\x01K\x02es.",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&models, std::fs::Permissions::from_mode(0o777)).unwrap();
    let logs = t.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = format!(
        "{TRY}; if ln -s /tmp/evil.pkl {m}/evil.pkl 2>/dev/null; then echo link=ok; else echo link=denied; fi; if mkdir {m}/sub 2>/dev/null; then echo mkdir=ok; else echo mkdir=denied; fi; t new {m}/new.pkl; t logs {l}/x",
        m = models.display(),
        l = logs.display()
    );
    let m = sh(
        &["--scan-models", models.to_str().unwrap()],
        &script,
        Path::new("/"),
    );
    for denied in ["link", "mkdir", "new"] {
        assert_eq!(m[denied], "denied", "{denied}: {m:?}");
    }
    assert_eq!(
        m["logs"], "ok",
        "the rest of the tree stays writable: {m:?}"
    );
    // so the next start scans what it scanned before
    let o = output(cmd(&[
        "--scan-models",
        models.to_str().unwrap(),
        "--",
        "true",
    ]));
    assert_code(&o, 0);
    // the control: without Landlock the plant works
    let m = sh(
        &[
            "--landlock",
            "off",
            "--scan-models",
            models.to_str().unwrap(),
        ],
        &script,
        Path::new("/"),
    );
    assert_eq!(m["link"], "ok", "{m:?}");
}
