//! `tx run` agrees with numpy on the same inputs.
//!
//! Each test writes fixed inputs as `.npy` files, runs a `.tx` program
//! through the real command line (`--input NAME=FILE --output-dir DIR`),
//! reads every output back and compares it with values numpy computed once
//! for the same inputs. numpy is not needed to run the tests: the expected
//! values are pasted below, each case with the numpy expressions that made
//! them.
//!
//! The inputs come from `fill(n, k, scale)`, which is
//! `((np.arange(n) * 37 + k * 11) % 23 - 11) / 8.0 * scale` in numpy: exact
//! multiples of 1/8 (times a power of two), so f32 and f64 inputs hold the
//! same values on both sides. For f32 programs numpy computed in float64 and
//! rounded the result to float32. Helpers used in the comments:
//!
//! ```python
//! def softmax(x, axis):
//!     e = np.exp(x - x.max(axis=axis, keepdims=True))
//!     return e / e.sum(axis=axis, keepdims=True)
//! def log_softmax(x, axis):
//!     m = x.max(axis=axis, keepdims=True)
//!     return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
//! def logsumexp(x, axis=None, keepdims=False):  # m + log(sum(exp(x - m)))
//! ```
//!
//! Tolerances: f32 `rtol 1e-5, atol 1e-6`; f64 `rtol 1e-12, atol 1e-12`;
//! i64 and bool exact.

// Some numpy results are ln 2 or 1/sqrt(2): they stay as numpy printed them.
#![allow(clippy::approx_constant)]

mod common;

use std::path::Path;

use common::{NpyType, ScratchDir, fill, npy_bytes, run_tx};
use tx::Tensor;

// ---------------------------------------------------------------- the check

/// One input of a program: its name, `.npy` element type, shape and values.
struct Input {
    name: &'static str,
    ty: NpyType,
    shape: Vec<usize>,
    values: Vec<f64>,
}

fn input(name: &'static str, ty: NpyType, shape: &[usize], values: Vec<f64>) -> Input {
    Input { name, ty, shape: shape.to_vec(), values }
}

/// What numpy computed for one output. Integers and booleans (as 0 and 1)
/// are written as f64, exactly; f32 values as their shortest float32 text.
struct Expected {
    name: &'static str,
    dtype: &'static str,
    shape: &'static [usize],
    data: &'static [f64],
}

fn expect(name: &'static str, dtype: &'static str, shape: &'static [usize], data: &'static [f64]) -> Expected {
    Expected { name, dtype, shape, data }
}

/// Runs `program` on `inputs` through `tx run --output-dir` and compares
/// every output with `expected`; every program output must be expected.
/// All mismatches are reported together.
fn check(program: &str, inputs: &[Input], expected: &[Expected]) {
    let dir = ScratchDir::new("numpy");
    dir.write("program.tx", program);
    let mut args: Vec<String> = vec!["run".into(), "program.tx".into(), "--output-dir".into(), "out".into()];
    for input in inputs {
        let file = format!("{}.npy", input.name);
        dir.write(&file, npy_bytes(input.ty, &input.shape, &input.values));
        args.push("--input".into());
        args.push(format!("{}={file}", input.name));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = run_tx(&args, dir.path());
    assert_eq!(outcome.code(), Some(0), "`tx {}` failed\n{}", args.join(" "), outcome.describe());

    let written = std::fs::read_dir(dir.path().join("out")).map(Iterator::count).unwrap_or(0);
    assert_eq!(written, expected.len(), "the program has {written} outputs, the test expects {}", expected.len());
    let mut problems = Vec::new();
    for want in expected {
        if let Err(problem) = compare(&dir.path().join("out").join(format!("{}.npy", want.name)), want) {
            problems.push(format!("output `{}`: {problem}", want.name));
        }
    }
    assert!(problems.is_empty(), "tx and numpy disagree:\n{}\n\nprogram:\n{program}", problems.join("\n"));
}

fn compare(path: &Path, want: &Expected) -> Result<(), String> {
    let got: Tensor = tx_data::npy::read_file(path).map_err(|e| e.to_string())?;
    let dtype = got.dtype().to_string();
    if dtype != want.dtype || got.shape() != want.shape {
        return Err(format!("tx gives {dtype}{:?}, numpy {}{:?}", got.shape(), want.dtype, want.shape));
    }
    // f32 expectations are written as the shortest text of the float32
    // value; reading them as f32 gives that value back exactly.
    let round = |w: f64| {
        if matches!(got, Tensor::F32(_)) { f64::from(w as f32) } else { w }
    };
    let (rtol, atol) = match got {
        Tensor::F32(_) => (1e-5, 1e-6),
        Tensor::F64(_) => (1e-12, 1e-12),
        Tensor::I64(_) | Tensor::Bool(_) => (0.0, 0.0),
    };
    let wrong: Vec<String> = got
        .to_f64s()
        .iter()
        .zip(want.data.iter().map(|&w| round(w)))
        .enumerate()
        .filter(|(_, (g, w))| !((*g - *w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan())))
        .map(|(i, (g, w))| format!("[{i}] tx {g:e}, numpy {w:e}"))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{} of {} elements differ: {}", wrong.len(), want.data.len(), wrong.join(", ")))
    }
}

// ---------------------------------------------------------------- the cases

