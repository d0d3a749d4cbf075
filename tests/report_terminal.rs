//! The terminal renderer: snapshot at 80 columns without colour, the width limit, colour escapes.

mod common;

use kgents_gate::report::{ColorChoice, Decision, Styles, render_terminal};
use unicode_width::UnicodeWidthStr;

fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(line.width() <= width, "line wider than {width} columns ({}):\n{line}", line.width());
    }
}

#[test]
fn plain_80_columns_snapshot() {
    let out = render_terminal(&common::sample(), &Styles::plain(), 80);
    assert!(!out.contains('\x1b'), "no escape sequence without colour");
    assert_fits(&out, 80);
    insta::assert_snapshot!(out);
}

#[test]
fn shows_what_a_reader_needs() {
    let out = render_terminal(&common::sample(), &Styles::plain(), 80);
    assert!(out.contains(" BLOCKED "));
    assert!(out.contains("3 blocking items failed or are pending"));
    assert!(out.contains("Secrets management") && out.contains("2/3"), "category progress");
    // Blocking items with owners.
    assert!(out.contains("network.nats-isolated · owner platform"));
    assert!(out.contains("docs.runbook-reviewed · owner ops-lead"));
    // Unverified names the missing permission.
    assert!(out.contains("list prometheusrules.monitoring.coreos.com"));
    // Waivers with owner, expiry and days left; an expired one says so.
    assert!(out.contains("owner ops-lead · expires 2026-03-31 (45 days left) · OPS-142"));
    assert!(out.contains("expired 13 days ago"));
    // Sign-offs: who, when, evidence.
    assert!(out.contains("by sre-lead on 2025-11-02"));
    // Provenance.
    assert!(out.contains("sha256 3f2a9c1b4d5e"));
    assert!(out.contains("https://prod-eu.k8s.example.com:6443 · Kubernetes v1.33.1 ·"));
    assert!(out.contains("context prod-eu"));
    assert!(out.contains("took 12.4 s"));
}

#[test]
fn narrow_and_wide_terminals_stay_within_width() {
    let report = common::sample();
    for width in [40, 60, 100, 132] {
        assert_fits(&render_terminal(&report, &Styles::plain(), width), width);
    }
    // Below the minimum the renderer keeps 40 columns rather than one word per line.
    assert_fits(&render_terminal(&report, &Styles::plain(), 10), 40);
}

#[test]
fn colour_on_emits_escapes_and_the_same_text() {
    let report = common::sample();
    let colored = render_terminal(&report, &Styles::resolve(ColorChoice::Always, false, true), 80);
    assert!(colored.contains("\x1b["), "escape sequences with colour on");
    let stripped = strip_ansi(&colored);
    assert_eq!(stripped, render_terminal(&report, &Styles::plain(), 80));
}

#[test]
fn approved_report_has_no_blocking_section() {
    let mut report = common::sample();
    for item in &mut report.items {
        item.outcome = kgents_gate::outcome::Outcome::Pass;
        item.blocks = false;
    }
    common::recompute(&mut report);
    report.decision = Decision::Approved;
    report.decision_reason = "every blocking item passed".into();
    report.exit_code = 0;
    let out = render_terminal(&report, &Styles::plain(), 80);
    assert!(out.contains(" APPROVED "));
    assert!(!out.contains("Blocking the launch"));
}

#[test]
fn control_characters_in_user_text_are_neutralised() {
    let mut report = common::sample();
    report.items[0].title = "evil \x1b[2J title".into();
    report.items[0].evidence[0].value = "value\x07".into();
    let out = render_terminal(&report, &Styles::plain(), 80);
    assert!(!out.contains('\x1b') && !out.contains('\x07'));
}

fn strip_ansi(s: &str) -> String {
    let re = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
    re.replace_all(s, "").into_owned()
}

#[test]
fn offline_interrupted_and_odd_reports_render_in_every_format() {
    use kgents_gate::report::{render_json, render_junit, render_markdown};
    let mut report = common::sample();
    report.provenance.cluster = None;
    report.provenance.interrupted = true;
    report.provenance.manifests = vec!["deploy/".into()];
    report.provenance.started_at = "not a timestamp".into();
    // An item whose category is not in the progress list.
    report.items[0].category = "unlisted".into();
    let out = render_terminal(&report, &Styles::plain(), 80);
    assert_fits(&out, 80);
    assert!(out.contains("none (offline)"));
    assert!(out.contains("yes: the audit was cut short"));
    assert!(out.contains("Other items") && out.contains("network.default-deny"));
    let md = render_markdown(&report);
    assert!(
        md.contains("**Interrupted:**")
            && md.contains("#### Other items")
            && md.contains("| Cluster | none (offline) |")
    );
    let xml = render_junit(&report).unwrap();
    assert!(xml.contains("classname=\"unlisted\"") && !xml.contains("timestamp="));

    // A report with no categories and no items at all.
    let mut empty = report.clone();
    empty.items.clear();
    empty.categories.clear();
    empty.blocking.clear();
    empty.waivers.clear();
    empty.signoffs.clear();
    common::recompute(&mut empty);
    let text = render_terminal(&empty, &Styles::plain(), 80);
    assert_fits(&text, 80);
    assert!(text.contains("  0 items\n"), "{text}");
    assert!(render_markdown(&empty).contains("0 items"));
    assert!(render_junit(&empty).unwrap().contains("tests=\"0\""));
    assert!(render_json(&empty).contains("\"items\": []"));
}
