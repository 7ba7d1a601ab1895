//! Landlock: the workload writes only where work happens, and listens or connects only on
//! the TCP ports `--net-bind`/`--net-connect` name (any by default). Read and execute stay
//! allowed everywhere (they are not handled); every write-type right is handled, and
//! granted only beneath the planned writable paths.
//!
//! - [`plan`] (pure, over the facts' file view): the rules — writable directories and
//!   device nodes, paths kept read-only inside them (scanned models), ports, scopes;
//! - [`prepare`] (before the fork, as root): the kernel's ABI, the ruleset with what this
//!   kernel can enforce, the rules added; best effort or `require`;
//! - the child enforces it (`sandbox::harden`: after the privilege drop is verified,
//!   before seccomp) with `landlock_restrict_self`.

use crate::error::{Error, Result};
use crate::fsview::Fs;
use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Filesystem rights (linux/landlock.h).
pub mod fs {
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const REMOVE_DIR: u64 = 1 << 4;
    pub const REMOVE_FILE: u64 = 1 << 5;
    pub const MAKE_CHAR: u64 = 1 << 6;
    pub const MAKE_DIR: u64 = 1 << 7;
    pub const MAKE_REG: u64 = 1 << 8;
    pub const MAKE_SOCK: u64 = 1 << 9;
    pub const MAKE_FIFO: u64 = 1 << 10;
    pub const MAKE_BLOCK: u64 = 1 << 11;
    pub const MAKE_SYM: u64 = 1 << 12;
    /// ABI 2.
    pub const REFER: u64 = 1 << 13;
    /// ABI 3.
    pub const TRUNCATE: u64 = 1 << 14;

    /// Handled from ABI 1: every write-type right of ABI 1.
    pub const HANDLED_V1: u64 = WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    /// What a writable directory grants. MAKE_CHAR/MAKE_BLOCK too: without CAP_MKNOD the
    /// kernel refuses device nodes anyway (EPERM), and leaving that answer to it keeps the
    /// error the same with and without Landlock.
    pub const DIR_WRITE: u64 = WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_BLOCK
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_SYM
        | REFER
        | TRUNCATE;
    /// What a writable file (a device node) grants.
    pub const FILE_WRITE: u64 = WRITE_FILE | TRUNCATE;
    /// procfs (docs "Landlock"): a process's writes to its own entries — thread names
    /// (`/proc/<tgid>/task/<tid>/comm`, which NVIDIA's driver writes in `cuInit`),
    /// `oom_score_adj`, `coredump_filter`, `clear_refs`. Nothing can be created, removed
    /// or renamed in procfs; which entries may be written is DAC's (and ptrace access's)
    /// decision, as without Landlock.
    pub const PROC_WRITE: u64 = WRITE_FILE | TRUNCATE;

    pub fn names(mask: u64) -> Vec<&'static str> {
        [
            (WRITE_FILE, "write_file"),
            (REMOVE_DIR, "remove_dir"),
            (REMOVE_FILE, "remove_file"),
            (MAKE_CHAR, "make_char"),
            (MAKE_DIR, "make_dir"),
            (MAKE_REG, "make_reg"),
            (MAKE_SOCK, "make_sock"),
            (MAKE_FIFO, "make_fifo"),
            (MAKE_BLOCK, "make_block"),
            (MAKE_SYM, "make_sym"),
            (REFER, "refer"),
            (TRUNCATE, "truncate"),
        ]
        .iter()
        .filter(|(b, _)| mask & b != 0)
        .map(|(_, n)| *n)
        .collect()
    }
}

/// Network rights (ABI 4).
pub mod net {
    pub const BIND_TCP: u64 = 1 << 0;
    pub const CONNECT_TCP: u64 = 1 << 1;
}

/// Scopes (ABI 6).
pub mod scope {
    pub const ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
    pub const SIGNAL: u64 = 1 << 1;
}

/// `landlock_restrict_self` flags (ABI 7): the kernel's audit log records the denials of
/// the programs the workload runs, not only those of the process that made the domain
/// (secure-init's child, which execs at once).
pub const RESTRICT_SELF_LOG_NEW_EXEC_ON: u32 = 1 << 1;

/// Where the procfs rule is added.
pub const PROC: &str = "/proc";

