//! SSH, run the way the seed hardens it: OpenSSH's sshd as the workload user (no root, no
//! privilege separation: it can only log in as itself), key-only, with a config and the
//! authorized keys in a root-owned directory the workload cannot change.
//!
//! - this module: the sshd part of the plan (pure: facts in, plan out) — is sshd the
//!   command or a companion (`--sshd`), which flags are refused, the keys, the version;
//! - [`keys`]: authorized keys and host keys, read and checked without running anything;
//! - [`config`]: render `sshd_config` (pure) and write the directory (the effects);
//! - [`events`]: sshd's log lines on stderr turned into login events.

pub mod config;
pub mod events;
pub mod keys;

use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::searchpath::{writable_reason, Workload};
use keys::AuthorizedKey;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The root-owned directory for the config, keys and host key (started as root).
pub const DEFAULT_DIR: &str = "/run/secure-init/sshd";
/// Where sshd is looked for when `--sshd` is given, after PATH.
const SSHD_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"];
/// sshd flags a command line may carry: foreground, log to stderr, debug, quiet, IPv4/6.
/// Everything else (`-o`, `-f`, `-h`, `-p`, `-c`, `-E`, …) would override what secure-init
/// configured.
const ALLOWED_FLAGS: &[char] = &['D', 'e', 'd', 'q', '4', '6'];
/// sshd flags that take a value (for the error message).
const VALUE_FLAGS: &[char] = &['C', 'c', 'E', 'f', 'g', 'h', 'k', 'O', 'o', 'p', 'u'];

#[derive(Debug, Clone)]
pub struct SshdArgs {
    /// `--sshd`: run sshd alongside the command.
    pub alongside: bool,
    pub port: u16,
    pub authorized_keys_file: PathBuf,
    pub host_key_file: Option<PathBuf>,
    pub allow_forwarding: bool,
    pub allow_rsa: bool,
    pub config_dir: Option<PathBuf>,
}

impl From<&crate::cli::RunArgs> for SshdArgs {
    /// `--sshd` and the `--sshd-*` options.
    fn from(a: &crate::cli::RunArgs) -> SshdArgs {
        SshdArgs {
            alongside: a.sshd,
            port: a.sshd_port,
            authorized_keys_file: a.sshd_authorized_keys_file.clone(),
            host_key_file: a.sshd_host_key_file.clone(),
            allow_forwarding: a.sshd_allow_forwarding,
            allow_rsa: a.sshd_allow_rsa,
            config_dir: a.sshd_config_dir.clone(),
        }
    }
}

/// The host key: made at every start (default) or copied from a file.
#[derive(Clone)]
pub enum HostKey {
    /// `ssh-keygen -t ed25519` (this binary) writes a new key at every start.
    Generate { keygen: PathBuf },
    /// A key from `--sshd-host-key-file` (unencrypted Ed25519), with its fingerprint.
    File {
        source: PathBuf,
        pem: Zeroizing<String>,
        fingerprint: String,
    },
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostKey::Generate { keygen } => write!(f, "generate with {}", keygen.display()),
            HostKey::File {
                source,
                fingerprint,
                ..
            } => write!(f, "{} ({fingerprint})", source.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SshdPlan {
    /// sshd is the command itself (else it runs alongside it, `--sshd`).
    pub as_command: bool,
    /// The sshd binary (absolute: sshd re-executes itself for every connection).
    pub binary: PathBuf,
    /// What runs: the binary, the operator's allowed flags, `-D -e -f CONFIG`.
    pub argv: Vec<OsString>,
    /// OpenSSH's version, read from the binary (None: not found in it).
    pub version: Option<(u32, u32)>,
    pub port: u16,
    /// The one user who may log in (the workload's), and its ids.
    pub user: String,
    pub owner: (u32, u32),
    pub keys: Vec<AuthorizedKey>,
    pub keys_source: PathBuf,
    pub host_key: HostKey,
    pub dir: PathBuf,
    /// The directory is root's (started as root): the workload cannot change it.
    pub protected: bool,
    pub allow_forwarding: bool,
    pub allow_rsa: bool,
}

impl SshdPlan {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(config::CONFIG)
    }

    /// For the dry run.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "as_command": self.as_command,
            "binary": self.binary,
            "argv": self.argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "openssh_version": self.version.map(|(a, b)| format!("{a}.{b}")),
            "port": self.port,
            "allow_users": self.user,
            "authorized_keys": self.keys.iter().map(|k| serde_json::json!({
                "type": k.key_type, "fingerprint": k.fingerprint, "comment": k.comment})).collect::<Vec<_>>(),
            "authorized_keys_source": self.keys_source,
            "host_key": format!("{:?}", self.host_key),
            "dir": self.dir,
            "protected": self.protected,
            "allow_forwarding": self.allow_forwarding,
            "allow_rsa": self.allow_rsa,
            "per_source_penalties": config::has_per_source_penalties(self.version),
        })
    }
}

