//! Against a real Prometheus (/usr/bin/prometheus on 127.0.0.1): rules loaded and healthy, an
//! evaluation error with its lastError, a critical alert firing, a rule in a ConfigMap that
//! Prometheus never loaded, TLS with a custom CA and basic auth, and Prometheus down or hanging.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kgents_gate::outcome::{Finding, Level};
use kgents_gate::probe::ParamReader;
use kgents_gate::prometheus::api::AlertState;
use kgents_gate::prometheus::{Auth, AuthSpec, PromApiError, PrometheusClient, PrometheusEndpoint, Secret};
use kgents_gate::rules::evaluate::{evaluate, fetch_snapshot};
use kgents_gate::rules::params::AlertRulesParams;
use kgents_gate::rules::{codes, judge, lint::ExpectedAlert};

const RULES: &str = r#"
groups:
- name: kgents
  interval: 1s
  rules:
  - alert: CriticalAlwaysFiring
    expr: vector(1)
    labels: {severity: critical, team: platform}
    annotations: {summary: always firing, runbook_url: "https://runbooks.example/critical"}
  - alert: WarningAlwaysFiring
    expr: vector(1)
    labels: {severity: warning}
    annotations: {summary: always firing, runbook_url: "https://runbooks.example/warning"}
  - alert: BrokenJoin
    expr: (label_replace(vector(1),"a","1","","") or label_replace(vector(1),"a","2","","")) * on() vector(1)
    for: 5m
    labels: {severity: warning}
    annotations: {summary: fails at evaluation, runbook_url: "https://runbooks.example/join"}
  - record: kgents:one
    expr: vector(1)
"#;

/// A Prometheus started for one test, killed when dropped (also when the test fails).
struct Prometheus {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts Prometheus with `rules` and, optionally, a web config (TLS, basic auth) whose files
/// are written next to it.
fn start_prometheus(rules: &str, web: Option<(&str, &[(&str, &str)])>) -> Prometheus {
    let bin = "/usr/bin/prometheus";
    assert!(Path::new(bin).exists(), "prometheus is missing: run `bash scripts/setup-test-env.sh`");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [rules.yml]\n",
    )
    .unwrap();
    let port = free_port();
    let mut args = vec![
        format!("--config.file={}", dir.path().join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    let mut scheme = "http";
    if let Some((config, files)) = web {
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        std::fs::write(dir.path().join("web.yml"), config).unwrap();
        args.push(format!("--web.config.file={}", dir.path().join("web.yml").display()));
        if config.contains("tls_server_config") {
            scheme = "https";
        }
    }
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .args(&args)
        .current_dir(dir.path())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start prometheus");
    let prom = Prometheus { child, dir, url: format!("{scheme}://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "prometheus did not listen:\n{}", prom.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    prom
}

fn client(url: &str, auth: Auth, ca: Option<Vec<u8>>, timeout: Duration) -> PrometheusClient {
    let url = kgents_gate::redact::Endpoint::parse(url, &["http", "https"]).unwrap();
    PrometheusClient::new(&PrometheusEndpoint { url, auth, ca_cert_pem: ca, timeout }).unwrap()
}

/// Waits until the rules have been evaluated and the critical alert fires.
async fn wait_firing(c: &PrometheusClient, prom: &Prometheus) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(a) = c.alerts().await
            && a.alerts.iter().any(|a| a.name() == "CriticalAlwaysFiring" && a.state == AlertState::Firing)
            && let Ok(r) = c.rules().await
            && r.groups.iter().flat_map(|g| &g.rules).all(|r| r.last_evaluation().is_some_and(|t| t.as_second() > 0))
        {
            return;
        }
        assert!(Instant::now() < deadline, "alerts never fired:\n{}", prom.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn with_code<'a>(findings: &'a [Finding], code: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.code == code).collect()
}

fn params(toml_text: &str) -> AlertRulesParams {
    let table: toml::Table = toml_text.parse().unwrap();
    let mut r = ParamReader::new(&table);
    let p = AlertRulesParams::read(&mut r);
    r.finish().unwrap();
    p.unwrap()
}

#[tokio::test]
async fn loaded_healthy_failing_and_firing_rules_are_judged() {
    let prom = start_prometheus(RULES, None);
    let c = client(&prom.url, Auth::None, None, Duration::from_secs(5));
    wait_firing(&c, &prom).await;

    // The rule sources: the loaded file, plus a ConfigMap whose alert Prometheus never loaded.
    let not_loaded = "groups:\n- name: nats\n  rules:\n  - alert: NatsCircuitBreakerOpen\n    expr: nats_circuit_open > 0\n    for: 1m\n    labels: {severity: critical}\n    annotations: {summary: open, runbook_url: 'https://runbooks.example/nats'}\n";
    let configmap = |ns: &str, data: serde_json::Value| {
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "prometheus-alerting-rules", "namespace": ns}, "data": data})
    };
    let objects = vec![
        configmap("kgents-observability", serde_json::json!({"alerts.yml": RULES, "nats.rules.yml": not_loaded})),
        configmap(
            "elsewhere",
            serde_json::json!({"other.rules.yml": not_loaded.replace("NatsCircuitBreakerOpen", "Unselected")}),
        ),
    ];
    let p = params(&format!(
        r#"
        expected = [
          {{ name = "CriticalAlwaysFiring", severity = "critical" }},
          {{ name = "NatsCircuitBreakerOpen", severity = "critical" }},
          {{ name = "StripeWebhookFailures", severity = "warning" }},
        ]
        configmaps = [{{ namespace = "kgents-observability", name = "prometheus-alerting-rules" }}]
        prometheus_url = "{}"
        max_eval_age = "1m"
        "#,
        prom.url
    ));
    let snapshot = fetch_snapshot(&p, p.prometheus.as_ref().unwrap(), Duration::from_secs(5)).await.unwrap();
    let now = jiff::Timestamp::now();
    let report = evaluate(&p, &objects, Some(Ok(snapshot.clone())), now);
    let f = &report.findings();
    assert!(report.first_gap().is_none());

