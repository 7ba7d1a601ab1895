//! Seccomp denials as events: the compiled filter rewritten so that its denials ask the
//! supervisor (`SECCOMP_RET_USER_NOTIF`), a classic-BPF interpreter that gives the
//! supervisor the original filter's verdict for a notification (the answer is always the
//! profile's own errno: nothing is decided by looking at user memory), and what an event
//! says about a call (decoded arguments, severity, what to do). Pure.

use super::bpf::{
    self, BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE,
    BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LSH, BPF_MAXINSNS as MAX_INSNS,
    BPF_MEM, BPF_MISC, BPF_MOD, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX,
    BPF_SUB, BPF_TAX, BPF_W, BPF_X, BPF_XOR, JEQ_K, JMP_JA, LD_W_ABS, RET_K,
};
// The terminal requests as `u64` (the libc constants' type differs between glibc and musl).
#[allow(clippy::unnecessary_cast)]
const TIOCSTI: u64 = libc::TIOCSTI as u64;
#[allow(clippy::unnecessary_cast)]
const TIOCLINUX: u64 = libc::TIOCLINUX as u64;

/// `SECCOMP_RET_ERRNO | e` with `e` = ENOSYS: the "not implemented" answers glibc, libuv
/// and Python expect (`clone3`, `io_uring_*`, …) and fall back from. Not reported.
fn is_quiet(k: u32) -> bool {
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

/// What the filter sees: `struct seccomp_data`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Data {
    pub nr: i32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    /// The 32-bit word at byte offset `off` of `struct seccomp_data` (the kernel's layout:
    /// nr, arch, instruction_pointer, args[6]; 64-bit values in host byte order).
    fn word(&self, off: u32) -> Option<u32> {
        let half = |v: u64, high: bool| {
            let lo_first = cfg!(target_endian = "little");
            if high == lo_first {
                (v >> 32) as u32
            } else {
                v as u32
            }
        };
        match off {
            0 => Some(self.nr as u32),
            4 => Some(self.arch),
            8 | 12 => Some(half(self.ip, off == 12)),
            16..=63 if off.is_multiple_of(4) => {
                let i = ((off - 16) / 8) as usize;
                Some(half(self.args[i], (off - 16) % 8 == 4))
            }
            _ => None,
        }
    }
}

/// Run a classic-BPF seccomp program on `d`: the verdict the kernel would return. Anything
/// outside the seccomp subset, a jump out of range or a fall off the end gives
/// `SECCOMP_RET_KILL_PROCESS` (the caller then answers EPERM).
pub fn evaluate(prog: &[libc::sock_filter], d: &Data) -> u32 {
    interpret(prog, d, true).unwrap_or(libc::SECCOMP_RET_KILL_PROCESS)
}

/// The verdict for system call `nr` whatever its arguments and instruction pointer; None
/// when the program reads either (as the kernel's own action cache decides).
pub fn const_verdict(prog: &[libc::sock_filter], nr: i32, arch: u32) -> Option<u32> {
    let d = Data {
        nr,
        arch,
        ..Data::default()
    };
    interpret(prog, &d, false)
}

