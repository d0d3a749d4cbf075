//! The real node of tests/support/node.rs: the kubelet registers and runs pods, readiness comes
//! from real probes, pods reach each other by pod IP and ClusterIP, blocked flows fail the way
//! the probes will see them, the NATS and Redis images serve, and teardown (also of a killed
//! test binary) leaves the host as it was.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Endpoints, Node, Pod};
use kube::api::Api;
use serde_json::json;
use support::node::host::{HostSnapshot, LOCK_FILE, node_traces};
use support::node::pods::{self, ready_condition};
use support::node::{BUSYBOX_IMAGE, NATS_IMAGE, NODE_IP, NODE_NAME, REDIS_IMAGE};
use support::{FlowBlock, RealNode, eventually, run_blocking};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

const MINUTE: Duration = Duration::from_secs(60);
/// Set for the child test binary that starts a node and kills itself.
const CHILD_ENV: &str = "KGENTS_GATE_REAL_NODE_KILLED_CHILD";

/// A busybox httpd on 8080 whose readiness is a real tcpSocket probe.
fn httpd_pod(name: &str, app: &str) -> serde_json::Value {
    let mut pod = pods::pod_json(name, BUSYBOX_IMAGE, &["httpd", "-f", "-p", "8080", "-h", "/var/www"]);
    pod["metadata"]["labels"] = json!({"app": app});
    pod["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8080}]);
    pod["spec"]["containers"][0]["readinessProbe"] =
        json!({"tcpSocket": {"port": 8080}, "initialDelaySeconds": 1, "periodSeconds": 2});
    pod
}

fn service_yaml(name: &str, app: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n\
         spec:\n  selector: {{app: {app}}}\n  ports: [{{name: http, port: 80, targetPort: 8080}}]\n"
    )
}

