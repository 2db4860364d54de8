//! The helpers the grammar actions call: every action in `grammar/tx.lalrpop`
//! is one call into this module, so that the grammar reads as grammar and the
//! logic (depth, the depth limit, error nodes, syntax error messages) lives in
//! Rust that is checked, formatted and tested like the rest.

use std::convert::Infallible;

use lalrpop_util::{ErrorRecovery, ParseError};

use crate::ast::{
    Arg, BinaryOp, Block, DimExpr, Expr, ExprKind, FnDef, Ident, IndexItem, Init, Item, ItemKind, Lambda,
    MAX_EXPR_DEPTH, Program, Setting, Span, TypeExpr, UnaryOp,
};
use crate::diagnostic::Diagnostic;
use crate::lexer::{Token, shown};

// ---------------------------------------------------------------- expressions

/// Builds an expression node: computes its depth from its children, turns it
/// into [`ExprKind::Error`] when a child is an error (silently: that error was
/// reported already) or when it would be deeper than [`MAX_EXPR_DEPTH`] (with
/// one diagnostic, after which the error swallows the rest of the expression).
pub(crate) fn expr(diags: &mut Vec<Diagnostic>, (span, kind): (Span, ExprKind)) -> Expr {
    let mut child_depth = 0;
    let mut child_error = false;
    for_each_child(&kind, |child| {
        child_depth = child_depth.max(child.depth);
        child_error |= matches!(child.kind, ExprKind::Error);
    });
    if child_error {
        return error_expr(span);
    }
    let depth = child_depth + 1;
    if depth > MAX_EXPR_DEPTH {
        diags.push(Diagnostic::error(
            span,
            format!("expression is nested too deeply (more than {MAX_EXPR_DEPTH} levels)"),
        ));
        return error_expr(span);
    }
    Expr { kind, span, depth }
}

fn error_expr(span: Span) -> Expr {
    Expr { kind: ExprKind::Error, span, depth: 1 }
}

fn for_each_child(kind: &ExprKind, mut visit: impl FnMut(&Expr)) {
    match kind {
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Name(_) | ExprKind::Error => {}
        ExprKind::Unary { operand, .. } => visit(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit(lhs);
            visit(rhs);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|arg| visit(&arg.value)),
        ExprKind::Index { base, indices } => {
            visit(base);
            for index in indices {
                match index {
                    IndexItem::At(at) => visit(at),
                    IndexItem::Slice { start, stop, step, .. } => {
                        [start, stop, step].into_iter().flatten().for_each(&mut visit);
                    }
                }
            }
        }
        ExprKind::List(elements) => elements.iter().for_each(visit),
    }
}

/// `( expr )`: the inner expression, spanning the parentheses, no deeper.
pub(crate) fn paren((span, inner): (Span, Expr)) -> Expr {
    Expr { span, ..inner }
}

pub(crate) fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> ExprKind {
    ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }
}

pub(crate) fn unary(op: UnaryOp, operand: Expr) -> ExprKind {
    ExprKind::Unary { op, operand: Box::new(operand) }
}

pub(crate) fn call(callee: Ident, args: Vec<Arg>) -> ExprKind {
    ExprKind::Call { callee, args }
}

pub(crate) fn index(base: Expr, indices: Vec<IndexItem>) -> ExprKind {
    ExprKind::Index { base: Box::new(base), indices }
}

pub(crate) fn keyword_arg(name: Ident, value: Expr) -> Arg {
    Arg { name: Some(name), value }
}

pub(crate) fn positional_arg(value: Expr) -> Arg {
    Arg { name: None, value }
}

type SliceParts = (Option<Expr>, Option<Expr>, Option<Expr>);

pub(crate) fn slice_parts(start: Option<Expr>, stop: Option<Expr>, step: Option<Option<Expr>>) -> SliceParts {
    (start, stop, step.flatten())
}

pub(crate) fn slice((span, (start, stop, step)): (Span, SliceParts)) -> IndexItem {
    IndexItem::Slice { start, stop, step, span }
}

/// An integer literal; `None` (too large) was reported by the lexer.
pub(crate) fn int(value: Option<i64>) -> ExprKind {
    value.map_or(ExprKind::Error, ExprKind::Int)
}

/// A float literal; `None` (out of range) was reported by the lexer.
pub(crate) fn float(value: Option<f64>) -> ExprKind {
    value.map_or(ExprKind::Error, ExprKind::Float)
}

pub(crate) fn boolean(value: bool) -> ExprKind {
    ExprKind::Bool(value)
}

/// Collects a comma-separated list whose last element may lack its comma.
pub(crate) fn comma<T>(mut items: Vec<T>, last: Option<T>) -> Vec<T> {
    items.extend(last);
    items
}

// ---------------------------------------------------------------- items

pub(crate) fn program(items: Vec<Option<Item>>) -> Program {
    Program { items: items.into_iter().flatten().collect() }
}

pub(crate) fn item((span, kind): (Span, ItemKind)) -> Item {
    Item { kind, span }
}

