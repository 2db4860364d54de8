//! The cost model. A node costs the work it does per element times the
//! elements it touches, with symbolic dimensions counted as
//! [`SYMBOLIC_DIM`]. Elementwise ops are fused into kernels later, so they
//! cost their arithmetic only, not a pass over memory; reductions, matmuls
//! and data movement cost the memory they read and write.
//!
//! Stable forms win by construction: the fused stable op (`log1p`,
//! `logsumexp`, `log_softmax`, `softplus`) costs less than the naive chain
//! it replaces, and negation is the cheapest op, so `sigmoid(-x)` beats
//! `1 - sigmoid(x)` and `-softplus(-x)` beats `log(sigmoid(x))`. The
//! weights that make this hold are noted where they are set; the
//! stabilization tests in `tests/rules.rs` check the extracted form.

use tx_ir::{BinaryOp, Dim, ReduceOp, Type, UnaryOp};

use crate::analysis::TxGraph;
use crate::lang::{Head, TxNode};

/// The size a symbolic dimension (a batch) is assumed to have.
pub const SYMBOLIC_DIM: f64 = 128.0;

/// Elements of a type, symbols counted as [`SYMBOLIC_DIM`].
pub fn elements(ty: &Type) -> f64 {
    ty.shape.dims().iter().map(|d| if let Dim::Known(n) = d { *n as f64 } else { SYMBOLIC_DIM }).product()
}

/// Work per element of an elementwise op.
pub fn unary_weight(op: UnaryOp) -> f64 {
    match op {
        UnaryOp::Neg | UnaryOp::Not => 0.5,
        UnaryOp::Abs | UnaryOp::Relu | UnaryOp::Sign => 1.0,
        // Below `mul` (1) and `div` (2), which read a second operand, so
        // that `x * x` and `1 / x` become `square(x)` and `reciprocal(x)`.
        UnaryOp::Square => 0.9,
        UnaryOp::Reciprocal => 1.5,
        UnaryOp::Sqrt => 2.0,
        UnaryOp::Exp
        | UnaryOp::Log
        | UnaryOp::Log1p
        | UnaryOp::Expm1
        | UnaryOp::Tanh
        | UnaryOp::Sigmoid
        | UnaryOp::Softplus
        | UnaryOp::Sin
        | UnaryOp::Cos => 4.0,
    }
}

pub fn binary_weight(op: BinaryOp) -> f64 {
    match op {
        BinaryOp::Add
        | BinaryOp::Sub
        | BinaryOp::Mul
        | BinaryOp::Max
        | BinaryOp::Min
        | BinaryOp::Eq
        | BinaryOp::Ne
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge
        | BinaryOp::And
        | BinaryOp::Or => 1.0,
        BinaryOp::Div => 2.0,
        BinaryOp::Pow => 8.0,
    }
}

/// The cost of one e-node of a class of type `result`, on its own (the
/// extractor adds its operands').
pub fn node_cost(egraph: &TxGraph, node: &TxNode, result: Option<&Type>) -> f64 {
    let operand_elements =
        |k: usize| node.operands().get(k).and_then(|&c| egraph[c].data.ty.as_ref()).map_or(1.0, elements);
    let out =
        result.map(elements).unwrap_or_else(|| (0..node.operands().len()).map(operand_elements).fold(1.0, f64::max));
    // Memory traffic in elements: what a non-fused op reads and writes.
    let traffic = || (0..node.operands().len()).map(operand_elements).sum::<f64>() + out;
    match &node.head {
        Head::Leaf(_) | Head::Const(..) | Head::Attr(_) => 0.0,
        Head::Unary(op) => unary_weight(*op) * out,
        Head::Binary(op) => binary_weight(*op) * out,
        Head::Where | Head::Cast => out,
        // Free at run time, but not free: removing it is better.
        Head::StopGradient => 0.1 * out,
        Head::Reduce(op) => {
            let weight = match op {
                ReduceOp::Sum | ReduceOp::Mean | ReduceOp::Max | ReduceOp::Min => 1.0,
                // Below `exp` (4) plus `sum` (1) per element, so that
                // `log(sum(exp(x)))` becomes `logsumexp(x)`.
                ReduceOp::LogSumExp => 4.5,
            };
            weight * operand_elements(0) + out
        }
        Head::ArgMax => operand_elements(0) + out,
        // Below the naive chains they replace: `exp(x) / sum(exp(x))` costs
        // at least 4 + 1 + 2 per element and `x - logsumexp(x)` 1 + 4.5.
        Head::Softmax | Head::LogSoftmax => 5.0 * out,
        Head::MatMul => {
            // 2 m k n flops, at several per cycle, plus the traffic.
            let flops = match (node.operands().first(), node.operands().get(1)) {
                (Some(&a), Some(&b)) => match (egraph[a].data.ty.as_ref(), egraph[b].data.ty.as_ref()) {
                    (Some(ta), Some(tb)) => {
                        let k = ta.shape.dims().last().map_or(1.0, |d| d.known().map_or(SYMBOLIC_DIM, |n| n as f64));
                        let _ = tb;
                        2.0 * out * k
                    }
                    _ => out,
                },
                _ => out,
            };
            0.25 * flops + traffic()
        }
        Head::Reshape => 0.5 * out,
        // A folded constant (a splat) reads nothing: it costs less than any
        // arithmetic op, so `x * 0` on i64 becomes the zeros it is.
        Head::Broadcast if node.operands().first().is_some_and(|&c| egraph[c].data.constant.is_some()) => 0.5 * out,
        Head::Transpose | Head::Broadcast | Head::Slice | Head::Unslice | Head::Concat | Head::OneHot => traffic(),
    }
}
