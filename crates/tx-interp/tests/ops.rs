//! The value of every op, for every element type its type rule allows,
//! against closed forms or numpy. Expected values marked "numpy" were
//! computed once with numpy 2.4 (float64 unless stated) and pasted in.
//!
//! Every case goes through `check`: it declares one input per argument with
//! the argument's exact type, applies the op, evaluates, and compares.
//! f64 results must agree to 1e-12 (relative), f32 results to 1e-6 against
//! the f64 truth, i64 and bool results exactly; NaN matches NaN.

// numpy values are pasted as printed, ln 2 and e among them.
#![allow(clippy::approx_constant)]

use ndarray::{ArrayD, IxDyn};
use tx_interp::{Tensor, evaluate};
use tx_ir::{AxisSlice, BinaryOp, DType, Dim, Distribution, Graph, NodeId, Op, ReduceOp, Scalar, Shape, Type, UnaryOp};
use tx_tensor::rng::Rng;

use DType::{Bool, F32, F64, I64};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// A float (or small integer) tensor from f64 values in row-major order.
fn t(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
    Tensor::from_f64s(dtype, shape, values).expect("the value count matches the shape")
}

fn ints(shape: &[usize], values: &[i64]) -> Tensor {
    Tensor::I64(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).expect("count matches shape"))
}

/// One argument, borrowed (most checks reuse their input).
fn one(x: &Tensor) -> &[Tensor] {
    std::slice::from_ref(x)
}

fn bools(shape: &[usize], values: &[bool]) -> Tensor {
    Tensor::Bool(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).expect("count matches shape"))
}

/// `op` applied to inputs holding `args`, compared with `expect`.
fn check(op: Op, args: &[Tensor], expect: Tensor) {
    let types: Vec<String> = args.iter().map(|arg| arg.ty().to_string()).collect();
    let what = format!("{}{} of ({})", op.name(), op.attributes(), types.join(", "));
    check_graph(&what, |g, xs| g.add(op, xs).expect("the op type-checks"), args, expect);
}

/// The node `build` adds on top of one input per argument, compared with `expect`.
fn check_graph(what: &str, build: impl FnOnce(&mut Graph, &[NodeId]) -> NodeId, args: &[Tensor], expect: Tensor) {
    let got = eval_graph(build, args);
    assert_close(&got, &expect, what);
}

fn eval_graph(build: impl FnOnce(&mut Graph, &[NodeId]) -> NodeId, args: &[Tensor]) -> Tensor {
    let mut g = Graph::new();
    let names: Vec<String> = (0..args.len()).map(|i| format!("x{i}")).collect();
    let xs: Vec<NodeId> =
        names.iter().zip(args).map(|(name, arg)| g.input(name, arg.ty()).expect("fresh name")).collect();
    let y = build(&mut g, &xs);
    tx_ir::verify(&g).expect("the test graph verifies");
    let inputs: Vec<(&str, &Tensor)> = names.iter().map(String::as_str).zip(args).collect();
    match evaluate(&g, &inputs, &[], &[y]) {
        Ok(mut values) => values.remove(0),
        Err(e) => panic!("evaluation failed: {e}"),
    }
}

fn assert_close(got: &Tensor, expect: &Tensor, what: &str) {
    assert_eq!(got.dtype(), expect.dtype(), "{what}: element type");
    assert_eq!(got.shape(), expect.shape(), "{what}: shape");
    let (rtol, atol) = match got.dtype() {
        F32 => (1e-6, 1e-7),
        F64 => (1e-12, 1e-15),
        I64 | Bool => {
            assert_eq!(got, expect, "{what}");
            return;
        }
    };
    for (i, (g, e)) in got.to_f64s().into_iter().zip(expect.to_f64s()).enumerate() {
        let close = (g.is_nan() && e.is_nan()) || g == e || (g - e).abs() <= rtol * e.abs() + atol;
        assert!(close, "{what}: element {i} is {g}, expected {e}\ngot {got:?}");
    }
}

// ---------------------------------------------------------------- unary

const X: [f64; 6] = [-2.5, -1.0, 0.0, 0.5, 1.0, 3.0];

/// numpy: f(np.array(X)) for each function; sigmoid as 1 / (1 + exp(-x)),
/// softplus as np.logaddexp(0, x), relu as np.maximum(x, 0).
#[rustfmt::skip]
const UNARY_AT_X: [(UnaryOp, [f64; 6]); 16] = [
    (UnaryOp::Neg, [2.5, 1.0, -0.0, -0.5, -1.0, -3.0]),
    (UnaryOp::Abs, [2.5, 1.0, 0.0, 0.5, 1.0, 3.0]),
    (UnaryOp::Exp, [0.0820849986238988, 0.36787944117144233, 1.0, 1.6487212707001282, 2.718281828459045, 20.085536923187668]),
    (UnaryOp::Log, [NAN, NAN, -INF, -0.6931471805599453, 0.0, 1.0986122886681098]),
    (UnaryOp::Log1p, [NAN, -INF, 0.0, 0.4054651081081644, 0.6931471805599453, 1.3862943611198906]),
    (UnaryOp::Expm1, [-0.9179150013761012, -0.6321205588285577, 0.0, 0.6487212707001282, 1.7182818284590453, 19.085536923187668]),
    (UnaryOp::Sqrt, [NAN, NAN, 0.0, 0.7071067811865476, 1.0, 1.7320508075688772]),
    (UnaryOp::Tanh, [-0.9866142981514303, -0.7615941559557649, 0.0, 0.46211715726000974, 0.7615941559557649, 0.9950547536867305]),
    (UnaryOp::Sigmoid, [0.07585818002124355, 0.2689414213699951, 0.5, 0.6224593312018546, 0.7310585786300049, 0.9525741268224334]),
    (UnaryOp::Softplus, [0.07888973429254963, 0.31326168751822286, 0.6931471805599453, 0.9740769841801067, 1.3132616875182228, 3.048587351573742]),
    (UnaryOp::Relu, [0.0, 0.0, 0.0, 0.5, 1.0, 3.0]),
    (UnaryOp::Sin, [-0.5984721441039565, -0.8414709848078965, 0.0, 0.479425538604203, 0.8414709848078965, 0.1411200080598672]),
    (UnaryOp::Cos, [-0.8011436155469337, 0.5403023058681398, 1.0, 0.8775825618903728, 0.5403023058681398, -0.9899924966004454]),
    (UnaryOp::Sign, [-1.0, -1.0, 0.0, 1.0, 1.0, 1.0]),
    (UnaryOp::Square, [6.25, 1.0, 0.0, 0.25, 1.0, 9.0]),
    (UnaryOp::Reciprocal, [-0.4, -1.0, INF, 2.0, 1.0, 0.3333333333333333]),
];

