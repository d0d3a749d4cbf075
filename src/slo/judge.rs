//! The SLO judgement, pure: Prometheus' answers to each objective's samples become findings (met,
//! warning, violated, regressed), gaps (no data, NaN, query errors, ambiguous results, a missing
//! baseline value), the recorded measurements and Keptn's total score.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::outcome::{Finding, Measurement, MeasurementStatus, ProbeReport, Unverified};
use crate::prometheus::PromApiError;
use crate::prometheus::api::QueryData;
use crate::report::text::number;
use crate::slo::baseline::Baseline;
use crate::slo::params::{Bound, Objective, SloParams, TotalScore};

/// One evaluation of one objective's query: when, and what Prometheus answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: Timestamp,
    pub result: Result<QueryData, PromApiError>,
}

/// The baseline the regressions are judged against.
#[derive(Debug, Clone, Copy)]
pub enum BaselineInput<'a> {
    /// None was given.
    None,
    Report(&'a Baseline),
    /// The item's `baseline` file could not be read; why.
    Unreadable(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    at: Timestamp,
    value: f64,
}

/// The points one sample gave, and which series they came from.
#[derive(Debug, Clone, PartialEq)]
struct Resolved {
    points: Vec<Point>,
    series: String,
}

/// Why a sample gave no value: a gap code and the reason.
type Problem = (&'static str, String);

/// The whole check from the samples of every objective (`samples[i]` for `p.objectives[i]`).
/// `known_metrics` (every metric name Prometheus has) explains empty results when given.
pub fn judge(
    p: &SloParams,
    item_id: &str,
    samples: &[Vec<Sample>],
    baseline: BaselineInput<'_>,
    known_metrics: Option<&[String]>,
) -> ProbeReport {
    let mut report = ProbeReport::default();
    report.fact("prometheus", &p.prometheus.url);
    report.fact("objectives", p.objectives.len());
    if p.samples > 1 {
        report.fact("samples", format!("{} every {}", p.samples, crate::engine::human(p.interval)));
    }
    if let BaselineInput::Report(b) = baseline {
        report.fact("baseline", format!("{} (audit of {})", b.origin, b.started_at));
    }
    let mut statuses: Vec<Option<MeasurementStatus>> = Vec::new();
    for (o, taken) in p.objectives.iter().zip(samples) {
        statuses.push(objective(&mut report, o, taken, item_id, baseline, known_metrics));
    }
    if let Some(ts) = p.total_score {
        score(&mut report, ts, &p.objectives, &statuses);
    }
    report
}

/// Judges one objective into the report; its status when every sample gave a value.
fn objective(
    report: &mut ProbeReport,
    o: &Objective,
    taken: &[Sample],
    item_id: &str,
    baseline: BaselineInput<'_>,
    known_metrics: Option<&[String]>,
) -> Option<MeasurementStatus> {
    let mut worst: Option<(MeasurementStatus, Point)> = None;
    let mut per_sample = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut series = String::new();
    let mut points = Vec::new();
    for s in taken {
        match &s.result {
            Ok(data) => match resolve(o, data) {
                Ok(r) => {
                    let w = worst_point(o, &r.points);
                    per_sample.push(w.value);
                    if worst.is_none_or(|(st, p)| {
                        (status(o, w.value), badness(o.bound, w.value)) > (st, badness(o.bound, p.value))
                    }) {
                        worst = Some((status(o, w.value), w));
                    }
                    series = r.series;
                    points.extend(r.points);
                }
                Err(problem) => problems.push(problem),
            },
            Err(e) => problems.push(("slo-query-error", format!("Prometheus could not run the query: {e}"))),
        }
    }
    let first_problem = problems.first().cloned();
    let Some((status, at_worst)) = worst else {
        let (code, reason) = first_problem.unwrap_or(("slo-no-data", "no sample was taken".to_string()));
        report.gap(Unverified::new(
            code,
            format!("objective `{}`: {}; query: {}", o.name, explain(code, reason, o, known_metrics), o.query),
        ));
        return None;
    };
    let mut facts = vec![
        ("query", o.query.clone()),
        ("value", number(at_worst.value)),
        ("threshold", threshold(o)),
        ("at", at_worst.at.to_string()),
        ("series", series),
    ];
    if taken.len() > 1 {
        facts.push(("samples", per_sample.iter().map(|v| number(*v)).collect::<Vec<_>>().join(", ")));
    }
    if points.len() > per_sample.len()
        && let (Some(first), Some(last)) = (points.iter().map(|p| p.at).min(), points.iter().map(|p| p.at).max())
    {
        facts.push(("points", format!("{} from {first} to {last}", points.len())));
    }
    facts.push(("key", o.key.to_string()));
    facts.push(("weight", o.weight.to_string()));
    if !problems.is_empty() {
        // A sample that gave nothing might have been worse: only a violation stands without it.
        let (code, reason) = first_problem.unwrap_or(("slo-no-data", String::new()));
        report.gap(Unverified::new(
            code,
            format!(
                "objective `{}`: {} of {} samples gave no value: {reason}; query: {}",
                o.name,
                problems.len(),
                taken.len(),
                o.query
            ),
        ));
        if status == MeasurementStatus::Violated {
            report.push(violation(o, at_worst.value, &facts));
        } else {
            let seen = per_sample.iter().map(|v| number(*v)).collect::<Vec<_>>().join(", ");
            report.fact(format!("{} (incomplete)", o.name), seen);
        }
        return None;
    }
    let baseline_value = regression(report, o, at_worst.value, item_id, baseline, &mut facts);
    report.push(match status {
        MeasurementStatus::Violated => violation(o, at_worst.value, &facts),
        MeasurementStatus::Warning => {
            with_facts(Finding::warning("slo-warning", warning_message(o, at_worst.value)), o, &facts)
        }
        MeasurementStatus::Met => with_facts(
            Finding::info("slo-met", format!("`{}` is {} ({})", o.name, number(at_worst.value), threshold(o))),
            o,
            &facts,
        ),
    });
    report.measurements.push(Measurement {
        name: o.name.clone(),
        value: at_worst.value,
        threshold: threshold(o),
        status,
        query: Some(o.query.clone()),
        at: Some(at_worst.at.to_string()),
        samples: if taken.len() > 1 { per_sample } else { Vec::new() },
        baseline: baseline_value,
    });
    Some(status)
}

fn with_facts(mut f: Finding, o: &Objective, facts: &[(&str, String)]) -> Finding {
    f = f.target(format!("objective {}", o.name));
    for (k, v) in facts {
        f = f.fact(*k, v);
    }
    f
}

/// `p95` is 0.45, above its warning threshold 0.4 (maximum 0.5).
fn warning_message(o: &Objective, value: f64) -> String {
    let limit = match o.bound {
        Bound::Max(m) => format!("maximum {}", number(m)),
        Bound::Min(m) => format!("minimum {}", number(m)),
        Bound::Range(lo, hi) => format!("bound [{}, {}]", number(lo), number(hi)),
    };
    let side = match (o.warn_max, o.warn_min) {
        (Some(w), _) if value > w => format!("above its warning threshold {}", number(w)),
        (_, Some(w)) => format!("below its warning threshold {}", number(w)),
        _ => "past its warning threshold".to_string(),
    };
    format!("`{}` is {}, {side} ({limit})", o.name, number(value))
}

fn violation(o: &Objective, value: f64, facts: &[(&str, String)]) -> Finding {
    let how = match o.bound {
        Bound::Max(m) => format!("above the maximum {}", number(m)),
        Bound::Min(m) => format!("below the minimum {}", number(m)),
        Bound::Range(lo, hi) => format!("outside [{}, {}]", number(lo), number(hi)),
    };
    let message = format!("`{}` is {}, {how}", o.name, number(value));
    let f = if o.key {
        Finding::error("slo-violated", message)
    } else {
        Finding::warning("slo-violated", format!("{message} (not a key objective)"))
    };
    with_facts(f, o, facts)
}

/// Compares with the baseline when the objective allows a regression; the baseline value.
fn regression(
    report: &mut ProbeReport,
    o: &Objective,
    value: f64,
    item_id: &str,
    baseline: BaselineInput<'_>,
    facts: &mut Vec<(&'static str, String)>,
) -> Option<f64> {
    let allowed = o.max_regression?;
    let old = match baseline {
        BaselineInput::None => {
            Err("no baseline report was given (`audit --baseline OLD.json`, or `baseline` in the item)".to_string())
        }
        BaselineInput::Unreadable(why) => Err(why.to_string()),
        BaselineInput::Report(b) => b.value(item_id, &o.name),
    };
    let old = match old {
        Ok(v) => v,
        Err(why) => {
            report.gap(Unverified::new(
                "slo-baseline-missing",
                format!("objective `{}`: the regression of at most {} was not checked: {why}", o.name, pct(allowed)),
            ));
            return None;
        }
    };
    let change = crate::report::text::change(old, value);
    facts.push(("baseline", format!("{} ({change}, at most {} worse allowed)", number(old), pct(allowed))));
    // Worse is up for a maximum, down for a minimum (ranges take no regression).
    let limit_up = old + old.abs() * allowed;
    let limit_down = old - old.abs() * allowed;
    let regressed = match o.bound {
        Bound::Max(_) => value > limit_up,
        Bound::Min(_) => value < limit_down,
        Bound::Range(..) => false,
    };
    if regressed {
        let message = format!(
            "`{}` regressed from {} to {} ({change}; at most {} worse allowed)",
            o.name,
            number(old),
            number(value),
            pct(allowed)
        );
        let f =
            if o.key { Finding::error("slo-regressed", message) } else { Finding::warning("slo-regressed", message) };
        report.push(with_facts(f, o, facts));
    }
    Some(old)
}

fn pct(fraction: f64) -> String {
    format!("{}%", number(fraction * 100.0))
}

/// Keptn's score: met objectives count their full weight, warnings half, violations nothing.
/// Unverified objectives could be either, so the score is judged only where both ends agree.
fn score(report: &mut ProbeReport, ts: TotalScore, objectives: &[Objective], statuses: &[Option<MeasurementStatus>]) {
    let total: f64 = objectives.iter().map(|o| o.weight as f64).sum();
    let (mut low, mut unknown) = (0.0, 0.0);
    for (o, s) in objectives.iter().zip(statuses) {
        let w = o.weight as f64;
        match s {
            Some(MeasurementStatus::Met) => low += w,
            Some(MeasurementStatus::Warning) => low += w / 2.0,
            Some(MeasurementStatus::Violated) => {}
            None => unknown += w,
        }
    }
    let (low, high) = (low / total, (low + unknown) / total);
    let limits = format!("pass at {}, warning at {}", pct(ts.pass), pct(ts.warn));
    let shown = if unknown > 0.0 {
        format!("{} to {} ({limits})", pct(low), pct(high))
    } else {
        format!("{} ({limits})", pct(low))
    };
    report.fact("score", &shown);
    if high < ts.warn {
        report.push(Finding::error("slo-score-failed", format!("the SLO score is {shown}")).fact("score", &shown));
    } else if high < ts.pass && low >= ts.warn {
        report.push(Finding::warning("slo-score-warning", format!("the SLO score is {shown}")).fact("score", &shown));
    }
}

/// `<= 0.5`, `>= 100; warn below 150`, `in [0.9, 1]`.
pub fn threshold(o: &Objective) -> String {
    let mut t = match o.bound {
        Bound::Max(m) => format!("<= {}", number(m)),
        Bound::Min(m) => format!(">= {}", number(m)),
        Bound::Range(lo, hi) => format!("in [{}, {}]", number(lo), number(hi)),
    };
    if let Some(w) = o.warn_max {
        t.push_str(&format!("; warn above {}", number(w)));
    }
    if let Some(w) = o.warn_min {
        t.push_str(&format!("; warn below {}", number(w)));
    }
    t
}

fn status(o: &Objective, v: f64) -> MeasurementStatus {
    let outside = match o.bound {
        Bound::Max(m) => v > m,
        Bound::Min(m) => v < m,
        Bound::Range(lo, hi) => v < lo || v > hi,
    };
    if outside {
        MeasurementStatus::Violated
    } else if o.warn_max.is_some_and(|w| v > w) || o.warn_min.is_some_and(|w| v < w) {
        MeasurementStatus::Warning
    } else {
        MeasurementStatus::Met
    }
}

/// How far past the bound (positive) or inside it (negative) a value is.
fn badness(b: Bound, v: f64) -> f64 {
    match b {
        Bound::Max(m) => v - m,
        Bound::Min(m) => m - v,
        Bound::Range(lo, hi) => (lo - v).max(v - hi),
    }
}

/// The point that decides: the worst status, and among those the farthest towards the bound.
fn worst_point(o: &Objective, points: &[Point]) -> Point {
    let key = |p: &Point| (status(o, p.value), badness(o.bound, p.value));
    let mut best = points[0];
    for p in &points[1..] {
        if key(p) > key(&best) {
            best = *p;
        }
    }
    best
}

/// The points of one answer, aggregated across series where the objective says how.
fn resolve(o: &Objective, data: &QueryData) -> Result<Resolved, Problem> {
    // Series by labels, each with its (time, value) points.
    let series: Vec<(String, Vec<(Timestamp, f64)>)> = match data {
        QueryData::Scalar(s) => {
            let v = s.value().ok_or(("slo-query-error", format!("the scalar {:?} is not a number", s.1)))?;
            vec![("scalar".into(), vec![(s.time().unwrap_or_default(), v)])]
        }
        QueryData::String(_) => return Err(("slo-query-error", "the query returns a string, not a number".into())),
        QueryData::Vector(list) => {
            let mut out = Vec::new();
            for s in list {
                let Some(pair) = &s.value else {
                    return Err(("slo-query-error", "the query returns a native histogram, not a number".into()));
                };
                let v = pair.value().ok_or(("slo-query-error", format!("the value {:?} is not a number", pair.1)))?;
                out.push((labels(&s.metric), vec![(pair.time().unwrap_or_default(), v)]));
            }
            out
        }
        QueryData::Matrix(list) => list
            .iter()
            .map(|s| {
                let pts = s.values.iter().filter_map(|p| Some((p.time()?, p.value()?))).collect();
                (labels(&s.metric), pts)
            })
            .filter(|(_, pts): &(String, Vec<(Timestamp, f64)>)| !pts.is_empty())
            .collect(),
    };
    if series.is_empty() {
        return Err(("slo-no-data", "the query returned no series".into()));
    }
    let names: Vec<&str> = series.iter().map(|(l, _)| l.as_str()).collect();
    let shown = |n: usize| {
        let mut s = names.iter().take(n).copied().collect::<Vec<_>>().join(", ");
        if names.len() > n {
            s.push_str(&format!(", and {} more", names.len() - n));
        }
        s
    };
    if series.len() > 1 && o.aggregate.is_none() {
        return Err((
            "slo-ambiguous-result",
            format!(
                "the query returned {} series ({}) and no `aggregate` (max, min, avg or sum) says how to combine them",
                series.len(),
                shown(5)
            ),
        ));
    }
    let mut by_time: BTreeMap<Timestamp, Vec<f64>> = BTreeMap::new();
    for (_, pts) in &series {
        for (t, v) in pts {
            by_time.entry(*t).or_default().push(*v);
        }
    }
    let mut points = Vec::new();
    for (at, values) in by_time {
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            let why = if bad.is_nan() {
                "NaN (0/0: no traffic in the window?)"
            } else {
                "an infinite value (a division by 0?)"
            };
            return Err(("slo-no-data", format!("the query returned {why} at {at}")));
        }
        let value = match o.aggregate {
            Some(a) => a.apply(&values),
            None => values[0],
        };
        points.push(Point { at, value });
    }
    let series = match o.aggregate {
        Some(a) if series.len() > 1 => format!("{} of {} series: {}", a.as_str(), series.len(), shown(5)),
        _ => shown(1),
    };
    Ok(Resolved { points, series })
}

/// `{code="200",job="api"}`, `{}` for a series without labels.
fn labels(metric: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = metric.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// An empty result, explained by the metric names Prometheus has, when known.
fn explain(code: &str, reason: String, o: &Objective, known: Option<&[String]>) -> String {
    let (Some(known), "slo-no-data") = (known, code) else {
        return reason;
    };
    let Ok(selectors) = crate::prometheus::promql::selectors(&o.query) else {
        return reason;
    };
    let mut missing = Vec::new();
    for m in selectors.iter().filter_map(|s| s.metric.as_deref()) {
        if known.iter().any(|k| k == m) || missing.iter().any(|x: &String| x.starts_with(&format!("`{m}`"))) {
            continue;
        }
        match crate::checklist::did_you_mean(m, known.iter().map(String::as_str)) {
            Some(close) => missing.push(format!("`{m}` (did you mean `{close}`?)")),
            None => missing.push(format!("`{m}`")),
        }
    }
    if missing.is_empty() {
        format!("{reason} (its metrics exist; no series matches now: no traffic, or the label matchers select nothing)")
    } else {
        format!("{reason}: Prometheus has no metric {}", missing.join(", "))
    }
}
