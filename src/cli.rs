//! Command line: every option also reads `SECURE_INIT_<NAME>`.

use crate::log::{Format, LevelArg};
use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// `Some(x)` for an optional macro part that is there, `None` otherwise.
macro_rules! some_or_none {
    () => {
        None
    };
    ($x:expr) => {
        Some($x)
    };
}

/// The run path's options, each declared once: its field (type and doc comment, which is
/// `--help`'s text), its kind, `--long` name and `SECURE_INIT_*` variable, and optionally
/// its value's name, default and range, and how the reference describes it (`shown`
/// default, `about`). Makes [`RunArgs`], [`RUN_OPTIONS`] (from which
/// clap's arguments, [`parse_run`]'s table and the docs' option table are made) and the
/// two ways of filling `RunArgs` (from [`parse_run`]'s words, from clap's matches).
macro_rules! run_options {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident : $ty:ty = $takes:ident $long:literal $var:literal
            $(value_name $vname:literal)? $(default $default:literal)?
            $(range $lo:literal ..= $hi:literal)? $(shown $shown:literal)? $(about $about:literal)? ;
    )*) => {
        /// The options of the run path (`secure-init [OPTIONS] [--] COMMAND`), parsed.
        #[derive(Debug, Clone)]
        pub struct RunArgs {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            /// The command to run (after `--`, or from the first argument that is not an
            /// option).
            pub command: Vec<OsString>,
        }

        /// Every option of the run path, in `--help`'s order.
        pub const RUN_OPTIONS: &[Opt] = &[$(
            Opt {
                id: stringify!($field),
                long: $long,
                var: $var,
                takes: Takes::$takes,
                value_name: some_or_none!($($vname)?),
                default: some_or_none!($($default)?),
                range: some_or_none!($(($lo, $hi))?),
                shown: some_or_none!($($shown)?),
                about: some_or_none!($($about)?),
                doc: &[$($doc),*],
                parser: <$ty as Field>::parser,
            },
        )*];

        impl RunArgs {
            /// From the words each option was given (in [`RUN_OPTIONS`]' order; `None`:
            /// absent): `None` where a word is not one the fast path is certain of.
            fn fill(mut vals: Vec<Option<Vec<OsString>>>, command: Vec<OsString>) -> Option<RunArgs> {
                let mut k = 0;
                let mut next = || {
                    k += 1;
                    (vals[k - 1].take(), RUN_OPTIONS[k - 1].default, RUN_OPTIONS[k - 1].range)
                };
                Some(RunArgs {
                    $( $field: {
                        let (given, default, range) = next();
                        if !in_range(&given, range) {
                            return None;
                        }
                        <$ty as Field>::fill(given, default)?
                    }, )*
                    command,
                })
            }

            /// From clap's matches.
            fn from_matches(m: &clap::ArgMatches) -> Result<RunArgs, clap::Error> {
                Ok(RunArgs {
                    $( $field: <$ty as Field>::from_matches(m, stringify!($field))?, )*
                    command: m
                        .get_many::<OsString>("command")
                        .map(|v| v.cloned().collect())
                        .unwrap_or_default(),
                })
            }
        }
    };
}

/// Whether the number given is within the option's range (no range, or nothing given: yes).
fn in_range(given: &Option<Vec<OsString>>, range: Option<(u64, u64)>) -> bool {
    match (given.as_ref().and_then(|v| v.last()), range) {
        (Some(w), Some((lo, hi))) => w
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|n| (lo..=hi).contains(&n)),
        _ => true,
    }
}

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

