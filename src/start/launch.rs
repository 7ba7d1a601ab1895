//! Phase 3: the command started, hardened by itself between fork and exec
//! (`sandbox::harden`), and sshd beside it with `--sshd`. From the first spawn on, no exit
//! path may leave a process running: each is a [`Running`], killed and reaped when dropped,
//! until the supervisor's loop takes it over ([`Running::release`]) — catatonit's "no
//! longer allowed to bail()" boundary, stated in types. `--exec` instead hardens this very
//! process ([`exec_in_place`]).

use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::init::{self, aside::StepAside};
use crate::plan::{Plan, RunMode};
use crate::sandbox::{ChildOptions, ChildSpec, ExecSpec};
use crate::sys::{self, SigSet};

/// A started process: killed (SIGKILL) and reaped when dropped, unless released.
#[must_use = "dropping it kills the process"]
pub struct Running {
    pid: libc::pid_t,
}

impl Running {
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Hand the process over to the supervisor's loop, which ends it from now on.
    pub fn release(self) -> libc::pid_t {
        let pid = self.pid;
        std::mem::forget(self);
        pid
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        init::kill_and_reap(self.pid);
    }
}

/// What the launch made.
pub enum Outcome {
    Started(Launched),
    /// A stop signal arrived before the command started: it was not started (exit status).
    Stopped(i32),
}

/// The running command, sshd beside it, and what the supervisor takes from them.
pub struct Launched {
    /// sshd beside the command (`--sshd` with a command). Declared first: dropped first.
    pub companion: Option<Running>,
    pub child: Running,
    /// The seccomp listener the child sent, when denials are reported.
    pub listener_fd: Option<RawFd>,
    /// The read end of sshd's stderr (login events).
    pub sshd_log: Option<RawFd>,
    /// The supervisor's step aside from the command's CPU, ended before the wait.
    pub aside: StepAside,
    /// The listening sockets of sshd and of a Jupyter server, bound before the command
    /// started and held until the supervisor exits: the workload can never take their
    /// ports, not even once the service is gone.
    pub listeners: Vec<std::os::fd::OwnedFd>,
}

/// `--exec`: harden this process and exec the command in place (no supervisor). Returns
/// only on failure.
pub fn exec_in_place(
    plan: &Plan,
    held: super::effects::Held,
    sigmask: SigSet,
    audit: crate::audit::Pending,
) -> Result<i32> {
    let spec = command_spec(
        plan,
        sigmask,
        held.landlock.as_ref().map(|l| l.enforce()),
        None,
        None,
        // with --exec nothing of the workload runs before the command, and no supervisor
        // is left to hold a port: services bind their own
        None,
    )?;
    sys::step_mark("spec");
    audit.finish()?;
    init::require_single_threaded("harden in place")?;
    // the HOME lock is passed on (in keep_fds): it stays open through the exec
    let _home_lock = held.home_lock;
    Err(harden_in_place(&spec).to_error(&command_name(plan)))
}

#[allow(unsafe_code)] // --exec hardens this very process: unsafe by contract
fn harden_in_place(spec: &ChildSpec) -> crate::sandbox::Failure {
    // SAFETY: single-threaded, checked by the caller just before.
    unsafe { crate::sandbox::enter(spec) }
}

