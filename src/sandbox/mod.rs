//! THE order of hardening steps, run in the child between `fork` and `execve` (or in place
//! with `--exec`). The step numbers in the comments are those of docs "Operation".
//!
//! Nothing here allocates, locks or logs: every buffer is prepared in [`ChildSpec::new`]
//! before the fork, and a failure is returned as a (step, errno) pair that the caller
//! reports through the close-on-exec pipe. The privilege part ([`Posture`],
//! [`drop_privileges`], [`verify`]) is shared with the supervisor, which takes a posture of
//! its own after the command has started.
//!
//! This module knows nothing of the plan: it is given plain values.

use crate::error::{Error, Kind};
use crate::sys::{self, CStrArray, CapSets, Errno, SigSet};
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

/// The child's steps, in the order it runs them (`harden`, `drop_privileges`, `verify`,
/// then the exec). Their numbers travel through the report pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    Stdio = 1,
    SignalMask,
    Session,
    ProcessGroup,
    CloseFds,
    KeepFds,
    CoreLimit,
    BoundingSet,
    KeepCaps,
    Groups,
    Gid,
    Uid,
    CapSets,
    Ambient,
    NoNewPrivs,
    VerifyIds,
    VerifyGroups,
    VerifyCaps,
    VerifyAmbient,
    VerifyBounding,
    VerifyNoNewPrivs,
    VerifySetuid,
    ParentDeath,
    Landlock,
    Listen,
    Seccomp,
    /// Always last: [`Step::ALL`]'s length is taken from it.
    Exec,
}

impl Step {
    /// Every step, in discriminant order. The array's length is `Exec`'s number, so a step
    /// added to the enum but not here does not compile; a unit test checks the order.
    pub const ALL: [Step; Step::Exec as usize] = [
        Step::Stdio,
        Step::SignalMask,
        Step::Session,
        Step::ProcessGroup,
        Step::CloseFds,
        Step::KeepFds,
        Step::CoreLimit,
        Step::BoundingSet,
        Step::KeepCaps,
        Step::Groups,
        Step::Gid,
        Step::Uid,
        Step::CapSets,
        Step::Ambient,
        Step::NoNewPrivs,
        Step::VerifyIds,
        Step::VerifyGroups,
        Step::VerifyCaps,
        Step::VerifyAmbient,
        Step::VerifyBounding,
        Step::VerifyNoNewPrivs,
        Step::VerifySetuid,
        Step::ParentDeath,
        Step::Landlock,
        Step::Listen,
        Step::Seccomp,
        Step::Exec,
    ];

    pub fn from_u32(v: u32) -> Option<Step> {
        Self::ALL.get((v as usize).checked_sub(1)?).copied()
    }

    pub fn describe(self) -> &'static str {
        match self {
            Step::SignalMask => "restore the signal mask",
            Step::ProcessGroup => "give the child its own process group",
            Step::Session => "give the child its own session (a terminal it did not create)",
            Step::CloseFds => "mark descriptors above 2 close-on-exec",
            Step::KeepFds => "pass a --keep-fd descriptor on",
            Step::CoreLimit => "set RLIMIT_CORE to 0",
            Step::BoundingSet => "drop the capability bounding set",
            Step::KeepCaps => "set PR_SET_KEEPCAPS for kept capabilities",
            Step::Groups => "set supplementary groups",
            Step::Gid => "set real/effective/saved gid",
            Step::Uid => "set real/effective/saved uid",
            Step::CapSets => "set effective/permitted/inheritable capabilities",
            Step::Ambient => "set ambient capabilities",
            Step::NoNewPrivs => "set no_new_privs",
            Step::VerifyIds => "verify uid/gid (they are not the planned ones)",
            Step::VerifyGroups => "verify supplementary groups (they are not the planned ones)",
            Step::VerifyCaps => "verify capability sets (a capability is left)",
            Step::VerifyAmbient => "verify ambient capabilities (a capability is left)",
            Step::VerifyBounding => "verify the bounding set (a capability is left)",
            Step::VerifyNoNewPrivs => "verify no_new_privs (it is not set)",
            Step::VerifySetuid => "verify that setuid(0) fails (it succeeded)",
            Step::Landlock => "enforce the Landlock ruleset",
            Step::Listen => "put the listening socket on descriptor 3 (LISTEN_FDS)",
            Step::Stdio => "connect stdin/stderr (/dev/null, the log pipe)",
            Step::ParentDeath => "set the parent-death signal",
            Step::Seccomp => "install the seccomp filter",
            Step::Exec => "execute the command",
        }
    }
}

