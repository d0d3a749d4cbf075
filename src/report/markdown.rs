//! The Markdown report, for a merge-request comment or a CI job summary (GitHub-flavoured tables,
//! collapsible `<details>` for evidence). All user text is escaped so it cannot break the layout.

use std::fmt::Write as _;

use crate::outcome::{Fact, Finding, Measurement, Outcome};
use crate::report::text;
use crate::report::{Decision, ItemReport, Report, SignoffStatus, WaivedFinding, WaiverStatus};

/// Renders the report as Markdown.
pub fn render_markdown(report: &Report) -> String {
    let mut md = String::new();
    header(&mut md, report);
    progress(&mut md, report);
    blocking(&mut md, report);
    waivers(&mut md, report);
    signoffs(&mut md, report);
    items(&mut md, report);
    notes(&mut md, report);
    provenance(&mut md, report);
    md
}

fn header(md: &mut String, r: &Report) {
    let icon = match r.decision {
        Decision::Approved | Decision::ApprovedWithWaivers => "✅",
        Decision::Blocked => "⛔",
        Decision::Incomplete => "⚠️",
    };
    let _ = writeln!(md, "## {icon} Launch decision: {}\n", r.decision.label());
    let _ = writeln!(md, "**{}** (exit code {})\n", esc(&r.decision_reason), r.exit_code);
    let counts = text::OUTCOMES
        .iter()
        .filter(|o| text::count(&r.summary, **o) > 0)
        .map(|o| format!("{} {}", text::count(&r.summary, *o), o))
        .collect::<Vec<_>>()
        .join(" · ");
    let _ = write!(md, "{} · {} items", esc(&r.launch.name), r.summary.total);
    if !counts.is_empty() {
        let _ = write!(md, ": {counts}");
    }
    md.push('\n');
    if r.strict {
        md.push_str("\nStrict mode: warnings block the launch.\n");
    }
    if r.provenance.interrupted {
        md.push_str("\n> **Interrupted:** the audit was cut short; some items were not checked.\n");
    }
    if !r.launch.approvers.is_empty() {
        let approvers: Vec<String> = r.launch.approvers.iter().map(|a| esc(a)).collect();
        let _ = writeln!(md, "\nApprovers: {}", approvers.join(", "));
    }
}

fn progress(md: &mut String, r: &Report) {
    if r.categories.is_empty() {
        return;
    }
    md.push_str("\n### Progress\n\n| Category | Done | Not passed |\n|---|---:|---|\n");
    for c in &r.categories {
        let rest = text::non_pass_counts(&c.summary);
        let _ = writeln!(
            md,
            "| {} | {}/{} | {} |",
            cell(&c.title),
            c.done,
            c.total,
            if rest.is_empty() { "—".into() } else { rest }
        );
    }
}

fn blocking(md: &mut String, r: &Report) {
    if r.blocking.is_empty() {
        return;
    }
    let _ = write!(md, "\n### Blocking the launch ({})\n\n", r.blocking.len());
    md.push_str("| Item | Title | Outcome | Owner | Code | Message |\n|---|---|---|---|---|---|\n");
    for b in &r.blocking {
        let _ = writeln!(
            md,
            "| {} | {} | {} {} | {} | {} | {} |",
            code(&b.id, true),
            cell(&b.title),
            text::symbol(b.outcome),
            b.outcome,
            b.owner.as_deref().map(cell).unwrap_or_else(|| "—".into()),
            code(&b.code, true),
            cell(&b.message)
        );
    }
}

fn waivers(md: &mut String, r: &Report) {
    if r.waivers.is_empty() {
        return;
    }
    let _ = write!(md, "\n### Waivers ({})\n\n", r.waivers.len());
    md.push_str(
        "| Item | Covers | Status | Owner | Expires | Days left | Ticket | Reason |\n|---|---|---|---|---|---:|---|---|\n",
    );
    for w in &r.waivers {
        let status = match w.status {
            WaiverStatus::Applied => "applied",
            WaiverStatus::Unused => "unused",
            WaiverStatus::Expired => "**expired**",
        };
        let covers = match &w.matches {
            Some(m) => format!("findings {} ({} waived)", code(&m.to_string(), true), w.waived_findings),
            None => "the item".to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {covers} | {status} | {} | {} | {} | {} | {} |",
            code(&w.item, true),
            cell(&w.owner),
            cell(&w.expires),
            w.days_left,
            w.ticket.as_deref().map(cell).unwrap_or_else(|| "—".into()),
            cell(&w.reason)
        );
    }
}

