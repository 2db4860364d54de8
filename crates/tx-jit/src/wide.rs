//! Transcendental functions over blocks of f32, compiled by rustc for the
//! widest vectors this CPU has (AVX-512, else AVX2), which JIT kernels call
//! between their 128-bit stages.
//!
//! Cranelift's x64 backend emits 128-bit vectors only: four f32 lanes,
//! where numpy and XLA evaluate `exp` and `tanh` sixteen at a time. A kernel
//! whose body holds one of these functions is therefore compiled in tiles
//! (`elementwise::tiled_kernel`): its cheap ops stay fused in JIT-ed 128-bit
//! loops over a tile of a few hundred elements in L1, and each expensive
//! function runs over the tile here. The algorithms and coefficients are
//! those of `math.rs` (range reduction, a minimax polynomial with `fma`,
//! 2^n assembled in the exponent bits), written branch-free so that LLVM
//! vectorizes them; they agree with `math.rs` to an ulp or two.

use tx_ir::UnaryOp;

use crate::math::{EXPM1_Q32, LN2_HI32, LN2_LO32, LOG2E32, MAGIC32};

/// `fn(values, len)`: the function applied in place to `len` f32 values.
pub(crate) type BlockFn = unsafe extern "C" fn(values: *mut f32, len: i64);

/// `fn(values, len) -> max`: the largest of `len` f32 values, NaN when one
/// is NaN, -inf for none.
pub(crate) type MaxFn = unsafe extern "C" fn(values: *const f32, len: i64) -> f32;

/// `fn(values, len, shift, out) -> sum`: the sum of `exp(values[i] - shift)`
/// over `len` f32 values, each exp also stored at `out[i]` unless `out` is
/// null.
pub(crate) type ExpSumFn = unsafe extern "C" fn(values: *const f32, len: i64, shift: f32, out: *mut f32) -> f32;

