//! Composite operations built from primitives, shared by the `.tx` frontend
//! and the Rust builder API so that each is defined once. The optimizer sees
//! only the primitives and can still recognise these patterns.

use crate::graph::{Graph, GraphError, NodeId};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::types::{DType, Dim, Shape};

fn error(message: String) -> GraphError {
    GraphError { message }
}

/// A reduction, with the casts numpy users expect: `mean` (and
/// `logsumexp`) of bools or integers computes in f32, and `sum`, `max`,
/// `min` of bools count in i64 (`mean(pred == y)` is an accuracy).
pub fn reduce(
    g: &mut Graph,
    op: ReduceOp,
    x: NodeId,
    mut axes: Vec<usize>,
    keepdims: bool,
) -> Result<NodeId, GraphError> {
    let cast_to = match (op, g.ty(x).dtype) {
        (ReduceOp::Mean | ReduceOp::LogSumExp, DType::Bool | DType::I64) => Some(DType::F32),
        (ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min, DType::Bool) => Some(DType::I64),
        _ => None,
    };
    let x = match cast_to {
        Some(dtype) => g.add(Op::Cast { dtype }, &[x])?,
        None => x,
    };
    axes.sort_unstable();
    g.add(Op::Reduce { op, axes, keepdims }, &[x])
}

/// Per-example cross-entropy `-sum(target * log_softmax(logits), axis)`,
/// where `target` is the one-hot encoding of i64 `labels` (class axis last)
/// or, for float `labels`, the given probabilities.
pub fn cross_entropy(g: &mut Graph, logits: NodeId, labels: NodeId, axis: usize) -> Result<NodeId, GraphError> {
    let logits_ty = g.ty(logits).clone();
    let labels_ty = g.ty(labels).clone();
    if axis >= logits_ty.rank() {
        return Err(error(format!("axis {axis} is out of range for logits {logits_ty}")));
    }
    let target = if labels_ty.dtype == DType::I64 {
        if axis + 1 != logits_ty.rank() {
            return Err(error("with integer labels, `cross_entropy` takes the class axis last".to_string()));
        }
        let expected = Shape(logits_ty.shape.0[..axis].to_vec());
        if labels_ty.shape != expected {
            return Err(error(format!(
                "integer labels for logits {logits_ty} must have shape {expected}, but they are {labels_ty}"
            )));
        }
        let Dim::Known(depth) = logits_ty.shape.0[axis] else {
            return Err(error(format!("the class axis of {logits_ty} must have a known size")));
        };
        g.add(Op::OneHot { depth, dtype: logits_ty.dtype }, &[labels])?
    } else {
        if labels_ty.shape != logits_ty.shape {
            return Err(error(format!(
                "probability labels must have the shape of the logits {logits_ty}, but they are {labels_ty}"
            )));
        }
        labels
    };
    let log_p = g.add(Op::LogSoftmax { axis }, &[logits])?;
    let product = g.add(Op::Binary(BinaryOp::Mul), &[target, log_p])?;
    let sum = g.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![axis], keepdims: false }, &[product])?;
    g.add(Op::Unary(UnaryOp::Neg), &[sum])
}

/// Mean squared error over all elements: `mean(square(prediction - target))`.
pub fn mse(g: &mut Graph, prediction: NodeId, target: NodeId) -> Result<NodeId, GraphError> {
    let diff = g.add(Op::Binary(BinaryOp::Sub), &[prediction, target])?;
    let square = g.add(Op::Unary(UnaryOp::Square), &[diff])?;
    let rank = g.ty(square).rank();
    g.add(Op::Reduce { op: ReduceOp::Mean, axes: (0..rank).collect(), keepdims: false }, &[square])
}
