//! The launch decision, item outcomes, waivers, sign-offs and exit codes, as docs/decision.md defines
//! them: inline checklists, probe results given directly, assertions on the report.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::civil::{Date, date};
use kgents_gate::checklist::load_from_strs;
use kgents_gate::decide::{DecideInput, decide};
use kgents_gate::engine::ItemRun;
use kgents_gate::outcome::{Finding, Outcome, ProbeReport};
use kgents_gate::report::{Decision, Provenance, Report, SignoffStatus, WaiverStatus};

const CATALOG: &str = r#"
[[check]]
id = "docs.file"
probe = "file"
title = "A document exists"
description = "The file exists and has the headings."
remediation = "Write the document."
[check.defaults]
path = "README.md"
"#;

const TODAY: Date = date(2026, 11, 23);

fn checklist(items: &str) -> kgents_gate::checklist::Checklist {
    let text = format!(
        "[launch]\nname = \"test launch\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"docs\"\ntitle = \"Documentation\"\n\n[[category]]\nid = \"ops\"\ntitle = \"Operations\"\n{items}"
    );
    match load_from_strs(("checklist.toml", &text), &[("checks/docs.toml", CATALOG)], TODAY) {
        Ok(l) => l.checklist,
        Err(d) => {
            panic!("invalid test checklist: {}", d.iter().map(|d| d.render(false)).collect::<Vec<_>>().join("\n"))
        }
    }
}

fn item(id: &str, category: &str, severity: &str) -> String {
    format!(
        "\n[[item]]\nid = \"{id}\"\ncategory = \"{category}\"\ntitle = \"item {id}\"\ncheck = \"docs.file\"\nseverity = \"{severity}\"\nowner = \"owner-of-{id}\"\n"
    )
}

fn pass() -> ProbeReport {
    ProbeReport::default()
}

fn fail(code: &str) -> ProbeReport {
    let mut r = ProbeReport::default();
    r.push(Finding::error(code, format!("{code} happened")).fact("observed", 0));
    r
}

fn warning(code: &str) -> ProbeReport {
    let mut r = ProbeReport::default();
    r.push(Finding::warning(code, "a warning"));
    r
}

fn run_with(
    c: &kgents_gate::checklist::Checklist,
    results: &[(&str, ProbeReport)],
    strict: bool,
    only: Option<&[&str]>,
) -> Report {
    let runs: BTreeMap<String, ItemRun> = results
        .iter()
        .map(|(id, r)| (id.to_string(), ItemRun { report: r.clone(), duration: Duration::from_millis(5) }))
        .collect();
    let selected: Vec<String> = match only {
        Some(ids) => ids.iter().map(|s| s.to_string()).collect(),
        None => c.items.iter().map(|i| i.id.clone()).collect(),
    };
    decide(DecideInput {
        checklist: c,
        selected: &selected,
        runs: &runs,
        today: TODAY,
        strict,
        provenance: Provenance::default(),
    })
}

fn outcome(r: &Report, id: &str) -> Outcome {
    r.items.iter().find(|i| i.id == id).unwrap().outcome
}

#[test]
fn all_passing_is_approved_with_exit_0() {
    let c = checklist(&(item("a", "docs", "blocking") + &item("b", "ops", "warning")));
    let r = run_with(&c, &[("a", pass()), ("b", pass())], false, None);
    assert_eq!(r.decision, Decision::Approved);
    assert_eq!(r.exit_code, 0);
    assert_eq!(outcome(&r, "a"), Outcome::Pass);
    assert_eq!(r.items[0].code, "ok");
    assert!(r.blocking.is_empty());
}

#[test]
fn a_failed_blocking_item_blocks_with_exit_1_and_names_the_owner() {
    let c = checklist(&(item("a", "docs", "blocking") + &item("b", "ops", "blocking")));
    let r = run_with(&c, &[("a", fail("file-missing")), ("b", pass())], false, None);
    assert_eq!(r.decision, Decision::Blocked);
    assert_eq!(r.exit_code, 1);
    let a = &r.items[0];
    assert_eq!((a.outcome, a.code.as_str()), (Outcome::Fail, "file-missing"));
    assert_eq!(a.remediation.as_deref(), Some("Write the document."));
    assert_eq!(r.blocking.len(), 1);
    assert_eq!(r.blocking[0].owner.as_deref(), Some("owner-of-a"));
}

