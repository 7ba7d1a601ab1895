//! SSH key material, read without running anything: `authorized_keys` lines (type, blob,
//! the type inside the blob, RSA modulus size), OpenSSH private host keys (the unencrypted
//! public part), and SHA256 fingerprints as `ssh-keygen -l` prints them.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

/// Key types accepted by default: Ed25519 and the FIDO (security key) types.
pub const STRONG_TYPES: &[&str] = &[
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];
/// The RSA key type, accepted with `--sshd-allow-rsa` (at least [`MIN_RSA_BITS`] bits).
pub const RSA_TYPE: &str = "ssh-rsa";
pub const MIN_RSA_BITS: usize = 3072;
/// Every public key type OpenSSH knows: a line whose key is one of these but not accepted
/// gets a precise refusal, anything else is "not a key".
const KNOWN_TYPES: &[&str] = &[
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-ed448",
    "ssh-ed25519-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// One accepted `authorized_keys` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedKey {
    /// The whole line as written (options, type, key, comment).
    pub line: String,
    pub key_type: String,
    /// `SHA256:…`, as sshd logs it.
    pub fingerprint: String,
    pub comment: String,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64, padding optional; None on any other character.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits >= 6 {
        return None; // a lone trailing character
    }
    Some(out)
}

/// Standard base64 without padding (as OpenSSH prints fingerprints).
pub fn b64_encode_nopad(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..=n {
            out.push(B64[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// `SHA256:<base64>` of a key blob.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", b64_encode_nopad(&Sha256::digest(blob)))
}

/// The SSH wire format's length-prefixed strings, read in turn.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let s = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        let v = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?);
        self.0 = &self.0[4..];
        Some(v)
    }
}

/// Bits of an SSH mpint (leading zero bytes ignored).
fn mpint_bits(m: &[u8]) -> usize {
    let m: &[u8] = match m.iter().position(|&b| b != 0) {
        Some(i) => &m[i..],
        None => return 0,
    };
    m.len() * 8 - m[0].leading_zeros() as usize
}

/// Check one key blob: its inner type must be the declared one; an RSA modulus is measured.
fn check_blob(key_type: &str, blob: &[u8]) -> std::result::Result<(), String> {
    let mut w = Wire(blob);
    let inner = w
        .string()
        .ok_or_else(|| "the key data is truncated".to_string())?;
    if inner != key_type.as_bytes() {
        return Err(format!(
            "the key data says {:?} but the line says {key_type:?}",
            String::from_utf8_lossy(inner)
        ));
    }
    if key_type == RSA_TYPE {
        let _e = w.string().ok_or("the RSA key is truncated")?;
        let n = w.string().ok_or("the RSA key is truncated")?;
        let bits = mpint_bits(n);
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "a {bits}-bit RSA key; RSA keys need at least {MIN_RSA_BITS} bits (better: ssh-keygen -t ed25519)"
            ));
        }
    } else if key_type == "ssh-ed25519" {
        let pk = w.string().ok_or("the Ed25519 key is truncated")?;
        if pk.len() != 32 {
            return Err("an Ed25519 key must be 32 bytes".into());
        }
    }
    Ok(())
}

/// Split an `authorized_keys` line into (options, type, base64, comment). Options may
/// contain quoted spaces (`command="a b"`).
fn split_line(line: &str) -> Option<(&str, &str, &str, &str)> {
    let starts_with_type = |s: &str| {
        let t = s.split_whitespace().next().unwrap_or("");
        KNOWN_TYPES.contains(&t)
    };
    let (opts, rest) = if starts_with_type(line) {
        ("", line)
    } else {
        // options end at the first unquoted blank
        let mut quoted = false;
        let mut end = line.len();
        for (i, c) in line.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ' ' | '\t' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        (&line[..end], line[end..].trim_start())
    };
    let mut it = rest.splitn(3, [' ', '\t']);
    let t = it.next()?;
    let b = it.next()?.trim();
    let comment = it.next().unwrap_or("").trim();
    Some((opts, t, b, comment))
}

