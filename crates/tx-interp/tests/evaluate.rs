//! `evaluate` as a whole: checking the values given to a graph, the errors
//! and their sentences, evaluating only what the outputs need, `run`,
//! `random_inputs`, and a property: f32 and f64 evaluation of random
//! elementwise expressions agree.

use proptest::prelude::*;
use tx_interp::{EvalError, Tensor, evaluate, init_params, random_inputs, run};
use tx_ir::{BinaryOp, DType, Dim, Graph, Init, NodeId, Op, ReduceOp, Shape, Type, UnaryOp};

fn ty(dtype: DType, dims: &[&str]) -> Type {
    Type::new(dtype, Shape(dims.iter().map(|d| d.parse::<usize>().map_or_else(|_| Dim::sym(*d), Dim::Known)).collect()))
}

fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
    Tensor::full(dtype, shape, 0.0)
}

/// `x: f32[B, 3]`, `y: f32[B, 3]`, output `x + y`; parameter `w: f32[3]` times it.
fn two_inputs() -> (Graph, NodeId) {
    let mut g = Graph::new();
    let x = g.input("x", ty(DType::F32, &["B", "3"])).unwrap();
    let y = g.input("y", ty(DType::F32, &["B", "3"])).unwrap();
    let w = g.param("w", ty(DType::F32, &["3"]), Init::Fill(2.0), false).unwrap();
    let sum = g.add(Op::Binary(BinaryOp::Add), &[x, y]).unwrap();
    let out = g.add(Op::Binary(BinaryOp::Mul), &[sum, w]).unwrap();
    g.add_output("out", out).unwrap();
    (g, out)
}

/// The error of evaluating `two_inputs` on these values, and its sentence.
fn check_error(inputs: &[(&str, &Tensor)], params: &[(&str, &Tensor)], expect: EvalError, sentence: &str) {
    let (g, out) = two_inputs();
    let got = evaluate(&g, inputs, params, &[out]).expect_err("evaluation should fail");
    assert_eq!(got, expect);
    assert_eq!(got.to_string(), sentence);
}

#[test]
fn wrong_input_values_are_named_errors() {
    let good = zeros(DType::F32, &[2, 3]);
    let w = Tensor::full(DType::F32, &[3], 2.0);
    let params = [("w", &w)];
    let f64s = zeros(DType::F64, &[2, 3]);
    check_error(
        &[("x", &f64s), ("y", &good)],
        &params,
        EvalError::InputType {
            name: "x".into(),
            expected: "f32[B, 3]".into(),
            got: "f64[2, 3]".into(),
            why: "the element types differ (f32 vs f64)".into(),
        },
        "the input `x` should be f32[B, 3], but the value given is f64[2, 3]: the element types differ (f32 vs f64)",
    );
    let narrow = zeros(DType::F32, &[2, 4]);
    check_error(
        &[("x", &narrow), ("y", &good)],
        &params,
        EvalError::InputType {
            name: "x".into(),
            expected: "f32[B, 3]".into(),
            got: "f32[2, 4]".into(),
            why: "dimension 1 must be 3 ([B, 3]), got 4".into(),
        },
        "the input `x` should be f32[B, 3], but the value given is f32[2, 4]: dimension 1 must be 3 ([B, 3]), got 4",
    );
    let flat = zeros(DType::F32, &[6]);
    let err = evaluate(&two_inputs().0, &[("x", &flat), ("y", &good)], &params, &[two_inputs().1]).unwrap_err();
    assert!(matches!(&err, EvalError::InputType { why, .. } if why.contains("expected rank 2")), "{err}");
    // B is bound to 2 by x, then y brings 5.
    let longer = zeros(DType::F32, &[5, 3]);
    check_error(
        &[("x", &good), ("y", &longer)],
        &params,
        EvalError::InputType {
            name: "y".into(),
            expected: "f32[B, 3]".into(),
            got: "f32[5, 3]".into(),
            why: "dimension 0 is `B`, already bound to 2 by an earlier input, got 5".into(),
        },
        "the input `y` should be f32[B, 3], but the value given is f32[5, 3]: \
         dimension 0 is `B`, already bound to 2 by an earlier input, got 5",
    );
    check_error(
        &[("x", &good)],
        &params,
        EvalError::MissingInput { name: "y".into() },
        "no value was given for the input `y`",
    );
    check_error(
        &[("x", &good), ("y", &good), ("z", &good)],
        &params,
        EvalError::UnknownInput { name: "z".into() },
        "a value was given for `z`, but the graph has no input of that name",
    );
    let err = evaluate(&two_inputs().0, &[("x", &good), ("x", &good), ("y", &good)], &params, &[two_inputs().1]);
    assert!(matches!(err, Err(EvalError::InputType { why, .. }) if why == "a value was given more than once"));
}

