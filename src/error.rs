//! secure-init's one error model: an [`Error`] is a [`Kind`] (which decides the exit code,
//! README "Exit codes") and a one-line message that names the input and the fix.
//!
//! This file imports nothing from the crate: `build.rs` compiles it together with
//! `src/seccomp` (see there).

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

/// What went wrong, as the operator must act on it. Each kind has one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad flag or `SECURE_INIT_*` syntax (64).
    Usage,
    /// A model file failed its hash or scan (65).
    Data,
    /// A required resource is missing (69).
    Unavailable,
    /// A bug or an unexpected system failure (70).
    Internal,
    /// A hardening step could not be applied or verified (77).
    Hardening,
    /// A configuration value, profile, secret or path is wrong (78).
    Config,
    /// The command exists but cannot be executed (126).
    NotExecutable,
    /// The command was not found (127).
    NotFound,
}

impl Kind {
    /// The documented exit code of this kind.
    pub const fn exit_code(self) -> i32 {
        match self {
            Kind::Usage => code::USAGE,
            Kind::Data => code::DATA,
            Kind::Unavailable => code::UNAVAILABLE,
            Kind::Internal => code::INTERNAL,
            Kind::Hardening => code::HARDENING,
            Kind::Config => code::CONFIG,
            Kind::NotExecutable => code::NOT_EXECUTABLE,
            Kind::NotFound => code::NOT_FOUND,
        }
    }
}

/// A fatal error: its kind and a one-line message.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub msg: String,
}

impl Error {
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
        }
    }
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::new(Kind::Usage, msg)
    }
    pub fn config(msg: impl Into<String>) -> Self {
        Self::new(Kind::Config, msg)
    }
    pub fn hardening(msg: impl Into<String>) -> Self {
        Self::new(Kind::Hardening, msg)
    }
    pub fn unavailable(msg: impl Into<String>) -> Self {
        Self::new(Kind::Unavailable, msg)
    }
    pub fn data(msg: impl Into<String>) -> Self {
        Self::new(Kind::Data, msg)
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(Kind::Internal, msg)
    }
    /// The exit code secure-init ends with for this error.
    pub fn code(&self) -> i32 {
        self.kind.exit_code()
    }
    /// The same error with context in front of the message (`"{what}: {msg}"`).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.msg = format!("{what}: {}", self.msg);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
