//! A real NATS server or 3-node cluster on 127.0.0.1 (JetStream optional, auth optional), with
//! monitoring URLs, and stop/restart of one node to test degraded clusters.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::control_plane::wait_ready;
use super::process::{ScratchDir, ServerProcess, free_port, is_port_clash};
use super::{cache_dir, http_get, http_get_json, poll_until, require_binary};

const META_NOT_FORMED: &str = "JetStream meta group incomplete";

/// The production NATS version.
pub const NATS_PRODUCTION: &str = "2.10.26";
/// The newest NATS version installed by the setup script.
pub const NATS_NEWEST: &str = "2.15.1";

/// Client authentication of the servers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NatsAuth {
    #[default]
    None,
    Token(String),
    UserPassword {
        user: String,
        password: String,
    },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// 1 (standalone) or more (a cluster with full-mesh routes).
    pub nodes: usize,
    /// `NATS_PRODUCTION` or `NATS_NEWEST` (a directory `nats-<version>` in the cache).
    pub version: String,
    pub jetstream: bool,
    pub auth: NatsAuth,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions { nodes: 1, version: NATS_PRODUCTION.into(), jetstream: true, auth: NatsAuth::None }
    }
}

struct Node {
    name: String,
    client_port: u16,
    monitor_port: u16,
    config: PathBuf,
    log: PathBuf,
    process: Option<ServerProcess>,
}

/// Running NATS servers; all killed on Drop.
pub struct NatsCluster {
    nodes: Vec<Node>,
    options: NatsOptions,
    binary: PathBuf,
    started_in: Duration,
    _dir: ScratchDir,
}

impl NatsCluster {
    /// Starts the servers and waits until each answers `/healthz` (with JetStream: a meta
    /// leader is known) and, in a cluster, routes to every other node and (with JetStream)
    /// counts every node in the meta group. Servers started together on empty stores now and
    /// then form a meta group without one of them (seen with 2.10); such a start is retried.
    pub async fn start(options: NatsOptions) -> NatsCluster {
        assert!(options.nodes >= 1, "NatsOptions.nodes must be at least 1");
        let path = cache_dir().join(format!("nats-{}/bin/nats-server", options.version));
        let binary = require_binary(&path, &format!("nats-server {}", options.version));
        let mut last = String::new();
        for _ in 0..3 {
            match start_once(&options, &binary).await {
                Ok(cluster) => return cluster,
                Err(e) if is_port_clash(&e) || e.starts_with(META_NOT_FORMED) => {
                    eprintln!("NATS {} start retried: {e}", options.version);
                    last = e;
                }
                Err(e) => panic!("NATS {} did not start: {e}", options.version),
            }
        }
        panic!("NATS {} did not start in 3 attempts: {last}", options.version)
    }

    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn options(&self) -> &NatsOptions {
        &self.options
    }

    /// `nats://127.0.0.1:PORT` of node `i` (no credentials; see [`Self::options`]`.auth`).
    pub fn client_url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].client_port)
    }

    pub fn client_urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.client_url(i)).collect()
    }

    /// `http://127.0.0.1:PORT` of node `i`'s monitoring (`/varz`, `/routez`, `/jsz`, `/healthz`).
    pub fn monitor_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].monitor_port)
    }

    pub fn monitor_urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.monitor_url(i)).collect()
    }

    /// The `server_name` of node `i`.
    pub fn server_name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// GET a monitoring endpoint of node `i`, e.g. `/jsz`, as JSON.
    pub async fn monitor_json(&self, i: usize, path: &str) -> Result<serde_json::Value, String> {
        http_get_json(&format!("{}{path}", self.monitor_url(i))).await
    }

    /// Names of the distinct servers node `i` has routes to. 2.10 pools several route
    /// connections per peer, so `num_routes` overcounts; names do not.
    pub async fn route_peers(&self, i: usize) -> Result<BTreeSet<String>, String> {
        let routez = self.monitor_json(i, "/routez").await?;
        let routes = routez.get("routes").and_then(|r| r.as_array()).cloned().unwrap_or_default();
        Ok(routes
            .iter()
            .filter_map(|r| r.get("remote_name").or_else(|| r.get("remote_id")))
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect())
    }

    /// Stops node `i` (SIGTERM, then SIGKILL after 5 s). Its store and ports are kept.
    pub fn stop_node(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].process.take() {
            p.terminate(Duration::from_secs(5));
        }
    }

    /// Starts node `i` again with the same config and waits until the whole cluster is healthy
    /// and fully routed again.
    pub async fn restart_node(&mut self, i: usize) {
        assert!(self.nodes[i].process.is_none(), "node {i} is running; stop it first");
        let node = &mut self.nodes[i];
        node.process = Some(spawn_node(&self.binary, node));
        if let Err(e) = self.wait_healthy(Duration::from_secs(60), Duration::from_secs(60)).await {
            panic!("NATS node {i} did not come back: {e}");
        }
    }

    async fn wait_healthy(&mut self, timeout: Duration, meta_timeout: Duration) -> Result<(), String> {
        let n = self.nodes.len();
        let urls = self.monitor_urls();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let Some(process) = node.process.as_mut() else {
                continue;
            };
            let healthz = format!("{}/healthz", urls[i]);
            wait_ready(process, timeout, || async {
                let (status, body) = http_get(&healthz).await?;
                (status == 200).then_some(()).ok_or(format!("healthz HTTP {status}: {body}"))
            })
            .await?;
        }
        if n > 1 {
            let running: Vec<usize> = (0..n).filter(|i| self.nodes[*i].process.is_some()).collect();
            for &i in &running {
                poll_until(timeout, || async {
                    let peers = self.route_peers(i).await?;
                    (peers.len() == running.len() - 1).then_some(()).ok_or(format!("node {i} routes to {peers:?}"))
                })
                .await?;
                // Client URLs are gossiped after the routes are up: wait until every running
                // server is advertised, or a probe right after start sees a smaller cluster.
                poll_until(timeout, || async {
                    let varz = self.monitor_json(i, "/varz").await?;
                    let urls = varz["connect_urls"].as_array().map_or(0, Vec::len);
                    (urls == running.len())
                        .then_some(())
                        .ok_or(format!("node {i} advertises {urls} client URLs of {}", running.len()))
                })
                .await?;
                // The meta group can elect a leader with 2 of 3 peers known and add the third
                // later: wait until every node counts all of them.
                if self.options.jetstream {
                    poll_until(meta_timeout, || async {
                        let meta = self.monitor_json(i, "/jsz").await?["meta_cluster"].clone();
                        let formed =
                            meta["cluster_size"] == n && meta["leader"].as_str().is_some_and(|l| !l.is_empty());
                        formed.then_some(()).ok_or(format!("{META_NOT_FORMED}: node {i} sees {meta}"))
                    })
                    .await?;
                }
            }
        }
        Ok(())
    }
}