#[test]
fn a_failed_warning_item_warns_and_strict_makes_it_block() {
    let c = checklist(&(item("a", "docs", "warning") + &item("i", "docs", "info")));
    let results = [("a", fail("file-missing")), ("i", fail("file-missing"))];
    let r = run_with(&c, &results, false, None);
    assert_eq!(outcome(&r, "a"), Outcome::Warn);
    assert_eq!(outcome(&r, "i"), Outcome::Warn);
    assert_eq!(r.decision, Decision::Approved);
    let r = run_with(&c, &results, true, None);
    assert_eq!(r.decision, Decision::Blocked);
    assert_eq!(r.blocking.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["a"], "info items never block");
}

#[test]
fn warning_level_findings_on_a_blocking_item_warn_without_blocking() {
    let c = checklist(&item("a", "docs", "blocking"));
    let r = run_with(&c, &[("a", warning("netpol-ipblock-matches-pods"))], false, None);
    assert_eq!(outcome(&r, "a"), Outcome::Warn);
    assert_eq!(r.decision, Decision::Approved);
    assert_eq!(run_with(&c, &[("a", warning("file-heading-missing"))], true, None).decision, Decision::Blocked);
}

#[test]
fn unverified_blocking_item_is_incomplete_with_exit_3_never_pass() {
    let c = checklist(&(item("a", "docs", "blocking") + &item("b", "ops", "warning")));
    let forbidden = ProbeReport::forbidden("cannot list pods", "list pods in namespace x");
    let r = run_with(&c, &[("a", forbidden.clone()), ("b", pass())], false, None);
    assert_eq!(r.decision, Decision::Incomplete);
    assert_eq!(r.exit_code, 3);
    assert_eq!(outcome(&r, "a"), Outcome::Unverified);
    assert!(r.items[0].message.contains("missing permission: list pods in namespace x"));
    // Unverified on a non-blocking item does not hold the launch.
    let r = run_with(&c, &[("a", pass()), ("b", forbidden)], false, None);
    assert_eq!(r.decision, Decision::Approved);
    // A failure elsewhere outranks incompleteness.
    let c2 = checklist(&(item("a", "docs", "blocking") + &item("c", "ops", "blocking")));
    let r =
        run_with(&c2, &[("a", ProbeReport::unverified("timeout", "slow")), ("c", fail("file-missing"))], false, None);
    assert_eq!(r.decision, Decision::Blocked);
}

#[test]
fn a_valid_waiver_covers_a_failure_with_days_left() {
    let c = checklist(
        &(item("a", "docs", "blocking")
            + "\n[[waiver]]\nitem = \"a\"\nreason = \"deferred\"\nowner = \"ops-lead\"\nexpires = 2026-12-31\nticket = \"OPS-142\"\n"),
    );
    let r = run_with(&c, &[("a", fail("file-missing"))], false, None);
    assert_eq!(r.decision, Decision::ApprovedWithWaivers);
    assert_eq!(r.exit_code, 0);
    let a = &r.items[0];
    assert_eq!(a.outcome, Outcome::Waived);
    assert_eq!(a.code, "file-missing", "the finding code stays visible");
    let w = a.waiver.as_ref().unwrap();
    assert_eq!((w.days_left, w.owner.as_str(), w.ticket.as_deref()), (38, "ops-lead", Some("OPS-142")));
    assert_eq!(r.waivers[0].status, WaiverStatus::Applied);
}

#[test]
fn an_expired_waiver_on_a_blocking_item_blocks() {
    let c = checklist(
        &(item("a", "docs", "blocking")
            + "\n[[waiver]]\nitem = \"a\"\nreason = \"deferred\"\nowner = \"ops-lead\"\nexpires = 2026-11-22\n"),
    );
    let r = run_with(&c, &[("a", fail("file-missing"))], false, None);
    assert_eq!(r.decision, Decision::Blocked);
    assert_eq!(outcome(&r, "a"), Outcome::Fail);
    assert!(r.items[0].message.contains("expired on 2026-11-22"));
    assert_eq!(r.waivers[0].status, WaiverStatus::Expired);
    assert_eq!(r.waivers[0].days_left, -1);
    // Expiring today is still in force.
    let c = checklist(
        &(item("a", "docs", "blocking")
            + "\n[[waiver]]\nitem = \"a\"\nreason = \"deferred\"\nowner = \"ops-lead\"\nexpires = 2026-11-23\n"),
    );
    assert_eq!(run_with(&c, &[("a", fail("file-missing"))], false, None).decision, Decision::ApprovedWithWaivers);
}

