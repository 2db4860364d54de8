//! The target-propagation family, checked in f64 on the reference
//! interpreter: DTP's difference correction, TP's targets through exact
//! inverses against the analytic ones, the hidden layers' local gradients
//! and the inverse losses' gradients against finite differences of the
//! equations written out by hand, the phases of the step, and the models
//! each rule refuses.

use std::collections::HashMap;

use ndarray::{Array1, Array2, Axis, Ix1};
use tx_ir::{BinaryOp, DType, Dim, Graph, Init, Inverse, Layer, Model, NodeId, Op, ReduceOp, Shape, Type, UnaryOp};
use tx_learn::{PhaseSchedule, Rule, RunShape, TargetPropagation, TrainConfig, Variant, build_steps};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

mod common;
use common::{evaluate, matrix};

const BATCH: usize = 6;

/// How the test network is built.
#[derive(Clone, Copy)]
struct Shape_ {
    /// tanh hidden layers with biases, inverses tanh(t @ V + c); else
    /// linear layers and inverses without biases (t @ V).
    tanh: bool,
    /// The output layer has an inverse too (SDTP).
    output_inverse: bool,
}

fn f64_type(rows: Dim, cols: usize) -> Type {
    Type::new(DType::F64, Shape(vec![rows, Dim::Known(cols)]))
}

/// A perceptron with layers `h1`, `h2`, ... and the linear output layer
/// `out` (a mean cross-entropy on it), each layer from the second on with
/// an inverse whose parameters are `V<l>` (and `c<l>`).
fn network(widths: &[usize], shape: Shape_) -> Model {
    let mut g = Graph::new();
    let batch = Dim::sym("B");
    let x = g.input("x", f64_type(batch.clone(), widths[0])).unwrap();
    let y = g.input("y", Type::new(DType::I64, Shape(vec![batch.clone()]))).unwrap();
    let last = widths.len() - 1;
    let mut h = x;
    let mut layers = Vec::new();
    for l in 1..=last {
        let (n_in, n_out) = (widths[l - 1], widths[l]);
        let w = g.param(&format!("W{l}"), f64_type(Dim::Known(n_in), n_out), glorot(l as u64), false).unwrap();
        let mut a = g.add(Op::MatMul, &[h, w]).unwrap();
        if shape.tanh {
            let b = g
                .param(&format!("b{l}"), Type::new(DType::F64, Shape::new([n_out])), normal(100 + l as u64), false)
                .unwrap();
            a = g.add(Op::Binary(BinaryOp::Add), &[a, b]).unwrap();
        }
        h = if l < last && shape.tanh { g.add(Op::Unary(UnaryOp::Tanh), &[a]).unwrap() } else { a };
        let has_inverse = l >= 2 && (l < last || shape.output_inverse);
        let inverse = has_inverse.then(|| {
            // The model declares the inverse's parameters; the inverse's own
            // graph refers to them by name.
            let v_ty = f64_type(Dim::Known(n_out), n_in);
            let c_ty = Type::new(DType::F64, Shape::new([n_in]));
            g.param(&format!("V{l}"), v_ty.clone(), glorot(200 + l as u64), false).unwrap();
            if shape.tanh {
                g.param(&format!("c{l}"), c_ty.clone(), normal(300 + l as u64), false).unwrap();
            }
            let mut sub = Graph::new();
            let t = sub.input("t", f64_type(batch.clone(), n_out)).unwrap();
            let v = sub.param(&format!("V{l}"), v_ty, Init::Fill(0.0), false).unwrap();
            let mut r = sub.add(Op::MatMul, &[t, v]).unwrap();
            if shape.tanh {
                let c = sub.param(&format!("c{l}"), c_ty, Init::Fill(0.0), false).unwrap();
                r = sub.add(Op::Binary(BinaryOp::Add), &[r, c]).unwrap();
                r = sub.add(Op::Unary(UnaryOp::Tanh), &[r]).unwrap();
            }
            Inverse { graph: sub, arg: t, result: r }
        });
        let name = if l == last { "out".to_string() } else { format!("h{l}") };
        layers.push(Layer { name, node: h, inverse });
    }
    let per_example = tx_ir::compose::cross_entropy(&mut g, h, y, 1).unwrap();
    let loss = g.add(Op::Reduce { op: ReduceOp::Mean, axes: vec![0], keepdims: false }, &[per_example]).unwrap();
    Model { graph: g, loss: Some(loss), layers, ..Model::default() }
}

