//! A real Kubernetes 1.20 control plane on 127.0.0.1: etcd, kube-apiserver (token auth, RBAC,
//! TLS from a test CA) and kube-controller-manager. No kubelet or scheduler: `kubelet.rs` plays
//! the kubelet; `node.rs` adds a real node (kubelet, scheduler, kube-proxy) when a test asks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{Api, DynamicObject, PostParams};
use kube::config::Kubeconfig;

use super::process::{ScratchDir, ServerProcess, free_port, is_port_clash};
use super::{cache_dir, http_client, poll_until, require_binary, run_blocking};

/// Unprivileged users in the token file (group `kgents-testers`). They can do nothing until a
/// test binds a role to them; bind in the test's own namespace, since tests share the plane.
pub const USERS: &[&str] = &["alice", "bob", "carol", "dave"];

/// The admin user (group `system:masters`).
pub const ADMIN: &str = "admin";

/// The real node's kubelet (group `system:nodes`; `node.rs` binds the `system:node` role to it).
pub const NODE_USER: &str = "system:node:realnode";

/// kube-proxy's user, bound to `system:node-proxier` by the API server's default policy.
pub const KUBE_PROXY_USER: &str = "system:kube-proxy";

/// A running control plane. Get the per-test-binary one with [`ControlPlane::shared`].
pub struct ControlPlane {
    // Declared before `dir` so the processes die before their directory is removed.
    processes: Mutex<Vec<ServerProcess>>,
    api_url: String,
    ca_pem: String,
    tokens: BTreeMap<String, String>,
    started_in: Duration,
    dir: ScratchDir,
}

/// Paths of the Kubernetes binaries (cache dir, built by the setup script).
fn kube_binary(name: &str) -> PathBuf {
    let path = cache_dir().join("kubernetes-1.20.2/bin").join(name);
    require_binary(&path, &format!("{name} 1.20.2"))
}

