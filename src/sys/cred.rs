//! Credentials: user and group ids (raw, per-thread system calls), capability sets, the
//! bounding and ambient sets, keep-caps and `no_new_privs`.

use super::{check, check_long, prctl, Errno};

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
}
