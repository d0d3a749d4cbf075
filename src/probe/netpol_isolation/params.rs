//! Parameters of the `netpol-isolation` check: the destination (namespace, pod labels, port),
//! the sources that must and must not reach it, and how live probe pods are run.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::netpol::{PortSpec, Protocol};
use crate::probe::ParamReader;

/// An address standing for "somewhere outside the cluster" when `external` names no IP
/// (TEST-NET-3, never a pod address).
pub const DEFAULT_EXTERNAL_IP: &str = "203.0.113.10";

/// One entry of `allow_from` / `deny_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Pods of a namespace; when `selector` is not empty, only pods with those labels.
    Pods { namespace: String, selector: BTreeMap<String, String> },
    /// Traffic from outside the cluster, from this address.
    External(IpAddr),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Pods { namespace, selector } if selector.is_empty() => f.write_str(namespace),
            Source::Pods { namespace, selector } => {
                let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "{namespace} [{}]", labels.join(","))
            }
            Source::External(ip) => write!(f, "external:{ip}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IsolationParams {
    pub namespace: String,
    /// Labels of the destination pods.
    pub selector: BTreeMap<String, String>,
    pub port: PortSpec,
    pub protocol: Protocol,
    pub allow_from: Vec<Source>,
    pub deny_from: Vec<Source>,
    /// Run probe pods when a live cluster is there (default true).
    pub live: bool,
    /// Image of the probe pods.
    pub image: String,
    /// Probe command; `{host}`, `{port}` and `{timeout}` (seconds) are replaced. It must print
    /// the probe's marker (`KGENTS-PROBE reachable|refused|timeout|tool-error: ...`) to
    /// `/dev/termination-log`; the default is the script of `script.rs`.
    pub command: Vec<String>,
    /// A DNS name to probe (e.g. the Service) instead of the destination pod's IP.
    pub service: Option<String>,
    /// Connect timeout of one probe.
    pub connect_timeout: Duration,
    /// Run the enforcement canary before trusting a "reachable".
    pub canary: bool,
}

pub const DEFAULT_IMAGE: &str = "busybox:1.36";

pub use super::script::default_command;

fn read_sources(r: &mut ParamReader, key: &str) -> Vec<Source> {
    let Some(items) = r.opt_array(key) else { return Vec::new() };
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        match parse_source(v) {
            Ok(s) => out.push(s),
            Err(e) => r.error_at(&format!("{key}[{i}]"), format!("`{key}[{i}]`: {e}")),
        }
    }
    out
}

fn parse_source(v: &toml::Value) -> Result<Source, String> {
    match v {
        toml::Value::String(s) if s == "external" => Ok(Source::External(
            DEFAULT_EXTERNAL_IP
                .parse()
                .map_err(|_| "internal error: the default external address does not parse".to_string())?,
        )),
        toml::Value::String(s) if s.starts_with("external:") => {
            let ip = &s["external:".len()..];
            ip.parse().map(Source::External).map_err(|_| format!("{ip:?} is not an IP address"))
        }
        toml::Value::String(s) if valid_namespace(s) => {
            Ok(Source::Pods { namespace: s.clone(), selector: BTreeMap::new() })
        }
        toml::Value::String(s) => Err(format!("{s:?} is not a namespace name, \"external\" or \"external:IP\"")),
        toml::Value::Table(t) => {
            let mut namespace = None;
            let mut selector = BTreeMap::new();
            for (k, v) in t {
                match (k.as_str(), v) {
                    ("namespace", toml::Value::String(s)) if valid_namespace(s) => namespace = Some(s.clone()),
                    ("namespace", other) => return Err(format!("`namespace` must be a namespace name, found {other}")),
                    ("selector", toml::Value::Table(labels)) => {
                        for (lk, lv) in labels {
                            let lv = lv.as_str().ok_or_else(|| format!("label `{lk}` must be a string"))?;
                            selector.insert(lk.clone(), lv.to_string());
                        }
                    }
                    ("selector", other) => {
                        return Err(format!("`selector` must be a table of labels, found {}", other.type_str()));
                    }
                    (other, _) => return Err(format!("unknown key `{other}` (expected namespace and selector)")),
                }
            }
            let namespace = namespace.ok_or("a source table needs `namespace`")?;
            Ok(Source::Pods { namespace, selector })
        }
        other => {
            Err(format!("expected a namespace name or a table {{namespace, selector}}, found {}", other.type_str()))
        }
    }
}

