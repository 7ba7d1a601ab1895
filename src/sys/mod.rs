//! The only module with `unsafe`: thin wrappers over the system calls secure-init needs.
//!
//! Contract: a function whose doc comment says "allocates" (or "parent only") may only run
//! in the parent, before the fork or in the supervisor; every other function allocates
//! nothing and takes no lock, so it may run between `fork` and `execve`. A function whose
//! soundness depends on its caller (fork, the per-thread id changes, the environment
//! scrubbing, the memory release) is an `unsafe fn` with a `# Safety` section. Errors are
//! [`Errno`] values.

use std::ffi::CStr;
use std::os::fd::RawFd;

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

fn check(rc: libc::c_int) -> Result<libc::c_int, Errno> {
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc)
    }
}

fn check_long(rc: libc::c_long) -> Result<libc::c_long, Errno> {
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc)
    }
}

/// `--features steptime` (bench/steps.py only): write `@T <step> <CLOCK_MONOTONIC ns>` to
/// stderr. Allocation-free, so it may mark the child's steps too; without the feature it
/// compiles to nothing.
#[inline(always)]
pub fn step_mark(_step: &str) {
    #[cfg(feature = "steptime")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let mut ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        let mut buf = [0u8; 96];
        let name = _step.as_bytes();
        let n = name.len().min(64);
        buf[..3].copy_from_slice(b"@T ");
        buf[3..3 + n].copy_from_slice(&name[..n]);
        let mut i = 3 + n;
        buf[i] = b' ';
        i += 1;
        let mut digits = [0u8; 20];
        let mut d = 0;
        loop {
            digits[d] = b'0' + (ns % 10) as u8;
            d += 1;
            ns /= 10;
            if ns == 0 {
                break;
            }
        }
        while d > 0 {
            d -= 1;
            buf[i] = digits[d];
            i += 1;
        }
        buf[i] = b'\n';
        let _ = write_all(2, &buf[..=i]);
    }
}

/// The arguments C's `main` received (std's `args_os` is filled by glibc's start-up hook,
/// which a static musl binary, started through our own `main`, does not have).
///
/// # Safety
/// `argv` must point to `argc` valid NUL-terminated strings, as `main` receives them.
pub unsafe fn args_from_main(
    argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: i < argc, and each argv[i] is a NUL-terminated string (the caller's
            // contract).
            let s = unsafe { CStr::from_ptr(*argv.add(i)) };
            std::ffi::OsStr::from_bytes(s.to_bytes()).to_owned()
        })
        .collect()
}

