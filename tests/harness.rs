//! Proof that the test servers in tests/support are the real thing: real controllers write PDB
//! status, RBAC denies and allows, NATS routes and JetStream, Prometheus fires, Redis refuses.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use serde_json::Value;
use support::kubelet::{PodState, PodStatePlayer, bind_pod, create_node, ready_pods, set_pod_state};
use support::{
    ControlPlane, NATS_NEWEST, NATS_PRODUCTION, NatsAuth, NatsCluster, NatsOptions, Prometheus, PrometheusOptions,
    Redis, RedisOptions, RedisSave, eventually,
};

const STATEFULSET_AND_PDB: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.25}]
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
"#;

#[tokio::test]
async fn disruption_controller_writes_pdb_status_once_pods_are_ready() {
    let plane = ControlPlane::shared();
    eprintln!("control plane started in {:?}", plane.started_in());
    let ns = plane.unique_namespace("pdb").await;
    plane.apply_yaml_in(&ns, STATEFULSET_AND_PDB).await;
    let client = plane.client();

    // OrderedReady: pod web-1 only appears once web-0 is Ready, and so on.
    let pods = ready_pods(&client, &ns, "app=web", 3, Duration::from_secs(60)).await;
    let mut names: Vec<String> = pods.iter().filter_map(|p| p.metadata.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["web-0", "web-1", "web-2"]);

    let (pdb_resource, _) = pinned_kind(&client, &GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget"))
        .await
        .expect("1.20 serves policy/v1beta1 PodDisruptionBudget");
    let pdbs: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), &ns, &pdb_resource);
    let status = eventually("PDB status from the disruption controller", Duration::from_secs(30), || async {
        let pdb = pdbs.get("web").await.map_err(|e| e.to_string())?;
        let status = pdb.data.get("status").cloned().unwrap_or(Value::Null);
        (status.get("currentHealthy") == Some(&3.into())).then_some(status.clone()).ok_or(format!("{status}"))
    })
    .await;
    assert_eq!(status["currentHealthy"], 3);
    assert_eq!(status["desiredHealthy"], 2);
    assert_eq!(status["disruptionsAllowed"], 1);
    assert_eq!(status["expectedPods"], 3);

    // One pod turning unready takes the allowance away.
    set_pod_state(&client, &ns, "web-1", PodState::NotReady).await;
    eventually("disruptionsAllowed 0 with one pod unready", Duration::from_secs(30), || async {
        let pdb = pdbs.get("web").await.map_err(|e| e.to_string())?;
        let status = &pdb.data["status"];
        (status["currentHealthy"] == 2 && status["disruptionsAllowed"] == 0).then_some(()).ok_or(format!("{status}"))
    })
    .await;
}

#[tokio::test]
async fn unprivileged_user_is_denied_secrets_until_a_role_binding_allows_it() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("rbac").await;
    let alice = plane.client_for("alice");
    let secrets: Api<Secret> = Api::namespaced(alice, &ns);
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 listing secrets as alice, got {other:?}"),
    }

    plane
        .apply_yaml_in(
            &ns,
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secret-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
"#,
        )
        .await;
    // The RBAC authorizer reads from an informer cache: allow it a moment.
    let listed = eventually("alice may list secrets", Duration::from_secs(15), || async {
        secrets.list(&ListParams::default()).await.map_err(|e| e.to_string())
    })
    .await;
    assert!(listed.items.iter().all(|s| s.metadata.namespace.as_deref() == Some(ns.as_str())));

    // Bob has no binding; a service account is yet another identity with nothing granted.
    let bob: Api<Secret> = Api::namespaced(plane.client_for("bob"), &ns);
    assert!(matches!(bob.list(&ListParams::default()).await, Err(kube::Error::Api(s)) if s.code == 403));
    let sa_config = plane.service_account_kubeconfig(&ns, "probe").await;
    let sa: Api<Secret> = Api::namespaced(support::control_plane::client_from_kubeconfig(&sa_config), &ns);
    assert!(matches!(sa.list(&ListParams::default()).await, Err(kube::Error::Api(s)) if s.code == 403));
}

