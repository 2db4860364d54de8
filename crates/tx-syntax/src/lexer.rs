//! The logos token set of `.tx` and the adapter that feeds it to the parser.
//!
//! [`Lexer`] wraps logos' `spanned()` iterator and yields the
//! `(start, token, end)` triples lalrpop wants. Lexical problems (characters
//! that start no token, integer and float literals out of range) never stop
//! lexing: they are collected as [`Diagnostic`]s on the side, the offending
//! characters are skipped, and an out-of-range literal is still passed on (as
//! `Int(None)` / `Float(None)`) so that the grammar can put an
//! [`ExprKind::Error`](crate::ast::ExprKind::Error) in its place.

use std::convert::Infallible;

use logos::{Filter, Logos};

use crate::ast::Span;
use crate::diagnostic::Diagnostic;

/// One token of `.tx` source. Whitespace (newlines included) and `#`
/// comments are skipped: the language is whitespace-insensitive because every
/// item starts with a keyword.
#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
pub enum Token {
    // Keywords.
    #[token("input")]
    Input,
    #[token("param")]
    Param,
    #[token("const")]
    Const,
    #[token("let")]
    Let,
    #[token("fn")]
    Fn,
    #[token("output")]
    Output,
    #[token("layer")]
    Layer,
    #[token("inverse")]
    Inverse,
    #[token("loss")]
    Loss,
    #[token("metric")]
    Metric,
    #[token("train")]
    Train,
    #[token("frozen")]
    Frozen,
    #[token("return")]
    Return,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,

    // Names and literals.
    #[regex("[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_owned())]
    Ident(String),
    /// `None` when the literal does not fit in `i64` (already reported).
    #[regex("[0-9]+", |lex| Filter::Emit(lex.slice().parse::<i64>().ok()))]
    Int(Option<i64>),
    /// `None` when the literal overflows to infinity (already reported).
    #[regex(r"[0-9]+\.[0-9]*([eE][+-]?[0-9]+)?", float)]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+", float)]
    Float(Option<f64>),

    // Punctuation.
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("=")]
    Assign,
    #[token("~")]
    Tilde,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("**")]
    StarStar,
    #[token("@")]
    At,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,

    /// Never produced by the lexer: the parser's nesting guard puts it in the
    /// token stream where an expression became too deep to parse, after
    /// reporting that itself, so that the syntax error the parser raises on it
    /// can be recognised and dropped.
    TooDeep,
}

/// A token with its byte span, as lalrpop takes it.
pub type Spanned = (usize, Token, usize);

/// The tokens of `source` and the lexical diagnostics, in source order.
pub fn lex(source: &str) -> (Vec<Spanned>, Vec<Diagnostic>) {
    let mut lexer = Lexer::new(source);
    let tokens = lexer.by_ref().map(|token| token.unwrap_or_else(|never| match never {})).collect();
    (tokens, lexer.into_diagnostics())
}

/// The adapter from logos to lalrpop: an iterator of `(start, token, end)`
/// that never fails, and keeps what went wrong in [`Lexer::diagnostics`].
pub struct Lexer<'s> {
    source: &'s str,
    inner: logos::SpannedIter<'s, Token>,
    /// A run of adjacent characters that start no token, not yet reported:
    /// one diagnostic per run rather than one per byte of garbage.
    bad_run: Option<(usize, usize)>,
    diagnostics: Vec<Diagnostic>,
}

impl<'s> Lexer<'s> {
    pub fn new(source: &'s str) -> Lexer<'s> {
        Lexer { source, inner: Token::lexer(source).spanned(), bad_run: None, diagnostics: Vec::new() }
    }

    /// The lexical diagnostics found so far.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    pub fn into_diagnostics(mut self) -> Vec<Diagnostic> {
        self.flush_bad_run();
        self.diagnostics
    }

