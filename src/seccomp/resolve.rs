//! Resolution of a parsed profile for one target: the workload's final capabilities, the
//! architecture and the running kernel decide which entries apply (`includes`/`excludes`,
//! as dockerd does), names become numbers, and argument conditions are checked and sized
//! (32-bit arguments compared on 32 bits, as the kernel reads them).
//!
//! Compiled by `build.rs` too (see `seccomp/mod.rs`): imports only `crate::error`, its
//! sibling modules and external crates.

use super::profile::{parse_action, parse_kernel, Action, Arg, Profile, SyscallEntry};
use super::syscalls;
use crate::error::{Error, Result};
use seccompiler::TargetArch;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- resolution

/// What the profile is resolved against.
#[derive(Debug, Clone)]
pub struct Target {
    pub arch: TargetArch,
    /// Capabilities the workload keeps (canonical `CAP_*` names).
    pub caps: Vec<String>,
    /// Running kernel (major, minor).
    pub kernel: (u32, u32),
}

impl Target {
    /// Docker's name for the architecture (Go's GOARCH), used by `includes.arches`.
    fn docker_arch(&self) -> &'static str {
        match self.arch {
            TargetArch::x86_64 => "amd64",
            TargetArch::aarch64 => "arm64",
            TargetArch::riscv64 => "riscv64",
        }
    }
}

/// One argument comparison, ready for seccompiler.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cond {
    pub index: u8,
    pub wide: bool,
    pub op: CmpOp,
    pub value: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CmpOp {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq(u64),
}

impl CmpOp {
    /// ` == 0x8`, `&0xff == 0x8`: the comparison against `value`, for people.
    pub fn describe(self, value: u64) -> String {
        match self {
            CmpOp::Ne => format!("!={value:#x}"),
            CmpOp::Lt => format!("<{value:#x}"),
            CmpOp::Le => format!("<={value:#x}"),
            CmpOp::Eq => format!("=={value:#x}"),
            CmpOp::Ge => format!(">={value:#x}"),
            CmpOp::Gt => format!(">{value:#x}"),
            CmpOp::MaskedEq(m) => format!("&{m:#x}=={value:#x}"),
        }
    }
}

/// The resolved rules of one syscall for one action: `None` = unconditional, else an OR of
/// AND-groups of conditions.
pub type Conds = Option<Vec<Vec<Cond>>>;

/// The syscalls of one action: number -> (name, conditions).
pub type ActionRules = BTreeMap<i64, (String, Conds)>;

/// A profile resolved for one target.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub default: Action,
    /// Actions in order of first appearance, each with its syscalls.
    pub groups: Vec<(Action, ActionRules)>,
    /// Names skipped because they exist only on other architectures.
    pub skipped_other_arch: Vec<String>,
    /// Entries skipped by includes/excludes.
    pub skipped_entries: usize,
    pub arch: TargetArch,
    /// Syscalls with an unconditional rule and another rule of a different action:
    /// secure-init applies the most restrictive, libseccomp (Docker, podman) keeps the
    /// first unconditional rule or lets a later one erase earlier conditional ones.
    pub libseccomp_differs: Vec<String>,
}

pub(super) fn table(arch: TargetArch) -> syscalls::Table {
    match arch {
        TargetArch::aarch64 => syscalls::AARCH64,
        _ => syscalls::X86_64,
    }
}

/// The syscall number of `name` on `arch`.
pub fn syscall_nr(arch: TargetArch, name: &str) -> Option<i64> {
    table(arch).get(name)
}

fn known_anywhere(name: &str) -> bool {
    syscall_nr(TargetArch::x86_64, name).is_some()
        || syscall_nr(TargetArch::aarch64, name).is_some()
        || syscalls::OTHER_ARCH_ONLY.get(name).is_some()
}

