//! The `http` probe against real HTTP/1.1 and HTTPS servers started on 127.0.0.1, with
//! certificates from a test CA made by rcgen.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kgents_gate::outcome::ProbeReport;
use kgents_gate::probe::{ProbeContext, ProbeKind, ProbeSpec};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How a test server answers each request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// 200 after a pause.
    Slow(Duration),
    /// Reads the request and never answers.
    Silent,
    /// Reads the request and closes the connection without a word.
    Close,
    /// 200 when the `x-probe-token` header carries this value, else 401.
    RequireToken(&'static str),
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 16 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, answer: Answer) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    let status = match answer {
        Answer::Status(s) => s,
        Answer::Slow(pause) => {
            tokio::time::sleep(pause).await;
            200
        }
        Answer::Silent => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        Answer::Close => return,
        Answer::RequireToken(token) => {
            let sent = head
                .lines()
                .filter_map(|l| l.split_once(": "))
                .any(|(name, value)| name.eq_ignore_ascii_case("x-probe-token") && value == token);
            if sent { 200 } else { 401 }
        }
    };
    let body = if head.starts_with("HEAD ") { "" } else { "ok" };
    let response = format!("HTTP/1.1 {status} Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{body}");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Serves plain HTTP on an ephemeral port; returns the port.
async fn serve_http(a: Answer) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, a));
        }
    });
    port
}

/// Serves HTTPS with the given chain and key on an ephemeral port; returns the port.
async fn serve_https(a: Answer, chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> u16 {
    let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate aborts the handshake: nothing to answer.
                if let Ok(tls) = acceptor.accept(stream).await {
                    answer(tls, a).await;
                }
            });
        }
    });
    port
}

struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn test_ca() -> TestCa {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "kgents-gate test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).unwrap();
    TestCa { pem: cert.pem(), issuer: Issuer::new(params, key) }
}

/// Today plus `days` (UTC), as (year, month, day) for `rcgen::date_time_ymd`.
fn ymd(days: i32) -> (i32, u8, u8) {
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let d = today.checked_add(jiff::Span::new().days(days)).unwrap();
    (i32::from(d.year()), d.month() as u8, d.day() as u8)
}

/// A server certificate for `names`, valid from `from_days` to `to_days` relative to today (UTC).
fn server_cert(
    ca: &TestCa,
    names: &[&str],
    from_days: i32,
    to_days: i32,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let (y, m, d) = ymd(from_days);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(to_days);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (vec![cert.der().clone()], key)
}

fn ctx(base_dir: &Path) -> ProbeContext {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ProbeContext::standalone(base_dir, Duration::from_secs(20))
}

/// Validates the parameters like a checklist item's `[item.with]` and runs the probe.
async fn probe_in(base_dir: &Path, with: &str) -> ProbeReport {
    let table: toml::Table = toml::from_str(with).unwrap();
    let spec = ProbeSpec::parse(ProbeKind::Http, &table).unwrap();
    spec.run(&ctx(base_dir)).await
}

async fn probe(with: &str) -> ProbeReport {
    probe_in(Path::new("."), with).await
}

fn codes(r: &ProbeReport) -> Vec<&str> {
    r.findings().iter().map(|f| f.code.as_str()).collect()
}

fn fact<'a>(r: &'a ProbeReport, name: &str) -> Option<&'a str> {
    r.evidence.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

fn assert_pass(r: &ProbeReport) {
    assert!(r.findings().is_empty() && r.first_gap().is_none() && r.skip_reason().is_none(), "expected a pass: {r:#?}");
}

#[tokio::test]
async fn status_200_passes_with_evidence() {
    let port = serve_http(Answer::Status(200)).await;
    let r = probe(&format!("url = \"http://127.0.0.1:{port}/healthz\"\nmax_latency = \"5s\"")).await;
    assert_pass(&r);
    assert_eq!(fact(&r, "status"), Some("200"));
    assert!(fact(&r, "latency_ms").is_some());
    assert_eq!(fact(&r, "tls_version"), None);
}

#[tokio::test]
async fn head_requests_pass() {
    let port = serve_http(Answer::Status(200)).await;
    let r = probe(&format!("url = \"http://127.0.0.1:{port}/\"\nmethod = \"HEAD\"")).await;
    assert_pass(&r);
    assert_eq!(fact(&r, "method"), Some("HEAD"));
}

#[tokio::test]
async fn unexpected_status_is_a_finding() {
    let port = serve_http(Answer::Status(503)).await;
    let r = probe(&format!("url = \"http://127.0.0.1:{port}/\"")).await;
    assert_eq!(codes(&r), ["http-status-unexpected"]);
    assert_eq!(fact(&r, "status"), Some("503"));
    assert!(r.findings()[0].message.contains("503"));

    let accepted = probe(&format!("url = \"http://127.0.0.1:{port}/\"\nexpect_status = [200, 503]")).await;
    assert_pass(&accepted);
}

