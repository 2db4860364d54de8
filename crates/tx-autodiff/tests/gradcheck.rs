//! Every derivative rule against central finite differences, in f64, on
//! random inputs: broadcasting, reductions and every rank of matmul
//! included. The interpreter evaluates both the gradient graph and the
//! perturbed costs, so this checks the rules, the sweep and the summing of
//! broadcast contributions together.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use tx_autodiff::{GradConfig, GradError, grad};
use tx_ir::{AxisSlice, BinaryOp, DType, Dim, Graph, NodeId, Op, ReduceOp, Shape, Type, UnaryOp};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

/// How inputs are drawn: the domain keeps functions smooth (no log of a
/// negative, no kink of relu or abs within a finite-difference step).
#[derive(Clone, Copy)]
enum Domain {
    /// Normal values, moved away from zero by at least 0.1.
    AwayFromZero,
    /// Positive values in [0.5, 2].
    Positive,
    /// Values in (-0.9, 0.9).
    Small,
}

fn draw(rng: &mut Rng, domain: Domain) -> f64 {
    match domain {
        Domain::AwayFromZero => {
            let v = rng.normal();
            if v.abs() < 0.1 { v.signum() * 0.1 + v } else { v }
        }
        Domain::Positive => 0.5 + 1.5 * rng.uniform(),
        Domain::Small => 1.8 * rng.uniform() - 0.9,
    }
}

fn tensor(shape: &[usize], values: Vec<f64>) -> Tensor {
    Tensor::F64(ArrayD::from_shape_vec(IxDyn(shape), values).expect("values fit the shape"))
}

fn scalar_of(t: &Tensor) -> f64 {
    t.to_f64s()[0]
}

/// Builds `f` on f64 inputs of the given shapes, reduces its result to a
/// scalar with fixed random weights (so every output element matters
/// differently), differentiates, and compares with central differences.
fn check_grad(what: &str, shapes: &[&[usize]], domain: Domain, seed: u64, f: impl Fn(&mut Graph, &[NodeId]) -> NodeId) {
    assert!(try_check_grad(what, shapes, domain, seed, f), "{what}: the cost overflowed");
}