/// Arguments the kernel reads as 32-bit values (int, unsigned int, mode/uid/gid types, and
/// clone's flags, which the kernel truncates). Conditions on them compare only the low 32
/// bits, as the kernel sees them: a 64-bit comparison could be bypassed by setting high
/// bits the kernel ignores. Every other argument is compared on all 64 bits.
fn arg_is_32bit(name: &str, index: u8) -> bool {
    let idx: &[u8] = match name {
        "socket" | "socketpair" => &[0, 1, 2],
        "personality" => &[0],
        "clone" => &[0, 1],
        "ioctl" => &[0, 1],
        "fcntl" => &[0, 1],
        "prctl" => &[0],
        "setsockopt" | "getsockopt" => &[0, 1, 2],
        "kill" | "tkill" => &[0, 1],
        "tgkill" => &[0, 1, 2],
        "open" => &[1, 2],
        "openat" => &[0, 2, 3],
        "setns" => &[0, 1],
        "futex" => &[1],
        "madvise" => &[2],
        "seccomp" => &[0, 1],
        "chmod" => &[1],
        "fchmod" => &[0, 1],
        "fchmodat" => &[0, 2],
        "mknod" => &[1],
        "mknodat" => &[0, 2],
        "bpf" => &[0],
        "keyctl" => &[0],
        "getrandom" => &[2],
        "memfd_create" => &[1],
        "perf_event_open" => &[1, 2, 3],
        "close" | "dup" => &[0],
        "dup2" => &[0, 1],
        "dup3" => &[0, 1, 2],
        "setuid" | "setgid" | "setfsuid" | "setfsgid" => &[0],
        "setreuid" | "setregid" => &[0, 1],
        "setresuid" | "setresgid" => &[0, 1, 2],
        "quotactl" => &[0],
        "sched_setscheduler" => &[0, 1],
        "mbind" => &[2],
        "set_mempolicy" => &[0],
        "shmget" => &[2],
        "shmctl" | "msgctl" => &[0, 1],
        "semctl" => &[0, 1, 2],
        "ioprio_set" => &[0, 1, 2],
        "unshare" => &[],
        _ => &[],
    };
    idx.contains(&index)
}

fn parse_op(a: &Arg, field: &str) -> Result<CmpOp> {
    Ok(match a.op.as_str() {
        "SCMP_CMP_NE" => CmpOp::Ne,
        "SCMP_CMP_LT" => CmpOp::Lt,
        "SCMP_CMP_LE" => CmpOp::Le,
        "SCMP_CMP_EQ" => CmpOp::Eq,
        "SCMP_CMP_GE" => CmpOp::Ge,
        "SCMP_CMP_GT" => CmpOp::Gt,
        // Docker/libseccomp: value is the mask, valueTwo the datum.
        "SCMP_CMP_MASKED_EQ" => CmpOp::MaskedEq(a.value),
        other => {
            return Err(Error::config(format!(
                "seccomp profile: {field}.op: unknown operator {other:?}; use SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT or SCMP_CMP_MASKED_EQ"
            )))
        }
    })
}

const KNOWN_ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