// ---------------------------------------------------------------- processes

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
pub unsafe fn spawn_shared(
    f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
    stack: &mut ChildStack,
) -> Result<libc::pid_t, Errno> {
    // The top of the stack, 16-byte aligned (the mapping is page-aligned).
    // SAFETY: base + len is one past the end of the mapping, which `clone` expects.
    let top = unsafe { (stack.base as *mut u8).add(stack.len) } as *mut libc::c_void;
    // SAFETY: the caller upholds the contract above; `top` is a valid stack top.
    let pid = unsafe {
        libc::clone(
            f,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            arg,
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
    ptrs: Vec<*const libc::c_char>,
}

impl CStrArray {
    pub fn new(items: Vec<std::ffi::CString>) -> Self {
        let mut ptrs: Vec<*const libc::c_char> = items.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStrArray {
            _owned: items,
            ptrs,
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

/// Whether `path` exists and is visible to the real uid (`access(F_OK)`).
pub fn path_visible(path: &CStr) -> bool {
    // SAFETY: path is NUL-terminated.
    unsafe { libc::access(path.as_ptr(), libc::F_OK) == 0 }
}

/// `access(path, W_OK)` with the real ids: whether this process may write `path`.
pub fn access_writable(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is NUL-terminated.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// `flock(fd, LOCK_EX | LOCK_NB)`: Ok(true) taken, Ok(false) held by another open file.
pub fn flock_exclusive_nb(fd: RawFd) -> Result<bool, Errno> {
    // SAFETY: plain syscall on a descriptor the caller owns.
    match unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } {
        0 => Ok(true),
        _ => match Errno::last() {
            e if e.raw() == libc::EWOULDBLOCK => Ok(false),
            e => Err(e),
        },
    }
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

/// Read a small file whole — a /proc, /sys or /etc file — with one `read` in the common
/// case: `std::fs::read_to_string` stats the file for a size hint (0 for /proc) and then
/// probes with 32-byte reads, 7 system calls for a 2 KiB status file.
pub fn read_small(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Number of threads of this process (allocates: parent only). procfs gives the directory
/// `/proc/self/task` a link count of 2 + the number of threads, so one `stat` answers
/// (~3 µs, against ~20 for generating and parsing `/proc/self/stat`); the `num_threads`
/// field of /proc/self/stat where that count is not what procfs gives.
pub fn thread_count() -> Option<usize> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(md) = std::fs::metadata("/proc/self/task") {
        if md.nlink() >= 3 {
            return usize::try_from(md.nlink() - 2).ok();
        }
    }
    thread_count_from_stat()
}

fn thread_count_from_stat() -> Option<usize> {
    let stat = read_small("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    // fields after ')' start at field 3 (state); num_threads is field 20.
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// glibc's own record that this process has never started a thread
/// (`__libc_single_threaded`, glibc 2.32+; set false by the first `pthread_create` and never
/// set back): true means one thread for certain, with no `/proc` look-up. False says
/// nothing (threads may have come and gone): ask the kernel.
#[cfg(target_env = "gnu")]
fn never_threaded() -> bool {
    extern "C" {
        static __libc_single_threaded: libc::c_char;
    }
    // SAFETY: a `char` glibc defines (2.32+; this binary needs 2.35) and writes only from
    // the thread that creates the process's first thread; read by value.
    unsafe { std::ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
}

#[cfg(not(target_env = "gnu"))]
fn never_threaded() -> bool {
    false
}

/// Wait (up to `timeout_ms`) until this process has exactly one thread. A thread that was
/// just joined has finished its Rust code but may not have left the kernel yet, so
/// `num_threads` can lag behind a `join` by a little. Returns the last count seen, or
/// `None` when /proc cannot be read (allocates: parent only).
pub fn wait_single_threaded(timeout_ms: u64) -> Option<usize> {
    if never_threaded() {
        return Some(1);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
    let mut pause = 10;
    loop {
        let n = thread_count()?;
        if n == 1 || std::time::Instant::now() >= deadline {
            return Some(n);
        }
        // the lag is microseconds: look again soon, then less often
        std::thread::sleep(std::time::Duration::from_micros(pause));
        pause = (pause * 2).min(1000);
    }
}

// ---------------------------------------------------------------- CPUs

/// A set of CPUs (plain data).
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

/// The CPUs this thread may run on, and the one it runs on now (when known).
pub fn cpus() -> Result<(CpuSet, Option<usize>), Errno> {
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size given.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(Errno::last());
    }
    // SAFETY: sched_getcpu has no preconditions.
    let now = unsafe { libc::sched_getcpu() };
    Ok((CpuSet(set), usize::try_from(now).ok()))
}

impl CpuSet {
    /// The set without `cpu`; `None` when that leaves nothing.
    pub fn without(&self, cpu: usize) -> Option<CpuSet> {
        if cpu >= libc::CPU_SETSIZE as usize {
            return None;
        }
        let mut s = self.0;
        // SAFETY: `cpu` is within the set's size (checked above); `s` is a valid set.
        let left = unsafe {
            libc::CPU_CLR(cpu, &mut s);
            libc::CPU_COUNT(&s)
        };
        (left > 0).then_some(CpuSet(s))
    }
}

/// Let `pid` run on `set` without the CPU the caller runs on now (`sched_setaffinity` of
/// another process: for one that sleeps it only changes the mask, it moves nothing and
/// waits for nothing). `Ok(false)` when that would leave no CPU (one allowed) or the current
/// CPU is unknown. Allocation-free: the child calls it before `execve`.
pub fn set_cpus_of_off_this_cpu(pid: libc::pid_t, set: &CpuSet) -> Result<bool, Errno> {
    // SAFETY: sched_getcpu has no preconditions.
    let now = unsafe { libc::sched_getcpu() };
    let Some(elsewhere) = usize::try_from(now).ok().and_then(|c| set.without(c)) else {
        return Ok(false);
    };
    // SAFETY: `elsewhere` is a valid cpu_set_t of the size given.
    let r = unsafe {
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &elsewhere.0)
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(true)
}

/// Let this thread run on `set` only (`sched_setaffinity`).
pub fn set_cpus(set: &CpuSet) -> Result<(), Errno> {
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set.0) };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

// ---------------------------------------------------------------- signals

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

/// This thread's seccomp mode (`PR_GET_SECCOMP`: 0 none, 2 a filter); None when the call is
/// refused (a runtime's filter that denies `prctl`).
pub fn seccomp_mode() -> Option<u32> {
    prctl(libc::PR_GET_SECCOMP, 0, 0)
        .ok()
        .and_then(|v| u32::try_from(v).ok())
}

// ---------------------------------------------------------------- descriptors

/// Create a pipe with both ends close-on-exec.
pub fn pipe_cloexec() -> Result<(RawFd, RawFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// Take ownership of a descriptor this process opened (a pipe end from [`pipe_cloexec`]).
pub fn file_from_fd(fd: RawFd) -> std::fs::File {
    use std::os::fd::FromRawFd;
    // SAFETY: the caller hands over a descriptor it owns and no longer uses: the File is
    // now its only owner and closes it once.
    unsafe { std::fs::File::from_raw_fd(fd) }
}

/// `dup2(from, to)`, retrying on EINTR (async-signal-safe: no allocation).
pub fn dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
    loop {
        // SAFETY: dup2 only takes descriptor numbers; an invalid one is reported as EBADF.
        let rc = unsafe { libc::dup2(from, to) };
        if rc >= 0 {
            return Ok(());
        }
        if Errno::last().0 != libc::EINTR {
            return Err(Errno::last());
        }
    }
}

/// Open /dev/null read-write, close-on-exec.
pub fn open_devnull() -> Result<RawFd, Errno> {
    // SAFETY: a NUL-terminated static path.
    check(unsafe {
        libc::open(
            c"/dev/null".as_ptr(),
            libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    })
}

pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor this module handed out; errors are irrelevant here.
    unsafe { libc::close(fd) };
}

/// `write` the whole buffer (retrying on EINTR and short writes).
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: buf points to buf.len() readable bytes.
        let rc = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if rc < 0 {
            if Errno::last().0 == libc::EINTR {
                continue;
            }
            return Err(Errno::last());
        }
        buf = &buf[rc as usize..];
    }
    Ok(())
}

/// `read` into the buffer until it is full or EOF; returns the bytes read.
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the destination range lies inside buf.
        let rc = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if rc < 0 {
            if Errno::last().0 == libc::EINTR {
                continue;
            }
            return Err(Errno::last());
        }
        if rc == 0 {
            break;
        }
        got += rc as usize;
    }
    Ok(got)
}

/// Mark every descriptor above 2 close-on-exec: `close_range(CLOSE_RANGE_CLOEXEC)`, or, where
/// the kernel lacks it (before 5.11: ENOSYS/EINVAL) or a runtime's seccomp profile refuses it
/// (EPERM), a walk over the descriptor table.
pub fn cloexec_from_3() -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = Errno::last();
    if !matches!(e.0, libc::ENOSYS | libc::EINVAL | libc::EPERM) {
        return Err(e);
    }
    // Walk the descriptor table up to the soft limit.
    let max = get_nofile_soft().min(1 << 20);
    for fd in 3..max as RawFd {
        // SAFETY: fcntl on a possibly-closed descriptor just fails with EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            // SAFETY: as above; only the descriptor's flags change.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
                return Err(Errno::last());
            }
        }
    }
    Ok(())
}

/// Whether `fd` is an open descriptor.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; EBADF when closed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Clear close-on-exec on `fd` so the command inherits it.
pub fn clear_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl on an integer descriptor; errors are returned.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(|_| ())
}

