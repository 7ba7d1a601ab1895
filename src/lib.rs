//! secure-init: a hardened PID 1 for PyTorch-CUDA containers.
//!
//! `run()` is the whole program: parse, plan, then launch (see README "Operation").

pub mod cli;
pub mod error;
pub mod gpu;
pub mod identity;
pub mod init;
pub mod jupyter;
pub mod log;
pub mod models;
pub mod plan;
pub mod precompiled;
pub mod sandbox;
pub mod seccomp;
pub mod sys;

use clap::Parser;
use error::{Error, Result};

/// Entry point: returns the process exit status.
pub fn run() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    log::init(cli.run.log_format, cli.run.log_level);
    let result = match &cli.sub {
        Some(cli::Sub::Profile(p)) => profile_cmd(p),
        Some(cli::Sub::HashPassword) => hash_password_cmd(),
        Some(cli::Sub::Scan {
            paths,
            allow_global,
            log_format,
        }) => scan_cmd(
            paths,
            allow_global,
            log_format.unwrap_or(cli.run.log_format),
        ),
        Some(cli::Sub::Healthcheck { timeout }) => {
            match jupyter::healthcheck(
                cli.run.jupyter_port,
                &cli.run.jupyter_base_url,
                std::time::Duration::from_secs(*timeout),
            ) {
                Ok(()) => Ok(0),
                Err(e) => {
                    eprintln!("secure-init healthcheck: {e}");
                    Ok(1)
                }
            }
        }
        Some(cli::Sub::GpuInfo { nvml_library }) => {
            let probe = gpu::probe_nvml(nvml_library.as_deref());
            println!("{}", serde_json::to_string(&probe).unwrap_or_default());
            Ok(match probe {
                gpu::Probe::Ok { .. } => 0,
                _ => error::code::UNAVAILABLE,
            })
        }
        None => run_command(&cli.run),
    };
    match result {
        Ok(code) => code,
        Err(e) => fatal(&e, &cli.run.termination_log),
    }
}

fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        _ => {
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid usage")
                .trim_start_matches("error: ");
            eprintln!("secure-init: usage error: {first}; see 'secure-init --help'");
            error::code::USAGE
        }
    }
}

/// Log a fatal error, write it to the termination log, return its exit code.
fn fatal(e: &Error, termination_log: &std::path::Path) -> i32 {
    ::log::error!(target: "fatal", code = e.code; "{}", e.msg);
    write_termination_log(termination_log, &e.msg);
    e.code
}

fn write_termination_log(path: &std::path::Path, msg: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Only an existing, writable file (Kubernetes mounts one); never create it.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        let _ = writeln!(f, "secure-init: {msg}");
    }
}

fn run_command(args: &cli::RunArgs) -> Result<i32> {
    let old_mask = init::block_signals()?;
    let plan = plan::build(args)?;
    if args.dry_run {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan.to_json())
                .map_err(|e| Error::internal(e.to_string()))?
        );
        return Ok(0);
    }
    init::launch(&plan, old_mask)
}

fn scan_cmd(paths: &[std::path::PathBuf], allow: &[String], format: log::Format) -> Result<i32> {
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

fn hash_password_cmd() -> Result<i32> {
    use std::io::Read;
    let mut raw = zeroize::Zeroizing::new(Vec::new());
    std::io::stdin()
        .read_to_end(&mut raw)
        .map_err(|e| Error::config(format!("hash-password: cannot read stdin: {e}")))?;
    let mut pw: &[u8] = &raw;
    if let Some(p) = pw.strip_suffix(b"\n") {
        pw = p.strip_suffix(b"\r").unwrap_or(p);
    }
    let text = std::str::from_utf8(pw)
        .map_err(|_| Error::config("hash-password: the password is not valid UTF-8"))?;
    if text.chars().count() < 8 {
        return Err(Error::config(
            "hash-password: the password is shorter than 8 characters; use a longer one",
        ));
    }
    println!("{}", jupyter::hash_password(pw)?);
    Ok(0)
}

fn profile_cmd(p: &cli::ProfileCmd) -> Result<i32> {
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
            let resolved = seccomp::resolve(&profile, &seccomp::Target::native(names)?)?;
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
