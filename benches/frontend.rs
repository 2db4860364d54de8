//! Compile time of the front half of the pipeline (parse, lower, verify,
//! print) on the largest example, kept apart from run time (`interp.rs`).
//!
//!     cargo bench --bench frontend

use criterion::{Criterion, criterion_group, criterion_main};

const MNIST_DTP: &str = include_str!("../examples/mnist_dtp.tx");

fn frontend(c: &mut Criterion) {
    c.bench_function("parse mnist_dtp.tx", |b| b.iter(|| tx::syntax::parse(std::hint::black_box(MNIST_DTP))));
    c.bench_function("compile mnist_dtp.tx (parse + lower)", |b| {
        b.iter(|| tx::frontend::compile(std::hint::black_box(MNIST_DTP)).model.expect("the example compiles"))
    });
    let model = tx::frontend::compile(MNIST_DTP).model.expect("the example compiles");
    c.bench_function("verify mnist_dtp graph", |b| b.iter(|| tx::ir::verify(&model.graph)));
    c.bench_function("print mnist_dtp graph", |b| b.iter(|| tx::ir::print_model(&model)));
}

criterion_group!(benches, frontend);
criterion_main!(benches);
