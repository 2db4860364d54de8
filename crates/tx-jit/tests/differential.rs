//! The JIT against the interpreter. `tx_interp::evaluate` is the oracle:
//! every op of the op table on every dtype it accepts, with numpy
//! broadcasting, size-0 and size-1 dimensions, inputs in any memory layout
//! and operands that are strided views inside the graph; fused kernels from
//! `-O2`; thousands of random graphs at `-O0` and `-O2`; and the behaviour of
//! an executable across calls (buffer reuse, new batch sizes, threads, bad
//! arguments).
//!
//! # Tolerances
//!
//! Results must have the same dtype and shape. i64 and bool elements must be
//! identical. Two float elements agree when both are NaN, when both are the
//! same infinity, or when both are finite and
//!
//! ```text
//! |jit - interp| <= atol * scale + rtol * |interp|
//! ```
//!
//! - f32: rtol 2e-5, atol 1e-6; f64: rtol 1e-12, atol 1e-14. The JIT's
//!   transcendental functions are polynomials good to a few ulp (eps is
//!   1.2e-7 for f32, 2.2e-16 for f64), and it sums in another order (vector
//!   lanes; f32 sums in f32 where the interpreter accumulates in f64), so a
//!   result that went through several roundings (softmax: an exp, a sum of n
//!   terms, a division) may be tens of eps away; rtol is ~170 eps (f32) and
//!   ~4500 eps (f64), and atol covers results that cancel to about zero.
//! - `scale` is 1, except for sums and means, where it is the same reduction
//!   of |x|, and for matmuls, where it is |a| @ |b|: the magnitude that
//!   bounds the rounding error of a sum in any order.
//! - Graphs of many ops (random graphs, fused kernels, programs) amplify
//!   rounding differences through ill-conditioned steps (cancellation,
//!   `pow`, division by a log-softmax near 0, a `where` on a value near 0).
//!   There a difference beyond the bounds above is accepted only where the
//!   output is that sensitive: the interpreter is run again op by op with
//!   every value moved by 1 to 4 times the rounding error the JIT is
//!   allowed at that op (a few ulp for the inputs and for transcendental
//!   functions, sqrt(n) ulp of the magnitude for sums, softmax and matmul,
//!   nothing for exactly rounded arithmetic; see [`rounding`]), and the
//!   difference must be within 16 times how far that moves the output (two
//!   runs; see [`sensitivity`]).
//!
//! When the interpreter rejects a call (`EvalError`), the JIT must reject it
//! too; a JIT panic is always a failure.
//!
//! Most tests collect every failing case and report them all at the end, so
//! that one run lists everything that is wrong.

// Case tables are tuples of the values each case needs.
#![allow(clippy::type_complexity)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use ndarray::{ArrayD, Axis, IxDyn, ShapeBuilder, Slice};
use proptest::prelude::*;
use tx_interp::EvalError;
use tx_ir::{AxisSlice, BinaryOp, DType, Dim, Distribution, Graph, Init, Kernel, KernelArg, KernelKind, KernelNode};
use tx_ir::{NodeId, Op, ReduceOp, Scalar, Shape, Type, UnaryOp};
use tx_jit::Options;
use tx_opt::{Level, OptConfig, optimize};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

// ---------------------------------------------------------------------------
// Comparison

#[derive(Clone, Copy, Debug)]
struct Tol {
    rtol: f64,
    atol: f64,
}

fn tolerance(dtype: DType) -> Tol {
    match dtype {
        DType::F32 => Tol { rtol: 2e-5, atol: 1e-6 },
        _ => Tol { rtol: 1e-12, atol: 1e-14 },
    }
}

/// The multi-index of row-major element `flat` of `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        *slot = flat % dim.max(1);
        flat /= dim.max(1);
    }
    index
}

/// Whether `got` agrees with `expected` (the interpreter's) under the
/// tolerances of the module documentation. `scale` multiplies atol per
/// element; `slack` is an extra allowance per element (infinite: anything).
fn compare(expected: &Tensor, got: &Tensor, scale: Option<&[f64]>, slack: Option<&[f64]>) -> Result<(), String> {
    if expected.ty() != got.ty() {
        return Err(format!("expected a value of type {}, got {}", expected.ty(), got.ty()));
    }
    let exact = matches!(expected.dtype(), DType::I64 | DType::Bool) && slack.is_none();
    if exact {
        let same = match (expected, got) {
            (Tensor::I64(e), Tensor::I64(g)) => e.iter().zip(g.iter()).map(|(a, b)| a == b).collect::<Vec<_>>(),
            (Tensor::Bool(e), Tensor::Bool(g)) => e.iter().zip(g.iter()).map(|(a, b)| a == b).collect(),
            _ => unreachable!("the types are equal"),
        };
        let bad: Vec<usize> = (0..same.len()).filter(|&i| !same[i]).collect();
        return describe(expected, got, &bad);
    }
    let Tol { rtol, atol } = tolerance(expected.dtype());
    let (e, g) = (expected.to_f64s(), got.to_f64s());
    let mut bad = Vec::new();
    for i in 0..e.len() {
        let (x, y) = (e[i], g[i]);
        let bound = atol * scale.map_or(1.0, |s| s[i]) + rtol * x.abs();
        let ok = if x.is_nan() || y.is_nan() {
            x.is_nan() && y.is_nan()
        } else if x.is_infinite() || y.is_infinite() {
            x == y
        } else {
            (x - y).abs() <= bound
        };
        let excused = slack.is_some_and(|s| s[i].is_infinite() || (x - y).abs() <= bound + s[i]);
        if !ok && !excused {
            bad.push(i);
        }
    }
    describe(expected, got, &bad)
}

fn describe(expected: &Tensor, got: &Tensor, bad: &[usize]) -> Result<(), String> {
    if bad.is_empty() {
        return Ok(());
    }
    let (e, g) = (expected.to_f64s(), got.to_f64s());
    let shown: Vec<String> = bad
        .iter()
        .take(4)
        .map(|&i| format!("at {:?}: expected {:e}, got {:e}", unravel(i, expected.shape()), e[i], g[i]))
        .collect();
    Err(format!("{} of {} elements differ ({})", bad.len(), e.len(), shown.join("; ")))
}

// ---------------------------------------------------------------------------
// Running both

fn refs(named: &[(String, Tensor)]) -> Vec<(&str, &Tensor)> {
    named.iter().map(|(n, t)| (n.as_str(), t)).collect()
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".to_string())
}

fn jit_error(stage: &str, e: &EvalError) -> String {
    format!("the JIT failed to {stage}: {e}")
}

/// Compiles `outputs` and runs the executable `calls` times on the same
/// arguments; a panic is an error.
fn jit_calls(
    graph: &Graph,
    outputs: &[NodeId],
    inputs: &[(String, Tensor)],
    params: &[(String, Tensor)],
    options: &Options,
    calls: usize,
) -> Result<Vec<Vec<Tensor>>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut exe = tx_jit::compile(graph, outputs, options).map_err(|e| jit_error("compile", &e))?;
        (0..calls).map(|_| exe.run(&refs(inputs), &refs(params)).map_err(|e| jit_error("run", &e))).collect()
    }))
    .unwrap_or_else(|panic| Err(format!("the JIT panicked: {}", panic_text(panic))))
}

/// The JIT (called twice, so that the second call reuses the plan and its
/// buffers) against the interpreter on one set of arguments. `scales` gives
/// per output the atol scale of each element (none: 1); `sensitive` accepts
/// differences where the output is ill-conditioned (random graphs).
#[allow(clippy::too_many_arguments)]
fn differential(
    graph: &Graph,
    outputs: &[NodeId],
    inputs: &[(String, Tensor)],
    params: &[(String, Tensor)],
    options: &Options,
    scales: &[Option<Vec<f64>>],
    sensitive: bool,
) -> Result<(), String> {
    let expected = tx_interp::evaluate(graph, &refs(inputs), &refs(params), outputs);
    let got = jit_calls(graph, outputs, inputs, params, options, 2);
    let (expected, calls) = match (expected, got) {
        (Err(_), Err(e)) if e.contains("panicked") => return Err(e),
        (Err(_), Err(_)) => return Ok(()),
        (Err(e), Ok(_)) => return Err(format!("the interpreter rejects the call ({e}) but the JIT returned values")),
        (Ok(_), Err(e)) => return Err(e),
        (Ok(expected), Ok(calls)) => (expected, calls),
    };
    let mut slack: Option<Vec<Vec<f64>>> = None;
    for (call, got) in calls.iter().enumerate() {
        if got.len() != expected.len() {
            return Err(format!("call {call}: {} outputs, expected {}", got.len(), expected.len()));
        }
        for (k, (e, g)) in expected.iter().zip(got).enumerate() {
            let scale = scales.get(k).and_then(|s| s.as_deref());
            let mut result = compare(e, g, scale, None);
            if result.is_err() && sensitive {
                if slack.is_none() {
                    slack = sensitivity(graph, outputs, inputs, params, &expected);
                }
                if let Some(slack) = &slack {
                    result = compare(e, g, scale, Some(&slack[k]));
                }
            }
            result.map_err(|why| format!("call {call}, output {k} ({}): {why}", e.ty()))?;
        }
    }
    Ok(())
}

/// Per output element, an allowance for ill-conditioned outputs: 16 times
/// the largest change of the interpreter's result when every value moves by
/// as much as the JIT may round it differently ([`rounding`]), in two runs
/// with random signs and their two mirror images; infinite where a value changes between finite,
/// infinite and NaN. `None` when a perturbed evaluation fails.
fn sensitivity(
    graph: &Graph,
    outputs: &[NodeId],
    inputs: &[(String, Tensor)],
    params: &[(String, Tensor)],
    expected: &[Tensor],
) -> Option<Vec<Vec<f64>>> {
    let mut slack: Vec<Vec<f64>> = expected.iter().map(|t| vec![0.0; t.len()]).collect();
    // Each random pattern of nudges, and its mirror image: an element that
    // crosses a threshold (a sign, a comparison) when its inputs move one
    // way is covered whichever way the pattern happened to point.
    // Direction 0 instead rounds to exactly zero every value within its
    // allowance of zero, as the JIT may (x / x of such a value is NaN).
    for (seed, direction) in [(11, 1.0), (11, -1.0), (12, 1.0), (12, -1.0), (13, 0.0)] {
        let mut nudges = Nudges { rng: Rng::new(seed), direction };
        let values = perturbed_evaluation(graph, outputs, inputs, params, &mut nudges)?;
        for ((slack, e), p) in slack.iter_mut().zip(expected).zip(&values) {
            for ((s, x), y) in slack.iter_mut().zip(e.to_f64s()).zip(p.to_f64s()) {
                let d = (x - y).abs();
                let allowance = if d.is_finite() {
                    16.0 * d
                } else if (x.is_nan() && y.is_nan()) || x == y {
                    0.0
                } else {
                    f64::INFINITY
                };
                *s = s.max(allowance);
            }
        }
    }
    Some(slack)
}

/// The graph evaluated op by op with the interpreter's own kernels (fused
/// kernels body op by body op), every float value moved by 1 to 4 times its
/// [`rounding`] scale, in a random direction per element.
fn perturbed_evaluation(
    graph: &Graph,
    outputs: &[NodeId],
    inputs: &[(String, Tensor)],
    params: &[(String, Tensor)],
    rng: &mut Nudges,
) -> Option<Vec<Tensor>> {
    let call = tx_interp::bind_call(graph, &refs(inputs), &refs(params), outputs).ok()?;
    let mut values: Vec<Option<Tensor>> = vec![None; graph.len()];
    for (id, node) in graph.nodes().filter(|(id, _)| call.live[id.index()]) {
        let operands: Vec<&Tensor> = node.inputs.iter().map(|i| values[i.index()].as_ref()).collect::<Option<_>>()?;
        let value = match &node.op {
            Op::Input { .. } | Op::Param { .. } => nudge(call.given[id.index()]?, |_, v| v.abs(), rng),
            Op::Fused(kernel) => {
                let mut body: Vec<Tensor> = Vec::with_capacity(kernel.body.len());
                for n in &kernel.body {
                    let args: Vec<&Tensor> = n
                        .args
                        .iter()
                        .map(|a| match *a {
                            KernelArg::Operand(k) => operands.get(k).copied(),
                            KernelArg::Node(k) => body.get(k),
                        })
                        .collect::<Option<_>>()?;
                    let v = tx_interp::eval_op(&n.op, &args, &[]).ok()?;
                    body.push(rounding(&n.op, &args, v, rng));
                }
                body.pop()?
            }
            op => rounding(op, &operands, tx_interp::eval_op(op, &operands, &call.shapes[id.index()]).ok()?, rng),
        };
        values[id.index()] = Some(value);
    }
    outputs.iter().map(|o| values[o.index()].clone()).collect()
}

/// Random directions for [`nudge`], all of them flipped when `direction`
/// is -1; when it is 0, values within their allowance of zero become zero
/// and the others stay.
struct Nudges {
    rng: Rng,
    direction: f64,
}

/// Moves every finite float element `v` of `t` by 1 to 4 times
/// `eps * scale(i, v)`, up or down at random.
fn nudge(t: &Tensor, scale: impl Fn(usize, f64) -> f64, nudges: &mut Nudges) -> Tensor {
    let Nudges { rng, direction } = nudges;
    let eps = match t.dtype() {
        DType::F32 => f64::from(f32::EPSILON),
        DType::F64 => f64::EPSILON,
        _ => return t.clone(),
    };
    let moved: Vec<f64> = t
        .to_f64s()
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let units = (1.0 + 3.0 * rng.uniform()) * if rng.below(2) == 0 { *direction } else { -*direction };
            let step = eps * scale(i, v);
            match (v.is_finite(), *direction == 0.0) {
                (false, _) => v,
                (true, true) => {
                    if v.abs() <= 4.0 * step {
                        0.0
                    } else {
                        v
                    }
                }
                (true, false) => v + units * step,
            }
        })
        .collect();
    Tensor::from_f64s(t.dtype(), t.shape(), &moved).unwrap_or_else(|| t.clone())
}

