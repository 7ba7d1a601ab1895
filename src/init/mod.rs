//! The supervisor, and only the supervisor (tini's duties): block signals, spawn the hardened
//! child, take the supervisor's own posture, forward signals, reap every exited process, end
//! what the command left behind, and return the child's status. The order in which these
//! are called is `start.rs`'s business.

pub mod aside;
pub mod listener;

use crate::error::{Error, Result};
use crate::sandbox::{self, ChildSpec, Failure, Posture, Step};
use crate::sys::{self, SigSet, Wait};
use std::time::{Duration, Instant};

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

/// Signals that ask the container to stop: when one is already pending before the fork,
/// the command is not started at all.
const STOP_SIGNALS: &[i32] = &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// The asynchronous signals the supervisor takes with `sigtimedwait`.
pub fn async_signals() -> SigSet {
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
    sys::sigprocmask_set(&async_signals()).map_err(|e| Error::internal(format!("sigprocmask: {e}")))
}

/// A stop request (SIGTERM, SIGINT, SIGHUP, SIGQUIT) already pending.
pub fn stop_pending() -> Option<i32> {
    let pending = sys::sigpending();
    STOP_SIGNALS.iter().copied().find(|s| pending.contains(*s))
}

/// Refuse unless the process is single-threaded (waiting briefly for threads just joined to
/// leave the kernel).
pub fn require_single_threaded(what: &str) -> Result<()> {
    match sys::wait_single_threaded(500) {
        Some(1) => Ok(()),
        Some(n) => Err(Error::internal(format!(
            "refusing to {what}: the process has {n} threads (must be 1)"
        ))),
        None => Err(Error::internal(format!(
            "refusing to {what}: cannot read the thread count from /proc/self/stat (is /proc mounted?)"
        ))),
    }
}

/// What the child needs: the spec and the report pipe's write end.
struct ChildArgs<'a> {
    spec: &'a ChildSpec,
    report: std::os::fd::RawFd,
}

/// The child's entry point (on its own stack, sharing the parent's memory): harden, exec,
/// or report the failed step and `_exit`. Never returns.
#[allow(unsafe_code)] // the child's hardening: unsafe by contract (single-threaded)
fn child_main(a: &ChildArgs) -> ! {
    // SAFETY: the child is one task of a process that was single-threaded at the clone.
    let f = unsafe { sandbox::enter(a.spec) };
    sandbox::report_and_exit(a.report, f)
}

/// Start the child, which hardens itself and execs (`sandbox::enter`), sharing this
/// process's memory until its `execve` (`sys::spawn_shared`: no page-table copy, no
/// copy-on-write faults). Returns its pid once it has exec'd (the close-on-exec report pipe
/// closed), or the step that failed.
pub fn spawn(spec: &ChildSpec) -> Result<std::result::Result<libc::pid_t, Failure>> {
    let (rd, mut wr) = sys::pipe_cloexec().map_err(|e| Error::internal(format!("pipe: {e}")))?;
    if spec.listen.is_some() && wr <= 3 {
        // the child puts a listening socket on descriptor 3 before its exec: the report
        // pipe, written after that when the exec fails, must not be there
        let moved = sys::dup_above(wr, 4).map_err(|e| Error::internal(format!("fcntl: {e}")))?;
        sys::close(wr);
        wr = moved;
    }
    let mut stack = sys::ChildStack::new(256 << 10)
        .map_err(|e| Error::internal(format!("child stack: {e}")))?;
    let args = ChildArgs { spec, report: wr };
    require_single_threaded("start the command")?;
    // SAFETY: single-threaded (checked just above); `child_main` never returns, runs only
    // the allocation-free, lock-free `sandbox::enter` and writes only to its own stack (and
    // errno); `args` and `stack` outlive the child's use of them: this thread is suspended
    // until the child has exec'd or exited.
    // (allowed: the clone is unsafe by contract — single-threaded, a child that never returns)
    #[allow(unsafe_code)]
    let child = unsafe { sys::spawn_shared(child_main, &args, &mut stack) }
        .map_err(|e| Error::internal(format!("clone: {e}")))?;
    drop(stack);
    sys::close(wr);
    let mut buf = [0u8; 8];
    let n = sys::read_full(rd, &mut buf).unwrap_or(0);
    sys::close(rd);
    if n == 8 {
        let _ = sys::waitpid(child, false);
        let f = Failure::decode(&buf)
            .ok_or_else(|| Error::internal("child reported an unknown failure"))?;
        return Ok(Err(f));
    }
    Ok(Ok(child))
}

