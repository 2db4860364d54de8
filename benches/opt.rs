//! Optimizer time on the largest workload: the whole training step of
//! `examples/mnist_dtp.tx` (forward, backward, optimizer updates) at `-O1`
//! and `-O2`, and the forward graph alone.
//!
//!     cargo bench --bench opt

use criterion::{Criterion, criterion_group, criterion_main};
use tx::ir::NodeId;

const MNIST_DTP: &str = include_str!("../examples/mnist_dtp.tx");

fn optimizer(c: &mut Criterion) {
    let model = tx::frontend::compile(MNIST_DTP).model.expect("the example compiles");
    let spec = tx_learn::read_spec(model.train_block(Some("backprop")).expect("the example trains"))
        .expect("the train block reads");
    let rule = tx_learn::rule_named("backprop").expect("backprop exists");
    let run = tx_learn::RunShape { steps_per_epoch: 1, epochs: spec.epochs };
    let step = tx_learn::build_step(&model, rule.as_ref(), &spec.optimizer, &spec.lr_schedule, spec.weight_decay, run)
        .expect("the step builds");
    let roots: Vec<NodeId> = step.updates.iter().map(|&(_, value)| value).chain([step.loss]).collect();
    for level in [tx_opt::Level::O1, tx_opt::Level::O2] {
        let config = tx_opt::OptConfig::new(level);
        c.bench_function(&format!("optimize mnist_dtp training step {}", level.name()), |b| {
            b.iter(|| tx_opt::optimize(std::hint::black_box(&step.graph), &roots, &config).expect("optimizes"))
        });
    }
    let config = tx_opt::OptConfig::new(tx_opt::Level::O2);
    c.bench_function("optimize mnist_dtp forward -O2", |b| {
        b.iter(|| tx_opt::optimize(std::hint::black_box(&model.graph), &[], &config).expect("optimizes"))
    });
}

criterion_group!(benches, optimizer);
criterion_main!(benches);
