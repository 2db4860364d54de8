//! Helpers the learning-rule tests share.

use ndarray::{Array2, Ix2};
use tx_ir::{Graph, NodeId};
use tx_tensor::Tensor;

/// Evaluates `nodes` of `graph` on the interpreter, with every parameter
/// given by name.
pub fn evaluate(
    graph: &Graph,
    inputs: &[(String, Tensor)],
    params: &[(String, Tensor)],
    nodes: &[NodeId],
) -> Vec<Tensor> {
    let inputs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let params: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    tx_interp::evaluate(graph, &inputs, &params, nodes).unwrap()
}

/// An f64 matrix out of a tensor.
pub fn matrix(t: &Tensor) -> Array2<f64> {
    match t {
        Tensor::F64(a) => a.clone().into_dimensionality::<Ix2>().unwrap(),
        other => panic!("expected an f64 matrix, got {}", other.ty()),
    }
}