/// Give back the pages only start-up needed ([`sys::release_startup_memory`]).
#[allow(unsafe_code)] // the release is unsafe by contract: no thread may remap the binary
fn release_startup_memory() -> usize {
    // SAFETY: the supervisor's other threads (the sshd log relay, the seccomp listener) read
    // descriptors, answer notifications and write logs: none maps, unmaps or mprotects
    // anything, least of all the executable's own mappings.
    unsafe { sys::release_startup_memory() }
}

/// The supervisor takes its own posture (a uid of its own and `CAP_KILL` only when started
/// as root), through the same steps and verification as the child, and stays non-dumpable.
pub fn drop_supervisor(p: &Posture) -> Result<()> {
    require_single_threaded("drop the supervisor's privileges")?;
    let err = |f: Failure| {
        Error::hardening(format!(
            "supervisor could not {}: {}; the workload was stopped",
            f.step.describe(),
            if f.errno != 0 {
                sys::Errno(f.errno).to_string()
            } else {
                "check failed".into()
            }
        ))
    };
    // SAFETY: single-threaded, checked above.
    #[allow(unsafe_code)] // the supervisor's own drop: unsafe by contract (single-threaded)
    unsafe { sandbox::drop_privileges(p) }.map_err(err)?;
    sys::set_dumpable(false).map_err(|e| {
        err(Failure {
            step: Step::NoNewPrivs,
            errno: e.raw(),
        })
    })?;
    sandbox::verify(p).map_err(err)?;
    log::debug!(target: "supervisor.drop", uid = sys::getuid(), cap_kill = p.keep_mask != 0;
        "supervisor dropped its privileges");
    Ok(())
}

/// A thread of the supervisor (the seccomp listener, the sshd log reader) whose end can be
/// awaited with a limit: it is never joined, so a thread that could block never holds up
/// the exit. Its end is seen at once (the channel's sender is dropped with the thread's
/// closure), not by polling.
pub struct Worker {
    done: std::sync::mpsc::Receiver<()>,
}

impl Worker {
    pub fn spawn(
        name: &str,
        stack: usize,
        f: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Worker> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(stack)
            .spawn(move || {
                let _done = tx;
                f()
            })?;
        Ok(Worker { done: rx })
    }

    /// Wait up to `limit` for the thread to end.
    pub fn wait(&self, limit: Duration) {
        let _ = self.done.recv_timeout(limit);
    }
}

/// SIGKILL a child and reap it (a start that cannot go on).
pub fn kill_and_reap(pid: libc::pid_t) {
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = sys::waitpid(pid, false);
}

/// A process started next to the command (sshd with `--sshd`): stopped when the command
/// exits; when it exits first, the command is asked to stop (SIGTERM).
#[derive(Debug, Clone, Copy)]
pub struct Companion {
    pub pid: libc::pid_t,
    pub name: &'static str,
}

/// Signals also forwarded to a companion: the stop requests.
const COMPANION_SIGNALS: &[i32] = &[libc::SIGTERM, libc::SIGINT, libc::SIGQUIT];

/// How the job is stopped: the grace before SIGKILL, and the signals rewritten on the way.
pub struct Stop {
    pub grace: Duration,
    pub map: Vec<(i32, i32)>,
}

/// A stop request forwarded to the command: when, which signal it received and sent, and
/// the deadline after which the command gets SIGKILL.
struct Stopping {
    at: Instant,
    received: i32,
    sent: i32,
    deadline: Instant,
    killed: bool,
}

/// Why the command ended, from the files opened while the supervisor was root: the cgroup's
/// OOM kills and peak memory, and the termination log (Kubernetes shows it).
pub struct ExitReport {
    pub memory: crate::cgroup::Memory,
    pub termination_log: Option<std::fs::File>,
}

