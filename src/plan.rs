//! Configuration -> an immutable plan. Everything that can fail for a configuration reason
//! fails here, before anything on the system is changed.

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::identity;
use crate::seccomp;
use std::ffi::{OsStr, OsString};
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
    /// HOME must be replaced by a private fallback directory (created at start).
    pub home_fallback: bool,
    /// Why the groups were chosen (for the log).
    pub groups_source: String,
}

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
    pub skipped_other_arch: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub started_as_root: bool,
    pub identity: Identity,
    /// Capabilities kept (ambient), as a bit mask over capability numbers.
    pub keep_mask: u64,
    pub keep_names: Vec<String>,
    pub last_cap: u32,
    /// The bounding set can be emptied (CAP_SETPCAP is effective).
    pub can_drop_bounding: bool,
    pub core_dumps: bool,
    pub seccomp: SeccompPlan,
    pub command: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub kill_process_group: bool,
    /// Descriptors above 2 passed on to the command (`--keep-fd`).
    pub keep_fds: Vec<i32>,
    pub gpu: crate::gpu::GpuPlan,
    pub jupyter: Option<crate::jupyter::JupyterPlan>,
    pub verify_manifests: Vec<PathBuf>,
    pub scan_models: Vec<PathBuf>,
    pub allow_globals: Vec<String>,
}

