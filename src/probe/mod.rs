//! Probe kinds: the code behind the checks. A check in the catalog names a probe kind and its
//! default parameters; validation turns the merged parameters into a typed `ProbeSpec`; the
//! engine runs it with a `ProbeContext`. Probes never print, exit or read flags.

pub mod alert_rules;
pub mod file;
pub mod hpa;
pub mod http;
pub mod load_baseline;
pub mod nats;
pub mod netpol_isolation;
pub mod params;
pub mod pdb;
pub mod pod_security;
pub mod prometheus_slo;
pub mod redis;
pub mod scan_report;
pub mod secret_hygiene;
pub mod workload;

use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::outcome::ProbeReport;
pub use params::{ParamError, ParamReader};

/// The kinds of probe, as named by `probe = "..."` in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    File,
    LoadBaseline,
    Http,
    Pdb,
    Redis,
    SecretHygiene,
    NetpolIsolation,
    Nats,
    AlertRules,
    ScanReport,
    Workload,
    Hpa,
    PodSecurity,
    PrometheusSlo,
}

impl ProbeKind {
    pub const ALL: &'static [ProbeKind] = &[
        ProbeKind::File,
        ProbeKind::LoadBaseline,
        ProbeKind::Http,
        ProbeKind::Pdb,
        ProbeKind::Redis,
        ProbeKind::SecretHygiene,
        ProbeKind::NetpolIsolation,
        ProbeKind::Nats,
        ProbeKind::AlertRules,
        ProbeKind::ScanReport,
        ProbeKind::Workload,
        ProbeKind::Hpa,
        ProbeKind::PodSecurity,
        ProbeKind::PrometheusSlo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::File => "file",
            ProbeKind::LoadBaseline => "load-baseline",
            ProbeKind::Http => "http",
            ProbeKind::Pdb => "pdb",
            ProbeKind::Redis => "redis",
            ProbeKind::SecretHygiene => "secret-hygiene",
            ProbeKind::NetpolIsolation => "netpol-isolation",
            ProbeKind::Nats => "nats",
            ProbeKind::AlertRules => "alert-rules",
            ProbeKind::ScanReport => "scan-report",
            ProbeKind::Workload => "workload",
            ProbeKind::Hpa => "hpa",
            ProbeKind::PodSecurity => "pod-security",
            ProbeKind::PrometheusSlo => "prometheus-slo",
        }
    }

    pub fn parse(s: &str) -> Option<ProbeKind> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Whether the probe creates objects (probe pods, scratch keys) that it must clean up when
    /// cancelled; the engine gives those a grace period and stops the others at once.
    pub fn cleans_up(self) -> bool {
        matches!(self, ProbeKind::Redis | ProbeKind::NetpolIsolation)
    }

    /// Whether the probe reads Kubernetes objects (from the live cluster or manifests).
    pub fn reads_cluster(self) -> bool {
        matches!(
            self,
            ProbeKind::Pdb
                | ProbeKind::SecretHygiene
                | ProbeKind::NetpolIsolation
                | ProbeKind::AlertRules
                | ProbeKind::ScanReport
                | ProbeKind::Workload
                | ProbeKind::Hpa
                | ProbeKind::PodSecurity
        )
    }

    /// The evidence facts that carry a finding's id, which a finding waiver's `match.id` is
    /// compared with (a comma-separated fact holds several ids). Empty: the probe's findings
    /// have no id, and are matched by code and target only (docs/decision.md).
    pub fn finding_id_facts(self) -> &'static [&'static str] {
        match self {
            // The vulnerability id (CVE-..., GHSA-..., PYSEC-...) and the report's aliases of it.
            ProbeKind::ScanReport => &["id", "aliases"],
            // The env var, ConfigMap key or Secret key the finding is about.
            ProbeKind::SecretHygiene => &["key"],
            // The missing heading.
            ProbeKind::File => &["heading"],
            // The standard's check id (`runAsNonRoot`, `hostNamespaces`, ...).
            ProbeKind::PodSecurity => &["check"],
            ProbeKind::LoadBaseline
            | ProbeKind::Http
            | ProbeKind::Pdb
            | ProbeKind::Redis
            | ProbeKind::NetpolIsolation
            | ProbeKind::Nats
            | ProbeKind::AlertRules
            | ProbeKind::Workload
            | ProbeKind::Hpa
            | ProbeKind::PrometheusSlo => &[],
        }
    }

    /// The closed set of ids the probe's findings carry, where there is one: a waiver naming
    /// another id would match nothing, so it is a checklist error.
    pub fn known_finding_ids(self) -> Option<Vec<&'static str>> {
        match self {
            ProbeKind::PodSecurity => Some(crate::podsec::CHECKS.iter().map(|c| c.id).collect()),
            _ => None,
        }
    }

    /// Whether the probe needs something outside the machine (a cluster, an endpoint):
    /// such probes are `unverified` (offline) when the audit runs offline.
    pub fn needs_live(self) -> bool {
        match self {
            ProbeKind::File | ProbeKind::LoadBaseline => false,
            ProbeKind::Http | ProbeKind::Redis | ProbeKind::Nats | ProbeKind::PrometheusSlo => true,
            // Reads the cluster view, which is offline-capable (manifests).
            ProbeKind::Pdb => false,
            ProbeKind::SecretHygiene => false,
            // Static verdicts from manifests offline; probe pods only when a cluster is there.
            ProbeKind::NetpolIsolation => false,
            // Judges its rule sources offline (manifests); asks Prometheus only when live.
            ProbeKind::AlertRules => false,
            // Report files, tied to the images of the cluster view (live or manifests).
            ProbeKind::ScanReport => false,
            // Judge the view (manifests offline); the HPA's live status only when it has one.
            ProbeKind::Workload | ProbeKind::Hpa => false,
            // Judges Pods and templates of the view, manifests offline.
            ProbeKind::PodSecurity => false,
        }
    }
}

