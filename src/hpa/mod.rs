//! HorizontalPodAutoscalers as the capacity check sees them, read from any served or written
//! version (autoscaling/v2, v2beta2, v2beta1, v1 with its annotations) into one model, and judged
//! against their target, its PodDisruptionBudget, their live status and the load-test figures.

pub mod capacity;
pub mod judge;

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::{v1, v2};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

/// What `scaleTargetRef` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
}

/// One metric, as far as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    /// `Resource` or `ContainerResource` (with the container): CPU or memory of the pods.
    Resource { resource: String, container: Option<String>, utilization: Option<i32> },
    /// Pods, Object or External metrics: they need no container request.
    Other(String),
}

/// A status condition (`AbleToScale`, `ScalingActive`, `ScalingLimited`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// The status the HPA controller wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub current_replicas: Option<i32>,
    pub desired_replicas: Option<i32>,
    pub conditions: Vec<Condition>,
}

/// One HPA, whatever version it was read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hpa {
    pub namespace: String,
    pub name: String,
    pub api_version: String,
    pub labels: BTreeMap<String, String>,
    pub target: TargetRef,
    /// As written; the API defaults it to 1.
    pub min_replicas: Option<i32>,
    pub max_replicas: i32,
    /// As written (empty: none written).
    pub metrics: Vec<Metric>,
    pub status: Option<Status>,
    /// Read from the API server (it has a UID or resource version), so a status is expected.
    pub from_api: bool,
}

/// The metric the API server gives an HPA that names none: 80 % average CPU utilisation.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;

impl Hpa {
    pub fn min(&self) -> i32 {
        self.min_replicas.unwrap_or(1)
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The metrics it scales on: as written, or the API's default when none are.
    pub fn effective_metrics(&self) -> Vec<Metric> {
        if self.metrics.is_empty() {
            vec![Metric::Resource {
                resource: "cpu".into(),
                container: None,
                utilization: Some(DEFAULT_CPU_UTILIZATION),
            }]
        } else {
            self.metrics.clone()
        }
    }
}

fn v2_metric(m: &v2::MetricSpec) -> Metric {
    let utilization = |t: &v2::MetricTarget| if t.type_ == "Utilization" { t.average_utilization } else { None };
    match (&m.resource, &m.container_resource) {
        (Some(r), _) if m.type_ == "Resource" => {
            Metric::Resource { resource: r.name.clone(), container: None, utilization: utilization(&r.target) }
        }
        (_, Some(c)) if m.type_ == "ContainerResource" => Metric::Resource {
            resource: c.name.clone(),
            container: Some(c.container.clone()),
            utilization: utilization(&c.target),
        },
        _ => Metric::Other(m.type_.clone()),
    }
}

/// A v2beta1 metric (also the shape of v1's `autoscaling.alpha.kubernetes.io/metrics`).
fn v2beta1_metric(m: &Value) -> Result<Metric, String> {
    let type_ = m.get("type").and_then(Value::as_str).ok_or("a metric has no type")?;
    let source = match type_ {
        "Resource" => m.get("resource"),
        "ContainerResource" => m.get("containerResource"),
        other => return Ok(Metric::Other(other.to_string())),
    };
    let source = source.ok_or_else(|| format!("a {type_} metric has no source"))?;
    let resource = source.get("name").and_then(Value::as_str).ok_or("a resource metric has no name")?;
    let utilization = match source.get("targetAverageUtilization") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or("targetAverageUtilization is not an integer")?)
        }
    };
    let container = source.get("container").and_then(Value::as_str).map(str::to_string);
    Ok(Metric::Resource { resource: resource.to_string(), container, utilization })
}

fn int_at(v: &Value, key: &str) -> Result<Option<i32>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => {
            x.as_i64().and_then(|n| i32::try_from(n).ok()).map(Some).ok_or_else(|| format!("{key} is not an integer"))
        }
    }
}

