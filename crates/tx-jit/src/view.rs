//! Where a value lives and how it is laid out: a [`View`] is a place (a
//! given input or parameter, or a buffer of the plan) plus an offset and
//! strides in elements, so that transposes, broadcasts, slices and most
//! reshapes cost nothing at run time.

use tx_ir::{AxisSlice, DType};

/// The storage a view reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Place {
    /// The tensor given for this input or parameter node.
    Given(usize),
    /// A buffer the plan owns.
    Buffer(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub place: Place,
    pub dtype: DType,
    pub offset: isize,
    pub shape: Vec<usize>,
    pub strides: Vec<isize>,
}

/// Row-major strides of `shape`.
pub(crate) fn standard_strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut step = 1isize;
    for (stride, &dim) in strides.iter_mut().zip(shape).rev() {
        *stride = step;
        step *= dim.max(1) as isize;
    }
    strides
}

impl View {
    /// The whole of a place, row-major.
    pub(crate) fn dense(place: Place, dtype: DType, shape: &[usize]) -> View {
        View { place, dtype, offset: 0, shape: shape.to_vec(), strides: standard_strides(shape) }
    }

    pub(crate) fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether element `i` of the row-major order is at `offset + i`
    /// (strides of size-1 dimensions do not matter).
    pub(crate) fn is_dense(&self) -> bool {
        self.shape.iter().zip(&self.strides).zip(standard_strides(&self.shape)).all(|((&d, &s), t)| d <= 1 || s == t)
    }

    pub(crate) fn transpose(&self, perm: &[usize]) -> View {
        View {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            ..self.clone()
        }
    }

    /// The same elements read as `shape` (numpy's broadcasting rules: align
    /// right; a size-1 or missing dimension repeats with stride 0).
    pub(crate) fn broadcast(&self, shape: &[usize]) -> View {
        let extra = shape.len() - self.shape.len();
        let mut strides = vec![0isize; shape.len()];
        for (axis, &dim) in shape.iter().enumerate().skip(extra) {
            let own = axis - extra;
            strides[axis] = if self.shape[own] == dim && dim != 1 { self.strides[own] } else { 0 };
        }
        View { shape: shape.to_vec(), strides, ..self.clone() }
    }

    pub(crate) fn slice(&self, axes: &[AxisSlice]) -> View {
        let mut view = self.clone();
        for (axis, slice) in axes.iter().enumerate() {
            if let AxisSlice::Range { start, step, len } = *slice {
                view.offset += start as isize * view.strides[axis];
                // The step of a slice of at most one element is never taken
                // (and may be as large as i64::MAX).
                view.strides[axis] = if len <= 1 { 0 } else { view.strides[axis].saturating_mul(step as isize) };
                view.shape[axis] = len;
            }
        }
        view
    }

    /// A dense view read as `shape` (same element count).
    pub(crate) fn reshape(&self, shape: &[usize]) -> View {
        View { shape: shape.to_vec(), strides: standard_strides(shape), ..self.clone() }
    }
}

/// Merges dimensions that every view walks as one (stride of the outer =
/// stride of the inner × its size), and drops size-1 dimensions. Returns
/// the merged shape and each view's strides.
pub(crate) fn coalesce(shape: &[usize], strides: &[Vec<isize>]) -> (Vec<usize>, Vec<Vec<isize>>) {
    let keep: Vec<usize> = (0..shape.len()).filter(|&axis| shape[axis] != 1).collect();
    let mut dims: Vec<usize> = Vec::new();
    let mut out: Vec<Vec<isize>> = vec![Vec::new(); strides.len()];
    for &axis in &keep {
        let size = shape[axis];
        let merge = !dims.is_empty()
            && strides.iter().zip(&out).all(|(s, o)| *o.last().unwrap_or(&0) == s[axis] * size as isize);
        if merge {
            let last = dims.len() - 1;
            dims[last] *= size;
            for (o, s) in out.iter_mut().zip(strides) {
                let l = o.len() - 1;
                o[l] = s[axis];
            }
        } else {
            dims.push(size);
            for (o, s) in out.iter_mut().zip(strides) {
                o.push(s[axis]);
            }
        }
    }
    (dims, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_merges_dense_dimensions_only() {
        let (dims, strides) = coalesce(&[2, 3, 4], &[vec![12, 4, 1], vec![0, 0, 1]]);
        assert_eq!(dims, vec![6, 4]);
        assert_eq!(strides, vec![vec![4, 1], vec![0, 1]]);
        let (dims, strides) = coalesce(&[2, 1, 4], &[vec![4, 4, 1]]);
        assert_eq!((dims, strides), (vec![8], vec![vec![1]]));
        let (dims, strides) = coalesce(&[3, 2], &[vec![1, 3]]);
        assert_eq!((dims, strides), (vec![3, 2], vec![vec![1, 3]]));
    }

    #[test]
    fn broadcasting_gives_zero_strides() {
        let v = View::dense(Place::Buffer(0), DType::F32, &[1, 4]);
        let b = v.broadcast(&[3, 2, 4]);
        assert_eq!(b.strides, vec![0, 0, 1]);
    }
}
