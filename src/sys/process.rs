//! Processes: start (`clone`/`fork`), `execve`, wait, signal, sessions and terminals, and the
//! per-process switches (`PR_SET_DUMPABLE`, parent-death signal, subreaper, core limit).

use super::{check, prctl, Errno};
use std::ffi::CStr;
use std::os::fd::RawFd;

/// Result of [`fork`].
pub enum Fork {
    Parent(libc::pid_t),
    Child,
}

/// A stack for a child started with [`spawn_shared`]: an anonymous mapping with a
/// `PROT_NONE` guard page below it, so an overflow faults instead of writing into memory the
/// child shares with its parent.
pub struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

impl ChildStack {
    /// `size` bytes of stack (rounded up to pages) plus one guard page (allocates: parent
    /// only).
    pub fn new(size: usize) -> Result<ChildStack, Errno> {
        let len = size.div_ceil(4096) * 4096 + 4096;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        // SAFETY: the first page of the mapping just made becomes the guard.
        if unsafe { libc::mprotect(base, 4096, libc::PROT_NONE) } != 0 {
            let e = Errno::last();
            // SAFETY: unmapping the mapping made above, not used by anything.
            unsafe { libc::munmap(base, len) };
            return Err(e);
        }
        Ok(ChildStack { base, len })
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` and no child runs on it any more (the
        // parent of a CLONE_VFORK child resumes only once the child has exec'd or exited).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Start `f(arg)` in a child that shares this process's memory (`CLONE_VM | CLONE_VFORK`,
/// as `posix_spawn` does) on `stack`; this thread is suspended until the child execs or
/// exits, and then gets its pid. No page tables are copied and no copy-on-write faults
/// follow, in the child or the parent: the cheapest way to start the command from a large
/// process. The child has its own descriptor table, signal handlers, credentials and
/// rlimits (no `CLONE_FILES`, `CLONE_SIGHAND`, `CLONE_THREAD`).
///
/// # Safety
/// The process must be single-threaded. `f` must never return (it ends in `execve` or
/// `_exit`), must run only allocation-free, lock-free code, and may write only to its own
/// stack and to memory the parent does not use before the child is gone.
pub unsafe fn spawn_shared<T>(
    f: fn(&T) -> !,
    arg: &T,
    stack: &mut ChildStack,
) -> Result<libc::pid_t, Errno> {
    struct Call<'a, T> {
        f: fn(&T) -> !,
        arg: &'a T,
    }
    extern "C" fn trampoline<T>(p: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `p` points to the `Call` below, alive until the child has exec'd or exited:
        // CLONE_VFORK suspends the parent, and its frame with it, until then.
        let call = unsafe { &*(p as *const Call<T>) };
        (call.f)(call.arg)
    }
    let call = Call { f, arg };
    // The top of the stack, 16-byte aligned (the mapping is page-aligned).
    // SAFETY: base + len is one past the end of the mapping, which `clone` expects.
    let top = unsafe { (stack.base as *mut u8).add(stack.len) } as *mut libc::c_void;
    // SAFETY: the caller upholds the contract above; `top` is a valid stack top; `call`
    // outlives the child's use of it (see the trampoline).
    let pid = unsafe {
        libc::clone(
            trampoline::<T>,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &call as *const Call<T> as *mut libc::c_void,
        )
    };
    if pid < 0 {
        Err(Errno::last())
    } else {
        Ok(pid)
    }
}

/// Fork the process.
///
/// # Safety
/// The process must be single-threaded ([`wait_single_threaded`]), and the child must only
/// run allocation-free, lock-free code until `execve` or `_exit` (another thread may have
/// held the allocator's lock at the moment of the fork).
pub unsafe fn fork() -> Result<Fork, Errno> {
    // SAFETY: fork has no memory-safety preconditions of its own; the caller upholds the
    // single-threaded / async-signal-safe-child contract documented above.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(Errno::last()),
        0 => Ok(Fork::Child),
        p => Ok(Fork::Parent(p)),
    }
}

/// Terminate immediately without running destructors or atexit handlers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// A NUL-terminated array of pointers to C strings, built before the fork.
pub struct CStrArray {
    _owned: Vec<std::ffi::CString>,
    /// One more entry, written in place after the fork ([`CStrArray::fill_slot`]): its
    /// prefix, room for the text, a NUL.
    slot: Option<(usize, Box<[std::cell::Cell<u8>]>)>,
    ptrs: Vec<*const libc::c_char>,
}

impl CStrArray {
    pub fn new(items: Vec<std::ffi::CString>) -> Self {
        Self::with_slot(items, None)
    }

    /// As [`CStrArray::new`], with one more entry `prefix` + up to `room` bytes that the
    /// child fills after the fork, when it knows them (its own pid for `LISTEN_PID=`).
    pub fn with_slot(items: Vec<std::ffi::CString>, slot: Option<(&[u8], usize)>) -> Self {
        let mut ptrs: Vec<*const libc::c_char> = items.iter().map(|s| s.as_ptr()).collect();
        let slot = slot.map(|(prefix, room)| {
            let cells: Box<[std::cell::Cell<u8>]> = prefix
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0, room + 1))
                .map(std::cell::Cell::new)
                .collect();
            ptrs.push(cells.as_ptr().cast());
            (prefix.len(), cells)
        });
        ptrs.push(std::ptr::null());
        CStrArray {
            _owned: items,
            slot,
            ptrs,
        }
    }

    /// Write `text` after the slot's prefix, NUL-terminated (cut to its room).
    /// Allocation-free: the child calls it before `execve`.
    pub fn fill_slot(&self, text: &[u8]) {
        if let Some((start, cells)) = &self.slot {
            let room = cells.len() - start - 1;
            let n = text.len().min(room);
            for (c, b) in cells[*start..].iter().zip(text[..n].iter()) {
                c.set(*b);
            }
            cells[start + n].set(0);
        }
    }
    fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }
}

/// `execve`; returns only on failure, with the errno.
pub fn execve(path: &CStr, argv: &CStrArray, envp: &CStrArray) -> Errno {
    // SAFETY: path is NUL-terminated; argv and envp are NUL-terminated arrays of pointers
    // into CStrings owned by the CStrArrays, which outlive the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// Outcome of a `waitpid`.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// No child changed state (WNOHANG).
    None,
    /// No children left at all.
    NoChildren,
    Exited(libc::pid_t, i32),
    Signaled(libc::pid_t, i32),
    /// Stopped/continued: not an exit.
    Other(libc::pid_t),
}

/// Whether child `pid` has already ended (a zombie waiting to be reaped), without reaping
/// it (`waitid(WEXITED | WNOHANG | WNOWAIT)`); false on any error.
pub fn has_ended(pid: libc::pid_t) -> bool {
    let Ok(id) = libc::id_t::try_from(pid) else {
        return false;
    };
    // SAFETY: an all-zero siginfo_t is a valid out-value; waitid fills it in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t; WNOWAIT leaves the child waitable.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            id,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: waitid succeeded, so `info` is initialised; si_pid is 0 when no child of the
    // set has changed state (WNOHANG).
    rc == 0 && unsafe { info.si_pid() } == pid
}

/// `waitpid(pid, WNOHANG?)`, retrying on EINTR.
pub fn waitpid(pid: libc::pid_t, nohang: bool) -> Result<Wait, Errno> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: status is a valid out-pointer for the duration of the call.
        let rc = unsafe { libc::waitpid(pid, &mut status, if nohang { libc::WNOHANG } else { 0 }) };
        if rc == 0 {
            return Ok(Wait::None);
        }
        if rc < 0 {
            match Errno::last() {
                Errno(libc::EINTR) => continue,
                Errno(libc::ECHILD) => return Ok(Wait::NoChildren),
                e => return Err(e),
            }
        }
        return Ok(if libc::WIFEXITED(status) {
            Wait::Exited(rc, libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Wait::Signaled(rc, libc::WTERMSIG(status))
        } else {
            Wait::Other(rc)
        });
    }
}

/// `kill(pid, sig)`.
pub fn kill(pid: libc::pid_t, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::kill(pid, sig) }).map(|_| ())
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

pub fn getppid() -> libc::pid_t {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() }
}

pub fn setpgid_self() -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::setpgid(0, 0) }).map(|_| ())
}

/// `setsid()`: a new session and process group, without a controlling terminal.
pub fn setsid() -> Result<(), Errno> {
    // SAFETY: plain syscall without arguments.
    check(unsafe { libc::setsid() }).map(|_| ())
}

/// The session id of this process.
pub fn getsid() -> libc::pid_t {
    // SAFETY: getsid(0) only reads this process's session id.
    unsafe { libc::getsid(0) }
}

/// The session that has the terminal on `fd` as its controlling terminal (`tcgetsid`);
/// `None` when `fd` is not a terminal or not a controlling terminal.
pub fn tcgetsid(fd: RawFd) -> Option<libc::pid_t> {
    // SAFETY: tcgetsid only inspects the descriptor.
    let sid = unsafe { libc::tcgetsid(fd) };
    (sid > 0).then_some(sid)
}

pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Make the calling process's group the foreground group of the terminal on `fd`.
pub fn tcsetpgrp_self(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: plain calls with integer arguments.
    check(unsafe { libc::tcsetpgrp(fd, libc::getpgrp()) }).map(|_| ())
}

/// Set RLIMIT_CORE (soft and hard) to 0.
pub fn disable_core_dumps() -> Result<(), Errno> {
    let rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid rlimit.
    check(unsafe { libc::setrlimit(libc::RLIMIT_CORE, &rl) }).map(|_| ())
}

pub fn set_dumpable(on: bool) -> Result<(), Errno> {
    prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong, 0).map(|_| ())
}

/// `PR_SET_PDEATHSIG`: `sig` when the parent (the supervisor) dies. Cleared by credential
/// changes, so set after the privilege drop.
pub fn set_parent_death_signal(sig: i32) -> Result<(), Errno> {
    prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0).map(|_| ())
}

pub fn set_child_subreaper() -> Result<(), Errno> {
    prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0).map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_ended_sees_a_zombie_without_reaping_it() {
        let mut running = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let mut done = std::process::Command::new("true").spawn().unwrap();
        let (r, d) = (running.id() as libc::pid_t, done.id() as libc::pid_t);
        let t0 = std::time::Instant::now();
        while !super::has_ended(d) {
            assert!(t0.elapsed().as_secs() < 5, "`true` never seen ended");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(super::has_ended(d), "asking again gives the same answer");
        assert!(!super::has_ended(r));
        assert!(!super::has_ended(1), "not a child");
        // still waitable: its status is intact
        assert!(done.wait().unwrap().success());
        assert!(!super::has_ended(d), "reaped: gone");
        running.kill().unwrap();
        running.wait().unwrap();
    }
}