/// [`check_grad`], answering false without checking when the cost overflows.
fn try_check_grad(
    what: &str,
    shapes: &[&[usize]],
    domain: Domain,
    seed: u64,
    f: impl Fn(&mut Graph, &[NodeId]) -> NodeId,
) -> bool {
    let mut g = Graph::new();
    let inputs: Vec<NodeId> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| g.input(&format!("x{i}"), Type::new(DType::F64, Shape::new(s.iter().copied()))).unwrap())
        .collect();
    let y = f(&mut g, &inputs);
    let y_shape: Vec<usize> = g.ty(y).shape.0.iter().map(|d| d.known().expect("tests use known shapes")).collect();
    let weights = g.input("w", Type::new(DType::F64, Shape::new(y_shape.iter().copied()))).unwrap();
    let weighted = g.add(Op::Binary(BinaryOp::Mul), &[y, weights]).unwrap();
    let rank = y_shape.len();
    let cost =
        g.add(Op::Reduce { op: ReduceOp::Sum, axes: (0..rank).collect(), keepdims: false }, &[weighted]).unwrap();
    // The sum of the magnitudes of the cost's terms bounds the rounding
    // error of every evaluation of the cost.
    let magnitude = g.add(Op::Unary(UnaryOp::Abs), &[weighted]).unwrap();
    let scale =
        g.add(Op::Reduce { op: ReduceOp::Sum, axes: (0..rank).collect(), keepdims: false }, &[magnitude]).unwrap();
    // An input the result does not use must get a zero gradient, which the
    // finite differences check too.
    let all = GradConfig { allow_unused: true, ..GradConfig::default() };
    let grads = grad(&mut g, cost, &inputs, &all).unwrap_or_else(|e| panic!("{what}: {e}"));
    tx_ir::verify(&g).unwrap_or_else(|e| panic!("{what}: the gradient graph fails the verifier: {e}"));

    let mut rng = Rng::new(seed);
    let mut values: Vec<Vec<f64>> =
        shapes.iter().map(|s| (0..s.iter().product::<usize>()).map(|_| draw(&mut rng, domain)).collect()).collect();
    let w_values: Vec<f64> = (0..y_shape.iter().product::<usize>()).map(|_| rng.normal()).collect();
    let evaluate = |values: &[Vec<f64>], nodes: &[NodeId]| -> Vec<Tensor> {
        let mut named: Vec<(String, Tensor)> =
            values.iter().enumerate().map(|(i, v)| (format!("x{i}"), tensor(shapes[i], v.clone()))).collect();
        named.push(("w".to_string(), tensor(&y_shape, w_values.clone())));
        let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        tx_interp::evaluate(&g, &refs, &[], nodes).unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    let analytic: Vec<Vec<f64>> = evaluate(&values, &grads).iter().map(Tensor::to_f64s).collect();
    let scale = scalar_of(&evaluate(&values, &[scale])[0]);
    if !scale.is_finite() {
        // Overflow (random chains of exp do this): there is nothing finite
        // differences could say.
        return false;
    }
    for (i, shape) in shapes.iter().enumerate() {
        assert_eq!(analytic[i].len(), shape.iter().product::<usize>(), "{what}: gradient {i} has the wrong size");
        for k in 0..values[i].len() {
            let h = 1e-6 * values[i][k].abs().max(1.0);
            let original = values[i][k];
            let mut at = |offset: f64| {
                values[i][k] = original + offset;
                scalar_of(&evaluate(&values, &[cost])[0])
            };
            // The five-point stencil: its error is O(h^4), so steep chains
            // such as exp(exp(x)) still agree to the tolerance below.
            let (up2, up, down, down2) = (at(2.0 * h), at(h), at(-h), at(-2.0 * h));
            values[i][k] = original;
            let numeric = (8.0 * (up - down) - (up2 - down2)) / (12.0 * h);
            let got = analytic[i][k];
            let rounding = 1e-13 * scale / h;
            let tolerance = 1e-6 + 1e-5 * numeric.abs().max(got.abs()) + rounding;
            assert!(
                (got - numeric).abs() <= tolerance,
                "{what}: d cost / d x{i}[{k}] is {got}, finite differences give {numeric}"
            );
        }
    }
    true
}

fn add(g: &mut Graph, op: Op, inputs: &[NodeId]) -> NodeId {
    g.add(op, inputs).unwrap_or_else(|e| panic!("test graph: {e}"))
}

fn sum(axes: &[usize], keepdims: bool) -> Op {
    Op::Reduce { op: ReduceOp::Sum, axes: axes.to_vec(), keepdims }
}

#[test]
fn unary_ops() {
    for op in UnaryOp::ALL {
        let domain = match op {
            UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Reciprocal => Domain::Positive,
            UnaryOp::Log1p => Domain::Small,
            _ => Domain::AwayFromZero,
        };
        match tx_autodiff::flow(&Op::Unary(op), 0, DType::F64) {
            tx_autodiff::Flow::Gradient => {
                check_grad(op.name(), &[&[2, 3]], domain, 1, |g, x| add(g, Op::Unary(op), &[x[0]]));
            }
            // sign has derivative zero; not takes bools.
            tx_autodiff::Flow::Zero | tx_autodiff::Flow::Blocked => {
                assert!(matches!(op, UnaryOp::Sign | UnaryOp::Not), "{}", op.name())
            }
        }
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    let shapes: [(&[usize], &[usize]); 4] = [(&[2, 3], &[2, 3]), (&[2, 3], &[3]), (&[2, 1], &[1, 3]), (&[], &[2, 2])];
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Max, BinaryOp::Min]
    {
        for (seed, (a, b)) in shapes.iter().enumerate() {
            // pow needs a positive base; the others are fine away from zero
            // (max and min have no ties on random inputs).
            let domain = if op == BinaryOp::Pow { Domain::Positive } else { Domain::AwayFromZero };
            let what = format!("{} {a:?} {b:?}", op.name());
            check_grad(&what, &[a, b], domain, seed as u64, |g, x| add(g, Op::Binary(op), &[x[0], x[1]]));
        }
    }
}

