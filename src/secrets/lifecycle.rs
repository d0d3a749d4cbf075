//! Secret lifecycle from metadata: values kept in clear in the last-applied annotation
//! (`secret-last-applied-in-clear`) and Secrets past their rotation age (`secret-rotation-overdue`).

use jiff::Timestamp;
use serde_json::Value;

use super::objects::{Inventory, at, secret_type, str_at};
use super::{
    MANAGED_SECRET_TYPES, SECRET_LAST_APPLIED_IN_CLEAR, SECRET_ROTATION_OVERDUE, SecretFinding, SecretScanOptions,
};
use crate::outcome::Level;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// cert-manager renews the Secrets it manages in place (creationTimestamp stays old).
const CERT_MANAGER: &str = "cert-manager.io/certificate-name";

pub(super) fn last_applied(inv: &Inventory, _opts: &SecretScanOptions, out: &mut Vec<SecretFinding>) {
    for (r, v) in inv.of_kind("Secret") {
        let Some(raw) = str_at(v, &["metadata", "annotations", LAST_APPLIED]) else {
            continue;
        };
        let parsed: Value = match serde_json::from_str(raw) {
            Ok(p) => p,
            Err(_) => {
                // The parse error could quote the annotation, so it is not passed on.
                let message = format!(
                    "the {LAST_APPLIED} annotation is not valid JSON, so whether it holds the data cannot be told; \
                     remove it (kubectl apply --server-side does not write it)"
                );
                out.push(SecretFinding::new(SECRET_LAST_APPLIED_IN_CLEAR, Level::Warning, r, None, message));
                continue;
            }
        };
        for field in ["data", "stringData"] {
            let Some(map) = parsed.get(field).and_then(Value::as_object) else {
                continue;
            };
            for (key, value) in map {
                if value.as_str().is_some_and(str::is_empty) || value.is_null() {
                    continue;
                }
                let message = format!(
                    "the {LAST_APPLIED} annotation holds the value of key {key} ({field}) in clear, readable by \
                     anyone who can read Secret metadata; re-apply with --server-side or remove the annotation"
                );
                out.push(SecretFinding::new(SECRET_LAST_APPLIED_IN_CLEAR, Level::Error, r, Some(key.clone()), message));
            }
        }
    }
}

/// An RFC 3339 time or a plain date (midnight UTC).
pub fn parse_rotation_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let date = s.parse::<jiff::civil::Date>().ok()?;
    format!("{date}T00:00:00Z").parse::<Timestamp>().ok()
}

fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

pub(super) fn rotation(inv: &Inventory, opts: &SecretScanOptions, out: &mut Vec<SecretFinding>) {
    let Some(now) = opts.now else { return };
    let max_secs = i64::try_from(opts.rotation_max_age.as_secs()).unwrap_or(i64::MAX);
    for (r, v) in inv.of_kind("Secret") {
        if MANAGED_SECRET_TYPES.contains(&secret_type(v)) || at(v, &["metadata", "annotations", CERT_MANAGER]).is_some()
        {
            continue;
        }
        // Manifests not yet applied have no creationTimestamp: their age is unknown, not old.
        let Some(created) = str_at(v, &["metadata", "creationTimestamp"]).and_then(|s| s.parse::<Timestamp>().ok())
        else {
            continue;
        };
        let annotation = str_at(v, &["metadata", "annotations", opts.rotation_annotation.as_str()]);
        let rotated = annotation.and_then(parse_rotation_time);
        let last = rotated.map_or(created, |t| t.max(created));
        let age = now.as_second().saturating_sub(last.as_second());
        if age <= max_secs {
            continue;
        }
        let since = match (annotation, rotated) {
            (_, Some(t)) if t >= created => {
                format!("last rotated {} ({})", day(t), opts.rotation_annotation)
            }
            (Some(_), None) => format!(
                "created {}; the {} annotation is not an RFC 3339 time or a date",
                day(created),
                opts.rotation_annotation
            ),
            _ => format!("created {}, no later rotation recorded in {}", day(created), opts.rotation_annotation),
        };
        let message = format!(
            "{since}: {} days old, rotation age is {} days; rotate it and set {} to the rotation time",
            age / 86_400,
            max_secs / 86_400,
            opts.rotation_annotation
        );
        out.push(SecretFinding::new(SECRET_ROTATION_OVERDUE, Level::Warning, r, None, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_times() {
        assert!(parse_rotation_time("2025-01-02T03:04:05Z").is_some());
        assert!(parse_rotation_time("2025-01-02T03:04:05+02:00").is_some());
        assert_eq!(parse_rotation_time("2025-01-02").map(day).as_deref(), Some("2025-01-02"));
        assert!(parse_rotation_time("last tuesday").is_none());
    }
}