    fn flush_bad_run(&mut self) {
        if let Some((start, end)) = self.bad_run.take() {
            let text = self.source.get(start..end).unwrap_or("");
            let message = if text.chars().count() == 1 {
                format!("unexpected character `{}`", shown(text))
            } else {
                format!("unexpected characters `{}`", shown(text))
            };
            self.diagnostics.push(Diagnostic::error(Span::new(start, end), message));
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Spanned, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((token, range)) = self.inner.next() else {
                self.flush_bad_run();
                return None;
            };
            let token = match token {
                Ok(token) => token,
                Err(()) => {
                    match &mut self.bad_run {
                        Some((_, end)) if *end == range.start => *end = range.end,
                        _ => {
                            self.flush_bad_run();
                            self.bad_run = Some((range.start, range.end));
                        }
                    }
                    continue;
                }
            };
            self.flush_bad_run();
            let span = Span::new(range.start, range.end);
            match token {
                Token::Int(None) => self.diagnostics.push(Diagnostic::error(
                    span,
                    format!("integer literal is too large (the largest is {})", i64::MAX),
                )),
                Token::Float(None) => {
                    self.diagnostics.push(Diagnostic::error(span, "float literal is out of range"));
                }
                _ => {}
            }
            return Some(Ok((range.start, token, range.end)));
        }
    }
}

/// A float literal's value; `None` when it overflows to infinity.
fn float(lex: &mut logos::Lexer<Token>) -> Filter<Option<f64>> {
    Filter::Emit(lex.slice().parse::<f64>().ok().filter(|value| value.is_finite()))
}

/// Source text as shown between backticks in a message: control characters
/// escaped, and long text cut so that one message stays one line.
pub(crate) fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 32;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() || c == '`' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(source: &str) -> Vec<Token> {
        lex(source).0.into_iter().map(|(_, token, _)| token).collect()
    }

    #[test]
    fn lexes_numbers() {
        assert_eq!(
            tokens("1 1.5 1e-3 2.5E+4 1. 007"),
            vec![
                Token::Int(Some(1)),
                Token::Float(Some(1.5)),
                Token::Float(Some(1e-3)),
                Token::Float(Some(2.5e4)),
                Token::Float(Some(1.0)),
                Token::Int(Some(7)),
            ]
        );
    }

    #[test]
    fn keywords_and_identifiers() {
        assert_eq!(
            tokens("input input_x _ not notx x1"),
            vec![
                Token::Input,
                Token::Ident("input_x".into()),
                Token::Ident("_".into()),
                Token::Not,
                Token::Ident("notx".into()),
                Token::Ident("x1".into()),
            ]
        );
    }

    #[test]
    fn operators_take_the_longest_match() {
        assert_eq!(
            tokens("** * <= < >= > == = != ~"),
            vec![
                Token::StarStar,
                Token::Star,
                Token::Le,
                Token::Lt,
                Token::Ge,
                Token::Gt,
                Token::EqEq,
                Token::Assign,
                Token::NotEq,
                Token::Tilde,
            ]
        );
    }

    #[test]
    fn skips_comments_and_reports_bad_characters() {
        let (tokens, diagnostics) = lex("a # comment $\n$ b !x é");
        assert_eq!(
            tokens,
            vec![
                (0, Token::Ident("a".into()), 1),
                (16, Token::Ident("b".into()), 17),
                (19, Token::Ident("x".into()), 20),
            ]
        );
        let messages: Vec<_> = diagnostics.iter().map(|d| (d.message.as_str(), d.span)).collect();
        assert_eq!(
            messages,
            vec![
                ("unexpected character `$`", Span::new(14, 15)),
                ("unexpected character `!`", Span::new(18, 19)),
                ("unexpected character `é`", Span::new(21, 23)),
            ]
        );
    }

    #[test]
    fn reports_literals_out_of_range() {
        let (tokens, diagnostics) = lex("9223372036854775807 9223372036854775808 1e308 1e309");
        assert_eq!(tokens[0].1, Token::Int(Some(i64::MAX)));
        assert_eq!(tokens[1].1, Token::Int(None));
        assert_eq!(tokens[2].1, Token::Float(Some(1e308)));
        assert_eq!(tokens[3].1, Token::Float(None));
        let messages: Vec<_> = diagnostics.iter().map(|d| (d.message.as_str(), d.span)).collect();
        assert_eq!(
            messages,
            vec![
                ("integer literal is too large (the largest is 9223372036854775807)", Span::new(20, 39)),
                ("float literal is out of range", Span::new(46, 51)),
            ]
        );
    }

    #[test]
    fn merges_runs_of_bad_characters() {
        let (_, diagnostics) = lex("$$\u{7}$ a");
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].message, "unexpected characters `$$\\u{7}$`");
        assert_eq!(diagnostics[0].span, Span::new(0, 4));
    }
}
