//! sshd under secure-init, against the real OpenSSH server and client (Debian's
//! openssh-server / openssh-client) and ssh-audit: key-only login as the workload user with
//! the hardened posture, everything else refused, keys the workload cannot add to, login
//! events, sshd alongside a command, refusals.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};

/// A root-owned 0755 directory under /run (the parent of the sshd config dir and of the
/// secrets must be out of the workload's reach), removed on drop.
struct RunDir(PathBuf);

impl RunDir {
    fn new() -> RunDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = Path::new("/run/secure-init-test-sshd");
        std::fs::create_dir_all(base).unwrap();
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = base.join(format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        RunDir(p)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A key pair made by ssh-keygen: (private key path, public line, fingerprint).
fn keygen(dir: &Path, name: &str, kind: &[&str]) -> (PathBuf, String, String) {
    let k = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", name])
        .args(kind)
        .arg("-f")
        .arg(&k)
        .status()
        .expect("ssh-keygen (openssh-client) is needed: scripts/test.sh installs it");
    assert!(st.success());
    let public = std::fs::read_to_string(k.with_extension("pub")).unwrap();
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(k.with_extension("pub"))
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    (k, public, fp)
}

/// Everything one test needs: users (aiuser 1001 with a home, bob 1002), a client key, an
/// attacker key, the authorized keys secret, a config dir.
struct Setup {
    run: RunDir,
    tmp: TempDir,
    home: PathBuf,
    key: PathBuf,
    key_fp: String,
    attacker: PathBuf,
    attacker_pub: String,
    keys_file: PathBuf,
    port: u16,
}

fn setup() -> Setup {
    require_root();
    let run = RunDir::new();
    let tmp = TempDir::new("sshd");
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(1001), Some(1001)).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (key, public, key_fp) = keygen(tmp.path(), "client", &["-t", "ed25519"]);
    let (attacker, attacker_pub, _) = keygen(tmp.path(), "attacker", &["-t", "ed25519"]);
    let keys_file = run.0.join("authorized_keys_secret");
    std::fs::write(&keys_file, &public).unwrap();
    std::fs::set_permissions(&keys_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    Setup {
        run,
        tmp,
        home,
        key,
        key_fp,
        attacker,
        attacker_pub,
        keys_file,
        port: free_port(),
    }
}

impl Setup {
    fn passwd(&self) -> String {
        format!(
            "root:x:0:0::/root:/bin/sh\naiuser:x:1001:1001::{}:/bin/sh\nbob:x:1002:1002::/tmp:/bin/sh\n",
            self.home.display()
        )
    }

    /// secure-init's options for sshd (then the command).
    fn args(&self, extra: &[&str], command: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--sshd-port".into(),
            self.port.to_string(),
            "--sshd-authorized-keys-file".into(),
            self.keys_file.display().to_string(),
            "--sshd-config-dir".into(),
            self.run.0.join("sshd").display().to_string(),
            "--state-file".into(),
            self.run.0.join("state.json").display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push("--".into());
        a.extend(command.iter().map(|s| s.to_string()));
        a
    }

    fn command(&self, extra: &[&str], command: &[&str]) -> (Command, TempDir) {
        let a = self.args(extra, command);
        let argv: Vec<&str> = a.iter().map(String::as_str).collect();
        cmd_with_etc(
            &self.passwd(),
            "root:x:0:\naiuser:x:1001:\nbob:x:1002:\n",
            &argv,
        )
    }

    /// Start secure-init; returns once the port answers.
    fn start(&self, extra: &[&str], command: &[&str]) -> Server {
        let (mut c, etc) = self.command(extra, command);
        let mut child = spawn_logged(&mut c);
        let log = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let l2 = log.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let mut g = l2.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        let port = self.port;
        let s = Server {
            child,
            log,
            reader: Some(reader),
            _etc: etc,
        };
        if !wait_for(20, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            panic!("sshd did not come up:\n{}", s.log());
        }
        s
    }

    fn ssh(&self, key: &Path, user: &str, extra: &[&str], remote: &str) -> Output {
        let mut c = Command::new("ssh");
        c.args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            "-i",
        ])
        .arg(key)
        .args(["-p", &self.port.to_string()])
        .args(extra)
        .arg(format!("{user}@127.0.0.1"))
        .arg(remote);
        output(c)
    }
}

struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _etc: TempDir,
}

