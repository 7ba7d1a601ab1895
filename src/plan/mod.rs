//! Options + facts -> an immutable plan, as a pure function: [`build`] reads nothing but
//! its arguments (files through `facts.fs`, read-only) and changes nothing. Every
//! configuration error is found here, before the first side effect (the GPU helper, model
//! hashing, password hashing, config writes, HOME creation).
//!
//! One room per concern: [`identity`] (who runs, the supervisor's uid), [`seccomp`] (the
//! filter, reported denials), [`landlock`] (writable paths, ports), [`exec`] (environment,
//! argv, terminal, descriptors), [`json`] (`--dry-run`). Jupyter's and sshd's parts are
//! planned by their own modules.

mod exec;
mod identity;
mod json;
mod landlock;
mod seccomp;

pub use identity::{parse_keep_caps, Identity, Supervisor, SUPERVISOR_UID};
pub use seccomp::SeccompPlan;

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::sandbox::{self, Posture, Terminal};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// How secure-init runs the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// PID 1: supervise, forward signals, reap.
    Pid1,
    /// Not PID 1: the same, as a child subreaper.
    Subreaper,
    /// `--exec`: harden and execve in place.
    Exec,
}

impl RunMode {
    pub fn name(self) -> &'static str {
        match self {
            RunMode::Pid1 => "pid1",
            RunMode::Subreaper => "subreaper",
            RunMode::Exec => "exec",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: RunMode,
    pub started_as_root: bool,
    pub identity: Identity,
    pub supervisor: Supervisor,
    /// Capabilities kept (ambient), as a bit mask over capability numbers.
    pub keep_mask: u64,
    pub keep_names: Vec<String>,
    pub last_cap: u32,
    /// The bounding set can be emptied (CAP_SETPCAP is effective).
    pub can_drop_bounding: bool,
    /// It cannot, but it holds nothing to give back anyway (a runtime dropped every
    /// capability: Kubernetes' "restricted").
    pub bounding_already_empty: bool,
    pub core_dumps: bool,
    pub seccomp: SeccompPlan,
    pub command: Vec<OsString>,
    /// The command as C strings, and the paths to try (execvp-style).
    pub argv: Vec<CString>,
    pub candidates: Vec<CString>,
    /// The child's environment (HOME as planned; see [`Plan::envp`]).
    pub env: Vec<(OsString, OsString)>,
    pub terminal: Terminal,
    pub kill_process_group: bool,
    /// Descriptors above 2 passed on to the command (`--keep-fd`).
    pub keep_fds: Vec<i32>,
    pub gpu: crate::gpu::GpuPlan,
    pub jupyter: Option<crate::jupyter::JupyterPlan>,
    /// sshd as the command, or alongside it (`--sshd`).
    pub sshd: Option<crate::sshd::SshdPlan>,
    pub landlock: crate::landlock::LandlockPlan,
    pub verify_manifests: Vec<PathBuf>,
    pub scan_models: Vec<PathBuf>,
    pub allow_globals: Vec<String>,
    /// `--stop-grace`, `--signal-map`.
    pub stop_grace: std::time::Duration,
    pub signal_map: Vec<(i32, i32)>,
}

/// Who the paths an option names must be safe from ([`crate::trusted`]).
struct Trust<'a> {
    fs: &'a dyn crate::fsview::Fs,
    workload: crate::searchpath::Workload<'a>,
    root: bool,
    cwd: &'a std::path::Path,
}

impl Trust<'_> {
    /// [`crate::trusted::check`] of the path `flag` names.
    fn check(&self, path: &std::path::Path, flag: &str, must_exist: bool) -> Result<PathBuf> {
        crate::trusted::check(
            self.fs,
            path,
            self.cwd,
            flag,
            &self.workload,
            self.root,
            must_exist,
        )
    }
}

