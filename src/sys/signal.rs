//! Signals: sets, the mask, dispositions (the kernel's own `sigaction`, usable after the
//! fork), `sigtimedwait`, and the supervisor's `signalfd` wait.

use super::{check, Errno};
use std::os::fd::RawFd;

/// A signal set (plain data, no allocation).
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl SigSet {
    pub fn empty() -> Self {
        // SAFETY: sigemptyset initialises the zeroed set it is given.
        unsafe {
            let mut s: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut s);
            SigSet(s)
        }
    }
    pub fn full() -> Self {
        // SAFETY: sigfillset initialises the zeroed set it is given.
        unsafe {
            let mut s: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut s);
            SigSet(s)
        }
    }
    pub fn remove(&mut self, sig: i32) {
        // SAFETY: self.0 is an initialised sigset_t.
        unsafe { libc::sigdelset(&mut self.0, sig) };
    }
    pub fn contains(&self, sig: i32) -> bool {
        // SAFETY: self.0 is an initialised sigset_t.
        unsafe { libc::sigismember(&self.0, sig) == 1 }
    }
}

/// The signals pending for this thread or process (blocked, not yet taken).
pub fn sigpending() -> SigSet {
    let mut s = SigSet::empty();
    // SAFETY: s.0 is a valid out-pointer.
    unsafe { libc::sigpending(&mut s.0) };
    s
}

/// Set the signal mask; returns the previous one.
pub fn sigprocmask_set(set: &SigSet) -> Result<SigSet, Errno> {
    let mut old = SigSet::empty();
    // SAFETY: both pointers are valid sigset_t values.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set.0, &mut old.0) };
    if rc != 0 {
        return Err(Errno(rc));
    }
    Ok(old)
}

/// Wait up to `timeout_ms` for a signal in `set`; `Ok(None)` on timeout.
pub fn sigtimedwait(set: &SigSet, timeout_ms: i64) -> Result<Option<i32>, Errno> {
    let ts = libc::timespec {
        tv_sec: timeout_ms / 1000,
        tv_nsec: (timeout_ms % 1000) * 1_000_000,
    };
    // SAFETY: set and ts are valid for the call; info may be null.
    let rc = unsafe { libc::sigtimedwait(&set.0, std::ptr::null_mut(), &ts) };
    if rc < 0 {
        match Errno::last() {
            Errno(libc::EAGAIN) | Errno(libc::EINTR) => Ok(None),
            e => Err(e),
        }
    } else {
        Ok(Some(rc))
    }
}

/// Set the disposition of `sig` to SIG_DFL or SIG_IGN.
pub fn set_signal_disposition(sig: i32, ignore: bool) -> Result<(), Errno> {
    // SAFETY: the sigaction struct is fully initialised (zeroed, handler set) and valid.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
        libc::sigemptyset(&mut sa.sa_mask);
        check(libc::sigaction(sig, &sa, std::ptr::null_mut())).map(|_| ())
    }
}

/// The kernel's `struct sigaction` (handler, flags, restorer, mask on x86_64 and aarch64),
/// used through the raw `rt_sigaction`: the C library refuses the signals it keeps for
/// itself (32 and 33), which a caller may still have left ignored. All zero: `SIG_DFL`.
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: libc::c_ulong,
    flags: libc::c_ulong,
    restorer: libc::c_ulong,
    mask: u64,
}

/// Number of signals the kernel knows (`_NSIG`).
const NSIG: i32 = 64;

/// Reset to the default the disposition of every signal in `mask` (bit N-1 for signal N;
/// SIGKILL/SIGSTOP cannot be changed and are skipped). Raw `rt_sigaction`: allocation-free,
/// and the C library's own signals (32, 33) too.
pub fn reset_signal_dispositions(mask: u64) {
    let dfl = KernelSigaction::default();
    for sig in 1..=NSIG {
        if mask & (1u64 << (sig - 1)) != 0 && sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: `dfl` is a valid kernel sigaction of the size the kernel reads; no old
            // action is asked for.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                )
            };
        }
    }
}

/// The signals this process ignores (bit N-1 for signal N), asked of the kernel one by one
/// (raw `rt_sigaction` without a new action: ~12 µs for all 64 in a fresh process, where
/// generating /proc/self/status for its `SigIgn` takes ~40).
pub fn ignored_signals() -> u64 {
    let mut mask = 0u64;
    for sig in 1..=NSIG {
        let mut old = KernelSigaction::default();
        // SAFETY: `old` is a valid, writable kernel sigaction; no new action is given.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<KernelSigaction>(),
                &mut old as *mut KernelSigaction,
                8usize,
            )
        };
        if rc == 0 && old.handler == libc::SIG_IGN as libc::c_ulong {
            mask |= 1u64 << (sig - 1);
        }
    }
    mask
}

/// A `signalfd` for `set` (close-on-exec, non-blocking): the signals, still blocked, become
/// readable there, so they can be waited for together with a descriptor.
pub fn signalfd(set: &SigSet) -> Result<RawFd, Errno> {
    // SAFETY: set.0 is a valid sigset_t; -1 asks for a new descriptor.
    check(unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })
}

/// What [`wait_signal_or_fd`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// A signal, taken (as `sigtimedwait` takes it).
    Signal(i32),
    /// The descriptor is readable, or (not `readable`) hung up.
    Fd { readable: bool },
    /// Neither within the timeout (or interrupted).
    Timeout,
}

/// Wait up to `timeout_ms` for a signal of the signalfd `sfd` or for `fd` to become
/// readable; a pending signal is taken first (one per call, like `sigtimedwait`).
pub fn wait_signal_or_fd(sfd: RawFd, fd: RawFd, timeout_ms: i32) -> Result<Woken, Errno> {
    let mut p = [
        libc::pollfd {
            fd: sfd,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: p is an array of two valid pollfds.
    let n = unsafe { libc::poll(p.as_mut_ptr(), 2, timeout_ms) };
    if n < 0 {
        let e = Errno::last();
        return if e.0 == libc::EINTR {
            Ok(Woken::Timeout)
        } else {
            Err(e)
        };
    }
    if p[0].revents & libc::POLLIN != 0 {
        // SAFETY: an all-zero signalfd_siginfo is valid plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: info is valid for `size` writable bytes.
        let r = unsafe { libc::read(sfd, &mut info as *mut _ as *mut libc::c_void, size) };
        if r == size as isize {
            return Ok(Woken::Signal(info.ssi_signo as i32));
        }
    }
    let readable = p[1].revents & libc::POLLIN != 0;
    let hup = p[1].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0;
    Ok(if readable || hup {
        Woken::Fd { readable }
    } else {
        Woken::Timeout
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ignored_signals_and_seccomp_mode_agree_with_proc() {
        // (std's runtime ignores SIGPIPE in the test binary: the mask is not empty)
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap()
                .trim()
                .to_string()
        };
        let sig_ign = u64::from_str_radix(&field("SigIgn:"), 16).unwrap();
        assert_ne!(super::ignored_signals(), 0);
        assert_eq!(super::ignored_signals(), sig_ign);
        assert_eq!(
            crate::sys::seccomp_mode(),
            Some(field("Seccomp:").parse().unwrap())
        );
    }
}
