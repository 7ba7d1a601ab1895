//! Landlock: the ABI version, rulesets, path and port rules, and enforcement.

use super::{check_long, Errno};
use std::os::fd::RawFd;

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
pub fn landlock_create_ruleset(
    fs: u64,
    net: u64,
    scoped: u64,
) -> Result<std::os::fd::OwnedFd, Errno> {
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
    let fd = check_long(rc)? as RawFd;
    // SAFETY: `fd` is the descriptor the kernel just returned, owned by nobody else.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
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
