//! Every alert of the kube-prometheus PrometheusRules and of awesome-prometheus-alerts is read,
//! with the counts and the kgents findings their README states; rule files wrapped in
//! ConfigMaps (one or several keys), Lists and multi-document YAML are read with their source.

use std::collections::BTreeMap;
use std::path::Path;

use kgents_gate::outcome::Level;
use kgents_gate::rules::{self, RuleEntry, codes};

fn count_code(entries: &[RuleEntry], code: &str) -> usize {
    entries.iter().filter(|e| e.findings.iter().any(|f| f.code == code)).count()
}

fn alerts(entries: &[RuleEntry]) -> Vec<&RuleEntry> {
    entries.iter().filter(|e| e.alert.is_some()).collect()
}

#[test]
fn kube_prometheus_rules_are_all_read() {
    let entries = rules::check_paths(&["tests/corpora/rules/kube-prometheus"]).unwrap();
    assert!(rules::prometheus_accepts(&entries), "{entries:#?}");
    let alerts = alerts(&entries);
    assert_eq!(alerts.len(), 139);
    assert!(entries.iter().filter(|e| e.record.is_some()).count() > 0, "recording rules are read too");
    // Every entry knows its PrometheusRule object and group.
    for e in &entries {
        assert_eq!(e.source.kind.as_deref(), Some("PrometheusRule"), "{e:?}");
        assert_eq!(e.source.namespace.as_deref(), Some("monitoring"));
        assert!(e.source.name.is_some() && e.source.file.is_some() && e.group.is_some(), "{e:?}");
    }
    let mut severities: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &alerts {
        *severities.entry(a.severity().unwrap_or("<none>")).or_default() += 1;
    }
    assert_eq!(severities, BTreeMap::from([("critical", 34), ("info", 7), ("none", 2), ("warning", 96)]));
    assert_eq!(count_code(&entries, codes::RUNBOOK_MISSING), 0, "every alert has runbook_url");
    assert_eq!(count_code(&entries, codes::SUMMARY_MISSING), 1);
    let for_findings: Vec<(&str, &str)> = entries
        .iter()
        .flat_map(|e| {
            e.findings
                .iter()
                .filter(|f| f.code == codes::FOR_ZERO)
                .map(move |f| (e.alert.as_deref().unwrap(), f.message.as_str()))
        })
        .collect();
    assert_eq!(for_findings.iter().filter(|(_, m)| m.starts_with("no `for`")).count(), 10, "10 alerts have no `for`");
    // And one says `for: 0s` explicitly.
    let explicit: Vec<_> = for_findings.iter().filter(|(_, m)| m.starts_with("`for: 0s`")).map(|(a, _)| *a).collect();
    assert_eq!(explicit, ["KubeNodeEviction"]);
    assert_eq!(for_findings.len(), 11);
    assert_eq!(count_code(&entries, codes::SEVERITY_MISSING), 0);
    assert_eq!(count_code(&entries, codes::SEVERITY_UNKNOWN), 0);
    let none: Vec<&str> = entries
        .iter()
        .filter(|e| e.findings.iter().any(|f| f.code == codes::SEVERITY_NONE))
        .filter_map(|e| e.alert.as_deref())
        .collect();
    assert_eq!(none, ["Watchdog", "InfoInhibitor"]);
    // Warnings only: the rules pass `rules check`.
    assert_eq!(rules::exit_status(&entries), 0);
}

#[test]
fn awesome_prometheus_alerts_are_all_read() {
    let dir = Path::new("tests/corpora/rules/awesome-prometheus-alerts");
    let mut per_file = BTreeMap::new();
    let mut all = Vec::new();
    for (file, want) in [
        ("nats_nats-exporter.yml", 13),
        ("redis_oliver006-redis-exporter.yml", 12),
        ("kubernetes_kubestate-exporter.yml", 37),
        ("prometheus-self-monitoring_embedded-exporter.yml", 28),
        ("etcd_embedded-exporter.yml", 13),
    ] {
        let entries = rules::check_paths(&[dir.join(file)]).unwrap();
        assert!(rules::prometheus_accepts(&entries), "{file}");
        per_file.insert(file, alerts(&entries).len());
        assert_eq!(alerts(&entries).len(), want, "{file}");
        all.extend(entries);
    }
    assert_eq!(alerts(&all).len(), 103);
    assert_eq!(count_code(&all, codes::RUNBOOK_MISSING), 103, "no alert has a runbook_url");
    assert_eq!(count_code(&all, codes::SUMMARY_MISSING), 0);
    let zero: Vec<&RuleEntry> = all
        .iter()
        .filter(|e| e.findings.iter().any(|f| f.code == codes::FOR_ZERO && f.message.contains("`for: 0s`")))
        .collect();
    assert_eq!(zero.len(), 42, "42 of 103 use `for: 0m`");
    assert_eq!(count_code(&all, codes::FOR_ZERO), 42, "the others have a for");
    assert!(all.iter().all(|e| e.source.kind.is_none() && e.source.file.is_some()));
}

const NATS_FILE: &str = "tests/corpora/rules/awesome-prometheus-alerts/nats_nats-exporter.yml";
const REDIS_FILE: &str = "tests/corpora/rules/awesome-prometheus-alerts/redis_oliver006-redis-exporter.yml";

