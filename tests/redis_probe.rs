//! The `redis` probe against real redis-server processes on 127.0.0.1 (tests/support): one case
//! that triggers each finding code and one that does not, cleanup of the scratch key (also on
//! cancel), the INFO fallback when CONFIG is forbidden, and that the password never leaks.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use kgents_gate::outcome::ProbeReport;
use kgents_gate::probe::{ProbeContext, ProbeKind, ProbeSpec};
use support::redis::raw_command;
use support::{Redis, RedisOptions, RedisSave};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn spec(params: &str) -> ProbeSpec {
    let t: toml::Table = toml::from_str(params).unwrap();
    ProbeSpec::parse(ProbeKind::Redis, &t).unwrap()
}

/// A context whose base dir holds the password file `pw` (when a password is given).
fn ctx(dir: &Path, password: Option<&str>) -> ProbeContext {
    if let Some(pw) = password {
        std::fs::write(dir.join("pw"), format!("{pw}\n")).unwrap();
    }
    ProbeContext::standalone(dir, Duration::from_secs(10))
}

fn params(port: u16, password: bool, extra: &str) -> String {
    let pw = if password { "password_file = \"pw\"\n" } else { "" };
    format!("url = \"redis://127.0.0.1:{port}/0\"\ntimeout = \"5s\"\n{pw}{extra}")
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

async fn healthy(password: &str) -> Redis {
    Redis::start(RedisOptions {
        password: Some(password.into()),
        maxmemory_policy: Some("noeviction".into()),
        appendonly: true,
        save: RedisSave::Disabled,
        ..Default::default()
    })
    .await
}

async fn keys_with_prefix(url: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS").arg("kgents-gate:probe:*").query_async(&mut con).await.unwrap()
}

#[tokio::test]
async fn healthy_server_passes_and_the_scratch_key_is_gone() {
    let pw = support::random_hex(12);
    let redis = healthy(&pw).await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path(), Some(&pw));
    let r = spec(&params(redis.port(), true, "max_ping = \"1s\"\nexpected_replicas = 0")).run(&ctx).await;
    assert_pass(&r);
    assert_eq!(fact(&r, "unauthenticated_ping"), Some("refused"));
    assert_eq!(fact(&r, "maxmemory_policy"), Some("noeviction"));
    assert_eq!(fact(&r, "config_source"), Some("CONFIG GET"));
    assert_eq!(fact(&r, "role"), Some("master"));
    assert_eq!(fact(&r, "key_deleted"), Some("yes"));
    assert_eq!(fact(&r, "key"), Some(format!("kgents-gate:probe:{}", ctx.run_id).as_str()));
    assert!(keys_with_prefix(&redis.url()).await.is_empty());
    // The same, seen by a plain RESP client: authenticated, the key does not exist.
    let reply = raw_command(redis.port(), &["EXISTS", &format!("kgents-gate:probe:{}", ctx.run_id)]).await.unwrap();
    assert!(reply.starts_with("-NOAUTH"), "{reply}");
}

