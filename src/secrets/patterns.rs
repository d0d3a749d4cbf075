//! Credential pattern rules, loaded from data (checks/patterns/secrets.toml): regex rules with
//! keyword prefilters, entropy thresholds and allow-lists (gitleaks' model), and the rules that tell
//! a credential's *name* (env variable, ConfigMap key). Matching reports rule ids, never the text.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

pub use super::names::{NameRules, name_tokens};

/// The pattern rules built into the binary.
pub const BUILTIN_PATTERNS: &str = include_str!("../../checks/patterns/secrets.toml");

/// The built-in rules, compiled once. An error here is a defect of the shipped file (a test loads it).
pub fn builtin_patterns() -> Result<&'static Patterns, String> {
    static CELL: OnceLock<Result<Patterns, String>> = OnceLock::new();
    CELL.get_or_init(|| load_patterns(BUILTIN_PATTERNS)).as_ref().map_err(Clone::clone)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatterns {
    #[serde(default)]
    names: RawNames,
    #[serde(default)]
    allowlist: RawAllowlist,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNames {
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    last_tokens: Vec<String>,
    #[serde(default)]
    last_token_exceptions: Vec<String>,
    #[serde(default)]
    ignore_last_tokens: Vec<String>,
    #[serde(default)]
    ignore_values: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    description: Option<String>,
    target: Option<String>,
    condition: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    regex: Option<String>,
    key_regex: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    entropy: Option<f64>,
    secret_group: Option<usize>,
    #[serde(default)]
    require_digit: bool,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
}

/// Compiled pattern rules.
#[derive(Debug)]
pub struct Patterns {
    pub names: NameRules,
    allowlist: Allowlist,
    pub rules: Vec<PatternRule>,
    /// Every rule keyword (lowercase), searched in one pass: only rules whose keyword occurs
    /// (and rules without keywords) run their regex.
    keywords: AhoCorasick,
    /// For each keyword of `keywords`, the rules that list it.
    keyword_rules: Vec<Vec<usize>>,
    /// Rules without keywords: always candidates.
    unkeyed_rules: Vec<usize>,
}

#[derive(Debug)]
pub struct PatternRule {
    pub id: String,
    pub description: String,
    regex: Option<Regex>,
    key_regex: Option<Regex>,
    keywords: Vec<String>,
    entropy: Option<f64>,
    secret_group: Option<usize>,
    require_digit: bool,
    allowlists: Vec<Allowlist>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Secret,
    Match,
    Line,
}

#[derive(Debug)]
struct Allowlist {
    target: Target,
    all: bool,
    regexes: Vec<Regex>,
    /// The lowercase stop words as one automaton: a secret containing any is allowed (the
    /// generic rule has ~1,500 of them; one pass instead of one search each).
    stopwords: Option<aho_corasick::AhoCorasick>,
    keys: Vec<Regex>,
}

/// Compiles a regex like Go RE2 does for gitleaks: ASCII `\w`, `\s`, `\b`, `.` over bytes.
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).unicode(false).size_limit(64 << 20).build()
}

fn compile_all(what: &str, patterns: &[String]) -> Result<Vec<Regex>, String> {
    patterns
        .iter()
        .map(|p| compile(p).map_err(|e| format!("{what}: invalid regex `{p}`: {}", one_line(&e.to_string()))))
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn stopwords(words: &[String]) -> Result<Option<aho_corasick::AhoCorasick>, aho_corasick::BuildError> {
    if words.is_empty() {
        return Ok(None);
    }
    // An empty stop word is in every secret, as a substring search would have it.
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    aho_corasick::AhoCorasick::new(&lower).map(Some)
}

fn allowlist(raw: RawAllowlist, what: &str) -> Result<Allowlist, String> {
    let target = match raw.target.as_deref() {
        None | Some("secret") => Target::Secret,
        Some("match") => Target::Match,
        Some("line") => Target::Line,
        Some(other) => {
            return Err(format!("{what}: unknown allow-list target `{other}` (secret, match or line)"));
        }
    };
    let all = match raw.condition.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("or") => false,
        Some("and") => true,
        Some(other) => {
            return Err(format!("{what}: unknown allow-list condition `{other}` (or, and)"));
        }
    };
    let _ = raw.description;
    Ok(Allowlist {
        target,
        all,
        regexes: compile_all(what, &raw.regexes)?,
        stopwords: stopwords(&raw.stopwords).map_err(|e| format!("{what}: stop words: {e}"))?,
        keys: compile_all(what, &raw.keys)?,
    })
}

