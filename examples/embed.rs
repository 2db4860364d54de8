//! Embedding tx in a Rust program: build a graph with operator overloading,
//! compile it once, call it many times on ndarray arrays; and compile the
//! same model from `.tx` source to check that both agree.
//!
//!     cargo run --example embed

use ndarray::Array2;
use tx::{DType, Dim, GraphBuilder, Init, Tensor};

const SOURCE: &str = "
input x : f32[B, 64]
param W : f32[64, 10] ~ glorot(seed = 7)
param b : f32[10] = 0.5
output probs = softmax(tanh(x @ W + b), axis = 1)
";

/// Public so that `tests/examples.rs` can run it in-process.
pub fn main() {
    // The graph, built from Rust.
    let g = GraphBuilder::new();
    let x = g.input("x", DType::F32, [Dim::sym("B"), 64.into()]);
    let w = g.param("W", DType::F32, [64.into(), 10.into()], Init::Glorot { gain: 1.0, seed: 7 });
    let b = g.param("b", DType::F32, [10.into()], Init::Fill(0.5));
    let probs = (x.matmul(&w) + &b).tanh().softmax(1);
    let mut f = tx::function(&g).outputs([&probs]).compile().expect("the graph is well typed");

    // The same model, from source.
    let program = tx::compile(SOURCE).expect("the source compiles");

    // Call both on a few batches of different sizes: B is bound per call.
    for batch in [1usize, 5, 32] {
        let images = Array2::from_shape_fn((batch, 64), |(i, j)| ((i * 64 + j) % 17) as f32 / 16.0);
        let input = Tensor::F32(images.into_dyn());
        let from_rust = f.call(std::slice::from_ref(&input)).expect("inputs fit the declaration");
        let from_source = program.run(&[("x", input)]).expect("inputs fit the declaration");
        let (Tensor::F32(a), Tensor::F32(b)) = (&from_rust[0], &from_source[0].1) else {
            panic!("softmax of f32 is f32");
        };
        let largest_difference = a.iter().zip(b.iter()).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        let row_sums = a.sum_axis(ndarray::Axis(1));
        println!(
            "batch {batch:>2}: probs {:?}, rows sum to {:.6}, Rust vs .tx differ by {largest_difference}",
            a.shape(),
            row_sums[[0]]
        );
        assert!(largest_difference == 0.0, "the two builds of one model must agree exactly");
    }

    // Type errors are found when the graph is built, and reported at compile.
    let bad = GraphBuilder::new();
    let x = bad.input("x", DType::F32, [Dim::sym("B"), 3.into()]);
    let v = bad.param("v", DType::F32, [4.into()], Init::Fill(0.0));
    let y = &x + &v;
    match tx::function(&bad).outputs([&y]).compile() {
        Ok(_) => panic!("f32[B, 3] + f32[4] must not compile"),
        Err(e) => println!("as expected: {e}"),
    }
}