/// x = fill(20, 1).reshape(4, 5); W1 = fill(30, 2, 0.5).reshape(5, 6);
/// b1 = fill(6, 3, 0.25); W2 = fill(18, 4, 0.5).reshape(6, 3); b2 = fill(3, 5)
/// hidden = np.tanh(x @ W1 + b1); logits = hidden @ W2 + b2
/// probs = softmax(logits, 1); probs_columns = softmax(logits, 0)
#[test]
fn mlp_forward_pass_f32() {
    let program = "
input x : f32[B, 5]
input W1 : f32[5, 6]
input b1 : f32[6]
input W2 : f32[6, 3]
input b2 : f32[3]
fn dense(h, W, b) = h @ W + b
let h = tanh(dense(x, W1, b1))
let logits_ = dense(h, W2, b2)
output hidden = h
output logits = logits_
output probs = softmax(logits_, axis = 1)
output probs_columns = softmax(logits_, axis = 0)
";
    let inputs = [
        input("x", NpyType::F32, &[4, 5], fill(20, 1, 1.0)),
        input("W1", NpyType::F32, &[5, 6], fill(30, 2, 0.5)),
        input("b1", NpyType::F32, &[6], fill(6, 3, 0.25)),
        input("W2", NpyType::F32, &[6, 3], fill(18, 4, 0.5)),
        input("b2", NpyType::F32, &[3], fill(3, 5, 1.0)),
    ];
    #[rustfmt::skip]
    let expected = [
        expect("hidden", "f32", &[4, 6], &[-0.5325873, -0.11665399, 0.3446634, -0.6534236, 0.39191666, -0.49817443, -0.4050601, -0.124353, 0.3446634, -0.6489239, 0.24491866, -0.48034874, -0.5545997, 0.8093011, -0.71553624, -0.38528398, 0.9681872, -0.7775176, -0.430848, 0.8065884, -0.71553624, -0.37861124, 0.9561035, -0.76807857]),
        expect("logits", "f32", &[4, 3], &[-0.33746114, -1.0165609, 0.7205521, -0.2172231, -1.079283, 0.655956, -0.21154016, -0.6937624, 1.005869, -0.13741466, -0.6937889, 0.94118494]),
        expect("probs", "f32", &[4, 3], &[0.22790904, 0.11556659, 0.65652436, 0.26199943, 0.11064008, 0.6273605, 0.2001668, 0.12358495, 0.67624825, 0.22154073, 0.12700574, 0.65145355]),
        expect("probs_columns", "f32", &[4, 3], &[0.22304414, 0.21271428, 0.22150871, 0.25154144, 0.1997822, 0.20765245, 0.25297502, 0.29375565, 0.29464725, 0.2724394, 0.29374787, 0.2761916]),
    ];
    check(program, &inputs, &expected);
}

/// x = fill(20, 6).reshape(4, 5); W1 = fill(30, 7, 0.5).reshape(5, 6);
/// b1 = fill(6, 8, 0.25); W2 = fill(18, 9, 0.5).reshape(6, 3); b2 = fill(3, 10)
/// hidden = np.maximum(x @ W1 + b1, 0); logits = hidden @ W2 + b2
/// probs = softmax(logits, 1); gate = 1 / (1 + np.exp(-logits))
/// batched = fill(24, 11).reshape(2, 3, 4) @ fill(8, 12).reshape(4, 2)
#[test]
fn mlp_forward_pass_f64_and_batched_matmul() {
    let program = "
input x : f64[4, 5]
input W1 : f64[5, 6]
input b1 : f64[6]
input W2 : f64[6, 3]
input b2 : f64[3]
input u : f64[2, 3, 4]
input v : f64[4, 2]
let h = relu(x @ W1 + b1)
let logits = h @ W2 + b2
output hidden = h
output probs = softmax(logits, axis = -1)
output gate = sigmoid(logits)
output batched = u @ v
";
    let inputs = [
        input("x", NpyType::F64, &[4, 5], fill(20, 6, 1.0)),
        input("W1", NpyType::F64, &[5, 6], fill(30, 7, 0.5)),
        input("b1", NpyType::F64, &[6], fill(6, 8, 0.25)),
        input("W2", NpyType::F64, &[6, 3], fill(18, 9, 0.5)),
        input("b2", NpyType::F64, &[3], fill(3, 10, 1.0)),
        input("u", NpyType::F64, &[2, 3, 4], fill(24, 11, 1.0)),
        input("v", NpyType::F64, &[4, 2], fill(8, 12, 1.0)),
    ];
    #[rustfmt::skip]
    let expected = [
        expect("hidden", "f64", &[4, 6], &[0.0, 1.421875, 0.0, 0.0, 1.265625, 0.015625, 0.0, 1.5859375, 0.0, 0.0, 1.2734375, 0.0, 0.0, 1.75, 0.0, 0.0, 1.28125, 0.0, 0.0, 0.0, 0.0, 0.359375, 0.03125, 0.0]),
        expect("probs", "f64", &[4, 3], &[0.5576452504060063, 0.3055643846865629, 0.13679036490743077, 0.5282890523979027, 0.33563702737818546, 0.13607392022391188, 0.4995065640572042, 0.3647337423077037, 0.13575969363509202, 0.7509482951255126, 0.19570535529744826, 0.05334634957703921]),
        expect("gate", "f64", &[4, 3], &[0.598781508347227, 0.44987596117526485, 0.2679824859559519, 0.5795193962695273, 0.4668455953331918, 0.2619912583899052, 0.5597714064929902, 0.481453825066335, 0.25683199138751883, 0.7384805176260085, 0.42393493527303167, 0.16708272026322207]),
        expect("batched", "f64", &[2, 3, 2], &[1.359375, 2.0625, -1.34375, 0.5625, 0.265625, -1.65625, -1.71875, 0.796875, -0.109375, -1.421875, -2.09375, 1.03125]),
    ];
    check(program, &inputs, &expected);
}