run_options! {
    /// User to run COMMAND as: NAME or UID, optionally :GROUP (name or GID).
    /// Default when started as root: 1001. When started non-root the current uid is kept.
    user: Option<String> = One "user" "SECURE_INIT_USER" value_name "USER[:GROUP]" shown "`1001` when root" about "name or uid; group name or gid (default: the user's primary group from `/etc/passwd`, else the same number). uid 0 needs `--allow-root`.";

    /// Supplementary groups: `auto` (the groups owning the GPU device nodes), `none`, or a
    /// comma-separated list of names or GIDs. Default: auto.
    groups: Option<String> = One "groups" "SECURE_INIT_GROUPS" value_name "auto|none|LIST" shown "`auto`" about "supplementary groups; `auto` = the groups owning `/dev/nvidiactl`, `/dev/nvidia[0-9]*`, `/dev/nvidia-uvm`, `/dev/dri/renderD*` (never group 0, only groups with access bits)";

    /// Capability to keep as an ambient capability (repeatable, e.g. NET_BIND_SERVICE).
    /// Every other capability is removed from all five sets.
    keep_cap: Vec<String> = List "keep-cap" "SECURE_INIT_KEEP_CAP" value_name "CAP" about "the only way a capability survives (as ambient), e.g. `NET_BIND_SERVICE`";

    /// Pass this descriptor (above 2) on to the command (repeatable; e.g. a socket from
    /// systemd socket activation). Every other descriptor above 2 is closed on exec.
    keep_fd: Vec<i32> = List "keep-fd" "SECURE_INIT_KEEP_FD" value_name "FD" about "pass this open descriptor (above 2) on to the command, e.g. a socket-activation listener; every other descriptor above 2 is closed on exec";

    /// The supervisor's own uid (and gid) when started as root: not the workload's, and no
    /// user's in /etc/passwd. It keeps only CAP_KILL, so the workload cannot signal,
    /// renice or limit it.
    supervisor_uid: Option<u32> = One "supervisor-uid" "SECURE_INIT_SUPERVISOR_UID" value_name "UID" shown "`65533` when root" about "the supervisor's own uid and gid (must differ from the workload's and have no `/etc/passwd` entry); it keeps `CAP_KILL` only";

    /// Landlock: best-effort (enforce what the kernel supports, warn about the rest),
    /// require (refuse with 77 otherwise), or off (warned).
    landlock: crate::landlock::Enforcement = One "landlock" "SECURE_INIT_LANDLOCK" default "best-effort" about "Landlock (see below): enforce what the kernel supports and warn about the rest; `require` refuses (77) what it cannot enforce; `off` is warned on every start";

    /// Also let the workload write beneath PATH (repeatable, comma list): a checkpoint
    /// volume, a dataset cache. HOME, /tmp, /var/tmp, /dev/shm, the working directory and
    /// the Jupyter root are writable already.
    writable: Vec<PathBuf> = List "writable" "SECURE_INIT_WRITABLE" value_name "PATH" about "also let the workload write beneath PATH (a checkpoint volume, a dataset cache); must exist";

    /// The read-write mounts of the container (volumes, binds, tmpfs, emptyDirs, PVCs):
    /// auto makes them writable (system directories, host paths and secure-init's own
    /// directories excepted, each named at start); off leaves them to --writable.
    writable_mounts: crate::landlock::Volumes = One "writable-mounts" "SECURE_INIT_WRITABLE_MOUNTS" default "auto" about "the runtime's read-write mounts (volumes, binds, tmpfs, emptyDirs, PVCs) writable, system directories, host paths and secure-init's own excepted; each left read-only is named at start (see \"Landlock\")";

    /// Restrict listening to these TCP ports (comma list; default: any), plus the Jupyter
    /// port when the command is a Jupyter server, sshd's port, and the job's rendezvous
    /// port (MASTER_PORT, torchrun's --master-port/--rdzv-endpoint, PET_* variables).
    net_bind: Option<String> = One "net-bind" "SECURE_INIT_NET_BIND" value_name "PORTS" shown "any port" about "restrict listening to these TCP ports (plus ports the kernel chooses, `bind(…, 0)`); added to them: the Jupyter port when the command is Jupyter, sshd's port, and the job's rendezvous port (`MASTER_PORT`, torchrun's `--master-port`/`--rdzv-endpoint`, `PET_*`; see \"Landlock\")";

    /// TCP ports the workload may connect to (comma list), or any (the default).
    net_connect: String = One "net-connect" "SECURE_INIT_NET_CONNECT" value_name "PORTS|any" default "any" about "TCP ports the workload may connect to";

    /// Seconds a stopping command (after a forwarded SIGTERM, SIGINT or SIGQUIT) and the
    /// processes it leaves behind get before SIGKILL — below the runtime's own deadline
    /// (Docker's 10 s; give 25 under Kubernetes' default 30 s grace period), so that
    /// secure-init, not the runtime, ends the job and logs how it ended.
    // The default, 8 s: within Docker's 10 s `docker stop` timeout, with room for the
    // leftovers' wait and the exit.
    stop_grace: u64 = One "stop-grace" "SECURE_INIT_STOP_GRACE" value_name "SECONDS" default "8" range 1..=3600 about "after a forwarded SIGTERM/SIGINT/SIGQUIT, SIGKILL to a command still running; the leftovers' SIGTERM-to-SIGKILL time (1–3600; keep it below the runtime's own: Docker 10 s, Kubernetes `terminationGracePeriodSeconds`)";

    /// Rewrite a signal before forwarding it, as dumb-init's -r (repeatable, comma list):
    /// FROM:TO with names or numbers, TO 0 drops it; TERM:INT gives a Python trainer
    /// KeyboardInterrupt on `docker stop`.
    signal_map: Vec<String> = List "signal-map" "SECURE_INIT_SIGNAL_MAP" value_name "FROM:TO" about "rewrite a signal before forwarding it (names or numbers; `TO` 0 drops it; KILL, STOP, CHLD and fault signals cannot be sources): `TERM:INT`";

    /// Where the supervisor records what it runs (mode, pids, Jupyter port and base URL) for
    /// `secure-init healthcheck`: root-owned, world-readable.
    state_file: PathBuf = One "state-file" "SECURE_INIT_STATE_FILE" value_name "PATH" default "/run/secure-init/state.json" about "what the supervisor runs, for `healthcheck`";

    /// Allow the target uid to be 0 (rootless containers); capabilities, no_new_privs and
    /// seccomp still apply.
    allow_root: bool = Flag "allow-root" "SECURE_INIT_ALLOW_ROOT" about "allow target uid 0 (rootless containers); capabilities, NNP and seccomp still apply";

    /// Keep RLIMIT_CORE as inherited (default: set to 0, core dumps leak weights and secrets).
    allow_core_dumps: bool = Flag "allow-core-dumps" "SECURE_INIT_ALLOW_CORE_DUMPS" about "keep `RLIMIT_CORE` as inherited";

    /// Seccomp profile: pytorch, docker-default, a path to a Docker/OCI JSON profile, or
    /// unconfined (logged as a warning on every start).
    seccomp: String = One "seccomp" "SECURE_INIT_SECCOMP" value_name "pytorch|docker-default|PATH|unconfined" default "pytorch" about "`pytorch`, `docker-default`, a Docker/OCI JSON file, or `unconfined` (warned on every start)";

    /// Report seccomp denials (user notification answered by the supervisor with the
    /// profile's errno, one JSON event per kind): on, or off (the plain filter).
    seccomp_events: bool = One "seccomp-events" "SECURE_INIT_SECCOMP_EVENTS" value_name "on|off" default "on" about "report each seccomp denial as an event (user notification answered by the supervisor with the profile's errno); `off`: the plain filter";

    /// Runtime audit at start (what the container's configuration exposes: a runtime socket,
    /// host namespaces or paths, privileged mode, …): warn (log the findings), strict
    /// (refuse with 77 on a high-severity finding), or off.
    audit: crate::audit::Policy = One "audit" "SECURE_INIT_AUDIT" default "warn" about "runtime audit at start (see \"Runtime audit\"): log findings; `strict` refuses (77) on a high-severity one; `off` is warned";

    /// Learn mode, for building a profile (UNSAFE for production): every call the profile
    /// would deny is allowed and recorded, and at exit the profile plus what was used is
    /// written to PATH as Docker/OCI JSON (for --seccomp PATH after review).
    seccomp_learn: Option<PathBuf> = One "seccomp-learn" "SECURE_INIT_SECCOMP_LEARN" value_name "PATH" about "UNSAFE, for building a profile: allow and record what the profile would deny; write profile + used calls to PATH at exit";

    /// Forward signals to the child's whole process group instead of the child alone.
    kill_process_group: bool = Flag "kill-process-group" "SECURE_INIT_KILL_PROCESS_GROUP" about "forward signals to the child's process group";

    /// Harden and execve COMMAND in place: no supervisor (gosu/setpriv style).
    exec: bool = Flag "exec" "SECURE_INIT_EXEC" about "no supervisor: harden and `execve` in place";

    /// Print the resolved plan as JSON and exit 0 without changing anything.
    dry_run: bool = Flag "dry-run" "SECURE_INIT_DRY_RUN" about "print the resolved plan as JSON (environment *names* only) and exit 0";

    /// sha256sum-format manifest of model files to verify before start (repeatable). Any
    /// mismatch, missing file or malformed line refuses the start (65).
    verify_manifest: Vec<PathBuf> = List "verify-manifest" "SECURE_INIT_VERIFY_MANIFEST" value_name "FILE" about "`sha256sum` manifest; every listed file must be a regular file and match";

    /// Model file or directory whose pickles are scanned before start (repeatable). A global
    /// outside the checkpoint allowlist refuses the start (65).
    scan_models: Vec<PathBuf> = List "scan-models" "SECURE_INIT_SCAN_MODELS" value_name "PATH" about "file or directory of model files whose pickles are scanned before start";

    /// Extend the scan's allowlist with module.name (repeatable).
    allow_global: Vec<String> = List "allow-global" "SECURE_INIT_ALLOW_GLOBAL" value_name "MODULE.NAME" about "extend the scan's allowlist";

    /// GPU driver preflight: auto (check when /dev/nvidiactl exists or NVIDIA_VISIBLE_DEVICES
    /// names devices), require (refuse with 69 when missing or too old), warn, off.
    gpu: crate::gpu::GpuMode = One "gpu" "SECURE_INIT_GPU" default "auto" about "driver preflight; `auto` checks when `/dev/nvidiactl` exists or `NVIDIA_VISIBLE_DEVICES` names devices (not `void`/`none`), and then behaves like `require`";

    /// Minimum NVIDIA driver version (overrides NVIDIA_REQUIRE_* and CUDA_VERSION).
    min_driver: Option<String> = One "min-driver" "SECURE_INIT_MIN_DRIVER" value_name "VERSION" about "minimum driver; overrides `NVIDIA_REQUIRE_*` and `CUDA_VERSION`";

    /// NVML library to load instead of libnvidia-ml.so.1.
    nvml_library: Option<PathBuf> = One "nvml-library" "SECURE_INIT_NVML_LIBRARY" value_name "PATH" shown "`libnvidia-ml.so.1`" about "NVML library to load";

    /// Driver version file read when NVML is unavailable.
    nvidia_version_file: PathBuf = One "nvidia-version-file" "SECURE_INIT_NVIDIA_VERSION_FILE" value_name "PATH" default "/proc/driver/nvidia/version" about "read when NVML is not loadable";

    /// Jupyter password secret file (one trailing newline stripped). Default:
    /// /run/secrets/jupyter_password when it exists. JUPYTER_PASSWORD is read too.
    jupyter_password_file: Option<PathBuf> = One "jupyter-password-file" "SECURE_INIT_JUPYTER_PASSWORD_FILE" value_name "PATH" shown "`/run/secrets/jupyter_password` if it exists" about "password secret; one trailing newline stripped; must not be readable by the workload user";

    /// A pre-hashed Jupyter password (argon2:… or sha1:…) in a file.
    jupyter_hashed_password_file: Option<PathBuf> = One "jupyter-hashed-password-file" "SECURE_INIT_JUPYTER_HASHED_PASSWORD_FILE" value_name "PATH" about "a pre-hashed password (`argon2:…` or `sha1:…`)";

    /// Directory Jupyter serves (default: the user's HOME). /, /home, /root, /etc, /proc,
    /// /sys and /dev are refused.
    jupyter_root_dir: Option<PathBuf> = One "jupyter-root-dir" "SECURE_INIT_JUPYTER_ROOT_DIR" value_name "DIR" shown "the user's `HOME`" about "must exist; `/`, `/home`, `/root`, `/etc`, `/proc`, `/sys`, `/dev` refused";

    /// Address Jupyter listens on.
    jupyter_ip: String = One "jupyter-ip" "SECURE_INIT_JUPYTER_IP" value_name "IP" default "0.0.0.0";

    /// Port Jupyter listens on.
    jupyter_port: u16 = One "jupyter-port" "SECURE_INIT_JUPYTER_PORT" value_name "PORT" default "8888" about "a `--port` on the Jupyter command line wins; set for `healthcheck`, it probes that port";

    /// Jupyter's base URL (ServerApp.base_url), e.g. /user/alice/.
    jupyter_base_url: String = One "jupyter-base-url" "SECURE_INIT_JUPYTER_BASE_URL" value_name "PATH" default "/" about "also used by `healthcheck`";

    /// The one web origin allowed to call Jupyter's API cross-origin ('*' is refused).
    jupyter_allow_origin: Option<String> = One "jupyter-allow-origin" "SECURE_INIT_JUPYTER_ALLOW_ORIGIN" value_name "ORIGIN" about "the one origin allowed cross-origin; `*` refused";

    /// Where the Jupyter config is written (default /run/secure-init/jupyter as root).
    jupyter_config_dir: Option<PathBuf> = One "jupyter-config-dir" "SECURE_INIT_JUPYTER_CONFIG_DIR" value_name "DIR" shown "`/run/secure-init/jupyter` (root)" about "where the config is written";

    /// Start a Jupyter server without any authentication (behind an authenticating proxy);
    /// logged as a warning on every start.
    jupyter_no_password: bool = Flag "jupyter-no-password" "SECURE_INIT_JUPYTER_NO_PASSWORD" about "run a Jupyter server unauthenticated (behind an authenticating proxy); warned on every start";

    /// Jupyter runs behind a reverse proxy: trust its X-Forwarded-* headers (logs show the
    /// client's address, not the proxy's).
    jupyter_behind_proxy: bool = Flag "jupyter-behind-proxy" "SECURE_INIT_JUPYTER_BEHIND_PROXY" about "trust `X-Forwarded-*` from the proxy in front";

    /// TLS certificate (PEM) for Jupyter to serve HTTPS itself; needs --jupyter-keyfile.
    jupyter_certfile: Option<PathBuf> = One "jupyter-certfile" "SECURE_INIT_JUPYTER_CERTFILE" value_name "PATH" about "Jupyter serves HTTPS itself (cookie `Secure`)";

    /// TLS private key (PEM) for --jupyter-certfile. Jupyter runs as the workload user and
    /// must read it: prefer terminating TLS at a proxy.
    jupyter_keyfile: Option<PathBuf> = One "jupyter-keyfile" "SECURE_INIT_JUPYTER_KEYFILE" value_name "PATH";

    /// Lifetime of Jupyter's login cookie, e.g. 8h (default: Jupyter's, a browser session).
    jupyter_cookie_lifetime: Option<String> = One "jupyter-cookie-lifetime" "SECURE_INIT_JUPYTER_COOKIE_LIFETIME" value_name "DURATION" shown "browser session" about "login cookie lifetime";

    /// Turn Jupyter's terminals off (no shell in the browser).
    jupyter_no_terminals: bool = Flag "jupyter-no-terminals" "SECURE_INIT_JUPYTER_NO_TERMINALS" about "no terminals in Jupyter";

    /// Shut down kernels idle this long (and the server after as long without activity):
    /// e.g. 30m, 2h, 3600 (seconds). Idle kernels otherwise keep their GPU memory.
    jupyter_idle_timeout: Option<String> = One "jupyter-idle-timeout" "SECURE_INIT_JUPYTER_IDLE_TIMEOUT" value_name "DURATION" about "cull idle kernels (and the idle server) after DURATION (`90`, `30m`, `2h`)";

    /// Run OpenSSH's sshd alongside the command, as the workload user under the same
    /// hardening: key-only login from --sshd-authorized-keys-file, config root-owned. If
    /// either exits, the other is stopped; the exit status is the command's. (`secure-init
    /// -- /usr/sbin/sshd -D -e` runs sshd as the command, configured the same way.)
    sshd: bool = Flag "sshd" "SECURE_INIT_SSHD" about "run OpenSSH's sshd alongside the command as the workload user (see \"SSH\"); `secure-init -- /usr/sbin/sshd -D -e` runs it as the command";

    /// sshd's port.
    sshd_port: u16 = One "sshd-port" "SECURE_INIT_SSHD_PORT" value_name "PORT" default "2222" about "sshd's port (added to Landlock's `--net-bind`)";

    /// The public keys allowed to log in (a secret: root-owned, not readable by the
    /// workload); copied into the root-owned config dir. Ed25519 and FIDO keys only, unless
    /// --sshd-allow-rsa.
    sshd_authorized_keys_file: PathBuf = One "sshd-authorized-keys-file" "SECURE_INIT_SSHD_AUTHORIZED_KEYS_FILE" value_name "PATH" default "/run/secrets/ssh_authorized_keys" about "the keys allowed to log in (a secret: not readable or changeable by the workload)";

    /// An unencrypted Ed25519 host key (a secret) instead of a new one made at every start.
    sshd_host_key_file: Option<PathBuf> = One "sshd-host-key-file" "SECURE_INIT_SSHD_HOST_KEY_FILE" value_name "PATH" shown "a new key at every start" about "an unencrypted Ed25519 OpenSSH private key (a secret)";

    /// Allow TCP and agent forwarding (off by default; X11 and tunnels stay off).
    sshd_allow_forwarding: bool = Flag "sshd-allow-forwarding" "SECURE_INIT_SSHD_ALLOW_FORWARDING" about "TCP and agent forwarding (X11 and tunnels stay off)";

    /// Also accept RSA keys of at least 3072 bits.
    sshd_allow_rsa: bool = Flag "sshd-allow-rsa" "SECURE_INIT_SSHD_ALLOW_RSA" about "also accept RSA keys of at least 3072 bits";

    /// Where the sshd config, authorized keys and host key are written (default
    /// /run/secure-init/sshd as root).
    sshd_config_dir: Option<PathBuf> = One "sshd-config-dir" "SECURE_INIT_SSHD_CONFIG_DIR" value_name "DIR" shown "`/run/secure-init/sshd` (root)" about "where the config, keys and host key are written; required when started non-root";

    /// Log format on stderr.
    log_format: Format = One "log-format" "SECURE_INIT_LOG_FORMAT" default "auto" about "JSON lines when stderr is not a terminal";

    /// Lowest level logged.
    log_level: LevelArg = One "log-level" "SECURE_INIT_LOG_LEVEL" default "info";

    /// Where a fatal error is also written, when that file exists and is writable
    /// (Kubernetes shows it in `kubectl describe pod`).
    termination_log: PathBuf = One "termination-log" "SECURE_INIT_TERMINATION_LOG" value_name "PATH" default "/dev/termination-log" about "a fatal error, or why the command ended (`child.exit`'s line), is also written here when the file exists and is writable (never created)";

    /// Directory searched for GPU device nodes by `--groups auto` (for tests and unusual
    /// layouts).
    dev_dir: PathBuf = One "dev-dir" "SECURE_INIT_DEV_DIR" value_name "DIR" default "/dev" about "where `--groups auto` and `--gpu auto` look for GPU device nodes (tests, unusual layouts)";
}