#[test]
fn unary_float_ops_match_numpy() {
    for (op, expect) in UNARY_AT_X {
        for dtype in [F32, F64] {
            check(Op::Unary(op), &[t(dtype, &[2, 3], &X)], t(dtype, &[2, 3], &expect));
        }
    }
}

#[test]
fn unary_float_ops_at_nan_and_infinities() {
    let x = [NAN, -INF, INF];
    let table: [(UnaryOp, [f64; 3]); 6] = [
        (UnaryOp::Relu, [NAN, 0.0, INF]),
        (UnaryOp::Sign, [NAN, -1.0, 1.0]),
        (UnaryOp::Sigmoid, [NAN, 0.0, 1.0]),
        (UnaryOp::Softplus, [NAN, 0.0, INF]),
        (UnaryOp::Tanh, [NAN, -1.0, 1.0]),
        (UnaryOp::Exp, [NAN, 0.0, INF]),
    ];
    for (op, expect) in table {
        for dtype in [F32, F64] {
            check(Op::Unary(op), &[t(dtype, &[3], &x)], t(dtype, &[3], &expect));
        }
    }
    // numpy: np.sign(-0.0) and np.maximum(-0.0, 0) (relu) are +0.0.
    for op in [UnaryOp::Sign, UnaryOp::Relu] {
        let got = eval_graph(|g, xs| g.add(Op::Unary(op), xs).unwrap(), &[t(F64, &[1], &[-0.0])]);
        assert!(got.to_f64s()[0].is_sign_positive(), "{} of -0.0 is {got:?}", op.name());
    }
}

#[test]
fn unary_integer_ops_wrap() {
    let x = ints(&[5], &[i64::MIN, -3, 0, 5, 3037000500]);
    // Python: ((v + 2**63) % 2**64) - 2**63 gives the wrapped value.
    check(Op::Unary(UnaryOp::Neg), one(&x), ints(&[5], &[i64::MIN, 3, 0, -5, -3037000500]));
    check(Op::Unary(UnaryOp::Abs), one(&x), ints(&[5], &[i64::MIN, 3, 0, 5, 3037000500]));
    check(Op::Unary(UnaryOp::Relu), one(&x), ints(&[5], &[0, 0, 0, 5, 3037000500]));
    check(Op::Unary(UnaryOp::Sign), one(&x), ints(&[5], &[-1, -1, 0, 1, 1]));
    check(Op::Unary(UnaryOp::Square), &[x], ints(&[5], &[0, 9, 0, 25, -9223372036709301616]));
}

#[test]
fn not_negates_bools() {
    check(Op::Unary(UnaryOp::Not), &[bools(&[2, 1], &[true, false])], bools(&[2, 1], &[false, true]));
}

#[test]
fn unary_ops_keep_empty_and_unit_shapes() {
    for op in UnaryOp::ALL {
        let dtype = if op == UnaryOp::Not { Bool } else { F64 };
        check(Op::Unary(op), &[t(dtype, &[0, 3], &[])], t(dtype, &[0, 3], &[]));
    }
    check(Op::Unary(UnaryOp::Exp), &[t(F32, &[1, 1], &[0.0])], t(F32, &[1, 1], &[1.0]));
    check(Op::Unary(UnaryOp::Log), &[t(F64, &[], &[1.0])], t(F64, &[], &[0.0]));
}

// ---------------------------------------------------------------- binary

/// numpy: f(np.array([[1.5], [-2.0]]), np.array([0.5, -1.0, 2.0])).ravel()
#[rustfmt::skip]
const BINARY_BROADCAST: [(BinaryOp, [f64; 6]); 7] = [
    (BinaryOp::Add, [2.0, 0.5, 3.5, -1.5, -3.0, 0.0]),
    (BinaryOp::Sub, [1.0, 2.5, -0.5, -2.5, -1.0, -4.0]),
    (BinaryOp::Mul, [0.75, -1.5, 3.0, -1.0, 2.0, -4.0]),
    (BinaryOp::Div, [3.0, -1.5, 0.75, -4.0, 2.0, -1.0]),
    (BinaryOp::Pow, [1.224744871391589, 0.6666666666666666, 2.25, NAN, -0.5, 4.0]),
    (BinaryOp::Max, [1.5, 1.5, 2.0, 0.5, -1.0, 2.0]),
    (BinaryOp::Min, [0.5, -1.0, 1.5, -2.0, -2.0, -2.0]),
];

#[test]
fn binary_float_ops_broadcast_like_numpy() {
    for (op, expect) in BINARY_BROADCAST {
        for dtype in [F32, F64] {
            let args = [t(dtype, &[2, 1], &[1.5, -2.0]), t(dtype, &[3], &[0.5, -1.0, 2.0])];
            check(Op::Binary(op), &args, t(dtype, &[2, 3], &expect));
        }
    }
}

/// numpy, on [[1.5], [-2.0]] and [0.5, -1.0, 2.0] (and on the same as integers):
#[rustfmt::skip]
const COMPARE_BROADCAST: [(BinaryOp, [bool; 6]); 6] = [
    (BinaryOp::Eq, [false; 6]),
    (BinaryOp::Ne, [true; 6]),
    (BinaryOp::Lt, [false, false, true, true, true, true]),
    (BinaryOp::Le, [false, false, true, true, true, true]),
    (BinaryOp::Gt, [true, true, false, false, false, false]),
    (BinaryOp::Ge, [true, true, false, false, false, false]),
];

/// numpy, on [1, nan, 2, nan] and [1, 1, 3, nan]:
#[rustfmt::skip]
const COMPARE_NAN: [(BinaryOp, [bool; 4]); 6] = [
    (BinaryOp::Eq, [true, false, false, false]),
    (BinaryOp::Ne, [false, true, true, true]),
    (BinaryOp::Lt, [false, false, true, false]),
    (BinaryOp::Le, [true, false, true, false]),
    (BinaryOp::Gt, [false, false, false, false]),
    (BinaryOp::Ge, [true, false, false, false]),
];

