//! The stabilize family (PyTensor's numerical rewrites): naive formulas
//! that round away small terms or overflow become the ops that compute them
//! accurately: `log1p`, `expm1`, `softplus`, `sigmoid`, `logsumexp`,
//! `softmax` and `log_softmax`. The cost model makes each stable form
//! cheaper than the chain it replaces, so extraction picks it.
//!
//! Not here because tx has no such op: `logaddexp`, `log1mexp`, the `erf`
//! family, and the fused softmax cross-entropy of Theano.

use super::{
    Build, Condition, TxRewrite, add_with_attr, attr_of, both, is_any_const, is_const, rule, rule_build, rule_if, var,
};
use crate::lang::{Attr, Head};

pub fn rules() -> Vec<TxRewrite> {
    let one = || is_const("?one", 1.0);
    vec![
        // log(1 + x) = log1p(x)
        rule_if("log1p-from-log", "(log (add ?one ?x))", "(log1p ?x)", one()),
        rule_if("log1p-from-log-swapped", "(log (add ?x ?one))", "(log1p ?x)", one()),
        // log(1 - x) = log1p(-x)
        rule_if("log1p-neg-from-log", "(log (sub ?one ?x))", "(log1p (neg ?x))", one()),
        // exp(x) - 1 = expm1(x)
        rule_if("expm1-from-exp", "(sub (exp ?x) ?one)", "(expm1 ?x)", one()),
        rule_if("expm1-from-exp-plus", "(add (exp ?x) ?minus_one)", "(expm1 ?x)", is_const("?minus_one", -1.0)),
        rule_if("expm1-from-plus-exp", "(add ?minus_one (exp ?x))", "(expm1 ?x)", is_const("?minus_one", -1.0)),
        // log(1 + e^x) = softplus(x)
        rule("softplus-from-log1p-exp", "(log1p (exp ?x))", "(softplus ?x)"),
        rule_if("softplus-from-log", "(log (add ?one (exp ?x)))", "(softplus ?x)", one()),
        rule_if("softplus-from-log-swapped", "(log (add (exp ?x) ?one))", "(softplus ?x)", one()),
        // log(sigmoid(x)) = -log(1 + e^-x) = -softplus(-x)
        rule("log-sigmoid", "(log (sigmoid ?x))", "(neg (softplus (neg ?x)))"),
        // log(1 - sigmoid(x)) = log(sigmoid(-x)) = -softplus(x)
        rule_if("log-one-minus-sigmoid", "(log (sub ?one (sigmoid ?x)))", "(neg (softplus ?x))", one()),
        rule("log1p-neg-sigmoid", "(log1p (neg (sigmoid ?x)))", "(neg (softplus ?x))"),
        // e^x / (1 + e^x) = sigmoid(x)
        rule_if("sigmoid-from-exp", "(div (exp ?x) (add ?one (exp ?x)))", "(sigmoid ?x)", one()),
        rule_if("sigmoid-from-exp-swapped", "(div (exp ?x) (add (exp ?x) ?one))", "(sigmoid ?x)", one()),
        // 1 / (1 + e^x) = sigmoid(-x)
        rule_if("sigmoid-neg-from-reciprocal", "(reciprocal (add ?one (exp ?x)))", "(sigmoid (neg ?x))", one()),
        rule_if("sigmoid-neg-from-reciprocal-swapped", "(reciprocal (add (exp ?x) ?one))", "(sigmoid (neg ?x))", one()),
        rule_if(
            "sigmoid-neg-from-div",
            "(div ?c (add ?one (exp ?x)))",
            "(sigmoid (neg ?x))",
            both(one(), is_const("?c", 1.0)),
        ),
        // c / (1 + e^x) = c * sigmoid(-x)
        rule_if(
            "sigmoid-neg-from-quotient",
            "(div ?c (add ?one (exp ?x)))",
            "(mul ?c (sigmoid (neg ?x)))",
            both(one(), is_any_const("?c")),
        ),
        rule_if(
            "sigmoid-neg-from-quotient-swapped",
            "(div ?c (add (exp ?x) ?one))",
            "(mul ?c (sigmoid (neg ?x)))",
            both(one(), is_any_const("?c")),
        ),
        // 1 - sigmoid(x) = sigmoid(-x)
        rule_if("one-minus-sigmoid", "(sub ?one (sigmoid ?x))", "(sigmoid (neg ?x))", one()),
        // e^-x sigmoid(x) = e^-x / (1 + e^-x) = sigmoid(-x)
        rule("exp-neg-times-sigmoid", "(mul (exp (neg ?x)) (sigmoid ?x))", "(sigmoid (neg ?x))"),
        rule("sigmoid-times-exp-neg", "(mul (sigmoid ?x) (exp (neg ?x)))", "(sigmoid (neg ?x))"),
        // sigmoid(x) / (1 - sigmoid(x)) = e^x
        rule_if("sigmoid-odds", "(div (sigmoid ?x) (sub ?one (sigmoid ?x)))", "(exp ?x)", one()),
        // log(sum(exp(x))) = logsumexp(x), over the same axes.
        rule("logsumexp-from-log-sum-exp", "(log (sum ?a (exp ?x)))", "(logsumexp ?a ?x)"),
        rule("log-softmax-from-log", "(log (softmax ?k ?x))", "(log_softmax ?k ?x)"),
        rule("softmax-from-exp-log-softmax", "(exp (log_softmax ?k ?x))", "(softmax ?k ?x)"),
        // x - logsumexp(x, axis k, keepdims) = log_softmax(x, k)
        rule_build("log-softmax-from-logsumexp", "(sub ?x (logsumexp ?a ?x))", over_one_kept_axis(Head::LogSoftmax)),
        // e^x / sum(e^x, axis k, keepdims) = softmax(x, k)
        rule_build("softmax-from-exp", "(div (exp ?x) (sum ?a (exp ?x)))", over_one_kept_axis(Head::Softmax)),
        // softmax(x - max(x, k, keepdims), k) = softmax(x, k): softmax does
        // not change when a value constant along k is subtracted, and the op
        // does this shift itself (a hand-stabilized softmax).
        rule_if("softmax-shift", "(softmax ?k (sub ?x (max ?a ?x)))", "(softmax ?k ?x)", reduces_axis("?a", "?k")),
        rule_if(
            "log-softmax-shift",
            "(log_softmax ?k (sub ?x (max ?a ?x)))",
            "(log_softmax ?k ?x)",
            reduces_axis("?a", "?k"),
        ),
    ]
}

/// `head` (softmax or log_softmax) of `?x` along the one axis that
/// reduction `?a` reduces, keeping it; other reductions are declined.
fn over_one_kept_axis(head: Head) -> Build {
    let (a, x) = (var("?a"), var("?x"));
    Box::new(move |egraph, _, subst| {
        let Some(Attr::Reduce { axes, keepdims: true }) = attr_of(egraph, subst[a]) else { return None };
        let [axis] = axes[..] else { return None };
        Some(add_with_attr(egraph, head.clone(), Attr::Axis(axis), &[subst[x]]))
    })
}

/// Reduction `?a` reduces axis `?k` (and maybe others), keeping them, so
/// that its result is the same all along axis `?k`.
fn reduces_axis(a: &str, k: &str) -> Condition {
    let (a, k) = (var(a), var(k));
    Box::new(move |egraph, _, subst| match (attr_of(egraph, subst[a]), attr_of(egraph, subst[k])) {
        (Some(Attr::Reduce { axes, keepdims: true }), Some(Attr::Axis(axis))) => axes.contains(&axis),
        _ => false,
    })
}
