//! Diagnostics as data, and the one function that renders them.
//!
//! Every stage (lexer, parser, lowering) reports problems as [`Diagnostic`]
//! values with a byte span; nothing here prints. [`render`] turns one into the
//! rustc-like text the command line shows:
//!
//! ```text
//! error: cannot add f32[B, 240] and f32[10]: dimension 1 differs (240 vs 10)
//!  --> model.tx:3:9
//!   |
//! 3 | let h = x @ W + b
//!   |         ^^^^^^^^^
//! ```

use crate::ast::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a source file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A plain sentence, lower case, no trailing period.
    pub message: String,
    /// Where in the source; an empty span points between two characters.
    pub span: Span,
    /// Extra lines printed after the snippet as `= note: ...`.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Error, message: message.into(), span, notes: Vec::new() }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, message: message.into(), span, notes: Vec::new() }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// 1-based line and column (in characters) of a byte offset. Offsets past the
/// end, or inside a multi-byte character, are clamped to a valid position.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

/// Line starts of a source, for many [`line_col`] look-ups: each is a binary
/// search instead of a scan from the start of the file.
#[derive(Clone, Debug)]
pub struct LineIndex<'s> {
    source: &'s str,
    starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    pub fn new(source: &'s str) -> LineIndex<'s> {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { source, starts }
    }

    /// The same as [`line_col`].
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.source, offset.min(self.source.len()));
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self.starts[line - 1];
        (line, self.source[line_start..offset].chars().count() + 1)
    }
}

/// Renders every diagnostic, in order, each followed by a blank line; with
/// a [`LineIndex`], so thousands of diagnostics cost no more than one pass.
pub fn render_all(diagnostics: &[Diagnostic], file_name: &str, source: &str) -> String {
    let index = LineIndex::new(source);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let start = diagnostic.span.start.min(source.len());
        out.push_str(&render_at(diagnostic, file_name, source, index.line_col(start)));
        out.push('\n');
    }
    out
}

fn floor_char_boundary(source: &str, mut offset: usize) -> usize {
    while offset > 0 && !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The widest piece of a source line shown in a snippet; longer lines are cut
/// around the span so that a megabyte-long line prints as one screen line.
const MAX_SHOWN_LINE: usize = 160;

/// Renders a diagnostic the way rustc does: the message, `file:line:col`, the
/// source line and a caret under the span, then any notes.
pub fn render(diagnostic: &Diagnostic, file_name: &str, source: &str) -> String {
    let start = floor_char_boundary(source, diagnostic.span.start.min(source.len()));
    render_at(diagnostic, file_name, source, line_col(source, start))
}

/// [`render`] with the line and column of the span's start already known.
fn render_at(diagnostic: &Diagnostic, file_name: &str, source: &str, (line, col): (usize, usize)) -> String {
    let kind = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let start = floor_char_boundary(source, diagnostic.span.start.min(source.len()));
    let end = floor_char_boundary(source, diagnostic.span.end.min(source.len())).max(start);
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
    let text: Vec<char> = source[line_start..line_end].trim_end_matches('\r').chars().collect();

    // Caret columns (0-based, in chars) within the line; a span running past
    // the line end is cut at the end of the line.
    let caret_start = col - 1;
    let caret_end = if end <= line_end { caret_start + source[start..end].chars().count() } else { text.len() };
    let caret_len = caret_end.saturating_sub(caret_start).max(1);

    // Cut long lines to a window around the caret.
    let (shown_from, prefix) = if text.len() > MAX_SHOWN_LINE && caret_start > MAX_SHOWN_LINE / 2 {
        (caret_start - MAX_SHOWN_LINE / 4, "...")
    } else {
        (0, "")
    };
    let shown_to = (shown_from + MAX_SHOWN_LINE).min(text.len());
    let suffix = if shown_to < text.len() { "..." } else { "" };
    let shown: String = text[shown_from.min(shown_to)..shown_to]
        .iter()
        .map(|&c| {
            if c == '\t' {
                ' '
            } else if c.is_control() {
                '?'
            } else {
                c
            }
        })
        .collect();
    let caret_offset = prefix.len() + caret_start - shown_from;
    let caret_len = caret_len.min((shown_to + 1).saturating_sub(caret_start).max(1));

    let number = line.to_string();
    let gutter = " ".repeat(number.len());
    let mut out = String::new();
    out.push_str(&format!("{kind}: {}\n", diagnostic.message));
    out.push_str(&format!("{gutter}--> {file_name}:{line}:{col}\n"));
    out.push_str(&format!("{gutter} |\n"));
    out.push_str(&format!("{number} | {prefix}{shown}{suffix}\n"));
    out.push_str(&format!("{gutter} | {}{}\n", " ".repeat(caret_offset), "^".repeat(caret_len)));
    for note in &diagnostic.notes {
        out.push_str(&format!("{gutter} = note: {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, span: (usize, usize), expect: &str) {
        let diagnostic = Diagnostic::error(Span::new(span.0, span.1), "something is wrong");
        assert_eq!(render(&diagnostic, "f.tx", source), expect);
    }

    #[test]
    fn renders_a_caret_under_the_span() {
        check(
            "input x : f32[2]\nlet h = x + y\n",
            (29, 30),
            "error: something is wrong\n --> f.tx:2:13\n  |\n2 | let h = x + y\n  |             ^\n",
        );
    }

    #[test]
    fn renders_at_end_of_file() {
        check("let", (3, 3), "error: something is wrong\n --> f.tx:1:4\n  |\n1 | let\n  |    ^\n");
    }

    #[test]
    fn cuts_enormous_lines() {
        let source = format!("let x = {}y", "1+".repeat(100_000));
        let rendered = render(&Diagnostic::error(Span::new(200_008, 200_009), "bad"), "f.tx", &source);
        assert!(rendered.contains("f.tx:1:200009"));
        assert!(rendered.lines().all(|l| l.len() < 200), "{rendered}");
    }

    #[test]
    fn the_line_index_agrees_with_line_col() {
        let source = "a\nbé c\n\nlast é line\n";
        let index = LineIndex::new(source);
        for offset in 0..=source.len() + 2 {
            assert_eq!(index.line_col(offset), line_col(source, offset), "offset {offset}");
        }
    }

    #[test]
    fn counts_columns_in_characters() {
        // `=` is the third character, at byte 3 (`é` takes two bytes).
        assert_eq!(line_col("é = 1", 3), (1, 3));
        assert_eq!(line_col("a\nbc", 3), (2, 2));
    }
}
