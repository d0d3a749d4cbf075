//! Live access like kubectl: kubeconfig (`--kubeconfig`, `KUBECONFIG` with several files,
//! `--context`) or the in-cluster service account; discovery of served versions; one paginated
//! LIST per needed kind (per namespace in scope), kinds loaded concurrently.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::join_all;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::Value;

use super::kinds::{Kind, Need, Scope};
use super::view::{ClusterView, Gap, KindData};
use crate::report::ClusterInfo;

/// How to reach the cluster.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Objects per LIST page.
    pub page_size: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            kubeconfig: None,
            context: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(20),
            page_size: 500,
        }
    }
}

/// Why there is no live cluster to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("no cluster configured: no --kubeconfig, no KUBECONFIG, no ~/.kube/config and not running in a pod")]
    NoConfig,
    #[error("invalid kubeconfig: {0}")]
    BadConfig(String),
    #[error("cannot reach the API server at {server}: {reason}")]
    Unreachable { server: String, reason: String },
}

/// A connected client and what we know of the cluster.
#[derive(Clone)]
pub struct Live {
    pub client: Client,
    pub info: ClusterInfo,
}

impl std::fmt::Debug for Live {
    // The client holds credentials: show only where it points.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("server", &self.info.server).finish_non_exhaustive()
    }
}

/// A kubeconfig error in words that never quote the file: it holds tokens and keys.
fn kubeconfig_error(e: &KubeconfigError) -> String {
    match e {
        KubeconfigError::Parse(p) => match p.location() {
            Some(l) => format!("invalid YAML at line {} column {}", l.line(), l.column()),
            None => "invalid YAML".to_string(),
        },
        KubeconfigError::ReadConfig(io, path) => format!("cannot read {}: {io}", path.display()),
        other => other.to_string(),
    }
}

/// The kubeconfig kubectl would read: `--kubeconfig`, else `KUBECONFIG` (several files merged),
/// else `~/.kube/config`; None when there is none.
pub fn read_kubeconfig(path: Option<&std::path::Path>) -> Result<Option<Kubeconfig>, ConnectError> {
    match path {
        Some(p) => Ok(Some(Kubeconfig::read_from(p).map_err(|e| {
            ConnectError::BadConfig(format!("--kubeconfig {}: {}", p.display(), kubeconfig_error(&e)))
        })?)),
        None => match Kubeconfig::from_env() {
            Ok(Some(k)) => Ok(Some(k)),
            Ok(None) => match default_kubeconfig_path().filter(|p| p.exists()) {
                // A ~/.kube/config that exists but cannot be read is an error, not "no cluster".
                Some(p) => Ok(Some(
                    Kubeconfig::read_from(&p)
                        .map_err(|e| ConnectError::BadConfig(format!("{}: {}", p.display(), kubeconfig_error(&e))))?,
                )),
                None => Ok(None),
            },
            Err(e) => Err(ConnectError::BadConfig(format!("KUBECONFIG: {}", kubeconfig_error(&e)))),
        },
    }
}

/// The context names of that kubeconfig, in file order, and its current context.
pub fn kubeconfig_contexts(path: Option<&std::path::Path>) -> Result<(Vec<String>, Option<String>), ConnectError> {
    match read_kubeconfig(path)? {
        Some(kc) => Ok((kc.contexts.iter().map(|c| c.name.clone()).collect(), kc.current_context.clone())),
        None => Err(ConnectError::NoConfig),
    }
}

/// Builds the client configuration the way kubectl picks it.
async fn config(opts: &LiveOptions) -> Result<(Config, Option<String>), ConnectError> {
    let kco = KubeConfigOptions { context: opts.context.clone(), cluster: None, user: None };
    let kubeconfig = read_kubeconfig(opts.kubeconfig.as_deref())?;
    let (mut config, context) = match kubeconfig {
        Some(kc) => {
            let context = opts.context.clone().or_else(|| kc.current_context.clone());
            let c = Config::from_custom_kubeconfig(kc, &kco)
                .await
                .map_err(|e| ConnectError::BadConfig(kubeconfig_error(&e)))?;
            (c, context)
        }
        None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
            (Config::incluster().map_err(|e| ConnectError::BadConfig(format!("in-cluster: {e}")))?, None)
        }
        None => return Err(ConnectError::NoConfig),
    };
    config.connect_timeout = Some(opts.connect_timeout);
    config.read_timeout = Some(opts.read_timeout);
    config.write_timeout = Some(opts.read_timeout);
    Ok((config, context))
}

/// `~/.kube/config`, as kubectl finds it.
fn default_kubeconfig_path() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".kube").join("config"))
}

/// Connects and reads the server version and the cluster identity (`kube-system` UID).
pub async fn connect(opts: &LiveOptions) -> Result<Live, ConnectError> {
    let (config, context) = config(opts).await?;
    // As written in the kubeconfig: `Uri` adds a `/` path to a bare authority.
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = Client::try_from(config).map_err(|e| ConnectError::BadConfig(e.to_string()))?;
    let deadline = opts.connect_timeout + opts.read_timeout;
    let version = match tokio::time::timeout(deadline, client.apiserver_version()).await {
        Ok(Ok(v)) => v.git_version,
        Ok(Err(e)) => return Err(ConnectError::Unreachable { server, reason: short_error(&e) }),
        Err(_) => return Err(ConnectError::Unreachable { server, reason: format!("no answer within {deadline:?}") }),
    };
    let identity = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .get_opt("kube-system")
        .await
        .ok()
        .flatten()
        .and_then(|ns| ns.metadata.uid);
    Ok(Live { client, info: ClusterInfo { server, version, context, identity } })
}

