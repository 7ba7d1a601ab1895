//! Docker/OCI seccomp profiles: parsing, resolution against the workload's final
//! capabilities, the target architecture and the running kernel, and compilation into
//! one classic-BPF filter, with seccompiler compiling each syscall's argument checks.
//!
//! Compilation: the whole profile becomes ONE classic-BPF filter (see `Resolved::layout`).
//! Its verdicts are defined by a reference model, a stack of one seccompiler filter per
//! action under `defaultAction` (`Resolved::filter_rules`, used by the tests): the kernel
//! would keep the most restrictive verdict (KILL > TRAP > ERRNO > TRACE > LOG > ALLOW),
//! the most recently installed on ties. So a syscall that matches no rule gets
//! `defaultAction`, one that matches rules gets the most restrictive of their actions, and
//! between two errnos the rule group that comes later in the profile. Syscalls allowed
//! without argument conditions answer ALLOW without reading arguments, so the kernel's
//! per-syscall action cache skips the filter for them.

mod syscalls;

use crate::error::{Error, Result};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Built-in profiles, embedded at build time.
pub const BUILTIN: &[(&str, &str)] = &[
    ("pytorch", include_str!("../../profiles/pytorch.json")),
    (
        "docker-default",
        include_str!("../../profiles/docker-default.json"),
    ),
];

pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// A built-in profile compiled at build time (build.rs) for the target architecture, with
/// no capability kept. Valid on kernels at or above `min_kernel` (the highest `minKernel`
/// the profile tests), where run-time resolution gives the same programs (unit-tested).
#[derive(Debug)]
pub struct Precompiled {
    pub name: &'static str,
    pub min_kernel: (u32, u32),
    pub syscalls: usize,
    pub skipped_other_arch: &'static [&'static str],
    /// Installation order; instructions as (code, jt, jf, k).
    pub programs: &'static [&'static [(u16, u8, u8, u32)]],
}

/// The highest kernel version any `minKernel` of the profile mentions ((0, 0) if none).
pub fn max_min_kernel(p: &Profile) -> (u32, u32) {
    p.syscalls
        .iter()
        .flatten()
        .flat_map(|e| [e.includes.as_ref(), e.excludes.as_ref()])
        .flatten()
        .filter_map(|f| f.min_kernel.as_deref().and_then(parse_kernel))
        .max()
        .unwrap_or((0, 0))
}

/// The running kernel's (major, minor).
pub fn running_kernel() -> (u32, u32) {
    parse_kernel(&crate::sys::kernel_release()).unwrap_or((0, 0))
}

// ---------------------------------------------------------------- the JSON model

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    pub syscalls: Option<Vec<SyscallEntry>>,
    #[serde(default)]
    pub flags: Option<Vec<String>>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyscallEntry {
    #[serde(default)]
    pub names: Vec<String>,
    /// Old Docker profiles name one syscall per entry.
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

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
    pub fn native(caps: Vec<String>) -> Result<Self> {
        let arch = match std::env::consts::ARCH {
            "x86_64" => TargetArch::x86_64,
            "aarch64" => TargetArch::aarch64,
            other => {
                return Err(Error::hardening(format!(
                    "seccomp: architecture {other} is not supported (x86_64 and aarch64 are); use --seccomp unconfined to run without a filter"
                )))
            }
        };
        Ok(Target {
            arch,
            caps,
            kernel: running_kernel(),
        })
    }

    /// Docker's name for the architecture (Go's GOARCH), used by `includes.arches`.
    fn docker_arch(&self) -> &'static str {
        match self.arch {
            TargetArch::x86_64 => "amd64",
            TargetArch::aarch64 => "arm64",
            TargetArch::riscv64 => "riscv64",
        }
    }
}

fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// A seccomp action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    Log,
    Trace(u32),
    Errno(u32),
    Trap,
    KillThread,
    KillProcess,
}