/// How an option of the run path takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// `--flag`, or its variable set to a yes/no word.
    Flag,
    /// `--name VALUE` / `--name=VALUE`, once.
    One,
    /// `--name A,B` (repeatable; the variable holds a comma-separated list).
    List,
}

/// One option of the run path, as declared in [`run_options!`]: clap's argument
/// ([`Opt::arg`]), the fast parser ([`parse_run`]) and the reference's option table
/// ([`options_table`]) are all made from it.
#[derive(Debug)]
pub struct Opt {
    /// clap's id: the field's name.
    pub id: &'static str,
    /// `--long`.
    pub long: &'static str,
    /// `SECURE_INIT_*`.
    pub var: &'static str,
    pub takes: Takes,
    /// The value's name in `--help` (default: the id in capitals, as clap's derive does).
    pub value_name: Option<&'static str>,
    /// The default, as the word the option would be given.
    pub default: Option<&'static str>,
    /// Accepted range of a number.
    pub range: Option<(u64, u64)>,
    /// The doc comment's lines: `--help`'s text.
    pub doc: &'static [&'static str],
    /// The reference's default where the option has none to declare ("`1001` when root").
    pub shown: Option<&'static str>,
    /// The reference's description (default: the help text).
    pub about: Option<&'static str>,
    /// clap's parser for one value.
    pub parser: fn() -> clap::builder::ValueParser,
}

