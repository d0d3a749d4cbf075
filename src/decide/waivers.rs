//! Waivers as the decision applies them (docs/decision.md): a waiver of an item turns `fail`,
//! `warn` and `pending` into `waived`; a finding waiver (`match`) takes the error and warning
//! findings it names out of the verdict, and they are shown beside the others. Neither covers
//! what could not be checked, and an expired or unused waiver is reported.

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::{days_left, plural};
use crate::checklist::{Checklist, Item, Waiver};
use crate::outcome::{Finding, Level, Outcome};
use crate::probe::ProbeKind;
use crate::report::{ItemReport, WaivedFinding, WaiverRef, WaiverReport, WaiverStatus};

pub(super) fn waiver_in_force(w: &Waiver, today: Date) -> bool {
    w.expires >= today
}

/// An item's findings split by its finding waivers.
pub(super) struct Split {
    /// The findings that count for the verdict.
    pub in_force: Vec<Finding>,
    pub waived: Vec<WaivedFinding>,
    /// Expired finding waivers (by index) and how many findings they would have covered.
    expired_matches: BTreeMap<usize, usize>,
}

/// The checklist's waivers and what each did in this run.
pub(super) struct WaiverBook<'a> {
    checklist: &'a Checklist,
    today: Date,
    status: BTreeMap<usize, WaiverStatus>,
    /// Findings each finding waiver covered.
    covered: BTreeMap<usize, usize>,
    notes: Vec<String>,
}

impl<'a> WaiverBook<'a> {
    pub fn new(checklist: &'a Checklist, today: Date) -> Self {
        WaiverBook { checklist, today, status: BTreeMap::new(), covered: BTreeMap::new(), notes: Vec::new() }
    }

    fn waiver_ref(&self, w: &Waiver) -> WaiverRef {
        WaiverRef {
            reason: w.reason.clone(),
            owner: w.owner.clone(),
            expires: w.expires.to_string(),
            days_left: days_left(self.today, w.expires),
            ticket: w.ticket.clone(),
            matches: w.matches.clone(),
        }
    }

    /// The finding waivers of `item`, with their index in the checklist.
    fn finding_waivers(&self, item: &Item) -> Vec<(usize, &'a Waiver)> {
        let waivers = &self.checklist.waivers;
        waivers.iter().enumerate().filter(|(_, w)| w.item == item.id && w.matches.is_some()).collect()
    }

    /// Splits the findings of `item` (reported by `probe`): an error or warning finding that a
    /// finding waiver in force matches is waived by the first such waiver; info findings are
    /// evidence and never waived.
    pub fn split_findings(&mut self, item: &Item, probe: ProbeKind, findings: &[Finding]) -> Split {
        let ids = probe.finding_id_facts();
        let waivers = self.finding_waivers(item);
        let mut split = Split { in_force: Vec::new(), waived: Vec::new(), expired_matches: BTreeMap::new() };
        for f in findings {
            let matching = || waivers.iter().filter(|(_, w)| w.matches.as_ref().is_some_and(|m| m.matches(f, ids)));
            let by = matching().find(|(_, w)| waiver_in_force(w, self.today));
            match by {
                Some((idx, w)) if f.level >= Level::Warning => {
                    *self.covered.entry(*idx).or_default() += 1;
                    split.waived.push(WaivedFinding { finding: f.clone(), waiver: self.waiver_ref(w) });
                }
                _ => {
                    if f.level >= Level::Warning {
                        for (idx, _) in matching().filter(|(_, w)| !waiver_in_force(w, self.today)) {
                            *split.expired_matches.entry(*idx).or_default() += 1;
                        }
                    }
                    split.in_force.push(f.clone());
                }
            }
        }
        split
    }