pub(crate) fn ident((span, name): (Span, String)) -> Ident {
    Ident { name, span }
}

/// A keyword used as a `train` setting key becomes a plain name.
pub(crate) fn keyword_text(keyword: &str) -> String {
    keyword.to_owned()
}

pub(crate) fn input(name: Ident, ty: TypeExpr) -> ItemKind {
    ItemKind::Input { name, ty }
}

pub(crate) fn param(name: Ident, ty: TypeExpr, init: Init, frozen: Option<Token>) -> ItemKind {
    ItemKind::Param { name, ty, init, frozen: frozen.is_some() }
}

pub(crate) fn constant(name: Ident, value: Expr) -> ItemKind {
    ItemKind::Const { name, value }
}

pub(crate) fn let_item(name: Ident, value: Expr) -> ItemKind {
    ItemKind::Let { name, value }
}

pub(crate) fn output(name: Ident, value: Option<Expr>) -> ItemKind {
    ItemKind::Output { name, value }
}

pub(crate) fn layer(name: Ident, value: Expr, inverse: Option<Lambda>) -> ItemKind {
    ItemKind::Layer { name, value, inverse }
}

pub(crate) fn loss(value: Expr) -> ItemKind {
    ItemKind::Loss { value }
}

pub(crate) fn metric(name: Ident, value: Expr) -> ItemKind {
    ItemKind::Metric { name, value }
}

pub(crate) fn train(rule: Ident, settings: Vec<Setting>) -> ItemKind {
    ItemKind::Train { rule, settings }
}

pub(crate) fn setting(key: Ident, value: Expr) -> Setting {
    Setting { key, value }
}

pub(crate) fn type_parts(dtype: Ident, dims: Option<Vec<DimExpr>>) -> (Ident, Vec<DimExpr>) {
    (dtype, dims.unwrap_or_default())
}

pub(crate) fn type_expr((span, (dtype, dims)): (Span, (Ident, Vec<DimExpr>))) -> TypeExpr {
    TypeExpr { dtype, dims, span }
}

/// A literal dimension. One too large for `i64` was reported by the lexer and
/// saturates here: the shape type has no error case, and the file is
/// rejected anyway.
pub(crate) fn dim_size((span, value): (Span, Option<i64>)) -> DimExpr {
    DimExpr::Size { value: value.unwrap_or(i64::MAX), span }
}

type FnParts = (Ident, Vec<Ident>, Block);

pub(crate) fn fn_parts(name: Ident, params: Vec<Ident>, body: Block) -> FnParts {
    (name, params, body)
}

pub(crate) fn fn_def((span, (name, params, body)): (Span, FnParts)) -> FnDef {
    FnDef { name, params, body, span }
}

pub(crate) fn block(lets: Vec<(Ident, Expr)>, result: Expr) -> Block {
    Block { lets, result }
}

pub(crate) fn let_stmt(name: Ident, value: Expr) -> (Ident, Expr) {
    (name, value)
}

pub(crate) fn lambda_parts(param: Ident, body: Expr) -> (Ident, Expr) {
    (param, body)
}

pub(crate) fn lambda((span, (param, body)): (Span, (Ident, Expr))) -> Lambda {
    Lambda { param, body, span }
}

// ---------------------------------------------------------------- syntax errors

/// The item-level error recovery: reports the error; the item is dropped.
pub(crate) fn recover(
    source: &str,
    diags: &mut Vec<Diagnostic>,
    recovery: ErrorRecovery<usize, Token, Infallible>,
) -> Option<Item> {
    diags.extend(syntax_error(source, recovery.error));
    None
}

/// The diagnostic for a parse error, or `None` for the error the nesting
/// guard provoked on purpose (it reported the problem itself).
pub(crate) fn syntax_error(source: &str, error: ParseError<usize, Token, Infallible>) -> Option<Diagnostic> {
    let mut chained_comparison = false;
    let (span, found, expected) = match error {
        ParseError::UnrecognizedToken { token: (_, Token::TooDeep, _), .. }
        | ParseError::ExtraToken { token: (_, Token::TooDeep, _) } => return None,
        ParseError::UnrecognizedToken { token: (start, token, end), expected } => {
            // `a < b < c`: a comparison just ended, so a second one is not
            // among the alternatives though `and` is.
            chained_comparison = is_comparison(&token)
                && expected.iter().any(|name| name == "\"and\"")
                && !expected.iter().any(|name| name == "\"<\"");
            (Span::new(start, end), found_text(source, start, end), expected)
        }
        ParseError::ExtraToken { token: (start, _, end) } => {
            (Span::new(start, end), found_text(source, start, end), Vec::new())
        }
        ParseError::UnrecognizedEof { location, expected } => {
            (Span::new(location, location), "end of file".to_owned(), expected)
        }
        ParseError::InvalidToken { location } => {
            (Span::new(location, location), "an invalid token".to_owned(), Vec::new())
        }
        ParseError::User { error } => match error {},
    };
    let expected = describe_expected(&expected);
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else if expected.len() == 1 {
        format!("expected {}, found {found}", expected[0])
    } else {
        format!("expected one of {}, found {found}", expected.join(", "))
    };
    let diagnostic = Diagnostic::error(span, message);
    Some(if chained_comparison {
        diagnostic.with_note("comparisons do not chain: write `a < b and b < c`")
    } else {
        diagnostic
    })
}

