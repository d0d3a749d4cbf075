//! References to Secrets: the ones that point at nothing (`secret-ref-missing`) and the Secrets
//! nothing points at (`secret-unused`). Only Secret names, types, owners and key names are read.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cluster::field::field;

use super::objects::{Inventory, ObjectRef, at, containers, items, pod_spec, secret_keys, secret_type, str_at};
use super::{MANAGED_SECRET_TYPES, SECRET_REF_MISSING, SECRET_UNUSED, SecretFinding, SecretScanOptions};
use crate::outcome::Level;

/// One reference from an object to a Secret (and maybe one of its keys).
struct SecretRef<'a> {
    from: &'a ObjectRef,
    namespace: String,
    secret: String,
    key: Option<String>,
    optional: bool,
    /// Where in the referencing object, e.g. `containers[app].env.TOKEN`.
    via: String,
    /// Whether a missing target is reported (uses such as Ingress TLS only count for `secret-unused`).
    checked: bool,
}

fn optional(v: &Value) -> bool {
    field(v, "optional").and_then(Value::as_bool) == Some(true)
}

fn name_of(v: &Value, key: &str) -> Option<String> {
    field(v, key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

fn collect<'a>(inv: &'a Inventory) -> Vec<SecretRef<'a>> {
    let mut out = Vec::new();
    for (r, v) in &inv.objects {
        let ns = r.namespace.clone().unwrap_or_default();
        let mut push = |secret: Option<String>, key: Option<String>, optional: bool, via: String, checked: bool| {
            if let Some(secret) = secret {
                out.push(SecretRef { from: r, namespace: ns.clone(), secret, key, optional, via, checked });
            }
        };
        if let Some(spec) = pod_spec(v) {
            for c in containers(spec) {
                for env in items(field(c.spec, "env")) {
                    if let Some(skr) = at(env, &["valueFrom", "secretKeyRef"]) {
                        let var = field(env, "name").and_then(Value::as_str).unwrap_or("");
                        let via = format!("{}.env.{var}", c.location());
                        push(name_of(skr, "name"), name_of(skr, "key"), optional(skr), via, true);
                    }
                }
                for (i, ef) in items(field(c.spec, "envFrom")).enumerate() {
                    if let Some(sr) = field(ef, "secretRef") {
                        push(name_of(sr, "name"), None, optional(sr), format!("{}.envFrom[{i}]", c.location()), true);
                    }
                }
            }
            for vol in items(field(spec, "volumes")) {
                let vname = field(vol, "name").and_then(Value::as_str).unwrap_or("");
                if let Some(sv) = field(vol, "secret") {
                    let item_keys: Vec<String> = items(field(sv, "items")).filter_map(|i| name_of(i, "key")).collect();
                    let via = format!("volumes[{vname}]");
                    if item_keys.is_empty() {
                        push(name_of(sv, "secretName"), None, optional(sv), via.clone(), true);
                    }
                    for k in item_keys {
                        push(name_of(sv, "secretName"), Some(k), optional(sv), via.clone(), true);
                    }
                }
                for (i, src) in items(at(vol, &["projected", "sources"])).enumerate() {
                    let Some(sv) = field(src, "secret") else {
                        continue;
                    };
                    let item_keys: Vec<String> = items(field(sv, "items")).filter_map(|i| name_of(i, "key")).collect();
                    let via = format!("volumes[{vname}].projected.sources[{i}]");
                    if item_keys.is_empty() {
                        push(name_of(sv, "name"), None, optional(sv), via.clone(), true);
                    }
                    for k in item_keys {
                        push(name_of(sv, "name"), Some(k), optional(sv), via.clone(), true);
                    }
                }
                // Volume plugins that take credentials from a Secret: a use, not checked further.
                for path in [
                    &["csi", "nodePublishSecretRef"][..],
                    &["cephfs", "secretRef"],
                    &["rbd", "secretRef"],
                    &["flexVolume", "secretRef"],
                    &["iscsi", "secretRef"],
                    &["scaleIO", "secretRef"],
                    &["storageos", "secretRef"],
                ] {
                    if let Some(sr) = at(vol, path) {
                        push(name_of(sr, "name"), None, true, format!("volumes[{vname}]"), false);
                    }
                }
                if let Some(af) = field(vol, "azureFile") {
                    push(name_of(af, "secretName"), None, true, format!("volumes[{vname}]"), false);
                }
            }
            for ps in items(field(spec, "imagePullSecrets")) {
                let n = name_of(ps, "name");
                let via = format!("imagePullSecrets[{}]", n.as_deref().unwrap_or(""));
                push(n, None, false, via, true);
            }
        }
        match r.kind.as_str() {
            "ServiceAccount" => {
                for s in items(field(v, "secrets")) {
                    let n = name_of(s, "name");
                    let via = format!("secrets[{}]", n.as_deref().unwrap_or(""));
                    // A ServiceAccount may name a Secret of another namespace explicitly.
                    let target_ns = name_of(s, "namespace").unwrap_or_else(|| ns.clone());
                    if let Some(secret) = n {
                        out.push(SecretRef {
                            from: r,
                            namespace: target_ns,
                            secret,
                            key: None,
                            optional: false,
                            via,
                            checked: true,
                        });
                    }
                }
                for ps in items(field(v, "imagePullSecrets")) {
                    let n = name_of(ps, "name");
                    let via = format!("imagePullSecrets[{}]", n.as_deref().unwrap_or(""));
                    if let Some(secret) = n {
                        let (from, namespace) = (r, ns.clone());
                        out.push(SecretRef { from, namespace, secret, key: None, optional: false, via, checked: true });
                    }
                }
            }
            "Ingress" => {
                for (i, tls) in items(at(v, &["spec", "tls"])).enumerate() {
                    let via = format!("spec.tls[{i}]");
                    let (from, namespace) = (r, ns.clone());
                    if let Some(secret) = name_of(tls, "secretName") {
                        out.push(SecretRef { from, namespace, secret, key: None, optional: true, via, checked: false });
                    }
                }
            }
            "Gateway" => {
                for l in items(at(v, &["spec", "listeners"])) {
                    for cr in items(at(l, &["tls", "certificateRefs"])) {
                        if field(cr, "kind").and_then(Value::as_str).is_some_and(|k| k != "Secret") {
                            continue;
                        }
                        let namespace = name_of(cr, "namespace").unwrap_or_else(|| ns.clone());
                        if let Some(secret) = name_of(cr, "name") {
                            let via = "spec.listeners.tls".to_string();
                            out.push(SecretRef {
                                from: r,
                                namespace,
                                secret,
                                key: None,
                                optional: true,
                                via,
                                checked: false,
                            });
                        }
                    }
                }
            }
            "Certificate" => {
                if let Some(secret) = str_at(v, &["spec", "secretName"]).map(str::to_string) {
                    let (from, namespace, via) = (r, ns.clone(), "spec.secretName".to_string());
                    out.push(SecretRef { from, namespace, secret, key: None, optional: true, via, checked: false });
                }
            }
            _ => {}
        }
    }
    out
}

