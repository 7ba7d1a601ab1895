//! THE order of hardening steps, run in the child between `fork` and `execve` (or in place
//! with `--exec`). The step numbers in the comments are those of README "Operation". Nothing here allocates, locks or logs: every buffer is prepared in
//! [`ChildSpec::prepare`] before the fork, and a failure is returned as a (step, errno) pair
//! that the caller reports through the close-on-exec pipe.

use crate::plan::Plan;
use crate::sys::{self, CStrArray, CapSets, SigSet};
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

/// The steps, in order. Numbers travel through the report pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    SignalMask = 1,
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
    Seccomp,
    Exec,
}

impl Step {
    pub fn from_u32(v: u32) -> Option<Step> {
        use Step::*;
        [
            SignalMask,
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
            Seccomp,
            Exec,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Step::SignalMask => "restore the signal mask",
            Step::ProcessGroup => "give the child its own process group",
            Step::CloseFds => "mark descriptors above 2 close-on-exec",
            Step::KeepFds => "pass a --keep-fd descriptor on",
            Step::CoreLimit => "set RLIMIT_CORE to 0",
            Step::BoundingSet => "drop the capability bounding set",
            Step::KeepCaps => "set PR_SET_KEEPCAPS for --keep-cap",
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
            Step::Seccomp => "install the seccomp filter",
            Step::Exec => "execute the command",
        }
    }
}

/// A failed step.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub step: Step,
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

    /// secure-init's exit code for this failure.
    pub fn exit_code(self) -> i32 {
        match self.step {
            Step::Exec if self.errno == libc::ENOENT || self.errno == libc::ENOTDIR => {
                crate::error::code::NOT_FOUND
            }
            Step::Exec => crate::error::code::NOT_EXECUTABLE,
            _ => crate::error::code::HARDENING,
        }
    }
}

const MAX_GROUPS: usize = 1024;
/// How many descriptors `--keep-fd` can pass on.
pub const MAX_KEEP_FDS: usize = 64;

/// Everything the child needs, prepared before the fork.
pub struct ChildSpec {
    pub sigmask: SigSet,
    /// Put the child in its own process group (and the terminal's foreground).
    pub new_pgrp: bool,
    pub core_zero: bool,
    pub switch_ids: bool,
    pub uid: u32,
    pub gid: u32,
    groups: [libc::gid_t; MAX_GROUPS],
    ngroups: usize,
    keep_fds: [i32; MAX_KEEP_FDS],
    n_keep_fds: usize,
    pub keep_mask: u64,
    pub last_cap: u32,
    pub drop_bounding: bool,
    pub filters: Vec<Vec<libc::sock_filter>>,
    candidates: Vec<CString>,
    argv: CStrArray,
    envp: CStrArray,
}

fn cstring(b: &[u8], what: &str) -> crate::error::Result<CString> {
    CString::new(b)
        .map_err(|_| crate::error::Error::usage(format!("{what} contains a NUL byte; remove it")))
}

impl ChildSpec {
    pub fn prepare(plan: &Plan, sigmask: SigSet, new_pgrp: bool) -> crate::error::Result<Self> {
        let groups_in = &plan.identity.groups;
        if groups_in.len() > MAX_GROUPS {
            return Err(crate::error::Error::config(format!(
                "{} supplementary groups planned; at most {MAX_GROUPS} are supported",
                groups_in.len()
            )));
        }
        let mut groups = [0 as libc::gid_t; MAX_GROUPS];
        groups[..groups_in.len()].copy_from_slice(groups_in);
        let argv = plan
            .command
            .iter()
            .map(|a| cstring(a.as_bytes(), "an argument"))
            .collect::<crate::error::Result<Vec<_>>>()?;
        let envp = plan
            .env
            .iter()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                cstring(&kv, "an environment variable")
            })
            .collect::<crate::error::Result<Vec<_>>>()?;
        let candidates = exec_candidates(&plan.command[0], &plan.env)?;
        let mut keep_fds = [0i32; MAX_KEEP_FDS];
        keep_fds[..plan.keep_fds.len()].copy_from_slice(&plan.keep_fds);
        Ok(ChildSpec {
            sigmask,
            new_pgrp,
            core_zero: !plan.core_dumps,
            switch_ids: plan.identity.switch,
            uid: plan.identity.uid,
            gid: plan.identity.gid,
            groups,
            ngroups: groups_in.len(),
            keep_fds,
            n_keep_fds: plan.keep_fds.len(),
            keep_mask: plan.keep_mask,
            last_cap: plan.last_cap,
            drop_bounding: plan.can_drop_bounding,
            filters: plan.seccomp.programs.clone(),
            candidates,
            argv: CStrArray::new(argv),
            envp: CStrArray::new(envp),
        })
    }

    fn groups(&self) -> &[libc::gid_t] {
        &self.groups[..self.ngroups]
    }
}

