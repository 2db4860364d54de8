//! End-to-end: small programs compiled with the JIT agree with the
//! interpreter.

use tx_ir::NodeId;
use tx_opt::{Level, OptConfig, optimize};
use tx_tensor::Tensor;

fn check(source: &str, level: Level) {
    let compiled = tx_frontend::compile(source);
    let model = compiled.model.unwrap_or_else(|| panic!("{:?}", compiled.diagnostics));
    let graph = &model.graph;
    let roots: Vec<NodeId> = model.run_targets().iter().map(|(_, id)| *id).collect();
    let optimized = optimize(graph, &roots, &OptConfig::new(level)).unwrap();
    let inputs = tx_interp::random_inputs(graph, 7, &[("B", 5)]).unwrap();
    let inputs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let params = tx_interp::init_params(graph);
    let params: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let expected = tx_interp::evaluate(&optimized.graph, &inputs, &params, &optimized.roots).unwrap();
    let mut exe = tx_jit::compile(&optimized.graph, &optimized.roots, &tx_jit::Options::default()).unwrap();
    for _ in 0..2 {
        let got = exe.run(&inputs, &params).unwrap();
        for (e, g) in expected.iter().zip(&got) {
            assert_eq!(e.shape(), g.shape());
            assert_eq!(e.dtype(), g.dtype());
            for (a, b) in e.to_f64s().iter().zip(g.to_f64s()) {
                let ok = (a - b).abs() <= 1e-5 + 1e-4 * a.abs() || (a.is_nan() && b.is_nan());
                assert!(ok, "{a} vs {b}\n{:?}", optimized.graph);
            }
        }
    }
}

#[test]
fn arithmetic() {
    check("input x: f32[B, 3]\ninput y: f32[3]\noutput z = x * y + 1.0 - x / 2.0\n", Level::O0);
    check("input x: f32[B, 3]\ninput y: f32[3]\noutput z = x * y + 1.0 - x / 2.0\n", Level::O2);
}

#[test]
fn reductions_and_matmul() {
    let source = "input x: f32[B, 4]\nparam w: f32[4, 3] ~ normal(0.0, 1.0, seed=1)\n\
                  output s = sum(x * x, axis=1)\noutput m = mean(x, axis=0)\noutput h = x @ w\n\
                  output mx = max(x, axis=0)\n";
    check(source, Level::O0);
    check(source, Level::O2);
}
