//! The compiled filter rewritten so that its denials ask the supervisor
//! (`SECCOMP_RET_USER_NOTIF`) — except the calls the child itself makes before its exec,
//! and the ENOSYS fallbacks.

use super::verdict::const_verdict;
use super::{native_audit_arch, BPF_MAXINSNS as MAX_INSNS};
use crate::seccomp::bpf::{JEQ_K, JMP_JA, LD_W_ABS, RET_K};

/// `SECCOMP_RET_ERRNO | e` with `e` = ENOSYS: the "not implemented" answers glibc, libuv
/// and Python expect (`clone3`, `io_uring_*`, …) and fall back from. Not reported.
pub(super) fn is_quiet(k: u32) -> bool {
    k & libc::SECCOMP_RET_ACTION_FULL == libc::SECCOMP_RET_ERRNO
        && k & libc::SECCOMP_RET_DATA == libc::ENOSYS as u32
}

/// Whether a verdict is one the rewritten filter reports.
fn reported(k: u32, learn: bool) -> bool {
    let action = k & libc::SECCOMP_RET_ACTION_FULL;
    (action == libc::SECCOMP_RET_ERRNO && !is_quiet(k))
        || (learn && action == libc::SECCOMP_RET_TRAP)
}

/// The syscalls the child itself makes after installing the filter (sending the listener,
/// `execve`, reporting a failed exec, exiting): they must never wait for the supervisor,
/// which is suspended until the exec. They keep the filter's plain verdicts.
pub const CHILD_SYSCALLS: &[&str] = &[
    "sendmsg",
    "execve",
    "execveat",
    "write",
    "exit",
    "exit_group",
    "access",
    "faccessat",
    "faccessat2",
];

/// The filter with its denials turned into notifications, except for `exempt` syscall
/// numbers (which run the original filter) and the ENOSYS fallbacks. With `learn`, traps
/// are reported too. None when the result would exceed the kernel's 4096 instructions or
/// there is nothing to report.
pub fn with_notifications(
    plain: &[libc::sock_filter],
    exempt: &[u32],
    learn: bool,
) -> Option<Vec<libc::sock_filter>> {
    let mut rewritten = plain.to_vec();
    let mut any = false;
    for f in rewritten.iter_mut() {
        if f.code == RET_K && reported(f.k, learn) {
            f.k = libc::SECCOMP_RET_USER_NOTIF;
            any = true;
        }
    }
    if !any {
        return None;
    }
    // A child syscall needs the plain copy only where the rewritten filter could ask the
    // supervisor about it: an unconditional allow needs nothing (the usual case — the
    // filter is then half as long, and the kernel's work at install with it).
    let exempt: Vec<u32> = exempt
        .iter()
        .copied()
        .filter(|nr| {
            const_verdict(&rewritten, *nr as i32, native_audit_arch())
                .is_none_or(|v| v & libc::SECCOMP_RET_ACTION_FULL == libc::SECCOMP_RET_USER_NOTIF)
        })
        .collect();
    if exempt.is_empty() {
        return (rewritten.len() <= MAX_INSNS).then_some(rewritten);
    }
    // [LD nr] [JEQ exempt_i -> "JA plain"]* [JA rewritten] [JA plain] rewritten… plain…
    // A conditional jump's offsets are 8 bits: the first JEQ skips n instructions, so at
    // most 255 exempt calls fit (CHILD_SYSCALLS has 9).
    let n = exempt.len();
    if u8::try_from(n).is_err() {
        return None;
    }
    let mut out = Vec::with_capacity(n + 3 + 2 * plain.len());
    let ins = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    out.push(ins(LD_W_ABS, 0, 0, 0));
    for (i, nr) in exempt.iter().enumerate() {
        let to_plain_ja = (n - i) as u8; // lands on the second JA; <= n, checked above
        out.push(ins(JEQ_K, to_plain_ja, 0, *nr));
    }
    out.push(ins(JMP_JA, 0, 0, 1));
    out.push(ins(JMP_JA, 0, 0, rewritten.len() as u32));
    out.extend_from_slice(&rewritten);
    out.extend_from_slice(plain);
    (out.len() <= MAX_INSNS).then_some(out)
}