/// A failed step.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub step: Step,
    /// 0 when a check failed rather than a call.
    pub errno: i32,
}

impl Failure {
    pub fn encode(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&(self.step as u32).to_ne_bytes());
        b[4..].copy_from_slice(&self.errno.to_ne_bytes());
        b
    }

    pub fn decode(b: &[u8; 8]) -> Option<Failure> {
        let step = Step::from_u32(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))?;
        Some(Failure {
            step,
            errno: i32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// The one place that decides not found (127) / not executable (126) / hardening (77).
    pub fn kind(self) -> Kind {
        match self.step {
            Step::Exec if self.errno == libc::ENOENT || self.errno == libc::ENOTDIR => {
                Kind::NotFound
            }
            Step::Exec => Kind::NotExecutable,
            _ => Kind::Hardening,
        }
    }

    /// secure-init's exit code for this failure.
    pub fn exit_code(self) -> i32 {
        self.kind().exit_code()
    }

    /// The failure as secure-init's error, for command `cmd` (allocates: parent only).
    pub fn to_error(self, cmd: &str) -> Error {
        let why = if self.errno != 0 {
            Errno(self.errno).to_string()
        } else {
            "check failed".to_string()
        };
        let msg = match (self.kind(), self.step) {
            (Kind::NotFound, _) => {
                format!("command not found: {cmd:?} ({why}); check the command name and PATH")
            }
            (Kind::NotExecutable, _) => format!(
                "cannot execute {cmd:?}: {why}; check that it is an executable file the workload user may run"
            ),
            (_, s @ (Step::Groups | Step::Gid | Step::Uid)) if self.errno == libc::EPERM => format!(
                "hardening failed at step '{}': {why}; the container lacks CAP_SETUID/CAP_SETGID: add SETUID, SETGID, SETPCAP and KILL (docker --cap-add, securityContext.capabilities.add) or start it as the target user; the workload was not started",
                s.describe()
            ),
            (_, s) => format!(
                "hardening failed at step '{}': {why}; the workload was not started",
                s.describe()
            ),
        };
        Error::new(self.kind(), msg)
    }
}

/// At most this many supplementary groups (kept in a fixed array: no allocation after fork).
pub const MAX_GROUPS: usize = 1024;
/// How many descriptors `--keep-fd` can pass on.
pub const MAX_KEEP_FDS: usize = 64;

/// A privilege posture: ids, groups, capabilities, no_new_privs. Plain data, prepared
/// before the fork.
#[derive(Clone)]
pub struct Posture {
    /// Change ids (started as root); false: keep them (verify-only).
    pub switch_ids: bool,
    pub uid: u32,
    pub gid: u32,
    groups: [libc::gid_t; MAX_GROUPS],
    ngroups: usize,
    /// Capabilities kept in the effective and permitted sets.
    pub keep_mask: u64,
    /// The kept capabilities are also inheritable and ambient, so the command keeps them
    /// across `execve` (the child); false for a process that never execs (the supervisor).
    pub ambient: bool,
    pub last_cap: u32,
    /// The bounding set can be emptied (CAP_SETPCAP is effective).
    pub drop_bounding: bool,
}

impl Posture {
    /// `groups` must be sorted, deduplicated and at most [`MAX_GROUPS`] long (the plan
    /// checks it).
    pub fn new(
        switch_ids: bool,
        (uid, gid): (u32, u32),
        groups: &[u32],
        keep_mask: u64,
        ambient: bool,
        last_cap: u32,
        drop_bounding: bool,
    ) -> Posture {
        let mut g = [0 as libc::gid_t; MAX_GROUPS];
        let n = groups.len().min(MAX_GROUPS);
        g[..n].copy_from_slice(&groups[..n]);
        Posture {
            switch_ids,
            uid,
            gid,
            groups: g,
            ngroups: n,
            keep_mask,
            ambient,
            last_cap,
            drop_bounding,
        }
    }

    fn groups(&self) -> &[libc::gid_t] {
        &self.groups[..self.ngroups]
    }
}

/// How the child relates to the terminal on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// Nothing to do (`--exec`).
    Keep,
    /// Own process group, the terminal's foreground group when stdin is one: job control
    /// on a terminal secure-init's session owns (`docker run -it`).
    ProcessGroup,
    /// Own session, without a controlling terminal: stdin is a terminal of a session
    /// secure-init does not lead (started by hand from a shell), so the workload must not
    /// be able to push input into it (TIOCSTI) or take its foreground.
    NewSession,
}

