//! `diff` between two reports: new failures, fixes, other changes, added and removed items.

mod common;

use kgents_gate::diff::{ChangeKind, diff, render_diff};
use kgents_gate::outcome::Outcome;
use kgents_gate::report::{Decision, parse_json, render_json};

fn set(report: &mut kgents_gate::report::Report, id: &str, outcome: Outcome, code: &str, blocks: bool) {
    let item = report.items.iter_mut().find(|i| i.id == id).unwrap();
    item.outcome = outcome;
    item.code = code.into();
    item.blocks = blocks;
    common::recompute(report);
}

#[test]
fn unchanged_reports() {
    let old = common::sample();
    // Through JSON, as the `diff` command reads them.
    let new = parse_json(&render_json(&old)).unwrap();
    let d = diff(&old, &new);
    assert!(d.is_unchanged());
    assert!(!d.has_new_blocking_failure());
    assert_eq!(render_diff(&d), "Decision: BLOCKED (unchanged)\nNo item changed.\n");
}

#[test]
fn new_blocking_failure_is_detected() {
    let old = common::sample();
    let mut new = old.clone();
    set(&mut new, "network.default-deny", Outcome::Fail, "netpol-no-default-deny", true);
    let d = diff(&old, &new);
    assert!(d.has_new_blocking_failure());
    let c: Vec<_> = d.of_kind(ChangeKind::NewBlockingFailure).collect();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].id.as_str(), c[0].old.outcome, c[0].new.outcome),
        ("network.default-deny", Outcome::Pass, Outcome::Fail)
    );
    let text = render_diff(&d);
    assert!(text.contains("New blocking failures (1)\n  network.default-deny  pass -> fail (blocking)\n"), "{text}");
    assert!(text.contains("netpol-no-default-deny"), "{text}");
}

#[test]
fn non_blocking_warning_is_a_new_failure_but_not_blocking() {
    let old = common::sample();
    let mut new = old.clone();
    set(&mut new, "secrets.unused", Outcome::Warn, "secret-unused", false);
    let d = diff(&old, &new);
    assert!(!d.has_new_blocking_failure());
    assert_eq!(d.of_kind(ChangeKind::NewFailure).count(), 1);
}

#[test]
fn fixed_item_and_unverified_change() {
    let old = common::sample();
    let mut new = old.clone();
    set(&mut new, "network.nats-isolated", Outcome::Pass, "ok", false);
    set(&mut new, "secrets.no-plain-env", Outcome::Unverified, "forbidden", true);
    new.decision = Decision::Incomplete;
    let d = diff(&old, &new);
    // Unverified blocks as INCOMPLETE, not as a failure: no exit 1 from diff.
    assert!(!d.has_new_blocking_failure());
    let fixed: Vec<_> = d.of_kind(ChangeKind::Fixed).map(|c| c.id.as_str()).collect();
    assert_eq!(fixed, vec!["network.nats-isolated"]);
    let other: Vec<_> = d.of_kind(ChangeKind::Changed).map(|c| c.id.as_str()).collect();
    assert_eq!(other, vec!["secrets.no-plain-env"]);
    let text = render_diff(&d);
    assert!(text.starts_with("Decision: BLOCKED -> INCOMPLETE\n"), "{text}");
    assert!(text.contains("Fixed (1)\n  network.nats-isolated  fail (blocking) -> pass\n"), "{text}");
}

#[test]
fn still_failing_with_another_code_is_not_new_but_shown() {
    let old = common::sample();
    let mut new = old.clone();
    set(&mut new, "network.nats-isolated", Outcome::Fail, "netpol-allowed-from-external", true);
    let d = diff(&old, &new);
    assert!(!d.has_new_blocking_failure(), "it was already a blocking failure");
    let text = render_diff(&d);
    assert!(text.contains("[isolation-allowed-from-denied-source -> netpol-allowed-from-external]"), "{text}");
}

#[test]
fn added_and_removed_items() {
    let old = common::sample();
    let mut new = old.clone();
    let mut added = new.items[1].clone();
    added.id = "network.redis-isolated".into();
    new.items.push(added);
    new.items.retain(|i| i.id != "docs.dr-drill");
    common::recompute(&mut new);
    let d = diff(&old, &new);
    assert!(d.has_new_blocking_failure(), "a new item that fails and blocks counts");
    assert_eq!(d.added.len(), 1);
    assert_eq!(d.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["docs.dr-drill"]);
    let text = render_diff(&d);
    assert!(text.contains("Added items (1)\n  + network.redis-isolated  fail (blocking)"), "{text}");
    assert!(text.contains("Removed items (1)\n  - docs.dr-drill  pass"), "{text}");
}

#[test]
fn measured_values_are_compared_per_objective() {
    let old = common::sample();
    let mut new = old.clone();
    let slo = new.items.iter_mut().find(|i| i.id == "observability.api-slo").unwrap();
    slo.measurements[0].value = 0.55;
    slo.measurements[0].status = kgents_gate::outcome::MeasurementStatus::Violated;
    slo.measurements.remove(1);
    let mut added = slo.measurements[0].clone();
    added.name = "rps".into();
    added.value = 478.0;
    added.status = kgents_gate::outcome::MeasurementStatus::Met;
    slo.measurements.push(added);
    let d = diff(&old, &new);
    assert!(!d.is_unchanged());
    assert!(!d.has_new_blocking_failure(), "a value is not an outcome: the audit judges regressions");
    let names: Vec<(&str, bool, bool)> =
        d.measurements.iter().map(|m| (m.name.as_str(), m.old.is_some(), m.new.is_some())).collect();
    assert_eq!(names, [("p95", true, true), ("rps", false, true), ("error_rate", true, false)]);
    assert_eq!(d.measurements[0].change().as_deref(), Some("+25.71%"));
    let text = render_diff(&d);
    assert!(text.contains("Measurements (3)"), "{text}");
    assert!(
        text.contains(
            "observability.api-slo  p95: 0.4375 warning -> 0.55 violated (+25.71%)  [<= 0.5; warn above 0.4]"
        ),
        "{text}"
    );
    assert!(text.contains("observability.api-slo  rps: none -> 478 met"), "{text}");
    assert!(text.contains("observability.api-slo  error_rate: 0.0042 met -> none"), "{text}");
    // The same through JSON, as `diff --format json` prints it.
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["measurements"][0]["new"]["status"], "violated");
    assert_eq!(json["measurements"][0]["old"]["value"], 0.4375);
}
