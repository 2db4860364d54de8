//! Element-type plumbing shared by the op families: the traits that let one
//! generic function serve f32 and f64 (or every dtype), and the numpy
//! broadcasting helpers that every elementwise op goes through.

use ndarray::{ArrayD, Dimension, IxDyn, Zip};
use tx_tensor::Tensor;

/// An element type a [`Tensor`] can hold: how to find an array of it inside a
/// tensor and how to wrap one back.
pub(crate) trait Element: Clone + 'static {
    fn array(tensor: &Tensor) -> Option<&ArrayD<Self>>;
    fn wrap(array: ArrayD<Self>) -> Tensor;
}

macro_rules! impl_element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            fn array(tensor: &Tensor) -> Option<&ArrayD<$t>> {
                match tensor {
                    Tensor::$variant(a) => Some(a),
                    _ => None,
                }
            }

            fn wrap(array: ArrayD<$t>) -> Tensor {
                Tensor::$variant(array)
            }
        }
    };
}

impl_element!(f32, F32);
impl_element!(f64, F64);
impl_element!(i64, I64);
impl_element!(bool, Bool);

/// The ordered numeric element types (f32, f64, i64): what `max`, `min` and
/// `argmax` need. Only floats have NaN, which wins every comparison, as in
/// numpy.
pub(crate) trait Ordered: Element + Copy + PartialOrd {
    fn is_nan(self) -> bool;
}

impl Ordered for i64 {
    fn is_nan(self) -> bool {
        false
    }
}

/// The larger of two values, NaN if either is NaN, and `b` on ties (which
/// decides between 0 and -0): numpy's `maximum`.
pub(crate) fn nan_max<T: Ordered>(a: T, b: T) -> T {
    if a.is_nan() || (!b.is_nan() && a > b) { a } else { b }
}

/// The smaller of two values, NaN if either is NaN, and `b` on ties: numpy's
/// `minimum`.
pub(crate) fn nan_min<T: Ordered>(a: T, b: T) -> T {
    if a.is_nan() || (!b.is_nan() && a < b) { a } else { b }
}

/// f32 and f64: the functions the float ops need, computed in the type
/// itself (an f32 `exp` is `f32::exp`), plus exact conversions to and from
/// f64 for the reductions that accumulate in f64.
pub(crate) trait Real: Ordered + ndarray::LinalgScalar + std::ops::Neg<Output = Self> {
    const NAN: Self;
    const NEG_INFINITY: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn abs(self) -> Self;
    fn powf(self, exponent: Self) -> Self;
}

macro_rules! impl_real {
    ($t:ident) => {
        impl Ordered for $t {
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
        }

        impl Real for $t {
            const NAN: $t = $t::NAN;
            const NEG_INFINITY: $t = $t::NEG_INFINITY;

            fn from_f64(v: f64) -> $t {
                v as $t
            }

            fn to_f64(self) -> f64 {
                f64::from(self)
            }

            fn exp(self) -> $t {
                $t::exp(self)
            }

            fn ln(self) -> $t {
                $t::ln(self)
            }

            fn ln_1p(self) -> $t {
                $t::ln_1p(self)
            }

            fn exp_m1(self) -> $t {
                $t::exp_m1(self)
            }

            fn sqrt(self) -> $t {
                $t::sqrt(self)
            }

            fn tanh(self) -> $t {
                $t::tanh(self)
            }

            fn sin(self) -> $t {
                $t::sin(self)
            }

            fn cos(self) -> $t {
                $t::cos(self)
            }

            fn abs(self) -> $t {
                $t::abs(self)
            }

            fn powf(self, exponent: $t) -> $t {
                $t::powf(self, exponent)
            }
        }
    };
}

impl_real!(f32);
impl_real!(f64);

/// The numpy broadcast of concrete shapes: align on the right; each pair of
/// sizes must be equal or one of them 1.
pub fn broadcast_shape(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for shape in shapes {
        let offset = rank - shape.len();
        for (axis, &size) in shape.iter().enumerate() {
            let slot = &mut out[offset + axis];
            if *slot == 1 {
                *slot = size;
            } else if size != 1 && size != *slot {
                return Err(format!("cannot broadcast the shapes {shapes:?} together"));
            }
        }
    }
    Ok(out)
}

