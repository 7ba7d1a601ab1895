//! The Docker/OCI seccomp profile as JSON: the model, parsing, the actions, and the
//! built-in profiles embedded from `profiles/`.
//!
//! Compiled by `build.rs` too (see `seccomp/mod.rs`): imports only `crate::error` and
//! external crates.

use crate::error::{Error, Result};
use seccompiler::SeccompAction;
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

pub fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
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
    pub fn to_seccompiler(self) -> SeccompAction {
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

pub fn errno_name(n: u32) -> &'static str {
    match n as i32 {
        libc::EPERM => "EPERM",
        libc::ENOSYS => "ENOSYS",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        _ => "",
    }
}

pub(super) fn parse_action(s: &str, errno: Option<u32>, field: &str) -> Result<Action> {
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

/// What the pytorch profile changes in Docker's (`profiles/pytorch-policy.json`): read by
/// the profile generator, the tests, and [`parse_builtin`] for the terminal guard.
#[derive(Debug, Deserialize)]
pub struct Policy {
    pub deny: Vec<String>,
    pub enosys: Vec<String>,
    pub numa: Vec<String>,
    /// `ioctl` requests denied by every built-in profile, by name.
    pub ioctl_deny: BTreeMap<String, u64>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// The pytorch policy (embedded).
pub fn policy() -> Policy {
    serde_json::from_str(include_str!("../../profiles/pytorch-policy.json"))
        .expect("profiles/pytorch-policy.json is valid (a unit test parses it)")
}

/// A built-in profile, parsed, with the terminal guard: `ioctl` with a request of
/// [`Policy::ioctl_deny`] (TIOCSTI, TIOCLINUX) answers EPERM. The pytorch profile's JSON
/// has the guard already; Docker's profile stays Docker's file and gets it here.
pub fn parse_builtin(name: &str) -> Option<Result<Profile>> {
    let text = builtin(name)?;
    Some(parse(text, name).map(|mut p| {
        let entries = p.syscalls.get_or_insert_with(Vec::new);
        for (req_name, req) in policy().ioctl_deny {
            let present = entries.iter().any(|e| {
                e.names.iter().any(|n| n == "ioctl")
                    && e.args
                        .iter()
                        .flatten()
                        .any(|a| a.index == 1 && a.value == req)
            });
            if !present {
                entries.push(SyscallEntry {
                    names: vec!["ioctl".into()],
                    name: None,
                    action: "SCMP_ACT_ERRNO".into(),
                    errno_ret: Some(libc::EPERM as u32),
                    args: Some(vec![Arg {
                        index: 1,
                        value: req,
                        value_two: 0,
                        op: "SCMP_CMP_EQ".into(),
                    }]),
                    comment: Some(format!("secure-init terminal guard: {req_name}")),
                    includes: None,
                    excludes: None,
                });
            }
        }
        p
    }))
}
