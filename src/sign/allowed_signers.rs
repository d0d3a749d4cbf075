//! The allowed-signers file of `ssh-keygen -Y verify` (ssh-keygen(1), ALLOWED SIGNERS): which
//! keys may sign, as which principals, for which namespaces and when. Read the way OpenSSH reads
//! it, so one file serves both `ssh-keygen` and `kgents-gate verify`.

use std::path::Path;

use jiff::Timestamp;
use ssh_key::PublicKey;
use ssh_key::public::KeyData;

use crate::commands::Failure;

/// One usable line of the file.
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    /// Line number in the file, for messages.
    pub line: usize,
    /// The principals pattern-list as written, e.g. `release@kgents,ops@*`.
    pub principals: String,
    /// `namespaces="..."`: the signature namespace must match this pattern-list when present.
    pub namespaces: Option<String>,
    pub valid_after: Option<Timestamp>,
    pub valid_before: Option<Timestamp>,
    pub key: PublicKey,
}

#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    pub signers: Vec<AllowedSigner>,
    /// `cert-authority` lines: certificate signatures are not made by kgents-gate, so these
    /// lines never match (listed so the output can say so).
    pub cert_authority_lines: Vec<usize>,
}

impl AllowedSigners {
    pub fn read(path: &Path) -> Result<Self, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Key(format!("cannot read the allowed signers file {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|(line, why)| Failure::Key(format!("{}:{line}: {why}", path.display())))
    }

    /// Parses the file; the error is (line number, reason).
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut out = AllowedSigners::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let rest = raw.trim();
            if rest.is_empty() || rest.starts_with('#') {
                continue;
            }
            let (principals, rest) = field(rest).map_err(|why| (line, why))?;
            if principals.is_empty() {
                return Err((line, "no principals".into()));
            }
            let (options, key_text) = match field(rest) {
                Ok((next, after)) if next.contains('=') || next.eq_ignore_ascii_case("cert-authority") => {
                    (Some(next), after)
                }
                _ => (None, rest),
            };
            let key = PublicKey::from_openssh(key_text.trim())
                .map_err(|e| (line, format!("not a public key in OpenSSH format ({e})")))?;
            let mut signer = AllowedSigner {
                line,
                principals: principals.to_string(),
                namespaces: None,
                valid_after: None,
                valid_before: None,
                key,
            };
            let mut cert_authority = false;
            for opt in split_options(options.unwrap_or("")) {
                let (name, value) = match opt.split_once('=') {
                    Some((n, v)) => (n.to_ascii_lowercase(), Some(unquote(v))),
                    None => (opt.to_ascii_lowercase(), None),
                };
                match (name.as_str(), value) {
                    ("cert-authority", None) => cert_authority = true,
                    ("namespaces", Some(v)) => signer.namespaces = Some(v.to_string()),
                    ("valid-after", Some(v)) => signer.valid_after = Some(timestamp(v).map_err(|w| (line, w))?),
                    ("valid-before", Some(v)) => signer.valid_before = Some(timestamp(v).map_err(|w| (line, w))?),
                    _ => return Err((line, format!("unknown option {opt:?}"))),
                }
            }
            if cert_authority {
                out.cert_authority_lines.push(line);
            } else {
                out.signers.push(signer);
            }
        }
        Ok(out)
    }

    /// The entries that accept `key` signing in `namespace` at `now`, as `identity` when given
    /// (as `ssh-keygen -Y verify -I` does; without it, as `-Y find-principals` does).
    pub fn accepting(
        &self,
        key: &KeyData,
        namespace: &str,
        now: Timestamp,
        identity: Option<&str>,
    ) -> Vec<&AllowedSigner> {
        self.signers
            .iter()
            .filter(|s| s.key.key_data() == key)
            .filter(|s| s.namespaces.as_deref().is_none_or(|list| match_pattern_list(namespace, list)))
            .filter(|s| s.valid_after.is_none_or(|t| now >= t) && s.valid_before.is_none_or(|t| now <= t))
            .filter(|s| identity.is_none_or(|id| match_pattern_list(id, &s.principals)))
            .collect()
    }

    /// Whether the key is listed at all (to tell "unknown key" from "not for this identity").
    pub fn lists_key(&self, key: &KeyData) -> bool {
        self.signers.iter().any(|s| s.key.key_data() == key)
    }
}

/// The first space-separated field (a double-quoted one may hold spaces) and the rest.
fn field(s: &str) -> Result<(&str, &str), String> {
    let s = s.trim_start();
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ' ' | '\t' if !in_quotes => return Ok((unquote(&s[..i]), &s[i..])),
            _ => {}
        }
    }
    if in_quotes {
        return Err("unterminated quote".into());
    }
    Ok((unquote(s), ""))
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(s)
}