/// The number of elements of a shape, refused above tx's per-tensor limit
/// (`tx_ir::MAX_TENSOR_BYTES`, counting 8 bytes an element), so that huge
/// symbolic sizes give an error rather than an aborted allocation.
pub(crate) fn checked_len(shape: &[usize]) -> Result<usize, String> {
    // Eight bytes an element: the widest element type bounds them all.
    tx_ir::check_tensor_size(tx_ir::DType::F64, shape)
}

/// The same array in standard (row-major) layout, copied only when needed.
pub(crate) fn into_standard<T: Clone>(a: ArrayD<T>) -> ArrayD<T> {
    if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() }
}

/// `f` applied to the broadcast pairs of elements of `a` and `b`.
pub(crate) fn zip2<A: Copy, B: Copy, C>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(A, B) -> C,
) -> Result<ArrayD<C>, String> {
    if a.shape() == b.shape() {
        return Ok(Zip::from(a).and(b).map_collect(|&x, &y| f(x, y)));
    }
    let shape = IxDyn(&broadcast_shape(&[a.shape(), b.shape()])?);
    checked_len(shape.slice())?;
    let (Some(av), Some(bv)) = (a.broadcast(shape.clone()), b.broadcast(shape)) else {
        return Err(format!("cannot broadcast {:?} with {:?}", a.shape(), b.shape()));
    };
    Ok(Zip::from(av).and(bv).map_collect(|&x, &y| f(x, y)))
}

/// `f` applied to the broadcast triples of elements of `a`, `b` and `c`.
pub(crate) fn zip3<A: Copy, B: Copy, C: Copy, R>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    c: &ArrayD<C>,
    f: impl Fn(A, B, C) -> R,
) -> Result<ArrayD<R>, String> {
    let shape = IxDyn(&broadcast_shape(&[a.shape(), b.shape(), c.shape()])?);
    checked_len(shape.slice())?;
    let (Some(av), Some(bv), Some(cv)) = (a.broadcast(shape.clone()), b.broadcast(shape.clone()), c.broadcast(shape))
    else {
        return Err(format!("cannot broadcast {:?}, {:?} and {:?} together", a.shape(), b.shape(), c.shape()));
    };
    Ok(Zip::from(av).and(bv).and(cv).map_collect(|&x, &y, &z| f(x, y, z)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shape_follows_numpy() {
        assert_eq!(broadcast_shape(&[&[2, 1], &[3]]), Ok(vec![2, 3]));
        assert_eq!(broadcast_shape(&[&[], &[0, 3]]), Ok(vec![0, 3]));
        assert_eq!(broadcast_shape(&[&[1], &[0]]), Ok(vec![0]));
        assert!(broadcast_shape(&[&[2], &[3]]).is_err());
    }

    #[test]
    fn nan_wins_maximum_and_minimum() {
        assert!(nan_max(f64::NAN, 1.0).is_nan());
        assert!(nan_max(1.0, f64::NAN).is_nan());
        assert!(nan_min(f32::NAN, 1.0).is_nan());
        // numpy: np.maximum(-0.0, 0.0) is 0.0 and np.maximum(0.0, -0.0) is -0.0.
        assert!(nan_max(-0.0f64, 0.0).is_sign_positive());
        assert!(nan_max(0.0f64, -0.0).is_sign_negative());
        assert!(nan_min(0.0f32, -0.0).is_sign_negative());
        assert_eq!(nan_max(2i64, 3), 3);
        assert_eq!(nan_min(2i64, 3), 2);
    }

    #[test]
    fn huge_shapes_are_refused() {
        assert!(checked_len(&[usize::MAX, 2]).is_err());
        assert_eq!(checked_len(&[0, 3]), Ok(0));
        assert_eq!(checked_len(&[]), Ok(1));
    }
}