#[tokio::test]
async fn node_registers_ready_and_readiness_comes_from_real_probes() {
    let started = Instant::now();
    let node = RealNode::shared();
    eprintln!("first use to Ready: {:?} (node alone {:?})", started.elapsed(), node.started_in());
    let plane = node.plane();
    let client = plane.client();

    let registered: Node = Api::all(client.clone()).get(NODE_NAME).await.expect("node realnode registered");
    let status = registered.status.expect("node status");
    let conditions = status.conditions.unwrap_or_default();
    assert!(conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"), "{conditions:?}");
    let addresses = status.addresses.unwrap_or_default();
    assert!(addresses.iter().any(|a| a.type_ == "InternalIP" && a.address == NODE_IP.to_string()), "{addresses:?}");
    let info = status.node_info.expect("node info");
    assert_eq!(info.kubelet_version, "v1.20.2");
    assert!(info.container_runtime_version.starts_with("containerd://1.6."), "{}", info.container_runtime_version);
    let kubectl = node.kubectl().args(["get", "node", NODE_NAME, "--no-headers"]).output().expect("run kubectl");
    let line = String::from_utf8_lossy(&kubectl.stdout);
    assert!(line.contains(" Ready ") && line.contains("v1.20.2"), "kubectl get node: {line}");

    let ns = plane.unique_namespace("probes").await;
    pods::create_pod(&client, &ns, &httpd_pod("serving", "web")).await;
    // Nothing listens on 8080 here: the same probe keeps this one unready.
    let mut idle = pods::pod_json("idle", BUSYBOX_IMAGE, &["sleep", "3600"]);
    idle["metadata"]["labels"] = json!({"app": "web"});
    idle["spec"]["containers"][0]["readinessProbe"] = json!({"tcpSocket": {"port": 8080}, "periodSeconds": 2});
    pods::create_pod(&client, &ns, &idle).await;
    plane.apply_yaml_in(&ns, &service_yaml("web", "web")).await;

    let created = Instant::now();
    pods::wait_ready(&client, &ns, "serving", MINUTE).await;
    eprintln!("httpd pod Ready {:?} after create", created.elapsed());
    let serving_ip = pods::pod_ip(&client, &ns, "serving").await.to_string();
    let idle_ip = pods::pod_ip(&client, &ns, "idle").await.to_string();

    // Running, probed for three periods and more, still unready; the Endpoints controller agrees.
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
    let split = eventually("endpoints split by readiness", MINUTE, || async {
        let ep = endpoints.get("web").await.map_err(|e| e.to_string())?;
        let subset = ep.subsets.unwrap_or_default().into_iter().next().ok_or("no subsets yet")?;
        let ips = |a: Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>| {
            a.unwrap_or_default().into_iter().map(|a| a.ip).collect::<Vec<_>>()
        };
        let (ready, unready) = (ips(subset.addresses), ips(subset.not_ready_addresses));
        (ready == [serving_ip.clone()] && unready == [idle_ip.clone()])
            .then_some(())
            .ok_or(format!("{ready:?} {unready:?}"))
    });
    split.await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let pod = api.get("idle").await.expect("get idle pod");
    assert_eq!(ready_condition(&pod), Some(false), "{}", pods::describe(&pod));
    let statuses = pod.status.and_then(|s| s.container_statuses).unwrap_or_default();
    assert!(statuses[0].state.as_ref().is_some_and(|s| s.running.is_some()), "{statuses:?}");
    assert_eq!(statuses[0].restart_count, 0, "readiness failures do not restart: {statuses:?}");
}

#[tokio::test]
async fn pods_connect_by_pod_ip_and_cluster_ip_and_blocked_flows_fail() {
    let node = RealNode::shared();
    let plane = node.plane();
    let client = plane.client();
    let ns = plane.unique_namespace("net").await;
    pods::create_pod(&client, &ns, &httpd_pod("server", "server")).await;
    plane.apply_yaml_in(&ns, &service_yaml("server", "server")).await;
    pods::create_pod(&client, &ns, &pods::pod_json("client", BUSYBOX_IMAGE, &["sleep", "3600"])).await;
    pods::wait_ready(&client, &ns, "server", MINUTE).await;
    pods::wait_ready(&client, &ns, "client", MINUTE).await;
    let (server, client_ip) = (pods::pod_ip(&client, &ns, "server").await, pods::pod_ip(&client, &ns, "client").await);
    let cluster_ip = pods::cluster_ip(&client, &ns, "server").await;
    node.wait_service_programmed(cluster_ip, 80, MINUTE).await;

    // A one-shot pod: create to Succeeded, exit code and logs through the API.
    let oneshot =
        pods::run_shell(&client, &ns, "oneshot", &format!("timeout 5 wget -q -O- http://{server}:8080/"), MINUTE).await;
    eprintln!("pod round trip (create to Succeeded, logs read): {:?}", oneshot.took);
    assert!(oneshot.succeeded(), "{oneshot:?}");
    assert_eq!(oneshot.logs.trim(), "hello from busybox httpd");
    let failing =
        pods::run_shell(&client, &ns, "closed-port", &format!("nc -w 3 {server} 8081 </dev/null"), MINUTE).await;
    assert_eq!((failing.phase.as_str(), failing.exit_code), ("Failed", Some(1)), "{failing:?}");
    assert!(failing.logs.contains("Connection refused"), "{failing:?}");

    let get = |url: String| format!("timeout 5 wget -q -O- {url}");
    let by_pod_ip = get(format!("http://{server}:8080/"));
    let by_cluster_ip = get(format!("http://{cluster_ip}:80/"));
    for script in [&by_pod_ip, &by_cluster_ip] {
        let out = node.exec(&ns, "client", script).await;
        assert_eq!((out.code, out.stdout.trim()), (0, "hello from busybox httpd"), "{script}: {out:?}");
    }

    // Reject: refused at once, by pod IP and through the ClusterIP (FORWARD sees it after DNAT).
    let blocked = node.block_flow(client_ip, server, 8080, FlowBlock::Reject);
    for script in [&by_pod_ip, &by_cluster_ip] {
        let out = node.exec(&ns, "client", script).await;
        assert_eq!(out.code, 1, "{script}: {out:?}");
        assert!(out.stderr.contains("Connection refused"), "{script}: {out:?}");
    }
    drop(blocked);
    assert_eq!(node.exec(&ns, "client", &by_pod_ip).await.code, 0, "flow open again after the guard dropped");

    // Drop: the connect times out instead.
    let blocked = node.block_flow(client_ip, server, 8080, FlowBlock::Drop);
    let started = Instant::now();
    let out = node.exec(&ns, "client", &format!("nc -w 2 {server} 8080 </dev/null")).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("timed out"), "{out:?}");
    assert!(started.elapsed() >= Duration::from_secs(2), "a dropped connect waits for the timeout");
    drop(blocked);
    let out = node.exec(&ns, "client", &by_cluster_ip).await;
    assert_eq!((out.code, out.stdout.trim()), (0, "hello from busybox httpd"), "{out:?}");

    // Deleted pods leave nothing running in the namespace.
    let _ = node.kubectl().args(["delete", "pods", "--all", "-n", &ns, "--grace-period=1", "--wait=true"]).output();
    let left = eventually("no tasks left in the namespace", MINUTE, || async {
        let left = node.leftovers(Some(&ns));
        if left.tasks == 0 { Ok(left) } else { Err(format!("{left:?}")) }
    })
    .await;
    eprintln!("after deleting the namespace's pods: {left:?}");
}

