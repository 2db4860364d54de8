//! The op table: every operation the graph can hold, with its name, family
//! and arity. The names here are the ones the `.tx` language, the printer and
//! the tests use. Matches over [`Op`] are exhaustive everywhere in tx, so
//! adding a variant makes the compiler list every place to update (see
//! ARCHITECTURE.md, "Adding an op").

use std::fmt;

use crate::types::{DType, Shape};

/// Elementwise functions of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Log1p,
    Expm1,
    Sqrt,
    Tanh,
    Sigmoid,
    Softplus,
    Relu,
    Sin,
    Cos,
    Sign,
    Square,
    Reciprocal,
    /// Logical negation of a bool tensor.
    Not,
}

/// Which element types an elementwise op accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// f32 and f64.
    Float,
    /// f32, f64 and i64.
    Numeric,
    /// bool only.
    Bool,
    /// any element type.
    Any,
}

impl Domain {
    pub fn accepts(self, dtype: DType) -> bool {
        match self {
            Domain::Float => dtype.is_float(),
            Domain::Numeric => dtype.is_numeric(),
            Domain::Bool => dtype == DType::Bool,
            Domain::Any => true,
        }
    }

    /// "a float", "a number", ... for diagnostics.
    pub fn describe(self) -> &'static str {
        match self {
            Domain::Float => "float (f32 or f64)",
            Domain::Numeric => "numeric (f32, f64 or i64)",
            Domain::Bool => "bool",
            Domain::Any => "any",
        }
    }
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 17] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Log1p,
        UnaryOp::Expm1,
        UnaryOp::Sqrt,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Softplus,
        UnaryOp::Relu,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Sign,
        UnaryOp::Square,
        UnaryOp::Reciprocal,
        UnaryOp::Not,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Softplus => "softplus",
            UnaryOp::Relu => "relu",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Sign => "sign",
            UnaryOp::Square => "square",
            UnaryOp::Reciprocal => "reciprocal",
            UnaryOp::Not => "not",
        }
    }

    pub fn domain(self) -> Domain {
        match self {
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Square | UnaryOp::Relu => Domain::Numeric,
            UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Log1p
            | UnaryOp::Expm1
            | UnaryOp::Sqrt
            | UnaryOp::Tanh
            | UnaryOp::Sigmoid
            | UnaryOp::Softplus
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Reciprocal => Domain::Float,
            UnaryOp::Not => Domain::Bool,
        }
    }

    pub fn from_name(name: &str) -> Option<UnaryOp> {
        UnaryOp::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// Elementwise functions of two operands, broadcast the numpy way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// True division for floats; floor division for i64 (Python's `//`).
    Div,
    Pow,
    Max,
    Min,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 15] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::And,
        BinaryOp::Or,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Max => "maximum",
            BinaryOp::Min => "minimum",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::And => "logical_and",
            BinaryOp::Or => "logical_or",
        }
    }

    /// The verb of "cannot add f32[2] and f32[3]".
    pub fn verb(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "subtract",
            BinaryOp::Mul => "multiply",
            BinaryOp::Div => "divide",
            BinaryOp::Pow => "raise to a power",
            BinaryOp::Max => "take the maximum of",
            BinaryOp::Min => "take the minimum of",
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => "compare",
            BinaryOp::And | BinaryOp::Or => "combine",
        }
    }

    pub fn domain(self) -> Domain {
        match self {
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Max
            | BinaryOp::Min
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => Domain::Numeric,
            BinaryOp::Eq | BinaryOp::Ne => Domain::Any,
            BinaryOp::And | BinaryOp::Or => Domain::Bool,
        }
    }

    /// Comparisons produce bool whatever their operands are.
    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)
    }

    pub fn from_name(name: &str) -> Option<BinaryOp> {
        BinaryOp::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// Reductions over a set of axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    /// `log(sum(exp(x)))`, computed stably.
    LogSumExp,
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 5] = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min, ReduceOp::LogSumExp];

    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::LogSumExp => "logsumexp",
        }
    }

    pub fn domain(self) -> Domain {
        match self {
            ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min => Domain::Numeric,
            ReduceOp::Mean | ReduceOp::LogSumExp => Domain::Float,
        }
    }

    pub fn from_name(name: &str) -> Option<ReduceOp> {
        ReduceOp::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// A scalar constant. Floats compare and hash by bit pattern, so that the
/// op table can be used as a key (caches, CSE).
#[derive(Clone, Copy, Debug)]
pub enum Scalar {
    Float(f64),
    Int(i64),
    Bool(bool),
}

impl Scalar {
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Float(v) => v,
            Scalar::Int(v) => v as f64,
            Scalar::Bool(v) => f64::from(u8::from(v)),
        }
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Scalar) -> bool {
        match (self, other) {
            (Scalar::Float(a), Scalar::Float(b)) => a.to_bits() == b.to_bits(),
            (Scalar::Int(a), Scalar::Int(b)) => a == b,
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Scalar {}

impl Ord for Scalar {
    /// A total order by kind, then by value (floats by bit pattern), for
    /// tables keyed by ops.
    fn cmp(&self, other: &Scalar) -> std::cmp::Ordering {
        let key = |s: &Scalar| match *s {
            Scalar::Float(v) => (0u8, v.to_bits() as i128),
            Scalar::Int(v) => (1u8, i128::from(v)),
            Scalar::Bool(v) => (2u8, i128::from(v)),
        };
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for Scalar {
    fn partial_cmp(&self, other: &Scalar) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for Scalar {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Scalar::Float(v) => (0u8, v.to_bits()).hash(state),
            Scalar::Int(v) => (1u8, *v).hash(state),
            Scalar::Bool(v) => (2u8, *v).hash(state),
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{:?}` prints the shortest text that reads back to the same
            // f64, and always with a `.` or exponent (`1.0`, `1e-10`).
            Scalar::Float(v) => write!(f, "{v:?}"),
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// The distribution of a seeded random tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Distribution {
    Normal { mean: Scalar, std: Scalar },
    Uniform { low: Scalar, high: Scalar },
}

/// How one axis of a tensor is sliced. Python's rules (negative indices,
/// clamping) have been applied already: what is left is exact.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AxisSlice {
    /// The whole axis (the only slice allowed on a symbolic dimension).
    Full,
    /// `len` elements starting at `start`, `step` apart (`step` may be
    /// negative, never 0). On an axis of symbolic size the step is positive
    /// and the bounds are checked when the graph is called.
    Range { start: usize, step: i64, len: usize },
}

/// Op families: the groups that later stages (kernels, rewrites) handle together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Inputs, parameters, constants and random sources: no operands.
    Leaf,
    /// One output element from the same-index elements of the operands.
    Elementwise,
    /// Reductions, including argmax and the normalizations over an axis.
    Reduce,
    /// Ops that move or select data without arithmetic.
    Movement,
    MatMul,
}

/// Every operation a graph node can perform. Attributes that decide the
/// result type live in the op, so [`crate::infer::infer`] computes a node's
/// type from its op and operand types alone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A value given at each call.
    Input {
        name: String,
        ty: crate::Type,
    },
    /// Shared state: a trainable (or frozen) parameter, initialized once.
    Param {
        name: String,
        ty: crate::Type,
    },
    /// A scalar constant of the given dtype.
    Constant {
        value: Scalar,
        dtype: DType,
    },
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `where(cond, a, b)`: elementwise select, broadcast over all three.
    Where,
    /// `axes` sorted and distinct; the empty list reduces nothing.
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
        keepdims: bool,
    },
    /// Index of the largest element along `axis` (first on ties), or over
    /// the flattened tensor when `axis` is `None`. Result i64.
    ArgMax {
        axis: Option<usize>,
        keepdims: bool,
    },
    Softmax {
        axis: usize,
    },
    LogSoftmax {
        axis: usize,
    },
    /// numpy `matmul`: 1-D operands are promoted and the added axis removed;
    /// leading (batch) axes broadcast.
    MatMul,
    /// `perm[i]` is the operand axis that becomes result axis `i`.
    Transpose {
        perm: Vec<usize>,
    },
    /// Same elements in row-major order, new shape.
    Reshape {
        shape: Shape,
    },
    /// Explicit numpy broadcast to `shape`.
    Broadcast {
        shape: Shape,
    },
    /// Join operands along `axis`.
    Concat {
        axis: usize,
    },
    /// One entry per operand axis.
    Slice {
        axes: Vec<AxisSlice>,
    },
    /// The transpose of `Slice`: a tensor of `shape`, zero except at the
    /// positions `axes` select, which hold the operand. The gradient of a
    /// slice; not a builtin of the language.
    Unslice {
        axes: Vec<AxisSlice>,
        shape: Shape,
    },
    /// Integer labels to one-hot vectors of `depth` along a new last axis.
    /// Labels outside `0..depth` give an all-zero row.
    OneHot {
        depth: usize,
        dtype: DType,
    },
    /// Convert element type (floats to i64 truncate toward zero; nonzero is true).
    Cast {
        dtype: DType,
    },
    /// Seeded random tensor: the same seed gives the same values.
    Random {
        dist: Distribution,
        seed: u64,
        ty: crate::Type,
    },
    /// Identity in value; cuts the gradient.
    StopGradient,
    /// Several ops run as one kernel (formed by the optimizer, after
    /// differentiation; not a builtin of the language).
    Fused(Box<crate::kernel::Kernel>),
}

/// `:, 1:1:3` for the slices of each axis (`start:step:len`).
fn slices(axes: &[AxisSlice]) -> String {
    let parts: Vec<String> = axes
        .iter()
        .map(|a| match a {
            AxisSlice::Full => ":".to_string(),
            AxisSlice::Range { start, step, len } => format!("{start}:{step}:{len}"),
        })
        .collect();
    parts.join(", ")
}

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }
}

impl Op {
    /// The op's name as printed and as called in `.tx` (where it is a builtin).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Param { .. } => "param",
            Op::Constant { .. } => "constant",
            Op::Unary(op) => op.name(),
            Op::Binary(op) => op.name(),
            Op::Where => "where",
            Op::Reduce { op, .. } => op.name(),
            Op::ArgMax { .. } => "argmax",
            Op::Softmax { .. } => "softmax",
            Op::LogSoftmax { .. } => "log_softmax",
            Op::MatMul => "matmul",
            Op::Transpose { .. } => "transpose",
            Op::Reshape { .. } => "reshape",
            Op::Broadcast { .. } => "broadcast_to",
            Op::Concat { .. } => "concat",
            Op::Slice { .. } => "slice",
            Op::Unslice { .. } => "unslice",
            Op::OneHot { .. } => "one_hot",
            Op::Cast { .. } => "cast",
            Op::Random { dist: Distribution::Normal { .. }, .. } => "normal",
            Op::Random { dist: Distribution::Uniform { .. }, .. } => "uniform",
            Op::StopGradient => "stop_gradient",
            Op::Fused(_) => "fused",
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Op::Input { .. } | Op::Param { .. } | Op::Constant { .. } | Op::Random { .. } => Family::Leaf,
            Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } | Op::StopGradient => Family::Elementwise,
            Op::Reduce { .. } | Op::ArgMax { .. } | Op::Softmax { .. } | Op::LogSoftmax { .. } => Family::Reduce,
            Op::Transpose { .. }
            | Op::Reshape { .. }
            | Op::Broadcast { .. }
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Unslice { .. }
            | Op::OneHot { .. } => Family::Movement,
            Op::MatMul => Family::MatMul,
            Op::Fused(kernel) => match kernel.kind {
                crate::kernel::KernelKind::Elementwise => Family::Elementwise,
                crate::kernel::KernelKind::Reduce => Family::Reduce,
                crate::kernel::KernelKind::MatMul => Family::MatMul,
            },
        }
    }

    pub fn arity(&self) -> Arity {
        match self {
            Op::Input { .. } | Op::Param { .. } | Op::Constant { .. } | Op::Random { .. } => Arity::Exactly(0),
            Op::Unary(_)
            | Op::Reduce { .. }
            | Op::ArgMax { .. }
            | Op::Softmax { .. }
            | Op::LogSoftmax { .. }
            | Op::Transpose { .. }
            | Op::Reshape { .. }
            | Op::Broadcast { .. }
            | Op::Slice { .. }
            | Op::Unslice { .. }
            | Op::OneHot { .. }
            | Op::Cast { .. }
            | Op::StopGradient => Arity::Exactly(1),
            Op::Binary(_) | Op::MatMul => Arity::Exactly(2),
            Op::Where => Arity::Exactly(3),
            Op::Concat { .. } | Op::Fused(_) => Arity::AtLeast(1),
        }
    }

    /// The attributes in printed form, `[axes=[1], keepdims=true]`, or "".
    pub fn attributes(&self) -> String {
        let list = |items: &[usize]| {
            let inner: Vec<String> = items.iter().map(ToString::to_string).collect();
            format!("[{}]", inner.join(", "))
        };
        match self {
            Op::Input { name, .. } | Op::Param { name, .. } => format!("[{name}]"),
            Op::Constant { value, dtype } => format!("[{value}: {dtype}]"),
            Op::Unary(_) | Op::Binary(_) | Op::Where | Op::MatMul | Op::StopGradient => String::new(),
            Op::Reduce { axes, keepdims, .. } => format!("[axes={}, keepdims={keepdims}]", list(axes)),
            Op::ArgMax { axis: Some(axis), keepdims } => format!("[axis={axis}, keepdims={keepdims}]"),
            Op::ArgMax { axis: None, keepdims } => format!("[axis=none, keepdims={keepdims}]"),
            Op::Softmax { axis } | Op::LogSoftmax { axis } | Op::Concat { axis } => format!("[axis={axis}]"),
            Op::Transpose { perm } => format!("[perm={}]", list(perm)),
            Op::Reshape { shape } | Op::Broadcast { shape } => format!("[shape={shape}]"),
            Op::Slice { axes } => format!("[{}]", slices(axes)),
            Op::Unslice { axes, shape } => format!("[{}; shape={shape}]", slices(axes)),
            Op::OneHot { depth, dtype } => format!("[depth={depth}, dtype={dtype}]"),
            Op::Cast { dtype } => format!("[dtype={dtype}]"),
            Op::Random { dist, seed, .. } => match dist {
                Distribution::Normal { mean, std } => format!("[mean={mean}, std={std}, seed={seed}]"),
                Distribution::Uniform { low, high } => format!("[low={low}, high={high}, seed={seed}]"),
            },
            Op::Fused(kernel) => format!("[{}]", kernel.describe()),
        }
    }
}
