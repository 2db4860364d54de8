//! The e-class analysis: every class carries its type (dtype and shape),
//! the attribute it is (for attribute leaves) and, when every element is
//! the same known number, that constant. Types make every rewrite
//! shape-correct (a rewrite whose result type differs from the matched
//! class is refused, see [`crate::rules`]); constants give constant folding,
//! computed by the reference interpreter so folded values are exactly what
//! the unoptimized graph computes.

use std::collections::BTreeMap;

use egg::{Analysis, DidMerge, EGraph, Id};
use tx_ir::{DType, Op, Scalar, Type};
use tx_tensor::Tensor;

use crate::lang::{Attr, Head, TxNode};

/// The e-graph tx optimizes.
pub type TxGraph = EGraph<TxNode, TxAnalysis>;

/// What the analysis knows about one class.
#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    /// `None` for attribute classes (and for an ill-typed node, which no
    /// rewrite may union with anything).
    pub ty: Option<Type>,
    pub attr: Option<Attr>,
    /// Every element of the class's value equals this (of `ty`'s dtype).
    pub constant: Option<Scalar>,
}

/// The analysis state: the source graph's leaves, and what went wrong.
#[derive(Clone, Debug, Default)]
pub struct TxAnalysis {
    /// The op of each [`Head::Leaf`], by number.
    pub leaves: Vec<Op>,
    /// Classes merged with different types or constants: bugs in a rule,
    /// reported (and checked to be empty in tests).
    pub conflicts: Vec<String>,
    /// Rewrites refused because their result type differed, per rule.
    pub refused: BTreeMap<String, usize>,
    /// Constants folded into classes.
    pub folded: usize,
}

impl TxAnalysis {
    pub fn new(leaves: Vec<Op>) -> TxAnalysis {
        TxAnalysis { leaves, ..TxAnalysis::default() }
    }
}

/// The type of class `id`, if it is a well-typed tensor.
pub fn ty(egraph: &TxGraph, id: Id) -> Option<&Type> {
    egraph[id].data.ty.as_ref()
}

/// The constant every element of class `id` equals, as an f64.
pub fn constant(egraph: &TxGraph, id: Id) -> Option<f64> {
    egraph[id].data.constant.map(Scalar::as_f64)
}

/// The graph op of an e-node, its attribute taken from its first child.
pub fn op_of(egraph: &TxGraph, node: &TxNode) -> Option<Op> {
    match &node.head {
        Head::Leaf(n) => egraph.analysis.leaves.get(*n as usize).cloned(),
        Head::Attr(_) => None,
        head if head.has_attr() => {
            let attr = node.children.first().and_then(|&c| egraph[c].data.attr.as_ref())?;
            head.op(Some(attr))
        }
        head => head.op(None),
    }
}

fn scalar_of(tensor: &Tensor) -> Option<Scalar> {
    let first = |values: Vec<f64>| values.first().copied();
    match tensor {
        Tensor::F32(_) | Tensor::F64(_) => first(tensor.to_f64s()).map(Scalar::Float),
        Tensor::I64(a) => a.iter().next().map(|&v| Scalar::Int(v)),
        Tensor::Bool(a) => a.iter().next().map(|&v| Scalar::Bool(v)),
    }
}

/// A 0-d tensor of `dtype` holding `value`, through the interpreter's own
/// constant op (so the rounding is the same).
fn scalar_tensor(value: Scalar, dtype: DType) -> Option<Tensor> {
    tx_interp::eval_op(&Op::Constant { value, dtype }, &[], &[]).ok()
}