fn cap_names(mask: u64) -> Vec<String> {
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

fn resolve_identity(args: &RunArgs, started_as_root: bool, create_home: bool) -> Result<Identity> {
    let (uid, gid, entry, groups, groups_source) = if started_as_root {
        let spec = args.user.clone().unwrap_or_else(|| "1001".to_string());
        let t = identity::resolve_user(&spec)?;
        if t.uid == 0 && !args.allow_root {
            return Err(Error::config(format!(
                "--user {spec:?} resolves to uid 0; the workload must not run as root. Use an unprivileged user, or --allow-root in a rootless container where uid 0 is already unprivileged"
            )));
        }
        let (groups, source) = match args.groups.as_deref().unwrap_or("auto") {
            "auto" => {
                let dev = identity::gpu_device_groups(&args.dev_dir);
                let mut gs: Vec<u32> = dev.iter().map(|(_, g)| *g).filter(|g| *g != 0).collect();
                gs.sort();
                gs.dedup();
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
            list => {
                let mut gs = Vec::new();
                for g in list.split(',') {
                    gs.push(identity::resolve_group(g.trim(), "--groups")?);
                }
                (gs, "explicit".to_string())
            }
        };
        (t.uid, t.gid, t.entry, groups, source)
    } else {
        let uid = crate::sys::getuid();
        let gid = crate::sys::getgid();
        if let Some(spec) = &args.user {
            let t = identity::resolve_user(spec)?;
            let gid_given = spec.contains(':');
            if t.uid != uid || (gid_given && t.gid != gid) {
                return Err(Error::hardening(format!(
                    "--user {spec:?} asks for uid {}:{} but secure-init was started as non-root uid {uid}:{gid} (e.g. Kubernetes runAsUser) and cannot change identity; drop --user, or start the container as root so secure-init can switch users",
                    t.uid, t.gid
                )));
            }
        }
        let mut buf = vec![0 as libc::gid_t; 65536];
        let n = crate::sys::getgroups(&mut buf)
            .map_err(|e| Error::internal(format!("getgroups: {}", crate::sys::strerror(e))))?;
        buf.truncate(n);
        if let Some(g) = args.groups.as_deref().filter(|g| *g != "auto") {
            let want: Vec<u32> = match g {
                "none" | "" => vec![],
                list => list
                    .split(',')
                    .map(|g| identity::resolve_group(g.trim(), "--groups"))
                    .collect::<Result<_>>()?,
            };
            let (mut a, mut b) = (want.clone(), buf.clone());
            a.sort();
            a.dedup();
            b.sort();
            b.dedup();
            if a != b {
                return Err(Error::hardening(format!(
                    "--groups {g:?} differs from the current groups {b:?}, and a non-root secure-init cannot change groups; drop --groups or start as root"
                )));
            }
        }
        let entry = identity::passwd_entries()
            .into_iter()
            .find(|e| e.uid == uid);
        (uid, gid, entry, buf, "kept (started non-root)".to_string())
    };
    let mut groups = groups;
    groups.sort();
    groups.dedup();

    // HOME: the passwd entry's, else the inherited one; a fallback when unusable.
    let home = match &entry {
        Some(e) if !e.home.is_empty() => Some(PathBuf::from(&e.home)),
        _ if !started_as_root => std::env::var_os("HOME").map(PathBuf::from),
        _ => None,
    };
    let home_ok = home.as_ref().is_some_and(|h| {
        h != std::path::Path::new("/") && identity::dir_writable_by(h, uid, gid, &groups)
    });
    let (home, home_fallback) = match home {
        Some(h) if home_ok => (h, false),
        // The fallback is created now (not in a dry run). HOME is a convenience, not a
        // hardening step: when no private fallback can be had, HOME stays as it was (or /)
        // and the workload starts with a warning.
        original if create_home => match identity::fallback_home(uid, gid) {
            Ok(dir) => (dir, true),
            Err(e) => {
                let keep = original.unwrap_or_else(|| PathBuf::from("/"));
                log::warn!(target: "identity.home", home = keep.display().to_string().as_str();
                    "no writable HOME for uid {uid}: {}; HOME stays {}", e.msg, keep.display());
                (keep, false)
            }
        },
        _ => (
            std::env::temp_dir().join(format!("secure-init-home-{uid}")),
            true,
        ),
    };
    Ok(Identity {
        uid,
        gid,
        groups,
        switch: started_as_root,
        user_name: entry.map(|e| e.name),
        home,
        home_fallback,
        groups_source,
    })
}

fn resolve_seccomp(name: &str, keep_names: &[String]) -> Result<SeccompPlan> {
    if name == "unconfined" {
        return Ok(SeccompPlan {
            name: name.into(),
            unconfined: true,
            resolved: None,
            programs: vec![],
            syscalls: 0,
            skipped_other_arch: vec![],
        });
    }
    if let Some(pc) = crate::precompiled::lookup(name, keep_names, seccomp::running_kernel()) {
        return Ok(SeccompPlan {
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
                .map(|s| s.to_string())
                .collect(),
        });
    }
    let (text, source) = match seccomp::builtin(name) {
        Some(t) => (t.to_string(), name.to_string()),
        None => {
            let looks_like_path = name.contains('/') || name.ends_with(".json");
            if !looks_like_path && !std::path::Path::new(name).exists() {
                return Err(Error::config(format!(
                    "--seccomp: unknown profile {name:?}; use pytorch, docker-default, unconfined or a path to a Docker/OCI JSON profile"
                )));
            }
            let t = std::fs::read_to_string(name).map_err(|e| {
                Error::config(format!(
                    "--seccomp: cannot read profile {name}: {e}; check the path and its permissions"
                ))
            })?;
            (t, name.to_string())
        }
    };
    let profile = seccomp::parse(&text, &source)?;
    let resolved = seccomp::resolve(&profile, &seccomp::Target::native(keep_names.to_vec())?)?;
    let programs = resolved.compile()?.iter().map(seccomp::to_kernel).collect();
    Ok(SeccompPlan {
        name: source,
        unconfined: false,
        syscalls: resolved.syscall_count(),
        skipped_other_arch: resolved.skipped_other_arch.clone(),
        resolved: Some(resolved),
        programs,
    })
}

/// Variables secure-init consumes and never passes on.
fn is_consumed(name: &OsStr) -> bool {
    name.as_bytes().starts_with(b"SECURE_INIT_")
}

pub fn build(args: &RunArgs) -> Result<Plan> {
    if args.command.is_empty() {
        return Err(Error::usage(
            "no command given; usage: secure-init [OPTIONS] [--] COMMAND [ARGS]...",
        ));
    }
    let (_, euid, _) = crate::sys::getresuid();
    let started_as_root = euid == 0;
    let mode = if args.exec {
        Mode::Exec
    } else if crate::sys::getpid() == 1 {
        Mode::Pid1
    } else {
        Mode::Subreaper
    };
    let last_cap = crate::sys::last_cap();
    let (keep_mask, keep_names) = parse_keep_caps(&args.keep_cap, last_cap)?;
    let current = crate::sys::capget()
        .map_err(|e| Error::internal(format!("capget: {}", crate::sys::strerror(e))))?;
    if !started_as_root && keep_mask & !current.permitted != 0 {
        return Err(Error::hardening(format!(
            "--keep-cap {}: secure-init was started non-root without {} in its permitted set, so it cannot be kept; grant it to the container (e.g. securityContext.capabilities.add) or drop --keep-cap",
            keep_names.join(","),
            cap_names(keep_mask & !current.permitted).join(",")
        )));
    }
    let seccomp = resolve_seccomp(&args.seccomp, &keep_names)?;
    let mut keep_fds = args.keep_fd.clone();
    keep_fds.sort();
    keep_fds.dedup();
    for fd in &keep_fds {
        if *fd <= 2 {
            return Err(Error::config(format!(
                "--keep-fd {fd}: descriptors 0, 1 and 2 are always passed on; name descriptors above 2"
            )));
        }
        if !crate::sys::fd_is_open(*fd) {
            return Err(Error::config(format!(
                "--keep-fd {fd}: descriptor {fd} is not open in secure-init; open it before starting secure-init or drop the option"
            )));
        }
    }
    if keep_fds.len() > crate::sandbox::MAX_KEEP_FDS {
        return Err(Error::config(format!(
            "--keep-fd: at most {} descriptors can be passed on",
            crate::sandbox::MAX_KEEP_FDS
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
    )?;

    // Identity last but for Jupyter (which needs HOME): it may create the fallback HOME,
    // so every other configuration error is reported before anything is changed.
    let identity = resolve_identity(args, started_as_root, !args.dry_run)?;
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
            base_url: args.jupyter_base_url.clone(),
        },
        &args.command,
        &crate::jupyter::Who {
            uid: identity.uid,
            gid: identity.gid,
            groups: &identity.groups,
            home: &identity.home,
            started_as_root,
        },
    )?;
    let configured = jupyter.as_ref().is_some_and(|j| !j.files.is_empty());
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
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
    Ok(Plan {
        mode,
        started_as_root,
        identity,
        keep_mask,
        keep_names,
        last_cap,
        can_drop_bounding: current.effective & (1 << caps::Capability::CAP_SETPCAP.index()) != 0,
        core_dumps: args.allow_core_dumps,
        seccomp,
        command: args.command.clone(),
        env,
        kill_process_group: args.kill_process_group,
        keep_fds,
        gpu,
        jupyter,
        verify_manifests: args.verify_manifest.clone(),
        scan_models: args.scan_models.clone(),
        allow_globals: args.allow_global.clone(),
    })
}

impl Plan {
    /// What the profile resolves to (re-resolved for a precompiled built-in: only the dry
    /// run asks).
    fn seccomp_summary(&self) -> Option<serde_json::Value> {
        if let Some(r) = &self.seccomp.resolved {
            return Some(r.summary());
        }
        let text = seccomp::builtin(&self.seccomp.name)?;
        let p = seccomp::parse(text, &self.seccomp.name).ok()?;
        let t = seccomp::Target::native(self.keep_names.clone()).ok()?;
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
            "no_new_privs": true,
            "core_dumps": self.core_dumps,
            "seccomp": {
                "profile": self.seccomp.name,
                "filters": self.seccomp.programs.len(),
                "instructions": self.seccomp.programs.iter().map(Vec::len).sum::<usize>(),
                "resolved": self.seccomp_summary(),
            },
            "environment": env_names,
            "command": self.command.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "kill_process_group": self.kill_process_group,
            "keep_fds": self.keep_fds,
            "jupyter": self.jupyter.as_ref().map(|j| serde_json::json!({
                "auth": match &j.auth {
                    crate::jupyter::Auth::Hashed(_, src) => format!("password ({src})"),
                    crate::jupyter::Auth::NoPassword => "none (--jupyter-no-password)".to_string(),
                    crate::jupyter::Auth::Hub => "jupyterhub".to_string(),
                },
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
