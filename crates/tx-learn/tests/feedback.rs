//! Feedback alignment and direct feedback alignment, checked against
//! backprop and against the rules written out by hand, in f64 on the
//! reference interpreter.

use ndarray::Axis;
use tx_ir::{BinaryOp, DType, Graph, Init, Layer, Model, NodeId, Op, ReduceOp, Shape, Type, UnaryOp};
use tx_learn::{Backprop, DirectFeedbackAlignment, Feedback, FeedbackAlignment, Rule};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

mod common;
use common::{evaluate, matrix};

const BATCH: usize = 7;

/// A tanh perceptron in f64 with the given widths (input first): layers
/// `h1`, `h2`, ... and the linear output layer `out`, trained on a mean
/// cross-entropy.
fn mlp(widths: &[usize]) -> Model {
    let mut g = Graph::new();
    let f64_matrix = |rows: tx_ir::Dim, cols: usize| Type::new(DType::F64, Shape(vec![rows, tx_ir::Dim::Known(cols)]));
    let x = g.input("x", f64_matrix(tx_ir::Dim::sym("B"), widths[0])).unwrap();
    let y = g.input("y", Type::new(DType::I64, Shape(vec![tx_ir::Dim::sym("B")]))).unwrap();
    let mut h = x;
    let mut layers = Vec::new();
    let last = widths.len() - 1;
    for l in 1..=last {
        let (n_in, n_out) = (widths[l - 1], widths[l]);
        let w = g
            .param(
                &format!("W{l}"),
                f64_matrix(tx_ir::Dim::Known(n_in), n_out),
                Init::Glorot { gain: 1.0, seed: l as u64 },
                false,
            )
            .unwrap();
        let b = g
            .param(
                &format!("b{l}"),
                Type::new(DType::F64, Shape::new([n_out])),
                Init::Normal { mean: 0.0, std: 0.1, seed: 100 + l as u64 },
                false,
            )
            .unwrap();
        let product = g.add(Op::MatMul, &[h, w]).unwrap();
        let a = g.add(Op::Binary(BinaryOp::Add), &[product, b]).unwrap();
        h = if l == last { a } else { g.add(Op::Unary(UnaryOp::Tanh), &[a]).unwrap() };
        let name = if l == last { "out".to_string() } else { format!("h{l}") };
        layers.push(Layer { name, node: h, inverse: None });
    }
    let per_example = tx_ir::compose::cross_entropy(&mut g, h, y, 1).unwrap();
    let loss = g.add(Op::Reduce { op: ReduceOp::Mean, axes: vec![0], keepdims: false }, &[per_example]).unwrap();
    Model { graph: g, loss: Some(loss), layers, ..Model::default() }
}

/// The step graph of a rule on `model`: the gradients by parameter name,
/// and the graph with the rule's additions.
fn gradients(model: &Model, rule: &dyn Rule) -> (Graph, Vec<(String, NodeId)>) {
    let mut graph = model.graph.clone();
    let grads = rule.gradients(&mut graph, model).unwrap_or_else(|e| panic!("{}: {e}", rule.name()));
    tx_ir::verify(&graph).unwrap();
    let named = grads.into_iter().map(|(param, grad)| (name_of(&graph, param), grad)).collect();
    (graph, named)
}

fn name_of(graph: &Graph, param: NodeId) -> String {
    match &graph.node(param).op {
        Op::Param { name, .. } => name.clone(),
        other => panic!("{other:?} is not a parameter"),
    }
}

/// Seeded inputs: x ~ N(0, 1), labels uniform over the classes.
fn batch(widths: &[usize], seed: u64) -> [(String, Tensor); 2] {
    let mut rng = Rng::new(seed);
    let x: Vec<f64> = (0..BATCH * widths[0]).map(|_| rng.normal()).collect();
    let classes = *widths.last().unwrap() as u64;
    let y: Vec<f64> = (0..BATCH).map(|_| rng.below(classes) as f64).collect();
    [
        ("x".to_string(), Tensor::from_f64s(DType::F64, &[BATCH, widths[0]], &x).unwrap()),
        ("y".to_string(), Tensor::from_f64s(DType::I64, &[BATCH], &y).unwrap()),
    ]
}

fn param<'a>(params: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
    &params.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no parameter `{name}`")).1
}

fn set(params: &mut [(String, Tensor)], name: &str, value: Tensor) {
    params.iter_mut().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no parameter `{name}`")).1 = value;
}

fn transpose(t: &Tensor) -> Tensor {
    Tensor::F64(matrix(t).t().to_owned().into_dyn())
}

fn assert_close(what: &str, got: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(expected).enumerate() {
        assert!((a - b).abs() <= tolerance * b.abs().max(1.0), "{what}[{i}]: {a} vs {b}");
    }
}

