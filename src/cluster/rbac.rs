//! Least-privilege RBAC for an audit: the Roles (per namespace) and ClusterRole that grant
//! exactly the reads the selected checks need, derived from their `Need`s.

use std::collections::BTreeMap;

use super::kinds::{Need, Scope};

/// Extra permissions a probe needs beyond reading the view (e.g. creating probe pods).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub group: String,
    pub resource: String,
    pub verbs: Vec<String>,
    /// None: cluster-wide.
    pub namespace: Option<String>,
}

fn rule(group: &str, resources: &[String], verbs: &[String]) -> String {
    format!(
        "- apiGroups: [\"{group}\"]\n  resources: [{}]\n  verbs: [{}]\n",
        resources.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", "),
        verbs.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
    )
}

/// (group, resource) -> verbs: every verb a resource needs is merged into one set first, so a
/// resource appears in exactly one rule of a role.
type Rules = BTreeMap<(String, String), std::collections::BTreeSet<String>>;

fn add(rules: &mut Rules, group: &str, resource: &str, verbs: &[&str]) {
    let e = rules.entry((group.to_string(), resource.to_string())).or_default();
    e.extend(verbs.iter().map(|v| v.to_string()));
}

/// One rule per (group, verb set), listing its resources: the shortest equivalent rule list.
fn render_rules(rules: &Rules) -> String {
    let mut grouped: BTreeMap<(String, Vec<String>), Vec<String>> = BTreeMap::new();
    for ((group, resource), verbs) in rules {
        grouped.entry((group.clone(), verbs.iter().cloned().collect())).or_default().push(resource.clone());
    }
    grouped.iter().map(|((g, verbs), res)| rule(g, res, verbs)).collect()
}

/// YAML (several documents) granting `needs` and `grants` to a role named `name`.
pub fn least_privilege_yaml(name: &str, needs: &[Need], grants: &[Grant]) -> String {
    let mut cluster: Rules = BTreeMap::new();
    let mut per_ns: BTreeMap<String, Rules> = BTreeMap::new();
    // The report's cluster identity: the kube-system namespace UID (optional; without it the
    // report simply has no identity).
    add(&mut cluster, "", "namespaces", &["get"]);
    for n in needs {
        let info = n.kind.info();
        match &n.scope {
            Scope::Cluster => add(&mut cluster, info.group, info.plural, &["list"]),
            Scope::Namespaces(nss) => {
                for ns in nss {
                    add(per_ns.entry(ns.clone()).or_default(), info.group, info.plural, &["list"]);
                }
            }
        }
    }
    for g in grants {
        let verbs: Vec<&str> = g.verbs.iter().map(String::as_str).collect();
        match &g.namespace {
            None => add(&mut cluster, &g.group, &g.resource, &verbs),
            Some(ns) => add(per_ns.entry(ns.clone()).or_default(), &g.group, &g.resource, &verbs),
        }
    }
    let mut out = String::from(
        "# Least-privilege RBAC for kgents-gate, derived from the checks selected.\n\
         # Bind it to the identity the gate runs as (a ServiceAccount or a user).\n",
    );
    out.push_str(&format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\nrules:\n{}",
        render_rules(&cluster)
    ));
    for (ns, rules) in &per_ns {
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  namespace: {ns}\nrules:\n{}",
            render_rules(rules)
        ));
    }
    out
}

/// Bindings of the roles above to a subject (`User` name or `ServiceAccount` ns/name).
pub fn bindings_yaml(name: &str, needs: &[Need], grants: &[Grant], subject: &Subject) -> String {
    let mut namespaces: Vec<String> = needs
        .iter()
        .filter_map(|n| match &n.scope {
            Scope::Namespaces(nss) => Some(nss.clone()),
            Scope::Cluster => None,
        })
        .flatten()
        .chain(grants.iter().filter_map(|g| g.namespace.clone()))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let subj = subject.yaml();
    let mut out = format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {name}\nsubjects:\n{subj}"
    );
    for ns in namespaces {
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {name}\nsubjects:\n{subj}"
        ));
    }
    out
}

/// Who the bindings grant to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    User(String),
    ServiceAccount { namespace: String, name: String },
}

impl Subject {
    /// `user:NAME` or `serviceaccount:NS/NAME`.
    pub fn parse(s: &str) -> Result<Subject, String> {
        if let Some(u) = s.strip_prefix("user:").filter(|u| !u.is_empty()) {
            return Ok(Subject::User(u.to_string()));
        }
        if let Some((ns, name)) = s.strip_prefix("serviceaccount:").and_then(|r| r.split_once('/'))
            && !ns.is_empty()
            && !name.is_empty()
        {
            return Ok(Subject::ServiceAccount { namespace: ns.into(), name: name.into() });
        }
        Err(format!("invalid subject {s:?}: expected user:NAME or serviceaccount:NAMESPACE/NAME"))
    }

    fn yaml(&self) -> String {
        match self {
            Subject::User(u) => format!("- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: {u}\n"),
            Subject::ServiceAccount { namespace, name } => {
                format!("- kind: ServiceAccount\n  name: {name}\n  namespace: {namespace}\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::kinds::Kind;

    #[test]
    fn roles_cover_exactly_the_needs() {
        let needs = vec![
            Need::namespaced(Kind::PodDisruptionBudget, &["kgents-agents".into()]),
            Need::namespaced(Kind::Pod, &["kgents-agents".into()]),
            Need::cluster(Kind::Namespace),
        ];
        let yaml = least_privilege_yaml("kgents-gate", &needs, &[]);
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["kind"], "ClusterRole");
        let role = &docs[1];
        assert_eq!(role["metadata"]["namespace"], "kgents-agents");
        let rules = role["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2, "{yaml}");
        assert!(yaml.contains("resources: [\"poddisruptionbudgets\"]"));
        assert!(!yaml.contains("secrets"));
        assert!(!yaml.contains("\"*\""));
    }

    #[test]
    fn subjects() {
        assert_eq!(Subject::parse("user:alice"), Ok(Subject::User("alice".into())));
        assert!(Subject::parse("serviceaccount:ns/sa").is_ok());
        assert!(Subject::parse("serviceaccount:ns").is_err());
        assert!(Subject::parse("alice").is_err());
    }
}
