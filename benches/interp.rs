//! Run time of the reference interpreter: the forward pass of the DTP
//! network (784-240x7-10) on a batch of 100, and the digits
//! nearest-centroid program. The interpreter is the oracle, not the fast
//! path; this keeps its cost visible.
//!
//!     cargo bench --bench interp

use criterion::{Criterion, criterion_group, criterion_main};

fn interp(c: &mut Criterion) {
    let program = tx::compile(include_str!("../examples/mnist_dtp.tx")).expect("the example compiles");
    let inputs = tx::interp::random_inputs(program.graph(), 0, &[("B", 100)]).expect("small inputs");
    let inputs: Vec<(&str, tx::Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    c.bench_function("interp mnist_dtp forward, batch 100", |b| {
        b.iter(|| program.evaluate(&inputs, &["loss", "accuracy"]).expect("runs"))
    });

    let program = tx::compile(include_str!("../examples/digits_centroid.tx")).expect("the example compiles");
    let split = tx::data::digits_split().expect("the embedded data set loads");
    let inputs = [
        ("x_train", tx::Tensor::F32(split.train.x.into_dyn())),
        ("y_train", tx::Tensor::I64(split.train.y.into_dyn())),
        ("x_test", tx::Tensor::F32(split.test.x.into_dyn())),
        ("y_test", tx::Tensor::I64(split.test.y.into_dyn())),
    ];
    c.bench_function("interp digits_centroid", |b| b.iter(|| program.run(&inputs).expect("runs")));
}

criterion_group!(benches, interp);
criterion_main!(benches);
