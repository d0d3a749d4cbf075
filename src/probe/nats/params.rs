//! Parameters of the `nats` probe: URLs, expectations, and where credentials come from
//! (environment variables or files, never the checklist itself), validated up front.

use std::time::Duration;

use crate::redact::Endpoint;

use crate::probe::ParamReader;

/// Where the client credentials come from. Only names of variables and files are kept here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsAuth {
    None,
    /// Environment variable holding the token.
    TokenEnv(String),
    /// File holding the token (surrounding whitespace ignored).
    TokenFile(String),
    /// Environment variables holding the user name and the password.
    UserPassword {
        user_env: String,
        password_env: String,
    },
    /// File holding an nkey seed (`SU...`).
    NkeyFile(String),
    /// A `.creds` file (user JWT and nkey seed).
    CredsFile(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsParams {
    /// `nats://` or `tls://` URL of the client port, without credentials.
    pub url: Endpoint,
    /// `http(s)://host:8222` of the monitoring endpoint.
    pub monitor_url: Endpoint,
    /// The Prometheus exporter's metrics URL (`http://host:7777/metrics`), when one is expected.
    pub exporter_url: Option<Endpoint>,
    pub min_version: Option<semver::Version>,
    /// Servers the cluster must have (1 for a standalone server).
    pub cluster_size: u64,
    /// JetStream must be enabled (and its meta group complete).
    pub jetstream: bool,
    /// Bound on the publish/subscribe round trip.
    pub max_rtt: Option<Duration>,
    /// Bound on the whole probe; the item's budget if shorter.
    pub timeout: Option<Duration>,
    pub auth: NatsAuth,
    /// Extra CA certificates (PEM) for the server's certificate.
    pub ca_file: Option<String>,
    /// Refuse to talk to the server without TLS.
    pub tls_required: bool,
}

/// Parses a server version leniently: `v2.10.29`, `2.10` (= 2.10.0) and pre-releases
/// (`2.11.0-RC.1`, which orders before 2.11.0).
pub fn parse_version(s: &str) -> Result<semver::Version, String> {
    let t = s.trim().trim_start_matches('v');
    let (core, rest) = match t.find(['-', '+']) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let padded = match core.matches('.').count() {
        0 => format!("{core}.0.0{rest}"),
        1 => format!("{core}.0{rest}"),
        _ => t.to_string(),
    };
    semver::Version::parse(&padded).map_err(|e| format!("`{s}` is not a version such as \"2.10.0\" ({e})"))
}

/// Whether `version` is at least `min`.
pub fn version_at_least(version: &semver::Version, min: &semver::Version) -> bool {
    version >= min
}

fn read_auth(r: &mut ParamReader) -> Option<NatsAuth> {
    let token_env = r.opt_env_name("token_env");
    let token_file = r.opt_str("token_file");
    let user_env = r.opt_env_name("user_env");
    let password_env = r.opt_env_name("password_env");
    let nkey_file = r.opt_str("nkey_file");
    let creds_file = r.opt_str("creds_file");
    let mut methods = Vec::new();
    if let Some(v) = token_env {
        methods.push(("token_env", NatsAuth::TokenEnv(v)));
    }
    if let Some(f) = token_file {
        methods.push(("token_file", NatsAuth::TokenFile(f)));
    }
    match (user_env, password_env) {
        (Some(user_env), Some(password_env)) => {
            methods.push(("user_env", NatsAuth::UserPassword { user_env, password_env }))
        }
        (Some(_), None) => r.error("password_env", "parameter `user_env` needs `password_env` as well"),
        (None, Some(_)) => r.error("user_env", "parameter `password_env` needs `user_env` as well"),
        (None, None) => {}
    }
    if let Some(f) = nkey_file {
        methods.push(("nkey_file", NatsAuth::NkeyFile(f)));
    }
    if let Some(f) = creds_file {
        methods.push(("creds_file", NatsAuth::CredsFile(f)));
    }
    match methods.len() {
        0 => Some(NatsAuth::None),
        1 => methods.pop().map(|(_, a)| a),
        _ => {
            let names: Vec<&str> = methods.iter().map(|(k, _)| *k).collect();
            r.error(names[1], format!("give one way to authenticate, found {}", names.join(", ")));
            None
        }
    }
}

impl NatsParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let url = r.req_endpoint("url", &["nats", "tls"]);
        let monitor_url = r.req_endpoint("monitor_url", &["http", "https"]);
        let exporter_url = r.opt_endpoint("exporter_url", &["http", "https"]);
        let exporter_invalid = r.value("exporter_url").is_some() && exporter_url.is_none();
        let min_version = match r.opt_str("min_version") {
            None => Some(None),
            Some(s) => match parse_version(&s) {
                Ok(v) => Some(Some(v)),
                Err(e) => {
                    r.error("min_version", format!("parameter `min_version`: {e}"));
                    None
                }
            },
        };
        let cluster_size = match r.opt_u64("cluster_size") {
            Some(0) => {
                r.error("cluster_size", "parameter `cluster_size` must be at least 1");
                None
            }
            Some(n) => Some(n),
            None => Some(3),
        };
        let jetstream = r.opt_bool("jetstream").unwrap_or(true);
        let max_rtt = r.opt_duration("max_rtt");
        let timeout = r.opt_duration("timeout");
        if timeout == Some(Duration::ZERO) {
            r.error("timeout", "parameter `timeout` must be longer than zero");
        }
        let auth = read_auth(r);
        let ca_file = r.opt_str("ca_file");
        let tls_required = r.opt_bool("tls_required").unwrap_or(false);
        Some(NatsParams {
            url: url?,
            monitor_url: monitor_url?,
            exporter_url: if exporter_invalid { return None } else { exporter_url },
            min_version: min_version?,
            cluster_size: cluster_size?,
            jetstream,
            max_rtt,
            timeout,
            auth: auth?,
            ca_file,
            tls_required,
        })
    }

    /// TLS is used when required, when a CA is given, or with a `tls://` URL.
    pub fn uses_tls(&self) -> bool {
        self.tls_required || self.ca_file.is_some() || self.url.url().scheme() == "tls"
    }
}
