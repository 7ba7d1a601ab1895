//! Thin wrappers over the system calls secure-init needs, one file per kernel facility —
//! and the crate's `unsafe`: the crate root denies `unsafe_code` everywhere else but at the
//! few call sites named there (lib.rs), each with its reason.
//!
//! | file | facility |
//! |---|---|
//! | `process` | clone/fork, execve, wait, kill, sessions and terminals, per-process prctls |
//! | `signal` | signal sets, mask, dispositions, `sigtimedwait`, the supervisor's `signalfd` |
//! | `fd` | pipes, dup2, whole reads/writes, close-on-exec, poll, descriptor passing |
//! | `cred` | uids/gids (per thread, raw), capabilities, `no_new_privs` |
//! | `seccomp` | filter install, the user-notification listener's calls |
//! | `landlock` | rulesets, rules, enforcement |
//! | `cpu` | affinity (the supervisor's step aside) |
//! | `fs` | access as the real ids see it, flock, `O_PATH`, statvfs |
//! | `procfs` | small /proc files, the thread count, the kernel release |
//! | `secret` | getrandom, scrubbing the environment |
//! | `startup` | `main`'s arguments, step marks (`--features steptime`), the memory release |
//!
//! Contract: a function whose doc comment says "allocates" (or "parent only") may only run
//! in the parent, before the fork or in the supervisor; every other function allocates
//! nothing and takes no lock, so it may run between `fork` and `execve`. A function whose
//! soundness depends on its caller (fork, the per-thread id changes, the environment
//! scrubbing, the memory release) is an `unsafe fn` with a `# Safety` section. Errors are
//! [`Errno`] values.

mod cpu;
mod cred;
mod fd;
mod fs;
mod landlock;
mod process;
mod procfs;
mod seccomp;
mod secret;
mod signal;
mod startup;

pub use cpu::*;
pub use cred::*;
pub use fd::*;
pub use fs::*;
pub use landlock::*;
pub use process::*;
pub use procfs::*;
pub use seccomp::*;
pub use secret::*;
pub use signal::*;
pub use startup::*;

/// An `errno` value: plain data (no allocation until it is displayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// `errno` of the last failed call on this thread.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
    pub fn raw(self) -> i32 {
        self.0
    }
}

impl std::fmt::Display for Errno {
    /// The system's text for the error, e.g. "Operation not permitted (os error 1)"
    /// (allocates: parent only).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&std::io::Error::from_raw_os_error(self.0), f)
    }
}

pub(crate) fn check(rc: libc::c_int) -> Result<libc::c_int, Errno> {
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc)
    }
}

pub(crate) fn check_long(rc: libc::c_long) -> Result<libc::c_long, Errno> {
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc)
    }
}

/// `prctl` with integer arguments.
pub(crate) fn prctl(
    op: libc::c_int,
    a: libc::c_ulong,
    b: libc::c_ulong,
) -> Result<libc::c_int, Errno> {
    // SAFETY: only called with integer-argument prctl operations.
    check(unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}