/// `value` (of `op` on `operands`) moved by what the JIT may legitimately
/// round differently, in units of the dtype's epsilon:
///
/// - transcendental functions and `pow`: |v| (a few ulp; sin and cos
///   max(|v|, 1), their error being absolute);
/// - sums and means: sqrt(n) times the same reduction of |x| (another
///   order, f32 accumulated in f32); max and min: exact;
/// - logsumexp and log_softmax: |v| + sqrt(n) (absolute, from the log of
///   the sum); softmax: (1 + sqrt(n)) |v|;
/// - matmul: sqrt(k) (|a| @ |b|);
/// - everything else (arithmetic, comparisons, casts, data movement): exact,
///   rounded the same way by both.
fn rounding(op: &Op, operands: &[&Tensor], value: Tensor, rng: &mut Nudges) -> Tensor {
    if !value.dtype().is_float() {
        return value;
    }
    let count = |x: &Tensor, axes: &[usize]| axes.iter().map(|&a| x.shape()[a]).product::<usize>() as f64;
    match op {
        Op::Unary(UnaryOp::Sin | UnaryOp::Cos) => nudge(&value, |_, v| v.abs().max(1.0), rng),
        Op::Unary(
            UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Log1p
            | UnaryOp::Expm1
            | UnaryOp::Tanh
            | UnaryOp::Sigmoid
            | UnaryOp::Softplus,
        )
        | Op::Binary(BinaryOp::Pow) => nudge(&value, |_, v| v.abs(), rng),
        Op::Reduce { op: reduce @ (ReduceOp::Sum | ReduceOp::Mean), axes, .. } => {
            let n = count(operands[0], axes);
            let magnitude = reduce_scale(*reduce, operands[0], axes).unwrap_or_default();
            nudge(&value, |i, _| n.sqrt() * magnitude.get(i).copied().unwrap_or(0.0), rng)
        }
        Op::Reduce { op: ReduceOp::LogSumExp, axes, .. } => {
            let n = count(operands[0], axes);
            nudge(&value, |_, v| v.abs() + n.sqrt(), rng)
        }
        Op::LogSoftmax { axis } => {
            let n = operands[0].shape()[*axis] as f64;
            nudge(&value, |_, v| v.abs() + n.sqrt(), rng)
        }
        Op::Softmax { axis } => {
            let n = operands[0].shape()[*axis] as f64;
            nudge(&value, |_, v| (1.0 + n.sqrt()) * v.abs(), rng)
        }
        Op::MatMul => {
            let k = operands[0].shape().last().copied().unwrap_or(1) as f64;
            let magnitude = matmul_scale(operands[0], operands[1]).unwrap_or_default();
            nudge(&value, |i, _| k.sqrt() * magnitude.get(i).copied().unwrap_or(0.0), rng)
        }
        _ => value,
    }
}

/// Failing cases of one test, reported together at its end.
#[derive(Default)]
struct Failures {
    cases: usize,
    failed: Vec<String>,
}

impl Failures {
    fn record(&mut self, label: impl FnOnce() -> String, result: Result<(), String>) {
        self.cases += 1;
        if let Err(why) = result {
            self.failed.push(format!("{}: {why}", label()));
        }
    }

    fn finish(self, test: &str) {
        if self.failed.is_empty() {
            return;
        }
        let shown: Vec<&str> = self.failed.iter().map(String::as_str).take(150).collect();
        panic!("{test}: {} of {} cases fail:\n{}", self.failed.len(), self.cases, shown.join("\n"));
    }
}

// ---------------------------------------------------------------------------
// Values and layouts

/// Float values worth a special look: zeros, units, the edges of exp's range
/// for both widths, tiny and huge magnitudes, infinities and NaN.
const FLOAT_EDGES: [f64; 26] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1e-3,
    -1e-3,
    3.0,
    -3.0,
    10.0,
    -10.0,
    20.0,
    -20.0,
    88.5,
    -87.5,
    -103.0,
    700.0,
    -740.0,
    1e-30,
    1e-300,
    1e30,
    -1e30,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

const INT_EDGES: [i64; 15] = [0, 1, -1, 2, -2, 3, -7, 7, 63, 64, 1 << 40, -(1 << 40), i64::MAX, i64::MIN, i64::MIN + 1];

/// A rank-1 tensor of the edge values of `dtype`.
fn edges(dtype: DType) -> Tensor {
    match dtype {
        DType::F32 => {
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[26]), FLOAT_EDGES.map(|v| v as f32).to_vec()).unwrap())
        }
        DType::F64 => Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[26]), FLOAT_EDGES.to_vec()).unwrap()),
        DType::I64 => Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[15]), INT_EDGES.to_vec()).unwrap()),
        DType::Bool => Tensor::Bool(ArrayD::from_shape_vec(IxDyn(&[2]), vec![false, true]).unwrap()),
    }
}

/// Seeded values: floats N(0, 2²), i64 in -6..=6, bool a coin; with
/// `special`, one element in six is an edge value instead.
fn random_tensor(dtype: DType, shape: &[usize], rng: &mut Rng, special: bool) -> Tensor {
    let n: usize = shape.iter().product();
    let edge = |rng: &mut Rng| special && rng.below(6) == 0;
    match dtype {
        DType::F32 | DType::F64 => {
            let values: Vec<f64> = (0..n)
                .map(|_| if edge(rng) { FLOAT_EDGES[rng.below(26) as usize] } else { 2.0 * rng.normal() })
                .collect();
            Tensor::from_f64s(dtype, shape, &values).unwrap()
        }
        DType::I64 => {
            let values: Vec<i64> = (0..n)
                .map(|_| if edge(rng) { INT_EDGES[rng.below(15) as usize] } else { rng.below(13) as i64 - 6 })
                .collect();
            Tensor::I64(ArrayD::from_shape_vec(IxDyn(shape), values).unwrap())
        }
        DType::Bool => {
            let values: Vec<bool> = (0..n).map(|_| rng.uniform() < 0.5).collect();
            Tensor::Bool(ArrayD::from_shape_vec(IxDyn(shape), values).unwrap())
        }
    }
}

/// Elements of the padding around non-contiguous data: a kernel that reads
/// them gives a visibly wrong value.
trait Elem: Clone + Default + 'static {
    const SENTINEL: Self;
}

impl Elem for f32 {
    const SENTINEL: f32 = 12345.0;
}

impl Elem for f64 {
    const SENTINEL: f64 = 12345.0;
}

impl Elem for i64 {
    const SENTINEL: i64 = 12345;
}

impl Elem for bool {
    const SENTINEL: bool = true;
}

macro_rules! per_dtype {
    ($tensor:expr, $a:ident => $body:expr) => {
        match $tensor {
            Tensor::F32($a) => Tensor::F32($body),
            Tensor::F64($a) => Tensor::F64($body),
            Tensor::I64($a) => Tensor::I64($body),
            Tensor::Bool($a) => Tensor::Bool($body),
        }
    };
}

/// Column-major (what `reversed_axes` gives).
fn fortran<T: Elem>(a: &ArrayD<T>) -> ArrayD<T> {
    let mut f = ArrayD::from_elem(IxDyn(a.shape()).f(), T::SENTINEL);
    f.assign(a);
    f
}

/// Every axis walked with a negative stride.
fn negative<T: Elem>(a: &ArrayD<T>) -> ArrayD<T> {
    let mut b = a.view();
    for k in 0..b.ndim() {
        b.invert_axis(Axis(k));
    }
    let mut b = b.as_standard_layout().into_owned();
    for k in 0..b.ndim() {
        b.invert_axis(Axis(k));
    }
    b
}

/// Row-major, but starting one row into its allocation.
fn offset<T: Elem>(a: &ArrayD<T>) -> ArrayD<T> {
    if a.ndim() == 0 {
        return a.clone();
    }
    let mut shape = a.shape().to_vec();
    shape[0] += 1;
    let mut big = ArrayD::from_elem(IxDyn(&shape), T::SENTINEL);
    big.slice_axis_mut(Axis(0), Slice::from(1..)).assign(a);
    big.slice_axis_inplace(Axis(0), Slice::from(1..));
    big
}

/// The last axis twice as long, `a` at the even positions, row-major.
fn padded<T: Elem>(a: &ArrayD<T>) -> ArrayD<T> {
    let last = a.ndim() - 1;
    let mut shape = a.shape().to_vec();
    shape[last] *= 2;
    let mut wide = ArrayD::from_elem(IxDyn(&shape), T::SENTINEL);
    wide.slice_axis_mut(Axis(last), Slice::new(0, None, 2)).assign(a);
    wide
}

/// Every other element of the last axis of a padded array (stride 2).
fn every_other<T: Elem>(a: &ArrayD<T>) -> ArrayD<T> {
    let mut wide = padded(a);
    wide.slice_axis_inplace(Axis(a.ndim() - 1), Slice::new(0, None, 2));
    wide
}

/// The transpose's values, row-major.
fn transposed<T: Elem>(a: &ArrayD<T>) -> ArrayD<T> {
    a.t().as_standard_layout().into_owned()
}

/// The last axis reversed, row-major.
fn reversed_last<T: Elem>(a: &ArrayD<T>) -> ArrayD<T> {
    let mut v = a.view();
    v.invert_axis(Axis(a.ndim() - 1));
    v.as_standard_layout().into_owned()
}

/// How an operand reaches the op under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// An input given row-major.
    Standard,
    /// An input given column-major.
    Fortran,
    /// An input given with negative strides.
    Negative,
    /// An input given row-major at an offset into its allocation.
    Offset,
    /// An input given with a stride of 2 on its last axis.
    Gapped,
    /// An input given transposed, transposed back in the graph: a strided view.
    Transposed,
    /// An input given with its last axis reversed, reversed back by a slice of step -1.
    Reversed,
    /// Every other element of a padded input, by a slice of step 2.
    Strided,
}

/// Adds an input that gives `value` the way `via` says, and returns the node
/// holding `value`.
fn operand(g: &mut Graph, given: &mut Vec<(String, Tensor)>, value: &Tensor, via: Via) -> NodeId {
    let name = format!("x{}", given.len());
    let shape = value.shape().to_vec();
    let rank = shape.len();
    let last = shape.last().copied().unwrap_or(0);
    let full = |range: AxisSlice| {
        let mut axes = vec![AxisSlice::Full; rank];
        axes[rank - 1] = range;
        axes
    };
    let (tensor, view) = match via {
        Via::Fortran => (per_dtype!(value, a => fortran(a)), None),
        Via::Negative => (per_dtype!(value, a => negative(a)), None),
        Via::Offset => (per_dtype!(value, a => offset(a)), None),
        Via::Gapped if rank >= 1 => (per_dtype!(value, a => every_other(a)), None),
        Via::Transposed if rank >= 2 => {
            (per_dtype!(value, a => transposed(a)), Some(Op::Transpose { perm: (0..rank).rev().collect() }))
        }
        Via::Reversed if rank >= 1 && last > 0 => (
            per_dtype!(value, a => reversed_last(a)),
            Some(Op::Slice { axes: full(AxisSlice::Range { start: last - 1, step: -1, len: last }) }),
        ),
        Via::Strided if rank >= 1 => (
            per_dtype!(value, a => padded(a)),
            Some(Op::Slice { axes: full(AxisSlice::Range { start: 0, step: 2, len: last }) }),
        ),
        _ => (value.clone(), None),
    };
    let id = g.input(&name, tensor.ty()).unwrap();
    given.push((name, tensor));
    match view {
        Some(op) => g.add(op, &[id]).unwrap(),
        None => id,
    }
}

fn label(op: &Op, values: &[&Tensor], vias: &[Via]) -> String {
    let operands: Vec<String> = values.iter().zip(vias).map(|(t, via)| format!("{} ({via:?})", t.ty())).collect();
    format!("{}{} of {}", op.name(), op.attributes(), operands.join(", "))
}

/// One op on operands given `vias`, JIT against interpreter. `Ok` when the
/// graph cannot be built (the op refuses these operand types).
fn check_op(op: &Op, values: &[&Tensor], vias: &[Via], scale: Option<Vec<f64>>) -> Result<(), String> {
    let mut g = Graph::new();
    let mut given = Vec::new();
    let ids: Vec<NodeId> = values.iter().zip(vias).map(|(v, &via)| operand(&mut g, &mut given, v, via)).collect();
    let Ok(out) = g.add(op.clone(), &ids) else {
        return Ok(());
    };
    differential(&g, &[out], &given, &[], &Options::default(), &[scale], false)
}

fn abs_tensor(t: &Tensor) -> Tensor {
    match t {
        Tensor::F32(a) => Tensor::F32(a.mapv(f32::abs)),
        Tensor::F64(a) => Tensor::F64(a.mapv(f64::abs)),
        other => other.clone(),
    }
}

/// The atol scale of a sum or mean: the same reduction of |x|.
fn reduce_scale(op: ReduceOp, x: &Tensor, axes: &[usize]) -> Option<Vec<f64>> {
    if !matches!(op, ReduceOp::Sum | ReduceOp::Mean) || !x.dtype().is_float() {
        return None;
    }
    let sum = Op::Reduce { op, axes: axes.to_vec(), keepdims: false };
    let value = tx_interp::eval_op(&sum, &[&abs_tensor(x)], &[]).ok()?;
    Some(value.to_f64s())
}

/// The atol scale of a matmul: |a| @ |b|.
fn matmul_scale(a: &Tensor, b: &Tensor) -> Option<Vec<f64>> {
    if !a.dtype().is_float() {
        return None;
    }
    Some(tx_interp::eval_op(&Op::MatMul, &[&abs_tensor(a), &abs_tensor(b)], &[]).ok()?.to_f64s())
}

// ---------------------------------------------------------------------------
// Every op of the op table

/// Shapes, each with the way its operand arrives: scalars, size 0, size 1,
/// lengths past the vector loop's unrolled body and tail, every layout.
const UNARY_CASES: [(&[usize], Via); 15] = [
    (&[], Via::Standard),
    (&[0], Via::Standard),
    (&[1], Via::Strided),
    (&[23], Via::Standard),
    (&[23], Via::Reversed),
    (&[23], Via::Negative),
    (&[3, 7], Via::Transposed),
    (&[3, 7], Via::Strided),
    (&[4, 9], Via::Fortran),
    (&[2, 3, 5], Via::Offset),
    (&[2, 3, 5], Via::Gapped),
    (&[2, 0, 3], Via::Transposed),
    (&[1, 37], Via::Standard),
    (&[5, 1, 6], Via::Strided),
    (&[67], Via::Standard),
];

#[test]
fn unary_ops_on_every_dtype() {
    let mut failures = Failures::default();
    let mut rng = Rng::new(1);
    for unary in UnaryOp::ALL {
        let op = Op::Unary(unary);
        for dtype in DType::ALL.into_iter().filter(|&d| unary.domain().accepts(d)) {
            for (shape, via) in UNARY_CASES {
                let x = trig_range(unary, random_tensor(dtype, shape, &mut rng, true));
                failures.record(|| label(&op, &[&x], &[via]), check_op(&op, &[&x], &[via], None));
            }
            let x = trig_range(unary, edges(dtype));
            for via in [Via::Standard, Via::Reversed] {
                failures.record(
                    || format!("{} on the edge values", label(&op, &[&x], &[via])),
                    check_op(&op, &[&x], &[via], None),
                );
            }
        }
    }
    failures.finish("unary_ops_on_every_dtype");
}

