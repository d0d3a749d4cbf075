//! The whole alert-rules judgement from already-fetched inputs (rule objects, Prometheus'
//! answers, the exporters' metric names) to a `ProbeReport`, and the fetching of Prometheus'
//! answers: rules, alerts, targets, retention and the series the alerts read.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;

use crate::outcome::{ProbeReport, Unverified};
use crate::prometheus::api::{AlertsData, LoadedRule, RulesData};
use crate::prometheus::scrape::ScrapeIntervals;
use crate::prometheus::{PromApiError, PrometheusParams};
use crate::rules::fire::{CanFire, Exposed, FireInput, FiringRule, LiveFire, judge_fire};
use crate::rules::fire_fetch::{fetch_fire, loaded_selectors};
use crate::rules::lint::{judge_expected, lint_entries};
use crate::rules::names::parse_prometheus_duration;
use crate::rules::params::AlertRulesParams;
use crate::rules::{RuleEntry, judge, sources};

/// What Prometheus answered, fetched together.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSnapshot {
    pub rules: RulesData,
    pub alerts: AlertsData,
    /// Scrape intervals of the active targets' jobs (None when they could not be read).
    pub intervals: Option<ScrapeIntervals>,
    /// `storageRetention` of the runtime information.
    pub retention: Option<Duration>,
    /// The series the alerts in scope read (None when `can_fire = "none"`).
    pub fire: Option<LiveFire>,
}

impl PrometheusSnapshot {
    /// Rules and alerts only, as the older parts of the check read them.
    pub fn new(rules: RulesData, alerts: AlertsData) -> Self {
        PrometheusSnapshot { rules, alerts, intervals: None, retention: None, fire: None }
    }
}

/// Asks Prometheus for its rules, alerts, targets and retention, then, for the alerts in scope,
/// for the series they read; `timeout` bounds each request.
pub async fn fetch_snapshot(
    p: &AlertRulesParams,
    prom: &PrometheusParams,
    timeout: Duration,
) -> Result<PrometheusSnapshot, PromApiError> {
    let client = prom.client(timeout)?;
    let (rules, alerts, targets, info) =
        tokio::join!(client.rules(), client.alerts(), client.targets(), client.runtime_info());
    let mut snap = PrometheusSnapshot::new(rules?, alerts?);
    if p.fire.scope == CanFire::None {
        return Ok(snap);
    }
    snap.intervals = targets.ok().map(|t| ScrapeIntervals::from_targets(&t, &format!("the targets of {}", prom.url)));
    snap.retention = info.ok().and_then(|i| {
        let text = i.get("storageRetention")?.as_str()?.split_whitespace().next()?.to_string();
        parse_prometheus_duration(&text).ok()
    });
    let selectors = loaded_selectors(&snap.rules, p.fire.scope, &p.expected);
    snap.fire = Some(fetch_fire(&client, &selectors, p.fire.lookback, snap.intervals.as_ref()).await);
    Ok(snap)
}

/// The whole check from already-fetched inputs: the cluster objects (ConfigMaps and
/// PrometheusRules as JSON; `None` when the PrometheusRule CRD is absent is the caller's
/// `skipped`), and Prometheus' answer (None when no URL is configured).
pub fn evaluate(
    params: &AlertRulesParams,
    objects: &[serde_json::Value],
    prometheus: Option<Result<PrometheusSnapshot, PromApiError>>,
    now: Timestamp,
) -> ProbeReport {
    evaluate_with(params, objects, prometheus, &[], now)
}

