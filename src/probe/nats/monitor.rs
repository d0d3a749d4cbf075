//! The NATS monitoring endpoint (`/healthz`, `/varz`, `/routez`, `/jsz`) and the exporter's
//! `/metrics`, read over HTTP into plain values the probe judges.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use crate::redact::redact_text;

/// One JetStream meta-group peer as the meta leader reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaPeer {
    pub name: String,
    pub current: bool,
    pub offline: bool,
}

/// `/jsz` `meta_cluster`. Peer states are only reported by the meta leader itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaCluster {
    pub leader: Option<String>,
    pub cluster_size: Option<u64>,
    /// Empty unless the monitored server is the leader.
    pub replicas: Vec<MetaPeer>,
}

/// What the monitoring endpoint told; each part is `Err(why)` when it could not be read.
#[derive(Debug, Clone, Default)]
pub struct MonitorView {
    /// `/healthz` answered 200.
    pub healthy: Option<Result<(), String>>,
    /// `/healthz?js-enabled-only=true` answered 200.
    pub js_healthy: Option<Result<(), String>>,
    pub server_name: Option<String>,
    pub version: Option<String>,
    pub cluster_name: Option<String>,
    /// Client URLs of the servers currently in the cluster (`/varz` `connect_urls`).
    pub connect_urls: Vec<String>,
    /// Distinct names of the servers this one routes to (2.10 pools several connections per
    /// peer, so `num_routes` overcounts).
    pub route_peers: Option<Result<BTreeSet<String>, String>>,
    /// `/jsz` says JetStream is disabled.
    pub js_disabled: Option<bool>,
    pub meta: Option<MetaCluster>,
    /// Endpoints that could not be read, with why.
    pub errors: Vec<String>,
}

pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    let _ = crate::probe::http::tls::crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("kgents-gate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

fn join(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

/// GET and return (status, body); errors say what failed without the body.
pub async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, String), String> {
    let resp = client.get(url).send().await.map_err(|e| describe(url, &e))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| describe(url, &e))?;
    Ok((status, body))
}

fn describe(url: &str, e: &reqwest::Error) -> String {
    let mut innermost = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        innermost = c.to_string();
        cause = c.source();
    }
    let url = shown(url);
    if e.is_timeout() { format!("GET {url}: timed out") } else { format!("GET {url}: {}", redact_text(&innermost)) }
}

/// A URL as errors show it (crate::redact).
fn shown(url: &str) -> String {
    redact_text(url).into_owned()
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let (status, body) = get(client, url).await?;
    if status != 200 {
        return Err(format!("GET {}: HTTP {status}", shown(url)));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {}: not JSON ({e})", shown(url)))
}

async fn health(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let (status, body) = get(client, url).await?;
    if status == 200 {
        return Ok(());
    }
    // The body is the server's own error text (no secrets); keep it short.
    let error = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let error: String = error.chars().take(200).collect();
    Err(format!("GET {}: HTTP {status} {}", shown(url), redact_text(&error)).trim_end().to_string())
}

/// Distinct remote server names from `/routez` (`remote_id` for servers too old to name them).
pub fn route_peers(routez: &Value) -> BTreeSet<String> {
    let routes = routez.get("routes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    routes.iter().filter_map(|r| str_field(r, "remote_name").or_else(|| str_field(r, "remote_id"))).collect()
}

/// `/jsz` `meta_cluster`, if present.
pub fn meta_cluster(jsz: &Value) -> Option<MetaCluster> {
    let meta = jsz.get("meta_cluster")?;
    let replicas = meta
        .get("replicas")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| {
                    Some(MetaPeer {
                        name: r.get("name")?.as_str()?.to_string(),
                        current: r.get("current").and_then(Value::as_bool).unwrap_or(false),
                        offline: r.get("offline").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(MetaCluster {
        leader: meta.get("leader").and_then(Value::as_str).filter(|l| !l.is_empty()).map(str::to_string),
        cluster_size: meta.get("cluster_size").and_then(Value::as_u64),
        replicas,
    })
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Reads every monitoring endpoint the probe uses, concurrently.
pub async fn read(client: &reqwest::Client, base: &Url, jetstream: bool) -> MonitorView {
    let healthz = join(base, "/healthz");
    let js_healthz = join(base, "/healthz?js-enabled-only=true");
    let varz_url = join(base, "/varz");
    let routez_url = join(base, "/routez");
    let jsz_url = join(base, "/jsz");
    let (healthy, js_healthy, varz, routez, jsz) = tokio::join!(
        health(client, &healthz),
        async { if jetstream { Some(health(client, &js_healthz).await) } else { None } },
        get_json(client, &varz_url),
        get_json(client, &routez_url),
        get_json(client, &jsz_url),
    );
    let mut view = MonitorView { healthy: Some(healthy), js_healthy, ..Default::default() };
    match varz {
        Ok(v) => {
            view.server_name = str_field(&v, "server_name");
            view.version = str_field(&v, "version");
            view.cluster_name = v.get("cluster").and_then(|c| str_field(c, "name"));
            view.connect_urls = v
                .get("connect_urls")
                .and_then(Value::as_array)
                .map(|u| u.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
        }
        Err(e) => view.errors.push(e),
    }
    view.route_peers = Some(routez.map(|r| route_peers(&r)));
    match jsz {
        Ok(j) => {
            view.js_disabled = j.get("disabled").and_then(Value::as_bool);
            view.meta = meta_cluster(&j);
        }
        Err(e) => view.errors.push(e),
    }
    view
}

/// Metric lines (not comments) that come from a NATS exporter.
pub fn nats_metric_lines(body: &str) -> usize {
    body.lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with("gnatsd_") || l.starts_with("nats_"))
        .count()
}