/// The largest |x| for which `math.rs` promises sin and cos to a few ulp.
fn trig_limit(dtype: DType) -> f64 {
    if dtype == DType::F32 { 1e5 } else { 1e9 }
}

/// For sin and cos, finite values beyond [`trig_limit`] brought inside it
/// (huge arguments have their own test); other ops' values unchanged.
fn trig_range(op: UnaryOp, x: Tensor) -> Tensor {
    if !matches!(op, UnaryOp::Sin | UnaryOp::Cos) {
        return x;
    }
    let limit = trig_limit(x.dtype());
    let inside = |v: f64| if v.is_finite() && v.abs() > limit { v.signum() * 0.7 * limit } else { v };
    match x {
        Tensor::F32(a) => Tensor::F32(a.mapv(|v| inside(f64::from(v)) as f32)),
        Tensor::F64(a) => Tensor::F64(a.mapv(inside)),
        other => other,
    }
}

/// sin and cos agree with the interpreter up to [`trig_limit`] (documented
/// in `math.rs`), and beyond it stay finite and within [-1, 1].
#[test]
fn sin_and_cos_of_large_arguments() {
    let mut failures = Failures::default();
    for dtype in [DType::F32, DType::F64] {
        let limit = trig_limit(dtype);
        let near: Vec<f64> = [limit, 0.77 * limit, 0.123 * limit, 1e3 + 0.5, 12345.678]
            .into_iter()
            .flat_map(|v| [v, -v, v * 0.9999])
            .collect();
        let near = Tensor::from_f64s(dtype, &[near.len()], &near).unwrap();
        let huge = [3.0 * limit, 1e12, 1e20, 1e30, -1e30, 3e38, -2.5e38];
        let huge = Tensor::from_f64s(dtype, &[huge.len()], &huge).unwrap();
        for op in [Op::Unary(UnaryOp::Sin), Op::Unary(UnaryOp::Cos)] {
            failures.record(
                || format!("{} up to {limit:e}", label(&op, &[&near], &[Via::Standard])),
                check_op(&op, &[&near], &[Via::Standard], None),
            );
            let mut g = Graph::new();
            let x = g.input("x", huge.ty()).unwrap();
            let y = g.add(op.clone(), &[x]).unwrap();
            let given = vec![("x".to_string(), huge.clone())];
            let result = jit_calls(&g, &[y], &given, &[], &Options::default(), 1).and_then(|calls| {
                let values = calls[0][0].to_f64s();
                match values.iter().position(|v| v.is_nan() || v.abs() > 1.0) {
                    Some(k) => Err(format!("{}({:e}) = {}", op.name(), huge.to_f64s()[k], values[k])),
                    None => Ok(()),
                }
            });
            failures.record(|| format!("{} of huge {dtype} arguments stays in [-1, 1]", op.name()), result);
        }
    }
    failures.finish("sin_and_cos_of_large_arguments");
}

/// Pairs of operand shapes that broadcast, with the ways they arrive.
const BINARY_CASES: [(&[usize], &[usize], Via, Via); 14] = [
    (&[3, 4], &[3, 4], Via::Standard, Via::Standard),
    (&[3, 4], &[4], Via::Transposed, Via::Standard),
    (&[3, 1], &[1, 4], Via::Standard, Via::Reversed),
    (&[], &[5], Via::Standard, Via::Standard),
    (&[5], &[], Via::Strided, Via::Standard),
    (&[2, 1, 3], &[4, 1], Via::Strided, Via::Fortran),
    (&[0, 3], &[3], Via::Standard, Via::Standard),
    (&[1, 0], &[5, 1], Via::Standard, Via::Transposed),
    (&[37], &[37], Via::Standard, Via::Standard),
    (&[37], &[37], Via::Reversed, Via::Strided),
    (&[6, 37], &[37], Via::Fortran, Via::Negative),
    (&[2, 3, 4], &[2, 3, 4], Via::Transposed, Via::Offset),
    (&[1], &[9], Via::Gapped, Via::Standard),
    (&[4, 1, 19], &[3, 1], Via::Standard, Via::Strided),
];

/// `x` as a column `[n, 1]` and as a row `[1, n]`: a binary op of the two
/// is every pair of elements.
fn column_and_row(x: &Tensor) -> (Tensor, Tensor) {
    let n = x.len();
    let column = per_dtype!(x, a => a.clone().into_shape_with_order(IxDyn(&[n, 1])).unwrap());
    let row = per_dtype!(x, a => a.clone().into_shape_with_order(IxDyn(&[1, n])).unwrap());
    (column, row)
}

#[test]
fn binary_ops_on_every_dtype_with_broadcasting() {
    let mut failures = Failures::default();
    let mut rng = Rng::new(2);
    for binary in BinaryOp::ALL {
        let op = Op::Binary(binary);
        for dtype in DType::ALL.into_iter().filter(|&d| binary.domain().accepts(d)) {
            for (sa, sb, va, vb) in BINARY_CASES {
                let (a, b) = (random_tensor(dtype, sa, &mut rng, true), random_tensor(dtype, sb, &mut rng, true));
                failures.record(|| label(&op, &[&a, &b], &[va, vb]), check_op(&op, &[&a, &b], &[va, vb], None));
            }
            // Every pair of edge values.
            let (column, row) = column_and_row(&edges(dtype));
            for (va, vb) in [(Via::Standard, Via::Standard), (Via::Strided, Via::Reversed)] {
                failures.record(
                    || format!("{} on pairs of edge values", label(&op, &[&column, &row], &[va, vb])),
                    check_op(&op, &[&column, &row], &[va, vb], None),
                );
            }
        }
    }
    failures.finish("binary_ops_on_every_dtype_with_broadcasting");
}

#[test]
fn where_on_every_dtype_with_broadcasting() {
    let cases: [(&[usize], &[usize], &[usize], [Via; 3]); 8] = [
        (&[4], &[4], &[4], [Via::Standard; 3]),
        (&[3, 1], &[1, 4], &[4], [Via::Standard, Via::Reversed, Via::Standard]),
        (&[], &[2, 3], &[2, 3], [Via::Standard, Via::Transposed, Via::Strided]),
        (&[2, 3], &[], &[], [Via::Fortran, Via::Standard, Via::Standard]),
        (&[0, 2], &[2], &[1], [Via::Standard; 3]),
        (&[37], &[37], &[37], [Via::Strided, Via::Standard, Via::Negative]),
        (&[5, 37], &[37], &[5, 1], [Via::Standard, Via::Offset, Via::Gapped]),
        (&[2, 3, 4], &[2, 3, 4], &[3, 4], [Via::Transposed, Via::Transposed, Via::Reversed]),
    ];
    let mut failures = Failures::default();
    let mut rng = Rng::new(3);
    for dtype in DType::ALL {
        for (sc, sa, sb, vias) in cases {
            let cond = random_tensor(DType::Bool, sc, &mut rng, false);
            let (a, b) = (random_tensor(dtype, sa, &mut rng, true), random_tensor(dtype, sb, &mut rng, true));
            let values = [&cond, &a, &b];
            failures.record(|| label(&Op::Where, &values, &vias), check_op(&Op::Where, &values, &vias, None));
        }
    }
    failures.finish("where_on_every_dtype_with_broadcasting");
}

/// Every subset of the axes of `rank`, in increasing order.
fn axis_sets(rank: usize) -> Vec<Vec<usize>> {
    (0..1usize << rank).map(|mask| (0..rank).filter(|a| mask >> a & 1 == 1).collect()).collect()
}

#[test]
fn reductions_over_every_axis_set() {
    let shapes: [(&[usize], Via); 11] = [
        (&[3, 4, 5], Via::Standard),
        (&[3, 4, 5], Via::Transposed),
        (&[3, 4, 5], Via::Strided),
        (&[3, 4, 5], Via::Reversed),
        (&[2, 1, 3, 1], Via::Standard),
        (&[4, 37], Via::Fortran),
        (&[0, 3], Via::Standard),
        (&[3, 0], Via::Standard),
        (&[67], Via::Standard),
        (&[], Via::Standard),
        (&[4, 5, 1], Via::Standard),
    ];
    let mut failures = Failures::default();
    let mut rng = Rng::new(4);
    for reduce in ReduceOp::ALL {
        for dtype in [DType::F32, DType::F64, DType::I64].into_iter().filter(|&d| reduce.domain().accepts(d)) {
            for (k, (shape, via)) in shapes.iter().enumerate() {
                for (m, axes) in axis_sets(shape.len()).into_iter().enumerate() {
                    // Both keepdims on the first shape; alternating after.
                    let keeps: &[bool] = if k == 0 {
                        &[false, true]
                    } else if (k + m) % 2 == 0 {
                        &[false]
                    } else {
                        &[true]
                    };
                    for &keepdims in keeps {
                        let op = Op::Reduce { op: reduce, axes: axes.clone(), keepdims };
                        let x = random_tensor(dtype, shape, &mut rng, false);
                        let scale = reduce_scale(reduce, &x, &axes);
                        failures.record(|| label(&op, &[&x], &[*via]), check_op(&op, &[&x], &[*via], scale));
                    }
                }
            }
        }
    }
    failures.finish("reductions_over_every_axis_set");
}

#[test]
fn reductions_of_nan_and_infinities() {
    let rows: [[f64; 5]; 7] = [
        [1.0, f64::NAN, 3.0, -2.0, 0.5],
        [f64::INFINITY, 1.0, 2.0, 3.0, 4.0],
        [f64::NEG_INFINITY, 1.0, 2.0, 3.0, 4.0],
        [f64::NEG_INFINITY; 5],
        [f64::INFINITY, f64::NEG_INFINITY, 0.0, 1.0, 2.0],
        [1e30, -1e30, 1e-30, 0.0, -0.0],
        [700.0, 710.0, -5.0, 88.0, 89.0],
    ];
    let values: Vec<f64> = rows.iter().flatten().copied().collect();
    let mut failures = Failures::default();
    for dtype in [DType::F32, DType::F64] {
        let x = Tensor::from_f64s(dtype, &[7, 5], &values).unwrap();
        for reduce in ReduceOp::ALL {
            for axes in [vec![1], vec![0], vec![0, 1]] {
                for via in [Via::Standard, Via::Transposed, Via::Reversed] {
                    let op = Op::Reduce { op: reduce, axes: axes.clone(), keepdims: false };
                    failures.record(|| label(&op, &[&x], &[via]), check_op(&op, &[&x], &[via], None));
                }
            }
        }
        for op in [Op::Softmax { axis: 1 }, Op::LogSoftmax { axis: 1 }, Op::Softmax { axis: 0 }] {
            failures.record(|| label(&op, &[&x], &[Via::Standard]), check_op(&op, &[&x], &[Via::Standard], None));
        }
    }
    failures.finish("reductions_of_nan_and_infinities");
}

#[test]
fn argmax_over_each_axis_with_ties_and_nan() {
    let mut failures = Failures::default();
    let mut rng = Rng::new(5);
    for dtype in [DType::F32, DType::F64, DType::I64] {
        for (shape, via) in [
            (&[3usize, 4, 5][..], Via::Standard),
            (&[3, 4, 5], Via::Transposed),
            (&[1, 6], Via::Reversed),
            (&[9], Via::Strided),
        ] {
            // Small integers: ties everywhere; floats with NaN and infinities.
            let x = match dtype {
                DType::I64 => random_tensor(dtype, shape, &mut rng, false),
                _ => random_tensor(dtype, shape, &mut rng, true),
            };
            let axes = (0..shape.len()).map(Some).chain([None]);
            for axis in axes {
                for keepdims in [false, true] {
                    let op = Op::ArgMax { axis, keepdims };
                    failures.record(|| label(&op, &[&x], &[via]), check_op(&op, &[&x], &[via], None));
                }
            }
        }
    }
    failures.finish("argmax_over_each_axis_with_ties_and_nan");
}

#[test]
fn softmax_and_log_softmax_over_each_axis() {
    let shapes: [(&[usize], Via); 9] = [
        (&[3, 4, 5], Via::Standard),
        (&[3, 4, 5], Via::Transposed),
        (&[3, 4, 5], Via::Reversed),
        (&[1], Via::Standard),
        (&[37], Via::Strided),
        (&[2, 0], Via::Standard),
        (&[0, 3], Via::Standard),
        (&[6, 67], Via::Fortran),
        (&[5, 1, 3], Via::Offset),
    ];
    let mut failures = Failures::default();
    let mut rng = Rng::new(6);
    for dtype in [DType::F32, DType::F64] {
        for (shape, via) in shapes {
            for axis in 0..shape.len() {
                for op in [Op::Softmax { axis }, Op::LogSoftmax { axis }] {
                    let x = random_tensor(dtype, shape, &mut rng, false);
                    failures.record(|| label(&op, &[&x], &[via]), check_op(&op, &[&x], &[via], None));
                    // Large logits: the maximum must be subtracted.
                    let big = match &x {
                        Tensor::F32(a) => Tensor::F32(a.mapv(|v| v * 40.0)),
                        Tensor::F64(a) => Tensor::F64(a.mapv(|v| v * 40.0)),
                        other => other.clone(),
                    };
                    failures.record(
                        || format!("{} (x40)", label(&op, &[&big], &[via])),
                        check_op(&op, &[&big], &[via], None),
                    );
                }
            }
        }
    }
    failures.finish("softmax_and_log_softmax_over_each_axis");
}

#[test]
fn matmul_of_every_rank_and_layout() {
    let cases: [(&[usize], &[usize]); 16] = [
        (&[3, 4], &[4, 5]),
        (&[4], &[4, 5]),
        (&[3, 4], &[4]),
        (&[4], &[4]),
        (&[2, 3, 4], &[4, 5]),
        (&[3, 4], &[2, 4, 5]),
        (&[2, 3, 4], &[2, 4, 5]),
        (&[1, 3, 4], &[5, 4, 2]),
        (&[2, 1, 3, 4], &[5, 4, 2]),
        (&[3, 0], &[0, 4]),
        (&[0, 4], &[4, 5]),
        (&[3, 4], &[4, 0]),
        (&[17, 33], &[33, 9]),
        (&[1, 1], &[1, 1]),
        (&[64, 48], &[48, 40]),
        (&[5], &[2, 5, 3]),
    ];
    let vias = [
        (Via::Standard, Via::Standard),
        (Via::Transposed, Via::Standard),
        (Via::Standard, Via::Transposed),
        (Via::Reversed, Via::Strided),
        (Via::Fortran, Via::Negative),
    ];
    let mut failures = Failures::default();
    let mut rng = Rng::new(7);
    for dtype in [DType::F32, DType::F64, DType::I64] {
        for (sa, sb) in cases {
            for (va, vb) in vias {
                // NaN and infinities in the standard-layout case.
                let special = (va, vb) == (Via::Standard, Via::Standard);
                let (a, b) = (random_tensor(dtype, sa, &mut rng, special), random_tensor(dtype, sb, &mut rng, special));
                let scale = matmul_scale(&a, &b);
                failures.record(
                    || label(&Op::MatMul, &[&a, &b], &[va, vb]),
                    check_op(&Op::MatMul, &[&a, &b], &[va, vb], scale),
                );
            }
        }
    }
    failures.finish("matmul_of_every_rank_and_layout");
}

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

