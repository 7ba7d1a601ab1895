//! Which commands are Jupyter servers, and which of their flags would override the
//! security settings secure-init writes.

use std::ffi::OsString;
use std::path::Path;

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

/// The last value a Jupyter command line gives one of `keys` (`--key V` or `--key=V`).
fn flag_value(argv: &[OsString], keys: &[&str]) -> Option<String> {
    let s: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut found = None;
    for (i, a) in s.iter().enumerate() {
        for key in keys {
            if a == key {
                found = s.get(i + 1).cloned().or(found);
            } else if let Some(v) = a.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
                found = Some(v.to_string());
            }
        }
    }
    found
}

/// The port a Jupyter command line sets (`--port N`, `--port=N`, `--ServerApp.port=N`,
/// `--NotebookApp.port=N`), if any.
pub fn port_flag(argv: &[OsString]) -> Option<u16> {
    flag_value(argv, &["--port", "--ServerApp.port", "--NotebookApp.port"])?
        .parse()
        .ok()
}

/// The address a Jupyter command line sets (`--ip`, `--ServerApp.ip`, `--NotebookApp.ip`),
/// if any: it wins over the config file, so it is the address the server listens on.
pub fn ip_flag(argv: &[OsString]) -> Option<String> {
    flag_value(argv, &["--ip", "--ServerApp.ip", "--NotebookApp.ip"])
}

/// Security settings that must not be overridden on the command line.
pub fn overriding_flag(argv: &[OsString]) -> Option<String> {
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
    fn the_command_lines_port_is_found() {
        assert_eq!(
            port_flag(&argv(&["jupyter", "lab", "--port", "9999"])),
            Some(9999)
        );
        assert_eq!(
            port_flag(&argv(&["jupyter", "lab", "--port=9998"])),
            Some(9998)
        );
        assert_eq!(
            port_flag(&argv(&["jupyter", "server", "--ServerApp.port=7"])),
            Some(7)
        );
        assert_eq!(port_flag(&argv(&["jupyter", "lab", "--no-browser"])), None);
        assert_eq!(
            ip_flag(&argv(&["jupyter", "lab", "--ip=127.0.0.1"])).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            ip_flag(&argv(&["jupyter", "lab", "--ServerApp.ip", "::1"])).as_deref(),
            Some("::1")
        );
        assert_eq!(ip_flag(&argv(&["jupyter", "lab", "--port=1"])), None);
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
}
