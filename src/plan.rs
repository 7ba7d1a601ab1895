//! Options + facts -> an immutable plan, as a pure function: [`build`] reads nothing but
//! its arguments (files through `facts.fs`, read-only) and changes nothing. Every
//! configuration error is found here, before the first side effect (the GPU helper, model
//! hashing, password hashing, config writes, HOME creation).

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::identity;
use crate::sandbox::{self, Posture, Terminal, MAX_GROUPS, MAX_KEEP_FDS};
use crate::seccomp;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// How secure-init runs the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// PID 1: supervise, forward signals, reap.
    Pid1,
    /// Not PID 1: the same, as a child subreaper.
    Subreaper,
    /// `--exec`: harden and execve in place.
    Exec,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pid1 => "pid1",
            Mode::Subreaper => "subreaper",
            Mode::Exec => "exec",
        }
    }
}

/// Who the workload runs as.
#[derive(Debug, Clone)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, sorted and deduplicated.
    pub groups: Vec<u32>,
    /// true: started as root and switching ids; false: verify-only (keep the current ids).
    pub switch: bool,
    pub user_name: Option<String>,
    pub home: PathBuf,
    /// HOME is a private fallback directory that start-up creates; `home_orig` is kept
    /// when that fails.
    pub home_fallback: bool,
    pub home_orig: Option<PathBuf>,
    /// Why the groups were chosen (for the log).
    pub groups_source: String,
}

impl Identity {
    /// Who the paths options name, search paths and rule directories are checked against.
    pub fn workload(&self) -> crate::searchpath::Workload<'_> {
        crate::searchpath::Workload {
            uid: self.uid,
            gid: self.gid,
            groups: &self.groups,
        }
    }
}

/// The supervisor's own identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervisor {
    /// Its uid and gid: a uid of its own when started as root, else the workload's.
    pub uid: u32,
    pub gid: u32,
    /// A uid of its own, keeping CAP_KILL (started as root, CAP_KILL available).
    pub own_uid: bool,
    /// Change ids at all (started as root).
    pub switch: bool,
}

/// The uid (and gid) the supervisor takes by default when started as root: not the
/// workload's, nobody's in a normal image, inside the 65536 ids a user namespace maps.
pub const SUPERVISOR_UID: u32 = 65533;

#[derive(Debug, Clone)]
pub struct SeccompPlan {
    pub name: String,
    pub unconfined: bool,
    /// Resolved at run time (custom profiles, kept capabilities); None when unconfined or
    /// when the build-time compilation of a built-in profile applies.
    pub resolved: Option<seccomp::Resolved>,
    pub programs: Vec<Vec<libc::sock_filter>>,
    /// Syscalls the profile names, and names skipped as other architectures' (for the log).
    pub syscalls: usize,
    pub skipped_other_arch: Vec<std::borrow::Cow<'static, str>>,
    /// The first program with its denials reported to the supervisor (None: --exec,
    /// unconfined, or nothing denied).
    pub notify: Option<Vec<libc::sock_filter>>,
    /// `--seccomp-learn`: where to write, and the profile in use as JSON.
    pub learn: Option<(PathBuf, serde_json::Value)>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub started_as_root: bool,
    pub identity: Identity,
    pub supervisor: Supervisor,
    /// Capabilities kept (ambient), as a bit mask over capability numbers.
    pub keep_mask: u64,
    pub keep_names: Vec<String>,
    pub last_cap: u32,
    /// The bounding set can be emptied (CAP_SETPCAP is effective).
    pub can_drop_bounding: bool,
    pub core_dumps: bool,
    pub seccomp: SeccompPlan,
    pub command: Vec<OsString>,
    /// The command as C strings, and the paths to try (execvp-style).
    pub argv: Vec<CString>,
    pub candidates: Vec<CString>,
    /// The child's environment (HOME as planned; see [`Plan::envp`]).
    pub env: Vec<(OsString, OsString)>,
    pub terminal: Terminal,
    pub kill_process_group: bool,
    /// Descriptors above 2 passed on to the command (`--keep-fd`).
    pub keep_fds: Vec<i32>,
    pub gpu: crate::gpu::GpuPlan,
    pub jupyter: Option<crate::jupyter::JupyterPlan>,
    /// sshd as the command, or alongside it (`--sshd`).
    pub sshd: Option<crate::sshd::SshdPlan>,
    pub landlock: crate::landlock::LandlockPlan,
    pub verify_manifests: Vec<PathBuf>,
    pub scan_models: Vec<PathBuf>,
    pub allow_globals: Vec<String>,
    /// `--stop-grace`, `--signal-map`.
    pub stop_grace: std::time::Duration,
    pub signal_map: Vec<(i32, i32)>,
}