/// `op` on one operand, and the result fed on to an elementwise kernel
/// (`cast` to f64 and back to `dtype`, which every dtype accepts), so that
/// both the output copy of a view and a kernel reading it are checked.
fn check_movement(op: &Op, x: &Tensor, via: Via) -> Result<(), String> {
    let mut g = Graph::new();
    let mut given = Vec::new();
    let id = operand(&mut g, &mut given, x, via);
    let Ok(moved) = g.add(op.clone(), &[id]) else {
        return Err("the graph does not build".to_string());
    };
    let wide = g.add(Op::Cast { dtype: DType::F64 }, &[moved]).unwrap();
    let back = g.add(Op::Cast { dtype: x.dtype() }, &[wide]).unwrap();
    differential(&g, &[moved, back, wide], &given, &[], &Options::default(), &[], false)
}

#[test]
fn movement_ops_on_every_dtype() {
    let mut failures = Failures::default();
    let mut rng = Rng::new(8);
    for dtype in DType::ALL {
        let x3 = random_tensor(dtype, &[2, 3, 4], &mut rng, true);
        let x4 = random_tensor(dtype, &[2, 3, 1, 5], &mut rng, true);
        for via in [Via::Standard, Via::Transposed, Via::Reversed, Via::Strided] {
            let mut ops: Vec<(Op, &Tensor)> = Vec::new();
            for perm in permutations(3) {
                ops.push((Op::Transpose { perm }, &x3));
            }
            for perm in [vec![3, 1, 0, 2], vec![0, 2, 1, 3], vec![2, 3, 0, 1]] {
                ops.push((Op::Transpose { perm }, &x4));
            }
            for shape in [vec![6, 4], vec![24], vec![4, 3, 2], vec![2, 12, 1], vec![1, 24]] {
                ops.push((Op::Reshape { shape: Shape::new(shape) }, &x3));
            }
            ops.push((Op::Reshape { shape: Shape::new([30usize]) }, &x4));
            for shape in [vec![2, 2, 3, 4], vec![5, 2, 3, 4], vec![1, 2, 3, 4]] {
                ops.push((Op::Broadcast { shape: Shape::new(shape) }, &x3));
            }
            ops.push((Op::Broadcast { shape: Shape::new([2usize, 3, 4, 5]) }, &x4));
            let range = |start, step, len| AxisSlice::Range { start, step, len };
            let slices = [
                vec![AxisSlice::Full, range(2, -1, 3), range(3, -2, 2)],
                vec![range(1, 1, 1), AxisSlice::Full, range(0, 3, 2)],
                vec![range(1, -1, 2), range(0, 2, 2), range(3, -3, 2)],
                vec![AxisSlice::Full, range(0, 1, 0), AxisSlice::Full],
                vec![range(0, 1, 2), range(2, 1, 1), range(3, -1, 4)],
            ];
            for axes in slices {
                ops.push((Op::Slice { axes }, &x3));
            }
            ops.push((Op::StopGradient, &x3));
            for (op, x) in &ops {
                failures.record(|| label(op, &[x], &[via]), check_movement(op, x, via));
            }
        }
        // Concat along each axis, of views and of an empty operand.
        for axis in 0..3 {
            let mut g = Graph::new();
            let mut given = Vec::new();
            let a = random_tensor(dtype, &[2, 3, 4], &mut rng, true);
            let mut bs = vec![2, 3, 4];
            bs[axis] = 0;
            let b = random_tensor(dtype, &bs, &mut rng, true);
            let ia = operand(&mut g, &mut given, &a, Via::Transposed);
            let ib = operand(&mut g, &mut given, &b, Via::Standard);
            let ic = operand(&mut g, &mut given, &a, Via::Reversed);
            let concat = g.add(Op::Concat { axis }, &[ia, ib, ic]).unwrap();
            let one = g.add(Op::Concat { axis }, &[ic]).unwrap();
            let back = g.add(Op::Cast { dtype: DType::F64 }, &[concat]).unwrap();
            failures.record(
                || format!("concat[axis={axis}] of {dtype}[2, 3, 4] views and an empty operand"),
                differential(&g, &[concat, one, back], &given, &[], &Options::default(), &[], false),
            );
        }
        // Unslice: the transpose of a slice, into zeros.
        let range = |start, step, len| AxisSlice::Range { start, step, len };
        let unslices = [
            (vec![3, 2], vec![range(2, -1, 3), AxisSlice::Full], vec![3, 2]),
            (vec![2, 2], vec![range(0, 2, 2), range(4, -3, 2)], vec![4, 5]),
            (vec![0, 3], vec![range(0, 1, 0), AxisSlice::Full], vec![6, 3]),
            (vec![1, 1], vec![range(5, 1, 1), range(0, 1, 1)], vec![6, 1]),
        ];
        for (from, axes, to) in unslices {
            let x = random_tensor(dtype, &from, &mut rng, true);
            let op = Op::Unslice { axes, shape: Shape::new(to) };
            for via in [Via::Standard, Via::Transposed] {
                failures.record(|| label(&op, &[&x], &[via]), check_movement(&op, &x, via));
            }
        }
        // One-hot rows of this dtype, with labels out of range.
        let labels = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![-1, 0, 3, 9, 10, 2]).unwrap());
        for depth in [10, 1, 0] {
            let op = Op::OneHot { depth, dtype };
            for via in [Via::Standard, Via::Transposed, Via::Reversed] {
                failures.record(|| label(&op, &[&labels], &[via]), check_movement(&op, &labels, via));
            }
        }
        let empty = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[0]), vec![]).unwrap());
        let op = Op::OneHot { depth: 4, dtype };
        failures.record(|| label(&op, &[&empty], &[Via::Standard]), check_movement(&op, &empty, Via::Standard));
    }
    failures.finish("movement_ops_on_every_dtype");
}

/// Chains of movement ops (views of views: offsets, negative and zero
/// strides, reshapes of dense and of strided views), every intermediate an
/// output, then ops of every family on the last view.
#[test]
fn chains_of_views_feed_every_kind_of_op() {
    let range = |start, step, len| AxisSlice::Range { start, step, len };
    let full = AxisSlice::Full;
    let chains: Vec<(Vec<usize>, Vec<Op>)> = vec![
        // Rows 1..3 of [4, 5]: dense at an offset, then reshaped.
        (
            vec![4, 5],
            vec![Op::Slice { axes: vec![range(1, 1, 2), full.clone()] }, Op::Reshape { shape: Shape::new([10usize]) }],
        ),
        // Transposed, reversed, reshaped (a copy: not dense).
        (
            vec![4, 5],
            vec![
                Op::Transpose { perm: vec![1, 0] },
                Op::Slice { axes: vec![range(4, -2, 3), full.clone()] },
                Op::Reshape { shape: Shape::new([2usize, 6]) },
            ],
        ),
        // Broadcast (stride 0), transposed, sliced backwards.
        (
            vec![1, 6],
            vec![
                Op::Broadcast { shape: Shape::new([3usize, 5, 6]) },
                Op::Transpose { perm: vec![2, 0, 1] },
                Op::Slice { axes: vec![range(5, -1, 6), full.clone(), range(4, -2, 3)] },
            ],
        ),
        // Reshaped, transposed, broadcast again.
        (
            vec![6],
            vec![
                Op::Reshape { shape: Shape::new([2usize, 3]) },
                Op::Transpose { perm: vec![1, 0] },
                Op::Broadcast { shape: Shape::new([4usize, 3, 2]) },
            ],
        ),
        // Broadcast of a scalar.
        (vec![], vec![Op::Broadcast { shape: Shape::new([3usize, 4]) }]),
    ];
    let mut failures = Failures::default();
    let mut rng = Rng::new(15);
    for dtype in [DType::F32, DType::F64] {
        for (shape, ops) in &chains {
            for via in [Via::Standard, Via::Transposed, Via::Reversed] {
                let mut g = Graph::new();
                let mut given = Vec::new();
                let x = random_tensor(dtype, shape, &mut rng, false);
                let mut id = operand(&mut g, &mut given, &x, via);
                let mut outputs = Vec::new();
                for op in ops {
                    id = g.add(op.clone(), &[id]).unwrap();
                    outputs.push(id);
                }
                let rank = g.ty(id).rank();
                let dims: Vec<usize> = g.ty(id).shape.dims().iter().map(|d| d.known().unwrap()).collect();
                let mut tails: Vec<(Op, Vec<NodeId>)> = vec![
                    (Op::Unary(UnaryOp::Exp), vec![id]),
                    (Op::Binary(BinaryOp::Sub), vec![id, id]),
                    (Op::Cast { dtype: DType::I64 }, vec![id]),
                    (Op::Reduce { op: ReduceOp::Sum, axes: (0..rank).collect(), keepdims: false }, vec![id]),
                    (Op::ArgMax { axis: None, keepdims: false }, vec![id]),
                ];
                for axis in 0..rank {
                    tails.push((Op::Reduce { op: ReduceOp::Sum, axes: vec![axis], keepdims: false }, vec![id]));
                    tails.push((Op::Reduce { op: ReduceOp::Max, axes: vec![axis], keepdims: true }, vec![id]));
                    tails.push((Op::Reduce { op: ReduceOp::LogSumExp, axes: vec![axis], keepdims: false }, vec![id]));
                    tails.push((Op::Softmax { axis }, vec![id]));
                    tails.push((Op::LogSoftmax { axis }, vec![id]));
                }
                if rank >= 1 {
                    let k = dims[rank - 1];
                    let w = g.input("w", typed(dtype, &known(&[k, 3]))).unwrap();
                    given.push(("w".to_string(), random_tensor(dtype, &[k, 3], &mut rng, false)));
                    tails.push((Op::MatMul, vec![id, w]));
                }
                if rank == 2 {
                    let m = dims[0];
                    let v = g.input("v", typed(dtype, &known(&[2, m]))).unwrap();
                    given.push(("v".to_string(), random_tensor(dtype, &[2, m], &mut rng, false)));
                    tails.push((Op::MatMul, vec![v, id]));
                }
                for (op, args) in tails {
                    outputs.push(g.add(op, &args).unwrap());
                }
                failures.record(
                    || format!("{ops:?} of {dtype}{shape:?} ({via:?})"),
                    differential(&g, &outputs, &given, &[], &Options::default(), &[], true),
                );
            }
        }
    }
    failures.finish("chains_of_views_feed_every_kind_of_op");
}

#[test]
fn casts_between_every_pair_of_dtypes() {
    let mut failures = Failures::default();
    let mut rng = Rng::new(9);
    // Values near the edges of the integer range and of rounding.
    let rounding = [2.5, -2.5, 2.7, -2.7, 0.49999997, 9.3e18, -9.3e18, 9.2233715e18, 16777217.0, 1e20, -1e20];
    for from in DType::ALL {
        for to in DType::ALL {
            let op = Op::Cast { dtype: to };
            let mut values = vec![edges(from)];
            if from.is_float() {
                values.push(Tensor::from_f64s(from, &[rounding.len()], &rounding).unwrap());
            }
            for (shape, via) in [
                (&[37usize][..], Via::Standard),
                (&[3, 7], Via::Transposed),
                (&[2, 19], Via::Reversed),
                (&[0], Via::Standard),
                (&[], Via::Standard),
            ] {
                values.push(random_tensor(from, shape, &mut rng, true));
                let x = values.last().unwrap().clone();
                failures.record(|| label(&op, &[&x], &[via]), check_op(&op, &[&x], &[via], None));
            }
            for x in &values[..values.len() - 5] {
                for via in [Via::Standard, Via::Strided] {
                    failures.record(
                        || format!("{} of edge values", label(&op, &[x], &[via])),
                        check_op(&op, &[x], &[via], None),
                    );
                }
            }
        }
    }
    failures.finish("casts_between_every_pair_of_dtypes");
}

#[test]
fn random_constant_and_stop_gradient() {
    let mut failures = Failures::default();
    // Random sources, alone and used by a kernel; one of symbolic size.
    for dtype in [DType::F32, DType::F64] {
        for dist in [
            Distribution::Normal { mean: Scalar::Float(1.0), std: Scalar::Float(2.0) },
            Distribution::Uniform { low: Scalar::Float(-1.0), high: Scalar::Int(3) },
        ] {
            for dims in [
                vec![Dim::Known(3), Dim::Known(4)],
                vec![Dim::Known(0)],
                vec![],
                vec![Dim::Known(37)],
                vec![Dim::sym("B"), Dim::Known(3)],
            ] {
                let mut g = Graph::new();
                let ty = Type::new(dtype, Shape(dims.clone()));
                let x = g.input("x", Type::new(dtype, Shape(dims.clone()))).unwrap();
                let r = g.add(Op::Random { dist, seed: 42, ty }, &[]).unwrap();
                let s = g.add(Op::Binary(BinaryOp::Add), &[x, r]).unwrap();
                let shape: Vec<usize> = dims.iter().map(|d| d.known().unwrap_or(5)).collect();
                let given = vec![("x".to_string(), random_tensor(dtype, &shape, &mut Rng::new(1), false))];
                failures.record(
                    || format!("random {dtype}{shape:?} {dist:?}"),
                    differential(&g, &[r, s], &given, &[], &Options::default(), &[], false),
                );
            }
        }
    }
    // Constants of every dtype, as outputs and as kernel operands.
    let constants = [
        (Scalar::Float(0.1), DType::F32),
        (Scalar::Float(1e300), DType::F32),
        (Scalar::Float(-0.0), DType::F64),
        (Scalar::Float(f64::NAN), DType::F64),
        (Scalar::Float(f64::NEG_INFINITY), DType::F32),
        (Scalar::Int(3), DType::F32),
        (Scalar::Int(-7), DType::F64),
        (Scalar::Int(i64::MAX), DType::I64),
        (Scalar::Int(-5), DType::I64),
        (Scalar::Bool(true), DType::Bool),
        (Scalar::Bool(false), DType::Bool),
    ];
    let mut rng = Rng::new(10);
    for (value, dtype) in constants {
        let mut g = Graph::new();
        let c = g.add(Op::Constant { value, dtype }, &[]).unwrap();
        let x = g.input("x", Type::new(dtype, Shape::new([37usize]))).unwrap();
        let combined = if dtype == DType::Bool {
            g.add(Op::Binary(BinaryOp::And), &[x, c]).unwrap()
        } else {
            g.add(Op::Binary(BinaryOp::Max), &[c, x]).unwrap()
        };
        let equal = g.add(Op::Binary(BinaryOp::Eq), &[x, c]).unwrap();
        let kept = g.add(Op::StopGradient, &[c]).unwrap();
        let given = vec![("x".to_string(), random_tensor(dtype, &[37], &mut rng, true))];
        failures.record(
            || format!("constant {value}: {dtype}"),
            differential(&g, &[c, combined, equal, kept, x], &given, &[], &Options::default(), &[], false),
        );
    }
    failures.finish("random_constant_and_stop_gradient");
}

