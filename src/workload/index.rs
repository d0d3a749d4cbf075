//! An index of workloads built once per probe run: by namespace, by kind and name (for HPA
//! targets), and by pod-template label (for selectors), so that finding what a selector or a
//! reference names never scans every workload of the cluster.

use std::collections::{BTreeMap, HashMap};

use super::{Workload, WorkloadKind};
use crate::selector::{Requirement, Selector};

/// Workloads by namespace, name and pod label.
#[derive(Debug, Default)]
pub struct WorkloadIndex<'a> {
    workloads: Vec<Workload<'a>>,
    by_namespace: BTreeMap<String, Vec<usize>>,
    by_name: HashMap<(WorkloadKind, String, String), usize>,
    /// (namespace, label key, label value) -> workloads whose pods carry that label.
    by_label: HashMap<(String, String, String), Vec<usize>>,
}

impl<'a> WorkloadIndex<'a> {
    pub fn new(workloads: Vec<Workload<'a>>) -> Self {
        let mut index = WorkloadIndex::default();
        for (i, w) in workloads.iter().enumerate() {
            index.by_namespace.entry(w.namespace.clone()).or_default().push(i);
            index.by_name.insert((w.kind, w.namespace.clone(), w.name.clone()), i);
            for (k, v) in &w.pod_labels {
                index.by_label.entry((w.namespace.clone(), k.clone(), v.clone())).or_default().push(i);
            }
        }
        index.workloads = workloads;
        index
    }

    pub fn all(&self) -> &[Workload<'a>] {
        &self.workloads
    }

    pub fn get(&self, kind: WorkloadKind, namespace: &str, name: &str) -> Option<&Workload<'a>> {
        self.by_name.get(&(kind, namespace.to_string(), name.to_string())).map(|i| &self.workloads[*i])
    }

    pub fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = &Workload<'a>> {
        self.by_namespace.get(namespace).into_iter().flatten().map(|i| &self.workloads[*i])
    }

    /// The workloads of `namespace` whose pods `selector` matches. An equality requirement
    /// narrows the candidates to one label's posting list; only selectors made of set-based
    /// requirements alone look at the whole namespace.
    pub fn selected_by(&self, namespace: &str, selector: &Selector) -> Vec<&Workload<'a>> {
        let postings = selector.requirements().iter().filter_map(|r| match r {
            Requirement::Equals(k, v) => {
                Some(self.by_label.get(&(namespace.to_string(), k.clone(), v.clone())).map_or(&[][..], Vec::as_slice))
            }
            _ => None,
        });
        let candidates: Box<dyn Iterator<Item = usize> + '_> = match postings.min_by_key(|p| p.len()) {
            Some(shortest) => Box::new(shortest.iter().copied()),
            None => Box::new(self.by_namespace.get(namespace).into_iter().flatten().copied()),
        };
        candidates.map(|i| &self.workloads[i]).filter(|w| selector.matches(&w.pod_labels)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::read_workload;
    use serde_json::{Value, json};

    fn deployment(ns: &str, name: &str, labels: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c"}]}}}})
    }

    #[test]
    fn selectors_use_the_label_postings_and_stay_in_the_namespace() {
        let objects = [
            deployment("a", "api", json!({"app": "api", "tier": "web"})),
            deployment("a", "worker", json!({"app": "worker", "tier": "web"})),
            deployment("b", "api", json!({"app": "api"})),
        ];
        let ws = objects.iter().map(|o| read_workload(WorkloadKind::Deployment, o).unwrap()).collect();
        let index = WorkloadIndex::new(ws);
        let names = |v: Vec<&Workload<'_>>| v.iter().map(|w| format!("{}/{}", w.namespace, w.name)).collect::<Vec<_>>();
        let app_api = Selector::from_labels(&BTreeMap::from([("app".to_string(), "api".to_string())]));
        assert_eq!(names(index.selected_by("a", &app_api)), ["a/api"]);
        assert_eq!(names(index.selected_by("b", &app_api)), ["b/api"]);
        let web = Selector::from_labels(&BTreeMap::from([("tier".to_string(), "web".to_string())]));
        assert_eq!(names(index.selected_by("a", &web)), ["a/api", "a/worker"]);
        assert!(index.selected_by("c", &web).is_empty());
        // Set-based only: the namespace's workloads, filtered.
        let sel = Selector::from_k8s(&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
            match_expressions: Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                key: "app".into(),
                operator: "NotIn".into(),
                values: Some(vec!["api".into()]),
            }]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(names(index.selected_by("a", &sel)), ["a/worker"]);
        assert!(index.get(WorkloadKind::Deployment, "b", "api").is_some());
        assert!(index.get(WorkloadKind::StatefulSet, "b", "api").is_none());
        assert_eq!(index.in_namespace("a").count(), 2);
    }
}