impl Opt {
    /// The help text, as clap's derive makes it from a one-paragraph doc comment: the
    /// lines trimmed and joined, a final period dropped.
    pub fn help(&self) -> String {
        let mut h = self
            .doc
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ");
        if h.ends_with('.') && !h.ends_with("..") {
            h.pop();
        }
        h
    }

    /// clap's argument (`display_order`: its place in the table).
    pub fn arg(&self, order: usize) -> clap::Arg {
        use clap::{Arg, ArgAction};
        let parser = match self.range {
            Some((lo, hi)) => clap::value_parser!(u64).range(lo..=hi).into(),
            None => (self.parser)(),
        };
        let a = Arg::new(self.id)
            .long(self.long)
            .env(self.var)
            .help(self.help())
            .value_name(match self.value_name {
                Some(n) => n.to_string(),
                None => self.id.to_uppercase(),
            })
            .display_order(order)
            .help_heading(None::<&str>)
            .value_parser(parser);
        let a = match self.takes {
            Takes::Flag => a.action(ArgAction::SetTrue),
            Takes::One => a.action(ArgAction::Set),
            Takes::List => a.action(ArgAction::Append).value_delimiter(','),
        };
        match self.default {
            Some(d) => a.default_value(d),
            None => a,
        }
    }
}

/// A value an option takes: clap's parser for it, and the fast path's reading of one word
/// (`None` where it is not certain of clap's answer: clap then decides).
pub trait Word: Sized + Clone + Send + Sync + 'static {
    fn parser() -> clap::builder::ValueParser;
    fn from_word(s: &std::ffi::OsStr) -> Option<Self>;
    /// The value of an absent option without a default.
    fn absent() -> Option<Self> {
        None
    }
}