// ---------------------------------------------------------------------------
// Fused kernels

/// The number of fused nodes of each kind in `graph`.
fn fused_kinds(graph: &Graph) -> Vec<KernelKind> {
    graph
        .nodes()
        .filter_map(|(_, n)| match &n.op {
            Op::Fused(kernel) => Some(kernel.kind),
            _ => None,
        })
        .collect()
}

/// `graph` at `level`, JIT against interpreter on the optimized graph, for
/// every batch size in `batches` (symbol `B`) and parameters at their
/// initial values. Returns the kinds of kernel the optimized graph has.
fn check_optimized(
    graph: &Graph,
    level: Level,
    batches: &[usize],
    failures: &mut Failures,
    name: &str,
) -> Vec<KernelKind> {
    let roots: Vec<NodeId> = graph.outputs().iter().map(|(_, id)| *id).collect();
    let optimized = optimize(graph, &[], &OptConfig::new(level)).unwrap();
    let outputs: Vec<NodeId> = optimized.graph.outputs().iter().map(|(_, id)| *id).collect();
    assert_eq!(outputs.len(), roots.len());
    let params = tx_interp::init_params(graph);
    for (k, &b) in batches.iter().enumerate() {
        let inputs = tx_interp::random_inputs(graph, 100 + k as u64, &[("B", b)]).unwrap();
        failures.record(
            || format!("{name} at {} with B = {b}:\n{}", level.name(), tx_ir::print_graph(&optimized.graph)),
            differential(&optimized.graph, &outputs, &inputs, &params, &Options::default(), &[], true),
        );
    }
    fused_kinds(&optimized.graph)
}

fn constant(g: &mut Graph, value: f64, dtype: DType) -> NodeId {
    g.add(Op::Constant { value: Scalar::Float(value), dtype }, &[]).unwrap()
}

fn un(g: &mut Graph, op: UnaryOp, x: NodeId) -> NodeId {
    g.add(Op::Unary(op), &[x]).unwrap()
}

fn bin(g: &mut Graph, op: BinaryOp, a: NodeId, b: NodeId) -> NodeId {
    g.add(Op::Binary(op), &[a, b]).unwrap()
}

fn reduce(g: &mut Graph, op: ReduceOp, x: NodeId, axes: &[usize], keepdims: bool) -> NodeId {
    g.add(Op::Reduce { op, axes: axes.to_vec(), keepdims }, &[x]).unwrap()
}

fn typed(dtype: DType, dims: &[Dim]) -> Type {
    Type::new(dtype, Shape(dims.to_vec()))
}

fn b_and(dims: &[usize]) -> Vec<Dim> {
    std::iter::once(Dim::sym("B")).chain(dims.iter().map(|&d| Dim::Known(d))).collect()
}

fn known(dims: &[usize]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::Known(d)).collect()
}

/// Graphs whose `-O2` form has kernels of every kind: a dense layer with its
/// bias and activation, elementwise groups over broadcast operands, groups
/// ended by reductions over first, middle, last and all axes, comparisons
/// and selects inside a kernel, stable forms (softplus, sigmoid,
/// logsumexp), on f32 and f64.
fn fusion_graphs(dtype: DType) -> Vec<(&'static str, Graph)> {
    let mut out = Vec::new();

    // A dense layer: x @ W + b, then an activation, then softmax.
    let mut g = Graph::new();
    let x = g.input("x", typed(dtype, &b_and(&[8]))).unwrap();
    let w = g.param("W", typed(dtype, &known(&[8, 16])), Init::Normal { mean: 0.0, std: 0.5, seed: 1 }, false).unwrap();
    let bias = g.param("b", typed(dtype, &known(&[16])), Init::Normal { mean: 0.0, std: 0.5, seed: 2 }, false).unwrap();
    let h = g.add(Op::MatMul, &[x, w]).unwrap();
    let h = bin(&mut g, BinaryOp::Add, h, bias);
    let zero = constant(&mut g, 0.0, dtype);
    let relu = bin(&mut g, BinaryOp::Max, h, zero);
    let w2 =
        g.param("W2", typed(dtype, &known(&[16, 5])), Init::Normal { mean: 0.0, std: 0.5, seed: 3 }, false).unwrap();
    let z = g.add(Op::MatMul, &[relu, w2]).unwrap();
    let two = constant(&mut g, 2.0, dtype);
    let z2 = bin(&mut g, BinaryOp::Mul, z, two);
    let p = g.add(Op::Softmax { axis: 1 }, &[z2]).unwrap();
    let lp = g.add(Op::LogSoftmax { axis: 1 }, &[z]).unwrap();
    g.add_output("relu", relu).unwrap();
    g.add_output("p", p).unwrap();
    g.add_output("lp", lp).unwrap();
    out.push(("dense layer, relu, softmax", g));

    // The same layer with tanh and sigmoid activations.
    let mut g = Graph::new();
    let x = g.input("x", typed(dtype, &b_and(&[8]))).unwrap();
    let w = g.param("W", typed(dtype, &known(&[8, 6])), Init::Normal { mean: 0.0, std: 0.5, seed: 4 }, false).unwrap();
    let bias = g.param("b", typed(dtype, &known(&[6])), Init::Normal { mean: 0.0, std: 0.5, seed: 5 }, false).unwrap();
    let h = g.add(Op::MatMul, &[x, w]).unwrap();
    let h = bin(&mut g, BinaryOp::Add, h, bias);
    let t = un(&mut g, UnaryOp::Tanh, h);
    let s = un(&mut g, UnaryOp::Sigmoid, h);
    g.add_output("tanh", t).unwrap();
    g.add_output("sigmoid", s).unwrap();
    out.push(("dense layer, tanh and sigmoid", g));

    // Elementwise groups over broadcast operands.
    let mut g = Graph::new();
    let a = g.input("a", typed(dtype, &known(&[4, 1, 5]))).unwrap();
    let b = g.input("b", typed(dtype, &known(&[3, 5]))).unwrap();
    let c = g.input("c", typed(dtype, &known(&[5]))).unwrap();
    let two = constant(&mut g, 2.0, dtype);
    let one = constant(&mut g, 1.0, dtype);
    let t = bin(&mut g, BinaryOp::Mul, a, two);
    let t = bin(&mut g, BinaryOp::Add, t, b);
    let d = bin(&mut g, BinaryOp::Sub, c, one);
    let t = bin(&mut g, BinaryOp::Div, t, d);
    let sq = un(&mut g, UnaryOp::Square, t);
    let m = bin(&mut g, BinaryOp::Min, sq, b);
    let n = un(&mut g, UnaryOp::Neg, m);
    let ab = un(&mut g, UnaryOp::Abs, n);
    let r = un(&mut g, UnaryOp::Sqrt, ab);
    g.add_output("t", t).unwrap();
    g.add_output("r", r).unwrap();
    out.push(("arithmetic over broadcast operands", g));

    // Groups ended by reductions over each kind of axis set.
    let mut g = Graph::new();
    let x = g.input("x", typed(dtype, &known(&[3, 4, 5]))).unwrap();
    let y = g.input("y", typed(dtype, &known(&[4, 1]))).unwrap();
    let e = un(&mut g, UnaryOp::Exp, x);
    let ey = bin(&mut g, BinaryOp::Mul, e, y);
    let d = bin(&mut g, BinaryOp::Sub, x, y);
    let dd = bin(&mut g, BinaryOp::Mul, d, d);
    let ad = un(&mut g, UnaryOp::Abs, d);
    let outputs = [
        reduce(&mut g, ReduceOp::Sum, ey, &[0, 2], false),
        reduce(&mut g, ReduceOp::Max, d, &[1], true),
        reduce(&mut g, ReduceOp::Min, d, &[0], false),
        reduce(&mut g, ReduceOp::Mean, ad, &[0, 1], false),
        reduce(&mut g, ReduceOp::Sum, dd, &[2], false),
        reduce(&mut g, ReduceOp::Mean, dd, &[0, 1, 2], false),
        reduce(&mut g, ReduceOp::LogSumExp, ad, &[2], false),
        reduce(&mut g, ReduceOp::LogSumExp, ad, &[1, 2], true),
    ];
    for (k, id) in outputs.into_iter().enumerate() {
        g.add_output(&format!("r{k}"), id).unwrap();
    }
    out.push(("reductions ending groups", g));

    // Comparisons, casts and selects inside kernels.
    let mut g = Graph::new();
    let x = g.input("x", typed(dtype, &b_and(&[7]))).unwrap();
    let y = g.input("y", typed(dtype, &known(&[7]))).unwrap();
    let gt = bin(&mut g, BinaryOp::Gt, x, y);
    let xx = bin(&mut g, BinaryOp::Mul, x, x);
    let ny = un(&mut g, UnaryOp::Neg, y);
    let w = g.add(Op::Where, &[gt, xx, ny]).unwrap();
    let zero = constant(&mut g, 0.0, dtype);
    let lt = bin(&mut g, BinaryOp::Lt, x, zero);
    let m = g.add(Op::Cast { dtype }, &[lt]).unwrap();
    let s = bin(&mut g, BinaryOp::Add, w, m);
    let both = bin(&mut g, BinaryOp::And, gt, lt);
    let nb = un(&mut g, UnaryOp::Not, both);
    let count = g.add(Op::Cast { dtype }, &[nb]).unwrap();
    let total = reduce(&mut g, ReduceOp::Sum, count, &[1], false);
    let masked = g.add(Op::Where, &[gt, x, zero]).unwrap();
    let row_max = reduce(&mut g, ReduceOp::Max, masked, &[1], false);
    g.add_output("s", s).unwrap();
    g.add_output("total", total).unwrap();
    g.add_output("row_max", row_max).unwrap();
    out.push(("comparisons, casts and selects", g));

    // Naive forms the optimizer turns stable.
    let mut g = Graph::new();
    let x = g.input("x", typed(dtype, &b_and(&[6]))).unwrap();
    let one = constant(&mut g, 1.0, dtype);
    let e = un(&mut g, UnaryOp::Exp, x);
    let p = bin(&mut g, BinaryOp::Add, one, e);
    let softplus = un(&mut g, UnaryOp::Log, p);
    let nx = un(&mut g, UnaryOp::Neg, x);
    let en = un(&mut g, UnaryOp::Exp, nx);
    let q = bin(&mut g, BinaryOp::Add, one, en);
    let sigmoid = bin(&mut g, BinaryOp::Div, one, q);
    let s = reduce(&mut g, ReduceOp::Sum, e, &[1], false);
    let lse = un(&mut g, UnaryOp::Log, s);
    g.add_output("softplus", softplus).unwrap();
    g.add_output("sigmoid", sigmoid).unwrap();
    g.add_output("lse", lse).unwrap();
    out.push(("stable forms", g));

    // Integer kernels next to float ones.
    let mut g = Graph::new();
    let i = g.input("i", typed(DType::I64, &b_and(&[5]))).unwrap();
    let j = g.input("j", typed(DType::I64, &known(&[5]))).unwrap();
    let three = g.add(Op::Constant { value: Scalar::Int(3), dtype: DType::I64 }, &[]).unwrap();
    let t = bin(&mut g, BinaryOp::Add, i, three);
    let t = bin(&mut g, BinaryOp::Mul, t, j);
    let t = bin(&mut g, BinaryOp::Max, t, i);
    let t = un(&mut g, UnaryOp::Abs, t);
    let f = g.add(Op::Cast { dtype }, &[t]).unwrap();
    let half = constant(&mut g, 0.5, dtype);
    let f = bin(&mut g, BinaryOp::Mul, f, half);
    let sum = reduce(&mut g, ReduceOp::Sum, t, &[1], false);
    g.add_output("t", t).unwrap();
    g.add_output("f", f).unwrap();
    g.add_output("sum", sum).unwrap();
    out.push(("integer kernels", g));

    out
}

#[test]
fn fused_kernels_at_o2_agree() {
    let mut failures = Failures::default();
    let mut kinds = Vec::new();
    for dtype in [DType::F32, DType::F64] {
        for (name, graph) in fusion_graphs(dtype) {
            kinds.extend(check_optimized(&graph, Level::O2, &[3, 1, 0, 37], &mut failures, name));
            check_optimized(&graph, Level::O0, &[3], &mut failures, name);
        }
    }
    for kind in [KernelKind::Elementwise, KernelKind::Reduce, KernelKind::MatMul] {
        assert!(kinds.contains(&kind), "no {kind:?} kernel was formed: {kinds:?}");
    }
    failures.finish("fused_kernels_at_o2_agree");
}