/// The read-write mounts of the container (volumes, binds, tmpfs, emptyDirs, PVCs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Volumes {
    /// Writable, each listed in `landlock.install`; those left read-only are named.
    Auto,
    /// Read-only unless named by --writable (each one is named at start).
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Enforcement {
    /// Enforce what the kernel supports; warn about the rest.
    BestEffort,
    /// Refuse to start (77) when the kernel cannot enforce everything planned.
    Require,
    /// No Landlock (warned on every start).
    Off,
}

/// One filesystem rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub path: PathBuf,
    pub access: u64,
    /// Why (home, tmp, device, --writable, around a read-only path, ...).
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct LandlockPlan {
    pub mode: Enforcement,
    pub rules: Vec<Rule>,
    /// Paths kept read-only even inside a writable tree (`--scan-models`,
    /// `--verify-manifest`).
    pub read_only: Vec<PathBuf>,
    /// Writable trees narrowed around a read-only path inside them: the directories on the
    /// way keep only create rights (new files there cannot be written).
    pub narrowed: Vec<PathBuf>,
    /// TCP ports the workload may listen on (all others refused; an automatically chosen
    /// ephemeral port — bind to port 0 — is always allowed); None: any.
    pub bind: Option<Vec<u16>>,
    /// TCP ports it may connect to; None: any.
    pub connect: Option<Vec<u16>>,
    /// Why each port of `bind` is there (--net-bind, Jupyter, sshd, the job's rendezvous).
    pub bind_why: Vec<(u16, String)>,
    /// Read-write mounts made writable, and those left read-only (with why).
    pub volumes: Vec<PathBuf>,
    pub volumes_left: Vec<(PathBuf, String)>,
    /// Said at start as warnings (a rendezvous variable that is no port, ...).
    pub warnings: Vec<String>,
}

/// What the plan is made from.
pub struct Inputs<'a> {
    pub mode: Enforcement,
    /// Writable trees and files, with the reason.
    pub writable: Vec<(PathBuf, String)>,
    pub read_only: Vec<PathBuf>,
    /// Ports with their reason; None: any port.
    pub bind: Option<Vec<(u16, String)>>,
    pub connect: Option<Vec<u16>>,
    /// The container's mount table (`/proc/self/mountinfo`), and secure-init's own
    /// directories, which stay read-only whatever is mounted there.
    pub mountinfo: Option<(String, Vec<PathBuf>)>,
    /// Whether the read-write mounts become writable (`--writable-mounts`).
    pub volumes: Volumes,
    /// Named as before: a rendezvous value that is no port...
    pub warnings: Vec<String>,
    pub fs: &'a dyn Fs,
}

/// Device nodes the workload needs to write (those that exist are allowed).
pub const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
    "/dev/shm",
    "/dev/dri",
    "/dev/infiniband",
    "/dev/nvidia-caps",
];

/// Parse a port list (`8888,6006`); `what` names the flag.
pub fn parse_ports(list: &str, what: &str) -> Result<Vec<u16>> {
    let mut out = vec![];
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n: u16 = p.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::config(format!(
                "{what} {list:?}: {p:?} is not a TCP port (1-65535); give a comma-separated list such as 8888,6006"
            ))
        })?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// The rules. Pure: reads the facts' file view only.
