//! Phase 2: what must exist before the command runs, made as root — the fallback HOME, the
//! Jupyter and sshd configurations (root-owned), the `--seccomp-learn` output, the Landlock
//! ruleset. Each effect says what it grants the workload (a writable path, a descriptor to
//! keep); [`apply`] folds those grants into the plan and returns it finished: nothing after
//! this phase changes the plan.

use crate::error::{Error, Result};
use crate::landlock::{self, Rule};
use crate::plan::{Plan, RunMode};
use crate::sys;

/// What the effects made that must stay open: until secure-init exits (the HOME lock), until
/// the supervisor's listener takes it (the learn output), until the command and sshd have
/// started (the ruleset).
pub struct Held {
    /// The fallback HOME's lock: it marks the directory in use.
    pub home_lock: Option<std::fs::File>,
    /// `--seccomp-learn PATH`, opened as root for the supervisor.
    pub learn_out: Option<std::fs::File>,
    /// The Landlock ruleset the child enforces.
    pub landlock: Option<landlock::Prepared>,
}

/// What one effect grants the workload beyond the plan.
#[derive(Default)]
struct Grant {
    /// A path it may write.
    rule: Option<Rule>,
    /// A descriptor `--exec` must pass on.
    keep_fd: Option<std::os::fd::RawFd>,
}

impl Plan {
    fn grant(&mut self, g: Grant) {
        self.landlock.rules.extend(g.rule);
        self.keep_fds.extend(g.keep_fd);
    }
}

/// Make what the plan needs, and return the plan finished.
pub fn apply(mut plan: Plan) -> Result<(Plan, Held)> {
    // The fallback HOME first: the Jupyter configuration names paths under it.
    let (home_lock, grant) = make_home(&mut plan)?;
    plan.grant(grant);
    // The Jupyter configuration: the argon2 hash (the plaintext leaves the plan), root-owned
    // files, a fresh runtime directory for the workload.
    if let Some(j) = plan.jupyter.as_mut() {
        crate::jupyter::config::write(j)?;
        let rule = j.runtime_dir.as_ref().map(|r| Rule {
            path: r.clone(),
            access: landlock::fs::DIR_WRITE,
            why: "the Jupyter runtime dir".into(),
        });
        plan.grant(Grant {
            rule,
            keep_fd: None,
        });
    }
    // sshd: config, authorized keys and host key, root-owned (sshd writes no pid file:
    // the state file records its pid).
    if let Some(s) = &plan.sshd {
        crate::sshd::config::write(s)?;
    }
    sys::step_mark("home_configs");
    // --seccomp-learn: the output file, opened now (as root) for the supervisor.
    let learn_out = match &plan.seccomp.learn {
        Some((path, _)) => Some(open_learn_output(path)?),
        None => None,
    };
    // The Landlock ruleset: built as root (it opens the paths it names), enforced by the
    // child; from the finished plan.
    let landlock = landlock::prepare(&plan.landlock)?;
    sys::step_mark("landlock_ruleset");
    Ok((
        plan,
        Held {
            home_lock,
            learn_out,
            landlock,
        },
    ))
}

/// Create the fallback HOME the plan chose; when that fails, HOME stays as it was (a
/// warning: HOME is a convenience, not a hardening step — unless Jupyter would then serve
/// a system directory).
fn make_home(plan: &mut Plan) -> Result<(Option<std::fs::File>, Grant)> {
    let id = &plan.identity;
    if !id.home_fallback {
        return Ok((None, Grant::default()));
    }
    let planned = id.home.clone();
    let tmp = id.home.parent().unwrap_or(std::path::Path::new("/tmp"));
    let mut lock = None;
    let mut grant = Grant::default();
    match crate::identity::fallback_home(tmp, id.uid, id.gid) {
        Ok(h) => {
            let dir = h.dir;
            log::warn!(target: "identity.home", home = dir.display().to_string().as_str(), emptied = h.emptied, swept = h.swept;
                "HOME unset, '/', or not writable by uid {}: using a private fallback{}", id.uid,
                if h.emptied > 0 { format!(" (emptied of {} entries an earlier start left)", h.emptied) } else { String::new() });
            // The lock marks it in use until secure-init exits; with --exec the command
            // itself holds it (the descriptor is passed on, like --keep-fd).
            if plan.mode == RunMode::Exec {
                use std::os::fd::AsRawFd;
                grant.keep_fd = Some(h.lock.as_raw_fd());
            }
            lock = Some(h.lock);
            grant.rule = Some(Rule {
                path: dir.clone(),
                access: landlock::fs::DIR_WRITE,
                why: "HOME (fallback)".into(),
            });
            plan.set_home(dir, true);
        }
        Err(e) => {
            let keep = id
                .home_orig
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from("/"));
            log::warn!(target: "identity.home", home = keep.display().to_string().as_str();
                "no writable HOME for uid {}: {}; HOME stays {}", id.uid, e.msg, keep.display());
            plan.set_home(keep, false);
        }
    }
    if let Some(j) = plan.jupyter.as_mut() {
        j.rehome(&planned, &plan.identity.home)?;
    }
    Ok((lock, grant))
}

/// `--seccomp-learn PATH`: created (or truncated) as root, never through a symlink.
fn open_learn_output(path: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            Error::config(format!(
                "--seccomp-learn {}: cannot create: {e}; give a writable path (not a symlink)",
                path.display()
            ))
        })
}