/// Log `child.exit` with the reason, and write it to the termination log.
fn report_exit(child: libc::pid_t, code: i32, status: Wait, report: &mut ExitReport) {
    let oom = report.memory.oom_kills().unwrap_or(0);
    let peak = report.memory.peak();
    let (reason, msg) = match status {
        Wait::Signaled(_, libc::SIGKILL) if oom > 0 => (
            "oom_killed",
            format!("child was killed by the out-of-memory killer (SIGKILL; the container's memory cgroup counted {oom} OOM kill(s)): raise the memory limit or lower the batch size / DataLoader workers"),
        ),
        Wait::Signaled(_, sig) => (
            "signaled",
            format!("child was killed by {} (status {code})", crate::signals::name(sig)),
        ),
        _ if oom > 0 => (
            "exited",
            format!("child exited with status {code}; the out-of-memory killer ended {oom} of its processes (a DataLoader worker?)"),
        ),
        _ => ("exited", format!("child exited with status {code}")),
    };
    let peak_mib = peak.map(|b| (b as f64 / 1048576.0 * 10.0).round() / 10.0);
    let signal = match status {
        Wait::Signaled(_, s) => Some(crate::signals::name(s)),
        _ => None,
    };
    if reason == "oom_killed" {
        log::error!(target: "child.exit", pid = child, status = code, reason = reason,
            signal = signal.as_deref(), oom_kills = oom, peak_memory_bytes = peak; "{msg}");
    } else {
        log::info!(target: "child.exit", pid = child, status = code, reason = reason,
            signal = signal.as_deref(), oom_kills = oom, peak_memory_bytes = peak; "{msg}");
    }
    if let Some(f) = report.termination_log.as_mut() {
        use std::io::{Seek, Write};
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = writeln!(
            f,
            "secure-init: {msg}{}",
            peak_mib
                .map(|p| format!(" (peak memory {p} MiB)"))
                .unwrap_or_default()
        );
    }
}

