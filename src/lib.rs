//! secure-init: a hardened PID 1 for PyTorch-CUDA containers.
//!
//! `run()` is the whole program: parse the command line, then run a subcommand
//! ([`commands`]) or the start-up recipe ([`start`], docs "Operation").
//!
//! The layers, each importing only from those below it:
//! - `start` (the recipe) and `commands` (subcommands);
//! - `plan` (options + facts -> plan, pure), `init` (the supervisor);
//! - the parts: `facts` (over `fsview`), `identity`, `landlock`, `searchpath`, `gpu`, `jupyter`, `models`, `seccomp`,
//!   `sandbox` (the child's hardening steps, in order);
//! - `cli`, `log`, `error`, and `sys` (the system-call wrappers).
//!
//! `unsafe` is denied crate-wide (`#![deny(unsafe_code)]` below). It is allowed in `sys`,
//! and at the few call sites whose callee is unsafe by contract, each with its reason:
//! the child's hardening (`sandbox::{enter, harden, drop_privileges}`: per-thread id
//! changes, single-threaded only), the clone that starts it (`init::spawn`), the
//! supervisor's own drop (`init::drop_supervisor`), the memory release
//! (`init::release_startup_memory`), the password scrub and `--exec`'s in-place hardening
//! (`start`), and the C `main` (main.rs).

#![deny(unsafe_code)]

pub mod audit;
pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod config_dir;
pub mod error;
pub mod facts;
pub mod fsview;
pub mod gpu;
pub mod identity;
pub mod init;
pub mod jupyter;
pub mod landlock;
pub mod log;
pub mod models;
pub mod mounts;
pub mod plan;
pub mod rendezvous;
pub mod sandbox;
pub mod searchpath;
pub mod seccomp;
pub mod secretfile;
pub mod signals;
pub mod sshd;
pub mod start;
pub mod state;
#[allow(unsafe_code)] // the system-call wrappers: every block has its SAFETY comment
pub mod sys;
pub mod trusted;

use clap::{CommandFactory, FromArgMatches};
use error::Error;

/// Entry point: returns the process exit status.
pub fn run(args: Vec<std::ffi::OsString>) -> i32 {
    // As std's runtime would: a write to a closed pipe is an EPIPE error, not death.
    let _ = sys::set_signal_disposition(libc::SIGPIPE, true);
    // The plain run (options, variables, a command) by the run path's own parser; clap for
    // everything else, and wherever that parser is not certain of clap's answer.
    let (cli, given) = match cli::parse_run(&args, &|k| std::env::var_os(k)) {
        Some(run) => (cli::Cli { run, sub: None }, ProbeSet::default()),
        None => match parse_with_clap(&args) {
            Ok(parsed) => parsed,
            Err(code) => return code,
        },
    };
    if let Some(first) = cli.run.command.first().and_then(|c| c.to_str()) {
        if cli::SUBCOMMANDS.contains(&first) && !args.iter().any(|a| a == "--") {
            eprintln!("secure-init: usage error: {first:?} is a subcommand, but options came before it, so it would run as the command; write `secure-init {first} [ITS OPTIONS]` (or `secure-init [OPTIONS] -- {first}` for a program of that name)");
            return error::code::USAGE;
        }
        if let Some(msg) = misplaced_command(first) {
            eprintln!("secure-init: usage error: {msg}");
            return error::code::USAGE;
        }
    }
    if let Err(e) = cli::check_env_names(std::env::vars_os().map(|(k, _)| k)) {
        eprintln!("secure-init: usage error: {}", e.msg);
        return e.code();
    }
    sys::step_mark("cli");
    log::init(cli.run.log_format, cli.run.log_level);
    let result = match &cli.sub {
        None => start::run(&cli.run),
        Some(sub) => subcommand(sub, &cli.run, given),
    };
    match result {
        Ok(code) => code,
        Err(e) => fatal(&e, &cli.run.termination_log),
    }
}