impl Action {
    fn to_seccompiler(self) -> SeccompAction {
        match self {
            Action::Allow => SeccompAction::Allow,
            Action::Log => SeccompAction::Log,
            Action::Trace(n) => SeccompAction::Trace(n),
            Action::Errno(n) => SeccompAction::Errno(n),
            Action::Trap => SeccompAction::Trap,
            Action::KillThread => SeccompAction::KillThread,
            Action::KillProcess => SeccompAction::KillProcess,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Action::Allow => "allow".into(),
            Action::Log => "log".into(),
            Action::Trace(n) => format!("trace({n})"),
            Action::Errno(n) => format!("errno({n} {})", errno_name(n)),
            Action::Trap => "trap".into(),
            Action::KillThread => "kill-thread".into(),
            Action::KillProcess => "kill-process".into(),
        }
    }
}

fn errno_name(n: u32) -> &'static str {
    match n as i32 {
        libc::EPERM => "EPERM",
        libc::ENOSYS => "ENOSYS",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        _ => "",
    }
}

fn parse_action(s: &str, errno: Option<u32>, field: &str) -> Result<Action> {
    let eperm = libc::EPERM as u32;
    Ok(match s {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(eperm)),
        "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(eperm)),
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_NOTIFY" => {
            return Err(Error::config(format!(
                "seccomp profile: {field}: SCMP_ACT_NOTIFY needs a seccomp agent, which secure-init does not run; use SCMP_ACT_ERRNO or SCMP_ACT_ALLOW"
            )))
        }
        other => {
            return Err(Error::config(format!(
                "seccomp profile: {field}: unknown action {other:?}; use one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG"
            )))
        }
    })
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
}

fn table(arch: TargetArch) -> &'static [(&'static str, i64)] {
    match arch {
        TargetArch::aarch64 => syscalls::AARCH64,
        _ => syscalls::X86_64,
    }
}

/// The syscall number of `name` on `arch`.
pub fn syscall_nr(arch: TargetArch, name: &str) -> Option<i64> {
    let t = table(arch);
    t.binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| t[i].1)
}

fn known_anywhere(name: &str) -> bool {
    syscall_nr(TargetArch::x86_64, name).is_some()
        || syscall_nr(TargetArch::aarch64, name).is_some()
        || syscalls::OTHER_ARCH_ONLY.binary_search(&name).is_ok()
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

/// Parse a profile's JSON text. Errors name the field (serde's path and position).
pub fn parse(text: &str, source: &str) -> Result<Profile> {
    if text.trim().is_empty() {
        return Err(Error::config(format!(
            "seccomp profile {source}: the file is empty; give a Docker/OCI seccomp JSON profile"
        )));
    }
    serde_json::from_str(text).map_err(|e| {
        Error::config(format!(
            "seccomp profile {source}: invalid profile JSON: {e}; see `secure-init profile show pytorch` for the format"
        ))
    })
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
    Ok(Resolved {
        default,
        groups,
        skipped_other_arch,
        skipped_entries,
        arch: t.arch,
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
        })
    }

    /// The reference model (tests): the profile as a stack of filters, one per action, in
    /// installation order — (rules, mismatch action, match action) — whose combined kernel
    /// verdict the single compiled filter must reproduce exactly.
    #[cfg(test)]
    fn filter_rules(&self) -> Result<Vec<FilterRules>> {
        let mut out = Vec::new();
        // 1. one filter per non-allow action, each allowing everything else (so none of them
        //    stops the `seccomp` calls that install the next filters)
        for (a, m) in &self.groups {
            if *a == Action::Allow || m.is_empty() {
                continue;
            }
            let rules = m
                .iter()
                .map(|(nr, (_, c))| Ok((*nr, to_rules(c)?)))
                .collect::<Result<BTreeMap<_, _>>>()?;
            out.push((rules, SeccompAction::Allow, a.to_seccompiler()));
        }
        // 2. the base filter, installed last: every syscall any rule names, with the union
        //    of its conditions, is allowed; everything else gets the default action. A
        //    profile therefore need not allow `seccomp` itself, as with a single filter.
        if self.default != Action::Allow {
            let mut union: BTreeMap<i64, Conds> = BTreeMap::new();
            for (_, m) in &self.groups {
                for (nr, (_, c)) in m {
                    let slot = union.entry(*nr).or_insert_with(|| Some(Vec::new()));
                    match (slot.as_mut(), c) {
                        (None, _) => {}
                        (Some(_), None) => *slot = None,
                        (Some(v), Some(g)) => {
                            for x in g {
                                if !v.contains(x) {
                                    v.push(x.clone());
                                }
                            }
                        }
                    }
                }
            }
            let rules = union
                .iter()
                .map(|(nr, c)| Ok((*nr, to_rules(c)?)))
                .collect::<Result<BTreeMap<_, _>>>()?;
            out.push((rules, self.default.to_seccompiler(), SeccompAction::Allow));
        }
        Ok(out)
    }

    /// Compile into one filter (a `Vec` so callers need not care how many).
    pub fn compile(&self) -> Result<Vec<BpfProgram>> {
        Ok(vec![self.layout()?])
    }
}

