//! The compile cache: equal graphs share their compiled kernels, other
//! graphs do not, and both give the interpreter's results.

use tx_ir::NodeId;
use tx_tensor::Tensor;

fn compiled(source: &str, options: &tx_jit::Options) -> (tx_ir::Graph, Vec<NodeId>, tx_jit::Executable) {
    let model = tx_frontend::compile(source).model.expect("the program compiles");
    let roots: Vec<NodeId> = model.run_targets().iter().map(|(_, id)| *id).collect();
    let optimized =
        tx_opt::optimize(&model.graph, &roots, &tx_opt::OptConfig::new(tx_opt::Level::O2)).expect("it optimizes");
    let exe = tx_jit::compile(&optimized.graph, &optimized.roots, options).expect("it compiles");
    (optimized.graph, optimized.roots, exe)
}

fn agrees(graph: &tx_ir::Graph, roots: &[NodeId], exe: &mut tx_jit::Executable) {
    let inputs = tx_interp::random_inputs(graph, 7, &[("B", 5)]).expect("random inputs");
    let inputs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let expected = tx_interp::evaluate(graph, &inputs, &[], roots).expect("the interpreter runs it");
    let got = exe.run(&inputs, &[]).expect("the JIT runs it");
    for (e, g) in expected.iter().zip(&got) {
        let (e, g) = (e.to_f64s(), g.to_f64s());
        assert_eq!(e.len(), g.len());
        for (a, b) in e.iter().zip(&g) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} against {b}");
        }
    }
}

#[test]
fn equal_graphs_share_kernels_and_others_do_not() {
    let source = "input x: f32[B, 33]\ninput w: f32[33, 7]\noutput y = softmax(tanh(x @ w) * 2.0 + 1.0, axis = 1)\n";
    let options = tx_jit::Options::default();
    let (graph, roots, mut first) = compiled(source, &options);
    let (_, _, mut again) = compiled(source, &tx_jit::Options { threads: 2, ..options.clone() });
    assert!(again.shares_kernels_with(&first));
    let (other_graph, other_roots, mut other) = compiled(&source.replace("2.0", "3.0"), &options);
    assert!(!other.shares_kernels_with(&first));
    // Kernels are compiled at the first call (B is symbolic); each of the
    // sharing executables plans for itself and finds them.
    agrees(&graph, &roots, &mut first);
    let count = first.kernel_count();
    assert!(count > 0);
    agrees(&graph, &roots, &mut again);
    assert_eq!(again.kernel_count(), count, "the second executable compiled no kernel of its own");
    agrees(&other_graph, &other_roots, &mut other);
}
