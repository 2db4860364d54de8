//! The tensor language egg works on, generated from the op table: an e-node
//! is a [`Head`] (an op without its attributes) and children. Attributes
//! (axes, shapes, permutations, dtypes) are children too, as [`Attr`]
//! leaves, so that a rewrite can carry them over by name:
//! `(log (sum ?a (exp ?x))) => (logsumexp ?a ?x)`.
//!
//! Inputs, parameters and random sources are [`Head::Leaf`]s, numbered by
//! their position in the source graph (the analysis keeps their ops).

use std::fmt;

use egg::{FromOp, Id, Language};
use tx_ir::{AxisSlice, BinaryOp, DType, Op, ReduceOp, Scalar, Shape, UnaryOp};

/// An op's attributes, as an e-node of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr {
    Reduce { axes: Vec<usize>, keepdims: bool },
    ArgMax { axis: Option<usize>, keepdims: bool },
    Axis(usize),
    Perm(Vec<usize>),
    Shape(Shape),
    Slice(Vec<AxisSlice>),
    Unslice { axes: Vec<AxisSlice>, shape: Shape },
    OneHot { depth: usize, dtype: DType },
    DType(DType),
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The attribute text of the op it belongs to, without brackets.
        let op = match self {
            Attr::Reduce { axes, keepdims } => {
                Op::Reduce { op: ReduceOp::Sum, axes: axes.clone(), keepdims: *keepdims }
            }
            Attr::ArgMax { axis, keepdims } => Op::ArgMax { axis: *axis, keepdims: *keepdims },
            Attr::Axis(axis) => Op::Softmax { axis: *axis },
            Attr::Perm(perm) => Op::Transpose { perm: perm.clone() },
            Attr::Shape(shape) => Op::Reshape { shape: shape.clone() },
            Attr::Slice(axes) => Op::Slice { axes: axes.clone() },
            Attr::Unslice { axes, shape } => Op::Unslice { axes: axes.clone(), shape: shape.clone() },
            Attr::OneHot { depth, dtype } => Op::OneHot { depth: *depth, dtype: *dtype },
            Attr::DType(dtype) => Op::Cast { dtype: *dtype },
        };
        let text = op.attributes();
        let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(&text);
        f.write_str(inner)
    }
}

/// The operator of an e-node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Head {
    /// Input, parameter or random source number `n` of the source graph.
    Leaf(u32),
    /// A scalar constant.
    Const(Scalar, DType),
    /// Attributes of the op whose first child this is.
    Attr(Attr),
    Unary(UnaryOp),
    Binary(BinaryOp),
    Where,
    Reduce(ReduceOp),
    ArgMax,
    Softmax,
    LogSoftmax,
    MatMul,
    Transpose,
    Reshape,
    Broadcast,
    Concat,
    Slice,
    Unslice,
    OneHot,
    Cast,
    StopGradient,
}

/// Heads whose name is fixed (the rest are named by their op enums).
const NAMED: [(&str, Head); 14] = [
    ("where", Head::Where),
    ("argmax", Head::ArgMax),
    ("softmax", Head::Softmax),
    ("log_softmax", Head::LogSoftmax),
    ("matmul", Head::MatMul),
    ("transpose", Head::Transpose),
    ("reshape", Head::Reshape),
    ("broadcast_to", Head::Broadcast),
    ("concat", Head::Concat),
    ("slice", Head::Slice),
    ("unslice", Head::Unslice),
    ("one_hot", Head::OneHot),
    ("cast", Head::Cast),
    ("stop_gradient", Head::StopGradient),
];

impl Head {
    /// Splits a graph op into its head and its attributes. Leaves and fused
    /// kernels have no head of their own here (`None`).
    pub fn of(op: &Op) -> Option<(Head, Option<Attr>)> {
        Some(match op {
            Op::Input { .. } | Op::Param { .. } | Op::Random { .. } | Op::Fused(_) => return None,
            Op::Constant { value, dtype } => (Head::Const(*value, *dtype), None),
            Op::Unary(op) => (Head::Unary(*op), None),
            Op::Binary(op) => (Head::Binary(*op), None),
            Op::Where => (Head::Where, None),
            Op::Reduce { op, axes, keepdims } => {
                (Head::Reduce(*op), Some(Attr::Reduce { axes: axes.clone(), keepdims: *keepdims }))
            }
            Op::ArgMax { axis, keepdims } => (Head::ArgMax, Some(Attr::ArgMax { axis: *axis, keepdims: *keepdims })),
            Op::Softmax { axis } => (Head::Softmax, Some(Attr::Axis(*axis))),
            Op::LogSoftmax { axis } => (Head::LogSoftmax, Some(Attr::Axis(*axis))),
            Op::MatMul => (Head::MatMul, None),
            Op::Transpose { perm } => (Head::Transpose, Some(Attr::Perm(perm.clone()))),
            Op::Reshape { shape } => (Head::Reshape, Some(Attr::Shape(shape.clone()))),
            Op::Broadcast { shape } => (Head::Broadcast, Some(Attr::Shape(shape.clone()))),
            Op::Concat { axis } => (Head::Concat, Some(Attr::Axis(*axis))),
            Op::Slice { axes } => (Head::Slice, Some(Attr::Slice(axes.clone()))),
            Op::Unslice { axes, shape } => {
                (Head::Unslice, Some(Attr::Unslice { axes: axes.clone(), shape: shape.clone() }))
            }
            Op::OneHot { depth, dtype } => (Head::OneHot, Some(Attr::OneHot { depth: *depth, dtype: *dtype })),
            Op::Cast { dtype } => (Head::Cast, Some(Attr::DType(*dtype))),
            Op::StopGradient => (Head::StopGradient, None),
        })
    }