fn glorot(seed: u64) -> Init {
    Init::Glorot { gain: 1.0, seed }
}

fn normal(seed: u64) -> Init {
    Init::Normal { mean: 0.0, std: 0.3, seed }
}

fn rule(variant: Variant) -> TargetPropagation {
    TargetPropagation::new(variant)
}

/// Seeded inputs: x ~ N(0, 1), labels uniform over the classes, and a
/// standard normal draw for every `noise.<layer>` input `graph` declares.
fn inputs(graph: &Graph, widths: &[usize], seed: u64) -> Vec<(String, Tensor)> {
    let mut rng = Rng::new(seed);
    let mut draw = |shape: &[usize]| -> Vec<f64> { (0..shape.iter().product()).map(|_| rng.normal()).collect() };
    let x = draw(&[BATCH, widths[0]]);
    let mut all = vec![("x".to_string(), Tensor::from_f64s(DType::F64, &[BATCH, widths[0]], &x).unwrap())];
    for &id in graph.inputs() {
        if let Op::Input { name, ty } = &graph.node(id).op
            && name.starts_with("noise.")
        {
            let shape: Vec<usize> = ty.shape.0.iter().map(|d| d.known().unwrap_or(BATCH)).collect();
            all.push((name.clone(), Tensor::from_f64s(DType::F64, &shape, &draw(&shape)).unwrap()));
        }
    }
    let classes = *widths.last().unwrap() as u64;
    let mut rng = Rng::new(seed + 1000);
    let y: Vec<f64> = (0..BATCH).map(|_| rng.below(classes) as f64).collect();
    all.push(("y".to_string(), Tensor::from_f64s(DType::I64, &[BATCH], &y).unwrap()));
    all
}

fn vector(t: &Tensor) -> Array1<f64> {
    match t {
        Tensor::F64(a) => a.clone().into_dimensionality::<Ix1>().unwrap(),
        other => panic!("expected an f64 vector, got {}", other.ty()),
    }
}

fn name_of(graph: &Graph, param: NodeId) -> String {
    match &graph.node(param).op {
        Op::Param { name, .. } => name.clone(),
        other => panic!("{other:?} is not a parameter"),
    }
}

fn assert_close(what: &str, got: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(expected).enumerate() {
        assert!((a - b).abs() <= tolerance * b.abs().max(1.0), "{what}[{i}]: {a} vs {b}");
    }
}

/// The hidden layers' values h_1..h_{M-1} as the graph computes them.
fn hidden_values(
    graph: &Graph,
    model: &Model,
    inputs: &[(String, Tensor)],
    params: &[(String, Tensor)],
) -> Vec<Tensor> {
    let hidden = &model.layers[..model.layers.len() - 1];
    evaluate(graph, inputs, params, &hidden.iter().map(|l| l.node).collect::<Vec<_>>())
}

/// DTP: ĥ_{i-1} = h_{i-1} + (g_i(ĥ_i) − g_i(h_i)) is exactly h_{i-1} when
/// ĥ_i = h_i, whatever the inverses: with a zero top step every target is
/// its layer's value, bit for bit.
#[test]
fn dtp_targets_equal_the_layers_when_the_top_target_does() {
    for widths in [&[4, 5, 6, 3][..], &[3, 6, 5, 4, 6, 3]] {
        let model = network(widths, Shape_ { tanh: true, output_inverse: false });
        let mut dtp = rule(Variant::Dtp);
        dtp.settings.top_step = 0.0;
        let mut graph = model.graph.clone();
        let targets = dtp.targets(&mut graph, &model).unwrap();
        tx_ir::verify(&graph).unwrap();
        assert_eq!(targets.len(), widths.len() - 2);
        let params = tx_interp::init_params(&graph);
        for seed in 0..3 {
            let inputs = inputs(&graph, widths, seed);
            let got = evaluate(&graph, &inputs, &params, &targets);
            let expected = hidden_values(&graph, &model, &inputs, &params);
            for (i, (t, h)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(t.to_f64s(), h.to_f64s(), "{widths:?}: target of h{}", i + 1);
            }
        }
        // With a top step, the targets move.
        let mut graph = model.graph.clone();
        let targets = rule(Variant::Dtp).targets(&mut graph, &model).unwrap();
        let inputs = inputs(&graph, widths, 0);
        let got = evaluate(&graph, &inputs, &params, &targets);
        let expected = hidden_values(&graph, &model, &inputs, &params);
        assert_ne!(got[0].to_f64s(), expected[0].to_f64s());
    }
}

