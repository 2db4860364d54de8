//! Every rewrite rule on a small graph where it applies, through one
//! data-driven `check`: the rule fires, no class is merged with one of
//! another type or constant, the optimized graph verifies, extraction picks
//! the expected ops, and the optimized graph computes what the source does
//! on seeded random inputs. Then the stabilizations on the inputs where the
//! naive formula fails: `-O0` (the graph as written) gives the inaccurate or
//! infinite value, `-O2` the exact one.
//!
//! Graphs are written as s-expressions over the op table's names:
//! `(log (add 1 x))`; attributes follow the op name after colons:
//! `(sum:1:keep x)`, `(transpose:1,0 x)`, `(reshape:3,2 x)`,
//! `(slice:0/1/2,: x)` (start/step/len or `:` per axis), `(cast:f32 x)`.
//! A number is a scalar constant of the first non-bool input's dtype
//! (`2:f32` names one), `true` and `false` are bool constants.

use tx_interp::Tensor;
use tx_ir::{AxisSlice, BinaryOp, DType, Dim, Graph, NodeId, Op, ReduceOp, Scalar, Shape, Type, UnaryOp};
use tx_opt::{Level, OptConfig, optimize};

/// Random inputs each case is evaluated on.
const SEEDS: u64 = 6;

/// Checks that rule `rule` fires on `expr` over `inputs` (`x:f64[2,3]
/// y:f64[3]`), that the result is sound, and that the extracted graph has
/// each op of `extracts` and none of those written `!op`.
fn check(rule: &str, inputs: &str, expr: &str, extracts: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("{rule} on {expr}: {why}"));
    let graph = match build(inputs, expr) {
        Ok(graph) => graph,
        Err(why) => return fail(format!("the test graph does not build: {why}")),
    };
    let config = OptConfig { fuse: false, ..OptConfig::new(Level::O2) };
    let optimized = match optimize(&graph, &[], &config) {
        Ok(optimized) => optimized,
        Err(e) => return fail(e.to_string()),
    };
    let report = &optimized.report;
    if !report.rules.contains_key(rule) {
        return fail(format!("the rule did not fire; these did: {:?}", report.rules));
    }
    if !report.conflicts.is_empty() {
        return fail(format!("conflicts: {:?}", report.conflicts));
    }
    if let Err(e) = tx_ir::verify(&optimized.graph) {
        return fail(format!("the optimized graph does not verify: {e:?}"));
    }
    let ops: Vec<&str> = optimized.graph.nodes().map(|(_, node)| node.op.name()).collect();
    for expected in extracts.split_whitespace() {
        let (wanted, name) = match expected.strip_prefix('!') {
            Some(name) => (false, name),
            None => (true, expected),
        };
        if ops.contains(&name) != wanted {
            let printed = tx_ir::print_graph(&optimized.graph);
            return fail(format!(
                "expected {} `{name}` in the optimized graph:\n{printed}",
                if wanted { "an" } else { "no" }
            ));
        }
    }
    let mut compared = 0;
    for seed in 0..SEEDS {
        let values = tx_interp::random_inputs(&graph, seed, &[]).map_err(|e| format!("{rule}: {e}"))?;
        let given: Vec<(&str, &Tensor)> = values.iter().map(|(name, t)| (name.as_str(), t)).collect();
        let (before, after) = match (tx_interp::run(&graph, &given), tx_interp::run(&optimized.graph, &given)) {
            (Ok(before), Ok(after)) => (before, after),
            (before, after) => return fail(format!("evaluation failed: {:?} / {:?}", before.err(), after.err())),
        };
        let (before, after) = (&before[0].1, &after[0].1);
        if before.dtype() != after.dtype() || before.shape() != after.shape() {
            return fail(format!("the type changed from {} to {}", before.ty(), after.ty()));
        }
        let tolerance = if before.dtype() == DType::F32 { 1e-4 } else { 1e-9 };
        for (i, (a, b)) in before.to_f64s().into_iter().zip(after.to_f64s()).enumerate() {
            // Where the source is finite, the optimized graph must agree;
            // where it is not, a stable form may well be finite.
            if !a.is_finite() {
                continue;
            }
            if !(b.is_finite() && (a - b).abs() <= tolerance * (1.0 + a.abs().max(b.abs()))) {
                return fail(format!("element {i} differs with seed {seed}: {a} before, {b} after"));
            }
            compared += 1;
        }
    }
    if compared == 0 {
        return fail("no finite value to compare".to_string());
    }
    Ok(())
}