fn get_nofile_soft() -> u64 {
    // SAFETY: rl is a valid out-pointer.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur
        } else {
            1024
        }
    }
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

// ---------------------------------------------------------------- identity

pub fn getuid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::getuid() }
}

pub fn getgid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::getgid() }
}

pub fn getresuid() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid out-pointers.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

pub fn getresgid() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid out-pointers.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// Supplementary groups into `buf`; returns how many.
pub fn getgroups(buf: &mut [libc::gid_t]) -> Result<usize, Errno> {
    // SAFETY: buf has room for buf.len() gids.
    check(unsafe { libc::getgroups(buf.len() as libc::c_int, buf.as_mut_ptr()) })
        .map(|n| n as usize)
}

/// Raw `setgroups` syscall: changes the calling thread only.
///
/// # Safety
/// The process must be single-threaded: glibc's `setgroups` broadcasts the change to every
/// thread, the raw syscall does not, and another thread would keep the old groups.
pub unsafe fn setgroups(groups: &[libc::gid_t]) -> Result<(), Errno> {
    // SAFETY: groups points to groups.len() gids.
    check_long(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) })
        .map(|_| ())
}

/// Raw `setresgid(gid, gid, gid)`: changes the calling thread only.
///
/// # Safety
/// As [`setgroups`]: the process must be single-threaded.
pub unsafe fn setresgid(gid: u32) -> Result<(), Errno> {
    // SAFETY: raw syscall with integer arguments.
    check_long(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(|_| ())
}

/// Raw `setresuid(uid, uid, uid)`: changes the calling thread only.
///
/// # Safety
/// As [`setgroups`]: the process must be single-threaded.
pub unsafe fn setresuid(uid: u32) -> Result<(), Errno> {
    // SAFETY: raw syscall with integer arguments.
    check_long(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(|_| ())
}

/// Try `setuid(0)`; returns Ok if it (unexpectedly) succeeded.
pub fn try_setuid_root() -> Result<(), Errno> {
    // SAFETY: raw syscall with an integer argument.
    check_long(unsafe { libc::syscall(libc::SYS_setuid, 0) }).map(|_| ())
}

// ---------------------------------------------------------------- capabilities

const CAP_V3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Effective, permitted and inheritable sets as 64-bit masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

pub fn capget() -> Result<CapSets, Errno> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: hdr and data are valid, correctly sized (v3 = two data structs).
    check_long(unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) })?;
    let join = |lo: u32, hi: u32| (lo as u64) | ((hi as u64) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

pub fn capset(sets: CapSets) -> Result<(), Errno> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: sets.effective as u32,
            permitted: sets.permitted as u32,
            inheritable: sets.inheritable as u32,
        },
        CapData {
            effective: (sets.effective >> 32) as u32,
            permitted: (sets.permitted >> 32) as u32,
            inheritable: (sets.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: hdr and data are valid, correctly sized (v3 = two data structs).
    check_long(unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) }).map(|_| ())
}

fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> Result<libc::c_int, Errno> {
    // SAFETY: only called with integer-argument prctl operations.
    check(unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

/// Whether `cap` is in the bounding set; `Err(EINVAL)` when the kernel does not know it.
pub fn capbset_read(cap: u32) -> Result<bool, Errno> {
    prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0).map(|v| v == 1)
}

pub fn capbset_drop(cap: u32) -> Result<(), Errno> {
    prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0).map(|_| ())
}

pub fn ambient_clear_all() -> Result<(), Errno> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    )
    .map(|_| ())
}

pub fn ambient_raise(cap: u32) -> Result<(), Errno> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
        cap as libc::c_ulong,
    )
    .map(|_| ())
}

pub fn ambient_is_set(cap: u32) -> Result<bool, Errno> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
        cap as libc::c_ulong,
    )
    .map(|v| v == 1)
}

pub fn set_keepcaps(on: bool) -> Result<(), Errno> {
    prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0).map(|_| ())
}

pub fn set_no_new_privs() -> Result<(), Errno> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map(|_| ())
}

pub fn get_no_new_privs() -> Result<bool, Errno> {
    prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0).map(|v| v == 1)
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

/// Highest capability number the running kernel knows: a binary search over
/// `PR_CAPBSET_READ`, which fails with EINVAL for numbers the kernel does not know (6 calls,
/// not 41).
pub fn last_cap() -> u32 {
    let (mut lo, mut hi) = (0u32, 63u32); // capbset_read(lo) works; the answer is in lo..=hi
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if capbset_read(mid).is_ok() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

// ---------------------------------------------------------------- seccomp

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: the kernel's return value.
fn seccomp_set_filter(
    prog: &[libc::sock_filter],
    flags: libc::c_uint,
) -> Result<libc::c_long, Errno> {
    let fprog = libc::sock_fprog {
        len: prog.len() as libc::c_ushort,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points to prog.len() valid instructions, alive for the call; the kernel
    // copies the program.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    })
}

/// Install one classic-BPF seccomp filter on the calling thread (no_new_privs must be set
/// or CAP_SYS_ADMIN held).
pub fn seccomp_install(prog: &[libc::sock_filter]) -> Result<(), Errno> {
    seccomp_set_filter(prog, 0).map(|_| ())
}

/// Install a filter that returns `SECCOMP_RET_USER_NOTIF` somewhere, asking for its
/// listener descriptor (`SECCOMP_FILTER_FLAG_NEW_LISTENER`; close-on-exec). Async-signal
/// safe.
pub fn seccomp_install_listener(prog: &[libc::sock_filter]) -> Result<RawFd, Errno> {
    seccomp_set_filter(prog, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as libc::c_uint)
        .map(|fd| fd as RawFd)
}

/// A connected pair of Unix datagram sockets, both close-on-exec.
pub fn socketpair_cloexec() -> Result<(RawFd, RawFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    Ok((fds[0], fds[1]))
}

/// Control-message space for one descriptor (`CMSG_SPACE(sizeof(int))` on 64-bit Linux).
const CMSG_FD_SPACE: usize = 24;

/// Room for one control message carrying one descriptor.
#[repr(C, align(8))]
struct Cmsg([u8; CMSG_FD_SPACE]);

/// A message header over one 4-byte buffer and, when given, the control buffer.
fn msghdr(iov: &mut libc::iovec, control: Option<&mut Cmsg>) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid; the caller keeps iov and control alive while
    // the header is used.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    if let Some(c) = control {
        msg.msg_control = c.0.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_FD_SPACE as _;
    }
    msg
}

