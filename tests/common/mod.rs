//! Helpers for black-box tests of the built binary. The tests need root (CI runs as root):
//! they fail, never skip, without it.
#![allow(dead_code)]

pub mod jupyter;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_secure-init"))
}

/// The probe example (cargo test builds examples next to the binary), copied to a
/// world-readable directory: the checkout may sit under a directory (such as /root) that the
/// workload user cannot traverse.
pub fn probe() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let built = bin().parent().unwrap().join("examples/probe");
        assert!(
            built.exists(),
            "probe not built at {}: run `cargo build --examples`",
            built.display()
        );
        let dir = std::env::temp_dir().join(format!("secure-init-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = dir.join("probe");
        std::fs::copy(&built, &p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    })
    .clone()
}

pub fn require_root() {
    assert_eq!(
        euid_from_proc(),
        0,
        "these tests must run as root (CI runs them as root; they are never skipped)"
    );
}

fn euid_from_proc() -> u32 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("Uid:")).unwrap();
    l.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// `secure-init ARGS` (not PID 1), JSON logs.
pub fn cmd(args: &[&str]) -> Command {
    require_root();
    let mut c = Command::new(bin());
    c.args(args).env("SECURE_INIT_LOG_FORMAT", "json");
    c
}

/// `secure-init ARGS` as PID 1 of a new PID namespace.
pub fn cmd_pid1(args: &[&str]) -> Command {
    require_root();
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(bin())
        .args(args)
        .env("SECURE_INIT_LOG_FORMAT", "json");
    c
}

/// Run a command inside a private mount namespace in which /etc/passwd and /etc/group are
/// replaced by the given contents (for users and groups by name).
pub fn cmd_with_etc(passwd: &str, group: &str, args: &[&str]) -> (Command, TempDir) {
    require_root();
    let dir = TempDir::new("etc");
    std::fs::write(dir.path().join("passwd"), passwd).unwrap();
    std::fs::write(dir.path().join("group"), group).unwrap();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group && shift && exec "$@""#)
        .arg("sh")
        .arg(dir.path())
        .arg(bin())
        .args(args)
        .env("SECURE_INIT_LOG_FORMAT", "json");
    (c, dir)
}

pub fn output(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().expect("spawn")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parse the probe's `name=value` lines.
pub fn kv(o: &Output) -> HashMap<String, String> {
    stdout(o)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Assert the process exited with `code`, showing its output otherwise.
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// secure-init's fatal error line (the JSON `fatal` event), asserting there is exactly one
/// and no panic.
pub fn fatal_msg(o: &Output) -> String {
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let fatal: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "fatal")
        .collect();
    assert_eq!(fatal.len(), 1, "one fatal event expected:\n{err}");
    let m = fatal[0]["msg"].as_str().unwrap().to_string();
    assert!(!m.contains('\n'));
    m
}

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "secure-init-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        // readable by the workload user
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl TempDir {
    /// A directory only root may write (0755), for files an option names: secure-init
    /// refuses (78) a profile, secret, manifest or library the workload could replace.
    pub fn root_only(tag: &str) -> TempDir {
        let t = TempDir::new(tag);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&t.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        t
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Start `c` in the background: stdin and stdout to /dev/null, stderr piped (its log).
pub fn spawn_logged(c: &mut Command) -> Child {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until `f` is true or `secs` pass.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The pid (as seen from here) of the first child of `pid`.
pub fn first_child(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

pub fn kill(pid: u32, sig: i32) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid}");
}

pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z"))
        .unwrap_or(false)
}

/// Wait for a child with a timeout; kill it on timeout.
pub fn wait_timeout(c: &mut Child, secs: u64) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = c.kill();
            panic!("timed out after {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fake NVML library, compiled once per test process from tests/fake-nvml/fake_nvml.c.
pub fn fake_nvml() -> PathBuf {
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("secure-init-fake-nvml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("libnvidia-ml.so.1");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-nvml/fake_nvml.c");
        let st = Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(src)
            .status()
            .expect("cc (gcc) is needed to build the fake NVML library");
        assert!(st.success(), "building the fake NVML library failed");
        out
    })
    .clone()
}

/// `secure-init` with a clean GPU environment (no NVIDIA_* or CUDA_VERSION from the host).
pub fn cmd_gpu(args: &[&str]) -> Command {
    let mut c = cmd(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("NVIDIA_") || k == "CUDA_VERSION" || k.starts_with("FAKE_NVML_") {
            c.env_remove(k);
        }
    }
    c
}

/// The JSON log events with the given `event` name.
pub fn events(o: &Output, name: &str) -> Vec<serde_json::Value> {
    stderr(o)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == name)
        .collect()
}

/// Kills the listed processes (if still alive) when dropped, so a failing assertion does not
/// leave a server running.
pub struct KillOnDrop(pub Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            if alive(*p) {
                let _ = Command::new("kill").arg("-9").arg(p.to_string()).status();
            }
        }
    }
}

/// Run secure-init under a parent seccomp filter (libseccomp through Debian's
/// python3-seccomp) that answers `syscall` with `errno` without running it; errno 0 makes
/// the call report success while doing nothing.
pub fn under_parent_filter(syscall: &str, errno: i32, args: &[&str]) -> Output {
    require_root();
    let loader = r#"
import os, sys, seccomp
f = seccomp.SyscallFilter(seccomp.ALLOW)
f.add_rule(seccomp.ERRNO(int(sys.argv[2])), sys.argv[1])
f.load()
os.execv(sys.argv[3], sys.argv[3:])
"#;
    let mut c = Command::new("/usr/bin/python3");
    c.args(["-c", loader, syscall, &errno.to_string()])
        .arg(bin())
        .args(args)
        .env("SECURE_INIT_LOG_FORMAT", "json");
    output(c)
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Python of the test suite's PyTorch venv (scripts/test.sh installs it; the tests fail,
/// never skip, without it).
pub fn torch_python() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("SI_TORCH_PYTHON")
            .unwrap_or("/opt/secure-init-test/torch-venv/bin/python".into()),
    );
    assert!(
        p.exists(),
        "{} not found: run scripts/test.sh, which installs torch for this test",
        p.display()
    );
    p
}

/// A workload's attempts to listen on a service's port (argv: report file, port, a free
/// port for the control): every 50 ms on the IPv4 and IPv6 wildcards and loopbacks, with
/// and without SO_REUSEPORT, one line "ADDR REUSEPORT RESULT" each; first the control.
/// SIGTERM is ignored: as a leftover it outlives the service by the grace.
pub const PORT_BINDER: &str = r#"
import errno, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
report, port, free = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def try_bind(fam, addr, port, reuseport):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind((addr, port))
        s.listen(1)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
with open(report, "a", buffering=1) as f:
    f.write("control " + try_bind(socket.AF_INET, "0.0.0.0", free, False) + "\n")
    while True:
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::"),
                          (socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            for rp in (False, True):
                f.write(f"{addr} {rp} " + try_bind(fam, addr, port, rp) + "\n")
        time.sleep(0.05)
"#;
