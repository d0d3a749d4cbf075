//! Small text helpers shared by the renderers: word wrapping by display width, durations,
//! "days left" phrases, short digests, outcome labels, and measured values.

use unicode_width::UnicodeWidthStr;

use crate::outcome::{Measurement, Outcome};

/// Columns a string takes in a terminal (wide characters count two).
pub(crate) fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Replaces control characters so user text cannot move the cursor or inject escapes.
/// Tabs become a space; newlines are kept for the caller to split on.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' | '\r' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Pads `s` with spaces to `cols` display columns, or cuts it with an ellipsis when longer.
pub(crate) fn fit(s: &str, cols: usize) -> String {
    let w = width(s);
    if w <= cols {
        return format!("{s}{}", " ".repeat(cols - w));
    }
    let mut out = String::new();
    for c in s.chars() {
        if width(&out) + width(c.encode_utf8(&mut [0; 4])) + 1 > cols {
            break;
        }
        out.push(c);
    }
    out.push('…');
    let pad = cols.saturating_sub(width(&out));
    out.push_str(&" ".repeat(pad));
    out
}

/// `850 ms`, `12.4 s`, `3 min 5 s`.
pub(crate) fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1_000, (ms % 1_000) / 100)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1_000)
    }
}

/// `45 days left`, `1 day left`, `expires today`, `expired 3 days ago`.
pub(crate) fn days_left(days: i64) -> String {
    let plural = |n: i64| if n == 1 { "day" } else { "days" };
    match days {
        0 => "expires today".to_string(),
        d if d > 0 => format!("{d} {} left", plural(d)),
        d => format!("expired {} {} ago", -d, plural(-d)),
    }
}

/// The first 12 hex digits of a sha256, enough to tell checklists apart at a glance.
pub(crate) fn short_sha(sha: &str) -> &str {
    match sha.char_indices().nth(12) {
        Some((i, _)) => &sha[..i],
        None => sha,
    }
}

/// One-column symbol per outcome, used by the terminal and Markdown renderers.
pub(crate) fn symbol(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✔",
        Outcome::Fail => "✘",
        Outcome::Warn => "!",
        Outcome::Waived => "~",
        Outcome::Unverified => "?",
        Outcome::Pending => "…",
        Outcome::Skipped => "-",
    }
}

/// The outcomes in the order summaries list them.
pub(crate) const OUTCOMES: [Outcome; 7] = [
    Outcome::Pass,
    Outcome::Fail,
    Outcome::Warn,
    Outcome::Waived,
    Outcome::Unverified,
    Outcome::Pending,
    Outcome::Skipped,
];

/// The count of one outcome in a summary.
pub(crate) fn count(summary: &crate::report::Summary, outcome: Outcome) -> usize {
    match outcome {
        Outcome::Pass => summary.pass,
        Outcome::Fail => summary.fail,
        Outcome::Warn => summary.warn,
        Outcome::Waived => summary.waived,
        Outcome::Unverified => summary.unverified,
        Outcome::Pending => summary.pending,
        Outcome::Skipped => summary.skipped,
    }
}

/// `2 fail, 1 pending` for the outcomes other than pass that occur; empty when all passed.
pub(crate) fn non_pass_counts(summary: &crate::report::Summary) -> String {
    OUTCOMES
        .iter()
        .skip(1)
        .filter(|o| count(summary, **o) > 0)
        .map(|o| format!("{} {}", count(summary, *o), o))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A measured value for people: four significant digits, no trailing zeros (`0.375`, `478`,
/// `0.00012`). The JSON report keeps the full value.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 12) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" { "0".into() } else { s }
}

/// The change from `old` to `new` in percent of `old`: `+4.2%`, `-10%`, or `from 0`.
pub fn change(old: f64, new: f64) -> String {
    if old == 0.0 {
        return if new == 0.0 { "±0%".into() } else { "from 0".into() };
    }
    let pct = (new - old) / old.abs() * 100.0;
    let sign = if pct > 0.0 { "+" } else { "" };
    format!("{sign}{}%", number(pct))
}

/// One line per measurement: `p95_latency 0.375 (<= 0.5) met`, with the baseline and the
/// samples when there are several.
pub fn measurement_line(m: &Measurement) -> String {
    let mut line = format!("{} {} ({}) {}", m.name, number(m.value), m.threshold, m.status.as_str());
    if let Some(b) = m.baseline {
        line.push_str(&format!("; baseline {} ({})", number(b), change(b, m.value)));
    }
    if m.samples.len() > 1 {
        let samples: Vec<String> = m.samples.iter().map(|v| number(*v)).collect();
        line.push_str(&format!("; samples {}", samples.join(", ")));
    }
    if let Some(at) = &m.at {
        line.push_str(&format!("; at {at}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_escapes() {
        assert_eq!(sanitize("a\x1b[31mb\tc"), "a\u{FFFD}[31mb c");
    }

    #[test]
    fn phrases() {
        assert_eq!(days_left(45), "45 days left");
        assert_eq!(days_left(1), "1 day left");
        assert_eq!(days_left(0), "expires today");
        assert_eq!(days_left(-3), "expired 3 days ago");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(short_sha("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_sha("abc"), "abc");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(number(0.37500000000000006), "0.375");
        assert_eq!(number(478.0), "478");
        assert_eq!(number(0.00012), "0.00012");
        assert_eq!(number(123456.7), "123457");
        assert_eq!(number(-0.0), "0");
        assert_eq!(change(0.36, 0.375), "+4.167%");
        assert_eq!(change(100.0, 90.0), "-10%");
        assert_eq!(change(0.0, 0.1), "from 0");
    }
}
