//! The runtime audit: what secure-init cannot fix from inside the container but can see —
//! a runtime socket mounted in, a privileged container, the host's PID or network
//! namespace, host paths mounted, a writable `/sys`, `/proc/sys` or cgroup `release_agent`,
//! host devices, capabilities the runtime added, no seccomp filter from the runtime, no
//! memory or pids limit, secrets in the environment, setuid binaries, a weak sshd config.
//!
//! In the manner of amicontained/deepce (inside) and docker-bench (outside): [`gather`]
//! reads (as root, before the privilege drop, or from `docker exec`), [`evaluate`] is pure
//! and gives findings with id, severity, evidence and fix.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Policy {
    /// Log the findings at start.
    Warn,
    /// Refuse to start (77) on a high-severity finding.
    Strict,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub evidence: String,
    pub fix: String,
}

/// What the audit reads.
#[derive(Debug, Clone, Default)]
pub struct AuditFacts {
    /// `/proc/self/mountinfo`.
    pub mountinfo: String,
    /// Container runtime sockets present (sockets at the well-known paths, or mounted).
    pub sockets: Vec<PathBuf>,
    /// Capability bounding and effective sets (`CapBnd`, `CapEff`) and the highest cap.
    pub cap_bnd: u64,
    pub last_cap: u32,
    /// PID 2 is `kthreadd`: the kernel threads are visible, so this is the host's PID
    /// namespace.
    pub kthreadd_visible: bool,
    /// With the host PID namespace: the namespaces shared with the host (kthreadd's).
    pub shared_with_init: Vec<String>,
    /// Network interfaces.
    pub interfaces: Vec<String>,
    /// `/proc/sys` is writable (mounted read-write and `W_OK` for root).
    pub proc_sys_writable: bool,
    /// Writable cgroup v1 `release_agent` files.
    pub release_agents: Vec<PathBuf>,
    /// `/dev/mem`, `/dev/kmem`, `/dev/port`, and block devices.
    pub host_devices: Vec<PathBuf>,
    /// `kernel.unprivileged_userns_clone`, `user.max_user_namespaces`.
    pub userns_clone: Option<String>,
    pub max_user_namespaces: Option<String>,
    /// This cgroup's memory and pids limits ("max" or a number), when found.
    pub memory_limit: Option<String>,
    pub pids_limit: Option<String>,
    /// Names of secret-looking Jupyter variables in the environment.
    pub env_secrets: Vec<String>,
    pub setuid: Vec<PathBuf>,
    /// `/etc/ssh/sshd_config` when sshd is installed.
    pub sshd_config: Option<String>,
    /// `Seccomp:` of /proc/self/status (0: no filter from the runtime).
    pub seccomp: Option<u32>,
    /// The search-path check's refusal, if any.
    pub search_path: Option<String>,
}

/// How a container runtime's socket is named (docker.sock, containerd.sock, crio.sock…).
const RUNTIME_NAMES: &[&str] = &[
    "docker",
    "containerd",
    "crio",
    "podman",
    "dockershim",
    "buildkit",
    "cri-dockerd",
];

/// Every socket below `dir` (not following symlinks), `depth` levels down, at most
/// `budget` entries looked at over all calls.
fn walk_for_sockets(dir: &Path, depth: u32, budget: &mut usize, found: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let Ok(t) = e.file_type() else { continue };
        if t.is_socket() {
            found(&e.path());
        } else if t.is_dir() && depth > 1 {
            walk_for_sockets(&e.path(), depth - 1, budget, found);
        }
    }
}

const RUNTIME_SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/podman/podman.sock",
    "/var/run/podman/podman.sock",
    "/var/run/dockershim.sock",
    "/run/buildkit/buildkitd.sock",
];

/// Interfaces only a host (or a node) has.
const HOST_IFACES: &[&str] = &[
    "docker0", "cni0", "cali", "flannel", "veth", "virbr", "br-", "tunl0", "vxlan", "kube-",
    "weave", "cilium",
];
const SETUID_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/lib/openssh",
    "/usr/libexec",
];

