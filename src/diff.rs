//! `kgents-gate diff OLD.json NEW.json`: what changed between two reports, item by item (matched
//! by id), each measured value (SLO objectives, matched by item and name), and whether the new
//! report has a blocking failure the old one did not (exit 1).

use std::fmt::Write as _;

use serde::Serialize;

use crate::outcome::{Measurement, MeasurementStatus, Outcome};
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

/// One measured value in one report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasuredValue {
    pub value: f64,
    pub status: MeasurementStatus,
    pub threshold: String,
}

impl MeasuredValue {
    fn of(m: &Measurement) -> Self {
        MeasuredValue { value: m.value, status: m.status, threshold: m.threshold.clone() }
    }
}

/// A measurement of an item whose value or status differs between the reports, or that only
/// one of them has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasurementChange {
    pub item: String,
    pub name: String,
    pub old: Option<MeasuredValue>,
    pub new: Option<MeasuredValue>,
}

impl MeasurementChange {
    /// `+4.2%`, when both reports have the value.
    pub fn change(&self) -> Option<String> {
        match (&self.old, &self.new) {
            (Some(o), Some(n)) => Some(crate::report::text::change(o.value, n.value)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportDiff {
    pub old_decision: Decision,
    pub new_decision: Decision,
    /// Set when the two reports come from different checklists.
    pub checklist_changed: bool,
    /// In the new report's order.
    pub changes: Vec<ItemChange>,
    pub added: Vec<ItemOnlyIn>,
    pub removed: Vec<ItemOnlyIn>,
    /// Per measured value of items present in both reports, in the new report's order.
    pub measurements: Vec<MeasurementChange>,
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
            && self.measurements.is_empty()
    }
}

/// Compares two reports item by item.
pub fn diff(old: &Report, new: &Report) -> ReportDiff {
    let mut changes = Vec::new();
    let mut added = Vec::new();
    let mut measurements = Vec::new();
    for item in &new.items {
        let now = ItemState::of(item);
        if let Some(o) = old.items.iter().find(|o| o.id == item.id) {
            measurements.extend(measurement_changes(o, item));
        }
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
        measurements,
    }
}

/// The measurements of one item that changed value or status, appeared or went away.
fn measurement_changes(old: &ItemReport, new: &ItemReport) -> Vec<MeasurementChange> {
    let mut out = Vec::new();
    let change = |name: &str, o: Option<&Measurement>, n: Option<&Measurement>| MeasurementChange {
        item: new.id.clone(),
        name: name.to_string(),
        old: o.map(MeasuredValue::of),
        new: n.map(MeasuredValue::of),
    };
    for n in &new.measurements {
        let o = old.measurements.iter().find(|o| o.name == n.name);
        if o.is_none_or(|o| o.value != n.value || o.status != n.status) {
            out.push(change(&n.name, o, Some(n)));
        }
    }
    for o in old.measurements.iter().filter(|o| !new.measurements.iter().any(|n| n.name == o.name)) {
        out.push(change(&o.name, Some(o), None));
    }
    out
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
    if !d.measurements.is_empty() {
        let _ = writeln!(out, "\nMeasurements ({})", d.measurements.len());
        for m in &d.measurements {
            let shown = |v: &Option<MeasuredValue>| match v {
                Some(v) => format!("{} {}", crate::report::text::number(v.value), v.status.as_str()),
                None => "none".to_string(),
            };
            let change = m.change().map(|c| format!(" ({c})")).unwrap_or_default();
            let threshold = m.new.as_ref().or(m.old.as_ref()).map(|v| v.threshold.as_str()).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}  {}: {} -> {}{change}  [{}]",
                m.item,
                one_line(&m.name),
                shown(&m.old),
                shown(&m.new),
                one_line(threshold)
            );
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