pub fn plan(mut i: Inputs) -> Result<LandlockPlan> {
    let mut rules: Vec<Rule> = vec![];
    let mut narrowed = vec![];
    let canon = |p: &Path| i.fs.canonicalize(p).ok();
    let read_only: Vec<PathBuf> = i.read_only.iter().filter_map(|p| canon(p)).collect();
    // procfs: the writes a process makes to itself (thread names from cuInit, in every
    // process the workload starts). A rule beneath /proc/self made before the fork would
    // bind to this process's inodes and cover no child, so the rule is on procfs itself.
    if i.fs.meta(Path::new(PROC)).is_some_and(|m| m.is_dir) {
        rules.push(Rule {
            path: PROC.into(),
            access: fs::PROC_WRITE,
            why: "procfs: a process's writes to its own entries (thread names, oom_score_adj, coredump_filter, clear_refs); DAC decides which".into(),
        });
    }
    let (mut volumes, mut volumes_left) = (vec![], vec![]);
    if let Some((mi, own)) = &i.mountinfo {
        let mut v = crate::mounts::volumes(mi, own);
        volumes_left = v.left;
        // a socket or device bind-mounted read-write (`-v /run/docker.sock:/docker.sock`)
        // is no volume
        let (files, other): (Vec<_>, Vec<_>) = v
            .writable
            .into_iter()
            .partition(|(p, _)| i.fs.meta(p).is_some_and(|m| m.is_dir || m.is_file));
        v.writable = files;
        volumes_left.extend(other.into_iter().map(|(p, _)| {
            (
                p,
                "not a directory or a regular file (a socket or a device)".to_string(),
            )
        }));
        match i.volumes {
            Volumes::Auto => {
                volumes = v.writable.iter().map(|(p, _)| p.clone()).collect();
                i.writable.extend(v.writable);
            }
            Volumes::Off => volumes_left.extend(
                v.writable
                    .into_iter()
                    .map(|(p, _)| (p, "--writable-mounts off".to_string())),
            ),
        }
        // a mount the operator named with --writable is writable all the same
        let named: Vec<&PathBuf> = i.writable.iter().map(|(p, _)| p).collect();
        volumes_left.retain(|(p, _)| !named.contains(&p));
    }
    for (p, why) in &i.writable {
        let Some(c) = canon(p) else { continue };
        if c == Path::new("/") {
            return Err(Error::config(format!(
                "Landlock: {why} is /, which would make the whole file system writable; give a narrower directory (or --landlock off)"
            )));
        }
        let Some(md) = i.fs.meta(&c) else { continue };
        if !md.is_dir {
            rules.push(Rule {
                path: c,
                access: fs::FILE_WRITE,
                why: why.clone(),
            });
            continue;
        }
        // A read-only path inside this tree: split the tree around it.
        let inside: Vec<&PathBuf> = read_only.iter().filter(|r| r.starts_with(&c)).collect();
        if inside.iter().any(|r| **r == c) {
            continue; // the tree itself is read-only
        }
        if inside.is_empty() {
            rules.push(Rule {
                path: c,
                access: fs::DIR_WRITE,
                why: why.clone(),
            });
        } else {
            split(&c, &inside, why, i.fs, &mut rules);
            narrowed.push(c);
        }
    }
    rules.sort_by(|a, b| a.path.cmp(&b.path).then(a.access.cmp(&b.access)));
    rules.dedup();
    Ok(LandlockPlan {
        mode: i.mode,
        rules,
        read_only,
        narrowed,
        bind: i.bind.as_ref().map(|b| b.iter().map(|(p, _)| *p).collect()),
        bind_why: i.bind.unwrap_or_default(),
        connect: i.connect,
        volumes,
        volumes_left,
        warnings: i.warnings,
    })
}

/// Rules for directory `dir` with read-only paths beneath it: `dir` itself gets nothing;
/// each entry not on the way to a read-only path gets full rights; each entry on the way is
/// split in turn; a read-only path gets nothing. Landlock's rights accumulate down the tree,
/// so any right on a directory on the way — creating entries, say — would hold inside the
/// read-only directory too (a symlink to an unscanned pickle planted beside `model.pt`).
fn split(dir: &Path, ro: &[&PathBuf], why: &str, f: &dyn Fs, rules: &mut Vec<Rule>) {
    for (name, is_dir) in f.read_dir(dir).unwrap_or_default() {
        let p = dir.join(&name);
        if ro.iter().any(|r| **r == p) {
            continue;
        }
        let below: Vec<&PathBuf> = ro.iter().copied().filter(|r| r.starts_with(&p)).collect();
        if below.is_empty() {
            rules.push(Rule {
                path: p,
                access: if is_dir {
                    fs::DIR_WRITE
                } else {
                    fs::FILE_WRITE
                },
                why: why.to_string(),
            });
        } else if is_dir {
            split(&p, &below, why, f, rules);
        }
    }
}

/// A ruleset ready for the child, and what it enforces.
pub struct Prepared {
    pub ruleset: OwnedFd,
    pub abi: u32,
    pub handled_fs: u64,
    pub handled_net: u64,
    pub scoped: u64,
    /// `landlock_restrict_self` flags.
    pub flags: u32,
}