#[tokio::test]
async fn nats_and_redis_images_serve_from_pods() {
    let node = RealNode::shared();
    let plane = node.plane();
    let client = plane.client();
    let ns = plane.unique_namespace("services").await;
    for (name, image, port) in [("nats", NATS_IMAGE, 4222), ("redis", REDIS_IMAGE, 6379)] {
        let mut pod = pods::pod_json(name, image, &[]);
        pod["spec"]["containers"][0]["readinessProbe"] = json!({"tcpSocket": {"port": port}, "periodSeconds": 1});
        pods::create_pod(&client, &ns, &pod).await;
    }
    pods::wait_ready(&client, &ns, "nats", MINUTE).await;
    pods::wait_ready(&client, &ns, "redis", MINUTE).await;
    let (nats_ip, redis_ip) = (pods::pod_ip(&client, &ns, "nats").await, pods::pod_ip(&client, &ns, "redis").await);

    // From the host, which routes the pod CIDR through rn0.
    let io = Duration::from_secs(5);
    let stream = tokio::time::timeout(io, tokio::net::TcpStream::connect((nats_ip, 4222))).await;
    let stream = stream.expect("connect to NATS in time").expect("connect to NATS");
    let mut info = String::new();
    let mut reader = tokio::io::BufReader::new(stream);
    tokio::time::timeout(io, reader.read_line(&mut info)).await.expect("INFO in time").expect("read INFO");
    assert!(info.starts_with("INFO {") && info.contains(r#""version":"2.10.26""#), "{info}");

    let stream = tokio::time::timeout(io, tokio::net::TcpStream::connect((redis_ip, 6379))).await;
    let mut stream = stream.expect("connect to Redis in time").expect("connect to Redis");
    stream.write_all(b"PING\r\n").await.expect("send PING");
    let mut reply = [0u8; 7];
    tokio::time::timeout(io, stream.read_exact(&mut reply)).await.expect("reply in time").expect("read reply");
    assert_eq!(&reply, b"+PONG\r\n");
}

/// Runs last (by name): stops this binary's node and checks the host; then a child test binary
/// starts a node, runs a pod and kills itself, and its watchdog must leave the host unchanged.
#[test]
fn teardown_leaves_the_host_as_it_was_also_when_the_binary_is_killed() {
    drop(RealNode::shared());
    let stopped = RealNode::stop_shared();
    let report = stopped.report.as_ref().expect("this binary's node was running");
    eprintln!("teardown: {:?} in steps {:?}", report.took, report.steps);
    assert!(report.leftovers.is_empty(), "teardown left: {:?}", report.leftovers);
    assert!(node_traces().is_empty(), "{:?}", node_traces());

    let before = HostSnapshot::take();
    let exe = std::env::current_exe().expect("path of this test binary");
    let log = support::ScratchDir::new("killed-child");
    let log_path = log.path().join("child.log");
    let out = std::fs::File::create(&log_path).expect("child log");
    let mut child = Command::new(exe)
        .args(["--exact", "child_starts_a_node_and_is_killed", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone log handle"))
        .stderr(out)
        .spawn()
        .expect("start the child test binary");
    let until = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("child did not finish: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let died = Instant::now();
    let child_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "child should have killed itself: {child_log}");
    assert!(child_log.contains("child: pod Ready, flow blocked"), "{child_log}");

    // The child's watchdog notices within a second, kills its processes and runs the cleanup.
    let left = run_blocking(async {
        support::poll_until(Duration::from_secs(90), || async {
            let traces = node_traces();
            if traces.is_empty() && !Path::new(LOCK_FILE).exists() { Ok(()) } else { Err(format!("{traces:?}")) }
        })
        .await
    });
    assert!(left.is_ok(), "the killed binary's node was not cleaned up: {left:?}\nchild log:\n{child_log}");
    eprintln!("killed child binary cleaned up by its watchdog {:?} after it died", died.elapsed());
    let differences = before.differences(&HostSnapshot::take());
    assert!(differences.is_empty(), "host changed by the killed child's node: {differences:#?}");
}

/// Not a test of its own: the child process of the teardown test above.
#[test]
#[ignore = "started by teardown_leaves_the_host_as_it_was_also_when_the_binary_is_killed"]
fn child_starts_a_node_and_is_killed() {
    assert_eq!(std::env::var(CHILD_ENV).as_deref(), Ok("1"), "only the teardown test runs this, in a child process");
    let node = RealNode::shared();
    let kubeconfig = node.plane().admin_kubeconfig();
    let (pod_ip, ns) = run_blocking(async move {
        let client = support::control_plane::client_from_kubeconfig(&kubeconfig);
        let ns = "killed".to_string();
        let plane = support::ControlPlane::shared();
        plane.create_namespace(&ns).await;
        pods::create_pod(&client, &ns, &httpd_pod("server", "server")).await;
        pods::wait_ready(&client, &ns, "server", MINUTE).await;
        (pods::pod_ip(&client, &ns, "server").await, ns)
    });
    let _blocked = node.block_flow(NODE_IP, pod_ip, 8080, FlowBlock::Drop);
    eprintln!("child: pod Ready, flow blocked ({ns}/server {pod_ip})");
    // SAFETY: ending this process the hard way is the point of the test.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}
