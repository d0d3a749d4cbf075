//! One run of the `redis` probe over ONE multiplexed connection (no reconnecting manager: a
//! reconnect would hide the very failure being looked for), plus a second, credential-less
//! connection that must be refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo, Value};
use tokio::time::Instant;

use super::server::{self, Failure, PersistenceVerdict};
use super::{Credentials, RedisParams};
use crate::outcome::{Finding, ProbeReport, Unverified};
use crate::probe::ProbeContext;

/// How long the scratch key's DEL may take after a cancel (the engine waits longer).
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the run stopped before the end.
enum Stop {
    Cancelled,
    /// The probe's own budget ran out.
    Deadline,
}

pub struct Check<'a> {
    p: &'a RedisParams,
    ctx: &'a ProbeContext,
    creds: Credentials,
    deadline: Instant,
    /// The point after which the engine drops the probe; cleanup must end before it.
    hard_deadline: Instant,
    budget: Duration,
    report: ProbeReport,
    /// Parts that could not be checked, with the reason.
    gaps: Vec<String>,
}

fn ms(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

impl<'a> Check<'a> {
    pub fn new(p: &'a RedisParams, ctx: &'a ProbeContext, creds: Credentials) -> Self {
        let now = Instant::now();
        // Finish a little before the engine's item timeout so a silent server is reported as
        // unreachable (its fault) and the scratch key can still be removed.
        let budget = ctx.answer_budget(p.timeout, (ctx.timeout / 5).min(Duration::from_secs(2)));
        let mut report = ProbeReport::default();
        report.fact("url", &p.url);
        if let Some(u) = &creds.username {
            report.fact("acl_user", u);
        }
        Check {
            p,
            ctx,
            creds,
            deadline: now + budget,
            hard_deadline: now + ctx.timeout.saturating_sub(Duration::from_millis(50)),
            budget,
            report,
            gaps: Vec::new(),
        }
    }

    fn secrets(&self) -> Vec<&str> {
        self.creds.password.iter().map(String::as_str).collect()
    }

    fn finding(&self, code: &str, message: impl Into<String>) -> Finding {
        Finding::error(code, message).target(self.p.url.as_str())
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
    }

    /// Runs `fut` unless the audit is cancelled or the budget runs out first.
    async fn bounded<T>(&self, fut: impl std::future::Future<Output = T>) -> Result<T, Stop> {
        tokio::select! {
            biased;
            _ = self.ctx.cancel.cancelled() => Err(Stop::Cancelled),
            r = tokio::time::timeout_at(self.deadline, fut) => r.map_err(|_| Stop::Deadline),
        }
    }

    async fn connect(&self, creds: &Credentials) -> Result<MultiplexedConnection, Failure> {
        let info =
            self.p.url.url().clone().into_connection_info().map_err(|e| server::classify(&e, &self.secrets()))?;
        let mut settings = info.redis_settings().clone().set_db(self.p.db);
        if let Some(pw) = &creds.password {
            settings = settings.set_password(pw);
        }
        if let Some(u) = &creds.username {
            settings = settings.set_username(u);
        }
        if creds.password.is_none() {
            // A bare connection: only PING is sent, exactly what an unauthenticated client does.
            settings = settings.set_skip_set_lib_name();
        }
        let info = info.set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|e| server::classify(&e, &self.secrets()))?;
        // The client's own timeouts must fire before `bounded`'s deadline, so a silent server is
        // reported as unreachable (it did not answer) rather than the check as unfinished.
        let remaining = self.remaining().mul_f64(0.8);
        let config =
            AsyncConnectionConfig::new().set_connection_timeout(Some(remaining)).set_response_timeout(Some(remaining));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| server::classify(&e, &self.secrets()))
    }

    /// What was found before the stop stands; the rest is a gap.
    fn interrupted(mut self, stop: Stop) -> ProbeReport {
        let gap = match stop {
            Stop::Cancelled => Unverified::new("interrupted", "the audit was cancelled during the Redis check"),
            Stop::Deadline => {
                Unverified::new("timeout", format!("the Redis check did not finish within {}", ms(self.budget)))
            }
        };
        self.report.gap(gap);
        self.finish()
    }

    fn unreachable(mut self, failure: Failure, during: &str) -> ProbeReport {
        let f = match failure {
            Failure::Timeout => self
                .finding(
                    "redis-unreachable",
                    format!("{} gave no answer to {during} within {}", self.p.url, ms(self.budget)),
                )
                .fact("timeout_ms", self.budget.as_millis()),
            Failure::Unreachable(why) => {
                self.finding("redis-unreachable", format!("{} is unreachable ({during}): {why}", self.p.url))
            }
            Failure::AuthFailed(why) => {
                self.finding("redis-auth-failed", format!("{} rejected the credentials ({during}): {why}", self.p.url))
            }
            Failure::Other(why) => {
                let gap = Unverified::new("unexpected-reply", format!("{} answered {during} with: {why}", self.p.url));
                self.report.gap(gap);
                return self.finish();
            }
        };
        self.report.push(f);
        self.finish()
    }

    pub async fn run(mut self) -> ProbeReport {
        let creds = self.creds.clone();
        let mut con = match self.bounded(self.connect(&creds)).await {
            Err(Stop::Deadline) => return self.unreachable(Failure::Timeout, "the connection"),
            Err(stop) => return self.interrupted(stop),
            Ok(Err(Failure::AuthFailed(why))) => {
                // Also say whether the server would have let anyone in without credentials.
                if let Err(stop) = self.check_no_auth().await {
                    return self.interrupted(stop);
                }
                return self.unreachable(Failure::AuthFailed(why), "authentication");
            }
            Ok(Err(f)) => return self.unreachable(f, "the connection"),
            Ok(Ok(c)) => c,
        };

        // PING round trip on the established connection.
        let started = Instant::now();
        let ping = self.bounded(redis::cmd("PING").query_async::<String>(&mut con)).await;
        let rtt = started.elapsed();
        match ping {
            Err(Stop::Deadline) => return self.unreachable(Failure::Timeout, "PING"),
            Err(stop) => return self.interrupted(stop),
            Ok(Err(e)) => {
                let failure = match server::classify(&e, &self.secrets()) {
                    Failure::AuthFailed(why) if self.creds.password.is_none() => Failure::AuthFailed(format!(
                        "the server requires authentication and no password is configured ({why})"
                    )),
                    f => f,
                };
                if let Err(stop) = self.check_no_auth().await {
                    return self.interrupted(stop);
                }
                return self.unreachable(failure, "PING");
            }
            Ok(Ok(_)) => {}
        }
        self.report.fact("ping_ms", format!("{:.1}", rtt.as_secs_f64() * 1000.0));
        if let Some(max) = self.p.max_ping
            && rtt > max
        {
            let f = self
                .finding("redis-ping-slow", format!("PING took {} ms, above the {} bound", rtt.as_millis(), ms(max)))
                .fact("ping_ms", rtt.as_millis())
                .fact("max_ping_ms", max.as_millis());
            self.report.push(f);
        }

        let steps = async {
            self.check_no_auth().await?;
            self.check_config(&mut con).await?;
            self.check_replication(&mut con).await?;
            Ok::<(), Stop>(())
        };
        if let Err(stop) = steps.await {
            return self.interrupted(stop);
        }
        if let Err(stop) = self.roundtrip(&mut con).await {
            return self.interrupted(stop);
        }
        self.finish()
    }

    /// A separate connection without credentials must not get a PONG.
    async fn check_no_auth(&mut self) -> Result<(), Stop> {
        let bare = Credentials::default();
        let outcome = self
            .bounded(async {
                let mut con = self.connect(&bare).await?;
                redis::cmd("PING")
                    .query_async::<String>(&mut con)
                    .await
                    .map_err(|e| server::classify(&e, &self.secrets()))
            })
            .await?;
        match outcome {
            Ok(_) => {
                self.report.fact("unauthenticated_ping", "accepted");
                let f = self
                    .finding("redis-no-auth", format!("{} answers PING from a client without credentials", self.p.url));
                self.report.push(f);
            }
            Err(Failure::AuthFailed(_)) => self.report.fact("unauthenticated_ping", "refused"),
            Err(Failure::Timeout) => self.gaps.push("unauthenticated access (no answer in time)".into()),
            Err(Failure::Unreachable(why) | Failure::Other(why)) => {
                self.gaps.push(format!("unauthenticated access ({why})"))
            }
        }
        Ok(())
    }

    /// `CONFIG GET name` -> the value, or None when CONFIG is disabled, renamed or forbidden.
    async fn config_get(&self, con: &mut MultiplexedConnection, name: &str) -> Result<Option<String>, Stop> {
        let r = self.bounded(redis::cmd("CONFIG").arg("GET").arg(name).query_async::<Vec<String>>(con)).await?;
        Ok(match r {
            Ok(pair) if pair.len() == 2 && pair[0].eq_ignore_ascii_case(name) => Some(pair[1].clone()),
            _ => None,
        })
    }

    async fn info(&self, con: &mut MultiplexedConnection, section: &str) -> Result<Option<String>, Stop> {
        let r = self.bounded(redis::cmd("INFO").arg(section).query_async::<String>(con)).await?;
        Ok(r.ok())
    }

    /// Eviction policy and persistence: CONFIG GET, else INFO (managed Redis often disables CONFIG).
    async fn check_config(&mut self, con: &mut MultiplexedConnection) -> Result<(), Stop> {
        let mut policy = self.config_get(con, "maxmemory-policy").await?;
        let appendonly = self.config_get(con, "appendonly").await?;
        let save = self.config_get(con, "save").await?;
        let mut persistence = server::Persistence {
            appendonly: appendonly.as_deref().and_then(server::parse_yes_no),
            save_points: save.as_deref().map(server::has_save_points),
        };
        let config_ok = policy.is_some() && appendonly.is_some() && save.is_some();
        self.report.fact("config_source", if config_ok { "CONFIG GET" } else { "INFO (CONFIG GET unavailable)" });
        if policy.is_none() {
            let memory = self.info(con, "memory").await?.map(|t| server::parse_info(&t));
            policy = memory.and_then(|m| m.get("maxmemory_policy").cloned());
        }
        if persistence.appendonly.is_none() {
            let info = self.info(con, "persistence").await?.map(|t| server::parse_info(&t));
            persistence.appendonly = info.and_then(|m| m.get("aof_enabled").and_then(|v| server::parse_yes_no(v)));
        }
        if let Some(s) = &save {
            self.report.fact("save", if s.trim().is_empty() { "\"\"" } else { s.as_str() });
        }
        if let Some(a) = persistence.appendonly {
            self.report.fact("appendonly", if a { "yes" } else { "no" });
        }

        match policy {
            Some(policy) => {
                self.report.fact("maxmemory_policy", &policy);
                if !server::eviction_is_safe(&policy) {
                    let f = self
                        .finding(
                            "redis-eviction-unsafe",
                            format!(
                                "maxmemory-policy is {policy}: Redis may evict idempotency keys under memory pressure"
                            ),
                        )
                        .fact("maxmemory_policy", &policy);
                    self.report.push(f);
                }
            }
            None => self.gaps.push("eviction policy (neither CONFIG GET nor INFO memory answered)".into()),
        }
        match persistence.verdict() {
            PersistenceVerdict::On => {}
            PersistenceVerdict::Off => {
                let f = self
                    .finding(
                        "redis-persistence-off",
                        "appendonly is no and there are no RDB save points: a restart loses every idempotency key",
                    )
                    .fact("appendonly", "no")
                    .fact("save", "\"\"");
                self.report.push(f);
            }
            PersistenceVerdict::Unknown => self.gaps.push(
                "persistence (CONFIG GET unavailable; INFO persistence shows no AOF and does not list RDB save points)"
                    .into(),
            ),
        }
        Ok(())
    }

    async fn check_replication(&mut self, con: &mut MultiplexedConnection) -> Result<(), Stop> {
        let info = self.info(con, "replication").await?.map(|t| server::parse_info(&t));
        let Some(repl) = info.as_ref().and_then(server::parse_replication) else {
            if self.p.expected_replicas.is_some() {
                self.gaps.push("replication (INFO replication did not answer)".into());
            }
            return Ok(());
        };
        self.report.fact("role", &repl.role);
        self.report.fact("connected_replicas", repl.connected_replicas);
        self.report.fact("online_replicas", repl.online_replicas);
        let Some(expected) = self.p.expected_replicas else {
            return Ok(());
        };
        let message = if repl.role != "master" {
            Some(format!(
                "{} is a {} (role {}), not the primary with {expected} replicas",
                self.p.url, "replica", repl.role
            ))
        } else if repl.online_replicas != expected {
            Some(format!(
                "the primary has {} replicas online ({} connected), expected {expected}",
                repl.online_replicas, repl.connected_replicas
            ))
        } else {
            None
        };
        if let Some(message) = message {
            let f = self
                .finding("redis-replicas-mismatch", message)
                .fact("role", &repl.role)
                .fact("online_replicas", repl.online_replicas)
                .fact("connected_replicas", repl.connected_replicas)
                .fact("expected_replicas", expected);
            self.report.push(f);
        }
        Ok(())
    }

    /// `SET key val NX EX ttl`, `GET`, `TTL`, then `DEL`, which also runs when cancelled or out of
    /// time once the SET may have reached the server.
    async fn roundtrip(&mut self, con: &mut MultiplexedConnection) -> Result<(), Stop> {
        let key = self.p.key(&self.ctx.run_id, &self.ctx.item_id);
        let value = format!("{}-{}", self.ctx.run_id, std::process::id());
        let ttl = self.p.ttl.as_secs();
        self.report.fact("key", &key);
        let set_sent = AtomicBool::new(false);
        let mut c2 = con.clone();
        let steps = async {
            set_sent.store(true, Ordering::Relaxed);
            let set: Value =
                match redis::cmd("SET").arg(&key).arg(&value).arg("NX").arg("EX").arg(ttl).query_async(&mut c2).await {
                    Ok(v) => v,
                    Err(e) => {
                        // An error reply (READONLY, OOM, NOPERM) means nothing was written.
                        if e.code().is_some() {
                            set_sent.store(false, Ordering::Relaxed);
                        }
                        return Err(e);
                    }
                };
            if set == Value::Nil {
                set_sent.store(false, Ordering::Relaxed);
                return Ok(Err(format!("the key {key} already existed (SET NX did not write)")));
            }
            let got: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut c2).await?;
            if got.as_deref() != Some(value.as_str()) {
                return Ok(Err(format!(
                    "GET {key} returned {} instead of the value just written",
                    if got.is_some() { "another value" } else { "nothing" }
                )));
            }
            let left: i64 = redis::cmd("TTL").arg(&key).query_async(&mut c2).await?;
            if left <= 0 || left as u64 > ttl {
                return Ok(Err(format!("TTL {key} is {left}, expected 1..={ttl} seconds")));
            }
            Ok::<_, redis::RedisError>(Ok(left))
        };
        let outcome = self.bounded(steps).await;
        if set_sent.load(Ordering::Relaxed) {
            self.delete(con, &key, outcome.is_err()).await;
        }
        let outcome = outcome?;
        let problem = match outcome {
            Ok(Ok(left)) => {
                self.report.fact("roundtrip", "SET NX EX / GET / TTL / DEL ok");
                self.report.fact("ttl_seconds", left);
                None
            }
            Ok(Err(why)) => Some(why),
            Err(e) => {
                Some(format!("the round trip on {key} failed: {}", server::redact(&e.to_string(), &self.secrets())))
            }
        };
        if let Some(why) = problem {
            let f = self.finding("redis-roundtrip-failed", why).fact("key", &key);
            self.report.push(f);
        }
        Ok(())
    }

    async fn delete(&mut self, con: &mut MultiplexedConnection, key: &str, stopped: bool) {
        // After a cancel the engine still waits; after our own deadline only the reserve is left.
        let until = if stopped && self.ctx.cancel.is_cancelled() {
            Instant::now() + CLEANUP_TIMEOUT
        } else {
            self.hard_deadline.max(self.deadline)
        };
        let del = tokio::time::timeout_at(until, redis::cmd("DEL").arg(key).query_async::<i64>(con)).await;
        match del {
            Ok(Ok(_)) => self.report.fact("key_deleted", "yes"),
            _ => {
                // It still expires with its TTL.
                self.report.fact("key_deleted", format!("no (expires within {}s)", self.p.ttl.as_secs()));
                if !stopped {
                    let f = self
                        .finding("redis-roundtrip-failed", format!("DEL {key} failed; the key expires with its TTL"))
                        .fact("key", key);
                    self.report.push(f);
                }
            }
        }
    }

    /// The parts that could not be checked go to the report as gaps; the decision weighs them.
    fn finish(mut self) -> ProbeReport {
        for g in std::mem::take(&mut self.gaps) {
            self.report.gap(Unverified::new("partly-unverified", format!("not verified: {g}")));
        }
        self.report
    }
}
