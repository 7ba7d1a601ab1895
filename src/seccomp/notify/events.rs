//! What a `seccomp.denied` event says about a call: its severity (escape attempts are
//! high), its arguments decoded where that helps, and what to do when the call was
//! legitimate.

use super::verdict::Data;

// The terminal requests as `u64` (the libc constants' type differs between glibc and musl).
#[allow(clippy::unnecessary_cast)]
pub(super) const TIOCSTI: u64 = libc::TIOCSTI as u64;
#[allow(clippy::unnecessary_cast)]
const TIOCLINUX: u64 = libc::TIOCLINUX as u64;

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
