//! Each optimizer's update graph, run step by step on the interpreter,
//! against the same optimizer written out in plain f64 arithmetic.

use tx_ir::{BinaryOp, DType, Graph, Init, Model, NodeId, Op, ReduceOp, Shape, Type, UnaryOp};
use tx_learn::{Backprop, Optimizer, RunShape, Schedule, StepGraph, build_step};
use tx_tensor::Tensor;

/// loss = sum(w²)/2 over one f64 parameter initialized from a seed: the
/// gradient is w itself, so the reference needs no differentiation.
fn quadratic() -> Model {
    let mut g = Graph::new();
    let w = g
        .param("w", Type::new(DType::F64, Shape::new([3usize])), Init::Normal { mean: 0.0, std: 1.0, seed: 5 }, false)
        .unwrap();
    let square = g.add(Op::Unary(UnaryOp::Square), &[w]).unwrap();
    let total = g.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[square]).unwrap();
    let half = g.add(Op::Constant { value: tx_ir::Scalar::Float(0.5), dtype: DType::F64 }, &[]).unwrap();
    let loss = g.add(Op::Binary(BinaryOp::Mul), &[total, half]).unwrap();
    Model { graph: g, loss: Some(loss), ..Model::default() }
}

/// Runs `steps` steps; returns w after each.
fn run(step: &StepGraph, steps: usize) -> Vec<Vec<f64>> {
    tx_ir::verify(&step.graph).unwrap();
    let mut params = tx_interp::init_params(&step.graph);
    let mut history = Vec::new();
    for _ in 0..steps {
        let refs: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let nodes: Vec<NodeId> = step.updates.iter().map(|(_, v)| *v).collect();
        let values = tx_interp::evaluate(&step.graph, &[], &refs, &nodes).unwrap();
        for ((target, _), value) in step.updates.iter().zip(values) {
            let Op::Param { name, .. } = &step.graph.node(*target).op else { panic!("updates target parameters") };
            params.iter_mut().find(|(n, _)| n == name).unwrap().1 = value;
        }
        history.push(params.iter().find(|(n, _)| n == "w").unwrap().1.to_f64s());
    }
    history
}

fn initial() -> Vec<f64> {
    let model = quadratic();
    tx_interp::init_params(&model.graph)[0].1.to_f64s()
}

fn check(optimizer: Optimizer, schedule: Schedule, reference: impl Fn(&mut Vec<f64>, &mut Vec<Vec<f64>>, usize)) {
    let run_shape = RunShape { steps_per_epoch: 2, epochs: 4 };
    let step = build_step(&quadratic(), &Backprop, &optimizer, &schedule, 0.0, run_shape).unwrap();
    let got = run(&step, 7);
    let mut w = initial();
    let mut state = vec![vec![0.0; 3]; 3];
    for (t, after) in got.iter().enumerate() {
        reference(&mut w, &mut state, t);
        for (a, b) in after.iter().zip(&w) {
            // The learning rate is computed in f32 in the graph: its
            // rounding (a few parts in 1e8) is the only difference allowed.
            assert!((a - b).abs() < 2e-7 * b.abs().max(1.0), "{optimizer:?} {schedule:?} step {t}: {after:?} vs {w:?}");
        }
    }
}

/// The learning rate of step t (0-based) with 2 steps an epoch, 4 epochs.
fn lr_at(lr: f64, schedule: &Schedule, t: usize) -> f64 {
    let epoch = (t / 2) as f64;
    match schedule {
        Schedule::Constant => lr,
        Schedule::Step { every, gamma } => lr * gamma.powf((epoch / *every as f64).floor()),
        Schedule::Cosine { min_lr } => {
            min_lr + (lr - min_lr) * (1.0 + (std::f64::consts::PI * epoch / 4.0).cos()) / 2.0
        }
    }
}

#[test]
fn sgd_with_every_schedule() {
    for schedule in [Schedule::Constant, Schedule::Step { every: 1, gamma: 0.5 }, Schedule::Cosine { min_lr: 0.01 }] {
        let s = schedule.clone();
        check(Optimizer::Sgd { lr: 0.3 }, schedule, move |w, _, t| {
            let lr = lr_at(0.3, &s, t) as f32 as f64;
            for x in w.iter_mut() {
                *x -= lr * *x;
            }
        });
    }
}

#[test]
fn momentum_and_nesterov() {
    for nesterov in [false, true] {
        check(Optimizer::Momentum { lr: 0.1, momentum: 0.9, nesterov }, Schedule::Constant, move |w, state, _| {
            let lr = 0.1f32 as f64;
            for (x, v) in w.iter_mut().zip(state[0].iter_mut()) {
                let g = *x;
                *v = 0.9 * *v + g;
                let direction = if nesterov { g + 0.9 * *v } else { *v };
                *x -= lr * direction;
            }
        });
    }
}

#[test]
fn adam_with_bias_correction() {
    check(Optimizer::Adam { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, Schedule::Constant, |w, state, t| {
        let lr = 0.05f32 as f64;
        let t = (t + 1) as f64;
        for (i, x) in w.iter_mut().enumerate() {
            let g = *x;
            state[0][i] = 0.9 * state[0][i] + 0.1 * g;
            state[1][i] = 0.999 * state[1][i] + (1.0 - 0.999) * g * g;
            let m_hat = state[0][i] / (1.0 - 0.9f64.powf(t));
            let v_hat = state[1][i] / (1.0 - 0.999f64.powf(t));
            *x -= lr * m_hat / (v_hat.sqrt() + 1e-8);
        }
    });
}

#[test]
fn rmsprop_plain_and_centred_with_momentum() {
    for centered in [false, true] {
        let optimizer = Optimizer::RmsProp { lr: 0.01, decay: 0.95, eps: 1e-3, momentum: 0.9, centered };
        check(optimizer, Schedule::Constant, move |w, state, _| {
            let lr = 0.01f32 as f64;
            for (i, x) in w.iter_mut().enumerate() {
                let g = *x;
                state[0][i] = 0.95 * state[0][i] + (1.0 - 0.95) * g * g;
                let variance = if centered {
                    state[1][i] = 0.95 * state[1][i] + (1.0 - 0.95) * g;
                    state[0][i] - state[1][i] * state[1][i]
                } else {
                    state[0][i]
                };
                let step = g / (variance + 1e-3).sqrt();
                state[2][i] = 0.9 * state[2][i] + step;
                *x -= lr * state[2][i];
            }
        });
    }
}

#[test]
fn weight_decay_adds_to_the_gradient() {
    let step = build_step(
        &quadratic(),
        &Backprop,
        &Optimizer::Sgd { lr: 0.1 },
        &Schedule::Constant,
        0.5,
        RunShape { steps_per_epoch: 1, epochs: 1 },
    )
    .unwrap();
    let got = run(&step, 1);
    let lr = 0.1f32 as f64;
    let expect: Vec<f64> = initial().iter().map(|x| x - lr * (x + 0.5 * x)).collect();
    for (a, b) in got[0].iter().zip(&expect) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn a_model_without_a_loss_or_parameters_cannot_train() {
    let mut model = quadratic();
    model.loss = None;
    let run_shape = RunShape { steps_per_epoch: 1, epochs: 1 };
    let error = build_step(&model, &Backprop, &Optimizer::Sgd { lr: 0.1 }, &Schedule::Constant, 0.0, run_shape);
    assert_eq!(error.unwrap_err().to_string(), "the model has no `loss` to train");
}