fn cap_names(mask: u64) -> Vec<String> {
    if mask == 0 {
        return vec![];
    }
    caps::all()
        .into_iter()
        .filter(|c| mask & (1u64 << c.index()) != 0)
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Parse `--keep-cap` values into a mask and canonical names.
pub fn parse_keep_caps(values: &[String], last_cap: u32) -> Result<(u64, Vec<String>)> {
    let mut mask = 0u64;
    for v in values {
        let v = v.trim();
        if v.is_empty() {
            return Err(Error::config(
                "--keep-cap: empty capability name; use a name such as NET_BIND_SERVICE",
            ));
        }
        let canon = caps::to_canonical(v);
        let cap: caps::Capability = canon.parse().map_err(|_| {
            Error::config(format!(
                "--keep-cap: unknown capability {v:?}; use a name from capabilities(7) such as NET_BIND_SERVICE"
            ))
        })?;
        if u32::from(cap.index()) > last_cap {
            return Err(Error::config(format!(
                "--keep-cap: {canon} is not supported by this kernel (highest capability is {last_cap}); remove it"
            )));
        }
        mask |= 1u64 << cap.index();
    }
    Ok((mask, cap_names(mask)))
}

fn parse_groups(list: &str, facts: &Facts) -> Result<Vec<u32>> {
    list.split(',')
        .map(|g| identity::resolve_group(g.trim(), "--groups", &facts.group))
        .collect()
}

fn resolve_identity(args: &RunArgs, facts: &Facts) -> Result<Identity> {
    let started_as_root = facts.is_root();
    let (uid, gid, entry, groups, groups_source) = if started_as_root {
        let spec = args.user.clone().unwrap_or_else(|| "1001".to_string());
        let t = identity::resolve_user(&spec, &facts.passwd, &facts.group)?;
        if t.uid == 0 && !args.allow_root {
            return Err(Error::config(format!(
                "--user {spec:?} resolves to uid 0; the workload must not run as root. Use an unprivileged user, or --allow-root in a rootless container where uid 0 is already unprivileged"
            )));
        }
        let (groups, source) = match args.groups.as_deref().unwrap_or("auto") {
            "auto" => {
                let dev = &facts.gpu_nodes;
                let gs: Vec<u32> = dev.iter().map(|(_, g)| *g).filter(|g| *g != 0).collect();
                let source = if dev.is_empty() {
                    "auto: no GPU device nodes".to_string()
                } else {
                    let names: Vec<String> = dev
                        .iter()
                        .map(|(p, g)| format!("{}={g}", p.display()))
                        .collect();
                    format!("auto: {}", names.join(" "))
                };
                (gs, source)
            }
            "none" | "" => (vec![], "none".to_string()),
            list => (parse_groups(list, facts)?, "explicit".to_string()),
        };
        (t.uid, t.gid, t.entry, groups, source)
    } else {
        let (uid, gid) = (facts.uids.0, facts.gid);
        if let Some(spec) = &args.user {
            let t = identity::resolve_user(spec, &facts.passwd, &facts.group)?;
            let gid_given = spec.contains(':');
            if t.uid != uid || (gid_given && t.gid != gid) {
                return Err(Error::hardening(format!(
                    "--user {spec:?} asks for uid {}:{} but secure-init was started as non-root uid {uid}:{gid} (e.g. Kubernetes runAsUser) and cannot change identity; drop --user, or start the container as root so secure-init can switch users",
                    t.uid, t.gid
                )));
            }
        }
        let mut current = facts.groups.clone();
        current.sort();
        current.dedup();
        if let Some(g) = args.groups.as_deref().filter(|g| *g != "auto") {
            let mut want = match g {
                "none" | "" => vec![],
                list => parse_groups(list, facts)?,
            };
            want.sort();
            want.dedup();
            if want != current {
                return Err(Error::hardening(format!(
                    "--groups {g:?} differs from the current groups {current:?}, and a non-root secure-init cannot change groups; drop --groups or start as root"
                )));
            }
        }
        let entry = facts.passwd.iter().find(|e| e.uid == uid).cloned();
        (
            uid,
            gid,
            entry,
            current,
            "kept (started non-root)".to_string(),
        )
    };
    let mut groups = groups;
    groups.sort();
    groups.dedup();
    if groups.len() > MAX_GROUPS {
        return Err(Error::config(format!(
            "{} supplementary groups planned; at most {MAX_GROUPS} are supported: name fewer with --groups",
            groups.len()
        )));
    }

    // HOME: the passwd entry's, else the inherited one; a private fallback when unusable
    // (created by start-up, not here).
    let home = match &entry {
        Some(e) if !e.home.is_empty() => Some(PathBuf::from(&e.home)),
        _ if !started_as_root => facts.var("HOME").map(PathBuf::from),
        _ => None,
    };
    let home_ok = home.as_ref().is_some_and(|h| {
        h != std::path::Path::new("/")
            && facts.fs.meta(h).is_some_and(|m| {
                identity::dir_writable_by(&m, uid, gid, &groups, || facts.fs.readonly_mount(h))
            })
    });
    let (home_path, home_fallback) = match &home {
        Some(h) if home_ok => (h.clone(), false),
        _ => (identity::fallback_home_path(&facts.tmp, uid), true),
    };
    Ok(Identity {
        uid,
        gid,
        groups,
        switch: started_as_root,
        user_name: entry.map(|e| e.name),
        home: home_path,
        home_fallback,
        home_orig: home,
        groups_source,
    })
}

fn resolve_seccomp(
    name: &str,
    keep_names: &[String],
    facts: &Facts,
    trust: &Trust,
) -> Result<(SeccompPlan, Option<String>)> {
    if name == "unconfined" {
        return Ok((
            SeccompPlan {
                name: name.into(),
                unconfined: true,
                resolved: None,
                programs: vec![],
                syscalls: 0,
                skipped_other_arch: vec![],
                notify: None,
                learn: None,
            },
            None,
        ));
    }
    if let Some(pc) = seccomp::precompiled::lookup(name, keep_names, facts.kernel) {
        return Ok((
            SeccompPlan {
                name: name.into(),
                unconfined: false,
                resolved: None,
                programs: pc
                    .programs
                    .iter()
                    .map(|p| {
                        p.iter()
                            .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
                            .collect()
                    })
                    .collect(),
                syscalls: pc.syscalls,
                skipped_other_arch: pc
                    .skipped_other_arch
                    .iter()
                    .map(|s| std::borrow::Cow::Borrowed(*s))
                    .collect(),
                notify: None,
                learn: None,
            },
            None,
        ));
    }
    let mut custom_text = None;
    let (profile, source) = match seccomp::profile::parse_builtin(name) {
        Some(p) => (p?, name.to_string()),
        None => {
            let path = std::path::Path::new(name);
            let looks_like_path = name.contains('/') || name.ends_with(".json");
            if !looks_like_path && !facts.fs.exists_nofollow(path) {
                return Err(Error::config(format!(
                    "--seccomp: unknown profile {name:?}; use pytorch, docker-default, unconfined or a path to a Docker/OCI JSON profile"
                )));
            }
            // read once, from a path the workload cannot change (trusted)
            let resolved = trust.check(path, "--seccomp", true)?;
            let bytes = facts.fs.read(&resolved).map_err(|e| {
                Error::config(format!(
                    "--seccomp: cannot read profile {name}: {e}; check the path and its permissions"
                ))
            })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::config(format!(
                    "--seccomp: profile {name} is not UTF-8 text; give a Docker/OCI JSON profile"
                ))
            })?;
            custom_text = Some(text);
            (
                seccomp::parse(custom_text.as_deref().unwrap_or(""), name)?,
                name.to_string(),
            )
        }
    };
    let target = seccomp::native_target(keep_names.to_vec(), facts.kernel)?;
    let resolved = seccomp::resolve(&profile, &target)?;
    let programs = resolved.compile()?.iter().map(seccomp::to_kernel).collect();
    Ok((
        SeccompPlan {
            name: source,
            unconfined: false,
            syscalls: resolved.syscall_count(),
            skipped_other_arch: resolved
                .skipped_other_arch
                .iter()
                .cloned()
                .map(std::borrow::Cow::Owned)
                .collect(),
            resolved: Some(resolved),
            programs,
            notify: None,
            learn: None,
        },
        custom_text,
    ))
}

