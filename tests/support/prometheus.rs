//! A real Prometheus on 127.0.0.1 evaluating given rule files every second, to see alerts load,
//! fire, or fail at evaluation exactly as in production.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::control_plane::wait_ready;
use super::process::{ScratchDir, ServerProcess, free_port, is_port_clash};
use super::{eventually, http_get, http_get_json, require_binary};

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct PrometheusOptions {
    /// `(file name, YAML contents)` of each rule file, listed in `rule_files`.
    pub rule_files: Vec<(String, String)>,
    /// YAML for `scrape_configs:` (a list), if the test scrapes anything.
    pub scrape_configs: Option<String>,
}

/// A running Prometheus; killed on Drop.
pub struct Prometheus {
    process: ServerProcess,
    url: String,
    _dir: ScratchDir,
}

impl Prometheus {
    /// Starts Prometheus and waits for `/-/ready`. Panics (with the log) if it does not start,
    /// e.g. on an invalid rule file; see [`Prometheus::try_start`].
    pub async fn start(options: PrometheusOptions) -> Prometheus {
        match Self::try_start(options).await {
            Ok(p) => p,
            Err(e) => panic!("prometheus did not start: {e}"),
        }
    }

    /// Starts Prometheus; `Err` holds its log when it refuses to start.
    pub async fn try_start(options: PrometheusOptions) -> Result<Prometheus, String> {
        let binary = require_binary(Path::new("/usr/bin/prometheus"), "prometheus");
        let mut last = String::new();
        for _ in 0..3 {
            match start_once(&options, &binary).await {
                Ok(p) => return Ok(p),
                Err(e) if is_port_clash(&e) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(format!("ports kept clashing: {last}"))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops Prometheus now (SIGTERM, SIGKILL after 5 s): its URL refuses connections after.
    pub fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(5));
    }

    /// `/api/v1/query?query=EXPR` -> `data.result` (a list of series, for vector results).
    pub async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/query", self.url), &[("query", expr)])
            .map_err(|e| e.to_string())?;
        let body = http_get_json(url.as_str()).await?;
        Ok(body.pointer("/data/result").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// Waits until `expr` returns one series whose value satisfies `ok`, and returns the value.
    pub async fn wait_for_value(&self, expr: &str, timeout: Duration, ok: impl Fn(f64) -> bool) -> f64 {
        eventually(&format!("`{expr}` to have a value"), timeout, || async {
            let result = self.query(expr).await?;
            let value = result
                .first()
                .and_then(|s| s.pointer("/value/1"))
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| ok(*v));
            value.ok_or(format!("result now: {result:?}"))
        })
        .await
    }

    /// `/api/v1/alerts` -> `data.alerts`.
    pub async fn alerts(&self) -> Vec<Value> {
        let body = http_get_json(&format!("{}/api/v1/alerts", self.url)).await.expect("GET /api/v1/alerts");
        body.pointer("/data/alerts").and_then(Value::as_array).cloned().unwrap_or_default()
    }

    /// `/api/v1/rules` -> `data.groups`.
    pub async fn rule_groups(&self) -> Vec<Value> {
        let body = http_get_json(&format!("{}/api/v1/rules", self.url)).await.expect("GET /api/v1/rules");
        body.pointer("/data/groups").and_then(Value::as_array).cloned().unwrap_or_default()
    }

    /// Waits until alert `name` is in `state` (`pending` or `firing`) and returns it.
    pub async fn wait_for_alert(&self, name: &str, state: &str, timeout: Duration) -> Value {
        eventually(&format!("alert {name} {state}"), timeout, || async {
            let alerts = self.alerts().await;
            alerts
                .iter()
                .find(|a| a.pointer("/labels/alertname").and_then(Value::as_str) == Some(name))
                .filter(|a| a.get("state").and_then(Value::as_str) == Some(state))
                .cloned()
                .ok_or(format!("alerts now: {alerts:?}"))
        })
        .await
    }

    /// Waits until every loaded rule has been evaluated once, and returns the rules (each with
    /// `health` and `lastError`).
    pub async fn evaluated_rules(&self, timeout: Duration) -> Vec<Value> {
        eventually("every rule evaluated", timeout, || async {
            let rules: Vec<Value> = self
                .rule_groups()
                .await
                .iter()
                .flat_map(|g| g.get("rules").and_then(Value::as_array).cloned().unwrap_or_default())
                .collect();
            let pending = rules.iter().any(|r| r.get("health").and_then(Value::as_str) == Some("unknown"));
            (!pending && !rules.is_empty()).then_some(rules.clone()).ok_or(format!("rules now: {rules:?}"))
        })
        .await
    }
}

fn config_text(rule_paths: &[String], scrape_configs: Option<&str>) -> String {
    let mut text = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n");
    for p in rule_paths {
        text.push_str(&format!("  - \"{p}\"\n"));
    }
    match scrape_configs {
        Some(s) => text.push_str(&format!("scrape_configs:\n{s}\n")),
        None => text.push_str("scrape_configs: []\n"),
    }
    text
}

async fn start_once(options: &PrometheusOptions, binary: &Path) -> Result<Prometheus, String> {
    let dir = ScratchDir::new("prometheus");
    let rules_dir = dir.subdir("rules");
    let mut paths = Vec::new();
    for (name, contents) in &options.rule_files {
        let p = rules_dir.join(name);
        std::fs::write(&p, contents).map_err(|e| format!("write rule file {name}: {e}"))?;
        paths.push(p.display().to_string());
    }
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, config_text(&paths, options.scrape_configs.as_deref())).map_err(|e| e.to_string())?;
    let port = free_port();
    let mut cmd = Command::new(binary);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", dir.subdir("data").display()))
        .arg("--log.level=warn");
    let mut process = ServerProcess::spawn("prometheus", cmd, &dir.path().join("prometheus.log"));
    let url = format!("http://127.0.0.1:{port}");
    let ready = format!("{url}/-/ready");
    let started = Instant::now();
    wait_ready(&mut process, Duration::from_secs(60), || async {
        let (status, body) = http_get(&ready).await?;
        (status == 200).then_some(()).ok_or(format!("ready: HTTP {status} {body} after {:?}", started.elapsed()))
    })
    .await?;
    Ok(Prometheus { process, url, _dir: dir })
}
