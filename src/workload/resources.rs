//! Container requests and limits as the pods get them: the container's own values, a request
//! defaulted from its limit by the API server, or a LimitRange default applied at admission
//! (the LimitRanger plugin), with the LimitRange's own defaulting (`default` from `max`,
//! `defaultRequest` from `default` or `min`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, LimitRange};
use serde::Deserialize;
use serde_json::Value;

/// Where an effective request or limit comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Written in the container.
    Container,
    /// A request not written but a limit is: the API server sets the request to the limit.
    FromLimit,
    /// A LimitRange `default` (limits) or `defaultRequest` (requests) of the namespace.
    LimitRange { name: String, field: &'static str },
}

/// A request or limit a container's pods will have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub quantity: String,
    pub origin: Origin,
}

impl std::fmt::Display for Effective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Origin::Container => write!(f, "{}", self.quantity),
            Origin::FromLimit => write!(f, "{} (set to the limit by the API server)", self.quantity),
            Origin::LimitRange { name, field } => write!(f, "{} from LimitRange {name} ({field})", self.quantity),
        }
    }
}

/// The container defaults of a namespace's LimitRanges (type `Container`), per resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerDefaults {
    /// resource -> (quantity, LimitRange name)
    limits: BTreeMap<String, (String, String)>,
    requests: BTreeMap<String, (String, String)>,
    /// Names of the namespace's LimitRanges (any type).
    pub limit_ranges: Vec<String>,
}

impl ContainerDefaults {
    /// Reads the namespace's LimitRange objects. The LimitRanger fills only what is still missing,
    /// going through the LimitRanges in no fixed order; with several that default the same
    /// resource, the first by name is taken (and named in the evidence). Unreadable objects are
    /// returned as errors.
    pub fn from_objects<'v>(objects: impl IntoIterator<Item = &'v Value>) -> (Self, Vec<String>) {
        let mut errors = Vec::new();
        let mut ranges: Vec<LimitRange> = Vec::new();
        for o in objects {
            let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
            match (
                k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta::deserialize(&o["metadata"]),
                o.get("spec").map(k8s_openapi::api::core::v1::LimitRangeSpec::deserialize).transpose(),
            ) {
                (Ok(metadata), Ok(spec)) => ranges.push(LimitRange { metadata, spec }),
                (Err(e), _) | (_, Err(e)) => errors.push(format!("LimitRange {name}: {e}")),
            }
        }
        ranges.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut d = ContainerDefaults::default();
        for lr in &ranges {
            let name = lr.metadata.name.clone().unwrap_or_default();
            d.limit_ranges.push(name.clone());
            for item in lr.spec.iter().flat_map(|s| s.limits.iter()) {
                if item.type_ != "Container" {
                    continue;
                }
                let get = |m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
                    m.clone().unwrap_or_default().into_iter().map(|(k, q)| (k, q.0)).collect::<BTreeMap<_, _>>()
                };
                // SetDefaults_LimitRangeItem: default <- max; defaultRequest <- default, then min.
                let mut default = get(&item.default);
                for (k, v) in get(&item.max) {
                    default.entry(k).or_insert(v);
                }
                let mut default_request = get(&item.default_request);
                for (k, v) in default.iter().map(|(k, v)| (k.clone(), v.clone())).chain(get(&item.min)) {
                    default_request.entry(k).or_insert(v);
                }
                for (k, v) in default {
                    d.limits.entry(k).or_insert((v, name.clone()));
                }
                for (k, v) in default_request {
                    d.requests.entry(k).or_insert((v, name.clone()));
                }
            }
        }
        (d, errors)
    }

    pub fn is_empty(&self) -> bool {
        self.limit_ranges.is_empty()
    }
}

fn own(
    m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    r: &str,
) -> Option<String> {
    m.as_ref().and_then(|m| m.get(r)).map(|q| q.0.clone())
}