    let nl = with_code(f, codes::NOT_LOADED);
    assert_eq!(nl.len(), 1, "{f:#?}");
    assert!(nl[0].message.contains("NatsCircuitBreakerOpen"));
    assert!(
        nl[0]
            .target
            .as_deref()
            .unwrap()
            .contains("ConfigMap kgents-observability/prometheus-alerting-rules key nats.rules.yml")
    );
    assert!(!f.iter().any(|x| x.message.contains("Unselected")), "the other namespace is not a source");

    let stripe: Vec<&str> =
        f.iter().filter(|x| x.message.contains("StripeWebhookFailures")).map(|x| x.code.as_str()).collect();
    assert_eq!(stripe, [codes::EXPECTED_MISSING, codes::EXPECTED_NOT_LOADED]);

    let unhealthy = with_code(f, codes::RULE_UNHEALTHY);
    assert_eq!(unhealthy.len(), 1, "{f:#?}");
    assert!(unhealthy[0].message.contains("BrokenJoin"), "{unhealthy:?}");
    assert!(unhealthy[0].message.contains("many-to-one matching must be explicit"), "{unhealthy:?}");

    assert!(with_code(f, codes::RULE_STALE).is_empty(), "evaluated every second: {f:#?}");
    assert!(with_code(f, codes::LOADED_WRONG_SEVERITY).is_empty());

    let critical = with_code(f, codes::FIRING_CRITICAL);
    assert_eq!(critical.len(), 1);
    assert_eq!(critical[0].level, Level::Error);
    let facts: Vec<(&str, &str)> = critical[0].evidence.iter().map(|x| (x.name.as_str(), x.value.as_str())).collect();
    assert!(facts.iter().any(|(n, v)| *n == "labels" && v.contains("team=\"platform\"")), "{facts:?}");
    assert!(facts.iter().any(|(n, v)| *n == "activeAt" && v.starts_with("20")), "{facts:?}");
    let warnings = with_code(f, codes::FIRING_WARNING);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("WarningAlwaysFiring"));

    // An hour later without evaluations, every rule in scope is stale.
    let later = now + jiff::SignedDuration::from_hours(1);
    let stale = judge::judge_rules(&snapshot.rules, &p.expected, &[], later, p.max_eval_age);
    assert_eq!(with_code(&stale, codes::RULE_STALE).len(), 1, "only the expected alert that is loaded: {stale:#?}");
    // With no scope at all, every loaded rule is judged.
    let all = judge::judge_rules(&snapshot.rules, &[], &[], later, p.max_eval_age);
    assert_eq!(with_code(&all, codes::RULE_STALE).len(), 4);

    // The expected severity differs from the loaded one.
    let wrong = [ExpectedAlert { name: "CriticalAlwaysFiring".into(), severity: "warning".into() }];
    let w = judge::judge_rules(&snapshot.rules, &wrong, &[], now, p.max_eval_age);
    assert_eq!(with_code(&w, codes::LOADED_WRONG_SEVERITY).len(), 1, "{w:#?}");
}

