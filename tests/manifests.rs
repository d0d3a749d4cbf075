//! Manifest parsing on real files: multi-document YAML, JSON, `List`, typed lists, `kubectl get`
//! output, recursive directories, bad files (file and line, the rest still read, audit exit 2),
//! and Secret values blanked as they are read.

use std::path::{Path, PathBuf};
use std::process::Command;

use kgents_gate::cluster::Kind;
use kgents_gate::cluster::manifests::{ManifestSet, read_paths};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests").join(rel)
}

fn read(rel: &str) -> ManifestSet {
    read_paths(&[fixture(rel)])
}

/// `(kind, namespace/name)` of every object, in reading order.
fn refs(set: &ManifestSet) -> Vec<(Kind, String)> {
    set.objects.iter().map(|o| (o.kind, kgents_gate::cluster::object_ref(&o.object))).collect()
}

#[test]
fn multi_document_yaml() {
    let set = read("app/deploy.yaml");
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(
        refs(&set),
        [
            (Kind::Deployment, "shop/api".to_string()),
            (Kind::Service, "shop/api".to_string()),
            (Kind::PodDisruptionBudget, "shop/api".to_string())
        ]
    );
    // Documents are numbered without the empty one; the Widget is counted as ignored.
    let docs: Vec<usize> = set.objects.iter().map(|o| o.document).collect();
    assert_eq!(docs, [1, 2, 4]);
    assert_eq!(set.ignored, 1);
    assert_eq!(set.objects[0].object["spec"]["replicas"], 3);
    assert_eq!(set.objects[2].object["apiVersion"], "policy/v1beta1");
    assert_eq!(set.files, [fixture("app/deploy.yaml")]);
}

#[test]
fn json_file() {
    let set = read("app/nested/netpol.json");
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(refs(&set), [(Kind::NetworkPolicy, "shop/default-deny".to_string())]);
    assert_eq!(set.objects[0].object["spec"]["policyTypes"][1], "Egress");
}

#[test]
fn list_kind_and_secret_values_blanked() {
    let set = read("app/nested/deeper/config.yml");
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(
        refs(&set),
        [(Kind::ConfigMap, "shop/api-config".to_string()), (Kind::Secret, "shop/api-db".to_string())]
    );
    let secret = &set.objects[1].object;
    assert_eq!(secret["data"]["password"], "", "key kept, value blanked");
    assert_eq!(secret["stringData"]["url"], "");
    let all = format!(
        "{set:?} {}",
        serde_json::to_string(&set.objects.iter().map(|o| &o.object).collect::<Vec<_>>()).unwrap()
    );
    assert!(!all.contains("manifest-canary") && !all.contains("bWFuaWZlc3QtY2FuYXJ5LTc3MTk"), "{all}");
    // ConfigMap values are configuration, not secrets: kept.
    assert_eq!(set.objects[0].object["data"]["LOG_LEVEL"], "info");
}

#[test]
fn kubectl_get_output() {
    let set = read("kubectl/get-pods.yaml");
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(
        refs(&set),
        [(Kind::Pod, "shop/api-7c9d8f6b5d-2xkqp".to_string()), (Kind::Pod, "shop/api-7c9d8f6b5d-9wz4m".to_string())]
    );
    let ready = &set.objects[0].object;
    assert_eq!(ready["status"]["phase"], "Running");
    assert_eq!(ready["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    assert_eq!(
        set.objects[1].object["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ImagePullBackOff"
    );
    assert!(set.objects.iter().all(|o| o.document == 1), "one document, two items");
}

#[test]
fn typed_list_items_get_their_kind() {
    let set = read("kubectl/get-deploy.json");
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(refs(&set), [(Kind::Deployment, "shop/api".to_string())]);
    let d = &set.objects[0].object;
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["status"]["readyReplicas"], 2);
}

#[test]
fn directories_are_walked_recursively() {
    let set = read("app");
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    // Sorted walk; notes.txt (not a manifest extension) and .hidden/ are skipped.
    assert_eq!(
        set.files,
        [fixture("app/deploy.yaml"), fixture("app/nested/deeper/config.yml"), fixture("app/nested/netpol.json")]
    );
    let names: Vec<String> = refs(&set).into_iter().map(|(_, r)| r).collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(!names.iter().any(|n| n.contains("hidden") || n.contains("not-a-manifest")), "{names:?}");
    // Several roots in one call, and a file named explicitly is read whatever its extension.
    let set = read_paths(&[fixture("app/nested"), fixture("app/notes.txt")]);
    assert_eq!(set.objects.len(), 4, "{:?}", refs(&set));
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_walked_once() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").unwrap();
    std::os::unix::fs::symlink(dir.path(), sub.join("loop")).unwrap();
    let set = read_paths(&[dir.path().to_path_buf()]);
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(set.objects.len(), 1);
}

#[test]
fn bad_files_name_file_and_line_and_the_rest_is_read() {
    let set = read("bad");
    assert_eq!(set.errors.len(), 2, "{:?}", set.errors);
    let indent = set.errors.iter().find(|e| e.file.ends_with("indent.yaml")).expect("indent.yaml error");
    let (line, _) = indent.location.expect("a line for the YAML error");
    assert_eq!(line, 5, "the bad indent is on line 5: {indent}");
    assert!(indent.to_string().starts_with(&format!("{}:{line}:", fixture("bad/indent.yaml").display())), "{indent}");
    let json = set.errors.iter().find(|e| e.file.ends_with("truncated.json")).expect("truncated.json error");
    assert_eq!(json.location.map(|l| l.0), Some(5), "{json}");
    assert!(json.message.contains("end of file"), "{json}");
    assert_eq!(refs(&set), [(Kind::ConfigMap, "shop/fine".to_string())], "good.yaml is still read");
}

#[test]
fn missing_path_is_an_error_naming_it() {
    let set = read_paths(&[fixture("no-such-dir"), fixture("app/nested/netpol.json")]);
    assert_eq!(set.errors.len(), 1);
    assert!(set.errors[0].file.ends_with("no-such-dir"), "{}", set.errors[0]);
    assert_eq!(set.objects.len(), 1);
}

#[test]
fn audit_with_bad_manifests_exits_2_listing_every_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("checks")).unwrap();
    std::fs::write(dir.path().join("checks/pdb.toml"), include_str!("../checks/pdb.toml")).unwrap();
    std::fs::write(
        dir.path().join("checklist.toml"),
        "[launch]\nname = \"m\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"r\"\ntitle = \"R\"\n\n[[item]]\nid = \"r.pdb\"\ncategory = \"r\"\ntitle = \"pdbs\"\ncheck = \"pdb.health\"\nowner = \"ops\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kgents-gate"))
        .args(["audit", "--offline", "--format", "json", "--out-dir", "out", "--manifests"])
        .arg(fixture("bad"))
        .current_dir(dir.path())
        .env_remove("KUBECONFIG")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("indent.yaml:") && stderr.contains("truncated.json:5:"), "{stderr}");
    assert!(stderr.contains("2 manifest problems"), "{stderr}");
    assert!(!stderr.contains("good.yaml"), "{stderr}");
    assert!(!dir.path().join("out/kgents-gate-report.json").exists(), "nothing was checked");
}

