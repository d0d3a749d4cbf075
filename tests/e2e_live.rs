//! The kgents launch end to end, live: examples/kgents applied to the real control plane (its
//! controllers computing Deployment, StatefulSet, PodDisruptionBudget and HPA status; the
//! simulated kubelet marking the pods Ready; the resource metrics API feeding the HPA), the
//! harness's 3-node NATS cluster, Redis and Prometheus as the world's endpoints (Prometheus
//! loading the example's alert rules and scraping the exporters), and the `kgents-gate` binary
//! with the built-in checklist run from the example's folder. The healthy world is APPROVED WITH
//! WAIVERS; each broken variant applied live is BLOCKED with its finding in JSON, JUnit and
//! Markdown; a user without the printed RBAC is INCOMPLETE naming the permissions and gets the
//! full verdict once `rbac --bind` is applied; Prometheus stopped is INCOMPLETE.
//!
//! The NetworkPolicy items run with `--no-live` here (static on the live objects): probe pods need
//! a real kubelet and network, which tests/netpol_node.rs gives them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;
use support::resource_metrics::ResourceMetrics;
use support::{ControlPlane, Exporter, NATS_PRODUCTION, NatsAuth, NatsCluster, NatsOptions, PodState, Prometheus};
use support::{PrometheusOptions, Redis, RedisOptions};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kgents");
const NAMESPACES: [&str; 4] = ["kgents-agents", "kgents-triad", "kgents-api", "kgents-observability"];
const NATS_TOKEN: &str = "nats-token-e2e-0451";
const REDIS_PASSWORD: &str = "redis-password-e2e-7713";

/// An example manifest file as 1.20 serves it: PodDisruptionBudgets in policy/v1beta1, HPAs in
/// autoscaling/v2beta2 (the same schema as v2). Nothing else changes.
fn for_1_20(text: &str) -> String {
    text.replace("apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n")
        .replace("apiVersion: autoscaling/v2\n", "apiVersion: autoscaling/v2beta2\n")
}

fn example_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(EXAMPLE).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The rule files of the example's `prometheus-alerting-rules` ConfigMap, for Prometheus.
fn example_rule_files() -> Vec<(String, String)> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&example_file("manifests/observability.yaml")).unwrap();
    let cm = docs.iter().find(|d| d["metadata"]["name"] == "prometheus-alerting-rules").expect("the rules ConfigMap");
    cm["data"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect()
}

/// The API's own metrics at the k6 baseline: 478 req/s, none answered 5xx, p95 under 10 ms, or,
/// `slow`, every request between 0.5 and 1 s; its NATS circuit breaker closed.
fn serve_api_metrics(api: &Exporter, slow: bool) {
    let svc = [("service", "kgents-api")];
    api.counter("http_requests_total", &[("service", "kgents-api"), ("method", "GET"), ("code", "200")], 478.0);
    api.counter("http_requests_total", &[("service", "kgents-api"), ("method", "POST"), ("code", "500")], 0.0);
    let fractions = if slow { [0.0, 0.0, 0.0, 0.0, 0.02, 1.0] } else { [0.6, 0.97, 0.995, 1.0, 1.0, 1.0] };
    let les = [0.005, 0.01, 0.025, 0.05, 0.5, 1.0];
    let buckets: Vec<(f64, f64)> = les.into_iter().zip(fractions).collect();
    api.histogram("http_request_duration_seconds", &svc, 478.0, &buckets);
    for (state, v) in [("closed", 1.0), ("half_open", 0.0), ("open", 0.0)] {
        api.gauge("kgents_nats_circuit_breaker_state", &[("service", "kgents-api"), ("state", state)], v);
    }
}

struct World {
    plane: &'static ControlPlane,
    nats: NatsCluster,
    redis: Redis,
    prometheus: Prometheus,
    api: Exporter,
    _exporters: Vec<Exporter>,
    metrics: ResourceMetrics,
}

