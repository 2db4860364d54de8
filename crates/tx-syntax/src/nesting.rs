//! The nesting guard: a token filter between the lexer and the parser that
//! keeps the parser's stack shallow whatever the input.
//!
//! The AST depth limit ([`MAX_EXPR_DEPTH`]) is applied when a node is built,
//! but an LR parser holds everything still open on its stack before any node
//! exists: `((((...` or `- - - -...` a hundred thousand times deep is a stack a
//! hundred thousand entries deep. That is heap memory, not recursion, but
//! lalrpop's error recovery walks the whole stack once per token it skips, so
//! a deep stack followed by garbage costs depth × tokens. This filter
//! estimates the parser's stack from the tokens alone (open brackets, and the
//! operators still waiting for their right operand, simulated with the same
//! precedences as the grammar) and, at [`MAX_EXPR_DEPTH`], reports the
//! expression as too deeply nested, hands the parser a [`Token::TooDeep`]
//! marker (a syntax error the grammar recognises and does not report again)
//! and skips to the next item keyword.
//!
//! The estimate is below the depth of the AST being built (each open
//! bracket or waiting operator is an ancestor of what follows), except that
//! it also counts parentheses, which add no AST depth: so the guard only fires
//! on expressions that are too deep anyway, or on 256 nested parentheses.

use std::convert::Infallible;

use crate::ast::{MAX_EXPR_DEPTH, Span};
use crate::diagnostic::Diagnostic;
use crate::lexer::{Spanned, Token};

// Operator precedences, loosest first, as in the grammar's tiers.
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const CMP: u8 = 4;
const ADD: u8 = 5;
const MUL: u8 = 6;
const NEG: u8 = 7;
const POW: u8 = 8;

pub(crate) struct NestingGuard<I> {
    tokens: I,
    /// One frame per open bracket, plus the item level at the bottom.
    frames: Vec<Frame>,
    /// Open brackets plus waiting operators: the estimate of the stack depth.
    total: usize,
    /// Whether the previous token ends an operand (so `-` is binary).
    after_operand: bool,
    /// Dropping tokens up to the next item keyword after an overflow.
    skipping: bool,
    /// Where the current item started (its keyword).
    item_start: usize,
    /// The starts of the items cut short by an overflow.
    cut_items: Vec<usize>,
    diagnostics: Vec<Diagnostic>,
}