/// Who the paths an option names must be safe from ([`crate::trusted`]).
struct Trust<'a> {
    fs: &'a dyn crate::fsview::Fs,
    workload: crate::searchpath::Workload<'a>,
    root: bool,
    cwd: &'a std::path::Path,
}

impl Trust<'_> {
    /// [`crate::trusted::check`] of the path `flag` names.
    fn check(&self, path: &std::path::Path, flag: &str, must_exist: bool) -> Result<PathBuf> {
        crate::trusted::check(
            self.fs,
            path,
            self.cwd,
            flag,
            &self.workload,
            self.root,
            must_exist,
        )
    }
}

/// Denials as notifications (a supervisor to answer them), and learn mode. `custom`: the
/// text of a custom profile, as read once by [`resolve_seccomp`].
fn plan_notify(
    args: &RunArgs,
    mode: Mode,
    sc: &mut SeccompPlan,
    custom: Option<String>,
    trust: &Trust,
) -> Result<()> {
    use seccomp::notify;
    let learn = args.seccomp_learn.is_some();
    if mode == Mode::Exec || sc.unconfined {
        if learn {
            return Err(Error::usage(
                "--seccomp-learn needs the supervisor and a profile: drop --exec or --seccomp unconfined",
            ));
        }
        return Ok(());
    }
    if !args.seccomp_events && !learn {
        return Ok(());
    }
    let exempt = notify::native_numbers(notify::CHILD_SYSCALLS);
    sc.notify = sc
        .programs
        .first()
        .and_then(|p| notify::with_notifications(p, &exempt, learn));
    if let Some(path) = &args.seccomp_learn {
        if sc.notify.is_none() {
            return Err(Error::config(
                "--seccomp-learn: the profile denies nothing that could be learned",
            ));
        }
        if !path.is_absolute() {
            return Err(Error::config(format!(
                "--seccomp-learn {}: give an absolute path",
                path.display()
            )));
        }
        // the output is written as root: its directory must be one the workload cannot
        // change (a symlink planted there would redirect root's write)
        trust.check(path, "--seccomp-learn", false)?;
        let text = match (seccomp::profile::builtin(&sc.name), custom) {
            (Some(t), _) => t.to_string(),
            (None, Some(t)) => t,
            (None, None) => {
                return Err(Error::internal(format!(
                    "--seccomp {}: the profile's text was not kept",
                    sc.name
                )))
            }
        };
        let mut base: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::config(format!("--seccomp {}: not JSON: {e}", sc.name)))?;
        if sc.name == "docker-default" {
            // the terminal guard parse_builtin adds to Docker's own file
            if let Some(e) = base.get_mut("syscalls").and_then(|s| s.as_array_mut()) {
                for (req_name, req) in seccomp::profile::policy().ioctl_deny {
                    e.push(serde_json::json!({"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM,
                        "args": [{"index": 1, "value": req, "op": "SCMP_CMP_EQ"}],
                        "comment": format!("secure-init terminal guard: {req_name}")}));
                }
            }
        }
        sc.learn = Some((path.clone(), base));
    }
    Ok(())
}

/// Variables secure-init consumes and never passes on.
fn is_consumed(name: &OsStr) -> bool {
    name.as_bytes().starts_with(b"SECURE_INIT_")
}

/// How the child treats the terminal on stdin: job control when secure-init's session owns
/// it (the runtime made it for the container: `docker run -it`) or when the container's own
/// init leads that session (`docker run -it --init`: tini, PID 1 of this PID namespace, is
/// the session leader and secure-init its child) — no person's shell reads from that
/// terminal, and TIOCSTI/TIOCLINUX are denied by the built-in profiles anyway; a session of
/// its own when it belongs to someone else's session (started by hand from a shell, whose
/// session leader another PID namespace's or this one's non-init process is).
fn terminal(mode: Mode, facts: &Facts) -> Terminal {
    match (mode, facts.stdin_tty_session) {
        (Mode::Exec, _) => Terminal::Keep,
        (_, Some(1)) if facts.sid == 1 && facts.pid != 1 => Terminal::ProcessGroup,
        (_, Some(sid)) if sid != facts.sid || facts.sid != facts.pid => Terminal::NewSession,
        _ => Terminal::ProcessGroup,
    }
}