fn parse(text: &str) -> ManifestSet {
    let mut set = ManifestSet::default();
    kgents_gate::cluster::manifests::parse_into(text, Path::new("m.yaml"), &mut set);
    set
}

/// Plain scalars follow the YAML 1.2 core schema, and a field Kubernetes types as a string gets
/// the text as written, as the API server reads it: nothing is moved or silently defaulted.
#[test]
fn yaml_is_read_as_kubernetes_reads_it() {
    let set = parse(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: y, labels: {v: 1.10, mode: 0755, big: 1e3, t: true}}\n\
         spec:\n  containers:\n  - {name: c, image: nats, ports: [{containerPort: 4222}], env: [{name: DEBUG, value: on}]}\n\
         ---\napiVersion: v1\nkind: Namespace\nmetadata: {name: y}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: no}\n",
    );
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(refs(&set), [(Kind::Pod, "y/b".into()), (Kind::Namespace, "y".into()), (Kind::Namespace, "no".into())]);
    let pod = &set.objects[0].object;
    assert_eq!(pod["metadata"]["labels"], serde_json::json!({"v": "1.10", "mode": "0755", "big": "1e3", "t": "true"}));
    assert_eq!(pod["spec"]["containers"][0]["env"][0]["value"], "on");
    assert_eq!(pod["spec"]["containers"][0]["ports"][0]["containerPort"], 4222);
    // Older served versions keep their apiVersion (PDB semantics depend on it).
    let pdb = parse(
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: p}\nspec: {minAvailable: 50%}\n",
    );
    assert_eq!(pdb.objects[0].object["apiVersion"], "policy/v1beta1");
    assert_eq!(pdb.objects[0].object["spec"]["minAvailable"], "50%");
}

/// An object whose kind, name or namespace cannot be read is an error at file:line:column,
/// never a default, and the message never quotes the value.
#[test]
fn unreadable_objects_are_errors_with_their_position() {
    let cases = [
        ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [s3cr3t-canary]\n", (4, 9), "metadata.name"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: {a: s3cr3t-canary}\n  name: x\n",
            (4, 14),
            "metadata.namespace",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: a}\ndata: {k: s3cr3t-canary}\n",
            (3, 11),
            "no metadata.name",
        ),
        ("apiVersion: v1\nkind: [Pod]\nmetadata: {name: x}\n", (1, 1), "no apiVersion or kind"),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: s3cr3t-canary\n",
            (5, 13),
            "spec.replicas",
        ),
    ];
    for (text, (line, column), what) in cases {
        let set = parse(text);
        assert_eq!(set.errors.len(), 1, "{text}: {:?}", set.errors);
        let e = &set.errors[0];
        assert_eq!(e.location, Some((line, column)), "{text}: {e}");
        assert!(e.message.contains(what), "{text}: {e}");
        assert!(!e.to_string().contains("s3cr3t-canary"), "{e}");
        assert!(set.objects.is_empty());
    }
}