impl Prepared {
    /// What the child passes to `landlock_restrict_self`.
    pub fn enforce(&self) -> (std::os::fd::RawFd, u32) {
        (self.ruleset.as_raw_fd(), self.flags)
    }
}

/// Build the ruleset (parent, before the fork). `None` when Landlock is off or, in best
/// effort, not available at all; `require` refuses (77) whatever cannot be enforced.
pub fn prepare(p: &LandlockPlan) -> Result<Option<Prepared>> {
    if p.mode == Enforcement::Off {
        log::warn!(target: "landlock.install", "Landlock is OFF (--landlock off): the workload may write wherever its uid may, and reach any port");
        return Ok(None);
    }
    let require = p.mode == Enforcement::Require;
    let abi = match sys::landlock_abi() {
        Ok(v) => v,
        Err(e) => {
            let msg = format!("Landlock is not available ({e}): the kernel lacks it (Linux 5.13+) or it is disabled (lsm= boot option), or a seccomp filter of the runtime refuses it");
            if require {
                return Err(Error::hardening(format!(
                    "{msg}; --landlock require refuses to start without it (use best-effort to run anyway)"
                )));
            }
            log::warn!(target: "landlock.install", abi = 0; "{msg}: not enforced (best effort)");
            return Ok(None);
        }
    };
    let mut missing: Vec<String> = vec![];
    // ABI 1 cannot allow a file to move between directories (REFER): rules would break
    // ordinary tools (pip, editors), so filesystem rules need ABI 2.
    let handled_fs = match abi {
        1 => {
            missing.push("filesystem rules (ABI 2, Linux 5.19)".into());
            0
        }
        2 => fs::HANDLED_V1 | fs::REFER,
        _ => fs::HANDLED_V1 | fs::REFER | fs::TRUNCATE,
    };
    let want_net = if p.bind.is_some() { net::BIND_TCP } else { 0 }
        | if p.connect.is_some() {
            net::CONNECT_TCP
        } else {
            0
        };
    let handled_net = if abi >= 4 || want_net == 0 {
        want_net
    } else {
        missing.push("TCP port rules (ABI 4, Linux 6.7)".into());
        0
    };
    let scoped = if abi >= 6 {
        scope::ABSTRACT_UNIX_SOCKET | scope::SIGNAL
    } else {
        missing.push("signal and abstract-socket scoping (ABI 6, Linux 6.12)".into());
        0
    };
    if !missing.is_empty() {
        let msg = format!("Landlock ABI {abi} cannot enforce {}", missing.join(", "));
        if require {
            return Err(Error::hardening(format!(
                "{msg}; --landlock require refuses to start (a newer kernel, or best-effort)"
            )));
        }
        log::warn!(target: "landlock.install", abi = abi; "{msg}: those parts are not enforced (best effort)");
    }
    if handled_fs == 0 && handled_net == 0 && scoped == 0 {
        return Ok(None);
    }
    for w in &p.warnings {
        log::warn!(target: "landlock.net", "{w}");
    }
    for (v, why) in p.volumes_left.iter().filter(|_| handled_fs != 0) {
        let v = v.display().to_string();
        log::warn!(target: "landlock.volume", path = v.as_str(), reason = why.as_str();
            "{v} is mounted read-write but stays read-only to the workload ({why}); --writable {v} makes it writable");
    }
    for t in p.narrowed.iter().filter(|_| handled_fs != 0) {
        log::warn!(target: "landlock.narrowed", tree = t.display().to_string().as_str();
            "{} holds a path kept read-only (--scan-models/--verify-manifest): the directories on the way to it get no rights, so nothing new can be made directly in them (entries present at start stay writable); keep model files outside writable trees to avoid this", t.display());
    }
    let ruleset = sys::landlock_create_ruleset(handled_fs, handled_net, scoped)
        .map_err(|e| Error::hardening(format!("Landlock: cannot create the ruleset: {e}")))?;
    let mut added = 0;
    if handled_fs != 0 {
        for r in kernel_rules(&p.rules) {
            let Ok(pfd) = sys::open_path(&r.path) else {
                log::debug!(target: "landlock.rule", path = r.path.display().to_string().as_str(); "gone: skipped");
                continue;
            };
            sys::landlock_add_path_rule(
                ruleset.as_raw_fd(),
                pfd.as_raw_fd(),
                r.access & handled_fs,
            )
            .map_err(|e| {
                Error::hardening(format!(
                    "Landlock: cannot add the rule for {} ({}): {e}",
                    r.path.display(),
                    r.why
                ))
            })?;
            added += 1;
        }
    }
    if handled_net & net::BIND_TCP != 0 {
        // port 0: bind() letting the kernel choose an ephemeral port (NCCL, Gloo, servers
        // in tests) stays possible
        for port in std::iter::once(&0).chain(p.bind.iter().flatten()) {
            sys::landlock_add_port_rule(ruleset.as_raw_fd(), *port, net::BIND_TCP).map_err(
                |e| Error::hardening(format!("Landlock: cannot allow binding port {port}: {e}")),
            )?;
        }
    }
    if handled_net & net::CONNECT_TCP != 0 {
        for port in p.connect.iter().flatten() {
            sys::landlock_add_port_rule(ruleset.as_raw_fd(), *port, net::CONNECT_TCP).map_err(
                |e| {
                    Error::hardening(format!(
                        "Landlock: cannot allow connecting to port {port}: {e}"
                    ))
                },
            )?;
        }
    }
    let bind_why = p
        .bind_why
        .iter()
        .map(|(port, why)| format!("{port} ({why})"))
        .collect::<Vec<_>>();
    log::info!(target: "landlock.install", abi = abi,
        handled_fs = format!("{:?}", fs::names(handled_fs)).as_str(),
        rules = added,
        writable = bounded(p.rules.iter().map(|r| r.path.as_path())).as_str(),
        volumes = bounded(p.volumes.iter().map(PathBuf::as_path)).as_str(),
        read_only = bounded(p.read_only.iter().map(PathBuf::as_path)).as_str(),
        bind = format!("{:?}", p.bind).as_str(),
        bind_why = serde_json::to_string(&bind_why).unwrap_or_default().as_str(),
        connect = match &p.connect { Some(c) => format!("{c:?}"), None => "any".into() }.as_str(),
        scoped = format!("{:?}", [(scope::SIGNAL, "signal"), (scope::ABSTRACT_UNIX_SOCKET, "abstract_unix_socket")]
            .iter().filter(|(b, _)| scoped & b != 0).map(|(_, n)| *n).collect::<Vec<_>>()).as_str();
        "Landlock ABI {abi}: writes only beneath {added} path(s){}; TCP bind {}; connect {}",
        if p.volumes.is_empty() { String::new() } else { format!(" (read-write mounts among them: {})", p.volumes.iter().map(|v| v.display().to_string()).collect::<Vec<_>>().join(", ")) },
        if handled_net & net::BIND_TCP != 0 {
            format!("only {}ports the kernel picks (port 0): a server the job starts (TensorBoard 6006, an inference server 8000, a rendezvous port set inside the script) needs --net-bind PORT",
                bind_why.iter().map(|b| format!("{b}, ")).collect::<String>())
        } else { "any port (--net-bind PORTS restricts listening to those, the job's rendezvous port and Jupyter's and sshd's)".into() },
        if handled_net & net::CONNECT_TCP != 0 { format!("{:?}", p.connect.as_deref().unwrap_or(&[])) } else { "any".into() });
    Ok(Some(Prepared {
        ruleset,
        abi,
        handled_fs,
        handled_net,
        scoped,
        flags: if abi >= 7 {
            RESTRICT_SELF_LOG_NEW_EXEC_ON
        } else {
            0
        },
    }))
}