impl World {
    async fn start() -> World {
        let plane = ControlPlane::shared();
        let metrics = ResourceMetrics::start();
        // Registering an aggregated API can drop the API server's open connection once: retried.
        let registration = metrics.registration("kube-system");
        support::eventually("the resource metrics API registered", Duration::from_secs(30), || {
            let registration = registration.clone();
            async move { support::apply::apply_yaml(&plane.client(), None, &registration).await }
        })
        .await;
        for file in ["namespaces.yaml", "nats.yaml", "triad.yaml", "api.yaml", "observability.yaml"] {
            plane.apply_yaml(&for_1_20(&example_file(&format!("manifests/{file}")))).await;
        }
        let nats = NatsCluster::start(NatsOptions {
            nodes: 3,
            version: NATS_PRODUCTION.to_string(),
            jetstream: true,
            auth: NatsAuth::Token(NATS_TOKEN.to_string()),
        })
        .await;
        let redis = Redis::start(RedisOptions {
            password: Some(REDIS_PASSWORD.to_string()),
            maxmemory_policy: Some("noeviction".to_string()),
            appendonly: true,
            ..Default::default()
        })
        .await;
        // One exporter per NATS pod's sidecar, billing's, and the API's series under test control.
        let nats_scrape = example_file("exporters/nats-exporter.prom");
        let nats_exporters: Vec<Exporter> = (0..3).map(|_| Exporter::start()).collect();
        for e in &nats_exporters {
            e.raw(&nats_scrape);
        }
        let billing = Exporter::start();
        billing.raw(&example_file("exporters/billing.prom"));
        let api = Exporter::start();
        serve_api_metrics(&api, false);
        let targets: Vec<String> = nats_exporters.iter().map(|e| format!("'{}'", e.target())).collect();
        let scrape = format!(
            "- job_name: nats\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  static_configs:\n  - targets: [{}]\n{}{}",
            targets.join(", "),
            api.scrape_config("kgents-api", "1s"),
            billing.scrape_config("billing", "1s"),
        );
        let prometheus =
            Prometheus::start(PrometheusOptions { rule_files: example_rule_files(), scrape_configs: Some(scrape) })
                .await;
        // rate() over 5m extrapolates little beyond the first sample: the request rate reads 100 or
        // more about 65 s after the first scrape.
        prometheus
            .wait_for_value(
                "sum(rate(http_requests_total{service=\"kgents-api\"}[5m]))",
                Duration::from_secs(150),
                |v| v > 110.0,
            )
            .await;
        let mut exporters = nats_exporters;
        exporters.push(billing);
        let world = World { plane, nats, redis, prometheus, api, _exporters: exporters, metrics };
        world.settle().await;
        world
    }