#[test]
fn comparisons_give_bools_and_nan_compares_false_except_ne() {
    for (op, expect) in COMPARE_BROADCAST {
        for dtype in [F32, F64] {
            let args = [t(dtype, &[2, 1], &[1.5, -2.0]), t(dtype, &[3], &[0.5, -1.0, 2.0])];
            check(Op::Binary(op), &args, bools(&[2, 3], &expect));
        }
        let args = [ints(&[2, 1], &[1, -2]), ints(&[3], &[0, -1, 2])];
        check(Op::Binary(op), &args, bools(&[2, 3], &expect));
    }
    for (op, expect) in COMPARE_NAN {
        let args = [t(F64, &[4], &[1.0, NAN, 2.0, NAN]), t(F64, &[4], &[1.0, 1.0, 3.0, NAN])];
        check(Op::Binary(op), &args, bools(&[4], &expect));
    }
}

#[test]
fn maximum_and_minimum_propagate_nan() {
    // numpy: np.maximum([nan, 1, 2], [1, nan, 1]) == [nan, nan, 2]; minimum gives [nan, nan, 1].
    for dtype in [F32, F64] {
        let args = [t(dtype, &[3], &[NAN, 1.0, 2.0]), t(dtype, &[3], &[1.0, NAN, 1.0])];
        check(Op::Binary(BinaryOp::Max), &args, t(dtype, &[3], &[NAN, NAN, 2.0]));
        check(Op::Binary(BinaryOp::Min), &args, t(dtype, &[3], &[NAN, NAN, 1.0]));
    }
}

#[test]
fn binary_integer_ops_wrap_and_floor() {
    let a = ints(&[2, 1], &[7, -7]);
    let b = ints(&[3], &[2, -2, 3]);
    let args = [a, b];
    check(Op::Binary(BinaryOp::Add), &args, ints(&[2, 3], &[9, 5, 10, -5, -9, -4]));
    check(Op::Binary(BinaryOp::Sub), &args, ints(&[2, 3], &[5, 9, 4, -9, -5, -10]));
    check(Op::Binary(BinaryOp::Mul), &args, ints(&[2, 3], &[14, -14, 21, -14, 14, -21]));
    // Python: [[7], [-7]] // [2, -2, 3] == [[3, -4, 2], [-4, 3, -3]]
    check(Op::Binary(BinaryOp::Div), &args, ints(&[2, 3], &[3, -4, 2, -4, 3, -3]));
    // 7**2, 7**-2 (integer part 0), 7**3; (-7)**2, 0, (-7)**3
    check(Op::Binary(BinaryOp::Pow), &args, ints(&[2, 3], &[49, 0, 343, 49, 0, -343]));
    check(Op::Binary(BinaryOp::Max), &args, ints(&[2, 3], &[7, 7, 7, 2, -2, 3]));
    check(Op::Binary(BinaryOp::Min), &args, ints(&[2, 3], &[2, -2, 3, -7, -7, -7]));

    let edge = [ints(&[4], &[i64::MAX, i64::MIN, 5, -1]), ints(&[4], &[1, -1, 0, -3])];
    check(Op::Binary(BinaryOp::Add), &edge, ints(&[4], &[i64::MIN, i64::MAX, 5, -4]));
    check(Op::Binary(BinaryOp::Sub), &edge, ints(&[4], &[i64::MAX - 1, i64::MIN + 1, 5, 2]));
    check(Op::Binary(BinaryOp::Mul), &edge, ints(&[4], &[i64::MAX, i64::MIN, 0, 3]));
    // Division by zero gives 0; i64::MIN // -1 wraps to i64::MIN; -1 // -3 == 0.
    check(Op::Binary(BinaryOp::Div), &edge, ints(&[4], &[i64::MAX, i64::MIN, 0, 0]));
    // Negative exponents: 1 for base 1, ±1 for base -1, 0 otherwise.
    let powers = [ints(&[5], &[1, -1, -1, 2, 0]), ints(&[5], &[-7, -3, -4, -1, -2])];
    check(Op::Binary(BinaryOp::Pow), &powers, ints(&[5], &[1, -1, 1, 0, 0]));
    // 2**64 wraps to 0, 3**0 == 1.
    check(Op::Binary(BinaryOp::Pow), &[ints(&[2], &[2, 3]), ints(&[2], &[64, 0])], ints(&[2], &[0, 1]));
}

#[test]
fn bool_binary_ops() {
    let args = [bools(&[2, 1], &[true, false]), bools(&[2], &[true, false])];
    check(Op::Binary(BinaryOp::And), &args, bools(&[2, 2], &[true, false, false, false]));
    check(Op::Binary(BinaryOp::Or), &args, bools(&[2, 2], &[true, true, true, false]));
    check(Op::Binary(BinaryOp::Eq), &args, bools(&[2, 2], &[true, false, false, true]));
    check(Op::Binary(BinaryOp::Ne), &args, bools(&[2, 2], &[false, true, true, false]));
}

#[test]
fn binary_ops_on_empty_scalar_and_unit_shapes() {
    for op in BinaryOp::ALL {
        let dtype = match op.domain() {
            tx_ir::Domain::Bool => Bool,
            _ => F32,
        };
        let out = if op.is_comparison() { Bool } else { dtype };
        check(Op::Binary(op), &[t(dtype, &[0, 3], &[]), t(dtype, &[3], &[1.0, 0.0, 1.0])], t(out, &[0, 3], &[]));
        check(Op::Binary(op), &[t(dtype, &[1], &[1.0]), t(dtype, &[0], &[])], t(out, &[0], &[]));
    }
    check(
        Op::Binary(BinaryOp::Mul),
        &[t(F64, &[], &[2.0]), t(F64, &[2, 1], &[3.0, 4.0])],
        t(F64, &[2, 1], &[6.0, 8.0]),
    );
    check(Op::Binary(BinaryOp::Sub), &[ints(&[1, 1], &[10]), ints(&[], &[4])], ints(&[1, 1], &[6]));
}

#[test]
fn where_selects_with_three_way_broadcasting() {
    let cond = bools(&[2, 1], &[true, false]);
    check(
        Op::Where,
        &[cond.clone(), t(F32, &[3], &[1.0, 2.0, 3.0]), t(F32, &[], &[0.0])],
        t(F32, &[2, 3], &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]),
    );
    check(Op::Where, &[cond.clone(), ints(&[1], &[7]), ints(&[2, 1], &[8, 9])], ints(&[2, 1], &[7, 9]));
    check(
        Op::Where,
        &[cond, bools(&[], &[true]), bools(&[3], &[false, true, false])],
        bools(&[2, 3], &[true, true, true, false, true, false]),
    );
    check(Op::Where, &[bools(&[0, 1], &[]), t(F64, &[2], &[1.0, 2.0]), t(F64, &[], &[0.0])], t(F64, &[0, 2], &[]));
}

