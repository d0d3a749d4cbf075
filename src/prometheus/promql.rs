//! What a PromQL expression reads: its vector selectors (metric name, label matchers, range
//! and offset, the function a range is passed to), from promql-parser's syntax tree, so checks
//! can ask Prometheus whether those series exist and whether the windows fit the scrape interval.

use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, Offset};

/// One label matcher of a selector, e.g. `job="nats"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMatch {
    pub name: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: &'static str,
    pub value: String,
    /// As PromQL writes it, quoted and escaped.
    pub text: String,
}

/// One vector selector in an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorUse {
    /// The metric name (written before the braces or as `__name__="..."`), if it is a plain one.
    pub metric: Option<String>,
    /// The other label matchers (and regex or negative `__name__` matchers).
    pub matchers: Vec<LabelMatch>,
    /// The range of a range vector (`[5m]`), or of the subquery it sits in.
    pub range: Option<Duration>,
    /// How far back the selector reads beyond its range (`offset 1h`), forward offsets ignored.
    pub offset: Option<Duration>,
    /// The function the range vector is passed to directly (`rate`, `increase`, ...).
    pub function: Option<String>,
    /// Inside `absent()` or `absent_over_time()`: the expression fires when it matches nothing.
    pub in_absent: bool,
}

impl SelectorUse {
    /// `metric{matchers}`, as `match[]` of `/api/v1/series` takes it.
    pub fn selector(&self) -> String {
        selector_text(self.metric.as_deref(), &self.matchers)
    }

    /// The selector of the metric name alone (None when the selector names no plain metric).
    pub fn metric_selector(&self) -> Option<String> {
        self.metric.as_deref().map(|m| selector_text(Some(m), &[]))
    }

    /// How far back from the evaluation time the selector reads.
    pub fn reach(&self) -> Duration {
        self.range.unwrap_or_default() + self.offset.unwrap_or_default()
    }
}

/// `metric{a="b",c=~"d"}`; a metric name that is not a legacy name is written as `{"name", ...}`.
pub fn selector_text(metric: Option<&str>, matchers: &[LabelMatch]) -> String {
    let mut parts: Vec<String> = matchers.iter().map(|m| m.text.clone()).collect();
    match metric {
        Some(m) if is_legacy_metric_name(m) => {
            if parts.is_empty() {
                m.to_string()
            } else {
                format!("{m}{{{}}}", parts.join(","))
            }
        }
        Some(m) => {
            parts.insert(0, Matcher::new(MatchOp::Equal, "__name__", m).to_string());
            format!("{{{}}}", parts.join(","))
        }
        None => format!("{{{}}}", parts.join(",")),
    }
}

fn is_legacy_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Every vector selector of `expr`, in the order written. Err: the parser's message.
pub fn selectors(expr: &str) -> Result<Vec<SelectorUse>, String> {
    let ast = promql_parser::parser::parse(expr)?;
    let mut v = Collect { found: Vec::new(), subquery_ranges: Vec::new(), absent_depth: 0 };
    v.walk(&ast);
    Ok(v.found)
}

struct Collect {
    found: Vec<SelectorUse>,
    /// Ranges of the subqueries the walk is inside (innermost last), popped on the way out.
    subquery_ranges: Vec<Duration>,
    /// How many `absent()` calls the walk is inside.
    absent_depth: usize,
}