#[test]
fn wrong_parameter_values_are_named_errors() {
    let good = zeros(DType::F32, &[2, 3]);
    let inputs = [("x", &good), ("y", &good)];
    check_error(&inputs, &[], EvalError::MissingParam { name: "w".into() }, "no value was given for the parameter `w`");
    let long = zeros(DType::F32, &[4]);
    check_error(
        &inputs,
        &[("w", &long)],
        EvalError::ParamType {
            name: "w".into(),
            expected: "f32[3]".into(),
            got: "f32[4]".into(),
            why: "the shapes differ ([3] vs [4])".into(),
        },
        "the parameter `w` should be f32[3], but the value given is f32[4]: the shapes differ ([3] vs [4])",
    );
    let ints = zeros(DType::I64, &[3]);
    let err = evaluate(&two_inputs().0, &inputs, &[("w", &ints)], &[two_inputs().1]).unwrap_err();
    assert!(matches!(&err, EvalError::ParamType { why, .. } if why.contains("element types")), "{err}");
    // Parameters of other graphs are ignored.
    let w = zeros(DType::F32, &[3]);
    assert!(evaluate(&two_inputs().0, &inputs, &[("w", &w), ("other", &long)], &[two_inputs().1]).is_ok());
}

#[test]
fn empty_reductions_decided_at_run_time_are_errors() {
    let mut g = Graph::new();
    let x = g.input("x", ty(DType::F64, &["B", "3"])).unwrap();
    let max = g.add(Op::Reduce { op: ReduceOp::Max, axes: vec![0], keepdims: false }, &[x]).unwrap();
    let lse = g.add(Op::Reduce { op: ReduceOp::LogSumExp, axes: vec![0, 1], keepdims: true }, &[x]).unwrap();
    let arg = g.add(Op::ArgMax { axis: None, keepdims: false }, &[x]).unwrap();
    let sum = g.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[x]).unwrap();
    let empty = zeros(DType::F64, &[0, 3]);
    for (node, what) in [(max, "`max` over axis 0"), (lse, "`logsumexp` over axis 0"), (arg, "`argmax` of a tensor")] {
        match evaluate(&g, &[("x", &empty)], &[], &[node]) {
            Err(EvalError::Runtime { node: at, message }) => {
                assert_eq!(at, node);
                assert!(message.starts_with(what), "{message}");
            }
            other => panic!("expected a runtime error, got {other:?}"),
        }
    }
    let err = evaluate(&g, &[("x", &empty)], &[], &[max]).unwrap_err();
    assert_eq!(err.to_string(), "evaluating %1 failed: `max` over axis 0, which has no elements in this call");
    // The sum of nothing is fine.
    assert_eq!(evaluate(&g, &[("x", &empty)], &[], &[sum]).unwrap(), vec![zeros(DType::F64, &[3])]);
}

#[test]
fn a_symbol_no_input_binds_is_an_error_before_computing() {
    let mut g = Graph::new();
    let row = g.input("row", ty(DType::F32, &["3"])).unwrap();
    let wide = g.add(Op::Broadcast { shape: ty(DType::F32, &["N", "3"]).shape }, &[row]).unwrap();
    let value = zeros(DType::F32, &[3]);
    let err = evaluate(&g, &[("row", &value)], &[], &[wide]).unwrap_err();
    assert_eq!(
        err,
        EvalError::Runtime {
            node: wide,
            message: "dimension `N` is not bound: no input of this call gives its size".into()
        }
    );
    let err = evaluate(&g, &[("row", &value)], &[], &[NodeId(9)]).unwrap_err();
    assert!(matches!(err, EvalError::Runtime { node: NodeId(9), .. }), "{err}");
}