/// Capabilities a runtime should not add, with their severity.
const RISKY_CAPS: &[(&str, u32, Severity)] = &[
    ("CAP_SYS_ADMIN", 21, Severity::High),
    ("CAP_SYS_MODULE", 16, Severity::High),
    ("CAP_SYS_PTRACE", 19, Severity::High),
    ("CAP_DAC_READ_SEARCH", 2, Severity::High),
    ("CAP_SYS_RAWIO", 17, Severity::High),
    ("CAP_BPF", 39, Severity::High),
    ("CAP_NET_ADMIN", 12, Severity::Medium),
    ("CAP_SYS_BOOT", 22, Severity::Medium),
    ("CAP_PERFMON", 38, Severity::Medium),
    ("CAP_SYSLOG", 34, Severity::Medium),
    ("CAP_SYS_TIME", 25, Severity::Medium),
];

fn finding(id: &'static str, severity: Severity, evidence: String, fix: &str) -> Finding {
    Finding {
        id,
        severity,
        evidence,
        fix: fix.to_string(),
    }
}

/// The findings, most severe first. Pure.
pub fn evaluate(f: &AuditFacts) -> Vec<Finding> {
    use Severity::*;
    let mut out = vec![];
    let ms = crate::mounts::parse(&f.mountinfo);
    for s in &f.sockets {
        out.push(finding("runtime-socket", High, format!("container runtime socket {}", s.display()),
            "remove the socket mount (-v /var/run/docker.sock:…): whoever reaches it starts privileged containers, i.e. owns the host"));
    }
    let all = if f.last_cap >= 63 {
        u64::MAX
    } else {
        (1u64 << (f.last_cap + 1)) - 1
    };
    if f.last_cap > 0 && f.cap_bnd & all == all {
        out.push(finding("privileged", High, format!("the capability bounding set is full ({:#x}): a privileged container or every capability added", f.cap_bnd),
            "drop --privileged / cap_add: ALL; add only the capabilities secure-init needs (SETUID, SETGID, SETPCAP, KILL)"));
    } else {
        let added: Vec<&(&str, u32, Severity)> = RISKY_CAPS
            .iter()
            .filter(|(_, bit, _)| f.cap_bnd & (1u64 << bit) != 0)
            .collect();
        if let Some(sev) = added.iter().map(|(_, _, s)| *s).max() {
            let names: Vec<&str> = added.iter().map(|(n, _, _)| *n).collect();
            out.push(finding("capability-added", sev, format!("the runtime granted {} (in the bounding set)", names.join(", ")),
                "remove them from --cap-add / securityContext.capabilities.add: secure-init drops them for the workload, but `docker exec` shells and the runtime's root keep them"));
        }
    }
    if f.kthreadd_visible {
        out.push(finding("host-pid-namespace", High, "kernel threads (kthreadd, PID 2) are visible: this is the host's PID namespace".into(),
            "drop --pid host / hostPID: true: the workload sees and can signal host processes of its uid"));
    }
    for ns in &f.shared_with_init {
        let (id, sev) = match ns.as_str() {
            "net" => ("host-network-namespace", High),
            "ipc" => ("host-ipc-namespace", High),
            "uts" => ("host-uts-namespace", Medium),
            "mnt" => ("host-mount-namespace", High),
            _ => ("host-namespace", Medium),
        };
        out.push(finding(
            id,
            sev,
            format!("the {ns} namespace is the host's (shared with the kernel's threads)"),
            "drop the --net/--ipc/--uts host option (hostNetwork/hostIPC)",
        ));
    }
    let host_ifaces: Vec<&String> = f
        .interfaces
        .iter()
        .filter(|i| HOST_IFACES.iter().any(|h| i.starts_with(h)))
        .collect();
    if !host_ifaces.is_empty() && !f.shared_with_init.iter().any(|n| n == "net") {
        out.push(finding("host-network-namespace", High, format!("host network interfaces are visible: {host_ifaces:?}"),
            "drop --net host / hostNetwork: true: the workload can reach every host-local service and sniff with raw sockets if it gains the capability"));
    }
    for m in &ms {
        let (root, point, opts, fstype, source) = m;
        if let Some(host) = crate::mounts::host_path(m) {
            let own_fs = if host != &**root {
                format!(" (the host's {host}, on a file system of its own)")
            } else {
                String::new()
            };
            out.push(finding("host-path-mounted", High, format!("host path {root}{own_fs} ({fstype} on {source}) is mounted at {point}{}", if crate::mounts::is_rw(opts) { ", read-write" } else { ", read-only" }),
                "do not mount host system paths (-v /:/host, /etc, /root, /var/run, /var/lib/kubelet, /home) into the container; mount only the data directory"));
        }
        if point == "/sys" && crate::mounts::is_rw(opts) {
            out.push(finding(
                "sys-writable",
                High,
                "/sys is mounted read-write".into(),
                "run without --privileged (runtimes mount /sys read-only otherwise)",
            ));
        }
    }
    if f.proc_sys_writable {
        out.push(finding("proc-sys-writable", High, "/proc/sys is writable (kernel parameters of the host)".into(),
            "run without --privileged and without --security-opt systempaths=unconfined (runtimes mount /proc/sys read-only)"));
    }
    if !f.release_agents.is_empty() {
        let list: Vec<String> = f
            .release_agents
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        out.push(finding("cgroup-release-agent", High, format!("writable cgroup v1 release_agent ({}): a container escape (CVE-2022-0492)", list.join(", ")),
            "run without --privileged / CAP_SYS_ADMIN, with the runtime's cgroup namespace and read-only cgroup mount"));
    }
    if !f.host_devices.is_empty() {
        let list: Vec<String> = f
            .host_devices
            .iter()
            .take(8)
            .map(|p| p.display().to_string())
            .collect();
        out.push(finding("host-devices", High, format!("host devices are present: {}{}", list.join(", "), if f.host_devices.len() > 8 { ", …" } else { "" }),
            "run without --privileged and pass only the devices the workload needs (--gpus / --device)"));
    }
    let userns_on = match (&f.userns_clone, &f.max_user_namespaces) {
        (Some(c), _) if c.trim() == "0" => false,
        (_, Some(m)) => m.trim().parse::<u64>().unwrap_or(0) > 0,
        (Some(c), None) => c.trim() == "1",
        _ => false,
    };
    if userns_on {
        out.push(finding("unprivileged-userns", Medium, format!("unprivileged user namespaces are enabled on the host (unprivileged_userns_clone={}, max_user_namespaces={})", f.userns_clone.as_deref().unwrap_or("-").trim(), f.max_user_namespaces.as_deref().unwrap_or("-").trim()),
            "set kernel.unprivileged_userns_clone=0 or user.max_user_namespaces=0 on the host where nothing needs them (the workload's seccomp profile denies unshare and namespace clones either way)"));
    }
    let unlimited = |v: &Option<String>| {
        v.as_deref().is_some_and(|s| {
            s.trim() == "max" || s.trim().parse::<u64>().is_ok_and(|n| n >= 1 << 60)
        })
    };
    if unlimited(&f.memory_limit) {
        out.push(finding(
            "no-memory-limit",
            Medium,
            "the container's cgroup has no memory limit".into(),
            "set --memory / resources.limits.memory: one runaway DataLoader can take the node down",
        ));
    }
    if unlimited(&f.pids_limit) {
        out.push(finding("no-pids-limit", Medium, "the container's cgroup has no pids limit".into(),
            "set --pids-limit / the kubelet's podPidsLimit: a fork bomb in a notebook otherwise reaches the host's limit"));
    }
    for v in &f.env_secrets {
        out.push(finding("secret-in-environment", Medium, format!("{v} is set in the container's environment (visible in `docker inspect` and to root in /proc/1/environ)"),
            "pass the password as a secret file (/run/secrets/jupyter_password); secure-init removes the variable from the workload's environment, not from the runtime's record"));
    }
    if !f.setuid.is_empty() {
        let list: Vec<String> = f
            .setuid
            .iter()
            .take(8)
            .map(|p| p.display().to_string())
            .collect();
        out.push(finding("setuid-binaries", Low, format!("{} setuid/setgid file(s): {}{}", f.setuid.len(), list.join(", "), if f.setuid.len() > 8 { ", …" } else { "" }),
            "strip them in the image (find / -xdev -perm /6000 -exec chmod a-s {} +): inert for the workload under no_new_privs, but not for a `docker exec` shell"));
    }
    if let Some(c) = &f.sshd_config {
        let opt = |key: &str| {
            c.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let mut it = l.split_whitespace();
                    let k = it.next()?;
                    k.eq_ignore_ascii_case(key)
                        .then(|| it.next().unwrap_or("").to_ascii_lowercase())
                })
                .next()
        };
        let mut weak = vec![];
        if opt("PasswordAuthentication").is_none_or(|v| v == "yes") {
            weak.push("PasswordAuthentication yes (or unset)");
        }
        if opt("PermitRootLogin").is_some_and(|v| v == "yes") {
            weak.push("PermitRootLogin yes");
        }
        if opt("PermitEmptyPasswords").is_some_and(|v| v == "yes") {
            weak.push("PermitEmptyPasswords yes");
        }
        if !weak.is_empty() {
            out.push(finding("sshd-config", Medium, format!("sshd is installed and /etc/ssh/sshd_config has {}", weak.join(", ")),
                "run sshd through secure-init (--sshd), which writes its own key-only config, or fix the image's config"));
        }
    }
    if f.seccomp == Some(0) {
        out.push(finding("runtime-seccomp-off", Medium, "the container has no seccomp filter from the runtime (--security-opt seccomp=unconfined?)".into(),
            "keep the runtime's default filter as a second layer (secure-init's own filter is then the only one)"));
    }
    if let Some(s) = &f.search_path {
        out.push(finding(
            "search-path",
            High,
            s.clone(),
            "make every PATH/LD_LIBRARY_PATH/LD_PRELOAD/PYTHONPATH entry absolute and root-owned",
        ));
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

fn read(p: &str) -> Option<String> {
    crate::sys::read_small(p).ok()
}

fn status_field(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
}

/// Read what the audit needs. Read-only; as root it sees the most.
/// `deep`: also walk the bin directories for setuid files (the subcommand; a start skips it:
/// it stats every file there).
pub fn gather(
    env_names: &[std::ffi::OsString],
    search_path: Option<String>,
    deep: bool,
) -> AuditFacts {
    let mountinfo = read("/proc/self/mountinfo").unwrap_or_default();
    let ms = crate::mounts::parse(&mountinfo);
    let is_sock = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket());
    let mut sockets: Vec<PathBuf> = RUNTIME_SOCKETS
        .iter()
        .map(PathBuf::from)
        .filter(|p| is_sock(p))
        .collect();
    let runtime_name = |p: &Path| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        RUNTIME_NAMES.iter().any(|r| name.starts_with(r)) && name.ends_with(".sock")
    };
    // Runtime sockets reach a container only through a mount: a socket that is itself a
    // mount point is one whatever its name (`-v /var/run/docker.sock:/tmp/d.sock`); inside a
    // mounted directory (the host's /run, /run/containerd), sockets named like a runtime's,
    // found by a bounded walk (depth 3, 2,000 entries).
    let mut budget = 2000usize;
    for (_, point, _, fstype, _) in &ms {
        let p = PathBuf::from(&**point);
        if is_sock(&p) {
            sockets.push(p);
            continue;
        }
        if p == Path::new("/")
            || ["/proc", "/sys", "/dev"].iter().any(|d| p.starts_with(d))
            || ["proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue"].contains(fstype)
        {
            continue;
        }
        walk_for_sockets(&p, 3, &mut budget, &mut |s| {
            if runtime_name(s) {
                sockets.push(s.to_path_buf());
            }
        });
    }
    sockets.sort();
    sockets.dedup();
    // /var/run is usually a link to /run: one socket, one finding
    let mut canon: Vec<PathBuf> = vec![];
    sockets.retain(|s| {
        let c = std::fs::canonicalize(s).unwrap_or_else(|_| s.clone());
        let new = !canon.contains(&c);
        canon.push(c);
        new
    });
    // The bounding set and the seccomp mode from prctl (generating /proc/self/status costs
    // ~40 µs in a fresh process); /proc/self/status where the runtime refuses the calls.
    let last_cap = crate::sys::last_cap();
    let from_prctl = (0..=last_cap).try_fold(0u64, |m, cap| {
        crate::sys::capbset_read(cap)
            .ok()
            .map(|on| m | (u64::from(on) << cap))
    });
    let (cap_bnd, seccomp) = match (from_prctl, crate::sys::seccomp_mode()) {
        (Some(b), Some(s)) => (b, Some(s)),
        _ => {
            let status = read("/proc/self/status").unwrap_or_default();
            (
                status_field(&status, "CapBnd:")
                    .and_then(|v| u64::from_str_radix(&v, 16).ok())
                    .unwrap_or(0),
                status_field(&status, "Seccomp:").and_then(|v| v.parse().ok()),
            )
        }
    };
    let kthreadd_visible = read("/proc/2/status").is_some_and(|s| {
        status_field(&s, "Name:").as_deref() == Some("kthreadd")
            && status_field(&s, "PPid:").as_deref() == Some("0")
    });
    let mut shared_with_init = vec![];
    if kthreadd_visible {
        // kernel threads live in the initial namespaces (readable where PID 1 is not)
        for ns in ["net", "ipc", "uts", "mnt"] {
            let a = std::fs::read_link(format!("/proc/self/ns/{ns}"));
            let b = std::fs::read_link(format!("/proc/2/ns/{ns}"));
            if let (Ok(a), Ok(b)) = (a, b) {
                if a == b {
                    shared_with_init.push(ns.to_string());
                }
            }
        }
    }
    // /proc/self/net shows this network namespace (/sys/class/net shows the one /sys was
    // mounted in)
    let interfaces: Vec<String> = read("/proc/self/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
        .filter(|n| !n.is_empty())
        .collect();
    let proc_sys_ro = ms
        .iter()
        .rfind(|(_, p, _, _, _)| p == "/proc/sys" || p == "/proc")
        .is_some_and(|(_, _, o, _, _)| o.split(',').any(|x| x == "ro"));
    let proc_sys_writable =
        !proc_sys_ro && crate::sys::access_writable(Path::new("/proc/sys/kernel/hostname"));
    let mut release_agents = vec![];
    for (_, point, opts, fstype, _) in &ms {
        if *fstype == "cgroup" && !opts.split(',').any(|o| o == "ro") {
            let ra = Path::new(&**point).join("release_agent");
            // (a missing file is not writable: `access` answers ENOENT)
            if crate::sys::access_writable(&ra) {
                release_agents.push(ra);
            }
        }
    }
    // Block devices, and /dev/mem, /dev/kmem, /dev/port (of any type: a link to one too),
    // from one listing of /dev.
    let mut host_devices: Vec<PathBuf> = vec![];
    for e in std::fs::read_dir("/dev").into_iter().flatten().flatten() {
        let Ok(t) = e.file_type() else { continue };
        let raw_memory = ["mem", "kmem", "port"].iter().any(|n| e.file_name() == *n);
        if t.is_block_device() || (raw_memory && (!t.is_symlink() || e.path().exists())) {
            host_devices.push(e.path());
        }
    }
    host_devices.sort();
    let cgroup = read("/proc/self/cgroup").unwrap_or_default();
    use crate::cgroup::read as limit;
    let (memory_limit, pids_limit) = if crate::cgroup::is_v2(&cgroup) {
        (
            limit(&cgroup, "", "memory.max"),
            limit(&cgroup, "", "pids.max"),
        )
    } else {
        (
            limit(&cgroup, "memory", "memory.limit_in_bytes"),
            limit(&cgroup, "pids", "pids.max"),
        )
    };
    let env_secrets = env_names
        .iter()
        .map(|k| k.to_string_lossy().into_owned())
        .filter(|k| ["JUPYTER_TOKEN", "JUPYTER_PASSWORD"].contains(&k.as_str()))
        .collect();
    let mut setuid = vec![];
    for d in SETUID_DIRS.iter().filter(|_| deep) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if let Ok(m) = e.path().symlink_metadata() {
                if m.is_file() && m.mode() & 0o6000 != 0 {
                    setuid.push(e.path());
                }
            }
        }
    }
    setuid.sort();
    setuid.dedup();
    let sshd_installed = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
        .iter()
        .any(|p| Path::new(p).exists());
    AuditFacts {
        mountinfo,
        sockets,
        cap_bnd,
        last_cap,
        kthreadd_visible,
        shared_with_init,
        interfaces,
        proc_sys_writable,
        release_agents,
        host_devices,
        userns_clone: read("/proc/sys/kernel/unprivileged_userns_clone"),
        max_user_namespaces: read("/proc/sys/user/max_user_namespaces"),
        memory_limit,
        pids_limit,
        env_secrets,
        setuid,
        sshd_config: if sshd_installed {
            read("/etc/ssh/sshd_config")
        } else {
            None
        },
        seccomp,
        search_path,
    }
}