// ---------------------------------------------------------------- reduce

fn reduce(op: ReduceOp, axes: &[usize], keepdims: bool) -> Op {
    Op::Reduce { op, axes: axes.to_vec(), keepdims }
}

/// numpy's x for the reduction tests.
const R: [f64; 6] = [1.0, -2.0, 3.0, 4.0, 0.5, -6.0];

/// numpy: x = np.array([[1, -2, 3], [4, 0.5, -6]]) (that is, R);
/// logsumexp as m + log(sum(exp(x - m))) with m the maximum.
#[rustfmt::skip]
const REDUCTIONS_OF_R: [(ReduceOp, &[usize], &[f64]); 15] = [
    (ReduceOp::Sum, &[0], &[5.0, -1.5, -3.0]),
    (ReduceOp::Sum, &[1], &[2.0, -1.5]),
    (ReduceOp::Sum, &[0, 1], &[0.5]),
    (ReduceOp::Mean, &[0], &[2.5, -0.75, -1.5]),
    (ReduceOp::Mean, &[1], &[0.6666666666666666, -0.5]),
    (ReduceOp::Mean, &[0, 1], &[0.08333333333333333]),
    (ReduceOp::Max, &[0], &[4.0, 0.5, 3.0]),
    (ReduceOp::Max, &[1], &[3.0, 4.0]),
    (ReduceOp::Max, &[0, 1], &[4.0]),
    (ReduceOp::Min, &[0], &[1.0, -2.0, -6.0]),
    (ReduceOp::Min, &[1], &[-2.0, -6.0]),
    (ReduceOp::Min, &[0, 1], &[-6.0]),
    (ReduceOp::LogSumExp, &[0], &[4.048587351573742, 0.5788897342925495, 3.000123402189723]),
    (ReduceOp::LogSumExp, &[1], &[3.1328452337275756, 4.029794486458149]),
    (ReduceOp::LogSumExp, &[0, 1], &[4.371831137917677]),
];

#[test]
fn reductions_match_numpy() {
    for (op, axes, expect) in REDUCTIONS_OF_R {
        let reduced = |keep: bool| -> Vec<usize> {
            [2, 3]
                .into_iter()
                .enumerate()
                .filter_map(|(axis, n)| match (axes.contains(&axis), keep) {
                    (false, _) => Some(n),
                    (true, true) => Some(1),
                    (true, false) => None,
                })
                .collect()
        };
        for dtype in [F32, F64] {
            let x = t(dtype, &[2, 3], &R);
            check(reduce(op, axes, false), one(&x), t(dtype, &reduced(false), expect));
            check(reduce(op, axes, true), one(&x), t(dtype, &reduced(true), expect));
        }
    }
}

#[test]
fn integer_reductions_and_rank_three() {
    // numpy: x3 = (np.arange(24).reshape(2, 3, 4) % 7) - 3
    let x3 = [-3, -2, -1, 0, 1, 2, 3, -3, -2, -1, 0, 1, 2, 3, -3, -2, -1, 0, 1, 2, 3, -3, -2, -1];
    let x = ints(&[2, 3, 4], &x3);
    // x3.sum(axis=(0, 2), keepdims=True) == [[[-6], [5], [-5]]]
    check(reduce(ReduceOp::Sum, &[0, 2], true), one(&x), ints(&[1, 3, 1], &[-6, 5, -5]));
    check(reduce(ReduceOp::Max, &[0, 2], false), one(&x), ints(&[3], &[3, 3, 3]));
    // x3.min(axis=1)
    check(reduce(ReduceOp::Min, &[1], false), &[x], ints(&[2, 4], &[-3, -2, -1, -3, -1, -3, -3, -2]));
    check(reduce(ReduceOp::Sum, &[0], false), &[ints(&[2], &[i64::MAX, 1])], ints(&[], &[i64::MIN]));
    let x = t(F64, &[2, 3, 4], &x3.map(|v| v as f64));
    check(reduce(ReduceOp::Mean, &[0, 2], false), &[x], t(F64, &[3], &[-0.75, 0.625, -0.625]));
}

#[test]
fn reductions_over_nothing_and_over_empty_axes() {
    // No axes: the identity, whatever the op.
    for op in ReduceOp::ALL {
        check(reduce(op, &[], false), &[t(F64, &[2, 3], &R)], t(F64, &[2, 3], &R));
        check(reduce(op, &[], true), &[t(F32, &[], &[2.5])], t(F32, &[], &[2.5]));
    }
    // numpy: np.zeros((2, 0)).sum(axis=1) == [0, 0]; .mean(axis=1) == [nan, nan].
    check(reduce(ReduceOp::Sum, &[1], false), &[t(F32, &[2, 0], &[])], t(F32, &[2], &[0.0, 0.0]));
    check(reduce(ReduceOp::Sum, &[1], true), &[ints(&[2, 0], &[])], ints(&[2, 1], &[0, 0]));
    check(reduce(ReduceOp::Mean, &[1], false), &[t(F64, &[2, 0], &[])], t(F64, &[2], &[NAN, NAN]));
    // Reducing the non-empty axis of an empty tensor gives an empty result.
    check(reduce(ReduceOp::Max, &[1], false), &[t(F64, &[0, 3], &[])], t(F64, &[0], &[]));
    check(reduce(ReduceOp::Sum, &[0], false), &[t(F64, &[0, 3], &[])], t(F64, &[3], &[0.0; 3]));
    // Size-1 axes.
    check(reduce(ReduceOp::LogSumExp, &[1], false), &[t(F64, &[2, 1], &[0.5, -3.0])], t(F64, &[2], &[0.5, -3.0]));
}