/// Send a 4-byte status and, when `fd` is Some, the descriptor (SCM_RIGHTS). No allocation:
/// used by the child between fork and exec.
pub fn send_fd(sock: RawFd, fd: Option<RawFd>, status: i32) -> Result<(), Errno> {
    let mut data = status.to_ne_bytes();
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = Cmsg([0; CMSG_FD_SPACE]);
    let msg = msghdr(&mut iov, fd.map(|_| &mut cbuf));
    if let Some(fd) = fd {
        // SAFETY: msg_control points to CMSG_FD_SPACE aligned bytes, enough for one header
        // and one int; CMSG_FIRSTHDR is then non-null.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd);
        }
    }
    loop {
        // SAFETY: msg and everything it points to are valid for the call.
        let rc = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if rc >= 0 {
            return Ok(());
        }
        if Errno::last().0 != libc::EINTR {
            return Err(Errno::last());
        }
    }
}

/// Receive what [`send_fd`] sent, without waiting: (status, descriptor). None when no
/// message is there.
pub fn recv_fd(sock: RawFd) -> Result<Option<(i32, Option<RawFd>)>, Errno> {
    let mut data = [0u8; 4];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = Cmsg([0; CMSG_FD_SPACE]);
    let mut msg = msghdr(&mut iov, Some(&mut cbuf));
    // SAFETY: msg and everything it points to are valid for the call.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        let e = Errno::last();
        return if e.0 == libc::EAGAIN {
            Ok(None)
        } else {
            Err(e)
        };
    }
    if n != 4 {
        return Ok(None);
    }
    let mut fd = None;
    // SAFETY: recvmsg filled msg; CMSG_FIRSTHDR/CMSG_DATA stay within msg_controllen.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            fd = Some(std::ptr::read_unaligned(
                libc::CMSG_DATA(c).cast::<libc::c_int>(),
            ));
        }
    }
    Ok(Some((i32::from_ne_bytes(data), fd)))
}

/// The kernel's sizes of `seccomp_notif` and `seccomp_notif_resp` (they may grow).
pub fn seccomp_notif_sizes() -> Result<(usize, usize), Errno> {
    let mut s = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: s is a valid seccomp_notif_sizes for the kernel to fill.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0 as libc::c_uint,
            &mut s as *mut libc::seccomp_notif_sizes,
        )
    })?;
    Ok((s.seccomp_notif as usize, s.seccomp_notif_resp as usize))
}