    /// Plays the kubelet until every workload of the world is rolled out: terminating pods are
    /// gone, every pod is Ready and reports its usage; then waits for the HPA controller to have
    /// computed the API's scale from those metrics.
    async fn settle(&self) {
        let client = self.plane.client();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let mut pending = Vec::new();
            for ns in NAMESPACES {
                let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
                for pod in pods.list(&ListParams::default()).await.unwrap().items {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    if pod.metadata.deletion_timestamp.is_some() {
                        let _ = pods
                            .delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() })
                            .await;
                        continue;
                    }
                    if !support::kubelet::is_ready(&pod) {
                        support::kubelet::set_pod_state(&client, ns, &name, PodState::Ready).await;
                    }
                    // Half of each container's CPU request, so the HPA (70%) holds its replicas.
                    let containers: Vec<(String, String)> = pod
                        .spec
                        .iter()
                        .flat_map(|s| &s.containers)
                        .map(|c| {
                            let cpu = c
                                .resources
                                .as_ref()
                                .and_then(|r| r.requests.as_ref())
                                .and_then(|r| r.get("cpu"))
                                .map(|q| q.0.clone())
                                .unwrap_or_else(|| "100m".into());
                            let milli = cpu.strip_suffix('m').and_then(|m| m.parse::<u64>().ok()).unwrap_or(1000);
                            (c.name.clone(), format!("{}m", milli / 2))
                        })
                        .collect();
                    let refs: Vec<(&str, &str, &str)> =
                        containers.iter().map(|(n, c)| (n.as_str(), c.as_str(), "64Mi")).collect();
                    self.metrics.set_usage(ns, &name, &refs);
                }
                let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
                for d in deployments.list(&ListParams::default()).await.unwrap().items {
                    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    let s = d.status.clone().unwrap_or_default();
                    let done = s.observed_generation == d.metadata.generation
                        && s.updated_replicas == Some(want)
                        && s.ready_replicas == Some(want)
                        && s.replicas == Some(want);
                    if !done {
                        pending.push(format!("Deployment {ns}/{}", d.metadata.name.unwrap_or_default()));
                    }
                }
                let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
                for s in sets.list(&ListParams::default()).await.unwrap().items {
                    let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    let st = s.status.clone().unwrap_or_default();
                    if st.observed_generation != s.metadata.generation || st.ready_replicas != Some(want) {
                        pending.push(format!("StatefulSet {ns}/{}", s.metadata.name.unwrap_or_default()));
                    }
                }
            }
            // 1.20 serves HPAs up to autoscaling/v2beta2.
            let hpas: Api<DynamicObject> = Api::namespaced_with(
                client.clone(),
                "kgents-api",
                &ApiResource::from_gvk_with_plural(
                    &GroupVersionKind::gvk("autoscaling", "v2beta2", "HorizontalPodAutoscaler"),
                    "horizontalpodautoscalers",
                ),
            );
            let status = hpas.get("api").await.map(|h| h.data["status"].clone()).unwrap_or_default();
            let active = status["currentReplicas"] == 3
                && status["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "ScalingActive" && c["status"] == "True"));
            if !active {
                pending.push("HPA kgents-api/api ScalingActive".to_string());
            }
            if pending.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                let services: Api<DynamicObject> = Api::all_with(
                    client.clone(),
                    &ApiResource::from_gvk_with_plural(
                        &GroupVersionKind::gvk("apiregistration.k8s.io", "v1", "APIService"),
                        "apiservices",
                    ),
                );
                let apiservice = services.get("v1beta1.metrics.k8s.io").await.map(|a| a.data["status"].to_string());
                panic!("the world did not settle: {pending:?}\nHPA status: {status}\nAPIService: {apiservice:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Runs the gate with the built-in checklist from the example's folder, the endpoints set to
    /// the harness's servers. Returns the exit code, the JSON report, the JUnit and the Markdown.
    fn audit(&self, kubeconfig: &Path, out: &Path) -> Audit {
        let folder = default_checklist_folder();
        let prom = self.prometheus.url().to_string();
        let redis = format!("redis://127.0.0.1:{}/0", self.redis.port());
        let sets = [
            format!("secrets.redis-auth.url={redis}"),
            format!("resources.redis-idempotency.url={redis}"),
            format!("resources.nats-cluster.url={}", self.nats.client_url(0)),
            format!("resources.nats-cluster.monitor_url={}", self.nats.monitor_url(0)),
            format!("observability.alert-rules.prometheus_url={prom}"),
            format!("observability.api-slo.prometheus_url={prom}"),
            "observability.api-slo.samples=2".to_string(),
            "observability.api-slo.interval=\"2s\"".to_string(),
            format!("observability.scrape-targets.prometheus_url={prom}"),
            format!("observability.billing-slo.prometheus_url={prom}"),
            format!("observability.nats-consumers.prometheus_url={prom}"),
            // The API's stand-in: its metrics endpoint answers where /healthz would.
            format!("load.api-latency.url={}", self.api.url()),
        ];
        let _ = std::fs::remove_dir_all(out);
        let started = Instant::now();
        let mut cmd = Command::new(BIN);
        cmd.args(["audit", "--no-live", "--today", "2026-12-01", "--format", "json,junit,markdown"])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--out-dir")
            .arg(out)
            .current_dir(folder)
            .env("KGENTS_NATS_TOKEN", NATS_TOKEN)
            .env("KGENTS_REDIS_PASSWORD", REDIS_PASSWORD)
            .env("NO_COLOR", "1");
        for s in &sets {
            cmd.arg("--set").arg(s);
        }
        let o = cmd.output().unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        let read =
            |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}\nstderr:\n{stderr}"));
        let json: Value = serde_json::from_str(&read("kgents-gate-report.json")).unwrap();
        let audit = Audit {
            code: o.status.code().unwrap_or(-1),
            junit: read("kgents-gate-report.xml"),
            markdown: read("kgents-gate-report.md"),
            json,
            stderr,
            took,
        };
        for secret in [NATS_TOKEN, REDIS_PASSWORD] {
            for (what, text) in
                [("json", audit.json.to_string()), ("junit", audit.junit.clone()), ("md", audit.markdown.clone())]
            {
                assert!(!text.contains(secret), "a credential in the {what} report");
            }
            assert!(!audit.stderr.contains(secret), "a credential on stderr");
        }
        audit
    }
}

