//! The movement family: ops that move or select elements without arithmetic
//! (transpose, reshape, broadcast, concat, slice) and `one_hot`. Every result
//! is materialized in standard (row-major) layout, so that a value never
//! depends on how the array that holds it happens to be strided.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use tx_ir::{AxisSlice, DType};
use tx_tensor::{Tensor, with_array};

use crate::element::{Element, checked_len};

/// `perm[i]` is the operand axis that becomes result axis `i`.
pub(crate) fn transpose(x: &Tensor, perm: &[usize]) -> Result<Tensor, String> {
    let rank = x.shape().len();
    let mut seen = vec![false; rank];
    if perm.len() != rank || perm.iter().any(|&p| p >= rank || std::mem::replace(&mut seen[p], true)) {
        return Err(format!("{perm:?} is not a permutation of {rank} axes"));
    }
    Ok(with_array!(x, a => Tensor::from(a.view().permuted_axes(IxDyn(perm)).as_standard_layout().into_owned())))
}

/// The same elements in row-major order, in the (resolved) `shape`.
pub(crate) fn reshape(x: &Tensor, shape: &[usize]) -> Result<Tensor, String> {
    fn reshape_as<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, String> {
        a.as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(shape))
            .map_err(|_| format!("cannot reshape {:?} to {shape:?}", a.shape()))
    }
    with_array!(x, a => reshape_as(a, shape).map(Tensor::from))
}

/// The numpy broadcast of `x` to the (resolved) `shape`, materialized.
pub(crate) fn broadcast_to(x: &Tensor, shape: &[usize]) -> Result<Tensor, String> {
    fn broadcast_as<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, String> {
        checked_len(shape)?;
        let view = a.broadcast(IxDyn(shape)).ok_or_else(|| format!("cannot broadcast {:?} to {shape:?}", a.shape()))?;
        Ok(view.as_standard_layout().into_owned())
    }
    with_array!(x, a => broadcast_as(a, shape).map(Tensor::from))
}

/// The operands joined along `axis`.
pub(crate) fn concat(operands: &[&Tensor], axis: usize) -> Result<Tensor, String> {
    fn concat_as<T: Element>(operands: &[&Tensor], axis: usize) -> Result<Tensor, String> {
        let views = operands
            .iter()
            .map(|t| T::array(t).map(|a| a.view()).ok_or("the operands of `concat` have different element types"))
            .collect::<Result<Vec<ArrayViewD<T>>, _>>()?;
        ndarray::concatenate(Axis(axis), &views).map(T::wrap).map_err(|e| format!("cannot concatenate: {e}"))
    }
    let Some(first) = operands.first() else {
        return Err("`concat` of no operands".to_string());
    };
    match first.dtype() {
        DType::F32 => concat_as::<f32>(operands, axis),
        DType::F64 => concat_as::<f64>(operands, axis),
        DType::I64 => concat_as::<i64>(operands, axis),
        DType::Bool => concat_as::<bool>(operands, axis),
    }
}

/// One [`AxisSlice`] per axis of `x`. The bounds are checked here: on an
/// axis of symbolic size only the call knows them.
pub(crate) fn slice(x: &Tensor, axes: &[AxisSlice]) -> Result<Tensor, String> {
    fn slice_as<T: Clone>(a: &ArrayD<T>, axes: &[AxisSlice]) -> Result<ArrayD<T>, String> {
        if axes.len() != a.ndim() {
            return Err(format!("a slice of a rank-{} tensor needs {} axes, got {}", a.ndim(), a.ndim(), axes.len()));
        }
        let mut view = a.view();
        for (axis, how) in axes.iter().enumerate() {
            if let AxisSlice::Range { start, step, len } = *how {
                let slice = ndarray_slice(start, step, len, a.shape()[axis]).ok_or_else(|| {
                    // In the user's notation: `start:stop:step`, and the
                    // size the axis would need.
                    let last = start as i128 + (len as i128 - 1) * i128::from(step);
                    let stop = last + i128::from(step.signum());
                    let step_text = if step == 1 { String::new() } else { format!(":{step}") };
                    format!(
                        "index or slice {start}:{stop}{step_text} needs axis {axis} to have at least {} elements, but it has {}",
                        last.max(start as i128) + 1,
                        a.shape()[axis]
                    )
                })?;
                view.slice_axis_inplace(Axis(axis), slice);
            }
        }
        Ok(view.as_standard_layout().into_owned())
    }
    with_array!(x, a => slice_as(a, axes).map(Tensor::from))
}