/// Indents a rule file as a YAML block scalar under a ConfigMap key.
fn block(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { String::new() } else { format!("    {l}") }).collect::<Vec<_>>().join("\n")
}

#[test]
fn configmaps_lists_and_multi_document_files_keep_their_source() {
    let nats = std::fs::read_to_string(NATS_FILE).unwrap();
    let redis = std::fs::read_to_string(REDIS_FILE).unwrap();
    let manifest = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prometheus-alerting-rules\n  namespace: kgents-observability\ndata:\n  nats.rules.yml: |\n{}\n  redis-alerts.yaml: |\n{}\n  prometheus.yml: |\n    global:\n      scrape_interval: 15s\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: monitoring.coreos.com/v1\n  kind: PrometheusRule\n  metadata:\n    name: api\n    namespace: kgents\n  spec:\n    groups:\n    - name: api\n      rules:\n      - alert: ApiLatencyHigh\n        expr: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.5\n        for: 10m\n        labels: {{severity: critical}}\n        annotations: {{summary: API p95 above 500ms, runbook_url: 'https://runbooks/api'}}\n",
        block(&nats),
        block(&redis)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("observability.yaml");
    std::fs::write(&path, manifest).unwrap();
    let entries = rules::check_paths(&[&path]).unwrap();
    assert!(rules::prometheus_accepts(&entries), "{entries:#?}");
    let by_key = |key: &str| entries.iter().filter(|e| e.source.key.as_deref() == Some(key)).count();
    assert_eq!(by_key("nats.rules.yml"), 13);
    assert_eq!(by_key("redis-alerts.yaml"), 12);
    assert_eq!(by_key("prometheus.yml"), 0, "a Prometheus config is not a rule file");
    let cm = entries.iter().find(|e| e.alert.as_deref() == Some("NatsSlowConsumers")).unwrap();
    assert_eq!(cm.source.kind.as_deref(), Some("ConfigMap"));
    assert_eq!(cm.source.namespace.as_deref(), Some("kgents-observability"));
    assert_eq!(cm.source.name.as_deref(), Some("prometheus-alerting-rules"));
    assert_eq!(cm.group.as_deref(), Some("NatsExporter"));
    let api = entries.iter().find(|e| e.alert.as_deref() == Some("ApiLatencyHigh")).unwrap();
    assert_eq!(api.source.kind.as_deref(), Some("PrometheusRule"));
    assert_eq!(api.source.name.as_deref(), Some("api"));
    assert!(api.findings.is_empty(), "{:?}", api.findings);
    assert_eq!(entries.len(), 26);

    // The JSON contract of `rules check --format json`.
    let json = serde_json::to_value(&entries).unwrap();
    let first = json.as_array().unwrap().iter().find(|e| e["alert"] == "NatsSlowConsumers").unwrap();
    assert_eq!(first["source"]["file"], path.display().to_string());
    assert_eq!(first["source"]["kind"], "ConfigMap");
    assert_eq!(first["source"]["key"], "nats.rules.yml");
    assert_eq!(first["group"], "NatsExporter");
    assert!(first.get("record").is_none());
    let codes_found: Vec<&str> =
        first["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert_eq!(codes_found, [codes::RUNBOOK_MISSING], "it has `for: 3m`, a severity and a summary");
    assert_eq!(first["findings"][0]["severity"], "warning");
}

#[test]
fn unparsable_sources_are_one_entry_with_the_parser_message() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "groups:\n- name: a\n  rules: [\n").unwrap();
    let cm = dir.path().join("cm.yaml");
    std::fs::write(
        &cm,
        "kind: ConfigMap\napiVersion: v1\nmetadata: {name: r, namespace: n}\ndata:\n  alerts.rules: \"groups: [\"\n  other.txt: \"groups: [\"\n",
    )
    .unwrap();
    let nothing = dir.path().join("deploy.yaml");
    std::fs::write(&nothing, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n").unwrap();
    let entries = rules::check_paths(&[&broken, &cm, &nothing]).unwrap();
    assert_eq!(entries.len(), 3, "{entries:#?}");
    assert_eq!(entries[0].findings[0].code, codes::FILE_UNPARSABLE);
    assert!(entries[0].group.is_none() && entries[0].alert.is_none());
    assert!(!entries[0].findings[0].message.is_empty());
    assert_eq!(entries[1].source.key.as_deref(), Some("alerts.rules"));
    assert_eq!(entries[1].findings[0].code, codes::FILE_UNPARSABLE);
    assert_eq!(entries[2].findings[0].code, codes::NO_RULES);
    assert_eq!(entries[2].findings[0].severity, Level::Info);
    assert_eq!(rules::exit_status(&entries), 1);
    // A folder holding only non-rule manifests yields nothing, and a missing path is an error.
    let only = tempfile::tempdir().unwrap();
    std::fs::copy(&nothing, only.path().join("deploy.yaml")).unwrap();
    assert!(rules::check_paths(&[only.path()]).unwrap().is_empty());
    assert!(rules::check_paths(&[dir.path().join("absent.yaml")]).is_err());
}