/// One filter's rules with its mismatch and match actions.
#[cfg(test)]
type FilterRules = (
    BTreeMap<i64, Vec<SeccompRule>>,
    SeccompAction,
    SeccompAction,
);

/// Resolved conditions -> seccompiler rules (empty = unconditional).
fn to_rules(c: &Conds) -> Result<Vec<SeccompRule>> {
    let err = |e: seccompiler::BackendError| {
        Error::config(format!("seccomp profile: cannot compile: {e}"))
    };
    let Some(groups) = c else { return Ok(vec![]) };
    groups
        .iter()
        .map(|g| {
            let conds = g
                .iter()
                .map(|c| {
                    let len = if c.wide {
                        SeccompCmpArgLen::Qword
                    } else {
                        SeccompCmpArgLen::Dword
                    };
                    let op = match c.op {
                        CmpOp::Ne => SeccompCmpOp::Ne,
                        CmpOp::Lt => SeccompCmpOp::Lt,
                        CmpOp::Le => SeccompCmpOp::Le,
                        CmpOp::Eq => SeccompCmpOp::Eq,
                        CmpOp::Ge => SeccompCmpOp::Ge,
                        CmpOp::Gt => SeccompCmpOp::Gt,
                        CmpOp::MaskedEq(m) => SeccompCmpOp::MaskedEq(m),
                    };
                    SeccompCondition::new(c.index, len, op, c.value).map_err(err)
                })
                .collect::<Result<Vec<_>>>()?;
            SeccompRule::new(conds).map_err(err)
        })
        .collect()
}

/// What one interval of syscall numbers does in the compiled filter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaf {
    /// Return this seccomp verdict.
    Ret(u32),
    /// Jump to the i-th argument-check block.
    Block(usize),
}

/// How restrictive an action is, as the kernel ranks verdicts of stacked filters.
fn rank(a: Action) -> u8 {
    match a {
        Action::Allow => 0,
        Action::Log => 1,
        Action::Trace(_) => 2,
        Action::Errno(_) => 3,
        Action::Trap => 4,
        Action::KillThread => 5,
        Action::KillProcess => 6,
    }
}

