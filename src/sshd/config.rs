//! The effects of the sshd plan: render `sshd_config` with every security setting written
//! out (pure), then fill the root-owned directory — config, authorized keys, host key, pid
//! file — where the workload cannot change any of it.

use super::{HostKey, SshdPlan};
use crate::config_dir::ConfigDir;
use crate::error::{Error, Result};
use std::path::Path;

pub const CONFIG: &str = "sshd_config";
pub const AUTHORIZED_KEYS: &str = "authorized_keys";
pub const HOST_KEY: &str = "ssh_host_ed25519_key";

/// `PerSourcePenalties` (OpenSSH 9.8+): penalise addresses that fail to authenticate.
pub fn has_per_source_penalties(v: Option<(u32, u32)>) -> bool {
    v.is_some_and(|v| v >= (9, 8))
}

/// Key exchange: hybrid post-quantum first (ML-KEM from 9.9, sntrup761 from 8.5), then
/// X25519. No NIST curves, no SHA-1, no finite-field groups.
fn kex(v: Option<(u32, u32)>) -> String {
    let mut k = vec![];
    if v.is_some_and(|v| v >= (9, 9)) {
        k.push("mlkem768x25519-sha256");
    }
    k.extend([
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
    ]);
    k.join(",")
}

const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr";
const MACS: &str =
    "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com";

