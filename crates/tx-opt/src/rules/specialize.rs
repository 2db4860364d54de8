//! The specialize family: general ops with particular operands become the
//! cheaper special op (`x * x` is `square(x)`, `x ** 0.5` is `sqrt(x)`),
//! and pairs of exponentials or negations merge.
//!
//! `pow` with a float exponent is float only; i64 `pow` and `div` have
//! their own integer meaning, so the rules that change them to float ops
//! say `is_float` (the type check would refuse most of them anyway).

use super::{TxRewrite, both, fill_class, is_const, is_float, rule, rule_build_if, rule_if};

pub fn rules() -> Vec<TxRewrite> {
    vec![
        rule("square-from-mul", "(mul ?x ?x)", "(square ?x)"),
        rule_if("square-from-pow", "(pow ?x ?two)", "(square ?x)", is_const("?two", 2.0)),
        // x^3 = x^2 x, and x^4 = (x^2)^2: powers by squaring.
        rule_if("cube-from-pow", "(pow ?x ?three)", "(mul (square ?x) ?x)", is_const("?three", 3.0)),
        rule_if("fourth-power-from-pow", "(pow ?x ?four)", "(square (square ?x))", is_const("?four", 4.0)),
        // x^0.5 = sqrt(x) (they differ only at -0 and -inf).
        rule_if("sqrt-from-pow", "(pow ?x ?half)", "(sqrt ?x)", both(is_const("?half", 0.5), is_float("?x"))),
        rule_if(
            "reciprocal-from-pow",
            "(pow ?x ?minus_one)",
            "(reciprocal ?x)",
            both(is_const("?minus_one", -1.0), is_float("?x")),
        ),
        rule_if(
            "reciprocal-sqrt-from-pow",
            "(pow ?x ?minus_half)",
            "(reciprocal (sqrt ?x))",
            both(is_const("?minus_half", -0.5), is_float("?x")),
        ),
        // x^0 = 1, NaN and i64 included.
        rule_build_if("pow-zero", "(pow ?x ?zero)", fill_class(1.0), is_const("?zero", 0.0)),
        // x^a x^b = x^(a + b)
        rule_if("pow-add-from-mul", "(mul (pow ?x ?a) (pow ?x ?b))", "(pow ?x (add ?a ?b))", is_float("?x")),
        rule_if("reciprocal-from-div", "(div ?one ?x)", "(reciprocal ?x)", both(is_const("?one", 1.0), is_float("?x"))),
        // x * (1/y) = x / y, one rounding instead of two.
        rule_if("div-from-mul-reciprocal", "(mul ?x (reciprocal ?y))", "(div ?x ?y)", is_float("?x")),
        rule_if("neg-from-mul-minus-one", "(mul ?x ?minus_one)", "(neg ?x)", is_const("?minus_one", -1.0)),
        rule_if("neg-from-minus-one-mul", "(mul ?minus_one ?x)", "(neg ?x)", is_const("?minus_one", -1.0)),
        // (-a)/(-b) = a/b (floats: i64 negation wraps at i64::MIN).
        rule_if("div-neg-neg", "(div (neg ?a) (neg ?b))", "(div ?a ?b)", is_float("?a")),
        // e^a e^b = e^(a + b)
        rule("exp-add-from-mul", "(mul (exp ?a) (exp ?b))", "(exp (add ?a ?b))"),
        // e^a / e^b = e^(a - b)
        rule("exp-sub-from-div", "(div (exp ?a) (exp ?b))", "(exp (sub ?a ?b))"),
    ]
}
