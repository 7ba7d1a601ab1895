//! Files and file systems: visibility and writability as the real ids see them, `flock`,
//! `O_PATH` descriptors, and what `statvfs` says of a mount.

use super::{check, Errno};
use std::ffi::CStr;
use std::os::fd::RawFd;

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