#[test]
fn slices_of_symbolic_axes_are_bounds_checked_at_the_call() {
    let mut g = Graph::new();
    let x = g.input("x", ty(DType::I64, &["B"])).unwrap();
    let axes = vec![tx_ir::AxisSlice::Range { start: 1, step: 2, len: 2 }];
    let odd = g.add(Op::Slice { axes }, &[x]).unwrap();
    let five = Tensor::I64(ndarray::arr1(&[10, 11, 12, 13, 14]).into_dyn());
    let got = evaluate(&g, &[("x", &five)], &[], &[odd]).unwrap();
    assert_eq!(got, vec![Tensor::I64(ndarray::arr1(&[11, 13]).into_dyn())]);
    let three = Tensor::I64(ndarray::arr1(&[10, 11, 12]).into_dyn());
    let err = evaluate(&g, &[("x", &three)], &[], &[odd]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "evaluating %1 failed: index or slice 1:4:2 needs axis 0 to have at least 4 elements, but it has 3"
    );
}

#[test]
fn only_what_the_outputs_need_is_evaluated() {
    let mut g = Graph::new();
    let x = g.input("x", ty(DType::F64, &["B"])).unwrap();
    let labels = g.input("labels", ty(DType::I64, &["B"])).unwrap();
    let w = g.param("w", ty(DType::F64, &["1"]), Init::Fill(1.0), false).unwrap();
    // A branch that would fail on an empty batch, and one that needs labels and w.
    let max = g.add(Op::Reduce { op: ReduceOp::Max, axes: vec![0], keepdims: false }, &[x]).unwrap();
    let cast = g.add(Op::Cast { dtype: DType::F64 }, &[labels]).unwrap();
    let weighted = g.add(Op::Binary(BinaryOp::Mul), &[cast, w]).unwrap();
    let doubled = g.add(Op::Binary(BinaryOp::Add), &[x, x]).unwrap();
    let _ = (max, weighted);
    let empty = zeros(DType::F64, &[0]);
    assert_eq!(evaluate(&g, &[("x", &empty)], &[], &[doubled]).unwrap(), vec![empty.clone()]);
    // The same output twice, and an input as an output.
    let two = Tensor::full(DType::F64, &[2], 1.5);
    let got = evaluate(&g, &[("x", &two)], &[], &[doubled, x, doubled]).unwrap();
    assert_eq!(got, vec![Tensor::full(DType::F64, &[2], 3.0), two.clone(), Tensor::full(DType::F64, &[2], 3.0)]);
}

#[test]
fn a_long_chain_is_evaluated_without_recursion() {
    let mut g = Graph::new();
    let mut node = g.input("x", ty(DType::F64, &["2"])).unwrap();
    for _ in 0..100_000 {
        node = g.add(Op::Unary(UnaryOp::Neg), &[node]).unwrap();
    }
    let x = Tensor::full(DType::F64, &[2], 3.0);
    assert_eq!(evaluate(&g, &[("x", &x)], &[], &[node]).unwrap(), vec![x]);
}

#[test]
fn run_evaluates_every_output_with_initial_parameters() {
    let (mut g, out) = two_inputs();
    let x = g.input_named("x").unwrap();
    g.add_output("x again", x).unwrap();
    let ones = Tensor::full(DType::F32, &[1, 3], 1.0);
    let got = run(&g, &[("x", &ones), ("y", &ones)]).unwrap();
    assert_eq!(got, vec![("out".to_string(), Tensor::full(DType::F32, &[1, 3], 4.0)), ("x again".to_string(), ones)]);
    assert_eq!(init_params(&g), vec![("w".to_string(), Tensor::full(DType::F32, &[3], 2.0))]);
    let _ = out;
}