/// x = fill(24, 1).reshape(2, 3, 4)
/// total = x.sum(); sum0 = x.sum(axis=0); sum12_keep = x.sum(axis=(1, 2), keepdims=True)
/// mean_last = x.mean(axis=-1); mean_all = x.mean()
/// max1_keep = x.max(axis=1, keepdims=True); min02 = x.min(axis=(0, 2))
/// lse2 = logsumexp(x, axis=2); lse_all = logsumexp(x)
/// lse01_keep = logsumexp(x, axis=(0, 1), keepdims=True)
#[test]
fn reductions_with_axes_and_keepdims_f32() {
    let program = "
input x : f32[2, 3, 4]
output total = sum(x)
output sum0 = sum(x, axis = 0)
output sum12_keep = sum(x, axis = [1, 2], keepdims = true)
output mean_last = mean(x, axis = -1)
output mean_all = mean(x)
output max1_keep = max(x, axis = 1, keepdims = true)
output min02 = min(x, axis = [2, 0])
output lse2 = logsumexp(x, axis = 2)
output lse_all = logsumexp(x)
output lse01_keep = logsumexp(x, axis = [0, 1], keepdims = true)
";
    #[rustfmt::skip]
    let expected = [
        expect("total", "f32", &[], &[0.0]),
        expect("sum0", "f32", &[3, 4], &[0.875, -1.375, -0.75, -0.125, 0.5, 1.125, -1.125, -0.5, 0.125, 0.75, 1.375, -0.875]),
        expect("sum12_keep", "f32", &[2, 1, 1], &[0.5, -0.5]),
        expect("mean_last", "f32", &[2, 3], &[-0.25, 0.28125, 0.09375, -0.09375, -0.28125, 0.25]),
        expect("mean_all", "f32", &[], &[0.0]),
        expect("max1_keep", "f32", &[2, 1, 4], &[1.25, 1.375, 0.625, 0.75, 0.875, 1.0, 1.125, 0.375]),
        expect("min02", "f32", &[3], &[-1.375, -1.25, -0.875]),
        expect("lse2", "f32", &[2, 3], &[1.3348508, 1.9612731, 1.8473918, 1.5862731, 1.4723918, 1.8348508]),
        expect("lse_all", "f32", &[], &[3.4892209]),
        expect("lse01_keep", "f32", &[1, 1, 4], &[2.271878, 2.245509, 2.0458465, 1.771878]),
    ];
    check(program, &[input("x", NpyType::F32, &[2, 3, 4], fill(24, 1, 1.0))], &expected);
}

/// x = fill(12, 2).reshape(3, 4)
/// lse_big = logsumexp(x * 1000, axis=1); lse_small = logsumexp(x * -1000, axis=0)
/// mean0 = x.mean(axis=0)
/// count_positive = (x > 0).sum(axis=1)   # i64
/// frac_positive = (x > 0).mean()         # f32
#[test]
fn stable_logsumexp_and_counting_reductions_f64() {
    let program = "
input x : f64[3, 4]
output lse_big = logsumexp(x * 1000, axis = 1)
output lse_small = logsumexp(x * -1000, axis = 0)
output mean0 = mean(x, axis = 0)
output count_positive = sum(x > 0, axis = 1)
output frac_positive = mean(x > 0)
";
    #[rustfmt::skip]
    let expected = [
        expect("lse_big", "f64", &[3], &[1375.0, 375.0, 1000.0]),
        expect("lse_small", "f64", &[4], &[250.0, 1375.0, 1250.0, 750.0]),
        expect("mean0", "f64", &[4], &[0.7083333333333334, -0.4166666666666667, -0.5833333333333334, 0.20833333333333334]),
        expect("count_positive", "i64", &[3], &[3.0, 1.0, 2.0]),
        expect("frac_positive", "f32", &[], &[0.5]),
    ];
    check(program, &[input("x", NpyType::F64, &[3, 4], fill(12, 2, 1.0))], &expected);
}

/// z = fill(20, 3).reshape(4, 5); k = [3, 0, 4, 1]; t = np.eye(5)[k]
/// q = [[0.1, 0.2, 0.3, 0.25, 0.15]] * 4
/// log_p = log_softmax(z, 1); log_p0 = log_softmax(z, 0)
/// ce_int = ce_onehot = -np.sum(t * log_softmax(z, 1), axis=1)
/// ce_soft = -np.sum(q * log_softmax(z, 1), axis=1)
/// ce_axis0 = -np.sum(q * log_softmax(z, 0), axis=0)
/// mean_ce = np.mean(ce_int); err = np.mean((z - q) ** 2)
/// arg1 = np.argmax(z, axis=1); arg0_keep = np.argmax(z, axis=0)[None, :]
/// arg_all = np.argmax(z)
#[test]
fn log_softmax_cross_entropy_mse_and_argmax_f64() {
    let program = "
input z : f64[4, 5]
input k : i64[4]
input t : f64[4, 5]
input q : f64[4, 5]
output log_p = log_softmax(z, axis = 1)
output log_p0 = log_softmax(z, axis = 0)
output ce_int = cross_entropy(z, k)
output ce_onehot = cross_entropy(z, t)
output ce_soft = cross_entropy(z, q)
output ce_axis0 = cross_entropy(z, q, axis = 0)
output mean_ce = mean(cross_entropy(z, one_hot(k, 5, f64)))
output err = mse(z, q)
output arg1 = argmax(z, axis = 1)
output arg0_keep = argmax(z, axis = 0, keepdims = true)
output arg_all = argmax(z)
";
    let labels = [3usize, 0, 4, 1];
    let one_hot: Vec<f64> = labels.iter().flat_map(|&k| (0..5).map(move |j| if j == k { 1.0 } else { 0.0 })).collect();
    let soft: Vec<f64> = (0..4).flat_map(|_| [0.1, 0.2, 0.3, 0.25, 0.15]).collect();
    let inputs = [
        input("z", NpyType::F64, &[4, 5], fill(20, 3, 1.0)),
        input("k", NpyType::I64, &[4], labels.iter().map(|&k| k as f64).collect()),
        input("t", NpyType::F64, &[4, 5], one_hot),
        input("q", NpyType::F64, &[4, 5], soft),
    ];
    #[rustfmt::skip]
    let expected = [
        expect("log_p", "f64", &[4, 5], &[-1.9864722755680089, -3.111472275568009, -1.3614722755680089, -2.486472275568009, -0.736472275568009, -1.9864722755680089, -3.111472275568009, -1.3614722755680089, -2.486472275568009, -0.736472275568009, -1.9864722755680089, -3.111472275568009, -1.3614722755680089, -2.486472275568009, -0.736472275568009, -1.3853791323526359, -2.510379132352636, -0.7603791323526358, -1.8853791323526359, -3.010379132352636]),
        expect("log_p0", "f64", &[4, 5], &[-1.5835384551960126, -1.5835384551960126, -1.5835384551960126, -1.5835384551960126, -1.2525511941809042, -1.4585384551960126, -1.4585384551960126, -1.4585384551960126, -1.4585384551960126, -1.1275511941809042, -1.3335384551960126, -1.3335384551960126, -1.3335384551960126, -1.3335384551960126, -1.0025511941809042, -1.2085384551960126, -1.2085384551960126, -1.2085384551960126, -1.2085384551960126, -3.752551194180904]),
        expect("ce_int", "f64", &[4], &[2.486472275568009, 1.9864722755680089, 0.736472275568009, 2.510379132352636]),
        expect("ce_onehot", "f64", &[4], &[2.486472275568009, 1.9864722755680089, 0.736472275568009, 2.510379132352636]),
        expect("ce_soft", "f64", &[4], &[1.961472275568009, 1.961472275568009, 1.961472275568009, 1.7916291323526357]),
        expect("ce_axis0", "f64", &[5], &[0.558415382078405, 1.11683076415681, 1.675246146235215, 1.3960384551960126, 1.0702807165085426]),
        expect("mean_ce", "f64", &[], &[1.9299489897641657]),
        expect("err", "f64", &[], &[0.75859375]),
        expect("arg1", "i64", &[4], &[4.0, 4.0, 4.0, 2.0]),
        expect("arg0_keep", "i64", &[1, 5], &[3.0, 3.0, 3.0, 3.0, 2.0]),
        expect("arg_all", "i64", &[], &[14.0]),
    ];
    check(program, &inputs, &expected);
}