/// Parse and check an `authorized_keys` text. Every line must be a key secure-init accepts,
/// a comment or blank: a refused line is an error naming it (the operator learns at once,
/// not when a login fails).
pub fn parse_authorized_keys(
    text: &str,
    source: &str,
    allow_rsa: bool,
) -> Result<Vec<AuthorizedKey>> {
    let mut keys = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{source} line {}", i + 1);
        let Some((_opts, t, b, comment)) = split_line(line) else {
            return Err(Error::config(format!(
                "{at}: not an authorized_keys entry (expected `ssh-ed25519 AAAA… comment`); fix or remove the line"
            )));
        };
        if !KNOWN_TYPES.contains(&t) {
            return Err(Error::config(format!(
                "{at}: unknown key type {t:?}; use an Ed25519 key (ssh-keygen -t ed25519)"
            )));
        }
        let accepted = STRONG_TYPES.contains(&t) || (allow_rsa && t == RSA_TYPE);
        if !accepted {
            let how = if t == RSA_TYPE {
                "; make an Ed25519 key (ssh-keygen -t ed25519), or pass --sshd-allow-rsa"
            } else {
                "; make an Ed25519 key (ssh-keygen -t ed25519) or a FIDO key (-t ed25519-sk)"
            };
            return Err(Error::config(format!(
                "{at}: a {t} key is refused: only ssh-ed25519, sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com keys are accepted{how}"
            )));
        }
        let blob = b64_decode(b).ok_or_else(|| {
            Error::config(format!(
                "{at}: the key data is not base64; copy the whole .pub line"
            ))
        })?;
        check_blob(t, &blob)
            .map_err(|e| Error::config(format!("{at}: {e}; copy the whole .pub line")))?;
        keys.push(AuthorizedKey {
            line: line.to_string(),
            key_type: t.to_string(),
            fingerprint: fingerprint(&blob),
            comment: comment.to_string(),
        });
    }
    Ok(keys)
}

/// An OpenSSH private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`): its public key's
/// type and fingerprint, read from the unencrypted header. It must be one unencrypted
/// Ed25519 key (sshd cannot ask for a passphrase).
pub fn host_key_info(pem: &str, source: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::config(format!(
            "{source}: {why}; give an unencrypted Ed25519 OpenSSH private key (ssh-keygen -t ed25519 -N '' -f FILE)"
        ))
    };
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN OPENSSH PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END OPENSSH PRIVATE KEY-----")
        .collect();
    if body.is_empty() {
        return Err(bad("not an OpenSSH private key"));
    }
    let raw = b64_decode(&body).ok_or_else(|| bad("the key is not valid base64"))?;
    let rest = raw
        .strip_prefix(b"openssh-key-v1\0")
        .ok_or_else(|| bad("not an openssh-key-v1 key"))?;
    let mut w = Wire(rest);
    let cipher = w.string().ok_or_else(|| bad("the key is truncated"))?;
    let _kdf = w.string().ok_or_else(|| bad("the key is truncated"))?;
    let _kdfopts = w.string().ok_or_else(|| bad("the key is truncated"))?;
    if cipher != b"none" {
        return Err(bad(
            "the key is encrypted (sshd cannot ask for its passphrase)",
        ));
    }
    if w.u32() != Some(1) {
        return Err(bad("the file must hold exactly one key"));
    }
    let blob = w.string().ok_or_else(|| bad("the key is truncated"))?;
    let t = Wire(blob).string().unwrap_or_default();
    if t != b"ssh-ed25519" {
        return Err(bad(&format!(
            "a {} key; the host key must be Ed25519",
            String::from_utf8_lossy(t)
        )));
    }
    Ok(("ssh-ed25519".into(), fingerprint(blob)))
}

