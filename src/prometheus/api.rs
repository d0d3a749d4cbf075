//! The typed answers of the Prometheus HTTP API the gate reads: loaded rules and active alerts,
//! instant and range query results, series and scrape targets.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RulesData {
    pub groups: Vec<RuleGroupStatus>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroupStatus {
    pub name: String,
    pub file: String,
    /// Seconds.
    #[serde(default)]
    pub interval: f64,
    #[serde(default)]
    pub limit: Option<u64>,
    pub rules: Vec<LoadedRule>,
    #[serde(default)]
    pub evaluation_time: Option<f64>,
    #[serde(default)]
    pub last_evaluation: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LoadedRule {
    Alerting(AlertingRuleStatus),
    Recording(RecordingRuleStatus),
}

impl LoadedRule {
    pub fn name(&self) -> &str {
        match self {
            LoadedRule::Alerting(r) => &r.name,
            LoadedRule::Recording(r) => &r.name,
        }
    }
    pub fn health(&self) -> RuleHealth {
        match self {
            LoadedRule::Alerting(r) => r.health,
            LoadedRule::Recording(r) => r.health,
        }
    }
    pub fn last_error(&self) -> Option<&str> {
        match self {
            LoadedRule::Alerting(r) => r.last_error.as_deref(),
            LoadedRule::Recording(r) => r.last_error.as_deref(),
        }
        .filter(|e| !e.is_empty())
    }
    pub fn last_evaluation(&self) -> Option<Timestamp> {
        match self {
            LoadedRule::Alerting(r) => r.last_evaluation,
            LoadedRule::Recording(r) => r.last_evaluation,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleHealth {
    Ok,
    Err,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertingRuleStatus {
    pub name: String,
    pub query: String,
    /// `for`, in seconds.
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub keep_firing_for: Option<f64>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub alerts: Vec<ActiveAlert>,
    pub health: RuleHealth,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub evaluation_time: Option<f64>,
    #[serde(default)]
    pub last_evaluation: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRuleStatus {
    pub name: String,
    pub query: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub health: RuleHealth,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub evaluation_time: Option<f64>,
    #[serde(default)]
    pub last_evaluation: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertsData {
    pub alerts: Vec<ActiveAlert>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveAlert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    #[serde(default)]
    pub active_at: Option<Timestamp>,
    #[serde(default)]
    pub value: Option<String>,
}

impl ActiveAlert {
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map(String::as_str).unwrap_or("<unnamed>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Pending,
    #[serde(other)]
    Inactive,
}

/// The `data` of `/api/v1/query` and `/api/v1/query_range`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryData {
    Vector(Vec<InstantSeries>),
    Matrix(Vec<RangeSeries>),
    Scalar(SamplePair),
    String(SamplePair),
}

/// One series of an instant vector. `value` is absent for a native histogram sample.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstantSeries {
    #[serde(default)]
    pub metric: BTreeMap<String, String>,
    #[serde(default)]
    pub value: Option<SamplePair>,
}

/// One series of a range query: its samples in time order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RangeSeries {
    #[serde(default)]
    pub metric: BTreeMap<String, String>,
    #[serde(default)]
    pub values: Vec<SamplePair>,
}

/// `[unix seconds, "value"]`: Prometheus writes sample values as strings (`"NaN"`, `"+Inf"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SamplePair(pub f64, pub String);

impl SamplePair {
    /// The evaluation time.
    pub fn time(&self) -> Option<Timestamp> {
        let nanos = (self.0 * 1e9).round();
        if !nanos.is_finite() {
            return None;
        }
        Timestamp::from_nanosecond(nanos as i128).ok()
    }

    /// The value as a number: `NaN`, `+Inf` and `-Inf` included; None when it is not a number.
    pub fn value(&self) -> Option<f64> {
        parse_sample_value(&self.1)
    }
}

/// Prometheus' sample value text as a number (`NaN`, `+Inf`, `-Inf`, `1e-3`).
pub fn parse_sample_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// The `data` of `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsData {
    #[serde(default)]
    pub active_targets: Vec<ActiveTarget>,
}

/// One scrape target as Prometheus sees it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    /// The labels the target's series get (`job`, `instance`, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub scrape_pool: String,
    #[serde(default)]
    pub scrape_url: String,
    #[serde(default)]
    pub health: String,
    #[serde(default)]
    pub last_error: String,
    /// e.g. `15s`; absent before Prometheus 2.43, when the configuration says it instead.
    #[serde(default)]
    pub scrape_interval: Option<String>,
}

/// The `data` of `/api/v1/status/config`: the configuration as YAML text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConfigData {
    pub yaml: String,
}