pub(super) fn missing(inv: &Inventory, _opts: &SecretScanOptions, out: &mut Vec<SecretFinding>) {
    for rf in collect(inv) {
        if !rf.checked {
            continue;
        }
        if let Some(v) = inv.get(&rf.from.kind, rf.from.namespace.as_deref(), &rf.from.name)
            && inv.has_listed_controller(rf.from, v)
        {
            // The controller's pod template carries the same reference and is reported instead.
            continue;
        }
        let level = if rf.optional { Level::Info } else { Level::Error };
        let note = if rf.optional { " (optional: true, so the pod still starts)" } else { "" };
        let target = format!("{}/{}", rf.namespace, rf.secret);
        match inv.get("Secret", Some(&rf.namespace), &rf.secret) {
            None => {
                let message = format!("{} references Secret {target}, which does not exist{note}", rf.via);
                out.push(SecretFinding::new(SECRET_REF_MISSING, level, rf.from, Some(rf.via), message));
            }
            Some(secret) => {
                let (Some(key), Some(keys)) = (&rf.key, secret_keys(secret)) else {
                    continue;
                };
                if !keys.contains(key.as_str()) {
                    let message =
                        format!("{} references key {key} of Secret {target}, which has no such key{note}", rf.via);
                    out.push(SecretFinding::new(SECRET_REF_MISSING, level, rf.from, Some(rf.via), message));
                }
            }
        }
    }
}

pub(super) fn unused(inv: &Inventory, opts: &SecretScanOptions, out: &mut Vec<SecretFinding>) {
    let used: BTreeSet<(String, String)> = collect(inv).into_iter().map(|r| (r.namespace, r.secret)).collect();
    for (r, v) in inv.of_kind("Secret") {
        let ty = secret_type(v);
        if MANAGED_SECRET_TYPES.contains(&ty) || opts.unused_unjudged_types.iter().any(|t| t == ty) {
            continue;
        }
        // A Secret owned by another object (an operator's resource) is used through its owner.
        if items(at(v, &["metadata", "ownerReferences"])).next().is_some() {
            continue;
        }
        let ns = r.namespace.clone().unwrap_or_default();
        if !used.contains(&(ns, r.name.clone())) {
            let message = "no Pod, workload, ServiceAccount, Ingress, Gateway or Certificate in the scanned objects \
                           references this Secret; delete it or record its consumer"
                .to_string();
            out.push(SecretFinding::new(SECRET_UNUSED, Level::Warning, r, None, message));
        }
    }
}
