//! The folding family. Constant folding itself is the analysis's job (a
//! class whose operands are constants is a constant, computed by the
//! interpreter); these rules bring constants together so that it has
//! something to fold (`2 * (3 * x)` becomes `6 * x`), and fold the
//! reductions of constants, which the analysis leaves alone because their
//! value depends on the sizes.
//!
//! Reassociating floats rounds differently; the rules that do it check that
//! the folded constant is a normal number, so that no new overflow or
//! underflow appears.

use tx_ir::{DType, Dim, ReduceOp, Scalar};

use super::{
    Build, Condition, TxRewrite, add_splat, attr_of, both, const_where, is_any_const, is_float, not_const, rule_build,
    rule_if, var,
};
use crate::analysis::{constant, ty};
use crate::lang::Attr;

pub fn rules() -> Vec<TxRewrite> {
    let mut rules = vec![
        // x * c = c * x: constants first, so that they meet.
        rule_if("mul-constant-first", "(mul ?x ?c)", "(mul ?c ?x)", both(is_any_const("?c"), not_const("?x"))),
        rule_if("add-constant-first", "(add ?x ?c)", "(add ?c ?x)", both(is_any_const("?c"), not_const("?x"))),
        // x - c = x + (-c), exact.
        rule_if("sub-constant", "(sub ?x ?c)", "(add ?x (neg ?c))", both(is_any_const("?c"), not_const("?x"))),
        // a * (b * x) = (a * b) * x
        rule_if(
            "mul-constants-together",
            "(mul ?a (mul ?b ?x))",
            "(mul (mul ?a ?b) ?x)",
            folds_normal("?a", "?b", |a, b| a * b),
        ),
        // a + (b + x) = (a + b) + x
        rule_if(
            "add-constants-together",
            "(add ?a (add ?b ?x))",
            "(add (add ?a ?b) ?x)",
            folds_normal("?a", "?b", |a, b| a + b),
        ),
        // -(c * x) = (-c) * x, exact.
        rule_if("neg-into-constant", "(neg (mul ?c ?x))", "(mul (neg ?c) ?x)", is_any_const("?c")),
        // x / 2^k = x * 2^-k exactly (both round x * 2^-k once).
        rule_if(
            "div-by-power-of-two",
            "(div ?x ?c)",
            "(mul ?x (reciprocal ?c))",
            both(is_float("?x"), const_where("?c", is_power_of_two)),
        ),
    ];
    for op in ReduceOp::ALL {
        let name = op.name();
        rules.push(rule_build(&format!("{name}-of-constant"), &format!("({name} ?a ?x)"), reduce_constant(op)));
    }
    rules
}

/// `?a` and `?b` are constants and, for floats, `fold(a, b)` is zero or a
/// normal number of their dtype: folding them then adds no overflow or
/// underflow that the unfolded chain did not have. (i64 wraps: any order
/// gives the same result.)
fn folds_normal(a: &str, b: &str, fold: fn(f64, f64) -> f64) -> Condition {
    let (a, b) = (var(a), var(b));
    Box::new(move |egraph, _, subst| {
        let (Some(x), Some(y)) = (constant(egraph, subst[a]), constant(egraph, subst[b])) else { return false };
        let folded = fold(x, y).abs();
        match ty(egraph, subst[a]).map(|t| t.dtype) {
            Some(DType::F32) => folded == 0.0 || (f64::from(f32::MIN_POSITIVE)..=f64::from(f32::MAX)).contains(&folded),
            Some(DType::F64) => folded == 0.0 || folded.is_normal(),
            Some(DType::I64) => true,
            Some(DType::Bool) | None => false,
        }
    })
}

/// ±2^k with 2^-k a normal f32 as well.
fn is_power_of_two(c: f64) -> bool {
    let mantissa = c.to_bits() & ((1u64 << 52) - 1);
    c != 0.0 && c.is_normal() && mantissa == 0 && (-126.0..=126.0).contains(&c.abs().log2())
}

/// A reduction of a constant tensor of known size, as a constant: the sum
/// of n copies of c is n * c, the mean, max and min are c, and logsumexp is
/// c + log(n). Refused over no elements and over symbolic sizes.
fn reduce_constant(op: ReduceOp) -> Build {
    let (a, x) = (var("?a"), var("?x"));
    Box::new(move |egraph, eclass, subst| {
        let c = constant(egraph, subst[x])?;

        let Some(Attr::Reduce { axes, .. }) = attr_of(egraph, subst[a]) else { return None };
        let operand = ty(egraph, subst[x])?;
        let mut n = 1usize;
        for &axis in &axes {
            match operand.shape.dims().get(axis)? {
                Dim::Known(size) => n = n.checked_mul(*size)?,
                Dim::Sym(_) => return None,
            }
        }
        if n == 0 {
            return None;
        }
        let value = match op {
            ReduceOp::Sum => c * n as f64,
            ReduceOp::Mean | ReduceOp::Max | ReduceOp::Min => c,
            ReduceOp::LogSumExp => c + (n as f64).ln(),
        };
        let result = ty(egraph, eclass)?.clone();
        let value = match (result.dtype, op) {
            (DType::F32 | DType::F64, _) => Scalar::Float(value),
            // Wrapping, as the interpreter sums i64.
            (DType::I64, ReduceOp::Sum) => Scalar::Int((c as i64).wrapping_mul(i64::try_from(n).ok()?)),
            (DType::I64, _) => Scalar::Int(c as i64),
            (DType::Bool, _) => return None,
        };
        Some(add_splat(egraph, value, &result))
    })
}
