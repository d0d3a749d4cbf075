//! `kgents-gate diff OLD.json NEW.json`: what changed between two reports, item by item (matched
//! by id), and whether the new one has a blocking failure the old one did not (exit 1).

use std::fmt::Write as _;

use serde::Serialize;

use crate::outcome::Outcome;
use crate::report::{Decision, ItemReport, Report};

/// The state of one item in one report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemState {
    pub outcome: Outcome,
    pub code: String,
    pub message: String,
    pub blocks: bool,
}

impl ItemState {
    fn of(item: &ItemReport) -> Self {
        ItemState { outcome: item.outcome, code: item.code.clone(), message: item.message.clone(), blocks: item.blocks }
    }

    /// Failed (or is pending) and keeps the launch from being approved. Unverified items block
    /// too, but as INCOMPLETE, not as a failure.
    pub fn is_blocking_failure(&self) -> bool {
        self.blocks && matches!(self.outcome, Outcome::Fail | Outcome::Warn | Outcome::Pending)
    }

    fn is_failure(&self) -> bool {
        matches!(self.outcome, Outcome::Fail | Outcome::Warn | Outcome::Pending)
    }

    /// Anything that is not a pass and not a plain "does not apply".
    fn is_problem(&self) -> bool {
        !matches!(self.outcome, Outcome::Pass | Outcome::Skipped)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Now a blocking failure; was not one before.
    NewBlockingFailure,
    /// Now failing without blocking (a warning); was not failing before.
    NewFailure,
    /// Was a problem, now passes.
    Fixed,
    /// Any other change of outcome, code or blocking.
    Changed,
}

/// An item present in both reports whose outcome, code or blocking changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemChange {
    pub id: String,
    pub title: String,
    pub kind: ChangeKind,
    pub old: ItemState,
    pub new: ItemState,
}

/// An item present in only one of the reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemOnlyIn {
    pub id: String,
    pub title: String,
    pub state: ItemState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportDiff {
    pub old_decision: Decision,
    pub new_decision: Decision,
    /// Set when the two reports come from different checklists.
    pub checklist_changed: bool,
    /// In the new report's order.
    pub changes: Vec<ItemChange>,
    pub added: Vec<ItemOnlyIn>,
    pub removed: Vec<ItemOnlyIn>,
}

impl ReportDiff {
    /// True when an item blocks the launch by failing (or pending) in the new report and did not
    /// in the old one, including new items. `diff` exits 1 on this.
    pub fn has_new_blocking_failure(&self) -> bool {
        self.changes.iter().any(|c| c.kind == ChangeKind::NewBlockingFailure)
            || self.added.iter().any(|a| a.state.is_blocking_failure())
    }

    pub fn of_kind(&self, kind: ChangeKind) -> impl Iterator<Item = &ItemChange> {
        self.changes.iter().filter(move |c| c.kind == kind)
    }

    /// No item changed and the decision is the same.
    pub fn is_unchanged(&self) -> bool {
        self.old_decision == self.new_decision
            && self.changes.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
    }
}

/// Compares two reports item by item.
pub fn diff(old: &Report, new: &Report) -> ReportDiff {
    let mut changes = Vec::new();
    let mut added = Vec::new();
    for item in &new.items {
        let now = ItemState::of(item);
        let Some(before) = old.items.iter().find(|o| o.id == item.id).map(ItemState::of) else {
            added.push(ItemOnlyIn { id: item.id.clone(), title: item.title.clone(), state: now });
            continue;
        };
        if before.outcome == now.outcome && before.code == now.code && before.blocks == now.blocks {
            continue;
        }
        let kind = if now.is_blocking_failure() && !before.is_blocking_failure() {
            ChangeKind::NewBlockingFailure
        } else if now.is_failure() && !before.is_failure() {
            ChangeKind::NewFailure
        } else if now.outcome == Outcome::Pass && before.is_problem() {
            ChangeKind::Fixed
        } else {
            ChangeKind::Changed
        };
        changes.push(ItemChange { id: item.id.clone(), title: item.title.clone(), kind, old: before, new: now });
    }
    let removed = old
        .items
        .iter()
        .filter(|o| !new.items.iter().any(|n| n.id == o.id))
        .map(|o| ItemOnlyIn { id: o.id.clone(), title: o.title.clone(), state: ItemState::of(o) })
        .collect();
    ReportDiff {
        old_decision: old.decision,
        new_decision: new.decision,
        checklist_changed: old.provenance.checklist_sha256 != new.provenance.checklist_sha256,
        changes,
        added,
        removed,
    }
}

/// Plain text, one block per kind of change.
pub fn render_diff(d: &ReportDiff) -> String {
    let mut out = String::new();
    if d.old_decision == d.new_decision {
        let _ = writeln!(out, "Decision: {} (unchanged)", d.new_decision.label());
    } else {
        let _ = writeln!(out, "Decision: {} -> {}", d.old_decision.label(), d.new_decision.label());
    }
    if d.checklist_changed {
        out.push_str("Checklist: changed between the two reports\n");
    }
    if d.is_unchanged() {
        out.push_str("No item changed.\n");
        return out;
    }
    let sections = [
        (ChangeKind::NewBlockingFailure, "New blocking failures"),
        (ChangeKind::NewFailure, "New failures (not blocking)"),
        (ChangeKind::Fixed, "Fixed"),
        (ChangeKind::Changed, "Other changes"),
    ];
    for (kind, title) in sections {
        let list: Vec<&ItemChange> = d.of_kind(kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({})", list.len());
        for c in list {
            let _ = writeln!(out, "  {}  {} -> {}{}", c.id, state_word(&c.old), state_word(&c.new), code_change(c));
            let _ = writeln!(out, "    {}", c.title);
            if c.new.outcome != Outcome::Pass {
                let _ = writeln!(out, "    {}: {}", c.new.code, one_line(&c.new.message));
            }
        }
    }
    for (list, title, sign) in [(&d.added, "Added items", '+'), (&d.removed, "Removed items", '-')] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({})", list.len());
        for a in list {
            let _ = writeln!(out, "  {sign} {}  {}  {}", a.id, state_word(&a.state), a.title);
            if a.state.outcome != Outcome::Pass {
                let _ = writeln!(out, "    {}: {}", a.state.code, one_line(&a.state.message));
            }
        }
    }
    out
}

fn state_word(s: &ItemState) -> String {
    if s.blocks { format!("{} (blocking)", s.outcome) } else { s.outcome.to_string() }
}

fn code_change(c: &ItemChange) -> String {
    if c.old.outcome == c.new.outcome && c.old.code != c.new.code {
        format!("  [{} -> {}]", c.old.code, c.new.code)
    } else {
        String::new()
    }
}

fn one_line(s: &str) -> String {
    crate::report::text::sanitize(s).replace('\n', " ")
}