/// The limit of `resource` the container's pods get.
pub fn effective_limit(c: &Container, resource: &str, d: &ContainerDefaults) -> Option<Effective> {
    let res = c.resources.as_ref();
    if let Some(q) = res.and_then(|r| own(&r.limits, resource)) {
        return Some(Effective { quantity: q, origin: Origin::Container });
    }
    d.limits.get(resource).map(|(q, name)| Effective {
        quantity: q.clone(),
        origin: Origin::LimitRange { name: name.clone(), field: "default" },
    })
}

/// The request of `resource` the container's pods get: its own, else its limit (API defaulting
/// runs before admission), else the LimitRange's `defaultRequest`.
pub fn effective_request(c: &Container, resource: &str, d: &ContainerDefaults) -> Option<Effective> {
    let res = c.resources.as_ref();
    if let Some(q) = res.and_then(|r| own(&r.requests, resource)) {
        return Some(Effective { quantity: q, origin: Origin::Container });
    }
    if let Some(q) = res.and_then(|r| own(&r.limits, resource)) {
        return Some(Effective { quantity: q, origin: Origin::FromLimit });
    }
    d.requests.get(resource).map(|(q, name)| Effective {
        quantity: q.clone(),
        origin: Origin::LimitRange { name: name.clone(), field: "defaultRequest" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(v: Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn limit_range_defaulting_follows_the_api() {
        let lrs = [
            json!({"metadata": {"name": "b"}, "spec": {"limits": [
                {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "50m"}}]}}),
            json!({"metadata": {"name": "a"}, "spec": {"limits": [
                {"type": "Pod", "max": {"cpu": "4"}},
                {"type": "Container", "default": {"memory": "512Mi"}}]}}),
        ];
        let (d, errors) = ContainerDefaults::from_objects(lrs.iter());
        assert!(errors.is_empty());
        assert_eq!(d.limit_ranges, ["a", "b"]);
        let c = container(json!({"name": "c"}));
        // memory: a's default (first by name), its defaultRequest defaulted from it.
        assert_eq!(effective_limit(&c, "memory", &d).unwrap().to_string(), "512Mi from LimitRange a (default)");
        assert_eq!(
            effective_request(&c, "memory", &d).unwrap().to_string(),
            "512Mi from LimitRange a (defaultRequest)"
        );
        // cpu: only b has it: default from max, defaultRequest from that default (before min).
        assert_eq!(effective_limit(&c, "cpu", &d).unwrap().quantity, "2");
        assert_eq!(effective_request(&c, "cpu", &d).unwrap().quantity, "2");
        assert!(effective_limit(&c, "ephemeral-storage", &d).is_none());
    }

    #[test]
    fn min_gives_a_default_request_without_a_default() {
        let lr = json!({"metadata": {"name": "m"}, "spec": {"limits": [{"type": "Container", "min": {"cpu": "10m"}}]}});
        let (d, _) = ContainerDefaults::from_objects([&lr]);
        let c = container(json!({"name": "c"}));
        assert_eq!(effective_request(&c, "cpu", &d).unwrap().quantity, "10m");
        assert!(effective_limit(&c, "cpu", &d).is_none());
    }

    #[test]
    fn the_containers_own_values_and_the_request_from_the_limit() {
        let none = ContainerDefaults::default();
        let c = container(json!({"name": "c", "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi"}}}));
        assert_eq!(effective_request(&c, "cpu", &none).unwrap().origin, Origin::FromLimit);
        assert_eq!(effective_request(&c, "memory", &none).unwrap().origin, Origin::Container);
        assert!(effective_limit(&c, "memory", &none).is_none());
        assert!(effective_request(&container(json!({"name": "c"})), "cpu", &none).is_none());
    }

    #[test]
    fn unreadable_limit_ranges_are_reported() {
        let bad = json!({"metadata": {"name": "x"}, "spec": {"limits": "none"}});
        let (d, errors) = ContainerDefaults::from_objects([&bad]);
        assert!(d.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("LimitRange x"), "{errors:?}");
    }
}
