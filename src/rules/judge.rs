//! Pure judgements on what a running Prometheus reports: expected and source alerts loaded,
//! rules healthy and recently evaluated, and alerts firing now (critical ones block).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

use crate::outcome::Finding;
use crate::prometheus::api::{AlertState, AlertsData, LoadedRule, RuleHealth, RulesData};
use crate::rules::lint::ExpectedAlert;
use crate::rules::{RuleEntry, codes};

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Judges `/api/v1/rules` against the expected alerts and the alerts found in the sources.
/// Health and evaluation age are judged for the rules named there, or for every loaded rule
/// when neither is given.
pub fn judge_rules(
    rules: &RulesData,
    expected: &[ExpectedAlert],
    sources: &[RuleEntry],
    now: Timestamp,
    max_eval_age: Duration,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut loaded_alerts: BTreeMap<&str, Vec<Option<&str>>> = BTreeMap::new();
    for g in &rules.groups {
        for r in &g.rules {
            if let LoadedRule::Alerting(a) = r {
                loaded_alerts.entry(&a.name).or_default().push(a.labels.get("severity").map(String::as_str));
            }
        }
    }

    // Each alert of the sources, once per name, with the first place it was found.
    let mut source_alerts: BTreeMap<&str, &RuleEntry> = BTreeMap::new();
    for e in sources {
        if let Some(a) = &e.alert {
            source_alerts.entry(a.as_str()).or_insert(e);
        }
    }
    for (name, e) in &source_alerts {
        if !loaded_alerts.contains_key(name) {
            out.push(
                Finding::error(
                    codes::NOT_LOADED,
                    format!(
                        "alert {name} is in {} but Prometheus has not loaded it (reload or restart Prometheus; check the rule_files glob and the volume mount)",
                        e.source
                    ),
                )
                .target(e.describe()),
            );
        }
    }
    for x in expected {
        match loaded_alerts.get(x.name.as_str()) {
            None if source_alerts.contains_key(x.name.as_str()) => {} // reported as not loaded above
            None => out.push(
                Finding::error(
                    codes::EXPECTED_NOT_LOADED,
                    format!("expected alert {} is not loaded in Prometheus", x.name),
                )
                .target(&x.name),
            ),
            Some(sevs) if !sevs.contains(&Some(x.severity.as_str())) => {
                let got: BTreeSet<&str> = sevs.iter().map(|s| s.unwrap_or("<none>")).collect();
                let got = got.into_iter().collect::<Vec<_>>().join(", ");
                out.push(
                    Finding::error(
                        codes::LOADED_WRONG_SEVERITY,
                        format!("loaded alert {} has severity {got}, expected {}", x.name, x.severity),
                    )
                    .target(&x.name)
                    .fact("expected_severity", &x.severity)
                    .fact("loaded_severity", got),
                );
            }
            Some(_) => {}
        }
    }

    let mut scope: BTreeSet<&str> = expected.iter().map(|x| x.name.as_str()).collect();
    scope.extend(sources.iter().filter_map(|e| e.alert.as_deref().or(e.record.as_deref())));
    let all = scope.is_empty();
    for g in &rules.groups {
        // A group evaluated every 10m is 0-10m old at any moment: judging it against a shorter
        // allowed age would flap. Allow two of its intervals at least (one missed evaluation).
        let interval = Duration::try_from_secs_f64(g.interval * 2.0).unwrap_or_default();
        let allowed = max_eval_age.max(interval);
        let max_age = jiff::SignedDuration::try_from(allowed).unwrap_or(jiff::SignedDuration::MAX);
        for r in g.rules.iter().filter(|r| all || scope.contains(r.name())) {
            let target = format!("{} group {}, {}", g.file, g.name, r.name());
            if r.health() == RuleHealth::Err || r.last_error().is_some() {
                let err = r.last_error().unwrap_or("health err");
                out.push(
                    Finding::error(codes::RULE_UNHEALTHY, format!("rule {} fails to evaluate: {err}", r.name()))
                        .target(&target)
                        .fact("health", format!("{:?}", r.health()).to_lowercase()),
                );
            }
            // Go's zero time (year 1) means never evaluated.
            match r.last_evaluation().filter(|t| t.as_second() > 0) {
                None => out.push(
                    Finding::error(codes::RULE_STALE, format!("rule {} has never been evaluated", r.name()))
                        .target(&target),
                ),
                Some(t) => {
                    let age = now.duration_since(t);
                    if age > max_age {
                        out.push(
                            Finding::error(
                                codes::RULE_STALE,
                                format!(
                                    "rule {} was last evaluated {}s ago (allowed {}s)",
                                    r.name(),
                                    age.as_secs(),
                                    allowed.as_secs()
                                ),
                            )
                            .target(&target)
                            .fact("last_evaluation", t),
                        );
                    }
                }
            }
        }
    }
    out
}

/// Judges `/api/v1/alerts`: a firing critical alert blocks; firing warnings are listed.
pub fn judge_alerts(alerts: &AlertsData) -> Vec<Finding> {
    let mut out = Vec::new();
    for a in alerts.alerts.iter().filter(|a| a.state == AlertState::Firing) {
        let severity = a.labels.get("severity").map(String::as_str);
        let (code, level_word) = match severity {
            Some("critical") => (codes::FIRING_CRITICAL, "critical"),
            Some("warning") => (codes::FIRING_WARNING, "warning"),
            _ => continue,
        };
        let since = a.active_at.map(|t| t.to_string()).unwrap_or_else(|| "unknown".into());
        let msg = format!("{level_word} alert {} is firing since {since}", a.name());
        let mut f =
            if code == codes::FIRING_CRITICAL { Finding::error(code, msg) } else { Finding::warning(code, msg) };
        f = f.target(a.name()).fact("labels", labels_text(&a.labels)).fact("activeAt", since);
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(interval: f64, last_eval: &str) -> RulesData {
        serde_json::from_value(serde_json::json!({"groups": [{"name": "g", "file": "a.yml", "interval": interval,
            "rules": [{"type": "recording", "name": "job:up:sum", "query": "sum(up)", "health": "ok",
            "lastEvaluation": last_eval}]}]}))
        .unwrap()
    }

    #[test]
    fn staleness_allows_two_group_intervals() {
        let now: Timestamp = "2025-01-01T12:00:00Z".parse().unwrap();
        let five_min = Duration::from_secs(300);
        let eight_min_ago = "2025-01-01T11:52:00Z";
        // Evaluated every 10m: 8 minutes ago is on time.
        assert!(judge_rules(&rules(600.0, eight_min_ago), &[], &[], now, five_min).is_empty());
        // Evaluated every 30s: 8 minutes ago is stale, with the allowed age in the message.
        let f = judge_rules(&rules(30.0, eight_min_ago), &[], &[], now, five_min);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, codes::RULE_STALE);
        assert!(f[0].message.contains("allowed 300s"), "{}", f[0].message);
        // Garbage intervals do not panic.
        assert_eq!(judge_rules(&rules(1e300, eight_min_ago), &[], &[], now, five_min).len(), 1);
        assert_eq!(judge_rules(&rules(-1.0, eight_min_ago), &[], &[], now, five_min).len(), 1);
    }
}