/// The transpose of [`slice`]: a tensor of `shape`, zero (false) except at
/// the positions `axes` select, which receive `x`.
pub(crate) fn unslice(x: &Tensor, axes: &[AxisSlice], shape: &[usize]) -> Result<Tensor, String> {
    fn unslice_as<T: Clone + Default>(x: &ArrayD<T>, axes: &[AxisSlice], shape: &[usize]) -> Result<ArrayD<T>, String> {
        if axes.len() != shape.len() {
            return Err(format!(
                "placing into a rank-{} tensor needs {} axes, got {}",
                shape.len(),
                shape.len(),
                axes.len()
            ));
        }
        let mut out = ArrayD::<T>::default(IxDyn(shape));
        let mut view = out.view_mut();
        for (axis, how) in axes.iter().enumerate() {
            if let AxisSlice::Range { start, step, len } = *how {
                let slice = ndarray_slice(start, step, len, shape[axis]).ok_or_else(|| {
                    format!("slice {start}:{step}:{len} is out of bounds for axis {axis} ({shape:?})")
                })?;
                view.slice_axis_inplace(Axis(axis), slice);
            }
        }
        if view.shape() != x.shape() {
            return Err(format!("cannot place {:?} into the {:?} positions selected", x.shape(), view.shape()));
        }
        view.assign(x);
        Ok(out)
    }
    with_array!(x, a => unslice_as(a, axes, shape).map(Tensor::from))
}

/// The ndarray slice taking `len` elements `start, start + step, ...` of an
/// axis of `size` elements, or `None` when one of them is out of bounds.
/// ndarray counts a negative step from the end of the range, so the range is
/// written from the last element taken to just past `start`.
/// Whether `slice` fits a tensor of `shape` (what [`slice`] checks before
/// it reads; the JIT asks the same question of its views).
pub fn slice_fits(shape: &[usize], axes: &[AxisSlice]) -> bool {
    axes.len() == shape.len()
        && axes.iter().zip(shape).all(|(how, &size)| match *how {
            AxisSlice::Full => true,
            AxisSlice::Range { start, step, len } => ndarray_slice(start, step, len, size).is_some(),
        })
}

fn ndarray_slice(start: usize, step: i64, len: usize, size: usize) -> Option<Slice> {
    if len == 0 {
        return Some(Slice::new(0, Some(0), 1));
    }
    let start = i128::try_from(start).ok()?;
    let last = start + (i128::try_from(len).ok()? - 1) * i128::from(step);
    let size = i128::try_from(size).ok()?;
    let in_bounds = |i: i128| (0..size).contains(&i);
    if step == 0 || !in_bounds(start) || !in_bounds(last) {
        return None;
    }
    let step = isize::try_from(step).ok()?;
    let (low, high) = if step > 0 { (start, last) } else { (last, start) };
    Some(Slice::new(isize::try_from(low).ok()?, Some(isize::try_from(high + 1).ok()?), step))
}

/// i64 labels to one-hot rows of `depth` along a new last axis; a label
/// outside `0..depth` gives a row of zeros.
pub(crate) fn one_hot(x: &Tensor, depth: usize, dtype: DType) -> Result<Tensor, String> {
    let Tensor::I64(labels) = x else {
        return Err(format!("`one_hot` needs i64 labels, got {}", x.dtype()));
    };
    let mut shape = labels.shape().to_vec();
    shape.push(depth);
    let mut values = vec![0.0; checked_len(&shape)?];
    for (row, &label) in labels.iter().enumerate() {
        if let Ok(label) = usize::try_from(label)
            && label < depth
        {
            values[row * depth + label] = 1.0;
        }
    }
    Tensor::from_f64s(dtype, &shape, &values).ok_or_else(|| "internal error: one_hot built the wrong count".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_steps_become_ndarray_ranges() {
        // Elements 4, 2, 0 of 5: ndarray takes [0, 5) backwards by 2.
        assert_eq!(ndarray_slice(4, -2, 3, 5), Some(Slice::new(0, Some(5), -2)));
        assert_eq!(ndarray_slice(1, 2, 2, 5), Some(Slice::new(1, Some(4), 2)));
        assert_eq!(ndarray_slice(3, 1, 0, 3), Some(Slice::new(0, Some(0), 1)));
        assert_eq!(ndarray_slice(4, -2, 4, 5), None);
        assert_eq!(ndarray_slice(5, 1, 1, 5), None);
    }
}