/// Kernels written by hand: shapes of body the optimizer forms rarely.
#[test]
fn hand_built_kernels_agree() {
    let node = |op: Op, args: &[KernelArg]| KernelNode { op, args: args.to_vec() };
    let (o, n) = (KernelArg::Operand, KernelArg::Node);
    let mut failures = Failures::default();
    let mut rng = Rng::new(12);
    for dtype in [DType::F32, DType::F64] {
        let c = |v: f64| Op::Constant { value: Scalar::Float(v), dtype };
        let kernels = vec![
            // where(a > b, cast(a > b) * a + 2, b): bools as lane masks.
            (
                Kernel {
                    kind: KernelKind::Elementwise,
                    body: vec![
                        node(Op::Binary(BinaryOp::Gt), &[o(0), o(1)]),
                        node(Op::Cast { dtype }, &[n(0)]),
                        node(Op::Binary(BinaryOp::Mul), &[n(1), o(0)]),
                        node(c(2.0), &[]),
                        node(Op::Binary(BinaryOp::Add), &[n(2), n(3)]),
                        node(Op::Where, &[n(0), n(4), o(1)]),
                    ],
                },
                vec![vec![5, 37], vec![37]],
            ),
            // A body with nothing but a constant broadcast against operands.
            (
                Kernel {
                    kind: KernelKind::Elementwise,
                    body: vec![node(c(-1.5), &[]), node(Op::Binary(BinaryOp::Min), &[o(0), n(0)])],
                },
                vec![vec![3, 1, 9]],
            ),
            // A reduction of an operand itself (no prologue), last axis.
            (
                Kernel {
                    kind: KernelKind::Reduce,
                    body: vec![node(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdims: false }, &[o(0)])],
                },
                vec![vec![4, 37]],
            ),
            // A prologue of two operands, reduced over the first axis (an accumulation).
            (
                Kernel {
                    kind: KernelKind::Reduce,
                    body: vec![
                        node(Op::Binary(BinaryOp::Sub), &[o(0), o(1)]),
                        node(Op::Unary(UnaryOp::Square), &[n(0)]),
                        node(Op::Reduce { op: ReduceOp::Mean, axes: vec![0], keepdims: true }, &[n(1)]),
                    ],
                },
                vec![vec![6, 5], vec![5]],
            ),
            // Max over middle axes of a broadcast prologue.
            (
                Kernel {
                    kind: KernelKind::Reduce,
                    body: vec![
                        node(Op::Binary(BinaryOp::Mul), &[o(0), o(1)]),
                        node(Op::Reduce { op: ReduceOp::Max, axes: vec![1, 2], keepdims: false }, &[n(0)]),
                    ],
                },
                vec![vec![2, 3, 4, 5], vec![4, 1]],
            ),
            // A matmul with a bias and a clamp.
            (
                Kernel {
                    kind: KernelKind::MatMul,
                    body: vec![
                        node(Op::MatMul, &[o(0), o(1)]),
                        node(Op::Binary(BinaryOp::Add), &[n(0), o(2)]),
                        node(c(0.0), &[]),
                        node(Op::Binary(BinaryOp::Max), &[n(1), n(2)]),
                    ],
                },
                vec![vec![7, 9], vec![9, 4], vec![4]],
            ),
            // A matmul without an epilogue, with an empty inner dimension.
            (
                Kernel { kind: KernelKind::MatMul, body: vec![node(Op::MatMul, &[o(0), o(1)])] },
                vec![vec![3, 0], vec![0, 5]],
            ),
        ];
        for (kernel, shapes) in kernels {
            for (k, via) in [Via::Standard, Via::Transposed, Via::Reversed].into_iter().enumerate() {
                let mut g = Graph::new();
                let mut given = Vec::new();
                let values: Vec<Tensor> = shapes.iter().map(|s| random_tensor(dtype, s, &mut rng, k == 2)).collect();
                let ids: Vec<NodeId> = values.iter().map(|v| operand(&mut g, &mut given, v, via)).collect();
                let op = Op::Fused(Box::new(kernel.clone()));
                let text = op.attributes();
                match g.add(op, &ids) {
                    Ok(id) => failures.record(
                        || format!("fused [{text}] on {shapes:?} ({via:?})"),
                        differential(&g, &[id], &given, &[], &Options::default(), &[], true),
                    ),
                    Err(e) => failures.record(|| format!("fused [{text}]"), Err(format!("does not build: {e}"))),
                }
            }
        }
    }
    failures.finish("hand_built_kernels_agree");
}

// ---------------------------------------------------------------------------
// Programs in the language

const PROGRAMS: [&str; 5] = [
    "input x : f32[B, 8]
param W1 : f32[8, 16] ~ normal(0, 0.5, seed = 1)
param b1 : f32[16] ~ normal(0, 0.1, seed = 2)
param W2 : f32[16, 4] ~ normal(0, 0.5, seed = 3)
let h = tanh(x @ W1 + b1)
let z = h @ W2
output p = softmax(z, axis = 1)
output lp = log_softmax(z, axis = 1)
output a = argmax(z, axis = 1)
output s = sum(p, axis = 0)
output m = max(relu(x), axis = 1)
",
    "input x : f64[B, 5, 4]
input y : i64[B]
output a = x[:, 1]
output b = x[:, ::-1, 1:3]
output c = x[:, -2:, ::2] * 2
output d = x[:, 10:]
output e = concat([x, x[:, 0:1]], axis = 1)
output f = one_hot(y, 10) * 3
output g = sum(x[:, ::-2, ::-1], axis = 2)
output h = transpose(x, [2, 0, 1])
",
    "input x : f32[B, 6]
input k : i64[B, 6]
let m = x > 0
output a = cast(m, f32) * x
output b = where(m, x, -x)
output c = logical_not(m)
output d = abs(k) + sign(k) + relu(k - 5) + neg(k) + square(k)
output e = cast(x * 10, i64) + k
output f = mean(cast(k > 3, f32), axis = 1)
output g = sigmoid(x) + softplus(-x) + log1p(square(x)) + expm1(x)
",
    "input x : f32[B, 3]
input y : i64[B]
param W : f32[3, 10] ~ glorot(seed = 1)
param b : f32[10] = 0.1
let L = mean(cross_entropy(tanh(x @ W + b), y))
output dW = grad(L, W)
output db = grad(L, b)
output dx = grad(L, x)
output dW2 = grad(sum(grad(L, W) * W), W)
",
    "input x : f64[B, 6, 4]
param w : f64[4] ~ normal(0, 1, seed = 5)
let z = softmax(x[:, ::-1, 1:] * w[1:], axis = 1)
let c = concat([z, log_softmax(x[:, 0:2, 1:], axis = 2)], axis = 1)
let L = sum(c[:, 1:7, ::-1] * c[:, ::-1][:, 0:6]) + sum(logsumexp(x, axis = 1)[:, 2])
output dx = grad(L, x)
output dw = grad(L, w)
output t = transpose(c, [0, 2, 1]) @ c
output m = max(x, axis = [0, 2]) - min(x * w, axis = 0)[:, 1]
",
];

#[test]
fn programs_in_the_language_agree() {
    let mut failures = Failures::default();
    for source in PROGRAMS {
        let compiled = tx_frontend::compile(source);
        let model = compiled.model.unwrap_or_else(|| panic!("{source}\n{:?}", compiled.diagnostics));
        for level in [Level::O0, Level::O2] {
            let name = source.lines().next().unwrap_or("");
            check_optimized(&model.graph, level, &[3, 1, 2], &mut failures, name);
        }
    }
    failures.finish("programs_in_the_language_agree");
}

// ---------------------------------------------------------------------------
// Random graphs

/// One step of a random program: an op applied to earlier values (picked by
/// index modulo how many there are).
#[derive(Clone, Debug)]
enum Step {
    Unary(usize, usize),
    Binary(usize, usize, usize),
    /// A comparison, and its bools back to the float type.
    Compare(usize, usize, usize),
    /// `not`, `and`, `or` of signs, back to the float type.
    Logic(usize, usize, usize),
    Constant(usize),
    /// Op, operand, axis set (bits), keepdims.
    Reduce(usize, usize, usize, bool),
    /// Operand, axis, log.
    Softmax(usize, usize, bool),
    MatMul(usize, usize),
    /// Operand, which permutation.
    Transpose(usize, usize),
    /// A new leading axis of 2.
    Broadcast(usize),
    /// Operand, axis, step, start.
    Slice(usize, usize, usize, usize),
    Where(usize, usize, usize),
    /// i64 arithmetic on the truncated values, back to the float type.
    Integer(usize, usize, usize),
    /// Flattened to one axis.
    Reshape(usize),
    Concat(usize, usize),
    /// Through the other float type and back.
    Precision(usize),
}

/// Every float unary op: the op table's list, less `not` (the last).
const UNARY: &[UnaryOp] = UnaryOp::ALL.split_last().expect("unary ops exist").1;
const ARITHMETIC: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Max, BinaryOp::Min];
const CONSTANTS: [f64; 7] = [0.0, 1.0, -1.0, 2.0, 0.5, -0.5, 3.0];
const COMPARISONS: [BinaryOp; 6] = [BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge];
const INTEGER: [BinaryOp; 6] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Max, BinaryOp::Min, BinaryOp::Div];
const SLICE_STEPS: [i64; 5] = [1, 2, -1, -2, 3];

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let k = || 0usize..64;
    let step = prop_oneof![
        5 => (k(), k()).prop_map(|(op, a)| Step::Unary(op, a)),
        5 => (k(), k(), k()).prop_map(|(op, a, b)| Step::Binary(op, a, b)),
        1 => (k(), k(), k()).prop_map(|(op, a, b)| Step::Compare(op, a, b)),
        1 => (k(), k(), k()).prop_map(|(op, a, b)| Step::Logic(op, a, b)),
        2 => k().prop_map(Step::Constant),
        3 => (k(), k(), k(), any::<bool>()).prop_map(|(op, a, axes, keep)| Step::Reduce(op, a, axes, keep)),
        2 => (k(), k(), any::<bool>()).prop_map(|(a, axis, log)| Step::Softmax(a, axis, log)),
        2 => (k(), k()).prop_map(|(a, b)| Step::MatMul(a, b)),
        2 => (k(), k()).prop_map(|(a, p)| Step::Transpose(a, p)),
        1 => k().prop_map(Step::Broadcast),
        2 => (k(), k(), k(), k()).prop_map(|(a, axis, step, start)| Step::Slice(a, axis, step, start)),
        2 => (k(), k(), k()).prop_map(|(c, a, b)| Step::Where(c, a, b)),
        1 => (k(), k(), k()).prop_map(|(op, a, b)| Step::Integer(op, a, b)),
        1 => k().prop_map(Step::Reshape),
        1 => (k(), k()).prop_map(|(a, b)| Step::Concat(a, b)),
        1 => k().prop_map(Step::Precision),
    ];
    prop::collection::vec(step, 1..14)
}

/// The k-th permutation of `0..n` (k modulo n!).
fn nth_permutation(n: usize, mut k: usize) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).collect();
    let mut out = Vec::with_capacity(n);
    while !pool.is_empty() {
        let i = k % pool.len();
        k /= pool.len();
        out.push(pool.remove(i));
    }
    out
}

/// Builds the program over inputs `a: T[B, 4]`, `b: T[4]`, `c: T[4, 3]`,
/// `d: T[2, 1, 4]`; a step whose operands do not fit is skipped. With
/// `all_outputs` every computed value is an output, so that every
/// intermediate (and every view) is checked; otherwise only the values no
/// other step uses, so that `-O2` can fuse chains into kernels (a value that
/// is an output stays materialized).
fn build(program: &[Step], dtype: DType, all_outputs: bool) -> Graph {
    let mut g = Graph::new();
    let mut values = vec![
        g.input("a", typed(dtype, &b_and(&[4]))).unwrap(),
        g.input("b", typed(dtype, &known(&[4]))).unwrap(),
        g.input("c", typed(dtype, &known(&[4, 3]))).unwrap(),
        g.input("d", typed(dtype, &known(&[2, 1, 4]))).unwrap(),
    ];
    let other = if dtype == DType::F32 { DType::F64 } else { DType::F32 };
    for step in program {
        // Half the picks among the three latest values (chains, which
        // fuse), half among all.
        let pick = |k: usize| {
            let n = values.len();
            if k < 32 { values[n - 1 - k % 3.min(n)] } else { values[k % n] }
        };
        let rank = |g: &Graph, x: NodeId| g.ty(x).rank();
        let added: Result<NodeId, tx_ir::GraphError> = match *step {
            Step::Unary(op, a) => {
                let op = UNARY[op % UNARY.len()];
                let mut x = pick(a);
                if matches!(op, UnaryOp::Sin | UnaryOp::Cos) {
                    // Within the range where `math.rs` promises sin and cos
                    // (huge arguments have their own test).
                    let limit = g.add(Op::Constant { value: Scalar::Float(1e4), dtype }, &[]).unwrap();
                    let low = g.add(Op::Unary(UnaryOp::Neg), &[limit]).unwrap();
                    x = g.add(Op::Binary(BinaryOp::Min), &[x, limit]).unwrap();
                    x = g.add(Op::Binary(BinaryOp::Max), &[x, low]).unwrap();
                }
                g.add(Op::Unary(op), &[x])
            }
            Step::Binary(op, a, b) => g.add(Op::Binary(ARITHMETIC[op % ARITHMETIC.len()]), &[pick(a), pick(b)]),
            Step::Compare(op, a, b) => g
                .add(Op::Binary(COMPARISONS[op % 6]), &[pick(a), pick(b)])
                .and_then(|m| g.add(Op::Cast { dtype }, &[m])),
            Step::Logic(op, a, b) => {
                let zero = g.add(Op::Constant { value: Scalar::Float(0.0), dtype }, &[]).unwrap();
                let p = g.add(Op::Binary(BinaryOp::Gt), &[pick(a), zero]).unwrap();
                let q = g.add(Op::Binary(BinaryOp::Lt), &[pick(b), zero]).unwrap();
                let r = match op % 3 {
                    0 => g.add(Op::Unary(UnaryOp::Not), &[p]),
                    1 => g.add(Op::Binary(BinaryOp::And), &[p, q]),
                    _ => g.add(Op::Binary(BinaryOp::Or), &[p, q]),
                };
                r.and_then(|r| g.add(Op::Cast { dtype }, &[r]))
            }
            Step::Constant(k) => g.add(Op::Constant { value: Scalar::Float(CONSTANTS[k % 7]), dtype }, &[]),
            Step::Reduce(op, a, axes, keepdims) => {
                let x = pick(a);
                let r = rank(&g, x);
                let axes: Vec<usize> = (0..r).filter(|bit| axes >> bit & 1 == 1).collect();
                g.add(Op::Reduce { op: ReduceOp::ALL[op % 5], axes, keepdims }, &[x])
            }
            Step::Softmax(a, axis, log) => {
                let x = pick(a);
                let r = rank(&g, x);
                if r == 0 {
                    continue;
                }
                let axis = axis % r;
                g.add(if log { Op::LogSoftmax { axis } } else { Op::Softmax { axis } }, &[x])
            }
            Step::MatMul(a, b) => g.add(Op::MatMul, &[pick(a), pick(b)]),
            Step::Transpose(a, p) => {
                let x = pick(a);
                let perm = nth_permutation(rank(&g, x), p);
                g.add(Op::Transpose { perm }, &[x])
            }
            Step::Broadcast(a) => {
                let x = pick(a);
                if rank(&g, x) >= 4 {
                    continue;
                }
                let mut shape = g.ty(x).shape.clone();
                shape.0.insert(0, Dim::Known(2));
                g.add(Op::Broadcast { shape }, &[x])
            }
            Step::Slice(a, axis, step, start) => {
                let x = pick(a);
                let shape = g.ty(x).shape.clone();
                if shape.rank() == 0 {
                    continue;
                }
                let axis = axis % shape.rank();
                let Dim::Known(n) = shape.0[axis] else {
                    continue;
                };
                let step = SLICE_STEPS[step % SLICE_STEPS.len()];
                let range = if n == 0 {
                    AxisSlice::Range { start: 0, step, len: 0 }
                } else if step > 0 {
                    let start = start % n;
                    AxisSlice::Range { start, step, len: (n - start).div_ceil(step as usize) }
                } else {
                    let start = n - 1 - start % n;
                    AxisSlice::Range { start, step, len: start / step.unsigned_abs() as usize + 1 }
                };
                let mut axes = vec![AxisSlice::Full; shape.rank()];
                axes[axis] = range;
                g.add(Op::Slice { axes }, &[x])
            }
            Step::Where(c, a, b) => {
                let zero = g.add(Op::Constant { value: Scalar::Float(0.0), dtype }, &[]).unwrap();
                g.add(Op::Binary(BinaryOp::Gt), &[pick(c), zero]).and_then(|m| g.add(Op::Where, &[m, pick(a), pick(b)]))
            }
            Step::Integer(op, a, b) => {
                let i = g.add(Op::Cast { dtype: DType::I64 }, &[pick(a)]).unwrap();
                let j = g.add(Op::Cast { dtype: DType::I64 }, &[pick(b)]).unwrap();
                g.add(Op::Binary(INTEGER[op % 6]), &[i, j]).and_then(|r| g.add(Op::Cast { dtype }, &[r]))
            }
            Step::Reshape(a) => {
                let x = pick(a);
                match g.ty(x).shape.known_size() {
                    Some(n) => g.add(Op::Reshape { shape: Shape::new([n]) }, &[x]),
                    None => continue,
                }
            }
            Step::Concat(a, b) => {
                let (x, y) = (pick(a), pick(b));
                let r = rank(&g, x);
                if r == 0 {
                    continue;
                }
                g.add(Op::Concat { axis: r - 1 }, &[x, y]).or_else(|_| g.add(Op::Concat { axis: r - 1 }, &[x, x]))
            }
            Step::Precision(a) => {
                g.add(Op::Cast { dtype: other }, &[pick(a)]).and_then(|y| g.add(Op::Cast { dtype }, &[y]))
            }
        };
        if let Ok(id) = added {
            // Keep values small: random broadcasts and matmuls multiply sizes.
            let size = g.ty(id).shape.dims().iter().map(|d| d.known().unwrap_or(5)).product::<usize>();
            if size <= 4096 {
                values.push(id);
            }
        }
    }
    for (k, &id) in values.iter().enumerate().skip(4) {
        if all_outputs || g.users(id).is_empty() {
            g.add_output(&format!("v{k}"), id).unwrap();
        }
    }
    if g.outputs().is_empty() {
        let a = values[0];
        let t = g.add(Op::Unary(UnaryOp::Abs), &[a]).unwrap();
        g.add_output("t", t).unwrap();
    }
    g
}

