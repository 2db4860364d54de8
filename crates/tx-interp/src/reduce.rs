//! The reduce family: reductions over a set of axes, `argmax`, and the
//! normalizations along one axis (softmax, log-softmax).
//!
//! Reductions move the reduced axes to the end and walk the result as
//! contiguous rows, one row per output element: one simple loop for every
//! reduction, whatever the axes. f32 sums and means accumulate in f64 before
//! rounding, so that the oracle is at least as accurate as what it checks.

use ndarray::{ArrayD, Axis, IxDyn};
use tx_ir::ReduceOp;
use tx_tensor::Tensor;

use crate::element::{Ordered, Real, nan_max, nan_min};

/// `op` over `axes` of `x` (sorted and distinct; none is the identity).
pub(crate) fn reduce(op: ReduceOp, x: &Tensor, axes: &[usize], keepdims: bool) -> Result<Tensor, String> {
    let needs_elements = match op {
        ReduceOp::Sum | ReduceOp::Mean => false,
        ReduceOp::Max | ReduceOp::Min | ReduceOp::LogSumExp => true,
    };
    if needs_elements && let Some(&axis) = axes.iter().find(|&&axis| x.shape().get(axis) == Some(&0)) {
        return Err(format!("`{}` over axis {axis}, which has no elements in this call", op.name()));
    }
    match x {
        Tensor::F32(a) => reduce_real(op, a, axes, keepdims),
        Tensor::F64(a) => reduce_real(op, a, axes, keepdims),
        Tensor::I64(a) => reduce_int(op, a, axes, keepdims),
        Tensor::Bool(_) => Err(format!("`{}` does not apply to bool (the graph did not type-check)", op.name())),
    }
}

fn reduce_real<T: Real>(op: ReduceOp, a: &ArrayD<T>, axes: &[usize], keepdims: bool) -> Result<Tensor, String> {
    let out = match op {
        ReduceOp::Sum => rows(a, axes, keepdims, |row| T::from_f64(sum_f64(row)))?,
        // The mean of no elements is 0 / 0 = NaN, as in numpy.
        ReduceOp::Mean => rows(a, axes, keepdims, |row| T::from_f64(sum_f64(row) / row.len() as f64))?,
        ReduceOp::Max => rows(a, axes, keepdims, |row| row.iter().copied().reduce(nan_max).unwrap_or(T::NAN))?,
        ReduceOp::Min => rows(a, axes, keepdims, |row| row.iter().copied().reduce(nan_min).unwrap_or(T::NAN))?,
        ReduceOp::LogSumExp => rows(a, axes, keepdims, |row| T::from_f64(logsumexp(row)))?,
    };
    Ok(T::wrap(out))
}

fn reduce_int(op: ReduceOp, a: &ArrayD<i64>, axes: &[usize], keepdims: bool) -> Result<Tensor, String> {
    let out = match op {
        ReduceOp::Sum => rows(a, axes, keepdims, |row| row.iter().fold(0i64, |acc, &v| acc.wrapping_add(v)))?,
        ReduceOp::Max => rows(a, axes, keepdims, |row| row.iter().copied().max().unwrap_or(0))?,
        ReduceOp::Min => rows(a, axes, keepdims, |row| row.iter().copied().min().unwrap_or(0))?,
        ReduceOp::Mean | ReduceOp::LogSumExp => {
            return Err(format!("`{}` does not apply to i64 (the graph did not type-check)", op.name()));
        }
    };
    Ok(Tensor::I64(out))
}

/// The sum in f64, starting from +0 (so that the empty sum is 0, not -0).
fn sum_f64<T: Real>(row: &[T]) -> f64 {
    row.iter().fold(0.0, |acc, &v| acc + v.to_f64())
}

/// `log(sum(exp(row)))` in f64 with the maximum subtracted first, so that
/// large entries do not overflow. An infinite or NaN maximum is the answer
/// itself (all -inf gives -inf; any +inf gives +inf; NaN stays NaN).
fn logsumexp<T: Real>(row: &[T]) -> f64 {
    let max = row.iter().map(|&v| v.to_f64()).fold(f64::NEG_INFINITY, nan_max);
    if !max.is_finite() {
        return max;
    }
    max + row.iter().fold(0.0, |acc, &v| acc + (v.to_f64() - max).exp()).ln()
}