/// Build the plan. Pure: everything it knows comes from `args` and `facts`.
pub fn build(args: &RunArgs, facts: &Facts) -> Result<Plan> {
    if args.command.is_empty() {
        return Err(Error::usage(
            "no command given; usage: secure-init [OPTIONS] [--] COMMAND [ARGS]...",
        ));
    }
    let started_as_root = facts.is_root();
    let mode = if args.exec {
        RunMode::Exec
    } else if facts.pid == 1 {
        RunMode::Pid1
    } else {
        RunMode::Subreaper
    };
    let (keep_mask, keep_names) = identity::keep_caps(args, facts)?;
    // the workload's identity first: the paths options name are checked against it
    let identity = identity::resolve_identity(args, facts)?;
    let trust = Trust {
        fs: facts.fs.as_ref(),
        workload: identity.workload(),
        root: started_as_root,
        cwd: facts.cwd.as_deref().unwrap_or(std::path::Path::new("/")),
    };
    let (mut seccomp, custom) =
        seccomp::resolve_seccomp(&args.seccomp, &keep_names, facts, &trust)?;
    seccomp::plan_notify(args, mode, &mut seccomp, custom, &trust)?;
    // the NVML library is loaded as root (by the gpu-info helper)
    if let Some(lib) = args
        .nvml_library
        .as_deref()
        .filter(|l| facts.fs.exists_nofollow(l))
    {
        trust.check(lib, "--nvml-library", true)?;
    }
    for m in &args.verify_manifest {
        trust.check(m, "--verify-manifest", true)?;
    }
    let keep_fds = exec::keep_fds(&args.keep_fd, facts)?;
    check_allow_globals(&args.allow_global)?;
    let gpu = crate::gpu::plan(
        args.gpu,
        args.min_driver.as_deref(),
        args.nvml_library.clone(),
        args.nvidia_version_file.clone(),
        &args.dev_dir,
        facts,
    )?;
    if !(identity.uid == 0 && args.allow_root) {
        crate::searchpath::check(facts, &identity.workload())?;
    }
    let supervisor = identity::supervisor(args, facts, &identity)?;
    let jupyter = crate::jupyter::plan(
        &crate::jupyter::JupyterArgs::from(args),
        &args.command,
        &crate::jupyter::ServerUser {
            uid: identity.uid,
            gid: identity.gid,
            groups: &identity.groups,
            home: &identity.home,
            home_pending: identity.home_fallback,
            started_as_root,
        },
        facts,
    )?;
    let sshd = crate::sshd::plan(
        &crate::sshd::SshdArgs::from(args),
        &args.command,
        &crate::sshd::LoginUser {
            uid: identity.uid,
            gid: identity.gid,
            groups: &identity.groups,
            user_name: identity.user_name.as_deref(),
            started_as_root,
        },
        facts,
    )?;
    if mode != RunMode::Exec
        && keep_fds.contains(&3)
        && jupyter
            .as_ref()
            .and_then(|j| j.held_port())
            .is_some_and(|r| r.is_ok())
    {
        return Err(Error::config(
            "--keep-fd 3: descriptor 3 is where the Jupyter server takes the listening socket secure-init holds for it; pass that descriptor under another number",
        ));
    }
    if mode == RunMode::Exec && sshd.as_ref().is_some_and(|s| !s.as_command) {
        return Err(Error::usage(
            "--sshd needs the supervisor to run sshd next to the command; drop --exec or --sshd",
        ));
    }
    let env = exec::child_env(facts, &identity, jupyter.as_ref());
    let landlock = landlock::plan_landlock(
        args,
        facts,
        &identity,
        jupyter.as_ref(),
        sshd.as_ref(),
        &env,
    )?;
    // sshd as the command runs as planned: its absolute path, `-D -e -f CONFIG`.
    let run = match &sshd {
        Some(s) if s.as_command => &s.argv,
        _ => &args.command,
    };
    let (argv, candidates) = exec::argv_and_candidates(run, &env)?;
    let plan = Plan {
        mode,
        started_as_root,
        supervisor,
        keep_mask,
        keep_names,
        last_cap: facts.last_cap,
        can_drop_bounding: facts.caps.effective & (1 << caps::Capability::CAP_SETPCAP.index()) != 0,
        bounding_already_empty: facts.bounding == Some(0),
        core_dumps: args.allow_core_dumps,
        seccomp,
        command: args.command.clone(),
        argv,
        candidates,
        terminal: exec::terminal(mode, facts),
        kill_process_group: args.kill_process_group,
        keep_fds,
        gpu,
        jupyter,
        sshd,
        landlock,
        verify_manifests: args.verify_manifest.clone(),
        scan_models: args.scan_models.clone(),
        allow_globals: args.allow_global.clone(),
        stop_grace: std::time::Duration::from_secs(args.stop_grace),
        signal_map: crate::signals::parse_map(&args.signal_map)?,
        env,
        identity,
    };
    // every variable and the HOME fallback are valid C strings (what envp() will build)
    if plan
        .env
        .iter()
        .any(|(k, v)| k.as_bytes().contains(&0) || v.as_bytes().contains(&0))
    {
        return Err(Error::usage(
            "an environment variable contains a NUL byte; remove it",
        ));
    }
    if let Some(h) = &plan.identity.home_orig {
        sandbox::cstring(h.as_os_str().as_bytes(), "HOME")?;
    }
    Ok(plan)
}