/// A rule, the inputs, the expression and the ops to find (or not, `!op`)
/// in the optimized graph.
type Case<'a> = (&'a str, &'a str, &'a str, &'a str);

/// Runs `check` on every case and reports every failure at once.
fn check_all(cases: &[Case]) {
    let failures: Vec<String> =
        cases.iter().filter_map(|&(rule, inputs, expr, extracts)| check(rule, inputs, expr, extracts).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

const X: &str = "x:f64[2,3]";
const XY: &str = "x:f64[2,3] y:f64[2,3]";
const BOOLS: &str = "c:bool[2,3] x:f64[2,3] y:f64[2,3]";
const MATRICES: &str = "a:f64[2,3] b:f64[3,4]";

const FOLDING: &[Case] = &[
    ("mul-constant-first", X, "(mul x 2)", ""),
    ("add-constant-first", X, "(add x 2)", ""),
    ("sub-constant", X, "(sub x 2)", ""),
    ("mul-constants-together", X, "(mul 2 (mul 3 x))", ""),
    ("mul-constants-together", "x:i64[2,3]", "(mul 2 (mul 3 x))", ""),
    ("add-constants-together", X, "(add 2 (add 3 x))", ""),
    ("add-constants-together", X, "(add (add x 3) 2)", ""),
    ("neg-into-constant", X, "(neg (mul 2 x))", "!neg"),
    ("div-by-power-of-two", X, "(div x 4)", "mul !div"),
    ("div-by-power-of-two", "x:f32[2,3]", "(div x 0.125)", "mul !div"),
    ("sum-of-constant", X, "(add x (sum:1:keep (broadcast_to:2,3 2)))", "!sum"),
    ("sum-of-constant", "x:i64[2,3]", "(add x (sum:0 (broadcast_to:2,3 2)))", "!sum"),
    ("mean-of-constant", X, "(add x (mean:0 (broadcast_to:2,3 2)))", "!mean"),
    ("max-of-constant", X, "(add x (max:1:keep (broadcast_to:2,3 2)))", "!max"),
    ("min-of-constant", X, "(add x (min:0,1:keep (broadcast_to:2,3 2)))", "!min"),
    ("logsumexp-of-constant", X, "(add x (logsumexp:1:keep (broadcast_to:2,3 2)))", "!logsumexp"),
];

const USELESS: &[Case] = &[
    ("add-zero", X, "(add x 0)", "!add"),
    ("zero-add", X, "(add 0 x)", "!add"),
    ("sub-zero", X, "(sub x 0)", "!sub"),
    ("mul-one", X, "(mul x 1)", "!mul"),
    ("one-mul", X, "(mul 1 x)", "!mul"),
    ("div-one", X, "(div x 1)", "!div"),
    ("div-one", "x:i64[2,3]", "(div x 1)", "!div"),
    ("pow-one", X, "(pow x 1)", "!pow"),
    ("mul-zero-int", "x:i64[2,3]", "(mul x 0)", "!mul"),
    ("zero-mul-int", "x:i64[2,3]", "(mul 0 x)", "!mul"),
    ("neg-neg", X, "(neg (neg x))", "!neg"),
    ("not-not", BOOLS, "(not (not c))", "!not"),
    ("maximum-same", X, "(maximum x x)", "!maximum"),
    ("minimum-same", X, "(minimum x x)", "!minimum"),
    ("and-same", BOOLS, "(logical_and c c)", "!logical_and"),
    ("or-same", BOOLS, "(logical_or c c)", "!logical_or"),
    ("where-true", XY, "(where true x y)", "!where"),
    ("where-false", XY, "(where false x y)", "!where"),
    ("where-same", BOOLS, "(where c x x)", "!where"),
    ("stop-gradient", X, "(exp (stop_gradient x))", "!stop_gradient"),
    ("cast-same-dtype", X, "(cast:f64 x)", "!cast"),
    ("cast-round-trip", "x:f32[2,3]", "(cast:f32 (cast:f64 x))", "!cast"),
    ("cast-round-trip", "c:bool[2,3]", "(cast:bool (cast:i64 c))", "!cast"),
    ("reshape-same-shape", X, "(reshape:2,3 x)", "!reshape"),
    ("reshape-of-reshape", X, "(reshape:3,2 (reshape:6 x))", ""),
    ("reshape-of-reshape", X, "(reshape:2,3 (reshape:6 x))", "!reshape"),
    ("broadcast-same-shape", X, "(broadcast_to:2,3 x)", "!broadcast_to"),
    ("broadcast-of-broadcast", "x:f64[3]", "(broadcast_to:4,2,3 (broadcast_to:2,3 x))", ""),
    ("transpose-identity", X, "(transpose:0,1 x)", "!transpose"),
    ("transpose-of-transpose", "x:f64[2,3,4]", "(transpose:1,0,2 (transpose:1,2,0 x))", ""),
    ("transpose-of-transpose", "x:f64[2,3,4]", "(transpose:2,0,1 (transpose:1,2,0 x))", "!transpose"),
    ("slice-whole", X, "(slice:0/1/2,: x)", "!slice"),
    ("concat-one", X, "(concat:1 x)", "!concat"),
    ("sum-identity", X, "(sum: x)", "!sum"),
    ("mean-identity", "x:f64[2,1]", "(mean:1:keep x)", "!mean"),
    ("max-identity", "x:f64[1,3]", "(max:0:keep x)", "!max"),
    ("min-identity", X, "(min: x)", "!min"),
    ("logsumexp-identity", X, "(logsumexp: x)", "!logsumexp"),
];

const CANONICALIZE: &[Case] = &[
    ("sub-neg", XY, "(sub x (neg y))", "add !neg"),
    ("add-neg", XY, "(add x (neg y))", "sub !neg"),
    ("neg-add", XY, "(add (neg y) x)", "sub !neg"),
    ("zero-sub", X, "(sub 0 x)", "neg !sub"),
    ("mul-neg-neg", XY, "(mul (neg x) (neg y))", "!neg"),
    ("neg-out-of-mul-left", XY, "(mul (neg x) y)", ""),
    ("neg-out-of-mul-right", XY, "(mul x (neg y))", ""),
    ("neg-out-of-div-left", XY, "(div (neg x) y)", ""),
    ("neg-out-of-div-right", XY, "(div x (neg y))", ""),
    ("neg-of-sub", XY, "(neg (sub x y))", "!neg"),
    ("sub-of-neg", XY, "(sub (neg x) y)", ""),
    ("add-sub-cancel-right", XY, "(sub (add x y) y)", "!sub !add"),
    ("add-sub-cancel-left", XY, "(sub (add x y) x)", "!sub !add"),
    ("sub-add-cancel", XY, "(add (sub x y) y)", "!sub !add"),
    ("mul-div-cancel-left", XY, "(div (mul x y) x)", "!div !mul"),
    ("mul-div-cancel-right", XY, "(div (mul y x) x)", "!div !mul"),
    ("div-mul-cancel", XY, "(mul (div y x) x)", "!div !mul"),
    ("log-exp", X, "(log (exp x))", "!log !exp"),
    ("log1p-expm1", X, "(log1p (expm1 x))", "!log1p !expm1"),
    ("sigmoid-logit", X, "(sigmoid (log (div (sigmoid x) (sub 1 (sigmoid x)))))", "!log"),
    ("sqrt-square", X, "(sqrt (square x))", "abs !sqrt"),
    ("abs-abs", X, "(abs (abs x))", ""),
    ("abs-neg", X, "(abs (neg x))", "!neg"),
    ("abs-square", X, "(abs (square x))", "!abs"),
    ("square-neg", X, "(square (neg x))", "!neg"),
    ("square-abs", X, "(square (abs x))", "!abs"),
    ("relu-relu", X, "(relu (relu x))", ""),
    ("sign-sign", X, "(sign (sign x))", ""),
    ("sum-of-sum", "x:f64[2,3,4]", "(sum:0 (sum:1 x))", ""),
    ("sum-of-sum", "x:f64[2,3,4]", "(sum:0,2:keep (sum:1,2:keep x))", ""),
    ("mean-of-mean", "x:f64[2,3,4]", "(mean:1:keep (mean:0:keep x))", ""),
    ("max-of-max", "x:f64[2,3,4]", "(max:0,1 (max:1:keep x))", ""),
    ("min-of-min", "x:f64[2,3,4]", "(min:1 (min:0 x))", ""),
    ("logsumexp-of-logsumexp", "x:f64[2,3,4]", "(logsumexp:0 (logsumexp:0 x))", ""),
];

const STABILIZE: &[Case] = &[
    ("log1p-from-log", X, "(log (add 1 x))", "log1p !log"),
    ("log1p-from-log", "x:f32[2,3]", "(log (add 1 x))", "log1p !log"),
    ("log1p-from-log-swapped", X, "(log (add x 1))", "log1p !log"),
    ("log1p-neg-from-log", X, "(log (sub 1 x))", "log1p !log"),
    ("expm1-from-exp", X, "(sub (exp x) 1)", "expm1 !exp"),
    ("expm1-from-exp-plus", X, "(add (exp x) -1)", "expm1 !exp"),
    ("expm1-from-plus-exp", X, "(add -1 (exp x))", "expm1 !exp"),
    ("softplus-from-log1p-exp", X, "(log1p (exp x))", "softplus !exp"),
    ("softplus-from-log", X, "(log (add 1 (exp x)))", "softplus !exp"),
    ("softplus-from-log-swapped", X, "(log (add (exp x) 1))", "softplus !exp"),
    ("log-sigmoid", X, "(log (sigmoid x))", "softplus !log !sigmoid"),
    ("log-one-minus-sigmoid", X, "(log (sub 1 (sigmoid x)))", "softplus !log !sigmoid"),
    ("log1p-neg-sigmoid", X, "(log1p (neg (sigmoid x)))", "softplus !log1p !sigmoid"),
    ("sigmoid-from-exp", X, "(div (exp x) (add 1 (exp x)))", "sigmoid !exp"),
    ("sigmoid-from-exp-swapped", X, "(div (exp x) (add (exp x) 1))", "sigmoid !exp"),
    ("sigmoid-neg-from-reciprocal", X, "(reciprocal (add 1 (exp x)))", "sigmoid !exp"),
    ("sigmoid-neg-from-reciprocal-swapped", X, "(reciprocal (add (exp x) 1))", "sigmoid !exp"),
    ("sigmoid-neg-from-div", X, "(div 1 (add 1 (exp x)))", "sigmoid !exp !div"),
    ("sigmoid-neg-from-quotient", X, "(div 3 (add 1 (exp x)))", "sigmoid !exp !div"),
    ("sigmoid-neg-from-quotient-swapped", X, "(div 3 (add (exp x) 1))", "sigmoid !exp !div"),
    ("one-minus-sigmoid", X, "(sub 1 (sigmoid x))", "sigmoid neg !sub"),
    ("exp-neg-times-sigmoid", X, "(mul (exp (neg x)) (sigmoid x))", "sigmoid !exp"),
    ("sigmoid-times-exp-neg", X, "(mul (sigmoid x) (exp (neg x)))", "sigmoid !exp"),
    ("sigmoid-odds", X, "(div (sigmoid x) (sub 1 (sigmoid x)))", "exp !sigmoid"),
    ("logsumexp-from-log-sum-exp", X, "(log (sum:1 (exp x)))", "logsumexp !exp !log"),
    ("logsumexp-from-log-sum-exp", "x:f64[2,8]", "(log (sum:0,1:keep (exp x)))", "logsumexp !exp !log"),
    ("log-softmax-from-log", X, "(log (softmax:1 x))", "log_softmax !softmax !log"),
    ("softmax-from-exp-log-softmax", X, "(exp (log_softmax:0 x))", "softmax !log_softmax !exp"),
    ("log-softmax-from-logsumexp", X, "(sub x (logsumexp:1:keep x))", "log_softmax !logsumexp"),
    ("softmax-from-exp", X, "(div (exp x) (sum:1:keep (exp x)))", "softmax !exp !sum"),
    ("softmax-from-exp", "x:f64[2,3,4]", "(div (exp x) (sum:1:keep (exp x)))", "softmax !exp !sum"),
    ("softmax-shift", X, "(softmax:1 (sub x (max:1:keep x)))", "!max"),
    ("log-softmax-shift", X, "(log_softmax:0 (sub x (max:0,1:keep x)))", "!max"),
    // A hand-stabilized softmax, and its log, become the op.
    (
        "softmax-shift",
        X,
        "(div (exp (sub x (max:1:keep x))) (sum:1:keep (exp (sub x (max:1:keep x)))))",
        "softmax !max !exp",
    ),
    ("log-softmax-from-log", X, "(log (softmax:1 (sub x (max:1:keep x))))", "log_softmax !max !log"),
    ("log-softmax-shift", X, "(log_softmax:1 (sub x (max:1:keep x)))", "!max"),
];

const SPECIALIZE: &[Case] = &[
    ("square-from-mul", X, "(mul x x)", "square !mul"),
    ("square-from-mul", "x:i64[2,3]", "(mul x x)", "square !mul"),
    ("square-from-pow", X, "(pow x 2)", "square !pow"),
    ("square-from-pow", "x:i64[2,3]", "(pow x 2)", "square !pow"),
    ("cube-from-pow", X, "(pow x 3)", "!pow"),
    ("fourth-power-from-pow", X, "(pow x 4)", "!pow"),
    ("sqrt-from-pow", X, "(pow x 0.5)", "sqrt !pow"),
    ("reciprocal-from-pow", X, "(pow x -1)", "reciprocal !pow"),
    ("reciprocal-sqrt-from-pow", X, "(pow x -0.5)", "sqrt !pow"),
    ("pow-zero", X, "(pow x 0)", "!pow"),
    ("pow-zero", "x:i64[2,3]", "(pow x 0)", "!pow"),
    ("pow-add-from-mul", X, "(mul (pow x 2) (pow x 3))", ""),
    ("reciprocal-from-div", X, "(div 1 x)", "reciprocal !div"),
    ("div-from-mul-reciprocal", XY, "(mul x (reciprocal y))", "div !reciprocal"),
    ("neg-from-mul-minus-one", X, "(mul x -1)", "neg !mul"),
    ("neg-from-minus-one-mul", X, "(mul -1 x)", "neg !mul"),
    ("neg-from-minus-one-mul", "x:i64[2,3]", "(mul -1 x)", "neg !mul"),
    ("div-neg-neg", XY, "(div (neg x) (neg y))", "!neg"),
    ("exp-add-from-mul", XY, "(mul (exp x) (exp y))", "add !mul"),
    ("exp-sub-from-div", XY, "(div (exp x) (exp y))", "sub !div"),
];

const ALGEBRA: &[Case] = &[
    ("transpose-of-matmul", MATRICES, "(transpose:1,0 (matmul a b))", ""),
    ("transpose-of-matmul", "a:f64[5,2,3] b:f64[3,4]", "(transpose:0,2,1 (matmul a b))", ""),
    ("matmul-of-transposes", "a:f64[3,2] b:f64[4,3]", "(matmul (transpose:1,0 a) (transpose:1,0 b))", ""),
    // (A^T B)^T = B^T A: one transpose instead of two.
    ("transpose-of-matmul", "a:f64[3,2] b:f64[3,4]", "(transpose:1,0 (matmul (transpose:1,0 a) b))", ""),
    ("transpose-through-where", "c:bool[2,3] x:f64[2,3] y:f64[2,3]", "(transpose:1,0 (where c x y))", ""),
    ("transpose-through-cast", X, "(transpose:1,0 (cast:f32 x))", ""),
    ("sum-of-scaled", X, "(sum:1 (mul 3 x))", ""),
    ("sum-of-scaled-right", X, "(sum:1 (mul x 3))", ""),
    ("mean-of-scaled", X, "(mean:0:keep (mul 3 x))", ""),
    ("mean-of-scaled-right", X, "(mean:0 (mul x 3))", ""),
    ("sum-of-quotient", X, "(sum:0,1 (div x 3))", ""),
    ("sum-of-neg", X, "(sum:1 (neg x))", ""),
    ("mean-of-neg", X, "(mean:1 (neg x))", ""),
    ("matmul-of-scaled-left", MATRICES, "(matmul (mul 2 a) b)", ""),
    ("matmul-of-scaled-right", MATRICES, "(matmul a (mul 2 b))", ""),
    // Lifted through the add, the outer transpose cancels the inner one.
    ("transpose-through-add", XY, "(transpose:1,0 (add (transpose:1,0 x) (transpose:1,0 y)))", "!transpose"),
    ("transpose-through-add", "x:f64[2,3] y:f64[1,3]", "(transpose:1,0 (add x y))", ""),
];

/// Every elementwise op lets a transpose through.
fn transpose_lifts() -> Vec<(String, String, String)> {
    let mut cases = Vec::new();
    for op in UnaryOp::ALL {
        let inputs = if op == UnaryOp::Not { "x:bool[2,3]" } else { X };
        let name = op.name();
        cases.push((format!("transpose-through-{name}"), inputs.to_string(), format!("(transpose:1,0 ({name} x))")));
    }
    for op in BinaryOp::ALL {
        let inputs = if matches!(op, BinaryOp::And | BinaryOp::Or) { "x:bool[2,3] y:bool[2,3]" } else { XY };
        let name = op.name();
        cases.push((format!("transpose-through-{name}"), inputs.to_string(), format!("(transpose:1,0 ({name} x y))")));
    }
    cases
}

#[test]
fn folding() {
    check_all(FOLDING);
}

#[test]
fn useless() {
    check_all(USELESS);
}

#[test]
fn canonicalize() {
    check_all(CANONICALIZE);
}

#[test]
fn stabilize() {
    check_all(STABILIZE);
}

#[test]
fn specialize() {
    check_all(SPECIALIZE);
}

#[test]
fn algebra() {
    check_all(ALGEBRA);
    let lifts = transpose_lifts();
    let cases: Vec<Case> =
        lifts.iter().map(|(rule, inputs, expr)| (rule.as_str(), inputs.as_str(), expr.as_str(), "")).collect();
    check_all(&cases);
}

/// Every rule of every family has a case above.
#[test]
fn every_rule_has_a_case() {
    let lifts = transpose_lifts();
    let tested: Vec<&str> = [FOLDING, USELESS, CANONICALIZE, STABILIZE, SPECIALIZE, ALGEBRA]
        .iter()
        .flat_map(|cases| cases.iter().map(|case| case.0))
        .chain(lifts.iter().map(|case| case.0.as_str()))
        .collect();
    let untested: Vec<String> = tx_opt::rules::families()
        .iter()
        .flat_map(|family| family.rules.iter().map(|rule| rule.name.to_string()))
        .filter(|name| !tested.contains(&name.as_str()))
        .collect();
    assert!(untested.is_empty(), "rules without a case: {untested:?}");
}

/// Rules that must not apply: the graph keeps its op.
#[test]
fn refusals() {
    let unchanged = |inputs: &str, expr: &str, op: &str| {
        let graph = build(inputs, expr).expect("the test graph builds");
        let optimized =
            optimize(&graph, &[], &OptConfig { fuse: false, ..OptConfig::new(Level::O2) }).expect("optimizes");
        assert!(optimized.report.conflicts.is_empty(), "{expr}: {:?}", optimized.report.conflicts);
        let ops: Vec<&str> = optimized.graph.nodes().map(|(_, node)| node.op.name()).collect();
        assert!(ops.contains(&op), "{expr} lost its `{op}`:\n{}", tx_ir::print_graph(&optimized.graph));
    };
    // i64 division floors: 1 // x is no reciprocal, and (-a) // b is not -(a // b).
    unchanged("x:i64[2,3]", "(div 1 x)", "div");
    unchanged("x:i64[2,3] y:i64[2,3]", "(div (neg x) y)", "div");
    // x * 0 is NaN for infinite x: kept for floats.
    unchanged(X, "(mul x 0)", "mul");
    // softmax over two axes is no `softmax` op.
    unchanged("x:f64[2,3]", "(div (exp x) (sum:0,1:keep (exp x)))", "sum");
    // Without keepdims the sum does not broadcast back along the axis.
    unchanged("x:f64[3,3]", "(div (exp x) (sum:1 (exp x)))", "sum");
    // A reversed slice keeps the shape but is no identity.
    unchanged(X, "(slice:0/1/2,2/-1/3 x)", "slice");
    // Transposing a square matrix keeps the type but is no identity.
    unchanged("x:f64[3,3]", "(transpose:1,0 x)", "transpose");
    // (x + y) - x with y broadcast up would change the shape.
    unchanged("x:f64[2,3] y:f64[3]", "(sub (add x y) x)", "sub");
}

/// Evaluates `expr` on `value` for `x`, unoptimized (`-O0`) and at `-O2`.
fn naive_and_optimized(inputs: &str, expr: &str, value: &Tensor) -> (Vec<f64>, Vec<f64>) {
    let graph = build(inputs, expr).expect("the test graph builds");
    let run = |level| {
        let optimized = optimize(&graph, &[], &OptConfig::new(level)).expect("optimizes");
        assert!(optimized.report.conflicts.is_empty(), "{expr}: {:?}", optimized.report.conflicts);
        tx_ir::verify(&optimized.graph).expect("the optimized graph verifies");
        let outputs = tx_interp::run(&optimized.graph, &[("x", value)]).expect("evaluates");
        outputs[0].1.to_f64s()
    };
    (run(Level::O0), run(Level::O2))
}

fn tensor(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
    Tensor::from_f64s(dtype, shape, values).expect("the values fit the shape")
}

fn relative_error(got: f64, exact: f64) -> f64 {
    ((got - exact) / exact).abs()
}

#[test]
fn log_one_plus_tiny_x_is_log1p() {
    // log1p(1e-10) = 1e-10 - 5e-21 + ...
    let exact = 9.999_999_999_500_001e-11;
    let (naive, optimized) = naive_and_optimized("x:f64[1]", "(log (add 1 x))", &tensor(DType::F64, &[1], &[1e-10]));
    // 1 + 1e-10 rounds, and the log keeps the rounding error: 8e-8 relative.
    assert!(relative_error(naive[0], exact) > 1e-8, "naive {}", naive[0]);
    assert!(relative_error(optimized[0], exact) < 1e-15, "optimized {}", optimized[0]);

    let (naive, optimized) = naive_and_optimized("x:f32[1]", "(log (add 1 x))", &tensor(DType::F32, &[1], &[1e-10]));
    // In f32, 1 + 1e-10 is 1.
    assert_eq!(naive[0], 0.0);
    assert!(relative_error(optimized[0], exact) < 1e-6, "optimized {}", optimized[0]);
}

#[test]
fn log_of_softmax_is_log_softmax() {
    let logits = tensor(DType::F64, &[1, 3], &[1000.0, 0.0, -1000.0]);
    let (naive, optimized) = naive_and_optimized("x:f64[1,3]", "(log (softmax:1 x))", &logits);
    // softmax underflows to 0 for the two small logits.
    assert_eq!(naive, [0.0, f64::NEG_INFINITY, f64::NEG_INFINITY]);
    // log_softmax(z)_i = z_i - 1000 - log(1 + e^-1000 + e^-2000)
    assert_eq!(optimized, [0.0, -1000.0, -2000.0]);
}

#[test]
fn log_of_sigmoid_is_minus_softplus() {
    // log(sigmoid(x)) = x - log1p(e^x), which is x for very negative x.
    let (naive, optimized) = naive_and_optimized("x:f32[1]", "(log (sigmoid x))", &tensor(DType::F32, &[1], &[-200.0]));
    // sigmoid(-200) = 1.4e-87 underflows in f32.
    assert_eq!(naive, [f64::NEG_INFINITY]);
    assert_eq!(optimized, [-200.0]);

    let (naive, optimized) = naive_and_optimized("x:f64[1]", "(log (sigmoid x))", &tensor(DType::F64, &[1], &[-800.0]));
    assert_eq!(naive, [f64::NEG_INFINITY]);
    assert_eq!(optimized, [-800.0]);
}

#[test]
fn log_of_sum_of_exp_is_logsumexp() {
    // 1000 + log(1 + e^-1 + e^-2)
    let exact = 1_000.407_605_964_444_4;
    let z = tensor(DType::F64, &[3], &[1000.0, 999.0, 998.0]);
    let (naive, optimized) = naive_and_optimized("x:f64[3]", "(log (sum:0 (exp x)))", &z);
    // e^1000 overflows.
    assert_eq!(naive, [f64::INFINITY]);
    assert!(relative_error(optimized[0], exact) < 1e-15, "optimized {}", optimized[0]);
}

// The s-expression reader.

/// The graph with inputs `inputs` and one output, `y = expr`.
fn build(inputs: &str, expr: &str) -> Result<Graph, String> {
    let mut graph = Graph::new();
    let mut names: Vec<(String, NodeId)> = Vec::new();
    let mut literal_dtype = None;
    for spec in inputs.split_whitespace() {
        let (name, ty) = spec.split_once(':').ok_or_else(|| format!("`{spec}` is not name:type"))?;
        let ty = parse_type(ty)?;
        if ty.dtype != DType::Bool {
            literal_dtype = literal_dtype.or(Some(ty.dtype));
        }
        let id = graph.input(name, ty).map_err(|e| e.message)?;
        names.push((name.to_string(), id));
    }
    let tokens: Vec<String> =
        expr.replace('(', " ( ").replace(')', " ) ").split_whitespace().map(String::from).collect();
    let mut reader = Reader { tokens, at: 0, names, literal_dtype: literal_dtype.unwrap_or(DType::F64) };
    let root = reader.expr(&mut graph)?;
    if reader.at != reader.tokens.len() {
        return Err(format!("`{expr}` has text after its end"));
    }
    graph.add_output("y", root).map_err(|e| e.message)?;
    Ok(graph)
}

struct Reader {
    tokens: Vec<String>,
    at: usize,
    names: Vec<(String, NodeId)>,
    literal_dtype: DType,
}

impl Reader {
    fn next(&mut self) -> Result<String, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("the expression ends early")?;
        self.at += 1;
        Ok(token)
    }

    fn expr(&mut self, graph: &mut Graph) -> Result<NodeId, String> {
        let token = self.next()?;
        if token != "(" {
            return self.atom(graph, &token);
        }
        let head = self.next()?;
        let mut operands = Vec::new();
        while self.tokens.get(self.at).is_some_and(|t| t != ")") {
            operands.push(self.expr(graph)?);
        }
        self.next()?;
        let (name, attr) = head.split_once(':').unwrap_or((&head, ""));
        let op = parse_op(name, attr)?;
        graph.add(op, &operands).map_err(|e| format!("`{head}`: {}", e.message))
    }

    fn atom(&mut self, graph: &mut Graph, token: &str) -> Result<NodeId, String> {
        if let Some((_, id)) = self.names.iter().find(|(name, _)| name == token) {
            return Ok(*id);
        }
        let (text, dtype) = match token.split_once(':') {
            Some((text, dtype)) => (text, DType::from_name(dtype).ok_or(format!("no dtype `{dtype}`"))?),
            None => (token, self.literal_dtype),
        };
        let value = match (text, dtype) {
            ("true", _) => Scalar::Bool(true),
            ("false", _) => Scalar::Bool(false),
            (text, DType::I64) => Scalar::Int(text.parse().map_err(|_| format!("`{token}` is not an integer"))?),
            (text, _) => Scalar::Float(text.parse().map_err(|_| format!("`{token}` is no input and no number"))?),
        };
        let dtype = if matches!(value, Scalar::Bool(_)) { DType::Bool } else { dtype };
        graph.add(Op::Constant { value, dtype }, &[]).map_err(|e| e.message)
    }
}

/// `f64[2,B]`, `bool[]`.
fn parse_type(text: &str) -> Result<Type, String> {
    let (dtype, dims) = text.trim_end_matches(']').split_once('[').ok_or(format!("`{text}` is not dtype[dims]"))?;
    let dtype = DType::from_name(dtype).ok_or(format!("no dtype `{dtype}`"))?;
    Ok(Type::new(dtype, parse_shape(dims)))
}

fn parse_shape(dims: &str) -> Shape {
    Shape(
        dims.split(',')
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<usize>().map_or_else(|_| Dim::sym(d), Dim::Known))
            .collect(),
    )
}