#[test]
fn reductions_propagate_nan_and_infinities() {
    check(reduce(ReduceOp::Max, &[0], false), &[t(F64, &[3], &[1.0, NAN, 2.0])], t(F64, &[], &[NAN]));
    check(reduce(ReduceOp::Min, &[0], false), &[t(F32, &[3], &[1.0, NAN, 2.0])], t(F32, &[], &[NAN]));
    check(reduce(ReduceOp::LogSumExp, &[0], false), &[t(F64, &[2], &[-INF, -INF])], t(F64, &[], &[-INF]));
    check(reduce(ReduceOp::LogSumExp, &[0], false), &[t(F64, &[2], &[INF, 1.0])], t(F64, &[], &[INF]));
    check(reduce(ReduceOp::LogSumExp, &[0], false), &[t(F64, &[2], &[-INF, 1.0])], t(F64, &[], &[1.0]));
}

#[test]
fn f32_sums_accumulate_in_f64() {
    // 1e8 followed by a thousand ones: an f32 accumulator stays at 1e8 (its
    // spacing there is 8), an f64 one reaches 100001000, which f32 holds.
    let mut values = vec![1.0; 1001];
    values[0] = 1e8;
    check(reduce(ReduceOp::Sum, &[0], false), &[t(F32, &[1001], &values)], t(F32, &[], &[100_001_000.0]));
    check(reduce(ReduceOp::Mean, &[0], false), &[t(F32, &[1001], &values)], t(F32, &[], &[100_001_000.0 / 1001.0]));
}

#[test]
fn argmax_takes_the_first_maximum() {
    let x = t(F64, &[2, 3], &R);
    // numpy: x.argmax(axis=1) == [2, 0]; x.argmax(axis=0) == [1, 1, 0]; x.argmax() == 3
    check(Op::ArgMax { axis: Some(1), keepdims: false }, one(&x), ints(&[2], &[2, 0]));
    check(Op::ArgMax { axis: Some(0), keepdims: true }, one(&x), ints(&[1, 3], &[1, 1, 0]));
    check(Op::ArgMax { axis: None, keepdims: false }, one(&x), ints(&[], &[3]));
    check(Op::ArgMax { axis: None, keepdims: true }, &[x], ints(&[1, 1], &[3]));
    // Ties go to the first; NaN is the maximum (numpy: argmax([1, nan, 3, nan]) == 1).
    check(Op::ArgMax { axis: Some(0), keepdims: false }, &[ints(&[4], &[2, 5, 5, 1])], ints(&[], &[1]));
    check(Op::ArgMax { axis: Some(0), keepdims: false }, &[t(F32, &[4], &[1.0, NAN, 3.0, NAN])], ints(&[], &[1]));
    check(Op::ArgMax { axis: None, keepdims: false }, &[t(F64, &[], &[7.0])], ints(&[], &[0]));
    // An empty tensor along another axis gives an empty result.
    check(Op::ArgMax { axis: Some(1), keepdims: false }, &[t(F64, &[0, 2], &[])], ints(&[0], &[]));
}

/// numpy, on R: e = np.exp(x - x.max(axis, keepdims=True)); e / e.sum(axis, keepdims=True),
/// and its log.
#[rustfmt::skip]
const SOFTMAX_OF_R: [(usize, [f64; 6], [f64; 6]); 2] = [
    (
        0,
        [0.04742587317756679, 0.07585818002124356, 0.9998766054240137, 0.9525741268224334, 0.9241418199787566, 0.00012339457598623172],
        [-3.048587351573742, -2.5788897342925496, -0.0001234021897233402, -0.04858735157374191, -0.07888973429254952, -9.000123402189724],
    ),
    (
        1,
        [0.11849965453500959, 0.005899750401902781, 0.8756005950630876, 0.9706449937424646, 0.029310939042995143, 4.4067214540215444e-05],
        [-2.1328452337275756, -5.132845233727576, -0.13284523372757556, -0.029794486458149045, -3.529794486458149, -10.02979448645815],
    ),
];

#[test]
fn softmax_and_log_softmax_match_numpy() {
    for dtype in [F32, F64] {
        let x = t(dtype, &[2, 3], &R);
        for (axis, softmax, log_softmax) in SOFTMAX_OF_R {
            check(Op::Softmax { axis }, one(&x), t(dtype, &[2, 3], &softmax));
            check(Op::LogSoftmax { axis }, one(&x), t(dtype, &[2, 3], &log_softmax));
        }
        check(Op::Softmax { axis: 1 }, &[t(dtype, &[2, 0], &[])], t(dtype, &[2, 0], &[]));
        let single = t(dtype, &[1, 2], &[3.0, -1.0]);
        check(Op::LogSoftmax { axis: 0 }, one(&single), t(dtype, &[1, 2], &[0.0, 0.0]));
        check(Op::Softmax { axis: 0 }, one(&single), t(dtype, &[1, 2], &[1.0, 1.0]));
    }
}

// ---------------------------------------------------------------- matmul

#[test]
fn matmul_follows_numpy_for_every_rank() {
    let m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let n = [1.0, -1.0, 0.0, 2.0, 3.0, 1.0];
    for dtype in [F32, F64, I64] {
        // numpy: [[1, 2, 3], [4, 5, 6]] @ [[1, -1], [0, 2], [3, 1]] == [[10, 6], [22, 12]]
        check(Op::MatMul, &[t(dtype, &[2, 3], &m), t(dtype, &[3, 2], &n)], t(dtype, &[2, 2], &[10.0, 6.0, 22.0, 12.0]));
        // [1, 2] @ m == [9, 12, 15]; m @ [1, 0, -1] == [-2, -2]; [1, 2, 3] @ [4, 5, 6] == 32
        check(Op::MatMul, &[t(dtype, &[2], &[1.0, 2.0]), t(dtype, &[2, 3], &m)], t(dtype, &[3], &[9.0, 12.0, 15.0]));
        check(Op::MatMul, &[t(dtype, &[2, 3], &m), t(dtype, &[3], &[1.0, 0.0, -1.0])], t(dtype, &[2], &[-2.0, -2.0]));
        check(
            Op::MatMul,
            &[t(dtype, &[3], &[1.0, 2.0, 3.0]), t(dtype, &[3], &[4.0, 5.0, 6.0])],
            t(dtype, &[], &[32.0]),
        );
        // k = 0 gives zeros; m = 0 or n = 0 gives an empty result.
        check(Op::MatMul, &[t(dtype, &[2, 0], &[]), t(dtype, &[0, 3], &[])], t(dtype, &[2, 3], &[0.0; 6]));
        check(Op::MatMul, &[t(dtype, &[0, 3], &[]), t(dtype, &[3, 2], &n)], t(dtype, &[0, 2], &[]));
        check(Op::MatMul, &[t(dtype, &[1, 1], &[3.0]), t(dtype, &[1, 0], &[])], t(dtype, &[1, 0], &[]));
    }
}