fn status_of(v: &Value, meta: &ObjectMeta) -> Result<Option<Status>, String> {
    let annotation = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k));
    let Some(s) = v.get("status").filter(|s| s.as_object().is_some_and(|o| !o.is_empty())) else {
        return Ok(None);
    };
    let mut conditions: Vec<Condition> = match s.get("conditions") {
        None | Some(Value::Null) => Vec::new(),
        Some(c) => Vec::<Condition>::deserialize(c).map_err(|e| format!("status.conditions: {e}"))?,
    };
    // autoscaling/v1 keeps the conditions in an annotation.
    if conditions.is_empty()
        && let Some(text) = annotation("autoscaling.alpha.kubernetes.io/conditions")
    {
        conditions = serde_json::from_str(text).map_err(|e| format!("conditions annotation: {e}"))?;
    }
    Ok(Some(Status {
        current_replicas: int_at(s, "currentReplicas")?,
        desired_replicas: int_at(s, "desiredReplicas")?,
        conditions,
    }))
}

/// Reads an HPA from a view object, by the `apiVersion` it carries.
pub fn read_hpa(v: &Value) -> Result<Hpa, String> {
    let meta =
        ObjectMeta::deserialize(v.get("metadata").unwrap_or(&Value::Null)).map_err(|e| format!("metadata: {e}"))?;
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("autoscaling/v2").to_string();
    let spec = v.get("spec").ok_or("no spec")?;
    let (target, min_replicas, max_replicas, metrics) = match api_version.as_str() {
        "autoscaling/v2" | "autoscaling/v2beta2" => {
            let s = v2::HorizontalPodAutoscalerSpec::deserialize(spec).map_err(|e| format!("spec: {e}"))?;
            let t = s.scale_target_ref;
            let metrics = s.metrics.iter().flatten().map(v2_metric).collect();
            (
                TargetRef { api_version: t.api_version, kind: t.kind, name: t.name },
                s.min_replicas,
                s.max_replicas,
                metrics,
            )
        }
        "autoscaling/v1" => {
            let s = v1::HorizontalPodAutoscalerSpec::deserialize(spec).map_err(|e| format!("spec: {e}"))?;
            let t = s.scale_target_ref;
            let mut metrics: Vec<Metric> = s
                .target_cpu_utilization_percentage
                .map(|p| Metric::Resource { resource: "cpu".into(), container: None, utilization: Some(p) })
                .into_iter()
                .collect();
            // Metrics v1 cannot express are kept in an annotation, in the v2beta1 shape.
            if let Some(text) = meta.annotations.as_ref().and_then(|a| a.get("autoscaling.alpha.kubernetes.io/metrics"))
            {
                let list: Vec<Value> = serde_json::from_str(text).map_err(|e| format!("metrics annotation: {e}"))?;
                for m in &list {
                    metrics.push(v2beta1_metric(m)?);
                }
            }
            (
                TargetRef { api_version: t.api_version, kind: t.kind, name: t.name },
                s.min_replicas,
                s.max_replicas,
                metrics,
            )
        }
        _ => {
            // autoscaling/v2beta1, read untyped.
            let t = spec.get("scaleTargetRef").ok_or("spec: no scaleTargetRef")?;
            let field = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
            let target = TargetRef {
                api_version: field("apiVersion"),
                kind: field("kind").ok_or("spec.scaleTargetRef: no kind")?,
                name: field("name").ok_or("spec.scaleTargetRef: no name")?,
            };
            let max = int_at(spec, "maxReplicas").map_err(|e| format!("spec: {e}"))?.ok_or("spec: no maxReplicas")?;
            let metrics = match spec.get("metrics") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => list.iter().map(v2beta1_metric).collect::<Result<_, _>>()?,
                Some(_) => return Err("spec.metrics is not a list".into()),
            };
            (target, int_at(spec, "minReplicas").map_err(|e| format!("spec: {e}"))?, max, metrics)
        }
    };
    let status = status_of(v, &meta)?;
    Ok(Hpa {
        namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
        name: meta.name.clone().unwrap_or_default(),
        api_version,
        labels: meta.labels.clone().unwrap_or_default(),
        target,
        min_replicas,
        max_replicas,
        metrics,
        status,
        from_api: meta.uid.is_some() || meta.resource_version.is_some(),
    })
}

#[cfg(test)]
mod tests;