/// [`evaluate`]; with `args_known` false, None at the first read of an argument or the
/// instruction pointer.
pub(crate) fn interpret(prog: &[libc::sock_filter], d: &Data, args_known: bool) -> Option<u32> {
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let mut steps = 0;
    while let Some(f) = prog.get(pc) {
        steps += 1;
        if steps > MAX_INSNS * 2 {
            return Some(KILL);
        }
        pc += 1;
        match bpf::class(f.code) {
            BPF_LD => match bpf::mode(f.code) {
                BPF_ABS if !args_known && f.k >= 8 => return None,
                BPF_ABS if bpf::size(f.code) == BPF_W => match d.word(f.k) {
                    Some(v) => a = v,
                    None => return Some(KILL),
                },
                BPF_IMM => a = f.k,
                BPF_MEM => a = *mem.get(f.k as usize).unwrap_or(&0),
                _ => return Some(KILL),
            },
            BPF_LDX => match bpf::mode(f.code) {
                BPF_IMM => x = f.k,
                BPF_MEM => x = *mem.get(f.k as usize).unwrap_or(&0),
                _ => return Some(KILL),
            },
            BPF_ST => match mem.get_mut(f.k as usize) {
                Some(m) => *m = a,
                None => return Some(KILL),
            },
            BPF_STX => match mem.get_mut(f.k as usize) {
                Some(m) => *m = x,
                None => return Some(KILL),
            },
            BPF_ALU => {
                let v = if bpf::src(f.code) == BPF_X { x } else { f.k };
                a = match bpf::op(f.code) {
                    BPF_ADD => a.wrapping_add(v),
                    BPF_SUB => a.wrapping_sub(v),
                    BPF_MUL => a.wrapping_mul(v),
                    BPF_DIV if v != 0 => a / v,
                    BPF_OR => a | v,
                    BPF_AND => a & v,
                    BPF_LSH => a.checked_shl(v).unwrap_or(0),
                    BPF_RSH => a.checked_shr(v).unwrap_or(0),
                    BPF_NEG => a.wrapping_neg(),
                    BPF_MOD if v != 0 => a % v,
                    BPF_XOR => a ^ v,
                    _ => return Some(KILL),
                };
            }
            BPF_JMP => {
                let v = if bpf::src(f.code) == BPF_X { x } else { f.k };
                let op = bpf::op(f.code);
                if op == BPF_JA {
                    pc += f.k as usize;
                    continue;
                }
                let taken = match op {
                    BPF_JEQ => a == v,
                    BPF_JGT => a > v,
                    BPF_JGE => a >= v,
                    BPF_JSET => a & v != 0,
                    _ => return Some(KILL),
                };
                pc += if taken { f.jt } else { f.jf } as usize;
            }
            BPF_RET => {
                return Some(match bpf::rval(f.code) {
                    BPF_K => f.k,
                    BPF_A => a,
                    _ => KILL,
                })
            }
            BPF_MISC => {
                if bpf::miscop(f.code) == BPF_TAX {
                    x = a;
                } else {
                    a = x; // BPF_TXA
                }
            }
            _ => return Some(KILL),
        }
    }
    Some(KILL)
}

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

/// Calls an exploit tries first (escape attempts): reported as `high`.
const HIGH: &[&str] = &[
    "ptrace",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "pivot_root",
    "chroot",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "name_to_handle_at",
    "process_vm_writev",
    "process_vm_readv",
    "userfaultfd",
    "perf_event_open",
    "swapon",
    "swapoff",
    "reboot",
    "iopl",
    "ioperm",
    "setuid",
    "setgid",
    "setreuid",
    "setresuid",
    "capset",
];

const CLONE_NS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u64;

/// `high` for escape attempts (and a namespace `clone`, a terminal injection), else
/// `medium`.
pub fn severity(name: &str, d: &Data) -> &'static str {
    let tty_inject = name == "ioctl" && matches!(d.args[1] as u32 as u64, TIOCSTI | TIOCLINUX);
    if HIGH.contains(&name) || (name == "clone" && d.args[0] & CLONE_NS != 0) || tty_inject {
        "high"
    } else {
        "medium"
    }
}

fn flag_names(v: u64, table: &[(u64, &str)]) -> String {
    let mut out: Vec<String> = table
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let rest = table.iter().fold(v, |r, (b, _)| r & !b);
    if rest != 0 || out.is_empty() {
        out.push(format!("{rest:#x}"));
    }
    out.join("|")
}

