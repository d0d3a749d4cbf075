//! The alert-rules check's typed parameters (expected alerts, rule sources, the Prometheus
//! endpoint and auth, the "can it fire" checks) and the choice of objects from the cluster view.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::probe::ParamReader;
use crate::prometheus::{PrometheusParams, PrometheusRead};
use crate::rules::fire_params::FireParams;
use crate::rules::lint::ExpectedAlert;
use crate::rules::{CheckOptions, PromVersion};
use crate::selector::Selector;

/// ConfigMaps holding rule files: one by name, or those matching labels, in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapSource {
    pub namespace: String,
    pub name: Option<String>,
    pub selector: Option<BTreeMap<String, String>>,
}

/// PrometheusRule objects, in one namespace or all, optionally by labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusRuleSource {
    pub namespace: Option<String>,
    pub selector: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRulesParams {
    pub expected: Vec<ExpectedAlert>,
    pub configmaps: Vec<ConfigMapSource>,
    pub prometheusrules: Vec<PrometheusRuleSource>,
    pub prometheus: Option<PrometheusParams>,
    pub max_eval_age: Duration,
    pub options: CheckOptions,
    /// Whether the alerts can fire: series, exporters, windows, `for`.
    pub fire: FireParams,
}

/// Reads a list of tables with the given keys, reporting unknown keys and wrong types.
impl AlertRulesParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let mut expected = Vec::new();
        for (i, t) in r.table_list("expected", &["name", "severity"]) {
            let name = r.str_in("expected", i, t, "name", true);
            let severity = r.str_in("expected", i, t, "severity", true);
            if let (Some(name), Some(severity)) = (name, severity) {
                expected.push(ExpectedAlert { name, severity });
            }
        }
        let mut configmaps = Vec::new();
        for (i, t) in r.table_list("configmaps", &["namespace", "name", "selector"]) {
            let namespace = r.str_in("configmaps", i, t, "namespace", true);
            let name = r.str_in("configmaps", i, t, "name", false);
            let selector = r.labels_in("configmaps", i, t, "selector");
            if name.is_some() == selector.is_some() {
                r.error("configmaps", format!("`configmaps[{i}]` needs exactly one of `name` or `selector`"));
            }
            if let Some(namespace) = namespace {
                configmaps.push(ConfigMapSource { namespace, name, selector });
            }
        }
        let mut prometheusrules = Vec::new();
        for (i, t) in r.table_list("prometheusrules", &["namespace", "selector"]) {
            let namespace = r.str_in("prometheusrules", i, t, "namespace", false);
            let selector = r.labels_in("prometheusrules", i, t, "selector");
            prometheusrules.push(PrometheusRuleSource { namespace, selector });
        }
        let prometheus = PrometheusParams::read(r, false);
        let max_eval_age = r.opt_duration("max_eval_age").unwrap_or(Duration::from_secs(300));
        let mut options = CheckOptions::default();
        if let Some(s) = r.opt_str_list("severities") {
            options.known_severities = s;
        }
        match r.opt_str("prometheus_version").as_deref() {
            None | Some("2") => {}
            Some("3") => options.prometheus = PromVersion::V3,
            Some(other) => {
                r.error("prometheus_version", format!("`prometheus_version` must be \"2\" or \"3\", found {other:?}"))
            }
        }
        let fire = FireParams::read(r);
        let prometheus = match prometheus {
            PrometheusRead::Given(p) => Some(*p),
            PrometheusRead::Absent => None,
            PrometheusRead::Invalid => return None,
        };
        if configmaps.is_empty() && prometheusrules.is_empty() && prometheus.is_none() {
            r.error_general("give at least one rule source (`configmaps`, `prometheusrules`) or `prometheus_url`");
            return None;
        }
        Some(AlertRulesParams { expected, configmaps, prometheusrules, prometheus, max_eval_age, options, fire })
    }

    /// The ConfigMap holding the scrape configuration, among `objects`.
    pub fn scrape_config<'a>(&self, objects: &'a [serde_json::Value]) -> Option<&'a serde_json::Value> {
        let c = self.fire.scrape_config.as_ref()?;
        objects.iter().find(|o| {
            o.get("kind").and_then(|v| v.as_str()) == Some("ConfigMap")
                && o.pointer("/metadata/namespace").and_then(|v| v.as_str()) == Some(c.namespace.as_str())
                && o.pointer("/metadata/name").and_then(|v| v.as_str()) == Some(c.name.as_str())
        })
    }

    /// The objects of the cluster view that these parameters name as rule sources.
    pub fn select<'a>(&self, objects: &'a [serde_json::Value]) -> Vec<&'a serde_json::Value> {
        objects.iter().filter(|o| self.selects(o)).collect()
    }

    fn selects(&self, o: &serde_json::Value) -> bool {
        let kind = o.get("kind").and_then(|v| v.as_str());
        let meta = o.get("metadata");
        let ns = meta.and_then(|m| m.get("namespace")).and_then(|v| v.as_str());
        let name = meta.and_then(|m| m.get("name")).and_then(|v| v.as_str());
        let labels: BTreeMap<String, String> = meta
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.as_object())
            .map(|l| l.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let matches = |sel: &Option<BTreeMap<String, String>>| {
            sel.as_ref().is_none_or(|s| Selector::from_labels(s).matches(&labels))
        };
        match kind {
            Some("ConfigMap") => self.configmaps.iter().any(|c| {
                Some(c.namespace.as_str()) == ns
                    && c.name.as_ref().is_none_or(|n| Some(n.as_str()) == name)
                    && matches(&c.selector)
            }),
            Some("PrometheusRule") => self
                .prometheusrules
                .iter()
                .any(|p| p.namespace.as_ref().is_none_or(|n| Some(n.as_str()) == ns) && matches(&p.selector)),
            _ => false,
        }
    }
}