#[test]
fn where_passes_the_gradient_to_the_chosen_branch() {
    check_grad("where", &[&[2, 3], &[3]], Domain::AwayFromZero, 3, |g, x| {
        let zero = add(g, Op::Constant { value: tx_ir::Scalar::Float(0.0), dtype: DType::F64 }, &[]);
        let cond = add(g, Op::Binary(BinaryOp::Gt), &[x[0], zero]);
        add(g, Op::Where, &[cond, x[0], x[1]])
    });
}

#[test]
fn reductions_over_every_axis_choice() {
    let cases: [(&[usize], bool); 5] =
        [(&[0], false), (&[1], true), (&[0, 2], false), (&[0, 1, 2], false), (&[], false)];
    for op in ReduceOp::ALL {
        for (axes, keepdims) in cases {
            let what = format!("{} axes {axes:?} keepdims {keepdims}", op.name());
            check_grad(&what, &[&[2, 3, 4]], Domain::AwayFromZero, 4, |g, x| {
                add(g, Op::Reduce { op, axes: axes.to_vec(), keepdims }, &[x[0]])
            });
        }
    }
}

#[test]
fn softmax_and_log_softmax_on_each_axis() {
    for axis in [0, 1] {
        check_grad("softmax", &[&[3, 4]], Domain::AwayFromZero, 5, |g, x| add(g, Op::Softmax { axis }, &[x[0]]));
        check_grad("log_softmax", &[&[3, 4]], Domain::AwayFromZero, 6, |g, x| add(g, Op::LogSoftmax { axis }, &[x[0]]));
    }
}

#[test]
fn matmul_in_every_rank_combination() {
    let cases: [(&[usize], &[usize]); 7] = [
        (&[3], &[3]),
        (&[3], &[3, 2]),
        (&[2, 3], &[3]),
        (&[2, 3], &[3, 4]),
        (&[2, 2, 3], &[3, 4]),
        (&[3], &[2, 3, 4]),
        (&[2, 1, 2, 3], &[3, 3, 2]),
    ];
    for (seed, (a, b)) in cases.iter().enumerate() {
        check_grad(&format!("matmul {a:?} @ {b:?}"), &[a, b], Domain::AwayFromZero, seed as u64, |g, x| {
            add(g, Op::MatMul, &[x[0], x[1]])
        });
    }
}

#[test]
fn movement_ops() {
    check_grad("transpose", &[&[2, 3, 4]], Domain::AwayFromZero, 7, |g, x| {
        add(g, Op::Transpose { perm: vec![2, 0, 1] }, &[x[0]])
    });
    check_grad("reshape", &[&[2, 6]], Domain::AwayFromZero, 8, |g, x| {
        add(g, Op::Reshape { shape: Shape::new([3usize, 4]) }, &[x[0]])
    });
    check_grad("broadcast_to", &[&[3, 1]], Domain::AwayFromZero, 9, |g, x| {
        add(g, Op::Broadcast { shape: Shape::new([2usize, 3, 4]) }, &[x[0]])
    });
    check_grad("concat", &[&[2, 3], &[2, 1], &[2, 0]], Domain::AwayFromZero, 10, |g, x| {
        add(g, Op::Concat { axis: 1 }, &[x[0], x[1], x[2]])
    });
    let range = |start, step, len| AxisSlice::Range { start, step, len };
    check_grad("slice", &[&[3, 5]], Domain::AwayFromZero, 11, |g, x| {
        add(g, Op::Slice { axes: vec![range(1, 1, 2), range(4, -2, 3)] }, &[x[0]])
    });
    check_grad("unslice", &[&[2, 3]], Domain::AwayFromZero, 12, |g, x| {
        add(g, Op::Unslice { axes: vec![range(1, 1, 2), range(4, -2, 3)], shape: Shape::new([3usize, 5]) }, &[x[0]])
    });
    check_grad("cast f64 to f64", &[&[2]], Domain::AwayFromZero, 13, |g, x| {
        add(g, Op::Cast { dtype: DType::F64 }, &[x[0]])
    });
}