/// The inverse of a square matrix by Gauss-Jordan elimination with partial
/// pivoting.
fn inverse(a: &Array2<f64>) -> Array2<f64> {
    let n = a.nrows();
    let mut m = ndarray::concatenate(Axis(1), &[a.view(), Array2::eye(n).view()]).unwrap();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| m[[i, col]].abs().total_cmp(&m[[j, col]].abs())).unwrap();
        for k in 0..2 * n {
            m.swap([col, k], [pivot, k]);
        }
        let p = m[[col, col]];
        assert!(p.abs() > 1e-6, "a singular test matrix");
        m.row_mut(col).mapv_inplace(|v| v / p);
        for row in 0..n {
            if row != col {
                let factor = m[[row, col]];
                let pivot_row = m.row(col).to_owned();
                m.row_mut(row).zip_mut_with(&pivot_row, |v, p| *v -= factor * p);
            }
        }
    }
    m.slice(ndarray::s![.., n..]).to_owned()
}

/// Softmax of every row.
fn softmax(a: &Array2<f64>) -> Array2<f64> {
    let mut p = a.clone();
    for mut row in p.rows_mut() {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let total = row.sum();
        row.mapv_inplace(|v| v / total);
    }
    p
}

fn one_hot(labels: &[f64], classes: usize) -> Array2<f64> {
    let mut m = Array2::zeros((labels.len(), classes));
    for (i, &label) in labels.iter().enumerate() {
        m[[i, label as usize]] = 1.0;
    }
    m
}

/// Linear layers h_i = h_{i-1} W_i with exact inverses g_i(t) = t W_i⁻¹:
/// TP's targets are the analytic ones, ĥ_{i-1} = ĥ_i W_i⁻¹ from
/// ĥ_{M-1} = h_{M-1} − η (softmax(out) − onehot(y)) W_M^T / B, and DTP's
/// equal TP's (the difference correction corrects nothing).
#[test]
fn tp_targets_through_exact_inverses_are_the_analytic_ones() {
    let widths = [4, 5, 5, 5, 3];
    let model = network(&widths, Shape_ { tanh: false, output_inverse: false });
    for variant in [Variant::Tp, Variant::Dtp] {
        let mut tp = rule(variant);
        tp.settings.top_step = 0.7;
        let mut graph = model.graph.clone();
        let targets = tp.targets(&mut graph, &model).unwrap();
        let mut params = tx_interp::init_params(&graph);
        let weights: HashMap<usize, Array2<f64>> = (1..widths.len())
            .map(|l| (l, matrix(&params.iter().find(|(n, _)| *n == format!("W{l}")).unwrap().1)))
            .collect();
        for l in 2..widths.len() - 1 {
            let exact = Tensor::F64(inverse(&weights[&l]).into_dyn());
            params.iter_mut().find(|(n, _)| *n == format!("V{l}")).unwrap().1 = exact;
        }
        let inputs = inputs(&graph, &widths, 4);
        let got = evaluate(&graph, &inputs, &params, &targets);

        // By hand.
        let mut hs = vec![matrix(&inputs[0].1)];
        for l in 1..widths.len() {
            hs.push(hs[l - 1].dot(&weights[&l]));
        }
        let top = widths.len() - 1;
        let labels = inputs.iter().find(|(n, _)| n == "y").unwrap().1.to_f64s();
        let error = (softmax(&hs[top]) - one_hot(&labels, widths[top])) / BATCH as f64;
        let mut expected = vec![&hs[top - 1] - &(error.dot(&weights[&top].t()) * 0.7)];
        for l in (2..top).rev() {
            let below = expected[expected.len() - 1].dot(&inverse(&weights[&l]));
            expected.push(below);
        }
        expected.reverse();
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            let e: Vec<f64> = e.iter().copied().collect();
            assert_close(&format!("{variant:?}: target of h{}", i + 1), &g.to_f64s(), &e, 1e-9);
        }
    }
}

