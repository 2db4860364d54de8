//! Times one .tx program's outputs on the JIT with seeded random inputs:
//! `cargo run --release -p tx-jit --example kernel_time -- FILE [threads]`
//! (`ITERS=N` calls, 30 by default; `CLIF=1` prints the kernels).
use std::time::Instant;
use tx_ir::NodeId;
use tx_tensor::Tensor;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let source = std::fs::read_to_string(&args[1]).expect("read");
    let threads: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(1);
    let model = tx_frontend::compile(&source).model.expect("compiles");
    let roots: Vec<NodeId> = model.run_targets().iter().map(|(_, id)| *id).collect();
    let optimized =
        tx_opt::optimize(&model.graph, &roots, &tx_opt::OptConfig::new(tx_opt::Level::O2)).expect("optimizes");
    let inputs = tx_interp::random_inputs(&model.graph, 0, &[]).expect("inputs");
    let inputs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let params = tx_interp::init_params(&model.graph);
    let params: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let options = tx_jit::Options { threads, keep_clif: std::env::var("CLIF").is_ok() };
    let mut exe = tx_jit::compile(&optimized.graph, &optimized.roots, &options).expect("jit");
    let mut times = Vec::new();
    let iters: usize = std::env::var("ITERS").ok().and_then(|n| n.parse().ok()).unwrap_or(30).max(1);
    for _ in 0..iters {
        let t = Instant::now();
        exe.call(&inputs, &params).expect("runs");
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "median {:.3} ms  min {:.3} ms  ({} kernels, steps {:?}, host {:?})",
        times[iters / 2] * 1e3,
        times[0] * 1e3,
        exe.kernel_count(),
        exe.schedule_summary(),
        exe.host_ops()
    );
    if options.keep_clif {
        println!("{}", exe.clif());
    }
}
