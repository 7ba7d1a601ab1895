//! Seccomp denials as events, in four parts: [`rewrite`] (the filter whose denials ask the
//! supervisor), [`verdict`] (the original filter's verdict for a notification),
//! [`events`] (what an event says about a call) and [`learn`] (learn mode's profiles). The
//! supervisor's side — receiving, answering, recording — is `init::listener`. Pure.

mod events;
pub mod learn;
mod rewrite;
mod verdict;

pub use crate::seccomp::bpf::BPF_MAXINSNS;
pub use events::{decode_args, hint, severity};
pub use learn::learned_profile;
pub use rewrite::{with_notifications, CHILD_SYSCALLS};
#[cfg(test)]
pub(crate) use verdict::interpret;
pub use verdict::{const_verdict, evaluate, Data};

/// The architecture secure-init was built for.
fn native_arch() -> super::TargetArch {
    if cfg!(target_arch = "aarch64") {
        super::TargetArch::aarch64
    } else {
        super::TargetArch::x86_64
    }
}

/// Its `AUDIT_ARCH_*` value, as the filters check it.
fn native_audit_arch() -> u32 {
    super::compile::audit_arch(native_arch())
}

/// Its syscall table.
fn native_table() -> super::syscalls::Table {
    super::resolve::table(native_arch())
}

/// The syscall's name on this architecture ("syscall_NNN" when unknown).
pub fn syscall_name(nr: i32) -> String {
    native_table()
        .iter()
        .find(|(_, n)| *n == nr as i64)
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| format!("syscall_{nr}"))
}

