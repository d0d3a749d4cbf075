//! The metric names an exporter exposes, read from the Prometheus text exposition format (or
//! OpenMetrics): the names of its sample lines, `_bucket`, `_sum` and `_count` included.

use std::collections::BTreeSet;

/// Every series name with at least one sample line in `text`.
pub fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = if let Some(rest) = line.strip_prefix('{') {
            // OpenMetrics 2 / UTF-8 names: `{"name", label="v"} 1`.
            rest.strip_prefix('"').and_then(|r| r.split_once('"')).map(|(n, _)| n)
        } else {
            line.split(|c: char| c == '{' || c.is_whitespace()).next()
        };
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            names.insert(n.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_sample_lines() {
        let text = "# HELP nats_varz_slow_consumers Slow consumers\n# TYPE nats_varz_slow_consumers gauge\n\
            nats_varz_slow_consumers{server_id=\"N1\"} 0\n\
            http_request_duration_seconds_bucket{le=\"0.1\"} 3 1700000000000\n\
            http_request_duration_seconds_sum 1.5\n  up 1\n{\"my.metric\",a=\"b\"} 2\n# EOF\n";
        let names: Vec<String> = metric_names(text).into_iter().collect();
        assert_eq!(
            names,
            [
                "http_request_duration_seconds_bucket",
                "http_request_duration_seconds_sum",
                "my.metric",
                "nats_varz_slow_consumers",
                "up"
            ]
        );
    }
}
