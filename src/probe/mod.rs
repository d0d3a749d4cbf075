//! Probe kinds: the code behind the checks. A check in the catalog names a probe kind and its
//! default parameters; validation turns the merged parameters into a typed `ProbeSpec`; the
//! engine runs it with a `ProbeContext`. Probes never print, exit or read flags.

pub mod file;
pub mod load_baseline;
pub mod params;

use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::outcome::ProbeReport;
pub use params::{ParamError, ParamReader};

/// The kinds of probe, as named by `probe = "..."` in the catalog.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    File,
    LoadBaseline,
}

impl ProbeKind {
    pub const ALL: &'static [ProbeKind] = &[ProbeKind::File, ProbeKind::LoadBaseline];

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::File => "file",
            ProbeKind::LoadBaseline => "load-baseline",
        }
    }

    pub fn parse(s: &str) -> Option<ProbeKind> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Whether the probe needs something outside the machine (a cluster, an endpoint):
    /// such probes are `unverified` (offline) when the audit runs offline.
    pub fn needs_live(self) -> bool {
        match self {
            ProbeKind::File | ProbeKind::LoadBaseline => false,
        }
    }
}

/// Validated, typed parameters of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeSpec {
    File(file::FileParams),
    LoadBaseline(load_baseline::LoadBaselineParams),
}

impl ProbeSpec {
    /// Validates merged parameters for `kind`, collecting every problem.
    pub fn parse(kind: ProbeKind, params: &toml::Table) -> Result<ProbeSpec, Vec<ParamError>> {
        let mut r = ParamReader::new(params);
        let spec = match kind {
            ProbeKind::File => file::FileParams::read(&mut r).map(ProbeSpec::File),
            ProbeKind::LoadBaseline => {
                load_baseline::LoadBaselineParams::read(&mut r).map(ProbeSpec::LoadBaseline)
            }
        };
        r.finish()?;
        // `read` returns None only after recording an error, so finish() has returned Err above.
        spec.ok_or_else(|| {
            vec![ParamError {
                key: None,
                message: "invalid parameters".into(),
            }]
        })
    }

    pub fn kind(&self) -> ProbeKind {
        match self {
            ProbeSpec::File(_) => ProbeKind::File,
            ProbeSpec::LoadBaseline(_) => ProbeKind::LoadBaseline,
        }
    }

    /// Runs the probe. The engine applies the timeout and cancellation around this future.
    pub async fn run(&self, ctx: &ProbeContext) -> ProbeReport {
        match self {
            ProbeSpec::File(p) => file::run(p, ctx).await,
            ProbeSpec::LoadBaseline(p) => load_baseline::run(p, ctx).await,
        }
    }
}

/// What every probe may know about the run, besides its own parameters.
#[derive(Debug, Clone)]
pub struct ProbeContext {
    /// The date waivers, sign-offs and ages are judged against.
    pub today: Date,
    /// Relative paths in parameters resolve against this (the checklist's folder, or the
    /// working directory for the built-in checklist).
    pub base_dir: PathBuf,
    /// This item's time budget.
    pub timeout: Duration,
    /// No cluster and no endpoints: live probes answer `unverified` (offline).
    pub offline: bool,
    /// No pods may be created (`--no-live`).
    pub no_live: bool,
    /// Unique per audit; labels probe pods and names scratch keys.
    pub run_id: String,
}

impl ProbeContext {
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        }
    }
}