impl ControlPlane {
    /// The control plane shared by every test in this test binary, started on first use (a few
    /// seconds) and stopped when the binary ends. Give each test its own namespace.
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<ControlPlane> = OnceLock::new();
        SHARED.get_or_init(ControlPlane::start)
    }

    /// Starts a private control plane, stopped on Drop. Blocks; callable from async tests.
    pub fn start() -> ControlPlane {
        let etcd = require_binary(Path::new("/usr/bin/etcd"), "etcd");
        let apiserver = kube_binary("kube-apiserver");
        let kcm = kube_binary("kube-controller-manager");
        let mut last = String::new();
        for _ in 0..3 {
            match run_blocking(start_once(etcd.clone(), apiserver.clone(), kcm.clone())) {
                Ok(plane) => return plane,
                Err(e) if is_port_clash(&e) => last = e,
                Err(e) => panic!("control plane did not start: {e}"),
            }
        }
        panic!("control plane did not start, ports kept clashing: {last}")
    }

    /// How long starting took (processes up, API ready, controllers running).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// `https://127.0.0.1:PORT`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The CA that signed the API server's serving certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token of `user` (`admin`, one of [`USERS`], [`NODE_USER`], [`KUBE_PROXY_USER`]).
    pub fn token(&self, user: &str) -> &str {
        match self.tokens.get(user) {
            Some(t) => t,
            None => panic!("unknown test user {user:?}; known: admin, {USERS:?}"),
        }
    }

    /// Path of a kubeconfig for the admin (token auth, server verified against the test CA).
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.kubeconfig_for(ADMIN)
    }

    /// Path of a kubeconfig for `user` (`admin` or one of [`USERS`]).
    pub fn kubeconfig_for(&self, user: &str) -> PathBuf {
        let path = self.dir.path().join(format!("kubeconfig-{user}.yaml"));
        if !path.exists() {
            write_kubeconfig(&path, &self.api_url, &self.ca_pem, user, self.token(user));
        }
        path
    }

    /// An admin client. Call inside a tokio runtime: a kube client belongs to the runtime it
    /// was made in, so every test makes its own.
    pub fn client(&self) -> kube::Client {
        self.client_for(ADMIN)
    }

    /// A client for `user`, loaded from [`Self::kubeconfig_for`] by kube's own loader.
    pub fn client_for(&self, user: &str) -> kube::Client {
        client_from_kubeconfig(&self.kubeconfig_for(user))
    }

    /// Creates namespace `name` exactly (tests share the plane: pick names unique in the
    /// binary, or use [`Self::unique_namespace`]).
    pub async fn create_namespace(&self, name: &str) -> String {
        self.create_namespace_labeled(name, &[]).await
    }

    /// Creates namespace `name` with labels. 1.20 adds no `kubernetes.io/metadata.name` label.
    pub async fn create_namespace_labeled(&self, name: &str, labels: &[(&str, &str)]) -> String {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels}
        }))
        .expect("namespace object");
        let api: Api<Namespace> = Api::all(self.client());
        if let Err(e) = api.create(&PostParams::default(), &ns).await {
            panic!("create namespace {name}: {e}");
        }
        name.to_string()
    }

    /// Creates a namespace named `<prefix>-<n>`, unique in this test binary, and returns it.
    pub async fn unique_namespace(&self, prefix: &str) -> String {
        self.create_namespace(&super::unique_name(prefix)).await
    }

    /// Creates or replaces every object in a multi-document YAML; namespaced objects without a
    /// namespace go to `default`. Panics with the API's message on failure.
    pub async fn apply_yaml(&self, yaml: &str) -> Vec<DynamicObject> {
        match super::apply::apply_yaml(&self.client(), None, yaml).await {
            Ok(objs) => objs,
            Err(e) => panic!("apply_yaml: {e}"),
        }
    }

    /// Like [`Self::apply_yaml`], with `namespace` for namespaced objects that name none.
    pub async fn apply_yaml_in(&self, namespace: &str, yaml: &str) -> Vec<DynamicObject> {
        match super::apply::apply_yaml(&self.client(), Some(namespace), yaml).await {
            Ok(objs) => objs,
            Err(e) => panic!("apply_yaml_in {namespace}: {e}"),
        }
    }

    /// The API server's request counters (`apiserver_request_total`), for counting LISTs.
    pub async fn request_counts(&self) -> super::RequestCounts {
        let url = format!("{}/metrics", self.api_url);
        let resp = http_client(Some(&self.ca_pem))
            .get(&url)
            .bearer_auth(self.token(ADMIN))
            .send()
            .await
            .expect("GET /metrics from the API server");
        assert!(resp.status().is_success(), "GET /metrics: HTTP {}", resp.status());
        super::RequestCounts::parse(&resp.text().await.expect("read /metrics"))
    }

    /// Creates ServiceAccount `name` in `namespace`, waits for the token controller's secret
    /// and writes a kubeconfig for it: one more unprivileged identity, private to a test.
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let client = self.client();
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
        let sa: ServiceAccount = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("sa");
        sas.create(&PostParams::default(), &sa).await.expect("create service account");
        let secrets: Api<Secret> = Api::namespaced(client, namespace);
        let token = poll_until(Duration::from_secs(30), || {
            let (sas, secrets) = (sas.clone(), secrets.clone());
            async move {
                let sa = sas.get(name).await.map_err(|e| e.to_string())?;
                let secret_name = sa.secrets.unwrap_or_default().into_iter().find_map(|r| r.name);
                let secret_name = secret_name.ok_or("no token secret yet")?;
                let secret = secrets.get(&secret_name).await.map_err(|e| e.to_string())?;
                let token = secret.data.unwrap_or_default().remove("token").ok_or("no token key yet")?;
                String::from_utf8(token.0).map_err(|e| e.to_string())
            }
        })
        .await
        .unwrap_or_else(|e| panic!("token of service account {namespace}/{name}: {e}"));
        let path = self.dir.path().join(format!("kubeconfig-sa-{namespace}-{name}.yaml"));
        write_kubeconfig(&path, &self.api_url, &self.ca_pem, &format!("{namespace}-{name}"), &token);
        path
    }
}

/// A kube client from a kubeconfig file (sync; needs a tokio runtime context).
pub fn client_from_kubeconfig(path: &Path) -> kube::Client {
    super::install_crypto_provider();
    let config = Kubeconfig::read_from(path).expect("read a test kubeconfig");
    kube::Client::try_from(config).expect("kube client from a test kubeconfig")
}