#[tokio::test]
async fn server_without_password_is_redis_no_auth() {
    let redis = Redis::start(RedisOptions {
        maxmemory_policy: Some("noeviction".into()),
        appendonly: true,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path(), None);
    let r = spec(&params(redis.port(), false, "")).run(&ctx).await;
    assert_eq!(codes(&r), ["redis-no-auth"], "{r:#?}");
    assert_eq!(fact(&r, "unauthenticated_ping"), Some("accepted"));
    // The round trip still ran and cleaned up after itself.
    assert_eq!(fact(&r, "key_deleted"), Some("yes"));
    let reply = raw_command(redis.port(), &["EXISTS", &format!("kgents-gate:probe:{}", ctx.run_id)]).await.unwrap();
    assert_eq!(reply, ":0\r\n");
}

#[tokio::test]
async fn wrong_password_is_auth_failed_not_unreachable() {
    let pw = support::random_hex(12);
    let redis = healthy(&pw).await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = format!("wrong-{}", support::random_hex(6));
    let r = spec(&params(redis.port(), true, "")).run(&ctx(dir.path(), Some(&wrong))).await;
    assert_eq!(codes(&r), ["redis-auth-failed"], "{r:#?}");
    assert!(!format!("{r:?}").contains(&wrong));
    // Credentials required but none configured: also auth-failed, with the reason.
    let r = spec(&params(redis.port(), false, "")).run(&ctx(dir.path(), None)).await;
    assert_eq!(codes(&r), ["redis-auth-failed"], "{r:#?}");
    assert!(r.findings()[0].message.contains("no password is configured"), "{}", r.findings()[0].message);
}

#[tokio::test]
async fn acl_user_without_config_falls_back_to_info() {
    let pw = support::random_hex(12);
    let redis = Redis::start(RedisOptions {
        password: Some(pw.clone()),
        maxmemory_policy: Some("volatile-lru".into()),
        appendonly: false,
        save: RedisSave::Default,
        ..Default::default()
    })
    .await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let user_pw = support::random_hex(12);
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "billing", "on", &format!(">{user_pw}"), "~*", "+@all", "-config"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path(), Some(&user_pw));
    let r = spec(&params(redis.port(), true, "username = \"billing\"")).run(&ctx).await;
    // volatile-lru is safe; INFO shows no AOF and cannot show the RDB save points: unverified.
    assert!(r.findings().is_empty(), "{r:#?}");
    assert_eq!(fact(&r, "config_source"), Some("INFO (CONFIG GET unavailable)"));
    assert_eq!(fact(&r, "maxmemory_policy"), Some("volatile-lru"));
    let u = r.first_gap().expect("persistence cannot be verified from INFO alone");
    assert!(u.reason.contains("persistence"), "{}", u.reason);
    assert_eq!(fact(&r, "key_deleted"), Some("yes"));

    // With AOF on, INFO is enough: pass.
    let _: () = redis::cmd("CONFIG").arg(&["SET", "appendonly", "yes"]).query_async(&mut admin).await.unwrap();
    let r = spec(&params(redis.port(), true, "username = \"billing\"")).run(&ctx).await;
    assert_pass(&r);
    assert_eq!(fact(&r, "appendonly"), Some("yes"));

    // A wrong ACL user is auth-failed.
    let r = spec(&params(redis.port(), true, "username = \"nobody\"")).run(&ctx).await;
    assert_eq!(codes(&r), ["redis-auth-failed"], "{r:#?}");

    // A definite finding beside what INFO cannot show: both are reported (the decision fails the
    // item on the finding; docs/decision.md).
    let _: () = redis::cmd("CONFIG").arg(&["SET", "appendonly", "no"]).query_async(&mut admin).await.unwrap();
    let _: () =
        redis::cmd("CONFIG").arg(&["SET", "maxmemory-policy", "allkeys-lru"]).query_async(&mut admin).await.unwrap();
    let r = spec(&params(redis.port(), true, "username = \"billing\"")).run(&ctx).await;
    assert_eq!(codes(&r), ["redis-eviction-unsafe"], "{r:#?}");
    assert!(r.first_gap().is_some_and(|g| g.reason.contains("persistence")), "{r:#?}");
}