/// The type and fingerprint of a `.pub` line.
pub fn public_key_info(line: &str) -> Option<(String, String)> {
    let (_, t, b, _) = split_line(line.trim())?;
    let blob = b64_decode(b)?;
    check_blob(t, &blob).ok()?;
    Some((t.to_string(), fingerprint(&blob)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // made with ssh-keygen; fingerprints from `ssh-keygen -lf`
    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDJkbBDdatOhZOEriZpKIv9mkbkTYNc12ADnJnRwSAuH alice@laptop";
    const ED_FP: &str = "SHA256:uU2eyP/MfuT7Rr94GVHmIA+EMbTw6Hus2vE1RimrzA8";

    #[test]
    fn base64_round_trips() {
        for n in 0..40 {
            let d: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            let e = b64_encode_nopad(&d);
            assert_eq!(b64_decode(&e).unwrap(), d);
        }
        assert_eq!(b64_encode_nopad(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64_encode_nopad(b"fo"), "Zm8");
        assert!(b64_decode("Zm9v!").is_none());
    }

    #[test]
    fn ed25519_lines_are_accepted_with_options_and_comments() {
        let text = format!("# team keys\n\n{ED}\ncommand=\"echo hi there\",no-pty {ED}\n");
        let k = parse_authorized_keys(&text, "keys", false).unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].key_type, "ssh-ed25519");
        assert_eq!(k[0].comment, "alice@laptop");
        assert_eq!(k[0].fingerprint, k[1].fingerprint);
        assert!(k[0].fingerprint.starts_with("SHA256:"));
    }

    #[test]
    fn weak_or_broken_lines_are_refused_naming_the_line() {
        let dss = "ssh-dss AAAAB3NzaC1kc3MAAACBAP== old";
        let e = parse_authorized_keys(&format!("{ED}\n{dss}\n"), "keys", false).unwrap_err();
        assert!(
            e.msg.contains("keys line 2") && e.msg.contains("ssh-dss"),
            "{}",
            e.msg
        );
        // a blob whose inner type differs from the declared one
        let lie = ED.replace("ssh-ed25519 ", "sk-ssh-ed25519@openssh.com ");
        let e = parse_authorized_keys(&lie, "keys", false).unwrap_err();
        assert!(e.msg.contains("says"), "{}", e.msg);
        let e = parse_authorized_keys("hello world", "keys", false).unwrap_err();
        assert!(e.msg.contains("line 1"), "{}", e.msg);
    }

    #[test]
    fn rsa_needs_the_flag_and_enough_bits() {
        // ssh-rsa blob: "ssh-rsa", e=65537, n of `bits` bits
        let rsa = |bits: usize| {
            let mut blob = vec![];
            for part in [
                b"ssh-rsa".to_vec(),
                vec![1, 0, 1],
                std::iter::once(0u8)
                    .chain(std::iter::once(0x80))
                    .chain(std::iter::repeat_n(0x11, bits / 8 - 1))
                    .collect::<Vec<u8>>(),
            ] {
                blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
                blob.extend_from_slice(&part);
            }
            format!("ssh-rsa {} bob", b64_encode_nopad(&blob))
        };
        let e = parse_authorized_keys(&rsa(4096), "k", false).unwrap_err();
        assert!(e.msg.contains("--sshd-allow-rsa"), "{}", e.msg);
        assert_eq!(
            parse_authorized_keys(&rsa(4096), "k", true).unwrap().len(),
            1
        );
        let e = parse_authorized_keys(&rsa(2048), "k", true).unwrap_err();
        assert!(e.msg.contains("2048-bit"), "{}", e.msg);
    }

    // a throwaway key made for this test (ssh-keygen -t ed25519 -N '')
    const HOST: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACAyZGwQ3WrToWThK4maSiL/ZpG5E2DXNdgA5yZ0cEgLhwAAAJCrdhFGq3YR\nRgAAAAtzc2gtZWQyNTUxOQAAACAyZGwQ3WrToWThK4maSiL/ZpG5E2DXNdgA5yZ0cEgLhw\nAAAEAzjUR793mTgHy0ZeFbqQLInFpQ3zzDLjZ9wqo3O6h1ZzJkbBDdatOhZOEriZpKIv9m\nkbkTYNc12ADnJnRwSAuHAAAADGFsaWNlQGxhcHRvcAE=\n-----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn host_keys_are_read_from_the_unencrypted_header() {
        let (t, fp) = host_key_info(HOST, "k").unwrap();
        assert_eq!((t.as_str(), fp.as_str()), ("ssh-ed25519", ED_FP));
        let e = host_key_info("-----BEGIN RSA PRIVATE KEY-----\nabc\n", "k").unwrap_err();
        assert!(e.msg.contains("not an OpenSSH private key"), "{}", e.msg);
    }

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let (t, fp) = public_key_info(ED).unwrap();
        assert_eq!(t, "ssh-ed25519");
        assert_eq!(fp, ED_FP);
    }
}