fn config_text(options: &NatsOptions, nodes: &[(String, u16, u16, u16)], i: usize, store: &str) -> String {
    let (name, client, cluster, monitor) = &nodes[i];
    let mut text = format!("server_name: {name}\nlisten: \"127.0.0.1:{client}\"\nhttp: \"127.0.0.1:{monitor}\"\n");
    if options.jetstream {
        text.push_str(&format!("jetstream {{\n  store_dir: \"{store}\"\n}}\n"));
    }
    if nodes.len() > 1 {
        let routes: Vec<String> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (_, _, port, _))| format!("\"nats://127.0.0.1:{port}\""))
            .collect();
        text.push_str(&format!(
            "cluster {{\n  name: test-cluster\n  listen: \"127.0.0.1:{cluster}\"\n  routes: [{}]\n}}\n",
            routes.join(", ")
        ));
    }
    match &options.auth {
        NatsAuth::None => {}
        NatsAuth::Token(t) => text.push_str(&format!("authorization {{\n  token: \"{t}\"\n}}\n")),
        NatsAuth::UserPassword { user, password } => {
            text.push_str(&format!("authorization {{\n  user: \"{user}\"\n  password: \"{password}\"\n}}\n"))
        }
    }
    text
}

fn spawn_node(binary: &PathBuf, node: &Node) -> ServerProcess {
    let mut cmd = Command::new(binary);
    cmd.arg("-c").arg(&node.config);
    ServerProcess::spawn(&format!("nats-server {}", node.name), cmd, &node.log)
}

async fn start_once(options: &NatsOptions, binary: &PathBuf) -> Result<NatsCluster, String> {
    let started = Instant::now();
    let dir = ScratchDir::new("nats");
    let ports: Vec<(String, u16, u16, u16)> =
        (0..options.nodes).map(|i| (format!("n{}", i + 1), free_port(), free_port(), free_port())).collect();
    let mut nodes = Vec::new();
    for (i, (name, client_port, _, monitor_port)) in ports.iter().enumerate() {
        let store = dir.subdir(&format!("{name}-store"));
        let config = dir.path().join(format!("{name}.conf"));
        std::fs::write(&config, config_text(options, &ports, i, &store.display().to_string()))
            .map_err(|e| e.to_string())?;
        let mut node = Node {
            name: name.clone(),
            client_port: *client_port,
            monitor_port: *monitor_port,
            config,
            log: dir.path().join(format!("{name}.log")),
            process: None,
        };
        node.process = Some(spawn_node(binary, &node));
        nodes.push(node);
    }
    let mut cluster =
        NatsCluster { nodes, options: options.clone(), binary: binary.clone(), started_in: Duration::ZERO, _dir: dir };
    cluster.wait_healthy(Duration::from_secs(60), Duration::from_secs(8)).await?;
    cluster.started_in = started.elapsed();
    Ok(cluster)
}