/// Parses and compiles a rules file. Every error names the rule (or table) it is in.
pub fn load_patterns(text: &str) -> Result<Patterns, String> {
    let raw: RawPatterns =
        toml::from_str(text).map_err(|e| format!("secret pattern rules: {}", one_line(&e.to_string())))?;
    let upper = |v: Vec<String>| v.into_iter().map(|s| s.to_ascii_uppercase()).collect::<Vec<_>>();
    let names = NameRules {
        keywords: raw.names.keywords.iter().map(|k| name_tokens(k)).filter(|t| !t.is_empty()).collect(),
        last_tokens: upper(raw.names.last_tokens),
        last_token_exceptions: upper(raw.names.last_token_exceptions),
        ignore_last_tokens: upper(raw.names.ignore_last_tokens),
        ignore_values: compile_all("[names] ignore_values", &raw.names.ignore_values)?,
    };
    let global = allowlist(raw.allowlist, "[allowlist]")?;
    let mut rules = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in raw.rules {
        let what = format!("rule `{}`", r.id);
        if r.id.trim().is_empty() {
            return Err("a rule has an empty id".into());
        }
        if !seen.insert(r.id.clone()) {
            return Err(format!("{what} is defined twice"));
        }
        if r.regex.is_none() && r.key_regex.is_none() {
            return Err(format!("{what} has neither `regex` nor `key_regex`"));
        }
        let regex = match &r.regex {
            Some(p) => Some(compile(p).map_err(|e| format!("{what}: invalid regex: {}", one_line(&e.to_string())))?),
            None => None,
        };
        if let (Some(g), Some(re)) = (r.secret_group, &regex)
            && g >= re.captures_len()
        {
            return Err(format!("{what}: secret_group {g} but the regex has {} groups", re.captures_len() - 1));
        }
        if let Some(e) = r.entropy
            && !(e.is_finite() && e >= 0.0)
        {
            return Err(format!("{what}: entropy must be a non-negative number"));
        }
        let key_regex = match &r.key_regex {
            Some(p) => {
                Some(compile(p).map_err(|e| format!("{what}: invalid key_regex: {}", one_line(&e.to_string())))?)
            }
            None => None,
        };
        let allowlists = r.allowlists.into_iter().map(|a| allowlist(a, &what)).collect::<Result<Vec<_>, _>>()?;
        rules.push(PatternRule {
            id: r.id,
            description: r.description,
            regex,
            key_regex,
            keywords: r.keywords.iter().map(|k| k.to_ascii_lowercase()).collect(),
            entropy: r.entropy,
            secret_group: r.secret_group,
            require_digit: r.require_digit,
            allowlists,
        });
    }
    let mut words: Vec<String> = Vec::new();
    let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
    let mut unkeyed_rules = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if r.keywords.is_empty() {
            unkeyed_rules.push(i);
        }
        for k in &r.keywords {
            match words.iter().position(|w| w == k) {
                Some(at) => keyword_rules[at].push(i),
                None => {
                    words.push(k.clone());
                    keyword_rules.push(vec![i]);
                }
            }
        }
    }
    let keywords = AhoCorasick::new(&words).map_err(|e| format!("secret pattern keywords: {e}"))?;
    Ok(Patterns { names, allowlist: global, rules, keywords, keyword_rules, unkeyed_rules })
}

/// Shannon entropy in bits per symbol.
pub fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for b in data {
        counts[*b as usize] += 1;
    }
    let n = data.len() as f64;
    counts.iter().filter(|c| **c > 0).map(|c| *c as f64 / n).map(|p| -p * p.log2()).sum()
}