/// z = fill(12, 4).reshape(3, 4); k = [2, 2, 0]; t = np.eye(4)[k]
/// ce_int = ce_onehot = -np.sum(t * log_softmax(z, 1), axis=1)
/// err = np.mean((z - t) ** 2); acc = np.mean(np.argmax(z, axis=1) == k)
#[test]
fn cross_entropy_mse_and_accuracy_f32() {
    let program = "
input z : f32[N, 4]
input k : i64[N]
output ce_int = cross_entropy(z, k)
output ce_onehot = cross_entropy(z, one_hot(k, 4))
output err = mse(z, one_hot(k, 4))
output acc = mean(argmax(z, axis = 1) == k)
";
    let inputs =
        [input("z", NpyType::F32, &[3, 4], fill(12, 4, 1.0)), input("k", NpyType::I64, &[3], vec![2.0, 2.0, 0.0])];
    #[rustfmt::skip]
    let expected = [
        expect("ce_int", "f32", &[3], &[2.9612732, 1.5973918, 0.7112731]),
        expect("ce_onehot", "f32", &[3], &[2.9612732, 1.5973918, 0.7112731]),
        expect("err", "f32", &[], &[0.96744794]),
        expect("acc", "f32", &[], &[0.33333334]),
    ];
    check(program, &inputs, &expected);
}

/// a = fill(3, 1).reshape(3, 1); b = fill(4, 2).reshape(1, 4); c = fill(4, 3)
/// d = fill(8, 4).reshape(2, 1, 4)
/// a + b, a * c, b - a, np.maximum(a, b), np.minimum(c, a), a + d, 2 * a - 1,
/// a / (np.abs(b) + 1), (np.abs(a) + 1) ** b, d.sum(axis=2, keepdims=True) * b
#[test]
fn broadcasting_with_size_one_dimensions_f32() {
    let program = "
input a : f32[3, 1]
input b : f32[1, 4]
input c : f32[4]
input d : f32[2, 1, 4]
output a_plus_b = a + b
output a_times_c = a * c
output b_minus_a = b - a
output max_ab = maximum(a, b)
output min_ca = minimum(c, a)
output a_plus_d = a + d
output affine = 2 * a - 1
output ratio = a / (abs(b) + 1)
output power = (abs(a) + 1) ** b
output scalar_row = sum(d, axis = 2, keepdims = true) * b
";
    let inputs = [
        input("a", NpyType::F32, &[3, 1], fill(3, 1, 1.0)),
        input("b", NpyType::F32, &[1, 4], fill(4, 2, 1.0)),
        input("c", NpyType::F32, &[4], fill(4, 3, 1.0)),
        input("d", NpyType::F32, &[2, 1, 4], fill(8, 4, 1.0)),
    ];
    #[rustfmt::skip]
    let expected = [
        expect("a_plus_b", "f32", &[3, 4], &[1.375, 0.25, -0.875, 0.875, 0.25, -0.875, -2.0, -0.25, 2.0, 0.875, -0.25, 1.5]),
        expect("a_times_c", "f32", &[3, 4], &[-0.0, -0.0, 0.0, -0.0, 0.140625, 1.40625, -0.5625, 0.703125, -0.078125, -0.78125, 0.3125, -0.390625]),
        expect("b_minus_a", "f32", &[3, 4], &[1.375, 0.25, -0.875, 0.875, 2.5, 1.375, 0.25, 2.0, 0.75, -0.375, -1.5, 0.25]),
        expect("max_ab", "f32", &[3, 4], &[1.375, 0.25, 0.0, 0.875, 1.375, 0.25, -0.875, 0.875, 1.375, 0.625, 0.625, 0.875]),
        expect("min_ca", "f32", &[3, 4], &[-0.125, -1.25, 0.0, -0.625, -1.125, -1.25, -1.125, -1.125, -0.125, -1.25, 0.5, -0.625]),
        expect("a_plus_d", "f32", &[2, 3, 4], &[1.25, 0.125, -1.0, 0.75, 0.125, -1.0, -2.125, -0.375, 1.875, 0.75, -0.375, 1.375, -0.375, 1.375, 0.25, -0.875, -1.5, 0.25, -0.875, -2.0, 0.25, 2.0, 0.875, -0.25]),
        expect("affine", "f32", &[3, 1], &[-1.0, -3.25, 0.25]),
        expect("ratio", "f32", &[3, 4], &[0.0, 0.0, 0.0, 0.0, -0.47368422, -0.9, -0.6, -0.6, 0.2631579, 0.5, 0.33333334, 0.33333334]),
        expect("power", "f32", &[3, 4], &[1.0, 1.0, 1.0, 1.0, 2.8191524, 1.2073683, 0.5170838, 1.9339225, 1.9495006, 1.1290504, 0.6538879, 1.5293142]),
        expect("scalar_row", "f32", &[2, 1, 4], &[1.546875, 0.28125, -0.984375, 0.984375, 0.515625, 0.09375, -0.328125, 0.328125]),
    ];
    check(program, &inputs, &expected);
}

