//! The container images an audit judged, by content digest: what the nodes run (a Pod's
//! `imageID`) and what the specs pin (`repo@sha256:...`). They go into the report's provenance and
//! are the subjects of the signed attestation (docs/signing.md).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cluster::field::field;

use super::view::ClusterView;
use crate::report::{ImageDigest, ImageDigestSource};
use crate::scan::ImageRef;
use crate::secrets::objects::{containers, items, pod_spec};

/// Every image pinned by digest among the objects of the view (only the kinds the selected checks
/// read are in it). A tag without a digest names no content, so it is left out; so is anything
/// that does not parse as an image reference.
pub fn images_judged(view: &ClusterView) -> Vec<ImageDigest> {
    let mut out = BTreeSet::new();
    for object in view.all_objects() {
        if field(object, "kind").and_then(Value::as_str) == Some("Pod") {
            image_ids(object, &mut out);
        }
        if let Some(spec) = pod_spec(object) {
            for c in containers(spec) {
                // A reference names a digest after `@`; most name a tag only.
                if let Some(image) = field(c.spec, "image").and_then(Value::as_str).filter(|i| i.contains('@'))
                    && let Ok(ImageRef { repository: Some(name), digest: Some(digest), .. }) = ImageRef::parse(image)
                {
                    out.insert(ImageDigest { name, digest, source: ImageDigestSource::Reference });
                }
            }
        }
    }
    out.into_iter().collect()
}

/// `status.*ContainerStatuses[].imageID`: `docker-pullable://repo@sha256:...`, `repo@sha256:...`,
/// or a bare `sha256:...` image ID, which is then named by the status's `image`.
fn image_ids(pod: &Value, out: &mut BTreeSet<ImageDigest>) {
    let status = field(pod, "status");
    for list in ["initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"] {
        for s in items(status.and_then(|st| st.get(list))) {
            let Some(id) = field(s, "imageID").and_then(Value::as_str).filter(|id| !id.trim().is_empty()) else {
                continue;
            };
            let Ok(parsed) = ImageRef::parse(id) else {
                continue;
            };
            let Some(digest) = parsed.digest else {
                continue;
            };
            let image = field(s, "image").and_then(Value::as_str).unwrap_or("");
            let name = match parsed.repository {
                Some(repo) => repo,
                None => match ImageRef::parse(image) {
                    Ok(ImageRef { repository: Some(repo), .. }) => repo,
                    _ if !image.trim().is_empty() => image.trim().to_string(),
                    _ => continue,
                },
            };
            out.insert(ImageDigest { name, digest, source: ImageDigestSource::ImageId });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::kinds::Kind;
    use crate::cluster::view::KindData;
    use serde_json::json;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn view(kind: Kind, objects: Vec<Value>) -> ClusterView {
        let mut v = ClusterView::new(true);
        v.set(kind, KindData::Objects(objects));
        v
    }

    #[test]
    fn pod_image_ids_in_every_runtime_spelling() {
        let pod = json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
        "spec": {"containers": [{"name": "nats", "image": "nats:2.10"}]},
        "status": {
            "initContainerStatuses": [{"image": "busybox:1.36", "imageID": format!("docker-pullable://busybox@{D1}")}],
            "containerStatuses": [
                {"image": "nats:2.10", "imageID": format!("docker.io/library/nats@{D2}")},
                {"image": "ghcr.io/kgents/agent:1.4.2", "imageID": D3},
                {"image": "pending:1", "imageID": ""}
            ]}});
        let got = images_judged(&view(Kind::Pod, vec![pod]));
        let names: Vec<(&str, &str)> = got.iter().map(|i| (i.name.as_str(), i.digest.as_str())).collect();
        assert_eq!(
            names,
            vec![("docker.io/library/busybox", D1), ("docker.io/library/nats", D2), ("ghcr.io/kgents/agent", D3),]
        );
        assert!(got.iter().all(|i| i.source == ImageDigestSource::ImageId));
    }

    #[test]
    fn pinned_references_in_templates_count_and_tags_alone_do_not() {
        let deploy = json!({"kind": "Deployment", "metadata": {"name": "d", "namespace": "a"},
            "spec": {"template": {"spec": {
                "initContainers": [{"name": "m", "image": format!("ghcr.io/kgents/migrate@{D1}")}],
                "containers": [{"name": "w", "image": "redis:7.0.15"}, {"name": "x", "image": format!("redis:7.0.15@{D2}")}]}}}});
        let cron = json!({"kind": "CronJob", "metadata": {"name": "c", "namespace": "a"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "b", "image": format!("ghcr.io/kgents/migrate@{D1}")},
                {"name": "bad", "image": "Not A Reference@sha256:zz"}]}}}}}});
        let mut v = view(Kind::Deployment, vec![deploy]);
        v.set(Kind::CronJob, KindData::Objects(vec![cron]));
        let got = images_judged(&v);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].name.as_str(), got[0].digest.as_str()), ("docker.io/library/redis", D2));
        assert_eq!((got[1].name.as_str(), got[1].digest.as_str()), ("ghcr.io/kgents/migrate", D1));
        assert!(got.iter().all(|i| i.source == ImageDigestSource::Reference));
    }

    #[test]
    fn nothing_loaded_means_no_images() {
        assert!(images_judged(&ClusterView::new(true)).is_empty());
    }
}
