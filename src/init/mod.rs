//! PID 1 duties: fork the hardened child, forward signals, reap every exited process, and
//! exit with the child's status (tini's recipe), or `execve` in place with `--exec`.

use crate::error::{Error, Result};
use crate::plan::{Mode, Plan};
use crate::sandbox::{self, ChildSpec, Failure, Step};
use crate::sys::{self, SigSet, Wait};

/// Signals never blocked in the supervisor: synchronous faults must kill it, as in tini.
const UNBLOCKED: &[i32] = &[
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

fn failure_error(plan: &Plan, f: Failure) -> Error {
    let cmd = plan.command[0].to_string_lossy();
    let why = if f.errno != 0 {
        sys::strerror(f.errno)
    } else {
        "check failed".to_string()
    };
    match f.step {
        Step::Exec if f.errno == libc::ENOENT || f.errno == libc::ENOTDIR => Error::with_code(
            f.exit_code(),
            format!("command not found: {cmd:?} ({why}); check the command name and PATH"),
        ),
        Step::Exec => Error::with_code(
            f.exit_code(),
            format!("cannot execute {cmd:?}: {why}; check that it is an executable file the workload user may run"),
        ),
        s @ (Step::Groups | Step::Gid | Step::Uid) if f.errno == libc::EPERM => Error::hardening(format!(
            "hardening failed at step '{}': {why}; the container lacks CAP_SETUID/CAP_SETGID: add SETUID, SETGID and SETPCAP (docker --cap-add, securityContext.capabilities.add) or start it as the target user; the workload was not started",
            s.describe()
        )),
        s => Error::hardening(format!(
            "hardening failed at step '{}': {why}; the workload was not started",
            s.describe()
        )),
    }
}

fn single_threaded() -> Result<()> {
    match sys::thread_count() {
        Some(1) => Ok(()),
        Some(n) => Err(Error::internal(format!(
            "refusing to fork: the process has {n} threads (must be 1)"
        ))),
        None => Err(Error::internal(
            "refusing to fork: cannot read the thread count from /proc/self/stat (is /proc mounted?)",
        )),
    }
}

fn log_start(plan: &Plan) {
    let id = &plan.identity;
    log::info!(target: "init.mode", mode = plan.mode.name(), pid = sys::getpid(); "running as {}", match plan.mode {
        Mode::Pid1 => "PID 1: forwarding signals and reaping zombies",
        Mode::Subreaper => "child subreaper (not PID 1): forwarding signals and reaping descendants",
        Mode::Exec => "exec in place (--exec): no supervisor",
    });
    if id.switch {
        log::info!(target: "priv.drop", uid = id.uid, gid = id.gid, groups = format!("{:?}", id.groups).as_str(), groups_source = id.groups_source.as_str(), keep_caps = format!("{:?}", plan.keep_names).as_str();
            "dropping root to uid {} gid {}", id.uid, id.gid);
    } else {
        log::warn!(target: "priv.verify", uid = id.uid, gid = id.gid, groups = format!("{:?}", id.groups).as_str();
            "started non-root: keeping uid {} (verify-only), removing remaining capabilities", id.uid);
    }
    if !plan.can_drop_bounding {
        log::warn!(target: "priv.bounding", "the capability bounding set cannot be emptied without CAP_SETPCAP; it is left as is, inert under no_new_privs (no setuid or file-capability gains); add SETPCAP to the container to empty it");
    }
    if id.home_fallback {
        log::warn!(target: "identity.home", home = id.home.display().to_string().as_str(); "HOME unset, '/', or not writable by uid {}: using a private fallback", id.uid);
    }
    let sc = &plan.seccomp;
    if sc.unconfined {
        log::warn!(target: "seccomp.install", profile = "unconfined"; "seccomp is OFF (--seccomp unconfined): the workload can use every system call");
    } else {
        log::info!(target: "seccomp.install", profile = sc.name.as_str(), filters = sc.programs.len(), syscalls = sc.syscalls, skipped_other_arch = sc.skipped_other_arch.len(), precompiled = sc.resolved.is_none();
            "installing seccomp profile {}", sc.name);
        if !sc.skipped_other_arch.is_empty() {
            log::debug!(target: "seccomp.skip", count = sc.skipped_other_arch.len(); "syscall names for other architectures skipped: {}", sc.skipped_other_arch.join(","));
        }
    }
    if plan.core_dumps {
        log::warn!(target: "priv.core", "core dumps allowed (--allow-core-dumps)");
    }
    for (k, v) in &plan.env {
        let k = k.to_string_lossy();
        log::debug!(target: "child.env", name = k.as_ref(), value = crate::log::redact(&k, &v.to_string_lossy()); "environment");
    }
}

/// Manifests, then the pickle scan: a poisoned checkpoint never reaches Python.
fn verify_models(plan: &Plan) -> Result<()> {
    if !plan.verify_manifests.is_empty() {
        crate::models::verify(&plan.verify_manifests)?;
    }
    if !plan.scan_models.is_empty() {
        let r = crate::models::scan(&plan.scan_models, &plan.allow_globals)?;
        log::info!(target: "model.scan", files = r.files.len(), clean = r.clean, refused = r.refused,
            bytes_read = r.bytes_read, bytes_total = r.bytes_total, millis = r.millis;
            "scanned {} model file(s)", r.files.len());
        if let Some(f) = r.files.iter().find(|f| !f.clean) {
            return Err(Error::data(format!(
                "refusing to start: {}; remove the file, re-save it as a state_dict or safetensors, or --allow-global MODULE.NAME if you trust it",
                crate::models::refusal_line(f)
            )));
        }
    }
    Ok(())
}

/// Run the plan: exec in place or supervise. Returns the exit status.
/// The asynchronous signals the supervisor takes with `sigtimedwait`.
fn async_signals() -> SigSet {
    let mut set = SigSet::full();
    for s in UNBLOCKED {
        set.remove(*s);
    }
    set
}

/// Block every asynchronous signal, first thing (as tini does): a signal that arrives while
/// secure-init prepares stays pending and is forwarded once the command runs. Returns the
/// original mask, which the command gets back.
pub fn block_signals() -> Result<SigSet> {
    sys::sigprocmask_set(&async_signals())
        .map_err(|e| Error::internal(format!("sigprocmask: {}", sys::strerror(e))))
}

/// Signals that ask the container to stop: when one is already pending before the fork,
/// the command is not started at all.
const STOP_SIGNALS: &[i32] = &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

pub fn launch(plan: &Plan, old_mask: SigSet) -> Result<i32> {
    log_start(plan);
    crate::gpu::preflight(&plan.gpu)?;
    verify_models(plan)?;
    if let Some(j) = &plan.jupyter {
        crate::jupyter::write(j)?;
    }
    if plan.mode == Mode::Exec {
        let spec = ChildSpec::prepare(plan, old_mask, false)?;
        single_threaded()?;
        let f = sandbox::enter(&spec);
        return Err(failure_error(plan, f));
    }
    if plan.mode == Mode::Subreaper {
        sys::set_child_subreaper().map_err(|e| {
            Error::hardening(format!(
                "cannot become a child subreaper: {}",
                sys::strerror(e)
            ))
        })?;
    }
    // Nobody may read our memory or environment while we wait (the workload included).
    sys::set_dumpable(false)
        .map_err(|e| Error::hardening(format!("PR_SET_DUMPABLE: {}", sys::strerror(e))))?;

    let block = async_signals();
    let pending = sys::sigpending();
    if let Some(sig) = STOP_SIGNALS.iter().find(|s| pending.contains(**s)) {
        log::warn!(target: "init.stop", signal = *sig; "signal {sig} arrived before the command started: not starting it");
        return Ok(128 + sig);
    }
    // As tini: the supervisor ignores SIGTTIN/SIGTTOU so terminal hand-over cannot stop it.
    let _ = sys::set_signal_disposition(libc::SIGTTIN, true);
    let _ = sys::set_signal_disposition(libc::SIGTTOU, true);

    let spec = ChildSpec::prepare(plan, old_mask, true)?;
    let (rd, wr) =
        sys::pipe_cloexec().map_err(|e| Error::internal(format!("pipe: {}", sys::strerror(e))))?;
    single_threaded()?;
    let child =
        match sys::fork().map_err(|e| Error::internal(format!("fork: {}", sys::strerror(e))))? {
            sys::Fork::Child => {
                sys::close(rd);
                let f = sandbox::enter(&spec);
                sandbox::report_and_exit(wr, f)
            }
            sys::Fork::Parent(pid) => pid,
        };
    sys::close(wr);
    drop(spec);
    let mut buf = [0u8; 8];
    let n = sys::read_full(rd, &mut buf).unwrap_or(0);
    sys::close(rd);
    if n == 8 {
        let _ = sys::waitpid(child, false);
        let f = Failure::decode(&buf)
            .ok_or_else(|| Error::internal("child reported an unknown failure"))?;
        return Err(failure_error(plan, f));
    }
    log::info!(target: "child.start", pid = child; "started {:?}", plan.command[0]);

    if let Err(e) = drop_supervisor(plan) {
        let _ = sys::kill(child, libc::SIGKILL);
        let _ = sys::waitpid(child, false);
        return Err(e);
    }
    Ok(supervise(child, plan.kill_process_group, &block))
}

/// The supervisor drops to the workload's uid, clears its capabilities, sets no_new_privs
/// and stays non-dumpable.
fn drop_supervisor(plan: &Plan) -> Result<()> {
    let id = &plan.identity;
    let err = |what: &str, e: i32| {
        Error::hardening(format!(
            "supervisor could not {what}: {}; the workload was stopped",
            sys::strerror(e)
        ))
    };
    if plan.can_drop_bounding {
        for cap in 0..=plan.last_cap {
            sys::capbset_drop(cap).map_err(|e| err("drop its bounding set", e))?;
        }
    }
    if id.switch {
        sys::setgroups(&id.groups).map_err(|e| err("set its groups", e))?;
        sys::setresgid(id.gid).map_err(|e| err("set its gid", e))?;
        sys::setresuid(id.uid).map_err(|e| err("set its uid", e))?;
    }
    sys::capset(sys::CapSets::default()).map_err(|e| err("clear its capabilities", e))?;
    sys::ambient_clear_all().map_err(|e| err("clear its ambient capabilities", e))?;
    sys::set_no_new_privs().map_err(|e| err("set no_new_privs", e))?;
    sys::set_dumpable(false).map_err(|e| err("become non-dumpable", e))?;
    log::debug!(target: "supervisor.drop", uid = sys::getuid(); "supervisor dropped its privileges");
    Ok(())
}

fn supervise(child: libc::pid_t, kill_pg: bool, waitset: &SigSet) -> i32 {
    let target = if kill_pg { -child } else { child };
    let mut released = false;
    loop {
        // The first wait is short: once the workload has run undisturbed for 100 ms, the
        // supervisor gives back the memory only its start-up needed (not before, so a
        // command that exits at once is not kept waiting for it).
        match sys::sigtimedwait(waitset, if released { 1000 } else { 100 }) {
            Ok(None) if !released => {
                released = true;
                let bytes = sys::release_startup_memory();
                log::debug!(target: "supervisor.memory", bytes = bytes; "released start-up pages");
            }
            Ok(Some(libc::SIGCHLD)) | Ok(None) => {}
            Ok(Some(sig)) => {
                log::debug!(target: "signal.forward", signal = sig, pid = target; "forwarding signal {sig}");
                if let Err(e) = sys::kill(target, sig) {
                    if e != libc::ESRCH {
                        log::warn!(target: "signal.forward", signal = sig; "cannot forward signal {sig}: {}", sys::strerror(e));
                    }
                }
            }
            Err(e) => log::warn!(target: "signal.wait", "sigtimedwait: {}", sys::strerror(e)),
        }
        // Reap everything that has exited: the child and any re-parented orphan.
        let mut status = None;
        loop {
            match sys::waitpid(-1, true) {
                Ok(Wait::Exited(pid, code)) if pid == child => status = Some(code),
                Ok(Wait::Signaled(pid, sig)) if pid == child => status = Some(128 + sig),
                Ok(Wait::Exited(pid, _)) | Ok(Wait::Signaled(pid, _)) => {
                    log::debug!(target: "reap", pid = pid; "reaped orphan {pid}");
                }
                Ok(Wait::Other(_)) => {}
                Ok(Wait::None) | Ok(Wait::NoChildren) => break,
                Err(e) => {
                    log::warn!(target: "reap", "waitpid: {}", sys::strerror(e));
                    break;
                }
            }
        }
        if let Some(code) = status {
            log::info!(target: "child.exit", pid = child, status = code; "child exited with status {code}");
            return code;
        }
    }
}