/// Validated, typed parameters of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeSpec {
    File(file::FileParams),
    LoadBaseline(load_baseline::LoadBaselineParams),
    // Boxed: its endpoint and headers make it several times the size of most variants.
    Http(Box<http::HttpParams>),
    Pdb(crate::pdb::PdbParams),
    Redis(redis::RedisParams),
    SecretHygiene(crate::secrets::SecretsParams),
    NetpolIsolation(netpol_isolation::IsolationParams),
    // Boxed: three URLs make it much larger than the other variants.
    Nats(Box<nats::NatsParams>),
    // Boxed: its parameters are several times the size of the other variants'.
    AlertRules(Box<crate::rules::params::AlertRulesParams>),
    ScanReport(scan_report::ScanReportParams),
    Workload(workload::WorkloadParams),
    Hpa(hpa::HpaParams),
    PodSecurity(pod_security::PodSecurityParams),
    // Boxed: a list of objectives beside an endpoint.
    PrometheusSlo(Box<crate::slo::SloParams>),
}

impl ProbeSpec {
    /// Validates merged parameters for `kind`, collecting every problem.
    pub fn parse(kind: ProbeKind, params: &toml::Table) -> Result<ProbeSpec, Vec<ParamError>> {
        let mut r = ParamReader::new(params);
        let spec = match kind {
            ProbeKind::File => file::FileParams::read(&mut r).map(ProbeSpec::File),
            ProbeKind::LoadBaseline => load_baseline::LoadBaselineParams::read(&mut r).map(ProbeSpec::LoadBaseline),
            ProbeKind::Http => http::HttpParams::read(&mut r).map(|p| ProbeSpec::Http(Box::new(p))),
            ProbeKind::Pdb => crate::pdb::PdbParams::read(&mut r).map(ProbeSpec::Pdb),
            ProbeKind::Redis => redis::RedisParams::read(&mut r).map(ProbeSpec::Redis),
            ProbeKind::SecretHygiene => crate::secrets::SecretsParams::read(&mut r).map(ProbeSpec::SecretHygiene),
            ProbeKind::NetpolIsolation => {
                netpol_isolation::IsolationParams::read(&mut r).map(ProbeSpec::NetpolIsolation)
            }
            ProbeKind::Nats => nats::NatsParams::read(&mut r).map(|p| ProbeSpec::Nats(Box::new(p))),
            ProbeKind::AlertRules => {
                crate::rules::params::AlertRulesParams::read(&mut r).map(|p| ProbeSpec::AlertRules(Box::new(p)))
            }
            ProbeKind::ScanReport => scan_report::ScanReportParams::read(&mut r).map(ProbeSpec::ScanReport),
            ProbeKind::Workload => workload::WorkloadParams::read(&mut r).map(ProbeSpec::Workload),
            ProbeKind::Hpa => hpa::HpaParams::read(&mut r).map(ProbeSpec::Hpa),
            ProbeKind::PodSecurity => pod_security::PodSecurityParams::read(&mut r).map(ProbeSpec::PodSecurity),
            ProbeKind::PrometheusSlo => {
                crate::slo::SloParams::read(&mut r).map(|p| ProbeSpec::PrometheusSlo(Box::new(p)))
            }
        };
        r.finish()?;
        // `read` returns None only after recording an error, so finish() has returned Err above.
        spec.ok_or_else(|| vec![ParamError { key: None, path: None, message: "invalid parameters".into() }])
    }

