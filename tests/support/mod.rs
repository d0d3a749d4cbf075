//! Real servers on 127.0.0.1 for integration tests: a Kubernetes control plane (and, opt-in, a
//! real node), NATS, Redis, Prometheus and an exporter for it to scrape, plus the waiting and
//! HTTP helpers they share. Use with `mod support;`.
//! See tests/support/README.md for the API.
#![allow(dead_code, unused_imports)]

pub mod apply;
pub mod control_plane;
pub mod exporter;
pub mod kubelet;
pub mod metrics;
pub mod nats;
pub mod node;
pub mod process;
pub mod prometheus;
pub mod redis;
pub mod resource_metrics;
pub mod variants;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use control_plane::{ControlPlane, USERS};
pub use exporter::Exporter;
pub use kubelet::{PodState, PodStatePlayer};
pub use metrics::RequestCounts;
pub use nats::{NATS_NEWEST, NATS_PRODUCTION, NatsAuth, NatsCluster, NatsOptions};
pub use node::{FlowBlock, RealNode};
pub use process::{ScratchDir, ServerProcess, free_port};
pub use prometheus::{Prometheus, PrometheusOptions};
pub use redis::{Redis, RedisOptions, RedisSave};

/// The command that installs every server binary the tests use.
pub const INSTALL_HINT: &str = "bash scripts/setup-test-env.sh";

/// Where slow-to-build test binaries live: `$KGENTS_GATE_CACHE` or `~/.cache/kgents-gate`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KGENTS_GATE_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/kgents-gate")
}

/// Returns `path` if it is an executable file, else panics with the install hint: a missing
/// server is a failing test, never a skip.
pub fn require_binary(path: &Path, what: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => path.to_path_buf(),
        _ => panic!(
            "{what} not found at {} (not installed?). Install the test servers with `{INSTALL_HINT}`",
            path.display()
        ),
    }
}

/// Installs rustls' ring provider once; kube and reqwest need a process-wide provider.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client for loopback servers: no proxy, short timeouts, and, when given, trusting only
/// `ca_pem` (so TLS verification against the test CA is real).
pub fn http_client(ca_pem: Option<&str>) -> reqwest::Client {
    install_crypto_provider();
    let mut builder =
        reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(3)).timeout(Duration::from_secs(10));
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).expect("parse the test CA");
        builder = builder.tls_certs_only(certs);
    }
    builder.build().expect("build an HTTP client")
}

/// GET `url` and return (status, body). Errors are connection failures.
pub async fn http_get(url: &str) -> Result<(u16, String), String> {
    let resp = http_client(None).get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| format!("GET {url}: reading body: {e}"))?;
    Ok((status, body))
}

/// GET `url` and parse a 2xx JSON body.
pub async fn http_get_json(url: &str) -> Result<serde_json::Value, String> {
    let (status, body) = http_get(url).await?;
    if !(200..300).contains(&status) {
        return Err(format!("GET {url}: HTTP {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON ({e}): {body}"))
}

/// Polls `check` every 200 ms until it returns `Ok`, or gives up after `timeout` with the last
/// error.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let until = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= until => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Like [`poll_until`], but panics on timeout with `what` and the last error: for tests.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    match poll_until(timeout, check).await {
        Ok(v) => v,
        Err(e) => panic!("timed out after {timeout:?} waiting for {what}: {e}"),
    }
}

/// Runs a future to completion on a fresh runtime in its own thread, so blocking callers and
/// async tests alike can use it without tying anything to a test's runtime.
pub fn run_blocking<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    let worker = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("build a tokio runtime").block_on(fut)
    });
    match worker.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A unique suffix for names within this test binary: `<prefix>-<n>`.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Random hex for tokens and passwords (from /dev/urandom).
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).expect("read /dev/urandom");
    hex::encode(buf)
}
