//! Inline math for JIT kernels: the float functions of the elementwise ops
//! as Cranelift IR, vectorized and branch-free.
//!
//! Every function takes the Cranelift type of its operands: `F32`, `F64`,
//! `F32X4` or `F64X2`. The work is always done on 128-bit vectors: a scalar
//! is put in lane 0 of a vector and taken back out, so the scalar tail of a
//! loop runs the same instructions as its vector body and gives bit-identical
//! results, with no branches either way (lane masks and `bitselect`).
//!
//! The functions follow the reference interpreter (`tx-interp`): IEEE special
//! values (NaN propagates, infinities and signed zeros as in C99), numpy's
//! `maximum`/`minimum`, `sign` and `relu`, the interpreter's definitions of
//! `sigmoid` and `softplus`, and C99 `pow`. The transcendental functions are
//! range reductions plus minimax polynomials evaluated with `fma` (tables
//! would need gathers, which 128-bit x64 SIMD lacks):
//!
//! - `exp`: n = round(x / ln 2) by the 1.5·2^p "magic number" addition (no
//!   float→int conversion, which x64 lacks for `F64X2`), a Cody-Waite
//!   reduction with `fma`, e^r - 1 = r + r²Q(r) with Q of degree 4 (f32) or 9
//!   (f64), and 2^n built in the exponent bits in two halves, so overflow gives
//!   infinity and underflow the correctly rounded subnormal or zero.
//! - `expm1`: the same reduction, 2^n·(e^r - 1) + (2^n - 1) in one `fma`.
//! - `log`, `log1p`: fdlibm's reduction to 2^k·m, m in [√2/2, √2); log(m)
//!   by a degree-10 polynomial in f = m - 1 (f32) or fdlibm's polynomial in
//!   s = f/(2+f) (f64, one division); `log1p` folds the rounding error of
//!   1 + x into f exactly.
//! - `tanh`: e/(e+2) with e = expm1(2|x|) (one division; for f64 one
//!   correction step of the quotient), sign copied back.
//! - `sigmoid`: 1/(1+e) or e/(1+e) with e = exp(-|x|) (one division).
//! - `softplus`: max(x, 0) + log1p(exp(-|x|)).
//! - `sin`, `cos`: j = round(x/π) (for cos, the odd multiple of π/2
//!   nearest x), a three-part Cody-Waite reduction with `fma`, an odd
//!   polynomial of degree 9 (f32) or 17 (f64) on [-π/2, π/2] (a little more)
//!   and the sign from the parity of j. Within 2 ulp of std up to |x| = 1e6
//!   (tested; f32 degrades beyond about 2e6, f64 much later); beyond, the
//!   reduced argument is clamped, so the result stays in [-1, 1].
//! - `pow`: exp(y·log|x|) with log|x| in double-double (fdlibm's atanh series
//!   with the leading terms split) and the exp of a double-double; f32 `pow`
//!   runs the f64 code and rounds once. Special cases patched with masks.
//!
//! Requirements on the target: `fma` is one instruction only when the ISA
//! has FMA (cranelift-native detects it; without, Cranelift calls libm's
//! `fma` per lane: correct but slow), and `trunc` (used by `pow`) is
//! `roundpd` only with SSE4.1 (a libcall per lane otherwise).

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{self, Type};
use cranelift_codegen::ir::{ConstantData, Endianness, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;
use tx_ir::{BinaryOp, UnaryOp};

/// `op` applied to `x`, whose Cranelift type is `ty` (`F32`, `F64`, `F32X4`
/// or `F64X2`). `None` for ops that are not float unary functions (`Not`) or
/// for a type that is not a float type.
pub(crate) fn float_unary(b: &mut FunctionBuilder, op: UnaryOp, ty: Type, x: Value) -> Option<Value> {
    if !is_float(ty) {
        return None;
    }
    Some(match op {
        UnaryOp::Neg => b.ins().fneg(x),
        UnaryOp::Abs => b.ins().fabs(x),
        UnaryOp::Sqrt => b.ins().sqrt(x),
        UnaryOp::Square => b.ins().fmul(x, x),
        UnaryOp::Reciprocal => {
            let one = splat_const(b, ty, 1.0);
            b.ins().fdiv(one, x)
        }
        UnaryOp::Exp => exp(b, ty, x),
        UnaryOp::Log => log(b, ty, x),
        // log(1 + x) and e^x - 1, accurate (relative) near 0.
        UnaryOp::Log1p => lift1(b, ty, x, |e, x| e.log1p(x)),
        UnaryOp::Expm1 => lift1(b, ty, x, |e, x| e.expm1(x)),
        // ±1 at ±inf, -0 at -0, relative accuracy for tiny x.
        UnaryOp::Tanh => lift1(b, ty, x, |e, x| e.tanh(x)),
        // As the interpreter computes it: 1/(1+e^-x) for x >= 0, e^x/(1+e^x)
        // below (it never overflows, and is relative-accurate for x < 0).
        UnaryOp::Sigmoid => lift1(b, ty, x, |e, x| e.sigmoid(x)),
        // log(1 + e^x) = max(x, 0) + log1p(e^-|x|).
        UnaryOp::Softplus => lift1(b, ty, x, |e, x| e.softplus(x)),
        UnaryOp::Relu => relu(b, ty, x),
        UnaryOp::Sin => lift1(b, ty, x, |e, x| e.sin(x)),
        UnaryOp::Cos => lift1(b, ty, x, |e, x| e.cos(x)),
        UnaryOp::Sign => sign(b, ty, x),
        UnaryOp::Not => return None,
    })
}

/// `op` applied to `x` and `y` of the float type `ty` (scalar or vector):
/// the arithmetic, `Pow`, `Max` and `Min`. `None` for comparisons and logical
/// ops, or for a type that is not a float type.
pub(crate) fn float_binary(b: &mut FunctionBuilder, op: BinaryOp, ty: Type, x: Value, y: Value) -> Option<Value> {
    if !is_float(ty) {
        return None;
    }
    Some(match op {
        BinaryOp::Add => b.ins().fadd(x, y),
        BinaryOp::Sub => b.ins().fsub(x, y),
        BinaryOp::Mul => b.ins().fmul(x, y),
        BinaryOp::Div => b.ins().fdiv(x, y),
        BinaryOp::Pow => pow(b, ty, x, y),
        BinaryOp::Max => max(b, ty, x, y),
        BinaryOp::Min => min(b, ty, x, y),
        BinaryOp::Eq
        | BinaryOp::Ne
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge
        | BinaryOp::And
        | BinaryOp::Or => return None,
    })
}

/// The constant `v` (rounded to the lane type) in every lane of `ty`, or as
/// a scalar when `ty` is scalar.
pub(crate) fn splat_const(b: &mut FunctionBuilder, ty: Type, v: f64) -> Value {
    let scalar = if ty.lane_type() == types::F64 { b.ins().f64const(v) } else { b.ins().f32const(v as f32) };
    if ty.is_vector() { b.ins().splat(ty, scalar) } else { scalar }
}

/// e^x. Overflow gives +inf, underflow the correctly rounded subnormal or 0.
pub(crate) fn exp(b: &mut FunctionBuilder, ty: Type, x: Value) -> Value {
    lift1(b, ty, x, |e, x| e.exp(x, true))
}

/// e^x for x <= 0 (or NaN), for the sums of reductions: as accurate as
/// [`exp`] while the result is a normal number, flushed to +0 below it
/// (|error| < 1.2e-38 in f32, 2.3e-308 in f64), and about a quarter cheaper.
pub(crate) fn exp_nonpositive(b: &mut FunctionBuilder, ty: Type, x: Value) -> Value {
    lift1(b, ty, x, |e, x| e.exp_ftz(x))
}

/// The natural logarithm: -inf at ±0, NaN below 0, +inf at +inf.
pub(crate) fn log(b: &mut FunctionBuilder, ty: Type, x: Value) -> Value {
    lift1(b, ty, x, |e, x| e.log(x))
}

/// x if x > 0 or x is NaN, else +0.
pub(crate) fn relu(b: &mut FunctionBuilder, ty: Type, x: Value) -> Value {
    lift1(b, ty, x, |e, x| {
        let zero = e.c(0.0);
        let keep = e.mask(FloatCC::UnorderedOrGreaterThan, x, zero);
        e.b.ins().band(x, keep)
    })
}

/// numpy's sign: 1 or -1, +0 for either zero, NaN for NaN.
pub(crate) fn sign(b: &mut FunctionBuilder, ty: Type, x: Value) -> Value {
    lift1(b, ty, x, |e, x| {
        let sign_bit = e.c(-0.0);
        let one = e.c(1.0);
        let zero = e.c(0.0);
        let s = e.b.ins().band(x, sign_bit);
        let unit = e.b.ins().bor(s, one);
        // NotEqual is "unordered or not equal": true for NaN and non-zero.
        let nonzero = e.mask(FloatCC::NotEqual, x, zero);
        let unit = e.b.ins().band(unit, nonzero);
        let nan = e.mask(FloatCC::Unordered, x, x);
        e.sel(nan, x, unit)
    })
}

/// numpy's maximum: NaN if either is NaN, `y` on ties (so max(0, -0) = -0).
pub(crate) fn max(b: &mut FunctionBuilder, ty: Type, x: Value, y: Value) -> Value {
    lift2(b, ty, x, y, |e, x, y| {
        // `maxps`: x > y ? x : y, and y when either is NaN.
        let gt = e.mask(FloatCC::LessThan, y, x);
        let m = e.sel(gt, x, y);
        let nan = e.mask(FloatCC::Unordered, x, x);
        e.sel(nan, x, m)
    })
}

/// numpy's minimum: NaN if either is NaN, `y` on ties.
pub(crate) fn min(b: &mut FunctionBuilder, ty: Type, x: Value, y: Value) -> Value {
    lift2(b, ty, x, y, |e, x, y| {
        let lt = e.mask(FloatCC::LessThan, x, y);
        let m = e.sel(lt, x, y);
        let nan = e.mask(FloatCC::Unordered, x, x);
        e.sel(nan, x, m)
    })
}

/// x^y with C99's special cases (as Rust's `powf`): pow(x, ±0) = 1 and
/// pow(1, y) = 1 even for NaN, a negative base with an integer exponent
/// gives the signed result and with a non-integer one NaN, pow(±0, y < 0) =
/// inf, and so on. f32 is computed in f64 and rounded once.
pub(crate) fn pow(b: &mut FunctionBuilder, ty: Type, x: Value, y: Value) -> Value {
    match ty {
        types::F64 => {
            let xv = b.ins().scalar_to_vector(types::F64X2, x);
            let yv = b.ins().scalar_to_vector(types::F64X2, y);
            let r = Em { b: &mut *b, ty: types::F64X2 }.pow(xv, yv);
            b.ins().extractlane(r, 0)
        }
        types::F64X2 => Em { b, ty: types::F64X2 }.pow(x, y),
        types::F32 => {
            let xd = b.ins().fpromote(types::F64, x);
            let yd = b.ins().fpromote(types::F64, y);
            let xv = b.ins().scalar_to_vector(types::F64X2, xd);
            let yv = b.ins().scalar_to_vector(types::F64X2, yd);
            let r = Em { b: &mut *b, ty: types::F64X2 }.pow(xv, yv);
            let r = b.ins().extractlane(r, 0);
            b.ins().fdemote(types::F32, r)
        }
        types::F32X4 => {
            // Lanes 0-1 and 2-3 in f64, then narrowed back together.
            let le = MemFlagsData::new().with_endianness(Endianness::Little);
            let high = shuffle_mask(b, [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]);
            let halves = [x, y].map(|v| {
                let bytes = b.ins().bitcast(types::I8X16, le, v);
                let hi = b.ins().shuffle(bytes, bytes, high);
                let hi = b.ins().bitcast(types::F32X4, le, hi);
                (b.ins().fvpromote_low(v), b.ins().fvpromote_low(hi))
            });
            let [(xl, xh), (yl, yh)] = halves;
            let rl = Em { b: &mut *b, ty: types::F64X2 }.pow(xl, yl);
            let rh = Em { b: &mut *b, ty: types::F64X2 }.pow(xh, yh);
            let rl = b.ins().fvdemote(rl);
            let rh = b.ins().fvdemote(rh);
            let rl = b.ins().bitcast(types::I8X16, le, rl);
            let rh = b.ins().bitcast(types::I8X16, le, rh);
            let join = shuffle_mask(b, [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
            let r = b.ins().shuffle(rl, rh, join);
            b.ins().bitcast(types::F32X4, le, r)
        }
        _ => panic!("pow of a non-float type {ty}"),
    }
}

fn shuffle_mask(b: &mut FunctionBuilder, lanes: [u8; 16]) -> cranelift_codegen::ir::Immediate {
    b.func.dfg.immediates.push(ConstantData::from(lanes.to_vec()))
}

fn is_float(ty: Type) -> bool {
    matches!(ty, types::F32 | types::F64 | types::F32X4 | types::F64X2)
}

fn vector_of(ty: Type) -> Type {
    match ty {
        types::F32 | types::F32X4 => types::F32X4,
        types::F64 | types::F64X2 => types::F64X2,
        _ => panic!("no float vector type for {ty}"),
    }
}

/// Runs `f` on the vector form of `x`: a scalar goes into lane 0 and comes
/// back out.
fn lift1(b: &mut FunctionBuilder, ty: Type, x: Value, f: impl FnOnce(&mut Em, Value) -> Value) -> Value {
    let vt = vector_of(ty);
    if ty.is_vector() {
        return f(&mut Em { b, ty: vt }, x);
    }
    let xv = b.ins().scalar_to_vector(vt, x);
    let r = f(&mut Em { b: &mut *b, ty: vt }, xv);
    b.ins().extractlane(r, 0)
}

fn lift2(
    b: &mut FunctionBuilder,
    ty: Type,
    x: Value,
    y: Value,
    f: impl FnOnce(&mut Em, Value, Value) -> Value,
) -> Value {
    let vt = vector_of(ty);
    if ty.is_vector() {
        return f(&mut Em { b, ty: vt }, x, y);
    }
    let xv = b.ins().scalar_to_vector(vt, x);
    let yv = b.ins().scalar_to_vector(vt, y);
    let r = f(&mut Em { b: &mut *b, ty: vt }, xv, yv);
    b.ins().extractlane(r, 0)
}

// ---- Constants -------------------------------------------------------------

/// 1.5·2^23 and 1.5·2^52: adding one rounds a float of smaller magnitude to
/// an integer n and leaves n in the low bits of the mantissa.
pub(crate) const MAGIC32: f64 = 12582912.0;
const MAGIC64: f64 = 6755399441055744.0;

pub(crate) const LOG2E32: f64 = std::f32::consts::LOG2_E as f64;
const LOG2E64: f64 = std::f64::consts::LOG2_E;

/// ln 2 = HI + LO with HI short enough that n·HI is exact for the exponents
/// of the reductions (fdlibm's splits).
pub(crate) const LN2_HI32: f64 = 0.693145751953125; // 0x3f317200
pub(crate) const LN2_LO32: f64 = 1.428606765330187e-06; // 0x35bfbe8e
const LN2_HI64: f64 = f64::from_bits(0x3fe62e42fee00000);
const LN2_LO64: f64 = f64::from_bits(0x3dea39ef35793c76);

/// Q(r) with e^r - 1 ≈ r + r²Q(r) on |r| <= ln2/2 (minimax, relative error
/// of e^r - 1 below 2^-26 (f32) and 2^-55.6 (f64) before rounding).
pub(crate) const EXPM1_Q32: [f64; 5] =
    [0.4999999701976776, 0.16666541993618011, 0.04166720435023308, 0.00836664717644453, 0.001388249802403152];
const EXPM1_Q64: [f64; 10] = [
    0.5000000000000006,
    0.16666666666666588,
    0.04166666666657538,
    0.00833333333339041,
    0.0013888888932051826,
    0.00019841269717607064,
    2.4801504650346893e-05,
    2.7557408217058384e-06,
    2.76262987864138e-07,
    2.50537805063075e-08,
];

/// log(1 + f) ≈ f - f²/2 + f³P(f) on [√2/2 - 1, √2 - 1] (minimax, relative
/// error below 2^-27 before rounding), for f32.
const LOG1P_P32: [f64; 8] = [
    0.3333333134651184,
    -0.250008225440979,
    0.20001234114170074,
    -0.16623298823833466,
    0.14201553165912628,
    -0.1316058188676834,
    0.12763328850269318,
    -0.07635657489299774,
];
/// fdlibm's log polynomial R(z) = z·(Lg1 + z·Lg2 + ...), z = s², s = f/(2+f).
const LG64: [f64; 7] = [
    f64::from_bits(0x3fe5555555555593),
    f64::from_bits(0x3fd999999997fa04),
    f64::from_bits(0x3fd2492494229359),
    f64::from_bits(0x3fcc71c51d8e78af),
    f64::from_bits(0x3fc7466496cb03de),
    f64::from_bits(0x3fc39a09d078c69f),
    f64::from_bits(0x3fc2f112df3e5244),
];
/// ln 2 split for log's k·ln2 (musl's logf split; fdlibm's for f64).
const LOG_LN2_HI32: f64 = 0.6931381225585938; // 0x3f317180
const LOG_LN2_LO32: f64 = 9.058001523953862e-06; // 0x3717f7d2

/// sin(r) ≈ r + r³P(r²) on |r| <= R_MAX (minimax, relative error below
/// 2^-26 (f32) and 2^-61 (f64) before rounding).
const SIN_P32: [f64; 4] = [-0.16666655242443085, 0.008332943543791771, -0.00019800638256128877, 2.5861436370178126e-06];
const SIN_P64: [f64; 8] = [
    -0.16666666666666666,
    0.008333333333333191,
    -0.00019841269841208272,
    2.755731921097069e-06,
    -2.505210685716925e-08,
    1.6058938901945228e-10,
    -7.64297011857153e-13,
    2.7209454352802852e-15,
];
/// π and π/2 in three parts (each the rounding of what is left).
const PI32: [f64; 3] = [std::f32::consts::PI as f64, -8.742277657347586e-08, -3.4302490200117637e-15];
const PI64: [f64; 3] = [std::f64::consts::PI, 1.2246467991473532e-16, -2.9947698097183397e-33];
const PIO2_32: [f64; 3] = [std::f32::consts::FRAC_PI_2 as f64, -4.371138828673793e-08, -1.7151245100058819e-15];
const PIO2_64: [f64; 3] = [std::f64::consts::FRAC_PI_2, 6.123233995736766e-17, -1.4973849048591698e-33];
const INV_PI32: f64 = std::f32::consts::FRAC_1_PI as f64;
const INV_PI64: f64 = std::f64::consts::FRAC_1_PI;
/// Where the reduced argument of sin/cos is clamped: a little beyond π/2,
/// inside the polynomial's interval. j = round(x/π) can be off by one where
/// x/π is near a half-integer (1/π has an error of 2^-25 in f32), which puts
/// r up to about 4e-8·|x| beyond π/2: the f32 margin keeps sin and cos
/// exact to a few ulp up to |x| ≈ 2e6. Beyond, and for f64 beyond about
/// 1e13, the clamp only keeps the result in [-1, 1].
const R_MAX32: f64 = std::f64::consts::FRAC_PI_2 + 0.1;
const R_MAX64: f64 = std::f64::consts::FRAC_PI_2 + 0.002;

/// 2 atanh(s) - 2s = s³(2/3 + wR(w)), w = s² <= 0.02944 (minimax, absolute
/// error of R below 2^-58.9), for pow's double-double log.
const ATANH_R64: [f64; 8] = [
    0.4,
    0.28571428571429375,
    0.22222222221650156,
    0.18181818336586902,
    0.1538459484406764,
    0.13334810722261867,
    0.11706084278145698,
    0.11724684770610307,
];
const TWO_THIRDS_HI: f64 = f64::from_bits(0x3fe5555555555555);
const TWO_THIRDS_LO: f64 = f64::from_bits(0x3c85555555555555);

// ---- The emitter -------------------------------------------------------------

/// Builds the math on one vector type (`F32X4` or `F64X2`).
struct Em<'a, 'f> {
    b: &'a mut FunctionBuilder<'f>,
    ty: Type,
}

fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Em<'_, '_> {
    fn is64(&self) -> bool {
        self.ty == types::F64X2
    }

    fn ity(&self) -> Type {
        if self.is64() { types::I64X2 } else { types::I32X4 }
    }

    /// Mantissa bits.
    fn mbits(&self) -> i64 {
        if self.is64() { 52 } else { 23 }
    }

    fn bias(&self) -> i64 {
        if self.is64() { 1023 } else { 127 }
    }

    /// The float constant `v` in every lane.
    fn c(&mut self, v: f64) -> Value {
        splat_const(self.b, self.ty, v)
    }

    /// The f32 or the f64 constant, by lane type.
    fn c2(&mut self, v32: f64, v64: f64) -> Value {
        let v = if self.is64() { v64 } else { v32 };
        self.c(v)
    }

    /// The integer constant `v` in every lane of the integer vector type.
    fn ci(&mut self, v: i64) -> Value {
        let ity = self.ity();
        let s = self.b.ins().iconst(ity.lane_type(), v);
        self.b.ins().splat(ity, s)
    }

    fn bits(&mut self, x: Value) -> Value {
        let ity = self.ity();
        self.b.ins().bitcast(ity, little(), x)
    }

    fn float(&mut self, i: Value) -> Value {
        self.b.ins().bitcast(self.ty, little(), i)
    }

    /// All ones where `x cc y`, as a float vector (for `bitselect`/`band`).
    fn mask(&mut self, cc: FloatCC, x: Value, y: Value) -> Value {
        let m = self.b.ins().fcmp(cc, x, y);
        self.float(m)
    }

    fn mask_c(&mut self, cc: FloatCC, x: Value, v: f64) -> Value {
        let c = self.c(v);
        self.mask(cc, x, c)
    }

    fn sel(&mut self, m: Value, a: Value, b: Value) -> Value {
        self.b.ins().bitselect(m, a, b)
    }

    fn sel_c(&mut self, m: Value, v: f64, b: Value) -> Value {
        let a = self.c(v);
        self.sel(m, a, b)
    }

    fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.b.ins().fma(a, b, c)
    }

    /// a·v + c for a constant v.
    fn fma_c(&mut self, a: Value, v: f64, c: Value) -> Value {
        let k = self.c(v);
        self.fma(a, k, c)
    }

    fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }

    fn add_c(&mut self, a: Value, v: f64) -> Value {
        let k = self.c(v);
        self.add(a, k)
    }

    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }

    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }

    fn mul_c(&mut self, a: Value, v: f64) -> Value {
        let k = self.c(v);
        self.mul(a, k)
    }

    /// min(limit, x) keeping a NaN `x` (`minps limit, x`).
    fn min_keep(&mut self, limit: f64, x: Value) -> Value {
        let l = self.c(limit);
        let m = self.mask(FloatCC::LessThan, l, x);
        self.sel(m, l, x)
    }

    /// max(limit, x) keeping a NaN `x` (`maxps limit, x`).
    fn max_keep(&mut self, limit: f64, x: Value) -> Value {
        let l = self.c(limit);
        let m = self.mask(FloatCC::LessThan, x, l);
        self.sel(m, l, x)
    }

    fn clamp(&mut self, x: Value, lo: f64, hi: f64) -> Value {
        let x = self.min_keep(hi, x);
        self.max_keep(lo, x)
    }

    /// c[0] + c[1]·x + c[2]·x² + ... (f32 coefficients rounded to f32),
    /// given x² too: the pairs c[2i] + c[2i+1]·x, then Horner in x². The
    /// same fmas as Horner with half the dependent steps, which matters:
    /// long kernels are latency-bound.
    fn poly(&mut self, x: Value, x2: Value, coeffs: &[f64]) -> Value {
        let pairs: Vec<Value> = coeffs
            .chunks(2)
            .map(|c| {
                let c0 = self.c(c[0]);
                match c.get(1) {
                    Some(&c1) => self.fma_c(x, c1, c0),
                    None => c0,
                }
            })
            .collect();
        let (last, rest) = pairs.split_last().expect("a polynomial has a coefficient");
        let mut acc = *last;
        for &p in rest.iter().rev() {
            acc = self.fma(acc, x2, p);
        }
        acc
    }

    /// The sign bit of x (all other bits 0).
    fn sign_of(&mut self, x: Value) -> Value {
        let s = self.c(-0.0);
        self.b.ins().band(x, s)
    }

    // ---- exp ----

    /// x = n·ln2 + r: returns (t, n, r) with t = MAGIC + n, |r| <= ln2/2.
    fn exp_reduce(&mut self, x: Value) -> (Value, Value, Value) {
        let magic = self.c2(MAGIC32, MAGIC64);
        let log2e = self.c2(LOG2E32, LOG2E64);
        let t = self.fma(x, log2e, magic);
        let n = self.sub(t, magic);
        let hi = self.c2(-LN2_HI32, -LN2_HI64);
        let r = self.fma(n, hi, x);
        let lo = self.c2(-LN2_LO32, -LN2_LO64);
        let r = self.fma(n, lo, r);
        (t, n, r)
    }

    /// e^r - 1 for |r| <= ln2/2.
    fn expm1_poly(&mut self, r: Value) -> Value {
        let r2 = self.mul(r, r);
        let q = if self.is64() { self.poly(r, r2, &EXPM1_Q64) } else { self.poly(r, r2, &EXPM1_Q32) };
        self.fma(r2, q, r)
    }

    /// 2^(n + adj) for t = MAGIC + n, n + adj in the normal exponent range.
    fn exp2i(&mut self, t: Value, adj: i64) -> Value {
        let m = self.mbits();
        let i = self.bits(t);
        let i = self.b.ins().ishl_imm_u(i, m);
        let one = self.ci((self.bias() + adj) << m);
        let i = self.b.ins().iadd(i, one);
        self.float(i)
    }

    /// (s1, s2) with s1·s2 = 2^n exactly, each in the normal range, for t =
    /// MAGIC + n and |n| up to twice the exponent range.
    fn exp2i_split(&mut self, t: Value, n: Value) -> (Value, Value) {
        let magic = self.c2(MAGIC32, MAGIC64);
        let half = self.c(0.5);
        let t1 = self.fma(n, half, magic); // MAGIC + round(n/2)
        let s1 = self.exp2i(t1, 0);
        let it = self.bits(t);
        let it1 = self.bits(t1);
        let d = self.b.ins().isub(it, it1); // n - round(n/2)
        let m = self.mbits();
        let d = self.b.ins().ishl_imm_u(d, m);
        let one = self.ci(self.bias() << m);
        let d = self.b.ins().iadd(d, one);
        let s2 = self.float(d);
        (s1, s2)
    }

    /// e^x; `clamp_hi` false when x is known to be <= 0 (or NaN).
    fn exp(&mut self, x: Value, clamp_hi: bool) -> Value {
        let (lo, hi) = if self.is64() { (-746.0, 710.0) } else { (-104.0, 89.0) };
        let x = if clamp_hi { self.clamp(x, lo, hi) } else { self.max_keep(lo, x) };
        let (t, n, r) = self.exp_reduce(x);
        let u = self.expm1_poly(r);
        let (s1, s2) = self.exp2i_split(t, n);
        let p = self.fma(u, s1, s1);
        self.mul(p, s2)
    }

    /// e^x for x <= 0, results below the smallest normal number flushed to
    /// +0 (one scaling by 2^n instead of two).
    fn exp_ftz(&mut self, x: Value) -> Value {
        let lo = if self.is64() { -708.3 } else { -87.33 };
        let under = self.mask_c(FloatCC::LessThan, x, lo);
        let xc = self.max_keep(lo, x);
        let (t, _, r) = self.exp_reduce(xc);
        let u = self.expm1_poly(r);
        let s = self.exp2i(t, 0);
        let p = self.fma(u, s, s);
        self.b.ins().band_not(p, under)
    }

    fn expm1(&mut self, x: Value) -> Value {
        // expm1 is -1 (rounded) below the low clamp; 2^(n-1) stays normal.
        let (lo, hi, tiny) =
            if self.is64() { (-60.0, 710.0, 1.0 / 18014398509481984.0) } else { (-30.0, 89.0, 1.0 / 33554432.0) };
        let xc = self.clamp(x, lo, hi);
        let (t, _, r) = self.exp_reduce(xc);
        let u = self.expm1_poly(r);
        // 2^n·(1 + u) - 1 = 2·(2^(n-1)·u + (2^(n-1) - 1/2)), which does not
        // overflow early at n = 128 (1024).
        let sh = self.exp2i(t, -1);
        let sh_m = self.add_c(sh, -0.5);
        let y = self.fma(sh, u, sh_m);
        let y = self.add(y, y);
        // expm1(x) rounds to x below 2^-25 (2^-54); this keeps -0 and makes
        // subnormals exact.
        let ax = self.b.ins().fabs(x);
        let small = self.mask_c(FloatCC::LessThan, ax, tiny);
        self.sel(small, x, y)
    }

    fn tanh(&mut self, x: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        // tanh rounds to 1 from 9.01 (f32) / 19.1 (f64) on.
        let a = self.min_keep(if self.is64() { 20.0 } else { 10.0 }, ax);
        let a2 = self.add(a, a);
        let (t, _, r) = self.exp_reduce(a2);
        let u = self.expm1_poly(r);
        let s = self.exp2i(t, 0);
        let s_m = self.add_c(s, -1.0);
        let em = self.fma(s, u, s_m); // e^{2a} - 1
        let den = self.add_c(em, 2.0);
        let mut y = self.b.ins().fdiv(em, den);
        if self.is64() {
            // One correction step for the roundings of e + 2 and of the
            // quotient (about 1 ulp): y += (e - y·d - y·δ)/d with δ the
            // rounding error of d = e + 2 and 1/d = (1 - y)/2.
            let hi = self.max_keep(2.0, em);
            let lo = self.min_keep(2.0, em);
            let dd = self.sub(hi, den);
            let delta = self.add(dd, lo);
            let ny = self.b.ins().fneg(y);
            let rem = self.fma(ny, den, em);
            let rem = self.fma(ny, delta, rem);
            let half = self.c(0.5);
            let mhalf = self.c(-0.5);
            let inv = self.fma(y, mhalf, half);
            y = self.fma(rem, inv, y);
        }
        let sgn = self.sign_of(x);
        self.b.ins().bor(y, sgn)
    }

    fn sigmoid(&mut self, x: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        let nax = self.b.ins().fneg(ax);
        let e = self.exp(nax, false);
        let nonneg = self.mask_c(FloatCC::GreaterThanOrEqual, x, 0.0);
        let num = self.sel_c(nonneg, 1.0, e);
        let den = self.add_c(e, 1.0);
        self.b.ins().fdiv(num, den)
    }

    fn softplus(&mut self, x: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        let nax = self.b.ins().fneg(ax);
        let e = self.exp(nax, false);
        let l = self.log1p(e);
        let pos = self.mask_c(FloatCC::GreaterThan, x, 0.0);
        let p = self.b.ins().band(x, pos);
        self.add(p, l)
    }

    // ---- log ----

    /// For a positive normal x: (k, f) with x = 2^k·(1 + f), 1 + f in
    /// [√2/2, √2), and the integer bits of x offset so that k comes out of
    /// the exponent field.
    fn log_reduce(&mut self, x: Value) -> (Value, Value, Value) {
        let m = self.mbits();
        let (offset, sqrt_half, mant, kmagic) = if self.is64() {
            ((0x3ff00000_i64 - 0x3fe6a09e) << 32, 0x3fe6a09e_i64 << 32, (1_i64 << 52) - 1, 0x4330000000000000_i64)
        } else {
            (0x3f800000 - 0x3f3504f3, 0x3f3504f3, (1 << 23) - 1, 0x4b000000)
        };
        let ix = self.bits(x);
        let off = self.ci(offset);
        let ix = self.b.ins().iadd(ix, off);
        // k + bias as an integer → float exactly via 2^p + (k + bias).
        let e = self.b.ins().ushr_imm_u(ix, m);
        let km = self.ci(kmagic);
        let e = self.b.ins().bor(e, km);
        let e = self.float(e);
        let kbias = (1_i64 << m) as f64 + self.bias() as f64;
        let k = self.add_c(e, -kbias);
        let mm = self.ci(mant);
        let mi = self.b.ins().band(ix, mm);
        let sh = self.ci(sqrt_half);
        let mi = self.b.ins().iadd(mi, sh);
        let mf = self.float(mi);
        let f = self.add_c(mf, -1.0);
        (k, f, ix)
    }

    /// k·ln2 + log(1 + f) for f in [√2/2 - 1, √2 - 1]: for f64 fdlibm's
    /// s = f/(2+f) form; for f32 a polynomial in f, without the division
    /// (shorter latency).
    fn log_tail(&mut self, k: Value, f: Value) -> Value {
        if !self.is64() {
            // f - f²/2 + f³P(f) + k·ln2, k·ln2 in two parts.
            let f2 = self.mul(f, f);
            let p = self.poly(f, f2, &LOG1P_P32);
            let hf2 = self.mul_c(f2, -0.5);
            let inner = self.fma_c(k, LOG_LN2_LO32, hf2);
            let f3 = self.mul(f2, f);
            let t = self.fma(f3, p, inner);
            let a = self.add(f, t);
            return self.fma_c(k, LOG_LN2_HI32, a);
        }
        let two_f = self.add_c(f, 2.0);
        let s = self.b.ins().fdiv(f, two_f);
        let z = self.mul(s, s);
        let w = self.mul(z, z);
        let p = self.poly(z, w, &LG64);
        let r = self.mul(z, p);
        let half_f = self.mul_c(f, 0.5);
        let hfsq = self.mul(half_f, f);
        let hr = self.add(hfsq, r);
        let klo = self.mul_c(k, LN2_LO64);
        let a = self.fma(s, hr, klo);
        let a = self.sub(a, hfsq);
        let a = self.add(a, f);
        self.fma_c(k, LN2_HI64, a)
    }

    /// The special values of log at `u`: +inf at +inf, NaN below 0 and for
    /// NaN, -inf at ±0.
    fn log_specials(&mut self, u: Value, y: Value) -> Value {
        let inf = self.mask_c(FloatCC::Equal, u, f64::INFINITY);
        let y = self.sel_c(inf, f64::INFINITY, y);
        let pos = self.mask_c(FloatCC::GreaterThan, u, 0.0);
        let nan = self.c(f64::NAN);
        let y = self.sel(pos, y, nan);
        let zero = self.mask_c(FloatCC::Equal, u, 0.0);
        self.sel_c(zero, f64::NEG_INFINITY, y)
    }

    fn log(&mut self, x: Value) -> Value {
        // Subnormals are scaled up by 2^25 (2^54) first.
        let (min_normal, scale, shift) = if self.is64() {
            (f64::MIN_POSITIVE, 18014398509481984.0, 54.0)
        } else {
            (f32::MIN_POSITIVE as f64, 33554432.0, 25.0)
        };
        let sub = self.mask_c(FloatCC::LessThan, x, min_normal);
        let xs = self.mul_c(x, scale);
        let xs = self.sel(sub, xs, x);
        let (k, f, _) = self.log_reduce(xs);
        let sh = self.c(shift);
        let kadj = self.b.ins().band(sub, sh);
        let k = self.sub(k, kadj);
        let y = self.log_tail(k, f);
        self.log_specials(x, y)
    }

    fn log1p(&mut self, x: Value) -> Value {
        let one = self.c(1.0);
        let u = self.add(one, x);
        // c = (1 + x) - u exactly (TwoSum).
        let bv = self.sub(u, one);
        let av = self.sub(u, bv);
        let da = self.sub(one, av);
        let db = self.sub(x, bv);
        let c = self.add(da, db);
        let (k, f, ix) = self.log_reduce(u);
        // 1 + x = 2^k·(1 + f + c·2^-k): fold the correction into f. 2^-k
        // from the exponent field; the correction is dropped for huge u,
        // where it is negligible and 2^-k would not be normal.
        let m = self.mbits();
        let exp_mask = self.ci(((self.bias() << 1) | 1) << m);
        let eb = self.b.ins().band(ix, exp_mask);
        let two_bias = self.ci((self.bias() << 1) << m);
        let inv = self.b.ins().isub(two_bias, eb);
        let inv = self.float(inv);
        let corr = self.mul(c, inv);
        let fits = self.mask_c(FloatCC::LessThan, u, 1.152921504606847e18); // 2^60
        let corr = self.b.ins().band(corr, fits);
        let f = self.add(f, corr);
        let y = self.log_tail(k, f);
        let y = self.log_specials(u, y);
        // log1p has the sign of x (this keeps -0).
        let sgn = self.sign_of(x);
        self.b.ins().bor(y, sgn)
    }

    // ---- sin, cos ----

    /// sin(r) for |r| <= π/2 (a little more).
    fn sin_poly(&mut self, r: Value) -> Value {
        let s = self.mul(r, r);
        let s2 = self.mul(s, s);
        let p = if self.is64() { self.poly(s, s2, &SIN_P64) } else { self.poly(s, s2, &SIN_P32) };
        let r3 = self.mul(r, s);
        let y = self.fma(r3, p, r);
        // Near ±π/2 the rounding can reach 1 + ulp: keep sin in [-1, 1].
        self.clamp(y, -1.0, 1.0)
    }

    /// r = x - j·c with c = parts[0] + parts[1] + parts[2].
    fn reduce3(&mut self, x: Value, j: Value, parts: [f64; 3]) -> Value {
        let r = self.fma_c(j, -parts[0], x);
        let r = self.fma_c(j, -parts[1], r);
        let r = self.fma_c(j, -parts[2], r);
        let m = if self.is64() { R_MAX64 } else { R_MAX32 };
        self.clamp(r, -m, m)
    }

    /// The parity of the integer n in t = MAGIC + n, as a sign bit.
    fn parity_sign(&mut self, t: Value) -> Value {
        let i = self.bits(t);
        let sh = if self.is64() { 63 } else { 31 };
        let i = self.b.ins().ishl_imm_u(i, sh);
        self.float(i)
    }

    fn sin(&mut self, x: Value) -> Value {
        let magic = self.c2(MAGIC32, MAGIC64);
        let inv_pi = self.c2(INV_PI32, INV_PI64);
        let t = self.fma(x, inv_pi, magic);
        let j = self.sub(t, magic);
        let r = if self.is64() { self.reduce3(x, j, PI64) } else { self.reduce3(x, j, PI32) };
        let y = self.sin_poly(r);
        let sgn = self.parity_sign(t);
        let y = self.b.ins().bxor(y, sgn);
        // sin(±0) = ±0 (the polynomial gives +0 for -0).
        let zero = self.mask_c(FloatCC::Equal, x, 0.0);
        self.sel(zero, x, y)
    }

    fn cos(&mut self, x: Value) -> Value {
        // cos(x) = (-1)^(m+1)·sin(x - (2m+1)π/2) with 2m+1 the odd integer
        // nearest 2x/π: 2j ± 1 for j = round(x/π) (rounded once, in the fma
        // with the magic number), by the sign of x - jπ.
        let magic = self.c2(MAGIC32, MAGIC64);
        let inv_pi = self.c2(INV_PI32, INV_PI64);
        let t = self.fma(x, inv_pi, magic);
        let j = self.sub(t, magic);
        let pi = if self.is64() { PI64[0] } else { PI32[0] };
        let r0 = self.fma_c(j, -pi, x);
        let below = self.mask_c(FloatCC::LessThan, r0, 0.0);
        let one = self.c(1.0);
        let pm1 = self.sel_c(below, -1.0, one);
        let jj = self.fma_c(j, 2.0, pm1);
        let r = if self.is64() { self.reduce3(x, jj, PIO2_64) } else { self.reduce3(x, jj, PIO2_32) };
        let y = self.sin_poly(r);
        // m + 1 = (jj + 1)/2, exact; its parity is the sign.
        let half = self.c(0.5);
        let m1 = self.fma(jj, half, half);
        let t1 = self.add(m1, magic);
        let sgn = self.parity_sign(t1);
        let y = self.b.ins().bxor(y, sgn);
        // Near 0 the reduction by π/2 leaves an ulp of error in a value
        // that rounds to exactly 1 (and cos(0) = 1 matters: casts, tests).
        let ax = self.b.ins().fabs(x);
        let tiny = if self.is64() { 1.0 / 134217728.0 } else { 1.0 / 4096.0 };
        let near0 = self.mask_c(FloatCC::LessThan, ax, tiny);
        self.sel_c(near0, 1.0, y)
    }

    // ---- pow (F64X2 only) ----

    /// log(a) as a double-double (hi, lo) for a positive finite a, relative
    /// error about 2^-64 (fdlibm's e_pow idea without its tables).
    fn log_dd(&mut self, a: Value) -> (Value, Value) {
        let sub = self.mask_c(FloatCC::LessThan, a, f64::MIN_POSITIVE);
        let xs = self.mul_c(a, 18014398509481984.0);
        let xs = self.sel(sub, xs, a);
        let (k, f, _) = self.log_reduce(xs);
        let sh = self.c(54.0);
        let kadj = self.b.ins().band(sub, sh);
        let k = self.sub(k, kadj);
        // s = f / (m + 1) in double-double; m + 1 = v_hi + v_lo (Fast2Sum).
        let one = self.c(1.0);
        let m = self.add(f, one);
        let v_hi = self.add(m, one);
        let v1 = self.sub(v_hi, one);
        let v_lo = self.sub(m, v1);
        let inv = self.b.ins().fdiv(one, v_hi);
        let s_hi = self.mul(f, inv);
        let ns = self.b.ins().fneg(s_hi);
        let rem = self.fma(ns, v_hi, f);
        let rem = self.fma(ns, v_lo, rem);
        let s_lo = self.mul(rem, inv);
        // s² and s³ in double-double.
        let w = self.mul(s_hi, s_hi);
        let nw = self.b.ins().fneg(w);
        let w_lo = self.fma(s_hi, s_hi, nw);
        let s3 = self.mul(w, s_hi);
        let ns3 = self.b.ins().fneg(s3);
        let s3_lo = self.fma(w, s_hi, ns3);
        let s3_lo = self.fma(w_lo, s_hi, s3_lo);
        // U = 2/3 + w·R(w) in double-double.
        let w2 = self.mul(w, w);
        let rw = self.poly(w, w2, &ATANH_R64);
        let wr = self.mul(w, rw);
        let c23 = self.c(TWO_THIRDS_HI);
        let u_hi = self.add(c23, wr);
        let d = self.sub(c23, u_hi);
        let d = self.add(d, wr);
        let u_lo = self.add_c(d, TWO_THIRDS_LO);
        // T = s³·U.
        let t_hi = self.mul(s3, u_hi);
        let nt = self.b.ins().fneg(t_hi);
        let t_lo = self.fma(s3, u_hi, nt);
        let t_lo = self.fma(s3, u_lo, t_lo);
        let t_lo = self.fma(s3_lo, u_hi, t_lo);
        // log a = k·ln2_hi + 2s_hi + T_hi + (k·ln2_lo + 2s_lo + 2s²s_lo + T_lo + errors).
        let a_hi = self.mul_c(k, LN2_HI64); // exact
        let b_hi = self.add(s_hi, s_hi);
        let h1 = self.add(a_hi, b_hi);
        let e1 = self.sub(a_hi, h1);
        let e1 = self.add(e1, b_hi);
        let h2 = self.add(h1, t_hi);
        let e2 = self.sub(h1, h2);
        let e2 = self.add(e2, t_hi);
        let lo = self.add(e1, e2);
        let lo = self.add(lo, t_lo);
        let s_lo2 = self.add(s_lo, s_lo);
        let ws = self.fma(w, s_lo2, s_lo2); // 2s_lo(1 + s²)
        let lo = self.add(lo, ws);
        let lo = self.fma_c(k, LN2_LO64, lo);
        (h2, lo)
    }

    /// e^(hi + lo) for |lo| tiny against hi.
    fn exp_dd(&mut self, hi: Value, lo: Value) -> Value {
        let ahi = self.b.ins().fabs(hi);
        let ok = self.mask_c(FloatCC::LessThan, ahi, 800.0);
        let lo = self.b.ins().band(lo, ok);
        let x = self.clamp(hi, -746.0, 710.0);
        let magic = self.c(MAGIC64);
        let log2e = self.c(LOG2E64);
        let t = self.fma(x, log2e, magic);
        let n = self.sub(t, magic);
        let r = self.fma_c(n, -LN2_HI64, x); // exact
        let r = self.fma_c(n, -LN2_LO64, r);
        let r = self.add(r, lo);
        let u = self.expm1_poly(r);
        let (s1, s2) = self.exp2i_split(t, n);
        let p = self.fma(u, s1, s1);
        self.mul(p, s2)
    }

    fn pow(&mut self, x: Value, y: Value) -> Value {
        debug_assert!(self.is64());
        let ax = self.b.ins().fabs(x);
        let (l_hi, l_lo) = self.log_dd(ax);
        let z_hi = self.mul(y, l_hi);
        let nz = self.b.ins().fneg(z_hi);
        let z_lo = self.fma(y, l_hi, nz);
        let z_lo = self.fma(y, l_lo, z_lo);
        let core = self.exp_dd(z_hi, z_lo);

        // y an integer (±inf counts as one, NaN does not), and odd.
        let ty = self.b.ins().trunc(y);
        let y_int = self.mask(FloatCC::Equal, ty, y);
        let yh = self.mul_c(y, 0.5);
        let tyh = self.b.ins().trunc(yh);
        let half_frac = self.mask(FloatCC::NotEqual, tyh, yh);
        let y_odd = self.b.ins().band(y_int, half_frac);
        // A negative base (with -0 and -inf) to an odd power flips the sign.
        let sx = self.sign_of(x);
        let flip = self.b.ins().band(sx, y_odd);
        let res = self.b.ins().bxor(core, flip);

        // |x| = 0 or inf, or y = ±inf: 0 or inf by whether |x| > 1 and y < 0
        // agree; not for NaN operands.
        let ay = self.b.ins().fabs(y);
        let x0 = self.mask_c(FloatCC::Equal, ax, 0.0);
        let xinf = self.mask_c(FloatCC::Equal, ax, f64::INFINITY);
        let yinf = self.mask_c(FloatCC::Equal, ay, f64::INFINITY);
        let ext = self.b.ins().bor(x0, xinf);
        let ext = self.b.ins().bor(ext, yinf);
        let ord = self.mask(FloatCC::Ordered, x, y);
        let ext = self.b.ins().band(ext, ord);
        let big = self.mask_c(FloatCC::GreaterThan, ax, 1.0);
        let yneg = self.mask_c(FloatCC::LessThan, y, 0.0);
        let to_inf = self.b.ins().bxor(big, yneg);
        let inf = self.c(f64::INFINITY);
        let ext_val = self.b.ins().band(to_inf, inf);
        let ext_val = self.b.ins().bxor(ext_val, flip);
        let res = self.sel(ext, ext_val, res);

        // A negative finite base to a non-integer power, or a NaN base (the
        // bit twiddling of log loses it): NaN.
        let xneg = self.mask_c(FloatCC::LessThan, x, 0.0);
        let xfin = self.mask_c(FloatCC::GreaterThan, x, f64::NEG_INFINITY);
        let negfin = self.b.ins().band(xneg, xfin);
        let not_int = self.mask(FloatCC::NotEqual, ty, y);
        let bad = self.b.ins().band(negfin, not_int);
        let xnan = self.mask(FloatCC::Unordered, x, x);
        let bad = self.b.ins().bor(bad, xnan);
        let res = self.sel_c(bad, f64::NAN, res);

        // pow(x, ±0) = 1, pow(1, y) = 1, pow(-1, ±inf) = 1.
        let y0 = self.mask_c(FloatCC::Equal, y, 0.0);
        let x1 = self.mask_c(FloatCC::Equal, x, 1.0);
        let ax1 = self.mask_c(FloatCC::Equal, ax, 1.0);
        let m1 = self.b.ins().band(ax1, yinf);
        let one = self.b.ins().bor(y0, x1);
        let one = self.b.ins().bor(one, m1);
        self.sel_c(one, 1.0, res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cranelift_codegen::ir::{AbiParam, UserFuncName};
    use cranelift_codegen::settings::{self, Configurable};
    use cranelift_frontend::FunctionBuilderContext;
    use cranelift_jit::{JITBuilder, JITModule};
    use cranelift_module::{Linkage, Module, default_libcall_names};

    #[derive(Clone, Copy, Debug)]
    enum Op {
        U(UnaryOp),
        B(BinaryOp),
    }

    /// A compiled `fn(n, x, y, out)` mapping the buffers through `op`, with
    /// vectors (n a multiple of `step`) or with scalars.
    struct Kernel {
        _module: JITModule,
        f: extern "C" fn(usize, *const u8, *const u8, *mut u8),
        step: usize,
    }

    fn compile(op: Op, elem: Type, vector: bool, unroll: usize) -> Kernel {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").unwrap();
        let isa = cranelift_native::builder().unwrap().finish(settings::Flags::new(flags)).unwrap();
        let frontend = isa.frontend_config();
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ptr = types::I64;
        let mut sig = module.make_signature();
        for _ in 0..4 {
            sig.params.push(AbiParam::new(ptr));
        }
        let id = module.declare_function("kernel", Linkage::Local, &sig).unwrap();
        let mut ctx = module.make_context();
        ctx.func.signature = sig;
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        let ty = if vector { vector_of(elem) } else { elem };
        let lanes = ty.lane_count() as usize;
        let step = lanes * unroll;
        let size = ty.bytes() as i64;
        let mut fctx = FunctionBuilderContext::new();
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let entry = b.create_block();
            let header = b.create_block();
            let body = b.create_block();
            let exit = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.append_block_param(header, ptr);
            b.switch_to_block(entry);
            let [n, xp, yp, op_] = b.block_params(entry).try_into().unwrap();
            let zero = b.ins().iconst(ptr, 0);
            b.ins().jump(header, &[zero.into()]);
            b.switch_to_block(header);
            let i = b.block_params(header)[0];
            let next = b.ins().iadd_imm_u(i, step as i64);
            let more = b.ins().icmp(cranelift_codegen::ir::condcodes::IntCC::UnsignedLessThanOrEqual, next, n);
            b.ins().brif(more, body, &[], exit, &[]);
            b.switch_to_block(body);
            let base = b.ins().imul_imm_u(i, (ty.bytes() as i64) / lanes as i64);
            let flags = MemFlagsData::new().with_notrap();
            for u in 0..unroll as i64 {
                let xa = b.ins().iadd(xp, base);
                let x = b.ins().load(ty, flags, xa, (u * size) as i32);
                let r = match op {
                    Op::U(op) => float_unary(&mut b, op, ty, x).unwrap(),
                    Op::B(op) => {
                        let ya = b.ins().iadd(yp, base);
                        let y = b.ins().load(ty, flags, ya, (u * size) as i32);
                        float_binary(&mut b, op, ty, x, y).unwrap()
                    }
                };
                let oa = b.ins().iadd(op_, base);
                b.ins().store(flags, r, oa, (u * size) as i32);
            }
            b.ins().jump(header, &[next.into()]);
            b.switch_to_block(exit);
            b.ins().return_(&[]);
            b.seal_all_blocks();
            b.finalize(frontend);
        }
        let disasm = std::env::var_os("TX_MATH_DISASM").is_some();
        ctx.set_disasm(disasm);
        module.define_function(id, &mut ctx).unwrap();
        if disasm {
            eprintln!("{op:?} {ty}:\n{}", ctx.compiled_code().unwrap().vcode.as_deref().unwrap_or(""));
        }
        module.clear_context(&mut ctx);
        module.finalize_definitions().unwrap();
        let code = module.get_finalized_function(id);
        // SAFETY: the function was built with this signature and the
        // module lives as long as the pointer (in `Kernel`).
        let f = unsafe { std::mem::transmute::<*const u8, extern "C" fn(usize, *const u8, *const u8, *mut u8)>(code) };
        Kernel { _module: module, f, step }
    }

    trait Float: Copy + PartialEq + std::fmt::Debug + Default + 'static {
        const TY: Type;
        const EPS_ABS: f64;
        fn ord(self) -> i128;
        fn nan(self) -> bool;
        fn neg_sign(self) -> bool;
        fn f64(self) -> f64;
        fn of(v: f64) -> Self;
        fn sweep(n: usize, seed: u64) -> Vec<Self>;
    }

    impl Float for f32 {
        const TY: Type = types::F32;
        const EPS_ABS: f64 = 1.0 / 16777216.0;
        fn ord(self) -> i128 {
            let m = (self.to_bits() & 0x7fff_ffff) as i128;
            if self.is_sign_negative() { -m } else { m }
        }
        fn nan(self) -> bool {
            self.is_nan()
        }
        fn neg_sign(self) -> bool {
            self.is_sign_negative()
        }
        fn f64(self) -> f64 {
            self as f64
        }
        fn of(v: f64) -> f32 {
            v as f32
        }
        /// n values: evenly spread bit patterns over the finite floats of
        /// both signs (log-uniform: every exponent, subnormals included),
        /// half of them with random low bits.
        fn sweep(n: usize, seed: u64) -> Vec<f32> {
            let mut rng = Rng(seed);
            let top = 0x7f7f_ffffu64;
            (0..n)
                .map(|i| {
                    let k = (i / 2) as u64 * top / (n as u64 / 2);
                    let k = if i % 4 < 2 { k } else { (k & !0xffff) | (rng.next() & 0xffff) };
                    let v = f32::from_bits(k.min(top) as u32);
                    if i % 2 == 0 { v } else { -v }
                })
                .collect()
        }
    }

    impl Float for f64 {
        const TY: Type = types::F64;
        const EPS_ABS: f64 = 1.0 / 9007199254740992.0;
        fn ord(self) -> i128 {
            let m = (self.to_bits() & 0x7fff_ffff_ffff_ffff) as i128;
            if self.is_sign_negative() { -m } else { m }
        }
        fn nan(self) -> bool {
            self.is_nan()
        }
        fn neg_sign(self) -> bool {
            self.is_sign_negative()
        }
        fn f64(self) -> f64 {
            self
        }
        fn of(v: f64) -> f64 {
            v
        }
        fn sweep(n: usize, seed: u64) -> Vec<f64> {
            let mut rng = Rng(seed);
            let top = 0x7fef_ffff_ffff_ffffu64;
            (0..n)
                .map(|i| {
                    let k = ((i / 2) as u128 * top as u128 / (n as u128 / 2)) as u64;
                    let k = if i % 4 < 2 { k } else { (k & !0xffff_ffff) | (rng.next() & 0xffff_ffff) };
                    let v = f64::from_bits(k.min(top));
                    if i % 2 == 0 { v } else { -v }
                })
                .collect()
        }
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn run<T: Float>(op: Op, vector: bool, xs: &[T], ys: &[T]) -> Vec<T> {
        let k = compile(op, T::TY, vector, 1);
        let n = xs.len();
        let padded = if vector { n.div_ceil(k.step) * k.step } else { n };
        let mut x = xs.to_vec();
        x.resize(padded, T::default());
        let mut y = ys.to_vec();
        y.resize(padded, T::default());
        let mut out = vec![T::default(); padded];
        (k.f)(padded, x.as_ptr().cast(), y.as_ptr().cast(), out.as_mut_ptr().cast());
        out.truncate(n);
        out
    }

    /// The distance in ulps (NaN to NaN is 0, NaN to a number infinite).
    fn ulps<T: Float>(a: T, b: T) -> u128 {
        match (a.nan(), b.nan()) {
            (true, true) => 0,
            (false, false) => (a.ord() - b.ord()).unsigned_abs(),
            _ => u128::MAX,
        }
    }

    /// Checks `got` against `want` for every input: at most `max_ulps` (or
    /// an absolute error of at most `abs` when given), zeros of the right
    /// sign. Returns the largest ulp error seen.
    fn check<T: Float>(
        what: &str,
        xs: &[T],
        ys: Option<&[T]>,
        got: &[T],
        want: impl Fn(usize) -> T,
        max_ulps: u128,
        abs: Option<f64>,
    ) -> u128 {
        let mut worst = 0;
        let mut worst_rel = 0;
        let mut worst_at = 0;
        for (i, &g) in got.iter().enumerate() {
            let w = want(i);
            let u = ulps(g, w);
            let ok_abs = abs.is_some_and(|a| !g.nan() && !w.nan() && (g.f64() - w.f64()).abs() <= a);
            // Zeros of the right sign, infinities only where due.
            let zero_sign = w.f64() == 0.0 && g.f64() == 0.0 && g.neg_sign() != w.neg_sign();
            let inf = g.f64().is_infinite() != w.f64().is_infinite();
            if (u > max_ulps && !ok_abs) || zero_sign || inf {
                panic!(
                    "{what}: x = {:?}{} gave {g:?}, want {w:?} ({u} ulps)",
                    xs[i],
                    ys.map(|y| format!(", y = {:?}", y[i])).unwrap_or_default()
                );
            }
            if u > worst {
                worst = u;
                worst_at = i;
            }
            if !ok_abs && u > worst_rel {
                worst_rel = u;
            }
        }
        if !got.is_empty() {
            let rel =
                if abs.is_some() { format!(", {worst_rel} where the absolute error is larger") } else { String::new() };
            eprintln!("{what}: max {worst} ulps (at x = {:?}){rel}", xs[worst_at]);
        }
        worst
    }

    fn specials<T: Float>() -> Vec<T> {
        let mut v: Vec<f64> = vec![
            0.0,
            1.0,
            2.0,
            0.5,
            f64::INFINITY,
            f64::NAN,
            1e-45,
            1e-40,
            1.17549435e-38,
            1e-30,
            1e-20,
            1e-10,
            1e-7,
            3e-8,
            88.0,
            88.37,
            88.72,
            88.7228,
            88.73,
            89.0,
            -87.3,
            -88.0,
            -100.0,
            -103.9,
            -103.97,
            -103.98,
            -104.0,
            -150.0,
            700.0,
            709.78,
            709.79,
            710.0,
            -708.4,
            -740.0,
            -745.1,
            -745.2,
            -746.0,
            5e-324,
            1e-310,
            2.2250738585072014e-308,
            1e-300,
            1e300,
            f64::MAX,
            f32::MAX as f64,
            3.4e38,
            1e30,
            1e10,
            1e5,
            1e4,
            9.0,
            9.02,
            10.0,
            19.0,
            20.0,
            0.34657359,
            std::f64::consts::LN_2,
            std::f64::consts::FRAC_PI_2,
            std::f64::consts::PI,
            std::f64::consts::FRAC_1_SQRT_2,
            std::f64::consts::SQRT_2,
            0.9999999,
            1.0000001,
            0.999999999999,
            1.000000000001,
        ];
        let neg: Vec<f64> = v.iter().map(|x| -x).collect();
        v.extend(neg);
        v.into_iter().map(T::of).collect()
    }

    /// Inputs for a unary op: the specials, the log-uniform sweep and a
    /// dense linear sweep of [lo, hi].
    fn inputs<T: Float>(n: usize, lo: f64, hi: f64) -> Vec<T> {
        let mut xs = specials::<T>();
        xs.extend(T::sweep(n, 7));
        let mut rng = Rng(99);
        xs.extend((0..n).map(|_| T::of(lo + (hi - lo) * rng.unit())));
        xs
    }

    fn sigmoid_ref(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    fn softplus_ref(x: f64) -> f64 {
        let positive = if x > 0.0 { x } else { 0.0 };
        positive + (-x.abs()).exp().ln_1p()
    }

    /// The f64 reference of a unary op (f32 results round it).
    fn unary_ref(op: UnaryOp) -> fn(f64) -> f64 {
        match op {
            UnaryOp::Exp => f64::exp,
            UnaryOp::Log => f64::ln,
            UnaryOp::Log1p => f64::ln_1p,
            UnaryOp::Expm1 => f64::exp_m1,
            UnaryOp::Tanh => f64::tanh,
            UnaryOp::Sin => f64::sin,
            UnaryOp::Cos => f64::cos,
            UnaryOp::Sigmoid => sigmoid_ref,
            UnaryOp::Softplus => softplus_ref,
            _ => unreachable!(),
        }
    }

    /// Runs `op` on both paths and checks it; returns the max ulps seen.
    fn check_unary<T: Float>(op: UnaryOp, n: usize, lo: f64, hi: f64, max_ulps: u128, abs: Option<f64>) -> u128 {
        let xs = inputs::<T>(n, lo, hi);
        let f = unary_ref(op);
        let mut worst = 0;
        for vector in [true, false] {
            let xs = if vector { &xs[..] } else { &xs[..xs.len() / 4] };
            let got = run(Op::U(op), vector, xs, &[]);
            let what = format!("{op:?} {} {}", T::TY, if vector { "vector" } else { "scalar" });
            let w = check(&what, xs, None, &got, |i| T::of(f(xs[i].f64())), max_ulps, abs);
            worst = worst.max(w);
        }
        worst
    }

    /// Inputs per sweep (`TX_MATH_N` overrides, for a longer search).
    fn n() -> usize {
        std::env::var("TX_MATH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
    }

    #[test]
    fn exp_is_accurate() {
        check_unary::<f32>(UnaryOp::Exp, n(), -110.0, 90.0, 4, None);
        check_unary::<f64>(UnaryOp::Exp, n(), -750.0, 710.0, 4, None);
    }

    #[test]
    fn expm1_is_accurate() {
        check_unary::<f32>(UnaryOp::Expm1, n(), -2.0, 2.0, 4, None);
        check_unary::<f64>(UnaryOp::Expm1, n(), -2.0, 2.0, 4, None);
    }

    #[test]
    fn log_is_accurate() {
        check_unary::<f32>(UnaryOp::Log, n(), 0.0, 4.0, 4, None);
        check_unary::<f64>(UnaryOp::Log, n(), 0.0, 4.0, 4, None);
    }

    #[test]
    fn log1p_is_accurate() {
        check_unary::<f32>(UnaryOp::Log1p, n(), -1.0, 3.0, 4, None);
        check_unary::<f64>(UnaryOp::Log1p, n(), -1.0, 3.0, 4, None);
    }

    #[test]
    fn tanh_is_accurate() {
        check_unary::<f32>(UnaryOp::Tanh, n(), -12.0, 12.0, 4, Some(f32::EPS_ABS));
        check_unary::<f64>(UnaryOp::Tanh, n(), -22.0, 22.0, 4, Some(f64::EPS_ABS));
    }

    #[test]
    fn sigmoid_is_accurate() {
        check_unary::<f32>(UnaryOp::Sigmoid, n(), -30.0, 30.0, 4, Some(f32::EPS_ABS));
        check_unary::<f64>(UnaryOp::Sigmoid, n(), -50.0, 50.0, 4, Some(f64::EPS_ABS));
    }

    #[test]
    fn softplus_is_accurate() {
        check_unary::<f32>(UnaryOp::Softplus, n(), -30.0, 30.0, 4, None);
        check_unary::<f64>(UnaryOp::Softplus, n(), -50.0, 50.0, 4, None);
    }

    /// Within |x| <= 1e4: 4 ulps. Beyond: in [-1, 1], NaN exactly for NaN
    /// and infinities.
    fn check_trig<T: Float>(op: UnaryOp) {
        let mut all = inputs::<T>(n(), -1e4, 1e4);
        let mut rng = Rng(17);
        // Beyond 1e4: the ulp error is only reported.
        all.extend((0..n() / 4).map(|_| T::of((rng.unit() - 0.5) * 2e6)));
        let (near, far): (Vec<T>, Vec<T>) = all.into_iter().partition(|x| x.nan() || x.f64().abs() <= 1e4);
        let f = unary_ref(op);
        for vector in [true, false] {
            let what = format!("{op:?} {} {}", T::TY, if vector { "vector" } else { "scalar" });
            let xs = if vector { &near[..] } else { &near[..near.len() / 4] };
            let got = run(Op::U(op), vector, xs, &[]);
            check(&what, xs, None, &got, |i| T::of(f(xs[i].f64())), 4, None);
            let all: Vec<T> = xs.iter().chain(&far).copied().collect();
            let got = run(Op::U(op), vector, &all, &[]);
            let mut mid = 0;
            for (x, g) in all.iter().zip(&got) {
                let inf = x.f64().is_infinite();
                assert!(if inf || x.nan() { g.nan() } else { g.f64().abs() <= 1.0 }, "{what}: x = {x:?} gave {g:?}");
                if x.f64().abs() > 1e4 && x.f64().abs() <= 1e6 {
                    mid = mid.max(ulps(*g, T::of(f(x.f64()))));
                }
            }
            eprintln!("{what}: max {mid} ulps for 1e4 < |x| <= 1e6");
        }
    }

    #[test]
    fn sin_and_cos_are_accurate() {
        for op in [UnaryOp::Sin, UnaryOp::Cos] {
            check_trig::<f32>(op);
            check_trig::<f64>(op);
        }
    }

    /// The exactly specified ops agree bit for bit with the interpreter's
    /// definitions (NaN with NaN).
    fn check_exact<T: Float>(op: Op, f: impl Fn(T, T) -> T) {
        let sp = specials::<T>();
        let mut xs = vec![];
        let mut ys = vec![];
        for &a in &sp {
            for &b in &sp {
                xs.push(a);
                ys.push(b);
            }
        }
        for vector in [true, false] {
            let got = run(op, vector, &xs, &ys);
            for i in 0..xs.len() {
                let w = f(xs[i], ys[i]);
                let same = (w.nan() && got[i].nan()) || w.ord() == got[i].ord() && w.neg_sign() == got[i].neg_sign();
                assert!(same, "{op:?} {} ({:?}, {:?}) gave {:?}, want {w:?}", T::TY, xs[i], ys[i], got[i]);
            }
        }
    }

    fn nan_max(a: f64, b: f64) -> f64 {
        if a.is_nan() || (!b.is_nan() && a > b) { a } else { b }
    }

    fn nan_min(a: f64, b: f64) -> f64 {
        if a.is_nan() || (!b.is_nan() && a < b) { a } else { b }
    }

    fn sign_ref(x: f64) -> f64 {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else if x.is_nan() {
            x
        } else {
            0.0
        }
    }

    fn exact_ops<T: Float>() {
        let of = |f: fn(f64, f64) -> f64| move |a: T, b: T| T::of(f(a.f64(), b.f64()));
        check_exact::<T>(Op::B(BinaryOp::Max), of(nan_max));
        check_exact::<T>(Op::B(BinaryOp::Min), of(nan_min));
        check_exact::<T>(Op::B(BinaryOp::Add), of(|a, b| a + b));
        check_exact::<T>(Op::B(BinaryOp::Div), of(|a, b| a / b));
        check_exact::<T>(Op::U(UnaryOp::Sign), of(|a, _| sign_ref(a)));
        check_exact::<T>(Op::U(UnaryOp::Relu), of(|a, _| if a > 0.0 || a.is_nan() { a } else { 0.0 }));
        check_exact::<T>(Op::U(UnaryOp::Abs), of(|a, _| a.abs()));
        check_exact::<T>(Op::U(UnaryOp::Neg), of(|a, _| -a));
        check_exact::<T>(Op::U(UnaryOp::Square), of(|a, _| a * a));
        check_exact::<T>(Op::U(UnaryOp::Reciprocal), of(|a, _| 1.0 / a));
    }

    #[test]
    fn exact_ops_follow_the_interpreter() {
        exact_ops::<f32>();
        exact_ops::<f64>();
        check_exact::<f32>(Op::U(UnaryOp::Sqrt), |a, _| a.sqrt());
        check_exact::<f64>(Op::U(UnaryOp::Sqrt), |a, _| a.sqrt());
    }

    #[test]
    fn not_and_comparisons_are_not_float_math() {
        let mut module_fn = Function::new();
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut module_fn, &mut fctx);
        let block = b.create_block();
        b.switch_to_block(block);
        let x = b.ins().f32const(1.0);
        assert!(float_unary(&mut b, UnaryOp::Not, types::F32, x).is_none());
        assert!(float_binary(&mut b, BinaryOp::Lt, types::F32, x, x).is_none());
        assert!(float_binary(&mut b, BinaryOp::And, types::F32, x, x).is_none());
        assert!(float_unary(&mut b, UnaryOp::Exp, types::I64, x).is_none());
    }

    use cranelift_codegen::ir::Function;

    /// pow against Rust's `powf` (f32 in f32, as the interpreter does):
    /// every pair of special values (bit exact but for the last ulp), then
    /// random bases with exponents chosen to spread the results over the
    /// whole range, and integer exponents of negative bases.
    fn check_pow<T: Float>(powf: impl Fn(T, T) -> T, n: usize) {
        let sp = specials::<T>();
        let mut xs = vec![];
        let mut ys = vec![];
        let extra: Vec<T> =
            [3.0, -3.0, 2.5, -2.5, 0.25, 1e-3, 17.0, -17.0, 1e20, -1e20, 1023.0, 0.1].into_iter().map(T::of).collect();
        let ysp: Vec<T> = sp.iter().chain(&extra).copied().collect();
        for &a in &sp {
            for &b in &ysp {
                xs.push(a);
                ys.push(b);
            }
        }
        let mut rng = Rng(5);
        let (zmax, zmin) = if T::TY == types::F64 { (709.0, -745.0) } else { (88.7, -103.0) };
        for x in T::sweep(n, 11) {
            let x = T::of(x.f64().abs());
            let lx = x.f64().ln();
            if lx == 0.0 || !lx.is_finite() {
                continue;
            }
            let z = zmin + (zmax - zmin) * rng.unit();
            xs.push(x);
            ys.push(T::of(z / lx));
            // A negative base with an integer exponent.
            let k = (z / lx).round();
            if k.abs() < 1e15 {
                xs.push(T::of(-x.f64()));
                ys.push(T::of(k));
            }
        }
        for _ in 0..n / 4 {
            xs.push(T::of(rng.unit() * 4.0));
            ys.push(T::of((rng.unit() - 0.5) * 200.0));
        }
        for vector in [true, false] {
            let what = format!("Pow {} {}", T::TY, if vector { "vector" } else { "scalar" });
            let got = run(Op::B(BinaryOp::Pow), vector, &xs, &ys);
            check(&what, &xs, Some(&ys), &got, |i| powf(xs[i], ys[i]), 4, None);
        }
    }

    #[test]
    fn pow_follows_c99() {
        check_pow::<f32>(f32::powf, n() / 2);
        check_pow::<f64>(f64::powf, n() / 2);
    }
}
