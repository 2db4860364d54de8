//! The elementwise family: unary functions, binary functions with numpy
//! broadcasting, and `where`. Floats compute in their own precision; i64
//! arithmetic wraps, as it does in the JIT, so that overflow is a value and
//! never a panic.

use ndarray::ArrayD;
use tx_ir::{BinaryOp, UnaryOp};
use tx_tensor::Tensor;

use crate::element::{Element, Real, nan_max, nan_min, zip2, zip3};

/// `op` applied to every element of `x`.
pub(crate) fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor, String> {
    match x {
        Tensor::F32(a) => unary_real(op, a),
        Tensor::F64(a) => unary_real(op, a),
        Tensor::I64(a) => unary_int(op, a),
        Tensor::Bool(a) => match op {
            UnaryOp::Not => Ok(Tensor::Bool(a.mapv(|v| !v))),
            _ => Err(not_for(op.name(), "bool")),
        },
    }
}

fn unary_real<T: Real>(op: UnaryOp, a: &ArrayD<T>) -> Result<Tensor, String> {
    let zero = T::zero();
    let one = T::one();
    let out = match op {
        UnaryOp::Neg => a.mapv(|x| -x),
        UnaryOp::Abs => a.mapv(T::abs),
        UnaryOp::Exp => a.mapv(T::exp),
        UnaryOp::Log => a.mapv(T::ln),
        UnaryOp::Log1p => a.mapv(T::ln_1p),
        UnaryOp::Expm1 => a.mapv(T::exp_m1),
        UnaryOp::Sqrt => a.mapv(T::sqrt),
        UnaryOp::Tanh => a.mapv(T::tanh),
        // Two branches so that exp never overflows: 1/(1+e^-x) for x >= 0,
        // e^x/(1+e^x) below (NaN falls to the second and stays NaN).
        UnaryOp::Sigmoid => a.mapv(|x| {
            if x >= zero {
                one / (one + (-x).exp())
            } else {
                let e = x.exp();
                e / (one + e)
            }
        }),
        // softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), exact and
        // overflow-free; NaN reaches the log1p term and stays NaN.
        UnaryOp::Softplus => a.mapv(|x| {
            let positive = if x > zero { x } else { zero };
            positive + (-x.abs()).exp().ln_1p()
        }),
        UnaryOp::Relu => a.mapv(|x| if x > zero || x.is_nan() { x } else { zero }),
        UnaryOp::Sin => a.mapv(T::sin),
        UnaryOp::Cos => a.mapv(T::cos),
        // numpy: 0 for either zero, NaN stays NaN.
        UnaryOp::Sign => a.mapv(|x| {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else if x.is_nan() {
                x
            } else {
                zero
            }
        }),
        UnaryOp::Square => a.mapv(|x| x * x),
        UnaryOp::Reciprocal => a.mapv(|x| one / x),
        UnaryOp::Not => return Err(not_for(op.name(), "a float")),
    };
    Ok(T::wrap(out))
}

fn unary_int(op: UnaryOp, a: &ArrayD<i64>) -> Result<Tensor, String> {
    let out = match op {
        UnaryOp::Neg => a.mapv(i64::wrapping_neg),
        UnaryOp::Abs => a.mapv(i64::wrapping_abs),
        UnaryOp::Relu => a.mapv(|x| x.max(0)),
        UnaryOp::Sign => a.mapv(i64::signum),
        UnaryOp::Square => a.mapv(|x| x.wrapping_mul(x)),
        UnaryOp::Exp
        | UnaryOp::Log
        | UnaryOp::Log1p
        | UnaryOp::Expm1
        | UnaryOp::Sqrt
        | UnaryOp::Tanh
        | UnaryOp::Sigmoid
        | UnaryOp::Softplus
        | UnaryOp::Sin
        | UnaryOp::Cos
        | UnaryOp::Reciprocal
        | UnaryOp::Not => return Err(not_for(op.name(), "i64")),
    };
    Ok(Tensor::I64(out))
}

