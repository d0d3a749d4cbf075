//! Asks the running Prometheus what `fire` judges: for each selector of the loaded alerts in
//! scope, the series within the lookback and now (`/api/v1/series` with `match[]` and a time
//! range), when it last matched (the same, halving the range), the series of its metric alone
//! when it matched nothing, and every metric name for a did-you-mean.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::prometheus::api::{LoadedRule, RulesData};
use crate::prometheus::promql::SelectorUse;
use crate::prometheus::scrape::ScrapeIntervals;
use crate::prometheus::{PromApiError, PrometheusClient};
use crate::rules::fire::{CanFire, LiveFire, SeriesSeen, checked_selectors};
use crate::rules::lint::ExpectedAlert;

/// When no interval is known for a selector's jobs, "now" is the last two minutes (twice
/// Prometheus' default scrape interval).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Halvings of the lookback for "last seen": a year to the second.
const LAST_SEEN_STEPS: usize = 25;

/// The selectors of the loaded alerts that `scope` covers, by selector text.
pub fn loaded_selectors(
    rules: &RulesData,
    scope: CanFire,
    expected: &[ExpectedAlert],
) -> BTreeMap<String, SelectorUse> {
    let mut out = BTreeMap::new();
    for group in &rules.groups {
        for rule in &group.rules {
            let LoadedRule::Alerting(a) = rule else {
                continue;
            };
            if !scope.covers(&a.name, expected) {
                continue;
            }
            for s in checked_selectors(&a.query) {
                out.entry(s.selector()).or_insert(s);
            }
        }
    }
    out
}

pub async fn fetch_fire(
    client: &PrometheusClient,
    selectors: &BTreeMap<String, SelectorUse>,
    lookback: Duration,
    intervals: Option<&ScrapeIntervals>,
) -> LiveFire {
    let now = Timestamp::now();
    let answers = futures::future::join_all(
        selectors
            .iter()
            .map(|(text, sel)| async move { (text.clone(), seen(client, sel, now, lookback, intervals).await) }),
    )
    .await;
    let series: BTreeMap<String, Result<SeriesSeen, PromApiError>> = answers.into_iter().collect();
    let unknown_metric =
        series.values().any(|s| s.as_ref().is_ok_and(|s| s.lookback.is_empty() && s.metric_series.is_empty()));
    let metric_names = if unknown_metric { client.metric_names().await.ok() } else { None };
    LiveFire { now, lookback, series, metric_names }
}

fn back(now: Timestamp, d: Duration) -> Timestamp {
    now.checked_sub(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)).unwrap_or(Timestamp::UNIX_EPOCH)
}

async fn seen(
    client: &PrometheusClient,
    sel: &SelectorUse,
    now: Timestamp,
    lookback: Duration,
    intervals: Option<&ScrapeIntervals>,
) -> Result<SeriesSeen, PromApiError> {
    let text = sel.selector();
    let start = back(now, lookback);
    let mut out = SeriesSeen { lookback: client.series(&text, start, now).await?, ..Default::default() };
    if out.lookback.is_empty() {
        if let Some(metric) = sel.metric_selector().filter(|m| *m != text) {
            out.metric_series = client.series(&metric, start, now).await?;
        }
        return Ok(out);
    }
    let jobs: BTreeSet<&str> = out.lookback.iter().filter_map(|l| l.get("job").map(String::as_str)).collect();
    let interval = intervals.and_then(|i| i.for_jobs(jobs.iter().copied())).unwrap_or(DEFAULT_INTERVAL);
    // Twice the interval and a second: a live series has a sample in it whatever the jitter.
    let window = (interval * 2 + Duration::from_secs(1)).min(lookback);
    out.now = client.series(&text, back(now, window), now).await?;
    if out.now.is_empty() {
        out.last_seen = Some(last_seen(client, &text, now, lookback, window).await?);
    }
    Ok(out)
}

/// The last time the selector had a sample, to the second: the series API is asked whether
/// series exist from a time up to now, halving the interval (a range query's steps could fall
/// between the samples of a short-lived series).
async fn last_seen(
    client: &PrometheusClient,
    selector: &str,
    now: Timestamp,
    lookback: Duration,
    window: Duration,
) -> Result<Timestamp, PromApiError> {
    // Series exist from `seen` on, and none from `gone` on.
    let (mut seen, mut gone) = (back(now, lookback), back(now, window));
    for _ in 0..LAST_SEEN_STEPS {
        let span = gone.duration_since(seen);
        if span <= SignedDuration::from_secs(1) {
            break;
        }
        let mid = seen.checked_add(span / 2).unwrap_or(gone);
        if client.series(selector, mid, now).await?.is_empty() {
            gone = mid;
        } else {
            seen = mid;
        }
    }
    Ok(seen)
}
