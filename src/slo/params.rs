//! The `prometheus-slo` check's parameters: the Prometheus to ask, the objectives (a PromQL
//! query and its bounds, warning thresholds, key and weight, how several series aggregate,
//! an allowed regression against a baseline), sampling, range lookback and the total score.

use std::time::Duration;

use crate::probe::ParamReader;
use crate::prometheus::{PrometheusParams, PrometheusRead};

/// What an objective's value must hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// At most this.
    Max(f64),
    /// At least this.
    Min(f64),
    /// Between the two, both included.
    Range(f64, f64),
}

/// How the values of several series become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Max,
    Min,
    Avg,
    Sum,
}

impl Aggregate {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::Avg => "avg",
            Aggregate::Sum => "sum",
        }
    }

    /// The aggregate of `values` (not empty).
    pub fn apply(self, values: &[f64]) -> f64 {
        match self {
            Aggregate::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Aggregate::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Aggregate::Sum => values.iter().sum(),
            Aggregate::Avg => values.iter().sum::<f64>() / values.len() as f64,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// Unique within the item; the key of the recorded value in the report.
    pub name: String,
    pub query: String,
    pub bound: Bound,
    /// Above this (and within the bound): a warning.
    pub warn_max: Option<f64>,
    /// Below this (and within the bound): a warning.
    pub warn_min: Option<f64>,
    /// A violated key objective fails the item whatever the score.
    pub key: bool,
    pub weight: u64,
    pub aggregate: Option<Aggregate>,
    /// How much worse than the baseline's value the value may be (0.1 for `"10%"`).
    pub max_regression: Option<f64>,
    /// Evaluate over this window (a range query) instead of at one instant.
    pub lookback: Option<Duration>,
}

/// Keptn's total score thresholds: pass at or above `pass`, warning at or above `warn`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TotalScore {
    pub pass: f64,
    pub warn: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SloParams {
    pub prometheus: PrometheusParams,
    pub objectives: Vec<Objective>,
    /// Times each query is evaluated; every sample must hold.
    pub samples: u64,
    /// Time between samples.
    pub interval: Duration,
    /// Default window of range evaluation for the objectives.
    pub lookback: Option<Duration>,
    /// Resolution of range evaluation.
    pub step: Option<Duration>,
    pub total_score: Option<TotalScore>,
    /// An earlier JSON report to compare with (`--baseline` takes precedence).
    pub baseline: Option<String>,
}

const OBJECTIVE_KEYS: &[&str] = &[
    "name",
    "query",
    "max",
    "min",
    "range",
    "warn_max",
    "warn_min",
    "key",
    "weight",
    "aggregate",
    "max_regression",
    "lookback",
];

/// More samples than this is a load test, not a gate.
const MAX_SAMPLES: u64 = 100;

impl SloParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let prometheus = PrometheusParams::read(r, true);
        let mut objectives: Vec<Objective> = Vec::new();
        let list = r.table_list("objectives", OBJECTIVE_KEYS);
        match r.value("objectives") {
            None => {
                r.error("objectives", "missing parameter `objectives` (a list of { name, query, max | min | range })")
            }
            Some(toml::Value::Array(a)) if a.is_empty() => {
                r.error("objectives", "`objectives` is empty: give at least one objective")
            }
            Some(_) => {}
        }
        let mut ok = true;
        for (i, t) in list {
            match read_objective(r, i, t) {
                Some(o) if objectives.iter().any(|p| p.name == o.name) => {
                    r.error_at(&format!("objectives[{i}].name"), format!("objective name {:?} is used twice", o.name));
                    ok = false;
                }
                Some(o) => objectives.push(o),
                None => ok = false,
            }
        }
        let samples = r.opt_u64("samples").unwrap_or(1);
        if !(1..=MAX_SAMPLES).contains(&samples) {
            r.error("samples", format!("`samples` must be between 1 and {MAX_SAMPLES}, found {samples}"));
        }
        let interval = r.opt_duration("interval");
        if interval.is_some() && samples < 2 {
            r.error("interval", "`interval` is the time between samples: it needs `samples` of 2 or more");
        }
        if interval.is_some_and(|d| d.is_zero()) {
            r.error("interval", "`interval` must be more than 0s");
        }
        let lookback = r.opt_duration("lookback");
        let step = r.opt_duration("step");
        if step.is_some_and(|d| d.is_zero()) {
            r.error("step", "`step` must be more than 0s");
        }
        if step.is_some() && lookback.is_none() && objectives.iter().all(|o| o.lookback.is_none()) {
            r.error("step", "`step` is the resolution of range evaluation: it needs a `lookback`");
        }
        let total_score = read_total_score(r);
        let baseline = r.opt_str("baseline");
        let PrometheusRead::Given(prometheus) = prometheus else {
            return None;
        };
        if !ok || objectives.is_empty() {
            return None;
        }
        Some(SloParams {
            prometheus: *prometheus,
            objectives,
            samples,
            interval: interval.unwrap_or(Duration::from_secs(10)),
            lookback,
            step,
            total_score,
            baseline,
        })
    }

    /// Whether any objective compares with a baseline.
    pub fn compares_with_baseline(&self) -> bool {
        self.objectives.iter().any(|o| o.max_regression.is_some())
    }
}