/// `--allow-global`: each a module.name.
fn check_allow_globals(globals: &[String]) -> Result<()> {
    for g in globals {
        let ok = g.split_once('.').is_some_and(|(m, n)| {
            !m.is_empty()
                && !n.is_empty()
                && g.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        });
        if !ok {
            return Err(Error::config(format!(
                "--allow-global {g:?}: expected module.name, e.g. argparse.Namespace"
            )));
        }
    }
    Ok(())
}

impl Plan {
    /// The child's environment as C strings.
    pub fn envp(&self) -> Result<Vec<CString>> {
        self.env
            .iter()
            .map(|(k, v)| {
                // one allocation: NAME=VALUE and the NUL CString adds
                let mut kv = Vec::with_capacity(k.len() + v.len() + 2);
                kv.extend_from_slice(k.as_bytes());
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                sandbox::cstring_owned(kv, "an environment variable")
            })
            .collect()
    }

    /// Set HOME to what start-up made (or kept, `fallback` false, when it could not).
    pub fn set_home(&mut self, home: PathBuf, fallback: bool) {
        for (k, v) in self.env.iter_mut() {
            if k == "HOME" {
                *v = home.clone().into_os_string();
            }
        }
        self.identity.home = home;
        self.identity.home_fallback = fallback;
    }

    /// The workload's posture.
    pub fn child_posture(&self) -> Posture {
        let id = &self.identity;
        Posture::new(
            id.switch,
            (id.uid, id.gid),
            &id.groups,
            self.keep_mask,
            true,
            self.last_cap,
            self.can_drop_bounding,
        )
    }