/// One kernel rule per (path, rights), however many reasons name it (/tmp as TMPDIR and as
/// the working directory; the fallback HOME as planned and once made, which start adds
/// after the plan's sorted rules), in path order.
fn kernel_rules(rules: &[Rule]) -> Vec<&Rule> {
    let mut out: Vec<&Rule> = rules.iter().collect();
    out.sort_by(|a, b| (a.path.as_path(), a.access).cmp(&(b.path.as_path(), b.access)));
    out.dedup_by(|a, b| a.path == b.path && a.access == b.access);
    out
}

/// At most 16 paths for the log (a tree split around a read-only path can give thousands of
/// rules; `--dry-run` lists them all), as a JSON list.
fn bounded<'a>(paths: impl Iterator<Item = &'a Path>) -> String {
    const SHOWN: usize = 16;
    let all: Vec<String> = paths.map(|p| p.display().to_string()).collect();
    let mut shown: Vec<String> = all.iter().take(SHOWN).cloned().collect();
    if all.len() > SHOWN {
        shown.push(format!("... {} more (see --dry-run)", all.len() - SHOWN));
    }
    serde_json::to_string(&shown).unwrap_or_default()
}

impl LandlockPlan {
    /// For `--dry-run` and the start event.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": format!("{:?}", self.mode).to_lowercase(),
            "writable": self.rules.iter().map(|r| serde_json::json!({
                "path": r.path, "rights": fs::names(r.access), "why": r.why,
            })).collect::<Vec<_>>(),
            "read_only": self.read_only,
            "narrowed": self.narrowed,
            "tcp_bind": match &self.bind { Some(b) => serde_json::json!(b), None => serde_json::json!("any") },
            "tcp_bind_why": self.bind_why.iter().map(|(p, w)| serde_json::json!({"port": p, "why": w})).collect::<Vec<_>>(),
            "volumes": self.volumes,
            "volumes_read_only": self.volumes_left.iter().map(|(p, w)| serde_json::json!({"path": p, "why": w})).collect::<Vec<_>>(),
            "tcp_connect": match &self.connect { Some(c) => serde_json::json!(c), None => serde_json::json!("any") },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fake::FakeFs;