/// The command line by clap: help, subcommands, errors, and whatever the run path's parser
/// is unsure of. Its own function (never inlined), so that the run path's stack frame does
/// not carry clap's: a start then touches fewer fresh stack pages.
#[inline(never)]
fn parse_with_clap(args: &[std::ffi::OsString]) -> Result<(cli::Cli, ProbeSet), i32> {
    let matches = cli::Cli::command()
        .try_get_matches_from(args)
        .map_err(usage_error)?;
    let cli = cli::Cli::from_arg_matches(&matches).map_err(usage_error)?;
    // whether an option was given (flag or variable) rather than left at its default
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        )
    };
    let set = ProbeSet {
        port: given("jupyter_port"),
        base_url: given("jupyter_base_url"),
    };
    Ok((cli, set))
}

/// Whether `--jupyter-port` and `--jupyter-base-url` (or their variables) were set rather
/// than left at their defaults: `healthcheck` then probes there instead of following the
/// state file.
#[derive(Debug, Clone, Copy, Default)]
struct ProbeSet {
    port: bool,
    base_url: bool,
}

/// The subcommands (never inlined into `run`, for the same reason as [`parse_with_clap`]).
#[inline(never)]
fn subcommand(sub: &cli::Sub, run: &cli::RunArgs, given: ProbeSet) -> error::Result<i32> {
    match sub {
        cli::Sub::Profile(p) => commands::profile(p),
        cli::Sub::HashPassword => commands::hash_password(),
        cli::Sub::Scan {
            paths,
            allow_global,
            log_format,
        } => commands::scan(paths, allow_global, log_format.unwrap_or(run.log_format)),
        cli::Sub::Healthcheck {
            timeout,
            jupyter_port,
            jupyter_base_url,
            state_file,
        } => commands::healthcheck(&commands::Health {
            port: jupyter_port.or(given.port.then_some(run.jupyter_port)),
            base_url: jupyter_base_url
                .clone()
                .or(given.base_url.then(|| run.jupyter_base_url.clone())),
            default_port: run.jupyter_port,
            default_base_url: run.jupyter_base_url.clone(),
            state_file: state_file.clone().unwrap_or(run.state_file.clone()),
            timeout: std::time::Duration::from_secs(*timeout),
        }),
        cli::Sub::GpuInfo { nvml_library } => commands::gpu_info(nvml_library.as_deref()),
        cli::Sub::Audit { format } => commands::audit(format.unwrap_or(run.log_format)),
    }
}

/// A command that is really meant for secure-init: one of its own options after the `--` of
/// an image's `ENTRYPOINT ["secure-init", "--"]` (`docker run IMG --dry-run`), or
/// secure-init itself (`docker run IMG secure-init --dry-run -- cmd`, which would run a
/// second, unprivileged secure-init as the workload).
fn misplaced_command(first: &str) -> Option<String> {
    let fix = "pass secure-init's options as variables (docker run -e SECURE_INIT_DRY_RUN=1 …) or replace the entrypoint (docker run --entrypoint /usr/local/bin/secure-init IMG [OPTIONS] -- COMMAND)";
    if let Some(long) = first.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or("");
        use clap::CommandFactory;
        if !name.is_empty()
            && cli::Cli::command()
                .get_arguments()
                .any(|a| a.get_long() == Some(name))
        {
            return Some(format!(
                "the command is {first:?}, one of secure-init's own options, after `--` (an ENTRYPOINT [\"secure-init\", \"--\"] puts `docker run` arguments there); {fix}"
            ));
        }
    }
    let base = std::path::Path::new(first)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    // the same file as this very binary (any path, hard link or symlink to it)
    let same_exe = std::path::Path::new(first).is_absolute() && {
        use std::os::unix::fs::MetadataExt;
        let id = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        id(std::path::Path::new(first))
            .is_some_and(|f| Some(f) == id(std::path::Path::new("/proc/self/exe")))
    };
    if base == "secure-init" || same_exe {
        return Some(format!(
            "the command is secure-init itself ({first:?}): it would run as the workload, unprivileged, after this one has hardened it; {fix}"
        ));
    }
    None
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
    ::log::error!(target: "fatal", code = e.code(); "{}", e.msg);
    write_termination_log(termination_log, &e.msg);
    e.code()
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
