//! One redaction rule for every endpoint and every credential-like value (docs/redaction.md).
//! URLs are held as [`Endpoint`]s, which render without userinfo and with sensitive query values
//! masked; free text (errors from libraries, log lines, diagnostics) goes through
//! [`redact_text`], which applies the same rule to every URL in it and masks whatever the
//! credential pattern rules (checks/patterns/secrets.toml) find.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;
use reqwest::Url;

/// What a masked value reads as.
pub const MASK: &str = "****";

/// Query parameter names whose values are credentials: a name containing any of these (case
/// insensitive) is masked, e.g. `token`, `access_token`, `X-Amz-Signature`, `apikey`.
const SENSITIVE_QUERY: &[&str] =
    &["token", "password", "passwd", "pwd", "secret", "key", "auth", "sig", "credential", "session"];

fn sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE_QUERY.iter().any(|s| lower.contains(s))
}

/// An endpoint URL from a checklist or the command line. The URL itself is only reachable
/// through [`Endpoint::url`], for the client that connects; every other use (Display, Debug,
/// reports, errors) sees the redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
    shown: String,
}

/// Why a string is not a usable endpoint. Never quotes the string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("is not a valid URL ({0})")]
    Invalid(String),
    #[error("must be a {expected} URL, found scheme `{found}`")]
    Scheme { expected: String, found: String },
    #[error("has no host")]
    NoHost,
    #[error("must not carry credentials (user:password@); give them through the check's *_env or *_file parameters")]
    Credentials,
}

impl Endpoint {
    /// Parses `s` and checks its scheme is one of `schemes`. Credentials in the userinfo are
    /// refused: they belong in the environment or a file, never in the checklist.
    pub fn parse(s: &str, schemes: &[&str]) -> Result<Endpoint, EndpointError> {
        let url = Url::parse(s.trim()).map_err(|e| EndpointError::Invalid(e.to_string()))?;
        if !schemes.contains(&url.scheme()) {
            return Err(EndpointError::Scheme { expected: schemes.join(" or "), found: url.scheme().to_string() });
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(EndpointError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::Credentials);
        }
        Ok(Endpoint::from_url(url))
    }

    /// An endpoint from an already parsed URL (userinfo, if any, is kept for the client and
    /// hidden everywhere else).
    pub fn from_url(url: Url) -> Endpoint {
        let shown = redact_url(&url);
        Endpoint { url, shown }
    }

    /// The URL to connect to. Never print it: print the endpoint.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The redacted form, as every report and log shows it.
    pub fn as_str(&self) -> &str {
        &self.shown
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({})", self.shown)
    }
}

/// A URL as shown: no userinfo, sensitive query values masked, and query values that the
/// credential patterns recognise masked too.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let masked = sensitive_name(&k) || !secret_ranges(&v).is_empty();
                (k.into_owned(), if masked { MASK.to_string() } else { v.into_owned() })
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if u.fragment().is_some_and(|f| !secret_ranges(f).is_empty() || f.contains('=')) {
        u.set_fragment(Some(MASK));
    }
    u.to_string()
}

fn url_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>`]+"#).expect("valid URL regex"))
}

/// `scheme://user:pass@` (also where the rest of the URL does not parse).
fn userinfo_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"://[^/@\s]*@").expect("valid userinfo regex"))
}

/// `password=x`, `token: x`, `Authorization: x` and the like in free text.
fn assignment_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?i)\b(?:token|password|passwd|pwd|secret|api[_-]?key|access[_-]?key|authorization)\s*[:=]\s*(?:(?:bearer|basic)\s+)?["']?([^\s"',;&]{4,})"#,
        )
        .expect("valid assignment regex")
    })
}

/// `Bearer x` / `Basic x` where x reads as a credential (a long token with a digit or padding),
/// not as a word ("basic string").
fn scheme_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/=-]{12,})").expect("valid scheme regex"))
}

fn secret_ranges(text: &str) -> Vec<Range<usize>> {
    match crate::secrets::patterns::builtin_patterns() {
        Ok(p) => p.secret_ranges(text),
        Err(_) => Vec::new(),
    }
}

/// Byte ranges of `text` that must not be shown: URL userinfo and sensitive query values,
/// credential assignments, and what the credential patterns find. Sorted, not overlapping.
pub fn sensitive_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for m in url_regex().find_iter(text) {
        let s = m.as_str();
        let base = m.start();
        // userinfo with a password (`user:pass@`): from after `://` to the `@` before the host.
        // A bare name (`docker-pullable://redis@sha256:...`, `nats://svc@host`) is no credential.
        if let Some(u) = userinfo_regex().find(s)
            && u.as_str()[3..].contains(':')
        {
            out.push(base + u.start() + 3..base + u.end() - 1);
        }
        if let Some(q) = s.find('?') {
            let query_end = s.find('#').filter(|h| *h > q).unwrap_or(s.len());
            let mut pos = q + 1;
            for pair in s[q + 1..query_end].split('&') {
                if let Some(eq) = pair.find('=') {
                    let (name, value) = (&pair[..eq], &pair[eq + 1..]);
                    if !value.is_empty() && (sensitive_name(name) || !secret_ranges(value).is_empty()) {
                        out.push(base + pos + eq + 1..base + pos + pair.len());
                    }
                }
                pos += pair.len() + 1;
            }
        }
    }
    for c in assignment_regex().captures_iter(text) {
        if let Some(v) = c.get(1) {
            out.push(v.range());
        }
    }
    for c in scheme_regex().captures_iter(text) {
        if let Some(v) = c.get(1).filter(|v| v.as_str().bytes().any(|b| b.is_ascii_digit() || b == b'=')) {
            out.push(v.range());
        }
    }
    out.extend(secret_ranges(text));
    merge(out)
}

fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// `text` with every sensitive range replaced by [`MASK`].
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let ranges = sensitive_ranges(text);
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in ranges {
        out.push_str(&text[at..r.start]);
        out.push_str(MASK);
        at = r.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// `text` with every sensitive range overwritten by `*`, byte for byte, so that offsets into
/// it stay valid (diagnostic snippets point at byte spans of the original).
pub fn mask_in_place(text: &str, extra: &[Range<usize>]) -> String {
    let mut ranges = sensitive_ranges(text);
    ranges.extend(extra.iter().cloned());
    let mut bytes = text.as_bytes().to_vec();
    for r in merge(ranges) {
        let end = r.end.min(bytes.len());
        for b in &mut bytes[r.start.min(end)..end] {
            *b = b'*';
        }
    }
    // Whole UTF-8 sequences inside a range became `*`; partial ones cannot occur because every
    // range starts and ends on a character boundary of `text`.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A writer for log lines: each write is redacted before it reaches `inner`, so no log line at
/// any verbosity (ours or a library's, e.g. `RUST_LOG=reqwest=trace`) shows a credential.
pub struct RedactingWriter<W: std::io::Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: std::io::Write> RedactingWriter<W> {
    pub fn new(inner: W) -> Self {
        RedactingWriter { inner, buf: Vec::new() }
    }
}

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        // tracing formats a whole event before writing it: buffer until flush or drop.
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            self.inner.write_all(redact_text(&text).as_bytes())?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_refuse_credentials_and_mask_sensitive_query_values() {
        assert_eq!(Endpoint::parse("http://ops:PASSWORD@prom:9090", &["http"]), Err(EndpointError::Credentials));
        assert!(!EndpointError::Credentials.to_string().contains("PASSWORD"));
        let e =
            Endpoint::parse("https://api.example.com/healthz?token=abc123&x=1&X-Amz-Signature=zz", &["https"]).unwrap();
        assert_eq!(e.to_string(), "https://api.example.com/healthz?token=****&x=1&X-Amz-Signature=****");
        assert_eq!(format!("{e:?}"), "Endpoint(https://api.example.com/healthz?token=****&x=1&X-Amz-Signature=****)");
        assert_eq!(e.url().query(), Some("token=abc123&x=1&X-Amz-Signature=zz"));
        assert!(matches!(Endpoint::parse("ftp://x", &["http", "https"]), Err(EndpointError::Scheme { .. })));
        assert!(matches!(Endpoint::parse("not a url", &["http"]), Err(EndpointError::Invalid(_))));
        // A userinfo from elsewhere (e.g. a kubeconfig) is dropped from the shown form.
        let shown = Endpoint::from_url(Url::parse("nats://u:pw1234@n:4222").unwrap()).to_string();
        assert_eq!(shown, "nats://n:4222");
    }

    #[test]
    fn free_text_is_redacted() {
        let t = "error sending request for url (http://ops:s3cr3t-PASS@prom:9090/api/v1/rules?auth=zzz9&q=up)";
        let r = redact_text(t);
        assert!(!r.contains("s3cr3t-PASS") && !r.contains("zzz9"), "{r}");
        assert!(r.contains("prom:9090/api/v1/rules?auth=****&q=up"), "{r}");
        let r = redact_text("header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abcdefgh.ijklmnop");
        assert!(!r.contains("eyJhbGciOiJIUzI1NiJ9"), "{r}");
        let gh = "pasted here: ghp_R8kT2mQ9vX4pL7nW1sZ6bY3cJ5dF0hA9eG2k";
        assert!(!redact_text(gh).contains("R8kT2mQ9"), "{}", redact_text(gh));
        assert_eq!(redact_text("nothing to hide here"), "nothing to hide here");
        let image = "docker-pullable://redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(redact_text(image), image);
        assert_eq!(redact_text("invalid basic string, expected `\"`"), "invalid basic string, expected `\"`");
        assert!(!redact_text("password=hunter2x").contains("hunter2x"));
    }

    #[test]
    fn log_lines_are_redacted() {
        let mut out = Vec::new();
        {
            let mut w = RedactingWriter::new(&mut out);
            std::io::Write::write_all(&mut w, b"GET http://u:hunter2-pass@h/x?token=abc\n").unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("abc"), "{text}");
    }

    #[test]
    fn masking_in_place_keeps_offsets() {
        let line = "url = \"https://admin:PASSWORD@x.example/\"";
        let m = mask_in_place(line, &[]);
        assert_eq!(m.len(), line.len());
        assert!(!m.contains("PASSWORD") && !m.contains("admin:"), "{m}");
        let value = 5..14;
        let m = mask_in_place("a = \"é-secret\"", std::slice::from_ref(&value));
        assert_eq!(m, "a = \"*********\"");
    }
}
