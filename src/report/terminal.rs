//! The terminal report: the decision first and big, then progress, blockers, every item with its
//! evidence, waivers, sign-offs and provenance. Wrapped to the given width (80 columns reads well).

use std::fmt::Write as _;

use crate::outcome::Outcome;
use crate::report::layout::{Out, atom, plain, seg};
use crate::report::text::{self, width};
use crate::report::{ItemReport, Report, SignoffReport, SignoffStatus, WaiverRef, WaiverStatus};

pub use crate::report::styles::{ColorChoice, Styles};

/// Narrower than this, wrapping would leave almost nothing per line.
const MIN_WIDTH: usize = 40;
/// Indent of the details under an item line.
const DETAIL: usize = 6;
/// Width of the key column in `key  value` lines.
const KEY: usize = 13;

/// Renders the whole report for a terminal `width` columns wide. No line is wider than `width`
/// (or 40, whichever is larger).
pub fn render_terminal(report: &Report, styles: &Styles, width: usize) -> String {
    let mut out = Out { buf: String::new(), width: width.max(MIN_WIDTH), styles: *styles };
    header(&mut out, report);
    progress(&mut out, report);
    blocking(&mut out, report);
    items(&mut out, report);
    waivers(&mut out, report);
    signoffs(&mut out, report);
    notes(&mut out, report);
    provenance(&mut out, report);
    footer(&mut out, report);
    out.buf
}

fn header(out: &mut Out, report: &Report) {
    let st = out.styles;
    let title = format!("{} {} · {}", report.tool.name, report.tool.version, report.launch.name);
    out.para(0, 2, &[seg(&title, st.heading)]);
    let rule = "═".repeat(out.width.min(width(&title).max(MIN_WIDTH)));
    out.para(0, 0, &[seg(&rule, st.dim)]);
    out.blank();
    let label = format!(" {} ", report.decision.label());
    let hang = 2 + width(&label) + 2;
    out.para(
        2,
        hang,
        &[atom(&label, st.decision(report.decision)), plain("  "), seg(&report.decision_reason, st.heading)],
    );
    let counts = text::OUTCOMES
        .iter()
        .filter(|o| text::count(&report.summary, **o) > 0)
        .map(|o| format!("{} {}", text::count(&report.summary, *o), o))
        .collect::<Vec<_>>()
        .join(" · ");
    out.blank();
    out.para(
        2,
        4,
        &[plain(&if counts.is_empty() {
            "0 items".to_string()
        } else {
            format!("{} items: {counts}", report.summary.total)
        })],
    );
    if report.strict {
        out.para(2, 4, &[seg("strict: warnings block the launch", st.dim)]);
    }
    let offline = report.items.iter().any(|i| i.gaps.iter().any(|g| g.code == "offline"));
    if offline {
        out.para(
            2,
            4,
            &[seg(
                "offline: endpoints and cluster unseen; to check them live, run without --offline, with --kubeconfig",
                st.dim,
            )],
        );
    }
}

fn progress(out: &mut Out, report: &Report) {
    if report.categories.is_empty() {
        return;
    }
    let st = out.styles;
    out.heading("Progress");
    let longest = report.categories.iter().map(|c| width(&c.title)).max().unwrap_or(0);
    let title_cols = longest.min(out.width / 2 - 6);
    const BAR: usize = 10;
    for cat in &report.categories {
        let title = text::fit(&cat.title, title_cols);
        let fraction = format!("{:>3}/{:<3}", cat.done, cat.total);
        // A category with nothing to check (all skipped) shows as complete.
        let filled = (cat.done * BAR).checked_div(cat.total).unwrap_or(BAR).min(BAR);
        let bar = format!("{}{}", "■".repeat(filled), "·".repeat(BAR - filled));
        let style = if cat.done == cat.total { st.pass } else { st.warn };
        let detail = text::non_pass_counts(&cat.summary);
        let hang = 2 + title_cols + 1 + width(&fraction) + 1 + BAR + 2;
        // The title is an atom so the columns line up even when it contains spaces.
        out.para(
            2,
            hang,
            &[
                atom(&title, st.heading),
                plain(" "),
                atom(&fraction, st.heading),
                plain(" "),
                seg(&bar, style),
                plain("  "),
                seg(&detail, st.dim),
            ],
        );
    }
}

fn blocking(out: &mut Out, report: &Report) {
    if report.blocking.is_empty() {
        return;
    }
    let st = out.styles;
    out.heading(&format!("Blocking the launch ({})", report.blocking.len()));
    for b in &report.blocking {
        let owner = match &b.owner {
            Some(o) => format!("· owner {o}"),
            None => "· no owner".to_string(),
        };
        out.para(
            2,
            4,
            &[
                seg(text::symbol(b.outcome), st.outcome(b.outcome)),
                plain(" "),
                seg(&b.id, st.id),
                plain(" "),
                plain(&owner),
            ],
        );
        let tag = format!("{} {}:", b.outcome, b.code);
        out.para(4, 4, &[seg(&tag, st.code), plain(" "), plain(&b.message)]);
    }
}