/// The forward pass by hand: h_1..h_M of the tanh network (h_M the logits).
fn forward(params: &HashMap<String, Tensor>, x: &Array2<f64>, layers: usize) -> Vec<Array2<f64>> {
    let mut hs = vec![x.clone()];
    for l in 1..=layers {
        let a = dense(params, l, &hs[l - 1]);
        hs.push(if l < layers { a.mapv(f64::tanh) } else { a });
    }
    hs
}

/// h W_l + b_l.
fn dense(params: &HashMap<String, Tensor>, l: usize, h: &Array2<f64>) -> Array2<f64> {
    h.dot(&matrix(&params[&format!("W{l}")])) + &vector(&params[&format!("b{l}")])
}

/// g_l(t) = tanh(t V_l + c_l), with AO-SDTP's features joined: + z U.
fn inverse_of(
    params: &HashMap<String, Tensor>,
    l: usize,
    t: &Array2<f64>,
    joined: Option<&Array2<f64>>,
) -> Array2<f64> {
    let mut a = t.dot(&matrix(&params[&format!("V{l}")])) + &vector(&params[&format!("c{l}")]);
    if let Some(z) = joined {
        a = a + z.dot(&matrix(&params["out.aux_inverse"]));
    }
    a.mapv(f64::tanh)
}

/// ||a − b||²: summed over units, averaged over the batch.
fn distance(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    (a - b).mapv(|d| d * d).sum() / a.nrows() as f64
}

/// The inverse losses of TARGETPROP.md written out: TP and DTP
/// Σ ||g_l(f_l(h̃)) − h̃||² over l = 2..M−1; SDTP and AO-SDTP
/// Σ ||h_{l-1} − g_l(f_l(h̃))||² over l = 2..M, f_M the class distribution
/// (and, for AO-SDTP, [f_M, tanh(h̃ R)] into g_M); h̃ = h_{l-1} + σ ε_l.
fn inverse_loss_by_hand(
    variant: Variant,
    params: &HashMap<String, Tensor>,
    inputs: &[(String, Tensor)],
    layers: usize,
    sigma: f64,
) -> f64 {
    let input = |name: &str| matrix(&inputs.iter().find(|(n, _)| n == name).unwrap().1);
    let hs = forward(params, &input("x"), layers);
    let label_target = matches!(variant, Variant::Sdtp | Variant::AoSdtp);
    let top = if label_target { layers } else { layers - 1 };
    let mut total = 0.0;
    for l in 2..=top {
        let name = if l == layers { "out".to_string() } else { format!("h{l}") };
        let corrupted = &hs[l - 1] + &(input(&format!("noise.{name}")) * sigma);
        let a = dense(params, l, &corrupted);
        let f = if l < layers { a.mapv(f64::tanh) } else { softmax(&a) };
        let features = (variant == Variant::AoSdtp && l == layers)
            .then(|| corrupted.dot(&matrix(&params["out.aux"])).mapv(f64::tanh));
        let reconstruction = inverse_of(params, l, &f, features.as_ref());
        total +=
            if label_target { distance(&hs[l - 1], &reconstruction) } else { distance(&reconstruction, &corrupted) };
    }
    total
}