/// Whether argv runs sshd (`sshd`, `/usr/sbin/sshd`, any path ending in `/sshd`).
pub fn is_sshd(argv: &[OsString]) -> bool {
    argv.first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|b| b == "sshd")
}

/// The operator's sshd flags: only [`ALLOWED_FLAGS`], each alone or bundled (`-De`).
fn check_flags(args: &[OsString]) -> Result<Vec<OsString>> {
    let mut out = vec![];
    for a in args {
        let s = a.to_string_lossy();
        let Some(flags) = s.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(Error::config(format!(
                "sshd argument {s:?}: sshd takes no operands; remove it"
            )));
        };
        for c in flags.chars() {
            if !ALLOWED_FLAGS.contains(&c) {
                let what = if VALUE_FLAGS.contains(&c) {
                    "would override the hardened configuration secure-init writes"
                } else {
                    "is not supported under secure-init"
                };
                let fix = match c {
                    'p' => "use --sshd-port",
                    'h' => "use --sshd-host-key-file",
                    'f' | 'o' => {
                        "secure-init writes the whole config; open an issue if a setting is missing"
                    }
                    _ => "remove it",
                };
                return Err(Error::config(format!(
                    "sshd flag -{c} (in {s:?}) {what}; {fix}. Allowed: -D -e -d -q -4 -6"
                )));
            }
        }
        out.push(a.clone());
    }
    Ok(out)
}

/// OpenSSH's version from the bytes of the sshd binary (`OpenSSH_9.2`), without running it
/// (as root, a binary is run only once it is known the workload cannot have changed it;
/// reading needs no such trust).
pub fn version_in(binary: &[u8]) -> Option<(u32, u32)> {
    let pat = b"OpenSSH_";
    let mut i = 0;
    while let Some(off) = binary[i..].windows(pat.len()).position(|w| w == pat) {
        let at = i + off + pat.len();
        let rest = &binary[at..binary.len().min(at + 8)];
        let txt: String = rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .map(|b| *b as char)
            .collect();
        let mut it = txt.split('.');
        if let (Some(Ok(a)), Some(Ok(b))) = (
            it.next().map(str::parse::<u32>),
            it.next().map(str::parse::<u32>),
        ) {
            return Some((a, b));
        }
        i = at;
    }
    None
}

/// The first existing regular file named `name` in `dirs`.
fn find_in(facts: &Facts, name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_absolute() && facts.fs.meta(p).is_some_and(|m| m.is_file))
}

fn path_dirs(facts: &Facts) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = facts
        .var_str("PATH")
        .unwrap_or("")
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    dirs.extend(SSHD_DIRS.iter().map(PathBuf::from));
    dirs
}

/// The user sshd runs as (and logins become), and the facts about it the plan needs.
pub struct LoginUser<'a> {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [u32],
    pub user_name: Option<&'a str>,
    pub started_as_root: bool,
}

