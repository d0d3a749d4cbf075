//! The alert-rules parameters of the "can it fire" checks (`can_fire`, `series_lookback`,
//! `exporters`, `scrape_config`), and reading the exporters' metric names: from a `/metrics` URL
//! (live) or a saved scrape in a file (offline too).

use std::time::Duration;

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
        FireParams { scope, lookback, exporters, scrape_config }
    }
}

/// Reads every exporter's metric names; each one that cannot be read is a gap.
pub async fn read_exporters(sources: &[ExporterSource], ctx: &ProbeContext) -> Vec<Result<Exposed, Unverified>> {
    let timeout = ctx.answer_budget(Some(Duration::from_secs(10)), ctx.short_reserve());
    futures::future::join_all(sources.iter().map(|s| read_exporter(s, ctx, timeout))).await
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