/// The inverse losses' gradients with respect to every inverse parameter
/// (V_l, c_l, and AO-SDTP's joining weight) match central differences of
/// the losses written out by hand.
#[test]
fn inverse_loss_gradients_match_finite_differences() {
    let widths = [4, 5, 6, 5, 3];
    let layers = widths.len() - 1;
    for variant in [Variant::Tp, Variant::Dtp, Variant::Sdtp, Variant::AoSdtp] {
        let label_target = matches!(variant, Variant::Sdtp | Variant::AoSdtp);
        let model = network(&widths, Shape_ { tanh: true, output_inverse: label_target });
        let mut tp = rule(variant);
        tp.settings.noise = vec![0.3];
        tp.settings.aux_units = 4;
        let mut graph = model.graph.clone();
        let epoch = graph.add(Op::Constant { value: tx_ir::Scalar::Float(0.0), dtype: DType::F32 }, &[]).unwrap();
        let grads = tp.inverse_gradients(&mut graph, &model, epoch).unwrap();
        tx_ir::verify(&graph).unwrap();
        let names: Vec<String> = grads.iter().map(|(p, _)| name_of(&graph, *p)).collect();
        let mut expected_names: Vec<String> = Vec::new();
        for l in 2..=if label_target { layers } else { layers - 1 } {
            expected_names.extend([format!("V{l}"), format!("c{l}")]);
        }
        if variant == Variant::AoSdtp {
            expected_names.push("out.aux_inverse".to_string());
        }
        assert_eq!(names, expected_names, "{variant:?}");
        let noise: Vec<String> = graph
            .inputs()
            .iter()
            .filter_map(|&id| match &graph.node(id).op {
                Op::Input { name, .. } if name.starts_with("noise.") => Some(name.clone()),
                _ => None,
            })
            .collect();
        let expected_noise: Vec<&str> =
            if label_target { vec!["noise.h2", "noise.h3", "noise.out"] } else { vec!["noise.h2", "noise.h3"] };
        assert_eq!(noise, expected_noise, "{variant:?}");

        let params = tx_interp::init_params(&graph);
        let inputs = inputs(&graph, &widths, 11);
        let values = evaluate(&graph, &inputs, &params, &grads.iter().map(|(_, g)| *g).collect::<Vec<_>>());
        let mut by_name: HashMap<String, Tensor> = params.iter().cloned().collect();
        for (name, value) in names.iter().zip(&values) {
            let original = by_name[name].clone();
            let flat = original.to_f64s();
            let mut differences = Vec::with_capacity(flat.len());
            for k in 0..flat.len() {
                let mut at = |delta: f64| {
                    let mut nudged = flat.clone();
                    nudged[k] += delta;
                    by_name.insert(name.clone(), Tensor::from_f64s(DType::F64, original.shape(), &nudged).unwrap());
                    inverse_loss_by_hand(variant, &by_name, &inputs, layers, 0.3)
                };
                let h = 1e-6;
                differences.push((at(h) - at(-h)) / (2.0 * h));
            }
            by_name.insert(name.clone(), original);
            assert_close(&format!("{variant:?} d{name}"), &value.to_f64s(), &differences, 1e-6);
        }
    }
}

/// A hidden layer's gradient is that of ||f_i(h_{i-1}; θ_i) − ĥ_i||² with
/// h_{i-1} and the target held: central differences over W_i and b_i with
/// the forward pass written out by hand; the output layer's is the loss's.
#[test]
fn forward_gradients_are_those_of_the_local_losses() {
    let widths = [4, 5, 6, 3];
    let model = network(&widths, Shape_ { tanh: true, output_inverse: false });
    let dtp = rule(Variant::Dtp);
    let mut graph = model.graph.clone();
    let grads = dtp.gradients(&mut graph, &model).unwrap();
    let names: Vec<String> = grads.iter().map(|(p, _)| name_of(&graph, *p)).collect();
    assert_eq!(names, ["W1", "b1", "W2", "b2", "W3", "b3"], "declaration order; no inverse parameter");
    let mut check_graph = model.graph.clone();
    let targets = dtp.targets(&mut check_graph, &model).unwrap();
    let params = tx_interp::init_params(&graph);
    let inputs = inputs(&graph, &widths, 5);
    let values = evaluate(&graph, &inputs, &params, &grads.iter().map(|(_, g)| *g).collect::<Vec<_>>());
    let targets: Vec<Array2<f64>> = evaluate(&check_graph, &inputs, &params, &targets).iter().map(matrix).collect();
    let mut by_name: HashMap<String, Tensor> = params.iter().cloned().collect();
    let x = matrix(&inputs[0].1);
    let hs = forward(&by_name, &x, widths.len() - 1);
    for (name, value) in names.iter().zip(&values) {
        let l: usize = name[1..].parse().unwrap();
        if l == widths.len() - 1 {
            continue; // the output layer: backprop's gradient, checked by the optimizer tests
        }
        let original = by_name[name].clone();
        let flat = original.to_f64s();
        let mut differences = Vec::new();
        for k in 0..flat.len() {
            let mut at = |delta: f64| {
                let mut nudged = flat.clone();
                nudged[k] += delta;
                by_name.insert(name.clone(), Tensor::from_f64s(DType::F64, original.shape(), &nudged).unwrap());
                distance(&dense(&by_name, l, &hs[l - 1]).mapv(f64::tanh), &targets[l - 1])
            };
            differences.push((at(1e-6) - at(-1e-6)) / 2e-6);
        }
        by_name.insert(name.clone(), original);
        assert_close(&format!("d{name}"), &value.to_f64s(), &differences, 1e-6);
    }
}

