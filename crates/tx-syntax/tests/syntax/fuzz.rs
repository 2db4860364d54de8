//! Property tests: mutated versions of the sample model never make the
//! parser panic, and random expression trees print back to themselves
//! through the source syntax (with minimal or with full parentheses), which
//! pins down precedence and associativity for every pair of operators.

use proptest::prelude::*;
use tx_syntax::ast::{Arg, BinaryOp, Expr, ExprKind, Ident, IndexItem, ItemKind, Span, UnaryOp};
use tx_syntax::print::print_expr;

use crate::{MNIST_DTP, parse_checked};

/// One edit of a source text; positions are taken modulo its length.
#[derive(Clone, Debug)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Replace { at: usize, byte: u8 },
    Duplicate { at: usize, len: usize, to: usize },
    Truncate { at: usize },
}

const SNIPPETS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "~",
    "-",
    "**",
    "==",
    "<",
    "not ",
    " and ",
    "let ",
    "fn ",
    "param ",
    "train ",
    "inverse",
    "return ",
    "frozen",
    "output ",
    "#",
    "\n",
    "1e999",
    "99999999999999999999",
    "$",
    "é",
    "\0",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..20usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), proptest::sample::select(SNIPPETS))
            .prop_map(|(at, text)| Edit::Insert { at, text: text.to_owned() }),
        (any::<usize>(), "[ -~]{1,8}").prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Replace { at, byte }),
        (any::<usize>(), 1..200usize, any::<usize>()).prop_map(|(at, len, to)| Edit::Duplicate { at, len, to }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len().max(1);
    match edit {
        Edit::Delete { at, len: count } => {
            let start = at % len;
            let end = (start + count).min(bytes.len());
            if start < end {
                bytes.drain(start..end);
            }
        }
        Edit::Insert { at, text } => {
            let at = (at % len).min(bytes.len());
            bytes.splice(at..at, text.bytes());
        }
        Edit::Replace { at, byte } => {
            if !bytes.is_empty() {
                bytes[at % len] = *byte;
            }
        }
        Edit::Duplicate { at, len: count, to } => {
            let start = (at % len).min(bytes.len());
            let end = (start + count).min(bytes.len());
            let piece = bytes[start..end].to_vec();
            let to = (to % len).min(bytes.len());
            bytes.splice(to..to, piece);
        }
        Edit::Truncate { at } => bytes.truncate(at % len),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_sample_never_panics(edits in proptest::collection::vec(edit(), 1..10)) {
        let mut bytes = MNIST_DTP.as_bytes().to_vec();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        parse_checked(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn shuffled_tokens_never_panic(
        picks in proptest::collection::vec((any::<usize>(), any::<usize>()), 1..12),
    ) {
        // Moves whole tokens around: more inputs get deep into the grammar.
        let mut tokens: Vec<&str> = MNIST_DTP.split_whitespace().collect();
        for (from, to) in picks {
            let token = tokens.remove(from % tokens.len());
            let to = to % (tokens.len() + 1);
            tokens.insert(to, token);
        }
        parse_checked(&tokens.join(" "));
    }

    #[test]
    fn expressions_round_trip(expr in expression()) {
        let expected = print_expr(&expr);
        for source in [minimal(&expr), full(&expr)] {
            let text = format!("let e = {source}");
            let (program, diagnostics) = parse_checked(&text);
            prop_assert!(diagnostics.is_empty(), "{text}: {diagnostics:?}");
            let ItemKind::Let { value, .. } = &program.items[0].kind else {
                panic!("not a let: {text}");
            };
            prop_assert_eq!(print_expr(value), expected.clone(), "source: {}", text);
        }
    }
}

// ---------------------------------------------------------------- random expressions

fn node(kind: ExprKind) -> Expr {
    Expr { kind, span: Span::default(), depth: 0 }
}

fn ident(name: &str) -> Ident {
    Ident { name: name.to_owned(), span: Span::default() }
}

fn expression() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (0..1000i64).prop_map(|n| node(ExprKind::Int(n))),
        proptest::sample::select(&[0.5, 1.5, 2.0, 0.001, 1e20][..]).prop_map(|x| node(ExprKind::Float(x))),
        any::<bool>().prop_map(|b| node(ExprKind::Bool(b))),
        proptest::sample::select(&["a", "b", "x", "W_1"][..]).prop_map(|name| node(ExprKind::Name(ident(name)))),
    ];
    leaf.prop_recursive(6, 48, 4, |inner| {
        let binary_op = proptest::sample::select(
            &[
                BinaryOp::Add,
                BinaryOp::Sub,
                BinaryOp::Mul,
                BinaryOp::Div,
                BinaryOp::Pow,
                BinaryOp::MatMul,
                BinaryOp::Eq,
                BinaryOp::Ne,
                BinaryOp::Lt,
                BinaryOp::Le,
                BinaryOp::Gt,
                BinaryOp::Ge,
                BinaryOp::And,
                BinaryOp::Or,
            ][..],
        );
        let slice_part = proptest::option::of(inner.clone());
        let index_item = prop_oneof![
            inner.clone().prop_map(IndexItem::At),
            (slice_part.clone(), slice_part.clone(), slice_part)
                .prop_map(|(start, stop, step)| { IndexItem::Slice { start, stop, step, span: Span::default() } }),
        ];
        let arg = (proptest::option::of(proptest::sample::select(&["axis", "k"][..])), inner.clone())
            .prop_map(|(name, value)| Arg { name: name.map(ident), value });
        prop_oneof![
            (binary_op, inner.clone(), inner.clone())
                .prop_map(|(op, lhs, rhs)| { node(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }) }),
            (any::<bool>(), inner.clone()).prop_map(|(neg, operand)| {
                let op = if neg { UnaryOp::Neg } else { UnaryOp::Not };
                node(ExprKind::Unary { op, operand: Box::new(operand) })
            }),
            proptest::collection::vec(arg, 0..3).prop_map(|args| node(ExprKind::Call { callee: ident("f"), args })),
            (inner.clone(), proptest::collection::vec(index_item, 1..3))
                .prop_map(|(base, indices)| node(ExprKind::Index { base: Box::new(base), indices })),
            proptest::collection::vec(inner, 0..3).prop_map(|items| node(ExprKind::List(items))),
        ]
    })
}

