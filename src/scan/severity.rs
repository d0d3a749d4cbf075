//! One severity scale for all scanners (Grype's six levels: Trivy's five plus Negligible) and the
//! mapping from the words and CVSS scores each tool writes.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Ordered from least to most severe; `Unknown` sorts lowest but is not "harmless": whether an
/// unrated finding blocks is the gate's decision (`Threshold::unknown_fails`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Unknown,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 6] =
        [Severity::Unknown, Severity::Negligible, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// Case-insensitive: `CRITICAL`, `High`, `medium`, `low`, `negligible`, `unknown`, plus the
    /// synonyms other sources use (`moderate` = medium, `none` and `info` = negligible).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "medium" | "moderate" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            "negligible" | "none" | "info" | "informational" => Some(Severity::Negligible),
            "unknown" => Some(Severity::Unknown),
            _ => None,
        }
    }

    /// A report's severity word; one this does not know is `Unknown`, never dropped.
    pub fn from_report(s: Option<&str>) -> Severity {
        s.and_then(Severity::parse).unwrap_or(Severity::Unknown)
    }

    /// CVSS v3 qualitative rating of a base score (0.0 none, 0.1-3.9 low, 4.0-6.9 medium,
    /// 7.0-8.9 high, 9.0-10.0 critical).
    pub fn from_cvss3_score(score: f64) -> Severity {
        match score {
            s if !(0.0..=10.0).contains(&s) => Severity::Unknown,
            0.0 => Severity::Negligible,
            s if s < 4.0 => Severity::Low,
            s if s < 7.0 => Severity::Medium,
            s if s < 9.0 => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// NVD's CVSS v2 rating (0-3.9 low, 4.0-6.9 medium, 7.0-10.0 high; v2 has no critical).
    pub fn from_cvss2_score(score: f64) -> Severity {
        match score {
            s if !(0.0..=10.0).contains(&s) => Severity::Unknown,
            s if s < 4.0 => Severity::Low,
            s if s < 7.0 => Severity::Medium,
            _ => Severity::High,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// For checklist parameters (`fail_on = "high"`): an unknown word is an error, not `Unknown`.
impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::parse(s).ok_or_else(|| {
            format!("unknown severity {s:?} (expected one of critical, high, medium, low, negligible, unknown)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_case_insensitively() {
        assert_eq!(Severity::parse("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::parse("High"), Some(Severity::High));
        assert_eq!(Severity::parse(" medium "), Some(Severity::Medium));
        assert_eq!(Severity::parse("Moderate"), Some(Severity::Medium));
        assert_eq!(Severity::parse("LOW"), Some(Severity::Low));
        assert_eq!(Severity::parse("Negligible"), Some(Severity::Negligible));
        assert_eq!(Severity::parse("NONE"), Some(Severity::Negligible));
        assert_eq!(Severity::parse("UNKNOWN"), Some(Severity::Unknown));
        assert_eq!(Severity::parse("severe"), None);
        assert_eq!(Severity::parse(""), None);
        assert_eq!(Severity::from_report(Some("bogus")), Severity::Unknown);
        assert_eq!(Severity::from_report(None), Severity::Unknown);
    }

    #[test]
    fn from_str_rejects_unknown_words_for_parameters() {
        assert_eq!("high".parse::<Severity>(), Ok(Severity::High));
        let err = "hihg".parse::<Severity>().unwrap_err();
        assert!(err.contains("hihg") && err.contains("critical, high"), "{err}");
    }

    #[test]
    fn scale_is_ordered() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::High > Severity::Medium);
        assert!(Severity::Medium > Severity::Low);
        assert!(Severity::Low > Severity::Negligible);
        assert!(Severity::Negligible > Severity::Unknown);
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn cvss_scores_map_to_ratings() {
        assert_eq!(Severity::from_cvss3_score(9.8), Severity::Critical);
        assert_eq!(Severity::from_cvss3_score(9.0), Severity::Critical);
        assert_eq!(Severity::from_cvss3_score(8.9), Severity::High);
        assert_eq!(Severity::from_cvss3_score(7.0), Severity::High);
        assert_eq!(Severity::from_cvss3_score(5.3), Severity::Medium);
        assert_eq!(Severity::from_cvss3_score(0.1), Severity::Low);
        assert_eq!(Severity::from_cvss3_score(0.0), Severity::Negligible);
        assert_eq!(Severity::from_cvss3_score(11.0), Severity::Unknown);
        assert_eq!(Severity::from_cvss3_score(f64::NAN), Severity::Unknown);
        assert_eq!(Severity::from_cvss2_score(10.0), Severity::High);
        assert_eq!(Severity::from_cvss2_score(5.0), Severity::Medium);
        assert_eq!(Severity::from_cvss2_score(2.1), Severity::Low);
        assert_eq!(Severity::from_cvss2_score(-1.0), Severity::Unknown);
    }
}