/// `reference_quirks`: the bias of the fifth hidden layer and the weight of
/// the sixth get no update, as in the DTP reference code.
#[test]
fn reference_quirks_leave_b5_and_w6_untrained() {
    let widths = [3, 4, 4, 4, 4, 4, 4, 4, 2];
    let model = network(&widths, Shape_ { tanh: true, output_inverse: false });
    let trained = |quirks: bool| {
        let mut dtp = rule(Variant::Dtp);
        dtp.settings.reference_quirks = quirks;
        let mut graph = model.graph.clone();
        let grads = dtp.gradients(&mut graph, &model).unwrap();
        grads.iter().map(|(p, _)| name_of(&graph, *p)).collect::<Vec<_>>()
    };
    let all = trained(false);
    assert_eq!(all.len(), 16);
    let quirky = trained(true);
    let missing: Vec<&String> = all.iter().filter(|n| !quirky.contains(n)).collect();
    assert_eq!(missing, ["b5", "W6"]);
    let short = network(&[3, 4, 4, 2], Shape_ { tanh: true, output_inverse: false });
    let mut dtp = rule(Variant::Dtp);
    dtp.settings.reference_quirks = true;
    let error = dtp.gradients(&mut short.graph.clone(), &short).unwrap_err().to_string();
    assert!(error.contains("at least six hidden layers; this model has 2"), "{error}");
}