impl Server {
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The JSON events with this name so far.
    fn events(&self, name: &str) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == name)
            .collect()
    }

    /// Wait (up to 10 s) for an event matching `f`.
    fn wait_event(&self, name: &str, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let mut found = None;
        wait_for(10, || {
            found = self.events(name).into_iter().find(|e| f(e));
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no {name} event:\n{}", self.log()))
    }

    /// SIGTERM, then the exit status (and the reader drained).
    fn stop(mut self) -> (i32, String) {
        kill(self.child.id(), libc::SIGTERM);
        let st = wait_timeout(&mut self.child, 20);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (st.code().unwrap_or(-1), self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: secure-init stops sshd and its sessions, then exits
        if self.child.try_wait().ok().flatten().is_none() {
            kill(self.child.id(), libc::SIGTERM);
            let pid = self.child.id();
            if !wait_for(10, || !alive(pid)) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[test]
fn key_login_runs_as_the_workload_with_the_hardened_posture_and_is_an_event() {
    let s = setup();
    let srv = s.start(&[], &["/usr/sbin/sshd", "-D", "-e"]);
    let o = s.ssh(
        &s.key,
        "aiuser",
        &[],
        "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; touch /etc/sshd-was-here 2>&1 || echo WRITE-REFUSED; echo HOME=$HOME",
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o), srv.log());
    assert_eq!(out.lines().next(), Some("1001"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("WRITE-REFUSED"), "{out}");
    assert!(out.contains(&format!("HOME={}", s.home.display())), "{out}");
    // the login is an event with user, address, key type and the key's fingerprint
    let e = srv.wait_event("ssh.login.accepted", |_| true);
    assert_eq!(e["user"], "aiuser");
    assert_eq!(e["addr"], "127.0.0.1");
    assert_eq!(e["method"], "publickey");
    assert_eq!(e["fingerprint"], s.key_fp.as_str());
    assert!(e["port"].as_u64().unwrap() > 0);
    // the host key's fingerprint is logged, and is the one the server presents
    let hk = srv.wait_event("sshd.host_key", |_| true);
    let scan = Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-p", &s.port.to_string(), "127.0.0.1"])
        .output()
        .unwrap();
    let kf = s.tmp.path().join("scanned");
    std::fs::write(&kf, &scan.stdout).unwrap();
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&kf)
        .output()
        .unwrap();
    assert!(
        stdout(&fp).contains(hk["fingerprint"].as_str().unwrap()),
        "{} vs {hk}",
        stdout(&fp)
    );
    // config, keys and host key: root-owned, the workload cannot change them
    let dir = s.run.0.join("sshd");
    for f in ["sshd_config", "authorized_keys", "ssh_host_ed25519_key"] {
        let md = std::fs::metadata(dir.join(f)).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(md.uid(), 0, "{f}");
        assert_eq!(md.mode() & 0o222, 0, "{f}: mode {:o}", md.mode());
    }
    let (code, _) = srv.stop();
    assert_eq!(code, 0);
}

#[test]
fn passwords_other_users_root_and_forwarding_are_refused() {
    let s = setup();
    let srv = s.start(&[], &["/usr/sbin/sshd"]);
    // the server offers public keys and nothing else
    let o = s.ssh(
        &s.key,
        "aiuser",
        &[
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ],
        "true",
    );
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    assert!(
        stderr(&o).contains("Permission denied (publickey)"),
        "{}",
        text(&o)
    );
    // the right key, other users
    for user in ["root", "bob", "nosuchuser"] {
        let o = s.ssh(&s.key, user, &[], "id");
        assert_eq!(o.status.code(), Some(255), "{user}: {}", text(&o));
        assert!(stderr(&o).contains("Permission denied"), "{}", text(&o));
    }
    let e = srv.wait_event("ssh.login.failed", |e| e["user"] == "root");
    assert_eq!(e["level"], "warn");
    srv.wait_event("ssh.login.failed", |e| e["user"] == "nosuchuser");
    // forwarding: local (-W, to sshd's own port, which answers), remote (-R)
    let here = format!("127.0.0.1:{}", s.port);
    let o = s.ssh(&s.key, "aiuser", &["-W", &here], "");
    assert!(!stdout(&o).contains("SSH-2.0"), "{}", text(&o));
    assert!(text(&o).contains("forwarding failed"), "{}", text(&o));
    let o = s.ssh(
        &s.key,
        "aiuser",
        &["-o", "ExitOnForwardFailure=yes", "-R", &format!("0:{here}")],
        "echo FORWARDED",
    );
    assert!(!stdout(&o).contains("FORWARDED"), "{}", text(&o));
    assert!(text(&o).contains("forwarding failed"), "{}", text(&o));
    // the control: with --sshd-allow-forwarding the same requests work
    let s2 = setup();
    let srv2 = s2.start(&["--sshd-allow-forwarding"], &["/usr/sbin/sshd"]);
    let there = format!("127.0.0.1:{}", s2.port);
    let o = s2.ssh(&s2.key, "aiuser", &["-W", &there], "");
    assert!(
        stdout(&o).starts_with("SSH-2.0-"),
        "{}\n{}",
        text(&o),
        srv2.log()
    );
    let o = s2.ssh(
        &s2.key,
        "aiuser",
        &[
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            &format!("0:{there}"),
        ],
        "echo FORWARDED",
    );
    assert!(
        stdout(&o).contains("FORWARDED"),
        "{}\n{}",
        text(&o),
        srv2.log()
    );
    // the key still works: the refusals were not a broken server
    let o = s.ssh(&s.key, "aiuser", &[], "echo OK");
    assert_eq!(stdout(&o).trim(), "OK", "{}", text(&o));
    assert!(!srv
        .log()
        .contains("\"event\":\"ssh.login.accepted\",\"msg\":\"Accepted publickey for root"));
}

#[test]
fn a_key_the_workload_plants_never_logs_in() {
    let s = setup();
    let srv = s.start(&[], &["/usr/sbin/sshd"]);
    let o = s.ssh(&s.attacker, "aiuser", &[], "true");
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    // the compromised workload: its own key into ~/.ssh/authorized_keys, and tries on the
    // root-owned copy and the config
    let plant = format!(
        "umask 077; mkdir -p ~/.ssh && echo '{}' >> ~/.ssh/authorized_keys && echo PLANTED; \
         echo '{}' >> {dir}/authorized_keys 2>/dev/null || echo COPY-REFUSED; \
         echo 'PasswordAuthentication yes' >> {dir}/sshd_config 2>/dev/null || echo CONFIG-REFUSED; \
         rm -f {dir}/authorized_keys 2>/dev/null || echo DIR-REFUSED",
        s.attacker_pub.trim(),
        s.attacker_pub.trim(),
        dir = s.run.0.join("sshd").display()
    );
    let o = s.ssh(&s.key, "aiuser", &[], &plant);
    let out = stdout(&o);
    for w in ["PLANTED", "COPY-REFUSED", "CONFIG-REFUSED", "DIR-REFUSED"] {
        assert!(out.contains(w), "{w}: {}", text(&o));
    }
    let o = s.ssh(&s.attacker, "aiuser", &[], "echo IN");
    assert!(!stdout(&o).contains("IN"), "{}", text(&o));
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    let e = srv.wait_event("ssh.login.failed", |e| e["user"] == "aiuser");
    assert!(
        e["fingerprint"]
            .as_str()
            .unwrap_or("")
            .starts_with("SHA256:"),
        "{e}"
    );
    // and after a restart the planted key is still not consulted
    drop(srv);
    let srv = s.start(&[], &["/usr/sbin/sshd"]);
    let o = s.ssh(&s.attacker, "aiuser", &[], "echo IN");
    assert!(!stdout(&o).contains("IN"), "{}\n{}", text(&o), srv.log());
}

#[test]
fn sshd_alongside_a_command_and_sigterm_stops_both() {
    let s = setup();
    let srv = s.start(
        &["--sshd"],
        &[
            "sh",
            "-c",
            "trap 'echo command-got-TERM >&2; exit 7' TERM; while :; do sleep 0.1; done",
        ],
    );
    let o = s.ssh(
        &s.key,
        "aiuser",
        &[],
        "id -u; grep Seccomp: /proc/self/status",
    );
    assert!(
        stdout(&o).starts_with("1001\n"),
        "{}\n{}",
        text(&o),
        srv.log()
    );
    assert!(stdout(&o).contains("Seccomp:\t2"), "{}", text(&o));
    let sshd_pid = srv.wait_event("sshd.start", |_| true)["pid"]
        .as_u64()
        .unwrap() as u32;
    assert!(alive(sshd_pid));
    let (code, log) = srv.stop();
    assert_eq!(code, 7, "the command's status: {log}");
    assert!(log.contains("command-got-TERM"), "{log}");
    assert!(!alive(sshd_pid), "sshd survived:\n{log}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err());
}

#[test]
fn when_sshd_dies_the_command_is_stopped_with_its_own_status() {
    let s = setup();
    let srv = s.start(
        &["--sshd"],
        &[
            "sh",
            "-c",
            "trap 'exit 5' TERM; while :; do sleep 0.1; done",
        ],
    );
    let sshd_pid = srv.wait_event("sshd.start", |_| true)["pid"]
        .as_u64()
        .unwrap() as u32;
    kill(sshd_pid, libc::SIGKILL);
    let mut srv = srv;
    let st = wait_timeout(&mut srv.child, 20);
    assert_eq!(st.code(), Some(5), "{}", srv.log());
    let e = srv.wait_event("companion.exit", |_| true);
    assert_eq!(e["name"], "sshd");
}

#[test]
fn when_sshd_dies_a_command_that_ignores_sigterm_is_killed_at_the_grace() {
    // the container must not stay up without its sshd (a workload that outlived it could
    // take its port): SIGTERM, then SIGKILL at --stop-grace
    let s = setup();
    let srv = s.start(
        &["--sshd", "--stop-grace", "1"],
        &["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"],
    );
    let sshd_pid = srv.wait_event("sshd.start", |_| true)["pid"]
        .as_u64()
        .unwrap() as u32;
    let at = std::time::Instant::now();
    kill(sshd_pid, libc::SIGKILL);
    let mut srv = srv;
    let st = wait_timeout(&mut srv.child, 20);
    assert_eq!(st.code(), Some(137), "{}", srv.log());
    assert!(
        at.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        at.elapsed()
    );
    let e = srv.wait_event("child.stop", |e| e["killed"] == true);
    assert!(e["after_ms"].as_u64().unwrap() >= 900, "{e}");
}

#[test]
fn ssh_audit_finds_no_failures() {
    let venv =
        PathBuf::from(std::env::var("SI_TEST_VENV").unwrap_or("/opt/secure-init-test/venv".into()));
    let audit = venv.join("bin/ssh-audit");
    assert!(
        audit.exists(),
        "ssh-audit missing at {}: run scripts/test.sh, which installs it",
        audit.display()
    );
    let s = setup();
    let srv = s.start(&[], &["/usr/sbin/sshd"]);
    let o = output({
        let mut c = Command::new(&audit);
        c.args([
            "-n",
            "--skip-rate-test",
            "-p",
            &s.port.to_string(),
            "127.0.0.1",
        ]);
        c
    });
    let out = stdout(&o);
    // ssh-audit: 0 good, 2 warnings, 3 failures, 1 connection error
    assert!(
        matches!(o.status.code(), Some(0) | Some(2)),
        "{}\n{}",
        text(&o),
        srv.log()
    );
    assert!(!out.contains("[fail]"), "{out}");
    assert!(!out.contains("(cve)"), "{out}");
    assert!(out.contains("(key) ssh-ed25519"), "{out}");
    for weak in ["ssh-rsa", "diffie-hellman", "ecdh-sha2", "hmac-sha1", "cbc"] {
        assert!(
            !out.lines()
                .any(|l| l.starts_with('(') && !l.starts_with("(rec)") && l.contains(weak)),
            "{weak} offered: {out}"
        );
    }
}

#[test]
fn rsa_keys_need_the_flag() {
    let s = setup();
    let (rsa, rsa_pub, _) = keygen(s.tmp.path(), "rsa", &["-t", "rsa", "-b", "3072"]);
    std::fs::write(&s.keys_file, &rsa_pub).unwrap();
    let (c, _etc) = s.command(&[], &["/usr/sbin/sshd"]);
    let o = output(c);
    assert_code(&o, 78);
    let m = fatal_msg(&o);
    assert!(
        m.contains("ssh-rsa") && m.contains("--sshd-allow-rsa"),
        "{m}"
    );
    let srv = s.start(&["--sshd-allow-rsa"], &["/usr/sbin/sshd"]);
    let o = s.ssh(&rsa, "aiuser", &[], "echo RSA-IN");
    assert_eq!(stdout(&o).trim(), "RSA-IN", "{}\n{}", text(&o), srv.log());
}

#[test]
fn unsafe_setups_are_refused_before_anything_runs() {
    let s = setup();
    let run = |extra: &[&str], command: &[&str]| {
        let (c, _etc) = s.command(extra, command);
        output(c)
    };
    // flags that override the hardened config
    for bad in [
        &["/usr/sbin/sshd", "-D", "-o", "PasswordAuthentication=yes"][..],
        &["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config"],
        &["/usr/sbin/sshd", "-p", "22"],
    ] {
        let o = run(&[], bad);
        assert_code(&o, 78);
        assert!(fatal_msg(&o).contains("sshd flag"), "{}", fatal_msg(&o));
    }
    // a secret the workload can read
    std::fs::set_permissions(&s.keys_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&[], &["/usr/sbin/sshd"]);
    assert_code(&o, 78);
    assert!(
        fatal_msg(&o).contains("readable by the workload"),
        "{}",
        fatal_msg(&o)
    );
    std::fs::set_permissions(&s.keys_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    // no keys at all
    std::fs::write(&s.keys_file, "# nobody yet\n").unwrap();
    let o = run(&[], &["/usr/sbin/sshd"]);
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("no keys"), "{}", fatal_msg(&o));
    // a missing secret
    std::fs::remove_file(&s.keys_file).unwrap();
    let o = run(&["--sshd"], &["true"]);
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("no such file"), "{}", fatal_msg(&o));
    // --sshd when sshd is not installed (hidden by empty directories in a mount namespace)
    std::fs::write(&s.keys_file, &s.attacker_pub).unwrap();
    std::fs::set_permissions(&s.keys_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let a = s.args(&["--sshd"], &["echo", "STARTED"]);
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"for d in /usr/sbin /usr/local/sbin /sbin; do mount -t tmpfs none $d 2>/dev/null; done; exec "$@""#)
        .arg("sh")
        .arg(bin())
        .args(&a)
        .env("PATH", "/usr/bin:/bin")
        .env("SECURE_INIT_LOG_FORMAT", "json");
    let o = output(c);
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("not installed"), "{}", fatal_msg(&o));
    assert!(!stdout(&o).contains("STARTED"));
    // nothing was written
    assert!(!s.run.0.join("sshd").exists());
}

#[test]
fn sshd_does_not_outlive_a_killed_supervisor() {
    // secure-init killed outright (not PID 1): sshd gets SIGTERM from the kernel
    // (PR_SET_PDEATHSIG), so no login service is left running with nobody reading its log
    let s = setup();
    let mut srv = s.start(&["--sshd"], &["sleep", "600"]);
    let sshd_pid = srv.wait_event("sshd.start", |_| true)["pid"]
        .as_u64()
        .unwrap() as u32;
    kill(srv.child.id(), libc::SIGKILL);
    let _ = srv.child.wait();
    assert!(
        wait_for(10, || !alive(sshd_pid)),
        "sshd outlived the supervisor"
    );
    assert!(wait_for(10, || std::net::TcpStream::connect((
        "127.0.0.1",
        s.port
    ))
    .is_err()));
    // the plain command is not tied to the supervisor (as with tini without -p): end it
    let _ = Command::new("pkill").args(["-f", "^sleep 600$"]).status();
}

#[test]
fn a_host_key_from_a_secret_is_served_and_its_fingerprint_logged() {
    let s = setup();
    let (hk, _, hk_fp) = keygen(s.tmp.path(), "hostkey", &["-t", "ed25519"]);
    let secret = s.run.0.join("host_key_secret");
    std::fs::copy(&hk, &secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let flag = ["--sshd-host-key-file", secret.to_str().unwrap()];
    // readable by the workload: refused
    let (c, _etc) = s.command(&flag, &["/usr/sbin/sshd"]);
    let o = output(c);
    assert_code(&o, 78);
    assert!(
        fatal_msg(&o).contains("--sshd-host-key-file"),
        "{}",
        fatal_msg(&o)
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let srv = s.start(&flag, &["/usr/sbin/sshd"]);
    let e = srv.wait_event("sshd.host_key", |_| true);
    assert_eq!(e["fingerprint"], hk_fp.as_str(), "{e}");
    // the client sees that key (checked against a known_hosts entry for it)
    let kh = s.tmp.path().join("known_hosts");
    let public = std::fs::read_to_string(hk.with_extension("pub")).unwrap();
    std::fs::write(&kh, format!("[127.0.0.1]:{} {}", s.port, public)).unwrap();
    let o = s.ssh(
        &s.key,
        "aiuser",
        &[
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            &format!("UserKnownHostsFile={}", kh.display()),
        ],
        "echo PINNED",
    );
    assert_eq!(stdout(&o).trim(), "PINNED", "{}\n{}", text(&o), srv.log());
    // an encrypted key cannot be used by sshd: refused at start
    let enc = s.tmp.path().join("enc");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "a passphrase", "-f"])
        .arg(&enc)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::copy(&enc, &secret).unwrap();
    drop(srv);
    let (c, _etc) = s.command(&flag, &["/usr/sbin/sshd"]);
    let o = output(c);
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("encrypted"), "{}", fatal_msg(&o));
}

#[test]
fn sshd_starts_with_the_documented_capabilities_and_again_over_its_directory() {
    // cap_add: [SETUID, SETGID, SETPCAP, KILL, CHOWN] and nothing else: no CAP_FOWNER to
    // chmod a file already handed to the workload, no CAP_DAC_OVERRIDE
    let s = setup();
    let etc = TempDir::new("etc-caps");
    std::fs::write(etc.path().join("passwd"), s.passwd()).unwrap();
    std::fs::write(
        etc.path().join("group"),
        "root:x:0:\naiuser:x:1001:\nbob:x:1002:\n",
    )
    .unwrap();
    for start in 0..2 {
        let a = s.args(&["--sshd"], &["true"]);
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group && shift && exec "$@""#)
            .arg("sh")
            .arg(etc.path())
            .args(["setpriv", "--bounding-set", "-all,+setuid,+setgid,+setpcap,+kill,+chown", "--inh-caps=-all"])
            .arg(bin())
            .args(&a)
            .env("SECURE_INIT_LOG_FORMAT", "json");
        let o = output(c);
        assert_code(&o, 0);
        assert_eq!(
            events(&o, "sshd.start").len(),
            1,
            "start {start}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn the_workload_never_gets_sshds_port_nor_a_pid_file_to_aim_a_signal() {
    // sshd's port is bound by secure-init before the command starts and held by the
    // supervisor until it exits: the workload cannot take it before sshd runs, while it
    // runs, nor once it is gone (it ignores SIGTERM and keeps trying through the grace)
    let s = setup();
    let dir = TempDir::new("binds");
    let report = dir.path().join("binds");
    let free = free_port();
    let (port, free_s) = (s.port.to_string(), free.to_string());
    let srv = s.start(
        &["--sshd", "--stop-grace", "2"],
        &[
            "/usr/bin/python3",
            "-c",
            PORT_BINDER,
            report.to_str().unwrap(),
            &port,
            &free_s,
        ],
    );
    let lines = || std::fs::read_to_string(&report).unwrap_or_default();
    assert!(
        wait_for(10, || lines().lines().count() > 40),
        "{}",
        srv.log()
    );
    // sshd serves on it: a key login works
    let o = s.ssh(&s.key, "aiuser", &[], "id -u");
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o), srv.log());
    // no pid file the workload could rewrite; the state file names sshd's pid
    let sshd_pid = srv.wait_event("sshd.start", |_| true)["pid"]
        .as_u64()
        .unwrap() as u32;
    let cfg = std::fs::read_to_string(s.run.0.join("sshd/sshd_config")).unwrap();
    assert!(cfg.contains("\nPidFile none\n"), "{cfg}");
    assert!(!s.run.0.join("sshd/sshd.pid").exists());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.run.0.join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["sshd_pid"].as_u64(), Some(sshd_pid as u64), "{state}");
    // sshd dies; the workload keeps trying through the grace, then is killed
    let before = lines().lines().count();
    kill(sshd_pid, libc::SIGKILL);
    let mut srv = srv;
    let st = wait_timeout(&mut srv.child, 20);
    assert_eq!(st.code(), Some(137), "{}", srv.log());
    let all = lines();
    assert!(
        all.lines().count() > before + 16,
        "no attempts after sshd died:\n{all}"
    );
    let mut it = all.lines();
    assert_eq!(it.next(), Some("control ok"), "{all}");
    let taken: Vec<&str> = it.filter(|l| l.ends_with(" ok")).collect();
    assert!(
        taken.is_empty(),
        "the workload bound sshd's port: {taken:?}"
    );
    assert!(all.contains("0.0.0.0 False EADDRINUSE"), "{all}");
    assert!(all.contains(":: True EADDRINUSE"), "{all}");
}