/// The numbers of `names` on this architecture (names it lacks are skipped).
pub fn native_numbers(names: &[&str]) -> Vec<u32> {
    let table = native_table();
    names
        .iter()
        .filter_map(|n| table.get(n).map(|nr| nr as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::syscalls;
    use super::events::TIOCSTI;
    use super::rewrite::is_quiet;
    use super::*;
    use crate::seccomp::bpf::{JEQ_K, JMP_JA, LD_W_ABS, RET_K};

    fn pytorch() -> Vec<libc::sock_filter> {
        let p = super::super::profile::parse_builtin("pytorch")
            .unwrap()
            .unwrap();
        let r = super::super::resolve(&p, &super::super::testutil::target(&[])).unwrap();
        super::super::to_kernel(&r.compile().unwrap()[0])
    }

    fn nr(name: &str) -> i32 {
        native_numbers(&[name])[0] as i32
    }

    fn data(name: &str, args: [u64; 6]) -> Data {
        Data {
            nr: nr(name),
            arch: 0xc000003e, // AUDIT_ARCH_X86_64
            ip: 0,
            args,
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_interpreter_gives_the_profiles_verdicts() {
        let p = pytorch();
        assert!(!p.is_empty());
        let allow = libc::SECCOMP_RET_ALLOW;
        let errno = |e: i32| libc::SECCOMP_RET_ERRNO | e as u32;
        assert_eq!(evaluate(&p, &data("read", [0; 6])), allow);
        assert_eq!(
            evaluate(&p, &data("ptrace", [16, 1, 0, 0, 0, 0])),
            errno(libc::EPERM)
        );
        assert_eq!(evaluate(&p, &data("clone3", [0; 6])), errno(libc::ENOSYS));
        assert_eq!(
            evaluate(&p, &data("ioctl", [0, TIOCSTI, 0, 0, 0, 0])),
            errno(libc::EPERM)
        );
        assert_eq!(
            evaluate(&p, &data("ioctl", [0, libc::TCGETS, 0, 0, 0, 0])),
            allow
        );
        // another architecture: killed by the arch check
        let mut d = data("read", [0; 6]);
        d.arch = 0x40000003;
        assert_eq!(evaluate(&p, &d), libc::SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_rewritten_filter_notifies_denials_but_not_fallbacks_or_exempt_calls() {
        let p = pytorch();
        let exempt = native_numbers(CHILD_SYSCALLS);
        let n = with_notifications(&p, &exempt, false).unwrap();
        let notif = libc::SECCOMP_RET_USER_NOTIF;
        assert_eq!(evaluate(&n, &data("ptrace", [16, 1, 0, 0, 0, 0])), notif);
        assert_eq!(
            evaluate(&n, &data("unshare", [0x10000000, 0, 0, 0, 0, 0])),
            notif
        );
        assert_eq!(
            evaluate(&n, &data("ioctl", [0, TIOCSTI, 0, 0, 0, 0])),
            notif
        );
        // unchanged: allowed calls, ENOSYS fallbacks, the arch check
        assert_eq!(evaluate(&n, &data("read", [0; 6])), libc::SECCOMP_RET_ALLOW);
        assert_eq!(
            evaluate(&n, &data("clone3", [0; 6])),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        let mut d = data("read", [0; 6]);
        d.arch = 0x40000003;
        assert_eq!(evaluate(&n, &d), libc::SECCOMP_RET_KILL_PROCESS);
        // every call the plain filter allows, the rewritten one allows; every denial is
        // a notification or the same errno
        for (name, _) in syscalls::X86_64.iter() {
            let d = data(name, [0; 6]);
            let (a, b) = (evaluate(&p, &d), evaluate(&n, &d));
            if a == libc::SECCOMP_RET_ALLOW || is_quiet(a) || exempt.contains(&(d.nr as u32)) {
                assert_eq!(a, b, "{name}");
            } else {
                assert_eq!(b, notif, "{name}");
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_plain_copy_is_kept_only_for_child_calls_the_filter_could_report() {
        // pytorch allows every call the child makes after the install outright: no copy
        let p = pytorch();
        let exempt = native_numbers(CHILD_SYSCALLS);
        for nr in &exempt {
            assert_eq!(
                const_verdict(&p, *nr as i32, native_audit_arch()),
                Some(libc::SECCOMP_RET_ALLOW),
                "{}",
                syscall_name(*nr as i32)
            );
        }
        let n = with_notifications(&p, &exempt, false).unwrap();
        assert_eq!(n.len(), p.len());
        // arguments make a verdict unknowable without them
        assert_eq!(
            const_verdict(&p, data("ioctl", [0; 6]).nr, native_audit_arch()),
            None
        );
        // a filter that denies `write` to fd 7 and `execveat` outright: both keep their
        // plain verdicts (the supervisor could not answer), other denials are reported
        let ins = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
        let nr = |name| data(name, [0; 6]).nr as u32;
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let f = vec![
            ins(LD_W_ABS, 0, 0, 4),
            ins(JEQ_K, 1, 0, native_audit_arch()),
            ins(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
            ins(LD_W_ABS, 0, 0, 0),
            ins(JEQ_K, 0, 3, nr("write")),
            ins(LD_W_ABS, 0, 0, 16),
            ins(JEQ_K, 4, 5, 7),
            ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
            ins(JEQ_K, 2, 0, nr("execveat")),
            ins(JEQ_K, 1, 0, nr("ptrace")),
            ins(JMP_JA, 0, 0, 1),
            ins(RET_K, 0, 0, eperm),
            ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        ];
        assert_eq!(evaluate(&f, &data("write", [7, 0, 0, 0, 0, 0])), eperm);
        assert_eq!(
            evaluate(&f, &data("write", [1, 0, 0, 0, 0, 0])),
            libc::SECCOMP_RET_ALLOW
        );
        let n = with_notifications(&f, &exempt, false).unwrap();
        assert!(n.len() > 2 * f.len(), "the plain copy is kept");
        assert_eq!(evaluate(&n, &data("write", [7, 0, 0, 0, 0, 0])), eperm);
        assert_eq!(
            evaluate(&n, &data("write", [1, 0, 0, 0, 0, 0])),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(evaluate(&n, &data("execveat", [0; 6])), eperm);
        assert_eq!(
            evaluate(&n, &data("ptrace", [0; 6])),
            libc::SECCOMP_RET_USER_NOTIF
        );
        assert_eq!(evaluate(&n, &data("read", [0; 6])), libc::SECCOMP_RET_ALLOW);
    }

    #[test]
    fn arguments_are_decoded_and_escapes_are_high() {
        let d = Data {
            args: [libc::AF_PACKET as u64, libc::SOCK_RAW as u64, 3, 0, 0, 0],
            ..Default::default()
        };
        assert_eq!(decode_args("socket", &d), "AF_PACKET, SOCK_RAW, protocol 3");
        let d = Data {
            args: [
                (libc::CLONE_NEWUSER | libc::CLONE_NEWNS) as u64,
                0,
                0,
                0,
                0,
                0,
            ],
            ..Default::default()
        };
        assert_eq!(
            decode_args("unshare", &d),
            "flags=CLONE_NEWNS|CLONE_NEWUSER"
        );
        assert_eq!(severity("clone", &d), "high");
        assert_eq!(severity("unshare", &d), "high");
        assert_eq!(severity("set_mempolicy", &Data::default()), "medium");
        assert!(hint("ptrace").contains("--nonblocking"));
        assert!(hint("pidfd_getfd").contains("expandable_segments:False"));
        assert!(hint("perf_event_open").contains("torch.profiler"));
    }
}