fn items(out: &mut Out, report: &Report) {
    for cat in &report.categories {
        out.heading(&format!("{}  {}/{}", cat.title, cat.done, cat.total));
        for item in report.items.iter().filter(|i| i.category == cat.id) {
            item_block(out, item);
        }
    }
    // Items whose category is not in the progress list are still shown.
    let orphans: Vec<&ItemReport> =
        report.items.iter().filter(|i| !report.categories.iter().any(|c| c.id == i.category)).collect();
    if !orphans.is_empty() {
        out.heading("Other items");
        for item in orphans {
            item_block(out, item);
        }
    }
}

fn item_block(out: &mut Out, item: &ItemReport) {
    let st = out.styles;
    let style = st.outcome(item.outcome);
    out.para(
        2,
        4,
        &[seg(text::symbol(item.outcome), style), plain(" "), seg(&item.id, st.id), plain("  "), plain(&item.title)],
    );
    if item.outcome == Outcome::Pass {
        // Pass items stay short: the code and message, no evidence.
        if !item.message.is_empty() {
            out.para(4, 4, &[seg(&format!("{}: {}", item.code, item.message), st.dim)]);
        }
        measurements(out, item);
        return;
    }
    let mut tags = vec![item.outcome.to_string(), item.severity.as_str().to_string()];
    if item.blocks {
        tags.push("blocks the launch".into());
    }
    if let Some(owner) = &item.owner {
        tags.push(format!("owner {owner}"));
    }
    out.para(DETAIL, DETAIL, &[seg(&tags.join(" · "), style)]);
    out.para(DETAIL, DETAIL, &[seg(&format!("{}:", item.code), st.code), plain(" "), plain(&item.message)]);
    if let Some(u) = &item.unverified
        && let Some(perm) = &u.missing_permission
    {
        out.field(DETAIL, "missing permission:", 20, perm);
    }
    // What could not be seen stays visible whatever the outcome (a failing item keeps its gaps).
    let only_the_reason = item.gaps.len() == 1 && item.outcome == Outcome::Unverified;
    if !item.gaps.is_empty() && !only_the_reason {
        out.para(DETAIL, DETAIL, &[seg("not verified:", st.dim)]);
        for g in &item.gaps {
            out.para(DETAIL + 2, DETAIL + 4, &[seg(&g.code, st.code), plain(" "), plain(&g.describe())]);
        }
    }
    if !item.findings.is_empty() {
        out.para(DETAIL, DETAIL, &[seg("findings:", st.dim)]);
        for f in &item.findings {
            let head = format!("{} {}", f.level.as_str(), f.code);
            let target = f.target.as_deref().map(|t| format!("[{t}] ")).unwrap_or_default();
            out.para(DETAIL + 2, DETAIL + 4, &[seg(&head, st.code), plain(" "), plain(&target), plain(&f.message)]);
            out.facts(DETAIL + 4, &f.evidence);
        }
    }
    if !item.waived_findings.is_empty() {
        out.para(DETAIL, DETAIL, &[seg("waived findings (not counted):", st.dim)]);
        for w in &item.waived_findings {
            let f = &w.finding;
            let head = format!("{} {}", f.level.as_str(), f.code);
            let target = f.target.as_deref().map(|t| format!("[{t}] ")).unwrap_or_default();
            out.para(DETAIL + 2, DETAIL + 4, &[seg(&head, st.waived), plain(" "), plain(&target), plain(&f.message)]);
            out.facts(DETAIL + 4, &f.evidence);
            out.para(DETAIL + 4, DETAIL + 6, &[seg("waived:", st.waived), plain(" "), plain(&waiver_line(&w.waiver))]);
        }
    }
    measurements(out, item);
    if !item.evidence.is_empty() {
        out.para(DETAIL, DETAIL, &[seg("evidence:", st.dim)]);
        out.facts(DETAIL + 2, &item.evidence);
    }
    if let Some(w) = &item.waiver {
        out.field(DETAIL, "waiver:", KEY, &waiver_line(w));
    }
    if let Some(s) = &item.signoff {
        out.field(DETAIL, "sign-off:", KEY, &signoff_line(s));
    }
    if let Some(r) = &item.remediation {
        out.field(DETAIL, "remediation:", KEY, r);
    }
}

/// `owner until date (n days left): reason [ticket]`.
fn waiver_line(w: &WaiverRef) -> String {
    let mut line = format!("{} until {} ({}): {}", w.owner, w.expires, text::days_left(w.days_left), w.reason);
    if let Some(t) = &w.ticket {
        let _ = write!(line, " [{t}]");
    }
    line
}

/// The values measured, shown for every outcome: they are what the next run compares with.
fn measurements(out: &mut Out, item: &ItemReport) {
    if item.measurements.is_empty() {
        return;
    }
    let st = out.styles;
    out.para(DETAIL, DETAIL, &[seg("measured:", st.dim)]);
    for m in &item.measurements {
        out.para(DETAIL + 2, DETAIL + 4, &[plain(&text::measurement_line(m))]);
    }
}