impl Word for String {
    fn parser() -> clap::builder::ValueParser {
        clap::builder::ValueParser::string()
    }
    fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
        s.to_str().map(str::to_string)
    }
}

impl Word for PathBuf {
    fn parser() -> clap::builder::ValueParser {
        clap::builder::ValueParser::path_buf()
    }
    fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
        Some(PathBuf::from(s))
    }
}

impl Word for bool {
    fn parser() -> clap::builder::ValueParser {
        BoolishValueParser::new().into()
    }
    fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
        match s.to_str()?.to_lowercase().as_str() {
            "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
            "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
            _ => None,
        }
    }
    fn absent() -> Option<Self> {
        Some(false)
    }
}

/// Numbers: decimal digits only on the fast path (clap also takes a sign).
macro_rules! number_words {
    ($($t:ty),*) => {$(
        impl Word for $t {
            fn parser() -> clap::builder::ValueParser {
                clap::value_parser!($t).into()
            }
            fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
                let s = s.to_str()?;
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                s.parse().ok()
            }
        }
    )*};
}
number_words!(u16, u32, u64, i32);

/// The option words of an enum (`clap::ValueEnum`), case-sensitive as clap reads them.
macro_rules! enum_words {
    ($($t:ty),*) => {$(
        impl Word for $t {
            fn parser() -> clap::builder::ValueParser {
                clap::builder::EnumValueParser::<$t>::new().into()
            }
            fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
                <$t as clap::ValueEnum>::from_str(s.to_str()?, false).ok()
            }
        }
    )*};
}
enum_words!(
    crate::landlock::Enforcement,
    crate::landlock::Volumes,
    crate::audit::Policy,
    crate::gpu::GpuMode,
    Format,
    LevelArg
);

