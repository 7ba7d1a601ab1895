//! Jupyter: password intake from a secret, Jupyter-compatible argon2 hashing, and a config
//! with every security key set explicitly, written where the workload cannot rewrite it.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where Docker and Kubernetes put a secret named `jupyter_password`.
pub const DEFAULT_PASSWORD_FILE: &str = "/run/secrets/jupyter_password";
/// Jupyter's argon2 parameters (jupyter_server.auth.security.passwd).
pub const ARGON2_M_KIB: u32 = 10240;
pub const ARGON2_T: u32 = 10;
pub const ARGON2_P: u32 = 8;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `argon2:…` or `sha1:…`, with where it came from.
    Hashed(String, String),
    /// `--jupyter-no-password`: the operator chose an unauthenticated server.
    NoPassword,
    /// A JupyterHub-spawned single-user server: the hub authenticates.
    Hub,
}

#[derive(Debug, Clone)]
pub struct JupyterPlan {
    pub auth: Auth,
    pub is_server_command: bool,
    pub config_dir: PathBuf,
    /// Root-owned 0555 directory (true) or the workload's own 0700 one (non-root start).
    pub protected: bool,
    pub files: Vec<(String, String)>,
    pub env_set: Vec<(String, String)>,
}

/// Whether argv starts a Jupyter server (`jupyter lab|notebook|server`, `jupyter-lab`,
/// `python -m jupyter…`).
pub fn is_jupyter_server(argv: &[OsString]) -> bool {
    let s: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(first) = s.first() else { return false };
    let base = Path::new(first)
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let server_sub = |x: Option<&String>| {
        matches!(
            x.map(String::as_str),
            Some("lab" | "notebook" | "server" | "nbclassic" | "labhub" | "singleuser")
        )
    };
    if matches!(
        base.as_str(),
        "jupyter-lab"
            | "jupyter-notebook"
            | "jupyter-server"
            | "jupyter-nbclassic"
            | "jupyterhub-singleuser"
            | "jupyter-labhub"
    ) {
        return true;
    }
    if base == "jupyter" {
        return server_sub(s.get(1));
    }
    if base.starts_with("python") {
        if let Some(i) = s.iter().position(|a| a == "-m") {
            let m = s.get(i + 1).map(String::as_str).unwrap_or("");
            return match m {
                "jupyter" => server_sub(s.get(i + 2)),
                "jupyterlab"
                | "notebook"
                | "jupyter_server"
                | "nbclassic"
                | "jupyterhub.singleuser" => true,
                _ => false,
            };
        }
    }
    false
}

/// Security settings that must not be overridden on the command line.
fn overriding_flag(argv: &[OsString]) -> Option<String> {
    const KEYS: &[&str] = &[
        "token",
        "password",
        "disable_check_xsrf",
        "allow_origin",
        "allow_root",
        "identity_provider_class",
        "password_required",
        "allow_password_change",
        "allow_unauthenticated_access",
    ];
    argv.iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .find(|a| {
            let Some(flag) = a.strip_prefix("--") else {
                return false;
            };
            let key = flag.split('=').next().unwrap_or("").to_ascii_lowercase();
            let last = key.rsplit('.').next().unwrap_or("");
            KEYS.iter()
                .any(|k| last == *k || last == k.replace('_', "-"))
        })
}

