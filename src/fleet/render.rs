//! The fleet summary in the four formats: terminal, Markdown, JSON and JUnit XML (one testsuite
//! per cluster and category, so a CI test view shows every cluster's checklist).

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{Property, TestSuite};

use super::{FleetReport, Member, SignatureState};
use crate::report::layout::{Out, atom, plain, seg};
use crate::report::markdown::esc;
use crate::report::text::{self, sanitize, width};
use crate::report::{Decision, Styles, junit};

/// The fleet summary for a terminal `width` columns wide.
pub fn render_terminal(fleet: &FleetReport, styles: &Styles, width_cols: usize) -> String {
    let mut out = Out { buf: String::new(), width: width_cols.max(40), styles: *styles };
    let st = out.styles;
    let title = format!(
        "{} {} · fleet of {} cluster{} · {}",
        fleet.tool.name,
        fleet.tool.version,
        fleet.clusters.len(),
        if fleet.clusters.len() == 1 { "" } else { "s" },
        sanitize(&fleet.launch.join(", "))
    );
    out.para(0, 2, &[seg(&title, st.heading)]);
    let rule = "═".repeat(out.width.min(width(&title).max(40)));
    out.para(0, 0, &[seg(&rule, st.dim)]);
    out.blank();
    let label = format!(" {} ", fleet.decision.label());
    let hang = 2 + width(&label) + 2;
    out.para(
        2,
        hang,
        &[atom(&label, st.decision(fleet.decision)), plain("  "), seg(&sanitize(&fleet.decision_reason), st.heading)],
    );
    out.heading("Clusters");
    let name_cols = fleet.clusters.iter().map(|c| width(&sanitize(&c.name))).max().unwrap_or(0).min(out.width / 3);
    let label_cols = fleet.clusters.iter().map(|c| width(c.decision.label())).max().unwrap_or(0);
    for c in &fleet.clusters {
        let name = text::fit(&sanitize(&c.name), name_cols);
        let pad = " ".repeat(name_cols.saturating_sub(width(&name)));
        let label = c.decision.label();
        let lpad = " ".repeat(label_cols.saturating_sub(width(label)));
        let where_ = match &c.cluster {
            Some(info) => format!("{} {}", sanitize(&info.server), sanitize(&info.version)),
            None if !c.manifests.is_empty() => "manifests only".into(),
            None => "no cluster reached".into(),
        };
        let line = format!("{}  ({where_}; {})", sanitize(&c.decision_reason), text::non_pass_counts(&c.summary));
        out.para(
            2,
            2 + name_cols + 2 + label_cols + 2,
            &[
                seg(&format!("{name}{pad}"), st.id),
                plain("  "),
                seg(&format!("{label}{lpad}"), decision_style(st, c.decision)),
                plain("  "),
                plain(&line),
            ],
        );
    }
    let with_blockers: Vec<_> = fleet.clusters.iter().filter(|c| !c.blocking.is_empty()).collect();
    if !with_blockers.is_empty() {
        out.heading("Blocking");
        for c in with_blockers {
            out.para(2, 4, &[seg(&sanitize(&c.name), st.id)]);
            for b in &c.blocking {
                out.para(
                    4,
                    6,
                    &[
                        seg(text::symbol(b.outcome), st.outcome(b.outcome)),
                        plain(" "),
                        seg(&sanitize(&b.id), st.id),
                        plain(" "),
                        seg(&sanitize(&b.code), st.code),
                        plain(": "),
                        plain(&sanitize(&b.message)),
                    ],
                );
            }
        }
    }
    if !fleet.notes.is_empty() {
        out.heading("Notes");
        for n in &fleet.notes {
            out.para(2, 4, &[plain("- "), plain(&sanitize(n))]);
        }
    }
    out.heading("Reports");
    for c in &fleet.clusters {
        let sig = match &c.signature {
            SignatureState::Unsigned => String::new(),
            SignatureState::SignedHere { fingerprint } => format!(" (signed, {fingerprint})"),
            SignatureState::Verified { signer, fingerprint } => {
                format!(" (signature verified: {}, {fingerprint})", sanitize(signer))
            }
            SignatureState::Unchecked { fingerprint } => {
                format!(" (signed by {fingerprint}; not checked against allowed signers)")
            }
        };
        out.para(2, 4, &[seg(&sanitize(&c.name), st.id), plain(": "), plain(&sanitize(&c.report)), plain(&sig)]);
    }
    out.blank();
    out.para(
        0,
        2,
        &[
            plain("fleet decision "),
            atom(&format!(" {} ", fleet.decision.label()), st.decision(fleet.decision)),
            plain(&format!(" · exit {}", fleet.exit_code)),
        ],
    );
    out.buf
}

