//! The effects of the Jupyter plan: hash the password, render both config files with every
//! security key set explicitly, and write them where the workload cannot rewrite them.

use super::{secret, Auth, JupyterPlan, Settings};
use crate::error::{Error, Result};
use std::path::Path;

/// The config files (name, text) for `hashed` (empty: no password).
/// Password login with per-client backoff and a JSON event per failure (Python, loaded by
/// jupyter_server as configuration code from the root-owned config directory).
const THROTTLE: &str = include_str!("throttle.py");

/// The cookie secret's file name in the config directory.
pub const COOKIE_SECRET: &str = "jupyter_cookie_secret";

/// The config files (name, text) for `hashed` (empty: no password), the cookie secret in
/// `cookie_secret_file`. Every security key is written at the class scope AND nested under
/// `ServerApp` (traitlets lets a more specific section win even from a lower-priority
/// file), and the classes that decide authentication are pinned.
pub fn render(
    s: &Settings,
    hashed: &str,
    cookie_secret_file: &std::path::Path,
) -> Vec<(String, String)> {
    let required = !hashed.is_empty();
    let origin = &s.allow_origin;
    let root_s = s.root_dir.display().to_string();
    // Remote access (Host header not checked) only when the server listens beyond loopback.
    let remote = !matches!(s.ip.as_str(), "127.0.0.1" | "localhost" | "::1");
    // The login cookie: HttpOnly, SameSite=Lax; Secure under HTTPS; a lifetime if asked.
    let mut cookie = serde_json::json!({"samesite": "Lax", "httponly": true});
    if s.tls.is_some() {
        cookie["secure"] = serde_json::json!(true);
    }
    if let Some(t) = s.cookie_lifetime {
        cookie["max_age"] = serde_json::json!(t);
    }
    let identity = serde_json::json!({"token": "", "cookie_options": cookie});
    let password = serde_json::json!({
        "hashed_password": hashed,
        "password_required": required,
        "allow_password_change": false,
        "token": "",
        "cookie_options": cookie,
        "login_handler_class": "jupyter_server.auth.login.LoginFormHandler",
        "logout_handler_class": "jupyter_server.auth.logout.LogoutHandler",
    });
    // secure-init's provider logs in through its own handler (throttle.py: the password
    // check off the event loop), which that file registers as module `secure_init_jupyter`.
    let mut ours = password.clone();
    ours["login_handler_class"] = serde_json::json!("secure_init_jupyter.SecureInitLoginHandler");
    // What the current server (ServerApp) and Notebook 6 (NotebookApp) both read; for
    // ServerApp the 1.x spellings of token/password are deprecated but still honoured, so
    // they get the same values (a planted one is overridden, no difference is warned about).
    let common = serde_json::json!({
        "token": "",
        "password": hashed,
        "password_required": required,
        "allow_password_change": false,
        "disable_check_xsrf": false,
        "allow_origin": origin,
        "allow_origin_pat": "",
        "allow_root": false,
        "allow_remote_access": remote,
        "base_url": s.base_url,
        "ip": s.ip,
        "port": s.port,
        // never another port: secure-init holds this one for the server (a server that
        // cannot take it exits instead of listening unheld elsewhere)
        "port_retries": 0,
        "open_browser": false,
    });
    let with = |extra: serde_json::Value| {
        let mut m = common.clone();
        if let (Some(m), Some(e)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        m
    };
    let server = serde_json::json!({
        "IdentityProvider": identity,
        "PasswordIdentityProvider": password,
        "SecureInitPasswordIdentityProvider": ours,
        "ServerApp": with(serde_json::json!({
            "IdentityProvider": identity,
            "PasswordIdentityProvider": password,
            "SecureInitPasswordIdentityProvider": ours,
            "authorizer_class": "jupyter_server.auth.authorizer.AllowAllAuthorizer",
            "login_handler_class": "jupyter_server.auth.login.LoginHandler",
            "logout_handler_class": "jupyter_server.auth.logout.LogoutHandler",
            "tornado_settings": {},
            "cookie_secret_file": cookie_secret_file.display().to_string(),
            "root_dir": root_s,
        })),
    });
    let notebook = serde_json::json!({
        "NotebookApp": with(serde_json::json!({ "notebook_dir": root_s })),
    });
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let mut server = server;
    let app = &mut server["ServerApp"];
    app["terminals_enabled"] = serde_json::json!(s.terminals);
    // Jupyter's own log lines stay plain text on the same stderr as secure-init's JSON
    // events: the "[jupyter]" prefix keeps them apart (JSON lines start with "{").
    app["log_format"] =
        serde_json::json!("[jupyter] [%(levelname)1.1s %(asctime)s %(name)s] %(message)s");
    app["trust_xheaders"] = serde_json::json!(s.trust_xheaders);
    if let Some((cert, key)) = &s.tls {
        app["certfile"] = serde_json::json!(cert.display().to_string());
        app["keyfile"] = serde_json::json!(key.display().to_string());
    }
    if let Some(t) = s.idle_timeout {
        // idle kernels shut down (connected or not), checked every minute or sooner; the
        // server itself after as long without any activity
        server["MappingKernelManager"] = serde_json::json!({
            "cull_idle_timeout": t,
            "cull_interval": t.clamp(1, 60),
            "cull_connected": true,
            "cull_busy": false,
        });
        server["ServerApp"]["shutdown_no_activity_timeout"] = serde_json::json!(t);
    }
    vec![
        // the identity provider class (with login backoff) is pinned by this file, which
        // jupyter_server loads from the same directory just before the JSON
        ("jupyter_server_config.py".into(), THROTTLE.into()),
        ("jupyter_server_config.json".into(), pretty(&server)),
        ("jupyter_notebook_config.json".into(), pretty(&notebook)),
    ]
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> Error {
    let fix = if e.raw_os_error() == Some(libc::EPERM) {
        "the container lacks CAP_CHOWN (cap_drop: ALL?), which secure-init needs to hand this directory to the workload: add CHOWN to the container's capabilities (cap_add: [SETUID, SETGID, SETPCAP, KILL, CHOWN])"
    } else {
        "set SECURE_INIT_JUPYTER_CONFIG_DIR (--jupyter-config-dir) to a directory secure-init can create"
    };
    Error::hardening(format!(
        "jupyter config: cannot {what} {}: {e}; {fix}",
        p.display()
    ))
}

/// Hash the password (argon2, seconds of CPU), render the files and write them. As root:
/// into a root-owned directory (0555, files 0444) the workload cannot write, never following
/// symlinks, via temporary names and rename.
/// The plaintext is dropped (zeroized) once hashed: the plan keeps only the hash.
pub fn write(p: &mut JupyterPlan) -> Result<()> {
    let Some(settings) = &p.settings else {
        log::info!(target: "jupyter.auth", "JupyterHub single-user server (JUPYTERHUB_API_TOKEN set): authentication is left to the hub");
        return Ok(());
    };
    let hashed = match &p.auth {
        Auth::Password(pw, _) => secret::hash_password(pw.as_bytes())?,
        Auth::Hashed(h, _) => h.clone(),
        Auth::NoPassword | Auth::Hub => String::new(),
    };

    let dir = &p.config_dir;
    let mut secret = [0u8; 32];
    crate::sys::random_bytes(&mut secret)
        .map_err(|e| Error::internal(format!("getrandom: {e}")))?;
    let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut files = render(settings, &hashed, &dir.join(COOKIE_SECRET));
    // A fresh cookie secret at every start, root-owned: a secret the workload planted (in
    // the runtime dir it can write) never signs a cookie.
    files.push((COOKIE_SECRET.into(), secret_hex));
    // jupyter_core migrates an IPython 3 profile (~/.ipython, present once any kernel ran)
    // into the config dir at each start unless a `migrated` marker is there; in a directory
    // it cannot write, that migration fails and the server exits. A marker the workload
    // can read but not open for writing makes jupyter_core skip the migration.
    files.push(("migrated".into(), String::new()));
    let rd = crate::config_dir::ConfigDir {
        dir,
        what: "jupyter config",
        fix: "with a read-only root file system give /run/secure-init a tmpfs (docker run --read-only --tmpfs /run/secure-init; compose `tmpfs: [/run/secure-init]`; a Kubernetes emptyDir), or set SECURE_INIT_JUPYTER_CONFIG_DIR (--jupyter-config-dir) to a directory secure-init can create under a root-owned, non-writable one",
        protected: p.protected,
    };
    rd.open()?;
    for (name, text) in &files {
        let mode = if p.protected { 0o444 } else { 0o400 };
        rd.write(name, text.as_bytes(), mode, None)?;
    }
    rd.seal(if p.protected { 0o555 } else { 0o700 })?;
    if p.protected {
        log::info!(target: "jupyter.config", dir = dir.display().to_string().as_str(),
            checked_not_writable = format!("{:?}", p.checked_config_dirs).as_str(),
            neutralised = "user site (PYTHONNOUSERSITE=1), ~/.jupyter (JUPYTER_CONFIG_DIR), JUPYTER_CONFIG_PATH and JUPYTER_NO_CONFIG (removed)";
            "wrote Jupyter config (root-owned, read-only to the workload); the other config directories are not writable by it");
    } else {
        log::warn!(target: "jupyter.config", dir = dir.display().to_string().as_str();
            "wrote Jupyter config into a directory the workload owns (started non-root): the workload could rewrite it");
    }
    match &p.auth {
        Auth::NoPassword => log::warn!(target: "jupyter.auth",
            "Jupyter runs WITHOUT authentication (--jupyter-no-password): anyone who reaches the port controls the notebook"),
        Auth::Hashed(_, src) | Auth::Password(_, src) => {
            log::info!(target: "jupyter.auth", source = src.as_str();
            "Jupyter password login on, token login off")
        }
        Auth::Hub => {}
    }
    if let Some(r) = &p.runtime_dir {
        // Fresh at every start: what an earlier run left there (kernel connection files,
        // a cookie secret) is removed — taken back from the workload and emptied through
        // descriptors, with the documented capabilities (a restart inside a pod keeps
        // /run/secure-init) — and the directory made anew for the workload, inside the
        // root-owned parent.
        if std::fs::symlink_metadata(r).is_ok() {
            crate::identity::remove_workload_tree(r)
                .map_err(|e| io_err("remove the old runtime directory", r, e))?;
        }
        crate::identity::make_private_dir(r, p.owner.0, p.owner.1)
            .map_err(|e| io_err("create the runtime directory", r, e))?;
    }
    if let Auth::Password(_, src) = &p.auth {
        p.auth = Auth::Hashed(hashed, src.clone());
    }
    Ok(())
}