/// Hash a password exactly as `jupyter_server.auth.passwd()` does: argon2id, m=10240 KiB,
/// t=10, p=8, 16-byte random salt, 32-byte output, `argon2:` + PHC string.
pub fn hash_password(password: &[u8]) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    crate::sys::random_bytes(&mut salt)
        .map_err(|e| Error::internal(format!("getrandom: {}", crate::sys::strerror(e))))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal(format!("salt: {e}")))?;
    let params = argon2::Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32))
        .map_err(|e| Error::internal(format!("argon2 params: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let h = a
        .hash_password(password, &salt)
        .map_err(|e| Error::internal(format!("argon2: {e}")))?;
    Ok(format!("argon2:{h}"))
}

/// Validate a pre-hashed password (`argon2:<PHC>` or `sha1:<salt>:<hex>`).
pub fn validate_hash(h: &str, source: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::config(format!(
            "{source}: {why}; give a hash from `secure-init hash-password` or jupyter_server.auth.passwd() (argon2:… or sha1:…)"
        ))
    };
    if let Some(phc) = h.strip_prefix("argon2:") {
        let p = argon2::password_hash::PasswordHash::new(phc)
            .map_err(|e| bad(&format!("not an argon2 PHC string ({e})")))?;
        if !p.algorithm.as_str().starts_with("argon2") {
            return Err(bad("the PHC string is not argon2"));
        }
        Ok(())
    } else if let Some(rest) = h.strip_prefix("sha1:") {
        let (salt, digest) = rest
            .split_once(':')
            .ok_or_else(|| bad("sha1 hashes look like sha1:SALT:HEX"))?;
        if salt.is_empty() || digest.len() != 40 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("sha1 hashes look like sha1:SALT:40-HEX-DIGITS"));
        }
        log::warn!(target: "jupyter.auth", "{source}: a sha1 password hash is weak; prefer argon2 (secure-init hash-password)");
        Ok(())
    } else {
        Err(bad("the hash must start with argon2: or sha1:"))
    }
}

/// Read a secret file, stripping one trailing newline.
fn read_secret(path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let raw = Zeroizing::new(std::fs::read(path).map_err(|e| {
        Error::config(format!(
            "{what} {}: cannot read: {e}; check the secret mount and its permissions",
            path.display()
        ))
    })?);
    let mut s = Zeroizing::new(
        String::from_utf8(raw.to_vec())
            .map_err(|_| Error::config(format!("{what} {}: not valid UTF-8", path.display())))?,
    );
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}

/// Whether `uid`/`groups` could read `path`: read permission on the file and search
/// permission on every directory above it (mode bits; ACLs are not consulted). Returns the
/// file's mode when readable.
fn readable_by(path: &Path, uid: u32, gid: u32, groups: &[u32]) -> Option<u32> {
    let abs = std::fs::canonicalize(path).ok()?;
    let md = std::fs::metadata(&abs).ok()?;
    if crate::identity::access_bits(&md, uid, gid, groups) & 4 == 0 {
        return None;
    }
    for dir in abs.ancestors().skip(1) {
        let d = std::fs::metadata(dir).ok()?;
        if crate::identity::access_bits(&d, uid, gid, groups) & 1 == 0 {
            return None;
        }
    }
    Some(md.mode() & 0o777)
}

pub struct Who<'a> {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [u32],
    pub home: &'a Path,
    pub started_as_root: bool,
}