/// One notification from the listener: blocks until a filtered call arrives (EINTR and
/// ENOENT — the caller died meanwhile — are returned to the caller to retry).
/// `buf` must be at least the kernel's `seccomp_notif` size (zeroed here).
pub fn seccomp_notif_recv(fd: RawFd, buf: &mut [u64]) -> Result<libc::seccomp_notif, Errno> {
    assert!(std::mem::size_of_val(buf) >= std::mem::size_of::<libc::seccomp_notif>());
    buf.fill(0);
    // SAFETY: buf is zeroed and large enough for the kernel's seccomp_notif (the caller
    // sized it from SECCOMP_GET_NOTIF_SIZES), 8-byte aligned.
    check(unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, buf.as_mut_ptr()) })?;
    // SAFETY: the kernel wrote a seccomp_notif at the start of buf (aligned, large enough).
    Ok(unsafe { std::ptr::read(buf.as_ptr().cast::<libc::seccomp_notif>()) })
}

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6+): the listener and the notifying task
/// hand the CPU to each other directly, which makes a round trip several times cheaper.
pub fn seccomp_notif_sync_wakeup(fd: RawFd) -> Result<(), Errno> {
    const SYNC_WAKE_UP: u64 = 1;
    // SAFETY: the ioctl takes the flags by value.
    check(unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, SYNC_WAKE_UP) }).map(|_| ())
}

/// Answer notification `id`: fail the call with `errno`, or (`cont`) let it run.
pub fn seccomp_notif_send(
    fd: RawFd,
    buf: &mut [u64],
    id: u64,
    errno: i32,
    cont: bool,
) -> Result<(), Errno> {
    assert!(std::mem::size_of_val(buf) >= std::mem::size_of::<libc::seccomp_notif_resp>());
    buf.fill(0);
    let resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: if cont { 0 } else { -errno },
        flags: if cont {
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32
        } else {
            0
        },
    };
    // SAFETY: buf is zeroed, 8-byte aligned and large enough for the kernel's
    // seccomp_notif_resp; the response is written at its start.
    unsafe { std::ptr::write(buf.as_mut_ptr().cast::<libc::seccomp_notif_resp>(), resp) };
    // SAFETY: buf holds a valid seccomp_notif_resp of the kernel's size.
    check(unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, buf.as_mut_ptr()) }).map(|_| ())
}

/// Wait up to `timeout_ms` for `fd` to become readable: (readable, hung up).
pub fn poll_in(fd: RawFd, timeout_ms: i32) -> Result<(bool, bool), Errno> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: p is one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if n < 0 {
        let e = Errno::last();
        return if e.0 == libc::EINTR {
            Ok((false, false))
        } else {
            Err(e)
        };
    }
    Ok((
        p.revents & libc::POLLIN != 0,
        p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
    ))
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

// ---------------------------------------------------------------- landlock

#[repr(C)]
struct LandlockRulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct LandlockPathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

#[repr(C)]
struct LandlockNetPortAttr {
    allowed_access: u64,
    port: u64,
}

const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;
const LANDLOCK_RULE_NET_PORT: libc::c_int = 2;

/// The Landlock ABI version the kernel offers (ENOSYS: no Landlock; EOPNOTSUPP: disabled).
pub fn landlock_abi() -> Result<u32, Errno> {
    // SAFETY: the version query takes no attribute (NULL, 0).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<LandlockRulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    check_long(rc).map(|v| v as u32)
}

/// A new Landlock ruleset handling these rights; its descriptor is close-on-exec.
pub fn landlock_create_ruleset(fs: u64, net: u64, scoped: u64) -> Result<RawFd, Errno> {
    let attr = LandlockRulesetAttr {
        handled_access_fs: fs,
        handled_access_net: net,
        scoped,
    };
    // SAFETY: attr is a valid, fully initialised struct of the given size; the kernel accepts
    // a larger struct than it knows when the extra fields are zero.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const LandlockRulesetAttr,
            std::mem::size_of::<LandlockRulesetAttr>(),
            0u32,
        )
    };
    check_long(rc).map(|fd| fd as RawFd)
}

/// Allow `access` beneath the file or directory open as `fd` (an `O_PATH` descriptor).
pub fn landlock_add_path_rule(ruleset: RawFd, fd: RawFd, access: u64) -> Result<(), Errno> {
    let attr = LandlockPathBeneathAttr {
        allowed_access: access,
        parent_fd: fd,
    };
    // SAFETY: attr is a valid packed struct, alive for the call.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            LANDLOCK_RULE_PATH_BENEATH,
            &attr as *const LandlockPathBeneathAttr,
            0u32,
        )
    })
    .map(|_| ())
}