fn signoffs(md: &mut String, r: &Report) {
    if r.signoffs.is_empty() {
        return;
    }
    let _ = write!(md, "\n### Sign-offs ({})\n\n", r.signoffs.len());
    md.push_str("| Item | Status | By | On | Expires | Evidence |\n|---|---|---|---|---|---|\n");
    let opt = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_else(|| "—".into());
    for s in &r.signoffs {
        let status = match s.status {
            SignoffStatus::Valid => "valid",
            SignoffStatus::Expired => "**expired**",
            SignoffStatus::Missing => "**missing**",
        };
        let _ = writeln!(
            md,
            "| {} | {status} | {} | {} | {} | {} |",
            code(&s.item, true),
            opt(&s.by),
            opt(&s.on),
            opt(&s.expires),
            opt(&s.evidence)
        );
    }
}

fn items(md: &mut String, r: &Report) {
    md.push_str("\n### Items\n");
    for c in &r.categories {
        let _ = write!(md, "\n#### {} ({}/{})\n", esc(&c.title), c.done, c.total);
        category_items(md, r.items.iter().filter(|i| i.category == c.id));
    }
    let orphans = r.items.iter().filter(|i| !r.categories.iter().any(|c| c.id == i.category));
    if orphans.clone().next().is_some() {
        md.push_str("\n#### Other items\n");
        category_items(md, orphans);
    }
}

fn category_items<'a>(md: &mut String, items: impl Iterator<Item = &'a ItemReport> + Clone) {
    md.push_str("\n| Outcome | Item | Title | Code | Message |\n|---|---|---|---|---|\n");
    for i in items.clone() {
        let _ = writeln!(
            md,
            "| {} {} | {} | {} | {} | {} |",
            text::symbol(i.outcome),
            i.outcome,
            code(&i.id, true),
            cell(&i.title),
            code(&i.code, true),
            cell(&i.message)
        );
    }
    for i in items {
        item_details(md, i);
    }
}

/// Remediation and the rest for non-pass items; the evidence (for every item) folded away.
fn item_details(md: &mut String, i: &ItemReport) {
    let bullets = item_bullets(i);
    let has_evidence =
        !i.evidence.is_empty() || !i.findings.is_empty() || !i.waived_findings.is_empty() || !i.measurements.is_empty();
    if bullets.is_empty() && !has_evidence {
        return;
    }
    // A passing item with only evidence needs no header: the summary names it.
    if i.outcome != Outcome::Pass || !bullets.is_empty() {
        let _ = write!(md, "\n**{} {}** · {}", text::symbol(i.outcome), code(&i.id, false), i.outcome);
        let _ = write!(md, " · severity {}", i.severity.as_str());
        if i.blocks {
            md.push_str(" · **blocks the launch**");
        }
        if let Some(o) = &i.owner {
            let _ = write!(md, " · owner {}", esc(o));
        }
        md.push('\n');
    }
    if !bullets.is_empty() {
        md.push('\n');
        for b in &bullets {
            let _ = writeln!(md, "- {b}");
        }
    }
    if has_evidence {
        let _ = write!(md, "\n<details><summary>Evidence for {}</summary>\n\n", esc(&i.id));
        if !i.measurements.is_empty() {
            md.push_str("Measured:\n\n");
            measurements_table(md, &i.measurements);
        }
        if !i.findings.is_empty() {
            md.push_str("Findings:\n\n");
            findings_table(md, &i.findings);
        }
        if !i.waived_findings.is_empty() {
            md.push_str("Waived findings (not counted):\n\n");
            waived_table(md, &i.waived_findings);
        }
        if !i.evidence.is_empty() {
            md.push_str("Observed:\n\n");
            facts_table(md, &i.evidence);
        }
        md.push_str("</details>\n");
    }
}