/// The report as JSON.
pub fn to_json(findings: &[Finding]) -> serde_json::Value {
    serde_json::json!({
        "findings": findings.iter().map(|f| serde_json::json!({
            "id": f.id, "severity": f.severity.name(), "evidence": f.evidence, "fix": f.fix,
        })).collect::<Vec<_>>(),
        "high": findings.iter().filter(|f| f.severity == Severity::High).count(),
        "medium": findings.iter().filter(|f| f.severity == Severity::Medium).count(),
        "low": findings.iter().filter(|f| f.severity == Severity::Low).count(),
    })
}

/// The report as text, one line a finding, most severe first.
pub fn to_text(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "audit: no findings\n".into();
    }
    let mut s = String::new();
    for f in findings {
        s.push_str(&format!(
            "{:<6} {}: {}\n       fix: {}\n",
            f.severity.name().to_uppercase(),
            f.id,
            f.evidence,
            f.fix
        ));
    }
    let high = findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .count();
    s.push_str(&format!(
        "audit: {} finding(s), {high} high\n",
        findings.len()
    ));
    s
}

/// The start-time audit: log every finding (`audit.finding`, warn), and in strict mode
/// refuse (77) when one is high.
pub fn at_start(mode: Policy, env_names: &[std::ffi::OsString]) -> crate::error::Result<()> {
    if mode == Policy::Off {
        log::warn!(target: "audit.off", "runtime audit off (--audit off)");
        return Ok(());
    }
    report(mode, &gather(env_names, None, false))
}

