//! `redis` probe: the idempotency store is reachable, requires authentication, answers PING in
//! time, cannot evict idempotency keys, persists them, has its replicas, and holds a key written
//! with a TTL (a scratch key of the gate's own prefix, removed afterwards, also when cancelled).

mod check;
pub mod server;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::redact::Endpoint;

use crate::outcome::ProbeReport;
use crate::probe::{ParamReader, ProbeContext};

pub const DEFAULT_KEY_PREFIX: &str = "kgents-gate:probe:";
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// Where a credential comes from. The value itself is never part of the parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Env(String),
    /// A file whose content (without the final line break) is the value; relative to the checklist.
    File(String),
}

/// Where the ACL user name comes from (not a secret, but often set per environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsernameSource {
    Literal(String),
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisParams {
    /// `redis://host:port/db`, without credentials.
    pub url: Endpoint,
    pub db: i64,
    pub password: Option<CredentialSource>,
    pub username: Option<UsernameSource>,
    /// Bound on the PING round trip.
    pub max_ping: Option<Duration>,
    /// Replicas the primary must have online.
    pub expected_replicas: Option<u64>,
    /// The scratch key is `<key_prefix><run_id>` (with `:<item id>` in an audit, so two items on
    /// one Redis never race for the same key).
    pub key_prefix: String,
    /// TTL of the scratch key (whole seconds, at least 1 s).
    pub ttl: Duration,
    /// Bound on the whole probe; the item's budget if shorter.
    pub timeout: Option<Duration>,
}

fn parse_url(s: &str) -> Result<(Url, i64), String> {
    // Never echo the URL: a mistyped one may carry a password.
    let url = Url::parse(s.trim()).map_err(|e| format!("parameter `url` is not a valid URL ({e})"))?;
    if url.password().is_some() {
        return Err("parameter `url` must not carry a password; give it with `password_env` or `password_file`".into());
    }
    if !url.username().is_empty() {
        return Err("parameter `url` must not carry a user name; give the ACL user with `username`".into());
    }
    match url.scheme() {
        "redis" => {}
        "rediss" => return Err("parameter `url`: TLS (`rediss://`) is not supported by this build".into()),
        other => return Err(format!("parameter `url` must be a redis:// URL, found scheme `{other}`")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("parameter `url` has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("parameter `url` must not have a query or fragment (redis://host:port/db)".into());
    }
    let path = url.path().trim_start_matches('/');
    let db = if path.is_empty() {
        0
    } else {
        path.parse::<i64>()
            .ok()
            .filter(|d| *d >= 0)
            .ok_or_else(|| "parameter `url`: the path must be a database number (redis://host:port/0)".to_string())?
    };
    let mut normalised = url.clone();
    if normalised.port().is_none() {
        // Stated explicitly so reports show where the probe connected.
        let _ = normalised.set_port(Some(6379));
    }
    normalised.set_path(&format!("/{db}"));
    Ok((normalised, db))
}

impl RedisParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let url = r.req_str("url").and_then(|s| match parse_url(&s) {
            Ok(u) => Some(u),
            Err(e) => {
                r.error("url", e);
                None
            }
        });
        let password_env = r.opt_env_name("password_env");
        let password_file = r.opt_str("password_file");
        let password = match (password_env, password_file) {
            (Some(_), Some(_)) => {
                r.error("password_file", "give either `password_env` or `password_file`, not both");
                None
            }
            (Some(v), None) => Some(CredentialSource::Env(v)),
            (None, Some(f)) if f.trim().is_empty() => {
                r.error("password_file", "parameter `password_file` is empty");
                None
            }
            (None, Some(f)) => Some(CredentialSource::File(f)),
            (None, None) => None,
        };
        let username_literal = r.opt_str("username");
        let username_env = r.opt_env_name("username_env");
        let username = match (username_literal, username_env) {
            (Some(_), Some(_)) => {
                r.error("username_env", "give either `username` or `username_env`, not both");
                None
            }
            (Some(u), None) if u.trim().is_empty() || u.contains(char::is_whitespace) => {
                r.error("username", "parameter `username` must be a non-empty ACL user name without spaces");
                None
            }
            (Some(u), None) => Some(UsernameSource::Literal(u)),
            (None, Some(v)) => Some(UsernameSource::Env(v)),
            (None, None) => None,
        };
        if username.is_some() && password.is_none() {
            r.error_general("an ACL user (`username`) needs a password: give `password_env` or `password_file`");
        }
        let max_ping = r.opt_duration("max_ping");
        let expected_replicas = r.opt_u64("expected_replicas");
        let key_prefix = r.opt_str("key_prefix").unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_string());
        if key_prefix.is_empty() || key_prefix.contains(char::is_whitespace) {
            r.error("key_prefix", "parameter `key_prefix` must be non-empty and without spaces");
        }
        let ttl = r.opt_duration("ttl").unwrap_or(DEFAULT_TTL);
        if ttl < Duration::from_secs(1) || ttl.subsec_nanos() != 0 {
            r.error("ttl", "parameter `ttl` must be whole seconds, at least 1s (SET ... EX takes seconds)");
        }
        let timeout = r.opt_duration("timeout");
        if timeout == Some(Duration::ZERO) {
            r.error("timeout", "parameter `timeout` must be longer than zero");
        }
        let (url, db) = url?;
        let url = Endpoint::from_url(url);
        Some(RedisParams { url, db, password, username, max_ping, expected_replicas, key_prefix, ttl, timeout })
    }

    /// The scratch key of one run.
    pub fn key(&self, run_id: &str, item_id: &str) -> String {
        if item_id.is_empty() {
            format!("{}{run_id}", self.key_prefix)
        } else {
            format!("{}{run_id}:{item_id}", self.key_prefix)
        }
    }
}