fn read_total_score(r: &mut ParamReader) -> Option<TotalScore> {
    let t = r.opt_table("total_score")?;
    let mut score = TotalScore { pass: 0.9, warn: 0.75 };
    for (k, v) in t {
        let parsed = crate::probe::params::parse_percent(v)
            .and_then(|p| if p <= 1.0 { Ok(p) } else { Err(format!("must be at most \"100%\", found {v}")) });
        match (k.as_str(), parsed) {
            ("pass", Ok(p)) => score.pass = p,
            ("warn", Ok(p)) => score.warn = p,
            ("pass" | "warn", Err(e)) => r.error_at(&format!("total_score.{k}"), format!("`total_score.{k}` {e}")),
            (other, _) => r.error_at(
                &format!("total_score.{other}"),
                format!("unknown key `{other}` in `total_score` (expected: pass, warn)"),
            ),
        }
    }
    if score.warn > score.pass {
        r.error("total_score", "`total_score.warn` must not be above `total_score.pass`");
    }
    Some(score)
}

fn read_objective(r: &mut ParamReader, i: usize, t: &toml::Table) -> Option<Objective> {
    let at = |field: &str| format!("objectives[{i}].{field}");
    let name = r.str_in("objectives", i, t, "name", true);
    let query = r.str_in("objectives", i, t, "query", true);
    if let Some(q) = &query
        && let Err(e) = promql_parser::parser::parse(q)
    {
        r.error_at(&at("query"), format!("`{}` is not valid PromQL: {}", at("query"), e.trim()));
    }
    let max = r.f64_in("objectives", i, t, "max");
    let min = r.f64_in("objectives", i, t, "min");
    let range = read_range(r, i, t);
    let given = [t.contains_key("max"), t.contains_key("min"), t.contains_key("range")];
    let bound = match (max, min, range) {
        _ if given.iter().filter(|g| **g).count() != 1 => {
            r.error_at(
                &format!("objectives[{i}]"),
                format!("`objectives[{i}]` needs exactly one of `max`, `min` or `range` (`range = [low, high]`)"),
            );
            None
        }
        (Some(m), None, None) => Some(Bound::Max(m)),
        (None, Some(m), None) => Some(Bound::Min(m)),
        (None, None, Some((lo, hi))) => Some(Bound::Range(lo, hi)),
        _ => None,
    };
    let warn_max = r.f64_in("objectives", i, t, "warn_max");
    let warn_min = r.f64_in("objectives", i, t, "warn_min");
    if let Some(b) = bound {
        check_warnings(r, i, b, warn_max, warn_min);
    }
    let key = r.bool_in("objectives", i, t, "key").unwrap_or(true);
    let weight = r.u64_in("objectives", i, t, "weight").unwrap_or(1);
    if weight == 0 {
        r.error_at(&at("weight"), format!("`{}` must be 1 or more", at("weight")));
    }
    let aggregate = match t.get("aggregate") {
        None => None,
        Some(toml::Value::String(s)) => match s.as_str() {
            "max" => Some(Aggregate::Max),
            "min" => Some(Aggregate::Min),
            "avg" => Some(Aggregate::Avg),
            "sum" => Some(Aggregate::Sum),
            other => {
                r.error_at(
                    &at("aggregate"),
                    format!("`{}` must be max, min, avg or sum, found {other:?}", at("aggregate")),
                );
                None
            }
        },
        Some(other) => {
            r.error_at(
                &at("aggregate"),
                format!("`{}` must be max, min, avg or sum, found {}", at("aggregate"), other.type_str()),
            );
            None
        }
    };
    let max_regression = r.percent_in("objectives", i, t, "max_regression");
    if max_regression.is_some() && matches!(bound, Some(Bound::Range(..))) {
        r.error_at(
            &at("max_regression"),
            format!("`{}` needs `max` or `min`: a range has no worse direction to regress in", at("max_regression")),
        );
    }
    let lookback = r.duration_in("objectives", i, t, "lookback");
    if lookback.is_some_and(|d| d.is_zero()) {
        r.error_at(&at("lookback"), format!("`{}` must be more than 0s", at("lookback")));
    }
    let bound = bound?;
    if weight == 0 || (max_regression.is_some() && matches!(bound, Bound::Range(..))) {
        return None;
    }
    Some(Objective {
        name: name?,
        query: query?,
        bound,
        warn_max,
        warn_min,
        key,
        weight,
        aggregate,
        max_regression,
        lookback,
    })
}

