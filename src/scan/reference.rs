//! Container image references as Kubernetes shows them (`repo/name:tag`, `repo/name@sha256:...`,
//! a Pod's `imageID` such as `docker-pullable://repo@sha256:...`), normalised as Docker does
//! (`alpine` = `docker.io/library/alpine`), and matched against the image a report scanned.

use std::fmt;

use serde::Serialize;

use super::ImageIdentity;

/// A parsed, normalised image reference. `repository` is `None` for a bare image ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    /// `registry/path`, with Docker Hub spelled `docker.io/library/name`.
    pub repository: Option<String>,
    pub tag: Option<String>,
    /// `algorithm:hex`, lowercase.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct RefError {
    pub reference: String,
    pub reason: &'static str,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.repository {
            f.write_str(r)?;
        }
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        match (&self.repository, &self.digest) {
            (Some(_), Some(d)) => write!(f, "@{d}"),
            (None, Some(d)) => f.write_str(d),
            _ => Ok(()),
        }
    }
}

impl ImageRef {
    pub fn parse(reference: &str) -> Result<ImageRef, RefError> {
        let err = |reason| RefError { reference: reference.to_string(), reason };
        let mut s = reference.trim();
        // Runtime prefixes of a Pod's status.containerStatuses[].imageID.
        if let Some((scheme, rest)) = s.split_once("://") {
            if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(err("malformed scheme"));
            }
            s = rest;
        }
        if s.is_empty() {
            return Err(err("empty"));
        }
        // A bare image ID: `sha256:<hex>` or just the 64 hex digits.
        if let Some(digest) = bare_digest(s) {
            return Ok(ImageRef { repository: None, tag: None, digest: Some(digest) });
        }
        let (name, digest) = match s.split_once('@') {
            Some((name, digest)) => (name, Some(parse_digest(digest).ok_or_else(|| err("malformed digest"))?)),
            None => (s, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if let Some(tag) = tag {
            let ok = (1..=128).contains(&tag.len())
                && tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(err("malformed tag"));
            }
        }
        Ok(ImageRef {
            repository: Some(normalise_name(name).ok_or_else(|| err("malformed name"))?),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    fn same_repository(&self, other: &ImageRef) -> bool {
        self.repository.is_some() && self.repository == other.repository
    }
}

/// `docker.io/library/alpine` from `alpine`, `library/alpine`, `index.docker.io/alpine`.
fn normalise_name(name: &str) -> Option<String> {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_ascii_lowercase(), rest)
        }
        _ => ("docker.io".to_string(), name),
    };
    let domain = if domain == "index.docker.io" { "docker.io".to_string() } else { domain };
    let domain_ok = !domain.is_empty()
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if !domain_ok || !path.split('/').all(component_ok) {
        return None;
    }
    if domain == "docker.io" && !path.contains('/') {
        Some(format!("docker.io/library/{path}"))
    } else {
        Some(format!("{domain}/{path}"))
    }
}

/// `sha256:<64 hex>` (any case) or `<algorithm>:<hex>`; returned lowercase.
fn parse_digest(s: &str) -> Option<String> {
    let (algorithm, hex) = s.split_once(':')?;
    let algorithm = algorithm.to_ascii_lowercase();
    let want = match algorithm.as_str() {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    let algorithm_ok =
        !algorithm.is_empty() && algorithm.chars().all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c));
    let hex_ok = !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) && want.is_none_or(|n| hex.len() == n);
    (algorithm_ok && hex_ok).then(|| format!("{algorithm}:{}", hex.to_ascii_lowercase()))
}

fn bare_digest(s: &str) -> Option<String> {
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!("sha256:{}", s.to_ascii_lowercase()));
    }
    if s.contains('/') || s.contains('@') {
        return None;
    }
    parse_digest(s).filter(|_| s.to_ascii_lowercase().starts_with("sha"))
}

/// Whether a report is about the deployed image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ImageMatch {
    /// The report scanned this image.
    Match { by: MatchedBy },
    /// The report scanned the same repository at other content: the deployed digest is not among
    /// the report's registry digests. A multi-arch image deployed by its index digest and scanned
    /// by its platform manifest digest alone (Grype without `repoDigests`) also lands here: the
    /// report cannot tell, a registry lookup could.
    DigestMismatch { report_digests: Vec<String> },
    /// The report is about another image (or cannot be tied to this one).
    NoMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchedBy {
    /// Same content: a repo digest, the manifest digest or the image ID is equal.
    Digest,
    /// Same repository and tag, and no digest to compare (a tag can be moved).
    Tag,
}

/// Matches a deployed reference (`spec.containers[].image` or `status.containerStatuses[].imageID`)
/// against how a report identifies its image. Only the deployed reference can be an error; a
/// report name that is not an image reference (a tar file path) simply matches nothing.
pub fn match_image(deployed: &str, image: &ImageIdentity) -> Result<ImageMatch, RefError> {
    let want = ImageRef::parse(deployed)?;
    let names: Vec<ImageRef> =
        image.references.iter().chain(&image.repo_digests).filter_map(|r| ImageRef::parse(r).ok()).collect();
    // Registry digests (repo digests, manifest digest) identify what a registry serves; the image
    // ID (config digest) only what a runtime shows for a local image (`docker://sha256:...`).
    let mut registry: Vec<String> = names.iter().filter_map(|r| r.digest.clone()).collect();
    registry.extend(image.manifest_digest.as_deref().and_then(|d| bare_digest(d.trim())));
    let mut seen = std::collections::HashSet::new();
    registry.retain(|d| seen.insert(d.clone()));
    let image_id = image.image_id.as_deref().and_then(|d| bare_digest(d.trim()));
    let same_repo: Vec<&ImageRef> = names.iter().filter(|r| r.same_repository(&want)).collect();

    if let Some(d) = &want.digest {
        if registry.contains(d) || image_id.as_ref() == Some(d) {
            return Ok(ImageMatch::Match { by: MatchedBy::Digest });
        }
        if want.repository.is_some() && !same_repo.is_empty() && !registry.is_empty() {
            return Ok(ImageMatch::DigestMismatch { report_digests: registry });
        }
    }
    // No digest to compare: the same repository and tag (absent = latest) is the best evidence.
    if want.repository.is_some() && (want.digest.is_none() || want.tag.is_some()) {
        let tag = want.tag.as_deref().unwrap_or("latest");
        let tagged = same_repo.iter().any(|r| r.tag.as_deref().or(r.digest.is_none().then_some("latest")) == Some(tag));
        if tagged {
            return Ok(ImageMatch::Match { by: MatchedBy::Tag });
        }
    }
    Ok(ImageMatch::NoMatch)
}

#[cfg(test)]
mod tests;