/// As [`evaluate`], with the exporters' metric names (or why each could not be read).
pub fn evaluate_with(
    params: &AlertRulesParams,
    objects: &[serde_json::Value],
    prometheus: Option<Result<PrometheusSnapshot, PromApiError>>,
    exporters: &[Result<Exposed, Unverified>],
    now: Timestamp,
) -> ProbeReport {
    let mut report = ProbeReport::default();
    let selected: Vec<serde_json::Value> = params.select(objects).into_iter().cloned().collect();
    let mut entries = sources::entries_from_objects(&selected, &params.options);
    lint_entries(&mut entries, &params.options);
    report.fact("rule_sources", selected.len());
    report.fact("alerts_in_sources", entries.iter().filter(|e| e.alert.is_some()).count());
    for e in &entries {
        report.extend_findings(e.to_findings());
    }
    // Without rule sources there is nothing to find the expected alerts in; Prometheus' part
    // still checks that they are loaded.
    if !params.configmaps.is_empty() || !params.prometheusrules.is_empty() {
        report.extend_findings(judge_expected(&entries, &params.expected));
    }
    let snapshot = match prometheus {
        None => None,
        Some(Ok(snap)) => {
            let loaded: usize = snap.rules.groups.iter().map(|g| g.rules.len()).sum();
            report.fact("rules_loaded", loaded);
            report.fact("alerts_active", snap.alerts.alerts.len());
            report.extend_findings(judge::judge_rules(
                &snap.rules,
                &params.expected,
                &entries,
                now,
                params.max_eval_age,
            ));
            report.extend_findings(judge::judge_alerts(&snap.alerts));
            Some(snap)
        }
        Some(Err(e)) => {
            report.gap(Unverified::new(e.unverified_code(), format!("the running Prometheus was not checked: {e}")));
            None
        }
    };
    if params.fire.scope != CanFire::None {
        can_fire(&mut report, params, objects, &entries, snapshot.as_ref(), exporters);
    }
    report
}

/// The "can it fire" part: the alerts in scope, loaded ones as Prometheus evaluates them, the
/// others as the sources write them.
fn can_fire(
    report: &mut ProbeReport,
    params: &AlertRulesParams,
    objects: &[serde_json::Value],
    entries: &[RuleEntry],
    snapshot: Option<&PrometheusSnapshot>,
    exporters: &[Result<Exposed, Unverified>],
) {
    let scope = params.fire.scope;
    let mut rules = Vec::new();
    let mut recorded: BTreeSet<String> = entries.iter().filter_map(|e| e.record.clone()).collect();
    if let Some(snap) = snapshot {
        for g in &snap.rules.groups {
            for r in &g.rules {
                match r {
                    LoadedRule::Recording(rec) => {
                        recorded.insert(rec.name.clone());
                    }
                    LoadedRule::Alerting(a) if scope.covers(&a.name, &params.expected) => rules.push(FiringRule {
                        alert: a.name.clone(),
                        expr: a.query.clone(),
                        for_duration: Some(Duration::from_secs_f64(a.duration.max(0.0))),
                        target: format!("Prometheus group {} ({}), alert {}", g.name, g.file, a.name),
                        loaded: true,
                    }),
                    LoadedRule::Alerting(_) => {}
                }
            }
        }
    }
    for e in entries {
        let (Some(alert), Some(def)) = (&e.alert, &e.rule) else {
            continue;
        };
        if scope.covers(alert, &params.expected) && !rules.iter().any(|r| &r.alert == alert) && !e.has_errors() {
            rules.push(FiringRule {
                alert: alert.clone(),
                expr: def.expr.clone(),
                for_duration: def.for_duration,
                target: e.describe(),
                loaded: false,
            });
        }
    }
    let mut exposed = Vec::new();
    for x in exporters {
        match x {
            Ok(e) => {
                report.fact(format!("exporter {}", e.source), format!("{} metric names", e.names.len()));
                exposed.push(e.clone());
            }
            Err(u) => report.gap(u.clone()),
        }
    }
    let configured = params.fire.scrape_config.as_ref().and_then(|c| {
        let origin = format!("ConfigMap {}/{} key {}", c.namespace, c.name, c.key);
        let text = params
            .scrape_config(objects)
            .and_then(|o| o.pointer(&format!("/data/{}", c.key.replace('~', "~0").replace('/', "~1"))));
        let parsed = match text.and_then(|t| t.as_str()) {
            Some(t) => ScrapeIntervals::from_config(t, &origin),
            None => Err(format!("{origin} is not among the objects read")),
        };
        parsed
            .map_err(|why| {
                report
                    .gap(Unverified::new("scrape-config-unreadable", format!("scrape intervals were not read: {why}")))
            })
            .ok()
    });
    // The running Prometheus' targets say what it does; the configuration what it should.
    let live_intervals = snapshot.and_then(|s| s.intervals.clone()).filter(|i| !i.jobs.is_empty());
    let intervals = live_intervals.or(configured);
    report.fact("alerts_checked_to_fire", rules.len());
    let (findings, gaps) = judge_fire(FireInput {
        rules: &rules,
        recorded: &recorded,
        exposed: &exposed,
        live: snapshot.and_then(|s| s.fire.as_ref()),
        intervals: intervals.as_ref(),
        retention: snapshot.and_then(|s| s.retention),
    });
    report.extend_findings(findings);
    for g in gaps {
        report.gap(g);
    }
}
