//! The algebra family: transposes, matmuls and reductions moved through one
//! another (PyTensor's `local_dimshuffle_lift`,
//! `local_lift_transpose_through_dot`, `local_sum_prod_of_mul_or_div`).
//! These rules only move work around, so they can grow the e-graph more
//! than the others; `-O1` leaves them out.

use tx_ir::{BinaryOp, UnaryOp};

use super::{Build, Condition, TxRewrite, add_with_attr, attr_of, both, is_float, rule, rule_build, rule_if, var};
use crate::analysis::ty;
use crate::lang::{Attr, Head, TxNode};

pub fn rules() -> Vec<TxRewrite> {
    let mut rules = vec![
        // (AB)^T = B^T A^T, the last two axes swapped (batches broadcast the
        // same way on both sides).
        rule_build("transpose-of-matmul", "(transpose ?p (matmul ?a ?b))", transpose_of_matmul()),
        // A^T B^T = (BA)^T
        rule_build("matmul-of-transposes", "(matmul (transpose ?p ?a) (transpose ?q ?b))", matmul_of_transposes()),
        // transpose(where(c, a, b)) = where(transpose c, transpose a, transpose b)
        rule(
            "transpose-through-where",
            "(transpose ?p (where ?c ?a ?b))",
            "(where (transpose ?p ?c) (transpose ?p ?a) (transpose ?p ?b))",
        ),
        rule("transpose-through-cast", "(transpose ?p (cast ?d ?x))", "(cast ?d (transpose ?p ?x))"),
        // sum(s x) = s sum(x) for a finite scalar constant s (an infinite
        // one could turn inf - inf = NaN into inf).
        rule_if("sum-of-scaled", "(sum ?a (mul ?s ?x))", "(mul ?s (sum ?a ?x))", scalar_where("?s", f64::is_finite)),
        rule_if(
            "sum-of-scaled-right",
            "(sum ?a (mul ?x ?s))",
            "(mul (sum ?a ?x) ?s)",
            scalar_where("?s", f64::is_finite),
        ),
        rule_if("mean-of-scaled", "(mean ?a (mul ?s ?x))", "(mul ?s (mean ?a ?x))", scalar_where("?s", f64::is_finite)),
        rule_if(
            "mean-of-scaled-right",
            "(mean ?a (mul ?x ?s))",
            "(mul (mean ?a ?x) ?s)",
            scalar_where("?s", f64::is_finite),
        ),
        // sum(x / s) = sum(x) / s for a finite nonzero scalar constant s.
        rule_if(
            "sum-of-quotient",
            "(sum ?a (div ?x ?s))",
            "(div (sum ?a ?x) ?s)",
            both(is_float("?x"), scalar_where("?s", |s| s.is_finite() && s != 0.0)),
        ),
        // sum(-x) = -sum(x), exact.
        rule("sum-of-neg", "(sum ?a (neg ?x))", "(neg (sum ?a ?x))"),
        rule("mean-of-neg", "(mean ?a (neg ?x))", "(neg (mean ?a ?x))"),
        // (sA)B = s(AB) and A(sB) = s(AB) for a finite scalar constant s.
        rule_if(
            "matmul-of-scaled-left",
            "(matmul (mul ?s ?a) ?b)",
            "(mul ?s (matmul ?a ?b))",
            scalar_where("?s", f64::is_finite),
        ),
        rule_if(
            "matmul-of-scaled-right",
            "(matmul ?a (mul ?s ?b))",
            "(mul ?s (matmul ?a ?b))",
            scalar_where("?s", f64::is_finite),
        ),
    ];
    // transpose(f(x)) = f(transpose x): a transpose moves towards the
    // inputs, where it may cancel with another. For binary ops the type
    // check refuses operands of lower rank (whose broadcast the transpose
    // would change); operands of the same rank broadcast the same way.
    for op in UnaryOp::ALL {
        let name = op.name();
        let lhs = format!("(transpose ?p ({name} ?x))");
        rules.push(rule(&format!("transpose-through-{name}"), &lhs, &format!("({name} (transpose ?p ?x))")));
    }
    for op in BinaryOp::ALL {
        let name = op.name();
        let lhs = format!("(transpose ?p ({name} ?x ?y))");
        let rhs = format!("({name} (transpose ?p ?x) (transpose ?p ?y))");
        rules.push(rule(&format!("transpose-through-{name}"), &lhs, &rhs));
    }
    rules
}

/// `?s` is a scalar (rank-0) constant for which `test` holds. (A splat of a
/// larger shape could broadcast the other operand along a reduced axis.)
fn scalar_where(s: &str, test: fn(f64) -> bool) -> Condition {
    let s = var(s);
    Box::new(move |egraph, _, subst| {
        crate::analysis::constant(egraph, subst[s]).is_some_and(test)
            && ty(egraph, subst[s]).is_some_and(|t| t.rank() == 0)
    })
}

/// The permutation of `rank` axes that swaps the last two, if `rank >= 2`.
fn swap_last_two(rank: usize) -> Option<Vec<usize>> {
    if rank < 2 {
        return None;
    }
    let mut perm: Vec<usize> = (0..rank).collect();
    perm.swap(rank - 2, rank - 1);
    Some(perm)
}

/// Whether attribute class `id` is the permutation that swaps the last two
/// of `rank` axes.
fn is_swap_last_two(egraph: &crate::TxGraph, id: egg::Id, rank: usize) -> bool {
    matches!((attr_of(egraph, id), swap_last_two(rank)), (Some(Attr::Perm(perm)), Some(swap)) if perm == swap)
}

fn transpose(egraph: &mut crate::TxGraph, x: egg::Id) -> Option<egg::Id> {
    let perm = swap_last_two(ty(egraph, x)?.rank())?;
    Some(add_with_attr(egraph, Head::Transpose, Attr::Perm(perm), &[x]))
}

/// `(transpose ?p (matmul ?a ?b))` with `?p` swapping the last two axes and
/// both operands matrices (or batches of them): `B^T A^T`.
fn transpose_of_matmul() -> Build {
    let (p, a, b) = (var("?p"), var("?a"), var("?b"));
    Box::new(move |egraph, eclass, subst| {
        let rank = ty(egraph, eclass)?.rank();
        let ranks = (ty(egraph, subst[a])?.rank(), ty(egraph, subst[b])?.rank());
        if !is_swap_last_two(egraph, subst[p], rank) || ranks.0 < 2 || ranks.1 < 2 {
            return None;
        }
        let (at, bt) = (transpose(egraph, subst[a])?, transpose(egraph, subst[b])?);
        Some(egraph.add(TxNode::new(Head::MatMul, vec![bt, at])))
    })
}

/// `(matmul (transpose ?p ?a) (transpose ?q ?b))` with both transposes
/// swapping the last two axes of matrices (or batches): `(B A)^T`.
fn matmul_of_transposes() -> Build {
    let (p, q, a, b) = (var("?p"), var("?q"), var("?a"), var("?b"));
    Box::new(move |egraph, _, subst| {
        let ranks = (ty(egraph, subst[a])?.rank(), ty(egraph, subst[b])?.rank());
        if !is_swap_last_two(egraph, subst[p], ranks.0) || !is_swap_last_two(egraph, subst[q], ranks.1) {
            return None;
        }
        let product = egraph.add(TxNode::new(Head::MatMul, vec![subst[b], subst[a]]));
        transpose(egraph, product)
    })
}
