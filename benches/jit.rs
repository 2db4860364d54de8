//! The JIT on the workloads of `shared/bench/peers.py` (the same programs
//! `tx bench` times), and its compile time: parse + optimize + JIT of the
//! `mlp_step` training function.
//!
//!     cargo bench --bench jit

use criterion::{Criterion, criterion_group, criterion_main};

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("jit");
    group.sample_size(10);
    for name in ["ew_fused", "ew_broadcast", "reduce.sum", "reduce.lse", "softmax_xent.fwd", "softmax_xent.grad"] {
        let mut case = tx_cli::bench::prepare(name, "f32", 1).expect("the workload compiles");
        group.bench_function(name, |b| b.iter(|| case.step().expect("runs")));
    }
    for name in ["matmul", "mlp_step"] {
        let mut case = tx_cli::bench::prepare(name, "f32", 1).expect("the workload compiles");
        group.bench_function(name, |b| b.iter(|| case.step().expect("runs")));
    }
    group.finish();
}

fn compile_time(c: &mut Criterion) {
    c.bench_function("compile mlp_step (parse + optimize + JIT)", |b| {
        b.iter(|| tx_cli::bench::compile("mlp_step", "f32", 1).expect("the workload compiles"))
    });
}

criterion_group!(benches, kernels, compile_time);
criterion_main!(benches);