/// z = fill(20, 5).reshape(4, 5)
/// z[::-1, ::2], z[1:3, -1], z[-2:, ::-2], z[:, 3:0:-1], z[::-2, 1], z[-1],
/// z[2, -3], z[::-1, ::-1], z[:, -1:-9:-1], z[3:1]
#[test]
fn slicing_with_negative_steps_f64() {
    let program = "
input z : f64[4, 5]
output rows_reversed_cols_even = z[::-1, ::2]
output middle_last = z[1:3, -1]
output tail_back2 = z[-2:, ::-2]
output cols_3_to_1 = z[:, 3:0:-1]
output every_other_row_col1 = z[::-2, 1]
output last_row = z[-1]
output element = z[2, -3]
output all_reversed = z[::-1, ::-1]
output beyond_start = z[:, -1:-9:-1]
output empty_rows = z[3:1]
";
    #[rustfmt::skip]
    let expected = [
        expect("rows_reversed_cols_even", "f64", &[4, 3], &[0.125, 0.75, 1.375, 0.0, 0.625, 1.25, -0.125, 0.5, 1.125, -0.25, 0.375, 1.0]),
        expect("middle_last", "f64", &[2], &[1.125, 1.25]),
        expect("tail_back2", "f64", &[2, 3], &[1.25, 0.625, 0.0, 1.375, 0.75, 0.125]),
        expect("cols_3_to_1", "f64", &[4, 3], &[-0.75, 0.375, -1.375, -0.625, 0.5, -1.25, -0.5, 0.625, -1.125, -0.375, 0.75, -1.0]),
        expect("every_other_row_col1", "f64", &[2], &[-1.0, -1.25]),
        expect("last_row", "f64", &[5], &[0.125, -1.0, 0.75, -0.375, 1.375]),
        expect("element", "f64", &[], &[0.625]),
        expect("all_reversed", "f64", &[4, 5], &[1.375, -0.375, 0.75, -1.0, 0.125, 1.25, -0.5, 0.625, -1.125, 0.0, 1.125, -0.625, 0.5, -1.25, -0.125, 1.0, -0.75, 0.375, -1.375, -0.25]),
        expect("beyond_start", "f64", &[4, 5], &[1.0, -0.75, 0.375, -1.375, -0.25, 1.125, -0.625, 0.5, -1.25, -0.125, 1.25, -0.5, 0.625, -1.125, 0.0, 1.375, -0.375, 0.75, -1.0, 0.125]),
        expect("empty_rows", "f64", &[0, 5], &[]),
    ];
    check(program, &[input("z", NpyType::F64, &[4, 5], fill(20, 5, 1.0))], &expected);
}

/// Steps as large as an i64 allows: one element per axis, as in Python.
/// z = fill(20, 5).reshape(4, 5); M = 2**63 - 1
/// z[:, ::M], z[:, ::-M], z[::-M], z[:, 1:0:-M]
#[test]
fn slicing_with_the_largest_steps_f64() {
    let program = "
input z : f64[4, 5]
output first_column = z[:, ::9223372036854775807]
output last_column = z[:, ::-9223372036854775807]
output last_row = z[::-9223372036854775807]
output from_one_back = z[:, 1:0:-9223372036854775807]
";
    #[rustfmt::skip]
    let expected = [
        expect("first_column", "f64", &[4, 1], &[-0.25, -0.125, 0.0, 0.125]),
        expect("last_column", "f64", &[4, 1], &[1.0, 1.125, 1.25, 1.375]),
        expect("last_row", "f64", &[1, 5], &[0.125, -1.0, 0.75, -0.375, 1.375]),
        expect("from_one_back", "f64", &[4, 1], &[-1.375, -1.25, -1.125, -1.0]),
    ];
    check(program, &[input("z", NpyType::F64, &[4, 5], fill(20, 5, 1.0))], &expected);
}