/// Everything the child needs, prepared before the fork.
pub struct ChildSpec {
    pub sigmask: SigSet,
    /// Signals whose disposition is reset to the default (those ignored at the fork).
    pub reset_signals: u64,
    pub terminal: Terminal,
    pub core_zero: bool,
    pub posture: Posture,
    keep_fds: [i32; MAX_KEEP_FDS],
    n_keep_fds: usize,
    pub filters: Vec<Vec<libc::sock_filter>>,
    /// The Landlock ruleset to enforce (made before the fork), if any, with the flags of
    /// `landlock_restrict_self`.
    pub landlock: Option<(RawFd, u32)>,
    /// Descriptors put on 0 and 2 before anything else (a companion's /dev/null and log
    /// pipe); None: inherited.
    pub stdin: Option<RawFd>,
    pub stderr: Option<RawFd>,
    /// Signal the child gets when the supervisor dies (0: none): a companion must not
    /// outlive the supervisor that reads its log.
    pub parent_death_signal: i32,
    /// Denials reported to the supervisor (see [`Notify`]).
    pub notify: Option<Notify>,
    /// A listening socket handed over as systemd's socket activation does: on descriptor 3,
    /// with `LISTEN_FDS=1` and `LISTEN_PID` (the child's own pid, written after the fork).
    pub listen: Option<RawFd>,
    /// The supervisor (suspended until the exec) and the CPUs it may run on: the child
    /// moves it off the child's own CPU (init::aside). None: nothing moves.
    pub step_aside: Option<(libc::pid_t, sys::CpuSet)>,
    candidates: Vec<CString>,
    argv: CStrArray,
    envp: CStrArray,
}

/// The command as C strings: the paths to try, argv and the environment.
pub struct ExecSpec {
    pub candidates: Vec<CString>,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

/// The rest of what the child does, besides its posture and its command.
pub struct ChildOptions<'a> {
    /// Descriptors above 2 passed on (`--keep-fd`).
    pub keep_fds: &'a [i32],
    /// The seccomp program(s), installed last.
    pub filters: Vec<Vec<libc::sock_filter>>,
    /// The signal mask the command gets.
    pub sigmask: SigSet,
    pub terminal: Terminal,
    /// `RLIMIT_CORE` = 0.
    pub core_zero: bool,
    /// The Landlock ruleset to enforce, with the flags of `landlock_restrict_self`.
    pub landlock: Option<(RawFd, u32)>,
    /// Replace stdin / stderr (see [`ChildSpec::stdin`]).
    pub stdin: Option<RawFd>,
    pub stderr: Option<RawFd>,
    /// See [`ChildSpec::parent_death_signal`].
    pub parent_death_signal: i32,
    pub notify: Option<Notify>,
    /// See [`ChildSpec::listen`].
    pub listen: Option<RawFd>,
}

/// The first filter installed with a listener (`SECCOMP_FILTER_FLAG_NEW_LISTENER`) whose
/// descriptor goes to the supervisor over `sock`; where the kernel (or a parent filter)
/// refuses, the plain filter is installed and the errno sent instead.
pub struct Notify {
    /// The filter with denials as `SECCOMP_RET_USER_NOTIF` (replaces `filters[0]`).
    pub program: Vec<libc::sock_filter>,
    pub sock: RawFd,
}