#[test]
fn a_waiver_matching_nothing_is_a_warning_note() {
    let c = checklist(
        &(item("a", "docs", "blocking")
            + "\n[[waiver]]\nitem = \"a\"\nreason = \"r\"\nowner = \"o\"\nexpires = 2027-01-01\n"),
    );
    let r = run_with(&c, &[("a", pass())], false, None);
    assert_eq!(r.decision, Decision::Approved);
    assert_eq!(r.waivers[0].status, WaiverStatus::Unused);
    assert!(r.notes.iter().any(|n| n.contains("matches nothing")), "{:?}", r.notes);
}

#[test]
fn a_waiver_never_covers_what_could_not_be_checked() {
    let c = checklist(
        &(item("a", "docs", "blocking")
            + "\n[[waiver]]\nitem = \"a\"\nreason = \"r\"\nowner = \"o\"\nexpires = 2027-01-01\n"),
    );
    let r = run_with(&c, &[("a", ProbeReport::unverified("unreachable", "down"))], false, None);
    assert_eq!(outcome(&r, "a"), Outcome::Unverified);
    assert_eq!(r.decision, Decision::Incomplete);
}

fn manual(id: &str, severity: &str, signoff: &str) -> String {
    format!(
        "\n[[item]]\nid = \"{id}\"\ncategory = \"ops\"\ntitle = \"manual {id}\"\nkind = \"manual\"\nseverity = \"{severity}\"\nowner = \"ops\"\n{signoff}"
    )
}

#[test]
fn manual_items_are_pending_until_signed_off_and_again_after_expiry() {
    let valid = "signoff = { by = \"ops-lead\", on = 2026-11-01, evidence = \"DR-7\", expires = 2027-05-01 }\n";
    let expired = "signoff = { by = \"ops-lead\", on = 2026-01-01, evidence = \"DR-7\", expires = 2026-06-01 }\n";
    let c = checklist(
        &(manual("m1", "blocking", valid) + &manual("m2", "blocking", "") + &manual("m3", "blocking", expired)),
    );
    let r = run_with(&c, &[], false, None);
    assert_eq!(outcome(&r, "m1"), Outcome::Pass);
    assert!(r.items[0].message.contains("ops-lead"));
    assert_eq!((outcome(&r, "m2"), r.items[1].code.as_str()), (Outcome::Pending, "signoff-missing"));
    assert_eq!((outcome(&r, "m3"), r.items[2].code.as_str()), (Outcome::Pending, "signoff-expired"));
    assert_eq!(r.decision, Decision::Blocked);
    let statuses: Vec<SignoffStatus> = r.signoffs.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [SignoffStatus::Valid, SignoffStatus::Missing, SignoffStatus::Expired]);
    assert_eq!(r.signoffs[0].evidence.as_deref(), Some("DR-7"));
}

#[test]
fn a_pending_warning_item_blocks_only_under_strict() {
    let c = checklist(&manual("m", "warning", ""));
    assert_eq!(run_with(&c, &[], false, None).decision, Decision::Approved);
    assert_eq!(run_with(&c, &[], true, None).decision, Decision::Blocked);
}

#[test]
fn a_pending_item_can_be_waived_as_an_accepted_risk() {
    let c = checklist(
        &(manual("loki", "blocking", "")
            + "\n[[waiver]]\nitem = \"loki\"\nreason = \"Loki deferred\"\nowner = \"ops-lead\"\nexpires = 2027-03-31\n"),
    );
    let r = run_with(&c, &[], false, None);
    assert_eq!(outcome(&r, "loki"), Outcome::Waived);
    assert_eq!(r.decision, Decision::ApprovedWithWaivers);
}

#[test]
fn deselected_items_are_skipped_and_progress_counts_what_ran() {
    let c =
        checklist(&(item("a", "docs", "blocking") + &item("b", "docs", "blocking") + &item("c", "docs", "blocking")));
    let r = run_with(&c, &[("a", pass()), ("b", fail("file-missing"))], false, Some(&["a", "b"]));
    assert_eq!((outcome(&r, "c"), r.items[2].code.as_str()), (Outcome::Skipped, "deselected"));
    let docs = &r.categories[0];
    assert_eq!((docs.title.as_str(), docs.done, docs.total), ("Documentation", 1, 2));
    assert_eq!(r.summary.skipped, 1);
    let ops = &r.categories[1];
    assert_eq!((ops.done, ops.total), (0, 0));
}

