//! `minAvailable` / `maxUnavailable` values: scaling as Kubernetes' `intstr` package does
//! (`GetScaledValueFromIntOrPercent`, percentages rounded up) and the API server's validation.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The value of an int-or-percent against `total`. The controller always rounds up:
/// `ceil(percent * total / 100)`. A string that is not a percentage is an error, as in Go.
pub fn scaled_value(v: &IntOrString, total: i64) -> Result<i64, String> {
    match v {
        IntOrString::Int(i) => Ok(i64::from(*i)),
        IntOrString::String(s) => {
            let pct = parse_percent(s)?;
            let product = pct.checked_mul(total).ok_or_else(|| format!("{s} of {total} is out of range"))?;
            // Go computes math.Ceil(float64(v) * float64(total) / 100); for the integer ranges
            // involved that is exactly the rounded-up integer quotient.
            Ok(product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0))
        }
    }
}

/// The number in `"NN%"`, with Go `strconv.Atoi` syntax (optional sign, decimal digits).
fn parse_percent(s: &str) -> Result<i64, String> {
    let Some(num) = s.strip_suffix('%') else {
        return Err(format!("invalid value for IntOrString {s:?}: string is not a percentage"));
    };
    let digits = num.strip_prefix(['+', '-']).unwrap_or(num);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid value {s:?}: not a whole-number percentage"));
    }
    num.parse::<i64>().map_err(|_| format!("invalid value {s:?}: out of range"))
}

/// What the API server's validation says about one field (`ValidatePositiveIntOrPercent`
/// and `IsNotMoreThan100Percent`): non-negative integers, or `^[0-9]+%$` up to 100%.
pub fn validate(field: &str, v: &IntOrString) -> Vec<String> {
    match v {
        IntOrString::Int(i) if *i < 0 => vec![format!("{field} must be greater than or equal to 0, found {i}")],
        IntOrString::Int(_) => Vec::new(),
        IntOrString::String(s) => {
            let valid = s.strip_suffix('%').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            if !valid {
                return vec![format!("{field} {s:?} must be an integer or a percentage such as \"50%\"")];
            }
            match parse_percent(s) {
                Ok(p) if p > 100 => vec![format!("{field} {s:?} must not be greater than 100%")],
                Ok(_) => Vec::new(),
                Err(e) => vec![format!("{field}: {e}")],
            }
        }
    }
}

/// Displays a value as written in YAML (`2`, `50%`).
pub fn display(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled_value(&pct("50%"), 3), Ok(2));
        assert_eq!(scaled_value(&pct("50%"), 4), Ok(2));
        assert_eq!(scaled_value(&pct("1%"), 7), Ok(1));
        assert_eq!(scaled_value(&pct("0%"), 7), Ok(0));
        assert_eq!(scaled_value(&pct("100%"), 7), Ok(7));
        assert_eq!(scaled_value(&pct("34%"), 3), Ok(2)); // 1.02 -> 2
        assert_eq!(scaled_value(&pct("33%"), 3), Ok(1)); // 0.99 -> 1
        assert_eq!(scaled_value(&pct("90%"), 3), Ok(3)); // 2.7 -> 3
        assert_eq!(scaled_value(&pct("50%"), 0), Ok(0));
        assert_eq!(scaled_value(&IntOrString::Int(2), 9), Ok(2));
        assert_eq!(scaled_value(&pct("+20%"), 10), Ok(2));
        assert_eq!(scaled_value(&pct("-20%"), 9), Ok(-1)); // ceil(-1.8)
    }

    #[test]
    fn non_percent_strings_are_errors() {
        for bad in ["2", "%", "a%", "50 %", "1.5%", ""] {
            assert!(scaled_value(&pct(bad), 3).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validation_matches_the_api_server() {
        assert!(validate("minAvailable", &IntOrString::Int(0)).is_empty());
        assert!(validate("minAvailable", &pct("100%")).is_empty());
        assert_eq!(validate("minAvailable", &IntOrString::Int(-1)).len(), 1);
        assert_eq!(validate("minAvailable", &pct("101%")).len(), 1);
        assert_eq!(validate("minAvailable", &pct("+5%")).len(), 1);
        assert_eq!(validate("minAvailable", &pct("2")).len(), 1);
    }
}
