//! Canary test of the one redaction rule (docs/redaction.md): a distinct random credential in
//! every parameter of every probe kind that takes a URL, a header, a token or a password, in the
//! three ways they reach the gate: written into the checklist where it is refused, written into a
//! URL's query where it is accepted, and held in the environment or a file where it belongs. The
//! binary runs against real NATS, Redis and Prometheus servers and a local HTTP server; stdout,
//! stderr at -vvv (and with every library's trace logs) and all four report files must never
//! show a canary, raw, in base64 (padded or not) or URL-encoded.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;
use serde_json::Value;
use support::{NatsAuth, NatsCluster, NatsOptions, Prometheus, PrometheusOptions, Redis, RedisOptions, random_hex};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

/// Canaries by the place they are planted in; each looks like a real credential (mixed case,
/// digits) so no heuristic of the gate lets it pass as harmless.
struct Canaries(Vec<(&'static str, String)>);

impl Canaries {
    fn new(places: &[&'static str]) -> Self {
        Canaries(
            places.iter().map(|p| (*p, format!("Kg7x{}Q9{}", random_hex(10), random_hex(6).to_uppercase()))).collect(),
        )
    }
    fn get(&self, place: &str) -> &str {
        &self.0.iter().find(|(p, _)| *p == place).expect("a planted canary").1
    }
    /// The places whose canary `text` shows in any form.
    fn found(&self, text: &str) -> Vec<&'static str> {
        let std = base64::engine::general_purpose::STANDARD;
        let no_pad = base64::engine::general_purpose::STANDARD_NO_PAD;
        self.0
            .iter()
            .filter(|(_, c)| {
                let url_encoded: String = c
                    .bytes()
                    .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                    .collect();
                [c.clone(), std.encode(c), no_pad.encode(c), url_encoded].iter().any(|f| text.contains(f.as_str()))
            })
            .map(|(p, _)| *p)
            .collect()
    }
    fn assert_absent(&self, what: &str, text: &str) {
        // The failure names the places only, so the message does not spread the values.
        assert!(self.found(text).is_empty(), "{what} shows the canaries of {:?}", self.found(text));
    }
}

fn header(categories: &str) -> String {
    format!("[launch]\nname = \"canary\"\napprovers = [\"lead\"]\n\n{categories}")
}

fn item(id: &str, check: &str, with: &str) -> String {
    format!(
        "[[item]]\nid = \"{id}\"\ncategory = \"c\"\ntitle = \"{id}\"\ncheck = \"{check}\"\nseverity = \"blocking\"\nowner = \"o\"\ntimeout = \"20s\"\n[item.with]\n{with}\n\n"
    )
}

/// Runs the binary in `dir`; `env` sets variables, `rust_log` RUST_LOG.
fn gate(dir: &Path, args: &[&str], env: &[(&str, String)], rust_log: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("HOME", dir).env_remove("KUBECONFIG").env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    match rust_log {
        Some(l) => cmd.env("RUST_LOG", l),
        None => cmd.env_remove("RUST_LOG"),
    };
    cmd.output().unwrap()
}

fn check_output(c: &Canaries, what: &str, out: &Output) {
    c.assert_absent(&format!("{what}: stdout"), &String::from_utf8_lossy(&out.stdout));
    c.assert_absent(&format!("{what}: stderr"), &String::from_utf8_lossy(&out.stderr));
}

fn report_files(c: &Canaries, what: &str, dir: &Path) -> Value {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        c.assert_absent(&format!("{what}: {}", p.display()), &String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        n += 1;
    }
    assert_eq!(n, 3, "{what}: markdown, json and junit written");
    serde_json::from_str(&std::fs::read_to_string(dir.join("kgents-gate-report.json")).unwrap()).unwrap()
}

fn item_of<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no item {id}"))
}

const LOGS: &[(&[&str], Option<&str>)] = &[(&["-vvv"], None), (&[], Some("trace"))];

/// Credentials written where the checklist refuses them: every refusal is reported (exit 2, one
/// diagnostic per place) and none shows the value, not in the message, not in the source line.
#[test]
fn credentials_written_into_the_checklist_are_refused_without_being_shown() {
    let places = [
        "http-url-userinfo",
        "http-header-value",
        "nats-url-userinfo",
        "nats-monitor-userinfo",
        "nats-exporter-userinfo",
        "nats-token-env",
        "prom-url-userinfo",
        "prom-token-env",
        "prom-password-env",
        "slo-url-userinfo",
        "slo-token-env",
        "exporter-url-userinfo",
        "redis-url-password",
        "redis-password-env",
    ];
    let c = Canaries::new(&places);
    let v = |p: &str| c.get(p).to_string();
    let mut text = header("[[category]]\nid = \"c\"\ntitle = \"C\"\n\n");
    text += &item(
        "http.a",
        "http.endpoint",
        &format!("url = \"https://admin:{}@h.example/health\"", v("http-url-userinfo")),
    );
    text += &item(
        "http.b",
        "http.endpoint",
        &format!("url = \"https://h.example/\"\nheaders = {{ Authorization = \"Bearer {}\" }}", v("http-header-value")),
    );
    text += &item(
        "nats.a",
        "nats.cluster",
        &format!(
            "url = \"nats://u:{}@n.example:4222\"\nmonitor_url = \"http://m:{}@n.example:8222\"\nexporter_url = \"http://e:{}@n.example:7777/metrics\"",
            v("nats-url-userinfo"),
            v("nats-monitor-userinfo"),
            v("nats-exporter-userinfo")
        ),
    );
    text += &item(
        "nats.b",
        "nats.cluster",
        &format!(
            "url = \"nats://n.example:4222\"\nmonitor_url = \"http://n.example:8222\"\ntoken_env = \"{}\"",
            v("nats-token-env")
        ),
    );
    text += &item(
        "prom.a",
        "observability.alert-rules",
        &format!("prometheus_url = \"http://ops:{}@prom.example:9090\"", v("prom-url-userinfo")),
    );
    text += &item(
        "prom.b",
        "observability.alert-rules",
        &format!("prometheus_url = \"http://prom.example:9090\"\ntoken_env = \"{}\"", v("prom-token-env")),
    );
    text += &item(
        "prom.c",
        "observability.alert-rules",
        &format!(
            "prometheus_url = \"http://prom.example:9090\"\nusername_env = \"PROM_USER\"\npassword_env = \"{}\"",
            v("prom-password-env")
        ),
    );
    let objective = "objectives = [{ name = \"up\", query = \"up\", min = 1 }]";
    text += &item(
        "slo.a",
        "slo.objectives",
        &format!("prometheus_url = \"http://ops:{}@prom.example:9090\"\n{objective}", v("slo-url-userinfo")),
    );
    text += &item(
        "slo.b",
        "slo.objectives",
        &format!("prometheus_url = \"http://prom.example:9090\"\ntoken_env = \"{}\"\n{objective}", v("slo-token-env")),
    );
    text += &item(
        "prom.d",
        "observability.alert-rules",
        &format!(
            "prometheus_url = \"http://prom.example:9090\"\nexporters = [{{ url = \"http://e:{}@nats.example:7777/metrics\" }}]",
            v("exporter-url-userinfo")
        ),
    );
    text += &item(
        "redis.a",
        "redis.idempotency-store",
        &format!("url = \"redis://:{}@r.example:6379\"", v("redis-url-password")),
    );
    text += &item(
        "redis.b",
        "redis.idempotency-store",
        &format!("url = \"redis://r.example:6379\"\npassword_env = \"{}\"", v("redis-password-env")),
    );
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("checklist.toml"), &text).unwrap();
    assert_eq!(c.found(&text).len(), places.len(), "every canary is planted");
    for args in [vec!["validate"], vec!["audit", "--offline", "--out-dir", "out"]] {
        for (verbosity, log) in LOGS {
            let mut a = args.clone();
            a.extend_from_slice(verbosity);
            let what = format!("{a:?} RUST_LOG={log:?}");
            let out = gate(ws.path(), &a, &[], *log);
            assert_eq!(out.status.code(), Some(2), "{what}");
            check_output(&c, &what, &out);
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Each refusal is there, pointing at its line, with the key readable.
            assert!(stderr.matches("--> checklist.toml:").count() >= places.len(), "{what}: {stderr}");
            for key in ["url", "headers", "monitor_url", "exporter_url", "token_env", "prometheus_url", "password_env"]
            {
                assert!(stderr.contains(&format!("{key} = ")), "{what}: the key {key} is shown: {stderr}");
            }
        }
    }
    assert!(!ws.path().join("out").exists(), "nothing is checked with an invalid checklist");
}

