//! Problems found in the checklist or the catalog: a message, where it is (file, line, column) and
//! a rustc-style rendering with the offending line and a caret under the span.

use std::ops::Range;
use std::sync::Arc;

use annotate_snippets::{Level as SnippetLevel, Renderer, Snippet};
use serde::Serialize;

/// Whether a diagnostic stops the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiagLevel {
    Error,
    Warning,
}

/// One input file as read: its display name and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Arc<SourceFile> {
        Arc::new(SourceFile { name: name.into(), text: text.into() })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Label {
    file: Arc<SourceFile>,
    span: Range<usize>,
    text: String,
}

/// A problem with a position. The first label is the primary one (the caret); further labels
/// point at related places, e.g. the first definition of a duplicate id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub level: DiagLevel,
    pub message: String,
    /// Display name of the file (a path, or a `<built-in>/...` name).
    pub file: String,
    /// 1-based; 0 when the problem is about the file as a whole (e.g. it cannot be read).
    pub line: usize,
    /// 1-based, in characters; 0 when `line` is 0.
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip)]
    labels: Vec<Label>,
    /// Value spans never shown (a rejected parameter value may be a credential).
    #[serde(skip)]
    masked: Vec<Range<usize>>,
    #[serde(skip)]
    offset: usize,
}

impl Diagnostic {
    fn at(level: DiagLevel, file: &Arc<SourceFile>, span: Range<usize>, message: impl Into<String>) -> Self {
        let span = normalize_span(&file.text, span);
        let (line, column) = file.line_col(span.start);
        Diagnostic {
            level,
            message: message.into(),
            file: file.name.clone(),
            line,
            column,
            help: None,
            labels: vec![Label { file: file.clone(), span: span.clone(), text: String::new() }],
            masked: Vec::new(),
            offset: span.start,
        }
    }

    pub fn error(file: &Arc<SourceFile>, span: Range<usize>, message: impl Into<String>) -> Self {
        Self::at(DiagLevel::Error, file, span, message)
    }

    pub fn warning(file: &Arc<SourceFile>, span: Range<usize>, message: impl Into<String>) -> Self {
        Self::at(DiagLevel::Warning, file, span, message)
    }

    /// An error about a whole file or directory, with no position in it.
    pub fn file_error(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self::whole_file(DiagLevel::Error, file, message)
    }

    /// A warning about a whole file or directory, with no position in it.
    pub fn file_warning(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self::whole_file(DiagLevel::Warning, file, message)
    }