    /// The graph op of this head with attributes `attr`, or `None` when they
    /// do not belong together (or the head is a leaf or an attribute).
    pub fn op(&self, attr: Option<&Attr>) -> Option<Op> {
        Some(match (self, attr) {
            (Head::Const(value, dtype), None) => Op::Constant { value: *value, dtype: *dtype },
            (Head::Unary(op), None) => Op::Unary(*op),
            (Head::Binary(op), None) => Op::Binary(*op),
            (Head::Where, None) => Op::Where,
            (Head::Reduce(op), Some(Attr::Reduce { axes, keepdims })) => {
                Op::Reduce { op: *op, axes: axes.clone(), keepdims: *keepdims }
            }
            (Head::ArgMax, Some(Attr::ArgMax { axis, keepdims })) => Op::ArgMax { axis: *axis, keepdims: *keepdims },
            (Head::Softmax, Some(Attr::Axis(axis))) => Op::Softmax { axis: *axis },
            (Head::LogSoftmax, Some(Attr::Axis(axis))) => Op::LogSoftmax { axis: *axis },
            (Head::MatMul, None) => Op::MatMul,
            (Head::Transpose, Some(Attr::Perm(perm))) => Op::Transpose { perm: perm.clone() },
            (Head::Reshape, Some(Attr::Shape(shape))) => Op::Reshape { shape: shape.clone() },
            (Head::Broadcast, Some(Attr::Shape(shape))) => Op::Broadcast { shape: shape.clone() },
            (Head::Concat, Some(Attr::Axis(axis))) => Op::Concat { axis: *axis },
            (Head::Slice, Some(Attr::Slice(axes))) => Op::Slice { axes: axes.clone() },
            (Head::Unslice, Some(Attr::Unslice { axes, shape })) => {
                Op::Unslice { axes: axes.clone(), shape: shape.clone() }
            }
            (Head::OneHot, Some(Attr::OneHot { depth, dtype })) => Op::OneHot { depth: *depth, dtype: *dtype },
            (Head::Cast, Some(Attr::DType(dtype))) => Op::Cast { dtype: *dtype },
            (Head::StopGradient, None) => Op::StopGradient,
            _ => return None,
        })
    }

    /// Whether the first child is an [`Attr`].
    pub fn has_attr(&self) -> bool {
        match self {
            Head::Leaf(_)
            | Head::Const(..)
            | Head::Attr(_)
            | Head::Unary(_)
            | Head::Binary(_)
            | Head::Where
            | Head::MatMul
            | Head::StopGradient => false,
            Head::Reduce(_)
            | Head::ArgMax
            | Head::Softmax
            | Head::LogSoftmax
            | Head::Transpose
            | Head::Reshape
            | Head::Broadcast
            | Head::Concat
            | Head::Slice
            | Head::Unslice
            | Head::OneHot
            | Head::Cast => true,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Head::Leaf(n) => format!("leaf{n}"),
            Head::Const(value, dtype) => format!("{value}:{dtype}"),
            Head::Attr(attr) => format!("[{attr}]"),
            Head::Unary(op) => op.name().to_string(),
            Head::Binary(op) => op.name().to_string(),
            Head::Reduce(op) => op.name().to_string(),
            other => NAMED.iter().find(|(_, h)| h == other).map_or("?", |(name, _)| name).to_string(),
        }
    }
}

/// An e-node: a head and its children (the attribute first, where the head
/// has one).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxNode {
    pub head: Head,
    pub children: Vec<Id>,
}

impl TxNode {
    pub fn new(head: Head, children: Vec<Id>) -> TxNode {
        TxNode { head, children }
    }

    /// The tensor operands (the children after the attribute).
    pub fn operands(&self) -> &[Id] {
        if self.head.has_attr() { &self.children[1.min(self.children.len())..] } else { &self.children }
    }
}

impl Language for TxNode {
    type Discriminant = Head;

    fn discriminant(&self) -> Head {
        self.head.clone()
    }

    fn matches(&self, other: &TxNode) -> bool {
        self.head == other.head && self.children.len() == other.children.len()
    }

    fn children(&self) -> &[Id] {
        &self.children
    }

    fn children_mut(&mut self) -> &mut [Id] {
        &mut self.children
    }
}

impl fmt::Display for TxNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.head.name())
    }
}

/// Why a pattern's operator did not parse.
#[derive(Debug)]
pub struct UnknownOp(pub String);

impl FromOp for TxNode {
    type Error = UnknownOp;

    /// Op names as the op table spells them; constants and attributes do not
    /// appear in patterns (rules bind them to variables and test them in
    /// conditions).
    fn from_op(op: &str, children: Vec<Id>) -> Result<TxNode, UnknownOp> {
        let head = if let Some(op) = UnaryOp::from_name(op) {
            Head::Unary(op)
        } else if let Some(op) = BinaryOp::from_name(op) {
            Head::Binary(op)
        } else if let Some(op) = ReduceOp::from_name(op) {
            Head::Reduce(op)
        } else if let Some((_, head)) = NAMED.iter().find(|(name, _)| *name == op) {
            head.clone()
        } else {
            return Err(UnknownOp(op.to_string()));
        };
        Ok(TxNode { head, children })
    }
}

impl fmt::Display for UnknownOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not an op of the op table", self.0)
    }
}