impl Allowlist {
    fn allows(&self, secret: &[u8], whole: &[u8], line: &[u8], key: Option<&str>) -> bool {
        let text = match self.target {
            Target::Secret => secret,
            Target::Match => whole,
            Target::Line => line,
        };
        let mut checks = Vec::with_capacity(3);
        if !self.regexes.is_empty() {
            checks.push(self.regexes.iter().any(|r| r.is_match(text)));
        }
        if let Some(words) = &self.stopwords {
            let lower = secret.to_ascii_lowercase();
            checks.push(words.is_match(&lower));
        }
        if !self.keys.is_empty() {
            checks.push(key.is_some_and(|k| self.keys.iter().any(|r| r.is_match(k.as_bytes()))));
        }
        if self.all { !checks.is_empty() && checks.iter().all(|c| *c) } else { checks.iter().any(|c| *c) }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn line_around(text: &[u8], start: usize, end: usize) -> &[u8] {
    let s = text[..start].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let e = text[end..].iter().position(|b| *b == b'\n').map_or(text.len(), |i| end + i);
    &text[s..e]
}

impl PatternRule {
    /// Whether the rule reports something in `text`. `key` is the ConfigMap key the text is stored
    /// under (None for env values: rules bound to key names then do not apply).
    pub fn matches(&self, text: &[u8], lower: &[u8], key: Option<&str>, global: &Patterns) -> bool {
        if self.regex.is_none() {
            // A rule on the key name alone (e.g. a PKCS#12 file stored in a ConfigMap).
            return self.key_applies(key);
        }
        self.find(text, lower, key, global).next().is_some()
    }

    fn key_applies(&self, key: Option<&str>) -> bool {
        match (&self.key_regex, key) {
            (None, _) => true,
            (Some(kr), Some(k)) => kr.is_match(k.as_bytes()),
            (Some(_), None) => false,
        }
    }

    /// The byte ranges of the credentials this rule reports in `text` (the secret part of each
    /// match), after entropy, digit and allow-list checks. Key-only rules find no range.
    pub fn find<'t>(
        &'t self,
        text: &'t [u8],
        lower: &[u8],
        key: Option<&'t str>,
        global: &'t Patterns,
    ) -> Box<dyn Iterator<Item = std::ops::Range<usize>> + 't> {
        let Some(regex) = &self.regex else {
            return Box::new(std::iter::empty());
        };
        if !self.key_applies(key)
            || (!self.keywords.is_empty() && !self.keywords.iter().any(|k| contains(lower, k.as_bytes())))
        {
            return Box::new(std::iter::empty());
        }
        Box::new(regex.captures_iter(text).filter_map(move |caps| {
            let whole = caps.get(0)?;
            let secret = match self.secret_group {
                Some(g) => caps.get(g)?,
                None => (1..caps.len()).find_map(|i| caps.get(i).filter(|m| !m.is_empty())).unwrap_or(whole),
            };
            if secret.is_empty() {
                return None;
            }
            let bytes = secret.as_bytes();
            if let Some(min) = self.entropy
                && shannon_entropy(bytes) <= min
            {
                return None;
            }
            if self.require_digit && !bytes.iter().any(u8::is_ascii_digit) {
                return None;
            }
            let line = line_around(text, whole.start(), whole.end());
            if global.allowlist.allows(bytes, whole.as_bytes(), line, key)
                || self.allowlists.iter().any(|a| a.allows(bytes, whole.as_bytes(), line, key))
            {
                return None;
            }
            Some(secret.range())
        }))
    }
}

impl Patterns {
    /// The rules that can match a text whose lowercase form is `lower`, in rule order.
    fn candidates(&self, lower: &[u8]) -> Vec<&PatternRule> {
        let mut hit = vec![false; self.rules.len()];
        for i in &self.unkeyed_rules {
            hit[*i] = true;
        }
        for m in self.keywords.find_overlapping_iter(lower) {
            for i in &self.keyword_rules[m.pattern().as_usize()] {
                hit[*i] = true;
            }
        }
        self.rules.iter().zip(hit).filter(|(_, h)| *h).map(|(r, _)| r).collect()
    }

    /// Ids of the rules that report something in `text` (see `PatternRule::matches`).
    pub fn matching_rules(&self, text: &str, key: Option<&str>) -> Vec<&str> {
        let lower = text.as_bytes().to_ascii_lowercase();
        self.candidates(&lower)
            .into_iter()
            .filter(|r| r.matches(text.as_bytes(), &lower, key, self))
            .map(|r| r.id.as_str())
            .collect()
    }

    /// Byte ranges of every credential any rule finds in free text (no key name), for redaction.
    pub fn secret_ranges(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        let lower = text.as_bytes().to_ascii_lowercase();
        self.candidates(&lower)
            .into_iter()
            .flat_map(|r| r.find(text.as_bytes(), &lower, None, self).collect::<Vec<_>>())
            .collect()
    }

    pub fn rule(&self, id: &str) -> Option<&PatternRule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Whether the one rule `id` reports something in `text`; None when there is no such rule.
    pub fn rule_matches(&self, id: &str, text: &str, key: Option<&str>) -> Option<bool> {
        let lower = text.as_bytes().to_ascii_lowercase();
        Some(self.rule(id)?.matches(text.as_bytes(), &lower, key, self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy() {
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn bad_regex_names_the_rule() {
        let err = load_patterns("[[rules]]\nid = \"broken\"\nregex = '(?=x)'\n").err().unwrap();
        assert!(err.contains("rule `broken`"), "{err}");
        let err = load_patterns("[[rules]]\nid = \"k\"\nkey_regex = '['\n").err().unwrap();
        assert!(err.contains("rule `k`") && err.contains("key_regex"), "{err}");
        let err = load_patterns("[[rules]]\nid = \"g\"\nregex = 'a(b)'\nsecret_group = 2\n").err().unwrap();
        assert!(err.contains("rule `g`"), "{err}");
    }
}