/// Index of the largest element along `axis` (or of the whole tensor in
/// row-major order when `axis` is `None`), the first one on ties; NaN counts
/// as the largest, as in numpy.
pub(crate) fn argmax(x: &Tensor, axis: Option<usize>, keepdims: bool) -> Result<Tensor, String> {
    match x {
        Tensor::F32(a) => argmax_as(a, axis, keepdims),
        Tensor::F64(a) => argmax_as(a, axis, keepdims),
        Tensor::I64(a) => argmax_as(a, axis, keepdims),
        Tensor::Bool(_) => Err("`argmax` does not apply to bool (the graph did not type-check)".to_string()),
    }
}

fn argmax_as<T: Ordered>(a: &ArrayD<T>, axis: Option<usize>, keepdims: bool) -> Result<Tensor, String> {
    let out = match axis {
        Some(axis) => {
            if a.shape().get(axis) == Some(&0) {
                return Err(format!("`argmax` over axis {axis}, which has no elements in this call"));
            }
            rows(a, &[axis], keepdims, |row| first_max_index(row.iter().copied()))?
        }
        None => {
            if a.is_empty() {
                return Err(format!("`argmax` of a tensor of shape {:?}, which has no elements", a.shape()));
            }
            let shape = if keepdims { vec![1; a.ndim()] } else { Vec::new() };
            ArrayD::from_elem(IxDyn(&shape), first_max_index(a.iter().copied()))
        }
    };
    Ok(Tensor::I64(out))
}

fn first_max_index<T: Ordered>(values: impl Iterator<Item = T>) -> i64 {
    let mut best: Option<(usize, T)> = None;
    for (index, v) in values.enumerate() {
        match best {
            None => best = Some((index, v)),
            Some((_, b)) if b.is_nan() => break,
            Some((_, b)) => {
                if v.is_nan() || v > b {
                    best = Some((index, v));
                }
            }
        }
    }
    best.map_or(0, |(index, _)| index as i64)
}

/// Softmax (or log-softmax when `log`) along `axis`, with the maximum of
/// each lane subtracted first so that large logits do not overflow.
pub(crate) fn softmax(x: &Tensor, axis: usize, log: bool) -> Result<Tensor, String> {
    match x {
        Tensor::F32(a) => Ok(Tensor::F32(softmax_as(a, axis, log)?)),
        Tensor::F64(a) => Ok(Tensor::F64(softmax_as(a, axis, log)?)),
        Tensor::I64(_) | Tensor::Bool(_) => {
            Err(format!("softmax does not apply to {} (the graph did not type-check)", x.dtype()))
        }
    }
}

fn softmax_as<T: Real>(a: &ArrayD<T>, axis: usize, log: bool) -> Result<ArrayD<T>, String> {
    if axis >= a.ndim() {
        return Err(format!("axis {axis} is out of range for rank {}", a.ndim()));
    }
    let mut out = a.to_owned();
    for mut lane in out.lanes_mut(Axis(axis)) {
        let max = lane.iter().copied().fold(T::NEG_INFINITY, nan_max);
        let sum = lane.iter().fold(0.0, |acc, &v| acc + (v - max).exp().to_f64());
        if log {
            // log_softmax(x)_i = (x_i - max) - log(sum_j exp(x_j - max))
            let log_sum = T::from_f64(sum.ln());
            lane.mapv_inplace(|v| (v - max) - log_sum);
        } else {
            let sum = T::from_f64(sum);
            lane.mapv_inplace(|v| (v - max).exp() / sum);
        }
    }
    Ok(out)
}

/// `f` of each row of `a` once `axes` are moved last and flattened: the
/// result has the kept axes (and size-1 axes in place of the reduced ones
/// with `keepdims`).
fn rows<T: Clone, U>(
    a: &ArrayD<T>,
    axes: &[usize],
    keepdims: bool,
    f: impl Fn(&[T]) -> U,
) -> Result<ArrayD<U>, String> {
    let rank = a.ndim();
    if axes.iter().any(|&axis| axis >= rank) || axes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("the axes {axes:?} are not sorted distinct axes of a rank-{rank} tensor"));
    }
    let kept: Vec<usize> = (0..rank).filter(|axis| !axes.contains(axis)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let moved = a.view().permuted_axes(IxDyn(&perm));
    let moved = moved.as_standard_layout();
    let data = moved.as_slice().ok_or("internal error: a standard-layout array has no slice")?;
    let inner: usize = axes.iter().map(|&axis| a.shape()[axis]).product();
    let outer: usize = kept.iter().map(|&axis| a.shape()[axis]).product();
    let values: Vec<U> = (0..outer).map(|row| f(&data[row * inner..(row + 1) * inner])).collect();
    let shape: Vec<usize> = (0..rank)
        .filter_map(|axis| if axes.contains(&axis) { keepdims.then_some(1) } else { Some(a.shape()[axis]) })
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| e.to_string())
}