fn is_comparison(token: &Token) -> bool {
    matches!(token, Token::EqEq | Token::NotEq | Token::Lt | Token::Le | Token::Gt | Token::Ge)
}

fn found_text(source: &str, start: usize, end: usize) -> String {
    match source.get(start..end) {
        Some(text) if !text.is_empty() => format!("`{}`", shown(text)),
        _ => "a token".to_owned(),
    }
}

/// Tokens that can start an expression.
const EXPR_START: &[&str] = &["IDENT", "INT", "FLOAT", "true", "false", "(", "[", "-", "not"];
const OPERATORS: &[&str] = &["or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "@", "**"];
const ITEM_KEYWORDS: &[&str] = &["input", "param", "const", "let", "fn", "output", "layer", "loss", "metric", "train"];
/// Keywords accepted as `train` setting keys.
const KEY_KEYWORDS: &[&str] = &["inverse", "loss", "metric", "layer", "input", "output", "param"];

/// The most alternatives a message lists; more are cut with "...".
const MAX_LISTED: usize = 6;

/// Turns lalrpop's expected terminals (their names in the grammar's `extern`
/// block, quoted or not) into readable alternatives: single tokens between
/// backticks first, then words for the large classes ("an expression", "an
/// operator", "an item") when most of a class is expected.
fn describe_expected(expected: &[String]) -> Vec<String> {
    let mut names: Vec<&str> = expected.iter().map(|name| name.trim_matches('"')).collect();
    let has = |names: &[&str], all: &[&str]| all.iter().all(|name| names.contains(name));
    let mut words = Vec::new();
    if has(&names, &["IDENT", "INT", "FLOAT", "("]) {
        names.retain(|name| !EXPR_START.contains(name));
        words.push("an expression");
    }
    if has(&names, &["+", "*", "and", "or"]) {
        names.retain(|name| !OPERATORS.contains(name));
        words.push("an operator");
    }
    if has(&names, ITEM_KEYWORDS) {
        names.retain(|name| !ITEM_KEYWORDS.contains(name));
        words.push("an item");
    }
    if names.contains(&"IDENT") && has(&names, KEY_KEYWORDS) {
        // A setting key: "an identifier" says it.
        names.retain(|name| !KEY_KEYWORDS.contains(name));
    }
    let mut classes = Vec::new();
    let mut tokens = Vec::new();
    for name in names {
        match name {
            "IDENT" => classes.push("an identifier".to_owned()),
            "INT" => classes.push("an integer".to_owned()),
            "FLOAT" => classes.push("a float".to_owned()),
            "TOO_DEEP" => {}
            token => tokens.push(format!("`{token}`")),
        }
    }
    tokens.sort_by_key(|token| token_rank(token));
    let mut all: Vec<String> = tokens;
    all.extend(classes);
    all.extend(words.into_iter().map(str::to_owned));
    if all.len() > MAX_LISTED {
        all.truncate(MAX_LISTED - 1);
        all.push("...".to_owned());
    }
    all
}

/// A stable order for listed tokens: punctuation that closes or separates
/// first, keywords last.
fn token_rank(token: &str) -> usize {
    const ORDER: &[&str] = &[
        "`=`",
        "`~`",
        "`:`",
        "`,`",
        "`)`",
        "`]`",
        "`}`",
        "`(`",
        "`[`",
        "`{`",
        "`let`",
        "`return`",
        "`inverse`",
        "`frozen`",
    ];
    ORDER.iter().position(|t| *t == token).unwrap_or(ORDER.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(names: &[&str]) -> String {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        describe_expected(&names).join(", ")
    }

    #[test]
    fn names_classes_in_words() {
        assert_eq!(describe(&["\"=\"", "\"~\""]), "`=`, `~`");
        assert_eq!(
            describe(&[
                "IDENT",
                "INT",
                "FLOAT",
                "\"true\"",
                "\"false\"",
                "\"(\"",
                "\"[\"",
                "\"-\"",
                "\"not\"",
                "\"]\""
            ]),
            "`]`, an expression"
        );
        assert_eq!(
            describe(&[
                "IDENT",
                "\"}\"",
                "\"loss\"",
                "\"inverse\"",
                "\"metric\"",
                "\"layer\"",
                "\"input\"",
                "\"output\"",
                "\"param\""
            ]),
            "`}`, an identifier"
        );
        assert_eq!(describe(&["INT"]), "an integer");
    }

    #[test]
    fn cuts_long_lists() {
        let names = ["\"=\"", "\"~\"", "\":\"", "\",\"", "\")\"", "\"]\"", "\"}\"", "\"{\""];
        assert_eq!(describe(&names), "`=`, `~`, `:`, `,`, `)`, ...");
    }
}