/// The example's files without its checklist.toml: run there, the gate uses its built-in checklist
/// (whose paths are those of the example).
fn default_checklist_folder() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("cp").arg("-r").arg(format!("{EXAMPLE}/.")).arg(dir.path()).status().unwrap();
        assert!(status.success());
        std::fs::remove_file(dir.path().join("checklist.toml")).unwrap();
        dir
    })
    .path()
}

struct Audit {
    code: i32,
    json: Value,
    junit: String,
    markdown: String,
    stderr: String,
    took: Duration,
}

impl Audit {
    fn item(&self, id: &str) -> &Value {
        self.json["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no item {id}"))
    }

    fn not_passing(&self) -> Vec<String> {
        self.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["outcome"] != "pass")
            .map(|i| {
                let codes: Vec<&str> =
                    i["findings"].as_array().into_iter().flatten().filter_map(|f| f["code"].as_str()).collect();
                let gaps: Vec<String> = i["gaps"].as_array().into_iter().flatten().map(|g| g.to_string()).collect();
                format!("{} {} {codes:?} {gaps:?} {}", i["id"], i["outcome"], i["message"])
            })
            .collect()
    }

    /// The item failed with `code`, and the finding is in all three reports.
    fn assert_blocked_by(&self, variant: &str, id: &str, code: &str) {
        assert_eq!(self.code, 1, "{variant}: exit code; not passing: {:#?}\n{}", self.not_passing(), self.stderr);
        assert_eq!(self.json["decision"], "BLOCKED", "{variant}");
        let item = self.item(id);
        assert_eq!(item["outcome"], "fail", "{variant}: {item:#}");
        assert!(
            item["findings"].as_array().unwrap().iter().any(|f| f["code"] == code && f["level"] == "error"),
            "{variant}: no {code} error in {id}: {item:#}"
        );
        assert!(
            self.junit.contains(&format!("name=\"{id}:")) && self.junit.contains(item["code"].as_str().unwrap()),
            "{variant}: JUnit lacks {code}"
        );
        assert!(
            self.markdown.contains(id) && self.markdown.contains(item["code"].as_str().unwrap()),
            "{variant}: Markdown lacks {code}"
        );
    }
}

/// Applies one example file: workloads are replaced whole (a PUT of the file's object), so what the
/// file no longer says is gone (an env `value` replacing a `valueFrom`); everything else goes
/// through the harness's create-or-apply.
async fn apply_file(world: &World, rel: &str) {
    let text = for_1_20(&example_file(rel));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let client = world.plane.client();
    for mut doc in docs.into_iter().filter(|d| !d.is_null()) {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let plural = match kind.as_str() {
            "Deployment" => "deployments",
            "StatefulSet" => "statefulsets",
            _ => {
                world.plane.apply_yaml(&serde_json::to_string(&doc).unwrap()).await;
                continue;
            }
        };
        let ns = doc["metadata"]["namespace"].as_str().unwrap().to_string();
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            &ns,
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", &kind), plural),
        );
        let current = api.get(&name).await.unwrap();
        // A file without replicas leaves the scale to its HPA, as `kubectl apply` does.
        if doc["spec"].get("replicas").is_none() {
            doc["spec"]["replicas"] = current.data["spec"]["replicas"].clone();
        }
        let mut obj: DynamicObject = serde_json::from_value(doc).unwrap();
        obj.metadata.resource_version = current.metadata.resource_version;
        api.replace(&name, &Default::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("replace {kind} {ns}/{name}: {e}"));
    }
}

/// A variant's files laid over the cluster; `restore` applies the example's own files again.
async fn apply_variant(world: &World, variant: &str) -> Vec<String> {
    let dir = Path::new(EXAMPLE).join("broken").join(variant);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    for f in &files {
        apply_file(world, &format!("broken/{variant}/{f}")).await;
    }
    world.settle().await;
    files
}