impl Collect {
    fn add(&mut self, vs: &promql_parser::parser::VectorSelector, range: Option<Duration>, function: Option<&str>) {
        let mut metric = vs.name.clone();
        let mut matchers = Vec::new();
        for m in vs.matchers.matchers.iter().chain(vs.matchers.or_matchers.iter().flatten()) {
            if m.name == "__name__" && matches!(m.op, MatchOp::Equal) && metric.is_none() {
                metric = Some(m.value.clone());
                continue;
            }
            if m.name == "__name__" && metric.as_deref() == Some(m.value.as_str()) && matches!(m.op, MatchOp::Equal) {
                continue;
            }
            matchers.push(LabelMatch {
                name: m.name.clone(),
                op: match m.op {
                    MatchOp::Equal => "=",
                    MatchOp::NotEqual => "!=",
                    MatchOp::Re(_) => "=~",
                    MatchOp::NotRe(_) => "!~",
                },
                value: m.value.clone(),
                text: m.to_string(),
            });
        }
        let offset = match &vs.offset {
            Some(Offset::Pos(d)) => Some(*d),
            _ => None,
        };
        // A plain selector inside a subquery reads as far back as the subquery's range.
        let range = range.or_else(|| self.subquery_ranges.iter().copied().max());
        self.found.push(SelectorUse {
            metric,
            matchers,
            range,
            offset,
            function: function.map(str::to_string),
            in_absent: self.absent_depth > 0,
        });
    }
}

impl Collect {
    /// Depth-first, in the order written. (promql-parser's own walk stops at the first node
    /// that is not descended into, so siblings after it would be missed.)
    fn walk(&mut self, expr: &Expr) {
        match expr {
            Expr::VectorSelector(vs) => self.add(vs, None, None),
            Expr::MatrixSelector(ms) => self.add(&ms.vs, Some(ms.range), None),
            Expr::Call(call) => {
                let absent = matches!(call.func.name, "absent" | "absent_over_time");
                self.absent_depth += usize::from(absent);
                for arg in &call.args.args {
                    match arg.as_ref() {
                        Expr::MatrixSelector(ms) => self.add(&ms.vs, Some(ms.range), Some(call.func.name)),
                        other => self.walk(other),
                    }
                }
                self.absent_depth -= usize::from(absent);
            }
            Expr::Subquery(sq) => {
                self.subquery_ranges.push(sq.range);
                self.walk(&sq.expr);
                self.subquery_ranges.pop();
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.walk(p);
                }
                self.walk(&a.expr);
            }
            Expr::Unary(u) => self.walk(&u.expr),
            Expr::Binary(b) => {
                self.walk(&b.lhs);
                self.walk(&b.rhs);
            }
            Expr::Paren(p) => self.walk(&p.expr),
            Expr::Extension(e) => {
                for child in e.expr.children() {
                    self.walk(child);
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_with_ranges_functions_and_matchers() {
        let s = selectors(
            r#"sum(rate(http_requests_total{service="api",code=~"5.."}[5m])) / sum(rate(http_requests_total{service="api"}[5m])) > 0.01"#,
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].metric.as_deref(), Some("http_requests_total"));
        assert_eq!(s[0].function.as_deref(), Some("rate"));
        assert_eq!(s[0].range, Some(Duration::from_secs(300)));
        assert_eq!(s[0].selector(), r#"http_requests_total{service="api",code=~"5.."}"#);
        assert_eq!(s[0].metric_selector().as_deref(), Some("http_requests_total"));
        let s = selectors(r#"up{job="nats"} == 0 and {__name__="nats_varz_slow_consumers"} offset 1h"#).unwrap();
        assert_eq!(s[0].selector(), r#"up{job="nats"}"#);
        assert_eq!(s[1].metric.as_deref(), Some("nats_varz_slow_consumers"));
        assert_eq!(s[1].offset, Some(Duration::from_secs(3600)));
        assert!(s[1].matchers.is_empty());
        let s = selectors("max_over_time(rate(x[1m])[30m:1m])").unwrap();
        assert_eq!((s[0].range, s[0].function.as_deref()), (Some(Duration::from_secs(60)), Some("rate")));
        let s = selectors("max_over_time(x[30m:1m])").unwrap();
        assert_eq!(s[0].range, Some(Duration::from_secs(1800)));
        assert_eq!(selectors("vector(1)").unwrap(), vec![]);
        let s = selectors(r#"absent(up{job="nats"}) or absent_over_time(x[5m]) or y"#).unwrap();
        assert_eq!(s.iter().map(|s| s.in_absent).collect::<Vec<_>>(), [true, true, false]);
        assert!(selectors("sum(").is_err());
        assert_eq!(selector_text(Some("a.b"), &[]), r#"{__name__="a.b"}"#);
    }
}
