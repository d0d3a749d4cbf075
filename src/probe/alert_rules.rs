//! `alert-rules` probe: alert rules in ConfigMaps and PrometheusRule objects judged (promtool's
//! checks plus kgents' own), and compared with what the running Prometheus loaded and fires.

use std::time::Duration;

use serde_json::Value;

use crate::cluster::{ClusterView, Gap, Kind, Need};
use crate::outcome::{ProbeReport, Unverified};
use crate::probe::ProbeContext;
use crate::rules::evaluate::{PrometheusSnapshot, evaluate_with, fetch_snapshot};
use crate::rules::fire_params::read_exporters;
use crate::rules::params::AlertRulesParams;

/// The kinds the check reads: ConfigMaps and PrometheusRules, each only when a source names it,
/// in the namespaces the sources name (all namespaces when a PrometheusRule source names none).
pub fn needs(p: &AlertRulesParams) -> Vec<Need> {
    let mut out = Vec::new();
    if !p.configmaps.is_empty() || p.fire.scrape_config.is_some() {
        let mut ns: Vec<String> = p.configmaps.iter().map(|c| c.namespace.clone()).collect();
        ns.extend(p.fire.scrape_config.iter().map(|c| c.namespace.clone()));
        ns.sort();
        ns.dedup();
        out.push(Need::namespaced(Kind::ConfigMap, &ns));
    }
    if !p.fire.pods.is_empty() {
        let mut ns: Vec<String> = p.fire.pods.iter().map(|s| s.namespace.clone()).collect();
        ns.sort();
        ns.dedup();
        out.push(Need::namespaced(Kind::Pod, &ns));
    }
    if !p.prometheusrules.is_empty() {
        let mut ns: Vec<String> = p.prometheusrules.iter().filter_map(|s| s.namespace.clone()).collect();
        if ns.len() < p.prometheusrules.len() {
            ns.clear(); // one source without a namespace: read all of them
        }
        ns.sort();
        ns.dedup();
        out.push(Need::namespaced(Kind::PrometheusRule, &ns));
    }
    out
}