    pub fn kind(&self) -> ProbeKind {
        match self {
            ProbeSpec::File(_) => ProbeKind::File,
            ProbeSpec::LoadBaseline(_) => ProbeKind::LoadBaseline,
            ProbeSpec::Http(_) => ProbeKind::Http,
            ProbeSpec::Pdb(_) => ProbeKind::Pdb,
            ProbeSpec::Redis(_) => ProbeKind::Redis,
            ProbeSpec::SecretHygiene(_) => ProbeKind::SecretHygiene,
            ProbeSpec::NetpolIsolation(_) => ProbeKind::NetpolIsolation,
            ProbeSpec::Nats(_) => ProbeKind::Nats,
            ProbeSpec::AlertRules(_) => ProbeKind::AlertRules,
            ProbeSpec::ScanReport(_) => ProbeKind::ScanReport,
            ProbeSpec::Workload(_) => ProbeKind::Workload,
            ProbeSpec::Hpa(_) => ProbeKind::Hpa,
            ProbeSpec::PodSecurity(_) => ProbeKind::PodSecurity,
            ProbeSpec::PrometheusSlo(_) => ProbeKind::PrometheusSlo,
        }
    }

    /// The Kubernetes kinds this check reads, and how widely; the cluster view loads exactly these.
    pub fn needs(&self) -> Vec<crate::cluster::Need> {
        match self {
            ProbeSpec::File(_)
            | ProbeSpec::LoadBaseline(_)
            | ProbeSpec::Http(_)
            | ProbeSpec::Redis(_)
            | ProbeSpec::Nats(_)
            | ProbeSpec::PrometheusSlo(_) => Vec::new(),
            ProbeSpec::Pdb(p) => pdb::needs(p),
            ProbeSpec::SecretHygiene(p) => secret_hygiene::needs(p),
            ProbeSpec::NetpolIsolation(p) => netpol_isolation::needs(p),
            ProbeSpec::AlertRules(p) => alert_rules::needs(p),
            ProbeSpec::ScanReport(p) => scan_report::needs(p),
            ProbeSpec::Workload(p) => workload::needs(p),
            ProbeSpec::Hpa(p) => hpa::needs(p),
            ProbeSpec::PodSecurity(p) => pod_security::needs(p),
        }
    }

    /// Declares, before any item runs, what the probe will want of the state the audit's probes
    /// share (the network items' scratch namespace and canary).
    pub fn register(&self, shared: &Shared) {
        if let ProbeSpec::NetpolIsolation(p) = self {
            shared.netpol.register(p);
        }
    }

    /// Extra permissions beyond reading (e.g. creating probe pods), for the `rbac` command.
    pub fn grants(&self) -> Vec<crate::cluster::rbac::Grant> {
        match self {
            ProbeSpec::NetpolIsolation(p) => netpol_isolation::grants(p),
            ProbeSpec::AlertRules(p) => alert_rules::grants(p),
            _ => Vec::new(),
        }
    }

