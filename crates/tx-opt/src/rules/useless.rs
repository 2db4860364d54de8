//! The useless family (PyTensor's `local_useless_*`): ops that compute
//! their operand, identities of arithmetic, and chains of movement ops that
//! collapse into one. Many rules here lean on the type check: `(reshape ?s
//! ?x) => ?x` is only applied when the reshape keeps `?x`'s shape, and a
//! reduction is the identity exactly when it keeps its operand's type (no
//! axes, or only size-1 axes kept).

use tx_ir::{AxisSlice, DType, ReduceOp};

use super::{
    Build, Condition, TxRewrite, add_with_attr, attr_of, both, fill_class, is_const, is_dtype, rule, rule_build,
    rule_build_if, rule_if, var,
};
use crate::analysis::ty;
use crate::lang::{Attr, Head};

pub fn rules() -> Vec<TxRewrite> {
    let mut rules = vec![
        rule_if("add-zero", "(add ?x ?zero)", "?x", is_const("?zero", 0.0)),
        rule_if("zero-add", "(add ?zero ?x)", "?x", is_const("?zero", 0.0)),
        rule_if("sub-zero", "(sub ?x ?zero)", "?x", is_const("?zero", 0.0)),
        rule_if("mul-one", "(mul ?x ?one)", "?x", is_const("?one", 1.0)),
        rule_if("one-mul", "(mul ?one ?x)", "?x", is_const("?one", 1.0)),
        // x / 1 = x, also as i64 floor division.
        rule_if("div-one", "(div ?x ?one)", "?x", is_const("?one", 1.0)),
        rule_if("pow-one", "(pow ?x ?one)", "?x", is_const("?one", 1.0)),
        // x * 0 = 0 for i64 only: for floats inf * 0 and NaN * 0 are NaN.
        rule_build_if(
            "mul-zero-int",
            "(mul ?x ?zero)",
            fill_class(0.0),
            both(is_const("?zero", 0.0), is_dtype("?x", DType::I64)),
        ),
        rule_build_if(
            "zero-mul-int",
            "(mul ?zero ?x)",
            fill_class(0.0),
            both(is_const("?zero", 0.0), is_dtype("?x", DType::I64)),
        ),
        rule("neg-neg", "(neg (neg ?x))", "?x"),
        rule("not-not", "(not (not ?x))", "?x"),
        rule("maximum-same", "(maximum ?x ?x)", "?x"),
        rule("minimum-same", "(minimum ?x ?x)", "?x"),
        rule("and-same", "(logical_and ?x ?x)", "?x"),
        rule("or-same", "(logical_or ?x ?x)", "?x"),
        rule_if("where-true", "(where ?c ?a ?b)", "?a", is_const("?c", 1.0)),
        rule_if("where-false", "(where ?c ?a ?b)", "?b", is_const("?c", 0.0)),
        rule("where-same", "(where ?c ?a ?a)", "?a"),
        // Identity in value; the optimizer runs after differentiation.
        rule("stop-gradient", "(stop_gradient ?x)", "?x"),
        rule("cast-same-dtype", "(cast ?d ?x)", "?x"),
        // bool -> any -> bool and f32 -> f64 -> f32 lose nothing.
        rule_if("cast-round-trip", "(cast ?d (cast ?w ?x))", "?x", lossless_round_trip()),
        rule("reshape-same-shape", "(reshape ?s ?x)", "?x"),
        rule("reshape-of-reshape", "(reshape ?t (reshape ?s ?x))", "(reshape ?t ?x)"),
        rule("broadcast-same-shape", "(broadcast_to ?s ?x)", "?x"),
        // Broadcasting is transitive: x to s, then to t, is x to t.
        rule("broadcast-of-broadcast", "(broadcast_to ?t (broadcast_to ?s ?x))", "(broadcast_to ?t ?x)"),
        rule_if("transpose-identity", "(transpose ?p ?x)", "?x", is_identity_perm("?p")),
        // transpose(transpose(x, p), q) = transpose(x, i -> p[q[i]]).
        rule_build("transpose-of-transpose", "(transpose ?q (transpose ?p ?x))", compose_transposes()),
        rule_if("slice-whole", "(slice ?s ?x)", "?x", is_whole_slice("?s")),
        rule("concat-one", "(concat ?a ?x)", "?x"),
    ];
    // A reduction that keeps its operand's type reduces nothing: no axes,
    // or size-1 axes kept.
    for op in ReduceOp::ALL {
        let name = op.name();
        rules.push(rule(&format!("{name}-identity"), &format!("({name} ?a ?x)"), "?x"));
    }
    rules
}

/// `(cast ?d (cast ?w ?x))` goes back to `?x`'s dtype (the type check sees
/// to that) through a cast that keeps every value.
fn lossless_round_trip() -> Condition {
    let (w, x) = (var("?w"), var("?x"));
    Box::new(move |egraph, _, subst| {
        let Some(Attr::DType(middle)) = attr_of(egraph, subst[w]) else { return false };
        match ty(egraph, subst[x]).map(|t| t.dtype) {
            Some(DType::Bool) => true,
            Some(DType::F32) => middle == DType::F64,
            _ => false,
        }
    })
}

/// `?p` is the identity permutation.
fn is_identity_perm(p: &str) -> Condition {
    let p = var(p);
    Box::new(
        move |egraph, _, subst| matches!(attr_of(egraph, subst[p]), Some(Attr::Perm(perm)) if perm.iter().enumerate().all(|(i, &a)| i == a)),
    )
}

/// Every axis of slice `?s` starts at 0 with step 1 (the type check makes
/// sure it also runs to the end).
fn is_whole_slice(s: &str) -> Condition {
    let s = var(s);
    Box::new(move |egraph, _, subst| {
        let Some(Attr::Slice(axes)) = attr_of(egraph, subst[s]) else { return false };
        axes.iter().all(|a| matches!(a, AxisSlice::Full | AxisSlice::Range { start: 0, step: 1, .. }))
    })
}

fn compose_transposes() -> Build {
    let (p, q, x) = (var("?p"), var("?q"), var("?x"));
    Box::new(move |egraph, _, subst| {
        let (Some(Attr::Perm(inner)), Some(Attr::Perm(outer))) = (attr_of(egraph, subst[p]), attr_of(egraph, subst[q]))
        else {
            return None;
        };
        // Result axis i is axis outer[i] of the inner result, which is axis
        // inner[outer[i]] of x.
        let perm: Vec<usize> = outer.iter().map(|&i| inner.get(i).copied()).collect::<Option<_>>()?;
        if perm.iter().enumerate().all(|(i, &a)| i == a) {
            return Some(subst[x]);
        }
        Some(add_with_attr(egraph, Head::Transpose, Attr::Perm(perm), &[subst[x]]))
    })
}