/// Resolved credentials. Debug never shows the password.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Reads the credentials from the environment or files. Errors name the variable or file, never
/// a value.
pub fn resolve_credentials(p: &RedisParams, ctx: &ProbeContext) -> Result<Credentials, String> {
    let password = match &p.password {
        None => None,
        Some(CredentialSource::Env(var)) => {
            let v = std::env::var(var)
                .map_err(|_| format!("environment variable `{var}` (the Redis password) is not set or not UTF-8"))?;
            Some(v)
        }
        Some(CredentialSource::File(f)) => {
            let path: PathBuf = ctx.resolve(f);
            let v = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read the Redis password file {f}: {}", e.kind()))?;
            Some(v.trim_end_matches(['\n', '\r']).to_string())
        }
    };
    if password.as_deref() == Some("") {
        return Err("the Redis password (from `password_env` or `password_file`) is empty".into());
    }
    let username = match &p.username {
        None => None,
        Some(UsernameSource::Literal(u)) => Some(u.clone()),
        Some(UsernameSource::Env(var)) => Some(
            std::env::var(var)
                .ok()
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| format!("environment variable `{var}` (the Redis ACL user) is not set or empty"))?,
        ),
    };
    Ok(Credentials { username, password })
}

pub async fn run(p: &RedisParams, ctx: &ProbeContext) -> ProbeReport {
    if ctx.offline {
        return ProbeReport::unverified("offline", format!("offline: {} was not contacted", p.url));
    }
    let creds = match resolve_credentials(p, ctx) {
        Ok(c) => c,
        Err(why) => return ProbeReport::unverified("credential-missing", why),
    };
    check::Check::new(p, ctx, creds).run().await
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::probe::params::error_keys as keys;

    fn read(src: &str) -> Result<RedisParams, Vec<crate::probe::ParamError>> {
        crate::probe::params::read_for_test(src, RedisParams::read)
    }

    #[test]
    fn defaults_and_full_parameters() {
        let p = read(r#"url = "redis://redis.kgents-billing:6379""#).unwrap();
        assert_eq!(p.url.as_str(), "redis://redis.kgents-billing:6379/0");
        assert_eq!((p.db, p.ttl, p.key_prefix.as_str()), (0, DEFAULT_TTL, DEFAULT_KEY_PREFIX));
        assert_eq!((p.password.clone(), p.username.clone(), p.max_ping, p.expected_replicas), (None, None, None, None));
        assert_eq!(p.key("abc", ""), "kgents-gate:probe:abc");
        assert_eq!(p.key("abc", "resources.redis"), "kgents-gate:probe:abc:resources.redis");
        let p = read(
            r#"url = "redis://10.0.0.5/2"
               password_file = "secrets/redis-password"
               username = "billing"
               max_ping = "20ms"
               expected_replicas = 2
               key_prefix = "gate:"
               ttl = "1m"
               timeout = "5s""#,
        )
        .unwrap();
        assert_eq!((p.url.as_str(), p.db), ("redis://10.0.0.5:6379/2", 2));
        assert_eq!(p.password, Some(CredentialSource::File("secrets/redis-password".into())));
        assert_eq!(p.username, Some(UsernameSource::Literal("billing".into())));
        assert_eq!((p.max_ping, p.expected_replicas), (Some(Duration::from_millis(20)), Some(2)));
        assert_eq!((p.ttl, p.timeout), (Duration::from_secs(60), Some(Duration::from_secs(5))));
        let p =
            read("url = \"redis://r:1/\"\npassword_env = \"REDIS_PASSWORD\"\nusername_env = \"REDIS_USER\"").unwrap();
        assert_eq!(p.password, Some(CredentialSource::Env("REDIS_PASSWORD".into())));
        assert_eq!(p.username, Some(UsernameSource::Env("REDIS_USER".into())));
    }

    #[test]
    fn urls_with_credentials_are_rejected_without_echo() {
        for bad in ["redis://:hunter2@db:6379/0", "redis://admin:hunter2@db:6379/0", "redis://admin@db/0"] {
            let errs = read(&format!("url = {bad:?}")).unwrap_err();
            assert_eq!(keys(&errs), ["url"], "{bad}");
            assert!(!errs[0].message.contains("hunter2") && !errs[0].message.contains("db:"), "{}", errs[0].message);
        }
        for bad in [
            "http://db/",
            "rediss://db:6380/0",
            "redis:///0",
            "redis://db/x",
            "redis://db/-1",
            "nope",
            "redis://db/0?x=1",
        ] {
            assert_eq!(keys(&read(&format!("url = {bad:?}")).unwrap_err()), ["url"], "{bad}");
        }
        assert_eq!(keys(&read("").unwrap_err()), ["url"]);
    }

    #[test]
    fn bad_parameters_are_each_reported() {
        let base = "url = \"redis://db:6379/0\"\n";
        let cases = [
            ("password_env = \"A\"\npassword_file = \"f\"", "password_file"),
            ("password_env = \"my secret value\"", "password_env"),
            ("password_file = \"\"", "password_file"),
            ("username = \"a\"\nusername_env = \"U\"\npassword_env = \"P\"", "username_env"),
            ("username = \"\"\npassword_env = \"P\"", "username"),
            ("username = \"billing\"", ""),
            ("ttl = \"500ms\"", "ttl"),
            ("ttl = \"1500ms\"", "ttl"),
            ("timeout = \"0s\"", "timeout"),
            ("key_prefix = \"\"", "key_prefix"),
            ("expected_replicas = -1", "expected_replicas"),
            ("max_ping = 5", "max_ping"),
            ("maxping = \"5ms\"", "maxping"),
        ];
        for (extra, key) in cases {
            let errs = read(&format!("{base}{extra}")).unwrap_err();
            assert_eq!(keys(&errs), [key], "{extra}");
            assert!(!errs[0].message.contains("my secret value"));
        }
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = Credentials { username: Some("billing".into()), password: Some("hunter2".into()) };
        let shown = format!("{c:?}");
        assert!(shown.contains("billing") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn password_file_is_read_without_its_line_break() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        let p = read("url = \"redis://db/0\"\npassword_file = \"pw\"").unwrap();
        let ctx = ProbeContext::standalone(dir.path(), Duration::from_secs(5));
        assert_eq!(resolve_credentials(&p, &ctx).unwrap().password.as_deref(), Some("s3cret"));
        let p = read("url = \"redis://db/0\"\npassword_file = \"missing\"").unwrap();
        let err = resolve_credentials(&p, &ctx).unwrap_err();
        assert!(err.contains("missing") && err.contains("password file"), "{err}");
    }
}
