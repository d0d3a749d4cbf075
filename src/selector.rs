//! Kubernetes label selectors (matchLabels + matchExpressions), shared by every check that
//! selects pods, namespaces or workloads, so that all of them agree on what "matches" means.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            // NotIn matches objects without the key, as in Kubernetes.
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A validated label selector. An empty selector (no requirements) matches every object;
/// callers that need the "nil selector matches nothing" rule keep an `Option<Selector>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// A selector that Kubernetes would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector: {0}")]
pub struct SelectorError(pub String);

impl Selector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// From a plain `key = value` map (matchLabels only).
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        Selector { requirements: labels.into_iter().map(|(k, v)| Requirement::Equals(k.clone(), v.clone())).collect() }
    }

    /// From a Kubernetes `LabelSelector`, validating operators and values as the API server does.
    pub fn from_k8s(sel: &LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(ml) = &sel.match_labels {
            for (k, v) in ml {
                requirements.push(Requirement::Equals(k.clone(), v.clone()));
            }
        }
        for expr in sel.match_expressions.iter().flatten() {
            let key = expr.key.clone();
            let values = expr.values.clone().unwrap_or_default();
            let req = match expr.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(SelectorError(format!(
                        "operator {} on key {key:?} needs at least one value",
                        expr.operator
                    )));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(SelectorError(format!("operator {} on key {key:?} takes no values", expr.operator)));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => {
                    return Err(SelectorError(format!(
                        "unknown operator {other:?} on key {key:?} (expected In, NotIn, Exists or DoesNotExist)"
                    )));
                }
            };
            requirements.push(req);
        }
        Ok(Selector { requirements })
    }

    /// True when the selector has no requirement (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches an object's optional label map (absent labels are an empty map).
    pub fn matches_opt(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.matches(labels.unwrap_or(&EMPTY))
    }
}

impl fmt::Display for Selector {
    /// The kubectl form, e.g. `app=nats,tier in (a,b),!canary`; `<everything>` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("<everything>");
        }
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() { None } else { Some(values.iter().map(|s| s.to_string()).collect()) },
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = Selector::from_k8s(&LabelSelector::default()).unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("a", "b")])));
        assert_eq!(s.to_string(), "<everything>");
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "nats")])),
            match_expressions: Some(vec![
                expr("tier", "In", &["a", "b"]),
                expr("canary", "DoesNotExist", &[]),
                expr("zone", "NotIn", &["z1"]),
                expr("team", "Exists", &[]),
            ]),
        };
        let s = Selector::from_k8s(&sel).unwrap();
        assert!(s.matches(&labels(&[("app", "nats"), ("tier", "a"), ("team", "x")])));
        assert!(s.matches(&labels(&[("app", "nats"), ("tier", "b"), ("team", "x"), ("zone", "z2")])));
        assert!(!s.matches(&labels(&[("app", "nats"), ("tier", "c"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "nats"), ("tier", "a"), ("team", "x"), ("canary", "1")])));
        assert!(!s.matches(&labels(&[("app", "nats"), ("tier", "a"), ("team", "x"), ("zone", "z1")])));
        assert!(!s.matches(&labels(&[("app", "nats"), ("tier", "a")])));
        assert!(!s.matches(&labels(&[("app", "redis"), ("tier", "a"), ("team", "x")])));
        assert_eq!(s.to_string(), "app=nats,tier in (a,b),!canary,zone notin (z1),team");
    }

    #[test]
    fn invalid_operators_and_values_are_rejected() {
        for (op, vals) in [("In", &[][..]), ("NotIn", &[][..]), ("Exists", &["x"][..]), ("Equals", &["x"][..])] {
            let sel = LabelSelector { match_expressions: Some(vec![expr("k", op, vals)]), ..Default::default() };
            assert!(Selector::from_k8s(&sel).is_err(), "{op} {vals:?} should be rejected");
        }
    }

    #[test]
    fn absent_labels_are_an_empty_map() {
        let s = Selector::from_labels(&labels(&[("a", "b")]));
        assert!(!s.matches_opt(None));
        let s = Selector::from_k8s(&LabelSelector {
            match_expressions: Some(vec![expr("a", "NotIn", &["b"])]),
            ..Default::default()
        })
        .unwrap();
        assert!(s.matches_opt(None));
    }
}