impl ChildSpec {
    pub fn new(posture: Posture, exec: ExecSpec, o: ChildOptions) -> ChildSpec {
        let ChildOptions {
            keep_fds,
            filters,
            sigmask,
            terminal,
            core_zero,
            landlock,
            stdin,
            stderr,
            parent_death_signal,
            notify,
            listen,
        } = o;
        let mut k = [0i32; MAX_KEEP_FDS];
        let n = keep_fds.len().min(MAX_KEEP_FDS);
        k[..n].copy_from_slice(&keep_fds[..n]);
        ChildSpec {
            sigmask,
            // ignored now, and those the supervisor ignores from the fork on
            reset_signals: sys::ignored_signals()
                | [libc::SIGPIPE, libc::SIGTTIN, libc::SIGTTOU]
                    .iter()
                    .fold(0, |m, s| m | 1u64 << (s - 1)),
            terminal,
            core_zero,
            posture,
            keep_fds: k,
            n_keep_fds: n,
            filters,
            landlock,
            stdin,
            stderr,
            parent_death_signal,
            notify,
            listen,
            step_aside: None,
            candidates: exec.candidates,
            argv: CStrArray::new(exec.argv),
            envp: match listen {
                None => CStrArray::new(exec.envp),
                Some(_) => {
                    // the variables of socket activation are ours alone
                    let mut envp: Vec<CString> = exec
                        .envp
                        .into_iter()
                        .filter(|e| {
                            let b = e.as_bytes();
                            !(b.starts_with(b"LISTEN_FDS=")
                                || b.starts_with(b"LISTEN_PID=")
                                || b.starts_with(b"LISTEN_FDNAMES="))
                        })
                        .collect();
                    envp.push(CString::from(c"LISTEN_FDS=1"));
                    CStrArray::with_slot(envp, Some((b"LISTEN_PID=", 10)))
                }
            },
        }
    }
}

/// A C string from bytes; `what` names the input in the error.
pub fn cstring(b: &[u8], what: &str) -> crate::error::Result<CString> {
    cstring_owned(b.to_vec(), what)
}

/// [`cstring`] of a buffer already owned (no copy when it has room for the NUL).
pub fn cstring_owned(b: Vec<u8>, what: &str) -> crate::error::Result<CString> {
    CString::new(b).map_err(|_| Error::usage(format!("{what} contains a NUL byte; remove it")))
}