/// Reading the pods' metrics ports goes through the API server's pod proxy.
pub fn grants(p: &AlertRulesParams) -> Vec<crate::cluster::rbac::Grant> {
    let mut out: Vec<crate::cluster::rbac::Grant> = Vec::new();
    for s in &p.fire.pods {
        let g = crate::cluster::rbac::Grant {
            group: String::new(),
            resource: "pods/proxy".into(),
            verbs: vec!["get".into()],
            namespace: Some(s.namespace.clone()),
        };
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// The rule objects of the view, or the report to return instead. A missing PrometheusRule CRD
/// drops that part with its reason (the second value); the check is skipped only when nothing
/// else is left to check.
fn objects_of(view: &ClusterView, p: &AlertRulesParams) -> Result<(Vec<Value>, Option<String>), Box<ProbeReport>> {
    let mut objects = Vec::new();
    let mut crd_skipped = None;
    if !p.configmaps.is_empty() || p.fire.scrape_config.is_some() {
        match view.objects(Kind::ConfigMap) {
            Ok(v) => objects.extend(v.iter().cloned()),
            Err(g) => return Err(Box::new(g.to_report(Kind::ConfigMap))),
        }
    }
    if !p.prometheusrules.is_empty() {
        match view.objects(Kind::PrometheusRule) {
            Ok(v) => objects.extend(v.iter().cloned()),
            Err(Gap::NotServed { reason }) => {
                let reason = format!("PrometheusRule sources not checked: {reason}");
                if p.configmaps.is_empty() && p.prometheus.is_none() {
                    return Err(Box::new(ProbeReport::skipped(reason)));
                }
                crd_skipped = Some(reason);
            }
            Err(g) => return Err(Box::new(g.to_report(Kind::PrometheusRule))),
        }
    }
    Ok((objects, crd_skipped))
}

/// Resolves credential and CA file paths against the checklist's folder.
fn resolved(p: &AlertRulesParams, ctx: &ProbeContext) -> AlertRulesParams {
    let mut p = p.clone();
    p.prometheus = p.prometheus.map(|prom| prom.resolved(ctx));
    p
}

pub async fn run(p: &AlertRulesParams, ctx: &ProbeContext) -> ProbeReport {
    let p = resolved(p, ctx);
    let has_sources = !p.configmaps.is_empty() || !p.prometheusrules.is_empty() || p.fire.scrape_config.is_some();
    let (objects, crd_skipped) = if has_sources {
        let Some(view) = ctx.view.clone() else {
            return ProbeReport::unverified("no-cluster", "no cluster view was loaded for this audit");
        };
        match objects_of(&view, &p) {
            Ok(o) => o,
            Err(r) => return *r,
        }
    } else {
        (Vec::new(), None)
    };

    let prometheus: Option<Result<PrometheusSnapshot, _>> = match &p.prometheus {
        None => None,
        Some(_) if ctx.offline => None,
        Some(prom) => {
            // Leave a second of the item budget for judging and reporting.
            let timeout = ctx.timeout.saturating_sub(Duration::from_secs(1)).max(Duration::from_millis(500));
            tokio::select! {
                r = fetch_snapshot(&p, prom, timeout) => Some(r),
                _ = ctx.cancel.cancelled() => {
                    Some(Err(crate::prometheus::PromApiError::Interrupted))
                }
            }
        }
    };
    let exporters =
        if p.fire.scope == crate::rules::fire::CanFire::None { Vec::new() } else { read_exporters(&p.fire, ctx).await };
    let mut report = evaluate_with(&p, &objects, prometheus, &exporters, jiff::Timestamp::now());
    if let Some(reason) = crd_skipped {
        report.fact("prometheusrules", reason);
    }
    if ctx.offline
        && let Some(prom) = &p.prometheus
    {
        report.gap(Unverified::new(
            "offline",
            format!(
                "offline audit: the rule sources were judged, the rules loaded in Prometheus at {} were not",
                prom.url
            ),
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::KindData;
    use crate::probe::ParamReader;
    use crate::probe::params::ParamError;
    use crate::rules::evaluate::evaluate;

    fn params(toml_text: &str) -> AlertRulesParams {
        let t: toml::Table = toml::from_str(toml_text).unwrap();
        let mut r = ParamReader::new(&t);
        let p = AlertRulesParams::read(&mut r);
        let errs: Result<(), Vec<ParamError>> = r.finish();
        errs.unwrap();
        p.unwrap()
    }

    fn ctx(view: ClusterView, offline: bool) -> ProbeContext {
        let mut c = ProbeContext::standalone(".", Duration::from_secs(5));
        c.offline = offline;
        c.view = Some(std::sync::Arc::new(view));
        c
    }

    const CM: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"obs","name":"rules"},
        "data":{"alerts.yml":"groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    labels: {severity: critical}\n    annotations: {summary: down, runbook_url: https://r}\n"}}"#;

    #[test]
    fn needs_follow_the_sources() {
        let p = params("configmaps = [{namespace = \"obs\", name = \"rules\"}]");
        assert_eq!(needs(&p), vec![Need::namespaced(Kind::ConfigMap, &["obs".into()])]);
        let p = params("prometheusrules = [{namespace = \"a\"}, {}]");
        assert_eq!(needs(&p), vec![Need::cluster(Kind::PrometheusRule)]);
        let p = params("prometheus_url = \"http://127.0.0.1:1\"");
        assert!(needs(&p).is_empty());
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn offline_judges_sources_and_leaves_prometheus_unverified() {
        let p =
            params("configmaps = [{namespace = \"obs\", name = \"rules\"}]\nprometheus_url = \"http://127.0.0.1:1\"");
        let mut view = ClusterView::new(true);
        view.set(Kind::ConfigMap, KindData::Objects(vec![serde_json::from_str(CM).unwrap()]));
        let r = rt().block_on(run(&p, &ctx(view, true)));
        assert_eq!(r.first_gap().map(|u| u.code.as_str()), Some("offline"));
        assert!(r.evidence.iter().any(|f| f.name == "alerts_in_sources" && f.value == "1"), "{r:?}");
    }

    #[test]
    fn missing_crd_skips_only_that_part() {
        let mut view = ClusterView::new(false);
        view.set(Kind::ConfigMap, KindData::Objects(vec![serde_json::from_str(CM).unwrap()]));
        view.set(Kind::PrometheusRule, KindData::Gap(Gap::NotServed { reason: "no CRD".into() }));
        let only_crd = params("prometheusrules = [{namespace = \"obs\"}]");
        let r = rt().block_on(run(&only_crd, &ctx(view.clone(), false)));
        assert!(r.skip_reason().is_some_and(|s| s.contains("no CRD")), "{r:?}");
        let both =
            params("prometheusrules = [{namespace = \"obs\"}]\nconfigmaps = [{namespace = \"obs\", name = \"rules\"}]");
        let r = rt().block_on(run(&both, &ctx(view, false)));
        assert_eq!(r.skip_reason(), None);
        assert_eq!(r.first_gap(), None);
        assert!(r.findings().is_empty(), "{r:?}");
        assert!(r.evidence.iter().any(|f| f.name == "prometheusrules" && f.value.contains("no CRD")));
    }

    #[test]
    fn expected_alerts_without_sources_are_judged_in_prometheus_only() {
        let p = params("prometheus_url = \"http://p\"\nexpected = [{name = \"Down\", severity = \"critical\"}]");
        let now: jiff::Timestamp = "2025-01-01T12:00:00Z".parse().unwrap();
        let snapshot = |name: &str| {
            PrometheusSnapshot::new(
                serde_json::from_value(serde_json::json!({"groups": [{"name": "g", "file": "a.yml", "interval": 30,
                "rules": [{"type": "alerting", "name": name, "query": "up == 0", "labels": {"severity": "critical"},
                "health": "ok", "lastEvaluation": "2025-01-01T11:59:50Z"}]}]}))
                .unwrap(),
                serde_json::from_value(serde_json::json!({"alerts": []})).unwrap(),
            )
        };
        let r = evaluate(&p, &[], Some(Ok(snapshot("Down"))), now);
        assert!(r.findings().is_empty(), "{r:?}");
        let r = evaluate(&p, &[], Some(Ok(snapshot("Other"))), now);
        let codes: Vec<&str> = r.findings().iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["alert-expected-not-loaded"]);
    }

    #[test]
    fn other_gaps_are_unverified() {
        let mut view = ClusterView::new(false);
        view.set(
            Kind::ConfigMap,
            KindData::Gap(Gap::Forbidden { verb: "list".into(), resource: "configmaps".into(), namespace: None }),
        );
        let p = params("configmaps = [{namespace = \"obs\", name = \"rules\"}]");
        let r = rt().block_on(run(&p, &ctx(view, false)));
        assert_eq!(r.first_gap().map(|u| u.code.as_str()), Some("forbidden"));
    }
}