/// The same credentials given with `--set ITEM.PARAM=VALUE` instead: refused with the flag named
/// and the value never shown; where a URL's query holds it, the audit runs and no output shows it.
#[test]
fn credentials_set_on_the_command_line_are_refused_or_kept_out_of_every_output() {
    let c = Canaries::new(&["nats-url-userinfo", "redis-url-password", "http-query"]);
    let v = |p: &str| c.get(p).to_string();
    let mut text = header("[[category]]\nid = \"c\"\ntitle = \"C\"\n\n");
    text += &item("nats.a", "nats.cluster", "url = \"nats://n.example:4222\"\nmonitor_url = \"http://n.example:8222\"");
    text += &item("redis.a", "redis.idempotency-store", "url = \"redis://r.example:6379\"");
    text += &item("http.a", "http.endpoint", "url = \"https://h.example/health\"");
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("checklist.toml"), &text).unwrap();
    let refused = [
        format!("--set=nats.a.url=nats://u:{}@127.0.0.1:4222", v("nats-url-userinfo")),
        format!("--set=redis.a.url=redis://:{}@127.0.0.1:6379", v("redis-url-password")),
    ];
    for (verbosity, log) in LOGS {
        let mut a = vec!["audit", "--offline", "--out-dir", "out"];
        a.extend(refused.iter().map(String::as_str));
        a.extend_from_slice(verbosity);
        let out = gate(ws.path(), &a, &[], *log);
        let what = format!("--set refused {verbosity:?} RUST_LOG={log:?}");
        assert_eq!(out.status.code(), Some(2), "{what}");
        check_output(&c, &what, &out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        for flag in ["--set nats.a.url", "--set redis.a.url"] {
            assert!(stderr.contains(flag), "{what}: {flag} named: {stderr}");
        }
    }
    let query = format!("--set=http.a.url=https://127.0.0.1:9/health?token={}", v("http-query"));
    let out = gate(ws.path(), &["audit", "--only", "http.a", "--out-dir", "out2", query.as_str(), "-vvv"], &[], None);
    check_output(&c, "--set with a query", &out);
    assert_ne!(
        out.status.code(),
        Some(2),
        "a query credential is accepted (redacted): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = report_files(&c, "--set with a query", &ws.path().join("out2"));
    let notes = report["notes"].to_string();
    assert!(notes.contains("http.a.url"), "the report names the key set on the command line: {notes}");
}

/// A small HTTP server on 127.0.0.1 that answers every request 503 and records what it got.
async fn http_server() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = s
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, rx)
}