/// numpy: a = np.arange(12).reshape(2, 1, 2, 3) - 5; b = np.arange(18).reshape(3, 3, 2) % 5 - 2;
/// (a @ b).ravel(), of shape (2, 3, 2, 2).
#[rustfmt::skip]
const BATCHED_PRODUCT: [f64; 24] = [
    4.0, 7.0, 4.0, 1.0, 7.0, -5.0, 1.0, -2.0, -5.0, 3.0, -2.0, 0.0,
    4.0, -5.0, 4.0, -11.0, -5.0, 1.0, -11.0, 4.0, 1.0, -3.0, 4.0, -6.0,
];

#[test]
fn batched_matmul_broadcasts_the_batch_axes() {
    let a: Vec<f64> = (0..12).map(|v| f64::from(v - 5)).collect();
    let b: Vec<f64> = (0..18).map(|v| f64::from(v % 5 - 2)).collect();
    for dtype in [F32, F64, I64] {
        let args = [t(dtype, &[2, 1, 2, 3], &a), t(dtype, &[3, 3, 2], &b)];
        check(Op::MatMul, &args, t(dtype, &[2, 3, 2, 2], &BATCHED_PRODUCT));
    }
    // A vector against a batch of matrices: [1, 2] @ [I, 2I] == [[1, 2], [2, 4]].
    let eyes = [1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 2.0];
    let args = [t(F64, &[2], &[1.0, 2.0]), t(F64, &[2, 2, 2], &eyes)];
    check(Op::MatMul, &args, t(F64, &[2, 2], &[1.0, 2.0, 2.0, 4.0]));
    let args = [t(F64, &[0, 2, 2], &[]), t(F64, &[2], &[1.0, 2.0])];
    check(Op::MatMul, &args, t(F64, &[0, 2], &[]));
}

#[test]
fn integer_matmul_wraps() {
    // [[i64::MAX, 1]] @ [[2], [1]] == 2 * i64::MAX + 1, which wraps to -1.
    check(Op::MatMul, &[ints(&[1, 2], &[i64::MAX, 1]), ints(&[2, 1], &[2, 1])], ints(&[1, 1], &[-1]));
}

// ---------------------------------------------------------------- movement

#[test]
fn transpose_permutes_axes() {
    let x: Vec<f64> = (0..6).map(f64::from).collect();
    check(Op::Transpose { perm: vec![1, 0] }, &[t(F32, &[2, 3], &x)], t(F32, &[3, 2], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
    // numpy: np.transpose(np.arange(24).reshape(2, 3, 4), (2, 0, 1)).ravel()
    let x: Vec<i64> = (0..24).collect();
    let expect = [0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23];
    check(Op::Transpose { perm: vec![2, 0, 1] }, &[ints(&[2, 3, 4], &x)], ints(&[4, 2, 3], &expect));
    check(Op::Transpose { perm: vec![1, 0] }, &[bools(&[1, 2], &[true, false])], bools(&[2, 1], &[true, false]));
    check(Op::Transpose { perm: vec![1, 0] }, &[t(F64, &[0, 3], &[])], t(F64, &[3, 0], &[]));
    check(Op::Transpose { perm: vec![] }, &[t(F64, &[], &[1.0])], t(F64, &[], &[1.0]));
}

#[test]
fn reshape_reads_row_major_even_after_a_transpose() {
    let x: Vec<f64> = (0..6).map(f64::from).collect();
    let shape = |dims: &[usize]| Shape::new(dims.iter().copied());
    check(Op::Reshape { shape: shape(&[3, 2]) }, &[t(F64, &[2, 3], &x)], t(F64, &[3, 2], &x));
    check(Op::Reshape { shape: shape(&[6]) }, &[ints(&[2, 3], &[0, 1, 2, 3, 4, 5])], ints(&[6], &[0, 1, 2, 3, 4, 5]));
    check(Op::Reshape { shape: shape(&[]) }, &[bools(&[1, 1], &[true])], bools(&[], &[true]));
    check(Op::Reshape { shape: shape(&[3, 0]) }, &[t(F32, &[0, 3], &[])], t(F32, &[3, 0], &[]));
    // The transpose of [[0, 1, 2], [3, 4, 5]] read row-major is 0, 3, 1, 4, 2, 5.
    check_graph(
        "reshape(transpose(x))",
        |g, xs| {
            let tr = g.add(Op::Transpose { perm: vec![1, 0] }, xs).unwrap();
            g.add(Op::Reshape { shape: shape(&[6]) }, &[tr]).unwrap()
        },
        &[t(F64, &[2, 3], &x)],
        t(F64, &[6], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]),
    );
    // A symbolic reshape: [B, 3] to [3, B] with B = 2.
    let mut g = Graph::new();
    let b = g.input("b", Type::new(F64, Shape::new([Dim::sym("B"), Dim::Known(3)]))).unwrap();
    let y = g.add(Op::Reshape { shape: Shape::new([Dim::Known(3), Dim::sym("B")]) }, &[b]).unwrap();
    let value = t(F64, &[2, 3], &x);
    let got = evaluate(&g, &[("b", &value)], &[], &[y]).unwrap().remove(0);
    assert_close(&got, &t(F64, &[3, 2], &x), "reshape [B, 3] to [3, B]");
}

#[test]
fn broadcast_to_materializes_numpy_broadcasting() {
    let known = |dims: &[usize]| Shape::new(dims.iter().copied());
    check(
        Op::Broadcast { shape: known(&[2, 3]) },
        &[t(F32, &[3], &[1.0, 2.0, 3.0])],
        t(F32, &[2, 3], &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]),
    );
    check(Op::Broadcast { shape: known(&[2, 3]) }, &[ints(&[2, 1], &[4, 5])], ints(&[2, 3], &[4, 4, 4, 5, 5, 5]));
    check(Op::Broadcast { shape: known(&[0, 2]) }, &[bools(&[], &[true])], bools(&[0, 2], &[]));
    check(Op::Broadcast { shape: known(&[1, 1]) }, &[t(F64, &[1], &[7.0])], t(F64, &[1, 1], &[7.0]));
}

