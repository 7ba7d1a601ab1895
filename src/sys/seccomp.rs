//! seccomp: installing filters (with or without a user-notification listener) and the
//! listener's receive, answer and wake-up calls.

use super::{check, check_long, prctl, Errno};
use std::os::fd::RawFd;

/// This thread's seccomp mode (`PR_GET_SECCOMP`: 0 none, 2 a filter); None when the call is
/// refused (a runtime's filter that denies `prctl`).
pub fn seccomp_mode() -> Option<u32> {
    prctl(libc::PR_GET_SECCOMP, 0, 0)
        .ok()
        .and_then(|v| u32::try_from(v).ok())
}

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
