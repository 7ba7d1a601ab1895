//! The run path's options, each declared once.

use super::declare::{in_range, Field, Opt, Takes, COMMAND_HELP};
use crate::log::{Format, LevelArg};
use std::ffi::OsString;
use std::path::PathBuf;

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
