//! Command line: every option also reads `SECURE_INIT_<NAME>`.

use crate::log::{Format, LevelArg};
use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
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

#[derive(Debug, Args)]
pub struct RunArgs {
    /// User to run COMMAND as: NAME or UID, optionally :GROUP (name or GID).
    /// Default when started as root: 1001. When started non-root the current uid is kept.
    #[arg(long, env = "SECURE_INIT_USER", value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// Supplementary groups: `auto` (the groups owning the GPU device nodes), `none`, or a
    /// comma-separated list of names or GIDs. Default: auto.
    #[arg(long, env = "SECURE_INIT_GROUPS", value_name = "auto|none|LIST")]
    pub groups: Option<String>,

    /// Capability to keep as an ambient capability (repeatable, e.g. NET_BIND_SERVICE).
    /// Every other capability is removed from all five sets.
    #[arg(
        long = "keep-cap",
        env = "SECURE_INIT_KEEP_CAP",
        value_delimiter = ',',
        value_name = "CAP"
    )]
    pub keep_cap: Vec<String>,

    /// Pass this descriptor (above 2) on to the command (repeatable; e.g. a socket from
    /// systemd socket activation). Every other descriptor above 2 is closed on exec.
    #[arg(
        long = "keep-fd",
        env = "SECURE_INIT_KEEP_FD",
        value_delimiter = ',',
        value_name = "FD"
    )]
    pub keep_fd: Vec<i32>,

    /// The supervisor's own uid (and gid) when started as root: not the workload's, and no
    /// user's in /etc/passwd. It keeps only CAP_KILL, so the workload cannot signal,
    /// renice or limit it.
    #[arg(long, env = "SECURE_INIT_SUPERVISOR_UID", value_name = "UID", default_value = None)]
    pub supervisor_uid: Option<u32>,

    /// Landlock: best-effort (enforce what the kernel supports, warn about the rest),
    /// require (refuse with 77 otherwise), or off (warned).
    #[arg(
        long,
        env = "SECURE_INIT_LANDLOCK",
        value_enum,
        default_value = "best-effort"
    )]
    pub landlock: crate::landlock::Mode,

    /// Also let the workload write beneath PATH (repeatable, comma list): a checkpoint
    /// volume, a dataset cache. HOME, /tmp, /var/tmp, /dev/shm, the working directory and
    /// the Jupyter root are writable already.
    #[arg(
        long = "writable",
        env = "SECURE_INIT_WRITABLE",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub writable: Vec<PathBuf>,

    /// The read-write mounts of the container (volumes, binds, tmpfs, emptyDirs, PVCs):
    /// auto makes them writable (system directories, host paths and secure-init's own
    /// directories excepted, each named at start); off leaves them to --writable.
    #[arg(
        long = "writable-mounts",
        env = "SECURE_INIT_WRITABLE_MOUNTS",
        value_enum,
        default_value = "auto"
    )]
    pub writable_mounts: crate::landlock::Volumes,

    /// Restrict listening to these TCP ports (comma list; default: any), plus the Jupyter
    /// port when the command is a Jupyter server, sshd's port, and the job's rendezvous
    /// port (MASTER_PORT, torchrun's --master-port/--rdzv-endpoint, PET_* variables).
    #[arg(long = "net-bind", env = "SECURE_INIT_NET_BIND", value_name = "PORTS")]
    pub net_bind: Option<String>,

    /// TCP ports the workload may connect to (comma list), or any (the default).
    #[arg(
        long = "net-connect",
        env = "SECURE_INIT_NET_CONNECT",
        default_value = "any",
        value_name = "PORTS|any"
    )]
    pub net_connect: String,

    /// Seconds a stopping command (after a forwarded SIGTERM, SIGINT or SIGQUIT) and the
    /// processes it leaves behind get before SIGKILL — below the runtime's own deadline
    /// (Docker's 10 s; give 25 under Kubernetes' default 30 s grace period), so that
    /// secure-init, not the runtime, ends the job and logs how it ended.
    #[arg(
        long = "stop-grace",
        env = "SECURE_INIT_STOP_GRACE",
        default_value_t = crate::init::STOP_GRACE_SECS,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub stop_grace: u64,

    /// Rewrite a signal before forwarding it, as dumb-init's -r (repeatable, comma list):
    /// FROM:TO with names or numbers, TO 0 drops it; TERM:INT gives a Python trainer
    /// KeyboardInterrupt on `docker stop`.
    #[arg(
        long = "signal-map",
        env = "SECURE_INIT_SIGNAL_MAP",
        value_delimiter = ',',
        value_name = "FROM:TO"
    )]
    pub signal_map: Vec<String>,

    /// Where the supervisor records what it runs (mode, pids, Jupyter port and base URL) for
    /// `secure-init healthcheck`: root-owned, world-readable.
    #[arg(
        long = "state-file",
        env = "SECURE_INIT_STATE_FILE",
        default_value = "/run/secure-init/state.json",
        value_name = "PATH"
    )]
    pub state_file: PathBuf,

    /// Allow the target uid to be 0 (rootless containers); capabilities, no_new_privs and
    /// seccomp still apply.
    #[arg(long, env = "SECURE_INIT_ALLOW_ROOT", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_root: bool,

    /// Keep RLIMIT_CORE as inherited (default: set to 0, core dumps leak weights and secrets).
    #[arg(long, env = "SECURE_INIT_ALLOW_CORE_DUMPS", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_core_dumps: bool,

    /// Seccomp profile: pytorch, docker-default, a path to a Docker/OCI JSON profile, or
    /// unconfined (logged as a warning on every start).
    #[arg(
        long,
        env = "SECURE_INIT_SECCOMP",
        default_value = "pytorch",
        value_name = "pytorch|docker-default|PATH|unconfined"
    )]
    pub seccomp: String,

    /// Report seccomp denials (user notification answered by the supervisor with the
    /// profile's errno, one JSON event per kind): on, or off (the plain filter).
    #[arg(
        long,
        env = "SECURE_INIT_SECCOMP_EVENTS",
        value_name = "on|off",
        default_value = "on",
        action = clap::ArgAction::Set,
        value_parser = BoolishValueParser::new()
    )]
    pub seccomp_events: bool,

    /// Runtime audit at start (what the container's configuration exposes: a runtime socket,
    /// host namespaces or paths, privileged mode, …): warn (log the findings), strict
    /// (refuse with 77 on a high-severity finding), or off.
    #[arg(long, env = "SECURE_INIT_AUDIT", value_enum, default_value = "warn")]
    pub audit: crate::audit::Mode,

    /// Learn mode, for building a profile (UNSAFE for production): every call the profile
    /// would deny is allowed and recorded, and at exit the profile plus what was used is
    /// written to PATH as Docker/OCI JSON (for --seccomp PATH after review).
    #[arg(long, env = "SECURE_INIT_SECCOMP_LEARN", value_name = "PATH")]
    pub seccomp_learn: Option<PathBuf>,

    /// Forward signals to the child's whole process group instead of the child alone.
    #[arg(long, env = "SECURE_INIT_KILL_PROCESS_GROUP", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub kill_process_group: bool,

    /// Harden and execve COMMAND in place: no supervisor (gosu/setpriv style).
    #[arg(long, env = "SECURE_INIT_EXEC", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub exec: bool,

    /// Print the resolved plan as JSON and exit 0 without changing anything.
    #[arg(long, env = "SECURE_INIT_DRY_RUN", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub dry_run: bool,

    /// sha256sum-format manifest of model files to verify before start (repeatable). Any
    /// mismatch, missing file or malformed line refuses the start (65).
    #[arg(
        long = "verify-manifest",
        env = "SECURE_INIT_VERIFY_MANIFEST",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub verify_manifest: Vec<PathBuf>,

    /// Model file or directory whose pickles are scanned before start (repeatable). A global
    /// outside the checkpoint allowlist refuses the start (65).
    #[arg(
        long = "scan-models",
        env = "SECURE_INIT_SCAN_MODELS",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub scan_models: Vec<PathBuf>,

    /// Extend the scan's allowlist with module.name (repeatable).
    #[arg(
        long = "allow-global",
        env = "SECURE_INIT_ALLOW_GLOBAL",
        value_delimiter = ',',
        value_name = "MODULE.NAME"
    )]
    pub allow_global: Vec<String>,

    /// GPU driver preflight: auto (check when /dev/nvidiactl exists or NVIDIA_VISIBLE_DEVICES
    /// names devices), require (refuse with 69 when missing or too old), warn, off.
    #[arg(long, env = "SECURE_INIT_GPU", value_enum, default_value = "auto")]
    pub gpu: crate::gpu::GpuMode,

    /// Minimum NVIDIA driver version (overrides NVIDIA_REQUIRE_* and CUDA_VERSION).
    #[arg(long, env = "SECURE_INIT_MIN_DRIVER", value_name = "VERSION")]
    pub min_driver: Option<String>,

    /// NVML library to load instead of libnvidia-ml.so.1.
    #[arg(long, env = "SECURE_INIT_NVML_LIBRARY", value_name = "PATH")]
    pub nvml_library: Option<PathBuf>,

    /// Driver version file read when NVML is unavailable.
    #[arg(
        long,
        env = "SECURE_INIT_NVIDIA_VERSION_FILE",
        default_value = "/proc/driver/nvidia/version",
        value_name = "PATH"
    )]
    pub nvidia_version_file: PathBuf,

    /// Jupyter password secret file (one trailing newline stripped). Default:
    /// /run/secrets/jupyter_password when it exists. JUPYTER_PASSWORD is read too.
    #[arg(long, env = "SECURE_INIT_JUPYTER_PASSWORD_FILE", value_name = "PATH")]
    pub jupyter_password_file: Option<PathBuf>,

    /// A pre-hashed Jupyter password (argon2:… or sha1:…) in a file.
    #[arg(
        long,
        env = "SECURE_INIT_JUPYTER_HASHED_PASSWORD_FILE",
        value_name = "PATH"
    )]
    pub jupyter_hashed_password_file: Option<PathBuf>,

    /// Directory Jupyter serves (default: the user's HOME). /, /home, /root, /etc, /proc,
    /// /sys and /dev are refused.
    #[arg(long, env = "SECURE_INIT_JUPYTER_ROOT_DIR", value_name = "DIR")]
    pub jupyter_root_dir: Option<PathBuf>,

    /// Address Jupyter listens on.
    #[arg(
        long,
        env = "SECURE_INIT_JUPYTER_IP",
        default_value = "0.0.0.0",
        value_name = "IP"
    )]
    pub jupyter_ip: String,

    /// Port Jupyter listens on.
    #[arg(
        long,
        env = "SECURE_INIT_JUPYTER_PORT",
        default_value = "8888",
        value_name = "PORT"
    )]
    pub jupyter_port: u16,

    /// Jupyter's base URL (ServerApp.base_url), e.g. /user/alice/.
    #[arg(
        long,
        env = "SECURE_INIT_JUPYTER_BASE_URL",
        default_value = "/",
        value_name = "PATH"
    )]
    pub jupyter_base_url: String,

    /// The one web origin allowed to call Jupyter's API cross-origin ('*' is refused).
    #[arg(long, env = "SECURE_INIT_JUPYTER_ALLOW_ORIGIN", value_name = "ORIGIN")]
    pub jupyter_allow_origin: Option<String>,

    /// Where the Jupyter config is written (default /run/secure-init/jupyter as root).
    #[arg(long, env = "SECURE_INIT_JUPYTER_CONFIG_DIR", value_name = "DIR")]
    pub jupyter_config_dir: Option<PathBuf>,

    /// Start a Jupyter server without any authentication (behind an authenticating proxy);
    /// logged as a warning on every start.
    #[arg(long, env = "SECURE_INIT_JUPYTER_NO_PASSWORD", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub jupyter_no_password: bool,

    /// Jupyter runs behind a reverse proxy: trust its X-Forwarded-* headers (logs show the
    /// client's address, not the proxy's).
    #[arg(long, env = "SECURE_INIT_JUPYTER_BEHIND_PROXY", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub jupyter_behind_proxy: bool,

    /// TLS certificate (PEM) for Jupyter to serve HTTPS itself; needs --jupyter-keyfile.
    #[arg(long, env = "SECURE_INIT_JUPYTER_CERTFILE", value_name = "PATH")]
    pub jupyter_certfile: Option<PathBuf>,

    /// TLS private key (PEM) for --jupyter-certfile. Jupyter runs as the workload user and
    /// must read it: prefer terminating TLS at a proxy.
    #[arg(long, env = "SECURE_INIT_JUPYTER_KEYFILE", value_name = "PATH")]
    pub jupyter_keyfile: Option<PathBuf>,

    /// Lifetime of Jupyter's login cookie, e.g. 8h (default: Jupyter's, a browser session).
    #[arg(
        long,
        env = "SECURE_INIT_JUPYTER_COOKIE_LIFETIME",
        value_name = "DURATION"
    )]
    pub jupyter_cookie_lifetime: Option<String>,

    /// Turn Jupyter's terminals off (no shell in the browser).
    #[arg(long, env = "SECURE_INIT_JUPYTER_NO_TERMINALS", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub jupyter_no_terminals: bool,

    /// Shut down kernels idle this long (and the server after as long without activity):
    /// e.g. 30m, 2h, 3600 (seconds). Idle kernels otherwise keep their GPU memory.
    #[arg(
        long,
        env = "SECURE_INIT_JUPYTER_IDLE_TIMEOUT",
        value_name = "DURATION"
    )]
    pub jupyter_idle_timeout: Option<String>,

    /// Run OpenSSH's sshd alongside the command, as the workload user under the same
    /// hardening: key-only login from --sshd-authorized-keys-file, config root-owned. If
    /// either exits, the other is stopped; the exit status is the command's. (`secure-init
    /// -- /usr/sbin/sshd -D -e` runs sshd as the command, configured the same way.)
    #[arg(long, env = "SECURE_INIT_SSHD", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub sshd: bool,

    /// sshd's port.
    #[arg(
        long,
        env = "SECURE_INIT_SSHD_PORT",
        value_name = "PORT",
        default_value = "2222"
    )]
    pub sshd_port: u16,

    /// The public keys allowed to log in (a secret: root-owned, not readable by the
    /// workload); copied into the root-owned config dir. Ed25519 and FIDO keys only, unless
    /// --sshd-allow-rsa.
    #[arg(
        long,
        env = "SECURE_INIT_SSHD_AUTHORIZED_KEYS_FILE",
        value_name = "PATH",
        default_value = "/run/secrets/ssh_authorized_keys"
    )]
    pub sshd_authorized_keys_file: PathBuf,

    /// An unencrypted Ed25519 host key (a secret) instead of a new one made at every start.
    #[arg(long, env = "SECURE_INIT_SSHD_HOST_KEY_FILE", value_name = "PATH")]
    pub sshd_host_key_file: Option<PathBuf>,

    /// Allow TCP and agent forwarding (off by default; X11 and tunnels stay off).
    #[arg(long, env = "SECURE_INIT_SSHD_ALLOW_FORWARDING", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub sshd_allow_forwarding: bool,

    /// Also accept RSA keys of at least 3072 bits.
    #[arg(long, env = "SECURE_INIT_SSHD_ALLOW_RSA", action = clap::ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub sshd_allow_rsa: bool,

    /// Where the sshd config, authorized keys and host key are written (default
    /// /run/secure-init/sshd as root).
    #[arg(long, env = "SECURE_INIT_SSHD_CONFIG_DIR", value_name = "DIR")]
    pub sshd_config_dir: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(
        long,
        env = "SECURE_INIT_LOG_FORMAT",
        value_enum,
        default_value = "auto"
    )]
    pub log_format: Format,

    /// Lowest level logged.
    #[arg(
        long,
        env = "SECURE_INIT_LOG_LEVEL",
        value_enum,
        default_value = "info"
    )]
    pub log_level: LevelArg,

    /// Where a fatal error is also written, when that file exists and is writable
    /// (Kubernetes shows it in `kubectl describe pod`).
    #[arg(
        long,
        env = "SECURE_INIT_TERMINATION_LOG",
        default_value = "/dev/termination-log",
        value_name = "PATH"
    )]
    pub termination_log: PathBuf,

    /// Directory searched for GPU device nodes by `--groups auto` (for tests and unusual
    /// layouts).
    #[arg(
        long,
        env = "SECURE_INIT_DEV_DIR",
        default_value = "/dev",
        value_name = "DIR"
    )]
    pub dev_dir: PathBuf,

    /// The command to run (after `--`, or from the first argument that is not an option).
    #[arg(trailing_var_arg = true, allow_hyphen_values = false, value_name = "COMMAND", value_parser = clap::value_parser!(OsString))]
    pub command: Vec<OsString>,
}