/// Allow `access` (bind/connect) for TCP `port`.
pub fn landlock_add_port_rule(ruleset: RawFd, port: u16, access: u64) -> Result<(), Errno> {
    let attr = LandlockNetPortAttr {
        allowed_access: access,
        port: port as u64,
    };
    // SAFETY: attr is a valid struct, alive for the call.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            LANDLOCK_RULE_NET_PORT,
            &attr as *const LandlockNetPortAttr,
            0u32,
        )
    })
    .map(|_| ())
}

/// Enforce the ruleset on the calling thread (needs no_new_privs), with `flags`
/// (`LANDLOCK_RESTRICT_SELF_*`, ABI 7: which denials the kernel's audit log records).
/// Allocation-free.
pub fn landlock_restrict_self(ruleset: RawFd, flags: u32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    check_long(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, flags) })
        .map(|_| ())
}

/// Open `path` with `O_PATH|O_CLOEXEC` (following symlinks), for a Landlock rule
/// (allocates: parent only).
pub fn open_path(path: &std::path::Path) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: c is NUL-terminated; the returned descriptor is owned by the OwnedFd.
    let fd = check(unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) })?;
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

// ---------------------------------------------------------------- secrets

/// Fill `buf` from the kernel's CSPRNG (`getrandom`).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), Errno> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the destination range lies inside buf.
        let rc = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), buf.len() - got, 0) };
        if rc < 0 {
            if Errno::last().0 == libc::EINTR {
                continue;
            }
            return Err(Errno::last());
        }
        got += rc as usize;
    }
    Ok(())
}

extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// Overwrite, in place, the value of environment variable `name` with NUL bytes, so the
/// secret is gone from this process's memory and from /proc/PID/environ.
///
/// # Safety
/// The process must be single-threaded and no reference into the environment (from
/// `std::env::var_os` and the like, or libc's `getenv`) may be alive: this bypasses std's
/// environment lock and changes the strings in place.
pub unsafe fn scrub_env_value(name: &str) {
    let key = name.as_bytes();
    // SAFETY: environ is the NULL-terminated array of NUL-terminated strings that libc
    // maintains; we only write NUL bytes inside the bounds of one string's value (up to its
    // terminating NUL), and the process is single-threaded.
    unsafe {
        let mut p = environ;
        if p.is_null() {
            return;
        }
        while !(*p).is_null() {
            let s = *p as *mut u8;
            let entry = CStr::from_ptr(s as *const libc::c_char).to_bytes();
            if entry.len() > key.len() && entry.starts_with(key) && entry[key.len()] == b'=' {
                let mut q = s.add(key.len() + 1);
                while *q != 0 {
                    *q = 0;
                    q = q.add(1);
                }
            }
            p = p.add(1);
        }
    }
}

// ---------------------------------------------------------------- memory

/// Give back the memory only start-up needed: the binary's own mapped pages (parsing,
/// planning and compiling code) and free heap. Pages the supervisor loop touches again fault
/// back in from the page cache (minor faults). Best effort; returns the bytes advised
/// (allocates: parent only).
///
/// # Safety
/// The process must be single-threaded: the mappings are chosen from /proc/self/smaps and
/// then advised, and a mapping another thread changed in between (made writable, written)
/// would lose its private pages.
pub unsafe fn release_startup_memory() -> usize {
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let exe = exe.to_string_lossy();
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    // Candidate mappings: our executable, not writable, and without a single private
    // (copy-on-write) page: relocated RELRO pages are read-only but modified, and dropping
    // them would revert them to the file's contents.
    let mut candidates: Vec<(usize, usize, bool)> = Vec::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let mut f = line.split_whitespace();
            let perms = f.nth(1).unwrap_or("");
            let path = f.nth(3).unwrap_or("");
            let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                continue;
            };
            candidates.push((a, b, path == exe && !perms.contains('w')));
        } else if let Some(kb) = line.strip_prefix("Anonymous:") {
            if kb.trim().trim_end_matches("kB").trim() != "0" {
                if let Some(last) = candidates.last_mut() {
                    last.2 = false;
                }
            }
        }
    }
    let mut advised = 0;
    for (a, b, ok) in candidates {
        if !ok {
            continue;
        }
        // SAFETY: MADV_DONTNEED on a read-only, file-backed private mapping of our own
        // executable that holds no private (modified) page only unmaps its pages from this
        // process; they stay in the page cache (the next start of secure-init still finds
        // them) and fault back in from the file on access.
        if unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED) } == 0 {
            advised += b - a;
        }
    }
    // SAFETY: malloc_trim only returns free heap memory to the kernel (glibc's; musl's
    // allocator returns freed memory by itself).
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0)
    };
    advised
}