impl<I: Iterator<Item = Result<Spanned, Infallible>>> NestingGuard<I> {
    pub(crate) fn new(tokens: I) -> NestingGuard<I> {
        NestingGuard {
            tokens,
            frames: vec![Frame::default()],
            total: 0,
            after_operand: false,
            skipping: false,
            item_start: 0,
            cut_items: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    /// The diagnostics, and the start offsets of the items cut short by an
    /// overflow. The parser may still have completed such an item out of
    /// the tokens before the cut (an LR parser reduces what it can before it
    /// notices the error), so the caller drops the items starting there.
    pub(crate) fn finish(self) -> (Vec<Diagnostic>, Vec<usize>) {
        (self.diagnostics, self.cut_items)
    }

    fn reset(&mut self) {
        self.frames.truncate(1);
        self.frames[0].waiting.clear();
        self.total = 0;
        self.after_operand = false;
    }

    fn top(&mut self) -> &mut Vec<u8> {
        // The bottom frame is never popped.
        let last = self.frames.len() - 1;
        &mut self.frames[last].waiting
    }

    fn push_operator(&mut self, precedence: u8) {
        self.top().push(precedence);
        self.total += 1;
    }

    /// A binary operator: the waiting operators that bind at least as tightly
    /// (more tightly, for the right-associative `**`) get their operand now.
    fn binary(&mut self, precedence: u8) {
        let right_assoc = precedence == POW;
        let frame = self.top();
        let before = frame.len();
        while let Some(&top) = frame.last() {
            if top > precedence || (top == precedence && !right_assoc) {
                frame.pop();
            } else {
                break;
            }
        }
        let popped = before - frame.len();
        self.total -= popped;
        self.push_operator(precedence);
    }

    fn separator(&mut self) {
        let frame = self.top();
        let popped = frame.len();
        frame.clear();
        self.total -= popped;
    }

    /// Updates the estimate for one token; true when it reached the limit.
    fn account(&mut self, token: &Token) -> bool {
        let mut operand = false;
        match token {
            Token::Input
            | Token::Param
            | Token::Const
            | Token::Let
            | Token::Fn
            | Token::Output
            | Token::Layer
            | Token::Inverse
            | Token::Loss
            | Token::Metric
            | Token::Train
            | Token::Frozen
            | Token::Return => {
                // These only ever appear at item level or directly in a block:
                // either the parser accepts them with a shallow stack, or it
                // recovers to the item level. Either way nothing is open.
                self.reset();
            }
            Token::Ident(_) | Token::Int(_) | Token::Float(_) | Token::True | Token::False | Token::TooDeep => {
                operand = true
            }
            Token::LParen | Token::LBracket => {
                self.frames.push(Frame { counted: true, waiting: Vec::new() });
                self.total += 1;
            }
            // A block's braces hold items, not an expression: they add no
            // depth, and the parser rejects a `{` anywhere but after an item
            // header, so they cannot pile up on its stack either.
            Token::LBrace => self.frames.push(Frame { counted: false, waiting: Vec::new() }),
            Token::RParen | Token::RBracket | Token::RBrace => {
                if self.frames.len() > 1 {
                    let frame = self.frames.pop().unwrap_or_default();
                    self.total -= usize::from(frame.counted) + frame.waiting.len();
                }
                operand = !matches!(token, Token::RBrace);
            }
            Token::Comma | Token::Colon | Token::Assign | Token::Tilde => self.separator(),
            Token::Or => self.binary(OR),
            Token::And => self.binary(AND),
            Token::Not => self.push_operator(NOT),
            Token::EqEq | Token::NotEq | Token::Lt | Token::Le | Token::Gt | Token::Ge => {
                self.binary(CMP);
            }
            Token::Plus => self.binary(ADD),
            Token::Minus if self.after_operand => self.binary(ADD),
            Token::Minus => self.push_operator(NEG),
            Token::Star | Token::Slash | Token::At => self.binary(MUL),
            Token::StarStar => self.binary(POW),
        }
        self.after_operand = operand;
        // At 256 things open, whatever follows makes an AST deeper than 256
        // (or more than 256 nested parentheses). Stopping here, rather than
        // one token later, also keeps the parser from building that too-deep
        // node out of the tokens already passed, and reporting it twice.
        self.total >= MAX_EXPR_DEPTH as usize
    }
}

/// What is open at one bracket level.
#[derive(Default)]
struct Frame {
    /// Whether the bracket itself counts towards the depth.
    counted: bool,
    /// The precedences of the operators still waiting for their right operand.
    waiting: Vec<u8>,
}

fn starts_item(token: &Token) -> bool {
    matches!(
        token,
        Token::Input
            | Token::Param
            | Token::Const
            | Token::Let
            | Token::Fn
            | Token::Output
            | Token::Layer
            | Token::Loss
            | Token::Metric
            | Token::Train
    )
}

impl<I: Iterator<Item = Result<Spanned, Infallible>>> Iterator for NestingGuard<I> {
    type Item = Result<Spanned, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (start, token, end) = match self.tokens.next()? {
                Ok(triple) => triple,
                Err(never) => match never {},
            };
            if self.skipping {
                if !starts_item(&token) {
                    continue;
                }
                self.skipping = false;
            }
            if starts_item(&token) {
                self.item_start = start;
            }
            if self.account(&token) {
                self.diagnostics.push(Diagnostic::error(
                    Span::new(start, end),
                    format!("expression is nested too deeply (more than {MAX_EXPR_DEPTH} levels)"),
                ));
                self.reset();
                self.skipping = true;
                self.cut_items.push(self.item_start);
                return Some(Ok((start, Token::TooDeep, end)));
            }
            return Some(Ok((start, token, end)));
        }
    }
}
