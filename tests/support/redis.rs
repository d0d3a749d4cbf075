//! A real redis-server on 127.0.0.1 with the settings a test needs (password, eviction policy,
//! persistence), optionally with a replica in its own process.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::control_plane::wait_ready;
use super::process::{ScratchDir, ServerProcess, free_port, is_port_clash};
use super::{poll_until, require_binary};

/// RDB snapshot setting (`save`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RedisSave {
    /// Redis' built-in default schedule.
    #[default]
    Default,
    /// `save ""`: no snapshots.
    Disabled,
    /// A schedule such as `"3600 1 300 100"`.
    Schedule(String),
}

/// What to start. `Default` is a plain server without password or persistence tweaks.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// `requirepass` (and `masterauth` for the replica).
    pub password: Option<String>,
    /// `maxmemory`, e.g. `"64mb"`.
    pub maxmemory: Option<String>,
    /// `maxmemory-policy`, e.g. `"noeviction"` or `"allkeys-lru"`.
    pub maxmemory_policy: Option<String>,
    pub appendonly: bool,
    pub save: RedisSave,
    /// Also start a replica (`replicaof` the primary) and wait until its link is up.
    pub replica: bool,
}

/// A running primary (and replica); killed on Drop.
pub struct Redis {
    primary: ServerProcess,
    replica: Option<ServerProcess>,
    port: u16,
    replica_port: Option<u16>,
    options: RedisOptions,
    _dir: ScratchDir,
}

impl Redis {
    pub async fn start(options: RedisOptions) -> Redis {
        let binary = require_binary(Path::new("/usr/bin/redis-server"), "redis-server");
        let mut last = String::new();
        for _ in 0..3 {
            match start_once(&options, &binary).await {
                Ok(redis) => return redis,
                Err(e) if is_port_clash(&e) => last = e,
                Err(e) => panic!("redis did not start: {e}"),
            }
        }
        panic!("redis did not start, ports kept clashing: {last}")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn password(&self) -> Option<&str> {
        self.options.password.as_deref()
    }

    /// `redis://[:password@]127.0.0.1:PORT/` of the primary.
    pub fn url(&self) -> String {
        url(self.port, self.password())
    }

    /// The primary's URL without credentials.
    pub fn url_without_auth(&self) -> String {
        url(self.port, None)
    }

    /// The replica's URL (with credentials), if one was started.
    pub fn replica_url(&self) -> Option<String> {
        self.replica_port.map(|p| url(p, self.password()))
    }

    pub fn primary_pid(&self) -> u32 {
        self.primary.pid()
    }

    /// Kills the replica (to test a broken replication link).
    pub fn stop_replica(&mut self) {
        if let Some(mut r) = self.replica.take() {
            r.kill();
        }
    }
}

fn url(port: u16, password: Option<&str>) -> String {
    match password {
        Some(p) => format!("redis://:{p}@127.0.0.1:{port}/"),
        None => format!("redis://127.0.0.1:{port}/"),
    }
}

/// Sends one command in RESP over a fresh connection and returns the raw reply text (e.g.
/// `+PONG\r\n` or `-NOAUTH ...`): what any client would see, without a client library's setup.
pub async fn raw_command(port: u16, args: &[&str]) -> Result<String, String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .map_err(|_| "no reply within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn spawn(
    binary: &Path,
    dir: &Path,
    name: &str,
    port: u16,
    options: &RedisOptions,
    primary: Option<u16>,
) -> ServerProcess {
    let mut cmd = Command::new(binary);
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .args(["--appendonly", if options.appendonly { "yes" } else { "no" }]);
    if let Some(p) = &options.password {
        cmd.args(["--requirepass", p, "--masterauth", p]);
    }
    if let Some(m) = &options.maxmemory {
        cmd.args(["--maxmemory", m]);
    }
    if let Some(p) = &options.maxmemory_policy {
        cmd.args(["--maxmemory-policy", p]);
    }
    match &options.save {
        RedisSave::Default => {}
        RedisSave::Disabled => {
            cmd.args(["--save", ""]);
        }
        RedisSave::Schedule(s) => {
            cmd.args(["--save", s]);
        }
    }
    if let Some(primary) = primary {
        cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
    }
    ServerProcess::spawn(name, cmd, &dir.join(format!("{name}.log")))
}

/// Ready when it answers a PING at all (PONG, or NOAUTH when a password is set).
async fn wait_answering(process: &mut ServerProcess, port: u16) -> Result<(), String> {
    wait_ready(process, Duration::from_secs(30), || async {
        let reply = raw_command(port, &["PING"]).await?;
        (reply.starts_with("+PONG") || reply.starts_with("-NOAUTH")).then_some(()).ok_or(reply)
    })
    .await
}

async fn start_once(options: &RedisOptions, binary: &Path) -> Result<Redis, String> {
    let dir = ScratchDir::new("redis");
    let port = free_port();
    let primary_dir = dir.subdir("primary");
    let mut primary = spawn(binary, &primary_dir, "redis-primary", port, options, None);
    wait_answering(&mut primary, port).await?;
    let (mut replica, mut replica_port) = (None, None);
    if options.replica {
        let rport = free_port();
        let mut r = spawn(binary, &dir.subdir("replica"), "redis-replica", rport, options, Some(port));
        wait_answering(&mut r, rport).await?;
        let started = Instant::now();
        let auth: Vec<&str> = options.password.iter().map(|p| p.as_str()).collect();
        poll_until(Duration::from_secs(30), || async {
            // AUTH and INFO pipelined on one connection.
            let info = raw_pipeline(rport, &auth, &["INFO", "replication"]).await?;
            info.contains("master_link_status:up").then_some(()).ok_or(info)
        })
        .await
        .map_err(|e| r.describe_failure(&format!("replication link not up after {:?}: {e}", started.elapsed())))?;
        replica = Some(r);
        replica_port = Some(rport);
    }
    Ok(Redis { primary, replica, port, replica_port, options: options.clone(), _dir: dir })
}

/// `AUTH password` (when given) then one command, read until the bulk reply is complete.
async fn raw_pipeline(port: u16, auth: &[&str], args: &[&str]) -> Result<String, String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let mut req = String::new();
    for cmd in [if auth.is_empty() { vec![] } else { [&["AUTH"], auth].concat() }, args.to_vec()] {
        if cmd.is_empty() {
            continue;
        }
        req.push_str(&format!("*{}\r\n", cmd.len()));
        for a in cmd {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
    }
    stream.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let n = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
        match n {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}