/// The sshd part of the plan, or None when sshd is not involved.
pub fn plan(
    a: &SshdArgs,
    argv: &[OsString],
    who: &LoginUser,
    facts: &Facts,
) -> Result<Option<SshdPlan>> {
    let as_command = is_sshd(argv);
    if !as_command && !a.alongside {
        return Ok(None);
    }
    if as_command && a.alongside {
        return Err(Error::usage(
            "--sshd runs sshd alongside the command, but the command is sshd already; drop --sshd",
        ));
    }
    let fs = facts.fs.as_ref();
    let work = Workload {
        uid: who.uid,
        gid: who.gid,
        groups: who.groups,
    };
    let what = if as_command { "the command" } else { "--sshd" };
    // The binary: absolute, and out of the workload's reach (a replaced sshd would accept
    // any key at the next start).
    let binary = if as_command {
        let first = PathBuf::from(&argv[0]);
        if first.is_absolute() {
            Some(first).filter(|p| fs.meta(p).is_some_and(|m| m.is_file))
        } else if first.components().count() > 1 {
            return Err(Error::config(format!(
                "the command {}: give sshd's absolute path (sshd re-executes itself for every connection), e.g. /usr/sbin/sshd",
                first.display()
            )));
        } else {
            find_in(facts, "sshd", &path_dirs(facts))
        }
    } else {
        find_in(facts, "sshd", &path_dirs(facts))
    };
    let Some(binary) = binary else {
        return Err(Error::config(format!(
            "{what}: sshd is not installed (looked in PATH and {}); install openssh-server in the image (the Dockerfile's SSHD=1 build argument)",
            SSHD_DIRS.join(", ")
        )));
    };
    let binary = fs.canonicalize(&binary).unwrap_or(binary);
    if who.started_as_root {
        if let Some(why) = writable_reason(fs, &binary, &work) {
            return Err(Error::config(format!(
                "{what}: the sshd binary {} can be changed by the workload (uid {}): {why}; install sshd root-owned and not writable by the workload",
                binary.display(),
                who.uid
            )));
        }
    }
    let version = fs.read(&binary).ok().and_then(|b| version_in(&b));
    let Some(user) = who.user_name else {
        return Err(Error::config(format!(
            "{what}: sshd logs users in by name, and uid {} has no /etc/passwd entry; add one in the image (useradd -u {} -m aiuser) or pass --user NAME",
            who.uid, who.uid
        )));
    };
    if who.uid == 0 {
        return Err(Error::config(format!(
            "{what}: sshd would run as root and let root log in; run the workload as an unprivileged --user"
        )));
    }

    // The operator's flags, then ours.
    let mut out_argv = vec![binary.clone().into_os_string()];
    if as_command {
        out_argv.extend(check_flags(&argv[1..])?);
    }

    let dir = match (&a.config_dir, who.started_as_root) {
        (Some(d), _) => d.clone(),
        (None, true) => PathBuf::from(DEFAULT_DIR),
        (None, false) => {
            return Err(Error::config(format!(
                "{what}: secure-init was started non-root, so it cannot write an sshd config the workload cannot change (the workload could add its own keys); start the container as root, or pass --sshd-config-dir to accept that"
            )))
        }
    };
    if !dir.is_absolute() {
        return Err(Error::config(format!(
            "--sshd-config-dir {}: give an absolute path",
            dir.display()
        )));
    }

    // Authorized keys, from a secret the workload can neither read nor change.
    let src = &a.authorized_keys_file;
    let text = secret_file(
        facts,
        src,
        "--sshd-authorized-keys-file",
        "a file with one `ssh-ed25519 AAAA…` line per key",
        who,
    )?;
    let text = String::from_utf8_lossy(text.as_bytes()).into_owned();
    let keys = keys::parse_authorized_keys(
        &text,
        &format!("--sshd-authorized-keys-file {}", src.display()),
        a.allow_rsa,
    )?;
    if keys.is_empty() {
        return Err(Error::config(format!(
            "--sshd-authorized-keys-file {}: no keys; put the public keys allowed to log in there (one `ssh-ed25519 AAAA…` line each)",
            src.display()
        )));
    }

    let host_key = match &a.host_key_file {
        Some(p) => {
            let pem = secret_file(
                facts,
                p,
                "--sshd-host-key-file",
                "an Ed25519 OpenSSH private key",
                who,
            )?;
            let (_, fingerprint) =
                keys::host_key_info(&pem, &format!("--sshd-host-key-file {}", p.display()))?;
            HostKey::File {
                source: p.clone(),
                pem,
                fingerprint,
            }
        }
        None => {
            let Some(keygen) = binary
                .parent()
                .and_then(Path::parent)
                .map(|usr| usr.join("bin/ssh-keygen"))
                .filter(|p| fs.meta(p).is_some_and(|m| m.is_file))
                .or_else(|| find_in(facts, "ssh-keygen", &path_dirs(facts)))
            else {
                return Err(Error::config(format!(
                    "{what}: ssh-keygen (openssh-client) is not installed, so no host key can be made; install it, or give --sshd-host-key-file"
                )));
            };
            let keygen = fs.canonicalize(&keygen).unwrap_or(keygen);
            // run as root at start: must be out of the workload's reach
            if let Some(why) = writable_reason(fs, &keygen, &work) {
                return Err(Error::config(format!(
                    "{what}: {} can be changed by the workload (uid {}): {why}; secure-init runs it as root to make the host key, so install it root-owned, or give --sshd-host-key-file",
                    keygen.display(),
                    who.uid
                )));
            }
            HostKey::Generate { keygen }
        }
    };

    let plan = SshdPlan {
        as_command,
        binary,
        argv: vec![],
        version,
        port: a.port,
        user: user.to_string(),
        owner: (who.uid, who.gid),
        keys,
        keys_source: src.clone(),
        host_key,
        dir,
        protected: who.started_as_root,
        allow_forwarding: a.allow_forwarding,
        allow_rsa: a.allow_rsa,
    };
    let has = |c: char| {
        out_argv[1..].iter().any(|x| {
            let s = x.to_string_lossy();
            s.starts_with('-') && s.contains(c)
        })
    };
    let (d, e) = (has('D') || has('d'), has('e'));
    if !d {
        out_argv.push("-D".into()); // stay in the foreground: secure-init supervises it
    }
    if !e {
        out_argv.push("-e".into()); // log to stderr: secure-init turns it into events
    }
    out_argv.push("-f".into());
    out_argv.push(plan.config_path().into_os_string());
    Ok(Some(SshdPlan {
        argv: out_argv,
        ..plan
    }))
}