/// Seeded inputs for a random graph: B from `batch`, N(0, 2²) values with
/// edge values mixed in when `special`, and `a`, `c`, `d` given in unusual
/// layouts when `layouts`.
fn graph_inputs(dtype: DType, batch: usize, seed: u64, special: bool, layouts: bool) -> Vec<(String, Tensor)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for (name, shape, via) in [
        ("a", vec![batch, 4], Via::Fortran),
        ("b", vec![4], Via::Standard),
        ("c", vec![4, 3], Via::Negative),
        ("d", vec![2, 1, 4], Via::Offset),
    ] {
        let mixed = special && rng.below(2) == 0;
        let t = random_tensor(dtype, &shape, &mut rng, mixed);
        let t = match (layouts, via) {
            (true, Via::Fortran) => per_dtype!(&t, a => fortran(a)),
            (true, Via::Negative) => per_dtype!(&t, a => negative(a)),
            (true, Via::Offset) => per_dtype!(&t, a => offset(a)),
            _ => t,
        };
        out.push((name.to_string(), t));
    }
    out
}

/// How a random graph is built and called.
#[derive(Clone, Debug)]
struct Setting {
    f64s: bool,
    all_outputs: bool,
    batch: usize,
    seed: u64,
    special: bool,
    layouts: bool,
}

fn settings() -> impl Strategy<Value = Setting> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![1usize, 2, 3, 5, 1, 2, 3, 0]),
        0u64..1000,
        prop::bool::weighted(0.25),
        any::<bool>(),
    )
        .prop_map(|(f64s, all_outputs, batch, seed, special, layouts)| Setting {
            f64s,
            all_outputs,
            batch,
            seed,
            special,
            layouts,
        })
}