    /// Runs the probe. The engine applies the timeout and cancellation around this future.
    pub async fn run(&self, ctx: &ProbeContext) -> ProbeReport {
        match self {
            ProbeSpec::File(p) => file::run(p, ctx).await,
            ProbeSpec::LoadBaseline(p) => load_baseline::run(p, ctx).await,
            ProbeSpec::Http(p) => http::run(p, ctx).await,
            ProbeSpec::Pdb(p) => pdb::run(p, ctx).await,
            ProbeSpec::Redis(p) => redis::run(p, ctx).await,
            ProbeSpec::SecretHygiene(p) => secret_hygiene::run(p, ctx).await,
            ProbeSpec::NetpolIsolation(p) => netpol_isolation::run(p, ctx).await,
            ProbeSpec::Nats(p) => nats::run(p, ctx).await,
            ProbeSpec::AlertRules(p) => alert_rules::run(p, ctx).await,
            ProbeSpec::ScanReport(p) => scan_report::run(p, ctx).await,
            ProbeSpec::Workload(p) => workload::run(p, ctx).await,
            ProbeSpec::Hpa(p) => hpa::run(p, ctx).await,
            ProbeSpec::PodSecurity(p) => pod_security::run(p, ctx).await,
            ProbeSpec::PrometheusSlo(p) => prometheus_slo::run(p, ctx).await,
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
    /// Cancelled on Ctrl-C or the global timeout: probes that create things (pods, keys) stop
    /// and clean up when they see it; the engine waits a short grace period for them.
    pub cancel: tokio_util::sync::CancellationToken,
    /// The shared cluster view, loaded once before the probes run (None when no selected
    /// check needs Kubernetes objects).
    pub view: Option<std::sync::Arc<crate::cluster::ClusterView>>,
    /// The live cluster connection, when there is one (probes that re-read or create pods).
    pub live: Option<crate::cluster::live::Live>,
    /// `--settle`: how long a check may wait for a rollout in progress to settle.
    pub settle: Option<Duration>,
    /// The id of the item being run (set per item by the engine; empty outside an audit).
    pub item_id: String,
    /// `--baseline`: the earlier report that regressions are judged against.
    pub baseline: Option<std::sync::Arc<crate::slo::Baseline>>,
    /// What the probes of one audit share on the live cluster; cleaned up by [`Shared::finish`].
    pub shared: std::sync::Arc<Shared>,
}

/// The state the probes of one audit share: the network items' pod watches, scratch namespace
/// and canary. The engine calls [`Shared::finish`] when every item is done.
#[derive(Debug, Default)]
pub struct Shared {
    pub netpol: std::sync::Arc<netpol_isolation::session::Session>,
}

impl Shared {
    /// Shared state for an audit that ends at `deadline` (the shared targets live until then).
    pub fn until(deadline: tokio::time::Instant) -> Shared {
        let shared = Shared::default();
        shared.netpol.set_deadline(deadline);
        shared
    }

    /// Deletes what the probes created together; returns what could not be deleted.
    pub async fn finish(&self) -> Vec<String> {
        self.netpol.finish().await
    }
}

impl ProbeContext {
    /// A context for running one probe outside an audit (tests, single commands).
    pub fn standalone(base_dir: impl Into<PathBuf>, timeout: Duration) -> Self {
        ProbeContext {
            today: jiff::ZonedDateTime::now().date(),
            base_dir: base_dir.into(),
            timeout,
            offline: false,
            no_live: false,
            run_id: new_run_id(),
            cancel: tokio_util::sync::CancellationToken::new(),
            view: None,
            live: None,
            settle: None,
            item_id: String::new(),
            baseline: None,
            shared: std::sync::Arc::new(Shared::default()),
        }
    }

    /// How long a probe may take to get its answer: its own `timeout` parameter, capped to end
    /// `reserve` before the engine's item timeout, so a silent endpoint is reported by the probe
    /// as the endpoint's fault rather than cut off as unverified (and clean-up still has time).
    pub fn answer_budget(&self, own: Option<Duration>, reserve: Duration) -> Duration {
        let cap = self.timeout.saturating_sub(reserve);
        own.map_or(cap, |t| t.min(cap))
    }

    /// The small reserve for probes with nothing to clean up: 5 % of the item timeout, at most 500 ms.
    pub fn short_reserve(&self) -> Duration {
        (self.timeout / 20).min(Duration::from_millis(500))
    }

    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() { p } else { self.base_dir.join(p) }
    }
}

/// A short unique id for one audit run (time-based, hex), used in probe pod labels and keys.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{:x}{:04x}", now.as_secs(), (now.subsec_micros() & 0xffff) ^ (std::process::id() & 0xffff))
}