// Binding strength, loosest first, as in the grammar's tiers.
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const CMP: u8 = 4;
const ADD: u8 = 5;
const MUL: u8 = 6;
const NEG: u8 = 7;
const POW: u8 = 8;
const POSTFIX: u8 = 9;
const ATOM: u8 = 10;

fn level(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Binary { op, .. } => match op {
            BinaryOp::Or => OR,
            BinaryOp::And => AND,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => CMP,
            BinaryOp::Add | BinaryOp::Sub => ADD,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::MatMul => MUL,
            BinaryOp::Pow => POW,
        },
        ExprKind::Unary { op: UnaryOp::Not, .. } => NOT,
        ExprKind::Unary { op: UnaryOp::Neg, .. } => NEG,
        ExprKind::Call { .. } | ExprKind::Index { .. } => POSTFIX,
        _ => ATOM,
    }
}

/// Source text with only the parentheses the grammar needs.
fn minimal(expr: &Expr) -> String {
    render(expr, &|child, min| {
        let text = minimal(child);
        if level(child) >= min { text } else { format!("({text})") }
    })
}

/// Source text with every operation in parentheses.
fn full(expr: &Expr) -> String {
    render(expr, &|child, _| {
        let text = full(child);
        if level(child) == ATOM { text } else { format!("({text})") }
    })
}

/// Renders one node; `child(expr, min)` renders an operand that must bind at
/// least as tightly as `min` to stay unparenthesised.
fn render(expr: &Expr, child: &dyn Fn(&Expr, u8) -> String) -> String {
    match &expr.kind {
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Float(x) => format!("{x:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Name(name) => name.name.clone(),
        ExprKind::Binary { op, lhs, rhs } => {
            let (left, right) = match level(expr) {
                OR => (OR, AND),
                AND => (AND, NOT),
                CMP => (ADD, ADD),
                ADD => (ADD, MUL),
                MUL => (MUL, NEG),
                _ => (POSTFIX, NEG), // `**`
            };
            format!("{} {} {}", child(lhs, left), op.symbol(), child(rhs, right))
        }
        ExprKind::Unary { op: UnaryOp::Not, operand } => format!("not {}", child(operand, NOT)),
        ExprKind::Unary { op: UnaryOp::Neg, operand } => format!("- {}", child(operand, NEG)),
        ExprKind::Call { callee, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|arg| match &arg.name {
                    Some(name) => format!("{} = {}", name.name, child(&arg.value, OR)),
                    None => child(&arg.value, OR),
                })
                .collect();
            format!("{}({})", callee.name, args.join(", "))
        }
        ExprKind::Index { base, indices } => {
            let indices: Vec<String> = indices
                .iter()
                .map(|index| match index {
                    IndexItem::At(at) => child(at, OR),
                    IndexItem::Slice { start, stop, step, .. } => {
                        let part = |e: &Option<Expr>| e.as_ref().map_or(String::new(), |e| child(e, OR));
                        match step {
                            Some(_) => format!("{}:{}:{}", part(start), part(stop), part(step)),
                            None => format!("{}:{}", part(start), part(stop)),
                        }
                    }
                })
                .collect();
            format!("{}[{}]", child(base, POSTFIX), indices.join(", "))
        }
        ExprKind::List(items) => {
            let items: Vec<String> = items.iter().map(|item| child(item, OR)).collect();
            format!("[{}]", items.join(", "))
        }
        ExprKind::Error => unreachable!("the generator makes no error nodes"),
    }
}
