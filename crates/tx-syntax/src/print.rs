//! A compact, deterministic S-expression rendering of the AST: one item per
//! line, no spans. It is what `--emit ast` shows and what the parser tests
//! compare against.
//!
//! ```text
//! (input x f32[B, 784])
//! (param W1 f32[784, H] (~ (call orthogonal seed=1)))
//! (fn dense (h W b) (call tanh (+ (@ h W) b)))
//! (let out (* (index h2 : 0:10) (** 2.0 (neg 1))))
//! ```
//!
//! Expressions print as `(op lhs rhs)`, `(neg x)`, `(not x)`,
//! `(call f a k=v)`, `(index x i a:b ::c :)`, `[a b c]`, and `<error>` for an
//! error node; floats always show a `.` or an exponent. Recursion follows the
//! expression depth, which the parser bounds by [`MAX_EXPR_DEPTH`](crate::ast::MAX_EXPR_DEPTH).

use std::fmt::Write;

use crate::ast::{Arg, DimExpr, Expr, ExprKind, FnDef, IndexItem, Init, Item, ItemKind, Program, TypeExpr, UnaryOp};

/// The whole program, one item per line (each line ends with `\n`).
pub fn print_program(program: &Program) -> String {
    let mut out = String::new();
    for item in &program.items {
        out.push_str(&print_item(item));
        out.push('\n');
    }
    out
}

/// One item, on one line.
pub fn print_item(item: &Item) -> String {
    let mut out = String::new();
    match &item.kind {
        ItemKind::Input { name, ty } => {
            let _ = write!(out, "(input {} {})", name.name, print_type(ty));
        }
        ItemKind::Param { name, ty, init, frozen } => {
            let init = match init {
                Init::Fill(value) => format!("(= {})", print_expr(value)),
                Init::Call(value) => format!("(~ {})", print_expr(value)),
            };
            let frozen = if *frozen { " frozen" } else { "" };
            let _ = write!(out, "(param {} {} {init}{frozen})", name.name, print_type(ty));
        }
        ItemKind::Const { name, value } => {
            let _ = write!(out, "(const {} {})", name.name, print_expr(value));
        }
        ItemKind::Let { name, value } => {
            let _ = write!(out, "(let {} {})", name.name, print_expr(value));
        }
        ItemKind::Fn(def) => out.push_str(&print_fn(def)),
        ItemKind::Output { name, value: Some(value) } => {
            let _ = write!(out, "(output {} {})", name.name, print_expr(value));
        }
        ItemKind::Output { name, value: None } => {
            let _ = write!(out, "(output {})", name.name);
        }
        ItemKind::Layer { name, value, inverse } => {
            let _ = write!(out, "(layer {} {}", name.name, print_expr(value));
            if let Some(inverse) = inverse {
                let _ = write!(out, " (inverse {} {})", inverse.param.name, print_expr(&inverse.body));
            }
            out.push(')');
        }
        ItemKind::Loss { value } => {
            let _ = write!(out, "(loss {})", print_expr(value));
        }
        ItemKind::Metric { name, value } => {
            let _ = write!(out, "(metric {} {})", name.name, print_expr(value));
        }
        ItemKind::Train { rule, settings } => {
            let _ = write!(out, "(train {}", rule.name);
            for setting in settings {
                let _ = write!(out, " ({} {})", setting.key.name, print_expr(&setting.value));
            }
            out.push(')');
        }
    }
    out
}

fn print_fn(def: &FnDef) -> String {
    let params: Vec<&str> = def.params.iter().map(|param| param.name.as_str()).collect();
    let mut out = format!("(fn {} ({})", def.name.name, params.join(" "));
    for (name, value) in &def.body.lets {
        let _ = write!(out, " (let {} {})", name.name, print_expr(value));
    }
    let _ = write!(out, " {})", print_expr(&def.body.result));
    out
}

/// `f32`, or `f32[B, 784]`.
pub fn print_type(ty: &TypeExpr) -> String {
    if ty.dims.is_empty() {
        return ty.dtype.name.clone();
    }
    let dims: Vec<String> = ty
        .dims
        .iter()
        .map(|dim| match dim {
            DimExpr::Size { value, .. } => value.to_string(),
            DimExpr::Name(name) => name.name.clone(),
        })
        .collect();
    format!("{}[{}]", ty.dtype.name, dims.join(", "))
}

/// One expression.
pub fn print_expr(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr);
    out
}

fn write_expr(out: &mut String, expr: &Expr) {
    match &expr.kind {
        ExprKind::Int(value) => {
            let _ = write!(out, "{value}");
        }
        ExprKind::Float(value) => {
            let _ = write!(out, "{value:?}");
        }
        ExprKind::Bool(value) => {
            let _ = write!(out, "{value}");
        }
        ExprKind::Name(name) => out.push_str(&name.name),
        ExprKind::Unary { op, operand } => {
            out.push_str(match op {
                UnaryOp::Neg => "(neg ",
                UnaryOp::Not => "(not ",
            });
            write_expr(out, operand);
            out.push(')');
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let _ = write!(out, "({} ", op.symbol());
            write_expr(out, lhs);
            out.push(' ');
            write_expr(out, rhs);
            out.push(')');
        }
        ExprKind::Call { callee, args } => {
            let _ = write!(out, "(call {}", callee.name);
            for Arg { name, value } in args {
                out.push(' ');
                if let Some(name) = name {
                    let _ = write!(out, "{}=", name.name);
                }
                write_expr(out, value);
            }
            out.push(')');
        }
        ExprKind::Index { base, indices } => {
            out.push_str("(index ");
            write_expr(out, base);
            for index in indices {
                out.push(' ');
                match index {
                    IndexItem::At(at) => write_expr(out, at),
                    IndexItem::Slice { start, stop, step, .. } => {
                        if let Some(start) = start {
                            write_expr(out, start);
                        }
                        out.push(':');
                        if let Some(stop) = stop {
                            write_expr(out, stop);
                        }
                        if let Some(step) = step {
                            out.push(':');
                            write_expr(out, step);
                        }
                    }
                }
            }
            out.push(')');
        }
        ExprKind::List(elements) => {
            out.push('[');
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_expr(out, element);
            }
            out.push(']');
        }
        ExprKind::Error => out.push_str("<error>"),
    }
}