fn kernel_ge(kernel: (u32, u32), min: &str, field: &str) -> Result<bool> {
    let want = parse_kernel(min)
        .filter(|_| {
            min.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .ok_or_else(|| {
            Error::config(format!(
                "seccomp profile: {field}.minKernel: {min:?} is not a kernel version like \"4.8\""
            ))
        })?;
    Ok(kernel >= want)
}

/// Resolve a parsed profile against a target.
pub fn resolve(p: &Profile, t: &Target) -> Result<Resolved> {
    if p.listener_path.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(Error::config(
            "seccomp profile: listenerPath: seccomp user notification agents are not supported; remove listenerPath",
        ));
    }
    if p.listener_metadata
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(Error::config(
            "seccomp profile: listenerMetadata: seccomp user notification agents are not supported; remove listenerMetadata",
        ));
    }
    for f in p.flags.iter().flatten() {
        if f != "SECCOMP_FILTER_FLAG_TSYNC" {
            return Err(Error::config(format!(
                "seccomp profile: flags: {f:?} is not supported (only SECCOMP_FILTER_FLAG_TSYNC, which is implied); remove it"
            )));
        }
    }
    let mut arches: Vec<&String> = p.architectures.iter().flatten().collect();
    for m in p.arch_map.iter().flatten() {
        arches.push(&m.architecture);
        arches.extend(m.sub_architectures.iter().flatten());
    }
    for a in arches {
        if !KNOWN_ARCHES.contains(&a.as_str()) {
            return Err(Error::config(format!(
                "seccomp profile: architectures: unknown architecture {a:?}; use SCMP_ARCH_* names such as SCMP_ARCH_X86_64"
            )));
        }
    }
    let default = parse_action(&p.default_action, p.default_errno_ret, "defaultAction")?;
    let mut groups: Vec<(Action, ActionRules)> = Vec::new();
    let mut skipped_other_arch = Vec::new();
    let mut skipped_entries = 0;
    // per syscall: the actions of the rules naming it, and whether each is unconditional
    let mut rules_of: BTreeMap<String, Vec<(Action, bool)>> = BTreeMap::new();
    for (i, e) in p.syscalls.iter().flatten().enumerate() {
        let field = format!("syscalls[{i}]");
        let action = parse_action(&e.action, e.errno_ret, &format!("{field}.action"))?;
        let mut names: Vec<&String> = e.names.iter().collect();
        names.extend(e.name.iter());
        if names.is_empty() {
            return Err(Error::config(format!(
                "seccomp profile: {field}.names: empty; list at least one syscall name"
            )));
        }
        // Validate every name and argument even when the entry is skipped below.
        for n in &names {
            if !known_anywhere(n) {
                return Err(Error::config(format!(
                    "seccomp profile: {field}.names: {n:?} is not a syscall on any architecture; check the spelling"
                )));
            }
        }
        let mut conds: Vec<(u8, CmpOp, u64)> = Vec::new();
        for (j, a) in e.args.iter().flatten().enumerate() {
            let af = format!("{field}.args[{j}]");
            if a.index > 5 {
                return Err(Error::config(format!(
                    "seccomp profile: {af}.index: {} is out of range; syscalls have arguments 0 to 5",
                    a.index
                )));
            }
            let op = parse_op(a, &af)?;
            let value = if let CmpOp::MaskedEq(_) = op {
                a.value_two
            } else {
                a.value
            };
            conds.push((a.index as u8, op, value));
        }
        if !included(e, t, &field)? {
            skipped_entries += 1;
            continue;
        }
        let slot = match groups.iter().position(|(a, _)| *a == action) {
            Some(k) => k,
            None => {
                groups.push((action, BTreeMap::new()));
                groups.len() - 1
            }
        };
        for n in names {
            let Some(nr) = syscall_nr(t.arch, n) else {
                skipped_other_arch.push(n.clone());
                continue;
            };
            rules_of
                .entry(n.clone())
                .or_default()
                .push((action, conds.is_empty()));
            let mut and_groups: Vec<Vec<Cond>> = Vec::new();
            if !conds.is_empty() {
                let mk = |(idx, op, value): (u8, CmpOp, u64)| -> Result<Cond> {
                    let wide = !arg_is_32bit(n, idx);
                    let mask_ok = match op {
                        CmpOp::MaskedEq(m) => wide || m <= u32::MAX as u64,
                        _ => true,
                    };
                    if !wide && (value > u32::MAX as u64 || !mask_ok) {
                        return Err(Error::config(format!(
                            "seccomp profile: {field}.args: argument {idx} of {n} is 32 bits wide but the value {value:#x} needs more; the comparison could never match as written"
                        )));
                    }
                    Ok(Cond {
                        index: idx,
                        wide,
                        op,
                        value,
                    })
                };
                let mut seen = std::collections::HashSet::new();
                let dup = conds.iter().any(|c| !seen.insert(c.0));
                if dup {
                    // runc's rule: conditions on the same argument are OR-ed.
                    for c in &conds {
                        and_groups.push(vec![mk(*c)?]);
                    }
                } else {
                    and_groups.push(conds.iter().map(|c| mk(*c)).collect::<Result<_>>()?);
                }
            }
            let entry = groups[slot]
                .1
                .entry(nr)
                .or_insert_with(|| (n.clone(), Some(Vec::new())));
            match (&mut entry.1, and_groups.is_empty()) {
                (_, true) => entry.1 = None,
                (None, false) => {}
                (Some(v), false) => {
                    for g in and_groups {
                        if !v.contains(&g) {
                            v.push(g);
                        }
                    }
                }
            }
        }
    }
    skipped_other_arch.sort();
    skipped_other_arch.dedup();
    let libseccomp_differs = rules_of
        .into_iter()
        .filter(|(_, r)| r.iter().any(|(_, u)| *u) && r.iter().any(|(a, _)| *a != r[0].0))
        .map(|(n, _)| n)
        .collect();
    Ok(Resolved {
        default,
        groups,
        skipped_other_arch,
        skipped_entries,
        arch: t.arch,
        libseccomp_differs,
    })
}

