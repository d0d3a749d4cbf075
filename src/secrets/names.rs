//! Recognising credentials by name: env variable names and ConfigMap keys split into tokens and
//! compared with the `[names]` table of the pattern rules.

use regex::bytes::Regex;

/// How credential names are recognised (see the `[names]` table of the rules file).
#[derive(Debug)]
pub struct NameRules {
    pub(super) keywords: Vec<Vec<String>>,
    pub(super) last_tokens: Vec<String>,
    pub(super) last_token_exceptions: Vec<String>,
    pub(super) ignore_last_tokens: Vec<String>,
    pub(super) ignore_values: Vec<Regex>,
}

/// Splits a name into upper-case tokens at non-alphanumerics and camelCase boundaries
/// (`dbPassword` -> DB, PASSWORD; `APIKey` -> API, KEY).
pub fn name_tokens(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let chars: Vec<char> = part.chars().collect();
        let mut cur = String::new();
        for (i, c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                Some(p) if c.is_ascii_uppercase() => {
                    p.is_ascii_lowercase() || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
                }
                _ => false,
            };
            if boundary && !cur.is_empty() {
                out.push(std::mem::take(&mut cur).to_ascii_uppercase());
            }
            cur.push(*c);
        }
        if !cur.is_empty() {
            out.push(cur.to_ascii_uppercase());
        }
    }
    out
}

impl NameRules {
    /// Whether an env variable or ConfigMap key name says it holds a credential.
    pub fn is_credential_name(&self, name: &str) -> bool {
        let tokens = name_tokens(name);
        let Some(last) = tokens.last() else {
            return false;
        };
        if self.ignore_last_tokens.contains(last) {
            return false;
        }
        if self.keywords.iter().any(|k| tokens.windows(k.len()).any(|w| w == k.as_slice())) {
            return true;
        }
        self.last_tokens.contains(last)
            && (tokens.len() < 2 || !self.last_token_exceptions.contains(&tokens[tokens.len() - 2]))
    }

    /// Whether a value is not a credential whatever its name (a path, a `$(VAR)` reference, ...).
    pub fn is_ignored_value(&self, value: &str) -> bool {
        let v = value.trim();
        v.is_empty() || self.ignore_values.iter().any(|r| r.is_match(v.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(name_tokens("dbPassword"), ["DB", "PASSWORD"]);
        assert_eq!(name_tokens("APIKey"), ["API", "KEY"]);
        assert_eq!(name_tokens("azure_batch-key.v2"), ["AZURE", "BATCH", "KEY", "V2"]);
    }
}
