//! The decision: turns probe results, sign-offs and waivers into item outcomes and the launch
//! decision, exactly as docs/decision.md defines them. Pure: same inputs, same `Report`.
//! Waivers (of items and of findings) are applied in `waivers`.

mod waivers;

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::checklist::{Checklist, Item, ItemKind, Severity, Signoff};
use crate::engine::ItemRun;
use crate::outcome::{Finding, Level, Outcome, ProbeState, Unverified};
use crate::report::*;
use waivers::WaiverBook;

/// Everything the decision needs besides the checklist and the probe results.
#[derive(Debug, Clone)]
pub struct DecideInput<'a> {
    pub checklist: &'a Checklist,
    /// Item ids selected for this run; the others are `skipped` (deselected).
    pub selected: &'a [String],
    pub runs: &'a BTreeMap<String, ItemRun>,
    pub today: Date,
    pub strict: bool,
    pub provenance: Provenance,
}

/// Days from `today` to `date` (negative when past).
pub fn days_left(today: Date, date: Date) -> i64 {
    (date - today).get_days() as i64
}

fn signoff_status(s: Option<&Signoff>, today: Date) -> SignoffStatus {
    match s {
        None => SignoffStatus::Missing,
        Some(s) if s.on > today => SignoffStatus::Missing,
        Some(s) if s.expires.is_some_and(|e| e < today) => SignoffStatus::Expired,
        Some(_) => SignoffStatus::Valid,
    }
}

fn signoff_report(item: &Item, s: Option<&Signoff>, today: Date) -> SignoffReport {
    SignoffReport {
        item: item.id.clone(),
        by: s.map(|s| s.by.clone()),
        on: s.map(|s| s.on.to_string()),
        evidence: s.map(|s| s.evidence.clone()),
        expires: s.and_then(|s| s.expires.map(|d| d.to_string())),
        status: signoff_status(s, today),
    }
}

/// Builds the immutable report.
pub fn decide(input: DecideInput<'_>) -> Report {
    let DecideInput { checklist, selected, runs, today, strict, provenance } = input;
    let mut items = Vec::new();
    let mut signoffs = Vec::new();
    let mut book = WaiverBook::new(checklist, today);

    for item in &checklist.items {
        let mut r = ItemReport {
            id: item.id.clone(),
            title: item.title.clone(),
            category: item.category.clone(),
            severity: item.severity,
            owner: item.owner.clone(),
            check: item.check().map(|c| c.id.clone()),
            probe: item.check().map_or("manual".to_string(), |c| c.probe.as_str().to_string()),
            outcome: Outcome::Pass,
            code: "ok".into(),
            message: String::new(),
            findings: Vec::new(),
            waived_findings: Vec::new(),
            evidence: Vec::new(),
            remediation: item.check().map(|c| c.remediation.clone()),
            unverified: None,
            gaps: Vec::new(),
            measurements: Vec::new(),
            waiver: None,
            signoff: None,
            blocks: false,
            duration_ms: 0,
        };

        if !selected.contains(&item.id) {
            r.outcome = Outcome::Skipped;
            r.code = "deselected".into();
            r.message = "not selected for this run (--only)".into();
            r.remediation = None;
            items.push(r);
            continue;
        }

        // Raw verdict: what the item shows before any waiver.
        match &item.kind {
            ItemKind::Manual { signoff } => {
                let sr = signoff_report(item, signoff.as_ref(), today);
                r.remediation = Some(
                    "Record the sign-off in the checklist: signoff = { by = \"...\", on = YYYY-MM-DD, evidence = \"...\" }"
                        .into(),
                );
                match sr.status {
                    SignoffStatus::Valid => {
                        let s = signoff.as_ref().expect("valid sign-off exists");
                        r.message = format!("signed off by {} on {} ({})", s.by, s.on, s.evidence);
                        r.remediation = None;
                    }
                    SignoffStatus::Expired => {
                        let s = signoff.as_ref().expect("expired sign-off exists");
                        r.outcome = Outcome::Pending;
                        r.code = "signoff-expired".into();
                        r.message = format!(
                            "sign-off by {} expired on {}",
                            s.by,
                            s.expires.map(|d| d.to_string()).unwrap_or_default()
                        );
                    }
                    SignoffStatus::Missing => {
                        r.outcome = Outcome::Pending;
                        match signoff {
                            Some(s) => {
                                r.code = "signoff-in-future".into();
                                r.message = format!("sign-off dated {} is in the future", s.on);
                            }
                            None => {
                                r.code = "signoff-missing".into();
                                r.message = "waiting for a manual sign-off".into();
                            }
                        }
                    }
                }
                r.signoff = Some(sr.clone());
                signoffs.push(sr);
            }
            ItemKind::Check { def, .. } => {
                if let Some(run) = runs.get(&item.id) {
                    // Findings a finding waiver in force covers do not count for the verdict.
                    let split = book.split_findings(item, def.probe, run.report.findings());
                    judge_run(&mut r, run, &split.in_force, item.severity);
                    book.apply_finding_waivers(&mut r, item, split);
                } else {
                    r.outcome = Outcome::Unverified;
                    r.code = "not-run".into();
                    r.message = "the check did not run".into();
                }
            }
        }
        book.apply_item_waiver(&mut r, item);
        r.blocks = blocks(&r, item, strict);
        items.push(r);
    }
    finish(checklist, items, signoffs, book, today, strict, provenance)
}

