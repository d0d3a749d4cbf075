//! The engine: runs the selected checks concurrently, each under its own timeout, all under a
//! global deadline, and stops cleanly on Ctrl-C. Whatever did not finish is `unverified`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::checklist::{Checklist, ItemKind};
use crate::outcome::ProbeReport;
use crate::probe::ProbeContext;

/// How long probes get to clean up (delete probe pods, scratch keys) after a cancel.
pub const CLEANUP_GRACE: Duration = Duration::from_secs(10);

/// What the engine establishes for one item that has a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRun {
    pub report: ProbeReport,
    pub duration: Duration,
}

/// Why the run stopped early, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    CtrlC,
    GlobalTimeout,
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--timeout`, for messages: the whole audit's wall time.
    pub global_timeout: Duration,
    /// When the audit's time is up (its start plus `--timeout`); connecting and listing before
    /// the probes ran from the same clock. Probes still running then are cancelled and get
    /// [`CLEANUP_GRACE`] to clean up (docs/decision.md).
    pub deadline: tokio::time::Instant,
    /// Per-item timeout unless the item sets its own.
    pub item_timeout: Duration,
    /// Shared by every probe (offline flag, base dir, today, run id). Its `timeout` is replaced per item.
    pub context: ProbeContext,
}

/// Progress events for a live display; the engine itself never prints.
pub trait Progress: Send + Sync {
    fn started(&self, _total: usize) {}
    fn finished(&self, _item_id: &str, _report: &ProbeReport) {}
}

/// No progress display.
pub struct Silent;
impl Progress for Silent {}

/// The result of a run: one entry per selected check item, plus the interruption if any.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub items: BTreeMap<String, ItemRun>,
    pub interrupted: Option<Interruption>,
    /// What the probes created together and could not delete at the end (named objects).
    pub left_behind: Vec<String>,
}

/// Runs the probes of `selected` items (ids). Manual items are not run (the decision judges their
/// sign-off). `stop` is cancelled by the caller on Ctrl-C.
pub async fn run(
    checklist: &Checklist,
    selected: &[String],
    opts: &EngineOptions,
    stop: CancellationToken,
    progress: Arc<dyn Progress>,
) -> RunResult {
    let cancel = opts.context.cancel.clone();
    let mut set: JoinSet<Option<(String, ItemRun)>> = JoinSet::new();
    let mut pending: BTreeMap<String, Instant> = BTreeMap::new();
    let mut results = BTreeMap::new();

    let runnable: Vec<_> = checklist
        .items
        .iter()
        .filter(|i| selected.contains(&i.id))
        .filter_map(|i| match &i.kind {
            ItemKind::Check { spec, .. } => Some((i, spec)),
            ItemKind::Manual { .. } => None,
        })
        .collect();
    progress.started(runnable.len());
    for (_, spec) in &runnable {
        spec.register(&opts.context.shared);
    }

    for (item, spec) in runnable {
        let id = item.id.clone();
        // The global deadline preempts items on its own; capping the item budget by it would make a
        // probe report its endpoint slow when only the audit ran out of time.
        let timeout = item.timeout.unwrap_or(opts.item_timeout);
        if opts.context.offline && spec.kind().needs_live() {
            let report = ProbeReport::unverified(
                "offline",
                format!("the audit ran offline; the {} probe needs a live endpoint or cluster", spec.kind().as_str()),
            );
            progress.finished(&id, &report);
            results.insert(id, ItemRun { report, duration: Duration::ZERO });
            continue;
        }
        let mut ctx = opts.context.clone();
        ctx.timeout = timeout;
        ctx.item_id = id.clone();
        let spec = spec.clone();
        pending.insert(id.clone(), Instant::now());
        let cleans_up = spec.kind().cleans_up();
        set.spawn(async move {
            let t0 = Instant::now();
            let cancel = ctx.cancel.clone();
            let run = tokio::time::timeout(timeout, spec.run(&ctx));
            let report = tokio::select! {
                r = run => match r {
                    Ok(r) => r,
                    Err(_) => ProbeReport::unverified(
                        "timeout",
                        format!("no answer within the item timeout of {}", crate::engine::human(timeout)),
                    ),
                },
                // Probes with nothing to clean up stop at once; the others see the cancel
                // themselves and return after cleaning up.
                _ = cancel.cancelled(), if !cleans_up => return None,
            };
            Some((id, ItemRun { report, duration: t0.elapsed() }))
        });
    }

    let deadline = tokio::time::sleep_until(opts.deadline);
    tokio::pin!(deadline);
    let mut interrupted = None;
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                None => break,
                Some(Ok(Some((id, run)))) => {
                    pending.remove(&id);
                    progress.finished(&id, &run.report);
                    results.insert(id, run);
                }
                Some(Ok(None)) => {}
                // A panicking probe must not take the audit down: its item stays pending below
                // and is reported unverified.
                Some(Err(_)) => {}
            },
            _ = stop.cancelled(), if interrupted.is_none() => {
                interrupted = Some(Interruption::CtrlC);
                break;
            }
            _ = &mut deadline, if interrupted.is_none() => {
                interrupted = Some(Interruption::GlobalTimeout);
                break;
            }
        }
    }

    if interrupted.is_some() {
        // Let probes see the cancel and clean up (probe pods, scratch keys), then give up on them.
        cancel.cancel();
        let grace = tokio::time::sleep(CLEANUP_GRACE);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                joined = set.join_next() => match joined {
                    None => break,
                    Some(Ok(None)) => {}
                    Some(Ok(Some((id, run)))) => {
                        // A probe that returned a complete answer before noticing the cancel
                        // keeps it; one cut short reports itself unverified.
                        pending.remove(&id);
                        progress.finished(&id, &run.report);
                        results.insert(id, run);
                    }
                    Some(Err(_)) => {}
                },
                _ = &mut grace => break,
            }
        }
        set.abort_all();
    }

    for (id, since) in pending {
        let (code, reason) = match interrupted {
            Some(Interruption::CtrlC) => {
                ("interrupted", "the audit was interrupted (Ctrl-C) before this check finished".to_string())
            }
            Some(Interruption::GlobalTimeout) => (
                "timeout",
                format!(
                    "the audit's global timeout of {} ran out before this check finished",
                    human(opts.global_timeout)
                ),
            ),
            None => ("probe-crashed", "the probe stopped unexpectedly; this is a bug in kgents-gate".to_string()),
        };
        let report = ProbeReport::unverified(code, reason);
        progress.finished(&id, &report);
        results.insert(id, ItemRun { report, duration: since.elapsed() });
    }
    // Shared objects (the network items' scratch namespace) go when every item is done.
    let left_behind = match tokio::time::timeout(CLEANUP_GRACE, opts.context.shared.finish()).await {
        Ok(left) => left,
        Err(_) => vec![format!("cleanup of the probes' shared objects did not finish within {}", human(CLEANUP_GRACE))],
    };
    RunResult { items: results, interrupted, left_behind }
}

/// `1m30s`, `500ms`: durations as people write them.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(90)), "1m30s");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
    }
}
