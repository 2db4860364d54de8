//! Parser tests, data-driven: every case is a `.tx` snippet and the expected
//! printed AST (`tx_syntax::print`) and/or diagnostics, through the helpers
//! below. One test binary for the whole crate keeps build and link time down.

mod constructs;
mod errors;
mod fuzz;
mod pathological;

use tx_syntax::ast::{Expr, ExprKind, IndexItem, Item, ItemKind, Program};
use tx_syntax::print::{print_expr, print_program};
use tx_syntax::{Diagnostic, parse};

/// The sample model of the language: it must parse without diagnostics.
pub const MNIST_DTP: &str = r#"# mnist_dtp.tx: 784-240x7-10 tanh network (Lee et al. 2015)
input x : f32[B, 784]
input y : i64[B]
const H = 240
fn dense(h, W, b) = tanh(h @ W + b)
param W1 : f32[784, H] ~ orthogonal(seed = 1)
param b1 : f32[H]      = 0
param W2 : f32[H, H] ~ orthogonal(seed = 2)
param V2 : f32[H, H] ~ orthogonal(seed = 102)   # inverse of layer 2
param c2 : f32[H]      = 0
param B2 : f32[H, H] ~ normal(0, 0.05, seed = 7) frozen
layer h1 = dense(x,  W1, b1)
layer h2 = dense(h1, W2, b2)   inverse(t) = dense(t, V2, c2)
let out = h2[:, 0:10] * 2.0 ** -1
loss   = mean(cross_entropy(out, y))
metric accuracy = mean(argmax(out, axis = 1) == y)
output probs = softmax(out, axis = -1)
train dtp {
  top_step = 0.3277
  noise    = 0.3598
  schedule = alternating
  forward  = rmsprop(lr = 0.01489, centered = true, momentum = 0.9)
  inverse  = rmsprop(lr = 0.005011, centered = true, momentum = 0.9)
  epochs = 100  batch = 100
}
"#;

/// Trims every line and drops blank ones, so expectations can be indented.
fn normalize(text: &str) -> String {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join("\n")
}

/// `start..end: message` per diagnostic, then its notes indented by `= `.
fn format_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&format!("{}..{}: {}\n", diagnostic.span.start, diagnostic.span.end, diagnostic.message));
        for note in &diagnostic.notes {
            out.push_str(&format!("= {note}\n"));
        }
    }
    out
}

/// Parses and checks the invariants every result must satisfy: spans inside
/// the source on character boundaries, and every expression's `depth` right
/// and within the limit.
pub fn parse_checked(source: &str) -> (Program, Vec<Diagnostic>) {
    let (program, diagnostics) = parse(source);
    for diagnostic in &diagnostics {
        let span = diagnostic.span;
        assert!(span.start <= span.end && span.end <= source.len(), "{diagnostic:?}");
        assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
    }
    for window in diagnostics.windows(2) {
        assert!(window[0].span.start <= window[1].span.start, "diagnostics out of order");
    }
    for item in &program.items {
        assert!(item.span.end <= source.len());
        for_each_item_expr(item, &mut |expr| {
            check_depth(expr);
        });
    }
    (program, diagnostics)
}

fn for_each_item_expr(item: &Item, visit: &mut dyn FnMut(&Expr)) {
    match &item.kind {
        ItemKind::Input { .. } | ItemKind::Output { value: None, .. } => {}
        ItemKind::Param { init, .. } => match init {
            tx_syntax::ast::Init::Fill(value) | tx_syntax::ast::Init::Call(value) => visit(value),
        },
        ItemKind::Const { value, .. }
        | ItemKind::Let { value, .. }
        | ItemKind::Output { value: Some(value), .. }
        | ItemKind::Loss { value }
        | ItemKind::Metric { value, .. } => visit(value),
        ItemKind::Fn(def) => {
            def.body.lets.iter().for_each(|(_, value)| visit(value));
            visit(&def.body.result);
        }
        ItemKind::Layer { value, inverse, .. } => {
            visit(value);
            if let Some(inverse) = inverse {
                visit(&inverse.body);
            }
        }
        ItemKind::Train { settings, .. } => settings.iter().for_each(|s| visit(&s.value)),
    }
}

/// Recomputes the depth of `expr` and compares it with the stored one.
fn check_depth(expr: &Expr) -> u32 {
    let mut children = Vec::new();
    match &expr.kind {
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Name(_) | ExprKind::Error => {}
        ExprKind::Unary { operand, .. } => children.push(&**operand),
        ExprKind::Binary { lhs, rhs, .. } => children.extend([&**lhs, &**rhs]),
        ExprKind::Call { args, .. } => children.extend(args.iter().map(|arg| &arg.value)),
        ExprKind::Index { base, indices } => {
            children.push(&**base);
            for index in indices {
                match index {
                    IndexItem::At(at) => children.push(at),
                    IndexItem::Slice { start, stop, step, .. } => {
                        children.extend([start, stop, step].into_iter().flatten());
                    }
                }
            }
        }
        ExprKind::List(elements) => children.extend(elements),
    }
    assert!(
        children.iter().all(|child| !matches!(child.kind, ExprKind::Error)),
        "an error node inside a non-error node"
    );
    let depth = 1 + children.into_iter().map(check_depth).max().unwrap_or(0);
    assert_eq!(expr.depth, depth);
    assert!(depth <= tx_syntax::ast::MAX_EXPR_DEPTH);
    depth
}

/// `source` parses without diagnostics, to the items printed in `expect`.
pub fn check(source: &str, expect: &str) {
    let (program, diagnostics) = parse_checked(source);
    assert!(diagnostics.is_empty(), "unexpected diagnostics for {source:?}:\n{}", format_diagnostics(&diagnostics));
    assert_eq!(normalize(&print_program(&program)), normalize(expect), "source: {source:?}");
}

/// The expression in `let e = <source>` prints as `expect`.
pub fn check_expr(source: &str, expect: &str) {
    let text = format!("let e = {source}");
    let (program, diagnostics) = parse_checked(&text);
    assert!(diagnostics.is_empty(), "unexpected diagnostics for {text:?}:\n{}", format_diagnostics(&diagnostics));
    let [Item { kind: ItemKind::Let { value, .. }, .. }] = program.items.as_slice() else {
        panic!("not one let: {program:?}");
    };
    assert_eq!(print_expr(value), expect, "source: {source:?}");
}

/// `source` gives the diagnostics listed in `expect` (`start..end: message`,
/// notes as `= note`), then `--`, then the items that parsed. Whitespace runs
/// compare equal, so short cases fit on one line.
pub fn check_errors(source: &str, expect: &str) {
    let (program, diagnostics) = parse_checked(source);
    let actual = format!("{}--\n{}", format_diagnostics(&diagnostics), print_program(&program));
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(words(&actual), words(expect), "source: {source:?}\nactual:\n{actual}");
}
