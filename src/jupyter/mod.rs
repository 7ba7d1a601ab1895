//! Jupyter, "a command secure-init recognises and configures", in four parts:
//!
//! - [`detect`]: is the command a Jupyter server, does it override a security flag;
//! - [`secret`]: password intake, the password rules, hashing, pre-hashed passwords;
//! - this module: the Jupyter part of the plan (pure: facts in, plan out);
//! - [`config`]: the effects — hash the password, render and write the config files;
//! - [`health`]: `secure-init healthcheck`.

pub mod config;
pub mod detect;
pub mod health;
pub mod secret;

use crate::error::{Error, Result};
use crate::facts::Facts;
pub use detect::is_jupyter_server;
use secret::DEFAULT_PASSWORD_FILE;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Directories that must never be a notebook root.
const REFUSED_ROOTS: &[&str] = &["/", "/home", "/root", "/etc", "/proc", "/sys", "/dev"];

/// Variables removed from the workload's environment when Jupyter is configured.
pub const REMOVED_ENV: &[&str] = &[
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_TOKEN",
    "JUPYTER_TOKEN_FILE",
    "JUPYTER_PASSWORD",
    "JUPYTER_NO_CONFIG",
];

#[derive(Debug, Clone)]
pub struct JupyterArgs {
    pub password_file: Option<PathBuf>,
    pub hashed_password_file: Option<PathBuf>,
    pub root_dir: Option<PathBuf>,
    pub ip: String,
    pub port: u16,
    pub allow_origin: Option<String>,
    pub config_dir: Option<PathBuf>,
    pub no_password: bool,
    pub base_url: String,
    pub no_terminals: bool,
    pub idle_timeout: Option<String>,
    pub behind_proxy: bool,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    pub cookie_lifetime: Option<String>,
}

impl From<&crate::cli::RunArgs> for JupyterArgs {
    /// The `--jupyter-*` options.
    fn from(a: &crate::cli::RunArgs) -> JupyterArgs {
        JupyterArgs {
            password_file: a.jupyter_password_file.clone(),
            hashed_password_file: a.jupyter_hashed_password_file.clone(),
            root_dir: a.jupyter_root_dir.clone(),
            ip: a.jupyter_ip.clone(),
            port: a.jupyter_port,
            allow_origin: a.jupyter_allow_origin.clone(),
            config_dir: a.jupyter_config_dir.clone(),
            no_password: a.jupyter_no_password,
            no_terminals: a.jupyter_no_terminals,
            behind_proxy: a.jupyter_behind_proxy,
            certfile: a.jupyter_certfile.clone(),
            keyfile: a.jupyter_keyfile.clone(),
            cookie_lifetime: a.jupyter_cookie_lifetime.clone(),
            idle_timeout: a.jupyter_idle_timeout.clone(),
            base_url: a.jupyter_base_url.clone(),
        }
    }
}

/// How the server authenticates. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// A plaintext password (from where), hashed when the config is written — after every
    /// configuration check, so a bad flag never waits for argon2.
    Password(Zeroizing<String>, String),
    /// `argon2:…` or `sha1:…`, with where it came from.
    Hashed(String, String),
    /// `--jupyter-no-password`: the operator chose an unauthenticated server.
    NoPassword,
    /// A JupyterHub-spawned single-user server: the hub authenticates.
    Hub,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Auth {
    /// For the plan's JSON and the log (never the secret).
    pub fn describe(&self) -> String {
        match self {
            Auth::Password(_, src) | Auth::Hashed(_, src) => format!("password ({src})"),
            Auth::NoPassword => "none (--jupyter-no-password)".to_string(),
            Auth::Hub => "jupyterhub".to_string(),
        }
    }
}

/// The server settings secure-init writes.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root_dir: PathBuf,
    pub ip: String,
    pub port: u16,
    pub base_url: String,
    pub allow_origin: String,
    pub terminals: bool,
    /// Seconds after which idle kernels (and then the idle server) are shut down.
    pub idle_timeout: Option<u64>,
    pub trust_xheaders: bool,
    /// Served over HTTPS by Jupyter itself: (certfile, keyfile).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Login cookie lifetime in seconds.
    pub cookie_lifetime: Option<u64>,
}

