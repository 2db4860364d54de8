//! The matmul family: numpy `matmul`. A 1-D left operand is a row vector and
//! a 1-D right operand a column vector, the added axis removed from the
//! result; leading (batch) axes broadcast. Floats go through ndarray's `dot`
//! (matrixmultiply); i64 through a plain loop that wraps on overflow.

use ndarray::{Array2, Array3, ArrayD, ArrayView2, Axis, Ix2, IxDyn, LinalgScalar};
use tx_tensor::Tensor;

use crate::element::{broadcast_shape, checked_len, into_standard};

pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor, String> {
    match (a, b) {
        (Tensor::F32(x), Tensor::F32(y)) => Ok(Tensor::F32(batched(x, y, |p, q| p.dot(&q))?)),
        (Tensor::F64(x), Tensor::F64(y)) => Ok(Tensor::F64(batched(x, y, |p, q| p.dot(&q))?)),
        (Tensor::I64(x), Tensor::I64(y)) => Ok(Tensor::I64(batched(x, y, wrapping_gemm)?)),
        _ => Err(format!("`matmul` of {} and {} (the graph did not type-check)", a.dtype(), b.dtype())),
    }
}

/// numpy matmul of `a` and `b` with `gemm` as the 2-D product.
fn batched<T: LinalgScalar>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    gemm: impl Fn(ArrayView2<T>, ArrayView2<T>) -> Array2<T>,
) -> Result<ArrayD<T>, String> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err("`matmul` needs operands of rank 1 or more".to_string());
    }
    let a_vector = a.ndim() == 1;
    let b_vector = b.ndim() == 1;
    let a = if a_vector { a.view().insert_axis(Axis(0)) } else { a.view() };
    let b = if b_vector { b.view().insert_axis(Axis(1)) } else { b.view() };
    let (ra, rb) = (a.ndim(), b.ndim());
    let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
    let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
    if k != k2 {
        return Err(format!("the inner dimensions differ ({k} vs {k2})"));
    }
    let batch = broadcast_shape(&[&a.shape()[..ra - 2], &b.shape()[..rb - 2]])?;
    let batch_len: usize = batch.iter().product();
    let with = |tail: [usize; 2]| -> Vec<usize> { batch.iter().copied().chain(tail).collect() };

    let product = if batch.is_empty() {
        let (Ok(a2), Ok(b2)) = (a.into_dimensionality::<Ix2>(), b.into_dimensionality::<Ix2>()) else {
            return Err("internal error: a rank-2 operand is not 2-D".to_string());
        };
        gemm(a2, b2).into_dyn()
    } else {
        // Materialize both operands at the full batch shape, then multiply
        // matrix by matrix. Plain, and only taken for batched products.
        let stack = |x: ndarray::ArrayViewD<T>, tail: [usize; 2]| -> Result<Array3<T>, String> {
            let full = with(tail);
            checked_len(&full)?;
            let view =
                x.broadcast(IxDyn(&full)).ok_or_else(|| format!("cannot broadcast {:?} to {full:?}", x.shape()))?;
            view.as_standard_layout()
                .into_owned()
                .into_shape_with_order((batch_len, tail[0], tail[1]))
                .map_err(|e| e.to_string())
        };
        let a3 = stack(a, [m, k])?;
        let b3 = stack(b, [k, n])?;
        checked_len(&with([m, n]))?;
        let mut out = Array3::<T>::zeros((batch_len, m, n));
        for i in 0..batch_len {
            out.index_axis_mut(Axis(0), i).assign(&gemm(a3.index_axis(Axis(0), i), b3.index_axis(Axis(0), i)));
        }
        out.into_dyn()
    };
    let mut shape = batch.clone();
    if !a_vector {
        shape.push(m);
    }
    if !b_vector {
        shape.push(n);
    }
    into_standard(product).into_shape_with_order(IxDyn(&shape)).map_err(|e| e.to_string())
}

/// The 2-D product on i64, wrapping on overflow like every i64 op.
fn wrapping_gemm(a: ArrayView2<i64>, b: ArrayView2<i64>) -> Array2<i64> {
    let (m, k) = a.dim();
    let n = b.ncols();
    let mut out = Array2::<i64>::zeros((m, n));
    for i in 0..m {
        for p in 0..k {
            let left = a[[i, p]];
            for j in 0..n {
                out[[i, j]] = out[[i, j]].wrapping_add(left.wrapping_mul(b[[p, j]]));
            }
        }
    }
    out
}
