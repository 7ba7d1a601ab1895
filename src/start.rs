//! THE start-up recipe, top to bottom, in the order of README "Operation": facts, plan,
//! preflights, effects, fork, supervise. The child's own steps (6–16) are
//! `sandbox::harden`; the supervisor's loop is `init::supervise`.

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::plan::{self, Mode, Plan};
use crate::sandbox::{ChildOptions, ChildSpec, ExecSpec};
use crate::{init, sys};

/// Run the command under the plan made from `args`. Returns the exit status.
pub fn run(args: &RunArgs) -> Result<i32> {
    // 0. Block every asynchronous signal: one arriving while we prepare is forwarded later.
    let old_mask = init::block_signals()?;

    // 1. Facts (read-only), then the plan: a pure function of facts and options. Every
    //    configuration error ends secure-init here (64/78), before anything changes.
    let mut facts = Facts::gather(&args.dev_dir, &args.keep_fd)?;
    sys::step_mark("facts");
    let plan_result = plan::build(args, &facts);
    let env_names: Vec<std::ffi::OsString> = facts.env.iter().map(|(k, _)| k.clone()).collect();
    facts.wipe_secrets();
    drop(facts);
    let mut plan = plan_result?;
    sys::step_mark("plan");
    if args.dry_run {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan.to_json())
                .map_err(|e| Error::internal(e.to_string()))?
        );
        return Ok(0);
    }
    // The plaintext password leaves secure-init's own environment block.
    // SAFETY: single-threaded (no thread has been started), and no reference into the
    // environment is alive: the facts held copies, now wiped and dropped.
    #[allow(unsafe_code)] // the scrub writes libc's environment in place
    unsafe {
        sys::scrub_env_value("JUPYTER_PASSWORD")
    };
    log_start(&plan);
    sys::step_mark("log_start");

    // 1b. The runtime audit (read-only): what the container's configuration exposes. Strict
    //     mode gathers here, before any effect; warn mode once the command runs (17a), or
    //     just before the exec with --exec.
    let audit = crate::audit::begin(args.audit, &env_names)?;

    // 2. GPU preflight (read-only; NVML runs in a helper process) and the /dev/shm check.
    crate::gpu::preflight(&plan.gpu)?;

    // 3. Model files: manifests, then the pickle scan (refusal: 65).
    verify_models(&plan)?;
    sys::step_mark("preflight");

    // 4. Effects: the fallback HOME, then the Jupyter config (argon2 hash, root-owned files).
    let _home_lock = make_home(&mut plan)?;
    if let Some(j) = plan.jupyter.as_mut() {
        crate::jupyter::config::write(j)?;
        if let Some(r) = &j.runtime_dir {
            plan.landlock.rules.push(crate::landlock::Rule {
                path: r.clone(),
                access: crate::landlock::fs::DIR_WRITE,
                why: "the Jupyter runtime dir".into(),
            });
        }
    }

    // 4b. sshd: config, authorized keys and host key, root-owned; sshd's pid file is the
    //     one thing in that directory the workload may write.
    if let Some(s) = &plan.sshd {
        let pid_file = crate::sshd::config::write(s)?;
        plan.landlock.rules.push(crate::landlock::Rule {
            path: pid_file,
            access: crate::landlock::fs::FILE_WRITE,
            why: "sshd's pid file".into(),
        });
    }

    sys::step_mark("home_configs");
    // 4c. --seccomp-learn: the output file, opened now (as root) for the supervisor.
    let learn_out = match &plan.seccomp.learn {
        Some((path, _)) => Some(open_learn_output(path)?),
        None => None,
    };

    // 4d. The Landlock ruleset (as root, before the fork; enforced by the child).
    let landlock = crate::landlock::prepare(&plan.landlock)?;
    sys::step_mark("landlock_ruleset");

    // 5. Every buffer the child needs, prepared before the fork. sshd's stderr goes into a
    //    pipe the supervisor reads (login events).
    let sshd_log = match &plan.sshd {
        Some(_) if plan.mode != Mode::Exec => {
            Some(sys::pipe_cloexec().map_err(|e| Error::internal(format!("pipe: {e}")))?)
        }
        _ => None,
    };
    let as_command = plan.sshd.as_ref().is_some_and(|s| s.as_command);
    // The seccomp listener's way to the supervisor.
    let notify_sock = match &plan.seccomp.notify {
        Some(_) if plan.mode != Mode::Exec => Some(
            sys::socketpair_cloexec().map_err(|e| Error::internal(format!("socketpair: {e}")))?,
        ),
        _ => None,
    };
    let mut spec = ChildSpec::new(
        plan.child_posture(),
        ExecSpec {
            candidates: plan.candidates.clone(),
            argv: plan.argv.clone(),
            envp: plan.envp()?,
        },
        ChildOptions {
            keep_fds: &plan.keep_fds,
            filters: plan.seccomp.programs.clone(),
            sigmask: old_mask,
            terminal: plan.terminal,
            core_zero: !plan.core_dumps,
            landlock: landlock.as_ref().map(|l| l.enforce()),
            stdin: None,
            stderr: sshd_log.filter(|_| as_command).map(|(_, w)| w),
            parent_death_signal: 0,
            notify: match (&plan.seccomp.notify, notify_sock) {
                (Some(p), Some((_, c))) => Some(crate::sandbox::Notify {
                    program: p.clone(),
                    sock: c,
                }),
                _ => None,
            },
        },
    );
    let companion = match (&plan.sshd, sshd_log) {
        (Some(s), Some((_, w))) if !s.as_command => Some(companion_spec(&plan, s, &spec, w)?),
        _ => None,
    };
    let cmd = plan.command[0].to_string_lossy().into_owned();
    sys::step_mark("spec");
    if plan.mode == Mode::Exec {
        audit.finish()?;
        init::require_single_threaded("harden in place")?;
        // SAFETY: single-threaded, checked just above.
        #[allow(unsafe_code)] // --exec hardens this very process: unsafe by contract
        let f = unsafe { crate::sandbox::enter(&spec) };
        return Err(f.to_error(&cmd));
    }
    if plan.mode == Mode::Subreaper {
        sys::set_child_subreaper()
            .map_err(|e| Error::hardening(format!("cannot become a child subreaper: {e}")))?;
    }
    // Nobody may read our memory or environment while we wait (the workload included).
    sys::set_dumpable(false).map_err(|e| Error::hardening(format!("PR_SET_DUMPABLE: {e}")))?;
    if let Some(sig) = init::stop_pending() {
        log::warn!(target: "init.stop", signal = sig; "signal {sig} arrived before the command started: not starting it");
        return Ok(128 + sig);
    }
    // As tini: the supervisor ignores SIGTTIN/SIGTTOU so terminal hand-over cannot stop it.
    let _ = sys::set_signal_disposition(libc::SIGTTIN, true);
    let _ = sys::set_signal_disposition(libc::SIGTTOU, true);

    // 17 (first). Step aside: the supervisor's own work until it waits runs beside the
    //     command, on another CPU: the child moves the suspended supervisor (6a), which
    //     takes its CPUs back as soon as it runs. With sshd (a companion, started after the
    //     command with the supervisor's own CPUs) the supervisor moves itself afterwards,
    //     back before the wait.
    let early = match companion {
        None => init::aside_by_child(&mut spec),
        Some(_) => None,
    };
    // 6.–16. Fork (single-threaded): the child hardens itself and execs (sandbox::harden).
    let spawned = init::spawn(&spec);
    init::step_back(early);
    let child = spawned?.map_err(|f| f.to_error(&cmd))?;
    sys::step_mark("spawned");
    drop(spec);
    log::info!(target: "child.start", pid = child; "started {:?}", plan.command[0]);
    let listener_fd = match notify_sock {
        Some((sup, c)) => {
            sys::close(c);
            let r = sys::recv_fd(sup);
            sys::close(sup);
            match listener_or_warning(r, plan.seccomp.learn.is_some()) {
                Ok(fd) => fd,
                Err(e) => return Err(stop_child(child, e)),
            }
        }
        None => None,
    };
    let companion = match companion {
        Some((spec, devnull)) => {
            let r = init::spawn(&spec);
            sys::close(devnull);
            match r {
                Ok(Ok(pid)) => {
                    log::info!(target: "sshd.start", pid = pid; "started sshd alongside the command");
                    Some(init::Companion { pid, name: "sshd" })
                }
                Ok(Err(f)) => return Err(stop_child(child, f.to_error("sshd"))),
                Err(e) => return Err(stop_child(child, e)),
            }
        }
        None => None,
    };
    // (with sshd: the supervisor moves itself now, back before the wait)
    let aside = companion.as_ref().and_then(|_| init::step_aside(child));
    drop(landlock);
    let relay_fd = sshd_log.map(|(r, w)| {
        sys::close(w); // the supervisor's copy: EOF once sshd and its sessions are gone
        r
    });
    sys::step_mark("listener_fd");
    write_state(&plan, &args.state_file, child);
    sys::step_mark("state");

    // 17a. The warn-mode audit, read while the command starts (the supervisor is still
    //      root: what root could write is what it checks).
    let _ = audit.finish();
    sys::step_mark("audit");
    // What tells why the command will end, opened while still root: the cgroup's OOM
    // counter (its value now) and peak memory, and the termination log (an existing file:
    // Kubernetes mounts one).
    let mut exit_report = init::ExitReport {
        memory: crate::cgroup::Memory::open(),
        termination_log: open_termination_log(&args.termination_log),
    };

    // 17. The supervisor's own posture: a uid of its own, CAP_KILL only, no_new_privs,
    //     non-dumpable, verified; secrets it read are already gone.
    if let Err(e) = init::drop_supervisor(&plan.supervisor_posture()) {
        if let Some(c) = companion {
            init::kill_and_reap(c.pid);
        }
        return Err(stop_child(child, e));
    }

    init::step_back(aside);
    sys::step_mark("drop_supervisor");
    // 17b. sshd's log lines become events (a thread: the supervisor's loop waits on signals).
    let relay = relay_fd.and_then(|fd| match crate::sshd::events::relay(fd) {
        Ok(h) => Some(h),
        Err(e) => {
            log::warn!(target: "sshd.log", "cannot start the sshd log reader: {e}; sshd's lines are lost");
            None
        }
    });

    // 17c. The seccomp listener answers and logs the workload's denials: a thread, started
    //      with the first denial (in learn mode at once); the supervisor watches it until then.
    let mut answerer = match listener_fd {
        Some(fd) => {
            let learn = match (&plan.seccomp.learn, learn_out) {
                (Some((path, base)), Some(out)) => Some(init::listener::Learn {
                    base: base.clone(),
                    out,
                    path: path.display().to_string(),
                }),
                _ => None,
            };
            init::listener::Answerer::new(fd, plan.seccomp.programs[0].clone(), learn)
        }
        None => init::listener::Answerer::Gone,
    };

    sys::step_mark("listener_started");
    // 18. Forward, reap, end leftovers, return the child's status.
    let stop = init::Stop {
        grace: plan.stop_grace,
        map: plan.signal_map.clone(),
    };
    let code = init::supervise(
        child,
        plan.kill_process_group,
        companion,
        &mut answerer,
        &stop,
        &mut exit_report,
    );
    sys::step_mark("supervised");
    answerer.finish();
    if let Some(h) = relay {
        // every writer is gone (sshd and its sessions ended): the last lines are logged
        h.wait(std::time::Duration::from_secs(2));
    }
    sys::step_mark("finished");
    Ok(code)
}