/// The Landlock rules: where the workload may write, what stays read-only, which ports.
fn plan_landlock(
    args: &RunArgs,
    facts: &Facts,
    identity: &Identity,
    jupyter: Option<&crate::jupyter::JupyterPlan>,
    sshd: Option<&crate::sshd::SshdPlan>,
    env: &[(OsString, OsString)],
) -> Result<crate::landlock::LandlockPlan> {
    use crate::landlock::{self, DEVICES};
    let root = std::path::Path::new("/");
    let mut writable: Vec<(PathBuf, String)> = vec![];
    if identity.home != root {
        writable.push((identity.home.clone(), "HOME".into()));
    }
    for t in ["/tmp", "/var/tmp", "/dev/shm"] {
        writable.push((t.into(), t.into()));
    }
    if let Some(t) = Some(&facts.tmp).filter(|t| t.as_path() != std::path::Path::new("/tmp")) {
        writable.push((t.clone(), "TMPDIR".into()));
    }
    match &facts.cwd {
        Some(c) if c != root => writable.push((c.clone(), "the working directory".into())),
        _ => {}
    }
    // Rule directories the options name: never reached through a symlink the workload
    // could have planted (the rule would follow it wherever it points).
    let w = identity.workload();
    let cwd = facts.cwd.as_deref().unwrap_or(root);
    let rule_dir = |p: &std::path::Path, what: &str| {
        crate::trusted::resolve_rule_dir(facts.fs.as_ref(), p, cwd, &w).map_err(|why| {
            Error::config(format!(
                "{what} {}: {why}; name the real directory instead",
                p.display()
            ))
        })
    };
    if let Some(s) = jupyter.and_then(|j| j.settings.as_ref()) {
        writable.push((
            rule_dir(&s.root_dir, "the Jupyter root dir")?,
            "the Jupyter root dir".into(),
        ));
    }
    for d in DEVICES {
        writable.push((d.into(), "a device the workload needs".into()));
    }
    if facts.nvidiactl {
        for (name, _) in facts.fs.read_dir(&args.dev_dir).unwrap_or_default() {
            if name.to_string_lossy().starts_with("nvidia") {
                writable.push((args.dev_dir.join(name), "a GPU device".into()));
            }
        }
    }
    for w in &args.writable {
        if facts.fs.meta(w).is_none() {
            return Err(Error::config(format!(
                "--writable {}: does not exist; create it (or mount the volume) first",
                w.display()
            )));
        }
        writable.push((rule_dir(w, "--writable")?, "--writable".into()));
    }
    let mut read_only: Vec<PathBuf> = args.scan_models.clone();
    for m in &args.verify_manifest {
        // the manifest and the files it lists
        read_only.push(m.clone());
        if let Ok(bytes) = facts.fs.read(m) {
            let text = String::from_utf8_lossy(&bytes);
            for e in crate::models::parse_manifest_text(&text, m)? {
                read_only.push(e.path);
            }
        }
    }
    // Listening: any port unless --net-bind names some. A default list would break the
    // job it cannot see into: DDP's store port is as often set inside the script
    // (`os.environ["MASTER_PORT"] = "12355"`, the PyTorch tutorial) as in the environment,
    // and a Jupyter server's kernels listen on random ports for ZeroMQ. With --net-bind the
    // ports the plan can see are added: the job's rendezvous, Jupyter's, sshd's.
    let jupyter_server = jupyter.filter(|j| j.is_server_command);
    let mut bind: Option<Vec<(u16, String)>> = match &args.net_bind {
        Some(list) => Some(
            landlock::parse_ports(list, "--net-bind")?
                .into_iter()
                .map(|p| (p, "--net-bind".to_string()))
                .collect(),
        ),
        None => None,
    };
    let mut add = |port: u16, why: &str| {
        if let Some(b) = bind.as_mut().filter(|b| !b.iter().any(|(p, _)| *p == port)) {
            b.push((port, why.to_string()));
        }
    };
    if let Some(s) = jupyter_server.and_then(|j| j.settings.as_ref()) {
        add(s.port, "the Jupyter port");
    }
    // sshd listens on its port (alongside or as the command).
    if let Some(s) = sshd {
        add(s.port, "sshd's port");
    }
    // A distributed job's rendezvous store (MASTER_PORT, torchrun's --master-port, ...).
    let rendezvous = crate::rendezvous::ports(&args.command, env);
    for (port, why) in &rendezvous.ports {
        add(*port, &format!("the job's rendezvous: {why}"));
    }
    let connect = match args.net_connect.trim() {
        "any" => None,
        list => Some(landlock::parse_ports(list, "--net-connect")?),
    };
    // The volumes the runtime mounted read-write (from the mount table).
    let mountinfo = (args.landlock != landlock::Mode::Off).then(|| {
        let mut own: Vec<PathBuf> = vec!["/run/secure-init".into()];
        own.extend(args.state_file.parent().map(PathBuf::from));
        own.extend(jupyter.map(|j| j.config_dir.clone()));
        own.extend(sshd.map(|s| s.dir.clone()));
        let text = facts
            .fs
            .read(std::path::Path::new("/proc/self/mountinfo"))
            .unwrap_or_default();
        (String::from_utf8_lossy(&text).into_owned(), own)
    });
    landlock::plan(landlock::Inputs {
        mode: args.landlock,
        writable,
        read_only,
        bind,
        connect,
        mountinfo,
        volumes: args.writable_mounts,
        warnings: rendezvous.ignored,
        fs: facts.fs.as_ref(),
    })
}

