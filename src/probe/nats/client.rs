//! The NATS protocol side of the probe: credentials from the environment or files, connecting
//! with a bounded timeout, telling unreachable, timeout and auth failures apart, and a
//! publish/subscribe round trip.

use std::path::Path;
use std::time::Duration;

use async_nats::{ConnectErrorKind, ConnectOptions};
use futures::StreamExt as _;
use tokio::time::Instant;

use super::params::{NatsAuth, NatsParams};

/// Why the connection failed, as the probe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Refused, reset, DNS or TLS failure: the server cannot be talked to.
    Unreachable(String),
    /// No answer within the timeout.
    Timeout,
    /// The server refused the credentials (or their absence).
    AuthFailed(String),
}

/// Builds the connect options; errors name the variable or file, never a value.
pub async fn options(p: &NatsParams, resolve: impl Fn(&str) -> std::path::PathBuf) -> Result<ConnectOptions, String> {
    let env = |var: &str, what: &str| {
        std::env::var(var).map_err(|_| format!("environment variable `{var}` ({what}) is not set or not UTF-8"))
    };
    let read_file = |f: &str, what: &str| {
        std::fs::read_to_string(resolve(f))
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("cannot read {what} {f}: {}", e.kind()))
    };
    let opts = ConnectOptions::new();
    let mut opts = match &p.auth {
        NatsAuth::None => opts,
        NatsAuth::TokenEnv(var) => opts.token(env(var, "the NATS token")?),
        NatsAuth::TokenFile(f) => opts.token(read_file(f, "token_file")?),
        NatsAuth::UserPassword { user_env, password_env } => {
            opts.user_and_password(env(user_env, "the NATS user")?, env(password_env, "the NATS password")?)
        }
        NatsAuth::NkeyFile(f) => {
            let seed = read_file(f, "nkey_file")?;
            // Checked here so a bad seed is our setup problem, not an auth failure of the server.
            nkeys::KeyPair::from_seed(&seed).map_err(|_| format!("nkey_file {f} does not hold a valid nkey seed"))?;
            opts.nkey(seed)
        }
        NatsAuth::CredsFile(f) => {
            let path = resolve(f);
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read creds_file {f}: {}", e.kind()))?;
            opts.credentials(&text).map_err(|_| format!("creds_file {f} is not a valid NATS credentials file"))?
        }
    };
    if let Some(ca) = &p.ca_file {
        let path = resolve(ca);
        if !Path::new(&path).is_file() {
            return Err(format!("cannot read ca_file {ca}"));
        }
        opts = opts.add_root_certificates(path);
    }
    if p.tls_required {
        opts = opts.require_tls(true);
    }
    Ok(opts)
}

fn classify(e: &async_nats::ConnectError) -> ConnectFailure {
    // The error text holds the server's message or the I/O error, never our credentials.
    let why = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
    match e.kind() {
        ConnectErrorKind::TimedOut => ConnectFailure::Timeout,
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
            ConnectFailure::AuthFailed(e.kind().to_string())
        }
        ConnectErrorKind::Tls => ConnectFailure::Unreachable(format!("TLS: {why}")),
        ConnectErrorKind::Io if why.to_ascii_lowercase().contains("timed out") => ConnectFailure::Timeout,
        _ => ConnectFailure::Unreachable(why),
    }
}

/// Connects to exactly the server in `url` (discovered servers ignored, no retries) within `budget`.
pub async fn connect(opts: ConnectOptions, url: &str, budget: Duration) -> Result<async_nats::Client, ConnectFailure> {
    let opts = opts
        .name(concat!("kgents-gate/", env!("CARGO_PKG_VERSION")))
        .connection_timeout(budget)
        .ignore_discovered_servers()
        .retain_servers_order()
        // Bounds background reconnects after a drop, so the client cannot outlive the probe busy.
        .max_reconnects(2);
    match tokio::time::timeout(budget, opts.connect(url)).await {
        Err(_) => Err(ConnectFailure::Timeout),
        Ok(Err(e)) => Err(classify(&e)),
        Ok(Ok(c)) => Ok(c),
    }
}

/// Subscribes to `subject`, publishes a unique payload and waits for it until `deadline`.
/// Returns the time from publish to receipt.
pub async fn round_trip(client: &async_nats::Client, subject: &str, deadline: Instant) -> Result<Duration, String> {
    let nonce = format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
    );
    let attempt = async {
        let mut sub = client.subscribe(subject.to_string()).await.map_err(|e| format!("subscribe: {e}"))?;
        // The subscription must reach the server before the publish, or the message is lost.
        client.flush().await.map_err(|e| format!("flush: {e}"))?;
        let started = Instant::now();
        client.publish(subject.to_string(), nonce.clone().into()).await.map_err(|e| format!("publish: {e}"))?;
        client.flush().await.map_err(|e| format!("flush: {e}"))?;
        // Other checks of the same run share the subject: wait for our own payload.
        while let Some(msg) = sub.next().await {
            if msg.payload.as_ref() == nonce.as_bytes() {
                let rtt = started.elapsed();
                let _ = sub.unsubscribe().await;
                return Ok(rtt);
            }
        }
        Err("the subscription ended before the message arrived".to_string())
    };
    match tokio::time::timeout_at(deadline, attempt).await {
        Ok(r) => r,
        Err(_) => Err("the message did not come back in time".into()),
    }
}
