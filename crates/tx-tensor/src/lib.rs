//! tx-tensor: runtime values. A [`Tensor`] is an ndarray of one of tx's
//! element types; the interpreter computes on them, the data loaders and
//! `.npy` files produce them, and the public API takes and returns them.
//! Also the seeded random number generator that every random value in tx
//! (initializers, noise, `--random-inputs`) comes from, so that a seed means
//! the same numbers everywhere.
//!
//! **Architecture invariant:** no evaluation here: this crate holds values,
//! not ops.

use ndarray::{ArrayD, IxDyn};
use tx_ir::{DType, Type};

pub mod rng;

/// A dense n-dimensional array of one of tx's element types.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I64(ArrayD<i64>),
    Bool(ArrayD<bool>),
}

/// Applies `$body` to the array inside a tensor, whatever its element type.
#[macro_export]
macro_rules! with_array {
    ($tensor:expr, $a:ident => $body:expr) => {
        match $tensor {
            $crate::Tensor::F32($a) => $body,
            $crate::Tensor::F64($a) => $body,
            $crate::Tensor::I64($a) => $body,
            $crate::Tensor::Bool($a) => $body,
        }
    };
}

impl Tensor {
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::I64(_) => DType::I64,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    pub fn shape(&self) -> &[usize] {
        with_array!(self, a => a.shape())
    }

    pub fn len(&self) -> usize {
        with_array!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The type of this value, with every dimension known.
    pub fn ty(&self) -> Type {
        Type::new(self.dtype(), tx_ir::Shape::new(self.shape().iter().copied()))
    }

    /// A tensor of `dtype` with every element `value` (converted as by `cast`).
    pub fn full(dtype: DType, shape: &[usize], value: f64) -> Tensor {
        let shape = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(ArrayD::from_elem(shape, value as f32)),
            DType::F64 => Tensor::F64(ArrayD::from_elem(shape, value)),
            DType::I64 => Tensor::I64(ArrayD::from_elem(shape, value as i64)),
            DType::Bool => Tensor::Bool(ArrayD::from_elem(shape, value != 0.0)),
        }
    }

    /// A tensor of `dtype` from f64 values in row-major order.
    /// Returns `None` when the count does not match the shape.
    pub fn from_f64s(dtype: DType, shape: &[usize], values: &[f64]) -> Option<Tensor> {
        let shape = IxDyn(shape);
        Some(match dtype {
            DType::F32 => Tensor::F32(ArrayD::from_shape_vec(shape, values.iter().map(|&v| v as f32).collect()).ok()?),
            DType::F64 => Tensor::F64(ArrayD::from_shape_vec(shape, values.to_vec()).ok()?),
            DType::I64 => Tensor::I64(ArrayD::from_shape_vec(shape, values.iter().map(|&v| v as i64).collect()).ok()?),
            DType::Bool => {
                Tensor::Bool(ArrayD::from_shape_vec(shape, values.iter().map(|&v| v != 0.0).collect()).ok()?)
            }
        })
    }

    /// Every element as f64, row-major (bool as 0/1). For printing and tests.
    pub fn to_f64s(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::Bool(a) => a.iter().map(|&v| f64::from(u8::from(v))).collect(),
        }
    }

    /// Converts to another element type: floats to i64 truncate toward zero
    /// (saturating, NaN to 0), nonzero is true, bool is 0 or 1.
    pub fn cast(&self, dtype: DType) -> Tensor {
        macro_rules! convert {
            ($a:expr, $f:expr) => {
                $a.mapv($f)
            };
        }
        match (self, dtype) {
            (Tensor::F32(a), DType::F32) => Tensor::F32(a.clone()),
            (Tensor::F32(a), DType::F64) => Tensor::F64(convert!(a, f64::from)),
            (Tensor::F32(a), DType::I64) => Tensor::I64(convert!(a, |v| v as i64)),
            (Tensor::F32(a), DType::Bool) => Tensor::Bool(convert!(a, |v| v != 0.0)),
            (Tensor::F64(a), DType::F32) => Tensor::F32(convert!(a, |v| v as f32)),
            (Tensor::F64(a), DType::F64) => Tensor::F64(a.clone()),
            (Tensor::F64(a), DType::I64) => Tensor::I64(convert!(a, |v| v as i64)),
            (Tensor::F64(a), DType::Bool) => Tensor::Bool(convert!(a, |v| v != 0.0)),
            (Tensor::I64(a), DType::F32) => Tensor::F32(convert!(a, |v| v as f32)),
            (Tensor::I64(a), DType::F64) => Tensor::F64(convert!(a, |v| v as f64)),
            (Tensor::I64(a), DType::I64) => Tensor::I64(a.clone()),
            (Tensor::I64(a), DType::Bool) => Tensor::Bool(convert!(a, |v| v != 0)),
            (Tensor::Bool(a), DType::F32) => Tensor::F32(convert!(a, |v| f32::from(u8::from(v)))),
            (Tensor::Bool(a), DType::F64) => Tensor::F64(convert!(a, |v| f64::from(u8::from(v)))),
            (Tensor::Bool(a), DType::I64) => Tensor::I64(convert!(a, i64::from)),
            (Tensor::Bool(a), DType::Bool) => Tensor::Bool(a.clone()),
        }
    }
}

impl From<ArrayD<f32>> for Tensor {
    fn from(a: ArrayD<f32>) -> Tensor {
        Tensor::F32(a)
    }
}

impl From<ArrayD<f64>> for Tensor {
    fn from(a: ArrayD<f64>) -> Tensor {
        Tensor::F64(a)
    }
}

impl From<ArrayD<i64>> for Tensor {
    fn from(a: ArrayD<i64>) -> Tensor {
        Tensor::I64(a)
    }
}

impl From<ArrayD<bool>> for Tensor {
    fn from(a: ArrayD<bool>) -> Tensor {
        Tensor::Bool(a)
    }
}