fn feedback_names(graph: &Graph) -> Vec<String> {
    graph.params().iter().filter(|p| p.name.ends_with(".feedback")).map(|p| p.name.clone()).collect()
}

#[test]
fn fa_with_transposed_weights_is_backprop() {
    for widths in [&[4, 5, 3][..], &[4, 5, 6, 3], &[3, 6, 6, 5, 4]] {
        let model = mlp(widths);
        let (bp_graph, bp) = gradients(&model, &Backprop);
        let (fa_graph, fa) = gradients(&model, &FeedbackAlignment::default());
        // The first layer's weight carries nothing back (its partner is the
        // input), so it has no feedback matrix.
        let expected: Vec<String> = (2..widths.len()).map(|l| format!("W{l}.feedback")).collect();
        assert_eq!(feedback_names(&fa_graph), expected);
        assert_eq!(bp.iter().map(|(n, _)| n).collect::<Vec<_>>(), fa.iter().map(|(n, _)| n).collect::<Vec<_>>());

        let mut params = tx_interp::init_params(&fa_graph);
        for l in 2..widths.len() {
            let w = transpose(param(&params, &format!("W{l}")));
            set(&mut params, &format!("W{l}.feedback"), w);
        }
        for seed in 0..3 {
            let inputs = batch(widths, seed);
            let bp_values = evaluate(&bp_graph, &inputs, &params, &bp.iter().map(|(_, g)| *g).collect::<Vec<_>>());
            let fa_values = evaluate(&fa_graph, &inputs, &params, &fa.iter().map(|(_, g)| *g).collect::<Vec<_>>());
            for ((name, _), (b, f)) in bp.iter().zip(bp_values.iter().zip(&fa_values)) {
                assert_eq!(f.to_f64s(), b.to_f64s(), "{widths:?} d{name}");
            }
        }
    }
}

#[test]
fn fa_with_random_feedback_changes_only_the_lower_layers() {
    let widths = [4, 5, 6, 3];
    let model = mlp(&widths);
    let (bp_graph, bp) = gradients(&model, &Backprop);
    let (fa_graph, fa) = gradients(&model, &FeedbackAlignment::default());
    let params = tx_interp::init_params(&fa_graph);
    let inputs = batch(&widths, 1);
    let bp_values = evaluate(&bp_graph, &inputs, &params, &bp.iter().map(|(_, g)| *g).collect::<Vec<_>>());
    let fa_values = evaluate(&fa_graph, &inputs, &params, &fa.iter().map(|(_, g)| *g).collect::<Vec<_>>());
    for ((name, _), (b, f)) in bp.iter().zip(bp_values.iter().zip(&fa_values)) {
        let (b, f) = (b.to_f64s(), f.to_f64s());
        if name.ends_with('3') {
            assert_eq!(b, f, "the output layer's d{name} goes through no feedback matrix");
        } else {
            assert_ne!(b, f, "d{name} goes back through a random matrix");
        }
    }
    // The matrices: frozen, W^T's shape, Glorot-scaled, seeded.
    let info = fa_graph.param_named("W3.feedback").unwrap();
    assert!(info.frozen);
    assert_eq!(fa_graph.ty(info.node).to_string(), "f64[3, 6]");
    let limit = (6.0f64 / 9.0).sqrt();
    let values = param(&params, "W3.feedback").to_f64s();
    assert!(values.iter().all(|v| v.abs() <= limit) && values.iter().any(|v| v.abs() > limit / 2.0), "{values:?}");
    assert_eq!(tx_interp::init_params(&gradients(&model, &FeedbackAlignment::default()).0), params, "same seed");
    let reseeded = FeedbackAlignment { feedback: Feedback { seed: 7, scale: 2.0 } };
    let other = tx_interp::init_params(&gradients(&model, &reseeded).0);
    let other_values = param(&other, "W3.feedback").to_f64s();
    assert_ne!(values, other_values, "another seed, other matrices");
    assert!(other_values.iter().any(|v| v.abs() > limit), "scale 2 widens the range");
}

