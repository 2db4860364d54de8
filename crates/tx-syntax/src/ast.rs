//! The abstract syntax tree of a `.tx` file.
//!
//! Every node carries the byte span it came from, so that later stages can
//! point at the source in their diagnostics. The tree is plain data: it is
//! built by the grammar actions (through the helpers in `crate::construct`) and
//! read by `tx-frontend`. Expression depth is bounded at construction (see
//! [`MAX_EXPR_DEPTH`]), so recursive walks over an [`Expr`] cannot overflow
//! the stack whatever the user wrote.

/// A half-open byte range `start..end` into the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// The deepest expression tree the parser builds. Deeper expressions are
/// replaced by [`ExprKind::Error`] with a diagnostic, which keeps every
/// recursive pass over expressions (lowering, printing, dropping) safe.
pub const MAX_EXPR_DEPTH: u32 = 256;

/// A whole `.tx` file: its items in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    pub items: Vec<Item>,
}

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub span: Span,
}

/// The top-level statements of the language.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `input x : f32[B, 784]`
    Input { name: Ident, ty: TypeExpr },
    /// `param W : f32[784, 240] ~ normal(0, 0.05, seed = 1)` or `param b : f32[240] = 0`,
    /// optionally followed by `frozen` (never trained: feedback matrices, fixed features).
    Param { name: Ident, ty: TypeExpr, init: Init, frozen: bool },
    /// `const H = 240`: a compile-time number, usable in shapes.
    Const { name: Ident, value: Expr },
    /// `let h = tanh(x @ W + b)`
    Let { name: Ident, value: Expr },
    /// `fn dense(h, W, b) = tanh(h @ W + b)` or a block body.
    Fn(FnDef),
    /// `output y = expr`, or `output h` to export an existing binding.
    Output { name: Ident, value: Option<Expr> },
    /// `layer h2 = dense(h1, W2, b2) inverse(t) = dense(t, V2, c2)`:
    /// a binding that is also a layer boundary for the learning rules.
    Layer { name: Ident, value: Expr, inverse: Option<Lambda> },
    /// `loss = mean(cross_entropy(out, y))`
    Loss { value: Expr },
    /// `metric accuracy = mean(argmax(out, axis = 1) == y)`
    Metric { name: Ident, value: Expr },
    /// `train dtp { top_step = 0.3277  forward = rmsprop(lr = 0.01) }`
    Train { rule: Ident, settings: Vec<Setting> },
}

/// A dtype with an optional shape: `f32`, `f32[]`, `f32[B, 784]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub dtype: Ident,
    pub dims: Vec<DimExpr>,
    pub span: Span,
}

/// One dimension of a declared shape.
#[derive(Clone, Debug, PartialEq)]
pub enum DimExpr {
    /// A literal size, `784`.
    Size { value: i64, span: Span },
    /// A symbolic dimension bound at call time (`B`), or the name of a `const`.
    Name(Ident),
}

impl DimExpr {
    pub fn span(&self) -> Span {
        match self {
            DimExpr::Size { span, .. } => *span,
            DimExpr::Name(ident) => ident.span,
        }
    }
}

/// How a parameter gets its first value.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// `= 0`, `= 0.5`: every element the same constant.
    Fill(Expr),
    /// `~ normal(0, 0.05, seed = 1)`, `~ glorot(seed = 3)`, `~ zeros`: a named initializer.
    Call(Expr),
}

/// `fn name(params) = expr` or `fn name(params) { let a = ...  return expr }`.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub body: Block,
    pub span: Span,
}

/// A function body: local bindings, then the result.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub lets: Vec<(Ident, Expr)>,
    pub result: Expr,
}

/// `inverse(t) = expr`: a one-argument function attached to a layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Lambda {
    pub param: Ident,
    pub body: Expr,
    pub span: Span,
}

/// `key = value` inside a `train` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Height of this tree: 1 for a leaf. Never above [`MAX_EXPR_DEPTH`].
    pub depth: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `not x`
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    MatMul,
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
    /// The operator as written in source.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "**",
            BinaryOp::MatMul => "@",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal that fits in `i64`.
    Int(i64),
    /// A finite float literal.
    Float(f64),
    /// `true` / `false`
    Bool(bool),
    /// A reference to a binding, input, parameter, constant, dimension or keyword value.
    Name(Ident),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `f(a, b, axis = 1)`
    Call {
        callee: Ident,
        args: Vec<Arg>,
    },
    /// `x[0, 1:3, ::2]`
    Index {
        base: Box<Expr>,
        indices: Vec<IndexItem>,
    },
    /// `[1, 2, 3]`: only meaningful as an argument (axes, shapes, per-layer settings).
    List(Vec<Expr>),
    /// Stands in for something that failed to parse; a diagnostic was already reported.
    Error,
}

/// A positional (`name == None`) or keyword argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

/// One entry of an index expression.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    /// `x[i]`: selects one position and removes the axis.
    At(Expr),
    /// `x[a:b:c]` with each part optional.
    Slice { start: Option<Expr>, stop: Option<Expr>, step: Option<Expr>, span: Span },
}
