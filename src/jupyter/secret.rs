//! The Jupyter password: secret intake (file or variable), the password rules, hashing in
//! Jupyter's own format, and validation of pre-hashed passwords.

use crate::error::{Error, Result};

/// Where Docker and Kubernetes put a secret named `jupyter_password`.
pub const DEFAULT_PASSWORD_FILE: &str = "/run/secrets/jupyter_password";
/// Jupyter's argon2 parameters (jupyter_server.auth.security.passwd).
pub const ARGON2_M_KIB: u32 = 10240;
pub const ARGON2_T: u32 = 10;
pub const ARGON2_P: u32 = 8;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The password rules, the same for every source (secret file, `JUPYTER_PASSWORD`,
/// `hash-password`): not empty, at least [`MIN_PASSWORD_CHARS`] characters.
pub fn check_password(pw: &str, source: &str) -> Result<()> {
    if pw.is_empty() {
        return Err(Error::config(format!(
            "Jupyter password from {source} is empty; set a password of at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::config(format!(
            "Jupyter password from {source} is shorter than {MIN_PASSWORD_CHARS} characters; use a longer one"
        )));
    }
    Ok(())
}

pub use crate::secretfile::{read_secret, readable_by, secret_text};

/// Hash a password exactly as `jupyter_server.auth.passwd()` does: argon2id, m=10240 KiB,
/// t=10, p=8, 16-byte random salt, 32-byte output, `argon2:` + PHC string.
pub fn hash_password(password: &[u8]) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    crate::sys::random_bytes(&mut salt)
        .map_err(|e| Error::internal(format!("getrandom: {}", e)))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(validate_hash(bad, "t").unwrap_err().code(), 78, "{bad}");
        }
        validate_hash(
            "sha1:0123456789ab:0123456789abcdef0123456789abcdef01234567",
            "t",
        )
        .unwrap();
    }

    #[test]
    fn password_rules() {
        assert!(check_password("", "t").is_err());
        assert!(check_password("short", "t").is_err());
        assert!(check_password("long enough", "t").is_ok());
        assert_eq!(&*secret_text(b"pw-pw-pw\r\n", "t").unwrap(), "pw-pw-pw");
        assert_eq!(&*secret_text(b"pw-pw-pw\n\n", "t").unwrap(), "pw-pw-pw\n");
        assert_eq!(secret_text(b"\xff", "t").unwrap_err().code(), 78);
    }
}