#[cfg(test)]
#[test]
fn durations_parse() {
    assert_eq!(parse_duration("90", "x").unwrap(), 90);
    assert_eq!(parse_duration("30m", "x").unwrap(), 1800);
    assert_eq!(parse_duration("2h", "x").unwrap(), 7200);
    assert!(parse_duration("0", "x").is_err());
    assert!(parse_duration("soon", "x").is_err());
}

/// Parse a duration: `90`, `90s`, `30m`, `2h`, `1d` (seconds out).
pub fn parse_duration(s: &str, what: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'd')) => (&t[..i], 86400),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            Error::config(format!(
                "{what} {s:?}: not a duration; use seconds or a number with s, m, h or d, e.g. 30m"
            ))
        })
}

#[derive(Debug, Clone)]
pub struct JupyterPlan {
    /// A fresh runtime directory made at each start beside the config directory (root
    /// start), outside the persistent HOME: kernel connection files and server state of an
    /// earlier run never carry over.
    pub runtime_dir: Option<PathBuf>,
    /// The workload's uid and gid (owner of the runtime directory).
    pub owner: (u32, u32),
    /// The other config directories Jupyter reads, checked not writable by the workload.
    pub checked_config_dirs: Vec<PathBuf>,
    pub auth: Auth,
    pub is_server_command: bool,
    pub config_dir: PathBuf,
    /// Root-owned 0555 directory (true) or the workload's own 0700 one (non-root start).
    pub protected: bool,
    /// None: nothing to write (a JupyterHub single-user server).
    pub settings: Option<Settings>,
    pub env_set: Vec<(String, String)>,
}

/// The user the server runs as (the workload), for the secret checks and the defaults.
pub struct ServerUser<'a> {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [u32],
    pub home: &'a Path,
    /// HOME is the fallback directory start-up will create (it does not exist yet).
    pub home_pending: bool,
    pub started_as_root: bool,
}

impl ServerUser<'_> {
    pub fn workload(&self) -> crate::searchpath::Workload<'_> {
        crate::searchpath::Workload {
            uid: self.uid,
            gid: self.gid,
            groups: self.groups,
        }
    }
}

/// The directories Jupyter reads server config from besides secure-init's own (with the
/// user site off): `<prefix>/etc/jupyter` of the Python the command runs, then
/// `/usr/local/etc/jupyter` and `/etc/jupyter`. One the workload could write (or a config
/// file or `.d` directory in it) would let it configure the next server: refused (78).
fn check_config_path(argv: &[OsString], who: &ServerUser, facts: &Facts) -> Result<Vec<PathBuf>> {
    let fs = facts.fs.as_ref();
    let w = crate::searchpath::Workload {
        uid: who.uid,
        gid: who.gid,
        groups: who.groups,
    };
    let mut dirs: Vec<PathBuf> = vec![];
    if let Some(exe) = resolve_command(argv, facts) {
        let exe = fs.canonicalize(&exe).unwrap_or(exe);
        if let Some(prefix) = exe
            .parent()
            .filter(|b| b.ends_with("bin"))
            .and_then(Path::parent)
        {
            dirs.push(prefix.join("etc/jupyter"));
        }
    }
    dirs.push("/usr/local/etc/jupyter".into());
    dirs.push("/etc/jupyter".into());
    let checked = dirs.clone();
    for d in dirs {
        let mut paths = vec![d.clone()];
        for name in [
            "jupyter_server_config.json",
            "jupyter_server_config.py",
            "jupyter_notebook_config.json",
            "jupyter_notebook_config.py",
            "jupyter_config.json",
            "jupyter_config.py",
            "jupyter_server_config.d",
            "jupyter_notebook_config.d",
        ] {
            let p = d.join(name);
            if fs.meta(&p).is_some() {
                paths.push(p);
            }
        }
        // (a missing directory counts when the workload could create it)
        for p in paths {
            if let Some(why) = crate::searchpath::writable_reason(fs, &p, &w) {
                return Err(refuse_config_dir(&p, &why));
            }
        }
    }
    Ok(checked)
}