/// The user key algorithms sshd accepts.
pub fn pubkey_algorithms(allow_rsa: bool) -> String {
    let mut a = vec![
        "ssh-ed25519",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    if allow_rsa {
        a.extend(["rsa-sha2-512", "rsa-sha2-256"]);
    }
    a.join(",")
}

/// The whole `sshd_config`. Pure.
pub fn render(p: &SshdPlan) -> String {
    let d = |name: &str| p.dir.join(name).display().to_string();
    let version = p
        .version
        .map(|(a, b)| format!("OpenSSH {a}.{b}"))
        .unwrap_or_else(|| "OpenSSH (version not found in the binary)".into());
    let mut c = format!(
        "# Written by secure-init at every start, in a directory the workload cannot change.\n\
         # sshd runs as {user} (uid {uid}) under the workload's posture; {version}.\n\
         Port {port}\n\
         HostKey {hostkey}\n\
         HostKeyAlgorithms ssh-ed25519\n\
         # No pid file: one the workload could rewrite would aim an operator's signal;\n\
         # secure-init's state file records sshd's pid.\n\
         PidFile none\n\
         # Keys come from the secret only: ~/.ssh/authorized_keys is never read.\n\
         AuthorizedKeysFile {keys}\n\
         AuthorizedKeysCommand none\n\
         AuthorizedPrincipalsFile none\n\
         AuthenticationMethods publickey\n\
         PubkeyAuthentication yes\n\
         PubkeyAcceptedAlgorithms {pk}\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitEmptyPasswords no\n\
         HostbasedAuthentication no\n\
         IgnoreRhosts yes\n\
         PermitRootLogin no\n\
         AllowUsers {user}\n\
         MaxAuthTries 3\n\
         LoginGraceTime 30\n\
         MaxStartups 10:30:60\n\
         MaxSessions 10\n\
         UsePAM no\n\
         StrictModes yes\n\
         PermitUserEnvironment no\n\
         PermitUserRC no\n\
         UseDNS no\n\
         Compression no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         ClientAliveInterval 300\n\
         ClientAliveCountMax 3\n\
         LogLevel VERBOSE\n\
         KexAlgorithms {kex}\n\
         Ciphers {CIPHERS}\n\
         MACs {MACS}\n\
         Subsystem sftp internal-sftp\n",
        user = p.user,
        uid = p.owner.0,
        port = p.port,
        hostkey = d(HOST_KEY),
        keys = d(AUTHORIZED_KEYS),
        pk = pubkey_algorithms(p.allow_rsa),
        kex = kex(p.version),
    );
    if p.version.is_none_or(|v| v >= (8, 5)) {
        // unauthenticated connections per client address (8.5+)
        c.push_str("PerSourceMaxStartups 5\nPerSourceNetBlockSize 32:128\n");
    }
    if has_per_source_penalties(p.version) {
        c.push_str("PerSourcePenalties yes\n");
    }
    if p.allow_forwarding {
        c.push_str(
            "# --sshd-allow-forwarding: TCP and agent forwarding on (Landlock's --net-connect still applies)\n\
             AllowTcpForwarding yes\n\
             AllowAgentForwarding yes\n\
             AllowStreamLocalForwarding no\n\
             X11Forwarding no\n\
             PermitTunnel no\n\
             GatewayPorts no\n",
        );
    } else {
        c.push_str(
            "DisableForwarding yes\n\
             AllowTcpForwarding no\n\
             AllowStreamLocalForwarding no\n\
             AllowAgentForwarding no\n\
             X11Forwarding no\n\
             PermitTunnel no\n\
             PermitListen none\n\
             PermitOpen none\n\
             GatewayPorts no\n",
        );
    }
    c
}

/// Write the directory (as root): authorized keys (0444), the host key (0440, group the
/// workload's: sshd runs as the workload and must read it), the config (0444); the
/// directory stays root's, 0555, and nothing in it is the workload's to write.
pub fn write(p: &SshdPlan) -> Result<()> {
    let rd = ConfigDir {
        dir: &p.dir,
        what: "sshd config",
        fix: "with a read-only root file system give /run/secure-init a tmpfs (docker run --read-only --tmpfs /run/secure-init; compose `tmpfs: [/run/secure-init]`; a Kubernetes emptyDir), or set SECURE_INIT_SSHD_CONFIG_DIR (--sshd-config-dir) to a directory secure-init can create under a root-owned, non-writable one",
        protected: p.protected,
    };
    rd.open()?;
    let keys: String = p.keys.iter().map(|k| format!("{}\n", k.line)).collect();
    let root = crate::sys::getuid() == 0;
    let ro = if p.protected { 0o444 } else { 0o400 };
    rd.write(AUTHORIZED_KEYS, keys.as_bytes(), ro, None)?;
    let host_owner = root.then_some((0, p.owner.1));
    let fingerprint = match &p.host_key {
        HostKey::File {
            pem, fingerprint, ..
        } => {
            // the secret was read with its trailing newline stripped; PEM wants it back
            let mut text = zeroize::Zeroizing::new(pem.to_string());
            text.push('\n');
            rd.write(HOST_KEY, text.as_bytes(), 0o440, host_owner)?;
            fingerprint.clone()
        }
        HostKey::Generate { keygen } => {
            let (pem, pubkey) = generate(keygen, &p.dir)?;
            rd.write(HOST_KEY, pem.as_bytes(), 0o440, host_owner)?;
            rd.write(&format!("{HOST_KEY}.pub"), pubkey.as_bytes(), ro, None)?;
            super::keys::public_key_info(&pubkey)
                .map(|(_, f)| f)
                .ok_or_else(|| Error::internal("ssh-keygen wrote an unreadable public key"))?
        }
    };
    rd.write(CONFIG, render(p).as_bytes(), ro, None)?;
    rd.seal(if p.protected { 0o555 } else { 0o700 })?;

    log::info!(target: "sshd.config", dir = p.dir.display().to_string().as_str(), port = p.port,
        user = p.user.as_str(), openssh = p.version.map(|(a, b)| format!("{a}.{b}")).unwrap_or_default().as_str(),
        keys = p.keys.len(), forwarding = p.allow_forwarding;
        "sshd: key-only login as {} on port {}, config and keys root-owned in {}", p.user, p.port, p.dir.display());
    for k in &p.keys {
        log::info!(target: "sshd.authorized_key", key_type = k.key_type.as_str(), fingerprint = k.fingerprint.as_str(), comment = k.comment.as_str();
            "authorized key {} {}", k.key_type, k.fingerprint);
    }
    log::info!(target: "sshd.host_key", fingerprint = fingerprint.as_str(),
        source = match &p.host_key { HostKey::Generate { .. } => "generated at this start".to_string(), HostKey::File { source, .. } => source.display().to_string() }.as_str();
        "sshd host key ED25519 {fingerprint} (pin it: the private key is readable by the workload, as sshd runs as the workload)");
    if !has_per_source_penalties(p.version) {
        log::warn!(target: "sshd.penalties",
            "this OpenSSH has no PerSourcePenalties (9.8+): repeated failed logins are slowed only by MaxStartups, MaxAuthTries 3 and LoginGraceTime 30; feed the ssh.login.failed events to fail2ban");
    }
    if !p.protected {
        log::warn!(target: "sshd.config", dir = p.dir.display().to_string().as_str();
            "sshd config and authorized keys written into a directory the workload owns (started non-root): the workload could add its own keys");
    }
    Ok(())
}

/// A new Ed25519 key from ssh-keygen (run as root, with a clean environment, into a private
/// directory inside the config directory): (private PEM, public line).
fn generate(keygen: &Path, dir: &Path) -> Result<(zeroize::Zeroizing<String>, String)> {
    let tmp = dir.join(format!(".keygen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    crate::identity::make_private_dir(&tmp, crate::sys::getuid(), crate::sys::getgid()).map_err(
        |e| {
            Error::hardening(format!(
                "sshd host key: cannot create {}: {e}",
                tmp.display()
            ))
        },
    )?;
    let key = tmp.join("key");
    let out = std::process::Command::new(keygen)
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "secure-init host key",
            "-f",
        ])
        .arg(&key)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .output();
    let result = match out {
        Ok(o) if o.status.success() => {
            let pem = std::fs::read_to_string(&key).map(zeroize::Zeroizing::new);
            let public = std::fs::read_to_string(tmp.join("key.pub"));
            match (pem, public) {
                (Ok(a), Ok(b)) => Ok((a, b)),
                (Err(e), _) | (_, Err(e)) => Err(format!("cannot read its output: {e}")),
            }
        }
        Ok(o) => Err(format!(
            "it failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run it: {e}")),
    };
    let _ = std::fs::remove_dir_all(&tmp);
    result.map_err(|e| {
        Error::hardening(format!(
            "sshd host key: {} -t ed25519: {e}; check the openssh-client install, or give --sshd-host-key-file",
            keygen.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(version: Option<(u32, u32)>, fwd: bool, rsa: bool) -> SshdPlan {
        SshdPlan {
            as_command: true,
            binary: "/usr/sbin/sshd".into(),
            argv: vec![],
            version,
            port: 2222,
            user: "aiuser".into(),
            owner: (1001, 1001),
            keys: vec![],
            keys_source: "/run/secrets/ssh_authorized_keys".into(),
            host_key: HostKey::Generate {
                keygen: "/usr/bin/ssh-keygen".into(),
            },
            dir: "/run/secure-init/sshd".into(),
            protected: true,
            allow_forwarding: fwd,
            allow_rsa: rsa,
        }
    }

    fn setting<'a>(c: &'a str, key: &str) -> Vec<&'a str> {
        c.lines()
            .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
            .collect()
    }

    #[test]
    fn the_config_is_key_only_for_one_user_without_forwarding() {
        let c = render(&plan(Some((9, 2)), false, false));
        for (k, v) in [
            ("Port", "2222"),
            ("PasswordAuthentication", "no"),
            ("KbdInteractiveAuthentication", "no"),
            ("PermitRootLogin", "no"),
            ("AllowUsers", "aiuser"),
            ("AuthenticationMethods", "publickey"),
            (
                "AuthorizedKeysFile",
                "/run/secure-init/sshd/authorized_keys",
            ),
            ("MaxAuthTries", "3"),
            ("LoginGraceTime", "30"),
            ("UsePAM", "no"),
            ("PermitUserEnvironment", "no"),
            ("DisableForwarding", "yes"),
            ("AllowTcpForwarding", "no"),
            ("X11Forwarding", "no"),
            ("PermitTunnel", "no"),
            ("AllowAgentForwarding", "no"),
            ("HostKeyAlgorithms", "ssh-ed25519"),
        ] {
            assert_eq!(setting(&c, k), [v], "{k}");
        }
        assert!(setting(&c, "PubkeyAcceptedAlgorithms")[0]
            .split(',')
            .all(|a| !a.contains("rsa")));
        assert!(
            setting(&c, "PerSourcePenalties").is_empty(),
            "not before 9.8"
        );
        assert!(!c.contains("mlkem"));
    }

    #[test]
    fn newer_openssh_and_flags_change_what_they_should() {
        let c = render(&plan(Some((9, 9)), true, true));
        assert_eq!(setting(&c, "PerSourcePenalties"), ["yes"]);
        assert!(setting(&c, "KexAlgorithms")[0].starts_with("mlkem768x25519-sha256,"));
        assert_eq!(setting(&c, "AllowTcpForwarding"), ["yes"]);
        assert!(setting(&c, "DisableForwarding").is_empty());
        assert!(setting(&c, "PubkeyAcceptedAlgorithms")[0].contains("rsa-sha2-512"));
    }
}