fn item_bullets(i: &ItemReport) -> Vec<String> {
    let mut bullets = Vec::new();
    // Every part that could not be seen, whatever the outcome.
    for g in &i.gaps {
        bullets.push(format!("Could not check ({}): {}", code(&g.code, false), esc(&g.reason)));
        if let Some(p) = &g.missing_permission {
            bullets.push(format!("Missing permission: {}", code(p, false)));
        }
    }
    if !i.waived_findings.is_empty() {
        bullets.push(format!("Waived findings: {} (not counted; listed under the evidence)", i.waived_findings.len()));
    }
    if let Some(w) = &i.waiver {
        let mut line = format!(
            "Waiver: {} (owner {}, expires {}, {}",
            esc(&w.reason),
            esc(&w.owner),
            esc(&w.expires),
            text::days_left(w.days_left)
        );
        if let Some(t) = &w.ticket {
            let _ = write!(line, ", ticket {}", esc(t));
        }
        line.push(')');
        bullets.push(line);
    }
    if let Some(s) = &i.signoff {
        let status = match s.status {
            SignoffStatus::Valid => "valid",
            SignoffStatus::Expired => "expired",
            SignoffStatus::Missing => "missing",
        };
        let mut parts = vec![status.to_string()];
        for (label, v) in [("by", &s.by), ("on", &s.on), ("expires", &s.expires), ("evidence", &s.evidence)] {
            if let Some(v) = v {
                parts.push(format!("{label} {}", esc(v)));
            }
        }
        bullets.push(format!("Sign-off: {}", parts.join(", ")));
    }
    if i.outcome != Outcome::Pass
        && let Some(rem) = &i.remediation
    {
        bullets.push(format!("Remediation: {}", esc(rem)));
    }
    bullets
}

fn findings_table(md: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    md.push_str("| Level | Code | Target | Message |\n|---|---|---|---|\n");
    for f in findings {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            f.level.as_str(),
            code(&f.code, true),
            f.target.as_deref().map(cell).unwrap_or_else(|| "—".into()),
            cell(&f.message)
        );
    }
    md.push('\n');
    for f in findings.iter().filter(|f| !f.evidence.is_empty()) {
        let _ = writeln!(md, "Evidence of {}:\n", code(&f.code, false));
        facts_table(md, &f.evidence);
    }
}

fn waived_table(md: &mut String, waived: &[WaivedFinding]) {
    md.push_str("| Level | Code | Target | Message | Waived by |\n|---|---|---|---|---|\n");
    for w in waived {
        let f = &w.finding;
        let mut by = format!(
            "{} until {} ({}): {}",
            w.waiver.owner,
            w.waiver.expires,
            text::days_left(w.waiver.days_left),
            w.waiver.reason
        );
        if let Some(t) = &w.waiver.ticket {
            let _ = write!(by, " [{t}]");
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            f.level.as_str(),
            code(&f.code, true),
            f.target.as_deref().map(cell).unwrap_or_else(|| "—".into()),
            cell(&f.message),
            cell(&by)
        );
    }
    md.push('\n');
    for w in waived.iter().filter(|w| !w.finding.evidence.is_empty()) {
        let _ = writeln!(md, "Evidence of waived {}:\n", code(&w.finding.code, false));
        facts_table(md, &w.finding.evidence);
    }
}

fn measurements_table(md: &mut String, list: &[Measurement]) {
    md.push_str(
        "| Objective | Value | Threshold | Status | Baseline | Samples | At |\n|---|---:|---|---|---|---|---|\n",
    );
    for m in list {
        let baseline = m
            .baseline
            .map(|b| format!("{} ({})", text::number(b), text::change(b, m.value)))
            .unwrap_or_else(|| "—".into());
        let samples = if m.samples.len() > 1 {
            m.samples.iter().map(|v| text::number(*v)).collect::<Vec<_>>().join(", ")
        } else {
            "—".into()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell(&m.name),
            text::number(m.value),
            cell(&m.threshold),
            m.status.as_str(),
            cell(&baseline),
            cell(&samples),
            m.at.as_deref().map(cell).unwrap_or_else(|| "—".into())
        );
    }
    md.push('\n');
}