/// Writes a kubeconfig with the CA inline and a bearer token.
fn write_kubeconfig(path: &Path, server: &str, ca_pem: &str, user: &str, token: &str) {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\n\
         contexts:\n- name: {user}@test\n  context:\n    cluster: test\n    user: {user}\n    \
         namespace: default\ncurrent-context: {user}@test\n"
    );
    // Written aside and renamed: tests asking for the same kubeconfig at once never see half a file.
    let tmp = path.with_extension(format!("tmp{}", super::random_hex(4)));
    std::fs::write(&tmp, text).expect("write a test kubeconfig");
    std::fs::rename(&tmp, path).expect("move a test kubeconfig into place");
}

/// Test CA, API serving certificate (127.0.0.1, localhost, kubernetes.default.svc, 10.96.0.1),
/// the API server's client certificate for kubelets (logs, exec: a kubelet trusts the same CA)
/// and the service-account signing key pair, all written into `dir`. Returns the CA PEM.
fn write_pki(dir: &Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.distinguished_name.push(DnType::CommonName, "kgents-gate test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"];
    let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
    params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    for ip in ["127.0.0.1", "10.96.0.1"] {
        params.subject_alt_names.push(SanType::IpAddress(ip.parse().expect("ip")));
    }
    let key = KeyPair::generate().expect("serving key");
    let cert = params.signed_by(&key, &issuer).expect("sign the serving certificate");

    let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    client_params.distinguished_name.push(DnType::CommonName, "kube-apiserver-kubelet-client");
    client_params.distinguished_name.push(DnType::OrganizationName, "system:masters");
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().expect("kubelet client key");
    let client_cert = client_params.signed_by(&client_key, &issuer).expect("sign the kubelet client certificate");

    let sa_key = KeyPair::generate().expect("service-account key");
    let files = [
        ("ca.crt", ca_cert.pem()),
        ("apiserver.crt", cert.pem()),
        ("apiserver.key", key.serialize_pem()),
        ("kubelet-client.crt", client_cert.pem()),
        ("kubelet-client.key", client_key.serialize_pem()),
        ("sa.key", sa_key.serialize_pem()),
        ("sa.pub", sa_key.public_key_pem()),
    ];
    for (name, content) in files {
        std::fs::write(dir.join(name), content).expect("write PKI file");
    }
    ca_cert.pem()
}

