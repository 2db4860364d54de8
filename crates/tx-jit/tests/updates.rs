//! `Executable::call_updating`: parameters take their new values in place
//! (a GEMM accumulating into the weights, elementwise updates) or by swap,
//! and agree with `call` on every step, on one thread and on two.

use tx_ir::NodeId;
use tx_tensor::Tensor;

/// A layer and its SGD step written out, plus whatever `extra` adds.
fn program(extra: &str) -> String {
    format!(
        "input x: f64[B, 5]\nparam W: f64[5, 3] ~ normal(0.0, 0.5, seed = 1)\nparam b: f64[3] ~ normal(0.0, 0.5, seed = 2)\n\
         let y = tanh(x @ W + b)\n\
         output cost = sum(y * y)\n\
         output W_next = W - 0.1 * (transpose(x) @ y)\n\
         output b_next = b - 0.1 * sum(y, axis = 0)\n{extra}"
    )
}

fn compiled(source: &str, threads: usize) -> (tx_ir::Graph, Vec<NodeId>, tx_jit::Executable) {
    let model = tx_frontend::compile(source).model.expect("the program compiles");
    let roots: Vec<NodeId> = model.run_targets().iter().map(|(_, id)| *id).collect();
    let optimized =
        tx_opt::optimize(&model.graph, &roots, &tx_opt::OptConfig::new(tx_opt::Level::O2)).expect("it optimizes");
    let options = tx_jit::Options { threads, keep_clif: false };
    let exe = tx_jit::compile(&optimized.graph, &optimized.roots, &options).expect("it compiles");
    (optimized.graph, optimized.roots, exe)
}

fn close(a: &Tensor, b: &Tensor) -> bool {
    let (a, b) = (a.to_f64s(), b.to_f64s());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + x.abs()))
}

/// Three steps each way: `call` and copying the new values back, against
/// `call_updating`; every output that stays an output agrees too.
/// Returns the kernel steps of each way's last plan.
fn agree(extra: &str, threads: usize) -> (usize, usize) {
    let source = program(extra);
    let (graph, _, mut plain) = compiled(&source, threads);
    let (_, _, mut updating) = compiled(&source, threads);
    let mut expected = tx_interp::init_params(&graph);
    let mut params = expected.clone();
    let names: Vec<String> = graph.outputs().iter().map(|(n, _)| n.clone()).collect();
    let position = |name: &str| names.iter().position(|n| n == name).expect("an output");
    let param_at =
        |params: &[(String, Tensor)], name: &str| params.iter().position(|(n, _)| n == name).expect("a param");
    let updates = [(position("W_next"), param_at(&params, "W")), (position("b_next"), param_at(&params, "b"))];
    for step in 0..3 {
        let x = tx_interp::random_inputs(&graph, step, &[("B", 7)]).expect("inputs");
        let x: Vec<(&str, &Tensor)> = x.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let shared: Vec<(&str, &Tensor)> = expected.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let values = plain.run(&x, &shared).expect("call runs");
        let mut refs: Vec<(&str, &mut Tensor)> = params.iter_mut().map(|(n, t)| (n.as_str(), t)).collect();
        let outputs = updating.call_updating(&x, &mut refs, &updates).expect("call_updating runs");
        for (k, name) in names.iter().enumerate() {
            if let Some(got) = outputs.get(k) {
                assert!(close(&values[k], got), "output {name} differs at step {step} ({extra:?})");
            } else {
                assert!(updates.iter().any(|&(o, _)| o == k), "output {name} is missing");
            }
        }
        for &(output, param) in &updates {
            expected[param].1 = values[output].clone();
        }
        for ((name, want), (_, got)) in expected.iter().zip(&params) {
            assert!(close(want, got), "{name} differs after step {step} on {threads} threads ({extra:?})");
        }
    }
    (plain.schedule_summary().0, updating.schedule_summary().0)
}

#[test]
fn updates_in_place_agree_with_copies() {
    for threads in [1, 2] {
        // The weights' update is a GEMM accumulating into W: one kernel
        // step fewer (the bias update is written in place by its kernel).
        let (plain, updating) = agree("", threads);
        assert_eq!(updating + 1, plain);
        // W read after its update: written to a buffer and swapped in.
        agree("output late = sum(W)\n", threads);
        // The new value is also an output of its own: the same.
        agree("output W_again = W - 0.1 * (transpose(x) @ y)\n", threads);
    }
}

#[test]
fn bad_updates_are_errors() {
    let (graph, _, mut exe) = compiled(&program(""), 1);
    let mut params = tx_interp::init_params(&graph);
    let x = tx_interp::random_inputs(&graph, 0, &[("B", 3)]).expect("inputs");
    let x: Vec<(&str, &Tensor)> = x.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let count = params.len();
    let mut refs: Vec<(&str, &mut Tensor)> = params.iter_mut().map(|(n, t)| (n.as_str(), t)).collect();
    let mut message =
        |updates: &[(usize, usize)], refs: &mut Vec<(&str, &mut Tensor)>| match exe.call_updating(&x, refs, updates) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{updates:?} was accepted"),
        };
    assert!(message(&[(1, count)], &mut refs).contains(&format!("but {count} were given")));
    assert!(message(&[(9, 0)], &mut refs).contains("out of range or repeated"));
    assert!(message(&[(1, 0), (2, 0)], &mut refs).contains("out of range or repeated"));
}
