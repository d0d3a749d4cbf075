//! The alert-rules parameters of the "can it fire" checks (`can_fire`, `series_lookback`,
//! `exporters`, `exporter_pods`, `scrape_config`), and reading the exporters' metric names: from a
//! `/metrics` URL or the pods' metrics ports through the API server (live), or a saved scrape in a
//! file (offline too).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cluster::Kind;
use crate::outcome::Unverified;
use crate::probe::{ParamReader, ProbeContext};
use crate::redact::Endpoint;
use crate::rules::fire::{CanFire, Exposed};

/// Where an exporter's metrics are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExporterAt {
    /// A `/metrics` URL, scraped when the audit is live.
    Url(Endpoint),
    /// A saved scrape (text exposition format), relative to the checklist's folder.
    File(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterSource {
    pub at: ExporterAt,
    /// The scrape job its series get, for the scrape interval.
    pub job: Option<String>,
}

/// A pod's port, by number or by the name of a container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodPort {
    Number(u16),
    Name(String),
}

/// Pods whose metrics port is read through the API server's pod proxy (live audits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterPods {
    pub namespace: String,
    pub selector: BTreeMap<String, String>,
    pub port: PodPort,
    /// The metrics path, `/metrics` unless given.
    pub path: String,
    pub job: Option<String>,
}

/// At most this many pods of one entry are read: replicas export the same names.
const PODS_READ: usize = 3;

/// A ConfigMap holding Prometheus' configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeConfigSource {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireParams {
    pub scope: CanFire,
    /// How far back a series counts as having existed.
    pub lookback: Duration,
    pub exporters: Vec<ExporterSource>,
    pub pods: Vec<ExporterPods>,
    pub scrape_config: Option<ScrapeConfigSource>,
}

impl FireParams {
    pub fn read(r: &mut ParamReader) -> FireParams {
        let scope = match r.opt_str("can_fire").as_deref() {
            None | Some("expected") => CanFire::Expected,
            Some("all") => CanFire::All,
            Some("none") => CanFire::None,
            Some(other) => {
                r.error("can_fire", format!("`can_fire` must be \"expected\", \"all\" or \"none\", found {other:?}"));
                CanFire::Expected
            }
        };
        let lookback = r.opt_duration("series_lookback").unwrap_or(Duration::from_secs(24 * 3600));
        if lookback.is_zero() {
            r.error("series_lookback", "`series_lookback` must be more than 0s");
        }
        let mut exporters = Vec::new();
        for (i, t) in r.table_list("exporters", &["url", "file", "job"]) {
            let job = r.str_in("exporters", i, t, "job", false);
            let file = r.str_in("exporters", i, t, "file", false);
            let url = match t.get("url") {
                Some(toml::Value::String(s)) => match Endpoint::parse(s, &["http", "https"]) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        r.error_at(&format!("exporters[{i}].url"), format!("`exporters[{i}].url` {e}"));
                        continue;
                    }
                },
                Some(other) => {
                    r.error_at(
                        &format!("exporters[{i}].url"),
                        format!("`exporters[{i}].url` must be a URL, found {}", other.type_str()),
                    );
                    continue;
                }
                None => None,
            };
            let at = match (url, file) {
                (Some(u), None) => ExporterAt::Url(u),
                (None, Some(f)) => ExporterAt::File(f),
                _ => {
                    r.error_at(
                        &format!("exporters[{i}]"),
                        format!("`exporters[{i}]` needs exactly one of `url` or `file`"),
                    );
                    continue;
                }
            };
            exporters.push(ExporterSource { at, job });
        }
        let pods = read_pods(r);
        let scrape_config = r.opt_table("scrape_config").and_then(|t| {
            let mut get = |k: &str, required: bool| match t.get(k) {
                Some(toml::Value::String(s)) if !s.is_empty() => Some(s.clone()),
                None if !required => None,
                _ => {
                    r.error_at(&format!("scrape_config.{k}"), format!("`scrape_config` needs `{k}` (a string)"));
                    None
                }
            };
            let (namespace, name, key) = (get("namespace", true), get("name", true), get("key", false));
            if let Some(k) = t.keys().find(|k| !["namespace", "name", "key"].contains(&k.as_str())) {
                r.error_at(
                    &format!("scrape_config.{k}"),
                    format!("unknown key `{k}` in `scrape_config` (expected: namespace, name, key)"),
                );
            }
            Some(ScrapeConfigSource {
                namespace: namespace?,
                name: name?,
                key: key.unwrap_or_else(|| "prometheus.yml".into()),
            })
        });
        FireParams { scope, lookback, exporters, pods, scrape_config }
    }
}

fn read_pods(r: &mut ParamReader) -> Vec<ExporterPods> {
    let mut out = Vec::new();
    for (i, t) in r.table_list("exporter_pods", &["namespace", "selector", "port", "path", "job"]) {
        let namespace = r.str_in("exporter_pods", i, t, "namespace", true);
        let selector = r.labels_in("exporter_pods", i, t, "selector");
        if selector.is_none() {
            r.error_at(
                &format!("exporter_pods[{i}]"),
                format!("`exporter_pods[{i}]` needs `selector` (the pods' labels)"),
            );
        }
        let path = r.str_in("exporter_pods", i, t, "path", false).unwrap_or_else(|| "/metrics".into());
        if !path.starts_with('/') {
            r.error_at(&format!("exporter_pods[{i}].path"), format!("`exporter_pods[{i}].path` must start with `/`"));
        }
        let job = r.str_in("exporter_pods", i, t, "job", false);
        let port = match t.get("port") {
            Some(toml::Value::Integer(n)) if (1..=65535).contains(n) => Some(PodPort::Number(*n as u16)),
            Some(toml::Value::String(s)) if !s.is_empty() => Some(PodPort::Name(s.clone())),
            _ => {
                r.error_at(
                    &format!("exporter_pods[{i}].port"),
                    format!("`exporter_pods[{i}]` needs `port`: a number, or the name of a container port"),
                );
                None
            }
        };
        if let (Some(namespace), Some(selector), Some(port)) = (namespace, selector, port) {
            out.push(ExporterPods { namespace, selector, port, path, job });
        }
    }
    out
}