/// Build the plan. Pure: everything it knows comes from `args` and `facts`.
pub fn build(args: &RunArgs, facts: &Facts) -> Result<Plan> {
    if args.command.is_empty() {
        return Err(Error::usage(
            "no command given; usage: secure-init [OPTIONS] [--] COMMAND [ARGS]...",
        ));
    }
    let started_as_root = facts.is_root();
    let mode = if args.exec {
        Mode::Exec
    } else if facts.pid == 1 {
        Mode::Pid1
    } else {
        Mode::Subreaper
    };
    let last_cap = facts.last_cap;
    let (keep_mask, keep_names) = parse_keep_caps(&args.keep_cap, last_cap)?;
    if !started_as_root && keep_mask & !facts.caps.permitted != 0 {
        return Err(Error::hardening(format!(
            "--keep-cap {}: secure-init was started non-root without {} in its permitted set, so it cannot be kept; grant it to the container (e.g. securityContext.capabilities.add) or drop --keep-cap",
            keep_names.join(","),
            cap_names(keep_mask & !facts.caps.permitted).join(",")
        )));
    }
    // the workload's identity first: the paths options name are checked against it
    let identity = resolve_identity(args, facts)?;
    let trust = Trust {
        fs: facts.fs.as_ref(),
        workload: identity.workload(),
        root: started_as_root,
        cwd: facts.cwd.as_deref().unwrap_or(std::path::Path::new("/")),
    };
    let (mut seccomp, custom) = resolve_seccomp(&args.seccomp, &keep_names, facts, &trust)?;
    plan_notify(args, mode, &mut seccomp, custom, &trust)?;
    // the NVML library is loaded as root (by the gpu-info helper)
    if let Some(lib) = args
        .nvml_library
        .as_deref()
        .filter(|l| facts.fs.exists_nofollow(l))
    {
        trust.check(lib, "--nvml-library", true)?;
    }
    for m in &args.verify_manifest {
        trust.check(m, "--verify-manifest", true)?;
    }
    let mut keep_fds = args.keep_fd.clone();
    keep_fds.sort();
    keep_fds.dedup();
    for fd in &keep_fds {
        if *fd <= 2 {
            return Err(Error::config(format!(
                "--keep-fd {fd}: descriptors 0, 1 and 2 are always passed on; name descriptors above 2"
            )));
        }
        if !facts.open_fds.contains(fd) {
            return Err(Error::config(format!(
                "--keep-fd {fd}: descriptor {fd} is not open in secure-init; open it before starting secure-init or drop the option"
            )));
        }
    }
    if keep_fds.len() > MAX_KEEP_FDS {
        return Err(Error::config(format!(
            "--keep-fd: at most {MAX_KEEP_FDS} descriptors can be passed on"
        )));
    }
    for g in &args.allow_global {
        let ok = g.split_once('.').is_some_and(|(m, n)| {
            !m.is_empty()
                && !n.is_empty()
                && g.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        });
        if !ok {
            return Err(Error::config(format!(
                "--allow-global {g:?}: expected module.name, e.g. argparse.Namespace"
            )));
        }
    }
    let gpu = crate::gpu::plan(
        args.gpu,
        args.min_driver.as_deref(),
        args.nvml_library.clone(),
        args.nvidia_version_file.clone(),
        &args.dev_dir,
        facts,
    )?;
    if !(identity.uid == 0 && args.allow_root) {
        crate::searchpath::check(facts, &identity.workload())?;
    }
    let kill_bit = 1u64 << caps::Capability::CAP_KILL.index();
    let supervisor = if started_as_root && facts.caps.permitted & kill_bit == 0 {
        // A runtime that dropped CAP_KILL (cap_drop: ALL with only SETUID, SETGID, SETPCAP
        // added): a supervisor under a uid of its own could not signal the workload, so it
        // takes the workload's (warned at start).
        if args.supervisor_uid.is_some() {
            return Err(Error::config(
                "--supervisor-uid: the supervisor needs CAP_KILL to signal the workload from a uid of its own, and the container does not have it; add KILL to the container's capabilities (cap_add) or drop --supervisor-uid",
            ));
        }
        Supervisor {
            uid: identity.uid,
            gid: identity.gid,
            own_uid: false,
            switch: true,
        }
    } else if started_as_root {
        let uid = args.supervisor_uid.unwrap_or(SUPERVISOR_UID);
        if uid == identity.uid || uid == 0 {
            return Err(Error::config(format!(
                "--supervisor-uid {uid}: must differ from the workload's uid {} and from 0; pick an unused uid",
                identity.uid
            )));
        }
        if let Some(e) = facts.passwd.iter().find(|e| e.uid == uid) {
            return Err(Error::config(format!(
                "--supervisor-uid {uid}: uid {uid} belongs to user {:?} in /etc/passwd; the supervisor needs a uid nobody else uses: pass an unused one with --supervisor-uid",
                e.name
            )));
        }
        Supervisor {
            uid,
            gid: uid,
            own_uid: true,
            switch: true,
        }
    } else {
        Supervisor {
            uid: identity.uid,
            gid: identity.gid,
            own_uid: false,
            switch: false,
        }
    };
    let jupyter = crate::jupyter::plan(
        &crate::jupyter::JupyterArgs {
            password_file: args.jupyter_password_file.clone(),
            hashed_password_file: args.jupyter_hashed_password_file.clone(),
            root_dir: args.jupyter_root_dir.clone(),
            ip: args.jupyter_ip.clone(),
            port: args.jupyter_port,
            allow_origin: args.jupyter_allow_origin.clone(),
            config_dir: args.jupyter_config_dir.clone(),
            no_password: args.jupyter_no_password,
            no_terminals: args.jupyter_no_terminals,
            behind_proxy: args.jupyter_behind_proxy,
            certfile: args.jupyter_certfile.clone(),
            keyfile: args.jupyter_keyfile.clone(),
            cookie_lifetime: args.jupyter_cookie_lifetime.clone(),
            idle_timeout: args.jupyter_idle_timeout.clone(),
            base_url: args.jupyter_base_url.clone(),
        },
        &args.command,
        &crate::jupyter::Who {
            uid: identity.uid,
            gid: identity.gid,
            groups: &identity.groups,
            home: &identity.home,
            home_pending: identity.home_fallback,
            started_as_root,
        },
        facts,
    )?;
    let sshd = crate::sshd::plan(
        &crate::sshd::SshdArgs {
            alongside: args.sshd,
            port: args.sshd_port,
            authorized_keys_file: args.sshd_authorized_keys_file.clone(),
            host_key_file: args.sshd_host_key_file.clone(),
            allow_forwarding: args.sshd_allow_forwarding,
            allow_rsa: args.sshd_allow_rsa,
            config_dir: args.sshd_config_dir.clone(),
        },
        &args.command,
        &crate::sshd::Who {
            uid: identity.uid,
            gid: identity.gid,
            groups: &identity.groups,
            user_name: identity.user_name.as_deref(),
            started_as_root,
        },
        facts,
    )?;
    if mode == Mode::Exec && sshd.as_ref().is_some_and(|s| !s.as_command) {
        return Err(Error::usage(
            "--sshd needs the supervisor to run sshd next to the command; drop --exec or --sshd",
        ));
    }
    let configured = jupyter.as_ref().is_some_and(|j| j.settings.is_some());
    let mut env: Vec<(OsString, OsString)> = facts
        .env
        .iter()
        .filter(|(k, _)| !is_consumed(k))
        // The password is ours alone; the rest only when secure-init owns the config.
        .filter(|(k, _)| k != "JUPYTER_PASSWORD")
        .filter(|(k, _)| !(configured && crate::jupyter::REMOVED_ENV.iter().any(|r| k == r)))
        .filter(|(k, _)| {
            !jupyter
                .as_ref()
                .is_some_and(|j| j.env_set.iter().any(|(n, _)| k == n.as_str()))
        })
        .filter(|(k, _)| k != "HOME" && k != "USER" && k != "LOGNAME")
        .cloned()
        .collect();
    let user = identity
        .user_name
        .clone()
        .unwrap_or_else(|| identity.uid.to_string());
    env.push(("HOME".into(), identity.home.clone().into_os_string()));
    env.push(("USER".into(), user.clone().into()));
    env.push(("LOGNAME".into(), user.into()));
    for (k, v) in jupyter.iter().flat_map(|j| j.env_set.iter()) {
        env.push((k.into(), v.into()));
    }
    let landlock = plan_landlock(
        args,
        facts,
        &identity,
        jupyter.as_ref(),
        sshd.as_ref(),
        &env,
    )?;
    // sshd as the command runs as planned: its absolute path, `-D -e -f CONFIG`.
    let run = match &sshd {
        Some(s) if s.as_command => &s.argv,
        _ => &args.command,
    };
    let argv = run
        .iter()
        .map(|a| sandbox::cstring(a.as_bytes(), "an argument"))
        .collect::<Result<Vec<_>>>()?;
    let candidates = sandbox::exec_candidates(&run[0], &env)?;
    let plan = Plan {
        mode,
        started_as_root,
        supervisor,
        keep_mask,
        keep_names,
        last_cap,
        can_drop_bounding: facts.caps.effective & (1 << caps::Capability::CAP_SETPCAP.index()) != 0,
        core_dumps: args.allow_core_dumps,
        seccomp,
        command: args.command.clone(),
        argv,
        candidates,
        terminal: terminal(mode, facts),
        kill_process_group: args.kill_process_group,
        keep_fds,
        gpu,
        jupyter,
        sshd,
        landlock,
        verify_manifests: args.verify_manifest.clone(),
        scan_models: args.scan_models.clone(),
        allow_globals: args.allow_global.clone(),
        stop_grace: std::time::Duration::from_secs(args.stop_grace),
        signal_map: crate::signals::parse_map(&args.signal_map)?,
        env,
        identity,
    };
    // every variable and the HOME fallback are valid C strings (what envp() will build)
    if plan
        .env
        .iter()
        .any(|(k, v)| k.as_bytes().contains(&0) || v.as_bytes().contains(&0))
    {
        return Err(Error::usage(
            "an environment variable contains a NUL byte; remove it",
        ));
    }
    if let Some(h) = &plan.identity.home_orig {
        sandbox::cstring(h.as_os_str().as_bytes(), "HOME")?;
    }
    Ok(plan)
}

