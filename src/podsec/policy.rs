//! The two levels of the Pod Security Standards that impose checks, and policy versions as the
//! namespace labels write them ("latest", "v1.N").

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A level of the Pod Security Standards that imposes checks. `Restricted` includes every
/// `Baseline` check (minus the ones it replaces with stricter variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Baseline,
    Restricted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a level or version string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyParseError {
    #[error("invalid Pod Security level {0:?}: expected \"baseline\" or \"restricted\"")]
    Level(String),
    #[error("the Pod Security level \"privileged\" imposes no checks; expected \"baseline\" or \"restricted\"")]
    PrivilegedLevel,
    #[error("invalid Pod Security version {0:?}: expected \"latest\" or \"v1.<minor>\" (e.g. \"v1.30\")")]
    Version(String),
}

impl FromStr for Level {
    type Err = PolicyParseError;

    /// Exactly as the namespace labels spell levels (case-sensitive, like the controller).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            "privileged" => Err(PolicyParseError::PrivilegedLevel),
            other => Err(PolicyParseError::Level(other.to_string())),
        }
    }
}

/// A policy version: `latest`, or the rules as they stood in Kubernetes v1.N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Latest,
    /// The minor version N of v1.N.
    V1(u32),
}

impl Version {
    /// The minor version whose rules apply: `latest`, and anything newer than the newest rule
    /// change, means the newest rules (the controller clamps the same way).
    pub fn policy_minor(self) -> u32 {
        match self {
            Version::Latest => super::NEWEST_POLICY_MINOR,
            Version::V1(minor) => minor.min(super::NEWEST_POLICY_MINOR),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::V1(minor) => write!(f, "v1.{minor}"),
        }
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Version {
    type Err = PolicyParseError;

    /// "latest" or "v1.N" with no leading zero in N, as the controller's `^v1\.([0-9]|[1-9][0-9]*)$`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let bad = || PolicyParseError::Version(s.to_string());
        let minor = s.strip_prefix("v1.").ok_or_else(bad)?;
        let digits_only = !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit());
        if !digits_only || (minor.len() > 1 && minor.starts_with('0')) {
            return Err(bad());
        }
        minor.parse::<u32>().map(Version::V1).map_err(|_| bad())
    }
}