async fn start_once(etcd: PathBuf, apiserver: PathBuf, kcm: PathBuf) -> Result<ControlPlane, String> {
    let started = Instant::now();
    let dir = ScratchDir::new("control-plane");
    let d = dir.path().to_path_buf();
    let ca_pem = write_pki(&d);

    let mut tokens = BTreeMap::new();
    let mut csv = String::new();
    tokens.insert(ADMIN.to_string(), super::random_hex(16));
    csv.push_str(&format!("{},admin,uid-admin,\"system:masters\"\n", tokens[ADMIN]));
    for user in USERS {
        let token = super::random_hex(16);
        csv.push_str(&format!("{token},{user},uid-{user},\"kgents-testers\"\n"));
        tokens.insert(user.to_string(), token);
    }
    for (user, group) in [(NODE_USER, "system:nodes"), (KUBE_PROXY_USER, "system:node-proxier")] {
        let token = super::random_hex(16);
        csv.push_str(&format!("{token},{user},uid-{},\"{group}\"\n", user.replace(':', "-")));
        tokens.insert(user.to_string(), token);
    }
    std::fs::write(d.join("tokens.csv"), csv).map_err(|e| e.to_string())?;

    let (etcd_port, peer_port, api_port) = (free_port(), free_port(), free_port());
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let mut cmd = Command::new(etcd);
    cmd.arg("--name=test")
        .arg(format!("--data-dir={}", d.join("etcd").display()))
        .arg(format!("--listen-client-urls={etcd_url}"))
        .arg(format!("--advertise-client-urls={etcd_url}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster=test={peer_url}"))
        .arg("--log-level=warn");
    let mut etcd = ServerProcess::spawn("etcd", cmd, &d.join("etcd.log"));
    let health = format!("{etcd_url}/health");
    wait_ready(&mut etcd, Duration::from_secs(30), || async {
        let (status, body) = super::http_get(&health).await?;
        (status == 200 && body.contains("true")).then_some(()).ok_or(body)
    })
    .await?;

    let p = |name: &str| d.join(name).display().to_string();
    let mut cmd = Command::new(apiserver);
    cmd.args(["--etcd-servers", &etcd_url, "--bind-address", "127.0.0.1"])
        .args(["--secure-port", &api_port.to_string(), "--cert-dir", &p("certs")])
        .args(["--tls-cert-file", &p("apiserver.crt"), "--tls-private-key-file", &p("apiserver.key")])
        .args(["--token-auth-file", &p("tokens.csv"), "--authorization-mode", "RBAC"])
        .args(["--service-account-key-file", &p("sa.pub")])
        .args(["--service-account-signing-key-file", &p("sa.key")])
        .args(["--service-account-issuer", "https://kubernetes.default.svc"])
        .args(["--service-cluster-ip-range", "10.96.0.0/16", "--advertise-address", "127.0.0.1"])
        .args(["--disable-admission-plugins", "ServiceAccount", "--insecure-port", "0"])
        // For logs and exec on a real node (node.rs): the kubelet listens on its InternalIP
        // (its name does not resolve) and trusts client certificates from the test CA.
        .args(["--kubelet-client-certificate", &p("kubelet-client.crt")])
        .args(["--kubelet-client-key", &p("kubelet-client.key")])
        .args(["--kubelet-preferred-address-types", "InternalIP"])
        // Aggregated APIs (resource_metrics.rs) are reached at their Endpoints' address: no
        // kube-proxy on this host to translate a ClusterIP.
        .args(["--enable-aggregator-routing=true"])
        .args(["--v", "1"]);
    let mut apiserver = ServerProcess::spawn("kube-apiserver", cmd, &d.join("kube-apiserver.log"));
    let api_url = format!("https://127.0.0.1:{api_port}");
    let readyz = format!("{api_url}/readyz");
    let http = http_client(Some(&ca_pem));
    let admin_token = tokens[ADMIN].clone();
    wait_ready(&mut apiserver, Duration::from_secs(60), || async {
        let resp = http.get(&readyz).bearer_auth(&admin_token).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        status.is_success().then_some(()).ok_or(format!("readyz: HTTP {status}"))
    })
    .await?;

    let plane =
        ControlPlane { processes: Mutex::new(vec![]), api_url, ca_pem, tokens, started_in: Duration::ZERO, dir };
    let mut cmd = Command::new(kcm);
    cmd.args(["--kubeconfig", &plane.admin_kubeconfig().display().to_string()])
        .args(["--controllers", "*", "--use-service-account-credentials=false"])
        .args(["--service-account-private-key-file", &p("sa.key"), "--root-ca-file", &p("ca.crt")])
        .args(["--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0", "--port", "0"])
        // The default, /usr/libexec/kubernetes/kubelet-plugins/volume/exec, is created on the host.
        .args(["--flex-volume-plugin-dir", &p("flexvolume")])
        // No kubelet posts heartbeats: keep Node objects the tests create from going Unknown.
        .args(["--node-monitor-grace-period", "8760h", "--node-startup-grace-period", "8760h"])
        .args(["--v", "1"]);
    let mut kcm = ServerProcess::spawn("kube-controller-manager", cmd, &d.join("kube-controller-manager.log"));
    // The service-account controller creating `default/default` shows the controllers run.
    let client = plane.client();
    wait_ready(&mut kcm, Duration::from_secs(60), || async {
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        sas.get("default").await.map(|_| ()).map_err(|e| e.to_string())
    })
    .await?;
    *plane.processes.lock().unwrap_or_else(|e| e.into_inner()) = vec![kcm, apiserver, etcd];
    Ok(ControlPlane { started_in: started.elapsed(), ..plane })
}

/// Polls `check` until it passes, failing early (with the log tail) if the process exits.
pub(super) async fn wait_ready<F, Fut>(proc: &mut ServerProcess, timeout: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let until = Instant::now() + timeout;
    loop {
        if proc.exited().is_some() {
            return Err(proc.describe_failure("exited during start"));
        }
        match check().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= until => {
                return Err(proc.describe_failure(&format!("not ready after {timeout:?}: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
