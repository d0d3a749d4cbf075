//! Prometheus name and duration rules: label, annotation and metric names under the legacy or
//! UTF-8 scheme, and durations as `model.ParseDuration` reads them (`1h30m`, `0`, no spaces).

use std::time::Duration;

/// Which names Prometheus accepts. Prometheus 2 checks the legacy scheme; Prometheus 3 defaults
/// to UTF-8, which accepts any non-empty name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    #[default]
    Legacy,
    Utf8,
}

impl NameValidation {
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => {
                let mut chars = name.chars();
                matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
            NameValidation::Utf8 => !name.is_empty(),
        }
    }

    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => {
                let mut chars = name.chars();
                matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            }
            NameValidation::Utf8 => !name.is_empty(),
        }
    }
}

/// Parses a Prometheus duration: units y, w, d, h, m, s, ms, each at most once and in that
/// order; `0` alone needs no unit. The messages are Prometheus' own.
pub fn parse_prometheus_duration(s: &str) -> Result<Duration, String> {
    match s {
        "0" => return Ok(Duration::ZERO),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut next_unit = 0;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| "duration out of range".to_string())?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let Some(idx) =
            (next_unit..UNITS.len()).filter(|&i| rest.starts_with(UNITS[i].0)).max_by_key(|&i| UNITS[i].0.len())
        else {
            return Err(invalid());
        };
        let (unit, ms) = UNITS[idx];
        rest = &rest[unit.len()..];
        next_unit = idx + 1;
        let add = number.checked_mul(ms).ok_or("duration out of range")?;
        total_ms = total_ms.checked_add(add).ok_or("duration out of range")?;
    }
    // Go keeps durations in int64 nanoseconds.
    if u128::from(total_ms) * 1_000_000 > i64::MAX as u128 {
        return Err("duration out of range".into());
    }
    Ok(Duration::from_millis(total_ms))
}

/// A duration as Prometheus prints it (`5m`, `1h30m`, `0s`).
pub fn format_prometheus_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("y", 365 * 86_400_000u128),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_prometheus() {
        assert_eq!(parse_prometheus_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_prometheus_duration("0m"), Ok(Duration::ZERO));
        assert_eq!(parse_prometheus_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_prometheus_duration("1m500ms"), Ok(Duration::from_millis(60_500)));
        assert_eq!(parse_prometheus_duration("2w1d"), Ok(Duration::from_secs(15 * 86_400)));
        for bad in ["", "5", "5 m", "1m1h", "1.5h", "-1m", "5x", "1m1m", "99999999999999999999y"] {
            assert!(parse_prometheus_duration(bad).is_err(), "{bad:?} should be invalid");
        }
        assert_eq!(parse_prometheus_duration("5").unwrap_err(), "not a valid duration string: \"5\"");
        assert_eq!(format_prometheus_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_prometheus_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn legacy_and_utf8_names() {
        let l = NameValidation::Legacy;
        assert!(l.is_valid_label_name("severity"));
        assert!(l.is_valid_label_name("_x9"));
        assert!(!l.is_valid_label_name("ins-tance"));
        assert!(!l.is_valid_label_name("9x"));
        assert!(!l.is_valid_label_name(""));
        assert!(l.is_valid_metric_name("job:rate5m"));
        assert!(!l.is_valid_metric_name("a{b=\"c\"}"));
        assert!(NameValidation::Utf8.is_valid_label_name("ins-tance"));
        assert!(!NameValidation::Utf8.is_valid_label_name(""));
    }
}
