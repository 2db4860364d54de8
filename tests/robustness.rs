//! Regression tests for panics, hangs and runaway memory found by an audit
//! of every place user input reaches: each comment says what must happen and
//! what happened before the fix. A test that could hang runs on a helper
//! thread and fails after a timeout (the stuck thread ends with the binary);
//! the timeouts are generous safety nets, not speed requirements.

use std::sync::mpsc;
use std::time::Duration;

use ndarray::{ArrayD, IxDyn};
use tx::{DType, Dim, GraphBuilder, Init, Tensor};

/// Runs `f` on a helper thread; fails if it panics or runs past `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    match receiver.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("still running after {secs} s: a hang"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the work panicked (see above)"),
    }
}

/// crates/tx-ir/src/infer.rs:148 (`total += n` in `Op::Concat`).
/// Now: a build error (the concatenated axis is too large).
/// Before the fix: "attempt to add with overflow" panic in debug builds; release
/// builds wrap and give the result the wrong type f32[0, 0].
#[test]
fn concat_axis_size_overflow() {
    let g = GraphBuilder::new();
    let x = g.input("x", DType::F32, [Dim::Known(0), Dim::Known(1 << 63)]);
    let y = g.input("y", DType::F32, [Dim::Known(0), Dim::Known(1 << 63)]);
    let z = tx::concat(&[&x, &y], 1);
    assert!(tx::function(&g).outputs([&z]).compile().is_err());
}

/// crates/tx-tensor/src/lib.rs:69 (`Tensor::full`) reached from
/// crates/tx-interp/src/init.rs:22 and :98. `check_tensor_size` accepts any
/// shape with a 0 in it, but ndarray refuses shapes whose nonzero sizes
/// multiply past isize::MAX.
/// Now: an error (at build or call). Before the fix: ndarray panics "Shape too
/// large, product of non-zero axis lengths overflows isize".
#[test]
fn zero_size_parameter_with_huge_dims() {
    let g = GraphBuilder::new();
    let dims = [Dim::Known(0), Dim::Known(1 << 62), Dim::Known(4)];
    let w = g.param("w", DType::F32, dims, Init::Fill(0.0));
    if let Ok(mut f) = tx::function(&g).outputs([&w]).compile() {
        let _ = f.call(&[]);
    }
}

/// The same, through a `.tx` program: the `normal` op
/// (crates/tx-interp/src/init.rs:77 -> :98 -> Tensor::full).
/// Now: a compile or run error. Before the fix: ndarray panic.
#[test]
fn zero_size_random_op_with_huge_dims() {
    if let Ok(program) = tx::compile("output o = normal([0, 4611686018427387904, 4], seed = 1)") {
        let _ = program.run(&[]);
    }
}

/// crates/tx-interp/src/init.rs:141 and :201 (`orthogonal`,
/// `householder_q`): loops `0..tall` / `0..rows` run once per row even when
/// the other dimension is 0, so f32[0, 2^62] never finishes initializing.
/// Now: an error or an empty tensor at once. Before the fix: hangs (2^62 steps).
#[test]
fn orthogonal_init_of_empty_matrix_hangs() {
    within(10, || {
        let g = GraphBuilder::new();
        let dims = [Dim::Known(0), Dim::Known(1 << 62)];
        let w = g.param("w", DType::F32, dims, Init::Orthogonal { gain: 1.0, seed: 1 });
        let _ = tx::function(&g).outputs([&w]).compile().map(|mut f| f.call(&[]).is_ok());
    });
}

/// crates/tx-interp/src/reduce.rs:136 (`softmax_as`): one iteration per lane
/// even when the lanes are empty. An input of shape [2^62, 0] (0 elements,
/// accepted by ndarray and by `.npy` reading) never finishes.
/// Now: an empty result at once, or an error. Before the fix: hangs.
#[test]
fn softmax_over_empty_lanes_hangs() {
    within(10, || {
        let g = GraphBuilder::new();
        let x = g.input("x", DType::F32, [Dim::sym("B"), Dim::Known(0)]);
        let y = x.softmax(1);
        let mut f = tx::function(&g).outputs([&y]).compile().unwrap();
        let x = Tensor::F32(ArrayD::zeros(IxDyn(&[1 << 62, 0])));
        let _ = f.call(&[x]);
    });
}

/// crates/tx-interp/src/matmul.rs:65 (batched `matmul`): one gemm per batch
/// entry even when every matrix is empty: [2^62, 0, 0] @ [0, 0] never ends.
/// Now: an empty result at once, or an error. Before the fix: hangs.
#[test]
fn batched_matmul_of_empty_matrices_hangs() {
    within(10, || {
        let g = GraphBuilder::new();
        let a = g.input("a", DType::F32, [Dim::sym("N"), Dim::Known(0), Dim::Known(0)]);
        let b = g.input("b", DType::F32, [Dim::Known(0), Dim::Known(0)]);
        let c = a.matmul(&b);
        let mut f = tx::function(&g).outputs([&c]).compile().unwrap();
        let a = Tensor::F32(ArrayD::zeros(IxDyn(&[1 << 62, 0, 0])));
        let b = Tensor::F32(ArrayD::zeros(IxDyn(&[0, 0])));
        let _ = f.call(&[a, b]);
    });
}

/// crates/tx-interp/src/init.rs:64 (`random_inputs`, public as
/// `tx::interp::random_inputs`): the sizes given for symbols are not checked
/// (only the CLI checks them), so `count` overflows, or a large size aborts
/// on allocation.
/// Now: an error. Before the fix: "attempt to multiply with overflow" panic.
#[test]
fn random_inputs_with_huge_symbol_size() {
    let program = tx::compile("input x : f32[B, 2]\noutput o = x").unwrap();
    let _ = tx::interp::random_inputs(program.graph(), 0, &[("B", usize::MAX)]);
}

/// crates/tx-frontend/src/lower.rs:592 (`suggest` in `resolve`): every
/// unknown name is compared with every global for "did you mean", so
/// checking is quadratic: 20,000 consts and 20,000 misspelt names (a 700 KB
/// file) take about 5 minutes, 100,000 of each hours.
/// Now: the diagnostics in a second or two. Before the fix: effectively hangs.
#[test]
fn did_you_mean_is_quadratic() {
    within(20, || {
        let n = 20_000;
        let mut source = String::new();
        for i in 0..n {
            source.push_str(&format!("const c{i} = 1\n"));
        }
        for i in 0..n {
            source.push_str(&format!("let v{i} = q{i}\n"));
        }
        assert!(tx::compile(&source).is_err());
    });
}

/// crates/tx-frontend/src/lower.rs (lists copied where used): ten lines of
/// nested lists describe 10^10 values.
/// Now: "too large to compile", quickly and in little memory.
/// Before the fix: every use copied the whole list, until memory ran out.
#[test]
fn nested_lists_stop_at_the_work_limit() {
    within(20, || {
        let mut source = String::from("let a0 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n");
        for level in 1..10 {
            let previous = format!("a{}", level - 1);
            source.push_str(&format!("let a{level} = [{}]\n", vec![previous; 10].join(", ")));
        }
        source.push_str("output o = 1\n");
        let error = tx::compile(&source).unwrap_err().to_string();
        assert!(error.contains("too large to compile"), "{error}");
    });
}
