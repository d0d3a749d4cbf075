//! `http` probe: an endpoint answers with an expected status within a latency bound and, for
//! https, presents a certificate that verifies and has enough days left.

pub mod tls;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::time::Instant;

use crate::outcome::{Finding, ProbeReport, Unverified};
use crate::probe::{ParamReader, ProbeContext};
use crate::redact::Endpoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Head,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpParams {
    /// An http or https URL without credentials in it (sensitive query values are masked
    /// wherever it is shown).
    pub url: Endpoint,
    pub method: HttpMethod,
    /// Accepted status codes (default 200). Redirects are not followed, so a 301 is a status too.
    pub expect_status: Vec<u16>,
    pub max_latency: Option<Duration>,
    /// Minimum whole days the certificate must still be valid (https only; ignored for http so
    /// a catalog default does not make http URLs invalid).
    pub min_tls_days: Option<u64>,
    /// Extra CA certificates (PEM) to trust besides the platform roots, e.g. an internal CA.
    pub ca_file: Option<String>,
    /// Header name -> name of the environment variable that holds its value.
    pub headers: BTreeMap<String, String>,
    /// Bound on the whole probe (TLS inspection and request); the item's budget if shorter.
    pub timeout: Option<Duration>,
}

/// Why the endpoint could not be judged on its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Refused, reset, DNS failure: the endpoint is down.
    Unreachable(String),
    /// No answer within the timeout.
    Timeout,
    /// The certificate did not verify or the handshake failed.
    TlsInvalid(String),
    /// The gate itself could not set up the check (no CA roots, unreadable `ca_file`, ...).
    Setup(String),
}