#[tokio::test]
async fn slow_answer_is_above_the_latency_bound() {
    let port = serve_http(Answer::Slow(Duration::from_millis(600))).await;
    let r = probe(&format!("url = \"http://127.0.0.1:{port}/\"\nmax_latency = \"150ms\"")).await;
    assert_eq!(codes(&r), ["http-latency-above-threshold"]);
    let latency: u64 = fact(&r, "latency_ms").unwrap().parse().unwrap();
    assert!(latency >= 150, "latency {latency} ms");
}

#[tokio::test]
async fn refused_connection_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let started = Instant::now();
    let r = probe(&format!("url = \"http://127.0.0.1:{port}/\"\ntimeout = \"5s\"")).await;
    assert_eq!(codes(&r), ["http-unreachable"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(r.first_gap().is_none());
}

#[tokio::test]
async fn connection_closed_without_answer_is_unreachable() {
    let port = serve_http(Answer::Close).await;
    let r = probe(&format!("url = \"http://127.0.0.1:{port}/\"\ntimeout = \"5s\"")).await;
    assert_eq!(codes(&r), ["http-unreachable"]);
    assert_eq!(fact(&r, "status"), None);
}

#[tokio::test]
async fn silent_server_times_out() {
    let port = serve_http(Answer::Silent).await;
    let started = Instant::now();
    let r = probe(&format!("url = \"http://127.0.0.1:{port}/\"\ntimeout = \"1s\"")).await;
    let elapsed = started.elapsed();
    assert_eq!(codes(&r), ["http-timeout"]);
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn item_budget_shorter_than_the_check_timeout_still_gives_a_finding() {
    let port = serve_http(Answer::Silent).await;
    let table: toml::Table = toml::from_str(&format!("url = \"http://127.0.0.1:{port}/\"\ntimeout = \"10s\"")).unwrap();
    let spec = ProbeSpec::parse(ProbeKind::Http, &table).unwrap();
    let mut c = ctx(Path::new("."));
    c.timeout = Duration::from_secs(1);
    // Wrapped the way the engine wraps every probe in its item timeout.
    let r = tokio::time::timeout(c.timeout, spec.run(&c)).await.expect("the probe ends before the item timeout");
    assert_eq!(codes(&r), ["http-timeout"]);
}

#[tokio::test]
async fn header_values_come_from_the_environment_and_stay_out_of_the_report() {
    const TOKEN: &str = "t0ken-7f3a91c2";
    // SAFETY: set once, before any request of this test; no other test reads or writes this name.
    unsafe { std::env::set_var("KGENTS_GATE_TEST_HTTP_TOKEN", TOKEN) };
    let port = serve_http(Answer::RequireToken(TOKEN)).await;
    let r = probe(&format!(
        "url = \"http://127.0.0.1:{port}/\"\nheaders = {{ \"X-Probe-Token\" = \"KGENTS_GATE_TEST_HTTP_TOKEN\" }}"
    ))
    .await;
    assert_pass(&r);
    assert!(!format!("{r:?}").contains(TOKEN));

    // Without the header the server refuses, which shows the header was what made it pass.
    let r = probe(&format!("url = \"http://127.0.0.1:{port}/\"")).await;
    assert_eq!(codes(&r), ["http-status-unexpected"]);
}

#[tokio::test]
async fn missing_header_variable_is_unverified() {
    let r = probe("url = \"http://127.0.0.1:9/\"\nheaders = { Authorization = \"KGENTS_GATE_TEST_UNSET_VAR\" }").await;
    let u = r.first_gap().expect("unverified");
    assert_eq!(u.code, "credential-missing");
    assert!(u.reason.contains("KGENTS_GATE_TEST_UNSET_VAR"));
}

#[tokio::test]
async fn offline_is_unverified() {
    let table: toml::Table = toml::from_str("url = \"https://api.example.com/\"").unwrap();
    let spec = ProbeSpec::parse(ProbeKind::Http, &table).unwrap();
    let mut c = ctx(Path::new("."));
    c.offline = true;
    let r = spec.run(&c).await;
    assert_eq!(r.first_gap().map(|u| u.code.as_str()), Some("offline"));
    assert!(r.findings().is_empty());
}

/// An HTTPS server with a certificate from a fresh test CA, and a folder holding `ca.pem`.
async fn https_server(answer: Answer, names: &[&str], from_days: i32, to_days: i32) -> (u16, tempfile::TempDir) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = test_ca();
    let (chain, key) = server_cert(&ca, names, from_days, to_days);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    (serve_https(answer, chain, key).await, dir)
}

const LOCAL: &[&str] = &["localhost", "127.0.0.1"];

#[tokio::test]
async fn https_with_a_trusted_certificate_passes() {
    let (port, dir) = https_server(Answer::Status(200), LOCAL, -1, 300).await;
    for host in ["127.0.0.1", "localhost"] {
        let r =
            probe_in(dir.path(), &format!("url = \"https://{host}:{port}/\"\nca_file = \"ca.pem\"\nmin_tls_days = 14"))
                .await;
        assert_pass(&r);
        let days: i64 = fact(&r, "tls_days_left").unwrap().parse().unwrap();
        assert!((298..=300).contains(&days), "{days}");
        assert!(fact(&r, "tls_not_after").is_some());
        assert_eq!(fact(&r, "tls_version"), Some("TLS 1.3"));
        assert_eq!(fact(&r, "status"), Some("200"));
    }
}

#[tokio::test]
async fn certificate_close_to_expiry_is_expiring() {
    let (port, dir) = https_server(Answer::Status(200), LOCAL, -30, 3).await;
    let r =
        probe_in(dir.path(), &format!("url = \"https://127.0.0.1:{port}/\"\nca_file = \"ca.pem\"\nmin_tls_days = 14"))
            .await;
    assert_eq!(codes(&r), ["http-tls-expiring"]);
    let days: i64 = fact(&r, "tls_days_left").unwrap().parse().unwrap();
    assert!((1..=3).contains(&days), "{days}");
    // The request still went through: the certificate is valid, only short-lived.
    assert_eq!(fact(&r, "status"), Some("200"));

    let relaxed =
        probe_in(dir.path(), &format!("url = \"https://127.0.0.1:{port}/\"\nca_file = \"ca.pem\"\nmin_tls_days = 1"))
            .await;
    assert_pass(&relaxed);
}

#[tokio::test]
async fn expired_certificate_is_invalid_with_its_date() {
    let (port, dir) = https_server(Answer::Status(200), LOCAL, -60, -2).await;
    let r = probe_in(dir.path(), &format!("url = \"https://127.0.0.1:{port}/\"\nca_file = \"ca.pem\"")).await;
    assert_eq!(codes(&r), ["http-tls-invalid"]);
    assert!(r.findings()[0].message.contains("expired"), "{}", r.findings()[0].message);
    let days: i64 = fact(&r, "tls_days_left").unwrap().parse().unwrap();
    assert!(days < 0, "{days}");
    assert_eq!(fact(&r, "status"), None);
}

#[tokio::test]
async fn untrusted_ca_is_invalid() {
    let (port, dir) = https_server(Answer::Status(200), LOCAL, -1, 300).await;
    // No ca_file: the test CA is in no trust store.
    let r = probe_in(dir.path(), &format!("url = \"https://127.0.0.1:{port}/\"")).await;
    assert_eq!(codes(&r), ["http-tls-invalid"]);
    assert!(r.findings()[0].message.contains("trusted CA"), "{}", r.findings()[0].message);
}

#[tokio::test]
async fn certificate_for_another_host_is_invalid() {
    let (port, dir) = https_server(Answer::Status(200), &["api.example.com"], -1, 300).await;
    let r = probe_in(dir.path(), &format!("url = \"https://127.0.0.1:{port}/\"\nca_file = \"ca.pem\"")).await;
    assert_eq!(codes(&r), ["http-tls-invalid"]);
    assert!(r.findings()[0].message.contains("host name"), "{}", r.findings()[0].message);
}

#[tokio::test]
async fn https_status_and_unreadable_ca_file() {
    let (port, dir) = https_server(Answer::Status(503), LOCAL, -1, 300).await;
    let r = probe_in(dir.path(), &format!("url = \"https://localhost:{port}/\"\nca_file = \"ca.pem\"")).await;
    assert_eq!(codes(&r), ["http-status-unexpected"]);

    let r = probe_in(dir.path(), &format!("url = \"https://localhost:{port}/\"\nca_file = \"missing.pem\"")).await;
    assert_eq!(r.first_gap().map(|u| u.code.as_str()), Some("ca-file-unreadable"));
}

#[test]
fn catalog_defaults_validate() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/http.toml");
    let catalog: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let check = &catalog["check"].as_array().unwrap()[0];
    assert_eq!(check["id"].as_str(), Some("http.endpoint"));
    assert_eq!(ProbeKind::parse(check["probe"].as_str().unwrap()), Some(ProbeKind::Http));
    let mut params = check["defaults"].as_table().unwrap().clone();
    // min_tls_days is a default for every URL, so an http URL must still validate.
    params.insert("url".into(), toml::Value::String("http://api.kgents.svc:8080/healthz".into()));
    assert!(ProbeSpec::parse(ProbeKind::Http, &params).is_ok());
    assert!(ProbeKind::Http.needs_live());
}