#[tokio::test]
async fn api_server_certificate_is_verified_against_the_test_ca() {
    let plane = ControlPlane::shared();
    let client = plane.client();
    client.apiserver_version().await.expect("admin client verifies the serving certificate");

    // The same kubeconfig with another CA must fail the TLS handshake.
    let text = std::fs::read_to_string(plane.admin_kubeconfig()).expect("read kubeconfig");
    let other_ca = {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).expect("self-signed").pem()
    };
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let wrong = text.replace(&engine.encode(plane.ca_pem()), &engine.encode(other_ca));
    assert_ne!(wrong, text);
    let config = kube::config::Kubeconfig::from_yaml(&wrong).expect("kubeconfig");
    let untrusting = kube::Client::try_from(config).expect("client");
    let err = untrusting.apiserver_version().await.expect_err("an unknown CA must be rejected");
    assert!(format!("{err:?}").to_lowercase().contains("certificate"), "{err:?}");
}

#[tokio::test]
async fn harness_kubelet_completes_pods_and_the_job_controller_sees_it() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("kubelet").await;
    let client = plane.client();
    let _player = PodStatePlayer::start(&client, &ns, "job-name=fails", |_| Some(PodState::Exited(3)));
    plane
        .apply_yaml_in(
            &ns,
            r#"
apiVersion: batch/v1
kind: Job
metadata: {name: fails}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox:1.36}]
"#,
        )
        .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    eventually("job failed", Duration::from_secs(30), || async {
        let job = jobs.get("fails").await.map_err(|e| e.to_string())?;
        let failed = job.status.and_then(|s| s.failed).unwrap_or(0);
        (failed == 1).then_some(()).ok_or(format!("failed = {failed}"))
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let pod = pods.list(&ListParams::default().labels("job-name=fails")).await.expect("list").items.remove(0);
    let status = pod.status.expect("status");
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let term = status.container_statuses.expect("container statuses")[0].state.clone().expect("state").terminated;
    assert_eq!(term.expect("terminated").exit_code, 3);
}

#[tokio::test]
async fn harness_nodes_are_ready_and_pods_bind_to_them() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("nodes").await;
    let client = plane.client();
    let node = create_node(&client, &support::unique_name("node"), &[("topology.kubernetes.io/zone", "a")]).await;
    let node_name = node.metadata.name.clone().expect("node name");
    let ready = node.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(ready.iter().any(|c| c.type_ == "Ready" && c.status == "True"), "{ready:?}");

    plane
        .apply_yaml_in(
            &ns,
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x}]\n",
        )
        .await;
    bind_pod(&client, &ns, "p", &node_name).await;
    let pod = set_pod_state(&client, &ns, "p", PodState::Waiting("ImagePullBackOff".into())).await;
    assert_eq!(pod.spec.and_then(|s| s.node_name).as_deref(), Some(node_name.as_str()));
    let status = pod.status.expect("status");
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    let waiting = status.container_statuses.expect("statuses")[0].state.clone().and_then(|s| s.waiting);
    assert_eq!(waiting.and_then(|w| w.reason).as_deref(), Some("ImagePullBackOff"));
}

#[tokio::test]
async fn apply_yaml_creates_and_replaces_custom_resources_and_counts_lists() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("apply").await;
    let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.test.kgents.dev}
spec:
  group: test.kgents.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: test.kgents.dev/v1