#[test]
fn a_probe_that_does_not_apply_is_skipped_not_passed() {
    let c = checklist(&item("a", "docs", "blocking"));
    let r = run_with(&c, &[("a", ProbeReport::skipped("the PrometheusRule CRD is not installed"))], false, None);
    assert_eq!((outcome(&r, "a"), r.items[0].code.as_str()), (Outcome::Skipped, "not-applicable"));
    assert_eq!(r.decision, Decision::Approved);
    assert_eq!(r.categories[0].total, 0);
}

#[test]
fn a_check_that_did_not_run_is_unverified() {
    let c = checklist(&item("a", "docs", "blocking"));
    let r = run_with(&c, &[], false, None);
    assert_eq!((outcome(&r, "a"), r.items[0].code.as_str()), (Outcome::Unverified, "not-run"));
    assert_eq!(r.decision, Decision::Incomplete);
}

#[test]
fn several_findings_are_all_kept_and_the_message_counts_them() {
    let c = checklist(&item("a", "docs", "blocking"));
    let mut rep = fail("file-missing");
    rep.push(Finding::error("file-empty", "two"));
    rep.push(Finding::info("file-heading-missing", "fyi"));
    let r = run_with(&c, &[("a", rep)], false, None);
    assert_eq!(r.items[0].code, "file-missing");
    assert!(r.items[0].message.ends_with("(and 1 more)"), "{}", r.items[0].message);
    assert_eq!(r.items[0].findings.len(), 3);
    assert_eq!(r.items[0].evidence.len(), 0);
}

/// The one verdict rule with gaps (docs/decision.md): an error finding fails the item whatever
/// could not be seen; a gap beside only warnings, or alone, leaves it unverified; the gaps are
/// kept on the item in every case.
#[test]
fn error_findings_beat_gaps_and_gaps_beat_warnings() {
    use kgents_gate::outcome::Unverified;
    let c =
        checklist(&(item("a", "docs", "blocking") + &item("b", "docs", "blocking") + &item("c", "docs", "warning")));
    let mut error_and_gap = fail("file-missing");
    error_and_gap.gap(Unverified::new("timeout", "a part timed out"));
    let mut warning_and_gap = warning("file-heading-missing");
    warning_and_gap.gap(Unverified::forbidden("cannot list", "list pods in namespace a"));
    let mut non_blocking = fail("file-missing");
    non_blocking.gap(Unverified::new("offline", "offline"));
    let r = run_with(&c, &[("a", error_and_gap), ("b", warning_and_gap), ("c", non_blocking)], false, None);
    let (a, b, cc) = (&r.items[0], &r.items[1], &r.items[2]);
    assert_eq!((a.outcome, a.code.as_str()), (Outcome::Fail, "file-missing"));
    assert_eq!(a.gaps.len(), 1);
    assert!(a.message.ends_with("; 1 part not verified"), "{}", a.message);
    assert_eq!((b.outcome, b.code.as_str()), (Outcome::Unverified, "forbidden"));
    assert_eq!(b.findings.len(), 1, "the warning is kept");
    assert_eq!(b.unverified.as_ref().and_then(|u| u.missing_permission.as_deref()), Some("list pods in namespace a"));
    assert_eq!((cc.outcome, cc.gaps.len()), (Outcome::Warn, 1));
    assert_eq!(r.decision, Decision::Blocked, "the definite failure decides, not the gaps");
}

#[test]
fn every_text_of_a_large_report_is_redacted() {
    // Thousands of findings: the report is redacted on every core, and none may be missed.
    let c = checklist(&item("a", "docs", "blocking"));
    let mut r = ProbeReport::default();
    for i in 0..3000 {
        let url = format!("nats://agent:CANARYpw{i}x@nats-{i}.kgents:4222");
        r.push(Finding::error("unreachable", format!("cannot reach {url}")).fact("url", url.clone()).target(url));
    }
    let report = run_with(&c, &[("a", r)], false, None);
    assert_eq!(report.items[0].findings.len(), 3000);
    use kgents_gate::report::{Styles, render_json, render_junit, render_markdown, render_terminal};
    for (format, text) in [
        ("json", render_json(&report)),
        ("markdown", render_markdown(&report)),
        ("junit", render_junit(&report).unwrap()),
        ("terminal", render_terminal(&report, &Styles::plain(), 100)),
    ] {
        assert!(!text.contains("CANARYpw"), "a credential survived redaction in the {format} report");
    }
    let last = &report.items[0].findings[2999];
    assert!(last.message.contains("nats-2999.kgents:4222"), "{}", last.message);
    assert!(last.target.as_deref().is_some_and(|t| t.contains("nats-2999.kgents")), "{:?}", last.target);
}
