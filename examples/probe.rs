//! Test payload run as the workload under secure-init. It reports, from inside the
//! hardened child, what the kernel says: ids, capabilities, no_new_privs, seccomp mode, and
//! the errno of forbidden and required system calls. Modes:
//!
//!   probe posture            one `name=value` line per check (value: ok or an errno name)
//!   probe record FILE        append each signal received to FILE; exit 0 on SIGTERM
//!   probe ignore-term FILE   ignore SIGTERM; write "ready" to FILE; exit 7 on SIGUSR1
//!   probe zombies N          leave N orphans that exit at once, then count zombies
//!   probe fds                print the open descriptors
//!   probe dump FILE          write argv and environ, NUL-separated, to FILE
//!   probe bind PORT          bind 0.0.0.0:PORT (TCP); print ok or the errno
//!   probe kill-self SIG      kill itself with signal SIG
//!   probe read FILE          read FILE; print ok or the errno
//!   probe bench N            ns per call of getppid (cached), socket (argument-checked,
//!                            fails fast with EINVAL) and add_key (denied), N calls each
//!   probe tiocsti TEXT       push TEXT into the terminal on stdin with TIOCSTI (and with
//!                            the request's high 32 bits set); print the errno of each
//!   probe attack-parent      from the workload, against its supervisor (the parent):
//!                            prlimit RLIMIT_CPU, setpriority, sched_setaffinity, SIGKILL
//!   probe daemon FILE        leave a daemon behind (own session, SIGTERM ignored unless
//!                            FILE ends in .term), its pid in FILE; exit 0 at once

use std::io::Write;

mod raw {
    //! The probe's only unsafe code: raw system calls whose result is all we want.
    pub fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// A raw syscall with up to six integer arguments; Ok(return) or Err(errno).
    pub fn sys(nr: libc::c_long, a: [u64; 6]) -> Result<i64, i32> {
        // SAFETY: every call site passes integers or pointers to live locals / null; the
        // kernel validates them and returns EFAULT/EINVAL for bad ones.
        let rc = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
        if rc < 0 {
            Err(errno())
        } else {
            Ok(rc)
        }
    }

    pub extern "C" fn on_signal(sig: libc::c_int) {
        // SAFETY: write(2) on a descriptor opened before the handler was installed is
        // async-signal-safe; the buffer is a local array.
        unsafe {
            let b = [b'0' + (sig / 10) as u8, b'0' + (sig % 10) as u8, b'\n'];
            libc::write(3, b.as_ptr().cast(), 3);
            if sig == libc::SIGTERM {
                libc::_exit(0);
            }
            if sig == libc::SIGUSR1 && IGNORE_MODE {
                libc::_exit(7);
            }
        }
    }

    pub static mut IGNORE_MODE: bool = false;

    pub fn handle(sig: i32) {
        // SAFETY: installs a plain handler function with an initialised sigaction.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }

    pub fn ignore(sig: i32) {
        // SAFETY: SIG_IGN disposition with an initialised sigaction.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_IGN;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }

    pub fn set_ignore_mode() {
        // SAFETY: single-threaded write before any handler can run.
        unsafe { IGNORE_MODE = true };
    }

    pub fn fork() -> i32 {
        // SAFETY: the probe is single-threaded when it forks.
        unsafe { libc::fork() }
    }

    pub fn exit(c: i32) -> ! {
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(c) }
    }

    pub fn pause() {
        // SAFETY: no arguments.
        unsafe { libc::pause() };
    }

    pub fn mmap_shared(fd: i32, len: usize) -> Result<(), i32> {
        // SAFETY: maps a file we created and sized; unmapped before return.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if p == libc::MAP_FAILED {
                return Err(errno());
            }
            *(p as *mut u8) = 1;
            libc::munmap(p, len);
        }
        Ok(())
    }

    pub fn anon_page() -> usize {
        // SAFETY: anonymous private mapping, leaked for the probe's lifetime.
        unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            ) as usize
        }
    }
}

fn ename(e: i32) -> String {
    match e {
        libc::EPERM => "EPERM".into(),
        libc::ENOSYS => "ENOSYS".into(),
        libc::EACCES => "EACCES".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EFAULT => "EFAULT".into(),
        libc::EBADF => "EBADF".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::ESRCH => "ESRCH".into(),
        libc::EEXIST => "EEXIST".into(),
        libc::EAFNOSUPPORT => "EAFNOSUPPORT".into(),
        libc::EADDRINUSE => "EADDRINUSE".into(),
        libc::ENOTDIR => "ENOTDIR".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::ENOMEM => "ENOMEM".into(),
        e => format!("E{e}"),
    }
}

