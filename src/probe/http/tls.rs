//! The certificate side of the `http` probe: a TLS handshake of its own, verified against the same
//! roots reqwest uses (platform roots plus `ca_file`), to read the leaf certificate and TLS version.

use std::sync::{Arc, Mutex};

use reqwest::Url;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::Failure;

/// What the handshake showed about the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafCert {
    /// The leaf's `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
    /// Whole days from now until `notAfter`; negative once expired.
    pub days_left: i64,
}

/// The result of one inspection handshake. `leaf` is filled in whenever the server sent a
/// certificate, also when it failed verification, so an expired certificate still shows its date.
#[derive(Debug)]
pub struct TlsInspection {
    pub leaf: Option<LeafCert>,
    /// The negotiated TLS version (e.g. `TLS 1.3`) on success.
    pub outcome: Result<String, Failure>,
}

/// The process-wide rustls provider, or ring when none was installed (library use without main).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    CryptoProvider::get_default().cloned().unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Delegates verification and remembers the end-entity certificate it was shown.
struct RecordingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    leaf: Mutex<Option<Vec<u8>>>,
}

impl std::fmt::Debug for RecordingVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingVerifier").finish_non_exhaustive()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut slot) = self.leaf.lock() {
            *slot = Some(end_entity.as_ref().to_vec());
        }
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Reads `notAfter` from a DER certificate and counts the whole days left from `now_secs`.
pub fn leaf_cert(der: &[u8], now_secs: i64) -> Option<LeafCert> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some(LeafCert { not_after, days_left: (not_after - now_secs).div_euclid(86_400) })
}

/// A verification error in words a launch reviewer understands.
pub fn describe_tls_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "the certificate has expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the certificate is not valid yet".into()
            }
            CertificateError::UnknownIssuer => {
                "the certificate is not signed by a trusted CA (give the internal CA in `ca_file`)".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the certificate is not valid for this host name".into()
            }
            CertificateError::Revoked => "the certificate has been revoked".into(),
            other => format!("invalid certificate: {other:?}"),
        },
        other => format!("TLS handshake failed: {other}"),
    }
}

/// Maps an I/O error from a TLS handshake: rustls errors travel inside `io::Error`.
pub fn classify_handshake_error(e: &std::io::Error) -> Failure {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return Failure::TlsInvalid(describe_tls_error(tls));
    }
    Failure::Unreachable(format!("TLS handshake interrupted: {e}"))
}

/// The URL's host: an IP address, or a name to resolve. (`host_str` keeps IPv6 brackets.)
enum UrlHost<'a> {
    Ip(std::net::IpAddr),
    Name(&'a str),
}

fn url_host(url: &Url) -> Result<UrlHost<'_>, Failure> {
    let host = url.host_str().ok_or_else(|| Failure::Setup("the URL has no host".into()))?;
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(UrlHost::Ip(ip)),
        Err(_) => Ok(UrlHost::Name(host)),
    }
}

fn server_name(url: &Url) -> Result<ServerName<'static>, Failure> {
    match url_host(url)? {
        UrlHost::Ip(ip) => Ok(ServerName::IpAddress(ip.into())),
        UrlHost::Name(d) => ServerName::try_from(d.to_string())
            .map_err(|_| Failure::Setup(format!("`{d}` is not a valid TLS server name"))),
    }
}

/// Resolves the host and connects to the first address that accepts.
pub async fn connect(url: &Url) -> Result<TcpStream, Failure> {
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<std::net::SocketAddr> = match url_host(url)? {
        UrlHost::Ip(ip) => vec![(ip, port).into()],
        UrlHost::Name(d) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|e| Failure::Unreachable(format!("cannot resolve `{d}`: {e}")))?
            .collect(),
    };
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(format!("cannot connect to {addr}: {e}")),
        }
    }
    Err(Failure::Unreachable(last.unwrap_or_else(|| "the host name resolved to no address".into())))
}

/// Handshakes with the server of an https `url` and verifies its certificate against the
/// platform roots plus `extra_roots`, within `deadline`.
pub async fn inspect(url: &Url, extra_roots: &[CertificateDer<'static>], deadline: Instant) -> TlsInspection {
    let provider = crypto_provider();
    let verifier =
        match rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots.to_vec(), provider.clone()) {
            Ok(v) => v,
            Err(e) => {
                return TlsInspection { leaf: None, outcome: Err(Failure::Setup(format!("no trusted CA roots: {e}"))) };
            }
        };
    let recorder = Arc::new(RecordingVerifier { inner: Arc::new(verifier), leaf: Mutex::new(None) });
    let config = match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.dangerous().with_custom_certificate_verifier(recorder.clone()).with_no_client_auth(),
        Err(e) => {
            return TlsInspection { leaf: None, outcome: Err(Failure::Setup(format!("TLS setup: {e}"))) };
        }
    };
    let handshake = async {
        let name = server_name(url)?;
        let tcp = connect(url).await?;
        let stream =
            TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| classify_handshake_error(&e))?;
        let version = match stream.get_ref().1.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_string(),
        };
        Ok(version)
    };
    let outcome = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Timeout),
    };
    let now = jiff::Timestamp::now().as_second();
    let leaf = recorder.leaf.lock().ok().and_then(|slot| slot.as_deref().and_then(|der| leaf_cert(der, now)));
    TlsInspection { leaf, outcome }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_round_down_and_go_negative() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2030, 1, 11);
        let cert = params.self_signed(&key).unwrap();
        let not_after = 1_894_320_000; // 2030-01-11T00:00:00Z
        let leaf = leaf_cert(cert.der(), not_after - 10 * 86_400 + 1).unwrap();
        assert_eq!(leaf, LeafCert { not_after, days_left: 9 });
        assert_eq!(leaf_cert(cert.der(), not_after + 1).unwrap().days_left, -1);
        assert_eq!(leaf_cert(b"not a certificate", 0), None);
    }

    #[test]
    fn verification_errors_are_named() {
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(describe_tls_error(&expired), "the certificate has expired");
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(describe_tls_error(&unknown).contains("ca_file"));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, expired);
        assert!(matches!(classify_handshake_error(&io), Failure::TlsInvalid(m) if m.contains("expired")));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(matches!(classify_handshake_error(&reset), Failure::Unreachable(_)));
    }
}
