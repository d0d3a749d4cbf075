use super::*;

fn norm(s: &str) -> String {
    ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}")).to_string()
}

const D: &str = "sha256:b1c5a500182b21d0bfa5a584a8526b56d8be316f89e87d951be04abed2446e60";

#[test]
fn docker_hub_names_are_normalised() {
    assert_eq!(norm("alpine"), "docker.io/library/alpine");
    assert_eq!(norm("alpine:3.10"), "docker.io/library/alpine:3.10");
    assert_eq!(norm("library/alpine:3.10"), "docker.io/library/alpine:3.10");
    assert_eq!(norm("docker.io/alpine:3.10"), "docker.io/library/alpine:3.10");
    assert_eq!(norm("index.docker.io/library/alpine:3.10"), "docker.io/library/alpine:3.10");
    assert_eq!(norm("bitnami/redis:7.2"), "docker.io/bitnami/redis:7.2");
    assert_eq!(norm("Docker.IO/bitnami/redis"), "docker.io/bitnami/redis");
}

#[test]
fn registries_ports_tags_and_digests() {
    assert_eq!(norm("localhost:5000/team/app:v1.2.3"), "localhost:5000/team/app:v1.2.3");
    assert_eq!(norm("localhost/app"), "localhost/app");
    assert_eq!(norm("ghcr.io/org/app"), "ghcr.io/org/app");
    assert_eq!(norm(&format!("ghcr.io/org/app@{D}")), format!("ghcr.io/org/app@{D}"));
    assert_eq!(
        norm(&format!("ghcr.io/org/app:1.0@{}", D.to_uppercase().replace("SHA256", "sha256"))),
        format!("ghcr.io/org/app:1.0@{D}")
    );
    let r = ImageRef::parse("registry:5000/app").unwrap();
    assert_eq!((r.repository.as_deref(), r.tag.as_deref()), (Some("registry:5000/app"), None));
    let r = ImageRef::parse("app:5000").unwrap();
    assert_eq!((r.repository.as_deref(), r.tag.as_deref()), (Some("docker.io/library/app"), Some("5000")));
}

#[test]
fn pod_image_ids() {
    let hex = &D["sha256:".len()..];
    for id in [
        format!("docker-pullable://localhost:53869/alpine@{D}"),
        format!("docker://localhost:53869/alpine@{D}"),
        format!("localhost:53869/alpine@{D}"),
    ] {
        let r = ImageRef::parse(&id).unwrap();
        assert_eq!((r.repository.as_deref(), r.digest.as_deref()), (Some("localhost:53869/alpine"), Some(D)), "{id}");
    }
    for id in [format!("docker://{D}"), D.to_string(), hex.to_string()] {
        let r = ImageRef::parse(&id).unwrap();
        assert_eq!((r.repository, r.digest.as_deref()), (None, Some(D)), "{id}");
    }
}

#[test]
fn malformed_references_are_errors() {
    for bad in [
        "",
        "   ",
        "docker-pullable://",
        "Alpine/App",
        "alpine:",
        "alpine:bad tag",
        "alpine@sha256:1234",
        "alpine@sha256:zz5a500182b21d0bfa5a584a8526b56d8be316f89e87d951be04abed2446e60",
        "alpine@",
        "a//b",
        "-alpine",
        "alpine-",
        "://alpine",
        "ht tp://alpine",
        "émoji/app",
    ] {
        let e = ImageRef::parse(bad).unwrap_err();
        assert!(e.to_string().starts_with("invalid image reference"), "{bad}: {e}");
    }
}

#[test]
fn matching_rules() {
    let id = ImageIdentity {
        references: vec!["registry.example.com/team/app:1.0".into(), "not a reference".into(), "out/app.tar.gz".into()],
        repo_digests: vec![format!("registry.example.com/team/app@{D}")],
        image_id: Some("sha256:1111111111111111111111111111111111111111111111111111111111111111".into()),
        manifest_digest: None,
    };
    let m = |d: &str| match_image(d, &id).unwrap();
    assert_eq!(m(&format!("registry.example.com/team/app@{D}")), ImageMatch::Match { by: MatchedBy::Digest });
    // Same content under another name is the same image.
    assert_eq!(m(&format!("mirror.example.com/app@{D}")), ImageMatch::Match { by: MatchedBy::Digest });
    assert_eq!(m("registry.example.com/team/app:1.0"), ImageMatch::Match { by: MatchedBy::Tag });
    assert_eq!(m("registry.example.com/team/app:1.1"), ImageMatch::NoMatch);
    assert_eq!(m("registry.example.com/team/app"), ImageMatch::NoMatch, "latest");
    let other = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    assert!(matches!(m(&format!("registry.example.com/team/app@{other}")), ImageMatch::DigestMismatch { .. }));
    // A digest wins over the tag next to it.
    assert!(matches!(m(&format!("registry.example.com/team/app:1.0@{other}")), ImageMatch::DigestMismatch { .. }));
    assert_eq!(m(&format!("registry.example.com/other@{other}")), ImageMatch::NoMatch);
    assert_eq!(m(other), ImageMatch::NoMatch);
    assert_eq!(
        m("docker://sha256:1111111111111111111111111111111111111111111111111111111111111111"),
        ImageMatch::Match { by: MatchedBy::Digest }
    );

    // The image ID is not a registry digest: a deployed repo digest that differs from it alone
    // proves nothing either way.
    let local = ImageIdentity {
        references: vec!["app:1.0".into()],
        image_id: Some("sha256:1111111111111111111111111111111111111111111111111111111111111111".into()),
        ..ImageIdentity::default()
    };
    assert_eq!(match_image(&format!("app:1.0@{D}"), &local).unwrap(), ImageMatch::Match { by: MatchedBy::Tag });
    assert_eq!(match_image(&format!("app@{D}"), &local).unwrap(), ImageMatch::NoMatch);

    // A report that names its image by tag only: a deployed digest cannot be compared, the tag can.
    let tags_only = ImageIdentity { references: vec!["app:1.0".into()], ..ImageIdentity::default() };
    assert_eq!(match_image(&format!("docker.io/library/app@{D}"), &tags_only).unwrap(), ImageMatch::NoMatch);
    assert_eq!(match_image(&format!("app:1.0@{D}"), &tags_only).unwrap(), ImageMatch::Match { by: MatchedBy::Tag });
    assert_eq!(match_image("app:1.0", &ImageIdentity::default()).unwrap(), ImageMatch::NoMatch);
    assert!(match_image("", &tags_only).is_err());
}