/// x = fill(6, 1).reshape(2, 3); y = fill(12, 2).reshape(4, 3)
/// u = fill(24, 3).reshape(2, 3, 4)
/// np.concatenate([x, y], axis=0), np.concatenate([x, x[:, ::-1]], axis=-1),
/// np.concatenate([u, u * 2, u[:1]], axis=0), np.transpose(u, (2, 0, 1)),
/// x.T, u.T, u.reshape(4, -1), u.reshape(3, 8), u.reshape(2, -1),
/// x.reshape(-1), np.broadcast_to(x[0], (3, 3))
#[test]
fn concat_transpose_reshape_and_broadcast_to_f32() {
    let program = "
input x : f32[2, 3]
input y : f32[4, 3]
input u : f32[2, 3, 4]
output rows_joined = concat([x, y], axis = 0)
output cols_joined = concat([x, x[:, ::-1]], axis = -1)
output three_joined = concat([u, u * 2, u[:1]])
output perm201 = transpose(u, [2, 0, 1])
output x_t = transpose(x)
output u_t = transpose(u)
output reshaped = reshape(u, [4, -1])
output reshaped_38 = reshape(u, [3, 8])
output flat = flatten(u)
output vector = reshape(x, [-1])
output to_grid = broadcast_to(x[0], [3, 3])
";
    let inputs = [
        input("x", NpyType::F32, &[2, 3], fill(6, 1, 1.0)),
        input("y", NpyType::F32, &[4, 3], fill(12, 2, 1.0)),
        input("u", NpyType::F32, &[2, 3, 4], fill(24, 3, 1.0)),
    ];
    #[rustfmt::skip]
    let expected = [
        expect("rows_joined", "f32", &[6, 3], &[0.0, -1.125, 0.625, -0.5, 1.25, 0.125, 1.375, 0.25, -0.875, 0.875, -0.25, -1.375, 0.375, -0.75, 1.0, -0.125, -1.25, 0.5]),
        expect("cols_joined", "f32", &[2, 6], &[0.0, -1.125, 0.625, 0.625, -1.125, 0.0, -0.5, 1.25, 0.125, 0.125, 1.25, -0.5]),
        expect("three_joined", "f32", &[5, 3, 4], &[-0.125, -1.25, 0.5, -0.625, 1.125, 0.0, -1.125, 0.625, -0.5, 1.25, 0.125, -1.0, 0.75, -0.375, 1.375, 0.25, -0.875, 0.875, -0.25, -1.375, 0.375, -0.75, 1.0, -0.125, -0.25, -2.5, 1.0, -1.25, 2.25, 0.0, -2.25, 1.25, -1.0, 2.5, 0.25, -2.0, 1.5, -0.75, 2.75, 0.5, -1.75, 1.75, -0.5, -2.75, 0.75, -1.5, 2.0, -0.25, -0.125, -1.25, 0.5, -0.625, 1.125, 0.0, -1.125, 0.625, -0.5, 1.25, 0.125, -1.0]),
        expect("perm201", "f32", &[4, 2, 3], &[-0.125, 1.125, -0.5, 0.75, -0.875, 0.375, -1.25, 0.0, 1.25, -0.375, 0.875, -0.75, 0.5, -1.125, 0.125, 1.375, -0.25, 1.0, -0.625, 0.625, -1.0, 0.25, -1.375, -0.125]),
        expect("x_t", "f32", &[3, 2], &[0.0, -0.5, -1.125, 1.25, 0.625, 0.125]),
        expect("u_t", "f32", &[4, 3, 2], &[-0.125, 0.75, 1.125, -0.875, -0.5, 0.375, -1.25, -0.375, 0.0, 0.875, 1.25, -0.75, 0.5, 1.375, -1.125, -0.25, 0.125, 1.0, -0.625, 0.25, 0.625, -1.375, -1.0, -0.125]),
        expect("reshaped", "f32", &[4, 6], &[-0.125, -1.25, 0.5, -0.625, 1.125, 0.0, -1.125, 0.625, -0.5, 1.25, 0.125, -1.0, 0.75, -0.375, 1.375, 0.25, -0.875, 0.875, -0.25, -1.375, 0.375, -0.75, 1.0, -0.125]),
        expect("reshaped_38", "f32", &[3, 8], &[-0.125, -1.25, 0.5, -0.625, 1.125, 0.0, -1.125, 0.625, -0.5, 1.25, 0.125, -1.0, 0.75, -0.375, 1.375, 0.25, -0.875, 0.875, -0.25, -1.375, 0.375, -0.75, 1.0, -0.125]),
        expect("flat", "f32", &[2, 12], &[-0.125, -1.25, 0.5, -0.625, 1.125, 0.0, -1.125, 0.625, -0.5, 1.25, 0.125, -1.0, 0.75, -0.375, 1.375, 0.25, -0.875, 0.875, -0.25, -1.375, 0.375, -0.75, 1.0, -0.125]),
        expect("vector", "f32", &[6], &[0.0, -1.125, 0.625, -0.5, 1.25, 0.125]),
        expect("to_grid", "f32", &[3, 3], &[0.0, -1.125, 0.625, 0.0, -1.125, 0.625, 0.0, -1.125, 0.625]),
    ];
    check(program, &inputs, &expected);
}