/// The raw verdict of a probe run, before item waivers, on the findings that count (`findings`:
/// the run's findings less those a finding waiver covers): the one verdict rule
/// (docs/decision.md). An error finding fails the item even where parts could not be seen; gaps
/// alone (or beside warnings, which an unseen part could outweigh) leave it unverified; every
/// gap is reported.
fn judge_run(r: &mut ItemReport, run: &ItemRun, findings: &[Finding], severity: Severity) {
    r.duration_ms = run.duration.as_millis() as u64;
    r.evidence = run.report.evidence.clone();
    r.gaps = run.report.gaps().to_vec();
    r.measurements = run.report.measurements.clone();
    if let ProbeState::Skipped(reason) = &run.report.state {
        r.outcome = Outcome::Skipped;
        r.code = "not-applicable".into();
        r.message = reason.clone();
        r.remediation = None;
        return;
    }
    r.findings = findings.to_vec();
    let worst = findings.iter().map(|f| f.level).max();
    let counted = |level: Level| findings.iter().filter(|f| f.level >= level).count();
    if worst == Some(Level::Error) {
        let f = findings.iter().find(|f| f.level == Level::Error).expect("an error finding exists");
        let more = counted(Level::Warning) - 1;
        r.code = f.code.clone();
        r.message = if more > 0 { format!("{} (and {more} more)", f.message) } else { f.message.clone() };
        if !r.gaps.is_empty() {
            r.message.push_str(&format!("; {} not verified", plural(r.gaps.len(), "part", "parts")));
        }
        r.outcome = if severity == Severity::Blocking { Outcome::Fail } else { Outcome::Warn };
    } else if let Some(first) = r.gaps.first() {
        let reason = r.gaps.iter().map(Unverified::describe).collect::<Vec<_>>().join("; ");
        r.outcome = Outcome::Unverified;
        r.code = first.code.clone();
        r.message = reason.clone();
        r.unverified = Some(Unverified {
            code: first.code.clone(),
            reason: r.gaps.iter().map(|g| g.reason.clone()).collect::<Vec<_>>().join("; "),
            missing_permission: r.gaps.iter().find_map(|g| g.missing_permission.clone()),
        });
    } else if worst == Some(Level::Warning) {
        let f = findings.iter().find(|f| f.level == Level::Warning).expect("a warning finding exists");
        let more = counted(Level::Warning) - 1;
        r.code = f.code.clone();
        r.message = if more > 0 { format!("{} (and {more} more)", f.message) } else { f.message.clone() };
        r.outcome = Outcome::Warn;
    } else {
        r.message = "all requirements hold".into();
        r.remediation = None;
    }
}

/// Whether the item keeps the launch from being approved (docs/decision.md).
fn blocks(r: &ItemReport, item: &Item, strict: bool) -> bool {
    match r.outcome {
        Outcome::Fail => true,
        // `--strict` raises warning-severity items to blocking, never info items: the same rule
        // for a pending sign-off and a failing check (docs/decision.md).
        Outcome::Pending => item.severity == Severity::Blocking || (strict && item.severity != Severity::Info),
        Outcome::Unverified => item.severity == Severity::Blocking,
        Outcome::Warn => strict && item.severity != Severity::Info,
        Outcome::Pass | Outcome::Waived | Outcome::Skipped => false,
    }
}