/// Reads every exporter's metric names; each one that cannot be read is a gap.
pub async fn read_exporters(p: &FireParams, ctx: &ProbeContext) -> Vec<Result<Exposed, Unverified>> {
    let timeout = ctx.answer_budget(Some(Duration::from_secs(10)), ctx.short_reserve());
    let mut out = futures::future::join_all(p.exporters.iter().map(|s| read_exporter(s, ctx, timeout))).await;
    out.extend(futures::future::join_all(p.pods.iter().map(|s| read_pods_exporter(s, ctx, timeout))).await);
    out
}

async fn read_pods_exporter(s: &ExporterPods, ctx: &ProbeContext, timeout: Duration) -> Result<Exposed, Unverified> {
    let port_shown = match &s.port {
        PodPort::Number(n) => n.to_string(),
        PodPort::Name(n) => n.clone(),
    };
    let labels: Vec<String> = s.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let source = format!("pods {} in {} (port {port_shown}{})", labels.join(","), s.namespace, s.path);
    let (Some(live), false) = (&ctx.live, ctx.offline) else {
        return Err(Unverified::new(
            "offline",
            format!("no live cluster: the metric names were not compared with the {source}"),
        ));
    };
    let view = ctx.view.as_ref().ok_or_else(|| Unverified::new("no-cluster", "no cluster view was loaded"))?;
    let pods = view.in_namespace(Kind::Pod, &s.namespace).map_err(|g| match g.to_unverified(Kind::Pod) {
        Ok(u) => u,
        Err(reason) => Unverified::new("api-error", reason),
    })?;
    let selector = crate::selector::Selector::from_labels(&s.selector);
    let running: Vec<&serde_json::Value> = pods
        .into_iter()
        .filter(|p| {
            let labels: BTreeMap<String, String> =
                p.pointer("/metadata/labels").and_then(|l| serde_json::from_value(l.clone()).ok()).unwrap_or_default();
            selector.matches(&labels) && p.pointer("/status/phase").and_then(|v| v.as_str()) == Some("Running")
        })
        .collect();
    if running.is_empty() {
        return Err(Unverified::new("exporter-unreadable", format!("no running pod to read: the {source}")));
    }
    let mut names = std::collections::BTreeSet::new();
    for pod in running.into_iter().take(PODS_READ) {
        let name = pod.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or_default();
        let port = match &s.port {
            PodPort::Number(n) => *n,
            PodPort::Name(n) => named_port(pod, n).ok_or_else(|| {
                Unverified::new(
                    "exporter-unreadable",
                    format!("pod {}/{name} has no container port named {n}", s.namespace),
                )
            })?,
        };
        let uri = format!("/api/v1/namespaces/{}/pods/{name}:{port}/proxy{}", s.namespace, s.path);
        let fail = |why: String| {
            Unverified::new(
                "exporter-unreadable",
                format!(
                    "the metrics of pod {}/{name} (port {port}) were not read through the API server: {why}",
                    s.namespace
                ),
            )
        };
        let request = http::Request::get(&uri).body(Vec::new()).map_err(|e| fail(e.to_string()))?;
        let text = match tokio::time::timeout(timeout, live.client.request_text(request)).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Err(fail(crate::redact::redact_text(&e.to_string()).into_owned())),
            Err(_) => return Err(fail(format!("no answer within {}", crate::engine::human(timeout)))),
        };
        names.extend(crate::prometheus::exposition::metric_names(&text));
    }
    Ok(Exposed { source, job: s.job.clone(), names })
}

/// The number of the container port named `name`.
fn named_port(pod: &serde_json::Value, name: &str) -> Option<u16> {
    let containers = pod.pointer("/spec/containers")?.as_array()?;
    containers
        .iter()
        .flat_map(|c| c.get("ports").and_then(|p| p.as_array()).into_iter().flatten())
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(name))
        .and_then(|p| p.get("containerPort")?.as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

async fn read_exporter(s: &ExporterSource, ctx: &ProbeContext, timeout: Duration) -> Result<Exposed, Unverified> {
    let (source, text) = match &s.at {
        ExporterAt::File(f) => {
            let path = ctx.resolve(f);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Unverified::new(
                    "exporter-unreadable",
                    format!("the exporter scrape {} cannot be read: {e}", path.display()),
                )
            })?;
            (f.clone(), text)
        }
        ExporterAt::Url(u) if ctx.offline => {
            return Err(Unverified::new(
                "offline",
                format!("offline audit: the metric names the rules read were not compared with the exporter at {u}"),
            ));
        }
        ExporterAt::Url(u) => (u.to_string(), scrape(u, timeout).await?),
    };
    Ok(Exposed { source, job: s.job.clone(), names: crate::prometheus::exposition::metric_names(&text) })
}

async fn scrape(u: &Endpoint, timeout: Duration) -> Result<String, Unverified> {
    let fail = |why: String| Unverified::new("exporter-unreadable", format!("the exporter at {u} {why}"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| fail(format!("cannot be asked: {e}")))?;
    let resp =
        client.get(u.url().clone()).send().await.map_err(|e| fail(format!("is unreachable: {}", e.without_url())))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("answered HTTP {}", status.as_u16())));
    }
    resp.text().await.map_err(|e| fail(format!("sent an unreadable answer: {}", e.without_url())))
}
