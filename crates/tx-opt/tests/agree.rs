//! The optimizer's oracle: on thousands of random graphs, `-O1` and `-O2`
//! compute what `-O0` computes (the reference interpreter on both), within
//! tolerance wherever both are finite; every optimized graph passes the
//! verifier; no rewrite merged classes of different types; and optimizing
//! twice gives byte-identical graphs.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use tx_ir::{BinaryOp, DType, Graph, Op, ReduceOp, Scalar, Shape, Type, UnaryOp};
use tx_opt::{Level, OptConfig, optimize};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

/// One step of a random program: an op applied to earlier values (picked by
/// index modulo how many there are).
#[derive(Clone, Debug)]
enum Step {
    Unary(usize, usize),
    Binary(usize, usize, usize),
    Constant(usize),
    Reduce(usize, usize, usize, bool),
    Softmax(usize, bool),
    MatMul(usize, usize),
    Transpose(usize),
    Where(usize, usize, usize),
}

/// Every float unary op: the op table's list, less `not` (the last).
const UNARY: &[UnaryOp] = UnaryOp::ALL.split_last().expect("unary ops exist").1;
const BINARY: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Max, BinaryOp::Min];
/// Constants that rewrites look for.
const CONSTANTS: [f64; 7] = [0.0, 1.0, -1.0, 2.0, 0.5, -0.5, 3.0];
const REDUCE: [ReduceOp; 5] = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min, ReduceOp::LogSumExp];

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (0usize..16, 0usize..64).prop_map(|(op, a)| Step::Unary(op, a)),
        4 => (0usize..7, 0usize..64, 0usize..64).prop_map(|(op, a, b)| Step::Binary(op, a, b)),
        2 => (0usize..7).prop_map(Step::Constant),
        1 => (0usize..5, 0usize..64, 0usize..3, any::<bool>()).prop_map(|(op, a, axis, k)| Step::Reduce(op, a, axis, k)),
        1 => (0usize..64, any::<bool>()).prop_map(|(a, log)| Step::Softmax(a, log)),
        1 => (0usize..64, 0usize..64).prop_map(|(a, b)| Step::MatMul(a, b)),
        1 => (0usize..64).prop_map(Step::Transpose),
        1 => (0usize..64, 0usize..64, 0usize..64).prop_map(|(c, a, b)| Step::Where(c, a, b)),
    ];
    prop::collection::vec(step, 1..14)
}

/// Builds the program over inputs `a: f64[3, 4]`, `b: f64[4]`, `c: f64[4, 3]`;
/// a step whose operands do not fit is skipped. Every value is an output, so
/// shared values and every intermediate are checked.
fn build(program: &[Step]) -> Graph {
    let mut g = Graph::new();
    let f64_of = |dims: &[usize]| Type::new(DType::F64, Shape::new(dims.iter().copied()));
    let mut values = vec![
        g.input("a", f64_of(&[3, 4])).unwrap(),
        g.input("b", f64_of(&[4])).unwrap(),
        g.input("c", f64_of(&[4, 3])).unwrap(),
    ];
    for step in program {
        let pick = |k: usize| values[k % values.len()];
        let added = match *step {
            Step::Unary(op, a) => g.add(Op::Unary(UNARY[op]), &[pick(a)]),
            Step::Binary(op, a, b) => g.add(Op::Binary(BINARY[op]), &[pick(a), pick(b)]),
            Step::Constant(k) => g.add(Op::Constant { value: Scalar::Float(CONSTANTS[k]), dtype: DType::F64 }, &[]),
            Step::Reduce(op, a, axis, keepdims) => {
                let x = pick(a);
                let rank = g.ty(x).rank();
                let axes = if rank == 0 { vec![] } else { vec![axis % rank] };
                g.add(Op::Reduce { op: REDUCE[op], axes, keepdims }, &[x])
            }
            Step::Softmax(a, log) => {
                let x = pick(a);
                let rank = g.ty(x).rank();
                if rank == 0 {
                    continue;
                }
                let axis = rank - 1;
                g.add(if log { Op::LogSoftmax { axis } } else { Op::Softmax { axis } }, &[x])
            }
            Step::MatMul(a, b) => g.add(Op::MatMul, &[pick(a), pick(b)]),
            Step::Transpose(a) => {
                let x = pick(a);
                let rank = g.ty(x).rank();
                g.add(Op::Transpose { perm: (0..rank).rev().collect() }, &[x])
            }
            Step::Where(c, a, b) => {
                let zero = g.add(Op::Constant { value: Scalar::Float(0.0), dtype: DType::F64 }, &[]).unwrap();
                let cond = g.add(Op::Binary(BinaryOp::Gt), &[pick(c), zero]);
                match cond {
                    Ok(cond) => g.add(Op::Where, &[cond, pick(a), pick(b)]),
                    Err(e) => Err(e),
                }
            }
        };
        if let Ok(id) = added {
            values.push(id);
        }
    }
    // The inputs are not outputs; every computed value is.
    for (k, &id) in values.iter().enumerate().skip(3) {
        g.add_output(&format!("v{k}"), id).unwrap();
    }
    if g.outputs().is_empty() {
        let a = values[0];
        let t = g.add(Op::Unary(UnaryOp::Tanh), &[a]).unwrap();
        g.add_output("t", t).unwrap();
    }
    g
}