/// `op` applied to the broadcast pairs of elements of `a` and `b`.
pub(crate) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor, String> {
    match (a, b) {
        (Tensor::F32(x), Tensor::F32(y)) => binary_real(op, x, y),
        (Tensor::F64(x), Tensor::F64(y)) => binary_real(op, x, y),
        (Tensor::I64(x), Tensor::I64(y)) => binary_int(op, x, y),
        (Tensor::Bool(x), Tensor::Bool(y)) => binary_bool(op, x, y),
        _ => Err(format!("`{}` of {} and {}: the element types differ", op.name(), a.dtype(), b.dtype())),
    }
}

fn binary_real<T: Real>(op: BinaryOp, x: &ArrayD<T>, y: &ArrayD<T>) -> Result<Tensor, String> {
    Ok(match op {
        BinaryOp::Add => T::wrap(zip2(x, y, |a, b| a + b)?),
        BinaryOp::Sub => T::wrap(zip2(x, y, |a, b| a - b)?),
        BinaryOp::Mul => T::wrap(zip2(x, y, |a, b| a * b)?),
        BinaryOp::Div => T::wrap(zip2(x, y, |a, b| a / b)?),
        BinaryOp::Pow => T::wrap(zip2(x, y, T::powf)?),
        BinaryOp::Max => T::wrap(zip2(x, y, nan_max)?),
        BinaryOp::Min => T::wrap(zip2(x, y, nan_min)?),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            Tensor::Bool(compare(op, x, y)?)
        }
        BinaryOp::And | BinaryOp::Or => return Err(not_for(op.name(), "floats")),
    })
}

fn binary_int(op: BinaryOp, x: &ArrayD<i64>, y: &ArrayD<i64>) -> Result<Tensor, String> {
    Ok(match op {
        BinaryOp::Add => Tensor::I64(zip2(x, y, i64::wrapping_add)?),
        BinaryOp::Sub => Tensor::I64(zip2(x, y, i64::wrapping_sub)?),
        BinaryOp::Mul => Tensor::I64(zip2(x, y, i64::wrapping_mul)?),
        BinaryOp::Div => Tensor::I64(zip2(x, y, floor_div)?),
        BinaryOp::Pow => Tensor::I64(zip2(x, y, int_pow)?),
        BinaryOp::Max => Tensor::I64(zip2(x, y, i64::max)?),
        BinaryOp::Min => Tensor::I64(zip2(x, y, i64::min)?),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            Tensor::Bool(compare(op, x, y)?)
        }
        BinaryOp::And | BinaryOp::Or => return Err(not_for(op.name(), "i64")),
    })
}

fn binary_bool(op: BinaryOp, x: &ArrayD<bool>, y: &ArrayD<bool>) -> Result<Tensor, String> {
    let out = match op {
        BinaryOp::And => zip2(x, y, |a, b| a && b)?,
        BinaryOp::Or => zip2(x, y, |a, b| a || b)?,
        BinaryOp::Eq => zip2(x, y, |a, b| a == b)?,
        BinaryOp::Ne => zip2(x, y, |a, b| a != b)?,
        BinaryOp::Add
        | BinaryOp::Sub
        | BinaryOp::Mul
        | BinaryOp::Div
        | BinaryOp::Pow
        | BinaryOp::Max
        | BinaryOp::Min
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge => return Err(not_for(op.name(), "bool")),
    };
    Ok(Tensor::Bool(out))
}

/// A comparison, IEEE style: every comparison with NaN is false except `ne`.
fn compare<T: Copy + PartialOrd>(op: BinaryOp, x: &ArrayD<T>, y: &ArrayD<T>) -> Result<ArrayD<bool>, String> {
    match op {
        BinaryOp::Eq => zip2(x, y, |a, b| a == b),
        BinaryOp::Ne => zip2(x, y, |a, b| a != b),
        BinaryOp::Lt => zip2(x, y, |a, b| a < b),
        BinaryOp::Le => zip2(x, y, |a, b| a <= b),
        BinaryOp::Gt => zip2(x, y, |a, b| a > b),
        BinaryOp::Ge => zip2(x, y, |a, b| a >= b),
        BinaryOp::Add
        | BinaryOp::Sub
        | BinaryOp::Mul
        | BinaryOp::Div
        | BinaryOp::Pow
        | BinaryOp::Max
        | BinaryOp::Min
        | BinaryOp::And
        | BinaryOp::Or => Err(format!("`{}` is not a comparison", op.name())),
    }
}

