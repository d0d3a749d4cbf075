//! Terminal layout: styled segments wrapped word by word to a width with a hanging indent, so
//! no line is ever wider than the terminal, whatever the user text.

use std::fmt::Write as _;

use owo_colors::{OwoColorize, Style};

use crate::outcome::Fact;
use crate::report::Styles;
use crate::report::text::{self, width};

/// A piece of text in one style. Plain segments wrap at spaces; an `atom` never breaks
/// (the decision banner), unless it alone is wider than a line.
#[derive(Clone, Copy)]
pub(crate) struct Seg<'a> {
    text: &'a str,
    style: Style,
    atom: bool,
}

pub(crate) fn seg(text: &str, style: Style) -> Seg<'_> {
    Seg { text, style, atom: false }
}

pub(crate) fn plain(text: &str) -> Seg<'_> {
    Seg { text, style: Style::new(), atom: false }
}

pub(crate) fn atom(text: &str, style: Style) -> Seg<'_> {
    Seg { text, style, atom: true }
}

/// A word (or atom) with the spaces that follow it; `newline` forces a break after it.
struct Token {
    text: String,
    style: Style,
    spaces: usize,
    newline: bool,
}

fn tokens(segs: &[Seg<'_>]) -> (usize, Vec<Token>) {
    let mut lead = 0;
    let mut toks: Vec<Token> = Vec::new();
    for s in segs {
        let clean = text::sanitize(s.text);
        if s.atom {
            toks.push(Token { text: clean.replace('\n', " "), style: s.style, spaces: 0, newline: false });
            continue;
        }
        for (li, line) in clean.split('\n').enumerate() {
            if li > 0 {
                match toks.last_mut() {
                    Some(t) => t.newline = true,
                    None => continue,
                }
            }
            for (wi, word) in line.split(' ').enumerate() {
                // Each split boundary is one space; it belongs to the token before it.
                if wi > 0 {
                    match toks.last_mut() {
                        Some(t) if !t.newline => t.spaces += 1,
                        Some(_) => {}
                        None => lead += 1,
                    }
                }
                if !word.is_empty() {
                    toks.push(Token { text: word.to_string(), style: s.style, spaces: 0, newline: false });
                }
            }
        }
    }
    (lead, toks)
}

/// An output buffer that knows the width and the styles.
pub(crate) struct Out {
    pub(crate) buf: String,
    pub(crate) width: usize,
    pub(crate) styles: Styles,
}

impl Out {
    pub(crate) fn blank(&mut self) {
        self.buf.push('\n');
    }

    pub(crate) fn heading(&mut self, title: &str) {
        self.blank();
        let style = self.styles.heading;
        self.para(0, 2, &[seg(title, style)]);
    }

    /// Writes `segs` starting at column `indent` (plus any leading spaces of the first segment),
    /// wrapping at the width; continuation lines start at column `hang`.
    pub(crate) fn para(&mut self, indent: usize, hang: usize, segs: &[Seg<'_>]) {
        let (lead, toks) = tokens(segs);
        let hang = hang.min(self.width.saturating_sub(10));
        let mut col = indent + lead;
        let mut line_start = true;
        self.buf.push_str(&" ".repeat(col));
        let mut pending_spaces = 0;
        for tok in toks {
            let w = width(&tok.text);
            if !line_start && col + pending_spaces + w > self.width {
                self.newline(hang);
                col = hang;
                line_start = true;
            }
            if !line_start {
                self.buf.push_str(&" ".repeat(pending_spaces));
                col += pending_spaces;
            }
            if col + w <= self.width {
                let _ = write!(self.buf, "{}", tok.text.style(tok.style));
                col += w;
            } else {
                // Wider than a whole line: break it at the width (a URL, a digest).
                for c in tok.text.chars() {
                    let cw = width(c.encode_utf8(&mut [0; 4]));
                    if col + cw > self.width && col > hang {
                        self.newline(hang);
                        col = hang;
                    }
                    let _ = write!(self.buf, "{}", c.style(tok.style));
                    col += cw;
                }
            }
            line_start = false;
            pending_spaces = tok.spaces;
            if tok.newline {
                self.newline(hang);
                col = hang;
                line_start = true;
            }
        }
        self.buf.push('\n');
    }

    fn newline(&mut self, hang: usize) {
        self.buf.push('\n');
        self.buf.push_str(&" ".repeat(hang));
    }

    /// `key` padded to `key_cols`, then the value wrapped under itself.
    pub(crate) fn field(&mut self, indent: usize, key: &str, key_cols: usize, value: &str) {
        let key = text::fit(key, key_cols);
        let dim = self.styles.dim;
        self.para(indent, indent + key_cols, &[seg(&key, dim), plain(value)]);
    }

    /// `name = value` lines; long values wrap under the value.
    pub(crate) fn facts(&mut self, indent: usize, facts: &[Fact]) {
        let dim = self.styles.dim;
        for fact in facts {
            let name = format!("{} =", fact.name);
            self.para(indent, indent + 4, &[seg(&name, dim), plain(" "), plain(&fact.value)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(width: usize, indent: usize, hang: usize, segs: &[Seg<'_>]) -> String {
        let mut out = Out { buf: String::new(), width, styles: Styles::plain() };
        out.para(indent, hang, segs);
        out.buf
    }

    #[test]
    fn wraps_with_hanging_indent_and_keeps_gaps() {
        let s = render(20, 2, 6, &[plain("key:  "), plain("alpha beta gamma delta epsilon")]);
        assert_eq!(s, "  key:  alpha beta\n      gamma delta\n      epsilon\n");
    }

    #[test]
    fn breaks_words_wider_than_a_line() {
        let s = render(12, 0, 2, &[plain("sha 0123456789abcdefghij")]);
        assert!(s.lines().all(|l| width(l) <= 12), "{s}");
        assert_eq!(s.replace(['\n', ' '], ""), "sha0123456789abcdefghij");
    }

    #[test]
    fn atoms_stay_whole_and_newlines_break() {
        let s = render(40, 0, 0, &[atom(" APPROVED WITH WAIVERS ", Style::new()), plain("  one\ntwo")]);
        assert_eq!(s, " APPROVED WITH WAIVERS   one\ntwo\n");
    }

    #[test]
    fn no_trailing_spaces() {
        let s = render(40, 0, 0, &[plain("title   "), plain("  ")]);
        assert_eq!(s, "title\n");
    }
}
