//! Create-or-replace of arbitrary objects from multi-document YAML, through API discovery and
//! `DynamicObject`, so tests can describe their cluster the way the checklist docs do.

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope, pinned_kind};
use serde_json::Value;

/// Applies every document of `yaml` in order (a `kind: List` applies its items). Namespaced
/// objects without `metadata.namespace` go to `default_namespace`, else `default`.
pub async fn apply_yaml(
    client: &kube::Client,
    default_namespace: Option<&str>,
    yaml: &str,
) -> Result<Vec<DynamicObject>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| format!("YAML: {e}"))?;
    let mut objects = Vec::new();
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        if doc.get("kind").and_then(Value::as_str) == Some("List") {
            let items = doc.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
            objects.extend(items);
        } else {
            objects.push(doc);
        }
    }
    let mut applied = Vec::new();
    for obj in objects {
        applied.push(apply_one(client, default_namespace, obj).await?);
    }
    Ok(applied)
}

async fn apply_one(
    client: &kube::Client,
    default_namespace: Option<&str>,
    value: Value,
) -> Result<DynamicObject, String> {
    let api_version = value.get("apiVersion").and_then(Value::as_str).ok_or("object without apiVersion")?.to_string();
    let kind = value.get("kind").and_then(Value::as_str).ok_or("object without kind")?.to_string();
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version.as_str()),
    };
    let gvk = GroupVersionKind::gvk(group, version, &kind);
    let (resource, caps) = discover(client, &gvk).await?;
    let mut obj: DynamicObject = serde_json::from_value(value).map_err(|e| format!("{api_version} {kind}: {e}"))?;
    let name = obj.metadata.name.clone().ok_or_else(|| format!("{kind} without metadata.name"))?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => {
            let ns =
                obj.metadata.namespace.clone().unwrap_or_else(|| default_namespace.unwrap_or("default").to_string());
            obj.metadata.namespace = Some(ns.clone());
            Api::namespaced_with(client.clone(), &ns, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let what = format!("{kind} {name}");
    match api.create(&PostParams::default(), &obj).await {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            // Exists: server-side apply with force replaces what these tests own, without the
            // immutable-field trouble of a full PUT (e.g. a Service's clusterIP).
            let params = PatchParams::apply("kgents-gate-tests").force();
            api.patch(&name, &params, &Patch::Apply(&obj)).await.map_err(|e| format!("replace {what}: {e}"))
        }
        Err(e) => Err(format!("create {what}: {e}")),
    }
}

/// Discovery for one kind. Custom groups are retried for 10 s, since a CRD applied a moment ago
/// takes a few seconds to be served; built-in groups (no dot, or `*.k8s.io`) fail at once.
async fn discover(client: &kube::Client, gvk: &GroupVersionKind) -> Result<(ApiResource, ApiCapabilities), String> {
    let custom = gvk.group.contains('.') && !gvk.group.ends_with(".k8s.io");
    let attempts = if custom { 50 } else { 1 };
    let mut last = String::new();
    for attempt in 1..=attempts {
        match pinned_kind(client, gvk).await {
            Ok(found) => return Ok(found),
            Err(e) => last = e.to_string(),
        }
        if attempt < attempts {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Err(format!("{}/{} {} is not served: {last}", gvk.group, gvk.version, gvk.kind))
}
