//! A client for the Prometheus HTTP API (rules, alerts, instant and range queries, series,
//! targets, configuration) with bearer or basic auth and a custom CA. Credentials come from
//! environment variables or files and never appear in errors.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use crate::prometheus::api::{AlertsData, ConfigData, QueryData, RulesData, TargetsData};
use crate::prometheus::auth::Auth;

/// Why Prometheus could not be asked. The caller reports the check as unverified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromApiError {
    #[error("invalid Prometheus URL {0}")]
    InvalidUrl(String),
    #[error("Prometheus credentials: {0}")]
    Credentials(String),
    #[error("TLS setup for Prometheus: {0}")]
    Tls(String),
    #[error("Prometheus at {url} did not answer within {}s", after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    #[error("Prometheus at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Prometheus at {url} answered HTTP {status}: {message}")]
    Http { url: String, status: u16, message: String },
    #[error("Prometheus at {url} returned an error ({error_type}): {error}")]
    Api { url: String, error_type: String, error: String },
    #[error("cannot read Prometheus' answer from {url}: {reason}")]
    Decode { url: String, reason: String },
    #[error("the audit was interrupted before Prometheus answered")]
    Interrupted,
}

impl PromApiError {
    /// The `unverified` code for this error.
    pub fn unverified_code(&self) -> &'static str {
        match self {
            PromApiError::Timeout { .. } => "timeout",
            PromApiError::Unreachable { .. } => "unreachable",
            PromApiError::Http { status: 401 | 403, .. } => "forbidden",
            PromApiError::InvalidUrl(_) | PromApiError::Credentials(_) | PromApiError::Tls(_) => "misconfigured",
            PromApiError::Http { .. } | PromApiError::Api { .. } | PromApiError::Decode { .. } => "prometheus-error",
            PromApiError::Interrupted => "interrupted",
        }
    }
}

/// How to reach one Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusEndpoint {
    pub url: crate::redact::Endpoint,
    pub auth: Auth,
    pub ca_cert_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

pub struct PrometheusClient {
    base: reqwest::Url,
    /// The base URL without user info, for messages.
    shown: String,
    http: reqwest::Client,
    auth: Auth,
    timeout: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    error_type: Option<String>,
    error: Option<String>,
}

impl PrometheusClient {
    pub fn new(ep: &PrometheusEndpoint) -> Result<Self, PromApiError> {
        let mut base = ep.url.url().clone();
        if !matches!(base.scheme(), "http" | "https") {
            return Err(PromApiError::InvalidUrl(format!("{}: the scheme must be http or https", ep.url)));
        }
        let shown = ep.url.to_string();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        // The binary installs the provider; a library caller may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().timeout(ep.timeout).connect_timeout(ep.timeout);
        if let Some(pem) = &ep.ca_cert_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| PromApiError::Tls(format!("the CA file is not valid PEM: {e}")))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| PromApiError::Tls(e.to_string()))?;
        Ok(PrometheusClient { base, shown, http, auth: ep.auth.clone(), timeout: ep.timeout })
    }

    /// The base URL as shown in messages (no user info, sensitive query values masked).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// GET `path` with query parameters; messages name the path, never the parameters (a query
    /// can be long, and the base URL's own query is already masked in `shown`).
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, PromApiError> {
        let mut url = self.base.join(path).map_err(|e| PromApiError::InvalidUrl(e.to_string()))?;
        if !params.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in params {
                pairs.append_pair(k, v);
            }
        }
        let shown = format!("{}{path}", self.shown.trim_end_matches('/').to_string() + "/");
        let mut req = self.http.get(url);
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
            Auth::Basic { username, password } => req.basic_auth(username, Some(password.expose())),
        };
        let fail = |e: reqwest::Error| {
            if e.is_timeout() {
                PromApiError::Timeout { url: shown.clone(), after: self.timeout }
            } else {
                PromApiError::Unreachable { url: shown.clone(), reason: error_chain(&e.without_url()) }
            }
        };
        let resp = req.send().await.map_err(fail)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(fail)?;
        let envelope: Result<Envelope<T>, _> = serde_json::from_slice(&body);
        match envelope {
            Ok(Envelope { status: s, data: Some(data), .. }) if s == "success" && status.is_success() => Ok(data),
            Ok(Envelope { error_type: Some(error_type), error, .. }) => {
                Err(PromApiError::Api { url: shown, error_type, error: error.unwrap_or_default() })
            }
            _ if !status.is_success() => {
                let text = String::from_utf8_lossy(&body);
                let message: String = text.trim().chars().take(200).collect();
                Err(PromApiError::Http { url: shown, status: status.as_u16(), message })
            }
            Ok(_) => Err(PromApiError::Decode { url: shown, reason: "no data in a successful answer".into() }),
            Err(e) => Err(PromApiError::Decode { url: shown, reason: e.to_string() }),
        }
    }

    /// `GET /api/v1/rules`: every loaded group and rule with health and last evaluation.
    pub async fn rules(&self) -> Result<RulesData, PromApiError> {
        self.get("api/v1/rules", &[]).await
    }

    /// `GET /api/v1/alerts`: the active (pending and firing) alerts.
    pub async fn alerts(&self) -> Result<AlertsData, PromApiError> {
        self.get("api/v1/alerts", &[]).await
    }

    /// `GET /api/v1/query`: an instant query evaluated at `time`.
    pub async fn query(&self, expr: &str, time: Timestamp) -> Result<QueryData, PromApiError> {
        self.get("api/v1/query", &[("query", expr.to_string()), ("time", unix(time))]).await
    }

    /// `GET /api/v1/query_range`: the query evaluated every `step` from `start` to `end`.
    pub async fn query_range(
        &self,
        expr: &str,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<QueryData, PromApiError> {
        let step = format!("{}", step.as_secs_f64().max(0.001));
        self.get(
            "api/v1/query_range",
            &[("query", expr.to_string()), ("start", unix(start)), ("end", unix(end)), ("step", step)],
        )
        .await
    }

    /// `GET /api/v1/series`: the label sets of the series matching `selector` between `start`
    /// and `end` (a series counts when it has a sample in that range).
    pub async fn series(
        &self,
        selector: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<BTreeMap<String, String>>, PromApiError> {
        self.get("api/v1/series", &[("match[]", selector.to_string()), ("start", unix(start)), ("end", unix(end))])
            .await
    }

    /// `GET /api/v1/label/__name__/values`: every metric name Prometheus has data for.
    pub async fn metric_names(&self) -> Result<Vec<String>, PromApiError> {
        self.get("api/v1/label/__name__/values", &[]).await
    }

    /// `GET /api/v1/targets?state=active`: the scrape targets and their health.
    pub async fn targets(&self) -> Result<TargetsData, PromApiError> {
        self.get("api/v1/targets", &[("state", "active".to_string())]).await
    }

    /// `GET /api/v1/status/runtimeinfo`: among others `storageRetention` (e.g. `15d`).
    pub async fn runtime_info(&self) -> Result<BTreeMap<String, serde_json::Value>, PromApiError> {
        self.get("api/v1/status/runtimeinfo", &[]).await
    }

    /// `GET /api/v1/status/config`: the loaded configuration (scrape intervals of the jobs).
    pub async fn config(&self) -> Result<ConfigData, PromApiError> {
        self.get("api/v1/status/config", &[]).await
    }
}

/// Unix seconds with millisecond precision, as the API takes times.
fn unix(t: Timestamp) -> String {
    let ms = t.as_millisecond();
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}