/// The arguments, decoded where it helps: socket family and type, clone and unshare
/// flags, the ioctl request, the ptrace request; raw hex otherwise.
pub fn decode_args(name: &str, d: &Data) -> String {
    let a = d.args;
    let ns_flags: &[(u64, &str)] = &[
        (libc::CLONE_NEWNS as u64, "CLONE_NEWNS"),
        (libc::CLONE_NEWUSER as u64, "CLONE_NEWUSER"),
        (libc::CLONE_NEWPID as u64, "CLONE_NEWPID"),
        (libc::CLONE_NEWNET as u64, "CLONE_NEWNET"),
        (libc::CLONE_NEWIPC as u64, "CLONE_NEWIPC"),
        (libc::CLONE_NEWUTS as u64, "CLONE_NEWUTS"),
        (libc::CLONE_NEWCGROUP as u64, "CLONE_NEWCGROUP"),
        (libc::CLONE_VM as u64, "CLONE_VM"),
        (libc::CLONE_FS as u64, "CLONE_FS"),
        (libc::CLONE_FILES as u64, "CLONE_FILES"),
        (libc::CLONE_SIGHAND as u64, "CLONE_SIGHAND"),
        (libc::CLONE_THREAD as u64, "CLONE_THREAD"),
        (libc::CLONE_VFORK as u64, "CLONE_VFORK"),
    ];
    match name {
        "socket" | "socketpair" => {
            let fam = match a[0] as i32 {
                libc::AF_UNIX => "AF_UNIX".to_string(),
                libc::AF_INET => "AF_INET".to_string(),
                libc::AF_INET6 => "AF_INET6".to_string(),
                libc::AF_NETLINK => "AF_NETLINK".to_string(),
                libc::AF_PACKET => "AF_PACKET".to_string(),
                libc::AF_VSOCK => "AF_VSOCK".to_string(),
                libc::AF_ALG => "AF_ALG".to_string(),
                libc::AF_BLUETOOTH => "AF_BLUETOOTH".to_string(),
                f => format!("family {f}"),
            };
            let ty = match (a[1] as i32) & 0xf {
                libc::SOCK_STREAM => "SOCK_STREAM",
                libc::SOCK_DGRAM => "SOCK_DGRAM",
                libc::SOCK_RAW => "SOCK_RAW",
                libc::SOCK_SEQPACKET => "SOCK_SEQPACKET",
                _ => "other type",
            };
            format!("{fam}, {ty}, protocol {}", a[2] as i32)
        }
        "clone" | "unshare" => format!("flags={}", flag_names(a[0], ns_flags)),
        "setns" => format!("fd={}, nstype={}", a[0] as i32, flag_names(a[1], ns_flags)),
        "ioctl" => {
            let req = a[1] as u32 as u64;
            let known = match req {
                TIOCSTI => "TIOCSTI (push input into a terminal)",
                TIOCLINUX => "TIOCLINUX",
                _ => "",
            };
            format!("fd={}, request={req:#x} {known}", a[0] as i32)
                .trim_end()
                .to_string()
        }
        "ptrace" => {
            let req = match a[0] as u32 {
                0 => "PTRACE_TRACEME".to_string(),
                16 => "PTRACE_ATTACH".to_string(),
                0x4206 => "PTRACE_SEIZE".to_string(),
                r => format!("request {r}"),
            };
            format!("{req}, pid={}", a[1] as i32)
        }
        "kill" | "tkill" => format!("pid={}, sig={}", a[0] as i32, a[1] as i32),
        "personality" => format!("persona={:#x}", a[0]),
        _ => a
            .iter()
            .map(|v| format!("{v:#x}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// What to do when the call was legitimate.
pub fn hint(name: &str) -> &'static str {
    match name {
        "ptrace" | "process_vm_readv" => "a debugger or profiler (py-spy dump, gdb) needs ptrace: use py-spy with --nonblocking, or a custom profile that allows it (secure-init profile show pytorch > p.json, edit, --seccomp p.json) in a debugging session only",
        "set_mempolicy" | "get_mempolicy" | "mbind" | "migrate_pages" | "move_pages" => "NUMA binding (numactl, some MPI/NCCL setups): allow these in a custom profile; under Docker's own filter also pass --security-opt seccomp=<secure-init profile show pytorch>",
        "pidfd_getfd" => "PyTorch's expandable segments share CUDA memory between processes with pidfd_getfd (torch.multiprocessing with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True): set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:False for jobs that pass CUDA tensors between processes; pidfd_getfd takes any descriptor of another process of the workload's uid, so both built-in profiles refuse it (Docker's too, without CAP_SYS_PTRACE)",
        "process_vm_writev" => "writing another process's memory is a debugger's (and an injector's) call: run debuggers from a privileged debugging container, not from the workload",
        "userfaultfd" => "userfaultfd is a kernel-exploit primitive (it stalls the kernel mid-copy); CUDA and PyTorch do not use it: a live-migration or CRIU tool needs a custom profile",
        "perf_event_open" => "profilers (perf, Nsight Systems CPU sampling, Kineto's perf counters) need perf_event_open; torch.profiler's CPU and CUDA (CUPTI) tracing do not: allow it in a custom profile for profiling runs only",
        "unshare" | "setns" | "mount" | "umount2" | "pivot_root" | "chroot" => "a namespace or mount operation: container escapes start here; a legitimate sandboxing tool inside the workload needs a custom profile and capabilities secure-init does not grant",
        "bpf" => "eBPF: an escape and spying primitive; tracing tools need a privileged debugging container, not this workload",
        "keyctl" | "add_key" | "request_key" => "kernel keyrings are not namespaced: denied by design",
        "ioctl" => "a terminal injection (TIOCSTI/TIOCLINUX) or a device request the profile denies: if a device driver needs it, allow that request in a custom profile",
        _ => "if the call is legitimate, allow it in a custom profile (secure-init profile show pytorch > p.json; --seccomp p.json), or record a run with --seccomp-learn in a test environment",
    }
}

#[cfg(test)]
mod tests {
    use super::super::syscalls;
    use super::*;

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