/// DFA written out: e = dL/d(out) = (softmax(out) − onehot(y)) / batch;
/// each hidden layer's delta_l = (e B_l) * (1 − h_l²), dW_l = h_{l−1}^T delta_l,
/// db_l = the batch sum of delta_l; the output layer's gradients are exact.
#[test]
fn dfa_is_the_output_error_sent_through_fixed_matrices() {
    for widths in [&[4, 5, 3][..], &[4, 5, 6, 3]] {
        let model = mlp(widths);
        let (bp_graph, bp) = gradients(&model, &Backprop);
        let (dfa_graph, dfa) = gradients(&model, &DirectFeedbackAlignment::default());
        let hidden = widths.len() - 2;
        let expected: Vec<String> = (1..=hidden).map(|l| format!("h{l}.feedback")).collect();
        assert_eq!(feedback_names(&dfa_graph), expected);
        assert_eq!(bp.iter().map(|(n, _)| n).collect::<Vec<_>>(), dfa.iter().map(|(n, _)| n).collect::<Vec<_>>());
        let params = tx_interp::init_params(&dfa_graph);
        let inputs = batch(widths, 3);
        let bp_values = evaluate(&bp_graph, &inputs, &params, &bp.iter().map(|(_, g)| *g).collect::<Vec<_>>());
        let dfa_values = evaluate(&dfa_graph, &inputs, &params, &dfa.iter().map(|(_, g)| *g).collect::<Vec<_>>());
        let got = |name: &str| dfa_values[dfa.iter().position(|(n, _)| n == name).unwrap()].to_f64s();

        // The forward pass and the output error, by hand.
        let mut hs = vec![matrix(&inputs[0].1)];
        for l in 1..=hidden + 1 {
            let w = matrix(param(&params, &format!("W{l}")));
            let b = param(&params, &format!("b{l}")).to_f64s();
            let mut a = hs[l - 1].dot(&w);
            for mut row in a.rows_mut() {
                row.iter_mut().zip(&b).for_each(|(v, bias)| *v += bias);
            }
            hs.push(if l == hidden + 1 { a } else { a.mapv(f64::tanh) });
        }
        let labels = inputs[1].1.to_f64s();
        let mut error = hs[hidden + 1].clone();
        for (mut row, &label) in error.rows_mut().into_iter().zip(&labels) {
            let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let total: f64 = row.iter().map(|v| (v - max).exp()).sum();
            row.mapv_inplace(|v| (v - max).exp() / total);
            row[label as usize] -= 1.0;
        }
        error /= BATCH as f64;

        for l in 1..=hidden {
            let feedback = matrix(param(&params, &format!("h{l}.feedback")));
            let delta = error.dot(&feedback) * hs[l].mapv(|h| 1.0 - h * h);
            let d_w = hs[l - 1].t().dot(&delta);
            let d_b = delta.sum_axis(Axis(0));
            assert_close(
                &format!("{widths:?} dW{l}"),
                &got(&format!("W{l}")),
                &d_w.iter().copied().collect::<Vec<_>>(),
                1e-12,
            );
            assert_close(&format!("{widths:?} db{l}"), &got(&format!("b{l}")), &d_b.to_vec(), 1e-12);
        }
        let top = hidden + 1;
        for name in [format!("W{top}"), format!("b{top}")] {
            let exact = bp_values[bp.iter().position(|(n, _)| *n == name).unwrap()].to_f64s();
            assert_eq!(got(&name), exact, "{widths:?} d{name} is backprop's");
        }
    }
}

#[test]
fn models_that_lack_what_a_rule_needs_are_refused_with_the_reason() {
    let message = |model: &Model, rule: &dyn Rule| {
        let mut graph = model.graph.clone();
        rule.gradients(&mut graph, model).err().map(|e| e.to_string()).unwrap_or_default()
    };
    // One linear layer: nothing carries a gradient down, FA would be backprop.
    let single = mlp(&[4, 3]);
    assert!(message(&single, &FeedbackAlignment::default()).contains("this model has none"));
    assert!(message(&single, &DirectFeedbackAlignment::default()).contains("this model declares 1"));
    let mut undeclared = mlp(&[4, 5, 3]);
    undeclared.layers.clear();
    assert!(message(&undeclared, &DirectFeedbackAlignment::default()).contains("needs `layer` declarations"));
    assert!(message(&undeclared, &FeedbackAlignment::default()).is_empty(), "FA needs no layer declarations");

    // A hidden layer without a weight of its own (an extra tanh).
    let mut extra = mlp(&[4, 5, 3]);
    let squashed = extra.graph.add(Op::Unary(UnaryOp::Tanh), &[extra.layers[0].node]).unwrap();
    extra.layers.insert(1, Layer { name: "squash".to_string(), node: squashed, inverse: None });
    let said = message(&extra, &DirectFeedbackAlignment::default());
    assert!(said.contains("layer `squash` has no `matmul` with a trained parameter"), "{said}");

    // A hidden layer that is not a [batch, units] matrix.
    let mut flat = mlp(&[4, 5, 3]);
    let summed = flat
        .graph
        .add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[flat.layers[0].node])
        .unwrap();
    flat.layers.insert(1, Layer { name: "pooled".to_string(), node: summed, inverse: None });
    let said = message(&flat, &DirectFeedbackAlignment::default());
    assert!(said.contains("hidden layer `pooled` to be a [batch, units] matrix"), "{said}");
}