/// Paths to try for the command, execvp-style, resolved with the child's PATH.
fn exec_candidates(
    cmd: &std::ffi::OsStr,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> crate::error::Result<Vec<CString>> {
    let b = cmd.as_bytes();
    if b.is_empty() {
        return Err(crate::error::Error::usage(
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

fn step(s: Step, r: Result<(), i32>) -> Result<(), Failure> {
    r.map_err(|errno| Failure { step: s, errno })
}

fn fail(s: Step) -> Failure {
    Failure { step: s, errno: 0 }
}

/// Run every hardening step in order, then execve. Returns only on failure.
/// Allocation-free: safe between fork and execve.
pub fn enter(spec: &ChildSpec) -> Failure {
    match harden(spec) {
        Err(f) => f,
        Ok(()) => exec(spec),
    }
}

fn harden(spec: &ChildSpec) -> Result<(), Failure> {
    // 6. signals: the supervisor blocked them, Rust ignores SIGPIPE; give the command defaults.
    sys::reset_all_signal_dispositions();
    step(
        Step::SignalMask,
        sys::sigprocmask_set(&spec.sigmask).map(|_| ()),
    )?;
    if spec.new_pgrp {
        // 7. own process group; with a terminal, make it the foreground group (job control).
        step(Step::ProcessGroup, sys::setpgid_self())?;
        if sys::isatty(0) {
            // SIGTTOU would stop us while we are a background group: ignore it meanwhile.
            let _ = sys::set_signal_disposition(libc::SIGTTOU, true);
            let r = sys::tcsetpgrp_self(0);
            let _ = sys::set_signal_disposition(libc::SIGTTOU, false);
            if let Err(e) = r {
                if e != libc::ENOTTY && e != libc::ENXIO {
                    return Err(Failure {
                        step: Step::ProcessGroup,
                        errno: e,
                    });
                }
            }
        }
    }
    // 8. no leaked descriptors (but what --keep-fd names).
    step(Step::CloseFds, sys::cloexec_from_3())?;
    for fd in &spec.keep_fds[..spec.n_keep_fds] {
        step(Step::KeepFds, sys::clear_cloexec(*fd))?;
    }
    // 9. core dumps leak weights and secrets.
    if spec.core_zero {
        step(Step::CoreLimit, sys::disable_core_dumps())?;
    }
    // 10. bounding set: needs CAP_SETPCAP, gone after the uid switch.
    if spec.drop_bounding {
        for cap in 0..=spec.last_cap {
            if spec.keep_mask & (1 << cap) == 0 {
                step(Step::BoundingSet, sys::capbset_drop(cap))?;
            }
        }
    }
    // 11. groups -> gid -> uid (groups and gid need CAP_SETGID, which the uid switch clears).
    if spec.switch_ids {
        if spec.keep_mask != 0 {
            step(Step::KeepCaps, sys::set_keepcaps(true))?;
        }
        step(Step::Groups, sys::setgroups(spec.groups()))?;
        step(Step::Gid, sys::setresgid(spec.gid))?;
        step(Step::Uid, sys::setresuid(spec.uid))?;
        if spec.keep_mask != 0 {
            step(Step::KeepCaps, sys::set_keepcaps(false))?;
        }
    }
    // 12. effective/permitted/inheritable = kept set; ambient = kept set.
    let kept = CapSets {
        effective: spec.keep_mask,
        permitted: spec.keep_mask,
        inheritable: spec.keep_mask,
    };
    step(Step::CapSets, sys::capset(kept))?;
    step(Step::Ambient, sys::ambient_clear_all())?;
    for cap in 0..=spec.last_cap {
        if spec.keep_mask & (1 << cap) != 0 {
            step(Step::Ambient, sys::ambient_raise(cap))?;
        }
    }
    // 13. no_new_privs: setuid binaries become inert; required for unprivileged seccomp.
    step(Step::NoNewPrivs, sys::set_no_new_privs())?;
    // 14. verify before anything runs.
    verify(spec)?;
    // 15. seccomp last, so the workload's allowlist needs no setresuid/capset/prctl.
    for f in &spec.filters {
        step(Step::Seccomp, sys::seccomp_install(f))?;
    }
    Ok(())
}

fn verify(spec: &ChildSpec) -> Result<(), Failure> {
    if spec.switch_ids {
        if sys::getresuid() != (spec.uid, spec.uid, spec.uid)
            || sys::getresgid() != (spec.gid, spec.gid, spec.gid)
        {
            return Err(fail(Step::VerifyIds));
        }
        let mut buf = [0 as libc::gid_t; MAX_GROUPS];
        let n = sys::getgroups(&mut buf).map_err(|e| Failure {
            step: Step::VerifyGroups,
            errno: e,
        })?;
        let got = &mut buf[..n];
        got.sort_unstable();
        if got != spec.groups() {
            return Err(fail(Step::VerifyGroups));
        }
    }
    let sets = sys::capget().map_err(|e| Failure {
        step: Step::VerifyCaps,
        errno: e,
    })?;
    if sets.effective != spec.keep_mask
        || sets.permitted != spec.keep_mask
        || sets.inheritable != spec.keep_mask
    {
        return Err(fail(Step::VerifyCaps));
    }
    for cap in 0..=spec.last_cap {
        let want = spec.keep_mask & (1 << cap) != 0;
        let amb = sys::ambient_is_set(cap).map_err(|e| Failure {
            step: Step::VerifyAmbient,
            errno: e,
        })?;
        if amb != want {
            return Err(fail(Step::VerifyAmbient));
        }
        if spec.drop_bounding {
            let b = sys::capbset_read(cap).map_err(|e| Failure {
                step: Step::VerifyBounding,
                errno: e,
            })?;
            if b != want {
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

/// 16. execve, searching the PATH candidates like execvp.
fn exec(spec: &ChildSpec) -> Failure {
    let mut err = libc::ENOENT;
    let mut saw_eacces = false;
    for c in &spec.candidates {
        let e = sys::execve(c, &spec.argv, &spec.envp);
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
