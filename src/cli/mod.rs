//! The command line: the subcommands (clap's derive), and the run path's options — each
//! declared once in [`options`] (every option also reads `SECURE_INIT_<NAME>`), parsed by
//! [`parse_run`] on the common path and by clap otherwise.

#[macro_use]
mod declare;
mod fast;
mod options;

pub use declare::{default_of, options_table, Field, Opt, Takes, Word};
pub use fast::parse_run;
pub use options::{RunArgs, RUN_OPTIONS};

use crate::log::Format;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "secure-init",
    version,
    about = "Hardened PID 1 for PyTorch-CUDA containers: drops root, removes every capability, \
             sets no_new_privs, installs a seccomp profile, then runs COMMAND and supervises it.",
    override_usage = "secure-init [OPTIONS] [--] COMMAND [ARGS]...\n       secure-init <profile | scan | hash-password | healthcheck | gpu-info | audit> ...",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(flatten)]
    pub run: RunArgs,

    #[command(subcommand)]
    pub sub: Option<Sub>,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Seccomp profiles: print a built-in one, or validate a file.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Scan model files for pickle imports a tensor checkpoint never needs; report and exit
    /// 0 (clean) or 65 (refused).
    Scan {
        /// Files, or directories searched for .pt .pth .bin .ckpt .pkl .pickle .safetensors.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Also allow this global (module.name); repeatable.
        #[arg(long = "allow-global", value_name = "MODULE.NAME")]
        allow_global: Vec<String>,
        /// Report format (default: the SECURE_INIT_LOG_FORMAT setting; text on a terminal).
        #[arg(long, value_enum)]
        log_format: Option<Format>,
    },
    /// Container health check, following what secure-init started (its state file): a
    /// Jupyter server is healthy when its unauthenticated /api answers 200 on 127.0.0.1, any
    /// other command while it runs. --jupyter-port / SECURE_INIT_JUPYTER_PORT probe that
    /// port instead. Exit 0 healthy, 1 not.
    Healthcheck {
        /// Seconds to wait for an answer.
        #[arg(long, default_value = "5")]
        timeout: u64,
        /// Probe Jupyter on this port (overrides the state file).
        #[arg(long = "jupyter-port", value_name = "PORT")]
        jupyter_port: Option<u16>,
        /// Jupyter's base URL for the probe (overrides the state file).
        #[arg(long = "jupyter-base-url", value_name = "PATH")]
        jupyter_base_url: Option<String>,
        /// The state file to read (default: the SECURE_INIT_STATE_FILE setting).
        #[arg(long = "state-file", value_name = "PATH")]
        state_file: Option<PathBuf>,
    },
    /// Audit the container from inside (runtime sockets, privileged mode, host namespaces
    /// and paths, writable /sys, /proc/sys or release_agent, host devices, added
    /// capabilities, limits, secrets in the environment, setuid files, sshd config, search
    /// paths): a report, exit 0, or 77 when a finding is high-severity.
    Audit {
        /// Report format (default: the SECURE_INIT_LOG_FORMAT setting; text on a terminal).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Read a password from stdin and print its Jupyter argon2 hash (for
    /// --jupyter-hashed-password-file).
    HashPassword,
    /// Query the NVIDIA driver through NVML and print a JSON report (the GPU preflight runs
    /// this in a short-lived helper process).
    GpuInfo {
        /// NVML library to load instead of libnvidia-ml.so.1.
        #[arg(long, value_name = "PATH")]
        nvml_library: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Print a built-in profile (pytorch, docker-default) as Docker/OCI JSON.
    Show { name: String },
    /// How two profiles (built-in names or files) treat each syscall differently on this
    /// machine: one line per syscall whose rules differ.
    Diff {
        a: String,
        b: String,
        /// Capabilities the workload keeps, for includes/excludes resolution.
        #[arg(long = "keep-cap", value_delimiter = ',')]
        keep_cap: Vec<String>,
    },
    /// Validate a profile file and report what it resolves to on this machine.
    Check {
        path: PathBuf,
        /// Capabilities the workload keeps, for includes/excludes resolution.
        #[arg(long = "keep-cap", value_delimiter = ',')]
        keep_cap: Vec<String>,
    },
}

/// The subcommands' names (with clap's own `help`, the command words clap reads as a
/// subcommand).
pub const SUBCOMMANDS: &[&str] = &[
    "profile",
    "scan",
    "hash-password",
    "healthcheck",
    "gpu-info",
    "audit",
];

/// Refuse (64) a `SECURE_INIT_*` variable that no option reads — a misspelling such as
/// `SECURE_INIT_GPU_MODE=require` would otherwise be ignored and the intended setting lost.
pub fn check_env_names<I: IntoIterator<Item = std::ffi::OsString>>(
    names: I,
) -> Result<(), crate::error::Error> {
    let known = || RUN_OPTIONS.iter().map(|o| o.var);
    for n in names {
        let Some(n) = n.to_str() else { continue };
        if n.starts_with("SECURE_INIT_") && !known().any(|v| v == n) {
            let closest = known()
                .min_by_key(|k| distance(n, k))
                .unwrap_or("SECURE_INIT_USER");
            return Err(crate::error::Error::usage(format!(
                "unknown variable {n}; did you mean {closest}? (every SECURE_INIT_* variable must name an option: see 'secure-init --help')"
            )));
        }
    }
    Ok(())
}

/// Levenshtein distance (for the suggestion).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_clap_s() {
        use clap::CommandFactory;
        let mut from_clap: Vec<String> = Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        from_clap.sort();
        let mut ours: Vec<String> = RUN_OPTIONS.iter().map(|o| o.var.to_string()).collect();
        ours.sort();
        assert_eq!(from_clap, ours);
    }

    #[test]
    fn each_variable_is_its_options_name() {
        for o in RUN_OPTIONS {
            let want = format!("SECURE_INIT_{}", o.long.to_uppercase().replace('-', "_"));
            assert_eq!(o.var, want, "--{}", o.long);
            assert_eq!(o.id, o.long.replace('-', "_"), "--{}", o.long);
        }
    }

    #[test]
    fn the_reference_option_table_is_generated_from_the_declarations() {
        // docs/src/options.md holds the table between its markers; SI_BLESS=1 rewrites it
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/options.md");
        let text = std::fs::read_to_string(path).unwrap();
        let (begin, end) = ("<!-- options:begin -->\n", "<!-- options:end -->");
        let a = text.find(begin).expect("begin marker") + begin.len();
        let b = text.find(end).expect("end marker");
        let table = options_table();
        if std::env::var_os("SI_BLESS").is_some() {
            std::fs::write(path, format!("{}{table}{}", &text[..a], &text[b..])).unwrap();
            return;
        }
        assert!(
            text[a..b] == table,
            "docs/src/options.md is not the table the options declare: run `SI_BLESS=1 cargo test --lib cli::` and commit it"
        );
    }

    #[test]
    fn misspelled_variables_are_refused_with_a_suggestion() {
        let e = check_env_names(["PATH".into(), "SECURE_INIT_GPU_MODE".into()]).unwrap_err();
        assert_eq!(e.code(), 64);
        assert!(
            e.msg.contains("SECURE_INIT_GPU_MODE")
                && e.msg.contains("did you mean SECURE_INIT_GPU?"),
            "{}",
            e.msg
        );
        check_env_names(["SECURE_INIT_GPU".into(), "HOME".into()]).unwrap();
    }
}