/// A DNS-1123 label, as namespace names are.
fn valid_namespace(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl IsolationParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let namespace = r.req_str("namespace");
        if let Some(ns) = &namespace
            && !valid_namespace(ns)
        {
            r.error("namespace", format!("{ns:?} is not a namespace name"));
        }
        let selector = r.opt_labels("selector");
        if selector.is_none() {
            r.error("selector", "missing parameter `selector` (labels of the destination pods)");
        }
        let port = match r.value("port") {
            Some(toml::Value::Integer(n)) => match u16::try_from(*n).ok().filter(|n| *n > 0) {
                Some(n) => Some(PortSpec::Number(n)),
                None => {
                    r.error("port", format!("port {n} is out of range 1-65535"));
                    None
                }
            },
            Some(toml::Value::String(s)) => match s.parse::<PortSpec>() {
                Ok(p) => Some(p),
                Err(e) => {
                    r.error("port", e);
                    None
                }
            },
            Some(other) => {
                r.error(
                    "port",
                    format!("parameter `port` must be a number or a port name, found {}", other.type_str()),
                );
                None
            }
            None => {
                r.error("port", "missing parameter `port` (a number or a container port name)");
                None
            }
        };
        let protocol = match r.opt_str("protocol").map(|s| s.parse::<Protocol>()) {
            None => Some(Protocol::Tcp),
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                r.error("protocol", e);
                None
            }
        };
        let allow_from = read_sources(r, "allow_from");
        let deny_from = read_sources(r, "deny_from");
        if allow_from.is_empty() && deny_from.is_empty() {
            r.error_general("`allow_from` and `deny_from` are both empty: nothing to check");
        }
        let live = r.opt_bool("live").unwrap_or(true);
        let image = r.opt_str("image").unwrap_or_else(|| DEFAULT_IMAGE.to_string());
        let command = r.opt_str_list("command").unwrap_or_else(default_command);
        if command.is_empty() {
            r.error("command", "`command` must not be empty");
        }
        let service = r.opt_str("service");
        let connect_timeout = r.opt_duration("connect_timeout").unwrap_or(Duration::from_secs(3));
        let canary = r.opt_bool("canary").unwrap_or(true);
        Some(IsolationParams {
            namespace: namespace?,
            selector: selector?,
            port: port?,
            protocol: protocol?,
            allow_from,
            deny_from,
            live,
            image,
            command,
            service,
            connect_timeout,
            canary,
        })
    }

    /// Every namespace the verdicts depend on: the destination's and the sources'.
    pub fn namespaces(&self) -> Vec<String> {
        let mut out = vec![self.namespace.clone()];
        for s in self.allow_from.iter().chain(&self.deny_from) {
            if let Source::Pods { namespace, .. } = s
                && !out.contains(namespace)
            {
                out.push(namespace.clone());
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<IsolationParams, Vec<crate::probe::ParamError>> {
        let t: toml::Table = toml::from_str(text).unwrap();
        let mut r = ParamReader::new(&t);
        let p = IsolationParams::read(&mut r);
        r.finish()?;
        Ok(p.unwrap())
    }

    #[test]
    fn sources_in_every_form() {
        let p = read(
            r#"namespace = "kgents-agents"
selector = { "app.kubernetes.io/name" = "nats" }
port = 4222
allow_from = ["kgents-agents", { namespace = "kgents-triad", selector = { app = "billing" } }]
deny_from = ["default", "external", "external:198.51.100.7"]"#,
        )
        .unwrap();
        assert_eq!(p.port, PortSpec::Number(4222));
        assert_eq!(p.protocol, Protocol::Tcp);
        assert_eq!(p.allow_from[1].to_string(), "kgents-triad [app=billing]");
        assert_eq!(p.deny_from[1].to_string(), format!("external:{DEFAULT_EXTERNAL_IP}"));
        assert_eq!(p.deny_from[2].to_string(), "external:198.51.100.7");
        assert_eq!(p.namespaces(), ["default", "kgents-agents", "kgents-triad"]);
        assert_eq!(p.command, default_command());
        assert_eq!(p.image, DEFAULT_IMAGE);
    }

    #[test]
    fn bad_parameters_are_all_reported() {
        let errs = read(
            r#"namespace = "Bad_NS"
selector = { app = 3 }
port = 0
protocol = "ICMP"
allow_from = ["external:nope", { selector = { a = "b" } }, 7]
colour = "red""#,
        )
        .unwrap_err();
        let keys: Vec<_> = errs.iter().filter_map(|e| e.key.clone()).collect();
        for k in ["namespace", "selector", "port", "protocol", "allow_from", "colour"] {
            assert!(keys.iter().any(|x| x == k), "{k} not reported: {errs:?}");
        }
        assert_eq!(keys.iter().filter(|k| *k == "allow_from").count(), 3);
        let errs = read("namespace = \"a\"\nselector = {}\nport = \"http\"").unwrap_err();
        assert!(errs.iter().any(|e| e.message.contains("nothing to check")));
    }
}
