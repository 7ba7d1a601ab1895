//! The subcommands: `profile`, `scan`, `hash-password`, `healthcheck`, `gpu-info`. Each
//! returns its exit status; `-- COMMAND` is `start::run`.

use crate::error::{self, Error, Result};
use crate::jupyter::secret;
use crate::{cli, gpu, log, models, plan, seccomp, sys};
use std::time::Duration;

/// What `healthcheck` probes.
pub struct Health {
    /// Given explicitly (flag or variable): probe Jupyter there, whatever the state says.
    pub port: Option<u16>,
    pub base_url: Option<String>,
    /// Used when there is no state file.
    pub default_port: u16,
    pub default_base_url: String,
    pub state_file: std::path::PathBuf,
    pub timeout: Duration,
}

/// `healthcheck`: follows what secure-init started (its state file): Jupyter is healthy when
/// its /api answers 200, any other command while it runs. An explicit port probes Jupyter
/// there; without a state file, Jupyter on the default port. 0 healthy, 1 not.
pub fn healthcheck(h: &Health) -> Result<i32> {
    let state = crate::state::read(&h.state_file);
    let probe = |port: u16, base: &str| crate::jupyter::health::healthcheck(port, base, h.timeout);
    let verdict = match (&h.port, &state) {
        (Some(p), s) => {
            let base = h.base_url.clone().or_else(|| {
                s.as_ref()
                    .and_then(|s| s.jupyter.as_ref())
                    .map(|j| j.base_url.clone())
            });
            probe(*p, base.as_deref().unwrap_or(&h.default_base_url))
        }
        (None, Some(s)) => match &s.jupyter {
            Some(j) => probe(j.port, h.base_url.as_deref().unwrap_or(&j.base_url)),
            None if crate::state::alive(s.child_pid) => Ok(()),
            None => Err(Error::unavailable(format!(
                "{} (pid {}) is not running",
                s.command, s.child_pid
            ))),
        },
        (None, None) => probe(
            h.default_port,
            h.base_url.as_deref().unwrap_or(&h.default_base_url),
        ),
    };
    match verdict {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("secure-init healthcheck: {e}");
            Ok(1)
        }
    }
}

/// `audit`: the runtime audit's report (text or JSON) on stdout; 0, or 77 with a
/// high-severity finding. The search paths are checked for the default workload (uid 1001).
pub fn audit(format: log::Format) -> Result<i32> {
    let facts = crate::facts::Facts::gather(std::path::Path::new("/dev"), &[])?;
    let search = crate::searchpath::check(
        &facts,
        &crate::searchpath::Workload {
            uid: 1001,
            gid: 1001,
            groups: &[],
        },
    )
    .err()
    .map(|e| e.msg);
    let names: Vec<std::ffi::OsString> = facts.env.iter().map(|(k, _)| k.clone()).collect();
    let findings = crate::audit::evaluate(&crate::audit::gather(&names, search, true));
    let json = match format {
        log::Format::Json => true,
        log::Format::Text => false,
        log::Format::Auto => !sys::isatty(1),
    };
    if json {
        println!("{}", crate::audit::to_json(&findings));
    } else {
        print!("{}", crate::audit::to_text(&findings));
    }
    let high = findings
        .iter()
        .any(|f| f.severity == crate::audit::Severity::High);
    Ok(if high { error::code::HARDENING } else { 0 })
}

/// `gpu-info`: the NVML report as JSON (run by the GPU preflight as a helper process).
pub fn gpu_info(nvml_library: Option<&std::path::Path>) -> Result<i32> {
    let probe = gpu::probe_nvml(nvml_library);
    println!("{}", serde_json::to_string(&probe).unwrap_or_default());
    Ok(match probe {
        gpu::Probe::Ok { .. } => 0,
        _ => error::code::UNAVAILABLE,
    })
}