fn finish(
    checklist: &Checklist,
    items: Vec<ItemReport>,
    signoffs: Vec<SignoffReport>,
    book: WaiverBook<'_>,
    today: Date,
    strict: bool,
    provenance: Provenance,
) -> Report {
    let (waivers, notes) = book.finish();

    let blocking: Vec<BlockingItem> = items
        .iter()
        .filter(|i| i.blocks)
        .map(|i| BlockingItem {
            id: i.id.clone(),
            title: i.title.clone(),
            owner: i.owner.clone(),
            outcome: i.outcome,
            code: i.code.clone(),
            message: i.message.clone(),
        })
        .collect();

    let hard_blocks = blocking.iter().filter(|b| b.outcome != Outcome::Unverified).count();
    let unverified_blocks = blocking.len() - hard_blocks;
    let waived = items.iter().filter(|i| i.outcome == Outcome::Waived).count();
    // Items that pass on the strength of waived findings without being waived as a whole (the
    // rest still warns) rely on waivers too.
    let partly = items.iter().filter(|i| i.outcome != Outcome::Waived && !i.waived_findings.is_empty()).count();
    let waived_findings: usize = items.iter().map(|i| i.waived_findings.len()).sum();
    let (decision, decision_reason) = if hard_blocks > 0 {
        (Decision::Blocked, plural(hard_blocks, "item blocks", "items block") + " the launch")
    } else if unverified_blocks > 0 {
        (Decision::Incomplete, plural(unverified_blocks, "blocking item", "blocking items") + " could not be verified")
    } else if waived > 0 && partly == 0 {
        (Decision::ApprovedWithWaivers, plural(waived, "item is", "items are") + " waived; everything else passed")
    } else if waived + partly > 0 {
        let reason = format!(
            "{} on waivers ({} waived); everything else passed",
            plural(waived + partly, "item relies", "items rely"),
            plural(waived_findings, "finding", "findings")
        );
        (Decision::ApprovedWithWaivers, reason)
    } else {
        (Decision::Approved, "every blocking item passed".to_string())
    };

    let (decision_reason, notes) = if provenance.today_overridden {
        let note = format!(
            "waivers, sign-offs and ages were judged as of {today} (set by --today or KGENTS_GATE_TODAY), \
             not the date of the run"
        );
        (format!("{decision_reason}; judged as of {today}, not the date of the run"), [vec![note], notes].concat())
    } else {
        (decision_reason, notes)
    };

    let categories = checklist
        .categories
        .iter()
        .map(|c| {
            let mine: Vec<&ItemReport> = items.iter().filter(|i| i.category == c.id).collect();
            let summary = summarize(mine.iter().copied());
            CategoryProgress {
                id: c.id.clone(),
                title: c.title.clone(),
                done: summary.pass,
                total: summary.total - summary.skipped,
                summary,
            }
        })
        .collect();

    let mut report = Report {
        schema_version: REPORT_SCHEMA_VERSION,
        tool: Tool { name: "kgents-gate".into(), version: env!("CARGO_PKG_VERSION").into() },
        launch: LaunchInfo { name: checklist.launch.name.clone(), approvers: checklist.launch.approvers.clone() },
        decision,
        decision_reason,
        exit_code: decision.exit_code(),
        strict,
        summary: summarize(items.iter()),
        categories,
        items,
        blocking,
        waivers,
        signoffs,
        notes,
        provenance,
    };
    redact_report(&mut report);
    report
}

/// The last line of defence (docs/redaction.md): every free-text field of the report goes
/// through the one redaction rule, whatever produced it (a library's error, a server's answer).
/// Probes already hold endpoints redacted; this catches what they could not foresee. A report
/// of many findings is redacted on every core.
fn redact_report(report: &mut Report) {
    let mut texts: Vec<&mut String> = Vec::new();
    for i in &mut report.items {
        texts.push(&mut i.message);
        texts.extend(i.evidence.iter_mut().map(|f| &mut f.value));
        for f in i.findings.iter_mut().chain(i.waived_findings.iter_mut().map(|w| &mut w.finding)) {
            texts.push(&mut f.message);
            texts.extend(f.evidence.iter_mut().map(|f| &mut f.value));
            texts.extend(f.target.as_mut());
        }
        texts.extend(i.gaps.iter_mut().chain(i.unverified.as_mut()).map(|g| &mut g.reason));
        for m in &mut i.measurements {
            texts.extend([&mut m.name, &mut m.threshold]);
            texts.extend(m.query.as_mut());
        }
    }
    texts.extend(report.blocking.iter_mut().map(|b| &mut b.message));
    texts.extend(report.notes.iter_mut());
    texts.extend(report.provenance.cluster.as_mut().map(|c| &mut c.server));
    fn fix(texts: &mut [&mut String]) {
        for s in texts {
            if let std::borrow::Cow::Owned(r) = crate::redact::redact_text(s) {
                **s = r;
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || texts.len() < 1000 {
        return fix(&mut texts);
    }
    let chunk = texts.len().div_ceil(cores);
    std::thread::scope(|scope| {
        for part in texts.chunks_mut(chunk) {
            scope.spawn(move || fix(part));
        }
    });
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Counts outcomes.
pub fn summarize<'a>(items: impl Iterator<Item = &'a ItemReport>) -> Summary {
    let mut s = Summary::default();
    for i in items {
        s.total += 1;
        match i.outcome {
            Outcome::Pass => s.pass += 1,
            Outcome::Fail => s.fail += 1,
            Outcome::Warn => s.warn += 1,
            Outcome::Waived => s.waived += 1,
            Outcome::Unverified => s.unverified += 1,
            Outcome::Pending => s.pending += 1,
            Outcome::Skipped => s.skipped += 1,
        }
    }
    s
}
