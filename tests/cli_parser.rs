//! The run path's own parser (`cli::parse_run`) against clap: wherever it answers, clap
//! gives the same options; wherever clap refuses or means something else (help, a
//! subcommand), it leaves the decision to clap. One test: it sets process variables.

use clap::{CommandFactory, FromArgMatches};
use secure_init::cli::{parse_run, Cli, Takes, RUN_OPTIONS};
use std::ffi::OsString;

fn clear_env() {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SECURE_INIT_") {
            std::env::remove_var(&k);
        }
    }
}

/// Parse with both; panic where the fast parser disagrees. Returns whether it answered.
fn both(args: &[OsString], env: &[(&str, &str)]) -> bool {
    clear_env();
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    let fast = parse_run(args, &|k| std::env::var_os(k));
    let clap = Cli::command()
        .try_get_matches_from(args)
        .ok()
        .and_then(|m| Cli::from_arg_matches(&m).ok());
    if let Some(f) = &fast {
        let c = clap.unwrap_or_else(|| {
            panic!("{args:?} {env:?}: clap refuses what the fast parser accepts")
        });
        assert!(c.sub.is_none(), "{args:?}: clap sees a subcommand");
        assert_eq!(format!("{f:?}"), format!("{:?}", c.run), "{args:?} {env:?}");
    }
    fast.is_some()
}

fn a(v: &[&str]) -> Vec<OsString> {
    std::iter::once("secure-init")
        .chain(v.iter().copied())
        .map(OsString::from)
        .collect()
}