/// Credentials where they belong (environment variables and files) and in URL queries: the
/// checks run against real servers, the credentials are used (the servers refuse the wrong
/// ones, the HTTP server receives the header), and no output shows any of them.
#[tokio::test]
async fn credentials_used_by_live_checks_never_reach_an_output() {
    let places = [
        "http-query-token",
        "http-header-env",
        "nats-token-env",
        "nats-monitor-query",
        "nats-exporter-query",
        "nats-creds-file",
        "prom-query-token",
        "prom-token-env",
        "prom-token-file",
        "slo-query-token",
        "exporter-query-token",
        "redis-password-env",
        "redis-password-file",
    ];
    let c = Canaries::new(&places);
    let v = |p: &str| c.get(p).to_string();
    let (http_port, mut received) = http_server().await;
    let nats = NatsCluster::start(NatsOptions {
        nodes: 1,
        auth: NatsAuth::Token("the-real-token-9f2".into()),
        ..NatsOptions::default()
    })
    .await;
    let redis =
        Redis::start(RedisOptions { password: Some("the-real-password-7c1".into()), ..Default::default() }).await;
    let prom = Prometheus::start(PrometheusOptions::default()).await;
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("prom-token"), v("prom-token-file")).unwrap();
    std::fs::write(ws.path().join("redis-password"), v("redis-password-file")).unwrap();
    // A creds file whose JWT part is the canary: it is not a valid NATS credential.
    std::fs::write(
        ws.path().join("nats.creds"),
        format!("-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n", v("nats-creds-file")),
    )
    .unwrap();
    let monitor = nats.monitor_url(0);
    let mut text = header("[[category]]\nid = \"c\"\ntitle = \"C\"\n\n");
    text += &item(
        "http.query",
        "http.endpoint",
        &format!(
            "url = \"http://127.0.0.1:{http_port}/health?token={}&zone=eu\"\nheaders = {{ Authorization = \"HTTP_AUTH\" }}",
            v("http-query-token")
        ),
    );
    text += &item(
        "nats.token",
        "nats.cluster",
        &format!(
            "url = \"{}\"\nmonitor_url = \"{monitor}/?token={}\"\nexporter_url = \"http://127.0.0.1:{http_port}/metrics?sig={}\"\ntoken_env = \"NATS_TOKEN\"\ncluster_size = 1",
            nats.client_url(0),
            v("nats-monitor-query"),
            v("nats-exporter-query")
        ),
    );
    text += &item(
        "nats.creds",
        "nats.cluster",
        &format!(
            "url = \"{}\"\nmonitor_url = \"{monitor}\"\ncreds_file = \"nats.creds\"\ncluster_size = 1",
            nats.client_url(0)
        ),
    );
    text += &item(
        "prom.env",
        "observability.alert-rules",
        &format!("prometheus_url = \"{}/?token={}\"\ntoken_env = \"PROM_TOKEN\"", prom.url(), v("prom-query-token")),
    );
    text += &item(
        "prom.file",
        "observability.alert-rules",
        &format!("prometheus_url = \"{}\"\ntoken_file = \"prom-token\"", prom.url()),
    );
    text += &item(
        "prom.exporter",
        "observability.alert-rules",
        &format!(
            "prometheus_url = \"{}\"\ncan_fire = \"all\"\nexporters = [{{ url = \"http://127.0.0.1:{http_port}/metrics?token={}\" }}]",
            prom.url(),
            v("exporter-query-token")
        ),
    );
    let objective = "objectives = [{ name = \"one\", query = \"vector(1)\", max = 2 }]";
    text += &item(
        "slo.env",
        "slo.objectives",
        &format!(
            "prometheus_url = \"{}/?token={}\"\ntoken_env = \"PROM_TOKEN\"\n{objective}",
            prom.url(),
            v("slo-query-token")
        ),
    );
    text += &item(
        "slo.file",
        "slo.objectives",
        &format!("prometheus_url = \"{}\"\ntoken_file = \"prom-token\"\n{objective}", prom.url()),
    );
    text += &item(
        "redis.env",
        "redis.idempotency-store",
        &format!("url = \"redis://127.0.0.1:{}\"\npassword_env = \"REDIS_PASSWORD\"", redis.port()),
    );
    text += &item(
        "redis.file",
        "redis.idempotency-store",
        &format!("url = \"redis://127.0.0.1:{}\"\npassword_file = \"redis-password\"", redis.port()),
    );
    std::fs::write(ws.path().join("checklist.toml"), &text).unwrap();
    let env = vec![
        ("HTTP_AUTH", format!("Bearer {}", v("http-header-env"))),
        ("NATS_TOKEN", v("nats-token-env")),
        ("PROM_TOKEN", v("prom-token-env")),
        ("REDIS_PASSWORD", v("redis-password-env")),
    ];
    for (i, (verbosity, log)) in LOGS.iter().enumerate() {
        let out_dir = format!("out-{i}");
        let mut args = vec!["audit", "--format", "terminal,markdown,json,junit", "--out-dir", &out_dir];
        args.extend_from_slice(verbosity);
        let what = format!("audit {args:?} RUST_LOG={log:?}");
        let ws_path = ws.path().to_path_buf();
        let (args_owned, env_owned) = (args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), env.clone());
        let log = *log;
        let out = tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args_owned.iter().map(String::as_str).collect();
            gate(&ws_path, &a, &env_owned, log)
        })
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(1), "{what}: {}", String::from_utf8_lossy(&out.stderr));
        check_output(&c, &what, &out);
        let report = report_files(&c, &what, &ws.path().join(&out_dir));
        // Each check used its credentials and was judged on what the servers said.
        let codes = |id: &str| -> Vec<String> {
            item_of(&report, id)["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["code"].as_str().unwrap().to_string())
                .collect()
        };
        assert!(
            codes("http.query").contains(&"http-status-unexpected".to_string()),
            "{what}: {:#}",
            item_of(&report, "http.query")
        );
        assert!(
            codes("nats.token").contains(&"nats-auth-failed".to_string()),
            "{what}: {:#}",
            item_of(&report, "nats.token")
        );
        assert!(codes("redis.env").contains(&"redis-auth-failed".to_string()), "{what}");
        assert!(codes("redis.file").contains(&"redis-auth-failed".to_string()), "{what}");
        assert_ne!(item_of(&report, "nats.creds")["outcome"], "pass", "{what}");
        // Prometheus has no auth: a bearer token is sent and ignored, the rules are judged.
        for id in ["prom.env", "prom.file", "slo.env", "slo.file"] {
            assert!(item_of(&report, id)["gaps"].as_array().unwrap().is_empty(), "{what}: {:#}", item_of(&report, id));
        }
        assert_eq!(item_of(&report, "slo.env")["outcome"], "pass", "{what}");
        let exporter = item_of(&report, "prom.exporter");
        assert_eq!(exporter["gaps"][0]["code"], "exporter-unreadable", "{what}: {exporter:#}");
        assert!(exporter["gaps"][0]["reason"].as_str().unwrap().contains("metrics?token=****"), "{what}: {exporter:#}");
        // The URLs are shown, with the query values masked.
        let json = report.to_string();
        assert!(json.contains("health?token=****&zone=eu"), "{what}: the URL is shown masked");
    }
    // The credentials did go out: the HTTP server saw the header and the query token.
    let mut seen = String::new();
    while let Ok(r) = received.try_recv() {
        seen.push_str(&r);
    }
    assert!(seen.contains(&v("http-header-env")) && seen.contains(&v("http-query-token")), "the probe sent them");
}