/// Folds `op` over splat operands: elementwise ops compute on one element,
/// ops that only move data keep the splat.
fn fold(op: &Op, operands: &[(Scalar, DType)]) -> Option<Scalar> {
    match op {
        Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } | Op::StopGradient | Op::Constant { .. } => {
            let tensors: Vec<Tensor> = operands.iter().map(|&(v, d)| scalar_tensor(v, d)).collect::<Option<_>>()?;
            let refs: Vec<&Tensor> = tensors.iter().collect();
            scalar_of(&tx_interp::eval_op(op, &refs, &[]).ok()?)
        }
        Op::Transpose { .. } | Op::Reshape { .. } | Op::Broadcast { .. } | Op::Slice { .. } => {
            operands.first().map(|&(v, _)| v)
        }
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Random { .. }
        | Op::Reduce { .. }
        | Op::ArgMax { .. }
        | Op::Softmax { .. }
        | Op::LogSoftmax { .. }
        | Op::MatMul
        | Op::Concat { .. }
        | Op::Unslice { .. }
        | Op::OneHot { .. }
        | Op::Fused(_) => None,
    }
}

impl Analysis<TxNode> for TxAnalysis {
    type Data = Data;

    fn make(egraph: &mut TxGraph, enode: &TxNode, _id: Id) -> Data {
        if let Head::Attr(attr) = &enode.head {
            return Data { ty: None, attr: Some(attr.clone()), constant: None };
        }
        let Some(op) = op_of(egraph, enode) else {
            return Data { ty: None, attr: None, constant: None };
        };
        let operands = enode.operands();
        let types: Option<Vec<&Type>> = operands.iter().map(|&c| egraph[c].data.ty.as_ref()).collect();
        let ty = types.and_then(|types| tx_ir::infer(&op, &types).ok());
        let constant = ty.as_ref().and_then(|_| {
            let splats: Option<Vec<(Scalar, DType)>> = operands
                .iter()
                .map(|&c| {
                    let data = &egraph[c].data;
                    Some((data.constant?, data.ty.as_ref()?.dtype))
                })
                .collect();
            fold(&op, &splats?)
        });
        Data { ty, attr: None, constant }
    }

    fn merge(&mut self, a: &mut Data, b: Data) -> DidMerge {
        let mut changed_a = false;
        let mut changed_b = false;
        if a.ty != b.ty {
            match (&a.ty, &b.ty) {
                (None, Some(_)) => {
                    a.ty = b.ty.clone();
                    changed_a = true;
                }
                (Some(_), None) => changed_b = true,
                (Some(x), Some(y)) => self.conflicts.push(format!("a class of type {x} was merged with one of {y}")),
                (None, None) => {}
            }
        }
        match (a.constant, b.constant) {
            (None, Some(_)) => {
                a.constant = b.constant;
                changed_a = true;
            }
            (Some(_), None) => changed_b = true,
            (Some(x), Some(y)) if x != y && !(x.as_f64().is_nan() && y.as_f64().is_nan()) => {
                self.conflicts.push(format!("a class equal to {x} was merged with one equal to {y}"));
            }
            _ => {}
        }
        if a.attr != b.attr {
            self.conflicts.push("two different attributes were merged".to_string());
        }
        DidMerge(changed_a, changed_b)
    }

    /// A class found to be a constant gets the constant itself as a member
    /// (broadcast to its shape when that is known and not a scalar), which
    /// then costs nothing to compute.
    fn modify(egraph: &mut TxGraph, id: Id) {
        let data = &egraph[id].data;
        let (Some(value), Some(ty)) = (data.constant, data.ty.clone()) else { return };
        if egraph[id].nodes.iter().any(|n| matches!(n.head, Head::Const(..))) {
            // Already a constant as written (an f32 `0.9` stays as written,
            // not as the f64 of its rounded value).
            return;
        }
        let scalar = egraph.add(TxNode::new(Head::Const(value, ty.dtype), vec![]));
        let folded = if ty.rank() == 0 {
            scalar
        } else if ty.shape.known_size().is_some() {
            let shape = egraph.add(TxNode::new(Head::Attr(Attr::Shape(ty.shape.clone())), vec![]));
            egraph.add(TxNode::new(Head::Broadcast, vec![shape, scalar]))
        } else {
            return;
        };
        if egraph.find(folded) != egraph.find(id) && egraph[folded].data.ty.as_ref() == Some(&ty) {
            egraph.union_trusted(id, folded, "constant-folding");
            egraph.analysis.folded += 1;
        }
    }
}
