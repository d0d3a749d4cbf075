//! The JUnit XML report (quick-junit): one testsuite per category, one testcase per item, so
//! GitLab, Jenkins and GitHub show the checklist as a test run.
//!
//! Mapping: pass -> success; fail and pending -> `<failure>`; warn -> success with a note, or
//! `<failure>` when it blocks (`--strict`); waived and skipped -> `<skipped>`; unverified -> `<error>`.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::{Fact, Outcome};
use crate::report::text;
use crate::report::{ItemReport, Report};

pub use quick_junit::SerializeError;

/// Renders the report as JUnit XML.
pub fn render_junit(report: &Report) -> Result<String, SerializeError> {
    let started = chrono::DateTime::parse_from_rfc3339(&report.provenance.started_at).ok();
    let mut junit = quick_junit::Report::new(format!("kgents-gate: {}", report.launch.name));
    junit.set_time(Duration::from_millis(report.provenance.duration_ms));
    if let Some(ts) = started {
        junit.set_timestamp(ts);
    }
    let properties = [
        Property::new("decision", report.decision.label()),
        Property::new("decision-reason", report.decision_reason.as_str()),
        Property::new("exit-code", report.exit_code.to_string()),
        Property::new("checklist", report.provenance.checklist.as_str()),
        Property::new("checklist-sha256", report.provenance.checklist_sha256.as_str()),
        Property::new("tool-version", format!("{} {}", report.tool.name, report.tool.version)),
        Property::new("strict", report.strict.to_string()),
        Property::new("interrupted", report.provenance.interrupted.to_string()),
    ];
    let mut suites: Vec<(String, String)> = report.categories.iter().map(|c| (c.id.clone(), c.title.clone())).collect();
    // An item whose category is missing from the progress list still gets a suite.
    for item in &report.items {
        if !suites.iter().any(|(id, _)| *id == item.category) {
            suites.push((item.category.clone(), item.category.clone()));
        }
    }
    for (id, title) in suites {
        let mut suite = TestSuite::new(title);
        suite.extra.insert("id".into(), id.as_str().into());
        if let Some(ts) = started {
            suite.set_timestamp(ts);
        }
        // Every suite carries the report-level facts: readers that show one suite still see them.
        suite.add_properties(properties.iter().cloned());
        let mut time = Duration::ZERO;
        for item in report.items.iter().filter(|i| i.category == id) {
            time += Duration::from_millis(item.duration_ms);
            suite.add_test_case(test_case(item, started));
        }
        suite.set_time(time);
        junit.add_test_suite(suite);
    }
    // U+FFFE and U+FFFF are not XML characters and quick-junit keeps them; a reader would
    // reject the whole file, so they are replaced (they never occur in the markup itself).
    Ok(junit.to_string()?.replace(['\u{FFFE}', '\u{FFFF}'], "\u{FFFD}"))
}

