//! Whether alert rules can fire, pure: every vector selector an alert reads is looked for in the
//! running Prometheus (now, and within a lookback) and in the exporters' metrics; `rate()`
//! windows and `for` durations are compared with the scrape interval of the series they read, and
//! ranges with the retention. The answers are fetched by `fire_fetch`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

use crate::outcome::{Finding, Unverified};
use crate::prometheus::PromApiError;
use crate::prometheus::promql::{LabelMatch, SelectorUse, selectors};
use crate::prometheus::scrape::ScrapeIntervals;
use crate::rules::names::format_prometheus_duration;

/// A series' labels.
pub type Labels = BTreeMap<String, String>;

/// Which alerts are checked for being able to fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanFire {
    /// The expected alerts (the default).
    Expected,
    All,
    None,
}

impl CanFire {
    /// Whether alert `name` is checked.
    pub fn covers(self, name: &str, expected: &[crate::rules::lint::ExpectedAlert]) -> bool {
        match self {
            CanFire::None => false,
            CanFire::All => true,
            CanFire::Expected => expected.iter().any(|e| e.name == name),
        }
    }
}

/// An alert whose expression is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringRule {
    pub alert: String,
    pub expr: String,
    pub for_duration: Option<Duration>,
    /// Where it was read, for finding targets.
    pub target: String,
    /// Loaded in the running Prometheus (only those are looked for there).
    pub loaded: bool,
}

/// What Prometheus said about one selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesSeen {
    /// Series with samples within the lookback.
    pub lookback: Vec<Labels>,
    /// Series with samples now (within two scrape intervals).
    pub now: Vec<Labels>,
    /// When the selector last matched, when it does not now.
    pub last_seen: Option<Timestamp>,
    /// Series of the metric name alone within the lookback, when the selector matched none.
    pub metric_series: Vec<Labels>,
}

/// The running Prometheus' part.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFire {
    pub now: Timestamp,
    pub lookback: Duration,
    /// By selector text.
    pub series: BTreeMap<String, Result<SeriesSeen, PromApiError>>,
    /// Every metric name Prometheus has, when asked (a selector matched nothing).
    pub metric_names: Option<Vec<String>>,
}

/// The metric names one exporter exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    /// The URL or file, for messages.
    pub source: String,
    /// The scrape job it belongs to, when the checklist says.
    pub job: Option<String>,
    pub names: BTreeSet<String>,
}

/// Everything the judgement reads.
#[derive(Debug, Clone, Copy)]
pub struct FireInput<'a> {
    pub rules: &'a [FiringRule],
    /// Names of recording rules: series the rules produce, not exporters.
    pub recorded: &'a BTreeSet<String>,
    pub exposed: &'a [Exposed],
    pub live: Option<&'a LiveFire>,
    pub intervals: Option<&'a ScrapeIntervals>,
    pub retention: Option<Duration>,
}

/// Series Prometheus makes itself, never exported.
const SYNTHETIC: &[&str] = &[
    "ALERTS",
    "ALERTS_FOR_STATE",
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
];

/// The selectors of `expr` worth checking: not inside `absent()`, which fires on no data.
pub fn checked_selectors(expr: &str) -> Vec<SelectorUse> {
    selectors(expr).unwrap_or_default().into_iter().filter(|s| !s.in_absent).collect()
}