/// The row functions of this CPU, for row kernels that read one contiguous
/// f32 operand as it is (`logsumexp`, softmax, `max` of a plain row): the
/// whole pass runs 16 lanes wide, where a JIT-ed loop runs 4.
pub(crate) fn row_fns() -> Option<(MaxFn, ExpSumFn)> {
    #[cfg(target_arch = "x86_64")]
    {
        match level()? {
            Level::Avx512 => Some((x86::max_avx512, x86::exp_sum_avx512)),
            Level::Avx2 => Some((x86::max_avx2, x86::exp_sum_avx2)),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

#[cfg(target_arch = "x86_64")]
enum Level {
    Avx512,
    Avx2,
}

/// The widest vectors this CPU has, unless `TX_JIT_NO_WIDE` is set.
#[cfg(target_arch = "x86_64")]
fn level() -> Option<Level> {
    if std::env::var_os("TX_JIT_NO_WIDE").is_some() {
        return None;
    }
    let avx512 = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl");
    let avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    match (avx512, avx2) {
        (true, _) => Some(Level::Avx512),
        (false, true) => Some(Level::Avx2),
        (false, false) => None,
    }
}

/// The block function of `op` for f32 on this CPU, when it has one and the
/// CPU has AVX2 and FMA (every x86-64 server of the last decade).
pub(crate) fn block_fn(op: UnaryOp) -> Option<BlockFn> {
    #[cfg(target_arch = "x86_64")]
    {
        match (op, level()?) {
            (UnaryOp::Exp, Level::Avx512) => Some(x86::exp_avx512),
            (UnaryOp::Exp, Level::Avx2) => Some(x86::exp_avx2),
            (UnaryOp::Tanh, Level::Avx512) => Some(x86::tanh_avx512),
            (UnaryOp::Tanh, Level::Avx2) => Some(x86::tanh_avx2),
            (UnaryOp::Sigmoid, Level::Avx512) => Some(x86::sigmoid_avx512),
            (UnaryOp::Sigmoid, Level::Avx2) => Some(x86::sigmoid_avx2),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = op;
        None
    }
}

const MAGIC: f32 = MAGIC32 as f32;
const LOG2E: f32 = LOG2E32 as f32;
const LN2_HI: f32 = LN2_HI32 as f32;
const LN2_LO: f32 = LN2_LO32 as f32;

/// e^r - 1 for |r| <= ln2/2.
#[inline(always)]
fn expm1_poly(r: f32) -> f32 {
    let q = EXPM1_Q32;
    let mut p = q[4] as f32;
    for &c in q[..4].iter().rev() {
        p = p.mul_add(r, c as f32);
    }
    (r * r).mul_add(p, r)
}

/// 2^n for the integer n in the low bits of `i` (the bits of MAGIC + n, or
/// a difference of two such), n in the normal exponent range: integer
/// arithmetic on the bits, which vectorizes (a float-to-int conversion
/// would not).
#[inline(always)]
fn pow2(i: u32) -> f32 {
    f32::from_bits(i.wrapping_shl(23).wrapping_add(127 << 23))
}

/// e^x: overflow to +inf, underflow through the subnormals to 0, NaN kept.
#[inline(always)]
fn exp1(x: f32) -> f32 {
    let xc = x.clamp(-104.0, 89.0);
    let t = xc.mul_add(LOG2E, MAGIC);
    let n = t - MAGIC;
    let r = n.mul_add(-LN2_HI, xc);
    let r = n.mul_add(-LN2_LO, r);
    let u = expm1_poly(r);
    // 2^n as two factors, each in the normal range.
    let t1 = n.mul_add(0.5, MAGIC);
    let (s1, s2) = (pow2(t1.to_bits()), pow2(t.to_bits().wrapping_sub(t1.to_bits())));
    let y = u.mul_add(s1, s1) * s2;
    if x.is_nan() { x } else { y }
}

/// tanh(x) = sign(x)·e/(e+2), e = expm1(2|x|): ±1 from |x| = 9.01 on.
#[inline(always)]
fn tanh1(x: f32) -> f32 {
    let a = x.abs().min(10.0);
    let a2 = a + a;
    let t = a2.mul_add(LOG2E, MAGIC);
    let n = t - MAGIC;
    let r = n.mul_add(-LN2_HI, a2);
    let r = n.mul_add(-LN2_LO, r);
    let u = expm1_poly(r);
    let s = pow2(t.to_bits());
    let em = s.mul_add(u, s - 1.0);
    let y = em / (em + 2.0);
    // expm1 loses nothing for tiny |x|, but e/(e+2) rounds: tanh(x) = x
    // below 2^-12 to within half an ulp.
    let y = if a < 2.4414062e-4 { a } else { y };
    let y = y.copysign(x);
    if x.is_nan() { x } else { y }
}

/// 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below.
#[inline(always)]
fn sigmoid1(x: f32) -> f32 {
    let e = exp1(-x.abs());
    let num = if x >= 0.0 { 1.0 } else { e };
    num / (1.0 + e)
}

/// Partial results per row function: two AVX-512 registers (four AVX2), so
/// that the adds of consecutive vectors do not wait on each other.
const PARTIALS: usize = 32;

/// The largest value; NaN when one is NaN.
#[inline(always)]
fn max_row(values: &[f32]) -> f32 {
    let mut most = [f32::NEG_INFINITY; PARTIALS];
    let mut nan = [0u32; PARTIALS];
    let chunks = values.chunks_exact(PARTIALS);
    let tail = chunks.remainder();
    for chunk in chunks {
        for j in 0..PARTIALS {
            most[j] = if chunk[j] > most[j] { chunk[j] } else { most[j] };
            nan[j] |= u32::from(chunk[j].is_nan());
        }
    }
    let mut result = f32::NEG_INFINITY;
    let mut any_nan = nan.iter().any(|&n| n != 0);
    for &x in most.iter().chain(tail) {
        result = if x > result { x } else { result };
        any_nan |= x.is_nan();
    }
    if any_nan { f32::NAN } else { result }
}

/// The sum of `exp(x - shift)` over `values`, each exp stored in `out` too
/// when there is one (of the same length).
#[inline(always)]
fn exp_sum_row(values: &[f32], shift: f32, out: Option<&mut [f32]>) -> f32 {
    let mut partial = [0f32; PARTIALS];
    let mut total = 0f32;
    match out {
        Some(out) => {
            let mut chunks = values.chunks_exact(PARTIALS);
            let mut outs = out.chunks_exact_mut(PARTIALS);
            for (chunk, dest) in (&mut chunks).zip(&mut outs) {
                for j in 0..PARTIALS {
                    let e = exp1(chunk[j] - shift);
                    dest[j] = e;
                    partial[j] += e;
                }
            }
            for (&x, dest) in chunks.remainder().iter().zip(outs.into_remainder()) {
                *dest = exp1(x - shift);
                total += *dest;
            }
        }
        None => {
            let chunks = values.chunks_exact(PARTIALS);
            for &x in chunks.remainder() {
                total += exp1(x - shift);
            }
            for chunk in chunks {
                for j in 0..PARTIALS {
                    partial[j] += exp1(chunk[j] - shift);
                }
            }
        }
    }
    partial.iter().sum::<f32>() + total
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{exp_sum_row, exp1, max_row, sigmoid1, tanh1};

    macro_rules! block {
        ($name:ident, $inner:ident, $features:literal, $f:ident) => {
            #[target_feature(enable = $features)]
            unsafe fn $inner(values: &mut [f32]) {
                for v in values.iter_mut() {
                    *v = $f(*v);
                }
            }

            pub(super) unsafe extern "C" fn $name(values: *mut f32, len: i64) {
                if values.is_null() || len <= 0 {
                    return;
                }
                // SAFETY: the JIT kernel passes its own tile buffer of at
                // least `len` f32 values; `block_fn` returned this function
                // only after detecting the CPU features it is compiled for.
                unsafe { $inner(std::slice::from_raw_parts_mut(values, len as usize)) }
            }
        };
    }

    macro_rules! rows {
        ($max:ident, $max_inner:ident, $sum:ident, $sum_inner:ident, $features:literal) => {
            #[target_feature(enable = $features)]
            fn $max_inner(values: &[f32]) -> f32 {
                max_row(values)
            }

            pub(super) unsafe extern "C" fn $max(values: *const f32, len: i64) -> f32 {
                if values.is_null() || len <= 0 {
                    return f32::NEG_INFINITY;
                }
                // SAFETY: the JIT kernel passes a row of its operand with
                // `len` contiguous f32 values; `row_fns` returned this
                // function only after detecting the CPU features it is
                // compiled for.
                unsafe { $max_inner(std::slice::from_raw_parts(values, len as usize)) }
            }

            #[target_feature(enable = $features)]
            fn $sum_inner(values: &[f32], shift: f32, out: Option<&mut [f32]>) -> f32 {
                exp_sum_row(values, shift, out)
            }

            pub(super) unsafe extern "C" fn $sum(values: *const f32, len: i64, shift: f32, out: *mut f32) -> f32 {
                if values.is_null() || len <= 0 {
                    return 0.0;
                }
                let len = len as usize;
                // SAFETY: as for the maximum; `out`, when not null, is the
                // kernel's dense output row of `len` values (a buffer of its
                // own: an overlapping row is copied first).
                unsafe {
                    if out.is_null() {
                        return $sum_inner(std::slice::from_raw_parts(values, len), shift, None);
                    }
                    let (start, end) = (values as usize, values as usize + len * 4);
                    if (out as usize) < end && start < out as usize + len * 4 {
                        // Never planned, but cheap to get right: a copy.
                        let copy = std::slice::from_raw_parts(values, len).to_vec();
                        return $sum_inner(&copy, shift, Some(std::slice::from_raw_parts_mut(out, len)));
                    }
                    $sum_inner(
                        std::slice::from_raw_parts(values, len),
                        shift,
                        Some(std::slice::from_raw_parts_mut(out, len)),
                    )
                }
            }
        };
    }

    rows!(max_avx512, max_avx512_impl, exp_sum_avx512, exp_sum_avx512_impl, "avx512f,avx512dq,avx512vl,avx2,fma");
    rows!(max_avx2, max_avx2_impl, exp_sum_avx2, exp_sum_avx2_impl, "avx2,fma");

    block!(exp_avx512, exp_avx512_impl, "avx512f,avx512dq,avx512vl,avx2,fma", exp1);
    block!(exp_avx2, exp_avx2_impl, "avx2,fma", exp1);
    block!(tanh_avx512, tanh_avx512_impl, "avx512f,avx512dq,avx512vl,avx2,fma", tanh1);
    block!(tanh_avx2, tanh_avx2_impl, "avx2,fma", tanh1);
    block!(sigmoid_avx512, sigmoid_avx512_impl, "avx512f,avx512dq,avx512vl,avx2,fma", sigmoid1);
    block!(sigmoid_avx2, sigmoid_avx2_impl, "avx2,fma", sigmoid1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        let key = |v: f32| {
            let bits = v.to_bits() as i32;
            if bits < 0 { i32::MIN - bits } else { bits }
        };
        key(a).abs_diff(key(b))
    }

    fn check(op: UnaryOp, reference: fn(f64) -> f64, max_ulps: u32) {
        let Some(f) = block_fn(op) else { return };
        let mut xs: Vec<f32> = (0..200_000).map(|i| (i as f32 - 100_000.0) * 1.3e-3).collect();
        xs.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 88.7, -87.4, -103.0, 1e-30, -1e-30, 1e-6]);
        let mut ys = xs.clone();
        // SAFETY: `ys` holds `len` values.
        unsafe { f(ys.as_mut_ptr(), ys.len() as i64) };
        for (&x, &y) in xs.iter().zip(&ys) {
            let expect = reference(f64::from(x)) as f32;
            assert!(ulps(y, expect) <= max_ulps, "{op:?}({x:e}) = {y:e}, expected {expect:e}");
        }
    }

    #[test]
    fn row_functions_agree_with_f64() {
        let Some((max, exp_sum)) = row_fns() else { return };
        for len in [0usize, 1, 5, 31, 32, 33, 100, 1000, 4099] {
            let xs: Vec<f32> = (0..len).map(|i| ((i * 7919 % 1013) as f32 - 500.0) * 0.037).collect();
            // SAFETY: `xs` holds `len` values; `out` too.
            let m = unsafe { max(xs.as_ptr(), len as i64) };
            let expect = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(m, expect, "max of {len}");
            let mut out = vec![0f32; len];
            let shift = if len == 0 { 0.0 } else { m };
            let (plain, stored) = unsafe {
                (
                    exp_sum(xs.as_ptr(), len as i64, shift, std::ptr::null_mut()),
                    exp_sum(xs.as_ptr(), len as i64, shift, out.as_mut_ptr()),
                )
            };
            let reference: f64 = xs.iter().map(|&x| (f64::from(x) - f64::from(shift)).exp()).sum();
            assert!((f64::from(plain) - reference).abs() <= 1e-6 * reference.max(1.0), "{plain} against {reference}");
            assert_eq!(plain.to_bits(), stored.to_bits(), "storing changes nothing of the sum");
            for (&x, &e) in xs.iter().zip(&out) {
                // The shift is subtracted in f32, as the kernels do.
                assert!(ulps(e, f64::from(x - shift).exp() as f32) <= 2, "exp({x} - {shift}) = {e}");
            }
        }
        let mut xs = vec![1.0f32; 100];
        xs[77] = f32::NAN;
        // SAFETY: `xs` holds 100 values.
        assert!(unsafe { max(xs.as_ptr(), 100) }.is_nan());
        xs[77] = f32::INFINITY;
        assert_eq!(unsafe { max(xs.as_ptr(), 100) }, f32::INFINITY);
        assert_eq!(unsafe { max(xs.as_ptr(), 0) }, f32::NEG_INFINITY);
    }

    #[test]
    fn block_functions_agree_with_libm() {
        check(UnaryOp::Exp, f64::exp, 2);
        check(UnaryOp::Tanh, f64::tanh, 3);
        check(UnaryOp::Sigmoid, |x| if x >= 0.0 { 1.0 / (1.0 + (-x).exp()) } else { x.exp() / (1.0 + x.exp()) }, 3);
    }
}