/// Every `SECURE_INIT_*` variable an option reads (a unit test keeps it equal to clap's).
/// How an option of the run path takes its value (for [`parse_run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// `--flag`, or its variable set to a yes/no word.
    Flag,
    /// `--name VALUE` / `--name=VALUE`, once.
    One,
    /// `--name A,B` (repeatable; the variable holds a comma-separated list).
    List,
}

/// Every option of the run path: long name, variable, how it takes its value. A test checks
/// this table against clap's definition above.
pub const RUN_OPTIONS: &[(&str, &str, Takes)] = &[
    ("user", "SECURE_INIT_USER", Takes::One),
    ("groups", "SECURE_INIT_GROUPS", Takes::One),
    ("keep-cap", "SECURE_INIT_KEEP_CAP", Takes::List),
    ("keep-fd", "SECURE_INIT_KEEP_FD", Takes::List),
    ("supervisor-uid", "SECURE_INIT_SUPERVISOR_UID", Takes::One),
    ("landlock", "SECURE_INIT_LANDLOCK", Takes::One),
    ("writable", "SECURE_INIT_WRITABLE", Takes::List),
    ("writable-mounts", "SECURE_INIT_WRITABLE_MOUNTS", Takes::One),
    ("net-bind", "SECURE_INIT_NET_BIND", Takes::One),
    ("net-connect", "SECURE_INIT_NET_CONNECT", Takes::One),
    ("stop-grace", "SECURE_INIT_STOP_GRACE", Takes::One),
    ("signal-map", "SECURE_INIT_SIGNAL_MAP", Takes::List),
    ("state-file", "SECURE_INIT_STATE_FILE", Takes::One),
    ("allow-root", "SECURE_INIT_ALLOW_ROOT", Takes::Flag),
    (
        "allow-core-dumps",
        "SECURE_INIT_ALLOW_CORE_DUMPS",
        Takes::Flag,
    ),
    ("seccomp", "SECURE_INIT_SECCOMP", Takes::One),
    ("seccomp-events", "SECURE_INIT_SECCOMP_EVENTS", Takes::One),
    ("audit", "SECURE_INIT_AUDIT", Takes::One),
    ("seccomp-learn", "SECURE_INIT_SECCOMP_LEARN", Takes::One),
    (
        "kill-process-group",
        "SECURE_INIT_KILL_PROCESS_GROUP",
        Takes::Flag,
    ),
    ("exec", "SECURE_INIT_EXEC", Takes::Flag),
    ("dry-run", "SECURE_INIT_DRY_RUN", Takes::Flag),
    (
        "verify-manifest",
        "SECURE_INIT_VERIFY_MANIFEST",
        Takes::List,
    ),
    ("scan-models", "SECURE_INIT_SCAN_MODELS", Takes::List),
    ("allow-global", "SECURE_INIT_ALLOW_GLOBAL", Takes::List),
    ("gpu", "SECURE_INIT_GPU", Takes::One),
    ("min-driver", "SECURE_INIT_MIN_DRIVER", Takes::One),
    ("nvml-library", "SECURE_INIT_NVML_LIBRARY", Takes::One),
    (
        "nvidia-version-file",
        "SECURE_INIT_NVIDIA_VERSION_FILE",
        Takes::One,
    ),
    (
        "jupyter-password-file",
        "SECURE_INIT_JUPYTER_PASSWORD_FILE",
        Takes::One,
    ),
    (
        "jupyter-hashed-password-file",
        "SECURE_INIT_JUPYTER_HASHED_PASSWORD_FILE",
        Takes::One,
    ),
    (
        "jupyter-root-dir",
        "SECURE_INIT_JUPYTER_ROOT_DIR",
        Takes::One,
    ),
    ("jupyter-ip", "SECURE_INIT_JUPYTER_IP", Takes::One),
    ("jupyter-port", "SECURE_INIT_JUPYTER_PORT", Takes::One),
    (
        "jupyter-base-url",
        "SECURE_INIT_JUPYTER_BASE_URL",
        Takes::One,
    ),
    (
        "jupyter-allow-origin",
        "SECURE_INIT_JUPYTER_ALLOW_ORIGIN",
        Takes::One,
    ),
    (
        "jupyter-config-dir",
        "SECURE_INIT_JUPYTER_CONFIG_DIR",
        Takes::One,
    ),
    (
        "jupyter-no-password",
        "SECURE_INIT_JUPYTER_NO_PASSWORD",
        Takes::Flag,
    ),
    (
        "jupyter-behind-proxy",
        "SECURE_INIT_JUPYTER_BEHIND_PROXY",
        Takes::Flag,
    ),
    (
        "jupyter-certfile",
        "SECURE_INIT_JUPYTER_CERTFILE",
        Takes::One,
    ),
    ("jupyter-keyfile", "SECURE_INIT_JUPYTER_KEYFILE", Takes::One),
    (
        "jupyter-cookie-lifetime",
        "SECURE_INIT_JUPYTER_COOKIE_LIFETIME",
        Takes::One,
    ),
    (
        "jupyter-no-terminals",
        "SECURE_INIT_JUPYTER_NO_TERMINALS",
        Takes::Flag,
    ),
    (
        "jupyter-idle-timeout",
        "SECURE_INIT_JUPYTER_IDLE_TIMEOUT",
        Takes::One,
    ),
    ("sshd", "SECURE_INIT_SSHD", Takes::Flag),
    ("sshd-port", "SECURE_INIT_SSHD_PORT", Takes::One),
    (
        "sshd-authorized-keys-file",
        "SECURE_INIT_SSHD_AUTHORIZED_KEYS_FILE",
        Takes::One,
    ),
    (
        "sshd-host-key-file",
        "SECURE_INIT_SSHD_HOST_KEY_FILE",
        Takes::One,
    ),
    (
        "sshd-allow-forwarding",
        "SECURE_INIT_SSHD_ALLOW_FORWARDING",
        Takes::Flag,
    ),
    ("sshd-allow-rsa", "SECURE_INIT_SSHD_ALLOW_RSA", Takes::Flag),
    ("sshd-config-dir", "SECURE_INIT_SSHD_CONFIG_DIR", Takes::One),
    ("log-format", "SECURE_INIT_LOG_FORMAT", Takes::One),
    ("log-level", "SECURE_INIT_LOG_LEVEL", Takes::One),
    ("termination-log", "SECURE_INIT_TERMINATION_LOG", Takes::One),
    ("dev-dir", "SECURE_INIT_DEV_DIR", Takes::One),
];

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