pub(crate) fn test_case(item: &ItemReport, started: Option<chrono::DateTime<chrono::FixedOffset>>) -> TestCase {
    let status = match item.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Warn if !item.blocks => TestCaseStatus::success(),
        Outcome::Fail | Outcome::Warn => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(item.code.as_str()).set_message(item.message.as_str()).set_description(body(item));
            s
        }
        Outcome::Pending => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("signoff-pending").set_message(item.message.as_str()).set_description(body(item));
            s
        }
        Outcome::Unverified => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            let (ty, message) = match &item.unverified {
                Some(u) => {
                    let mut m = u.reason.clone();
                    if let Some(p) = &u.missing_permission {
                        let _ = write!(m, " (missing permission: {p})");
                    }
                    (u.code.clone(), m)
                }
                None => (item.code.clone(), item.message.clone()),
            };
            s.set_type(ty).set_message(message).set_description(body(item));
            s
        }
        Outcome::Waived => {
            let mut s = TestCaseStatus::skipped();
            let message = match &item.waiver {
                Some(w) => {
                    let mut m = format!(
                        "waived: {} (owner {}, expires {}, {})",
                        w.reason,
                        w.owner,
                        w.expires,
                        text::days_left(w.days_left)
                    );
                    if let Some(t) = &w.ticket {
                        let _ = write!(m, " [{t}]");
                    }
                    m
                }
                None => format!("waived: {}", item.message),
            };
            s.set_type("waived").set_message(message).set_description(body(item));
            s
        }
        Outcome::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("skipped").set_message(item.message.as_str());
            s
        }
    };
    let mut case = TestCase::new(format!("{}: {}", item.id, item.title), status);
    case.set_classname(item.category.as_str());
    case.set_time(Duration::from_millis(item.duration_ms));
    if let Some(ts) = started {
        case.set_timestamp(ts);
    }
    if let Some(owner) = &item.owner {
        case.add_property(Property::new("owner", owner.as_str()));
    }
    case.add_property(Property::new("severity", item.severity.as_str()));
    case.add_property(Property::new("outcome", item.outcome.as_str()));
    case.add_property(Property::new("code", item.code.as_str()));
    match item.outcome {
        Outcome::Pass => {
            case.set_system_out(body(item));
        }
        Outcome::Warn if !item.blocks => {
            let note =
                format!("warning (does not block the launch): {}: {}\n\n{}", item.code, item.message, body(item));
            case.set_system_out(note);
        }
        _ => {}
    }
    case
}

/// The text body: message, findings with their evidence, evidence, waiver, sign-off, remediation.
fn body(item: &ItemReport) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "{} {}: {}", item.outcome, item.code, item.message);
    for g in &item.gaps {
        let _ = writeln!(b, "could not check ({}): {}", g.code, g.reason);
        if let Some(p) = &g.missing_permission {
            let _ = writeln!(b, "missing permission: {p}");
        }
    }
    if !item.findings.is_empty() {
        b.push_str("\nfindings:\n");
        for f in &item.findings {
            let target = f.target.as_deref().map(|t| format!(" [{t}]")).unwrap_or_default();
            let _ = writeln!(b, "  {} {}{}: {}", f.level.as_str(), f.code, target, f.message);
            facts(&mut b, "    ", &f.evidence);
        }
    }
    if !item.waived_findings.is_empty() {
        b.push_str("\nwaived findings (not counted):\n");
        for w in &item.waived_findings {
            let f = &w.finding;
            let target = f.target.as_deref().map(|t| format!(" [{t}]")).unwrap_or_default();
            let _ = writeln!(b, "  {} {}{}: {}", f.level.as_str(), f.code, target, f.message);
            facts(&mut b, "    ", &f.evidence);
            let ticket = w.waiver.ticket.as_deref().map(|t| format!(" [{t}]")).unwrap_or_default();
            let _ = writeln!(
                b,
                "    waived by {} until {} ({}): {}{ticket}",
                w.waiver.owner,
                w.waiver.expires,
                text::days_left(w.waiver.days_left),
                w.waiver.reason
            );
        }
    }
    if !item.measurements.is_empty() {
        b.push_str("\nmeasured:\n");
        for m in &item.measurements {
            let _ = writeln!(b, "  {}", text::measurement_line(m));
        }
    }
    if !item.evidence.is_empty() {
        b.push_str("\nevidence:\n");
        facts(&mut b, "  ", &item.evidence);
    }
    if let Some(w) = &item.waiver {
        let _ = writeln!(
            b,
            "\nwaiver: {} (owner {}, expires {}, {})",
            w.reason,
            w.owner,
            w.expires,
            text::days_left(w.days_left)
        );
    }
    if let Some(s) = &item.signoff {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let _ = writeln!(
            b,
            "\nsign-off: by {} on {}, expires {}, evidence {}",
            opt(&s.by),
            opt(&s.on),
            opt(&s.expires),
            opt(&s.evidence)
        );
    }
    if item.outcome != Outcome::Pass
        && let Some(r) = &item.remediation
    {
        let _ = writeln!(b, "\nremediation: {r}");
    }
    b
}

fn facts(b: &mut String, indent: &str, facts: &[Fact]) {
    for f in facts {
        let _ = writeln!(b, "{indent}{} = {}", f.name, f.value);
    }
}