/// Python's `a // b`: the quotient rounded toward negative infinity.
/// Division by zero gives 0 (numpy's result, without its warning), and
/// `i64::MIN // -1` wraps to `i64::MIN`.
fn floor_div(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let quotient = a.wrapping_div(b);
    let remainder = a.wrapping_rem(b);
    if remainder != 0 && ((remainder < 0) != (b < 0)) { quotient - 1 } else { quotient }
}

/// `base ** exponent` on i64, wrapping on overflow. A negative exponent
/// gives the integer part of the true value: 1 for base 1, ±1 for base -1,
/// and 0 otherwise (0 included, where the true value is infinite).
fn int_pow(base: i64, exponent: i64) -> i64 {
    if exponent < 0 {
        return match base {
            1 => 1,
            -1 if exponent % 2 == 0 => 1,
            -1 => -1,
            _ => 0,
        };
    }
    // Square-and-multiply over the bits of the exponent.
    let (mut result, mut square, mut bits) = (1i64, base, exponent);
    while bits > 0 {
        if bits & 1 == 1 {
            result = result.wrapping_mul(square);
        }
        square = square.wrapping_mul(square);
        bits >>= 1;
    }
    result
}

/// `where(cond, a, b)`: `a` where `cond` holds, else `b`, all three broadcast.
pub(crate) fn select(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor, String> {
    let Tensor::Bool(cond) = cond else {
        return Err(format!("the condition of `where` is {}, not bool", cond.dtype()));
    };
    match (a, b) {
        (Tensor::F32(x), Tensor::F32(y)) => select_as(cond, x, y),
        (Tensor::F64(x), Tensor::F64(y)) => select_as(cond, x, y),
        (Tensor::I64(x), Tensor::I64(y)) => select_as(cond, x, y),
        (Tensor::Bool(x), Tensor::Bool(y)) => select_as(cond, x, y),
        _ => Err(format!("the branches of `where` are {} and {}", a.dtype(), b.dtype())),
    }
}

fn select_as<T: Element + Copy>(cond: &ArrayD<bool>, x: &ArrayD<T>, y: &ArrayD<T>) -> Result<Tensor, String> {
    Ok(T::wrap(zip3(cond, x, y, |c, a, b| if c { a } else { b })?))
}

fn not_for(op: &str, what: &str) -> String {
    format!("`{op}` does not apply to {what} (the graph did not type-check)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_division_matches_python() {
        // Python: [7 // 2, -7 // 2, 7 // -2, -7 // -2, 6 // -3] == [3, -4, -4, 3, -2]
        let cases =
            [(7, 2, 3), (-7, 2, -4), (7, -2, -4), (-7, -2, 3), (6, -3, -2), (5, 0, 0), (i64::MIN, -1, i64::MIN)];
        for (a, b, expect) in cases {
            assert_eq!(floor_div(a, b), expect, "{a} // {b}");
        }
    }

    #[test]
    fn integer_powers() {
        let cases = [
            (2, 10, 1024),
            (3, 0, 1),
            (0, 0, 1),
            (-2, 3, -8),
            (1, -5, 1),
            (-1, -3, -1),
            (-1, -4, 1),
            (2, -1, 0),
            (0, -1, 0),
        ];
        for (base, exponent, expect) in cases {
            assert_eq!(int_pow(base, exponent), expect, "{base} ** {exponent}");
        }
        // 3^40 overflows i64; wrapping multiplication gives the value mod 2^64.
        assert_eq!(int_pow(3, 40), 3i64.wrapping_pow(40));
    }
}
