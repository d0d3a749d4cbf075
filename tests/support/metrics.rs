//! The API server's `apiserver_request_total` counters, parsed from `/metrics`, to count the
//! requests (e.g. LISTs) a piece of code makes. Counters are per plane: take a reading before
//! and after, and count a resource other concurrent tests do not list.

use std::collections::BTreeMap;

/// One reading of `apiserver_request_total`.
#[derive(Debug, Clone, Default)]
pub struct RequestCounts {
    /// Every sample: its labels (verb, resource, subresource, group, version, scope, code, ...)
    /// and its value.
    pub samples: Vec<(BTreeMap<String, String>, f64)>,
}

impl RequestCounts {
    /// Parses Prometheus text exposition, keeping `apiserver_request_total` samples.
    pub fn parse(text: &str) -> RequestCounts {
        let samples = text
            .lines()
            .filter_map(|line| line.strip_prefix("apiserver_request_total{"))
            .filter_map(parse_sample)
            .collect();
        RequestCounts { samples }
    }

    /// Requests with `verb` on `resource` (plural, e.g. `pods`), all other labels summed. Verbs
    /// are as the API server writes them: LIST, WATCH and GET for reads, else the HTTP method
    /// (POST for create, PUT for update, PATCH, DELETE).
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.matching(&[("verb", verb), ("resource", resource)])
    }

    /// LIST requests on `resource`.
    pub fn lists(&self, resource: &str) -> u64 {
        self.count("LIST", resource)
    }

    /// The sum of samples whose labels include every `(name, value)` pair.
    pub fn matching(&self, labels: &[(&str, &str)]) -> u64 {
        let sum: f64 = self
            .samples
            .iter()
            .filter(|(l, _)| labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
            .map(|(_, v)| v)
            .sum();
        sum as u64
    }

    /// `(verb, resource)` -> count, everything else summed.
    pub fn by_verb_and_resource(&self) -> BTreeMap<(String, String), u64> {
        let mut map = BTreeMap::new();
        for (labels, value) in &self.samples {
            let key =
                (labels.get("verb").cloned().unwrap_or_default(), labels.get("resource").cloned().unwrap_or_default());
            *map.entry(key).or_insert(0) += *value as u64;
        }
        map
    }
}

/// Parses `name="value",...} 12` (after the metric name and `{`); values may hold escapes.
fn parse_sample(rest: &str) -> Option<(BTreeMap<String, String>, f64)> {
    let mut labels = BTreeMap::new();
    let mut chars = rest.char_indices().peekable();
    loop {
        let (start, c) = *chars.peek()?;
        if c == '}' {
            let value = rest[start + 1..].split_whitespace().next()?.parse().ok()?;
            return Some((labels, value));
        }
        if c == ',' {
            chars.next();
            continue;
        }
        let eq = rest[start..].find("=\"")? + start;
        let name = rest[start..eq].to_string();
        while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
            chars.next();
        }
        let mut value = String::new();
        loop {
            let (_, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_and_sums() {
        let text = "# HELP x\napiserver_request_total{code=\"200\",resource=\"pods\",verb=\"LIST\"} 3\n\
                    apiserver_request_total{code=\"500\",resource=\"pods\",verb=\"LIST\"} 2\n\
                    apiserver_request_total{code=\"200\",resource=\"a\\\"b\",verb=\"GET\"} 1e0\n\
                    apiserver_request_duration_seconds_count{resource=\"pods\",verb=\"LIST\"} 9\n";
        let counts = RequestCounts::parse(text);
        assert_eq!(counts.lists("pods"), 5);
        assert_eq!(counts.count("GET", "a\"b"), 1);
        assert_eq!(counts.matching(&[("code", "500")]), 2);
        assert_eq!(counts.by_verb_and_resource().len(), 2);
    }
}
