//! Checklist parameters of the secret-hygiene check, read and validated with `ParamReader`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::objects::NamespaceScope;
use super::patterns::Patterns;
use super::{DEFAULT_ROTATION_ANNOTATION, DEFAULT_ROTATION_MAX_AGE, SecretScanOptions};
use crate::probe::ParamReader;

/// Namespaces left out unless `exclude_namespaces` says otherwise: Kubernetes' own.
pub const DEFAULT_EXCLUDED_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

#[derive(Debug, Clone, PartialEq)]
pub struct SecretsParams {
    /// `namespaces`: only these (empty: all).
    pub namespaces: Vec<String>,
    /// `exclude_namespaces` (default: kube-system, kube-public, kube-node-lease).
    pub exclude_namespaces: Vec<String>,
    /// `rotation_max_age` (default `90d`).
    pub rotation_max_age: Duration,
    /// `rotation_annotation` (default `kgents.io/rotated-at`).
    pub rotation_annotation: String,
    /// `automount_allowed`: ServiceAccounts (`namespace/name` or `name`) that may automount tokens.
    pub automount_allowed: Vec<String>,
    /// `secret_readers_allowed`: `ServiceAccount:namespace/name`, `User:name` or `Group:name`.
    pub secret_readers_allowed: Vec<String>,
    /// `extra_credential_names`: more credential-name fragments (case-insensitive substrings).
    pub extra_credential_names: Vec<String>,
    /// `extra_credential_values`: more credential-value regexes (case-insensitive).
    pub extra_credential_values: Vec<String>,
    /// `allowed_credential_names`: name fragments that are never credentials (e.g. `_FILE`).
    pub allowed_credential_names: Vec<String>,
    /// `allowed_credential_values`: value regexes that are never credentials.
    pub allowed_credential_values: Vec<String>,
}

fn case_insensitive(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).case_insensitive(true).size_limit(16 << 20).build()
}

fn regex_list(r: &mut ParamReader, key: &str) -> Vec<String> {
    let list = r.opt_str_list(key).unwrap_or_default();
    for p in &list {
        if let Err(e) = case_insensitive(p) {
            let e = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            r.error(key, format!("parameter `{key}`: invalid regex `{p}`: {e}"));
        }
    }
    list
}

impl SecretsParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let namespaces = r.opt_str_list("namespaces").unwrap_or_default();
        let exclude_namespaces = r
            .opt_str_list("exclude_namespaces")
            .unwrap_or_else(|| DEFAULT_EXCLUDED_NAMESPACES.iter().map(|s| s.to_string()).collect());
        let rotation_max_age = r.opt_duration("rotation_max_age").unwrap_or(DEFAULT_ROTATION_MAX_AGE);
        if rotation_max_age.is_zero() {
            r.error("rotation_max_age", "parameter `rotation_max_age` must be longer than zero");
        }
        let rotation_annotation =
            r.opt_str("rotation_annotation").unwrap_or_else(|| DEFAULT_ROTATION_ANNOTATION.to_string());
        if rotation_annotation.trim().is_empty() {
            r.error("rotation_annotation", "parameter `rotation_annotation` must not be empty");
        }
        let automount_allowed = r.opt_str_list("automount_allowed").unwrap_or_default();
        let secret_readers_allowed = r.opt_str_list("secret_readers_allowed").unwrap_or_default();
        for s in &secret_readers_allowed {
            let ok = match s.split_once(':') {
                Some(("ServiceAccount", rest)) => {
                    rest.split_once('/').is_some_and(|(n, a)| !n.is_empty() && !a.is_empty())
                }
                Some(("User" | "Group", rest)) => !rest.is_empty(),
                _ => false,
            };
            if !ok {
                r.error(
                    "secret_readers_allowed",
                    format!(
                        "parameter `secret_readers_allowed`: `{s}` must be ServiceAccount:namespace/name, \
                         User:name or Group:name"
                    ),
                );
            }
        }
        let extra_credential_names = r.opt_str_list("extra_credential_names").unwrap_or_default();
        let extra_credential_values = regex_list(r, "extra_credential_values");
        let allowed_credential_names = r.opt_str_list("allowed_credential_names").unwrap_or_default();
        let allowed_credential_values = regex_list(r, "allowed_credential_values");
        Some(SecretsParams {
            namespaces,
            exclude_namespaces,
            rotation_max_age,
            rotation_annotation,
            automount_allowed,
            secret_readers_allowed,
            extra_credential_names,
            extra_credential_values,
            allowed_credential_names,
            allowed_credential_values,
        })
    }

    /// Scan options for these parameters, judged at `now` (None: rotation is not checked).
    /// Regexes were validated by `read`; one that still fails to compile is left out.
    pub fn options(&self, now: Option<jiff::Timestamp>, patterns: Option<Arc<Patterns>>) -> SecretScanOptions {
        let compile = |v: &[String]| v.iter().filter_map(|p| case_insensitive(p).ok()).collect();
        SecretScanOptions {
            patterns,
            now,
            rotation_max_age: self.rotation_max_age,
            rotation_annotation: self.rotation_annotation.clone(),
            automount_allowed: self.automount_allowed.clone(),
            secret_readers_allowed: self.secret_readers_allowed.clone(),
            scope: NamespaceScope {
                include: self.namespaces.iter().cloned().collect(),
                exclude: self.exclude_namespaces.iter().cloned().collect::<BTreeSet<_>>(),
            },
            extra_credential_names: self.extra_credential_names.clone(),
            extra_credential_values: compile(&self.extra_credential_values),
            allowed_credential_names: self.allowed_credential_names.clone(),
            allowed_credential_values: compile(&self.allowed_credential_values),
            unused_unjudged_types: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<SecretsParams, Vec<crate::probe::ParamError>> {
        let t: toml::Table = toml::from_str(text).unwrap();
        let mut r = ParamReader::new(&t);
        let p = SecretsParams::read(&mut r);
        r.finish()?;
        Ok(p.unwrap())
    }

    #[test]
    fn defaults() {
        let p = read("").unwrap();
        assert_eq!(p.rotation_max_age, Duration::from_secs(90 * 86_400));
        assert_eq!(p.rotation_annotation, "kgents.io/rotated-at");
        assert_eq!(p.exclude_namespaces, DEFAULT_EXCLUDED_NAMESPACES);
    }

    #[test]
    fn every_problem_is_collected() {
        let errs = read(
            "rotation_max_age = \"0d\"\nextra_credential_values = [\"(\"]\n\
             secret_readers_allowed = [\"Robot:x\"]\nrotaton_max_age = \"1d\"",
        )
        .unwrap_err();
        let keys: Vec<_> = errs.iter().filter_map(|e| e.key.clone()).collect();
        assert_eq!(keys, ["rotation_max_age", "secret_readers_allowed", "extra_credential_values", "rotaton_max_age"]);
    }

    #[test]
    fn options_follow_params() {
        let p =
            read("namespaces = [\"apps\"]\nrotation_max_age = \"30d\"\nextra_credential_values = [\"^x\"]").unwrap();
        let o = p.options(None, None);
        assert!(o.scope.contains(Some("apps")) && !o.scope.contains(Some("web")));
        assert_eq!(o.rotation_max_age, Duration::from_secs(30 * 86_400));
        assert_eq!(o.extra_credential_values.len(), 1);
    }
}