/// The start-time audit in warn mode is gathered by the supervisor once the command runs
/// (still root, before it drops its privileges, single-threaded): the reading overlaps the
/// command's own start instead of delaying it, and the findings are logged right after
/// `child.start`. Strict mode gathers before any effect (a refusal comes first); `--exec`
/// gathers just before the exec.
pub struct Pending(Option<Vec<std::ffi::OsString>>);

pub fn begin(mode: Policy, env_names: &[std::ffi::OsString]) -> crate::error::Result<Pending> {
    match mode {
        Policy::Warn => Ok(Pending(Some(env_names.to_vec()))),
        _ => at_start(mode, env_names).map(|_| Pending(None)),
    }
}

impl Pending {
    /// Gather and log the deferred (warn-mode) audit: never a refusal.
    pub fn finish(self) -> crate::error::Result<()> {
        match self.0 {
            Some(names) => report(Policy::Warn, &gather(&names, None, false)),
            None => Ok(()),
        }
    }
}

fn report(mode: Policy, facts: &AuditFacts) -> crate::error::Result<()> {
    let findings = evaluate(facts);
    for f in &findings {
        log::warn!(target: "audit.finding", id = f.id, severity = f.severity.name(), evidence = f.evidence.as_str(), fix = f.fix.as_str();
            "{}: {}", f.id, f.evidence);
    }
    let high: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .collect();
    if mode == Policy::Strict && !high.is_empty() {
        let list: Vec<String> = high
            .iter()
            .map(|f| format!("{} ({})", f.id, f.evidence))
            .collect();
        return Err(crate::error::Error::hardening(format!(
            "--audit strict: {} high-severity finding(s): {}; fix the container's configuration (see each audit.finding's fix), or use --audit warn",
            high.len(),
            list.join("; ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(f: &AuditFacts) -> Vec<&'static str> {
        evaluate(f).iter().map(|x| x.id).collect()
    }

    const DOCKER_MOUNTS: &str = "\
600 500 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/x
601 600 0:52 / /proc rw,nosuid - proc proc rw
602 600 0:53 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k
606 600 0:56 / /sys ro,nosuid - sysfs sysfs ro
610 600 254:1 /var/lib/docker/containers/abc/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw
611 600 254:1 /var/lib/docker/containers/abc/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw
612 600 254:1 /srv/data /data rw,relatime - ext4 /dev/vda1 rw
620 601 0:52 /sys /proc/sys ro,nosuid - proc proc rw
";

    fn docker() -> AuditFacts {
        AuditFacts {
            mountinfo: DOCKER_MOUNTS.into(),
            cap_bnd: 0xa80425fb, // Docker's default set
            last_cap: 40,
            interfaces: vec!["lo".into(), "eth0".into()],
            seccomp: Some(2),
            memory_limit: Some("8589934592".into()),
            pids_limit: Some("4096".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_bounding_set_and_seccomp_mode_are_what_proc_shows() {
        // (read with prctl; /proc/self/status is the reference)
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let f = gather(&[], None, false);
        assert_eq!(
            Some(format!("{:016x}", f.cap_bnd)),
            status_field(&status, "CapBnd:")
        );
        assert_eq!(
            f.seccomp,
            status_field(&status, "Seccomp:").and_then(|v| v.parse().ok())
        );
    }

    #[test]
    fn a_default_docker_container_has_no_findings() {
        assert_eq!(ids(&docker()), Vec::<&str>::new());
    }

    #[test]
    fn each_misconfiguration_is_found() {
        let mut f = docker();
        f.sockets = vec!["/var/run/docker.sock".into()];
        assert_eq!(ids(&f), ["runtime-socket"]);
        let mut f = docker();
        f.mountinfo
            .push_str("700 600 254:1 / /host rw,relatime - ext4 /dev/vda1 rw\n");
        f.mountinfo
            .push_str("701 600 254:1 /etc /hostetc ro,relatime - ext4 /dev/vda1 rw\n");
        let e = evaluate(&f);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].evidence.contains("/host") && e[0].evidence.contains("read-write"));
        let mut f = docker();
        f.cap_bnd |= 1 << 21;
        assert_eq!(ids(&f), ["capability-added"]);
        let mut f = docker();
        f.cap_bnd = (1u64 << 41) - 1;
        f.mountinfo = f.mountinfo.replace(
            "/sys ro,nosuid - sysfs sysfs ro",
            "/sys rw,nosuid - sysfs sysfs rw",
        );
        let i = ids(&f);
        assert!(
            i.contains(&"privileged") && i.contains(&"sys-writable"),
            "{i:?}"
        );
        assert!(
            !i.contains(&"capability-added"),
            "one finding for a full set: {i:?}"
        );
        let mut f = docker();
        f.kthreadd_visible = true;
        f.shared_with_init = vec!["net".into()];
        assert_eq!(ids(&f), ["host-pid-namespace", "host-network-namespace"]);
        let mut f = docker();
        f.interfaces.push("docker0".into());
        assert_eq!(ids(&f), ["host-network-namespace"]);
        let mut f = docker();
        f.seccomp = Some(0);
        f.memory_limit = Some("max".into());
        f.pids_limit = Some("9223372036854771712".into());
        f.env_secrets = vec!["JUPYTER_TOKEN".into()];
        assert_eq!(
            ids(&f),
            [
                "no-memory-limit",
                "no-pids-limit",
                "secret-in-environment",
                "runtime-seccomp-off"
            ]
        );
        let mut f = docker();
        f.release_agents = vec!["/sys/fs/cgroup/memory/release_agent".into()];
        f.host_devices = vec!["/dev/sda".into()];
        f.proc_sys_writable = true;
        assert_eq!(
            ids(&f),
            ["proc-sys-writable", "cgroup-release-agent", "host-devices"]
        );
        let mut f = docker();
        f.sshd_config = Some("PermitRootLogin yes\n#PasswordAuthentication no\n".into());
        f.setuid = vec!["/usr/bin/su".into()];
        let e = evaluate(&f);
        assert_eq!(e[0].id, "sshd-config");
        assert!(e[0]
            .evidence
            .contains("PasswordAuthentication yes (or unset)"));
        assert_eq!(e[1].id, "setuid-binaries");
        let mut f = docker();
        f.userns_clone = None;
        f.max_user_namespaces = Some("63000\n".into());
        assert_eq!(ids(&f), ["unprivileged-userns"]);
        f.userns_clone = Some("0\n".into());
        assert!(ids(&f).is_empty());
    }
}
