//! The Landlock part of the plan: where the workload may write, what stays read-only,
//! which ports it may bind and connect to.

use super::{Facts, Identity};
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;

/// The Landlock rules: where the workload may write, what stays read-only, which ports.
pub(super) fn plan_landlock(
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
    let mountinfo = (args.landlock != landlock::Enforcement::Off).then(|| {
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
