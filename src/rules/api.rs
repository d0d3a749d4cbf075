//! A client for the Prometheus HTTP API (`/api/v1/rules`, `/api/v1/alerts`) with bearer or
//! basic auth and a custom CA, and the typed responses. Credentials come from environment
//! variables or files and never appear in errors.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

/// A credential value; its Debug output is redacted so it cannot leak through logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    Bearer(Secret),
    Basic {
        username: String,
        password: Secret,
    },
}

/// Where credentials come from: names of environment variables and files, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSpec {
    pub token_env: Option<String>,
    pub token_file: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    /// PEM file with the CA that signed Prometheus' certificate.
    pub ca_cert_file: Option<String>,
}

impl AuthSpec {
    /// Reads the credentials from the process environment and the files.
    pub fn resolve(&self) -> Result<(Auth, Option<Vec<u8>>), PromApiError> {
        self.resolve_with(|name| std::env::var(name).ok())
    }

    /// As `resolve`, with the environment given (so tests need not change the process's).
    pub fn resolve_with(&self, env: impl Fn(&str) -> Option<String>) -> Result<(Auth, Option<Vec<u8>>), PromApiError> {
        let var = |name: &str| {
            env(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| PromApiError::Credentials(format!("environment variable {name} is not set or empty")))
        };
        let read =
            |path: &str| std::fs::read(path).map_err(|e| PromApiError::Credentials(format!("cannot read {path}: {e}")));
        let has_token = self.token_env.is_some() || self.token_file.is_some();
        let has_basic = self.username_env.is_some() || self.password_env.is_some();
        if has_token && has_basic {
            return Err(PromApiError::Credentials("give a bearer token or basic auth, not both".into()));
        }
        let auth = match (&self.token_env, &self.token_file, &self.username_env, &self.password_env) {
            (Some(_), Some(_), _, _) => {
                return Err(PromApiError::Credentials("give either token_env or token_file, not both".into()));
            }
            (Some(name), None, _, _) => Auth::Bearer(Secret::new(var(name)?.trim())),
            (None, Some(path), _, _) => {
                let token = String::from_utf8(read(path)?)
                    .map_err(|_| PromApiError::Credentials(format!("token file {path} is not UTF-8")))?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(PromApiError::Credentials(format!("token file {path} is empty")));
                }
                Auth::Bearer(Secret::new(token))
            }
            (None, None, Some(user), Some(pass)) => {
                Auth::Basic { username: var(user)?, password: Secret::new(var(pass)?) }
            }
            (None, None, Some(_), None) | (None, None, None, Some(_)) => {
                return Err(PromApiError::Credentials("basic auth needs both username_env and password_env".into()));
            }
            (None, None, None, None) => Auth::None,
        };
        let ca = self.ca_cert_file.as_deref().map(read).transpose()?;
        Ok((auth, ca))
    }
}

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

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, PromApiError> {
        let url = self.base.join(path).map_err(|e| PromApiError::InvalidUrl(e.to_string()))?;
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
        self.get("api/v1/rules").await
    }

    /// `GET /api/v1/alerts`: the active (pending and firing) alerts.
    pub async fn alerts(&self) -> Result<AlertsData, PromApiError> {
        self.get("api/v1/alerts").await
    }
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RulesData {
    pub groups: Vec<RuleGroupStatus>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroupStatus {
    pub name: String,
    pub file: String,
    /// Seconds.
    #[serde(default)]
    pub interval: f64,
    #[serde(default)]
    pub limit: Option<u64>,
    pub rules: Vec<LoadedRule>,
    #[serde(default)]
    pub evaluation_time: Option<f64>,
    #[serde(default)]
    pub last_evaluation: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LoadedRule {
    Alerting(AlertingRuleStatus),
    Recording(RecordingRuleStatus),
}

impl LoadedRule {
    pub fn name(&self) -> &str {
        match self {
            LoadedRule::Alerting(r) => &r.name,
            LoadedRule::Recording(r) => &r.name,
        }
    }
    pub fn health(&self) -> RuleHealth {
        match self {
            LoadedRule::Alerting(r) => r.health,
            LoadedRule::Recording(r) => r.health,
        }
    }
    pub fn last_error(&self) -> Option<&str> {
        match self {
            LoadedRule::Alerting(r) => r.last_error.as_deref(),
            LoadedRule::Recording(r) => r.last_error.as_deref(),
        }
        .filter(|e| !e.is_empty())
    }
    pub fn last_evaluation(&self) -> Option<Timestamp> {
        match self {
            LoadedRule::Alerting(r) => r.last_evaluation,
            LoadedRule::Recording(r) => r.last_evaluation,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleHealth {
    Ok,
    Err,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertingRuleStatus {
    pub name: String,
    pub query: String,
    /// `for`, in seconds.
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub keep_firing_for: Option<f64>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub alerts: Vec<ActiveAlert>,
    pub health: RuleHealth,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub evaluation_time: Option<f64>,
    #[serde(default)]
    pub last_evaluation: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRuleStatus {
    pub name: String,
    pub query: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub health: RuleHealth,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub evaluation_time: Option<f64>,
    #[serde(default)]
    pub last_evaluation: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertsData {
    pub alerts: Vec<ActiveAlert>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveAlert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    #[serde(default)]
    pub active_at: Option<Timestamp>,
    #[serde(default)]
    pub value: Option<String>,
}

impl ActiveAlert {
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map(String::as_str).unwrap_or("<unnamed>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Pending,
    #[serde(other)]
    Inactive,
}