fn inputs(seed: u64) -> Vec<(String, Tensor)> {
    let mut rng = Rng::new(seed);
    [("a", vec![3, 4]), ("b", vec![4]), ("c", vec![4, 3])]
        .into_iter()
        .map(|(name, shape): (&str, Vec<usize>)| {
            let n: usize = shape.iter().product();
            let values: Vec<f64> = (0..n).map(|_| 2.0 * rng.normal()).collect();
            (name.to_string(), Tensor::F64(ArrayD::from_shape_vec(IxDyn(&shape), values).unwrap()))
        })
        .collect()
}

fn outputs(graph: &Graph, inputs: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    let refs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    tx_interp::run(graph, &refs).unwrap_or_else(|e| panic!("evaluation failed: {e}\n{}", tx_ir::print_graph(graph)))
}

/// `a` and `b` agree wherever both are finite. Rewrites change rounding (and
/// stable forms change it a lot where the naive form was inaccurate), so the
/// tolerance is relative to the larger magnitude.
fn agree(a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.ty() != b.ty() {
        return Err(format!("types differ: {} vs {}", a.ty(), b.ty()));
    }
    for (k, (x, y)) in a.to_f64s().iter().zip(b.to_f64s()).enumerate() {
        if x.is_finite() && y.is_finite() {
            let tolerance = 1e-6 + 1e-6 * x.abs().max(y.abs());
            if (x - y).abs() > tolerance {
                return Err(format!("element {k}: {x} vs {y}"));
            }
        }
    }
    Ok(())
}

fn check(program: &[Step], seed: u64, level: Level) -> Result<(), TestCaseError> {
    let graph = build(program);
    let optimized = optimize(&graph, &[], &OptConfig::new(level)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let printed = tx_ir::print_graph(&optimized.graph);
    tx_ir::verify(&optimized.graph).map_err(|e| TestCaseError::fail(format!("verifier: {e}\n{printed}")))?;
    prop_assert!(optimized.report.conflicts.is_empty(), "conflicts: {:?}", optimized.report.conflicts);
    let again = optimize(&graph, &[], &OptConfig::new(level)).unwrap();
    prop_assert_eq!(&printed, &tx_ir::print_graph(&again.graph), "optimizing twice gave different graphs");
    let values = inputs(seed);
    let before = outputs(&graph, &values);
    let after = outputs(&optimized.graph, &values);
    prop_assert_eq!(before.len(), after.len());
    for ((name, x), (_, y)) in before.iter().zip(&after) {
        if let Err(why) = agree(x, y) {
            return Err(TestCaseError::fail(format!(
                "output {name} differs at {}: {why}\nbefore:\n{}\nafter:\n{printed}",
                level.name(),
                tx_ir::print_graph(&graph)
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn o2_agrees_with_o0_on_random_graphs(program in steps(), seed in 0u64..1000) {
        check(&program, seed, Level::O2)?;
    }

    #[test]
    fn o1_agrees_with_o0_on_random_graphs(program in steps(), seed in 0u64..1000) {
        check(&program, seed, Level::O1)?;
    }
}

/// A deep chain (every value used twice, so tree costs grow as 2^depth)
/// optimizes without recursion or overflow, to the stable form.
#[test]
fn deep_chains_optimize() {
    let mut g = Graph::new();
    let mut x = g.input("x", Type::new(DType::F64, Shape::new([3usize]))).unwrap();
    let one = g.add(Op::Constant { value: Scalar::Float(1.0), dtype: DType::F64 }, &[]).unwrap();
    for _ in 0..1500 {
        let e = g.add(Op::Unary(UnaryOp::Exp), &[x]).unwrap();
        let p = g.add(Op::Binary(BinaryOp::Add), &[one, e]).unwrap();
        let s = g.add(Op::Unary(UnaryOp::Log), &[p]).unwrap();
        let t = g.add(Op::Unary(UnaryOp::Tanh), &[x]).unwrap();
        x = g.add(Op::Binary(BinaryOp::Mul), &[s, t]).unwrap();
    }
    g.add_output("y", x).unwrap();
    let optimized = optimize(&g, &[], &OptConfig::new(Level::O2)).unwrap();
    tx_ir::verify(&optimized.graph).unwrap();
    assert_eq!(optimized.report.rules.get("softplus-from-log"), Some(&1500), "{:?}", optimized.report.rules);
    let x0 = Tensor::from_f64s(DType::F64, &[3], &[-0.7, 0.1, 1.3]).unwrap();
    let x0 = vec![("x".to_string(), x0)];
    let (before, after) = (outputs(&g, &x0), outputs(&optimized.graph, &x0));
    agree(&before[0].1, &after[0].1).unwrap();
}