kind: Widget
metadata: {name: w}
spec: {size: 1}
"#;
    let first = plane.apply_yaml_in(&ns, crd).await;
    assert_eq!(first[1].data["spec"]["size"], 1);
    let second = plane.apply_yaml_in(&ns, &crd.replace("size: 1", "size: 2")).await;
    assert_eq!(second[1].data["spec"]["size"], 2);

    // 1.20 has no policy/v1: a kind the server does not serve is an error, at once.
    let started = Instant::now();
    let v1_pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p}\nspec: {minAvailable: 1}\n";
    let err = support::apply::apply_yaml(&plane.client(), Some(&ns), v1_pdb).await.expect_err("policy/v1 on 1.20");
    assert!(err.contains("not served"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let before = plane.request_counts().await;
    let applied = plane.apply_yaml_in(&ns, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n").await;
    assert_eq!(applied.len(), 1);
    let resource = pinned_kind(&plane.client(), &GroupVersionKind::gvk("test.kgents.dev", "v1", "Widget")).await;
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(plane.client(), &ns, &resource.expect("widget").0);
    for _ in 0..3 {
        api.list(&ListParams::default()).await.expect("list widgets");
    }
    let after = plane.request_counts().await;
    assert_eq!(after.lists("widgets") - before.lists("widgets"), 3);
    assert!(after.count("POST", "configmaps") > before.count("POST", "configmaps"));
}

async fn check_nats_cluster(version: &str) {
    let started = Instant::now();
    let mut nats = NatsCluster::start(NatsOptions { nodes: 3, version: version.into(), ..Default::default() }).await;
    eprintln!("NATS {version} 3-node cluster started in {:?}", started.elapsed());
    for i in 0..3 {
        let peers = nats.route_peers(i).await.expect("routez");
        let others: Vec<&str> = (0..3).filter(|j| *j != i).map(|j| nats.server_name(j)).collect();
        assert_eq!(peers.iter().map(String::as_str).collect::<Vec<_>>(), others, "node {i} on {version}");
        let (status, body) =
            support::http_get(&format!("{}/healthz?js-enabled-only=true", nats.monitor_url(i))).await.expect("healthz");
        assert_eq!(status, 200, "{body}");
        let varz = nats.monitor_json(i, "/varz").await.expect("varz");
        assert_eq!(varz["version"], version);
    }
    let jsz = nats.monitor_json(0, "/jsz").await.expect("jsz");
    assert_eq!(jsz["meta_cluster"]["cluster_size"], 3, "{jsz}");

    nats.stop_node(2);
    eventually("node 1 sees one peer", Duration::from_secs(30), || async {
        let peers = nats.route_peers(1).await?;
        (peers.len() == 1 && peers.contains(nats.server_name(0))).then_some(()).ok_or(format!("{peers:?}"))
    })
    .await;
    // The JetStream meta leader (re-elected if it was the stopped node) sees 2 of 3 reachable.
    let stopped = nats.server_name(2).to_string();
    eventually("meta leader reports the stopped node offline", Duration::from_secs(30), || async {
        let jsz = nats.monitor_json(0, "/jsz").await?;
        let leader = jsz["meta_cluster"]["leader"].as_str().unwrap_or_default().to_string();
        let i = (0..2).find(|i| nats.server_name(*i) == leader).ok_or(format!("leader {leader:?}"))?;
        let meta = nats.monitor_json(i, "/jsz").await?["meta_cluster"].clone();
        let replicas = meta["replicas"].as_array().cloned().unwrap_or_default();
        let offline: Vec<&str> =
            replicas.iter().filter(|r| r["offline"] == true).filter_map(|r| r["name"].as_str()).collect();
        let reachable = 1 + replicas.len() - offline.len();
        (meta["cluster_size"] == 3 && offline == [stopped.as_str()] && reachable == 2)
            .then_some(())
            .ok_or(format!("{meta}"))
    })
    .await;

    nats.restart_node(2).await;
    for i in 0..3 {
        assert_eq!(nats.route_peers(i).await.expect("routez").len(), 2, "node {i} after restart");
    }
}

#[tokio::test]
async fn nats_production_cluster_routes_jetstream_and_node_loss() {
    check_nats_cluster(NATS_PRODUCTION).await;
}

#[tokio::test]
async fn nats_newest_cluster_routes_jetstream_and_node_loss() {
    check_nats_cluster(NATS_NEWEST).await;
}

#[tokio::test]
async fn nats_with_user_password_rejects_anonymous_clients() {
    let auth = NatsAuth::UserPassword { user: "app".into(), password: support::random_hex(8) };
    let nats = NatsCluster::start(NatsOptions { auth: auth.clone(), ..Default::default() }).await;
    let url = nats.client_url(0);
    let anonymous = async_nats::ConnectOptions::new().max_reconnects(Some(0)).connect(&url).await;
    assert!(anonymous.is_err(), "anonymous connect must fail");
    let NatsAuth::UserPassword { user, password } = auth else { unreachable!() };
    let client = async_nats::ConnectOptions::with_user_and_password(user, password)
        .connect(&url)
        .await
        .expect("connect with credentials");
    let js = async_nats::jetstream::new(client);
    let info = js.query_account().await.expect("JetStream account info");
    assert_eq!(info.streams, 0);

    let token = support::random_hex(8);
    let nats = NatsCluster::start(NatsOptions { auth: NatsAuth::Token(token.clone()), ..Default::default() }).await;
    let url = nats.client_url(0);
    let wrong = async_nats::ConnectOptions::with_token("wrong".into()).max_reconnects(Some(0)).connect(&url).await;
    assert!(wrong.is_err(), "a wrong token must be refused");
    let client = async_nats::ConnectOptions::with_token(token).connect(&url).await.expect("connect with token");
    client.flush().await.expect("flush");
}

#[tokio::test]
async fn prometheus_loads_rules_and_fires_a_vector_one_alert() {
    let rules = "groups:\n- name: always\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n    labels:\n      \
                 severity: critical\n    annotations:\n      summary: always\n";
    let prom = Prometheus::start(PrometheusOptions {
        rule_files: vec![("always.yml".into(), rules.into())],
        ..Default::default()
    })
    .await;
    let alert = prom.wait_for_alert("AlwaysFiring", "firing", Duration::from_secs(20)).await;
    assert_eq!(alert["labels"]["severity"], "critical");
    let groups = prom.rule_groups().await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["rules"][0]["name"], "AlwaysFiring");
    assert!(groups[0]["file"].as_str().is_some_and(|f| f.ends_with("always.yml")));

    let broken = "groups:\n- name: g\n  rules:\n  - alert: Bad\n    expr: vector(1) +\n";
    let err = Prometheus::try_start(PrometheusOptions {
        rule_files: vec![("bad.yml".into(), broken.into())],
        ..Default::default()
    })
    .await
    .err()
    .expect("an invalid rule file stops Prometheus from starting");
    assert!(err.contains("bad.yml"), "{err}");
}

#[tokio::test]
async fn redis_with_requirepass_rejects_unauthenticated_commands() {
    let password = support::random_hex(12);
    let redis = Redis::start(RedisOptions {
        password: Some(password.clone()),
        maxmemory_policy: Some("noeviction".into()),
        save: RedisSave::Disabled,
        appendonly: true,
        replica: true,
        ..Default::default()
    })
    .await;
    let reply = support::redis::raw_command(redis.port(), &["PING"]).await.expect("raw PING");
    assert!(reply.starts_with("-NOAUTH"), "{reply}");

    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut con = client.get_multiplexed_async_connection().await.expect("authenticated connection");
    let pong: String = redis::cmd("PING").query_async(&mut con).await.expect("PING");
    assert_eq!(pong, "PONG");
    let policy: Vec<String> =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query_async(&mut con).await.expect("CONFIG GET");
    assert_eq!(policy, ["maxmemory-policy", "noeviction"]);
    let config: Vec<String> =
        redis::cmd("CONFIG").arg("GET").arg("save").query_async(&mut con).await.expect("GET save");
    assert_eq!(config, ["save", ""]);
    let config: Vec<String> =
        redis::cmd("CONFIG").arg("GET").arg("appendonly").query_async(&mut con).await.expect("GET appendonly");
    assert_eq!(config, ["appendonly", "yes"]);
    let _: () = redis::cmd("SET").arg("k").arg("v").query_async(&mut con).await.expect("SET");

    let replica = redis::Client::open(redis.replica_url().expect("replica")).expect("url");
    let mut rcon = replica.get_multiplexed_async_connection().await.expect("replica connection");
    let value: String = eventually("replicated key", Duration::from_secs(10), || {
        let mut rcon = rcon.clone();
        async move {
            let v: Option<String> =
                redis::cmd("GET").arg("k").query_async(&mut rcon).await.map_err(|e| e.to_string())?;
            v.ok_or("not yet".to_string())
        }
    })
    .await;
    assert_eq!(value, "v");
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut rcon).await.expect("ROLE");
    assert!(format!("{role:?}").contains("slave"), "{role:?}");
}