#[tokio::test]
async fn tls_with_a_custom_ca_and_basic_auth() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&server_key, &ca).unwrap();
    // bcrypt (cost 4) of the test-only password "kgents-test-password".
    let web = "tls_server_config: {cert_file: server.crt, key_file: server.key}\nbasic_auth_users:\n  kgents: $2b$04$nliRGadiiofTBAdSagBgQ.Pr4BH4IzmWx/T8ZLTqIB/3RJ4q7hxjy\n";
    let prom = start_prometheus(
        RULES,
        Some((web, &[("server.crt", &server.pem()), ("server.key", &server_key.serialize_pem())])),
    );
    let ca_file = prom.dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    // Credentials from the environment (given as a map here) and the CA from a file.
    let spec = AuthSpec {
        username_env: Some("PROM_USER".into()),
        password_env: Some("PROM_PASSWORD".into()),
        ca_cert_file: Some(ca_file.display().to_string()),
        ..Default::default()
    };
    let env = |pw: &'static str| {
        move |name: &str| match name {
            "PROM_USER" => Some("kgents".to_string()),
            "PROM_PASSWORD" => Some(pw.to_string()),
            _ => None,
        }
    };
    let (auth, ca_pem) = spec.resolve_with(env("kgents-test-password")).unwrap();
    let good = client(&prom.url, auth, ca_pem.clone(), Duration::from_secs(5));
    wait_firing(&good, &prom).await;
    assert!(good.rules().await.unwrap().groups[0].rules.len() == 4);

    let (bad_auth, _) = spec.resolve_with(env("wrong-password")).unwrap();
    let err = client(&prom.url, bad_auth, ca_pem, Duration::from_secs(5)).alerts().await.unwrap_err();
    assert!(matches!(err, PromApiError::Http { status: 401, .. }), "{err}");
    assert_eq!(err.unverified_code(), "forbidden");
    assert!(!err.to_string().contains("wrong-password"), "no secret in errors: {err}");

    // Without the CA the certificate is not trusted.
    let no_ca = client(
        &prom.url,
        Auth::Basic { username: "kgents".into(), password: Secret::new("kgents-test-password") },
        None,
        Duration::from_secs(5),
    );
    let err = no_ca.rules().await.unwrap_err();
    assert!(matches!(err, PromApiError::Unreachable { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains("kgents-test-password"));
}

#[tokio::test]
async fn prometheus_down_or_hanging_is_an_error_within_the_timeout() {
    let port = free_port(); // nothing listens there any more
    let start = Instant::now();
    let err = client(&format!("http://127.0.0.1:{port}"), Auth::None, None, Duration::from_secs(2))
        .rules()
        .await
        .unwrap_err();
    assert!(matches!(err, PromApiError::Unreachable { .. }), "{err}");
    assert_eq!(err.unverified_code(), "unreachable");
    assert!(start.elapsed() < Duration::from_secs(8));

    // A server that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(10));
        drop(held);
    });
    let start = Instant::now();
    let err =
        client(&format!("http://{addr}"), Auth::None, None, Duration::from_millis(500)).alerts().await.unwrap_err();
    assert!(matches!(err, PromApiError::Timeout { .. }), "{err}");
    assert_eq!(err.unverified_code(), "timeout");
    assert!(start.elapsed() < Duration::from_secs(7));

    // The check then reports the rule sources and says Prometheus was not verified.
    let p = params(&format!(
        "configmaps = [{{ namespace = \"ns\", name = \"rules\" }}]\nprometheus_url = \"http://127.0.0.1:{port}\""
    ));
    let objects =
        [serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rules", "namespace": "ns"},
        "data": {"a.rules": "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n"}})];
    let result = fetch_snapshot(&p, p.prometheus.as_ref().unwrap(), Duration::from_secs(2)).await;
    let report = evaluate(&p, &objects, Some(result), jiff::Timestamp::now());
    let unverified = report.first_gap().expect("unverified");
    assert_eq!(unverified.code, "unreachable");
    assert!(unverified.reason.contains("not checked"));
    assert!(!with_code(report.findings(), codes::SEVERITY_MISSING).is_empty(), "source findings are still reported");
}