    fn fsys() -> FakeFs {
        FakeFs::default()
            .dir("/", 0, 0o755)
            .dir("/home", 0, 0o755)
            .dir("/home/u", 1001, 0o755)
            .dir("/home/u/models", 1001, 0o755)
            .file("/home/u/models/best.pt", 1001, 0o644, b"x")
            .file("/home/u/models/other.pt", 1001, 0o644, b"x")
            .dir("/home/u/work", 1001, 0o755)
            .file("/home/u/.bashrc", 1001, 0o644, b"")
            .dir("/tmp", 0, 0o1777)
            .file("/dev/null", 0, 0o666, b"")
    }

    fn inputs<'a>(f: &'a FakeFs, ro: &[&str]) -> Inputs<'a> {
        Inputs {
            mode: Enforcement::BestEffort,
            writable: vec![
                ("/home/u".into(), "HOME".into()),
                ("/tmp".into(), "/tmp".into()),
                ("/dev/null".into(), "device".into()),
                ("/nonexistent".into(), "--writable".into()),
            ],
            read_only: ro.iter().map(PathBuf::from).collect(),
            bind: Some(vec![]),
            connect: None,
            mountinfo: None,
            volumes: Volumes::Auto,
            warnings: vec![],
            fs: f,
        }
    }

    #[test]
    fn writable_trees_and_devices() {
        let f = fsys();
        let p = plan(inputs(&f, &[])).unwrap();
        let get = |path: &str| {
            p.rules
                .iter()
                .find(|r| r.path == Path::new(path))
                .map(|r| r.access)
        };
        assert_eq!(get("/home/u"), Some(fs::DIR_WRITE));
        assert_eq!(get("/tmp"), Some(fs::DIR_WRITE));
        assert_eq!(get("/dev/null"), Some(fs::FILE_WRITE));
        assert_eq!(get("/nonexistent"), None, "missing paths are skipped");
    }

    #[test]
    fn a_read_only_file_inside_home_is_split_around() {
        let f = fsys();
        let p = plan(inputs(&f, &["/home/u/models/best.pt"])).unwrap();
        let get = |path: &str| {
            p.rules
                .iter()
                .find(|r| r.path == Path::new(path))
                .map(|r| r.access)
        };
        // nothing on the way: a right there would hold inside the read-only path too
        assert_eq!(get("/home/u"), None);
        assert_eq!(get("/home/u/models"), None);
        assert_eq!(get("/home/u/work"), Some(fs::DIR_WRITE));
        assert_eq!(get("/home/u/.bashrc"), Some(fs::FILE_WRITE));
        assert_eq!(get("/home/u/models/other.pt"), Some(fs::FILE_WRITE));
        assert_eq!(get("/home/u/models/best.pt"), None);
        // nothing above the read-only file may remove, rename or write it
        for r in &p.rules {
            if Path::new("/home/u/models/best.pt").starts_with(&r.path) {
                assert_eq!(
                    r.access
                        & (fs::WRITE_FILE
                            | fs::REMOVE_FILE
                            | fs::REFER
                            | fs::TRUNCATE
                            | fs::REMOVE_DIR),
                    0,
                    "{r:?}"
                );
            }
        }
    }

    #[test]
    fn root_as_a_writable_tree_is_refused() {
        let f = fsys();
        let mut i = inputs(&f, &[]);
        i.writable
            .push(("/".into(), "the working directory".into()));
        assert_eq!(plan(i).unwrap_err().code(), 78);
    }

    #[test]
    fn each_path_and_rights_is_one_kernel_rule_wherever_it_comes() {
        let r = |path: &str, access: u64| Rule {
            path: path.into(),
            access,
            why: "test".into(),
        };
        // as start leaves them: the plan's sorted rules, then the fallback HOME it made
        let rules = vec![
            r("/dev/null", fs::FILE_WRITE),
            r("/tmp", fs::DIR_WRITE),
            r("/tmp", fs::DIR_WRITE),
            r("/tmp/h", fs::DIR_WRITE),
            r("/var/tmp", fs::DIR_WRITE),
            r("/tmp/h", fs::DIR_WRITE),
            r("/tmp/h", fs::FILE_WRITE),
        ];
        let got: Vec<(&str, u64)> = kernel_rules(&rules)
            .iter()
            .map(|r| (r.path.to_str().unwrap(), r.access))
            .collect();
        let mut want = vec![
            ("/dev/null", fs::FILE_WRITE),
            ("/tmp", fs::DIR_WRITE),
            ("/tmp/h", fs::DIR_WRITE),
            ("/tmp/h", fs::FILE_WRITE),
            ("/var/tmp", fs::DIR_WRITE),
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn read_write_mounts_are_writable_and_a_socket_is_not() {
        let f = fsys()
            .dir("/ckpt", 0, 0o777)
            .node("/docker.sock", 0, 0o140660);
        let mut i = inputs(&f, &[]);
        i.mountinfo = Some((
            "1 0 0:1 / / rw - overlay overlay rw\n\
             2 1 8:1 /v/ckpt /ckpt rw - ext4 /dev/sda1 rw\n\
             3 1 0:9 /docker.sock /docker.sock rw - tmpfs tmpfs rw\n"
                .into(),
            vec![],
        ));
        let p = plan(i).unwrap();
        assert_eq!(p.volumes, vec![PathBuf::from("/ckpt")]);
        assert!(p
            .rules
            .iter()
            .any(|r| r.path == Path::new("/ckpt") && r.access == fs::DIR_WRITE));
        assert_eq!(p.volumes_left.len(), 1, "{:?}", p.volumes_left);
        assert_eq!(p.volumes_left[0].0, Path::new("/docker.sock"));
        // off: the same volume is named, not granted
        let mut i = inputs(&f, &[]);
        i.volumes = Volumes::Off;
        i.mountinfo = Some((
            "2 1 8:1 /v/ckpt /ckpt rw - ext4 /dev/sda1 rw\n".into(),
            vec![],
        ));
        let p = plan(i).unwrap();
        assert!(p.volumes.is_empty() && !p.rules.iter().any(|r| r.path == Path::new("/ckpt")));
        assert_eq!(
            p.volumes_left,
            vec![(PathBuf::from("/ckpt"), "--writable-mounts off".into())]
        );
    }

    #[test]
    fn procfs_gets_write_and_truncate_only() {
        let f = fsys().dir("/proc", 0, 0o555);
        let p = plan(inputs(&f, &[])).unwrap();
        let r: Vec<&Rule> = p
            .rules
            .iter()
            .filter(|r| r.path == Path::new("/proc"))
            .collect();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].access, fs::WRITE_FILE | fs::TRUNCATE);
    }

    #[test]
    fn ports_parse() {
        assert_eq!(
            parse_ports("443, 29500,443", "--net-connect").unwrap(),
            vec![443, 29500]
        );
        assert!(parse_ports("0", "x").is_err());
        assert!(parse_ports("http", "x").is_err());
        assert!(parse_ports("70000", "x").is_err());
    }
}