async fn restore(world: &World, files: &[String]) {
    for f in files {
        apply_file(world, &format!("manifests/{f}")).await;
    }
    world.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kgents_world_end_to_end() {
    let mut world = World::start().await;
    let admin = world.plane.admin_kubeconfig();
    let scratch = tempfile::tempdir().unwrap();
    let out = |name: &str| -> PathBuf { scratch.path().join(name) };

    // The healthy world: APPROVED WITH WAIVERS (the Loki deferral and the exporter's waived CVE).
    let healthy = world.audit(&admin, &out("healthy"));
    eprintln!("healthy world audited live in {:.1} s", healthy.took.as_secs_f64());
    assert_eq!(healthy.code, 0, "not passing: {:#?}\n{}", healthy.not_passing(), healthy.stderr);
    assert_eq!(healthy.json["decision"], "APPROVED_WITH_WAIVERS");
    assert!(healthy.json["provenance"]["checklist"].as_str().unwrap().starts_with("<built-in>"));
    assert_eq!(healthy.json["items"].as_array().unwrap().len(), 45);
    for id in ["resources.nats-pdb", "load.hpa-capacity", "resources.nats-cluster", "observability.alert-rules"] {
        let item = healthy.item(id);
        assert!(item["outcome"] == "pass" || item["outcome"] == "warn", "{id}: {item:#}");
    }
    let hpa = healthy.item("load.hpa-capacity").to_string();
    assert!(hpa.contains("currentReplicas"), "the HPA's live status is judged: {hpa}");

    // A user without the printed RBAC: INCOMPLETE, naming what was refused; bound, the full verdict.
    let user = "carol";
    let unbound = world.audit(&world.plane.kubeconfig_for(user), &out("unbound"));
    assert_eq!(unbound.code, 3, "not passing: {:#?}", unbound.not_passing());
    assert_eq!(unbound.json["decision"], "INCOMPLETE");
    let refused = unbound.json.to_string();
    assert!(refused.contains("forbidden"), "{refused}");
    for permission in ["list pods", "list secrets"] {
        assert!(refused.contains(permission) || unbound.markdown.contains(permission), "{permission} not named");
    }
    let rbac = Command::new(BIN)
        .args(["rbac", "--bind", &format!("user:{user}")])
        .current_dir(default_checklist_folder())
        .output()
        .unwrap();
    assert_eq!(rbac.status.code(), Some(0), "{}", String::from_utf8_lossy(&rbac.stderr));
    world.plane.apply_yaml(&String::from_utf8(rbac.stdout).unwrap()).await;
    let bound = support::eventually("the bound user's full verdict", Duration::from_secs(30), || {
        let a = world.audit(&world.plane.kubeconfig_for(user), &out("bound"));
        async move { if a.code == 0 { Ok(a) } else { Err(format!("{:#?}", a.not_passing())) } }
    })
    .await;
    assert_eq!(bound.json["decision"], "APPROVED_WITH_WAIVERS");

    // Each broken variant applied live: BLOCKED, its finding in every report.
    let variants = support::variants::broken_variants();
    for (variant, id, code) in &variants {
        let (variant, id, code) = (variant.as_str(), id.as_str(), code.as_str());
        let files = apply_variant(&world, variant).await;
        let a = world.audit(&admin, &out(variant));
        a.assert_blocked_by(variant, id, code);
        restore(&world, &files).await;
    }
    let restored = world.audit(&admin, &out("restored"));
    assert_eq!(restored.code, 0, "the restored world: {:#?}", restored.not_passing());

    // An SLO violated: the API's requests take 0.5 to 1 s (p95 over the 500 ms bound).
    serve_api_metrics(&world.api, true);
    world
        .prometheus
        .wait_for_value(
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"kgents-api\"}[5m])))",
            Duration::from_secs(60),
            |v| v > 0.5,
        )
        .await;
    let slo = world.audit(&admin, &out("slo-violated"));
    slo.assert_blocked_by("slo-violated", "observability.api-slo", "slo-violated");

    // Prometheus stopped: the items that read it cannot see, so INCOMPLETE, never green.
    serve_api_metrics(&world.api, false);
    world.prometheus.stop();
    let blind = world.audit(&admin, &out("no-prometheus"));
    assert_eq!(blind.code, 3, "not passing: {:#?}", blind.not_passing());
    assert_eq!(blind.json["decision"], "INCOMPLETE");
    for id in ["observability.alert-rules", "observability.api-slo", "observability.scrape-targets"] {
        assert_eq!(blind.item(id)["outcome"], "unverified", "{id}");
    }
}