pub fn judge_fire(input: FireInput<'_>) -> (Vec<Finding>, Vec<Unverified>) {
    let mut findings = Vec::new();
    let mut gaps = Vec::new();
    for rule in input.rules {
        let mut longest_interval: Option<Duration> = None;
        for sel in checked_selectors(&rule.expr) {
            let text = sel.selector();
            let asked = input.live.filter(|_| rule.loaded).and_then(|l| Some((l, l.series.get(&text)?)));
            let metric = sel.metric.as_deref();
            let produced = metric.is_some_and(|m| SYNTHETIC.contains(&m) || input.recorded.contains(m));
            if let Some(m) = metric.filter(|_| !produced && !input.exposed.is_empty()) {
                findings.extend(not_exported(rule, m, input.exposed));
            }
            match asked {
                Some((live, Ok(seen))) => findings.extend(series_missing(rule, &sel, seen, live)),
                Some((_, Err(e))) => gaps.push(Unverified::new(
                    e.unverified_code(),
                    format!("alert {}: whether series of `{text}` exist was not checked: {e}", rule.alert),
                )),
                None => {}
            }
            let jobs = jobs_of(&sel, asked.and_then(|(_, s)| s.as_ref().ok()), input.exposed);
            let interval = input.intervals.and_then(|i| i.for_jobs(jobs.iter().map(String::as_str)));
            if let Some(i) = interval {
                longest_interval = Some(longest_interval.map_or(i, |l| l.max(i)));
                findings.extend(window_short(rule, &sel, i, &jobs, input.intervals));
            }
            if let (Some(retention), true) = (input.retention, sel.reach() > Duration::ZERO) {
                findings.extend(beyond_retention(rule, &sel, retention));
            }
        }
        if let (Some(f), Some(i)) = (rule.for_duration.filter(|f| !f.is_zero()), longest_interval)
            && f < i
        {
            findings.push(
                Finding::warning(
                    "alert-for-shorter-than-scrape",
                    format!(
                        "alert {} has `for: {}`, shorter than the scrape interval {} of the series it reads: one bad sample fires it",
                        rule.alert,
                        format_prometheus_duration(f),
                        format_prometheus_duration(i)
                    ),
                )
                .target(&rule.target)
                .fact("for", format_prometheus_duration(f))
                .fact("scrape_interval", format_prometheus_duration(i)),
            );
        }
    }
    (findings, gaps)
}

fn not_exported(rule: &FiringRule, metric: &str, exposed: &[Exposed]) -> Option<Finding> {
    if exposed.iter().any(|e| e.names.contains(metric)) {
        return None;
    }
    let all: Vec<&str> = exposed.iter().flat_map(|e| e.names.iter().map(String::as_str)).collect();
    let sources: Vec<&str> = exposed.iter().map(|e| e.source.as_str()).collect();
    let mut f = match crate::checklist::did_you_mean(metric, all.iter().copied()) {
        Some(close) => Finding::error(
            "rule-metric-not-exported",
            format!(
                "alert {} reads `{metric}`, which no exporter exposes; the closest exported name is `{close}`",
                rule.alert
            ),
        )
        .fact("closest", close),
        None => Finding::error(
            "rule-metric-not-exported",
            format!(
                "alert {} reads `{metric}`, which none of the exporters exposes ({})",
                rule.alert,
                sources.join(", ")
            ),
        ),
    };
    f = f.target(&rule.target).fact("metric", metric).fact("exporters", sources.join(", "));
    Some(f)
}

fn series_missing(rule: &FiringRule, sel: &SelectorUse, seen: &SeriesSeen, live: &LiveFire) -> Option<Finding> {
    let text = sel.selector();
    let window = format_prometheus_duration(live.lookback);
    if !seen.now.is_empty() {
        return None;
    }
    if !seen.lookback.is_empty() {
        let when = match seen.last_seen {
            Some(t) => {
                let ago = live.now.duration_since(t);
                let ago = Duration::from_secs(ago.as_secs().max(0) as u64);
                format!("last seen at {t} ({} ago)", format_prometheus_duration(ago))
            }
            None => format!("seen within the last {window}"),
        };
        return Some(
            Finding::warning(
                "alert-series-missing",
                format!(
                    "alert {} reads `{text}`, which has no series now ({when}): it cannot fire until the series are back",
                    rule.alert
                ),
            )
            .target(&rule.target)
            .fact("selector", &text)
            .fact("series_in_lookback", seen.lookback.len())
            .fact("last_seen", seen.last_seen.map(|t| t.to_string()).unwrap_or_else(|| "unknown".into())),
        );
    }
    let why = match sel.metric.as_deref() {
        Some(m) if !seen.metric_series.is_empty() => {
            format!("metric `{m}` exists, but {}", matchers_failing(sel, &seen.metric_series))
        }
        Some(m) => {
            let close = live
                .metric_names
                .as_ref()
                .and_then(|names| crate::checklist::did_you_mean(m, names.iter().map(String::as_str)));
            match close {
                Some(c) => format!("Prometheus has no metric `{m}` (did you mean `{c}`?)"),
                None => format!("Prometheus has no metric `{m}`"),
            }
        }
        None => "no series matches it".to_string(),
    };
    Some(
        Finding::error(
            "alert-series-missing",
            format!("alert {} can never fire: no series of `{text}` in the last {window}: {why}", rule.alert),
        )
        .target(&rule.target)
        .fact("selector", &text)
        .fact("lookback", window),
    )
}