/// Forward signals (rewritten by `stop.map`) and reap until the child is gone; a command
/// that has not exited `stop.grace` after a forwarded stop request gets SIGKILL. Then stop
/// a companion and end the leftovers within the same deadline. Returns the child's status
/// (its exit code, or 128+N for signal N).
pub fn supervise(
    child: libc::pid_t,
    kill_pg: bool,
    companion: Option<Companion>,
    listener: &mut listener::ListenerState,
    stop: &Stop,
    report: &mut ExitReport,
) -> i32 {
    let waitset = async_signals();
    let target = if kill_pg { -child } else { child };
    let mut released = false;
    let mut companion_alive = companion.is_some();
    let mut stop_forwarded = false;
    let mut stopping: Option<Stopping> = None;
    // While no thread answers the seccomp listener, the supervisor watches it beside the
    // signals (a signalfd: the signals stay blocked, and are taken one at a time).
    let mut sfd = None;
    loop {
        // The first wait is short: once the workload has run undisturbed for 100 ms, the
        // supervisor gives back the memory only its start-up needed (not before, so a
        // command that exits at once is not kept waiting for it).
        let mut timeout: i32 = if released { 1000 } else { 100 };
        if let Some(s) = stopping.as_ref().filter(|s| !s.killed) {
            let left = s.deadline.saturating_duration_since(Instant::now());
            timeout = timeout.min(left.as_millis() as i32 + 1);
        }
        let woke = match listener.waiting_fd() {
            None => sys::sigtimedwait(&waitset, timeout as i64),
            Some(fd) => {
                if sfd.is_none() {
                    match sys::signalfd(&waitset) {
                        Ok(s) => sfd = Some(s),
                        Err(e) => {
                            log::warn!(target: "seccomp.listener", "signalfd: {e}: the listener starts now");
                            listener.woken(true);
                            continue;
                        }
                    }
                }
                match sys::wait_signal_or_fd(sfd.unwrap_or(-1), fd, timeout) {
                    Ok(sys::Woken::Signal(s)) => Ok(Some(s)),
                    Ok(sys::Woken::Timeout) => Ok(None),
                    Ok(sys::Woken::Fd { readable }) => {
                        listener.woken(readable);
                        continue;
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match woke {
            Ok(None) if !released => {
                released = true;
                let bytes = release_startup_memory();
                log::debug!(target: "supervisor.memory", bytes = bytes; "released start-up pages");
            }
            Ok(Some(libc::SIGCHLD)) | Ok(None) => {}
            Ok(Some(received)) => {
                let sig = crate::signals::mapped(&stop.map, received);
                if sig == 0 {
                    log::debug!(target: "signal.forward", signal = received; "signal {received} dropped (--signal-map)");
                } else {
                    log::debug!(target: "signal.forward", signal = sig, received = received, pid = target; "forwarding signal {sig}");
                    if let Err(e) = sys::kill(target, sig) {
                        if e.raw() != libc::ESRCH {
                            log::warn!(target: "signal.forward", signal = sig; "cannot forward signal {sig}: {e}");
                        }
                    }
                }
                if COMPANION_SIGNALS.contains(&received) {
                    stop_forwarded = true;
                    if stopping.is_none() {
                        let now = Instant::now();
                        log::info!(target: "child.stop", pid = child, received = crate::signals::name(received).as_str(),
                            sent = crate::signals::name(sig).as_str(), grace_s = stop.grace.as_secs();
                            "stop requested ({}{}): SIGKILL in {} s unless the command has exited",
                            crate::signals::name(received),
                            if sig != received { format!(", forwarded as {}", crate::signals::name(sig)) } else { String::new() },
                            stop.grace.as_secs());
                        stopping = Some(Stopping {
                            at: now,
                            received,
                            sent: sig,
                            deadline: now + stop.grace,
                            killed: false,
                        });
                    }
                }
                let sig = if COMPANION_SIGNALS.contains(&received) {
                    received
                } else {
                    sig
                };
                if let Some(c) = companion.filter(|_| companion_alive) {
                    if COMPANION_SIGNALS.contains(&sig) {
                        let _ = sys::kill(c.pid, sig);
                    }
                }
            }
            Err(e) => log::warn!(target: "signal.wait", "waiting for signals: {e}"),
        }
        sys::step_mark("woke");
        if let Some(s) = stopping
            .as_mut()
            .filter(|s| !s.killed && Instant::now() >= s.deadline)
        {
            if !sys::has_ended(child) {
                log::warn!(target: "child.stop", pid = child, killed = true, after_ms = s.at.elapsed().as_millis() as u64;
                    "the command did not exit within {} s of {}: SIGKILL (--stop-grace)", stop.grace.as_secs(), crate::signals::name(s.received));
                let _ = sys::kill(target, libc::SIGKILL);
            }
            s.killed = true;
        }
        let (code, gone) = reap(child, companion.map(|c| c.pid));
        if let (Some(c), Some(status)) = (companion, gone) {
            companion_alive = false;
            if code.is_none() && stop_forwarded {
                log::debug!(target: "companion.exit", name = c.name, status = status; "{} stopped", c.name);
            } else if code.is_none() {
                log::warn!(target: "companion.exit", name = c.name, pid = c.pid, status = status;
                    "{} exited with status {status}: stopping the command (SIGTERM, SIGKILL after {} s); the exit status will be the command's", c.name, stop.grace.as_secs());
                let _ = sys::kill(target, libc::SIGTERM);
                // the companion's death ends the job for real: a command that ignores the
                // SIGTERM gets SIGKILL at the stop grace, as after a forwarded stop
                if stopping.is_none() {
                    let now = Instant::now();
                    stopping = Some(Stopping {
                        at: now,
                        received: libc::SIGTERM,
                        sent: libc::SIGTERM,
                        deadline: now + stop.grace,
                        killed: false,
                    });
                }
            }
        }
        if let Some((code, status)) = code {
            if let Some(s) = &stopping {
                if !s.killed {
                    log::info!(target: "child.stop", pid = child, killed = false, exited_after_ms = s.at.elapsed().as_millis() as u64,
                        sent = crate::signals::name(s.sent).as_str();
                        "the command exited {} ms after {}", s.at.elapsed().as_millis(), crate::signals::name(s.sent));
                }
            }
            report_exit(child, code, status, report);
            // the leftovers share the stop's deadline (at least a second of it), or get the
            // whole grace after an ordinary exit
            let deadline = match &stopping {
                Some(s) => s
                    .deadline
                    .max(Instant::now() + Duration::from_secs(1).min(stop.grace)),
                None => Instant::now() + stop.grace,
            };
            if let Some(c) = companion.filter(|_| companion_alive) {
                stop_companion(c, deadline);
            }
            sys::step_mark("reaped");
            // Processes still under the command's filter (what it left behind) get answers
            // while they are ended; with none left the listener's descriptor hangs up.
            if let Some(fd) = listener.waiting_fd() {
                let hup = matches!(sys::poll_in(fd, 0), Ok((_, true)));
                listener.woken(!hup);
            }
            end_leftovers(deadline);
            sys::step_mark("leftovers");
            if let Some(s) = sfd {
                sys::close(s);
            }
            return code;
        }
    }
}

/// The command has exited: SIGTERM the companion, SIGKILL at `deadline`, reap it.
fn stop_companion(c: Companion, deadline: Instant) {
    log::info!(target: "companion.stop", name = c.name, pid = c.pid; "the command exited: stopping {}", c.name);
    let _ = sys::kill(c.pid, libc::SIGTERM);
    loop {
        if let (_, Some(status)) = reap(0, Some(c.pid)) {
            log::debug!(target: "companion.exit", name = c.name, status = status; "{} stopped", c.name);
            return;
        }
        if Instant::now() >= deadline {
            let _ = sys::kill(c.pid, libc::SIGKILL);
            let _ = sys::waitpid(c.pid, false);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reap everything that has exited: the child, the companion and any re-parented orphan.
/// The child's status (its code and how it ended) and the companion's, once they are among
/// them.
fn reap(child: libc::pid_t, companion: Option<libc::pid_t>) -> (Option<(i32, Wait)>, Option<i32>) {
    let (mut status, mut other) = (None, None);
    loop {
        let w = sys::waitpid(-1, true);
        let (pid, code) = match w {
            Ok(Wait::Exited(pid, code)) => (pid, code),
            Ok(Wait::Signaled(pid, sig)) => (pid, 128 + sig),
            Ok(Wait::Other(_)) => continue,
            Ok(Wait::None) | Ok(Wait::NoChildren) => return (status, other),
            Err(e) => {
                log::warn!(target: "reap", "waitpid: {e}");
                return (status, other);
            }
        };
        if pid == child {
            status = Some((code, w.unwrap_or(Wait::None)));
        } else if Some(pid) == companion {
            other = Some(code);
        } else {
            log::debug!(target: "reap", pid = pid; "reaped orphan {pid}");
        }
    }
}

/// The processes below `root`, walking `/proc/PID/task/TID/children` from `root` down (or,
/// where the kernel lacks those files, every `/proc/PID/stat`'s parent).
fn descendants(root: libc::pid_t) -> Vec<libc::pid_t> {
    let children_of = |pid: libc::pid_t| -> Option<Vec<libc::pid_t>> {
        let mut out = vec![];
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let tid = t.file_name();
            let s = std::fs::read_to_string(format!(
                "/proc/{pid}/task/{}/children",
                tid.to_string_lossy()
            ))
            .ok()?;
            out.extend(s.split_whitespace().filter_map(|c| c.parse::<i32>().ok()));
        }
        Some(out)
    };
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        match children_of(p) {
            Some(cs) => {
                for c in cs {
                    if !out.contains(&c) {
                        out.push(c);
                        frontier.push(c);
                    }
                }
            }
            // gone meanwhile, or no children files: fall back to the parent of every process
            None if p == root => return descendants_by_stat(root),
            None => {}
        }
    }
    out
}

fn descendants_by_stat(root: libc::pid_t) -> Vec<libc::pid_t> {
    let mut parent: Vec<(libc::pid_t, libc::pid_t)> = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // fields after the ")" of comm: state, ppid, ...
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            parent.push((pid, ppid));
        }
    }
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (c, pp) in &parent {
            if *pp == p && !out.contains(c) {
                out.push(*c);
                frontier.push(*c);
            }
        }
    }
    out
}

/// Whether this process has any child left (alive or not yet reaped). A PID 1 or subreaper
/// without children has no descendants at all: an orphan is re-parented to it.
fn has_children() -> bool {
    !matches!(sys::waitpid(-1, true), Ok(Wait::NoChildren))
}

/// Descendants the command left behind (daemons, background jobs, the trainer a wrapper
/// shell started): one SIGTERM (and SIGCONT, so a stopped one can act on it) each — a second
/// SIGTERM is "force quit" to many frameworks, and re-entering a handler that is writing a
/// checkpoint can lose it — then, at `deadline`, SIGKILL to those still there; each reaped
/// before secure-init exits. A process that appears meanwhile (forked by a leftover) gets its
/// own single SIGTERM. As PID 1 the kernel would kill them anyway when secure-init exits; as
/// a subreaper they would outlive it.
pub fn end_leftovers(deadline: Instant) {
    if !has_children() {
        return;
    }
    let me = sys::getpid();
    let left = descendants(me);
    if left.is_empty() {
        return;
    }
    let start = Instant::now();
    let grace = deadline.saturating_duration_since(start);
    log::warn!(target: "child.leftovers", count = left.len(), pids = format!("{left:?}").as_str(), grace_ms = grace.as_millis() as u64;
        "the command left {} process(es) behind: one SIGTERM each, SIGKILL to any left after {} ms", left.len(), grace.as_millis());
    let mut termed: Vec<libc::pid_t> = vec![];
    let mut killed: Vec<libc::pid_t> = vec![];
    loop {
        reap(0, None);
        let left = descendants(me);
        if left.is_empty() {
            break;
        }
        let late = Instant::now() >= deadline;
        for pid in &left {
            if late {
                if !killed.contains(pid) {
                    let _ = sys::kill(*pid, libc::SIGKILL);
                    killed.push(*pid);
                }
            } else if !termed.contains(pid) {
                let _ = sys::kill(*pid, libc::SIGTERM);
                let _ = sys::kill(*pid, libc::SIGCONT);
                termed.push(*pid);
            }
        }
        if late && start.elapsed() > grace + Duration::from_secs(5) {
            log::warn!(target: "child.leftovers", count = left.len(); "{} process(es) could not be ended", left.len());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    log::info!(target: "child.leftovers", terminated = termed.len() - killed.len().min(termed.len()), killed = killed.len(),
        after_ms = start.elapsed().as_millis() as u64;
        "leftovers ended after {} ms: {} after SIGTERM, {} by SIGKILL", start.elapsed().as_millis(), termed.len().saturating_sub(killed.len()), killed.len());
}

#[cfg(test)]
mod tests {
    use super::{descendants, descendants_by_stat, kill_and_reap};

    #[test]
    fn both_walks_find_the_whole_subtree_and_nothing_else() {
        // sh with two children of its own: one in the background, one in the foreground
        let sh = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 31; wait"])
            .spawn()
            .unwrap();
        let pid = sh.id() as libc::pid_t;
        std::mem::forget(sh);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let comm = |c: &libc::pid_t| std::fs::read_to_string(format!("/proc/{c}/comm"));
        let mut by_children = vec![];
        while std::time::Instant::now() < deadline {
            by_children = descendants(pid);
            // both forked and both exec'd (a child is "sh" until its exec)
            if by_children.len() == 2
                && by_children
                    .iter()
                    .all(|c| comm(c).is_ok_and(|n| n == "sleep\n"))
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        by_children.sort();
        let mut by_stat = descendants_by_stat(pid);
        by_stat.sort();
        assert_eq!(by_children.len(), 2, "{by_children:?}");
        assert_eq!(by_children, by_stat);
        for c in &by_children {
            let stat = std::fs::read_to_string(format!("/proc/{c}/stat")).unwrap();
            assert!(stat.contains("(sleep)"), "{stat}");
        }
        // a process without children has no descendants
        assert_eq!(descendants(by_children[0]), Vec::<libc::pid_t>::new());
        for c in by_children {
            let _ = crate::sys::kill(c, libc::SIGKILL);
        }
        kill_and_reap(pid);
    }
}