    /// The supervisor's posture: its own uid with CAP_KILL only (started as root), or
    /// nothing at all under the workload's uid (started non-root).
    pub fn supervisor_posture(&self) -> Posture {
        let s = &self.supervisor;
        let kill = if s.own_uid {
            1u64 << caps::Capability::CAP_KILL.index()
        } else {
            0
        };
        Posture::new(
            s.switch,
            (s.uid, s.gid),
            &[],
            kill,
            false,
            self.last_cap,
            // it never execs: its bounding set can give nothing back
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fake::{root_pid1, FakeFs};
    use clap::Parser;

    fn args(a: &[&str]) -> RunArgs {
        let mut v = vec!["secure-init"];
        v.extend_from_slice(a);
        crate::cli::Cli::try_parse_from(v).unwrap().run
    }

    #[test]
    fn default_root_start() {
        let p = build(&args(&["--", "python", "train.py"]), &root_pid1()).unwrap();
        assert_eq!(p.mode, RunMode::Pid1);
        assert_eq!((p.identity.uid, p.identity.gid), (1001, 1001));
        assert!(p.identity.switch);
        assert_eq!(p.identity.home, PathBuf::from("/home/aiuser"));
        assert!(!p.identity.home_fallback);
        assert_eq!(p.keep_mask, 0);
        assert_eq!(p.seccomp.name, "pytorch");
        assert!(!p.seccomp.programs.is_empty());
        assert_eq!(p.supervisor.uid, SUPERVISOR_UID);
        assert!(p.supervisor.own_uid);
        assert_eq!(p.terminal, Terminal::ProcessGroup);
        assert!(p.env.iter().any(|(k, v)| k == "USER" && v == "aiuser"));
        assert_eq!(
            p.candidates[0].to_bytes(),
            b"/usr/local/bin/python",
            "PATH search"
        );
        assert!(p.jupyter.is_none());
    }

    #[test]
    fn not_pid1_is_subreaper_and_exec_is_exec() {
        let mut f = root_pid1();
        f.pid = 4242;
        assert_eq!(
            build(&args(&["--", "true"]), &f).unwrap().mode,
            RunMode::Subreaper
        );
        let p = build(&args(&["--exec", "--", "true"]), &f).unwrap();
        assert_eq!(p.mode, RunMode::Exec);
        assert_eq!(p.terminal, Terminal::Keep);
    }

    #[test]
    fn a_terminal_of_another_session_gets_a_new_session() {
        let mut f = root_pid1();
        f.pid = 300;
        f.sid = 100;
        f.stdin_tty_session = Some(100);
        let p = build(&args(&["--", "bash"]), &f).unwrap();
        assert_eq!(p.terminal, Terminal::NewSession);
        // secure-init leads the session that owns the terminal (docker run -it)
        f.sid = 300;
        f.stdin_tty_session = Some(300);
        let p = build(&args(&["--", "bash"]), &f).unwrap();
        assert_eq!(p.terminal, Terminal::ProcessGroup);
        // the container's own init leads it (docker run -it --init: tini is PID 1 and the
        // session leader, secure-init its child): job control stays
        f.pid = 7;
        f.sid = 1;
        f.stdin_tty_session = Some(1);
        let p = build(&args(&["--", "bash"]), &f).unwrap();
        assert_eq!(p.terminal, Terminal::ProcessGroup);
        // a shell's session seen from another PID namespace (sid 0) or led by another
        // process of this one: a session of its own
        for (sid, tty) in [(0, 0), (5, 5), (1, 5)] {
            f.sid = sid;
            f.stdin_tty_session = Some(tty);
            let p = build(&args(&["--", "bash"]), &f).unwrap();
            assert_eq!(
                p.terminal,
                Terminal::NewSession,
                "sid {sid}, tty session {tty}"
            );
        }
    }

    #[test]
    fn unwritable_home_plans_the_fallback_without_creating_it() {
        let mut f = root_pid1();
        f.fs = Box::new(FakeFs::default().dir("/home/aiuser", 0, 0o755));
        let p = build(&args(&["--", "true"]), &f).unwrap();
        assert!(p.identity.home_fallback);
        assert_eq!(p.identity.home, PathBuf::from("/tmp/secure-init-home-1001"));
        assert_eq!(p.identity.home_orig, Some(PathBuf::from("/home/aiuser")));
    }

    #[test]
    fn configuration_errors_come_from_the_plan() {
        let f = root_pid1();
        for (a, code, want) in [
            (vec!["--", ""], 64, "empty string"),
            (vec![], 64, "no command"),
            (vec!["--user", "0", "--", "true"], 78, "uid 0"),
            (vec!["--user", "nobody-here", "--", "true"], 78, "no user"),
            (
                vec!["--keep-cap", "CAP_FLY", "--", "true"],
                78,
                "unknown capability",
            ),
            (vec!["--keep-fd", "7", "--", "true"], 78, "not open"),
            (
                vec!["--seccomp", "nope", "--", "true"],
                78,
                "unknown profile",
            ),
            (
                vec!["--allow-global", "os", "--", "true"],
                78,
                "module.name",
            ),
            (
                vec!["--supervisor-uid", "1001", "--", "true"],
                78,
                "must differ",
            ),
            (vec!["--", "jupyter", "lab"], 78, "without a password"),
        ] {
            let e = build(&args(&a), &f).unwrap_err();
            assert_eq!(e.code(), code, "{a:?}: {}", e.msg);
            assert!(e.msg.contains(want), "{a:?}: {}", e.msg);
        }
        let mut argv = args(&["--", "true"]);
        argv.command.push(OsString::from("a\0b"));
        assert!(build(&argv, &f).unwrap_err().msg.contains("NUL"));
    }

    #[test]
    fn too_many_groups_is_a_plan_error() {
        let list: Vec<String> = (2000..3100).map(|g| g.to_string()).collect();
        let joined = list.join(",");
        let e = build(&args(&["--groups", &joined, "--", "true"]), &root_pid1()).unwrap_err();
        assert_eq!(e.code(), 78);
        assert!(e.msg.contains("supplementary groups"), "{}", e.msg);
    }

    #[test]
    fn non_root_is_verify_only() {
        let mut f = root_pid1();
        f.uids = (1001, 1001, 1001);
        f.gid = 1001;
        f.groups = vec![1001];
        f.caps = Default::default();
        let p = build(&args(&["--", "true"]), &f).unwrap();
        assert!(!p.identity.switch);
        assert!(!p.supervisor.own_uid);
        assert_eq!(p.supervisor.uid, 1001);
        let e = build(&args(&["--user", "0", "--", "true"]), &f).unwrap_err();
        assert_eq!(e.code(), 77);
    }

    #[test]
    fn jupyter_password_is_read_not_hashed() {
        let mut f = root_pid1();
        f.env
            .push(("JUPYTER_PASSWORD".into(), "correct horse".into()));
        f.env.push(("JUPYTER_TOKEN".into(), "t0k3n".into()));
        let p = build(&args(&["--", "jupyter", "lab"]), &f).unwrap();
        let j = p.jupyter.as_ref().unwrap();
        assert!(matches!(j.auth, crate::jupyter::Auth::Password(..)));
        assert!(!p
            .env
            .iter()
            .any(|(k, _)| k == "JUPYTER_PASSWORD" || k == "JUPYTER_TOKEN"));
        assert!(
            !format!("{p:?}").contains("correct horse"),
            "Debug never shows it"
        );
        // a secret file the workload could read is refused
        let mut f = root_pid1();
        f.fs = Box::new(
            FakeFs::default()
                .dir("/", 0, 0o755)
                .dir("/home", 0, 0o755)
                .dir("/home/aiuser", 1001, 0o755)
                .dir("/run", 0, 0o755)
                .file("/run/pw", 0, 0o644, b"correct horse\n"),
        );
        let e = build(
            &args(&["--jupyter-password-file", "/run/pw", "--", "jupyter", "lab"]),
            &f,
        )
        .unwrap_err();
        assert!(e.msg.contains("readable by the workload"), "{}", e.msg);
    }

    #[test]
    fn unsafe_loader_path_is_refused() {
        let mut f = root_pid1();
        f.env
            .push(("LD_LIBRARY_PATH".into(), "/usr/local/nvidia/lib64:".into()));
        let e = build(&args(&["--", "true"]), &f).unwrap_err();
        assert_eq!(e.code(), 78);
        assert!(e.msg.contains("LD_LIBRARY_PATH"), "{}", e.msg);
    }
}
