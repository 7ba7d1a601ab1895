//! Who runs: the workload's identity (user, groups, HOME) and the capabilities it keeps,
//! and the supervisor's own identity.

use super::Facts;
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::identity;
use crate::sandbox::MAX_GROUPS;
use std::path::PathBuf;

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

pub(super) fn resolve_identity(args: &RunArgs, facts: &Facts) -> Result<Identity> {
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

/// `--keep-cap`: parsed, and (started non-root) only what the permitted set holds.
pub(super) fn keep_caps(args: &RunArgs, facts: &Facts) -> Result<(u64, Vec<String>)> {
    let (keep_mask, keep_names) = parse_keep_caps(&args.keep_cap, facts.last_cap)?;
    if !facts.is_root() && keep_mask & !facts.caps.permitted != 0 {
        return Err(Error::hardening(format!(
            "--keep-cap {}: secure-init was started non-root without {} in its permitted set, so it cannot be kept; grant it to the container (e.g. securityContext.capabilities.add) or drop --keep-cap",
            keep_names.join(","),
            cap_names(keep_mask & !facts.caps.permitted).join(",")
        )));
    }
    Ok((keep_mask, keep_names))
}

/// The supervisor's identity: a uid of its own with CAP_KILL when started as root and the
/// container has CAP_KILL; else the workload's.
pub(super) fn supervisor(args: &RunArgs, facts: &Facts, identity: &Identity) -> Result<Supervisor> {
    let started_as_root = facts.is_root();
    let kill_bit = 1u64 << caps::Capability::CAP_KILL.index();
    Ok(if started_as_root && facts.caps.permitted & kill_bit == 0 {
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
    })
}
