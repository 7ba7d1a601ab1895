//! Phase 1: facts, the plan, `--dry-run`, and the read-only preflights. Nothing changes on
//! the system here: every configuration error ends secure-init before any effect.

use crate::audit;
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::plan::{self, Plan, RunMode};
use crate::sys;

/// What the effects phase starts from.
pub struct Prepared {
    /// The plan as options and facts make it (the effects finish it).
    pub plan: Plan,
    /// The runtime audit: gathered already in strict mode, or pending (warn mode reads it
    /// once the command runs).
    pub audit: audit::Pending,
}

/// Facts, plan, preflights. `None` for `--dry-run` (the plan was printed).
pub fn prepare(args: &RunArgs) -> Result<Option<Prepared>> {
    // Facts (read-only), then the plan: a pure function of facts and options (64/78).
    let mut facts = Facts::gather(&args.dev_dir, &args.keep_fd)?;
    sys::step_mark("facts");
    let plan_result = plan::build(args, &facts);
    let env_names: Vec<std::ffi::OsString> = facts.env.iter().map(|(k, _)| k.clone()).collect();
    facts.wipe_secrets();
    drop(facts);
    let plan = plan_result?;
    sys::step_mark("plan");
    if args.dry_run {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan.to_json())
                .map_err(|e| Error::internal(e.to_string()))?
        );
        return Ok(None);
    }
    scrub_password();
    log_start(&plan);
    sys::step_mark("log_start");

    // The runtime audit (read-only): what the container's configuration exposes. Strict
    // mode gathers here, before any effect; warn mode once the command runs, or just before
    // the exec with --exec.
    let audit = audit::begin(args.audit, &env_names)?;

    // GPU preflight (read-only; NVML runs in a helper process) and the /dev/shm check.
    crate::gpu::preflight(&plan.gpu)?;

    // Model files: manifests, then the pickle scan (refusal: 65).
    verify_models(&plan)?;
    sys::step_mark("preflight");
    Ok(Some(Prepared { plan, audit }))
}

/// The plaintext Jupyter password leaves secure-init's own environment block (and with it
/// /proc/PID/environ).
#[allow(unsafe_code)] // the scrub writes libc's environment in place
fn scrub_password() {
    // SAFETY: single-threaded (no thread has been started), and no reference into the
    // environment is alive: the facts held copies, now wiped and dropped.
    unsafe { sys::scrub_env_value("JUPYTER_PASSWORD") };
}

/// Manifests, then the pickle scan: a poisoned checkpoint never reaches Python.
fn verify_models(plan: &Plan) -> Result<()> {
    if !plan.verify_manifests.is_empty() {
        crate::models::verify(&plan.verify_manifests)?;
    }
    if !plan.scan_models.is_empty() {
        let r = crate::models::scan(&plan.scan_models, &plan.allow_globals)?;
        log::info!(target: "model.scan", files = r.files.len(), clean = r.clean, refused = r.refused,
            bytes_read = r.bytes_read, bytes_total = r.bytes_total, millis = r.millis;
            "scanned {} model file(s)", r.files.len());
        if let Some(f) = r.files.iter().find(|f| !f.clean) {
            return Err(Error::data(format!(
                "refusing to start: {}; remove the file, re-save it as a state_dict or safetensors, or --allow-global MODULE.NAME if you trust it",
                crate::models::refusal_line(f)
            )));
        }
    }
    Ok(())
}

fn log_start(plan: &Plan) {
    let id = &plan.identity;
    log::info!(target: "init.mode", mode = plan.mode.name(), pid = sys::getpid(); "running as {}", match plan.mode {
        RunMode::Pid1 => "PID 1: forwarding signals and reaping zombies",
        RunMode::Subreaper => "child subreaper (not PID 1): forwarding signals and reaping descendants",
        RunMode::Exec => "exec in place (--exec): no supervisor",
    });
    if id.switch {
        log::info!(target: "priv.drop", uid = id.uid, gid = id.gid, groups = format!("{:?}", id.groups).as_str(), groups_source = id.groups_source.as_str(), keep_caps = format!("{:?}", plan.keep_names).as_str();
            "dropping root to uid {} gid {}", id.uid, id.gid);
    } else {
        log::warn!(target: "priv.verify", uid = id.uid, gid = id.gid, groups = format!("{:?}", id.groups).as_str();
            "started non-root: keeping uid {} (verify-only), removing remaining capabilities", id.uid);
    }
    if plan.mode != RunMode::Exec {
        if plan.supervisor.own_uid {
            log::info!(target: "supervisor.posture", uid = plan.supervisor.uid;
                "supervisor runs as uid {} with CAP_KILL only", plan.supervisor.uid);
        } else if plan.supervisor.switch {
            log::warn!(target: "supervisor.posture", uid = plan.supervisor.uid;
                "supervisor shares the workload's uid {}: the container has no CAP_KILL, which a supervisor under a uid of its own needs to signal the workload; the workload can signal or limit its supervisor — add KILL to the container's capabilities (cap_add: [SETUID, SETGID, SETPCAP, KILL])", plan.supervisor.uid);
        } else {
            log::warn!(target: "supervisor.posture", uid = plan.supervisor.uid;
                "supervisor shares the workload's uid {} (started non-root): the workload can signal or limit it", plan.supervisor.uid);
        }
    }
    if plan.terminal == crate::sandbox::Terminal::NewSession {
        log::info!(target: "child.session", "stdin is a terminal of another session: the command gets a session of its own, without a controlling terminal");
    }
    if !plan.can_drop_bounding && !plan.bounding_already_empty {
        log::warn!(target: "priv.bounding", "the capability bounding set cannot be emptied without CAP_SETPCAP; it is left as is, inert under no_new_privs (no setuid or file-capability gains); add SETPCAP to the container to empty it");
    }
    let sc = &plan.seccomp;
    if sc.unconfined {
        log::warn!(target: "seccomp.install", profile = "unconfined"; "seccomp is OFF (--seccomp unconfined): the workload can use every system call");
    } else {
        log::info!(target: "seccomp.install", profile = sc.name.as_str(), filters = sc.programs.len(), syscalls = sc.syscalls, skipped_other_arch = sc.skipped_other_arch.len(), precompiled = sc.resolved.is_none();
            "installing seccomp profile {}", sc.name);
        if let Some(r) = sc
            .resolved
            .as_ref()
            .filter(|r| !r.libseccomp_differs.is_empty())
            .filter(|_| crate::seccomp::profile::builtin(&sc.name).is_none())
        {
            log::warn!(target: "seccomp.conflict", syscalls = format!("{:?}", r.libseccomp_differs).as_str();
                "profile {}: {:?} have an unconditional rule and a rule of another action; secure-init applies the most restrictive, where libseccomp (docker, podman) keeps the first unconditional rule: the same file may allow more there", sc.name, r.libseccomp_differs);
        }
        if !sc.skipped_other_arch.is_empty() {
            log::debug!(target: "seccomp.skip", count = sc.skipped_other_arch.len(); "syscall names for other architectures skipped: {}", sc.skipped_other_arch.join(","));
        }
    }
    if plan.core_dumps {
        log::warn!(target: "priv.core", "core dumps allowed (--allow-core-dumps)");
    }
    for (k, v) in &plan.env {
        let k = k.to_string_lossy();
        log::debug!(target: "child.env", name = k.as_ref(), value = crate::log::redact(&k, &v.to_string_lossy()); "environment");
    }
}