/// Paths to try for the command, execvp-style, resolved with the child's PATH.
pub fn exec_candidates(
    cmd: &std::ffi::OsStr,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> crate::error::Result<Vec<CString>> {
    let b = cmd.as_bytes();
    if b.is_empty() {
        return Err(Error::usage(
            "the command is an empty string; give a program name or path after --",
        ));
    }
    if b.contains(&b'/') {
        return Ok(vec![cstring(b, "the command")?]);
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_bytes().to_vec())
        .unwrap_or_else(|| {
            b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_vec()
        });
    let mut out = Vec::new();
    for dir in path.split(|c| *c == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut p = dir.to_vec();
        p.push(b'/');
        p.extend_from_slice(b);
        out.push(cstring(&p, "a PATH entry")?);
    }
    Ok(out)
}

/// `n` in decimal, in `buf` (allocation-free).
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn step(s: Step, r: Result<(), Errno>) -> Result<(), Failure> {
    r.map_err(|e| Failure {
        step: s,
        errno: e.raw(),
    })
}

fn fail(s: Step) -> Failure {
    Failure { step: s, errno: 0 }
}

/// Run every hardening step in order, then execve. Returns only on failure.
/// Allocation-free: safe between fork and execve.
///
/// # Safety
/// The process must be single-threaded (the id changes are per-thread system calls).
#[allow(unsafe_code)] // unsafe by contract: the id changes are per-thread system calls
pub unsafe fn enter(spec: &ChildSpec) -> Failure {
    // SAFETY: the caller guarantees a single-threaded process.
    match unsafe { harden(spec) } {
        Err(f) => f,
        Ok(()) => exec(spec),
    }
}

/// # Safety
/// As [`enter`].
#[allow(unsafe_code)] // as `enter`
unsafe fn harden(spec: &ChildSpec) -> Result<(), Failure> {
    // Signal dispositions: execve resets caught signals but keeps ignored ones, and the
    // supervisor ignores some (SIGTTIN, SIGTTOU, SIGPIPE): give the command the defaults.
    // No handler is ever installed here (none may run in memory shared with the parent).
    sys::step_mark("child");
    // The supervisor, suspended in the vfork until the exec, is moved off this CPU, where
    // the command will start: woken there, it would run first and delay it (init::aside).
    // Before the uid switch: moving another process needs its uid (or CAP_SYS_NICE). A
    // matter of speed: errors ignored.
    if let Some((pid, cpus)) = &spec.step_aside {
        let _ = sys::move_off_this_cpu(*pid, cpus);
    }
    sys::reset_signal_dispositions(spec.reset_signals);
    // A companion's stdio (sshd: /dev/null in, the log pipe out); dup2 clears close-on-exec
    // on the copies. The mask comes after: execve keeps the blocked set, and the command
    // must start with the mask secure-init was started with.
    if let Some(fd) = spec.stdin {
        step(Step::Stdio, sys::dup2(fd, 0))?;
    }
    if let Some(fd) = spec.stderr {
        step(Step::Stdio, sys::dup2(fd, 2))?;
    }
    step(
        Step::SignalMask,
        sys::sigprocmask_set(&spec.sigmask).map(|_| ()),
    )?;
    match spec.terminal {
        Terminal::Keep => {}
        // A terminal secure-init's session does not own: a session of its own, without a
        // controlling terminal (TIOCSTI then fails, and the caller's shell keeps its
        // foreground).
        Terminal::NewSession => step(Step::Session, sys::setsid())?,
        Terminal::ProcessGroup => {
            // Own process group (signals to the group reach the job, not the supervisor);
            // with a terminal, the foreground group, so that ^C reaches the job.
            step(Step::ProcessGroup, sys::setpgid_self())?;
            if sys::isatty(0) {
                // SIGTTOU would stop us while we are a background group: ignore it meanwhile.
                let _ = sys::set_signal_disposition(libc::SIGTTOU, true);
                let r = sys::tcsetpgrp_self(0);
                let _ = sys::set_signal_disposition(libc::SIGTTOU, false);
                if let Err(e) = r {
                    if e.raw() != libc::ENOTTY && e.raw() != libc::ENXIO {
                        return Err(Failure {
                            step: Step::ProcessGroup,
                            errno: e.raw(),
                        });
                    }
                }
            }
        }
    }
    // No leaked descriptors (but what --keep-fd names): close-on-exec rather than close,
    // since the report pipe must stay open until the exec succeeds.
    step(Step::CloseFds, sys::cloexec_from_3())?;
    for fd in &spec.keep_fds[..spec.n_keep_fds] {
        step(Step::KeepFds, sys::clear_cloexec(*fd))?;
    }
    sys::step_mark("child_fds");
    // Core dumps leak weights and secrets: RLIMIT_CORE 0, soft and hard (raising the hard
    // limit back needs CAP_SYS_RESOURCE, which the drop below removes).
    if spec.core_zero {
        step(Step::CoreLimit, sys::disable_core_dumps())?;
    }
    // The privilege drop: bounding set, groups -> gid -> uid, capability sets, no_new_privs
    // (the order the kernel's permission checks impose: see drop_privileges).
    // SAFETY: single-threaded, as the caller guarantees.
    unsafe { drop_privileges(&spec.posture) }?;
    sys::step_mark("child_dropped");
    // Verify from the inside before anything of the workload runs.
    verify(&spec.posture)?;
    sys::step_mark("child_verified");
    // A companion dies with the supervisor. After the id change: a change of credentials
    // clears PR_SET_PDEATHSIG (commit_creds). The supervisor is suspended until this child
    // execs, so it cannot be gone yet.
    if spec.parent_death_signal != 0 {
        step(
            Step::ParentDeath,
            sys::set_parent_death_signal(spec.parent_death_signal),
        )?;
    }
    // Landlock: writes only beneath the planned paths, the planned TCP ports, scoped
    // signals and abstract sockets. After no_new_privs, which landlock_restrict_self
    // requires of an unprivileged caller; the ruleset descriptor is close-on-exec.
    if let Some((fd, flags)) = spec.landlock {
        step(Step::Landlock, sys::landlock_restrict_self(fd, flags))?;
    }
    sys::step_mark("child_landlock");
    // A listening socket the supervisor bound (sshd's port, held before the command ran):
    // on descriptor 3 as systemd's socket activation passes it. After Landlock, whose
    // ruleset descriptor may be 3 (this is the child's own descriptor table: the
    // supervisor's copies are untouched; its report pipe is kept above 3 for this).
    if let Some(fd) = spec.listen {
        step(Step::Listen, sys::dup2(fd, 3))?;
        step(Step::Listen, sys::clear_cloexec(3))?;
        let mut digits = [0u8; 10];
        spec.envp
            .fill_slot(decimal(sys::getpid() as u32, &mut digits));
    }
    // seccomp last: a filter applies to every later call of this process, so installed
    // last the workload's allowlist needs no setresuid, capset, prctl or landlock call;
    // unprivileged installation needs no_new_privs. With a listener, its descriptor goes
    // to the supervisor (the rewritten filter lets sendmsg, execve, write and exit through
    // plainly: the supervisor is suspended until the exec and could not answer).
    let mut rest = &spec.filters[..];
    if let Some(n) = &spec.notify {
        match sys::seccomp_install_listener(&n.program) {
            Ok(fd) => {
                step(Step::Seccomp, sys::send_fd(n.sock, Some(fd), 0))?;
                rest = spec.filters.get(1..).unwrap_or(&[]);
            }
            Err(e) => {
                let _ = sys::send_fd(n.sock, None, e.raw().max(1));
            }
        }
    }
    for f in rest {
        step(Step::Seccomp, sys::seccomp_install(f))?;
    }
    sys::step_mark("child_seccomp");
    Ok(())
}

/// The privilege drop: empty the bounding set (but the kept capabilities), switch groups,
/// gid and uid, set the capability sets to the kept ones, set no_new_privs. The order is
/// the kernel's: each step needs a capability the next one removes. Allocation-free.
///
/// # Safety
/// The process must be single-threaded: the id changes are raw, per-thread system calls.
#[allow(unsafe_code)] // as `enter`: the raw setgroups/setresgid/setresuid
pub unsafe fn drop_privileges(p: &Posture) -> Result<(), Failure> {
    // The bounding set first: PR_CAPBSET_DROP needs CAP_SETPCAP, gone after the uid switch.
    // Only what is there: each drop copies and commits the credentials (and frees the old
    // ones after an RCU grace period), and a runtime's bounding set is usually a few
    // capabilities (Docker's default: 14 of 41). An unreadable one is dropped all the same
    // (and that fails as before); verify checks the whole set.
    if p.drop_bounding {
        for cap in 0..=p.last_cap {
            if p.keep_mask & (1 << cap) == 0 && sys::capbset_read(cap) != Ok(false) {
                step(Step::BoundingSet, sys::capbset_drop(cap))?;
            }
        }
    }
    // groups -> gid -> uid: setgroups and setresgid need CAP_SETGID, which the switch away
    // from uid 0 clears (unless keep-caps is set, as it is only when capabilities are kept).
    if p.switch_ids {
        if p.keep_mask != 0 {
            step(Step::KeepCaps, sys::set_keepcaps(true))?;
        }
        // SAFETY: single-threaded, as the caller guarantees.
        unsafe {
            step(Step::Groups, sys::setgroups(p.groups()))?;
            step(Step::Gid, sys::setresgid(p.gid))?;
            step(Step::Uid, sys::setresuid(p.uid))?;
        }
        if p.keep_mask != 0 {
            step(Step::KeepCaps, sys::set_keepcaps(false))?;
        }
    }
    // effective/permitted = kept set; inheritable and ambient = kept set only for a
    // process that execs its command (PR_CAP_AMBIENT_RAISE needs the capability in both
    // permitted and inheritable, so capset comes first).
    let inheritable = if p.ambient { p.keep_mask } else { 0 };
    let kept = CapSets {
        effective: p.keep_mask,
        permitted: p.keep_mask,
        inheritable,
    };
    step(Step::CapSets, sys::capset(kept))?;
    step(Step::Ambient, sys::ambient_clear_all())?;
    for cap in 0..=p.last_cap {
        if inheritable & (1 << cap) != 0 {
            step(Step::Ambient, sys::ambient_raise(cap))?;
        }
    }
    // no_new_privs: setuid binaries and file capabilities become inert at exec; required
    // for an unprivileged seccomp filter and Landlock ruleset.
    step(Step::NoNewPrivs, sys::set_no_new_privs())
}

/// Check from the inside that the posture holds — ids, groups, all five capability
/// sets, no_new_privs, and that `setuid(0)` fails. Allocation-free.
pub fn verify(p: &Posture) -> Result<(), Failure> {
    if p.switch_ids {
        if sys::getresuid() != (p.uid, p.uid, p.uid) || sys::getresgid() != (p.gid, p.gid, p.gid) {
            return Err(fail(Step::VerifyIds));
        }
        let mut buf = [0 as libc::gid_t; MAX_GROUPS];
        let n = sys::getgroups(&mut buf).map_err(|e| Failure {
            step: Step::VerifyGroups,
            errno: e.raw(),
        })?;
        let got = &mut buf[..n];
        got.sort_unstable();
        if got != p.groups() {
            return Err(fail(Step::VerifyGroups));
        }
    }
    let sets = sys::capget().map_err(|e| Failure {
        step: Step::VerifyCaps,
        errno: e.raw(),
    })?;
    let inheritable = if p.ambient { p.keep_mask } else { 0 };
    if sets.effective != p.keep_mask
        || sets.permitted != p.keep_mask
        || sets.inheritable != inheritable
    {
        return Err(fail(Step::VerifyCaps));
    }
    for cap in 0..=p.last_cap {
        let amb = sys::ambient_is_set(cap).map_err(|e| Failure {
            step: Step::VerifyAmbient,
            errno: e.raw(),
        })?;
        if amb != (inheritable & (1 << cap) != 0) {
            return Err(fail(Step::VerifyAmbient));
        }
        if p.drop_bounding {
            let b = sys::capbset_read(cap).map_err(|e| Failure {
                step: Step::VerifyBounding,
                errno: e.raw(),
            })?;
            if b != (p.keep_mask & (1 << cap) != 0) {
                return Err(fail(Step::VerifyBounding));
            }
        }
    }
    if sys::get_no_new_privs() != Ok(true) {
        return Err(fail(Step::VerifyNoNewPrivs));
    }
    if sys::getresuid().0 != 0 && sys::try_setuid_root().is_ok() {
        return Err(fail(Step::VerifySetuid));
    }
    Ok(())
}

/// execve, searching the PATH candidates like execvp.
fn exec(spec: &ChildSpec) -> Failure {
    let mut err = libc::ENOENT;
    let mut saw_eacces = false;
    for c in &spec.candidates {
        let e = sys::execve(c, &spec.argv, &spec.envp).raw();
        match e {
            libc::ENOENT | libc::ENOTDIR => err = e,
            // EACCES from an unsearchable PATH directory means "not found here", as
            // for a missing file; only a visible file that cannot be run is "not executable".
            libc::EACCES if sys::path_visible(c) => saw_eacces = true,
            libc::EACCES => {}
            _ => {
                err = e;
                saw_eacces = false;
                break;
            }
        }
    }
    Failure {
        step: Step::Exec,
        errno: if saw_eacces { libc::EACCES } else { err },
    }
}

/// Report a failure through the pipe and exit (child side).
pub fn report_and_exit(fd: RawFd, f: Failure) -> ! {
    let _ = sys::write_all(fd, &f.encode());
    sys::exit_now(f.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_its_number() {
        for (i, s) in Step::ALL.iter().enumerate() {
            assert_eq!(*s as u32 as usize, i + 1, "{s:?}");
            assert_eq!(Step::from_u32(i as u32 + 1), Some(*s));
            let f = Failure { step: *s, errno: 5 };
            assert_eq!(Failure::decode(&f.encode()).unwrap().step, *s);
        }
        assert_eq!(Step::from_u32(0), None);
        assert_eq!(Step::from_u32(Step::ALL.len() as u32 + 1), None);
    }

    #[test]
    fn exec_failures_map_to_126_and_127() {
        let f = |step, errno| Failure { step, errno }.exit_code();
        assert_eq!(f(Step::Exec, libc::ENOENT), 127);
        assert_eq!(f(Step::Exec, libc::ENOTDIR), 127);
        assert_eq!(f(Step::Exec, libc::EACCES), 126);
        assert_eq!(f(Step::Uid, libc::EPERM), 77);
        let e = Failure {
            step: Step::Exec,
            errno: libc::ENOENT,
        }
        .to_error("nope");
        assert_eq!(e.code(), 127);
        assert!(e.msg.starts_with("command not found"), "{}", e.msg);
    }
}
