//! The resource metrics API (`metrics.k8s.io/v1beta1`) for the pods the simulated kubelet plays:
//! what metrics-server would serve from real kubelets' usage figures, served over HTTPS on the
//! host's address and registered as an aggregated APIService, so the real HPA controller of the
//! control plane computes utilisation, scales and reports `ScalingActive True`.
//!
//! The API server reaches it through a selector-less Service whose Endpoints name this host's
//! first non-loopback IPv4 address (Endpoints may not be loopback) with
//! `--enable-aggregator-routing` (control_plane.rs). Usage is per pod and container, set by the
//! test; every pod of a namespace it has usage for is listed whatever the label selector (the HPA
//! controller keeps those of its own pods).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// `(namespace, pod) -> [(container, cpu, memory)]`, quantities as Kubernetes writes them.
type Usage = BTreeMap<(String, String), Vec<(String, String, String)>>;

/// The running server; it serves until the test binary ends.
pub struct ResourceMetrics {
    ip: Ipv4Addr,
    port: u16,
    usage: Arc<Mutex<Usage>>,
}

/// This host's first non-loopback IPv4 address (the source address of its default route).
fn host_ip() -> Ipv4Addr {
    // Connecting a UDP socket sends nothing: it only picks the route, and so the source address.
    let mut seen = Vec::new();
    for peer in ["192.0.2.1:9", "10.255.255.1:9", "8.8.8.8:53"] {
        let probe = UdpSocket::bind("0.0.0.0:0").and_then(|s| s.connect(peer).map(|_| s));
        match probe.and_then(|s| s.local_addr()) {
            Ok(std::net::SocketAddr::V4(a)) if !a.ip().is_loopback() && !a.ip().is_unspecified() => return *a.ip(),
            other => seen.push(format!("{peer}: {other:?}")),
        }
    }
    panic!(
        "the resource metrics API needs a non-loopback IPv4 address on this host (Endpoints may not be \
         loopback): {seen:?}"
    )
}

impl ResourceMetrics {
    /// Starts serving on the host's address.
    pub fn start() -> ResourceMetrics {
        super::install_crypto_provider();
        let ip = host_ip();
        let listener = TcpListener::bind((ip, 0)).expect("bind the resource metrics API");
        let port = listener.local_addr().expect("local address").port();
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![ip.to_string(), "metrics".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key)
            .expect("TLS config");
        let config = Arc::new(config);
        let usage: Arc<Mutex<Usage>> = Arc::default();
        let shared = usage.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, usage) = (config.clone(), shared.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let path = match read_request_path(&mut tls) {
                        Some(p) => p,
                        None => return,
                    };
                    let (status, body) = answer(&path, &usage);
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes());
                    let _ = tls.write_all(body.as_bytes());
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        ResourceMetrics { ip, port, usage }
    }

    /// Sets what `pod`'s containers use: `(container, cpu, memory)`, e.g. `("api", "140m", "200Mi")`.
    pub fn set_usage(&self, namespace: &str, pod: &str, containers: &[(&str, &str, &str)]) {
        let list = containers.iter().map(|(c, cpu, mem)| (c.to_string(), cpu.to_string(), mem.to_string())).collect();
        self.usage.lock().unwrap().insert((namespace.to_string(), pod.to_string()), list);
    }

    /// The Service, Endpoints and APIService that register it with the API server (apply them
    /// with `apply_yaml`), in `namespace`.
    pub fn registration(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: resource-metrics, namespace: {namespace}}}\n\
             spec:\n  ports:\n  - {{name: https, port: 443, targetPort: {port}, protocol: TCP}}\n---\n\
             apiVersion: v1\nkind: Endpoints\nmetadata: {{name: resource-metrics, namespace: {namespace}}}\n\
             subsets:\n- addresses:\n  - ip: {ip}\n  ports:\n  - {{name: https, port: {port}, protocol: TCP}}\n---\n\
             apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {{name: v1beta1.metrics.k8s.io}}\n\
             spec:\n  group: metrics.k8s.io\n  version: v1beta1\n  insecureSkipTLSVerify: true\n\
             \x20 groupPriorityMinimum: 100\n  versionPriority: 100\n\
             \x20 service: {{name: resource-metrics, namespace: {namespace}, port: 443}}\n",
            port = self.port,
            ip = self.ip,
        )
    }
}

/// The request line's path, after the headers are read; None on a broken connection.
fn read_request_path<S: std::io::Read>(stream: S) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    Some(path)
}

fn answer(path: &str, usage: &Mutex<Usage>) -> (&'static str, String) {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["apis", "metrics.k8s.io", "v1beta1"] => ("200 OK", discovery()),
        ["apis", "metrics.k8s.io"] => (
            "200 OK",
            r#"{"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io","versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}"#.to_string(),
        ),
        ["apis", "metrics.k8s.io", "v1beta1", "namespaces", ns, "pods"] => ("200 OK", pod_list(ns, None, usage)),
        ["apis", "metrics.k8s.io", "v1beta1", "namespaces", ns, "pods", name] => {
            let body = pod_list(ns, Some(name), usage);
            match serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["items"].get(0).cloned()) {
                Some(item) => ("200 OK", item.to_string()),
                None => ("404 Not Found", not_found()),
            }
        }
        ["apis", "metrics.k8s.io", "v1beta1", "nodes"] => (
            "200 OK",
            r#"{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[]}"#.to_string(),
        ),
        _ => ("404 Not Found", not_found()),
    }
}

fn not_found() -> String {
    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#.to_string()
}

fn discovery() -> String {
    serde_json::json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1",
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ]
    })
    .to_string()
}

fn pod_list(namespace: &str, only: Option<&str>, usage: &Mutex<Usage>) -> String {
    // A fresh sample for every request: a one-second window ending now.
    let now = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now());
    let usage = usage.lock().unwrap();
    let items: Vec<serde_json::Value> = usage
        .iter()
        .filter(|((ns, pod), _)| ns == namespace && only.is_none_or(|o| o == pod))
        .map(|((ns, pod), containers)| {
            serde_json::json!({
                "metadata": {"name": pod, "namespace": ns, "creationTimestamp": now.to_string()},
                "timestamp": now.to_string(),
                "window": "1s",
                "containers": containers.iter().map(|(c, cpu, mem)| serde_json::json!({"name": c, "usage": {"cpu": cpu, "memory": mem}})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})
        .to_string()
}