impl Plan {
    /// The child's environment as C strings.
    pub fn envp(&self) -> Result<Vec<CString>> {
        self.env
            .iter()
            .map(|(k, v)| {
                // one allocation: NAME=VALUE and the NUL CString adds
                let mut kv = Vec::with_capacity(k.len() + v.len() + 2);
                kv.extend_from_slice(k.as_bytes());
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                sandbox::cstring_owned(kv, "an environment variable")
            })
            .collect()
    }

    /// Set HOME to what start-up made (or kept, `fallback` false, when it could not).
    pub fn set_home(&mut self, home: PathBuf, fallback: bool) {
        for (k, v) in self.env.iter_mut() {
            if k == "HOME" {
                *v = home.clone().into_os_string();
            }
        }
        self.identity.home = home;
        self.identity.home_fallback = fallback;
    }

    /// The workload's posture.
    pub fn child_posture(&self) -> Posture {
        let id = &self.identity;
        Posture::new(
            id.switch,
            (id.uid, id.gid),
            &id.groups,
            self.keep_mask,
            true,
            self.last_cap,
            self.can_drop_bounding,
        )
    }

    /// The supervisor's posture: its own uid with CAP_KILL only (started as root), or
    /// nothing at all under the workload's uid (started non-root).
    pub fn supervisor_posture(&self) -> Posture {
        let s = &self.supervisor;
        let kill = if s.own_uid {
            1u64 << caps::Capability::CAP_KILL.index()
        } else {
            0
        };
        Posture::new(
            s.switch,
            (s.uid, s.gid),
            &[],
            kill,
            false,
            self.last_cap,
            // it never execs: its bounding set can give nothing back
            false,
        )
    }