#[test]
fn composites_and_shared_subexpressions() {
    check_grad("cross_entropy with one-hot probabilities", &[&[4, 3], &[4, 3]], Domain::AwayFromZero, 14, |g, x| {
        let p = add(g, Op::Softmax { axis: 1 }, &[x[1]]);
        tx_ir::compose::cross_entropy(g, x[0], p, 1).unwrap()
    });
    check_grad("mse", &[&[4, 3], &[3]], Domain::AwayFromZero, 15, |g, x| tx_ir::compose::mse(g, x[0], x[1]).unwrap());
    check_grad("a value used three times", &[&[3]], Domain::AwayFromZero, 16, |g, x| {
        let t = add(g, Op::Unary(UnaryOp::Tanh), &[x[0]]);
        let tt = add(g, Op::Binary(BinaryOp::Mul), &[t, t]);
        add(g, Op::Binary(BinaryOp::Add), &[tt, t])
    });
    check_grad("a dense layer", &[&[4, 3], &[3, 2], &[2]], Domain::AwayFromZero, 17, |g, x| {
        let h = add(g, Op::MatMul, &[x[0], x[1]]);
        let h = add(g, Op::Binary(BinaryOp::Add), &[h, x[2]]);
        add(g, Op::Unary(UnaryOp::Tanh), &[h])
    });
}

#[test]
fn stop_gradient_cuts_and_where_conditions_do_not_block() {
    let mut g = Graph::new();
    let x = g.input("x", Type::new(DType::F64, Shape::new([3usize]))).unwrap();
    let stopped = add(&mut g, Op::StopGradient, &[x]);
    let both = add(&mut g, Op::Binary(BinaryOp::Mul), &[stopped, x]);
    let cost = add(&mut g, sum(&[0], false), &[both]);
    let d = grad(&mut g, cost, &[x], &GradConfig::default()).unwrap();
    // d/dx sum(stop(x) * x) = stop(x) = x.
    let value = tensor(&[3], vec![1.0, -2.0, 3.0]);
    let out = tx_interp::evaluate(&g, &[("x", &value)], &[], &d).unwrap();
    assert_eq!(out[0].to_f64s(), vec![1.0, -2.0, 3.0]);
}

fn cost_graph() -> (Graph, NodeId, NodeId, NodeId) {
    let mut g = Graph::new();
    let x = g.input("x", Type::new(DType::F64, Shape::new([Dim::sym("B"), Dim::Known(3)]))).unwrap();
    let w = g.param("W", Type::new(DType::F64, Shape::new([3usize, 2])), tx_ir::Init::Fill(0.5), false).unwrap();
    let h = add(&mut g, Op::MatMul, &[x, w]);
    (g, x, w, h)
}

#[test]
fn errors_say_what_cannot_be_differentiated() {
    // argmax on the only path from W to the cost.
    let (mut g, _, w, h) = cost_graph();
    let a = add(&mut g, Op::ArgMax { axis: Some(1), keepdims: false }, &[h]);
    let f = add(&mut g, Op::Cast { dtype: DType::F64 }, &[a]);
    let cost = add(&mut g, sum(&[0], false), &[f]);
    let e = grad(&mut g, cost, &[w], &GradConfig::default()).unwrap_err();
    assert!(matches!(e, GradError::NotDifferentiable { node, operand: 0 } if node == f), "{e:?}");

    // A parameter the cost does not use, allowed or not.
    let (mut g, x, w, _) = cost_graph();
    let cost = add(&mut g, sum(&[0, 1], false), &[x]);
    assert_eq!(grad(&mut g, cost, &[w], &GradConfig::default()), Err(GradError::Unused { wrt: w }));
    let zeros = grad(&mut g, cost, &[w], &GradConfig { allow_unused: true, ..GradConfig::default() }).unwrap();
    let x_value = tensor(&[2, 3], vec![1.0; 6]);
    let w_value = tensor(&[3, 2], vec![0.5; 6]);
    let out = tx_interp::evaluate(&g, &[("x", &x_value)], &[("W", &w_value)], &zeros).unwrap();
    assert_eq!(out[0].to_f64s(), vec![0.0; 6]);

    // The cost must be a float scalar; wrt must be float.
    let (mut g, _, w, h) = cost_graph();
    assert!(matches!(grad(&mut g, h, &[w], &GradConfig::default()), Err(GradError::BadCost { .. })));
    let labels = g.input("y", Type::new(DType::I64, Shape::new([Dim::sym("B")]))).unwrap();
    let cost = add(&mut g, sum(&[0, 1], false), &[h]);
    assert_eq!(grad(&mut g, cost, &[labels], &GradConfig::default()), Err(GradError::NotFloat { wrt: labels }));
}

