//! `GradConfig::feedback`: a matmul sends the gradient to the partner of a
//! weight through the weight's stand-in, and every other gradient stays
//! exact. Checked in f64 against the products written out.

use ndarray::{Array2, Ix2};
use tx_autodiff::{GradConfig, GradError, grad};
use tx_ir::{DType, Dim, Graph, Init, NodeId, Op, ReduceOp, Shape, UnaryOp};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

fn matrix_type(rows: usize, cols: usize) -> tx_ir::Type {
    tx_ir::Type::new(DType::F64, Shape(vec![Dim::Known(rows), Dim::Known(cols)]))
}

fn random(rng: &mut Rng, rows: usize, cols: usize) -> Tensor {
    let values: Vec<f64> = (0..rows * cols).map(|_| rng.normal()).collect();
    Tensor::from_f64s(DType::F64, &[rows, cols], &values).unwrap()
}

fn matrix(t: &Tensor) -> Array2<f64> {
    match t {
        Tensor::F64(a) => a.clone().into_dimensionality::<Ix2>().unwrap(),
        other => panic!("expected an f64 matrix, got {}", other.ty()),
    }
}

fn close(got: &Tensor, expected: &Array2<f64>) -> bool {
    matrix(got).iter().zip(expected).all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs().max(1.0))
}

/// cost = sum(tanh(x V) W): the gradient to V goes back through W.
#[test]
fn the_partner_of_a_weight_gets_its_gradient_through_the_stand_in() {
    let mut g = Graph::new();
    let x = g.input("x", matrix_type(3, 4)).unwrap();
    let v = g.param("V", matrix_type(4, 5), Init::Fill(0.0), false).unwrap();
    let w = g.param("W", matrix_type(5, 2), Init::Fill(0.0), false).unwrap();
    let s = g.param("S", matrix_type(5, 2), Init::Fill(0.0), true).unwrap();
    let a = g.add(Op::MatMul, &[x, v]).unwrap();
    let h = g.add(Op::Unary(UnaryOp::Tanh), &[a]).unwrap();
    let out = g.add(Op::MatMul, &[h, w]).unwrap();
    let cost = g.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0, 1], keepdims: false }, &[out]).unwrap();
    let config = GradConfig { feedback: vec![(w, s)], ..GradConfig::default() };
    let grads: Vec<NodeId> = grad(&mut g, cost, &[v, w], &config).unwrap();
    tx_ir::verify(&g).unwrap();

    let mut rng = Rng::new(11);
    let [xv, vv, wv, sv] = [(3, 4), (4, 5), (5, 2), (5, 2)].map(|(r, c)| random(&mut rng, r, c));
    let params = [("V", &vv), ("W", &wv), ("S", &sv)];
    let values = tx_interp::evaluate(&g, &[("x", &xv)], &params, &grads).unwrap();

    // d cost / d out = ones; dW = h^T ones (exact); dh = ones S^T (not W^T);
    // dV = x^T (dh * (1 − h²)).
    let hv = matrix(&xv).dot(&matrix(&vv)).mapv(f64::tanh);
    let ones = Array2::<f64>::ones((3, 2));
    let d_w = hv.t().dot(&ones);
    let d_h = ones.dot(&matrix(&sv).t());
    let d_v = matrix(&xv).t().dot(&(d_h * hv.mapv(|t| 1.0 - t * t)));
    assert!(close(&values[1], &d_w), "dW is exact: {:?} vs {d_w:?}", values[1]);
    assert!(close(&values[0], &d_v), "dV goes back through S: {:?} vs {d_v:?}", values[0]);
}

#[test]
fn a_stand_in_must_have_its_weights_type() {
    let mut g = Graph::new();
    let x = g.input("x", matrix_type(3, 4)).unwrap();
    let w = g.param("W", matrix_type(4, 2), Init::Fill(0.0), false).unwrap();
    let s = g.param("S", matrix_type(2, 4), Init::Fill(0.0), true).unwrap();
    let out = g.add(Op::MatMul, &[x, w]).unwrap();
    let cost = g.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0, 1], keepdims: false }, &[out]).unwrap();
    let config = GradConfig { feedback: vec![(w, s)], ..GradConfig::default() };
    let error = grad(&mut g, cost, &[w], &config).unwrap_err();
    assert!(matches!(error, GradError::BadCost { node, .. } if node == s), "{error:?}");
    assert_eq!(error.to_string(), "the stand-in for an f64[4, 2] weight must be f64[4, 2], but it is f64[2, 4]");
}
