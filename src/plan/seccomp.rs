//! The seccomp part of the plan: the profile resolved and compiled (or taken precompiled),
//! and whether denials are reported to the supervisor (and learned).

use super::{Facts, RunMode, Trust};
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::seccomp;
use std::path::PathBuf;

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

pub(super) fn resolve_seccomp(
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

/// Denials as notifications (a supervisor to answer them), and learn mode. `custom`: the
/// text of a custom profile, as read once by [`resolve_seccomp`].
pub(super) fn plan_notify(
    args: &RunArgs,
    mode: RunMode,
    sc: &mut SeccompPlan,
    custom: Option<String>,
    trust: &Trust,
) -> Result<()> {
    use seccomp::notify;
    let learn = args.seccomp_learn.is_some();
    if mode == RunMode::Exec || sc.unconfined {
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
        let base = seccomp::notify::learn::base(&sc.name, custom)?;
        sc.learn = Some((path.clone(), base));
    }
    Ok(())
}