fn check_random_graph(program: &[Step], setting: &Setting) -> Result<(), TestCaseError> {
    let Setting { f64s, all_outputs, batch, seed, special, layouts } = *setting;
    let dtype = if f64s { DType::F64 } else { DType::F32 };
    let graph = build(program, dtype, all_outputs);
    let inputs = graph_inputs(dtype, batch, seed, special, layouts);
    for level in [Level::O0, Level::O2] {
        let optimized =
            optimize(&graph, &[], &OptConfig::new(level)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let outputs: Vec<NodeId> = optimized.graph.outputs().iter().map(|(_, id)| *id).collect();
        // Every other graph runs on two threads, where independent steps
        // run at once.
        let options = Options { threads: 1 + (seed % 2) as usize, keep_clif: false };
        if let Err(why) = differential(&optimized.graph, &outputs, &inputs, &[], &options, &[], true) {
            return Err(TestCaseError::fail(format!(
                "at {} with B = {batch}: {why}\n{}",
                level.name(),
                tx_ir::print_graph(&optimized.graph)
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random graphs, each at `-O0` and `-O2`: the JIT computes what the
    /// interpreter computes on the same graph.
    #[test]
    fn random_graphs_agree_at_o0_and_o2(program in steps(), setting in settings()) {
        check_random_graph(&program, &setting)?;
    }
}

// ---------------------------------------------------------------------------
// The executable across calls

/// A graph with symbolic batch `B` and a bit of everything: views,
/// reductions over first and last axes, softmax, a matmul, casts, a host op.
fn batch_graph() -> (Graph, Vec<NodeId>) {
    let mut g = Graph::new();
    let x = g.input("x", typed(DType::F32, &b_and(&[6]))).unwrap();
    let y = g.input("y", typed(DType::F32, &known(&[6]))).unwrap();
    let w =
        g.param("W", typed(DType::F32, &known(&[6, 3])), Init::Normal { mean: 0.0, std: 1.0, seed: 7 }, false).unwrap();
    let xy = bin(&mut g, BinaryOp::Mul, x, y);
    let two = constant(&mut g, 2.0, DType::F32);
    let s = bin(&mut g, BinaryOp::Sub, xy, two);
    let t = g.add(Op::Transpose { perm: vec![1, 0] }, &[s]).unwrap();
    let rows = reduce(&mut g, ReduceOp::Sum, s, &[1], false);
    let cols = reduce(&mut g, ReduceOp::Mean, t, &[1], true);
    let h = g.add(Op::MatMul, &[s, w]).unwrap();
    let p = g.add(Op::Softmax { axis: 1 }, &[h]).unwrap();
    let i = g.add(Op::ArgMax { axis: Some(1), keepdims: false }, &[h]).unwrap();
    let big = bin(&mut g, BinaryOp::Gt, s, y);
    let count = g.add(Op::Cast { dtype: DType::I64 }, &[big]).unwrap();
    let count = reduce(&mut g, ReduceOp::Sum, count, &[0], false);
    (g, vec![s, t, rows, cols, h, p, i, count, x])
}

#[test]
fn calls_with_new_values_and_new_batch_sizes() {
    let (g, outputs) = batch_graph();
    let params = tx_interp::init_params(&g);
    let mut exe = tx_jit::compile(&g, &outputs, &Options::default()).unwrap();
    // The same shapes with new values (the plan's buffers reused), then new
    // batch sizes (re-planned), back and forth, 0 and 1 included.
    for (k, b) in [3, 3, 3, 5, 3, 1, 0, 8, 0, 3].into_iter().enumerate() {
        let mut inputs = tx_interp::random_inputs(&g, 200 + k as u64, &[("B", b)]).unwrap();
        // Odd calls give the input and the parameter column-major.
        let params: Vec<(String, Tensor)> = if k % 2 == 1 {
            inputs[0].1 = per_dtype!(&inputs[0].1, a => fortran(a));
            params.iter().map(|(n, t)| (n.clone(), per_dtype!(t, a => fortran(a)))).collect()
        } else {
            params.clone()
        };
        let expected = tx_interp::evaluate(&g, &refs(&inputs), &refs(&params), &outputs).unwrap();
        let got = exe.run(&refs(&inputs), &refs(&params)).unwrap_or_else(|e| panic!("B = {b}: {e}"));
        for (n, (e, g)) in expected.iter().zip(&got).enumerate() {
            compare(e, g, None, None).unwrap_or_else(|why| panic!("call {k} (B = {b}), output {n}: {why}"));
        }
    }
}

#[test]
fn a_max_over_an_empty_batch_is_an_error_then_calls_go_on() {
    let mut g = Graph::new();
    let x = g.input("x", typed(DType::F64, &b_and(&[4]))).unwrap();
    let m = reduce(&mut g, ReduceOp::Max, x, &[0], false);
    let l = reduce(&mut g, ReduceOp::LogSumExp, x, &[0], false);
    let mut exe = tx_jit::compile(&g, &[m, l], &Options::default()).unwrap();
    for b in [2, 0, 3, 0, 1] {
        let inputs = tx_interp::random_inputs(&g, b as u64, &[("B", b)]).unwrap();
        let expected = tx_interp::evaluate(&g, &refs(&inputs), &[], &[m, l]);
        let got = catch_unwind(AssertUnwindSafe(|| exe.run(&refs(&inputs), &[]))).expect("the JIT panicked");
        match (expected, got) {
            (Ok(e), Ok(g)) => {
                for (e, g) in e.iter().zip(&g) {
                    compare(e, g, None, None).unwrap();
                }
            }
            (Err(_), Err(_)) => {}
            (e, g) => panic!("B = {b}: interpreter {e:?}, JIT {g:?}"),
        }
    }
}

/// Arrays of more than `PARALLEL_THRESHOLD` (32768) elements on two
/// threads: split outer loops, split inner loops, accumulations over first
/// axes, row kernels, GEMM. Each case runs a few times, since a race shows
/// only sometimes.
#[test]
fn two_threads_on_large_arrays() {
    let mut failures = Failures::default();
    let options = Options { threads: 2, keep_clif: false };
    let mut rng = Rng::new(13);
    for dtype in [DType::F32, DType::F64] {
        let mut cases: Vec<(String, Graph, Vec<NodeId>, Vec<(String, Tensor)>, Vec<Option<Vec<f64>>>)> = Vec::new();
        // Elementwise, contiguous and strided, with a broadcast bias.
        {
            let mut g = Graph::new();
            let x = g.input("x", typed(dtype, &known(&[300, 200]))).unwrap();
            let y = g.input("y", typed(dtype, &known(&[200, 300]))).unwrap();
            let b = g.input("b", typed(dtype, &known(&[200]))).unwrap();
            let yt = g.add(Op::Transpose { perm: vec![1, 0] }, &[y]).unwrap();
            let s = bin(&mut g, BinaryOp::Add, x, b);
            let p = bin(&mut g, BinaryOp::Mul, s, yt);
            let q = bin(&mut g, BinaryOp::Max, p, x);
            let inputs = vec![
                ("x".to_string(), random_tensor(dtype, &[300, 200], &mut rng, false)),
                ("y".to_string(), random_tensor(dtype, &[200, 300], &mut rng, false)),
                ("b".to_string(), random_tensor(dtype, &[200], &mut rng, false)),
            ];
            cases.push(("elementwise".into(), g, vec![s, p, q], inputs, vec![]));
        }
        // Reductions over first, last, middle and all axes; softmax rows.
        for (shape, axes) in [
            (vec![300, 200], vec![1]),
            (vec![300, 200], vec![0]),
            (vec![40, 30, 50], vec![1]),
            (vec![40, 30, 50], vec![0, 2]),
            (vec![300, 200], vec![0, 1]),
            (vec![40000, 1], vec![0]),
            (vec![2, 20000, 1], vec![1]),
            (vec![1, 40000], vec![1]),
            (vec![40000], vec![0]),
        ] {
            for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
                let mut g = Graph::new();
                let x = g.input("x", typed(dtype, &known(&shape))).unwrap();
                let r = reduce(&mut g, op, x, &axes, false);
                let value = random_tensor(dtype, &shape, &mut rng, false);
                let scale = reduce_scale(op, &value, &axes);
                cases.push((
                    format!("{}{axes:?} of {dtype}{shape:?}", op.name()),
                    g,
                    vec![r],
                    vec![("x".into(), value)],
                    vec![scale],
                ));
            }
        }
        for (shape, axis) in [(vec![400, 100], 1), (vec![100, 400], 0), (vec![4, 10000], 1)] {
            let mut g = Graph::new();
            let x = g.input("x", typed(dtype, &known(&shape))).unwrap();
            let s = g.add(Op::Softmax { axis }, &[x]).unwrap();
            let l = g.add(Op::LogSoftmax { axis }, &[x]).unwrap();
            let value = random_tensor(dtype, &shape, &mut rng, false);
            cases.push((
                format!("softmax[axis={axis}] of {dtype}{shape:?}"),
                g,
                vec![s, l],
                vec![("x".into(), value)],
                vec![],
            ));
        }
        // GEMM, plain and transposed.
        {
            let mut g = Graph::new();
            let a = g.input("a", typed(dtype, &known(&[300, 200]))).unwrap();
            let b = g.input("b", typed(dtype, &known(&[200, 150]))).unwrap();
            let bt = g.add(Op::Transpose { perm: vec![1, 0] }, &[b]).unwrap();
            let ab = g.add(Op::MatMul, &[a, b]).unwrap();
            let at = g.add(Op::Transpose { perm: vec![1, 0] }, &[a]).unwrap();
            let btat = g.add(Op::MatMul, &[bt, at]).unwrap();
            let (va, vb) = (
                random_tensor(dtype, &[300, 200], &mut rng, false),
                random_tensor(dtype, &[200, 150], &mut rng, false),
            );
            let s1 = matmul_scale(&va, &vb);
            let s2 = s1.as_ref().map(|s| {
                // The scale of (a b)^T is that of a b, transposed.
                let (m, n) = (300, 150);
                (0..m * n).map(|i| s[(i % m) * n + i / m]).collect()
            });
            cases.push(("matmul".into(), g, vec![ab, btat], vec![("a".into(), va), ("b".into(), vb)], vec![s1, s2]));
        }
        for (name, g, outputs, inputs, scales) in &cases {
            for round in 0..3 {
                failures.record(
                    || format!("{name} on 2 threads (round {round})"),
                    differential(g, outputs, inputs, &[], &options, scales, false),
                );
            }
        }
    }
    // A large random graph at -O2, fused kernels on two threads.
    for (name, graph) in fusion_graphs(DType::F32) {
        let optimized = optimize(&graph, &[], &OptConfig::new(Level::O2)).unwrap();
        let outputs: Vec<NodeId> = optimized.graph.outputs().iter().map(|(_, id)| *id).collect();
        let inputs = tx_interp::random_inputs(&graph, 5, &[("B", 9000)]).unwrap();
        let params = tx_interp::init_params(&graph);
        failures.record(
            || format!("{name} at -O2, B = 9000, on 2 threads"),
            differential(&optimized.graph, &outputs, &inputs, &params, &options, &[], true),
        );
    }
    failures.finish("two_threads_on_large_arrays");
}

#[test]
fn bad_arguments_are_errors() {
    let mut g = Graph::new();
    let x = g.input("x", typed(DType::F32, &b_and(&[3]))).unwrap();
    let y = g.input("y", typed(DType::F32, &b_and(&[3]))).unwrap();
    let w = g.param("W", typed(DType::F32, &known(&[3, 2])), Init::Fill(0.5), false).unwrap();
    let s = bin(&mut g, BinaryOp::Add, x, y);
    let h = g.add(Op::MatMul, &[s, w]).unwrap();
    let f32s = |shape: &[usize]| Tensor::full(DType::F32, shape, 1.0);
    let good_x = f32s(&[2, 3]);
    let good_w = f32s(&[3, 2]);
    let cases: Vec<(&str, Vec<(&str, Tensor)>, Vec<(&str, Tensor)>)> = vec![
        ("wrong known size", vec![("x", f32s(&[2, 4])), ("y", f32s(&[2, 3]))], vec![("W", good_w.clone())]),
        ("wrong rank", vec![("x", f32s(&[6])), ("y", f32s(&[2, 3]))], vec![("W", good_w.clone())]),
        ("scalar", vec![("x", f32s(&[])), ("y", f32s(&[2, 3]))], vec![("W", good_w.clone())]),
        ("B bound twice", vec![("x", f32s(&[2, 3])), ("y", f32s(&[4, 3]))], vec![("W", good_w.clone())]),
        (
            "wrong dtype",
            vec![("x", Tensor::full(DType::F64, &[2, 3], 1.0)), ("y", f32s(&[2, 3]))],
            vec![("W", good_w.clone())],
        ),
        (
            "bool input",
            vec![("x", Tensor::full(DType::Bool, &[2, 3], 1.0)), ("y", f32s(&[2, 3]))],
            vec![("W", good_w.clone())],
        ),
        ("missing input", vec![("x", good_x.clone())], vec![("W", good_w.clone())]),
        (
            "unknown input",
            vec![("x", good_x.clone()), ("y", good_x.clone()), ("z", good_x.clone())],
            vec![("W", good_w.clone())],
        ),
        (
            "input twice",
            vec![("x", good_x.clone()), ("y", good_x.clone()), ("x", good_x.clone())],
            vec![("W", good_w.clone())],
        ),
        ("missing parameter", vec![("x", good_x.clone()), ("y", good_x.clone())], vec![]),
        (
            "parameter of the wrong shape",
            vec![("x", good_x.clone()), ("y", good_x.clone())],
            vec![("W", f32s(&[2, 3]))],
        ),
        (
            "parameter of the wrong dtype",
            vec![("x", good_x.clone()), ("y", good_x.clone())],
            vec![("W", Tensor::full(DType::F64, &[3, 2], 1.0))],
        ),
    ];
    let good_inputs = [("x", good_x.clone()), ("y", good_x.clone())];
    let good_params = [("W", good_w.clone())];
    let as_refs =
        |v: &[(&str, Tensor)]| -> Vec<(String, Tensor)> { v.iter().map(|(n, t)| (n.to_string(), t.clone())).collect() };
    let mut failures = Failures::default();
    let mut exe = tx_jit::compile(&g, &[h, s], &Options::default()).unwrap();
    for (what, inputs, params) in &cases {
        let (inputs, params) = (as_refs(inputs), as_refs(params));
        let expected = tx_interp::evaluate(&g, &refs(&inputs), &refs(&params), &[h, s]);
        let got = catch_unwind(AssertUnwindSafe(|| exe.run(&refs(&inputs), &refs(&params))));
        let result = match (expected, got) {
            (_, Err(panic)) => Err(format!("the JIT panicked: {}", panic_text(panic))),
            (Err(e), Ok(Err(j))) if e == j => Ok(()),
            (Err(e), Ok(Err(j))) => Err(format!("the interpreter says `{e}`, the JIT `{j}`")),
            (e, Ok(j)) => Err(format!("expected an error; interpreter {e:?}, JIT {j:?}")),
        };
        failures.record(|| what.to_string(), result);
        // A rejected call leaves the executable usable.
        let (gi, gp) = (as_refs(&good_inputs), as_refs(&good_params));
        let ok = catch_unwind(AssertUnwindSafe(|| exe.run(&refs(&gi), &refs(&gp)))).map_err(panic_text);
        failures.record(
            || format!("a good call after `{what}`"),
            match ok {
                Ok(Ok(values)) => compare(&Tensor::full(DType::F32, &[2, 2], 6.0), &values[0], None, None),
                other => Err(format!("{other:?}")),
            },
        );
    }
    // Outputs that do not exist are an error when compiling.
    let missing = catch_unwind(AssertUnwindSafe(|| tx_jit::compile(&g, &[NodeId(99)], &Options::default()).is_err()));
    failures.record(
        || "an output node that does not exist".to_string(),
        match missing {
            Ok(true) => Ok(()),
            Ok(false) => Err("compiled".to_string()),
            Err(panic) => Err(format!("panicked: {}", panic_text(panic))),
        },
    );
    failures.finish("bad_arguments_are_errors");
}

/// A slice of a symbolic axis is checked against the size bound at the
/// call: an input too short for it is an error, as in the interpreter, and
/// never a read past the end of the input.
#[test]
fn slices_of_a_symbolic_axis_are_bounds_checked() {
    let mut g = Graph::new();
    let x = g.input("x", typed(DType::F32, &b_and(&[2]))).unwrap();
    let s =
        g.add(Op::Slice { axes: vec![AxisSlice::Range { start: 1, step: 1, len: 3 }, AxisSlice::Full] }, &[x]).unwrap();
    let y = un(&mut g, UnaryOp::Neg, s);
    let mut failures = Failures::default();
    for b in [4, 6, 3, 2, 1] {
        let inputs = vec![("x".to_string(), random_tensor(DType::F32, &[b, 2], &mut Rng::new(b as u64), false))];
        failures.record(
            || format!("x[1:4] of f32[{b}, 2]"),
            differential(&g, &[s, y], &inputs, &[], &Options::default(), &[], false),
        );
    }
    failures.finish("slices_of_a_symbolic_axis_are_bounds_checked");
}

/// The same with an empty input, whose data pointer is dangling: an
/// unchecked read there is a crash (SIGSEGV) rather than wrong values, so it
/// has a test of its own.
#[test]
fn a_slice_of_an_empty_symbolic_axis_is_an_error() {
    let mut g = Graph::new();
    let x = g.input("x", typed(DType::F32, &b_and(&[2]))).unwrap();
    let s =
        g.add(Op::Slice { axes: vec![AxisSlice::Range { start: 1, step: 1, len: 3 }, AxisSlice::Full] }, &[x]).unwrap();
    let inputs = vec![("x".to_string(), Tensor::full(DType::F32, &[0, 2], 0.0))];
    differential(&g, &[s], &inputs, &[], &Options::default(), &[], false).unwrap();
}

/// A reduction over a first axis is an accumulation (`out += x[r]`), whose
/// outer indices must not run on several threads at once. When the kept
/// axes after the reduced one have size 1, the reduced axis becomes the
/// innermost loop, which must not be split across threads either.
#[test]
fn accumulations_on_two_threads_do_not_race() {
    let options = Options { threads: 2, keep_clif: false };
    let mut failures = Failures::default();
    for (shape, axes) in
        [(vec![2_000_000, 1], vec![0]), (vec![2, 1_000_000, 1], vec![1]), (vec![1_000_000, 2], vec![0])]
    {
        let mut g = Graph::new();
        let x = g.input("x", typed(DType::F64, &known(&shape))).unwrap();
        let sum = reduce(&mut g, ReduceOp::Sum, x, &axes, false);
        let n: usize = axes.iter().map(|&a| shape[a]).product();
        // Sums of ones are exact in any order.
        let inputs = vec![("x".to_string(), Tensor::full(DType::F64, &shape, 1.0))];
        let result = jit_calls(&g, &[sum], &inputs, &[], &options, 4).and_then(|calls| {
            let sums: Vec<f64> = calls.iter().flat_map(|c| c[0].to_f64s()).collect();
            if sums.iter().all(|&v| v == n as f64) { Ok(()) } else { Err(format!("sums {sums:?}, expected {n}")) }
        });
        failures.record(|| format!("sum{axes:?} of f64{shape:?} ones on 2 threads"), result);
    }
    failures.finish("accumulations_on_two_threads_do_not_race");
}

/// `Outputs::swap` gives the executable another buffer for an output (how
/// parameters take their updates). An output that is a constant or a random
/// source is computed once per plan, so swapping it must not change what
/// later calls compute.
#[test]
fn swapping_outputs_does_not_change_later_calls() {
    let mut g = Graph::new();
    let x = g.input("x", typed(DType::F64, &known(&[3]))).unwrap();
    let c = constant(&mut g, 2.5, DType::F64);
    let dist = Distribution::Uniform { low: Scalar::Float(0.0), high: Scalar::Float(1.0) };
    let r = g.add(Op::Random { dist, seed: 3, ty: typed(DType::F64, &known(&[3])) }, &[]).unwrap();
    let y = bin(&mut g, BinaryOp::Mul, x, c);
    let z = bin(&mut g, BinaryOp::Add, x, r);
    let outputs = [c, y, r, z, x];
    let given = vec![("x".to_string(), Tensor::full(DType::F64, &[3], 1.0))];
    let expected = tx_interp::evaluate(&g, &refs(&given), &[], &outputs).unwrap();
    let mut exe = tx_jit::compile(&g, &outputs, &Options::default()).unwrap();
    let mut failures = Failures::default();
    for round in 0..3 {
        let mut out = exe.call(&refs(&given), &[]).unwrap();
        for (k, e) in expected.iter().enumerate() {
            let result = out.get(k).ok_or_else(|| "missing".to_string()).and_then(|v| compare(e, v, None, None));
            failures.record(|| format!("call {round}, output {k} ({})", g.node(outputs[k]).op.name()), result);
        }
        for (k, e) in expected.iter().enumerate() {
            let mut other = Tensor::full(DType::F64, e.shape(), 7.0 + k as f64);
            out.swap(k, &mut other);
        }
    }
    failures.finish("swapping_outputs_does_not_change_later_calls");
}

/// Outputs that are the same node twice, an input, a constant, a view of an
/// input or of another output, and a product with an empty inner dimension
/// whose buffer held other values before.
#[test]
fn outputs_that_alias_and_reused_buffers() {
    let mut g = Graph::new();
    let x = g.input("x", typed(DType::F64, &known(&[3, 4]))).unwrap();
    let a = g.input("a", typed(DType::F64, &known(&[3, 0]))).unwrap();
    let b = g.input("b", typed(DType::F64, &known(&[0, 4]))).unwrap();
    let c = constant(&mut g, 2.5, DType::F64);
    let t = g.add(Op::Transpose { perm: vec![1, 0] }, &[x]).unwrap();
    let y = bin(&mut g, BinaryOp::Mul, x, c);
    let z = bin(&mut g, BinaryOp::Add, y, x);
    let yt = g.add(Op::Transpose { perm: vec![1, 0] }, &[y]).unwrap();
    let r = g.add(Op::Reshape { shape: Shape::new([12usize]) }, &[yt]).unwrap();
    // Dead after this: its buffer is free for the product below.
    let tmp = bin(&mut g, BinaryOp::Sub, z, c);
    let tmp = reduce(&mut g, ReduceOp::Sum, tmp, &[0, 1], false);
    let ab = g.add(Op::MatMul, &[a, b]).unwrap();
    let one = constant(&mut g, 1.0, DType::F64);
    let ab1 = bin(&mut g, BinaryOp::Add, ab, one);
    let outputs = [y, y, x, c, t, yt, r, z, tmp, ab, ab1, y];
    let mut rng = Rng::new(14);
    let inputs = vec![
        ("x".to_string(), random_tensor(DType::F64, &[3, 4], &mut rng, false)),
        ("a".to_string(), Tensor::full(DType::F64, &[3, 0], 0.0)),
        ("b".to_string(), Tensor::full(DType::F64, &[0, 4], 0.0)),
    ];
    let mut failures = Failures::default();
    failures.record(
        || "aliased outputs".to_string(),
        differential(&g, &outputs, &inputs, &[], &Options::default(), &[], false),
    );
    failures.record(|| "no outputs".to_string(), differential(&g, &[], &inputs, &[], &Options::default(), &[], false));
    // The borrowed outputs of `call`, call after call with new values.
    let mut exe = tx_jit::compile(&g, &outputs, &Options::default()).unwrap();
    for seed in 0..3 {
        let mut inputs = inputs.clone();
        inputs[0].1 = random_tensor(DType::F64, &[3, 4], &mut Rng::new(seed), false);
        let expected = tx_interp::evaluate(&g, &refs(&inputs), &[], &outputs).unwrap();
        let got = exe.call(&refs(&inputs), &[]).unwrap();
        for (k, e) in expected.iter().enumerate() {
            let result = got.get(k).ok_or_else(|| "missing".to_string()).and_then(|v| compare(e, v, None, None));
            failures.record(|| format!("call, seed {seed}, output {k}"), result);
        }
    }
    failures.finish("outputs_that_alias_and_reused_buffers");
}