/// Start the command (and sshd beside it), each hardened by itself before its exec. The
/// ruleset is closed once both have started.
pub fn launch(
    plan: &Plan,
    landlock: Option<crate::landlock::Prepared>,
    sigmask: SigSet,
) -> Result<Outcome> {
    debug_assert!(plan.mode != RunMode::Exec);
    // Every buffer the child needs, prepared before the fork. sshd's stderr goes into a pipe
    // the supervisor reads (login events).
    let sshd_log = match &plan.sshd {
        Some(_) => Some(sys::pipe_cloexec().map_err(|e| Error::internal(format!("pipe: {e}")))?),
        None => None,
    };
    let as_command = plan.sshd.as_ref().is_some_and(|s| s.as_command);
    // The seccomp listener's way to the supervisor.
    let notify_sock = match &plan.seccomp.notify {
        Some(_) => Some(
            sys::socketpair_cloexec().map_err(|e| Error::internal(format!("socketpair: {e}")))?,
        ),
        None => None,
    };
    let landlock_fd = landlock.as_ref().map(|l| l.enforce());
    // A Jupyter server's port, likewise: bound now, taken by the server from descriptor 3
    // (secure-init's config code), held by the supervisor until it exits — no kernel or
    // SSH session takes it first, or once the server is gone, to serve a fake login page.
    let jupyter_listener = match plan.jupyter.as_ref().and_then(|j| j.held_port()) {
        Some(Ok((ip, port))) => Some(sys::listen_tcp(ip, port, 128).map_err(|e| {
            Error::hardening(format!(
                "the Jupyter port {port}: cannot bind it before the server starts: {e}; pick a free port (--jupyter-port)"
            ))
        })?),
        Some(Err(name)) => {
            log::warn!(target: "jupyter.port", ip = name.as_str();
                "--jupyter-ip {name} is a host name, not an address: the server binds its port itself, and the workload could take it first; give an address");
            None
        }
        None => None,
    };
    // sshd beside the command: its port is bound now, before the command runs, and handed
    // to sshd as systemd's socket activation does (Debian's and Ubuntu's OpenSSH take it).
    let sshd_listener = match &plan.sshd {
        Some(s) if !s.as_command => Some(sys::listen_tcp(None, s.port, 128).map_err(|e| {
            Error::hardening(format!(
                "--sshd-port {}: cannot bind it before the command starts: {e}; pick a free port",
                s.port
            ))
        })?),
        _ => None,
    };
    let notify_child = match (notify_sock, &jupyter_listener) {
        // the child puts the listener on descriptor 3 before it sends the seccomp listener
        (Some((sup, c)), Some(_)) if c <= 3 => {
            let moved = sys::dup_above(c, 4).map_err(|e| Error::internal(format!("fcntl: {e}")))?;
            sys::close(c);
            Some((sup, moved))
        }
        (n, _) => n,
    };
    let notify_sock = notify_child;
    let mut spec = command_spec(
        plan,
        sigmask,
        landlock_fd,
        sshd_log.filter(|_| as_command).map(|(_, w)| w),
        notify_sock.map(|(_, c)| c),
        jupyter_listener.as_ref().map(|l| {
            use std::os::fd::AsRawFd;
            l.as_raw_fd()
        }),
    )?;
    let companion = match (&plan.sshd, sshd_log) {
        (Some(s), Some((_, w))) if !s.as_command => {
            use std::os::fd::AsRawFd;
            let listen = sshd_listener.as_ref().map(|l| l.as_raw_fd());
            Some(companion_spec(plan, s, &spec, w, listen)?)
        }
        _ => None,
    };
    let cmd = command_name(plan);
    sys::step_mark("spec");
    if plan.mode == RunMode::Subreaper {
        sys::set_child_subreaper()
            .map_err(|e| Error::hardening(format!("cannot become a child subreaper: {e}")))?;
    }
    // Nobody may read our memory or environment while we wait (the workload included).
    sys::set_dumpable(false).map_err(|e| Error::hardening(format!("PR_SET_DUMPABLE: {e}")))?;
    if let Some(sig) = init::stop_pending() {
        log::warn!(target: "init.stop", signal = sig; "signal {sig} arrived before the command started: not starting it");
        return Ok(Outcome::Stopped(128 + sig));
    }
    // As tini: the supervisor ignores SIGTTIN/SIGTTOU so terminal hand-over cannot stop it.
    let _ = sys::set_signal_disposition(libc::SIGTTIN, true);
    let _ = sys::set_signal_disposition(libc::SIGTTOU, true);

    // Fork (single-threaded): the child hardens itself and execs. Its step aside from the
    // supervisor's CPU is arranged here (init::aside).
    let mut aside = StepAside::arrange(&mut spec, companion.is_some());
    let spawned = init::spawn(&spec);
    aside.spawned();
    let child = Running {
        pid: spawned?.map_err(|f| f.to_error(&cmd))?,
    };
    sys::step_mark("spawned");
    drop(spec);
    log::info!(target: "child.start", pid = child.pid; "started {:?}", plan.command[0]);
    let listener_fd = match notify_sock {
        Some((sup, c)) => {
            sys::close(c);
            let r = sys::recv_fd(sup);
            sys::close(sup);
            listener_or_warning(r, plan.seccomp.learn.is_some())?
        }
        None => None,
    };
    let companion = match companion {
        Some((spec, devnull)) => {
            let r = init::spawn(&spec);
            sys::close(devnull);
            let pid = r?.map_err(|f| f.to_error("sshd"))?;
            log::info!(target: "sshd.start", pid = pid; "started sshd alongside the command");
            Some(Running { pid })
        }
        None => None,
    };
    aside.companion_started(child.pid);
    drop(landlock);
    let sshd_log = sshd_log.map(|(r, w)| {
        sys::close(w); // the supervisor's copy: EOF once sshd and its sessions are gone
        r
    });
    sys::step_mark("listener_fd");
    Ok(Outcome::Started(Launched {
        companion,
        child,
        listener_fd,
        sshd_log,
        aside,
        listeners: sshd_listener.into_iter().chain(jupyter_listener).collect(),
    }))
}

fn command_name(plan: &Plan) -> String {
    plan.command[0].to_string_lossy().into_owned()
}