/// A kube error in a few words, never with a response body.
fn short_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => {
            let s = other.to_string();
            // Connection errors nest their causes; the first line is the useful part.
            s.lines().next().unwrap_or("error").to_string()
        }
    }
}

/// The version of `kind` the server serves (first of the candidates), or why none.
async fn served_version(client: &Client, kind: Kind) -> Result<&'static str, Gap> {
    let info = kind.info();
    if info.versions.len() == 1 && !kind.is_crd() {
        return Ok(info.versions[0]);
    }
    let path = if info.group.is_empty() { "/api".to_string() } else { format!("/apis/{}", info.group) };
    let group = match kube::discovery::group(client, info.group).await {
        Ok(g) => g,
        // kube's discovery lists /apis first and reports an absent group as MissingApiGroup.
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(Gap::NotServed {
                reason: format!("the API server does not serve {path} ({} CRD not installed?)", info.kind),
            });
        }
        Err(kube::Error::Discovery(kube::error::DiscoveryError::MissingApiGroup(_))) => {
            return Err(Gap::NotServed {
                reason: format!("the API server does not serve {path} ({} CRD not installed?)", info.kind),
            });
        }
        Err(e) => return Err(Gap::Failed { reason: format!("discovery of {path}: {}", short_error(&e)) }),
    };
    let served: Vec<&str> = group.versions().collect();
    for v in info.versions {
        if served.contains(v) && group.versioned_resources(v).iter().any(|(ar, _)| ar.plural == info.plural) {
            return Ok(v);
        }
    }
    Err(Gap::NotServed {
        reason: format!(
            "the API server serves none of {} for {} (it serves {})",
            info.versions.iter().map(|v| format!("{}/{v}", info.group)).collect::<Vec<_>>().join(", "),
            info.kind,
            served.join(", ")
        ),
    })
}

fn api_resource(kind: Kind, version: &str) -> ApiResource {
    let info = kind.info();
    let gvk = GroupVersionKind::gvk(info.group, version, info.kind);
    ApiResource::from_gvk_with_plural(&gvk, info.plural)
}

/// Lists one kind in one namespace (or cluster-wide) with pagination, restarting on 410 Gone.
async fn list_all(
    client: &Client,
    ar: &ApiResource,
    ns: Option<&str>,
    full: bool,
    page: u32,
) -> Result<Vec<Value>, Gap> {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let resource = if ar.group.is_empty() { ar.plural.clone() } else { format!("{}.{}", ar.plural, ar.group) };
    let mut restarts = 0;
    'restart: loop {
        let mut items = Vec::new();
        let mut lp = ListParams::default().limit(page);
        loop {
            let result = if full {
                api.list(&lp)
                    .await
                    .map(|l| (l.metadata.continue_, l.items.into_iter().map(serde_json::to_value).collect::<Vec<_>>()))
            } else {
                api.list_metadata(&lp)
                    .await
                    .map(|l| (l.metadata.continue_, l.items.into_iter().map(serde_json::to_value).collect()))
            };
            match result {
                Ok((cont, objs)) => {
                    // An object that cannot be read is a gap, never silently left out.
                    for o in objs {
                        match o {
                            Ok(o) => items.push(with_type(o, ar)),
                            Err(e) => {
                                return Err(Gap::Failed {
                                    reason: format!("a {} object could not be read: {e}", ar.kind),
                                });
                            }
                        }
                    }
                    match cont {
                        Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                        _ => return Ok(items),
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 410 && restarts < 3 => {
                    // The continue token expired (etcd compaction): list again from the start.
                    restarts += 1;
                    continue 'restart;
                }
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    return Err(Gap::Forbidden { verb: "list".into(), resource, namespace: ns.map(String::from) });
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    return Err(Gap::NotServed { reason: format!("the API server does not serve {resource}") });
                }
                Err(e) => return Err(Gap::Failed { reason: short_error(&e) }),
            }
        }
    }
}

/// List items come without apiVersion/kind; set them so every object is self-describing.
/// Secret values are blanked here, as they arrive, so they never reach the view.
fn with_type(mut o: Value, ar: &ApiResource) -> Value {
    if let Some(m) = o.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
        m.insert("kind".into(), Value::String(ar.kind.clone()));
    }
    if ar.group.is_empty() && ar.kind == Kind::Secret.name() {
        super::view::redact_secret(&mut o);
    }
    o
}

/// Loads every needed kind concurrently into a view.
pub async fn load(live: &Live, needs: &[Need], page_size: u32) -> ClusterView {
    let loads = needs.iter().map(|need| async move {
        let data = match served_version(&live.client, need.kind).await {
            Err(gap) => KindData::Gap(gap),
            Ok(version) => {
                let ar = api_resource(need.kind, version);
                let full = need.full || need.kind != Kind::Secret;
                match &need.scope {
                    Scope::Cluster => match list_all(&live.client, &ar, None, full, page_size).await {
                        Ok(v) => KindData::Objects(v),
                        Err(g) => KindData::Gap(g),
                    },
                    Scope::Namespaces(nss) => {
                        let lists =
                            join_all(nss.iter().map(|ns| list_all(&live.client, &ar, Some(ns), full, page_size))).await;
                        let mut all = Vec::new();
                        let mut gap = None;
                        for l in lists {
                            match l {
                                Ok(v) => all.extend(v),
                                Err(g) => {
                                    gap.get_or_insert(g);
                                }
                            }
                        }
                        // Part of the picture missing is no picture: the checks say what is lacking.
                        match gap {
                            Some(g) => KindData::Gap(g),
                            None => KindData::Objects(all),
                        }
                    }
                }
            }
        };
        (need.kind, data)
    });
    let mut view = ClusterView::new(false);
    for (kind, data) in join_all(loads).await {
        view.set(kind, data);
    }
    view.cluster = Some(live.info.clone());
    view
}