fn parse_axes(text: &str) -> Result<Vec<usize>, String> {
    text.split(',').filter(|a| !a.is_empty()).map(|a| a.parse().map_err(|_| format!("`{a}` is not an axis"))).collect()
}

/// The op named `name` with attributes `attr` (the text after the colon).
fn parse_op(name: &str, attr: &str) -> Result<Op, String> {
    if let Some(op) = UnaryOp::from_name(name) {
        return Ok(Op::Unary(op));
    }
    if let Some(op) = BinaryOp::from_name(name) {
        return Ok(Op::Binary(op));
    }
    if let Some(op) = ReduceOp::from_name(name) {
        let (axes, keep) = attr.split_once(':').unwrap_or((attr, ""));
        return Ok(Op::Reduce { op, axes: parse_axes(axes)?, keepdims: keep == "keep" });
    }
    let axis = || attr.parse::<usize>().map_err(|_| format!("`{name}` needs an axis, got `{attr}`"));
    Ok(match name {
        "where" => Op::Where,
        "matmul" => Op::MatMul,
        "stop_gradient" => Op::StopGradient,
        "softmax" => Op::Softmax { axis: axis()? },
        "log_softmax" => Op::LogSoftmax { axis: axis()? },
        "concat" => Op::Concat { axis: axis()? },
        "transpose" => Op::Transpose { perm: parse_axes(attr)? },
        "reshape" => Op::Reshape { shape: parse_shape(attr) },
        "broadcast_to" => Op::Broadcast { shape: parse_shape(attr) },
        "cast" => Op::Cast { dtype: DType::from_name(attr).ok_or(format!("no dtype `{attr}`"))? },
        "slice" => Op::Slice { axes: attr.split(',').map(parse_slice).collect::<Result<_, _>>()? },
        _ => return Err(format!("no op `{name}`")),
    })
}

/// `:` or `start/step/len`.
fn parse_slice(text: &str) -> Result<AxisSlice, String> {
    if text == ":" {
        return Ok(AxisSlice::Full);
    }
    let parts: Vec<&str> = text.split('/').collect();
    let bad = || format!("`{text}` is not start/step/len");
    let [start, step, len] = parts[..] else { return Err(bad()) };
    Ok(AxisSlice::Range {
        start: start.parse().map_err(|_| bad())?,
        step: step.parse().map_err(|_| bad())?,
        len: len.parse().map_err(|_| bad())?,
    })
}