fn refuse_config_dir(p: &Path, why: &str) -> Error {
    Error::config(format!(
        "Jupyter reads server configuration from {}, and {why}: a compromised notebook could configure the next server start (token, password, extensions); make it root-owned and not writable by the workload (or install Jupyter into a root-owned prefix)",
        p.display()
    ))
}

/// The program the command runs: argv[0] as a path, or found on PATH.
fn resolve_command(argv: &[OsString], facts: &Facts) -> Option<PathBuf> {
    let first = Path::new(argv.first()?);
    if first.components().count() > 1 {
        return Some(first.to_path_buf());
    }
    let path = facts
        .var_str("PATH")
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(first))
        .find(|p| facts.fs.meta(p).is_some_and(|m| m.is_file))
}

/// The notebook root: an existing directory, never a system one.
fn checked_root(fs: &dyn crate::facts::Fs, root: &Path) -> Result<PathBuf> {
    let canon = fs.canonicalize(root).map_err(|e| {
        Error::config(format!(
            "--jupyter-root-dir {}: {e}; give an existing directory",
            root.display()
        ))
    })?;
    if !fs.meta(&canon).is_some_and(|m| m.is_dir) {
        return Err(Error::config(format!(
            "--jupyter-root-dir {}: not a directory",
            root.display()
        )));
    }
    if REFUSED_ROOTS.iter().any(|r| canon == Path::new(r)) {
        return Err(Error::config(format!(
            "--jupyter-root-dir {}: serving {} exposes the system; use a project directory such as /home/aiuser/work",
            root.display(),
            canon.display()
        )));
    }
    Ok(canon)
}

impl JupyterPlan {
    /// The address and port secure-init binds for a Jupyter server before it starts and
    /// holds until it exits (the server takes the socket on descriptor 3, as systemd's
    /// socket activation passes it): `None` for the address is every address. `Err` names
    /// an `--jupyter-ip` that is no address (a host name): that port is not held.
    pub fn held_port(
        &self,
    ) -> Option<std::result::Result<(Option<std::net::IpAddr>, u16), String>> {
        let s = self.settings.as_ref().filter(|_| self.is_server_command)?;
        let ip = match s.ip.as_str() {
            "" | "*" | "0.0.0.0" | "::" => None,
            "localhost" => Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
            other => match other.trim_matches(['[', ']']).parse() {
                Ok(a) => Some(a),
                Err(_) => return Some(Err(other.to_string())),
            },
        };
        Some(Ok((ip, s.port)))
    }

