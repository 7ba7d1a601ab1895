//! Attacks from inside the workload around the posture (each test is the attack): terminal
//! injection, leftover processes, planted libraries through loader paths, a supervisor the
//! workload can limit or kill, and the fallback HOME race.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// Run `sh -c SCRIPT` as the session leader of a fresh pseudo-terminal (Python's pty), feed
/// `then` to the terminal after a second, and return what the terminal showed.
fn on_a_pty(script: &str, then: &str) -> String {
    require_root();
    let py = r#"
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv("/bin/sh", ["sh", "-c", sys.argv[1]])
out = b""
t = time.time()
sent = False
while True:
    if not sent and time.time() - t > 1.5:
        os.write(fd, sys.argv[2].encode())
        sent = True
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
    if time.time() - t > 20:
        break
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
"#;
    let o = Command::new("/usr/bin/python3")
        .args(["-c", py, script, then])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The workload pushes `touch MARK` into the terminal it was started on; the shell that
/// started secure-init then reads its next line. The mark must never appear.
fn tiocsti_attack(flags: &[&str]) -> (String, bool) {
    let t = TempDir::new("tty");
    let mark = t.path().join("MARK");
    let script = format!(
        "{} --log-level error {} -- {} tiocsti 'touch {}\n'; read line; eval \"$line\"; echo done",
        bin().display(),
        flags.join(" "),
        probe().display(),
        mark.display()
    );
    let out = on_a_pty(&script, "true\n");
    (out, mark.exists())
}

#[test]
fn tiocsti_from_the_workload_never_reaches_the_callers_shell() {
    // default: a session of its own (no controlling terminal) and the profile's guard
    let (out, injected) = tiocsti_attack(&[]);
    assert!(!injected, "injected: {out}");
    assert!(out.contains("tiocsti=EPERM"), "{out}");
    assert!(out.contains("tiocsti_high=EPERM"), "{out}");
    assert!(
        out.contains("tioclinux=EPERM") || out.contains("tioclinux=ENOTTY"),
        "{out}"
    );
    assert!(out.contains("done"), "{out}");
}

#[test]
fn tiocsti_is_refused_by_the_new_session_alone() {
    // without seccomp: the new session (no controlling terminal) is what stops it
    let (out, injected) = tiocsti_attack(&["--seccomp", "unconfined"]);
    assert!(!injected, "injected: {out}");
    assert!(out.contains("tiocsti=EPERM"), "{out}");
}

#[test]
fn tiocsti_is_refused_by_the_profile_alone() {
    // --exec keeps the caller's session (the terminal is the controlling one): the
    // built-in profiles' guard stops it, on 32 bits as the kernel reads the request
    for profile in ["pytorch", "docker-default"] {
        let (out, injected) = tiocsti_attack(&["--exec", "--seccomp", profile]);
        assert!(!injected, "{profile}: injected: {out}");
        assert!(out.contains("tiocsti=EPERM"), "{profile}: {out}");
        assert!(out.contains("tiocsti_high=EPERM"), "{profile}: {out}");
    }
    // and the attack itself works when nothing stops it (the test can fail)
    let (out, injected) = tiocsti_attack(&["--exec", "--seccomp", "unconfined"]);
    assert!(injected, "the unprotected attack should succeed: {out}");
}

fn daemon_pid(file: &Path) -> u32 {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn leftover_daemons_do_not_outlive_a_subreaper() {
    let t = TempDir::new("daemon");
    for (name, stubborn) in [("d.term", false), ("d.stubborn", true)] {
        let file = t.path().join(name);
        let o = output(cmd(&[
            "--",
            probe().to_str().unwrap(),
            "daemon",
            file.to_str().unwrap(),
        ]));
        assert_code(&o, 0);
        let pid = daemon_pid(&file);
        assert!(!alive(pid), "{name}: daemon {pid} outlived secure-init");
        let ev = events(&o, "child.leftovers");
        assert!(!ev.is_empty(), "{name}: {}", stderr(&o));
        if stubborn {
            assert!(
                stderr(&o).contains("SIGKILL"),
                "a daemon ignoring SIGTERM is killed: {}",
                stderr(&o)
            );
        }
    }
}

#[test]
fn the_workload_cannot_limit_renice_or_kill_its_supervisor() {
    for pid1 in [true, false] {
        let p = probe();
        let args = ["--", p.to_str().unwrap(), "attack-parent"];
        let o = output(if pid1 { cmd_pid1(&args) } else { cmd(&args) });
        // the workload's own status, not 137 from a killed supervisor
        assert_code(&o, 5);
        let m = kv(&o);
        for call in [
            "prlimit_cpu",
            "setpriority",
            "sched_setaffinity",
            "kill_stop",
            "kill",
        ] {
            assert_eq!(m[call], "EPERM", "pid1={pid1} {call}: {}", stdout(&o));
        }
        let ev = events(&o, "supervisor.posture");
        assert!(ev[0]["uid"] == 65533, "{}", stderr(&o));
    }
}

#[test]
fn supervisor_posture_is_cap_kill_only_under_its_own_uid() {
    let t = TempDir::new("sup");
    let ready = t.path().join("r");
    let mut c = cmd(&[
        "--",
        probe().to_str().unwrap(),
        "record",
        ready.to_str().unwrap(),
    ]);
    let mut child = c.stdin(std::process::Stdio::null()).spawn().unwrap();
    let me = child.id();
    let _guard = KillOnDrop(vec![me]);
    assert!(wait_for(10, || t.path().join("r.ready").exists()));
    // the supervisor has dropped once the command started; give it a moment
    assert!(wait_for(5, || {
        std::fs::read_to_string(format!("/proc/{me}/status"))
            .is_ok_and(|s| s.contains("Uid:\t65533\t65533\t65533\t65533"))
    }));
    let st = std::fs::read_to_string(format!("/proc/{me}/status")).unwrap();
    let field = |k: &str| {
        st.lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(field("CapEff:"), "0000000000000020", "CAP_KILL only: {st}");
    assert_eq!(field("CapPrm:"), "0000000000000020", "{st}");
    assert_eq!(field("CapInh:"), "0000000000000000", "{st}");
    assert_eq!(field("CapAmb:"), "0000000000000000", "{st}");
    assert_eq!(field("NoNewPrivs:"), "1", "{st}");
    let groups = st.lines().find(|l| l.starts_with("Groups:")).unwrap();
    assert_eq!(groups.split_whitespace().count(), 1, "no groups: {st}");
    kill(me, 15);
    let _ = wait_timeout(&mut child, 10);
}

/// A `libgcc_s.so.1` whose constructor records the uid it ran as, with the symbol versions
/// secure-init needs (as an attacker would build it).
fn planted_libgcc(dir: &Path, mark: &Path) {
    let nm = Command::new("nm")
        .args(["-D", "--undefined-only"])
        .arg(bin())
        .output()
        .unwrap();
    let mut by: Vec<(String, Vec<String>)> = vec![];
    for l in String::from_utf8_lossy(&nm.stdout).lines() {
        let Some(sym) = l.split_whitespace().last() else {
            continue;
        };
        let Some((name, ver)) = sym.split_once("@GCC_") else {
            continue;
        };
        let ver = format!("GCC_{}", ver.trim_start_matches('@'));
        match by.iter_mut().find(|(v, _)| *v == ver) {
            Some((_, v)) => v.push(name.to_string()),
            None => by.push((ver, vec![name.to_string()])),
        }
    }
    by.sort_by_key(|(v, _)| {
        v.trim_start_matches("GCC_")
            .split('.')
            .map(|x| x.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    let mut c = format!(
        "#include <fcntl.h>\n#include <unistd.h>\n#include <stdio.h>\n__attribute__((constructor)) static void pwn(void) {{ char b[32]; int n = snprintf(b, sizeof b, \"%u\", getuid()); int fd = open(\"{}\", O_CREAT|O_WRONLY, 0644); if (fd >= 0) {{ write(fd, b, n); close(fd); }} }}\n",
        mark.display()
    );
    let mut map = String::new();
    let mut prev: Option<String> = None;
    for (v, names) in &by {
        for n in names {
            c.push_str(&format!("void {n}(void) {{}}\n"));
        }
        map.push_str(&format!("{v} {{ global: {}; }}", names.join("; ")));
        map.push_str(
            &prev
                .map(|p| format!(" {p};\n"))
                .unwrap_or_else(|| ";\n".into()),
        );
        prev = Some(v.clone());
    }
    std::fs::write(dir.join("evil.c"), c).unwrap();
    std::fs::write(dir.join("evil.map"), map).unwrap();
    // (secure-init links its unwinder statically: it needs no GCC_ symbol, and the planted
    // library then has no version script)
    let mut args = vec!["-shared", "-fPIC"];
    if !by.is_empty() {
        args.push("-Wl,--version-script=evil.map");
    }
    let st = Command::new("cc")
        .current_dir(dir)
        .args(args)
        .args(["-Wl,-soname,libgcc_s.so.1", "-o", "libgcc_s.so.1", "evil.c"])
        .status()
        .unwrap();
    assert!(st.success());
    // A broken C library: were it found before the system's, no start could get past the
    // dynamic loader.
    std::fs::write(dir.join("broken.c"), "int not_libc;\n").unwrap();
    let st = Command::new("cc")
        .current_dir(dir)
        .args([
            "-shared",
            "-fPIC",
            "-Wl,-soname,libc.so.6",
            "-o",
            "libc.so.6",
        ])
        .arg("broken.c")
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn the_binary_loads_only_the_c_library() {
    // the unwinder is linked in (build.rs): one library fewer to find and map at each start,
    // and no libgcc_s constructor (CPUID) running as root
    let o = Command::new("readelf")
        .arg("-d")
        .arg(bin())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let needed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    assert!(needed.contains(&"libc.so.6"), "{text}");
    assert!(
        needed
            .iter()
            .all(|n| *n == "libc.so.6" || n.starts_with("ld-linux")),
        "{text}"
    );
}

#[test]
fn a_library_planted_in_the_working_directory_never_runs_as_root() {
    let t = TempDir::new("ldpath");
    let mark = t.path().join("MARK");
    planted_libgcc(t.path(), &mark);
    // the library is a working one: loaded by a program without secure-init's search path
    let o = Command::new("/usr/bin/python3")
        .args(["-c", "import ctypes; ctypes.CDLL('./libgcc_s.so.1')"])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(mark.exists(), "the planted constructor runs when loaded");
    std::fs::remove_file(&mark).unwrap();
    // `ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib64:$LD_LIBRARY_PATH` on an unset variable
    for args in [vec!["--", "true"], vec!["healthcheck", "--timeout", "1"]] {
        let mut c = cmd(&args);
        c.current_dir(t.path())
            .env("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64:");
        let o = output(c);
        assert!(!mark.exists(), "{args:?}: the planted library ran as root");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !err.contains("shared librar") && !err.contains("not_libc"),
            "{args:?}: the planted C library was loaded: {err}"
        );
        if args[0] == "--" {
            assert_code(&o, 78);
            let m = fatal_msg(&o);
            assert!(
                m.contains("LD_LIBRARY_PATH") && m.contains("empty entry"),
                "{m}"
            );
        }
    }
}

#[test]
fn workload_writable_search_paths_are_refused() {
    let t = TempDir::new("wpath");
    let owned = t.path().join("bin");
    std::fs::create_dir(&owned).unwrap();
    std::os::unix::fs::chown(&owned, Some(1001), Some(1001)).unwrap();
    for (var, val) in [
        ("PATH", format!("/usr/bin:{}", owned.display())),
        ("PYTHONPATH", "lib".to_string()),
        ("LD_PRELOAD", format!("{}/x.so", owned.display())),
        ("LD_LIBRARY_PATH", format!("{}/missing", t.path().display())),
    ] {
        let mut c = cmd(&["--", "/bin/true"]);
        c.env(var, &val);
        let o = output(c);
        assert_code(&o, 78);
        let m = fatal_msg(&o);
        assert!(m.contains(var), "{var}: {m}");
        assert!(!stderr(&o).contains("child.start"), "never started");
    }
}

#[test]
fn the_fallback_home_cannot_be_swapped_for_a_symlink() {
    // A same-uid process races secure-init in a shared /tmp: whatever it plants at the
    // fallback path, root never follows it (a symlink to a root-owned file stays unchanged).
    let uid = "4791";
    let path = std::env::temp_dir().join(format!("secure-init-home-{uid}"));
    let victim = TempDir::new("victim");
    let target = victim.path().join("root-file");
    std::fs::write(&target, "x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let _ = std::fs::remove_dir_all(&path);
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let o = output(cmd(&[
        "--user",
        uid,
        "--",
        probe().to_str().unwrap(),
        "posture",
    ]));
    let _ = std::fs::remove_file(&path);
    assert_code(&o, 0);
    let md = std::fs::metadata(&target).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (md.uid(), md.mode() & 0o7777),
        (0, 0o600),
        "root-owned file untouched"
    );
    assert_ne!(kv(&o)["HOME"], path.to_str().unwrap());
    // a directory left by an earlier start (not empty) is re-used only emptied: its contents
    // are not handed on, and no second directory is made
    let _ = std::fs::remove_dir_all(&path);
    let o = output(cmd(&[
        "--user",
        uid,
        "--",
        "sh",
        "-c",
        "touch $HOME/old; echo $HOME",
    ]));
    assert_code(&o, 0);
    let first = stdout(&o).trim().to_string();
    assert_eq!(first, path.to_str().unwrap());
    let o = output(cmd(&[
        "--user",
        uid,
        "--",
        "sh",
        "-c",
        "ls -A $HOME; echo $HOME",
    ]));
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(
        !out.contains("old"),
        "contents of an earlier start are not handed on: {out}"
    );
    let second = out.trim().lines().last().unwrap().to_string();
    assert_eq!(second, first);
    let md = std::fs::symlink_metadata(&second).unwrap();
    assert_eq!((md.uid(), md.mode() & 0o7777), (4791, 0o700));
    let others: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("secure-init-home-{uid}."))
        })
        .collect();
    assert!(others.is_empty(), "{others:?}");
    let _ = std::fs::remove_dir_all(&path);
}