/// Resolve the Jupyter part of the plan. `None` when there is nothing to configure.
pub fn plan(a: &JupyterArgs, argv: &[OsString], who: &Who) -> Result<Option<JupyterPlan>> {
    let is_server = is_jupyter_server(argv);
    let file = match &a.password_file {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(DEFAULT_PASSWORD_FILE)).filter(|p| p.exists()),
    };
    let env_pw: Option<Zeroizing<String>> = match std::env::var("JUPYTER_PASSWORD") {
        Ok(v) => Some(Zeroizing::new(v)),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            crate::sys::scrub_env_value("JUPYTER_PASSWORD");
            return Err(Error::config(
                "JUPYTER_PASSWORD is not valid UTF-8; set it to a UTF-8 password",
            ));
        }
    };
    // The plaintext must not linger in our own environment block either.
    crate::sys::scrub_env_value("JUPYTER_PASSWORD");
    let file_pw = match &file {
        Some(p) => {
            let pw = read_secret(p, "--jupyter-password-file")?;
            if let Some(mode) = readable_by(p, who.uid, who.gid, who.groups) {
                let msg = format!(
                    "--jupyter-password-file {}: readable by the workload (uid {}, mode {mode:04o}), which could read the plaintext password; make it readable by root only (chmod 600; compose secrets mode: 0400; Kubernetes secret defaultMode: 0400)",
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
            let h = read_secret(p, "--jupyter-hashed-password-file")?;
            validate_hash(
                &h,
                &format!("--jupyter-hashed-password-file {}", p.display()),
            )?;
            Some((h.to_string(), format!("{}", p.display())))
        }
        None => None,
    };
    let plain: Option<(Zeroizing<String>, String)> = match (file_pw, env_pw) {
        (Some(f), Some(e)) if *f != *e => {
            return Err(Error::config(format!(
                "the password in {} and JUPYTER_PASSWORD differ; give one of them",
                file.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )))
        }
        (Some(f), _) => Some((
            f,
            file.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        )),
        (None, Some(e)) => Some((e, "JUPYTER_PASSWORD".to_string())),
        (None, None) => None,
    };
    if plain.is_some() && hashed.is_some() {
        return Err(Error::config(
            "both a plaintext password and --jupyter-hashed-password-file were given; give one of them",
        ));
    }
    let auth = if let Some((pw, src)) = plain {
        if pw.is_empty() {
            return Err(Error::config(format!(
                "Jupyter password from {src} is empty; set a password of at least 8 characters"
            )));
        }
        if pw.chars().count() < 8 {
            return Err(Error::config(format!(
                "Jupyter password from {src} is shorter than 8 characters; use a longer one"
            )));
        }
        let h = hash_password(pw.as_bytes())?;
        Auth::Hashed(h, src)
    } else if let Some((h, src)) = hashed {
        Auth::Hashed(h, src)
    } else if is_server && std::env::var_os("JUPYTERHUB_API_TOKEN").is_some() {
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
        log::info!(target: "jupyter.auth", "JupyterHub single-user server (JUPYTERHUB_API_TOKEN set): authentication is left to the hub");
        return Ok(Some(JupyterPlan {
            auth,
            is_server_command: is_server,
            config_dir: PathBuf::new(),
            protected: false,
            files: vec![],
            env_set: vec![],
        }));
    }
    if let Some(flag) = overriding_flag(argv) {
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
    let canon = std::fs::canonicalize(&root).map_err(|e| {
        Error::config(format!(
            "--jupyter-root-dir {}: {e}; give an existing directory",
            root.display()
        ))
    })?;
    if !canon.is_dir() {
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
    let config_dir = a.config_dir.clone().unwrap_or_else(|| {
        if who.started_as_root {
            PathBuf::from("/run/secure-init/jupyter")
        } else {
            std::env::temp_dir().join(format!("secure-init-jupyter-{}", who.uid))
        }
    });
    let (hashed, required) = match &auth {
        Auth::Hashed(h, _) => (h.clone(), true),
        _ => (String::new(), false),
    };
    let origin = a.allow_origin.clone().unwrap_or_default();
    let root_s = canon.display().to_string();
    let server = serde_json::json!({
        "IdentityProvider": {"token": ""},
        "PasswordIdentityProvider": {
            "hashed_password": hashed,
            "password_required": required,
            "allow_password_change": false,
        },
        "ServerApp": {
            "disable_check_xsrf": false,
            "allow_origin": origin,
            "allow_origin_pat": "",
            "allow_root": false,
            "allow_remote_access": true,
            "root_dir": root_s,
            "base_url": a.base_url,
            "ip": a.ip,
            "port": a.port,
            "open_browser": false,
        },
    });
    let notebook = serde_json::json!({
        "NotebookApp": {
            "token": "",
            "password": hashed,
            "password_required": required,
            "allow_password_change": false,
            "disable_check_xsrf": false,
            "allow_origin": origin,
            "allow_origin_pat": "",
            "allow_root": false,
            "allow_remote_access": true,
            "notebook_dir": root_s,
            "base_url": a.base_url,
            "ip": a.ip,
            "port": a.port,
            "open_browser": false,
        },
    });
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let home = who.home.display().to_string();
    Ok(Some(JupyterPlan {
        auth,
        is_server_command: is_server,
        protected: who.started_as_root,
        files: vec![
            ("jupyter_server_config.json".into(), pretty(&server)),
            ("jupyter_notebook_config.json".into(), pretty(&notebook)),
        ],
        env_set: vec![
            (
                "JUPYTER_CONFIG_DIR".into(),
                config_dir.display().to_string(),
            ),
            ("JUPYTER_PREFER_ENV_PATH".into(), "0".into()),
            (
                "JUPYTERLAB_SETTINGS_DIR".into(),
                format!("{home}/.jupyter/lab/user-settings"),
            ),
            (
                "JUPYTERLAB_WORKSPACES_DIR".into(),
                format!("{home}/.jupyter/lab/workspaces"),
            ),
        ],
        config_dir,
    }))
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> Error {
    Error::hardening(format!(
        "jupyter config: cannot {what} {}: {e}; set --jupyter-config-dir to a directory secure-init can create",
        p.display()
    ))
}

/// Write the config files. As root: into a root-owned directory (0555, files 0444) the
/// workload cannot write, never following symlinks, via temporary names and rename.
pub fn write(p: &JupyterPlan) -> Result<()> {
    if p.files.is_empty() {
        return Ok(());
    }
    let dir = &p.config_dir;
    let me = crate::sys::getuid();
    match std::fs::symlink_metadata(dir) {
        Ok(md) => {
            if md.file_type().is_symlink() || !md.is_dir() {
                return Err(Error::hardening(format!(
                    "jupyter config: {} is not a plain directory (a symlink?); remove it",
                    dir.display()
                )));
            }
            if md.uid() != me || md.mode() & 0o022 != 0 {
                return Err(Error::hardening(format!(
                    "jupyter config: {} is owned by uid {} with mode {:04o}; it must be owned by uid {me} and not group/world-writable: remove it",
                    dir.display(),
                    md.uid(),
                    md.mode() & 0o7777
                )));
            }
        }
        Err(_) => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_err("create", parent, e))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(|e| io_err("create", dir, e))?;
        }
    }
    // A parent the workload could write would let it swap the directory out after start.
    if let Some(parent) = dir.parent() {
        let md = std::fs::metadata(parent).map_err(|e| io_err("inspect", parent, e))?;
        let sticky = md.mode() & 0o1000 != 0;
        if p.protected && !sticky && (md.uid() != 0 || md.mode() & 0o022 != 0) {
            return Err(Error::hardening(format!(
                "jupyter config: the parent {} of {} is writable by others (mode {:04o}, uid {}); use a --jupyter-config-dir under a root-owned, non-writable directory",
                parent.display(),
                dir.display(),
                md.mode() & 0o7777,
                md.uid()
            )));
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io_err("chmod", dir, e))?;
    for (name, text) in &p.files {
        let fin = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)
                .map_err(|e| io_err("create", &tmp, e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| io_err("write", &tmp, e))?;
            f.set_permissions(std::fs::Permissions::from_mode(if p.protected {
                0o444
            } else {
                0o400
            }))
            .map_err(|e| io_err("chmod", &tmp, e))?;
            f.sync_all().map_err(|e| io_err("sync", &tmp, e))?;
        }
        std::fs::rename(&tmp, &fin).map_err(|e| io_err("rename", &fin, e))?;
    }
    let mode = if p.protected { 0o555 } else { 0o700 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_err("chmod", dir, e))?;
    if p.protected {
        log::info!(target: "jupyter.config", dir = dir.display().to_string().as_str();
            "wrote Jupyter config (root-owned, read-only to the workload)");
    } else {
        log::warn!(target: "jupyter.config", dir = dir.display().to_string().as_str();
            "wrote Jupyter config into a directory the workload owns (started non-root): the workload could rewrite it");
    }
    match &p.auth {
        Auth::NoPassword => log::warn!(target: "jupyter.auth",
            "Jupyter runs WITHOUT authentication (--jupyter-no-password): anyone who reaches the port controls the notebook"),
        Auth::Hashed(_, src) => log::info!(target: "jupyter.auth", source = src.as_str();
            "Jupyter password login on, token login off"),
        Auth::Hub => {}
    }
    Ok(())
}

/// `secure-init healthcheck`: GET http://127.0.0.1:PORT/BASE/api, true on HTTP 200.
pub fn healthcheck(
    port: u16,
    base_url: &str,
    timeout: std::time::Duration,
) -> std::result::Result<(), String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let path = format!("{}/api", base_url.trim_end_matches('/'));
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: secure-init-healthcheck\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let _ = s.take(4096).read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!(
            "GET {path} answered {:?}",
            head.lines().next().unwrap_or("nothing")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn detects_jupyter_servers() {
        for a in [
            &["jupyter", "lab"][..],
            &["/opt/conda/bin/jupyter", "notebook", "--port=9999"],
            &["jupyter", "server"],
            &["jupyter-lab"],
            &["/usr/local/bin/jupyter-notebook"],
            &["python", "-m", "jupyter", "lab"],
            &["python3.11", "-m", "jupyterlab"],
            &["python3", "-m", "notebook"],
            &["python", "-u", "-m", "jupyter_server"],
        ] {
            assert!(is_jupyter_server(&argv(a)), "{a:?}");
        }
        for a in [
            &["jupyter", "nbconvert", "x.ipynb"][..],
            &["jupyter", "--version"],
            &["python", "train.py"],
            &["python", "-m", "torch.distributed.run"],
            &["bash"],
        ] {
            assert!(!is_jupyter_server(&argv(a)), "{a:?}");
        }
    }

    #[test]
    fn overriding_flags_are_found() {
        assert!(overriding_flag(&argv(&["jupyter", "lab", "--ServerApp.token=abc"])).is_some());
        assert!(overriding_flag(&argv(&["jupyter", "lab", "--NotebookApp.password=''"])).is_some());
        assert!(
            overriding_flag(&argv(&["jupyter", "lab", "--IdentityProvider.token", "x"])).is_some()
        );
        assert!(overriding_flag(&argv(&[
            "jupyter",
            "lab",
            "--ServerApp.disable_check_xsrf=True"
        ]))
        .is_some());
        assert!(overriding_flag(&argv(&["jupyter", "lab", "--allow-root"])).is_some());
        assert!(overriding_flag(&argv(&[
            "jupyter",
            "lab",
            "--port=8888",
            "--no-browser",
            "--ServerApp.base_url=/x/"
        ]))
        .is_none());
    }

    #[test]
    fn hash_format_is_jupyters() {
        let h = hash_password(b"correct horse battery").unwrap();
        assert!(
            h.starts_with("argon2:$argon2id$v=19$m=10240,t=10,p=8$"),
            "{h}"
        );
        validate_hash(&h, "test").unwrap();
        let h2 = hash_password(b"correct horse battery").unwrap();
        assert_ne!(h, h2, "random salt");
        // verifies with the argon2 crate
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let phc = PasswordHash::new(&h["argon2:".len()..]).unwrap();
        assert!(argon2::Argon2::default()
            .verify_password(b"correct horse battery", &phc)
            .is_ok());
        assert!(argon2::Argon2::default()
            .verify_password(b"wrong", &phc)
            .is_err());
    }

    #[test]
    fn hash_validation() {
        for bad in [
            "plain",
            "argon2:nonsense",
            "sha1:abc",
            "sha1:salt:xyz",
            "md5:aa",
        ] {
            assert_eq!(validate_hash(bad, "t").unwrap_err().code, 78, "{bad}");
        }
        validate_hash(
            "sha1:0123456789ab:0123456789abcdef0123456789abcdef01234567",
            "t",
        )
        .unwrap();
    }
}