#[test]
fn symbolic_batch_sizes_and_means() {
    // mean over a symbolic axis counts its elements when the graph runs.
    let (mut g, x, w, h) = cost_graph();
    let t = add(&mut g, Op::Unary(UnaryOp::Tanh), &[h]);
    let cost = add(&mut g, Op::Reduce { op: ReduceOp::Mean, axes: vec![0, 1], keepdims: false }, &[t]);
    let d = grad(&mut g, cost, &[w, x], &GradConfig::default()).unwrap();
    tx_ir::verify(&g).unwrap();
    let x_value = tensor(&[2, 3], vec![0.1, 0.2, 0.3, -0.1, 0.5, 0.0]);
    let w_value = tensor(&[3, 2], vec![0.5; 6]);
    let out = tx_interp::evaluate(&g, &[("x", &x_value)], &[("W", &w_value)], &d).unwrap();
    // By hand: h = x @ W has rows (0.3, 0.3) and (0.2, 0.2); dcost/dh = (1 - tanh(h)^2) / 4.
    let dh = |v: f64| (1.0 - v.tanh().powi(2)) / 4.0;
    let (a, b) = (dh(0.3), dh(0.2));
    let expect_w = [0.1 * a - 0.1 * b, 0.1 * a - 0.1 * b, 0.2 * a + 0.5 * b, 0.2 * a + 0.5 * b, 0.3 * a, 0.3 * a];
    for (got, want) in out[0].to_f64s().iter().zip(expect_w) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    assert_eq!(out[1].shape(), &[2, 3]);
}

#[test]
fn gradients_of_gradients_match_finite_differences_of_gradients() {
    // Hessian-vector product by reverse over reverse: d/dx (grad f(x) . v),
    // checked against (grad f(x + h v) - grad f(x - h v)) / 2h.
    let mut g = Graph::new();
    let x = g.input("x", Type::new(DType::F64, Shape::new([4usize]))).unwrap();
    let v = g.input("v", Type::new(DType::F64, Shape::new([4usize]))).unwrap();
    let t = add(&mut g, Op::Unary(UnaryOp::Tanh), &[x]);
    let s = add(&mut g, Op::Unary(UnaryOp::Softplus), &[x]);
    let ts = add(&mut g, Op::Binary(BinaryOp::Mul), &[t, s]);
    let lse = add(&mut g, Op::Reduce { op: ReduceOp::LogSumExp, axes: vec![0], keepdims: false }, &[ts]);
    let dx = grad(&mut g, lse, &[x], &GradConfig::default()).unwrap()[0];
    let dxv = add(&mut g, Op::Binary(BinaryOp::Mul), &[dx, v]);
    let dot = add(&mut g, sum(&[0], false), &[dxv]);
    let hv = grad(&mut g, dot, &[x], &GradConfig::default()).unwrap()[0];
    tx_ir::verify(&g).unwrap();

    let x0 = [0.3, -0.7, 1.1, 0.05];
    let v0 = [1.0, -0.5, 0.25, 2.0];
    let eval = |xs: &[f64], node: NodeId| {
        let (xt, vt) = (tensor(&[4], xs.to_vec()), tensor(&[4], v0.to_vec()));
        tx_interp::evaluate(&g, &[("x", &xt), ("v", &vt)], &[], &[node]).unwrap()[0].to_f64s()
    };
    let h = 1e-6;
    let up: Vec<f64> = x0.iter().zip(v0).map(|(x, v)| x + h * v).collect();
    let down: Vec<f64> = x0.iter().zip(v0).map(|(x, v)| x - h * v).collect();
    let (gu, gd) = (eval(&up, dx), eval(&down, dx));
    let analytic = eval(&x0, hv);
    for k in 0..4 {
        let numeric = (gu[k] - gd[k]) / (2.0 * h);
        assert!((analytic[k] - numeric).abs() < 1e-6, "Hv[{k}] = {} vs {numeric}", analytic[k]);
    }
}