/// The run path's own parser, for start-up time: building clap's parser for ~50 options
/// took a quarter of a millisecond of every start. It reads what clap would read (the same
/// options and variables, the same defaults and value words) and answers `None` whenever it
/// is not certain of clap's answer — help, version, a subcommand, an unknown or repeated
/// option, an empty value, a value starting with `-`, a value clap would refuse, anything
/// not UTF-8 but the command — and clap then parses as before: every message and refusal
/// stays clap's. `args` includes the program name; `env` looks a variable up. A test
/// compares the two parsers over every option, value kind and source.
pub fn parse_run(args: &[OsString], env: &dyn Fn(&str) -> Option<OsString>) -> Option<RunArgs> {
    let mut given: [Option<Vec<String>>; RUN_OPTIONS.len()] = std::array::from_fn(|_| None);
    let mut command = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_str();
        match a {
            Some("--") => {
                command.extend_from_slice(&args[i + 1..]);
                break;
            }
            Some(a) if a.starts_with("--") => {
                let (name, inline) = match a[2..].split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (&a[2..], None),
                };
                let k = RUN_OPTIONS.iter().position(|(n, _, _)| *n == name)?;
                let value = match (RUN_OPTIONS[k].2, inline) {
                    (Takes::Flag, Some(_)) => return None,
                    (Takes::Flag, None) => "true".to_string(),
                    (_, Some(v)) => v.to_string(),
                    (_, None) => {
                        i += 1;
                        args.get(i)?.to_str()?.to_string()
                    }
                };
                if value.is_empty() || value.starts_with('-') {
                    return None;
                }
                match (&mut given[k], RUN_OPTIONS[k].2) {
                    (Some(v), Takes::List) => v.push(value),
                    (Some(_), _) => return None,
                    (slot, _) => *slot = Some(vec![value]),
                }
            }
            Some(a) if a.starts_with('-') => return None,
            Some(a) if SUBCOMMANDS.contains(&a) || a == "help" => return None,
            _ => {
                command.extend_from_slice(&args[i..]);
                break;
            }
        }
        i += 1;
    }
    if command.is_empty() {
        return None;
    }
    // What each option holds: the command line's values, else its variable's, else None.
    let mut vals: [Option<Vec<String>>; RUN_OPTIONS.len()] = std::array::from_fn(|_| None);
    for (k, (_, var, takes)) in RUN_OPTIONS.iter().enumerate() {
        vals[k] = match given[k].take() {
            Some(v) => Some(v),
            None => match env(var) {
                None => None,
                Some(v) => {
                    let v = v.into_string().ok()?;
                    if v.is_empty() || v.starts_with('-') {
                        return None;
                    }
                    Some(vec![v])
                }
            },
        };
        if *takes == Takes::List {
            if let Some(v) = &vals[k] {
                let parts: Vec<String> = v
                    .iter()
                    .flat_map(|s| s.split(','))
                    .map(str::to_string)
                    .collect();
                if parts.iter().any(|p| p.is_empty() || p.starts_with('-')) {
                    return None;
                }
                vals[k] = Some(parts);
            }
        }
    }
    let mut take = |name: &str| -> Option<Vec<String>> {
        let k = RUN_OPTIONS.iter().position(|(n, _, _)| *n == name)?;
        vals[k].take()
    };
    fn one(v: Option<Vec<String>>) -> Option<String> {
        v.and_then(|mut v| v.pop())
    }
    fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    fn word<T: clap::ValueEnum>(s: &str) -> Option<T> {
        T::from_str(s, false).ok()
    }
    fn yes_no(s: &str) -> Option<bool> {
        match s.to_lowercase().as_str() {
            "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
            "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
            _ => None,
        }
    }
    // Each option: absent -> its default; present -> its value, or None (clap decides).
    macro_rules! opt {
        ($name:expr, $default:expr, |$s:ident| $conv:expr) => {
            match one(take($name)) {
                None => $default,
                Some($s) => $conv?,
            }
        };
    }
    macro_rules! list {
        ($name:expr, |$s:ident| $conv:expr) => {
            match take($name) {
                None => Vec::new(),
                Some(v) => v.into_iter().map(|$s| $conv).collect::<Option<Vec<_>>>()?,
            }
        };
    }
    let flag = |v: Option<Vec<String>>| -> Option<bool> {
        match one(v) {
            None => Some(false),
            Some(s) => yes_no(&s),
        }
    };
    Some(RunArgs {
        user: opt!("user", None, |s| Some(Some(s))),
        groups: opt!("groups", None, |s| Some(Some(s))),
        keep_cap: list!("keep-cap", |s| Some(s)),
        keep_fd: list!("keep-fd", |s| num::<i32>(&s)),
        supervisor_uid: opt!("supervisor-uid", None, |s| num::<u32>(&s).map(Some)),
        landlock: opt!("landlock", crate::landlock::Mode::BestEffort, |s| word(&s)),
        writable: list!("writable", |s| Some(PathBuf::from(s))),
        writable_mounts: opt!("writable-mounts", crate::landlock::Volumes::Auto, |s| word(
            &s
        )),
        net_bind: opt!("net-bind", None, |s| Some(Some(s))),
        net_connect: opt!("net-connect", "any".to_string(), |s| Some(s)),
        stop_grace: opt!("stop-grace", crate::init::STOP_GRACE_SECS, |s| num::<u64>(
            &s
        )
        .filter(|n| (1..=3600).contains(n))),
        signal_map: list!("signal-map", |s| Some(s)),
        state_file: opt!(
            "state-file",
            PathBuf::from("/run/secure-init/state.json"),
            |s| Some(PathBuf::from(s))
        ),
        allow_root: flag(take("allow-root"))?,
        allow_core_dumps: flag(take("allow-core-dumps"))?,
        seccomp: opt!("seccomp", "pytorch".to_string(), |s| Some(s)),
        seccomp_events: opt!("seccomp-events", true, |s| yes_no(&s)),
        audit: opt!("audit", crate::audit::Mode::Warn, |s| word(&s)),
        seccomp_learn: opt!("seccomp-learn", None, |s| Some(Some(PathBuf::from(s)))),
        kill_process_group: flag(take("kill-process-group"))?,
        exec: flag(take("exec"))?,
        dry_run: flag(take("dry-run"))?,
        verify_manifest: list!("verify-manifest", |s| Some(PathBuf::from(s))),
        scan_models: list!("scan-models", |s| Some(PathBuf::from(s))),
        allow_global: list!("allow-global", |s| Some(s)),
        gpu: opt!("gpu", crate::gpu::GpuMode::Auto, |s| word(&s)),
        min_driver: opt!("min-driver", None, |s| Some(Some(s))),
        nvml_library: opt!("nvml-library", None, |s| Some(Some(PathBuf::from(s)))),
        nvidia_version_file: opt!(
            "nvidia-version-file",
            PathBuf::from("/proc/driver/nvidia/version"),
            |s| Some(PathBuf::from(s))
        ),
        jupyter_password_file: opt!("jupyter-password-file", None, |s| Some(Some(
            PathBuf::from(s)
        ))),
        jupyter_hashed_password_file: opt!("jupyter-hashed-password-file", None, |s| Some(Some(
            PathBuf::from(s)
        ))),
        jupyter_root_dir: opt!("jupyter-root-dir", None, |s| Some(Some(PathBuf::from(s)))),
        jupyter_ip: opt!("jupyter-ip", "0.0.0.0".to_string(), |s| Some(s)),
        jupyter_port: opt!("jupyter-port", 8888, |s| num::<u16>(&s)),
        jupyter_base_url: opt!("jupyter-base-url", "/".to_string(), |s| Some(s)),
        jupyter_allow_origin: opt!("jupyter-allow-origin", None, |s| Some(Some(s))),
        jupyter_config_dir: opt!("jupyter-config-dir", None, |s| Some(Some(PathBuf::from(s)))),
        jupyter_no_password: flag(take("jupyter-no-password"))?,
        jupyter_behind_proxy: flag(take("jupyter-behind-proxy"))?,
        jupyter_certfile: opt!("jupyter-certfile", None, |s| Some(Some(PathBuf::from(s)))),
        jupyter_keyfile: opt!("jupyter-keyfile", None, |s| Some(Some(PathBuf::from(s)))),
        jupyter_cookie_lifetime: opt!("jupyter-cookie-lifetime", None, |s| Some(Some(s))),
        jupyter_no_terminals: flag(take("jupyter-no-terminals"))?,
        jupyter_idle_timeout: opt!("jupyter-idle-timeout", None, |s| Some(Some(s))),
        sshd: flag(take("sshd"))?,
        sshd_port: opt!("sshd-port", 2222, |s| num::<u16>(&s)),
        sshd_authorized_keys_file: opt!(
            "sshd-authorized-keys-file",
            PathBuf::from("/run/secrets/ssh_authorized_keys"),
            |s| Some(PathBuf::from(s))
        ),
        sshd_host_key_file: opt!("sshd-host-key-file", None, |s| Some(Some(PathBuf::from(s)))),
        sshd_allow_forwarding: flag(take("sshd-allow-forwarding"))?,
        sshd_allow_rsa: flag(take("sshd-allow-rsa"))?,
        sshd_config_dir: opt!("sshd-config-dir", None, |s| Some(Some(PathBuf::from(s)))),
        log_format: opt!("log-format", Format::Auto, |s| word(&s)),
        log_level: opt!("log-level", LevelArg::Info, |s| word(&s)),
        termination_log: opt!(
            "termination-log",
            PathBuf::from("/dev/termination-log"),
            |s| Some(PathBuf::from(s))
        ),
        dev_dir: opt!("dev-dir", PathBuf::from("/dev"), |s| Some(PathBuf::from(s))),
        command,
    })
}

/// Refuse (64) a `SECURE_INIT_*` variable that no option reads — a misspelling such as
/// `SECURE_INIT_GPU_MODE=require` would otherwise be ignored and the intended setting lost.
pub fn check_env_names<I: IntoIterator<Item = std::ffi::OsString>>(
    names: I,
) -> Result<(), crate::error::Error> {
    let known = || RUN_OPTIONS.iter().map(|(_, var, _)| *var);
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
        let mut ours: Vec<String> = RUN_OPTIONS.iter().map(|(_, v, _)| v.to_string()).collect();
        ours.sort();
        assert_eq!(from_clap, ours);
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