/// What the child sent about its seccomp listener: the descriptor, or why there is none
/// (then the plain filter is installed: a warning, or an error in learn mode).
fn listener_or_warning(
    r: std::result::Result<Option<(i32, Option<std::os::fd::RawFd>)>, sys::Errno>,
    learn: bool,
) -> Result<Option<std::os::fd::RawFd>> {
    let why = match r {
        Ok(Some((0, Some(fd)))) => {
            log::info!(target: "seccomp.notify", "seccomp denials are reported (user notification): each is answered with the profile's errno and logged");
            return Ok(Some(fd));
        }
        Ok(Some((e, _))) => format!("the kernel refused a listener ({})", sys::Errno(e)),
        Ok(None) => "the command sent no listener".to_string(),
        Err(e) => format!("cannot receive the listener: {e}"),
    };
    if learn {
        return Err(Error::hardening(format!(
            "--seccomp-learn: {why}; learn mode needs seccomp user notification (Linux 5.5+, no runtime filter that already has a listener)"
        )));
    }
    log::warn!(target: "seccomp.notify", "{why}: the plain filter is installed; denials are enforced but not reported (Linux 5.0+ needed, and no parent filter with a listener)");
    Ok(None)
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

/// The command started but what must run beside it did not: kill it, and return `e`.
fn stop_child(child: libc::pid_t, e: Error) -> Error {
    init::kill_and_reap(child);
    e
}

/// The spec of sshd run alongside the command: the workload's posture and filters, a
/// session of its own, /dev/null in, the log pipe's write end as stderr. Also returns the
/// /dev/null descriptor, closed once sshd has started.
fn companion_spec(
    plan: &Plan,
    s: &crate::sshd::SshdPlan,
    main: &ChildSpec,
    log_fd: std::os::fd::RawFd,
) -> Result<(ChildSpec, std::os::fd::RawFd)> {
    use std::os::unix::ffi::OsStrExt;
    let devnull = sys::open_devnull().map_err(|e| Error::internal(format!("/dev/null: {e}")))?;
    let argv = s
        .argv
        .iter()
        .map(|a| crate::sandbox::cstring(a.as_bytes(), "an sshd argument"))
        .collect::<Result<Vec<_>>>()?;
    let spec = ChildSpec::new(
        plan.child_posture(),
        ExecSpec {
            candidates: vec![argv[0].clone()],
            argv,
            envp: plan.envp()?,
        },
        ChildOptions {
            keep_fds: &[],
            filters: plan.seccomp.programs.clone(),
            sigmask: main.sigmask,
            terminal: crate::sandbox::Terminal::NewSession,
            core_zero: main.core_zero,
            landlock: main.landlock,
            stdin: Some(devnull),
            stderr: Some(log_fd),
            parent_death_signal: libc::SIGTERM,
            notify: None,
        },
    );
    Ok((spec, devnull))
}

/// Create the fallback HOME the plan chose; when that fails, HOME stays as it was (a
/// warning: HOME is a convenience, not a hardening step — unless Jupyter would then serve
/// a system directory).
fn make_home(plan: &mut Plan) -> Result<Option<std::fs::File>> {
    let id = &plan.identity;
    if !id.home_fallback {
        return Ok(None);
    }
    let planned = id.home.clone();
    let tmp = id.home.parent().unwrap_or(std::path::Path::new("/tmp"));
    let mut lock = None;
    match crate::identity::fallback_home(tmp, id.uid, id.gid) {
        Ok(h) => {
            let dir = h.dir;
            log::warn!(target: "identity.home", home = dir.display().to_string().as_str(), emptied = h.emptied, swept = h.swept;
                "HOME unset, '/', or not writable by uid {}: using a private fallback{}", id.uid,
                if h.emptied > 0 { format!(" (emptied of {} entries an earlier start left)", h.emptied) } else { String::new() });
            // The lock marks it in use until secure-init exits; with --exec the command
            // itself holds it (the descriptor is passed on, like --keep-fd).
            if plan.mode == Mode::Exec {
                use std::os::fd::AsRawFd;
                plan.keep_fds.push(h.lock.as_raw_fd());
            }
            lock = Some(h.lock);
            plan.landlock.rules.push(crate::landlock::Rule {
                path: dir.clone(),
                access: crate::landlock::fs::DIR_WRITE,
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
    Ok(lock)
}

/// The termination log for the child's exit line: only an existing regular file, never a
/// symlink, never created.
fn open_termination_log(path: &std::path::Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
}

/// Record what runs for `secure-init healthcheck` (as root, before the supervisor drops).
/// A state file that cannot be written is a warning: the health check then falls back to
/// probing Jupyter's port from its flags.
fn write_state(plan: &Plan, path: &std::path::Path, child: libc::pid_t) {
    let jupyter = plan
        .jupyter
        .as_ref()
        .filter(|j| j.is_server_command)
        .and_then(|j| j.settings.as_ref())
        .map(|s| crate::state::Jupyter {
            port: s.port,
            base_url: s.base_url.clone(),
        });
    let s = crate::state::State {
        version: 1,
        mode: plan.mode.name().into(),
        supervisor_pid: sys::getpid(),
        child_pid: child,
        command: plan.command[0].to_string_lossy().into_owned(),
        jupyter,
    };
    if let Err(e) = crate::state::write(path, &s) {
        log::warn!(target: "init.state", path = path.display().to_string().as_str();
            "{}: `secure-init healthcheck` will probe Jupyter's port instead", e.msg);
    }
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
        Mode::Pid1 => "PID 1: forwarding signals and reaping zombies",
        Mode::Subreaper => "child subreaper (not PID 1): forwarding signals and reaping descendants",
        Mode::Exec => "exec in place (--exec): no supervisor",
    });
    if id.switch {
        log::info!(target: "priv.drop", uid = id.uid, gid = id.gid, groups = format!("{:?}", id.groups).as_str(), groups_source = id.groups_source.as_str(), keep_caps = format!("{:?}", plan.keep_names).as_str();
            "dropping root to uid {} gid {}", id.uid, id.gid);
    } else {
        log::warn!(target: "priv.verify", uid = id.uid, gid = id.gid, groups = format!("{:?}", id.groups).as_str();
            "started non-root: keeping uid {} (verify-only), removing remaining capabilities", id.uid);
    }
    if plan.mode != Mode::Exec {
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
    if !plan.can_drop_bounding {
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