/// Which label matchers no series of the metric satisfies, with the values the label has.
fn matchers_failing(sel: &SelectorUse, series: &[Labels]) -> String {
    let failing: Vec<&LabelMatch> = sel.matchers.iter().filter(|m| !series.iter().any(|s| matches(m, s))).collect();
    if failing.is_empty() {
        let all: Vec<&str> = sel.matchers.iter().map(|m| m.text.as_str()).collect();
        return format!("no series has all of `{}` together", all.join("`, `"));
    }
    let parts: Vec<String> = failing
        .iter()
        .map(|m| {
            let mut values: Vec<&str> = series.iter().filter_map(|s| s.get(&m.name).map(String::as_str)).collect();
            values.sort();
            values.dedup();
            let has = if values.is_empty() {
                format!("its series have no `{}` label", m.name)
            } else {
                let shown: Vec<String> = values.iter().take(5).map(|v| format!("{}={v:?}", m.name)).collect();
                let more = if values.len() > 5 { format!(" and {} more", values.len() - 5) } else { String::new() };
                format!("they have {}{more}", shown.join(", "))
            };
            format!("no series has `{}` ({has})", m.text)
        })
        .collect();
    parts.join("; ")
}

/// Whether a series' labels satisfy a matcher, as PromQL does (a missing label is "").
fn matches(m: &LabelMatch, labels: &Labels) -> bool {
    let v = labels.get(&m.name).map(String::as_str).unwrap_or("");
    let re = || regex::Regex::new(&format!("^(?:{})$", m.value)).ok();
    match m.op {
        "=" => v == m.value,
        "!=" => v != m.value,
        // A regex this crate cannot compile is not judged: assume it matches.
        "=~" => re().is_none_or(|r| r.is_match(v)),
        "!~" => re().is_none_or(|r| !r.is_match(v)),
        _ => true,
    }
}

/// The scrape jobs a selector's series come from: named in it, seen in Prometheus, or the job of
/// the exporters exposing its metric.
fn jobs_of(sel: &SelectorUse, seen: Option<&SeriesSeen>, exposed: &[Exposed]) -> Vec<String> {
    if let Some(m) = sel.matchers.iter().find(|m| m.name == "job" && m.op == "=") {
        return vec![m.value.clone()];
    }
    let mut jobs: Vec<String> =
        seen.map(|s| s.lookback.iter().filter_map(|l| l.get("job").cloned()).collect()).unwrap_or_default();
    if jobs.is_empty()
        && let Some(m) = sel.metric.as_deref()
    {
        jobs = exposed.iter().filter(|e| e.names.contains(m)).filter_map(|e| e.job.clone()).collect();
    }
    jobs.sort();
    jobs.dedup();
    jobs
}

fn window_short(
    rule: &FiringRule,
    sel: &SelectorUse,
    interval: Duration,
    jobs: &[String],
    intervals: Option<&ScrapeIntervals>,
) -> Option<Finding> {
    let function = sel.function.as_deref().filter(|f| matches!(*f, "rate" | "irate" | "increase"))?;
    let range = sel.range?;
    if range >= interval * 2 {
        return None;
    }
    let (w, i) = (format_prometheus_duration(range), format_prometheus_duration(interval));
    let message = format!(
        "alert {} uses {function}(`{}`[{w}]), a window shorter than twice the scrape interval {i}: \
         it often holds fewer than two samples, and {function}() then returns nothing; use at least [{}]",
        rule.alert,
        sel.selector(),
        format_prometheus_duration(interval * 4)
    );
    let f = if range <= interval {
        Finding::error("rule-rate-window-short", message)
    } else {
        Finding::warning("rule-rate-window-short", message)
    };
    let mut f = f.target(&rule.target).fact("window", w).fact("scrape_interval", i);
    if !jobs.is_empty() {
        f = f.fact("jobs", jobs.join(", "));
    }
    if let Some(origin) = intervals.map(|s| s.origin.as_str()) {
        f = f.fact("intervals_from", origin);
    }
    Some(f)
}

fn beyond_retention(rule: &FiringRule, sel: &SelectorUse, retention: Duration) -> Option<Finding> {
    let reach = sel.reach();
    if reach <= retention {
        return None;
    }
    Some(
        Finding::warning(
            "rule-range-beyond-retention",
            format!(
                "alert {} reads `{}` {} back, beyond the retention of {}: the oldest part has no data",
                rule.alert,
                sel.selector(),
                format_prometheus_duration(reach),
                format_prometheus_duration(retention)
            ),
        )
        .target(&rule.target)
        .fact("reach", format_prometheus_duration(reach))
        .fact("retention", format_prometheus_duration(retention)),
    )
}