/// The shape of an option's field: one value, perhaps absent (`Option<T>`), a list
/// (`Vec<T>`), or a value that always has one (a default, or `false`).
pub trait Field: Sized {
    fn parser() -> clap::builder::ValueParser;
    /// From the words given (`None`: absent) and the default; `None` when a word is not
    /// one the fast path is certain of.
    fn fill(given: Option<Vec<OsString>>, default: Option<&str>) -> Option<Self>;
    /// From clap's matches (typed by clap's own parser).
    fn from_matches(m: &clap::ArgMatches, id: &str) -> Result<Self, clap::Error>;
}

fn last_or_default(given: Option<Vec<OsString>>, default: Option<&str>) -> Option<OsString> {
    match given {
        Some(mut v) => v.pop(),
        None => default.map(OsString::from),
    }
}

impl<T: Word> Field for Option<T> {
    fn parser() -> clap::builder::ValueParser {
        T::parser()
    }
    fn fill(given: Option<Vec<OsString>>, default: Option<&str>) -> Option<Self> {
        match last_or_default(given, default) {
            Some(w) => T::from_word(&w).map(Some),
            None => Some(None),
        }
    }
    fn from_matches(m: &clap::ArgMatches, id: &str) -> Result<Self, clap::Error> {
        Ok(m.get_one::<T>(id).cloned())
    }
}

