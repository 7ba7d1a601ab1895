//! secure-init's own failures and their exit codes (README "Exit codes").

use std::fmt;

/// Exit codes of secure-init itself (the child's own status is passed through unchanged).
pub mod code {
    /// Bad command line or environment option syntax.
    pub const USAGE: i32 = 64;
    /// A model file failed its hash or scan.
    pub const DATA: i32 = 65;
    /// A required resource (GPU driver) is missing or too old.
    pub const UNAVAILABLE: i32 = 69;
    /// Internal error (a bug or an unexpected system failure).
    pub const INTERNAL: i32 = 70;
    /// A hardening step could not be applied or verified.
    pub const HARDENING: i32 = 77;
    /// Configuration error: bad profile, unknown user, unreadable secret, bad path.
    pub const CONFIG: i32 = 78;
    /// The command could not be executed.
    pub const NOT_EXECUTABLE: i32 = 126;
    /// The command was not found.
    pub const NOT_FOUND: i32 = 127;
}

/// A fatal error: a one-line message and the exit code it maps to.
#[derive(Debug)]
pub struct Error {
    pub code: i32,
    pub msg: String,
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error {
            code: code::USAGE,
            msg: msg.into(),
        }
    }
    pub fn config(msg: impl Into<String>) -> Self {
        Error {
            code: code::CONFIG,
            msg: msg.into(),
        }
    }
    pub fn hardening(msg: impl Into<String>) -> Self {
        Error {
            code: code::HARDENING,
            msg: msg.into(),
        }
    }
    pub fn unavailable(msg: impl Into<String>) -> Self {
        Error {
            code: code::UNAVAILABLE,
            msg: msg.into(),
        }
    }
    pub fn data(msg: impl Into<String>) -> Self {
        Error {
            code: code::DATA,
            msg: msg.into(),
        }
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Error {
            code: code::INTERNAL,
            msg: msg.into(),
        }
    }
    pub fn with_code(code: i32, msg: impl Into<String>) -> Self {
        Error {
            code,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