fn decision_style(st: Styles, d: Decision) -> owo_colors::Style {
    match d {
        Decision::Approved => st.pass,
        Decision::ApprovedWithWaivers => st.waived,
        Decision::Blocked => st.fail,
        Decision::Incomplete => st.unverified,
    }
}

/// The fleet summary as Markdown (a job summary or merge-request note).
pub fn render_markdown(fleet: &FleetReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Fleet launch report: {}\n", esc(&fleet.launch.join(", ")));
    let _ = writeln!(md, "**{}**: {}\n", fleet.decision.label(), esc(&fleet.decision_reason));
    md.push_str("| Cluster | Decision | Why | Items | API server | Report |\n");
    md.push_str("|---|---|---|---|---|---|\n");
    for c in &fleet.clusters {
        let server = c
            .cluster
            .as_ref()
            .map(|i| format!("{} ({})", esc(&i.server), esc(&i.version)))
            .unwrap_or_else(|| if c.manifests.is_empty() { "not reached".into() } else { "manifests only".into() });
        let _ = writeln!(
            md,
            "| {} | **{}** | {} | {} | {} | [{}]({}) |",
            esc(&c.name),
            c.decision.label(),
            esc(&c.decision_reason),
            esc(&text::non_pass_counts(&c.summary)),
            server,
            esc(&c.report),
            c.report.replace(' ', "%20").replace(['(', ')'], "")
        );
    }
    let with_blockers: Vec<_> = fleet.clusters.iter().filter(|c| !c.blocking.is_empty()).collect();
    if !with_blockers.is_empty() {
        md.push_str("\n## Blocking\n");
        for c in with_blockers {
            let _ = writeln!(md, "\n### {}\n", esc(&c.name));
            for b in &c.blocking {
                let _ = writeln!(md, "- **{}** `{}` ({}): {}", esc(&b.id), esc(&b.code), b.outcome, esc(&b.message));
            }
        }
    }
    if !fleet.notes.is_empty() {
        md.push_str("\n## Notes\n\n");
        for n in &fleet.notes {
            let _ = writeln!(md, "- {}", esc(n));
        }
    }
    let _ = writeln!(md, "\nExit code {} (the worst cluster's).", fleet.exit_code);
    md
}

/// Pretty JSON, `schema_version` first.
pub fn render_json(fleet: &FleetReport) -> String {
    let mut json = serde_json::to_string_pretty(fleet).expect("a FleetReport always serialises to JSON");
    json.push('\n');
    json
}

/// JUnit XML: one testsuite per cluster and category (`CLUSTER / Category`), one testcase per
/// item, mapped as in the cluster reports (src/report/junit.rs).
pub fn render_junit(fleet: &FleetReport, members: &[Member]) -> Result<String, quick_junit::SerializeError> {
    let mut junit_report = quick_junit::Report::new(format!("kgents-gate fleet: {}", fleet.launch.join(", ")));
    let mut total = Duration::ZERO;
    for m in members {
        let report = &m.report;
        let started = chrono::DateTime::parse_from_rfc3339(&report.provenance.started_at).ok();
        total = total.max(Duration::from_millis(report.provenance.duration_ms));
        let properties = [
            Property::new("cluster", m.name.as_str()),
            Property::new("decision", report.decision.label()),
            Property::new("decision-reason", report.decision_reason.as_str()),
            Property::new("exit-code", report.exit_code.to_string()),
            Property::new("fleet-decision", fleet.decision.label()),
            Property::new("checklist-sha256", report.provenance.checklist_sha256.as_str()),
        ];
        let mut suites: Vec<(String, String)> =
            report.categories.iter().map(|c| (c.id.clone(), c.title.clone())).collect();
        for item in &report.items {
            if !suites.iter().any(|(id, _)| *id == item.category) {
                suites.push((item.category.clone(), item.category.clone()));
            }
        }
        for (id, title) in suites {
            let mut suite = TestSuite::new(format!("{} / {title}", m.name));
            suite.extra.insert("id".into(), format!("{}/{id}", m.name).into());
            if let Some(ts) = started {
                suite.set_timestamp(ts);
            }
            suite.add_properties(properties.iter().cloned());
            let mut time = Duration::ZERO;
            for item in report.items.iter().filter(|i| i.category == id) {
                time += Duration::from_millis(item.duration_ms);
                let mut case = junit::test_case(item, started);
                // The cluster in the class name keeps test ids unique across the fleet.
                case.set_classname(format!("{}.{}", m.name, item.category));
                suite.add_test_case(case);
            }
            suite.set_time(time);
            junit_report.add_test_suite(suite);
        }
    }
    junit_report.set_time(total);
    Ok(junit_report.to_string()?.replace(['\u{FFFE}', '\u{FFFF}'], "\u{FFFD}"))
}