impl Resolved {
    /// The whole profile as ONE filter, laid out as a binary search. The semantics are those
    /// of a stack of one filter per action under `defaultAction`: a syscall gets the most
    /// restrictive action among the rules it matches (between equally restrictive ones, the
    /// rule group that comes later in the profile), and `defaultAction` when it matches none.
    ///
    /// Layout: syscall numbers are cut into intervals with one verdict each (runs of
    /// consecutive syscalls with the same unconditional verdict merge, and so do the gaps);
    /// a balanced tree of `JGE` comparisons finds a number's interval in about
    /// log2(intervals) steps. A syscall with argument conditions jumps to a block that tries
    /// its rule groups from the most restrictive down, each group's checks being seccompiler's
    /// own code for that syscall, until one matches; an unconditional group ends the chain.
    /// One filter means one `seccomp()` call at start, a profile need not allow `seccomp`
    /// itself, and syscalls allowed without conditions stay in the kernel's action cache.
    fn layout(&self) -> Result<BpfProgram> {
        let err = |e: &dyn std::fmt::Display| {
            Error::config(format!("seccomp profile: cannot compile: {e}"))
        };
        let default_ret = u32::from(self.default.to_seccompiler());
        // Every group naming each syscall, most restrictive first (later group first on ties).
        let mut per: BTreeMap<i64, Vec<(usize, Action, &Conds)>> = BTreeMap::new();
        for (gi, (a, m)) in self.groups.iter().enumerate() {
            for (nr, (_, c)) in m {
                per.entry(*nr).or_default().push((gi, *a, c));
            }
        }
        let mut intervals: Vec<(u32, Leaf)> = vec![(0, Leaf::Ret(default_ret))];
        let mut push = |start: u32, leaf: Leaf| {
            // A later interval starting at the same number replaces the earlier one; equal
            // neighbours merge (blocks never do: each is one syscall).
            if intervals.last().map(|l| l.0) == Some(start) {
                intervals.pop();
            }
            match intervals.last() {
                Some(l) if l.1 == leaf && !matches!(leaf, Leaf::Block(_)) => {}
                _ => intervals.push((start, leaf)),
            }
        };
        let mut blocks: Vec<Vec<seccompiler::sock_filter>> = Vec::new();
        for (nr, mut groups) in per {
            let nr32 =
                u32::try_from(nr).map_err(|_| err(&format!("syscall number {nr} out of range")))?;
            groups.sort_by(|x, y| rank(y.1).cmp(&rank(x.1)).then(y.0.cmp(&x.0)));
            let mut chain: Vec<(Action, &Conds)> = Vec::new();
            let mut end_ret = default_ret;
            for (_, a, c) in groups {
                if c.is_none() {
                    end_ret = u32::from(a.to_seccompiler());
                    break;
                }
                chain.push((a, c));
            }
            if chain.is_empty() {
                push(nr32, Leaf::Ret(end_ret));
            } else {
                push(nr32, Leaf::Block(blocks.len()));
                blocks.push(self.chain_block(nr, &chain, end_ret)?);
            }
            if nr32 < u32::MAX {
                push(nr32 + 1, Leaf::Ret(default_ret));
            }
        }
        // x32-ABI numbers share the x86_64 audit arch: they fall in the last interval, which
        // is the default action; a default-allow profile still gets ENOSYS for them.
        if self.arch == TargetArch::x86_64 && self.default == Action::Allow {
            push(
                0x4000_0000,
                Leaf::Ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
            );
        }
        enum Ins {
            Raw(seccompiler::sock_filter),
            /// Unconditional jump to block i.
            ToBlock(usize),
        }
        fn tree(iv: &[(u32, Leaf)]) -> Vec<Ins> {
            let raw = |code, jt, jf, k| Ins::Raw(seccompiler::sock_filter { code, jt, jf, k });
            if iv.len() == 1 {
                return vec![match iv[0].1 {
                    Leaf::Ret(k) => raw(BPF_RET_K, 0, 0, k),
                    Leaf::Block(b) => Ins::ToBlock(b),
                }];
            }
            let mid = iv.len() / 2;
            let left = tree(&iv[..mid]);
            let right = tree(&iv[mid..]);
            // A >= start of the right half: jump over the left subtree (JA takes 32 bits).
            let mut v = vec![
                raw(BPF_JGE_K, 0, 1, iv[mid].0),
                raw(BPF_JA, 0, 0, left.len() as u32),
            ];
            v.extend(left);
            v.extend(right);
            v
        }
        let ins = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
        let mut prog: Vec<seccompiler::sock_filter> = vec![
            ins(BPF_LD_W_ABS, 0, 0, 4),
            ins(BPF_JEQ_K, 1, 0, audit_arch(self.arch)),
            ins(BPF_RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
            ins(BPF_LD_W_ABS, 0, 0, 0),
        ];
        let code = tree(&intervals);
        let tree_start = prog.len();
        let mut offsets = Vec::with_capacity(blocks.len());
        let mut at = tree_start + code.len();
        for b in &blocks {
            offsets.push(at);
            at += b.len();
        }
        for (i, c) in code.into_iter().enumerate() {
            prog.push(match c {
                Ins::Raw(f) => f,
                Ins::ToBlock(b) => ins(BPF_JA, 0, 0, (offsets[b] - (tree_start + i + 1)) as u32),
            });
        }
        for b in blocks {
            // block-relative "next group" targets become jumps relative to the instruction
            for (j, mut f) in b.into_iter().enumerate() {
                if f.code == BPF_JA && f.jt == NEXT_MARK {
                    f.jt = 0;
                    f.k -= j as u32 + 1;
                }
                prog.push(f);
            }
        }
        if prog.len() > 4096 {
            return Err(err(&format!(
                "filter has {} instructions, over the kernel's 4096",
                prog.len()
            )));
        }
        Ok(prog)
    }

    /// The argument checks of one syscall: its conditional rule groups in order, each
    /// compiled by seccompiler; a group that does not match falls through to the next, the
    /// last one to `end_ret`.
    fn chain_block(
        &self,
        nr: i64,
        chain: &[(Action, &Conds)],
        end_ret: u32,
    ) -> Result<Vec<seccompiler::sock_filter>> {
        let err = |e: &dyn std::fmt::Display| {
            Error::config(format!("seccomp profile: cannot compile: {e}"))
        };
        let mut parts: Vec<Vec<seccompiler::sock_filter>> = Vec::new();
        for (a, c) in chain {
            let matched = a.to_seccompiler();
            // A mismatch verdict no rule can produce marks "try the next group".
            let sentinel = if matched == SeccompAction::Trace(0xfffe) {
                SeccompAction::Trace(0xfffd)
            } else {
                SeccompAction::Trace(0xfffe)
            };
            let sentinel_k = u32::from(sentinel.clone());
            let single: BTreeMap<i64, Vec<SeccompRule>> =
                [(nr, to_rules(c)?)].into_iter().collect();
            let f =
                SeccompFilter::new(single, sentinel, matched, self.arch).map_err(|e| err(&e))?;
            let prog = BpfProgram::try_from(f).map_err(|e| err(&e))?;
            // seccompiler's shape: 3 arch-check instructions, `LD nr`, `JEQ nr`, then the
            // rules (self-contained: every path ends in a RET). The `JEQ nr` is dropped: the
            // dispatch already chose this syscall, and after an earlier part the accumulator
            // holds an argument, not the number. Nothing jumps to it, and every later jump
            // is relative, so the rest stands as compiled.
            if prog.len() < 6
                || prog[3].code != BPF_LD_W_ABS
                || prog[3].k != 0
                || prog[4].code != BPF_JEQ_K
                || prog[4].k as i64 != nr
            {
                return Err(err(&"unexpected seccompiler output"));
            }
            let mut part = prog[5..].to_vec();
            for f in part.iter_mut() {
                if f.code == BPF_RET_K && f.k == sentinel_k {
                    // placeholder: "jump to the end of this part"; resolved below
                    *f = seccompiler::sock_filter {
                        code: BPF_JA,
                        jt: NEXT_MARK,
                        jf: 0,
                        k: 0,
                    };
                }
            }
            parts.push(part);
        }
        // Concatenate; a part's "next" jumps land on the following part, the last part's on
        // a final RET end_ret. Offsets are stored block-relative (k = target index) and made
        // relative to each instruction in `layout`.
        let mut out: Vec<seccompiler::sock_filter> = Vec::new();
        for part in parts {
            let next = (out.len() + part.len()) as u32;
            for mut f in part {
                if f.code == BPF_JA && f.jt == NEXT_MARK {
                    f.k = next;
                }
                out.push(f);
            }
        }
        out.push(seccompiler::sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: end_ret,
        });
        Ok(out)
    }
}