#[test]
fn broadcast_to_a_symbolic_shape_uses_the_bindings() {
    let mut g = Graph::new();
    let b = g.input("b", Type::new(F64, Shape::new([Dim::sym("B")]))).unwrap();
    let row = g.input("row", Type::new(F64, Shape::new([3usize]))).unwrap();
    let shape = Shape::new([Dim::sym("B"), Dim::Known(3)]);
    let y = g.add(Op::Broadcast { shape }, &[row]).unwrap();
    let _ = b;
    let bv = t(F64, &[2], &[0.0, 0.0]);
    let rv = t(F64, &[3], &[1.0, 2.0, 3.0]);
    let got = evaluate(&g, &[("b", &bv), ("row", &rv)], &[], &[y]).unwrap().remove(0);
    assert_close(&got, &t(F64, &[2, 3], &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]), "broadcast to [B, 3]");
}

#[test]
fn concat_joins_along_an_axis() {
    let op = |axis| Op::Concat { axis };
    check(
        op(0),
        &[t(F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]), t(F32, &[1, 2], &[5.0, 6.0])],
        t(F32, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    );
    check(op(1), &[ints(&[2, 1], &[1, 2]), ints(&[2, 2], &[3, 4, 5, 6])], ints(&[2, 3], &[1, 3, 4, 2, 5, 6]));
    check(
        op(1),
        &[t(F64, &[2, 0], &[]), t(F64, &[2, 1], &[7.0, 8.0]), t(F64, &[2, 0], &[])],
        t(F64, &[2, 1], &[7.0, 8.0]),
    );
    check(op(0), &[bools(&[1], &[true]), bools(&[2], &[false, true])], bools(&[3], &[true, false, true]));
    check(op(0), &[t(F64, &[0, 3], &[])], t(F64, &[0, 3], &[]));
}

#[test]
fn slice_takes_steps_both_ways() {
    let range = |start, step, len| AxisSlice::Range { start, step, len };
    let x: Vec<i64> = (0..5).collect();
    check(Op::Slice { axes: vec![range(4, -2, 3)] }, &[ints(&[5], &x)], ints(&[3], &[4, 2, 0]));
    check(Op::Slice { axes: vec![range(1, 2, 2)] }, &[ints(&[5], &x)], ints(&[2], &[1, 3]));
    check(Op::Slice { axes: vec![range(3, -1, 4)] }, &[ints(&[5], &x)], ints(&[4], &[3, 2, 1, 0]));
    check(Op::Slice { axes: vec![range(2, 1, 0)] }, &[ints(&[5], &x)], ints(&[0], &[]));
    check(Op::Slice { axes: vec![range(0, -1, 0)] }, &[ints(&[0], &[])], ints(&[0], &[]));
    // numpy: np.arange(12).reshape(3, 4)[1:2, 3::-2] == [[7, 5]]
    let grid: Vec<f64> = (0..12).map(f64::from).collect();
    check(
        Op::Slice { axes: vec![range(1, 1, 1), range(3, -2, 2)] },
        &[t(F32, &[3, 4], &grid)],
        t(F32, &[1, 2], &[7.0, 5.0]),
    );
    check(
        Op::Slice { axes: vec![AxisSlice::Full, range(0, 3, 2)] },
        &[t(F64, &[3, 4], &grid)],
        t(F64, &[3, 2], &[0.0, 3.0, 4.0, 7.0, 8.0, 11.0]),
    );
    check(Op::Slice { axes: vec![range(1, 1, 1)] }, &[bools(&[2], &[true, false])], bools(&[1], &[false]));
}

#[test]
fn unslice_places_values_into_zeros() {
    let range = |start, step, len| AxisSlice::Range { start, step, len };
    let unslice = |axes: Vec<AxisSlice>, dims: &[usize]| Op::Unslice { axes, shape: Shape::new(dims.iter().copied()) };
    // numpy: z = np.zeros(5); z[4::-2] = [1, 2, 3] gives [3, 0, 2, 0, 1]
    check(
        unslice(vec![range(4, -2, 3)], &[5]),
        &[t(F64, &[3], &[1.0, 2.0, 3.0])],
        t(F64, &[5], &[3.0, 0.0, 2.0, 0.0, 1.0]),
    );
    // numpy: z = np.zeros((3, 4)); z[1:2, 3::-2] = [[7, 5]]
    check(
        unslice(vec![range(1, 1, 1), range(3, -2, 2)], &[3, 4]),
        &[t(F32, &[1, 2], &[7.0, 5.0])],
        t(F32, &[3, 4], &[0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 7.0, 0.0, 0.0, 0.0, 0.0]),
    );
    check(unslice(vec![AxisSlice::Full, range(0, 1, 0)], &[2, 3]), &[ints(&[2, 0], &[])], ints(&[2, 3], &[0; 6]));
    check(unslice(vec![range(1, 1, 1)], &[2]), &[bools(&[1], &[true])], bools(&[2], &[false, true]));
}

#[test]
fn one_hot_zeroes_labels_out_of_range() {
    let labels = ints(&[2, 2], &[0, 2, 5, -1]);
    let expect = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    for dtype in DType::ALL {
        check(Op::OneHot { depth: 3, dtype }, one(&labels), t(dtype, &[2, 2, 3], &expect));
    }
    check(Op::OneHot { depth: 4, dtype: F32 }, &[ints(&[0], &[])], t(F32, &[0, 4], &[]));
    check(Op::OneHot { depth: 0, dtype: F32 }, &[ints(&[2], &[0, 1])], t(F32, &[2, 0], &[]));
    check(Op::OneHot { depth: 2, dtype: I64 }, &[ints(&[], &[1])], ints(&[2], &[0, 1]));
}

#[test]
fn cast_truncates_and_tests_nonzero() {
    let x = [-1.7, -0.5, 0.0, 2.9, NAN];
    check(Op::Cast { dtype: I64 }, &[t(F32, &[5], &x)], ints(&[5], &[-1, 0, 0, 2, 0]));
    check(Op::Cast { dtype: Bool }, &[t(F64, &[5], &x)], bools(&[5], &[true, true, false, true, true]));
    check(Op::Cast { dtype: F32 }, &[bools(&[2], &[true, false])], t(F32, &[2], &[1.0, 0.0]));
    check(Op::Cast { dtype: F64 }, &[ints(&[2], &[-3, 1 << 40])], t(F64, &[2], &[-3.0, (1u64 << 40) as f64]));
    check(Op::Cast { dtype: F32 }, &[t(F64, &[1], &[0.1])], t(F32, &[1], &[f64::from(0.1f32)]));
    check(Op::Cast { dtype: Bool }, &[ints(&[0, 2], &[])], bools(&[0, 2], &[]));
}