    /// Records the waived findings on the item (after its verdict on the others): when they were
    /// all its error and warning findings and nothing else keeps it from passing, it is `waived`.
    /// Every finding waiver of the item gets its status, and the expired and unused ones a note.
    pub fn apply_finding_waivers(&mut self, r: &mut ItemReport, item: &Item, split: Split) {
        r.waived_findings = split.waived;
        if let Some(first) = r.waived_findings.first() {
            let n = r.waived_findings.len();
            if r.outcome == Outcome::Pass {
                let mut distinct: Vec<&WaiverRef> = Vec::new();
                for w in r.waived_findings.iter().map(|w| &w.waiver) {
                    if !distinct.contains(&w) {
                        distinct.push(w);
                    }
                }
                let soonest = distinct.iter().min_by_key(|w| w.days_left).copied().unwrap_or(&first.waiver);
                let more = if n > 1 { format!(" (and {} more)", n - 1) } else { String::new() };
                let by = if distinct.len() == 1 {
                    format!("until {} by {} ({})", soonest.expires, soonest.owner, soonest.reason)
                } else {
                    format!("by {} finding waivers, the first to expire on {}", distinct.len(), soonest.expires)
                };
                r.outcome = Outcome::Waived;
                r.code = first.finding.code.clone();
                r.message = format!("every finding waived {by}: {}{more}", first.finding.message);
            } else {
                r.message.push_str(&format!("; {} waived", plural(n, "finding", "findings")));
            }
        }
        for (idx, w) in self.finding_waivers(item) {
            let m = w.matches.as_ref().map(ToString::to_string).unwrap_or_default();
            let status = if !waiver_in_force(w, self.today) {
                match split.expired_matches.get(&idx) {
                    Some(n) => {
                        r.message.push_str(&format!(" (waiver by {} for {m} expired on {})", w.owner, w.expires));
                        self.notes.push(format!(
                            "waiver for {} ({m}) expired on {}; it no longer covers {}",
                            item.id,
                            w.expires,
                            plural(*n, "finding", "findings")
                        ));
                    }
                    None => self
                        .notes
                        .push(format!("waiver for {} ({m}) expired on {}; it covers nothing", item.id, w.expires)),
                }
                WaiverStatus::Expired
            } else if self.covered.contains_key(&idx) {
                WaiverStatus::Applied
            } else {
                self.notes.push(format!(
                    "waiver for {} ({m}) matches no finding: the item is {}; remove the waiver",
                    item.id, r.outcome
                ));
                WaiverStatus::Unused
            };
            self.status.insert(idx, status);
        }
    }

    /// The item's own waiver (no `match`): covers `fail`, `warn` and `pending`; never
    /// `unverified` (could not see is not an accepted risk).
    pub fn apply_item_waiver(&mut self, r: &mut ItemReport, item: &Item) {
        let waivers = &self.checklist.waivers;
        let Some(idx) = waivers.iter().position(|w| w.item == item.id && w.matches.is_none()) else {
            return;
        };
        let w = &waivers[idx];
        let needs_waiver = matches!(r.outcome, Outcome::Fail | Outcome::Warn | Outcome::Pending);
        let status = if !waiver_in_force(w, self.today) {
            WaiverStatus::Expired
        } else if needs_waiver {
            WaiverStatus::Applied
        } else {
            WaiverStatus::Unused
        };
        match status {
            WaiverStatus::Applied => {
                r.outcome = Outcome::Waived;
                r.message = format!("waived until {} by {} ({}): {}", w.expires, w.owner, w.reason, r.message);
                r.waiver = Some(self.waiver_ref(w));
            }
            WaiverStatus::Expired if needs_waiver => {
                r.message = format!("{} (waiver by {} expired on {})", r.message, w.owner, w.expires);
                self.notes
                    .push(format!("waiver for {} expired on {}; it no longer covers the item", item.id, w.expires));
            }
            WaiverStatus::Expired => {
                self.notes
                    .push(format!("waiver for {} expired on {} (the item passes without it)", item.id, w.expires));
            }
            WaiverStatus::Unused => {
                self.notes.push(format!(
                    "waiver for {} matches nothing: the item is {}; remove the waiver",
                    item.id, r.outcome
                ));
            }
        }
        self.status.insert(idx, status);
    }

    /// Every waiver as it stands, and the notes. Waivers of items not selected this run are
    /// reported without a verdict: unused while in force, else expired.
    pub fn finish(self) -> (Vec<WaiverReport>, Vec<String>) {
        let waivers = self
            .checklist
            .waivers
            .iter()
            .enumerate()
            .map(|(i, w)| WaiverReport {
                item: w.item.clone(),
                reason: w.reason.clone(),
                owner: w.owner.clone(),
                expires: w.expires.to_string(),
                days_left: days_left(self.today, w.expires),
                ticket: w.ticket.clone(),
                status: self.status.get(&i).copied().unwrap_or(if waiver_in_force(w, self.today) {
                    WaiverStatus::Unused
                } else {
                    WaiverStatus::Expired
                }),
                matches: w.matches.clone(),
                waived_findings: self.covered.get(&i).copied().unwrap_or(0),
            })
            .collect();
        (waivers, self.notes)
    }
}