    /// What the profile resolves to (re-resolved for a precompiled built-in: only the dry
    /// run asks).
    fn seccomp_summary(&self) -> Option<serde_json::Value> {
        if let Some(r) = &self.seccomp.resolved {
            return Some(r.summary());
        }
        let p = seccomp::profile::parse_builtin(&self.seccomp.name)?.ok()?;
        let t = seccomp::native_target(self.keep_names.clone(), seccomp::running_kernel()).ok()?;
        seccomp::resolve(&p, &t).ok().map(|r| r.summary())
    }

    /// The plan as JSON (`--dry-run`): names of environment variables only, never values.
    pub fn to_json(&self) -> serde_json::Value {
        let env_names: Vec<String> = self
            .env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        let bounding = if self.can_drop_bounding {
            serde_json::json!(self.keep_names)
        } else {
            serde_json::json!("unchanged (no CAP_SETPCAP; inert under no_new_privs)")
        };
        serde_json::json!({
            "mode": self.mode.name(),
            "started_as_root": self.started_as_root,
            "user": {
                "uid": self.identity.uid,
                "gid": self.identity.gid,
                "name": self.identity.user_name,
                "switch": self.identity.switch,
                "home": self.identity.home,
                "home_fallback": self.identity.home_fallback,
            },
            "groups": self.identity.groups,
            "groups_source": self.identity.groups_source,
            "capabilities": {
                "effective": self.keep_names,
                "permitted": self.keep_names,
                "inheritable": self.keep_names,
                "ambient": self.keep_names,
                "bounding": bounding,
            },
            "supervisor": {
                "uid": self.supervisor.uid,
                "capabilities": if self.supervisor.own_uid { vec!["CAP_KILL"] } else { vec![] },
            },
            "no_new_privs": true,
            "core_dumps": self.core_dumps,
            "seccomp": {
                "profile": self.seccomp.name,
                "filters": self.seccomp.programs.len(),
                "instructions": self.seccomp.programs.iter().map(Vec::len).sum::<usize>(),
                "events": self.seccomp.notify.is_some(),
                "learn": self.seccomp.learn.as_ref().map(|(p, _)| p),
                "resolved": self.seccomp_summary(),
            },
            "terminal": format!("{:?}", self.terminal),
            "environment": env_names,
            "command": self.command.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "kill_process_group": self.kill_process_group,
            "keep_fds": self.keep_fds,
            "landlock": self.landlock.to_json(),
            "sshd": self.sshd.as_ref().map(|s| s.to_json()),
            "jupyter": self.jupyter.as_ref().map(|j| serde_json::json!({
                "auth": j.auth.describe(),
                "config_dir": j.config_dir,
                "server_command": j.is_server_command,
            })),
            "gpu": {
                "mode": format!("{:?}", self.gpu.mode).to_lowercase(),
                "requested": self.gpu.requested,
                "reason": self.gpu.reason,
                "requirement": self.gpu.need_source,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fake::{root_pid1, FakeFs};
    use clap::Parser;

    fn args(a: &[&str]) -> RunArgs {
        let mut v = vec!["secure-init"];
        v.extend_from_slice(a);
        crate::cli::Cli::try_parse_from(v).unwrap().run
    }

    #[test]
    fn default_root_start() {
        let p = build(&args(&["--", "python", "train.py"]), &root_pid1()).unwrap();
        assert_eq!(p.mode, Mode::Pid1);
        assert_eq!((p.identity.uid, p.identity.gid), (1001, 1001));
        assert!(p.identity.switch);
        assert_eq!(p.identity.home, PathBuf::from("/home/aiuser"));
        assert!(!p.identity.home_fallback);
        assert_eq!(p.keep_mask, 0);
        assert_eq!(p.seccomp.name, "pytorch");
        assert!(!p.seccomp.programs.is_empty());
        assert_eq!(p.supervisor.uid, SUPERVISOR_UID);
        assert!(p.supervisor.own_uid);
        assert_eq!(p.terminal, Terminal::ProcessGroup);
        assert!(p.env.iter().any(|(k, v)| k == "USER" && v == "aiuser"));
        assert_eq!(
            p.candidates[0].to_bytes(),
            b"/usr/local/bin/python",
            "PATH search"
        );
        assert!(p.jupyter.is_none());
    }

    #[test]
    fn not_pid1_is_subreaper_and_exec_is_exec() {
        let mut f = root_pid1();
        f.pid = 4242;
        assert_eq!(
            build(&args(&["--", "true"]), &f).unwrap().mode,
            Mode::Subreaper
        );
        let p = build(&args(&["--exec", "--", "true"]), &f).unwrap();
        assert_eq!(p.mode, Mode::Exec);
        assert_eq!(p.terminal, Terminal::Keep);
    }

    #[test]
    fn a_terminal_of_another_session_gets_a_new_session() {
        let mut f = root_pid1();
        f.pid = 300;
        f.sid = 100;
        f.stdin_tty_session = Some(100);
        let p = build(&args(&["--", "bash"]), &f).unwrap();
        assert_eq!(p.terminal, Terminal::NewSession);
        // secure-init leads the session that owns the terminal (docker run -it)
        f.sid = 300;
        f.stdin_tty_session = Some(300);
        let p = build(&args(&["--", "bash"]), &f).unwrap();
        assert_eq!(p.terminal, Terminal::ProcessGroup);
        // the container's own init leads it (docker run -it --init: tini is PID 1 and the
        // session leader, secure-init its child): job control stays
        f.pid = 7;
        f.sid = 1;
        f.stdin_tty_session = Some(1);
        let p = build(&args(&["--", "bash"]), &f).unwrap();
        assert_eq!(p.terminal, Terminal::ProcessGroup);
        // a shell's session seen from another PID namespace (sid 0) or led by another
        // process of this one: a session of its own
        for (sid, tty) in [(0, 0), (5, 5), (1, 5)] {
            f.sid = sid;
            f.stdin_tty_session = Some(tty);
            let p = build(&args(&["--", "bash"]), &f).unwrap();
            assert_eq!(
                p.terminal,
                Terminal::NewSession,
                "sid {sid}, tty session {tty}"
            );
        }
    }

    #[test]
    fn unwritable_home_plans_the_fallback_without_creating_it() {
        let mut f = root_pid1();
        f.fs = Box::new(FakeFs::default().dir("/home/aiuser", 0, 0o755));
        let p = build(&args(&["--", "true"]), &f).unwrap();
        assert!(p.identity.home_fallback);
        assert_eq!(p.identity.home, PathBuf::from("/tmp/secure-init-home-1001"));
        assert_eq!(p.identity.home_orig, Some(PathBuf::from("/home/aiuser")));
    }

    #[test]
    fn configuration_errors_come_from_the_plan() {
        let f = root_pid1();
        for (a, code, want) in [
            (vec!["--", ""], 64, "empty string"),
            (vec![], 64, "no command"),
            (vec!["--user", "0", "--", "true"], 78, "uid 0"),
            (vec!["--user", "nobody-here", "--", "true"], 78, "no user"),
            (
                vec!["--keep-cap", "CAP_FLY", "--", "true"],
                78,
                "unknown capability",
            ),
            (vec!["--keep-fd", "7", "--", "true"], 78, "not open"),
            (
                vec!["--seccomp", "nope", "--", "true"],
                78,
                "unknown profile",
            ),
            (
                vec!["--allow-global", "os", "--", "true"],
                78,
                "module.name",
            ),
            (
                vec!["--supervisor-uid", "1001", "--", "true"],
                78,
                "must differ",
            ),
            (vec!["--", "jupyter", "lab"], 78, "without a password"),
        ] {
            let e = build(&args(&a), &f).unwrap_err();
            assert_eq!(e.code(), code, "{a:?}: {}", e.msg);
            assert!(e.msg.contains(want), "{a:?}: {}", e.msg);
        }
        let mut argv = args(&["--", "true"]);
        argv.command.push(OsString::from("a\0b"));
        assert!(build(&argv, &f).unwrap_err().msg.contains("NUL"));
    }

    #[test]
    fn too_many_groups_is_a_plan_error() {
        let list: Vec<String> = (2000..3100).map(|g| g.to_string()).collect();
        let joined = list.join(",");
        let e = build(&args(&["--groups", &joined, "--", "true"]), &root_pid1()).unwrap_err();
        assert_eq!(e.code(), 78);
        assert!(e.msg.contains("supplementary groups"), "{}", e.msg);
    }

    #[test]
    fn non_root_is_verify_only() {
        let mut f = root_pid1();
        f.uids = (1001, 1001, 1001);
        f.gid = 1001;
        f.groups = vec![1001];
        f.caps = Default::default();
        let p = build(&args(&["--", "true"]), &f).unwrap();
        assert!(!p.identity.switch);
        assert!(!p.supervisor.own_uid);
        assert_eq!(p.supervisor.uid, 1001);
        let e = build(&args(&["--user", "0", "--", "true"]), &f).unwrap_err();
        assert_eq!(e.code(), 77);
    }

    #[test]
    fn jupyter_password_is_read_not_hashed() {
        let mut f = root_pid1();
        f.env
            .push(("JUPYTER_PASSWORD".into(), "correct horse".into()));
        f.env.push(("JUPYTER_TOKEN".into(), "t0k3n".into()));
        let p = build(&args(&["--", "jupyter", "lab"]), &f).unwrap();
        let j = p.jupyter.as_ref().unwrap();
        assert!(matches!(j.auth, crate::jupyter::Auth::Password(..)));
        assert!(!p
            .env
            .iter()
            .any(|(k, _)| k == "JUPYTER_PASSWORD" || k == "JUPYTER_TOKEN"));
        assert!(
            !format!("{p:?}").contains("correct horse"),
            "Debug never shows it"
        );
        // a secret file the workload could read is refused
        let mut f = root_pid1();
        f.fs = Box::new(
            FakeFs::default()
                .dir("/", 0, 0o755)
                .dir("/home", 0, 0o755)
                .dir("/home/aiuser", 1001, 0o755)
                .dir("/run", 0, 0o755)
                .file("/run/pw", 0, 0o644, b"correct horse\n"),
        );
        let e = build(
            &args(&["--jupyter-password-file", "/run/pw", "--", "jupyter", "lab"]),
            &f,
        )
        .unwrap_err();
        assert!(e.msg.contains("readable by the workload"), "{}", e.msg);
    }

    #[test]
    fn unsafe_loader_path_is_refused() {
        let mut f = root_pid1();
        f.env
            .push(("LD_LIBRARY_PATH".into(), "/usr/local/nvidia/lib64:".into()));
        let e = build(&args(&["--", "true"]), &f).unwrap_err();
        assert_eq!(e.code(), 78);
        assert!(e.msg.contains("LD_LIBRARY_PATH"), "{}", e.msg);
    }
}