#[test]
fn stop_gradient_is_the_identity() {
    for arg in [t(F32, &[2], &[1.0, -2.0]), ints(&[1, 1], &[3]), bools(&[0], &[])] {
        check(Op::StopGradient, std::slice::from_ref(&arg), arg.clone());
    }
}

// ---------------------------------------------------------------- leaves

#[test]
fn constants_are_scalars_of_their_dtype() {
    let constant = |value, dtype| Op::Constant { value, dtype };
    check(constant(Scalar::Float(0.1), F32), &[], t(F32, &[], &[f64::from(0.1f32)]));
    check(constant(Scalar::Float(-2.5), F64), &[], t(F64, &[], &[-2.5]));
    check(constant(Scalar::Int(3), F64), &[], t(F64, &[], &[3.0]));
    check(constant(Scalar::Int(i64::MAX), I64), &[], ints(&[], &[i64::MAX]));
    check(constant(Scalar::Bool(true), Bool), &[], bools(&[], &[true]));
}

#[test]
fn random_ops_repeat_their_seeded_stream() {
    let normal = Distribution::Normal { mean: Scalar::Float(1.0), std: Scalar::Float(2.0) };
    let uniform = Distribution::Uniform { low: Scalar::Float(-1.0), high: Scalar::Int(3) };
    let ty = Type::new(F64, Shape::new([2usize, 3]));
    // Row-major draws from Rng::new(seed): mean + std * normal(), low + (high - low) * uniform().
    let mut rng = Rng::new(42);
    let normals: Vec<f64> = (0..6).map(|_| 1.0 + 2.0 * rng.normal()).collect();
    let mut rng = Rng::new(42);
    let uniforms: Vec<f64> = (0..6).map(|_| -1.0 + 4.0 * rng.uniform()).collect();
    check(Op::Random { dist: normal, seed: 42, ty: ty.clone() }, &[], t(F64, &[2, 3], &normals));
    check(Op::Random { dist: uniform, seed: 42, ty }, &[], t(F64, &[2, 3], &uniforms));
    let ty32 = Type::new(F32, Shape::new([2usize, 3]));
    check(Op::Random { dist: normal, seed: 42, ty: ty32 }, &[], t(F32, &[2, 3], &normals));
    check(Op::Random { dist: normal, seed: 42, ty: Type::new(F64, Shape::new([0usize])) }, &[], t(F64, &[0], &[]));
}

#[test]
fn random_op_shapes_follow_the_bindings_and_repeat_across_calls() {
    let mut g = Graph::new();
    let x = g.input("x", Type::new(F32, Shape::new([Dim::sym("B")]))).unwrap();
    let dist = Distribution::Uniform { low: Scalar::Float(0.0), high: Scalar::Float(1.0) };
    let noise = g.add(Op::Random { dist, seed: 7, ty: Type::new(F32, Shape::new([Dim::sym("B")])) }, &[]).unwrap();
    let y = g.add(Op::Binary(BinaryOp::Add), &[x, noise]).unwrap();
    let zeros = t(F32, &[5], &[0.0; 5]);
    let first = evaluate(&g, &[("x", &zeros)], &[], &[y]).unwrap().remove(0);
    let second = evaluate(&g, &[("x", &zeros)], &[], &[y]).unwrap().remove(0);
    assert_eq!(first.shape(), &[5]);
    assert_eq!(first, second);
    assert!(first.to_f64s().iter().all(|v| (0.0..1.0).contains(v)));
}

#[test]
fn params_pass_their_value_through() {
    let mut g = Graph::new();
    let w = g.param("w", Type::new(F64, Shape::new([2usize])), tx_ir::Init::Fill(0.0), false).unwrap();
    let x = g.input("x", Type::new(F64, Shape::new([2usize]))).unwrap();
    let y = g.add(Op::Binary(BinaryOp::Mul), &[w, x]).unwrap();
    let (wv, xv) = (t(F64, &[2], &[2.0, 3.0]), t(F64, &[2], &[5.0, 7.0]));
    let got = evaluate(&g, &[("x", &xv)], &[("w", &wv)], &[y, w, x]).unwrap();
    assert_eq!(got, vec![t(F64, &[2], &[10.0, 21.0]), wv, xv]);
}

// ---------------------------------------------------------------- stability

#[test]
fn stable_forms_stay_finite_at_extremes() {
    // sigmoid(-200) = e^-200 / (1 + e^-200) = 1.3838965267367376e-87 in f64; 0 in f32.
    let got = eval_graph(|g, xs| g.add(Op::Unary(UnaryOp::Sigmoid), xs).unwrap(), &[t(F64, &[2], &[-200.0, 200.0])]);
    let values = got.to_f64s();
    assert!((values[0] / 1.3838965267367376e-87 - 1.0).abs() < 1e-12, "{values:?}");
    assert_eq!(values[1], 1.0);
    check(Op::Unary(UnaryOp::Sigmoid), &[t(F32, &[2], &[-200.0, 200.0])], t(F32, &[2], &[0.0, 1.0]));
    // softplus(1000) = 1000 + log1p(e^-1000) = 1000; softplus(-1000) = e^-1000, which is 0.
    for dtype in [F32, F64] {
        check(Op::Unary(UnaryOp::Softplus), &[t(dtype, &[2], &[1000.0, -1000.0])], t(dtype, &[2], &[1000.0, 0.0]));
        // logsumexp([1000, 1000]) = 1000 + log(2)
        let lse = reduce(ReduceOp::LogSumExp, &[0], false);
        check(lse, &[t(dtype, &[2], &[1000.0, 1000.0])], t(dtype, &[], &[1000.6931471805599]));
        // numpy: b = [1000, 1001, 999]; b - b.max() - log(sum(exp(b - b.max())))
        let expect = [-1.4076059644443804, -0.4076059644443804, -2.4076059644443806];
        check(Op::LogSoftmax { axis: 0 }, &[t(dtype, &[3], &[1000.0, 1001.0, 999.0])], t(dtype, &[3], &expect));
        // softmax of the same logits: exp of the log-softmax.
        let expect = expect.map(f64::exp);
        check(Op::Softmax { axis: 0 }, &[t(dtype, &[3], &[1000.0, 1001.0, 999.0])], t(dtype, &[3], &expect));
    }
}