    fn whole_file(level: DiagLevel, file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            level,
            message: message.into(),
            file: file.into(),
            line: 0,
            column: 0,
            help: None,
            labels: Vec::new(),
            masked: Vec::new(),
            offset: 0,
        }
    }

    /// Text under the primary caret.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        if let Some(l) = self.labels.first_mut() {
            l.text = text.into();
        }
        self
    }

    /// A secondary place, e.g. "first defined here".
    pub fn also(mut self, file: &Arc<SourceFile>, span: Range<usize>, text: impl Into<String>) -> Self {
        let span = normalize_span(&file.text, span);
        self.labels.push(Label { file: file.clone(), span, text: text.into() });
        self
    }

    /// Hides a value in the primary file wherever the snippet shows it: the line is printed with
    /// the value overwritten by `*` (the key stays readable).
    pub fn mask(mut self, span: Range<usize>) -> Self {
        self.masked.push(span);
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.level == DiagLevel::Error
    }

    /// Byte offset of the primary span, for ordering diagnostics within a file.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// rustc-style text: `error: ...`, ` --> file:line:col`, the line and a caret under the span.
    pub fn render(&self, color: bool) -> String {
        let renderer = if color { Renderer::styled() } else { Renderer::plain() };
        let level = match self.level {
            DiagLevel::Error => SnippetLevel::Error,
            DiagLevel::Warning => SnippetLevel::Warning,
        };
        // Nothing credential-like is ever printed: not in the message, not in the source lines
        // (docs/redaction.md). Masking keeps byte offsets, so the spans still point right.
        let message = crate::redact::redact_text(&self.message);
        let help = self.help.as_deref().map(crate::redact::redact_text);
        let primary = self.labels.first().map(|l| l.file.clone());
        let shown: Vec<(Arc<SourceFile>, String)> = self
            .labels
            .iter()
            .map(|l| l.file.clone())
            .fold(Vec::new(), |mut acc: Vec<Arc<SourceFile>>, f| {
                if !acc.iter().any(|a| Arc::ptr_eq(a, &f)) {
                    acc.push(f);
                }
                acc
            })
            .into_iter()
            .map(|f| {
                let extra: &[Range<usize>] =
                    if primary.as_ref().is_some_and(|p| Arc::ptr_eq(p, &f)) { &self.masked } else { &[] };
                let text = crate::redact::mask_in_place(&f.text, extra);
                (f, text)
            })
            .collect();
        let mut msg = level.title(&message);
        // One snippet per file, in order of first appearance, so labels in the same file share it.
        let mut files: Vec<&Arc<SourceFile>> = Vec::new();
        for l in &self.labels {
            if !files.iter().any(|f| Arc::ptr_eq(f, &l.file)) {
                files.push(&l.file);
            }
        }
        for f in files {
            let annotations = self.labels.iter().enumerate().filter(|(_, l)| Arc::ptr_eq(&l.file, f)).map(|(i, l)| {
                // In annotate-snippets 0.11 only the Error level underlines with `^` and only
                // Error and Warning print a label without a level prefix: the primary span gets
                // carets (for warnings too), related spans get `-`.
                let lvl = if i == 0 { SnippetLevel::Error } else { SnippetLevel::Warning };
                lvl.span(l.span.clone()).label(&l.text)
            });
            let text = shown.iter().find(|(s, _)| Arc::ptr_eq(s, f)).map_or("", |(_, t)| t.as_str());
            msg = msg.snippet(Snippet::source(text).origin(&f.name).line_start(1).fold(true).annotations(annotations));
        }
        let where_note = format!("in {}", self.file);
        if self.labels.is_empty() {
            msg = msg.footer(SnippetLevel::Note.title(&where_note));
        }
        if let Some(h) = &help {
            msg = msg.footer(SnippetLevel::Help.title(h));
        }
        renderer.render(msg).to_string()
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Keeps a span inside the text and on character boundaries, and widens an empty span to the
/// character under it, so there is always something to put a caret under.
fn normalize_span(text: &str, span: Range<usize>) -> Range<usize> {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let mut end = floor_char_boundary(text, span.end.min(text.len())).max(start);
    if end == start
        && let Some(c) = text[start..].chars().next().filter(|c| *c != '\n' && *c != '\r')
    {
        end = start + c.len_utf8();
    }
    start..end
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance where swapping two neighbouring characters counts as one edit (a common typo).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i characters of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let f = SourceFile::new("c.toml", "a = 1\né = \"x\"\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(6), (2, 1));
        // `=` after a two-byte character is the third character of line 2.
        assert_eq!(f.line_col(9), (2, 3));
        assert_eq!(f.line_col(999), (3, 1));
    }

    #[test]
    fn spans_are_kept_inside_the_text() {
        assert_eq!(normalize_span("abc", 1..1), 1..2);
        assert_eq!(normalize_span("abc", 5..9), 3..3);
        assert_eq!(normalize_span("a\nb", 1..1), 1..1);
        assert_eq!(normalize_span("é", 1..2), 0..2);
    }

    #[test]
    fn typos_find_their_key() {
        let keys = ["severity", "owner", "title", "timeout"];
        assert_eq!(did_you_mean("severty", keys), Some("severity"));
        assert_eq!(did_you_mean("titel", keys), Some("title"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn renders_rustc_style_with_caret() {
        let f = SourceFile::new("checklist.toml", "[[item]]\nseverty = \"warning\"\n");
        let d = Diagnostic::error(&f, 9..16, "unknown key `severty` in item").help("did you mean `severity`?");
        assert_eq!((d.line, d.column), (2, 1));
        let text = d.render(false);
        assert!(text.starts_with("error: unknown key `severty` in item\n"), "{text}");
        assert!(text.contains(" --> checklist.toml:2:1"), "{text}");
        assert!(text.contains("^^^^^^^"), "{text}");
        assert!(text.contains("help: did you mean `severity`?"), "{text}");
    }

    #[test]
    fn renders_file_errors_without_snippet() {
        let d = Diagnostic::file_error("checks", "cannot read the catalog directory");
        assert_eq!(d.render(false), "error: cannot read the catalog directory\n = note: in checks");
    }
}