/// Comma-separated options; commas inside double quotes do not split.
fn split_options(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut in_quotes) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out.into_iter().filter(|o| !o.is_empty()).collect()
}

/// `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`: UTC with `Z`, else the system time zone (as OpenSSH).
fn timestamp(v: &str) -> Result<Timestamp, String> {
    let bad = || format!("invalid timestamp {v:?}: expected YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]");
    let (digits, utc) = match v.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (v, false),
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<i16>().ok()).unwrap_or(0);
    let (hour, minute, second) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10), num(10..12), 0),
        _ => (num(8..10), num(10..12), num(12..14)),
    };
    let year = num(0..4);
    let dt =
        jiff::civil::DateTime::new(year, num(4..6) as i8, num(6..8) as i8, hour as i8, minute as i8, second as i8, 0)
            .map_err(|_| bad())?;
    let tz = if utc { jiff::tz::TimeZone::UTC } else { jiff::tz::TimeZone::system() };
    tz.to_timestamp(dt).map_err(|_| bad())
}

/// OpenSSH's `match_pattern_list`: comma-separated patterns with `*` and `?`; a `!pattern` that
/// matches rejects the string whatever else matches.
pub fn match_pattern_list(s: &str, list: &str) -> bool {
    let mut matched = false;
    for pattern in list.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if match_pattern(s.as_bytes(), negated.as_bytes()) => return false,
            Some(_) => {}
            None if match_pattern(s.as_bytes(), pattern.as_bytes()) => matched = true,
            None => {}
        }
    }
    matched
}

fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(b'*'), _) => (0..=s.len()).any(|i| match_pattern(&s[i..], &p[1..])),
        (Some(b'?'), Some(_)) => match_pattern(&s[1..], &p[1..]),
        (Some(pc), Some(sc)) if pc == sc => match_pattern(&s[1..], &p[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

    #[test]
    fn lines_with_and_without_options() {
        let text = format!(
            "# release keys\n\nrelease@kgents {ED} laptop\n\"ops@kgents,qa@*\" namespaces=\"kgents-gate,git\",valid-after=20250101Z {ED}\nca@kgents cert-authority {ED}\n"
        );
        let a = AllowedSigners::parse(&text).unwrap();
        assert_eq!(a.signers.len(), 2);
        assert_eq!(a.cert_authority_lines, vec![5]);
        assert_eq!(a.signers[0].principals, "release@kgents");
        assert_eq!(a.signers[0].line, 3);
        assert_eq!(a.signers[1].principals, "ops@kgents,qa@*");
        assert_eq!(a.signers[1].namespaces.as_deref(), Some("kgents-gate,git"));
        assert_eq!(a.signers[1].valid_after, Some("2025-01-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn accepting_applies_identity_namespace_and_time() {
        let text =
            format!("release@kgents {ED}\nqa@* namespaces=\"git\" {ED}\nold@kgents valid-before=20200101Z {ED}\n");
        let a = AllowedSigners::parse(&text).unwrap();
        let key = a.signers[0].key.key_data().clone();
        let now: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let lines = |id| a.accepting(&key, "kgents-gate", now, id).iter().map(|s| s.line).collect::<Vec<_>>();
        assert_eq!(lines(None), vec![1], "namespace git and an expired key do not accept");
        assert_eq!(lines(Some("release@kgents")), vec![1]);
        assert!(lines(Some("qa@kgents")).is_empty());
        assert!(lines(Some("old@kgents")).is_empty());
        assert!(a.lists_key(&key));
    }

    #[test]
    fn bad_lines_name_their_line() {
        for (text, want) in [
            (format!("a@b {ED}\nbroken line here\n"), (2, "not a public key")),
            (format!("a@b bogus=1 {ED}\n"), (1, "unknown option")),
            (format!("a@b valid-after=2025 {ED}\n"), (1, "invalid timestamp")),
            (format!("\"a@b {ED}\n"), (1, "unterminated quote")),
        ] {
            let (line, why) = AllowedSigners::parse(&text).unwrap_err();
            assert_eq!(line, want.0, "{text}: {why}");
            assert!(why.contains(want.1), "{why}");
        }
    }

    #[test]
    fn patterns_as_openssh_matches_them() {
        assert!(match_pattern_list("release@kgents", "release@kgents"));
        assert!(match_pattern_list("ops@kgents", "*@kgents"));
        assert!(match_pattern_list("ab", "a?"));
        assert!(!match_pattern_list("abc", "a?"));
        assert!(!match_pattern_list("ops@kgents", "*@kgents,!ops@*"));
        assert!(match_pattern_list("kgents-gate", "git,kgents-*"));
        assert!(!match_pattern_list("release", ""));
    }
}
