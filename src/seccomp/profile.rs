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
    /// containers/common's dialect (podman, CRI-O, buildah): the errno by name.
    #[serde(default)]
    pub default_errno: Option<String>,
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
    /// containers/common's dialect: the errno by name.
    #[serde(default)]
    pub errno: Option<String>,
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

/// Linux errno names and numbers (asm-generic, as on x86_64 and aarch64).
const ERRNOS: &[(&str, u32)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("ESRCH", 3),
    ("EINTR", 4),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("ENOEXEC", 8),
    ("EBADF", 9),
    ("ECHILD", 10),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("ENOTBLK", 15),
    ("EBUSY", 16),
    ("EEXIST", 17),
    ("EXDEV", 18),
    ("ENODEV", 19),
    ("ENOTDIR", 20),
    ("EISDIR", 21),
    ("EINVAL", 22),
    ("ENFILE", 23),
    ("EMFILE", 24),
    ("ENOTTY", 25),
    ("ETXTBSY", 26),
    ("EFBIG", 27),
    ("ENOSPC", 28),
    ("ESPIPE", 29),
    ("EROFS", 30),
    ("EMLINK", 31),
    ("EPIPE", 32),
    ("EDOM", 33),
    ("ERANGE", 34),
    ("EDEADLK", 35),
    ("ENAMETOOLONG", 36),
    ("ENOLCK", 37),
    ("ENOSYS", 38),
    ("ENOTEMPTY", 39),
    ("ELOOP", 40),
    ("ENOMSG", 42),
    ("EIDRM", 43),
    ("ECHRNG", 44),
    ("EL2NSYNC", 45),
    ("EL3HLT", 46),
    ("EL3RST", 47),
    ("ELNRNG", 48),
    ("EUNATCH", 49),
    ("ENOCSI", 50),
    ("EL2HLT", 51),
    ("EBADE", 52),
    ("EBADR", 53),
    ("EXFULL", 54),
    ("ENOANO", 55),
    ("EBADRQC", 56),
    ("EBADSLT", 57),
    ("EBFONT", 59),
    ("ENOSTR", 60),
    ("ENODATA", 61),
    ("ETIME", 62),
    ("ENOSR", 63),
    ("ENONET", 64),
    ("ENOPKG", 65),
    ("EREMOTE", 66),
    ("ENOLINK", 67),
    ("EADV", 68),
    ("ESRMNT", 69),
    ("ECOMM", 70),
    ("EPROTO", 71),
    ("EMULTIHOP", 72),
    ("EDOTDOT", 73),
    ("EBADMSG", 74),
    ("EOVERFLOW", 75),
    ("ENOTUNIQ", 76),
    ("EBADFD", 77),
    ("EREMCHG", 78),
    ("ELIBACC", 79),
    ("ELIBBAD", 80),
    ("ELIBSCN", 81),
    ("ELIBMAX", 82),
    ("ELIBEXEC", 83),
    ("EILSEQ", 84),
    ("ERESTART", 85),
    ("ESTRPIPE", 86),
    ("EUSERS", 87),
    ("ENOTSOCK", 88),
    ("EDESTADDRREQ", 89),
    ("EMSGSIZE", 90),
    ("EPROTOTYPE", 91),
    ("ENOPROTOOPT", 92),
    ("EPROTONOSUPPORT", 93),
    ("ESOCKTNOSUPPORT", 94),
    ("EOPNOTSUPP", 95),
    ("EPFNOSUPPORT", 96),
    ("EAFNOSUPPORT", 97),
    ("EADDRINUSE", 98),
    ("EADDRNOTAVAIL", 99),
    ("ENETDOWN", 100),
    ("ENETUNREACH", 101),
    ("ENETRESET", 102),
    ("ECONNABORTED", 103),
    ("ECONNRESET", 104),
    ("ENOBUFS", 105),
    ("EISCONN", 106),
    ("ENOTCONN", 107),
    ("ESHUTDOWN", 108),
    ("ETOOMANYREFS", 109),
    ("ETIMEDOUT", 110),
    ("ECONNREFUSED", 111),
    ("EHOSTDOWN", 112),
    ("EHOSTUNREACH", 113),
    ("EALREADY", 114),
    ("EINPROGRESS", 115),
    ("ESTALE", 116),
    ("EUCLEAN", 117),
    ("ENOTNAM", 118),
    ("ENAVAIL", 119),
    ("EISNAM", 120),
    ("EREMOTEIO", 121),
    ("EDQUOT", 122),
    ("ENOMEDIUM", 123),
    ("EMEDIUMTYPE", 124),
    ("ECANCELED", 125),
    ("ENOKEY", 126),
    ("EKEYEXPIRED", 127),
    ("EKEYREVOKED", 128),
    ("EKEYREJECTED", 129),
    ("EOWNERDEAD", 130),
    ("ENOTRECOVERABLE", 131),
    ("ERFKILL", 132),
    ("EHWPOISON", 133),
    ("EWOULDBLOCK", 11),
    ("EDEADLOCK", 35),
];

pub fn errno_name(n: u32) -> &'static str {
    ERRNOS
        .iter()
        .find(|(_, v)| *v == n)
        .map(|(name, _)| *name)
        .unwrap_or("")
}

/// An errno given by name (`defaultErrno`, `errno`) and perhaps by number too: the number
/// it means, or an error when the name is unknown or disagrees with the number.
fn errno_by_name(name: Option<&str>, number: Option<u32>, field: &str) -> Result<Option<u32>> {
    let Some(name) = name else { return Ok(number) };
    let Some(&(_, n)) = ERRNOS.iter().find(|(e, _)| *e == name) else {
        return Err(Error::config(format!(
            "seccomp profile: {field}: unknown errno name {name:?}; use a Linux errno name such as EPERM or ENOSYS"
        )));
    };
    match number {
        Some(m) if m != n => Err(Error::config(format!(
            "seccomp profile: {field} {name:?} is {n} but the number given beside it is {m}; make them agree (or give one of them)"
        ))),
        _ => Ok(Some(n)),
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
    let mut p: Profile = serde_json::from_str(text).map_err(|e| {
        Error::config(format!(
            "seccomp profile {source}: invalid profile JSON: {e}; see `secure-init profile show pytorch` for the format"
        ))
    })?;
    // containers/common's errno names, checked against the numbers and folded into them
    let in_source = |e: Error| Error::config(format!("{source}: {}", e.msg));
    p.default_errno_ret = errno_by_name(
        p.default_errno.as_deref(),
        p.default_errno_ret,
        "defaultErrno",
    )
    .map_err(in_source)?;
    for (i, e) in p.syscalls.iter_mut().flatten().enumerate() {
        e.errno_ret = errno_by_name(
            e.errno.as_deref(),
            e.errno_ret,
            &format!("syscalls[{i}].errno"),
        )
        .map_err(in_source)?;
    }
    Ok(p)
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
                    errno: None,
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