/// The command's spec: the workload's posture and filters, its descriptors, and what the
/// child sends back (the seccomp listener).
fn command_spec(
    plan: &Plan,
    sigmask: SigSet,
    landlock: Option<(RawFd, u32)>,
    stderr: Option<RawFd>,
    notify_sock: Option<RawFd>,
    listen: Option<RawFd>,
) -> Result<ChildSpec> {
    Ok(ChildSpec::new(
        plan.child_posture(),
        ExecSpec {
            candidates: plan.candidates.clone(),
            argv: plan.argv.clone(),
            envp: plan.envp()?,
        },
        ChildOptions {
            keep_fds: &plan.keep_fds,
            filters: plan.seccomp.programs.clone(),
            sigmask,
            terminal: plan.terminal,
            core_zero: !plan.core_dumps,
            landlock,
            stdin: None,
            stderr,
            parent_death_signal: 0,
            notify: match (&plan.seccomp.notify, notify_sock) {
                (Some(p), Some(c)) => Some(crate::sandbox::Notify {
                    program: p.clone(),
                    sock: c,
                }),
                _ => None,
            },
            listen,
        },
    ))
}

/// What the child sent about its seccomp listener: the descriptor, or why there is none
/// (then the plain filter is installed: a warning, or an error in learn mode).
fn listener_or_warning(
    r: std::result::Result<Option<(i32, Option<std::os::fd::RawFd>)>, sys::Errno>,
    learn: bool,
) -> Result<Option<std::os::fd::RawFd>> {
    let why = match r {
        Ok(Some((0, Some(fd)))) => {
            log::info!(target: "seccomp.notify", "seccomp denials are reported (user notification): each is answered with the profile's errno and logged");
            return Ok(Some(fd));
        }
        Ok(Some((e, _))) => format!("the kernel refused a listener ({})", sys::Errno(e)),
        Ok(None) => "the command sent no listener".to_string(),
        Err(e) => format!("cannot receive the listener: {e}"),
    };
    if learn {
        return Err(Error::hardening(format!(
            "--seccomp-learn: {why}; learn mode needs seccomp user notification (Linux 5.5+, no runtime filter that already has a listener)"
        )));
    }
    log::warn!(target: "seccomp.notify", "{why}: the plain filter is installed; denials are enforced but not reported (Linux 5.0+ needed, and no parent filter with a listener)");
    Ok(None)
}

/// The spec of sshd run alongside the command: the workload's posture and filters, a
/// session of its own, /dev/null in, the log pipe's write end as stderr, its listening
/// socket on descriptor 3. Also returns the
/// /dev/null descriptor, closed once sshd has started.
fn companion_spec(
    plan: &Plan,
    s: &crate::sshd::SshdPlan,
    main: &ChildSpec,
    log_fd: std::os::fd::RawFd,
    listen: Option<std::os::fd::RawFd>,
) -> Result<(ChildSpec, std::os::fd::RawFd)> {
    use std::os::unix::ffi::OsStrExt;
    let devnull = sys::open_devnull().map_err(|e| Error::internal(format!("/dev/null: {e}")))?;
    let argv = s
        .argv
        .iter()
        .map(|a| crate::sandbox::cstring(a.as_bytes(), "an sshd argument"))
        .collect::<Result<Vec<_>>>()?;
    let spec = ChildSpec::new(
        plan.child_posture(),
        ExecSpec {
            candidates: vec![argv[0].clone()],
            argv,
            envp: plan.envp()?,
        },
        ChildOptions {
            keep_fds: &[],
            filters: plan.seccomp.programs.clone(),
            sigmask: main.sigmask,
            terminal: crate::sandbox::Terminal::NewSession,
            core_zero: main.core_zero,
            landlock: main.landlock,
            stdin: Some(devnull),
            stderr: Some(log_fd),
            parent_death_signal: libc::SIGTERM,
            notify: None,
            listen,
        },
    );
    Ok((spec, devnull))
}

#[cfg(test)]
mod tests {
    use super::Running;

    /// Whether `pid` is still a process (a zombie counts: not yet reaped).
    fn exists(pid: libc::pid_t) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_dropped_process_is_killed_and_reaped_and_a_released_one_is_left_running() {
        let spawn = || {
            let c = std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let pid = c.id() as libc::pid_t;
            std::mem::forget(c); // the guard owns it now
            pid
        };
        // an early return (an error after the spawn) drops the guard
        let dropped = spawn();
        let early_return = |r: Running| -> Result<(), ()> {
            let _r = r;
            Err(())
        };
        assert!(early_return(Running { pid: dropped }).is_err());
        assert!(!exists(dropped), "killed and reaped, not left a zombie");

        let kept = spawn();
        let pid = Running { pid: kept }.release();
        assert_eq!(pid, kept);
        assert!(exists(kept), "released: the supervisor's loop ends it");
        crate::init::kill_and_reap(kept);
        assert!(!exists(kept));
    }
}