fn facts_table(md: &mut String, facts: &[Fact]) {
    if facts.is_empty() {
        return;
    }
    md.push_str("| Fact | Value |\n|---|---|\n");
    for f in facts {
        let _ = writeln!(md, "| {} | {} |", cell(&f.name), cell(&f.value));
    }
    md.push('\n');
}

fn notes(md: &mut String, r: &Report) {
    if r.notes.is_empty() {
        return;
    }
    md.push_str("\n### Notes\n\n");
    for n in &r.notes {
        let _ = writeln!(md, "- {}", esc(n));
    }
}

fn provenance(md: &mut String, r: &Report) {
    let p = &r.provenance;
    md.push_str("\n### Provenance\n\n| | |\n|---|---|\n");
    let _ = writeln!(md, "| Tool | {} {} |", cell(&r.tool.name), cell(&r.tool.version));
    let _ = writeln!(md, "| Checklist | {} |", cell(&p.checklist));
    let _ = writeln!(md, "| Checklist sha256 | {} |", code(&p.checklist_sha256, true));
    match &p.cluster {
        Some(c) => {
            let _ = writeln!(md, "| Cluster | {} |", cell(&c.server));
            let _ = writeln!(md, "| Kubernetes version | {} |", cell(&c.version));
            if let Some(ctx) = &c.context {
                let _ = writeln!(md, "| Context | {} |", cell(ctx));
            }
            if let Some(id) = &c.identity {
                let _ = writeln!(md, "| Cluster identity | {} |", code(id, true));
            }
        }
        None => md.push_str("| Cluster | none (offline) |\n"),
    }
    if !p.manifests.is_empty() {
        let list: Vec<String> = p.manifests.iter().map(|m| code(m, true)).collect();
        let _ = writeln!(md, "| Manifests | {} |", list.join(", "));
    }
    if !p.images.is_empty() {
        let list: Vec<String> = p.images.iter().map(|i| code(&format!("{}@{}", i.name, i.digest), true)).collect();
        let _ = writeln!(md, "| Images (by digest) | {} |", list.join(", "));
    }
    let _ = writeln!(md, "| Started | {} |", cell(&p.started_at));
    let _ = writeln!(md, "| Duration | {} |", text::duration(p.duration_ms));
    let _ = writeln!(md, "| Judged on | {} |", cell(&p.today));
    let _ = writeln!(md, "| Interrupted | {} |", if p.interrupted { "yes" } else { "no" });
}

/// Escapes user text for Markdown prose: every character that could start emphasis, a link,
/// code, HTML or a table cell is neutralised; newlines become spaces.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in text::sanitize(s).chars() {
        match c {
            '\n' => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Escaped text for a table cell; newlines become `<br>` so multi-line text stays in its cell.
fn cell(s: &str) -> String {
    text::sanitize(s).split('\n').map(esc).collect::<Vec<_>>().join("<br>")
}

/// An inline code span holding `s` verbatim, with a fence longer than any backtick run inside.
/// In a table cell, `|` must be escaped even inside code (GitHub strips the backslash there).
fn code(s: &str, in_table: bool) -> String {
    let s = text::sanitize(s).replace('\n', " ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    let body = if in_table { s.replace('|', "\\|") } else { s };
    format!("{fence}{pad}{body}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markdown_and_html() {
        assert_eq!(esc("a|b *c* <x> [l](u) _d_"), "a\\|b \\*c\\* &lt;x&gt; \\[l\\](u) \\_d\\_");
        assert_eq!(cell("one\ntwo|"), "one<br>two\\|");
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("a`b", false), "``a`b``");
        assert_eq!(code("`x", false), "`` `x ``");
        assert_eq!(code("a|b", true), "`a\\|b`");
        assert_eq!(code("a|b", false), "`a|b`");
    }
}
