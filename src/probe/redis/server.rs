//! What a Redis server says about itself (CONFIG GET, INFO), judged by pure functions, and how
//! client errors are told apart (down, wrong credentials) and stripped of secrets.

use std::collections::BTreeMap;

use redis::{ErrorKind, RedisError};

/// `INFO` text as `field -> value` (section headers and blank lines dropped).
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether a `maxmemory-policy` can never drop a key written with a TTL-less or TTL'd
/// idempotency record: `noeviction` refuses writes instead, `volatile-*` only evicts keys with
/// a TTL (idempotency keys carry one, and other data without TTL is kept).
pub fn eviction_is_safe(policy: &str) -> bool {
    let p = policy.trim().to_ascii_lowercase();
    p == "noeviction" || p.starts_with("volatile-")
}

/// What is known about persistence; `None` = not known (could not be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Persistence {
    pub appendonly: Option<bool>,
    /// RDB snapshots configured (`save` has at least one point).
    pub save_points: Option<bool>,
}

/// The verdict on persistence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistenceVerdict {
    On,
    Off,
    Unknown,
}

impl Persistence {
    pub fn verdict(self) -> PersistenceVerdict {
        match (self.appendonly, self.save_points) {
            (Some(true), _) | (_, Some(true)) => PersistenceVerdict::On,
            (Some(false), Some(false)) => PersistenceVerdict::Off,
            _ => PersistenceVerdict::Unknown,
        }
    }
}

/// `appendonly` as CONFIG GET returns it.
pub fn parse_yes_no(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "1" => Some(true),
        "no" | "0" => Some(false),
        _ => None,
    }
}

/// `save` as CONFIG GET returns it: `""` means no snapshots, else pairs of seconds and changes.
pub fn has_save_points(save: &str) -> bool {
    !save.trim().is_empty()
}

/// The replication facts of `INFO replication`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// `master` or `slave` (a replica).
    pub role: String,
    pub connected_replicas: u64,
    /// Replicas whose `state` is `online` (connected but still syncing ones are not counted).
    pub online_replicas: u64,
}

pub fn parse_replication(info: &BTreeMap<String, String>) -> Option<Replication> {
    let role = info.get("role")?.clone();
    let connected_replicas = info.get("connected_slaves").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let online_replicas = info
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix("slave").is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .filter(|(_, v)| v.split(',').any(|kv| kv == "state=online"))
        .count() as u64;
    Some(Replication { role, connected_replicas, online_replicas })
}

/// Why a connection or a command failed, in the probe's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Refused, reset, name not resolved: nothing answers.
    Unreachable(String),
    /// No answer in time.
    Timeout,
    /// Wrong password or user, or credentials required but none sent.
    AuthFailed(String),
    /// The server answered with an error the probe does not expect.
    Other(String),
}

/// Classifies a client error. The message is redacted of every secret.
pub fn classify(e: &RedisError, secrets: &[&str]) -> Failure {
    let detail = redact(&e.to_string(), secrets);
    let code = e.code().unwrap_or_default();
    if e.kind() == ErrorKind::AuthenticationFailed || matches!(code, "NOAUTH" | "WRONGPASS") {
        return Failure::AuthFailed(detail);
    }
    if e.is_timeout() {
        return Failure::Timeout;
    }
    if e.is_connection_refusal() || e.is_io_error() || e.is_connection_dropped() {
        return Failure::Unreachable(detail);
    }
    Failure::Other(detail)
}

/// Replaces every occurrence of a secret (and a URL's userinfo, should a client library ever
/// echo one) with `***`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, "***");
    }
    // `scheme://user:pass@host` -> `scheme://***@host`.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        result.push_str(head);
        let end = tail.find(|c: char| c.is_whitespace() || c == '/').unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                result.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    result.push_str(rest);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
        slave0:ip=127.0.0.1,port=6380,state=online,offset=42,lag=0\r\n\
        slave1:ip=127.0.0.1,port=6381,state=wait_bgsave,offset=0,lag=0\r\n\
        slave_read_only:1\r\nmaster_repl_offset:42\r\n\r\n# Memory\r\nmaxmemory_policy:allkeys-lru\r\n";

    #[test]
    fn info_fields_and_replication() {
        let info = parse_info(INFO);
        assert_eq!(info.get("maxmemory_policy").map(String::as_str), Some("allkeys-lru"));
        let r = parse_replication(&info).unwrap();
        assert_eq!(r, Replication { role: "master".into(), connected_replicas: 2, online_replicas: 1 });
        let replica = parse_info("role:slave\r\nmaster_link_status:up\r\nslave_read_only:1\r\n");
        let r = parse_replication(&replica).unwrap();
        assert_eq!((r.role.as_str(), r.connected_replicas, r.online_replicas), ("slave", 0, 0));
        assert_eq!(parse_replication(&parse_info("# Replication\r\n")), None);
    }

    #[test]
    fn eviction_policies() {
        for safe in ["noeviction", "volatile-lru", "volatile-lfu", "volatile-ttl", "volatile-random", "NoEviction"] {
            assert!(eviction_is_safe(safe), "{safe}");
        }
        for unsafe_ in ["allkeys-lru", "allkeys-lfu", "allkeys-random", ""] {
            assert!(!eviction_is_safe(unsafe_), "{unsafe_}");
        }
    }

    #[test]
    fn persistence_verdicts() {
        let p = |appendonly, save_points| Persistence { appendonly, save_points }.verdict();
        assert_eq!(p(Some(true), Some(false)), PersistenceVerdict::On);
        assert_eq!(p(Some(false), Some(true)), PersistenceVerdict::On);
        assert_eq!(p(Some(false), Some(false)), PersistenceVerdict::Off);
        assert_eq!(p(Some(false), None), PersistenceVerdict::Unknown);
        assert_eq!(p(Some(true), None), PersistenceVerdict::On);
        assert_eq!(p(None, None), PersistenceVerdict::Unknown);
        assert!(has_save_points("3600 1 300 100") && !has_save_points("") && !has_save_points("  "));
        assert_eq!((parse_yes_no("yes"), parse_yes_no("no"), parse_yes_no("maybe")), (Some(true), Some(false), None));
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("auth failed for hunter2", &["hunter2"]), "auth failed for ***");
        assert_eq!(
            redact("cannot reach redis://u:hunter2@db:6379/0 now", &[]),
            "cannot reach redis://***@db:6379/0 now"
        );
        assert_eq!(redact("redis://db:6379/0", &[""]), "redis://db:6379/0");
    }

    #[test]
    fn classification() {
        let secret = "p4ss";
        let refused = RedisError::from(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused p4ss"));
        match classify(&refused, &[secret]) {
            Failure::Unreachable(d) => assert!(!d.contains(secret), "{d}"),
            other => panic!("{other:?}"),
        }
        let timeout = RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"));
        assert_eq!(classify(&timeout, &[]), Failure::Timeout);
        let auth = RedisError::from((ErrorKind::AuthenticationFailed, "Password authentication failed"));
        assert!(matches!(classify(&auth, &[]), Failure::AuthFailed(_)));
    }
}
