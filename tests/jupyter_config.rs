//! The Jupyter configuration secure-init writes, checked with a fake `jupyter`: every key,
//! read-only to the workload, fresh secrets at every start, and every refusal with its exit
//! code (password sources, an open notebook, bad settings, a config directory the workload
//! could write).

mod common;
use common::jupyter::*;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;

#[test]
fn passwd_check_accepts_secure_inits_hash() {
    let v = venv();
    let mut c = cmd(&["hash-password"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut ch = c.spawn().unwrap();
    use std::io::Write;
    ch.stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let o = ch.wait_with_output().unwrap();
    assert_code(&o, 0);
    let h = stdout(&o).trim().to_string();
    assert!(
        h.starts_with("argon2:$argon2id$v=19$m=10240,t=10,p=8$"),
        "{h}"
    );
    let o = std::process::Command::new(v.join("bin/python"))
        .args(["-c", "import sys; from jupyter_server.auth import passwd_check as c; print(c(sys.argv[1], sys.argv[2]), c(sys.argv[1], 'nope-nope-nope'))", &h, PASSWORD])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), "True False", "{}", stderr(&o));
}

#[test]
fn config_sets_every_key_and_is_read_only_to_the_workload() {
    let a = area();
    let o = run_fake(
        &a,
        &["--jupyter-allow-origin", "https://nb.example.com"],
        &[
            ("JUPYTER_PASSWORD", PASSWORD),
            ("JUPYTER_CONFIG_PATH", "/evil"),
            ("JUPYTER_TOKEN", "t0ken-abcdef"),
            // the default port, 8888 (the one test that binds it)
            ("SI_TEST_DEFAULT_PORT", "1"),
        ],
        &["lab"],
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(
        !out.contains("JUPYTER_CONFIG_PATH")
            && !out.contains("JUPYTER_TOKEN")
            && !out.contains("JUPYTER_PASSWORD"),
        "{out}"
    );
    assert!(out.contains("JUPYTERLAB_SETTINGS_DIR=") && out.contains("JUPYTERLAB_WORKSPACES_DIR="));
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(a.cfg.join("jupyter_server_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["IdentityProvider"]["token"], "");
    assert!(cfg["PasswordIdentityProvider"]["hashed_password"]
        .as_str()
        .unwrap()
        .starts_with("argon2:$argon2id$"));
    assert_eq!(cfg["PasswordIdentityProvider"]["password_required"], true);
    assert_eq!(
        cfg["PasswordIdentityProvider"]["allow_password_change"],
        false
    );
    assert_eq!(cfg["ServerApp"]["disable_check_xsrf"], false);
    assert_eq!(cfg["ServerApp"]["allow_origin"], "https://nb.example.com");
    assert_eq!(cfg["ServerApp"]["allow_root"], false);
    assert_eq!(cfg["ServerApp"]["open_browser"], false);
    assert_eq!(cfg["ServerApp"]["ip"], "0.0.0.0");
    assert_eq!(cfg["ServerApp"]["port"], 8888);
    assert_eq!(
        cfg["ServerApp"]["root_dir"],
        std::fs::canonicalize(&a.root).unwrap().to_str().unwrap()
    );
    let nb: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(a.cfg.join("jupyter_notebook_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(nb["NotebookApp"]["token"], "");
    assert_eq!(
        nb["NotebookApp"]["password"],
        cfg["PasswordIdentityProvider"]["hashed_password"]
    );
    let md = std::fs::metadata(&a.cfg).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o555);
    // the workload cannot rewrite or add config
    let script = format!(
        "echo x >> {d}/jupyter_server_config.json; echo rc1=$?; touch {d}/jupyter_server_config.py; echo rc2=$?; mv {d}/jupyter_server_config.json {d}/x; echo rc3=$?",
        d = a.cfg.display()
    );
    let o = output(cmd(&["--", "sh", "-c", &script]));
    let out = stdout(&o);
    assert!(out.contains("rc1=") && !out.contains("rc1=0"), "{out}");
    assert!(out.contains("rc2=") && !out.contains("rc2=0"), "{out}");
    assert!(out.contains("rc3=") && !out.contains("rc3=0"), "{out}");
}

#[test]
fn password_sources_and_refusals() {
    let a = area();
    let t = TempDir::root_only("pw");
    let good = t.path().join("good");
    std::fs::write(&good, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run_fake(
        &a,
        &["--jupyter-password-file", good.to_str().unwrap()],
        &[],
        &["lab"],
    );
    assert_code(&o, 0);
    // the same password in both places is fine; different ones are not
    let o = run_fake(
        &a,
        &["--jupyter-password-file", good.to_str().unwrap()],
        &[("JUPYTER_PASSWORD", PASSWORD)],
        &["lab"],
    );
    assert_code(&o, 0);
    let o = run_fake(
        &a,
        &["--jupyter-password-file", good.to_str().unwrap()],
        &[("JUPYTER_PASSWORD", "another-password-1")],
        &["lab"],
    );
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("differ"));
    // readable by the workload
    let open = t.path().join("open");
    std::fs::write(&open, PASSWORD).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run_fake(
        &a,
        &["--jupyter-password-file", open.to_str().unwrap()],
        &[],
        &["lab"],
    );
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("readable by the workload"));
    for (pw, want) in [
        ("", "empty"),
        ("short", "shorter than 8"),
        ("\n", "shorter than 8"),
    ] {
        let o = run_fake(&a, &[], &[("JUPYTER_PASSWORD", pw)], &["lab"]);
        assert_code(&o, 78);
        let m = fatal_msg(&o);
        assert!(m.contains(want), "{pw:?}: {m}");
    }
    let o = run_fake(
        &a,
        &["--jupyter-password-file", "/nonexistent/pw"],
        &[],
        &["lab"],
    );
    assert_code(&o, 78);
    // pre-hashed
    let hf = t.path().join("hash");
    std::fs::write(&hf, "argon2:$argon2id$v=19$m=10240,t=10,p=8$I9Cu6BvULrdmQIA6xAzc9g$xMm/o6EBRZJSW2c8nZHsjpORM8Dchgbj58iRSk18zTE\n").unwrap();
    let o = run_fake(
        &a,
        &["--jupyter-hashed-password-file", hf.to_str().unwrap()],
        &[],
        &["lab"],
    );
    assert_code(&o, 0);
    std::fs::write(&hf, "plaintext-not-a-hash").unwrap();
    let o = run_fake(
        &a,
        &["--jupyter-hashed-password-file", hf.to_str().unwrap()],
        &[],
        &["lab"],
    );
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("argon2:"));
}

#[test]
fn never_an_open_notebook() {
    let a = area();
    let o = run_fake(&a, &[], &[], &["lab"]);
    assert_code(&o, 78);
    let m = fatal_msg(&o);
    assert!(
        m.contains("without a password") && m.contains("/run/secrets/jupyter_password"),
        "{m}"
    );
    assert!(!stdout(&o).contains("ARGS"), "never started");
    // hub-spawned: the hub authenticates
    let o = run_fake(&a, &[], &[("JUPYTERHUB_API_TOKEN", "hubtoken")], &["lab"]);
    assert_code(&o, 0);
    // explicit operator choice: warned
    let o = run_fake(&a, &["--jupyter-no-password"], &[], &["lab"]);
    assert_code(&o, 0);
    assert!(events(&o, "jupyter.auth")
        .iter()
        .any(|e| e["level"] == "warn"
            && e["msg"]
                .as_str()
                .unwrap()
                .contains("WITHOUT authentication")));
    // not a Jupyter server: nothing to do
    let o = run_fake(&a, &[], &[], &["nbconvert", "--to", "html", "x.ipynb"]);
    assert_code(&o, 0);
}

#[test]
fn bad_jupyter_settings_are_78() {
    let a = area();
    let cases: Vec<(Vec<&str>, Vec<&str>, &str)> = vec![
        (vec!["--jupyter-allow-origin", "*"], vec!["lab"], "'*'"),
        (
            vec![],
            vec!["lab", "--ServerApp.token=abc"],
            "--ServerApp.token=abc",
        ),
        (
            vec![],
            vec!["lab", "--NotebookApp.disable_check_xsrf=True"],
            "disable_check_xsrf",
        ),
    ];
    for (extra, cl, want) in cases {
        let o = run_fake(&a, &extra, &[("JUPYTER_PASSWORD", PASSWORD)], &cl);
        assert_code(&o, 78);
        assert!(fatal_msg(&o).contains(want), "{want}");
    }
    for root in ["/", "/home", "/etc", "/proc", "/nonexistent-dir"] {
        let t = TempDir::new("fj");
        let j = fake_jupyter(&t);
        let cfg = a.cfg.to_str().unwrap();
        let mut c = cmd(&[
            "--jupyter-root-dir",
            root,
            "--jupyter-config-dir",
            cfg,
            "--",
            &j,
            "lab",
        ]);
        c.env("JUPYTER_PASSWORD", PASSWORD);
        let o = output(c);
        assert_code(&o, 78);
        assert!(fatal_msg(&o).contains("--jupyter-root-dir"));
    }
    let o = output(cmd(&["--jupyter-port", "99999", "--", "true"]));
    assert_code(&o, 64);
}

#[test]
fn a_secret_behind_an_unsearchable_directory_is_accepted() {
    // the file is 0644, but its directory is root-only: the workload cannot reach it
    let a = area();
    let t = TempDir::root_only("pwdir");
    let d = t.path().join("secrets");
    std::fs::create_dir(&d).unwrap();
    let f = d.join("jupyter_password");
    std::fs::write(&f, PASSWORD).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = run_fake(
        &a,
        &["--jupyter-password-file", f.to_str().unwrap()],
        &[],
        &["lab"],
    );
    assert_code(&o, 0);
    // opening the directory makes the same file readable: refused
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = run_fake(
        &a,
        &["--jupyter-password-file", f.to_str().unwrap()],
        &[],
        &["lab"],
    );
    assert_code(&o, 78);
}

#[test]
fn a_used_home_does_not_stop_the_next_start() {
    // Once a kernel has run, ~/.ipython exists and jupyter_core tries to migrate it into
    // the (read-only) config dir at every start: the server must still come up.
    let a = area();
    let ipython = a.root.join(".ipython-used");
    std::fs::create_dir_all(ipython.join("profile_default")).unwrap();
    std::fs::write(
        ipython.join("profile_default/ipython_config.py"),
        "# used\n",
    )
    .unwrap();
    let port = free_port();
    let args = server_args(&a, port, &[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env("JUPYTER_PASSWORD", PASSWORD)
        .env("IPYTHONDIR", &ipython);
    let mut child = spawn_server(c, port);
    let init = child.id();
    let _guard = KillOnDrop(first_child(init).into_iter().chain([init]).collect());
    let m = std::fs::metadata(a.cfg.join("migrated")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o444);
    kill(init, 15);
    let _ = wait_timeout(&mut child, 30);
}

#[test]
fn a_config_directory_the_workload_could_write_is_refused() {
    // Jupyter installed into a prefix whose etc/jupyter the workload owns: a notebook could
    // plant server config (a token, an extension) for the next start.
    let prefix = PathBuf::from(format!(
        "/srv/secure-init-jup-prefix-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&prefix);
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(prefix.join("etc/jupyter")).unwrap();
    let exe = prefix.join("bin/jupyter");
    std::fs::write(&exe, "#!/bin/sh\necho STARTED\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let a = area();
    let run = || {
        let mut args = jargs(&a);
        args.extend(["--".into(), exe.to_str().unwrap().into(), "lab".into()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = cmd(&argv);
        c.env("JUPYTER_PASSWORD", PASSWORD);
        output(c)
    };
    // root-owned: starts
    let o = run();
    assert_code(&o, 0);
    assert!(stdout(&o).contains("STARTED"));
    // the workload owns etc/jupyter: refused, never started
    std::os::unix::fs::chown(prefix.join("etc/jupyter"), Some(1001), Some(1001)).unwrap();
    let o = run();
    assert_code(&o, 78);
    assert!(!stdout(&o).contains("STARTED"));
    let m = fatal_msg(&o);
    assert!(
        m.contains("etc/jupyter") && m.contains("configure the next server"),
        "{m}"
    );
    // missing, but the workload could create it
    std::fs::remove_dir_all(prefix.join("etc/jupyter")).unwrap();
    std::os::unix::fs::chown(prefix.join("etc"), Some(1001), Some(1001)).unwrap();
    let o = run();
    assert_code(&o, 78);
    let _ = std::fs::remove_dir_all(&prefix);
}

#[test]
fn every_start_gets_a_fresh_root_owned_cookie_secret() {
    let a = area();
    let mut args = jargs(&a);
    args.extend(["--".into(), "jupyter".into(), "lab".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let secret = || {
        let mut c = cmd(&argv);
        c.env("JUPYTER_PASSWORD", PASSWORD)
            .env("PATH", "/usr/bin:/bin"); // `jupyter` not found: the config is written first
        let _ = output(c);
        let p = a.cfg.join("jupyter_cookie_secret");
        let md = std::fs::metadata(&p).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((md.uid(), md.mode() & 0o777), (0, 0o444));
        std::fs::read_to_string(&p).unwrap()
    };
    let s1 = secret();
    // the runtime directory is the workload's, outside HOME, and fresh at every start
    let runtime = a.cfg.with_file_name("jupyter-runtime");
    let md = std::fs::metadata(&runtime).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((md.uid(), md.mode() & 0o777), (1001, 0o700));
    std::fs::write(runtime.join("jupyter_cookie_secret"), "planted").unwrap();
    let s2 = secret();
    assert!(
        !runtime.join("jupyter_cookie_secret").exists(),
        "an earlier run's files are gone"
    );
    assert_eq!(s1.len(), 64);
    assert_ne!(s1, s2, "fresh at every start");
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(a.cfg.join("jupyter_server_config.json")).unwrap(),
    )
    .unwrap();
    let app = &cfg["ServerApp"];
    assert_eq!(
        app["cookie_secret_file"],
        a.cfg.join("jupyter_cookie_secret").to_str().unwrap()
    );
    // the security keys also at the most specific scope, the classes pinned
    assert_eq!(app["PasswordIdentityProvider"]["token"], "");
    assert!(app["PasswordIdentityProvider"]["hashed_password"]
        .as_str()
        .unwrap()
        .starts_with("argon2:"));
    assert_eq!(app["IdentityProvider"]["token"], "");
    let py = std::fs::read_to_string(a.cfg.join("jupyter_server_config.py")).unwrap();
    assert!(py.contains("c.ServerApp.identity_provider_class = SecureInitPasswordIdentityProvider"));
    assert_eq!(
        app["authorizer_class"],
        "jupyter_server.auth.authorizer.AllowAllAuthorizer"
    );
    assert_eq!(app["tornado_settings"], serde_json::json!({}));
}

#[test]
fn the_held_port_is_where_the_server_listens_the_command_lines_ip_included() {
    // the server gets a socket secure-init bound before it started: at --jupyter-ip, or at
    // the command line's --ip, which wins over the config as it does in Jupyter — a server
    // asked for loopback must never be handed a socket on every address
    let a = area();
    // (the local address of the socket on descriptor 3, from the kernel's TCP tables)
    let held = |o: &std::process::Output| -> String {
        let out = stdout(o);
        let inode = out
            .lines()
            .find_map(|l| l.strip_prefix("FD3 socket:["))
            .and_then(|r| r.split(']').next())
            .unwrap_or_else(|| panic!("no socket on descriptor 3:\n{out}"))
            .to_string();
        let line = out
            .lines()
            .filter_map(|l| l.strip_prefix("TCP "))
            .find(|l| l.split_whitespace().nth(9) == Some(inode.as_str()))
            .unwrap_or_else(|| panic!("socket {inode} not in the TCP tables:\n{out}"));
        line.split_whitespace().nth(1).unwrap().to_string()
    };
    let port = free_port();
    let hex = format!("{port:04X}");
    let o = run_fake(
        &a,
        &[],
        &[("JUPYTER_PASSWORD", PASSWORD)],
        &["lab", "--ip=127.0.0.1", &format!("--port={port}")],
    );
    assert_code(&o, 0);
    assert!(stdout(&o).contains("LISTEN_FDS=1"), "{}", stdout(&o));
    assert_eq!(held(&o), format!("0100007F:{hex}"), "127.0.0.1:{port}");
    // the default, 0.0.0.0: the dual-stack wildcard
    let port = free_port();
    let hex = format!("{port:04X}");
    let o = run_fake(
        &a,
        &["--jupyter-port", &port.to_string()],
        &[("JUPYTER_PASSWORD", PASSWORD)],
        &["lab"],
    );
    assert_code(&o, 0);
    assert_eq!(
        held(&o),
        format!("00000000000000000000000000000000:{hex}"),
        "[::]:{port}"
    );
}
