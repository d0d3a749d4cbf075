//! What a container's image reference pins: a digest, a tag, `latest`, or nothing (the runtime
//! then pulls `latest`). Parsed with the scan module's reference parser.

use crate::scan::ImageRef;

/// The verdict on one image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagePin {
    /// `@sha256:...`: the exact image, whatever tag is written beside it.
    Digest,
    /// A tag other than `latest`.
    Tag(String),
    /// `:latest`.
    Latest,
    /// No tag and no digest: pulled as `latest`.
    Untagged,
    /// No image, or one the runtime cannot parse.
    Invalid(String),
}

pub fn pin_of(image: Option<&str>) -> ImagePin {
    let Some(image) = image.map(str::trim).filter(|s| !s.is_empty()) else {
        return ImagePin::Invalid("no image".into());
    };
    // A runtime's `scheme://` prefix belongs to status imageIDs, not to a container's image.
    if image.contains("://") {
        return ImagePin::Invalid(format!("{image:?} is not an image reference"));
    }
    match ImageRef::parse(image) {
        Err(e) => ImagePin::Invalid(e.reason.to_string()),
        Ok(r) if r.digest.is_some() => ImagePin::Digest,
        Ok(r) => match r.tag {
            Some(t) if t == "latest" => ImagePin::Latest,
            Some(t) => ImagePin::Tag(t),
            None => ImagePin::Untagged,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(pin_of(Some("nats:2.10.29-alpine")), ImagePin::Tag("2.10.29-alpine".into()));
        assert_eq!(pin_of(Some("nats")), ImagePin::Untagged);
        assert_eq!(pin_of(Some("localhost:5000/team/app")), ImagePin::Untagged);
        assert_eq!(pin_of(Some("localhost:5000/team/app:1.2")), ImagePin::Tag("1.2".into()));
        assert_eq!(pin_of(Some("ghcr.io/kgents/api:latest")), ImagePin::Latest);
        assert_eq!(pin_of(Some(&format!("nats@{d}"))), ImagePin::Digest);
        assert_eq!(pin_of(Some(&format!("nats:latest@{d}"))), ImagePin::Digest);
        assert!(matches!(pin_of(None), ImagePin::Invalid(_)));
        assert!(matches!(pin_of(Some("  ")), ImagePin::Invalid(_)));
        assert!(matches!(pin_of(Some("Nats:1")), ImagePin::Invalid(_)));
        assert!(matches!(pin_of(Some("docker://nats:1")), ImagePin::Invalid(_)));
        assert!(matches!(pin_of(Some("nats@sha256:12")), ImagePin::Invalid(_)));
    }
}