fn read_status(r: &mut ParamReader, v: &toml::Value) -> Option<u16> {
    match v {
        toml::Value::Integer(i) if (100..=599).contains(i) => Some(*i as u16),
        toml::Value::Integer(i) => {
            r.error("expect_status", format!("parameter `expect_status`: {i} is not an HTTP status (100-599)"));
            None
        }
        other => {
            r.error(
                "expect_status",
                format!(
                    "parameter `expect_status` must be a status code or a list of them, found {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

fn read_expect_status(r: &mut ParamReader) -> Option<Vec<u16>> {
    match r.value("expect_status") {
        None => Some(vec![200]),
        Some(toml::Value::Array(items)) if items.is_empty() => {
            r.error("expect_status", "parameter `expect_status` must list at least one status code");
            None
        }
        Some(toml::Value::Array(items)) => {
            let codes: Vec<Option<u16>> = items.iter().map(|v| read_status(r, v)).collect();
            codes.into_iter().collect()
        }
        Some(v) => read_status(r, v).map(|c| vec![c]),
    }
}

fn read_headers(r: &mut ParamReader) -> Option<BTreeMap<String, String>> {
    let Some(table) = r.opt_table("headers") else {
        return Some(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, var) in table {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            r.error("headers", format!("`{name}` in `headers` is not a valid HTTP header name"));
            ok = false;
            continue;
        }
        // The value is never echoed: someone may have put the secret itself here.
        match var {
            toml::Value::String(v) if crate::probe::params::env_name_problem(v).is_none() => {
                out.insert(name.clone(), v.clone());
            }
            _ => {
                r.error(
                    "headers",
                    format!(
                        "header `{name}` must name the environment variable that holds its value \
                         (letters, digits and `_`), not the value itself"
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

impl HttpParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let url = r.req_endpoint("url", &["http", "https"]);
        let method = match r.opt_str("method") {
            None => Some(HttpMethod::Get),
            Some(m) => match m.to_ascii_uppercase().as_str() {
                "GET" => Some(HttpMethod::Get),
                "HEAD" => Some(HttpMethod::Head),
                _ => {
                    r.error("method", format!("parameter `method` must be GET or HEAD, found `{m}`"));
                    None
                }
            },
        };
        let expect_status = read_expect_status(r);
        let max_latency = r.opt_duration("max_latency");
        let min_tls_days = r.opt_u64("min_tls_days");
        let ca_file = r.opt_str("ca_file");
        let headers = read_headers(r);
        let timeout = r.opt_duration("timeout");
        if timeout == Some(Duration::ZERO) {
            r.error("timeout", "parameter `timeout` must be longer than zero");
        }
        if ca_file.is_some() && url.as_ref().is_some_and(|u| u.url().scheme() == "http") {
            r.error("ca_file", "parameter `ca_file` applies to https URLs only");
        }
        Some(HttpParams {
            url: url?,
            method: method?,
            expect_status: expect_status?,
            max_latency,
            min_tls_days,
            ca_file,
            headers: headers?,
            timeout,
        })
    }
}

/// Reads each header's value from its environment variable. Errors name the variable, never a value.
fn resolve_headers(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, var) in headers {
        let value = std::env::var(var)
            .map_err(|_| format!("environment variable `{var}` (for header `{name}`) is not set or not UTF-8"))?;
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| format!("environment variable `{var}` (for header `{name}`) is not a valid header value"))?;
        value.set_sensitive(true);
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name `{name}`"))?;
        map.insert(name, value);
    }
    Ok(map)
}

fn load_ca_file(path: &std::path::Path, shown: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read ca_file {shown}: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("ca_file {shown} is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("ca_file {shown} holds no PEM certificate"));
    }
    Ok(certs)
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// Maps a reqwest error by looking through its causes for the TLS or I/O error underneath.
fn classify_request_error(e: &reqwest::Error) -> Failure {
    let mut innermost = e.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<rustls::Error>() {
            return Failure::TlsInvalid(tls::describe_tls_error(t));
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            // io::Error::source skips the wrapped error itself, so look at it directly.
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Failure::TlsInvalid(tls::describe_tls_error(t));
            }
            if io.kind() == std::io::ErrorKind::TimedOut {
                return Failure::Timeout;
            }
        }
        innermost = c.to_string();
        cause = c.source();
    }
    if e.is_timeout() { Failure::Timeout } else { Failure::Unreachable(innermost) }
}

fn build_client(url: &Url, extra_roots: &[CertificateDer<'static>]) -> Result<reqwest::Client, String> {
    let _ = tls::crypto_provider();
    // Direct connections only, like the TLS inspection, so both see the same server.
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .user_agent(concat!("kgents-gate/", env!("CARGO_PKG_VERSION")));
    builder = if url.scheme() == "http" {
        // No TLS is used (redirects are not followed): skip loading the platform roots.
        builder.tls_certs_only(Vec::new())
    } else {
        let certs = extra_roots
            .iter()
            .map(|c| reqwest::Certificate::from_der(c.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("ca_file: {e}"))?;
        builder.tls_certs_merge(certs)
    };
    builder.build().map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

/// Turns a failure into the report: a finding about the endpoint, or unverified for our own setup.
fn failure_report(mut report: ProbeReport, failure: Failure, url: &Endpoint, budget: Duration) -> ProbeReport {
    let finding = match failure {
        Failure::Unreachable(why) => {
            Finding::error("http-unreachable", format!("{url} is unreachable: {}", crate::redact::redact_text(&why)))
        }
        Failure::Timeout => {
            Finding::error("http-timeout", format!("{url} did not answer within {}", fmt_duration(budget)))
                .fact("timeout", fmt_duration(budget))
        }
        Failure::TlsInvalid(why) => {
            Finding::error("http-tls-invalid", format!("{url}: {}", crate::redact::redact_text(&why)))
        }
        Failure::Setup(why) => {
            report.gap(Unverified::new("tls-setup", why));
            return report;
        }
    };
    report.push(finding.target(url.as_str()));
    report
}

pub async fn run(p: &HttpParams, ctx: &ProbeContext) -> ProbeReport {
    let url = &p.url;
    if ctx.offline {
        return ProbeReport::unverified("offline", format!("offline: {url} was not contacted"));
    }
    // Finish a little before the engine's item timeout, so a silent endpoint is reported as
    // `http-timeout` (a fault of the endpoint) rather than cut off as unverified.
    let budget = ctx.answer_budget(p.timeout, ctx.short_reserve());
    let deadline = Instant::now() + budget;
    let mut report = ProbeReport::default();
    report.fact("url", url);
    report.fact("method", p.method.as_str());

    let headers = match resolve_headers(&p.headers) {
        Ok(h) => h,
        Err(why) => return ProbeReport::unverified("credential-missing", why),
    };
    let extra_roots = match &p.ca_file {
        Some(f) => match load_ca_file(&ctx.resolve(f), f) {
            Ok(c) => c,
            Err(why) => return ProbeReport::unverified("ca-file-unreadable", why),
        },
        None => Vec::new(),
    };

    if url.url().scheme() == "https" {
        let inspection = tls::inspect(url.url(), &extra_roots, deadline).await;
        if let Some(leaf) = &inspection.leaf {
            let not_after = jiff::Timestamp::from_second(leaf.not_after)
                .map_or_else(|_| leaf.not_after.to_string(), |t| t.to_string());
            report.fact("tls_not_after", &not_after);
            report.fact("tls_days_left", leaf.days_left);
        }
        match inspection.outcome {
            Ok(version) => report.fact("tls_version", version),
            Err(failure) => return failure_report(report, failure, url, budget),
        }
        if let (Some(leaf), Some(min)) = (&inspection.leaf, p.min_tls_days)
            && leaf.days_left < i64::try_from(min).unwrap_or(i64::MAX)
        {
            report.push(
                Finding::error(
                    "http-tls-expiring",
                    format!("the certificate of {url} expires in {} days (at least {min} required)", leaf.days_left),
                )
                .target(url.as_str())
                .fact("tls_days_left", leaf.days_left)
                .fact("min_tls_days", min),
            );
        }
    }

    let client = match build_client(url.url(), &extra_roots) {
        Ok(c) => c,
        Err(why) => {
            report.gap(Unverified::new("tls-setup", why));
            return report;
        }
    };
    let method = match p.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Head => reqwest::Method::HEAD,
    };
    let started = Instant::now();
    let response = match tokio::time::timeout_at(
        deadline,
        client.request(method, url.url().clone()).headers(headers).send(),
    )
    .await
    {
        Err(_) => return failure_report(report, Failure::Timeout, url, budget),
        Ok(Err(e)) => return failure_report(report, classify_request_error(&e), url, budget),
        Ok(Ok(r)) => r,
    };
    // Latency to the response head; the body is never read.
    let latency = started.elapsed();
    let status = response.status().as_u16();
    drop(response);
    report.fact("status", status);
    report.fact("latency_ms", latency.as_millis());

    if !p.expect_status.contains(&status) {
        let expected: Vec<String> = p.expect_status.iter().map(u16::to_string).collect();
        report.push(
            Finding::error(
                "http-status-unexpected",
                format!("{url} answered {status}, expected {}", expected.join(" or ")),
            )
            .target(url.as_str())
            .fact("status", status)
            .fact("expect_status", expected.join(", ")),
        );
    }
    if let Some(max) = p.max_latency
        && latency > max
    {
        report.push(
            Finding::error(
                "http-latency-above-threshold",
                format!("{url} answered in {} ms, above the {} bound", latency.as_millis(), fmt_duration(max)),
            )
            .target(url.as_str())
            .fact("latency_ms", latency.as_millis())
            .fact("max_latency_ms", max.as_millis()),
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::probe::params::error_keys as keys;

    fn read(src: &str) -> Result<HttpParams, Vec<crate::probe::ParamError>> {
        crate::probe::params::read_for_test(src, HttpParams::read)
    }

    #[test]
    fn defaults_and_lists() {
        let p = read(r#"url = "https://api.example.com/healthz""#).unwrap();
        assert_eq!((p.method, p.expect_status.as_slice(), p.timeout), (HttpMethod::Get, &[200u16][..], None));
        let p = read(
            r#"url = "http://10.0.0.1:8080/ready"
               method = "head"
               expect_status = [200, 204]
               max_latency = "250ms"
               min_tls_days = 14
               headers = { Authorization = "API_TOKEN" }"#,
        )
        .unwrap();
        assert_eq!(p.method, HttpMethod::Head);
        assert_eq!(p.expect_status, [200, 204]);
        assert_eq!(p.max_latency, Some(Duration::from_millis(250)));
        assert_eq!(p.headers.get("Authorization").map(String::as_str), Some("API_TOKEN"));
    }

    #[test]
    fn bad_urls_are_rejected_without_echo() {
        for bad in ["not a url", "ftp://example.com/", "https://user:hunter2@example.com/", "http://"] {
            let errs = read(&format!("url = {bad:?}")).unwrap_err();
            assert_eq!(keys(&errs), ["url"], "{bad}");
            assert!(!errs[0].message.contains("hunter2"));
        }
        assert_eq!(keys(&read("").unwrap_err()), ["url"]);
    }

    #[test]
    fn bad_statuses_methods_and_headers() {
        let errs = read(
            r#"url = "http://x/"
            expect_status = [200, 99, "ok"]"#,
        )
        .unwrap_err();
        assert_eq!(keys(&errs), ["expect_status", "expect_status"]);
        assert_eq!(keys(&read("url = \"http://x/\"\nexpect_status = []").unwrap_err()), ["expect_status"]);
        assert_eq!(keys(&read("url = \"http://x/\"\nexpect_status = 700").unwrap_err()), ["expect_status"]);
        assert_eq!(keys(&read("url = \"http://x/\"\nmethod = \"POST\"").unwrap_err()), ["method"]);
        assert_eq!(keys(&read("url = \"http://x/\"\ntimeout = \"0s\"").unwrap_err()), ["timeout"]);
        assert_eq!(keys(&read("url = \"http://x/\"\nca_file = \"ca.pem\"").unwrap_err()), ["ca_file"]);
        let errs = read("url = \"http://x/\"\nheaders = { Authorization = \"Bearer s3cret-token\" }").unwrap_err();
        assert_eq!(keys(&errs), ["headers"]);
        assert!(!errs[0].message.contains("s3cret"));
        assert_eq!(
            keys(&read("url = \"http://x/\"\nheaders = { \"bad name\" = \"TOKEN\" }").unwrap_err()),
            ["headers"]
        );
    }

    #[test]
    fn unknown_keys_are_reported_by_finish() {
        let errs = read("url = \"http://x/\"\nexpected_status = 200").unwrap_err();
        assert_eq!(keys(&errs), ["expected_status"]);
        assert!(errs[0].message.contains("unknown parameter"));
    }

    #[test]
    fn env_var_names() {
        use crate::probe::params::is_env_var_name;
        assert!(is_env_var_name("API_TOKEN") && is_env_var_name("_x1"));
        assert!(!is_env_var_name("") && !is_env_var_name("1A") && !is_env_var_name("Bearer abc"));
    }
}
