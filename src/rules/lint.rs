//! kgents' findings on alerting rules beyond what Prometheus rejects: severity, summary,
//! runbook and `for`; promtool's duplicate-rule lint; conflicting severities for one alert
//! name; and the expected alerts (by name and severity) against the rule sources.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::outcome::{Finding, Level};
use crate::rules::names::format_prometheus_duration;
use crate::rules::{CheckOptions, RuleEntry, RuleFinding, RuleSource, codes};

/// An alert that must exist, with the severity it must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedAlert {
    pub name: String,
    pub severity: String,
}

fn blank(v: Option<&String>) -> bool {
    v.is_none_or(|s| s.trim().is_empty())
}

/// Adds the per-alert findings, the duplicate lint and severity conflicts to `entries`.
pub fn lint_entries(entries: &mut [RuleEntry], opts: &CheckOptions) {
    for e in entries.iter_mut() {
        let (Some(_), Some(rule)) = (&e.alert, &e.rule) else {
            continue;
        };
        let mut add = Vec::new();
        match rule.labels.get("severity").map(|s| s.trim()) {
            None | Some("") => add.push((
                codes::SEVERITY_MISSING,
                Level::Error,
                "no `severity` label, so it cannot be routed".to_string(),
            )),
            Some("none") => add.push((
                codes::SEVERITY_NONE,
                Level::Warning,
                "severity `none`: fine for a deliberate always-firing alert (Watchdog), otherwise it is never routed"
                    .into(),
            )),
            Some(s) if !opts.known_severities.iter().any(|k| k == s) => add.push((
                codes::SEVERITY_UNKNOWN,
                Level::Warning,
                format!("unknown severity `{s}` (expected one of: {})", opts.known_severities.join(", ")),
            )),
            Some(_) => {}
        }
        if blank(rule.annotations.get("summary")) {
            add.push((codes::SUMMARY_MISSING, Level::Warning, "no `summary` annotation".into()));
        }
        if blank(rule.annotations.get("runbook_url")) {
            add.push((codes::RUNBOOK_MISSING, Level::Warning, "no `runbook_url` annotation".into()));
        }
        match rule.for_duration {
            None => add.push((codes::FOR_ZERO, Level::Warning, "no `for`: fires on the first bad evaluation".into())),
            Some(d) if d.is_zero() => add.push((
                codes::FOR_ZERO,
                Level::Warning,
                format!("`for: {}`: fires on the first bad evaluation", format_prometheus_duration(d)),
            )),
            Some(_) => {}
        }
        e.findings.extend(add.into_iter().map(|(c, l, m)| RuleFinding::new(c, l, m, None)));
    }
    lint_duplicates(entries);
    lint_severity_conflicts(entries);
}

/// promtool's lint: two rules of one file with the same name and labels. A warning, since
/// promtool still accepts the file.
fn lint_duplicates(entries: &mut [RuleEntry]) {
    // (source, rule name, labels) -> where it first appeared.
    type RuleKey = (RuleSource, String, Vec<(String, String)>);
    let mut first: BTreeMap<RuleKey, String> = BTreeMap::new();
    for e in entries.iter_mut() {
        let Some(rule) = &e.rule else { continue };
        let Some(name) = e.alert.clone().or_else(|| e.record.clone()) else {
            continue;
        };
        let labels: Vec<(String, String)> = rule.labels.clone().into_iter().collect();
        let here = format!("group {}, rule {}", e.group.as_deref().unwrap_or(""), rule.index);
        match first.get(&(e.source.clone(), name.clone(), labels.clone())) {
            Some(earlier) => e.findings.push(RuleFinding::new(
                codes::DUPLICATE,
                Level::Warning,
                format!("duplicate rule: same name {name:?} and labels as {earlier}"),
                None,
            )),
            None => {
                first.insert((e.source.clone(), name, labels), here);
            }
        }
    }
}

/// One alert name with several severities. Tiered alerts (different thresholds) are a known
/// pattern and only noted; the same expression under two severities is a real conflict.
fn lint_severity_conflicts(entries: &mut [RuleEntry]) {
    let mut by_name: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for e in entries.iter() {
        if let (Some(a), Some(sev), Some(rule)) = (&e.alert, e.severity(), &e.rule) {
            by_name.entry(a.clone()).or_default().push((sev.to_string(), rule.expr.trim().to_string()));
        }
    }
    for e in entries.iter_mut() {
        let (Some(a), Some(rule)) = (&e.alert, &e.rule) else {
            continue;
        };
        let Some(all) = by_name.get(a) else { continue };
        let severities: BTreeSet<&str> = all.iter().map(|(s, _)| s.as_str()).collect();
        if severities.len() < 2 {
            continue;
        }
        let expr = rule.expr.trim();
        let same_expr_differs =
            all.iter().filter(|(_, x)| x == expr).map(|(s, _)| s.as_str()).collect::<BTreeSet<_>>().len() > 1;
        let list = severities.into_iter().collect::<Vec<_>>().join(", ");
        let (level, msg) = if same_expr_differs {
            (Level::Warning, format!("alert {a} has conflicting severities ({list}) for the same expression"))
        } else {
            (Level::Info, format!("alert {a} exists with severities {list} (tiered thresholds)"))
        };
        e.findings.push(RuleFinding::new(codes::SEVERITY_CONFLICT, level, msg, None));
    }
}

/// Each expected alert must be in the sources with the expected severity.
pub fn judge_expected(entries: &[RuleEntry], expected: &[ExpectedAlert]) -> Vec<Finding> {
    let mut out = Vec::new();
    for x in expected {
        let found: Vec<&RuleEntry> = entries.iter().filter(|e| e.alert.as_deref() == Some(x.name.as_str())).collect();
        if found.is_empty() {
            out.push(
                Finding::error(codes::EXPECTED_MISSING, format!("expected alert {} is in no rule source", x.name))
                    .target(&x.name)
                    .fact("expected_severity", &x.severity),
            );
            continue;
        }
        if !found.iter().any(|e| e.severity() == Some(x.severity.as_str())) {
            let got: BTreeSet<&str> = found.iter().map(|e| e.severity().unwrap_or("<none>")).collect();
            let got = got.into_iter().collect::<Vec<_>>().join(", ");
            out.push(
                Finding::error(
                    codes::EXPECTED_WRONG_SEVERITY,
                    format!("alert {} has severity {got}, expected {}", x.name, x.severity),
                )
                .target(found[0].describe())
                .fact("expected_severity", &x.severity)
                .fact("found_severity", got),
            );
        }
    }
    out
}