/// Read a secret file (authorized keys, a host key): it must exist and neither be readable
/// nor changeable by the workload (when started as root).
fn secret_file(
    facts: &Facts,
    p: &Path,
    flag: &str,
    what: &str,
    who: &LoginUser,
) -> Result<Zeroizing<String>> {
    let fs = facts.fs.as_ref();
    if !fs.meta(p).is_some_and(|m| m.is_file) {
        return Err(Error::config(format!(
            "{flag} {}: no such file; mount {what} there (a Docker or Kubernetes secret) or point {flag} at it",
            p.display()
        )));
    }
    let work = Workload {
        uid: who.uid,
        gid: who.gid,
        groups: who.groups,
    };
    let cwd = facts.cwd.as_deref().unwrap_or(Path::new("/"));
    let text = crate::secretfile::read_secret(fs, p, flag, &work, who.started_as_root, cwd)?;
    if who.started_as_root {
        if let Some(mode) = crate::secretfile::readable_by(fs, p, who.uid, who.gid, who.groups) {
            return Err(Error::config(format!(
                "{flag} {}: readable by the workload (uid {}, mode {mode:04o}); make it readable by root only: chmod 600 on the host, or a Kubernetes secret with defaultMode: 0400",
                p.display(),
                who.uid
            )));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fake::{self, FakeFs};

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDJkbBDdatOhZOEriZpKIv9mkbkTYNc12ADnJnRwSAuH alice@laptop\n";

    fn args() -> SshdArgs {
        SshdArgs {
            alongside: false,
            port: 2222,
            authorized_keys_file: crate::cli::default_of("sshd-authorized-keys-file")
                .unwrap()
                .into(),
            host_key_file: None,
            allow_forwarding: false,
            allow_rsa: false,
            config_dir: None,
        }
    }

    fn who() -> LoginUser<'static> {
        LoginUser {
            uid: 1001,
            gid: 1001,
            groups: &[],
            user_name: Some("aiuser"),
            started_as_root: true,
        }
    }

    fn facts(keys_mode: u32, sshd_owner: u32) -> Facts {
        let fs = FakeFs::default()
            .dir("/", 0, 0o755)
            .dir("/usr", 0, 0o755)
            .dir("/usr/sbin", 0, 0o755)
            .dir("/usr/bin", 0, 0o755)
            .file(
                "/usr/sbin/sshd",
                sshd_owner,
                0o755,
                b"\0OpenSSH_9.2p1 Debian\0",
            )
            .file("/usr/bin/ssh-keygen", 0, 0o755, b"")
            .dir("/run", 0, 0o755)
            .dir("/run/secrets", 0, 0o755)
            .file(
                "/run/secrets/ssh_authorized_keys",
                0,
                keys_mode,
                KEY.as_bytes(),
            );
        let mut f = fake::root_pid1();
        f.fs = Box::new(fs);
        f
    }

    fn argv(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn sshd_as_the_command_gets_the_config_and_keeps_allowed_flags() {
        let p = plan(&args(), &argv(&["sshd", "-De"]), &who(), &facts(0o400, 0))
            .unwrap()
            .unwrap();
        assert!(p.as_command);
        assert_eq!(p.version, Some((9, 2)));
        let a: Vec<String> = p.argv.iter().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(
            a,
            [
                "/usr/sbin/sshd",
                "-De",
                "-f",
                "/run/secure-init/sshd/sshd_config"
            ]
        );
        assert_eq!(p.keys.len(), 1);
        assert!(matches!(p.host_key, HostKey::Generate { .. }));
        // not sshd, no --sshd: nothing
        assert!(plan(&args(), &argv(&["python"]), &who(), &facts(0o400, 0))
            .unwrap()
            .is_none());
    }

    #[test]
    fn overriding_flags_are_refused() {
        for bad in [
            &["sshd", "-D", "-o", "PasswordAuthentication=yes"][..],
            &["sshd", "-f", "/tmp/other"],
            &["sshd", "-Dp", "22"],
            &["sshd", "-h", "/tmp/key"],
            &["sshd", "-E", "/tmp/log"],
        ] {
            let e = plan(&args(), &argv(bad), &who(), &facts(0o400, 0)).unwrap_err();
            assert_eq!(e.code(), 78, "{bad:?}");
            assert!(e.msg.contains("sshd flag -"), "{}", e.msg);
        }
    }

    #[test]
    fn keys_the_workload_could_read_or_change_and_missing_pieces_are_refused() {
        let e = plan(&args(), &argv(&["sshd"]), &who(), &facts(0o444, 0)).unwrap_err();
        assert!(e.msg.contains("readable by the workload"), "{}", e.msg);
        let e = plan(&args(), &argv(&["sshd"]), &who(), &facts(0o666, 0)).unwrap_err();
        assert!(e.msg.contains("may write it"), "{}", e.msg);
        let e = plan(&args(), &argv(&["sshd"]), &who(), &facts(0o400, 1001)).unwrap_err();
        assert!(e.msg.contains("sshd binary"), "{}", e.msg);
        let mut a = args();
        a.authorized_keys_file = "/run/secrets/none".into();
        let e = plan(&a, &argv(&["sshd"]), &who(), &facts(0o400, 0)).unwrap_err();
        assert!(e.msg.contains("no such file"), "{}", e.msg);
        let mut w = who();
        w.user_name = None;
        let e = plan(&args(), &argv(&["sshd"]), &w, &facts(0o400, 0)).unwrap_err();
        assert!(e.msg.contains("/etc/passwd"), "{}", e.msg);
        let mut a = args();
        a.alongside = true;
        let e = plan(&a, &argv(&["sshd"]), &who(), &facts(0o400, 0)).unwrap_err();
        assert_eq!(e.code(), 64);
    }

    #[test]
    fn started_non_root_needs_an_explicit_dir_and_skips_the_secret_checks() {
        let mut w = who();
        w.started_as_root = false;
        let e = plan(&args(), &argv(&["sshd"]), &w, &facts(0o444, 0)).unwrap_err();
        assert!(e.msg.contains("--sshd-config-dir"), "{}", e.msg);
        let mut a = args();
        a.config_dir = Some("/tmp/sshd-1001".into());
        let p = plan(&a, &argv(&["sshd"]), &w, &facts(0o444, 0))
            .unwrap()
            .unwrap();
        assert!(!p.protected);
    }

    #[test]
    fn versions_are_read_from_the_binary() {
        assert_eq!(version_in(b"xx OpenSSH_9.8p1 yy"), Some((9, 8)));
        assert_eq!(version_in(b"OpenSSH_ OpenSSH_10.0"), Some((10, 0)));
        assert_eq!(version_in(b"nothing"), None);
    }
}
