//! Fused kernels: a small expression over a node's operands that later
//! stages run as one pass over memory. The optimizer (`tx-opt`) forms them
//! from maximal elementwise groups, from an elementwise group that a
//! reduction ends, and from a matmul followed by its bias and activation;
//! the interpreter runs the body op by op, and the JIT compiles each kernel
//! as one loop nest.
//!
//! A kernel's body holds ordinary ops of the op table, so everything that
//! knows the op table (types, printing, evaluation) knows kernels too.

use std::fmt::Write;

use crate::infer::infer;
use crate::op::{Family, Op};
use crate::types::Type;

/// What shape of loop a kernel is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelKind {
    /// Only elementwise ops: one pass over the broadcast result.
    Elementwise,
    /// Elementwise ops whose result one reduction (the last body node) ends.
    Reduce,
    /// A matmul (the first body node) and an elementwise epilogue on its
    /// result: bias, activation.
    MatMul,
}

impl KernelKind {
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Elementwise => "elementwise",
            KernelKind::Reduce => "reduce",
            KernelKind::MatMul => "matmul",
        }
    }
}

/// Where a body node's operand comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelArg {
    /// The fused node's operand at this position.
    Operand(usize),
    /// An earlier body node.
    Node(usize),
}

/// One op of a kernel body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelNode {
    pub op: Op,
    pub args: Vec<KernelArg>,
}

/// The body of a fused node, in topological order; the last node is the
/// result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub kind: KernelKind,
    pub body: Vec<KernelNode>,
}

impl Kernel {
    /// The type of every body node, given the operand types, with the
    /// checks that make a body well formed: arguments point backwards or at
    /// operands that exist, the ops fit the kernel kind, and every op
    /// type-checks.
    pub fn infer_body(&self, operands: &[&Type]) -> Result<Vec<Type>, String> {
        if self.body.is_empty() {
            return Err("a fused kernel needs at least one op".to_string());
        }
        let last = self.body.len() - 1;
        let mut types: Vec<Type> = Vec::with_capacity(self.body.len());
        for (index, node) in self.body.iter().enumerate() {
            let allowed = match (node.op.family(), self.kind) {
                (Family::Elementwise, _) => !matches!(node.op, Op::Fused(_)),
                (Family::Leaf, _) => matches!(node.op, Op::Constant { .. }),
                (Family::Reduce, KernelKind::Reduce) => index == last && matches!(node.op, Op::Reduce { .. }),
                (Family::MatMul, KernelKind::MatMul) => index == 0,
                _ => false,
            };
            if !allowed {
                return Err(format!("`{}` cannot be op {index} of a {} kernel", node.op.name(), self.kind.name()));
            }
            let mut args: Vec<&Type> = Vec::with_capacity(node.args.len());
            for arg in &node.args {
                let ty = match *arg {
                    KernelArg::Operand(k) => operands.get(k).copied(),
                    KernelArg::Node(k) if k < index => types.get(k),
                    KernelArg::Node(_) => None,
                };
                args.push(
                    ty.ok_or_else(|| format!("op {index} of a fused kernel refers to {arg:?}, which is not there"))?,
                );
            }
            let ty = infer(&node.op, &args).map_err(|e| format!("op {index} of a fused kernel: {e}"))?;
            types.push(ty);
        }
        match self.kind {
            KernelKind::Reduce if !matches!(self.body[last].op, Op::Reduce { .. }) => {
                Err("a reduce kernel ends with a reduction".to_string())
            }
            KernelKind::MatMul if !matches!(self.body[0].op, Op::MatMul) => {
                Err("a matmul kernel starts with a matmul".to_string())
            }
            _ => Ok(types),
        }
    }

    /// How many body ops are not constants (what fusion saved, roughly).
    pub fn op_count(&self) -> usize {
        self.body.iter().filter(|n| !matches!(n.op, Op::Constant { .. })).count()
    }

    /// `elementwise: t0 = add $0, $1; t1 = tanh t0`, the printed attribute.
    pub fn describe(&self) -> String {
        let mut out = format!("{}: ", self.kind.name());
        for (index, node) in self.body.iter().enumerate() {
            if index > 0 {
                out.push_str("; ");
            }
            let _ = write!(out, "t{index} = {}{}", node.op.name(), node.op.attributes());
            for (position, arg) in node.args.iter().enumerate() {
                out.push_str(if position == 0 { " " } else { ", " });
                let _ = match arg {
                    KernelArg::Operand(k) => write!(out, "${k}"),
                    KernelArg::Node(k) => write!(out, "t{k}"),
                };
            }
        }
        out
    }
}