fn included(e: &SyscallEntry, t: &Target, field: &str) -> Result<bool> {
    let canon = |c: &String| caps::to_canonical(c);
    if let Some(inc) = &e.includes {
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == t.docker_arch()) {
            return Ok(false);
        }
        if !inc.caps.iter().all(|c| t.caps.contains(&canon(c))) {
            return Ok(false);
        }
        if let Some(k) = &inc.min_kernel {
            if !kernel_ge(t.kernel, k, &format!("{field}.includes"))? {
                return Ok(false);
            }
        }
    }
    if let Some(exc) = &e.excludes {
        if exc.arches.iter().any(|a| a == t.docker_arch()) {
            return Ok(false);
        }
        if exc.caps.iter().any(|c| t.caps.contains(&canon(c))) {
            return Ok(false);
        }
        if let Some(k) = &exc.min_kernel {
            if kernel_ge(t.kernel, k, &format!("{field}.excludes"))? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

impl Resolved {
    /// Verdict of the compiled filter stack for `nr` when the arguments match nothing
    /// conditional: the most restrictive action among the unconditional rules naming it,
    /// ALLOW if only conditional rules name it, else the default.
    pub fn unconditional_verdict(&self, nr: i64) -> Action {
        let mut named = false;
        let mut worst: Option<Action> = None;
        for (a, m) in &self.groups {
            if let Some((_, c)) = m.get(&nr) {
                named = true;
                if c.is_none() && *a != Action::Allow {
                    worst = Some(worst.map_or(*a, |w: Action| w.max(*a)));
                }
            }
        }
        match (named, worst) {
            (_, Some(w)) => w,
            (true, None) => Action::Allow,
            (false, None) => self.default,
        }
    }

    pub fn syscall_count(&self) -> usize {
        let mut all: Vec<i64> = self
            .groups
            .iter()
            .flat_map(|(_, m)| m.keys().copied())
            .collect();
        all.sort();
        all.dedup();
        all.len()
    }

    /// A JSON summary for `profile check`, `--dry-run` and the log.
    pub fn summary(&self) -> serde_json::Value {
        let mut actions = serde_json::Map::new();
        for (a, m) in &self.groups {
            let names: Vec<&str> = m.values().map(|(n, _)| n.as_str()).collect();
            let conditional = m.values().filter(|(_, c)| c.is_some()).count();
            actions.insert(
                a.describe(),
                serde_json::json!({"syscalls": names.len(), "conditional": conditional, "names": names}),
            );
        }
        serde_json::json!({
            "arch": format!("{:?}", self.arch),
            "default_action": self.default.describe(),
            "syscalls_named": self.syscall_count(),
            "actions": actions,
            "skipped_other_arch": self.skipped_other_arch.len(),
            "skipped_by_includes_excludes": self.skipped_entries,
            "libseccomp_differs": self.libseccomp_differs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::profile::{builtin, parse};
    use crate::seccomp::testutil::{resolve_text, target};

    #[test]
    fn tables_are_sorted_for_binary_search() {
        for t in [
            syscalls::X86_64,
            syscalls::AARCH64,
            syscalls::OTHER_ARCH_ONLY,
        ] {
            let names: Vec<&str> = t.iter().map(|(n, _)| n).collect();
            assert!(names.windows(2).all(|w| w[0] < w[1]));
            // every name is found where it is, by the binary search
            for (n, nr) in t.iter() {
                assert_eq!(t.get(n), Some(nr), "{n}");
            }
        }
        assert_eq!(syscalls::X86_64.get("mount_"), None);
        assert_eq!(syscalls::X86_64.get(""), None);
        assert_eq!(syscalls::X86_64.get("_sysctl"), Some(156));
        assert_eq!(syscalls::AARCH64.get("write"), Some(64));
        assert_eq!(syscalls::OTHER_ARCH_ONLY.get("socketcall"), Some(0));
        assert_eq!(syscall_nr(TargetArch::x86_64, "mount"), Some(165));
        assert_eq!(syscall_nr(TargetArch::aarch64, "mount"), Some(40));
        assert_eq!(syscall_nr(TargetArch::x86_64, "open_tree_attr"), Some(467));
    }

    #[test]
    fn every_builtin_denies_terminal_injection() {
        for (name, _) in crate::seccomp::profile::BUILTIN {
            let p = crate::seccomp::profile::parse_builtin(name)
                .unwrap()
                .unwrap();
            let r = resolve(&p, &target(&[])).unwrap();
            let nr = syscall_nr(TargetArch::x86_64, "ioctl").unwrap();
            let guard = r
                .groups
                .iter()
                .find(|(a, m)| *a == Action::Errno(1) && m.contains_key(&nr))
                .unwrap_or_else(|| panic!("{name}: no ioctl guard"));
            let conds = guard.1[&nr].1.as_ref().unwrap();
            let mut reqs: Vec<u64> = conds.iter().flatten().map(|c| c.value).collect();
            reqs.sort();
            assert_eq!(reqs, vec![0x5412, 0x541C], "{name}");
        }
    }

    #[test]
    fn docker_default_resolves_like_docker() {
        let r = resolve(
            &parse(builtin("docker-default").unwrap(), "d").unwrap(),
            &target(&[]),
        )
        .unwrap();
        let nr = |n| syscall_nr(TargetArch::x86_64, n).unwrap();
        assert_eq!(r.default, Action::Errno(1));
        assert_eq!(r.unconditional_verdict(nr("clone3")), Action::Errno(38));
        assert_eq!(r.unconditional_verdict(nr("read")), Action::Allow);
        assert_eq!(r.unconditional_verdict(nr("mount")), Action::Errno(1));
        assert_eq!(
            r.unconditional_verdict(nr("ptrace")),
            Action::Allow,
            "minKernel 4.8"
        );
        assert_eq!(
            r.unconditional_verdict(nr("get_mempolicy")),
            Action::Errno(1)
        );
        // with CAP_SYS_ADMIN, clone3 and mount are allowed, as in Docker
        let r = resolve(
            &parse(builtin("docker-default").unwrap(), "d").unwrap(),
            &target(&["CAP_SYS_ADMIN"]),
        )
        .unwrap();
        assert_eq!(r.unconditional_verdict(nr("clone3")), Action::Allow);
        assert_eq!(r.unconditional_verdict(nr("mount")), Action::Allow);
        assert!(!r.skipped_other_arch.is_empty());
    }

    #[test]
    fn socket_conditions_are_32_bit() {
        let r = resolve(
            &parse(builtin("docker-default").unwrap(), "d").unwrap(),
            &target(&[]),
        )
        .unwrap();
        let nr = syscall_nr(TargetArch::x86_64, "socket").unwrap();
        let (_, conds) = &r.groups[0].1[&nr];
        let conds = conds.as_ref().unwrap();
        assert_eq!(conds.len(), 3);
        assert!(conds.iter().flatten().all(|c| !c.wide));
    }

    #[test]
    fn pytorch_profile_denies_and_allows_what_it_says() {
        let r = resolve(
            &parse(builtin("pytorch").unwrap(), "p").unwrap(),
            &target(&[]),
        )
        .unwrap();
        let v = |n| r.unconditional_verdict(syscall_nr(TargetArch::x86_64, n).unwrap());
        // every denial of the shared policy (profiles/pytorch-policy.json): see below
        for n in [
            "clone3",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
        ] {
            assert_eq!(v(n), Action::Errno(38), "{n}");
        }
        for n in [
            "memfd_create",
            "mbind",
            "get_mempolicy",
            "set_mempolicy",
            "read",
            "ioctl",
            "futex",
            "mmap",
            "write",
        ] {
            assert_eq!(v(n), Action::Allow, "{n}");
        }
        // hot syscalls carry no argument condition anywhere, but ioctl's terminal guard
        for n in ["ioctl", "futex", "mmap", "read", "write", "openat", "close"] {
            let nr = syscall_nr(TargetArch::x86_64, n).unwrap();
            for (a, m) in &r.groups {
                if let Some((_, c)) = m.get(&nr) {
                    if n == "ioctl" && *a == Action::Errno(1) {
                        let mut reqs: Vec<u64> =
                            c.iter().flatten().flatten().map(|c| c.value).collect();
                        reqs.sort();
                        assert_eq!(reqs, vec![0x5412, 0x541C], "only TIOCSTI and TIOCLINUX");
                        assert!(c
                            .iter()
                            .flatten()
                            .flatten()
                            .all(|c| c.index == 1 && !c.wide));
                        continue;
                    }
                    assert!(c.is_none(), "{n} has conditions");
                }
            }
        }
        // the whole shared policy, not only the names listed above
        let pol = crate::seccomp::profile::policy();
        for n in pol
            .deny
            .iter()
            .filter(|n| syscall_nr(TargetArch::x86_64, n).is_some())
        {
            assert_eq!(v(n), Action::Errno(1), "{n}");
        }
        for n in &pol.enosys {
            assert_eq!(v(n), Action::Errno(38), "{n}");
        }
        for n in pol
            .numa
            .iter()
            .filter(|n| syscall_nr(TargetArch::x86_64, n).is_some())
        {
            assert_eq!(v(n), Action::Allow, "{n}");
        }
        // even with every capability kept, the denials stand
        let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        let allr: Vec<&str> = all.iter().map(String::as_str).collect();
        let r = resolve(
            &parse(builtin("pytorch").unwrap(), "p").unwrap(),
            &target(&allr),
        )
        .unwrap();
        assert_eq!(
            r.unconditional_verdict(syscall_nr(TargetArch::x86_64, "mount").unwrap()),
            Action::Errno(1)
        );
    }

    #[test]
    fn malformed_profiles_name_the_field() {
        let cases = [
            ("", "empty"),
            ("{", "invalid profile JSON"),
            (r#"{"defaultAction":"SCMP_ACT_NOPE"}"#, "defaultAction"),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_BOGUS"}]}"#,
                "syscalls[0].action",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "syscalls[0].args[0].index",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_LIKE"}]}]}"#,
                "syscalls[0].args[0].op",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","frobnicate"],"action":"SCMP_ACT_ALLOW"}]}"#,
                "\"frobnicate\"",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "SCMP_ACT_NOTIFY",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/agent.sock"}"#,
                "listenerPath",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_LOG"]}"#,
                "flags",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscall":[]}"#,
                "unknown field",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"four"}}]}"#,
                "minKernel",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_Z80"]}"#,
                "architectures",
            ),
        ];
        for (text, want) in cases {
            let e = resolve_text(text).unwrap_err();
            assert_eq!(e.code(), 78, "{text}");
            assert!(e.msg.contains(want), "{text}: {}", e.msg);
            assert!(!e.msg.contains('\n'), "one line: {}", e.msg);
        }
    }

    #[test]
    fn duplicate_arg_indexes_are_ored() {
        let r = resolve_text(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#).unwrap();
        let nr = syscall_nr(TargetArch::x86_64, "personality").unwrap();
        assert_eq!(r.groups[0].1[&nr].1.as_ref().unwrap().len(), 2);
    }
}