impl<T: Word> Field for Vec<T> {
    fn parser() -> clap::builder::ValueParser {
        T::parser()
    }
    fn fill(given: Option<Vec<OsString>>, _default: Option<&str>) -> Option<Self> {
        given
            .unwrap_or_default()
            .iter()
            .map(|w| T::from_word(w))
            .collect()
    }
    fn from_matches(m: &clap::ArgMatches, id: &str) -> Result<Self, clap::Error> {
        Ok(m.get_many::<T>(id)
            .map(|v| v.cloned().collect())
            .unwrap_or_default())
    }
}

/// Fields that always hold a value.
macro_rules! plain_fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn parser() -> clap::builder::ValueParser {
                <$t as Word>::parser()
            }
            fn fill(given: Option<Vec<OsString>>, default: Option<&str>) -> Option<Self> {
                match last_or_default(given, default) {
                    Some(w) => <$t as Word>::from_word(&w),
                    None => <$t as Word>::absent(),
                }
            }
            fn from_matches(m: &clap::ArgMatches, id: &str) -> Result<Self, clap::Error> {
                m.get_one::<$t>(id).cloned().ok_or_else(|| {
                    clap::Error::raw(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        format!("option {id}: no value\n"),
                    )
                })
            }
        }
    )*};
}
plain_fields!(
    String,
    PathBuf,
    bool,
    u16,
    u64,
    crate::landlock::Enforcement,
    crate::landlock::Volumes,
    crate::audit::Policy,
    crate::gpu::GpuMode,
    Format,
    LevelArg
);

impl clap::FromArgMatches for RunArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        RunArgs::from_matches(m)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = RunArgs::from_matches(m)?;
        Ok(())
    }
}