/// a = fill(12, 1).reshape(3, 4); b = a with b.flat[[1, 3, 4, 7, 10]] = [-1, 0.5, 0.25, 2, -0.125]
/// np.where(a > b, a, b), np.where(a > 0, a, 0), a == b, a != b, a <= 0.5,
/// a >= b, a < b, (a > 0) & (b < 0), (a > 0) | (b > 0), ~(a > 0), ~(a > b),
/// np.sum(a == b)
#[test]
fn where_comparisons_and_logic_f32() {
    let program = "
input a : f32[3, 4]
input b : f32[3, 4]
output larger = where(a > b, a, b)
output positive_part = where(a > 0, a, 0)
output is_eq = a == b
output is_ne = a != b
output le_half = a <= 0.5
output is_ge = a >= b
output is_lt = a < b
output both = (a > 0) and (b < 0)
output either = logical_or(a > 0, b > 0)
output not_positive = not (a > 0)
output not_greater = logical_not(a > b)
output count_eq = sum(a == b)
";
    let a = fill(12, 1, 1.0);
    let mut b = a.clone();
    for (i, v) in [(1, -1.0), (3, 0.5), (4, 0.25), (7, 2.0), (10, -0.125)] {
        b[i] = v;
    }
    let inputs = [input("a", NpyType::F32, &[3, 4], a), input("b", NpyType::F32, &[3, 4], b)];
    #[rustfmt::skip]
    let expected = [
        expect("larger", "f32", &[3, 4], &[0.0, -1.0, 0.625, 0.5, 1.25, 0.125, -1.0, 2.0, -0.375, 1.375, 0.25, -0.875]),
        expect("positive_part", "f32", &[3, 4], &[0.0, 0.0, 0.625, 0.0, 1.25, 0.125, 0.0, 0.75, 0.0, 1.375, 0.25, 0.0]),
        expect("is_eq", "bool", &[3, 4], &[1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]),
        expect("is_ne", "bool", &[3, 4], &[0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]),
        expect("le_half", "bool", &[3, 4], &[1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0]),
        expect("is_ge", "bool", &[3, 4], &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]),
        expect("is_lt", "bool", &[3, 4], &[0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
        expect("both", "bool", &[3, 4], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        expect("either", "bool", &[3, 4], &[0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]),
        expect("not_positive", "bool", &[3, 4], &[1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]),
        expect("not_greater", "bool", &[3, 4], &[1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0]),
        expect("count_eq", "i64", &[], &[7.0]),
    ];
    check(program, &inputs, &expected);
}

/// x = [[2.75, 0.5, -1.75], [0.0, -0.5, -2.99]]; k = [0, 3, 1, 5, -1]
/// one_hot(k, 4) as jax.nn.one_hot: a row of zeros for a label outside 0..4
/// (in numpy: (k[:, None] == np.arange(4)).astype(dtype)), in f32, i64, f64;
/// x.astype(np.int64) (truncates toward zero), x.astype(np.float32),
/// k.astype(np.float64), (x > 0).astype(np.float32), k.astype(bool),
/// x.astype(bool), (x > 0).astype(np.int64)
#[test]
fn one_hot_and_cast_f64() {
    let program = "
input x : f64[2, 3]
input k : i64[5]
output hot = one_hot(k, 4)
output hot_i64 = one_hot(k, 4, i64)
output hot_f64 = one_hot(k, 4, dtype = f64)
output truncated = cast(x, i64)
output as_f32 = cast(x, f32)
output k_f64 = cast(k, f64)
output positive_f32 = cast(x > 0, f32)
output k_bool = cast(k, bool)
output x_bool = cast(x, bool)
output positive_i64 = cast(x > 0, i64)
";
    let inputs = [
        input("x", NpyType::F64, &[2, 3], vec![2.75, 0.5, -1.75, 0.0, -0.5, -2.99]),
        input("k", NpyType::I64, &[5], vec![0.0, 3.0, 1.0, 5.0, -1.0]),
    ];
    #[rustfmt::skip]
    let expected = [
        expect("hot", "f32", &[5, 4], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        expect("hot_i64", "i64", &[5, 4], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        expect("hot_f64", "f64", &[5, 4], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        expect("truncated", "i64", &[2, 3], &[2.0, 0.0, -1.0, 0.0, 0.0, -2.0]),
        expect("as_f32", "f32", &[2, 3], &[2.75, 0.5, -1.75, 0.0, -0.5, -2.99]),
        expect("k_f64", "f64", &[5], &[0.0, 3.0, 1.0, 5.0, -1.0]),
        expect("positive_f32", "f32", &[2, 3], &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
        expect("k_bool", "bool", &[5], &[0.0, 1.0, 1.0, 1.0, 1.0]),
        expect("x_bool", "bool", &[2, 3], &[1.0, 1.0, 1.0, 0.0, 1.0, 1.0]),
        expect("positive_i64", "i64", &[2, 3], &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
    ];
    check(program, &inputs, &expected);
}

/// k = [7, -7, 6, -6, 0, 13]; d = [2, 2, -4, -4, 3, -5]
/// k // d, k // 3, k // -3, k - (k // 2) * 2, k // (d - d) (0, as numpy
/// gives with a warning), k.sum(), k.mean() (f32), k.max(), k * d + 1,
/// np.abs(k), np.sign(k), k ** 2, np.maximum(k, d), k ** 3, -k
#[test]
fn integer_floor_division_and_arithmetic_i64() {
    let program = "
input k : i64[6]
input d : i64[6]
output quotient = k / d
output by3 = k / 3
output by_minus3 = k / -3
output parity = k - (k / 2) * 2
output by_zero = k / (d - d)
output total = sum(k)
output average = mean(k)
output largest = max(k)
output affine = k * d + 1
output magnitude = abs(k)
output signs = sign(k)
output squares = square(k)
output elementwise_max = maximum(k, d)
output cubes = k ** 3
output negated = -k
";
    let inputs = [
        input("k", NpyType::I64, &[6], vec![7.0, -7.0, 6.0, -6.0, 0.0, 13.0]),
        input("d", NpyType::I64, &[6], vec![2.0, 2.0, -4.0, -4.0, 3.0, -5.0]),
    ];
    #[rustfmt::skip]
    let expected = [
        expect("quotient", "i64", &[6], &[3.0, -4.0, -2.0, 1.0, 0.0, -3.0]),
        expect("by3", "i64", &[6], &[2.0, -3.0, 2.0, -2.0, 0.0, 4.0]),
        expect("by_minus3", "i64", &[6], &[-3.0, 2.0, -2.0, 2.0, 0.0, -5.0]),
        expect("parity", "i64", &[6], &[1.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
        expect("by_zero", "i64", &[6], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        expect("total", "i64", &[], &[13.0]),
        expect("average", "f32", &[], &[2.1666667]),
        expect("largest", "i64", &[], &[13.0]),
        expect("affine", "i64", &[6], &[15.0, -13.0, -23.0, 25.0, 1.0, -64.0]),
        expect("magnitude", "i64", &[6], &[7.0, 7.0, 6.0, 6.0, 0.0, 13.0]),
        expect("signs", "i64", &[6], &[1.0, -1.0, 1.0, -1.0, 0.0, 1.0]),
        expect("squares", "i64", &[6], &[49.0, 49.0, 36.0, 36.0, 0.0, 169.0]),
        expect("elementwise_max", "i64", &[6], &[7.0, 2.0, 6.0, -4.0, 3.0, 13.0]),
        expect("cubes", "i64", &[6], &[343.0, -343.0, 216.0, -216.0, 0.0, 2197.0]),
        expect("negated", "i64", &[6], &[-7.0, 7.0, -6.0, 6.0, 0.0, -13.0]),
    ];
    check(program, &inputs, &expected);
}

/// z = fill(12, 6).reshape(3, 4)
/// np.exp(z), np.log(np.abs(z) + 1), np.log1p(np.abs(z)), np.expm1(z),
/// np.sqrt(np.abs(z)), np.tanh(z), np.sin(z), np.cos(z), 1 / (z + 2),
/// np.sign(z), np.square(z), np.maximum(z, 0),
/// sigmoid(-200 z) computed stably (exp(x) / (1 + exp(x)) for x < 0),
/// np.logaddexp(0, 1000 * z), log_softmax(z * 1000, 1)
#[test]
fn elementwise_functions_and_stable_forms_f64() {
    let program = "
input z : f64[3, 4]
output exp_z = exp(z)
output log_z = log(abs(z) + 1)
output log1p_z = log1p(abs(z))
output expm1_z = expm1(z)
output sqrt_z = sqrt(abs(z))
output tanh_z = tanh(z)
output sin_z = sin(z)
output cos_z = cos(z)
output reciprocal_z = reciprocal(z + 2)
output sign_z = sign(z)
output square_z = square(z)
output relu_z = relu(z)
output sigmoid_big_z = sigmoid(-200 * z)
output softplus_big_z = softplus(1000 * z)
output log_p_big_z = log_softmax(z * 1000, axis = 1)
";
    #[rustfmt::skip]
    let expected = [
        expect("exp_z", "f64", &[3, 4], &[3.080216848918031, 1.0, 0.32465246735834974, 1.8682459574322223, 0.6065306597126334, 3.4903429574618414, 1.1331484530668263, 0.36787944117144233, 2.117000016612675, 0.6872892787909722, 3.955076722920577, 1.2840254166877414]),
        expect("log_z", "f64", &[3, 4], &[0.7537718023763802, 0.0, 0.7537718023763802, 0.4855078157817008, 0.4054651081081644, 0.8109302162163288, 0.11778303565638346, 0.6931471805599453, 0.5596157879354227, 0.3184537311185346, 0.8649974374866045, 0.22314355131420976]),
        expect("log1p_z", "f64", &[3, 4], &[0.7537718023763802, 0.0, 0.7537718023763802, 0.4855078157817008, 0.4054651081081644, 0.8109302162163288, 0.11778303565638346, 0.6931471805599453, 0.5596157879354227, 0.3184537311185346, 0.8649974374866045, 0.22314355131420976]),
        expect("expm1_z", "f64", &[3, 4], &[2.080216848918031, 0.0, -0.6753475326416503, 0.8682459574322224, -0.3934693402873666, 2.4903429574618414, 0.13314845306682632, -0.6321205588285577, 1.1170000166126746, -0.3127107212090278, 2.955076722920577, 0.2840254166877415]),
        expect("sqrt_z", "f64", &[3, 4], &[1.0606601717798212, 0.0, 1.0606601717798212, 0.7905694150420949, 0.7071067811865476, 1.118033988749895, 0.3535533905932738, 1.0, 0.8660254037844386, 0.6123724356957945, 1.1726039399558574, 0.5]),
        expect("tanh_z", "f64", &[3, 4], &[0.809301070201781, 0.0, -0.809301070201781, 0.5545997223493823, -0.46211715726000974, 0.8482836399575129, 0.12435300177159621, -0.7615941559557649, 0.6351489523872873, -0.35835739835078595, 0.8798266996519848, 0.24491866240370913]),
        expect("sin_z", "f64", &[3, 4], &[0.9022675940990952, 0.0, -0.9022675940990952, 0.5850972729404622, -0.479425538604203, 0.9489846193555862, 0.12467473338522769, -0.8414709848078965, 0.6816387600233341, -0.36627252908604757, 0.9808930570231557, 0.24740395925452294]),
        expect("cos_z", "f64", &[3, 4], &[0.4311765167986662, 1.0, 0.4311765167986662, 0.8109631195052179, 0.8775825618903728, 0.3153223623952687, 0.992197667229329, 0.5403023058681398, 0.7316888688738209, 0.9305076219123143, 0.19454770798898718, 0.9689124217106447]),
        expect("reciprocal_z", "f64", &[3, 4], &[0.32, 0.5, 1.1428571428571428, 0.38095238095238093, 0.6666666666666666, 0.3076923076923077, 0.47058823529411764, 1.0, 0.36363636363636365, 0.6153846153846154, 0.2962962962962963, 0.4444444444444444]),
        expect("sign_z", "f64", &[3, 4], &[1.0, 0.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0]),
        expect("square_z", "f64", &[3, 4], &[1.265625, 0.0, 1.265625, 0.390625, 0.25, 1.5625, 0.015625, 1.0, 0.5625, 0.140625, 1.890625, 0.0625]),
        expect("relu_z", "f64", &[3, 4], &[1.125, 0.0, 0.0, 0.625, 0.0, 1.25, 0.125, 0.0, 0.75, 0.0, 1.375, 0.25]),
        expect("sigmoid_big_z", "f64", &[3, 4], &[1.921947727823849e-98, 0.5, 1.0, 5.166420632837861e-55, 1.0, 2.6691902155412764e-109, 1.3887943864771146e-11, 1.0, 7.175095973164411e-66, 1.0, 3.706956387834846e-120, 1.9287498479639178e-22]),
        expect("softplus_big_z", "f64", &[3, 4], &[1125.0, 0.6931471805599453, 0.0, 625.0, 7.124576406741286e-218, 1250.0, 125.0, 0.0, 750.0, 1.3790159402541388e-163, 1375.0, 250.0]),
        expect("log_p_big_z", "f64", &[3, 4], &[0.0, -1125.0, -2250.0, -500.0, -1750.0, 0.0, -1125.0, -2250.0, -625.0, -1750.0, 0.0, -1125.0]),
    ];
    check(program, &[input("z", NpyType::F64, &[3, 4], fill(12, 6, 1.0))], &expected);
}