// ---------------------------------------------------------------- files

/// Whether the filesystem holding `path` is mounted read-only (allocates: parent only).
pub fn is_readonly_mount(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is NUL-terminated; st is a valid out-pointer.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && (st.f_flag & libc::ST_RDONLY) != 0
    }
}

/// Size in bytes of the filesystem holding `path` (parent only: allocates the C path).
pub fn fs_size(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: c is NUL-terminated; st is a valid out-pointer.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        Some(st.f_blocks as u64 * st.f_frsize as u64)
    }
}

/// Kernel release string (`uname -r`).
pub fn kernel_release() -> String {
    // SAFETY: u is a valid out-pointer; release is NUL-terminated by the kernel.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn last_cap_is_the_kernels() {
        let want: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(super::last_cap(), want);
    }

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

    #[test]
    fn another_process_is_moved_off_the_callers_cpu_and_nowhere_else() {
        // A sleeping process (as the supervisor is, suspended in the vfork) gets every CPU
        // it had but the one the caller runs on; with one CPU nothing changes.
        let cpus_of = |pid: u32| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let l = s
                .lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .unwrap();
            let mut v = vec![];
            for part in l["Cpus_allowed_list:".len()..].trim().split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                v.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
            }
            v
        };
        let (all, _) = super::cpus().unwrap();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let before = cpus_of(sleeper.id());
        // pin ourselves, so that "the CPU the caller runs on" is known when it is asked
        let here = before[0];
        // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `here` is below CPU_SETSIZE (a CPU the kernel listed); `one` is valid.
        unsafe { libc::CPU_SET(here, &mut one) };
        super::set_cpus(&super::CpuSet(one)).unwrap();
        let moved = super::set_cpus_of_off_this_cpu(sleeper.id() as libc::pid_t, &all);
        super::set_cpus(&all).unwrap();
        let after = cpus_of(sleeper.id());
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        if before.len() == 1 {
            assert_eq!(moved, Ok(false));
            assert_eq!(after, before, "one CPU: nothing may change");
        } else {
            assert_eq!(moved, Ok(true));
            let expected: Vec<usize> = before.iter().copied().filter(|c| *c != here).collect();
            assert_eq!(after, expected);
        }
        // a process that is not there: the kernel's answer, not a panic
        assert_eq!(
            super::set_cpus_of_off_this_cpu(i32::MAX, &all).map_err(|e| e.raw()),
            if before.len() == 1 {
                Ok(false)
            } else {
                Err(libc::ESRCH)
            }
        );
    }

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
            super::seccomp_mode(),
            Some(field("Seccomp:").parse().unwrap())
        );
    }

    #[test]
    fn glibcs_never_threaded_record_is_false_once_a_thread_was_started() {
        // the shortcut of wait_single_threaded must never answer 1 for a process that has
        // (or had) threads: the test harness runs this test on a thread of its own
        std::thread::spawn(|| {}).join().unwrap();
        assert!(!super::never_threaded());
    }

    #[test]
    fn thread_count_follows_threads_coming_and_going() {
        // Other tests run on threads of their own meanwhile: the two ways of counting must
        // agree (read back to back until they do, as a thread may start or end in between),
        // with this test's three threads alive and once they are gone.
        let agree = || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            loop {
                let (a, b) = (super::thread_count(), super::thread_count_from_stat());
                if a == b || std::time::Instant::now() > deadline {
                    assert_eq!(a, b);
                    return a.unwrap();
                }
            }
        };
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || {
                    let _ = rx.lock().unwrap().recv();
                })
            })
            .collect();
        assert!(agree() >= 4); // this thread and the three
        for _ in 0..3 {
            tx.send(()).unwrap();
        }
        for h in hs {
            h.join().unwrap();
        }
        assert!(agree() >= 1);
    }
}