fn show(name: &str, r: Result<i64, i32>) {
    match r {
        Ok(_) => println!("{name}=ok"),
        Err(e) => println!("{name}={}", ename(e)),
    }
}

fn cstr(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).unwrap()
}

fn posture() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines() {
        let (k, v) = line.split_once(':').unwrap_or((line, ""));
        if [
            "Uid",
            "Gid",
            "Groups",
            "CapInh",
            "CapPrm",
            "CapEff",
            "CapBnd",
            "CapAmb",
            "NoNewPrivs",
            "Seccomp",
            "Seccomp_filters",
        ]
        .contains(&k)
        {
            println!("{k}={}", v.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    println!("HOME={}", std::env::var("HOME").unwrap_or_default());
    println!("USER={}", std::env::var("USER").unwrap_or_default());
    println!("LOGNAME={}", std::env::var("LOGNAME").unwrap_or_default());
    let ppid = std::os::unix::process::parent_id() as u64;
    let s = libc::SYS_socket;
    use libc::*;
    let scratch = std::env::temp_dir().join(format!("probe-{}", std::process::id()));
    let _ = std::fs::write(&scratch, b"x");
    let scratch_c = cstr(scratch.to_str().unwrap());
    let p = |c: &std::ffi::CString| c.as_ptr() as u64;
    let none = cstr("none");
    let tmpfs = cstr("tmpfs");
    let mnt = cstr("/nonexistent-probe-dir");
    let root = cstr("/");
    let node = cstr(&format!("{}-node", scratch.display()));

    show("setuid0", raw::sys(SYS_setuid, [0, 0, 0, 0, 0, 0]));
    // a syscall number beyond every table (as a newer kernel's would be)
    show("beyond_table", raw::sys(1000, [0, 0, 0, 0, 0, 0]));
    let g0: [u32; 1] = [0];
    show(
        "setgroups",
        raw::sys(SYS_setgroups, [1, g0.as_ptr() as u64, 0, 0, 0, 0]),
    );
    show(
        "chown_root",
        raw::sys(SYS_chown, [p(&scratch_c), 0, 0, 0, 0, 0]),
    );
    show(
        "mount",
        raw::sys(SYS_mount, [p(&none), p(&mnt), p(&tmpfs), 0, 0, 0]),
    );
    show("umount2", raw::sys(SYS_umount2, [p(&mnt), 0, 0, 0, 0, 0]));
    show("chroot", raw::sys(SYS_chroot, [p(&root), 0, 0, 0, 0, 0]));
    show(
        "pivot_root",
        raw::sys(SYS_pivot_root, [p(&mnt), p(&mnt), 0, 0, 0, 0]),
    );
    show(
        "mknod",
        raw::sys(
            SYS_mknod,
            [
                p(&node),
                (S_IFCHR | 0o600) as u64,
                libc::makedev(1, 3),
                0,
                0,
                0,
            ],
        ),
    );
    show(
        "unshare_user",
        raw::sys(SYS_unshare, [CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]),
    );
    show(
        "unshare_ns",
        raw::sys(SYS_unshare, [CLONE_NEWNS as u64, 0, 0, 0, 0, 0]),
    );
    show("setns", raw::sys(SYS_setns, [u64::MAX, 0, 0, 0, 0, 0]));
    show(
        "ptrace_attach",
        raw::sys(SYS_ptrace, [PTRACE_ATTACH as u64, ppid, 0, 0, 0, 0]),
    );
    show(
        "process_vm_readv",
        raw::sys(SYS_process_vm_readv, [ppid, 0, 0, 0, 0, 0]),
    );
    show(
        "process_vm_writev",
        raw::sys(SYS_process_vm_writev, [ppid, 0, 0, 0, 0, 0]),
    );
    show(
        "pidfd_getfd",
        raw::sys(SYS_pidfd_getfd, [u64::MAX, 0, 0, 0, 0, 0]),
    );
    show(
        "keyctl",
        raw::sys(
            SYS_keyctl,
            [0 /* KEYCTL_GET_KEYRING_ID */, u64::MAX - 1, 0, 0, 0, 0],
        ),
    );
    let user = cstr("user");
    let desc = cstr("probe");
    show(
        "add_key",
        raw::sys(
            SYS_add_key,
            [
                p(&user),
                p(&desc),
                p(&desc),
                5,
                u64::MAX - 1, /* KEY_SPEC_THREAD_KEYRING */
                0,
            ],
        ),
    );
    show(
        "request_key",
        raw::sys(SYS_request_key, [p(&user), p(&desc), 0, 0, 0, 0]),
    );
    show(
        "bpf",
        raw::sys(SYS_bpf, [5 /* BPF_PROG_LOAD */, 0, 0, 0, 0, 0]),
    );
    show("userfaultfd", raw::sys(SYS_userfaultfd, [0, 0, 0, 0, 0, 0]));
    show(
        "perf_event_open",
        raw::sys(SYS_perf_event_open, [0, 0, u64::MAX, u64::MAX, 0, 0]),
    );
    show(
        "open_by_handle_at",
        raw::sys(SYS_open_by_handle_at, [u64::MAX, 0, 0, 0, 0, 0]),
    );
    show(
        "kexec_load",
        raw::sys(SYS_kexec_load, [0, 0, 0, u64::MAX, 0, 0]),
    );
    show(
        "kexec_file_load",
        raw::sys(SYS_kexec_file_load, [u64::MAX, u64::MAX, 0, 0, u64::MAX, 0]),
    );
    show("init_module", raw::sys(SYS_init_module, [0, 0, 0, 0, 0, 0]));
    show(
        "finit_module",
        raw::sys(SYS_finit_module, [u64::MAX, 0, 0, 0, 0, 0]),
    );
    show(
        "delete_module",
        raw::sys(SYS_delete_module, [p(&user), 0, 0, 0, 0, 0]),
    );
    // invalid magic numbers: EINVAL if the call reaches the kernel with CAP_SYS_BOOT
    show("reboot", raw::sys(SYS_reboot, [0, 0, 0, 0, 0, 0]));
    show("swapon", raw::sys(SYS_swapon, [p(&mnt), 0, 0, 0, 0, 0]));
    show("swapoff", raw::sys(SYS_swapoff, [p(&mnt), 0, 0, 0, 0, 0]));
    show("clone3", raw::sys(SYS_clone3, [0, 0, 0, 0, 0, 0]));
    show(
        "io_uring_setup",
        raw::sys(SYS_io_uring_setup, [0, 0, 0, 0, 0, 0]),
    );
    show(
        "io_uring_enter",
        raw::sys(SYS_io_uring_enter, [u64::MAX, 0, 0, 0, 0, 0]),
    );
    show(
        "io_uring_register",
        raw::sys(SYS_io_uring_register, [u64::MAX, 0, 0, 0, 0, 0]),
    );
    // CLONE_NEWNS|CLONE_FS is rejected by the kernel with EINVAL; a filter answers first.
    show(
        "clone_newns",
        raw::sys(SYS_clone, [(CLONE_NEWNS | CLONE_FS) as u64, 0, 0, 0, 0, 0]),
    );
    show(
        "socket_alg",
        raw::sys(s, [AF_ALG as u64, SOCK_SEQPACKET as u64, 0, 0, 0, 0]),
    );
    show(
        "socket_alg_highbits",
        raw::sys(
            s,
            [
                (1u64 << 32) | AF_ALG as u64,
                SOCK_SEQPACKET as u64,
                0,
                0,
                0,
                0,
            ],
        ),
    );
    show(
        "socket_vsock",
        raw::sys(s, [AF_VSOCK as u64, SOCK_STREAM as u64, 0, 0, 0, 0]),
    );
    let r = raw::sys(s, [AF_UNIX as u64, SOCK_STREAM as u64, 0, 0, 0, 0]);
    show("socket_unix", r);
    if let Ok(fd) = r {
        let _ = raw::sys(SYS_close, [fd as u64, 0, 0, 0, 0, 0]);
    }
    show(
        "tcp_listen",
        std::net::TcpListener::bind("127.0.0.1:0")
            .map(|_| 0)
            .map_err(|e| e.raw_os_error().unwrap_or(0)),
    );
    let name = cstr("probe");
    let r = raw::sys(SYS_memfd_create, [p(&name), MFD_CLOEXEC as u64, 0, 0, 0, 0]);
    show("memfd_create", r);
    let page = raw::anon_page() as u64;
    show(
        "mbind",
        raw::sys(SYS_mbind, [page, 4096, 0 /* MPOL_DEFAULT */, 0, 0, 0]),
    );
    let mut mode: i32 = 0;
    show(
        "get_mempolicy",
        raw::sys(
            SYS_get_mempolicy,
            [&mut mode as *mut i32 as u64, 0, 0, 0, 0, 0],
        ),
    );
    show(
        "set_mempolicy",
        raw::sys(SYS_set_mempolicy, [0, 0, 0, 0, 0, 0]),
    );
    show(
        "personality_query",
        raw::sys(SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]),
    );
    // /dev/shm shared mapping (DataLoader workers)
    let shm = format!("/dev/shm/probe-{}", std::process::id());
    let r = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&shm)
        .and_then(|f| {
            f.set_len(1 << 20)?;
            Ok(f)
        })
        .map_err(|e| e.raw_os_error().unwrap_or(0))
        .and_then(|f| {
            use std::os::fd::AsRawFd;
            raw::mmap_shared(f.as_raw_fd(), 1 << 20)
        })
        .map(|_| 0);
    let _ = std::fs::remove_file(&shm);
    show("shm_mmap", r);
    show(
        "thread",
        std::thread::spawn(|| 1)
            .join()
            .map(|_| 0)
            .map_err(|_| libc::EINVAL),
    );
    show(
        "fork_exec",
        std::process::Command::new("/bin/true")
            .status()
            .map(|s| if s.success() { 0 } else { -1 })
            .map_err(|e| e.raw_os_error().unwrap_or(0)),
    );
    show(
        "read_pid1_environ",
        std::fs::read("/proc/1/environ")
            .map(|_| 0)
            .map_err(|e| e.raw_os_error().unwrap_or(0)),
    );
    show(
        "read_ppid_environ",
        std::fs::read(format!("/proc/{ppid}/environ"))
            .map(|_| 0)
            .map_err(|e| e.raw_os_error().unwrap_or(0)),
    );
    let _ = std::fs::remove_file(&scratch);
    let _ = std::fs::remove_file(format!("{}-node", scratch.display()));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("posture");
    match mode {
        "posture" => posture(),
        "record" | "ignore-term" => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&args[2])
                .unwrap();
            use std::os::fd::IntoRawFd;
            let fd = f.into_raw_fd();
            assert_eq!(fd, 3, "the record file must be descriptor 3");
            if mode == "ignore-term" {
                raw::set_ignore_mode();
                raw::ignore(libc::SIGTERM);
                raw::handle(libc::SIGUSR1);
            } else {
                for sig in 1..32 {
                    if ![
                        libc::SIGKILL,
                        libc::SIGSTOP,
                        libc::SIGCHLD,
                        libc::SIGSEGV,
                        libc::SIGBUS,
                        libc::SIGFPE,
                        libc::SIGILL,
                    ]
                    .contains(&sig)
                    {
                        raw::handle(sig);
                    }
                }
            }
            std::fs::write(format!("{}.ready", args[2]), b"ready").unwrap();
            loop {
                raw::pause();
            }
        }
        "zombies" => {
            let n: usize = args[2].parse().unwrap();
            for _ in 0..n {
                match raw::fork() {
                    0 => {
                        // middle child: fork the orphan and exit; the orphan exits at once
                        if raw::fork() == 0 {
                            raw::exit(0);
                        }
                        raw::exit(0);
                    }
                    pid if pid > 0 => {
                        let mut st = 0;
                        // std has no waitpid: reap the middle child with wait4
                        let _ = raw::sys(
                            libc::SYS_wait4,
                            [pid as u64, &mut st as *mut i32 as u64, 0, 0, 0, 0],
                        );
                    }
                    _ => panic!("fork failed"),
                }
            }
            // give the init time to reap, then count zombies in the namespace
            let mut zombies = 0;
            for _ in 0..50 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                zombies = 0;
                let init = std::os::unix::process::parent_id().to_string();
                for e in std::fs::read_dir("/proc").unwrap().flatten() {
                    if let Ok(st) = std::fs::read_to_string(e.path().join("stat")) {
                        if let Some(i) = st.rfind(')') {
                            // state, then ppid: count zombies whose parent is our init
                            let f: Vec<&str> = st[i + 2..].split_whitespace().collect();
                            if f.first() == Some(&"Z") && f.get(1) == Some(&init.as_str()) {
                                zombies += 1;
                            }
                        }
                    }
                }
                if zombies == 0 {
                    break;
                }
            }
            println!("zombies={zombies}");
            std::process::exit(if zombies == 0 { 0 } else { 1 });
        }
        "fds" => {
            let mut fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .flatten()
                .filter(|e| {
                    // skip read_dir's own descriptor (a link to this very directory)
                    let t = std::fs::read_link(e.path()).unwrap_or_default();
                    !(t.starts_with("/proc/") && t.ends_with("fd"))
                })
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect();
            fds.sort();
            println!(
                "fds={}",
                fds.iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        "dump" => {
            let mut out = Vec::new();
            use std::os::unix::ffi::OsStrExt;
            for a in std::env::args_os() {
                out.extend_from_slice(a.as_bytes());
                out.push(0);
            }
            out.push(b'\n');
            for (k, v) in std::env::vars_os() {
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                out.extend_from_slice(v.as_bytes());
                out.push(0);
            }
            std::fs::File::create(&args[2])
                .unwrap()
                .write_all(&out)
                .unwrap();
        }
        "bind" => {
            let r = std::net::TcpListener::bind(("0.0.0.0", args[2].parse::<u16>().unwrap()));
            show(
                "bind",
                r.map(|_| 0).map_err(|e| e.raw_os_error().unwrap_or(0)),
            );
        }
        "kill-self" => {
            let sig: u64 = args[2].parse().unwrap();
            let _ = raw::sys(libc::SYS_kill, [std::process::id() as u64, sig, 0, 0, 0, 0]);
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
        "read" => {
            show(
                "read",
                std::fs::read(&args[2])
                    .map(|_| 0)
                    .map_err(|e| e.raw_os_error().unwrap_or(0)),
            );
        }
        "tiocsti" => {
            let push = |req: u64| {
                let mut r = Ok(0);
                for b in args[2].bytes() {
                    r = raw::sys(libc::SYS_ioctl, [0, req, &b as *const u8 as u64, 0, 0, 0]);
                    if r.is_err() {
                        break;
                    }
                }
                r
            };
            show("tiocsti", push(libc::TIOCSTI));
            show("tiocsti_high", push((1u64 << 32) | libc::TIOCSTI));
            show(
                "tioclinux",
                raw::sys(libc::SYS_ioctl, [0, 0x541C, 0, 0, 0, 0]),
            );
        }
        "attack-parent" => {
            let parent = std::os::unix::process::parent_id() as u64;
            let rl = [1u64, 1u64];
            show(
                "prlimit_cpu",
                raw::sys(
                    libc::SYS_prlimit64,
                    [parent, libc::RLIMIT_CPU as u64, rl.as_ptr() as u64, 0, 0, 0],
                ),
            );
            show(
                "setpriority",
                raw::sys(
                    libc::SYS_setpriority,
                    [libc::PRIO_PROCESS as u64, parent, 19, 0, 0, 0],
                ),
            );
            let mask = [1u64; 16];
            show(
                "sched_setaffinity",
                raw::sys(
                    libc::SYS_sched_setaffinity,
                    [parent, 128, mask.as_ptr() as u64, 0, 0, 0],
                ),
            );
            show(
                "kill_stop",
                raw::sys(libc::SYS_kill, [parent, libc::SIGSTOP as u64, 0, 0, 0, 0]),
            );
            show(
                "kill",
                raw::sys(libc::SYS_kill, [parent, libc::SIGKILL as u64, 0, 0, 0, 0]),
            );
            std::process::exit(5);
        }
        "daemon" => {
            let file = args[2].clone();
            match raw::fork() {
                0 => {
                    let _ = raw::sys(libc::SYS_setsid, [0; 6]);
                    if !file.ends_with(".term") {
                        raw::ignore(libc::SIGTERM);
                    }
                    raw::ignore(libc::SIGHUP);
                    std::fs::write(&file, std::process::id().to_string()).unwrap();
                    loop {
                        raw::pause();
                    }
                }
                pid if pid > 0 => {
                    for _ in 0..200 {
                        if std::fs::metadata(&file).is_ok_and(|m| m.len() > 0) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
                _ => panic!("fork failed"),
            }
        }
        "bench" => {
            let n: u64 = args[2].parse().unwrap();
            let time = |nr: libc::c_long, a: [u64; 6]| {
                let t = std::time::Instant::now();
                for _ in 0..n {
                    let _ = std::hint::black_box(raw::sys(nr, a));
                }
                t.elapsed().as_nanos() as f64 / n as f64
            };
            // warm up
            time(libc::SYS_getppid, [0; 6]);
            let getppid = time(libc::SYS_getppid, [0; 6]);
            // AF_UNIX with an invalid type: passes the domain check, the kernel says EINVAL
            let socket = time(libc::SYS_socket, [libc::AF_UNIX as u64, 99, 0, 0, 0, 0]);
            let add_key = time(libc::SYS_add_key, [0, 0, 0, 0, 0, 0]);
            // TCGETS on a descriptor that is not a terminal: ENOTTY from the kernel
            let ioctl = time(libc::SYS_ioctl, [0, libc::TCGETS, 0, 0, 0, 0]);
            println!("getppid_ns={getppid:.1}");
            println!("socket_ns={socket:.1}");
            println!("add_key_ns={add_key:.1}");
            println!("ioctl_ns={ioctl:.1}");
        }
        other => {
            eprintln!("probe: unknown mode {other}");
            std::process::exit(2);
        }
    }
}