fn read_range(r: &mut ParamReader, i: usize, t: &toml::Table) -> Option<(f64, f64)> {
    let path = format!("objectives[{i}].range");
    let v = t.get("range")?;
    let pair: Option<Vec<f64>> = v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| match x {
                toml::Value::Integer(n) => Some(*n as f64),
                toml::Value::Float(f) if f.is_finite() => Some(*f),
                _ => None,
            })
            .collect()
    });
    match pair {
        Some(p) if p.len() == 2 && v.as_array().is_some_and(|a| a.len() == 2) && p[0] <= p[1] => Some((p[0], p[1])),
        Some(p) if p.len() == 2 && v.as_array().is_some_and(|a| a.len() == 2) => {
            r.error_at(&path, format!("`{path}` must be [low, high] with low <= high, found [{}, {}]", p[0], p[1]));
            None
        }
        _ => {
            r.error_at(&path, format!("`{path}` must be two numbers [low, high]"));
            None
        }
    }
}

/// A warning threshold lies inside the bound, on the side it warns about.
fn check_warnings(r: &mut ParamReader, i: usize, bound: Bound, warn_max: Option<f64>, warn_min: Option<f64>) {
    let (low, high) = match bound {
        Bound::Max(m) => (None, Some(m)),
        Bound::Min(m) => (Some(m), None),
        Bound::Range(lo, hi) => (Some(lo), Some(hi)),
    };
    if let Some(w) = warn_max {
        let path = format!("objectives[{i}].warn_max");
        match high {
            None => r.error_at(&path, format!("`{path}` warns before `max` is reached: it needs `max` or `range`")),
            Some(h) if w >= h || low.is_some_and(|l| w < l) => r.error_at(
                &path,
                format!("`{path}` = {w} must lie below the upper bound {h} (and within the bound): it warns before the bound is crossed"),
            ),
            _ => {}
        }
    }
    if let Some(w) = warn_min {
        let path = format!("objectives[{i}].warn_min");
        match low {
            None => r.error_at(&path, format!("`{path}` warns before `min` is reached: it needs `min` or `range`")),
            Some(l) if w <= l || high.is_some_and(|h| w > h) => r.error_at(
                &path,
                format!("`{path}` = {w} must lie above the lower bound {l} (and within the bound): it warns before the bound is crossed"),
            ),
            _ => {}
        }
    }
}