/// Marks a chain-block jump whose `k` still holds a block-relative target (JA ignores jt).
const NEXT_MARK: u8 = 0xA5;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_JA: u16 = 0x05;
const BPF_RET_K: u16 = 0x06;

fn audit_arch(a: TargetArch) -> u32 {
    match a {
        TargetArch::x86_64 => 0xC000_003E,
        TargetArch::aarch64 => 0xC000_00B7,
        TargetArch::riscv64 => 0xC000_00F3,
    }
}

/// x86_64: return ENOSYS for x32-ABI syscall numbers; kill other architectures (the
/// reference model's guard, in tests).
#[cfg(test)]
fn x32_guard() -> BpfProgram {
    use seccompiler::sock_filter;
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    let i = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        i(LD_W_ABS, 0, 0, 4),        // A = seccomp_data.arch
        i(JEQ_K, 1, 0, 0xC000_003E), // AUDIT_ARCH_X86_64
        i(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        i(LD_W_ABS, 0, 0, 0),        // A = seccomp_data.nr
        i(JGE_K, 0, 1, 0x4000_0000), // __X32_SYSCALL_BIT
        i(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        i(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Convert seccompiler's instructions into the kernel's layout.
pub fn to_kernel(prog: &BpfProgram) -> Vec<libc::sock_filter> {
    prog.iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(caps: &[&str]) -> Target {
        Target {
            arch: TargetArch::x86_64,
            caps: caps.iter().map(|s| s.to_string()).collect(),
            kernel: (6, 18),
        }
    }

    fn resolve_text(t: &str) -> Result<Resolved> {
        resolve(&parse(t, "test")?, &target(&[]))
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        for t in [syscalls::X86_64, syscalls::AARCH64] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
        assert!(syscalls::OTHER_ARCH_ONLY.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(syscall_nr(TargetArch::x86_64, "mount"), Some(165));
        assert_eq!(syscall_nr(TargetArch::aarch64, "mount"), Some(40));
        assert_eq!(syscall_nr(TargetArch::x86_64, "open_tree_attr"), Some(467));
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
        for n in [
            "ptrace",
            "process_vm_readv",
            "userfaultfd",
            "perf_event_open",
            "pidfd_getfd",
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "unshare",
            "setns",
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "open_by_handle_at",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "reboot",
            "swapon",
            "swapoff",
        ] {
            assert_eq!(v(n), Action::Errno(1), "{n}");
        }
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
        // hot syscalls carry no argument condition anywhere
        for n in ["ioctl", "futex", "mmap", "read", "write", "openat", "close"] {
            let nr = syscall_nr(TargetArch::x86_64, n).unwrap();
            for (_, m) in &r.groups {
                if let Some((_, c)) = m.get(&nr) {
                    assert!(c.is_none(), "{n} has conditions");
                }
            }
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

    thread_local!(static STEPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });

    /// A classic-BPF interpreter for the instructions seccompiler and the tree emit.
    fn run_bpf(prog: &[seccompiler::sock_filter], nr: u32, arch: u32, args: &[u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            STEPS.with(|s| s.set(s.get() + 1));
            match i.code {
                0x20 => {
                    a = u32::from_le_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap())
                }
                0x54 => a &= i.k,
                0x05 => pc += i.k as usize,
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let t = match i.code {
                        0x15 => a == i.k,
                        0x25 => a > i.k,
                        0x35 => a >= i.k,
                        _ => a & i.k != 0,
                    };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
                0x06 => return i.k,
                c => panic!("unknown BPF instruction {c:#x}"),
            }
        }
    }

    /// The kernel's verdict for a stack of filters: the most restrictive action wins
    /// (compared as signed action values), the most recently installed on ties.
    fn stacked(progs: &[BpfProgram], nr: u32, arch: u32, args: &[u64; 6]) -> u32 {
        let mut ret = libc::SECCOMP_RET_ALLOW;
        for p in progs.iter().rev() {
            let r = run_bpf(p, nr, arch, args);
            if ((r & 0xffff_0000) as i32) < ((ret & 0xffff_0000) as i32) {
                ret = r;
            }
        }
        ret
    }

    fn check_single_filter_equals_stack(name: &str, r: &Resolved, large: bool) {
        let interesting = [
            0u64,
            1,
            2,
            8,
            9,
            16,
            38,
            39,
            40,
            41,
            0x20000,
            0x7E02_0000,
            0x1000,
            (1 << 32) | 38,
            u64::MAX,
            0xffff_ffff,
        ];
        let single = r.compile().unwrap();
        assert_eq!(single.len(), 1, "{name}: one filter");
        // the reference: one seccompiler filter per action, linear, under the x32 guard
        let mut stack: Vec<BpfProgram> = vec![];
        if r.arch == TargetArch::x86_64 {
            stack.push(x32_guard());
        }
        for (rules, mismatch, matched) in r.filter_rules().unwrap() {
            stack.push(
                BpfProgram::try_from(SeccompFilter::new(rules, mismatch, matched, r.arch).unwrap())
                    .unwrap(),
            );
        }
        let mut nrs: Vec<u32> = (0..600).collect();
        nrs.extend([0x4000_0000, 0x4000_00a5, u32::MAX]);
        let mut checked = 0;
        for &nr in &nrs {
            for &a0 in &interesting {
                for &(a1, a2) in &[(0u64, 0u64), (0x7E02_0000, 9), (3, 9)] {
                    let args = [a0, a1, a2, 0, 0, 0];
                    for arch in [0xC000_003E, 0x4000_0003] {
                        let want = stacked(&stack, nr, arch, &args);
                        let got = run_bpf(&single[0], nr, arch, &args);
                        // x32 numbers under a deny-by-default profile: the stack answers
                        // with the guard's or the default errno, the single filter with the
                        // default; both deny.
                        if nr >= 0x4000_0000 && arch == 0xC000_003E && r.default != Action::Allow {
                            assert_ne!(got, libc::SECCOMP_RET_ALLOW, "{name}: x32 nr {nr:#x}");
                            continue;
                        }
                        assert_eq!(got, want, "{name}: nr {nr} args {args:?} arch {arch:#x}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000);
        // instructions executed for a syscall near the end of the table
        let nr = syscall_nr(TargetArch::x86_64, "add_key").unwrap() as u32;
        let steps = |p: &BpfProgram| {
            STEPS.with(|s| s.set(0));
            run_bpf(p, nr, 0xC000_003E, &[0; 6]);
            STEPS.with(|s| s.get())
        };
        let linear: usize = stack.iter().map(steps).sum();
        let t = steps(&single[0]);
        if large {
            assert!(
                t * 5 < linear,
                "{name}: single filter path {t} vs stacked linear {linear}"
            );
        }
    }

    #[test]
    fn single_filter_matches_the_stacked_reference() {
        for (name, text) in BUILTIN {
            let r = resolve(&parse(text, name).unwrap(), &target(&[])).unwrap();
            check_single_filter_equals_stack(name, &r, true);
            let r = resolve(
                &parse(text, name).unwrap(),
                &target(&["CAP_SYS_ADMIN", "CAP_SYS_NICE"]),
            )
            .unwrap();
            check_single_filter_equals_stack(name, &r, true);
        }
        // conditional rules of several actions on one syscall, as in podman's profile
        // (socket: EINVAL for AF_NETLINK + NETLINK_AUDIT, allowed otherwise), a default
        // errno other than EPERM, a kill action and a denylist-style default allow
        let mixed = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
            {"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"},
            {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":2,"value":9,"op":"SCMP_CMP_EQ"}]},
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":9,"op":"SCMP_CMP_NE"}]},
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":16,"op":"SCMP_CMP_NE"}]},
            {"names":["personality"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
            {"names":["mount"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
            {"names":["mount"],"action":"SCMP_ACT_ERRNO","errnoRet":5},
            {"names":["clone"],"action":"SCMP_ACT_TRAP","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["clone"],"action":"SCMP_ACT_ALLOW"}
        ]}"#;
        let r = resolve(&parse(mixed, "mixed").unwrap(), &target(&[])).unwrap();
        check_single_filter_equals_stack("mixed", &r, false);
        let deny = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mount","umount2"],"action":"SCMP_ACT_ERRNO"},
            {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":97,"args":[{"index":0,"value":38,"op":"SCMP_CMP_EQ"}]}
        ]}"#;
        let r = resolve(&parse(deny, "deny").unwrap(), &target(&[])).unwrap();
        check_single_filter_equals_stack("deny", &r, false);
    }

    #[test]
    fn builtins_compile() {
        for (name, text) in BUILTIN {
            let r = resolve(&parse(text, name).unwrap(), &target(&[])).unwrap();
            let progs = r.compile().unwrap();
            assert_eq!(progs.len(), 1, "{name}");
            assert!(progs.iter().all(|p| p.len() < 4096));
        }
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
            assert_eq!(e.code, 78, "{text}");
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

    #[test]
    fn denylist_profile_compiles_to_one_filter() {
        let r = resolve_text(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        let p = r.compile().unwrap();
        assert_eq!(p.len(), 1);
    }
}