    /// HOME became `new` at start (the fallback directory): paths planned under the
    /// planned HOME `old` follow it.
    pub fn rehome(&mut self, old: &Path, new: &Path) -> Result<()> {
        let move_path = |p: &Path| match p.strip_prefix(old) {
            Ok(rest) => new.join(rest),
            Err(_) => p.to_path_buf(),
        };
        if let Some(s) = self.settings.as_mut() {
            s.root_dir = move_path(&s.root_dir);
        }
        for (_, v) in self.env_set.iter_mut() {
            *v = move_path(Path::new(v.as_str())).display().to_string();
        }
        match &self.settings {
            Some(s) if REFUSED_ROOTS.iter().any(|r| s.root_dir == Path::new(r)) => {
                Err(Error::config(format!(
                    "Jupyter would serve {} (HOME, as no private HOME could be made); pass --jupyter-root-dir with a project directory",
                    s.root_dir.display()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Resolve the Jupyter part of the plan. `None` when there is nothing to configure.
/// Reads the secrets (through the facts' file view); changes nothing.
pub fn plan(
    a: &JupyterArgs,
    argv: &[OsString],
    who: &ServerUser,
    facts: &Facts,
) -> Result<Option<JupyterPlan>> {
    let fs = facts.fs.as_ref();
    let is_server = is_jupyter_server(argv);
    let file = match &a.password_file {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(DEFAULT_PASSWORD_FILE)).filter(|p| fs.exists_nofollow(p)),
    };
    let env_pw: Option<Zeroizing<String>> = match facts.var("JUPYTER_PASSWORD") {
        None => None,
        Some(v) => Some(Zeroizing::new(
            v.to_str()
                .ok_or_else(|| {
                    Error::config("JUPYTER_PASSWORD is not valid UTF-8; set it to a UTF-8 password")
                })?
                .to_string(),
        )),
    };
    // a secret file, once its path is trusted (secure-init reads it as root)
    let cwd = facts.cwd.as_deref().unwrap_or(Path::new("/"));
    let read = |flag: &str, p: &Path| {
        secret::read_secret(fs, p, flag, &who.workload(), who.started_as_root, cwd)
    };
    let file_pw = match &file {
        Some(p) => {
            let pw = read("--jupyter-password-file", p)?;
            if let Some(mode) = secret::readable_by(fs, p, who.uid, who.gid, who.groups) {
                let msg = format!(
                    "--jupyter-password-file {}: readable by the workload (uid {}, mode {mode:04o}), which could read the plaintext password; make it readable by root only: chmod 600 the file on the host (docker-compose 1.x file secrets keep the host mode and ignore `mode:`), or use a Kubernetes secret with defaultMode: 0400",
                    p.display(),
                    who.uid
                );
                if who.started_as_root {
                    return Err(Error::config(msg));
                }
                log::warn!(target: "jupyter.secret", "{msg} (started non-root: the workload shares secure-init's uid)");
            }
            Some(pw)
        }
        None => None,
    };
    let hashed = match &a.hashed_password_file {
        Some(p) => {
            let h = read("--jupyter-hashed-password-file", p)?;
            secret::validate_hash(
                &h,
                &format!("--jupyter-hashed-password-file {}", p.display()),
            )?;
            Some((h.to_string(), format!("{}", p.display())))
        }
        None => None,
    };
    let file_name = || {
        file.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let plain: Option<(Zeroizing<String>, String)> = match (file_pw, env_pw) {
        (Some(f), Some(e)) if *f != *e => {
            return Err(Error::config(format!(
                "the password in {} and JUPYTER_PASSWORD differ; give one of them",
                file_name()
            )))
        }
        (Some(f), _) => Some((f, file_name())),
        (None, Some(e)) => Some((e, "JUPYTER_PASSWORD".to_string())),
        (None, None) => None,
    };
    if plain.is_some() && hashed.is_some() {
        return Err(Error::config(
            "both a plaintext password and --jupyter-hashed-password-file were given; give one of them",
        ));
    }
    let auth = if let Some((pw, src)) = plain {
        secret::check_password(&pw, &src)?;
        Auth::Password(pw, src)
    } else if let Some((h, src)) = hashed {
        Auth::Hashed(h, src)
    } else if is_server && facts.var("JUPYTERHUB_API_TOKEN").is_some() {
        Auth::Hub
    } else if is_server && a.no_password {
        Auth::NoPassword
    } else if is_server {
        return Err(Error::config(format!(
            "refusing to start a Jupyter server without a password: mount a secret at {DEFAULT_PASSWORD_FILE} (or --jupyter-password-file PATH), set JUPYTER_PASSWORD, or pass --jupyter-hashed-password-file; --jupyter-no-password runs it unauthenticated"
        )));
    } else {
        return Ok(None);
    };
    if auth == Auth::Hub {
        return Ok(Some(JupyterPlan {
            runtime_dir: None,
            owner: (who.uid, who.gid),
            checked_config_dirs: vec![],
            auth,
            is_server_command: is_server,
            config_dir: PathBuf::new(),
            protected: false,
            settings: None,
            env_set: vec![],
        }));
    }
    if let Some(flag) = detect::overriding_flag(argv) {
        return Err(Error::config(format!(
            "the command line sets {flag}, which would override secure-init's Jupyter security settings; remove it (secure-init sets token, password, XSRF, origin and allow_root itself)"
        )));
    }
    if !a.base_url.starts_with('/') || a.base_url.contains(char::is_whitespace) {
        return Err(Error::config(format!(
            "--jupyter-base-url {:?}: must be a path starting with /",
            a.base_url
        )));
    }
    if a.allow_origin.as_deref().is_some_and(|o| o.trim() == "*") {
        return Err(Error::config(
            "--jupyter-allow-origin '*' lets any web page drive the notebook; name the origin, e.g. https://notebooks.example.com",
        ));
    }
    let root = a.root_dir.clone().unwrap_or_else(|| who.home.to_path_buf());
    let canon = if a.root_dir.is_none() && who.home_pending {
        // the private fallback HOME, made by secure-init at start (see `rehome`)
        root.clone()
    } else {
        checked_root(fs, &root)?
    };
    let checked_config_dirs = if who.started_as_root {
        check_config_path(argv, who, facts)?
    } else {
        vec![]
    };
    let config_dir = a.config_dir.clone().unwrap_or_else(|| {
        if who.started_as_root {
            PathBuf::from("/run/secure-init/jupyter")
        } else {
            facts.tmp.join(format!("secure-init-jupyter-{}", who.uid))
        }
    });
    let tls = match (&a.certfile, &a.keyfile) {
        (None, None) => None,
        (Some(c), Some(k)) => {
            for (p, what) in [(c, "--jupyter-certfile"), (k, "--jupyter-keyfile")] {
                if !fs.meta(p).is_some_and(|m| m.is_file) {
                    return Err(Error::config(format!(
                        "{what} {}: not a readable file; give the PEM file's path",
                        p.display()
                    )));
                }
            }
            Some((c.clone(), k.clone()))
        }
        _ => {
            return Err(Error::config(
                "--jupyter-certfile and --jupyter-keyfile go together; give both (or terminate TLS at a proxy)",
            ))
        }
    };
    let runtime_dir = who
        .started_as_root
        .then(|| config_dir.with_file_name("jupyter-runtime"));
    let home = who.home.display().to_string();
    let mut env_set = vec![];
    if let Some(r) = &runtime_dir {
        env_set.push(("JUPYTER_RUNTIME_DIR".to_string(), r.display().to_string()));
    }
    Ok(Some(JupyterPlan {
        runtime_dir,
        owner: (who.uid, who.gid),
        checked_config_dirs,
        auth,
        is_server_command: is_server,
        protected: who.started_as_root,
        settings: Some(Settings {
            root_dir: canon,
            // the command line's --ip wins over the config, as in Jupyter (and the port
            // secure-init holds for the server is bound there)
            ip: detect::ip_flag(argv).unwrap_or_else(|| a.ip.clone()),
            // a port on the command line overrides the config file: follow it
            port: detect::port_flag(argv).unwrap_or(a.port),
            base_url: a.base_url.clone(),
            allow_origin: a.allow_origin.clone().unwrap_or_default(),
            terminals: !a.no_terminals,
            trust_xheaders: a.behind_proxy,
            tls,
            cookie_lifetime: a
                .cookie_lifetime
                .as_deref()
                .map(|d| parse_duration(d, "--jupyter-cookie-lifetime"))
                .transpose()?,
            idle_timeout: a
                .idle_timeout
                .as_deref()
                .map(|d| parse_duration(d, "--jupyter-idle-timeout"))
                .transpose()?,
        }),
        env_set: env_set
            .into_iter()
            .chain([
                (
                    "JUPYTER_CONFIG_DIR".into(),
                    config_dir.display().to_string(),
                ),
                ("JUPYTER_PREFER_ENV_PATH".into(), "0".into()),
                // no ~/.local/etc/jupyter on the config path (nor user site-packages): a file
                // the workload writes there must not configure the next server
                ("PYTHONNOUSERSITE".into(), "1".into()),
                (
                    "JUPYTERLAB_SETTINGS_DIR".into(),
                    format!("{home}/.jupyter/lab/user-settings"),
                ),
                (
                    "JUPYTERLAB_WORKSPACES_DIR".into(),
                    format!("{home}/.jupyter/lab/workspaces"),
                ),
            ])
            .collect(),
        config_dir,
    }))
}
