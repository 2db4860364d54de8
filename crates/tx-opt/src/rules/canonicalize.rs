//! The canonicalize family: one form for the same arithmetic, so that the
//! other families have fewer shapes to match. Negations move out of
//! products and into subtractions, inverse functions cancel, terms that are
//! added and subtracted (or multiplied and divided) cancel, and a
//! reduction of a reduction becomes one reduction.
//!
//! No general commutativity or associativity: each operand order that
//! matters is its own rule.

use tx_ir::ReduceOp;

use super::{Build, TxRewrite, add_with_attr, attr_of, is_const, is_float, rule, rule_build, rule_if, var};
use crate::analysis::ty;
use crate::lang::{Attr, Head};

pub fn rules() -> Vec<TxRewrite> {
    let mut rules = vec![
        // x - (-y) = x + y
        rule("sub-neg", "(sub ?x (neg ?y))", "(add ?x ?y)"),
        // x + (-y) = x - y
        rule("add-neg", "(add ?x (neg ?y))", "(sub ?x ?y)"),
        // (-y) + x = x - y
        rule("neg-add", "(add (neg ?y) ?x)", "(sub ?x ?y)"),
        // 0 - x = -x
        rule_if("zero-sub", "(sub ?zero ?x)", "(neg ?x)", is_const("?zero", 0.0)),
        // (-x)(-y) = xy
        rule("mul-neg-neg", "(mul (neg ?x) (neg ?y))", "(mul ?x ?y)"),
        // (-x)y = -(xy), exact in floats and in wrapping i64.
        rule("neg-out-of-mul-left", "(mul (neg ?x) ?y)", "(neg (mul ?x ?y))"),
        rule("neg-out-of-mul-right", "(mul ?x (neg ?y))", "(neg (mul ?x ?y))"),
        // (-x)/y = -(x/y) for floats (not for i64 floor division).
        rule_if("neg-out-of-div-left", "(div (neg ?x) ?y)", "(neg (div ?x ?y))", is_float("?x")),
        rule_if("neg-out-of-div-right", "(div ?x (neg ?y))", "(neg (div ?x ?y))", is_float("?x")),
        // -(x - y) = y - x
        rule("neg-of-sub", "(neg (sub ?x ?y))", "(sub ?y ?x)"),
        // -x - y = -(x + y)
        rule("sub-of-neg", "(sub (neg ?x) ?y)", "(neg (add ?x ?y))"),
        // (x + y) - y = x; exact for i64, and for floats it drops the
        // rounding of the sum.
        rule("add-sub-cancel-right", "(sub (add ?x ?y) ?y)", "?x"),
        rule("add-sub-cancel-left", "(sub (add ?x ?y) ?x)", "?y"),
        rule("sub-add-cancel", "(add (sub ?x ?y) ?y)", "?x"),
        // (xy)/x = y, for floats (for i64, 0 // 0 is 0).
        rule_if("mul-div-cancel-left", "(div (mul ?x ?y) ?x)", "?y", is_float("?x")),
        rule_if("mul-div-cancel-right", "(div (mul ?y ?x) ?x)", "?y", is_float("?x")),
        rule_if("div-mul-cancel", "(mul (div ?y ?x) ?x)", "?y", is_float("?x")),
        rule("log-exp", "(log (exp ?x))", "?x"),
        rule("log1p-expm1", "(log1p (expm1 ?x))", "?x"),
        // sigmoid(log(x / (1 - x))) = x, the logistic of the logit.
        rule_if("sigmoid-logit", "(sigmoid (log (div ?x (sub ?one ?x))))", "?x", is_const("?one", 1.0)),
        // sqrt(x^2) = |x|, without the overflow of x^2.
        rule("sqrt-square", "(sqrt (square ?x))", "(abs ?x)"),
        rule("abs-abs", "(abs (abs ?x))", "(abs ?x)"),
        rule("abs-neg", "(abs (neg ?x))", "(abs ?x)"),
        rule("abs-square", "(abs (square ?x))", "(square ?x)"),
        rule("square-neg", "(square (neg ?x))", "(square ?x)"),
        rule("square-abs", "(square (abs ?x))", "(square ?x)"),
        rule("relu-relu", "(relu (relu ?x))", "(relu ?x)"),
        rule("sign-sign", "(sign (sign ?x))", "(sign ?x)"),
    ];
    // reduce(reduce(x, a), b) = reduce(x, a and b), where one reduction
    // can say it (PyTensor's `local_reduce_chain`).
    for op in ReduceOp::ALL {
        let name = op.name();
        let lhs = format!("({name} ?b ({name} ?a ?x))");
        rules.push(rule_build(&format!("{name}-of-{name}"), &lhs, merge_reductions(op)));
    }
    rules
}

/// The one reduction that does what `(op ?b (op ?a ?x))` does, when there is
/// one: both keep their axes, neither does, or the outer one drops every
/// axis the inner one kept.
fn merge_reductions(op: ReduceOp) -> Build {
    let (a, b, x) = (var("?a"), var("?b"), var("?x"));
    Box::new(move |egraph, _, subst| {
        let Some(Attr::Reduce { axes: inner, keepdims: inner_keeps }) = attr_of(egraph, subst[a]) else { return None };
        let Some(Attr::Reduce { axes: outer, keepdims: outer_keeps }) = attr_of(egraph, subst[b]) else { return None };
        let rank = ty(egraph, subst[x])?.rank();
        // The outer axes, numbered as axes of x.
        let outer_in_x: Vec<usize> = if inner_keeps {
            outer.clone()
        } else {
            let left: Vec<usize> = (0..rank).filter(|axis| !inner.contains(axis)).collect();
            outer.iter().map(|&axis| left.get(axis).copied()).collect::<Option<_>>()?
        };
        let keepdims = match (inner_keeps, outer_keeps) {
            (true, true) => true,
            (false, false) => false,
            (true, false) if inner.iter().all(|axis| outer_in_x.contains(axis)) => false,
            _ => return None,
        };
        let mut axes: Vec<usize> = inner.iter().chain(&outer_in_x).copied().collect();
        axes.sort_unstable();
        axes.dedup();
        Some(add_with_attr(egraph, Head::Reduce(op), Attr::Reduce { axes, keepdims }, &[subst[x]]))
    })
}
