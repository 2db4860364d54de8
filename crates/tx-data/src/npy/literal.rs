//! The Python literals a `.npy` header is written in: a small parser for
//! strings, integers, booleans, `None`, tuples, lists and dictionaries, and
//! a printer that writes them back as Python's `repr` would (for messages).
//! The header is parsed, never evaluated.

use std::fmt;

/// Deeper nesting than any real header has; keeps the parser's recursion
/// bounded on hostile input.
const MAX_NESTING: usize = 16;

/// How much of a malformed header an error message quotes.
const EXCERPT_CHARS: usize = 80;

/// The Python literals a header can contain.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Literal {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

/// Writes the literal as Python's `repr` would.
impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn joined(f: &mut fmt::Formatter<'_>, items: &[Literal]) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        }
        match self {
            Literal::Str(s) => {
                f.write_str("'")?;
                for c in s.chars() {
                    match c {
                        '\'' => f.write_str("\\'")?,
                        '\\' => f.write_str("\\\\")?,
                        c if c.is_control() => write!(f, "{}", c.escape_default())?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("'")
            }
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Bool(true) => f.write_str("True"),
            Literal::Bool(false) => f.write_str("False"),
            Literal::None => f.write_str("None"),
            Literal::Tuple(items) => {
                f.write_str("(")?;
                joined(f, items)?;
                f.write_str(if items.len() == 1 { ",)" } else { ")" })
            }
            Literal::List(items) => {
                f.write_str("[")?;
                joined(f, items)?;
                f.write_str("]")
            }
            Literal::Dict(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// At most [`EXCERPT_CHARS`] characters of `text`, control characters
/// escaped, for quoting in a message.
pub(super) fn excerpt(text: &str) -> String {
    let text = text.trim_end();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == EXCERPT_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a header: one literal, then only whitespace (numpy's padding).
/// The error is a reason for [`NpyError::BadHeader`].
pub(super) fn parse_literal(text: &str) -> Result<Literal, String> {
    let mut parser = LiteralParser { chars: text.chars().collect(), pos: 0, text };
    let literal = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos < parser.chars.len() {
        return Err(parser.error("unexpected text after the dictionary"));
    }
    Ok(literal)
}

struct LiteralParser<'a> {
    chars: Vec<char>,
    pos: usize,
    text: &'a str,
}

impl LiteralParser<'_> {
    fn error(&self, what: &str) -> String {
        format!("{what} at character {} of `{}`", self.pos + 1, excerpt(self.text))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_NESTING {
            return Err(self.error("values nested too deeply"));
        }
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("unexpected end of the header")),
            Some('{') => self.dict(depth),
            Some('(') => {
                // `(x)` is just `x` in Python; only a comma or `()` makes a tuple.
                let (mut items, saw_comma) = self.sequence(')', depth)?;
                if items.len() == 1 && !saw_comma { Ok(items.remove(0)) } else { Ok(Literal::Tuple(items)) }
            }
            Some('[') => Ok(Literal::List(self.sequence(']', depth)?.0)),
            Some('\'' | '"') => self.string(),
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => self.int(),
            Some(c) if c.is_alphabetic() || c == '_' => self.word(),
            Some(c) => Err(self.error(&format!("unexpected `{}`", c.escape_default()))),
        }
    }

    /// The items of `( ... )` or `[ ... ]`, trailing comma allowed, and
    /// whether there was a comma.
    fn sequence(&mut self, close: char, depth: usize) -> Result<(Vec<Literal>, bool), String> {
        self.pos += 1;
        let mut items = Vec::new();
        let mut saw_comma = false;
        loop {
            self.skip_whitespace();
            if self.eat(close) {
                return Ok((items, saw_comma));
            }
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            if self.eat(',') {
                saw_comma = true;
            } else if self.eat(close) {
                return Ok((items, saw_comma));
            } else {
                return Err(self.error(&format!("expected `,` or `{close}`")));
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Literal, String> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_whitespace();
            if self.eat('}') {
                return Ok(Literal::Dict(entries));
            }
            let key = self.value(depth + 1)?;
            self.skip_whitespace();
            if !self.eat(':') {
                return Err(self.error("expected `:` after a key"));
            }
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_whitespace();
            if !self.eat(',') && self.peek() != Some('}') {
                return Err(self.error("expected `,` or `}`"));
            }
        }
    }

    /// A quoted string; the current character is the quote.
    fn string(&mut self) -> Result<Literal, String> {
        let Some(quote) = self.peek() else {
            return Err(self.error("expected a string"));
        };
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(Literal::Str(text));
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(self.error("unterminated string")),
                        Some(escaped) => {
                            text.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => other,
                            });
                            self.pos += 1;
                        }
                    }
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// An integer, with the `L` suffix that Python 2 wrote after longs.
    fn int(&mut self) -> Result<Literal, String> {
        let negative = self.peek() == Some('-');
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
            self.skip_whitespace();
        }
        let start = self.pos;
        let mut value: i128 = 0;
        while let Some(c) = self.peek() {
            if let Some(digit) = c.to_digit(10) {
                value = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(i128::from(digit)))
                    .ok_or_else(|| self.error("integer too large"))?;
            } else if c != '_' || self.pos == start {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected digits"));
        }
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        Ok(Literal::Int(if negative { -value } else { value }))
    }

    /// `True`, `False`, `None`, or a string prefix such as `u'...'`.
    fn word(&mut self) -> Result<Literal, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "True" => Ok(Literal::Bool(true)),
            "False" => Ok(Literal::Bool(false)),
            "None" => Ok(Literal::None),
            "u" | "U" if matches!(self.peek(), Some('\'' | '"')) => self.string(),
            _ => {
                self.pos = start;
                Err(self.error(&format!("unexpected name `{}`", excerpt(&word))))
            }
        }
    }
}