#[test]
fn random_inputs_fill_every_input_deterministically() {
    let mut g = Graph::new();
    g.input("x", ty(DType::F32, &["B", "784"])).unwrap();
    g.input("labels", ty(DType::I64, &["B"])).unwrap();
    g.input("mask", ty(DType::Bool, &["N", "2"])).unwrap();
    g.input("scale", ty(DType::F64, &[])).unwrap();
    let a = random_inputs(&g, 3, &[("B", 8)]).unwrap();
    assert_eq!(a, random_inputs(&g, 3, &[("B", 8)]).unwrap());
    assert_ne!(a, random_inputs(&g, 4, &[("B", 8)]).unwrap());
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x", "labels", "mask", "scale"]);
    assert_eq!(a[0].1.shape(), &[8, 784]);
    assert_eq!(a[2].1.shape(), &[4, 2], "N takes the default of 4");
    assert!(a[1].1.to_f64s().iter().all(|v| (0.0..10.0).contains(v) && v.fract() == 0.0));
    let values = a[0].1.to_f64s();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    assert!(mean.abs() < 0.05, "{mean}");
    assert_eq!(a[3].1.dtype(), DType::F64);
    // The random inputs are valid inputs.
    let inputs: Vec<(&str, &Tensor)> = a.iter().map(|(n, t)| (n.as_str(), t)).collect();
    assert!(evaluate(&g, &inputs, &[], &[]).is_ok());
}

// ---------------------------------------------------------------- property

/// One step of a random straight-line elementwise program: an op and two
/// picks among the values computed so far.
#[derive(Clone, Debug)]
struct Step {
    op: usize,
    a: usize,
    b: usize,
}

/// Continuous ops with bounded slopes only, so that f32 and f64 stay close:
/// no division, log or `sign` (a jump at 0, where rounding decides).
const UNARY: [UnaryOp; 8] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Softplus,
    UnaryOp::Relu,
    UnaryOp::Sin,
    UnaryOp::Cos,
];
const BINARY: [BinaryOp; 5] = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Max, BinaryOp::Min];

/// The program on inputs `x: [2, 3]` and `y: [3]`, squashed through tanh at
/// every step so that values stay in [-1, 1].
fn program(dtype: DType, steps: &[Step]) -> (Graph, NodeId) {
    let mut g = Graph::new();
    let x = g.input("x", Type::new(dtype, Shape::new([2usize, 3]))).unwrap();
    let y = g.input("y", Type::new(dtype, Shape::new([3usize]))).unwrap();
    let mut values = vec![x, y];
    for step in steps {
        let a = values[step.a % values.len()];
        let b = values[step.b % values.len()];
        let raw = if step.op < UNARY.len() {
            g.add(Op::Unary(UNARY[step.op]), &[a]).unwrap()
        } else {
            g.add(Op::Binary(BINARY[(step.op - UNARY.len()) % BINARY.len()]), &[a, b]).unwrap()
        };
        values.push(g.add(Op::Unary(UnaryOp::Tanh), &[raw]).unwrap());
    }
    let last = *values.last().unwrap();
    // Broadcast the result against x, so that every program ends at [2, 3].
    let out = g.add(Op::Binary(BinaryOp::Add), &[last, x]).unwrap();
    (g, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn f32_and_f64_evaluation_agree(
        steps in prop::collection::vec((0usize..13, 0usize..16, 0usize..16).prop_map(|(op, a, b)| Step { op, a, b }), 1..12),
        xs in prop::collection::vec(-3.0f64..3.0, 6),
        ys in prop::collection::vec(-3.0f64..3.0, 3),
    ) {
        let mut results = Vec::new();
        for dtype in [DType::F32, DType::F64] {
            let (g, out) = program(dtype, &steps);
            // Round the inputs to f32 first, so that both see the same numbers.
            let x = Tensor::from_f64s(dtype, &[2, 3], &xs.iter().map(|&v| f64::from(v as f32)).collect::<Vec<_>>()).unwrap();
            let y = Tensor::from_f64s(dtype, &[3], &ys.iter().map(|&v| f64::from(v as f32)).collect::<Vec<_>>()).unwrap();
            results.push(evaluate(&g, &[("x", &x), ("y", &y)], &[], &[out]).unwrap().remove(0).to_f64s());
        }
        for (a, b) in results[0].iter().zip(&results[1]) {
            // Each step at most doubles the rounding error of f32 (about 6e-8).
            prop_assert!((a - b).abs() <= 1e-3, "{a} vs {b}");
        }
    }
}