#[test]
fn the_run_parser_agrees_with_clap() {
    // the table is clap's run options, each with its variable and kind
    let cmd = Cli::command();
    let mut from_clap = vec![];
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        let takes = match arg.get_action() {
            clap::ArgAction::SetTrue => Takes::Flag,
            clap::ArgAction::Append => Takes::List,
            clap::ArgAction::Set => Takes::One,
            other => panic!("--{long}: {other:?}"),
        };
        let env = arg
            .get_env()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        from_clap.push((long.to_string(), env, takes));
    }
    let ours: Vec<_> = RUN_OPTIONS
        .iter()
        .map(|o| (o.long.to_string(), o.var.to_string(), o.takes))
        .collect();
    let mut x = from_clap.clone();
    let mut y = ours.clone();
    x.sort_by(|p, q| p.0.cmp(&q.0));
    y.sort_by(|p, q| p.0.cmp(&q.0));
    assert_eq!(x, y);

    // the common starts take the fast path
    for (args, env) in [
        (a(&["--", "/bin/true"]), vec![]),
        (a(&["python", "-u", "train.py", "--lr", "3"]), vec![]),
        (
            a(&[
                "--user",
                "1001:1001",
                "--keep-cap",
                "NET_BIND_SERVICE",
                "--",
                "jupyter",
                "lab",
            ]),
            vec![],
        ),
        (
            a(&[
                "--seccomp=docker-default",
                "--audit",
                "strict",
                "--log-level",
                "debug",
                "--",
                "x",
            ]),
            vec![],
        ),
        (
            a(&["--", "jupyter", "lab"]),
            vec![
                ("SECURE_INIT_JUPYTER_PORT", "9999"),
                ("SECURE_INIT_LANDLOCK", "require"),
                ("SECURE_INIT_DRY_RUN", "1"),
            ],
        ),
        (
            a(&["--sshd", "--", "sleep", "1"]),
            vec![
                ("SECURE_INIT_WRITABLE", "/data,/scratch"),
                ("SECURE_INIT_SECCOMP_EVENTS", "off"),
            ],
        ),
    ] {
        assert!(both(&args, &env), "{args:?} {env:?}: not on the fast path");
    }

    // clap's: help, version, subcommands, unknown or short options, no command
    for args in [
        a(&[]),
        a(&["-h"]),
        a(&["--help"]),
        a(&["-V"]),
        a(&["--version"]),
        a(&["help"]),
        a(&["scan", "x.pt"]),
        a(&["profile", "show", "pytorch"]),
        a(&["audit"]),
        a(&["--user", "1", "scan", "x"]),
        a(&["--bogus", "--", "x"]),
        a(&["-u", "1", "--", "x"]),
        a(&["--user"]),
        a(&["--user", "--", "x"]),
        a(&["--exec=yes", "--", "x"]),
        a(&["--user", "1", "--user", "2", "--", "x"]),
        a(&["--"]),
    ] {
        assert!(!both(&args, &[]), "{args:?}: must be clap's");
    }
    // structure: where the command starts, what it keeps
    for args in [
        a(&["true"]),
        a(&["true", "--user", "x"]),
        a(&["true", "--", "x"]),
        a(&["--", "--user", "x"]),
        a(&["--", "-x"]),
        a(&["--", "scan"]),
        a(&["--", "--"]),
        a(&["--user", "5", "true", "-h"]),
        a(&["--keep-cap", "A", "--keep-cap", "B,C", "--", "x"]),
    ] {
        both(&args, &[]);
    }
    let mut raw = a(&["--"]);
    raw.push(<OsString as std::os::unix::ffi::OsStringExt>::from_vec(
        vec![0xff, b'x'],
    ));
    assert!(both(&raw, &[]));
    let mut raw = a(&["--user"]);
    raw.push(<OsString as std::os::unix::ffi::OsStringExt>::from_vec(
        vec![0xff],
    ));
    raw.push("--".into());
    raw.push("x".into());
    both(&raw, &[]);

    // every option, every kind of value, from the command line (both spellings), from its
    // variable, and both at once
    let values = [
        "1001",
        "0",
        "1",
        "65535",
        "65536",
        "4294967296",
        "-1",
        "+5",
        "01",
        " 5",
        "5 ",
        "abc",
        "ABC",
        "a,b",
        "a,,b",
        ",a",
        "a,",
        "",
        "x=y",
        "/tmp/x",
        "1001:1001",
        "best-effort",
        "enforce",
        "off",
        "on",
        "warn",
        "strict",
        "json",
        "text",
        "auto",
        "error",
        "debug",
        "info",
        "none",
        "require",
        "pytorch",
        "docker-default",
        "unconfined",
        "true",
        "false",
        "yes",
        "no",
        "Y",
        "N",
        "TRUE",
        "Off",
        "t",
        "f",
        "2",
        "-",
        "--x",
        "ünï",
    ];
    let mut fast = 0;
    for o in RUN_OPTIONS {
        let (name, var, takes) = (o.long, o.var, &o.takes);
        if *takes == Takes::Flag {
            assert!(
                both(&a(&[&format!("--{name}"), "--", "x"]), &[]),
                "--{name}"
            );
            both(
                &a(&[&format!("--{name}"), &format!("--{name}"), "--", "x"]),
                &[],
            );
            for v in values {
                fast += both(&a(&["--", "x"]), &[(var, v)]) as usize;
                both(&a(&[&format!("--{name}"), "--", "x"]), &[(var, v)]);
            }
            continue;
        }
        for v in values {
            fast += both(&a(&[&format!("--{name}"), v, "--", "x"]), &[]) as usize;
            fast += both(&a(&[&format!("--{name}={v}"), "--", "x"]), &[]) as usize;
            fast += both(&a(&["--", "x"]), &[(var, v)]) as usize;
            both(&a(&[&format!("--{name}"), v, "--", "x"]), &[(var, "1")]);
            both(&a(&[&format!("--{name}"), v, "x"]), &[(var, v)]);
            if *takes == Takes::List {
                both(
                    &a(&[
                        &format!("--{name}"),
                        v,
                        &format!("--{name}"),
                        "2",
                        "--",
                        "x",
                    ]),
                    &[],
                );
            }
        }
    }
    assert!(fast > 1000, "only {fast} cases took the fast path");
    clear_env();
}