impl clap::Args for RunArgs {
    /// The run options as clap arguments (what `#[derive(Args)]` would add: the arguments
    /// in table order, the trailing command, the group of them all).
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let mut cmd = cmd;
        for (i, o) in RUN_OPTIONS.iter().enumerate() {
            cmd = cmd.arg(o.arg(i));
        }
        cmd.arg(
            clap::Arg::new("command")
                .value_name("COMMAND")
                .help(COMMAND_HELP)
                .help_heading(None::<&str>)
                .value_parser(clap::value_parser!(OsString))
                .action(clap::ArgAction::Append)
                .num_args(1..)
                .trailing_var_arg(true)
                .allow_hyphen_values(false),
        )
        .group(
            clap::ArgGroup::new("RunArgs")
                .multiple(true)
                .args(RUN_OPTIONS.iter().map(|o| o.id).chain(["command"])),
        )
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

const COMMAND_HELP: &str =
    "The command to run (after `--`, or from the first argument that is not an option)";

/// The default of option `--long` (as the word it would be given).
pub fn default_of(long: &str) -> Option<&'static str> {
    RUN_OPTIONS.iter().find(|o| o.long == long)?.default
}

/// The reference's option table (docs/src/options.md, between its markers): one row per
/// option, from [`RUN_OPTIONS`]. A test keeps the file equal to it.
pub fn options_table() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut t =
        String::from("| option | variable | default | meaning |\n| --- | --- | --- | --- |\n");
    for o in RUN_OPTIONS {
        let value = match (o.takes, o.value_name) {
            (Takes::Flag, _) => String::new(),
            (_, Some(n)) => format!(" {n}"),
            // an enum's words, as `--help` lists them
            (_, None) => format!(
                " {}",
                (o.parser)()
                    .possible_values()
                    .map(|v| v
                        .map(|p| p.get_name().to_string())
                        .collect::<Vec<_>>()
                        .join("|"))
                    .unwrap_or_else(|| o.id.to_uppercase())
            ),
        };
        let default = match (o.default, o.shown, o.takes) {
            (Some(d), _, _) => format!("`{d}`"),
            (None, Some(s), _) => s.to_string(),
            (None, None, Takes::Flag) => "off".to_string(),
            (None, None, _) => "—".to_string(),
        };
        t.push_str(&format!(
            "| `--{}{}`{} | `{}` | {} | {} |\n",
            o.long,
            cell(&value),
            if o.takes == Takes::List {
                " (repeatable, comma list)"
            } else {
                ""
            },
            o.var,
            cell(&default),
            cell(&o.about.map(str::to_string).unwrap_or_else(|| o.help())),
        ));
    }
    t
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

/// The run path's own parser, for start-up time: building clap's parser for ~50 options
/// took a quarter of a millisecond of every start. It reads what clap would read (the same
/// options and variables, the same defaults and value words) and answers `None` whenever it
/// is not certain of clap's answer — help, version, a subcommand, an unknown or repeated
/// option, an empty value, a value starting with `-`, a value clap would refuse, anything
/// not UTF-8 but the command — and clap then parses as before: every message and refusal
/// stays clap's. `args` includes the program name; `env` looks a variable up. A test
/// compares the two parsers over every option, value kind and source.
pub fn parse_run(args: &[OsString], env: &dyn Fn(&str) -> Option<OsString>) -> Option<RunArgs> {
    let mut given: Vec<Option<Vec<String>>> = vec![None; RUN_OPTIONS.len()];
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
                let k = RUN_OPTIONS.iter().position(|o| o.long == name)?;
                let value = match (RUN_OPTIONS[k].takes, inline) {
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
                match (&mut given[k], RUN_OPTIONS[k].takes) {
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
    // What each option holds: the command line's words, else its variable's, else None.
    let mut vals: Vec<Option<Vec<OsString>>> = Vec::with_capacity(RUN_OPTIONS.len());
    for (k, o) in RUN_OPTIONS.iter().enumerate() {
        let mut v = match given[k].take() {
            Some(v) => Some(v),
            None => match env(o.var) {
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
        if o.takes == Takes::List {
            if let Some(words) = &v {
                let parts: Vec<String> = words
                    .iter()
                    .flat_map(|s| s.split(','))
                    .map(str::to_string)
                    .collect();
                if parts.iter().any(|p| p.is_empty() || p.starts_with('-')) {
                    return None;
                }
                v = Some(parts);
            }
        }
        vals.push(v.map(|words| words.into_iter().map(OsString::from).collect()));
    }
    RunArgs::fill(vals, command)
}

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