/// Random small graphs of elementwise ops and reductions: the gradient of
/// every one agrees with finite differences.
#[derive(Clone, Debug)]
enum Step {
    Unary(usize),
    Binary(usize, usize),
    Reduce(usize, bool),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (0usize..8).prop_map(Step::Unary),
        (0usize..5, 0usize..8).prop_map(|(op, other)| Step::Binary(op, other)),
        (0usize..2, any::<bool>()).prop_map(|(axis, keep)| Step::Reduce(axis, keep)),
    ];
    prop::collection::vec(step, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_graphs_have_correct_gradients(program in steps(), seed in 0u64..1000) {
        let smooth = [UnaryOp::Tanh, UnaryOp::Sigmoid, UnaryOp::Softplus, UnaryOp::Sin, UnaryOp::Cos,
                      UnaryOp::Exp, UnaryOp::Square, UnaryOp::Neg];
        let binary = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Max, BinaryOp::Min];
        let checked = try_check_grad(&format!("{program:?}"), &[&[2, 3], &[3]], Domain::Small, seed, |g, x| {
            let mut values: Vec<NodeId> = x.to_vec();
            for step in &program {
                let last = *values.last().unwrap();
                let next = match *step {
                    Step::Unary(op) => add(g, Op::Unary(smooth[op]), &[last]),
                    Step::Binary(op, other) => {
                        // The first value from `other` on whose shape broadcasts
                        // with the last one (the last itself always does).
                        let n = values.len();
                        let partner = (0..n)
                            .map(|k| values[(other + k) % n])
                            .find(|&v| tx_ir::broadcast_shapes(&g.ty(last).shape, &g.ty(v).shape).is_ok())
                            .unwrap_or(last);
                        add(g, Op::Binary(binary[op]), &[last, partner])
                    }
                    Step::Reduce(axis, keepdims) => {
                        let rank = g.ty(last).rank();
                        if rank == 0 { last } else { add(g, sum(&[axis % rank], keepdims), &[last]) }
                    }
                };
                values.push(next);
            }
            *values.last().unwrap()
        });
        prop_assume!(checked, "the cost overflowed");
    }
}

/// A small vector function of two inputs for the Jacobian tests:
/// y = tanh(x @ W) * softplus(x)[:, :2], f64[2, 2].
fn vector_function() -> (Graph, NodeId, NodeId, NodeId) {
    let mut g = Graph::new();
    let x = g.input("x", Type::new(DType::F64, Shape::new([2usize, 3]))).unwrap();
    let w = g.input("W", Type::new(DType::F64, Shape::new([3usize, 2]))).unwrap();
    let h = add(&mut g, Op::MatMul, &[x, w]);
    let t = add(&mut g, Op::Unary(UnaryOp::Tanh), &[h]);
    let s = add(&mut g, Op::Unary(UnaryOp::Softplus), &[x]);
    let range = AxisSlice::Range { start: 0, step: 1, len: 2 };
    let s2 = add(&mut g, Op::Slice { axes: vec![AxisSlice::Full, range] }, &[s]);
    let y = add(&mut g, Op::Binary(BinaryOp::Mul), &[t, s2]);
    (g, x, w, y)
}

const X0: [f64; 6] = [0.3, -0.7, 1.1, 0.05, -0.4, 0.9];
const W0: [f64; 6] = [0.5, -0.2, 0.1, 0.8, -0.6, 0.3];

fn eval_at(g: &Graph, x: &[f64], w: &[f64], node: NodeId, extra: &[(&str, &Tensor)]) -> Vec<f64> {
    let (xt, wt) = (tensor(&[2, 3], x.to_vec()), tensor(&[3, 2], w.to_vec()));
    let mut inputs = vec![("x", &xt), ("W", &wt)];
    inputs.extend_from_slice(extra);
    tx_interp::evaluate(g, &inputs, &[], &[node]).unwrap()[0].to_f64s()
}

