//! The parameters every Prometheus-reading check shares: `prometheus_url` and where its
//! credentials come from (`token_env`, `token_file`, `username_env`, `password_env`,
//! `ca_cert_file`), read once here for the alert-rules and SLO checks alike.

use std::time::Duration;

use crate::probe::{ParamReader, ProbeContext};
use crate::prometheus::{AuthSpec, PromApiError, PrometheusClient, PrometheusEndpoint};

/// One Prometheus to ask, and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusParams {
    pub url: crate::redact::Endpoint,
    pub auth: AuthSpec,
}

/// What reading the parameters found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrometheusRead {
    /// `prometheus_url` and its credentials (boxed: much larger than the other variants).
    Given(Box<PrometheusParams>),
    /// No `prometheus_url` and no credentials.
    Absent,
    /// Something was wrong; the error is recorded in the reader.
    Invalid,
}

impl PrometheusParams {
    /// The parameter names read here, for checks that list what they take.
    pub const KEYS: &'static [&'static str] =
        &["prometheus_url", "token_env", "token_file", "username_env", "password_env", "ca_cert_file"];

    /// Reads `prometheus_url` and the credential parameters. `required` makes a missing URL an
    /// error; credentials without a URL are always one.
    pub fn read(r: &mut ParamReader, required: bool) -> PrometheusRead {
        let url = if required {
            r.req_endpoint("prometheus_url", &["http", "https"])
        } else {
            r.opt_endpoint("prometheus_url", &["http", "https"])
        };
        let url_given = r.value("prometheus_url").is_some();
        let auth = AuthSpec {
            token_env: r.opt_env_name("token_env"),
            token_file: r.opt_str("token_file"),
            username_env: r.opt_env_name("username_env"),
            password_env: r.opt_env_name("password_env"),
            ca_cert_file: r.opt_str("ca_cert_file"),
        };
        if !url_given && auth != AuthSpec::default() {
            r.error_general("Prometheus credentials are given without `prometheus_url`");
            return PrometheusRead::Invalid;
        }
        match url {
            Some(url) => PrometheusRead::Given(Box::new(PrometheusParams { url, auth })),
            None if url_given || required => PrometheusRead::Invalid,
            None => PrometheusRead::Absent,
        }
    }

    /// The same, with credential and CA file paths resolved against the checklist's folder.
    pub fn resolved(&self, ctx: &ProbeContext) -> PrometheusParams {
        let mut p = self.clone();
        for f in [&mut p.auth.token_file, &mut p.auth.ca_cert_file] {
            if let Some(path) = f.as_mut() {
                *path = ctx.resolve(path).display().to_string();
            }
        }
        p
    }

    /// A client with the credentials read now (from the environment and files), each request
    /// bounded by `timeout`.
    pub fn client(&self, timeout: Duration) -> Result<PrometheusClient, PromApiError> {
        let (auth, ca_cert_pem) = self.auth.resolve()?;
        PrometheusClient::new(&PrometheusEndpoint { url: self.url.clone(), auth, ca_cert_pem, timeout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(src: &str, required: bool) -> (PrometheusRead, Vec<String>) {
        let t: toml::Table = toml::from_str(src).unwrap();
        let mut r = ParamReader::new(&t);
        let got = PrometheusParams::read(&mut r, required);
        let errors = r.finish().err().unwrap_or_default().into_iter().map(|e| e.message).collect();
        (got, errors)
    }

    #[test]
    fn url_and_credentials() {
        let (got, errors) = read("prometheus_url = \"https://p:9090\"\ntoken_env = \"PROM_TOKEN\"", true);
        assert!(errors.is_empty(), "{errors:?}");
        let PrometheusRead::Given(p) = got else { panic!("{got:?}") };
        assert_eq!(p.auth.token_env.as_deref(), Some("PROM_TOKEN"));
        assert_eq!(read("", false).0, PrometheusRead::Absent);
        let (got, errors) = read("", true);
        assert_eq!(got, PrometheusRead::Invalid);
        assert!(errors[0].contains("missing parameter `prometheus_url`"), "{errors:?}");
        let (got, errors) = read("token_env = \"T\"", false);
        assert_eq!(got, PrometheusRead::Invalid);
        assert!(errors[0].contains("without `prometheus_url`"), "{errors:?}");
        let (got, errors) = read("prometheus_url = \"ftp://p\"", false);
        assert_eq!(got, PrometheusRead::Invalid);
        assert_eq!(errors.len(), 1, "{errors:?}");
    }
}