/// `scan PATH...`: report each model file; 0 clean, 65 refused.
pub fn scan(paths: &[std::path::PathBuf], allow: &[String], format: log::Format) -> Result<i32> {
    let report = models::scan(paths, allow)?;
    let json = match format {
        log::Format::Json => true,
        log::Format::Text => false,
        log::Format::Auto => !sys::isatty(1),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::internal(e.to_string()))?
        );
    } else {
        for f in &report.files {
            if f.clean {
                println!(
                    "clean    {} ({}, {} globals)",
                    f.path,
                    f.kind,
                    f.globals.len()
                );
            } else {
                println!("REFUSED  {}", models::refusal_line(f));
            }
        }
        println!(
            "{} file(s): {} clean, {} refused; read {} of {} bytes in {} ms",
            report.files.len(),
            report.clean,
            report.refused,
            report.bytes_read,
            report.bytes_total,
            report.millis
        );
    }
    Ok(if report.refused == 0 {
        0
    } else {
        error::code::DATA
    })
}

/// `hash-password`: the password on stdin (one trailing newline stripped), under the same
/// rules as a secret file, hashed as Jupyter does.
pub fn hash_password() -> Result<i32> {
    use std::io::Read;
    let mut raw = zeroize::Zeroizing::new(Vec::new());
    std::io::stdin()
        .read_to_end(&mut raw)
        .map_err(|e| Error::config(format!("hash-password: cannot read stdin: {e}")))?;
    let pw = secret::secret_text(&raw, "hash-password: stdin")?;
    secret::check_password(&pw, "stdin").map_err(|e| e.context("hash-password"))?;
    println!("{}", secret::hash_password(pw.as_bytes())?);
    Ok(0)
}

/// `profile show|check`.
pub fn profile(p: &cli::ProfileCmd) -> Result<i32> {
    match p {
        cli::ProfileCmd::Show { name } => {
            let text = seccomp::builtin(name).ok_or_else(|| {
                Error::config(format!(
                    "profile show: unknown built-in profile {name:?}; use pytorch or docker-default"
                ))
            })?;
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(0)
        }
        cli::ProfileCmd::Diff { a, b, keep_cap } => {
            let (_, names) = plan::parse_keep_caps(keep_cap, sys::last_cap())?;
            let target = seccomp::native_target(names, seccomp::running_kernel())?;
            let load = |name: &str| -> Result<seccomp::Resolved> {
                let profile = match seccomp::profile::parse_builtin(name) {
                    Some(p) => p?,
                    None => {
                        let text = std::fs::read_to_string(name).map_err(|e| {
                            Error::config(format!(
                                "profile diff: {name:?} is no built-in profile (pytorch, docker-default) and cannot be read as a file: {e}"
                            ))
                        })?;
                        seccomp::parse(&text, name)?
                    }
                };
                seccomp::resolve(&profile, &target)
            };
            let (ra, rb) = (load(a)?, load(b)?);
            let lines = seccomp::diff(&ra, &rb)?;
            println!(
                "# {a} -> {b} ({} syscall(s) differ; {:?}, kernel {}.{})",
                lines.len(),
                target.arch,
                target.kernel.0,
                target.kernel.1
            );
            for l in &lines {
                println!("{l}");
            }
            Ok(0)
        }
        cli::ProfileCmd::Check { path, keep_cap } => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::config(format!(
                    "profile check: cannot read {}: {e}; check the path",
                    path.display()
                ))
            })?;
            let source = path.display().to_string();
            let profile = seccomp::parse(&text, &source)?;
            let (_, names) = plan::parse_keep_caps(keep_cap, sys::last_cap())?;
            let target = seccomp::native_target(names, seccomp::running_kernel())?;
            let resolved = seccomp::resolve(&profile, &target)?;
            let progs = resolved.compile()?;
            let mut summary = resolved.summary();
            summary["profile"] = serde_json::json!(source);
            summary["filters"] = serde_json::json!(progs.len());
            summary["instructions"] = serde_json::json!(progs.iter().map(Vec::len).sum::<usize>());
            summary["ok"] = serde_json::json!(true);
            println!(
                "{}",
                serde_json::to_string_pretty(&summary)
                    .map_err(|e| Error::internal(e.to_string()))?
            );
            Ok(0)
        }
    }
}