#[test]
fn jacobians_match_finite_differences() {
    let (mut g, x, w, y) = vector_function();
    let jx = tx_autodiff::jacobian(&mut g, y, x).unwrap();
    let jw = tx_autodiff::jacobian(&mut g, y, w).unwrap();
    tx_ir::verify(&g).unwrap();
    assert_eq!(g.ty(jx).shape, Shape::new([2usize, 2, 2, 3]));
    assert_eq!(g.ty(jw).shape, Shape::new([2usize, 2, 3, 2]));
    let (jx_value, jw_value) = (eval_at(&g, &X0, &W0, jx, &[]), eval_at(&g, &X0, &W0, jw, &[]));
    let h = 1e-6;
    for (which, analytic) in [(0, &jx_value), (1, &jw_value)] {
        for k in 0..6 {
            let (mut up, mut down) = ((X0, W0), (X0, W0));
            if which == 0 {
                up.0[k] += h;
                down.0[k] -= h;
            } else {
                up.1[k] += h;
                down.1[k] -= h;
            }
            let (yu, yd) = (eval_at(&g, &up.0, &up.1, y, &[]), eval_at(&g, &down.0, &down.1, y, &[]));
            for i in 0..4 {
                let numeric = (yu[i] - yd[i]) / (2.0 * h);
                let got = analytic[i * 6 + k];
                assert!((got - numeric).abs() < 1e-7, "J[{which}][{i}, {k}] = {got}, finite differences {numeric}");
            }
        }
    }
}

#[test]
fn jacobian_vector_products_match_directional_differences() {
    let (mut g, x, w, y) = vector_function();
    let vx = g.input("vx", Type::new(DType::F64, Shape::new([2usize, 3]))).unwrap();
    let vw = g.input("vw", Type::new(DType::F64, Shape::new([3usize, 2]))).unwrap();
    let jv = tx_autodiff::jvp(&mut g, y, &[x, w], &[vx, vw]).unwrap();
    tx_ir::verify(&g).unwrap();
    let dx = [1.0, -0.5, 0.25, 2.0, 0.0, -1.0];
    let dw = [0.3, 0.3, -0.2, 0.1, 0.0, 0.5];
    let (vxt, vwt) = (tensor(&[2, 3], dx.to_vec()), tensor(&[3, 2], dw.to_vec()));
    let analytic = eval_at(&g, &X0, &W0, jv, &[("vx", &vxt), ("vw", &vwt)]);
    let h = 1e-6;
    let shifted = |sign: f64| {
        let x: Vec<f64> = X0.iter().zip(dx).map(|(a, d)| a + sign * h * d).collect();
        let w: Vec<f64> = W0.iter().zip(dw).map(|(a, d)| a + sign * h * d).collect();
        eval_at(&g, &x, &w, y, &[])
    };
    let (up, down) = (shifted(1.0), shifted(-1.0));
    for i in 0..4 {
        let numeric = (up[i] - down[i]) / (2.0 * h);
        assert!((analytic[i] - numeric).abs() < 1e-7, "Jv[{i}] = {} vs {numeric}", analytic[i]);
    }
}

#[test]
fn hessian_vector_products_match_differences_of_gradients() {
    let (mut g, x, _, y) = vector_function();
    let cost = add(&mut g, sum(&[0, 1], false), &[y]);
    let v = g.input("v", Type::new(DType::F64, Shape::new([2usize, 3]))).unwrap();
    let hv = tx_autodiff::hvp(&mut g, cost, x, v).unwrap();
    let gx = grad(&mut g, cost, &[x], &GradConfig::default()).unwrap()[0];
    tx_ir::verify(&g).unwrap();
    let dv = [0.5, 1.0, -1.0, 0.2, 0.3, -0.7];
    let vt = tensor(&[2, 3], dv.to_vec());
    let analytic = eval_at(&g, &X0, &W0, hv, &[("v", &vt)]);
    let h = 1e-6;
    let at = |sign: f64| {
        let x: Vec<f64> = X0.iter().zip(dv).map(|(a, d)| a + sign * h * d).collect();
        eval_at(&g, &x, &W0, gx, &[])
    };
    let (up, down) = (at(1.0), at(-1.0));
    for k in 0..6 {
        let numeric = (up[k] - down[k]) / (2.0 * h);
        assert!((analytic[k] - numeric).abs() < 1e-6, "Hv[{k}] = {} vs {numeric}", analytic[k]);
    }
}