fn signoff_status(s: &SignoffReport) -> &'static str {
    match s.status {
        SignoffStatus::Valid => "valid",
        SignoffStatus::Expired => "expired",
        SignoffStatus::Missing => "missing",
    }
}

fn signoff_line(s: &SignoffReport) -> String {
    let mut parts = vec![signoff_status(s).to_string()];
    for (label, value) in [("by", &s.by), ("on", &s.on), ("expires", &s.expires), ("evidence", &s.evidence)] {
        if let Some(v) = value {
            parts.push(format!("{label} {v}"));
        }
    }
    parts.join(", ")
}

fn waivers(out: &mut Out, report: &Report) {
    if report.waivers.is_empty() {
        return;
    }
    let st = out.styles;
    out.heading(&format!("Waivers ({})", report.waivers.len()));
    for w in &report.waivers {
        let (word, style) = match w.status {
            WaiverStatus::Applied => ("applied", st.waived),
            WaiverStatus::Unused => ("unused", st.dim),
            WaiverStatus::Expired => ("expired", st.fail),
        };
        out.para(2, 10, &[atom(&text::fit(word, 8), style), seg(&w.item, st.id)]);
        if let Some(m) = &w.matches {
            let covered = format!("findings matching {m} ({} waived)", w.waived_findings);
            out.para(10, 12, &[plain(&covered)]);
        }
        let mut line = format!("owner {} · expires {} ({})", w.owner, w.expires, text::days_left(w.days_left));
        if let Some(t) = &w.ticket {
            let _ = write!(line, " · {t}");
        }
        out.para(10, 10, &[plain(&line)]);
        out.para(10, 10, &[seg(&w.reason, st.dim)]);
    }
}

fn signoffs(out: &mut Out, report: &Report) {
    if report.signoffs.is_empty() {
        return;
    }
    let st = out.styles;
    out.heading(&format!("Sign-offs ({})", report.signoffs.len()));
    for s in &report.signoffs {
        let style = match s.status {
            SignoffStatus::Valid => st.pass,
            SignoffStatus::Expired => st.fail,
            SignoffStatus::Missing => st.pending,
        };
        out.para(2, 10, &[atom(&text::fit(signoff_status(s), 8), style), seg(&s.item, st.id)]);
        let mut line = match (&s.by, &s.on) {
            (Some(by), Some(on)) => format!("by {by} on {on}"),
            (Some(by), None) => format!("by {by}"),
            (None, Some(on)) => format!("on {on}"),
            (None, None) => "not signed off".to_string(),
        };
        if let Some(exp) = &s.expires {
            let _ = write!(line, " · expires {exp}");
        }
        out.para(10, 10, &[plain(&line)]);
        if let Some(ev) = &s.evidence {
            out.para(10, 12, &[seg("evidence", st.dim), plain(" "), plain(ev)]);
        }
    }
}

fn notes(out: &mut Out, report: &Report) {
    if report.notes.is_empty() {
        return;
    }
    out.heading("Notes");
    for n in &report.notes {
        out.para(2, 4, &[plain("- "), plain(n)]);
    }
}

fn provenance(out: &mut Out, report: &Report) {
    out.heading("Provenance");
    let p = &report.provenance;
    out.field(2, "tool", KEY, &format!("{} {}", report.tool.name, report.tool.version));
    out.field(2, "checklist", KEY, &format!("{} (sha256 {})", p.checklist, text::short_sha(&p.checklist_sha256)));
    match &p.cluster {
        Some(c) => {
            let mut line = format!("{} · Kubernetes {}", c.server, c.version);
            if let Some(ctx) = &c.context {
                let _ = write!(line, " · context {ctx}");
            }
            out.field(2, "cluster", KEY, &line);
            if let Some(id) = &c.identity {
                out.field(2, "cluster id", KEY, id);
            }
        }
        None => out.field(2, "cluster", KEY, "none (offline)"),
    }
    if !p.manifests.is_empty() {
        out.field(2, "manifests", KEY, &p.manifests.join(", "));
    }
    if !p.images.is_empty() {
        let short = |d: &str| match d.split_once(':') {
            Some((alg, hex)) => format!("{alg}:{}", text::short_sha(hex)),
            None => text::short_sha(d).to_string(),
        };
        let list: Vec<String> = p.images.iter().map(|i| format!("{}@{}", i.name, short(&i.digest))).collect();
        out.field(2, "images", KEY, &list.join(", "));
    }
    let started = format!("{} · took {} · judged on {}", p.started_at, text::duration(p.duration_ms), p.today);
    out.field(2, "started", KEY, &started);
    let interrupted = if p.interrupted { "yes: the audit was cut short, some items were not checked" } else { "no" };
    out.field(2, "interrupted", KEY, interrupted);
}

fn footer(out: &mut Out, report: &Report) {
    let st = out.styles;
    out.blank();
    let label = format!(" {} ", report.decision.label());
    let exit = format!("exit code {}", report.exit_code);
    out.para(
        0,
        2,
        &[
            seg("Decision:", st.heading),
            plain(" "),
            atom(&label, st.decision(report.decision)),
            plain("  "),
            seg(&exit, st.dim),
        ],
    );
}