#[tokio::test]
async fn allkeys_lru_is_eviction_unsafe() {
    let pw = support::random_hex(12);
    let redis = Redis::start(RedisOptions {
        password: Some(pw.clone()),
        maxmemory: Some("64mb".into()),
        maxmemory_policy: Some("allkeys-lru".into()),
        appendonly: true,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let r = spec(&params(redis.port(), true, "")).run(&ctx(dir.path(), Some(&pw))).await;
    assert_eq!(codes(&r), ["redis-eviction-unsafe"], "{r:#?}");
    let ev = &r.findings()[0].evidence;
    assert!(ev.iter().any(|f| f.name == "maxmemory_policy" && f.value == "allkeys-lru"), "{ev:?}");
}

#[tokio::test]
async fn persistence_off_and_rdb_only() {
    let pw = support::random_hex(12);
    let off = Redis::start(RedisOptions {
        password: Some(pw.clone()),
        maxmemory_policy: Some("noeviction".into()),
        appendonly: false,
        save: RedisSave::Disabled,
        ..Default::default()
    })
    .await;
    let rdb = Redis::start(RedisOptions {
        password: Some(pw.clone()),
        maxmemory_policy: Some("noeviction".into()),
        appendonly: false,
        save: RedisSave::Schedule("3600 1 300 100".into()),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path(), Some(&pw));
    let r = spec(&params(off.port(), true, "")).run(&ctx).await;
    assert_eq!(codes(&r), ["redis-persistence-off"], "{r:#?}");
    let r = spec(&params(rdb.port(), true, "")).run(&ctx).await;
    assert_pass(&r);
    assert_eq!(fact(&r, "save"), Some("3600 1 300 100"));
}

fn port_of(url: &str) -> u16 {
    url.trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn replicas_are_counted_and_a_replica_is_not_the_primary() {
    let pw = support::random_hex(12);
    let redis = Redis::start(RedisOptions {
        password: Some(pw.clone()),
        maxmemory_policy: Some("noeviction".into()),
        appendonly: true,
        replica: true,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path(), Some(&pw));
    let r = spec(&params(redis.port(), true, "expected_replicas = 1")).run(&ctx).await;
    assert_pass(&r);
    assert_eq!(fact(&r, "online_replicas"), Some("1"));

    let r = spec(&params(redis.port(), true, "expected_replicas = 2")).run(&ctx).await;
    assert_eq!(codes(&r), ["redis-replicas-mismatch"], "{r:#?}");
    let ev = &r.findings()[0].evidence;
    assert!(ev.iter().any(|f| f.name == "role" && f.value == "master"), "{ev:?}");

    // Pointed at the replica: the role is wrong and the write is refused (READONLY).
    let replica_port = port_of(&redis.replica_url().unwrap());
    let r = spec(&params(replica_port, true, "expected_replicas = 1")).run(&ctx).await;
    assert_eq!(codes(&r), ["redis-replicas-mismatch", "redis-roundtrip-failed"], "{r:#?}");
    assert_eq!(fact(&r, "role"), Some("slave"));
}

#[tokio::test]
async fn closed_port_is_unreachable_within_the_timeout() {
    let port = support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let r = spec(&params(port, false, "")).run(&ctx(dir.path(), None)).await;
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(codes(&r), ["redis-unreachable"], "{r:#?}");
    assert!(r.first_gap().is_none());
}

#[tokio::test]
async fn offline_is_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(dir.path(), None);
    ctx.offline = true;
    let r = spec(&params(6379, false, "")).run(&ctx).await;
    assert_eq!(r.first_gap().map(|u| u.code.as_str()), Some("offline"));
    assert!(r.findings().is_empty());
}

/// A TCP proxy in front of a real server that holds every server reply for `delay`.
async fn delaying_proxy(upstream: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut sw).await;
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn slow_ping_is_reported_with_the_measured_time() {
    let pw = support::random_hex(12);
    let redis = healthy(&pw).await;
    // Bounds apart, so a loaded machine cannot blur them (every command pays the delay, and the
    // whole probe must still fit its 5 s timeout).
    let proxy = delaying_proxy(redis.port(), Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path(), Some(&pw));
    let r = spec(&params(proxy, true, "max_ping = \"100ms\"")).run(&ctx).await;
    assert_eq!(codes(&r), ["redis-ping-slow"], "{r:#?}");
    let ms: u128 = r.findings()[0].evidence.iter().find(|f| f.name == "ping_ms").unwrap().value.parse().unwrap();
    assert!(ms >= 200, "{ms}");
    // Directly, the same server is well within the bound.
    let r = spec(&params(redis.port(), true, "max_ping = \"100ms\"")).run(&ctx).await;
    assert_pass(&r);
}

#[tokio::test]
async fn cancel_during_the_round_trip_deletes_the_key() {
    let pw = support::random_hex(12);
    let redis = healthy(&pw).await;
    let proxy = delaying_proxy(redis.port(), Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path(), Some(&pw));
    let key = format!("kgents-gate:probe:{}", ctx.run_id);
    let cancel = ctx.cancel.clone();
    let probe = tokio::spawn({
        let spec = spec(&params(proxy, true, ""));
        let ctx = ctx.clone();
        async move { spec.run(&ctx).await }
    });
    // Cancel as soon as the key exists on the server (the probe sees the SET reply 250 ms later).
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    support::eventually("the scratch key", Duration::from_secs(8), || {
        let mut con = con.clone();
        let key = key.clone();
        async move {
            let n: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut con).await.map_err(|e| e.to_string())?;
            if n == 1 { Ok(()) } else { Err("not yet".to_string()) }
        }
    })
    .await;
    cancel.cancel();
    let r = probe.await.unwrap();
    assert_eq!(r.first_gap().map(|u| u.code.as_str()), Some("interrupted"), "{r:#?}");
    assert_eq!(fact(&r, "key_deleted"), Some("yes"), "{r:#?}");
    let n: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut con).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_password_never_appears_in_any_report() {
    let pw = format!("canary-{}", support::random_hex(12));
    let redis = healthy(&pw).await;
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    // Healthy, wrong password (the canary sent to a server expecting another), and down.
    reports.push(spec(&params(redis.port(), true, "")).run(&ctx(dir.path(), Some(&pw))).await);
    let other = healthy(&support::random_hex(12)).await;
    reports.push(spec(&params(other.port(), true, "")).run(&ctx(dir.path(), Some(&pw))).await);
    reports.push(spec(&params(support::free_port(), true, "")).run(&ctx(dir.path(), Some(&pw))).await);
    assert_pass(&reports[0]);
    assert_eq!(codes(&reports[1]), ["redis-auth-failed"]);
    assert_eq!(codes(&reports[2]), ["redis-unreachable"]);
    for r in &reports {
        let shown = format!("{r:?} {r:#?}");
        assert!(!shown.contains(&pw), "password leaked: {shown}");
        for f in r.findings() {
            assert!(!f.message.contains(&pw) && f.evidence.iter().all(|e| !e.value.contains(&pw)));
        }
    }
    // A URL with the canary inside is refused when the checklist is read, without echoing it.
    let t: toml::Table = toml::from_str(&format!("url = \"redis://:{pw}@127.0.0.1:1/0\"")).unwrap();
    let errs = ProbeSpec::parse(ProbeKind::Redis, &t).unwrap_err();
    assert!(errs.iter().all(|e| !e.message.contains(&pw)), "{errs:?}");
}

#[tokio::test]
async fn silent_server_is_unreachable_within_the_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    for password in [false, true] {
        let started = Instant::now();
        let url = format!("url = \"redis://127.0.0.1:{port}/0\"\ntimeout = \"1s\"\n");
        let extra = if password { "password_file = \"pw\"" } else { "" };
        let r = spec(&format!("{url}{extra}")).run(&ctx(dir.path(), Some("pw-not-used"))).await;
        assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
        assert_eq!(codes(&r), ["redis-unreachable"], "{r:#?}");
    }
}

/// `kgents-gate audit` with one redis item, the password in the environment.
fn audit_with_redis(port: u16, password: &str) -> (std::process::Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("checks")).unwrap();
    std::fs::write(dir.path().join("checks/redis.toml"), include_str!("../checks/redis.toml")).unwrap();
    let checklist = format!(
        "[launch]\nname = \"redis cli test\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"dr\"\ntitle = \"Disaster recovery\"\n\n\
         [[item]]\nid = \"dr.redis\"\ncategory = \"dr\"\ntitle = \"idempotency store\"\ncheck = \"redis.idempotency-store\"\nowner = \"billing\"\n\
         [item.with]\nurl = \"redis://127.0.0.1:{port}/0\"\npassword_env = \"KGENTS_TEST_REDIS_PASSWORD\"\nmax_ping = \"1s\"\n"
    );
    std::fs::write(dir.path().join("checklist.toml"), checklist).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kgents-gate"))
        .args(["audit", "--out-dir", "out", "--format", "json"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir.path())
        .env("KGENTS_TEST_REDIS_PASSWORD", password)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(dir.path().join("out/kgents-gate-report.json")).unwrap_or_default();
    assert!(!report.contains(password), "password in the JSON report");
    (out, serde_json::from_str(&report).unwrap())
}

#[tokio::test]
async fn audit_exits_0_on_a_healthy_server_and_1_on_allkeys_lru() {
    let pw = format!("canary-{}", support::random_hex(10));
    let good = healthy(&pw).await;
    let bad = Redis::start(RedisOptions {
        password: Some(pw.clone()),
        maxmemory_policy: Some("allkeys-lru".into()),
        appendonly: true,
        ..Default::default()
    })
    .await;
    for (port, expected, outcome) in [(good.port(), 0, "pass"), (bad.port(), 1, "fail")] {
        let (out, report) = audit_with_redis(port, &pw);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(expected), "{stdout}\n{stderr}");
        let item = &report["items"][0];
        assert_eq!(item["outcome"], outcome, "{item:#}");
        if expected == 1 {
            assert_eq!(item["code"], "redis-eviction-unsafe", "{item:#}");
        }
        assert!(!stdout.contains(&pw) && !stderr.contains(&pw), "password leaked");
    }
}