/// The step of a rule with inverses: `alternating` gives an inverse phase
/// and a forward phase with counters of their own, `parallel` one phase;
/// the noise inputs are listed for the driver; the optimizers are the
/// block's `inverse` and `forward`.
#[test]
fn steps_have_the_phases_of_the_schedule() {
    let widths = [4, 5, 6, 3];
    let model = network(&widths, Shape_ { tanh: true, output_inverse: false });
    let mut config = TrainConfig::default_for("dtp");
    config.inverse = tx_learn::Optimizer::Adam { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let run = RunShape { steps_per_epoch: 3, epochs: 2 };
    let updated = |step: &tx_learn::StepGraph, phase: usize| -> Vec<String> {
        step.updates_of(&step.phases[phase]).iter().map(|(p, _)| name_of(&step.graph, *p)).collect()
    };
    let step = build_steps(&model, tx_learn::rule_for(&config).unwrap().as_ref(), &config, run).unwrap();
    tx_ir::verify(&step.graph).unwrap();
    assert_eq!(step.phases.iter().map(|p| p.name).collect::<Vec<_>>(), ["inverse", "forward"]);
    assert_eq!(updated(&step, 0), ["V2.m", "V2.v", "V2", "c2.m", "c2.v", "c2", "inverse.step"], "adam's state");
    assert_eq!(updated(&step, 1), ["W1", "b1", "W2", "b2", "W3", "b3", "optimizer.step"], "sgd keeps no state");
    let noise: Vec<String> = step
        .noise
        .iter()
        .map(|&id| match &step.graph.node(id).op {
            Op::Input { name, .. } => name.clone(),
            other => panic!("{other:?} is not an input"),
        })
        .collect();
    assert_eq!(noise, ["noise.h2"], "h2's inverse is trained on a corrupted h1");

    // One hidden layer: no inverse to train, one phase, no counter for it.
    let shallow = network(&[4, 5, 3], Shape_ { tanh: true, output_inverse: false });
    let step = build_steps(&shallow, tx_learn::rule_for(&config).unwrap().as_ref(), &config, run).unwrap();
    assert_eq!(step.phases.iter().map(|p| p.name).collect::<Vec<_>>(), ["forward"]);
    assert!(step.graph.param_named("inverse.step").is_none() && step.noise.is_empty());

    config.target.schedule = PhaseSchedule::Parallel;
    let step = build_steps(&model, tx_learn::rule_for(&config).unwrap().as_ref(), &config, run).unwrap();
    assert_eq!(step.phases.iter().map(|p| p.name).collect::<Vec<_>>(), ["step"]);
    assert_eq!(step.updates_of(&step.phases[0]).len(), step.updates.len());
}

/// What each rule needs, and the message when it is missing.
#[test]
fn models_that_lack_what_a_rule_needs_are_refused_with_the_reason() {
    let message = |model: &Model, tp: &TargetPropagation| {
        let mut graph = model.graph.clone();
        tp.gradients(&mut graph, model).err().map(|e| e.to_string()).unwrap_or_default()
    };
    let plain = network(&[4, 5, 6, 3], Shape_ { tanh: true, output_inverse: false });
    assert_eq!(message(&plain, &rule(Variant::Dtp)), "");
    let said = message(&plain, &rule(Variant::Sdtp));
    assert!(
        said.contains("every layer from the second to the output layer needs `inverse(t) = ...`; layer `out` has none"),
        "{said}"
    );

    let mut undeclared = plain.clone();
    undeclared.layers.clear();
    assert!(message(&undeclared, &rule(Variant::Dtp)).contains("needs `layer` declarations"));
    assert!(message(&undeclared, &rule(Variant::Dtp)).contains("this model declares 0"));

    let mut without = network(&[4, 5, 6, 5, 3], Shape_ { tanh: true, output_inverse: false });
    without.layers[1].inverse = None;
    without.layers[2].inverse = None;
    let said = message(&without, &rule(Variant::Tp));
    assert!(said.contains("layers `h2`, `h3` have none"), "{said}");

    // An inverse of the wrong type: h3's inverse returns h3's own width.
    let mut wrong = network(&[4, 5, 6, 3], Shape_ { tanh: false, output_inverse: false });
    let other = network(&[4, 6, 6, 3], Shape_ { tanh: false, output_inverse: false });
    wrong.layers[1].inverse = other.layers[1].inverse.clone();
    let said = message(&wrong, &rule(Variant::Dtp));
    assert!(said.contains("needs the inverse of layer `h2` to map f64[B, 6] (the layer) to f64[B, 5]"), "{said}");

    // SDTP needs integer labels.
    let mut unlabeled = network(&[4, 5, 6, 3], Shape_ { tanh: true, output_inverse: true });
    unlabeled.graph.input("z", Type::new(DType::I64, Shape(vec![Dim::sym("B")]))).unwrap();
    let said = message(&unlabeled, &rule(Variant::Sdtp));
    assert!(said.contains("exactly one integer labels input of shape i64[B]; it has 2"), "{said}");

    // One sigma per inverse, or one for all.
    let mut listed = rule(Variant::Dtp);
    listed.settings.noise = vec![0.1, 0.2, 0.3];
    let mut graph = plain.graph.clone();
    let epoch = graph.add(Op::Constant { value: tx_ir::Scalar::Float(0.0), dtype: DType::F32 }, &[]).unwrap();
    let said = listed.inverse_gradients(&mut graph, &plain, epoch).unwrap_err().to_string();
    assert!(said.contains("`noise` lists 3 sigmas, but `dtp` trains 1 inverse (of layer `h2`)"), "{said}");
    let deeper = network(&[4, 5, 6, 5, 3], Shape_ { tanh: true, output_inverse: false });
    let mut graph = deeper.graph.clone();
    let epoch = graph.add(Op::Constant { value: tx_ir::Scalar::Float(0.0), dtype: DType::F32 }, &[]).unwrap();
    let said = listed.inverse_gradients(&mut graph, &deeper, epoch).unwrap_err().to_string();
    assert!(said.contains("`noise` lists 3 sigmas, but `dtp` trains 2 inverses (of layers `h2`, `h3`)"), "{said}");
}
