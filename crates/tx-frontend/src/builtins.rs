//! The builtin functions of `.tx`: their signatures, and how each becomes
//! graph ops. Elementwise ops, binary ops and reductions take their names
//! from the IR op table, so a new op of those families is callable as soon as
//! it has a row there. Composites (`cross_entropy`, `mse`, `zeros`, ...) are
//! desugared into primitives here.

use tx_ir::{BinaryOp, DType, Dim, Distribution, Init, NodeId, Op, ReduceOp, Scalar, Shape, Type, UnaryOp};
use tx_syntax::ast::{Ident, Span};

use crate::lower::Lowerer;
use crate::value::Value;

/// Arguments as written: positional, then keyword.
#[derive(Debug, Default)]
pub struct CallArgs {
    pub positional: Vec<(Value, Span)>,
    pub keyword: Vec<(Ident, Value, Span)>,
}

/// One parameter of a builtin: name, and whether it must be given.
type Params = Vec<(&'static str, bool)>;

const OTHER_BUILTINS: [&str; 22] = [
    "where",
    "argmax",
    "softmax",
    "log_softmax",
    "matmul",
    "transpose",
    "reshape",
    "broadcast_to",
    "concat",
    "one_hot",
    "cast",
    "stop_gradient",
    "normal",
    "uniform",
    "zeros",
    "ones",
    "full",
    "cross_entropy",
    "mse",
    "logical_not",
    "flatten",
    "grad",
];

/// The parameters of builtin `name`, or `None` when there is no such builtin.
fn signature(name: &str) -> Option<Params> {
    if name != "not" && UnaryOp::from_name(name).is_some() {
        return Some(vec![("x", true)]);
    }
    if BinaryOp::from_name(name).is_some() {
        return Some(vec![("a", true), ("b", true)]);
    }
    if ReduceOp::from_name(name).is_some() {
        return Some(vec![("x", true), ("axis", false), ("keepdims", false)]);
    }
    Some(match name {
        "logical_not" | "stop_gradient" => vec![("x", true)],
        "where" => vec![("cond", true), ("a", true), ("b", true)],
        "argmax" => vec![("x", true), ("axis", false), ("keepdims", false)],
        "softmax" | "log_softmax" => vec![("x", true), ("axis", false)],
        "matmul" => vec![("a", true), ("b", true)],
        "transpose" => vec![("x", true), ("axes", false)],
        "reshape" => vec![("x", true), ("shape", true)],
        "broadcast_to" => vec![("x", true), ("shape", true)],
        "flatten" => vec![("x", true)],
        "concat" => vec![("tensors", true), ("axis", false)],
        "one_hot" => vec![("labels", true), ("depth", true), ("dtype", false)],
        "cast" => vec![("x", true), ("dtype", true)],
        "normal" => vec![("shape", true), ("mean", false), ("std", false), ("seed", true), ("dtype", false)],
        "uniform" => vec![("shape", true), ("low", false), ("high", false), ("seed", true), ("dtype", false)],
        "zeros" | "ones" => vec![("shape", true), ("dtype", false)],
        "full" => vec![("shape", true), ("value", true), ("dtype", false)],
        "cross_entropy" => vec![("logits", true), ("labels", true), ("axis", false)],
        "mse" => vec![("prediction", true), ("target", true)],
        "grad" => vec![("cost", true), ("wrt", true), ("allow_unused", false)],
        _ => return None,
    })
}

/// The initializers of `param NAME : TYPE ~ INIT`.
pub(crate) const INITIALIZERS: [&str; 7] =
    ["zeros", "ones", "normal", "uniform", "glorot", "glorot_normal", "orthogonal"];

pub(crate) fn is_initializer(name: &str) -> bool {
    INITIALIZERS.contains(&name)
}

pub fn is_builtin(name: &str) -> bool {
    signature(name).is_some()
}

/// Every builtin name, in a fixed order.
pub fn names() -> impl Iterator<Item = &'static str> {
    UnaryOp::ALL
        .into_iter()
        .filter(|op| *op != UnaryOp::Not)
        .map(UnaryOp::name)
        .chain(BinaryOp::ALL.into_iter().map(BinaryOp::name))
        .chain(ReduceOp::ALL.into_iter().map(ReduceOp::name))
        .chain(OTHER_BUILTINS)
}

/// `name(param, param = default, ...)` for every builtin: optional
/// parameters are marked with `?`.
pub fn builtin_signatures() -> Vec<String> {
    names()
        .map(|name| {
            let params = signature(name).unwrap_or_default();
            let params: Vec<String> =
                params.iter().map(|(p, required)| if *required { p.to_string() } else { format!("{p}?") }).collect();
            format!("{name}({})", params.join(", "))
        })
        .collect()
}

/// Matches arguments to parameters: positional in order, then keywords by
/// name. Reports unknown, repeated and missing arguments.
pub(crate) fn bind(
    lw: &mut Lowerer<'_>,
    callee: &str,
    params: &[(&str, bool)],
    call: CallArgs,
    span: Span,
) -> Option<Vec<Option<(Value, Span)>>> {
    let mut out: Vec<Option<(Value, Span)>> = vec![None; params.len()];
    let mut ok = true;
    if call.positional.len() > params.len() {
        let extra = call.positional[params.len()].1;
        let n = params.len();
        lw.report(extra, format!("`{callee}` takes {n} argument{}, got {}", plural(n), call.positional.len()));
        return None;
    }
    for (i, arg) in call.positional.into_iter().enumerate() {
        out[i] = Some(arg);
    }
    for (name, value, value_span) in call.keyword {
        match params.iter().position(|(p, _)| *p == name.name) {
            Some(i) if out[i].is_some() => {
                lw.report(name.span, format!("argument `{}` of `{callee}` is given twice", name.name));
                ok = false;
            }
            Some(i) => out[i] = Some((value, value_span)),
            None => {
                let names: Vec<&str> = params.iter().map(|(p, _)| *p).collect();
                let message = if names.is_empty() {
                    format!("`{callee}` takes no arguments")
                } else {
                    format!("`{callee}` has no argument `{}`; its arguments are {}", name.name, names.join(", "))
                };
                lw.report(name.span, message);
                ok = false;
            }
        }
    }
    for ((param, required), arg) in params.iter().zip(&out) {
        if *required && arg.is_none() {
            lw.report(span, format!("`{callee}` needs argument `{param}`"));
            ok = false;
        }
    }
    // An argument that already failed silences the call.
    if out.iter().flatten().any(|(v, _)| *v == Value::Error) {
        return None;
    }
    ok.then_some(out)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The bound arguments of one builtin call, with typed accessors that report
/// what is wrong with an argument at its own span.
struct Args<'c> {
    callee: &'c str,
    values: Vec<Option<(Value, Span)>>,
    params: Params,
    span: Span,
}

impl Args<'_> {
    fn get(&self, i: usize) -> Option<&(Value, Span)> {
        self.values[i].as_ref()
    }

    fn span_of(&self, i: usize) -> Span {
        self.get(i).map_or(self.span, |(_, s)| *s)
    }

    fn wrong(&self, lw: &mut Lowerer<'_>, i: usize, expected: &str) {
        let found = match self.get(i) {
            None => "nothing".to_string(),
            Some((v, _)) if v.is_literal() => crate::lower::literal_text(v),
            Some((v, _)) => v.describe().to_string(),
        };
        let message = format!("argument `{}` of `{}` must be {expected}, found {found}", self.params[i].0, self.callee);
        lw.report(self.span_of(i), message);
    }

    /// A tensor argument; literals become constants of their natural type.
    fn node(&self, lw: &mut Lowerer<'_>, i: usize) -> Option<NodeId> {
        let (v, span) = self.get(i)?.clone();
        match v {
            Value::Node(id) => Some(id),
            v if v.is_literal() => lw.tensor(v, span, "an argument"),
            _ => {
                self.wrong(lw, i, "a tensor");
                None
            }
        }
    }

    /// Two tensor arguments where a literal takes the element type of the
    /// other argument, as with operators (`mse(x, 0)`).
    fn node_pair(&self, lw: &mut Lowerer<'_>, i: usize, j: usize) -> Option<(NodeId, NodeId)> {
        let ((a, a_span), (b, b_span)) = (self.get(i)?.clone(), self.get(j)?.clone());
        match (&a, &b) {
            (Value::Node(x), lit) if lit.is_literal() => {
                let dtype = lw.graph.ty(*x).dtype;
                Some((*x, lw.constant(lit, dtype, b_span)?))
            }
            (lit, Value::Node(y)) if lit.is_literal() => {
                let dtype = lw.graph.ty(*y).dtype;
                Some((lw.constant(lit, dtype, a_span)?, *y))
            }
            _ => Some((self.node(lw, i)?, self.node(lw, j)?)),
        }
    }

    fn int(&self, lw: &mut Lowerer<'_>, i: usize) -> Option<Option<i64>> {
        match self.get(i) {
            None => Some(None),
            Some((Value::Int(v), _)) => Some(Some(*v)),
            Some(_) => {
                self.wrong(lw, i, "an integer known at compile time");
                None
            }
        }
    }

    fn number(&self, lw: &mut Lowerer<'_>, i: usize, default: f64) -> Option<f64> {
        match self.get(i) {
            None => Some(default),
            Some((Value::Int(v), _)) => Some(*v as f64),
            Some((Value::Float(v), _)) => Some(*v),
            Some(_) => {
                self.wrong(lw, i, "a number known at compile time");
                None
            }
        }
    }

    fn bool(&self, lw: &mut Lowerer<'_>, i: usize) -> Option<bool> {
        match self.get(i) {
            None => Some(false),
            Some((Value::Bool(v), _)) => Some(*v),
            Some(_) => {
                self.wrong(lw, i, "`true` or `false`");
                None
            }
        }
    }

    fn dtype(&self, lw: &mut Lowerer<'_>, i: usize, default: DType) -> Option<DType> {
        match self.get(i) {
            None => Some(default),
            Some((Value::DType(d), _)) => Some(*d),
            Some(_) => {
                self.wrong(lw, i, "an element type (f32, f64, i64 or bool)");
                None
            }
        }
    }

    fn seed(&self, lw: &mut Lowerer<'_>, i: usize) -> Option<Option<u64>> {
        match self.get(i) {
            None => Some(None),
            Some((Value::Int(v), _)) if *v >= 0 => Some(Some(*v as u64)),
            Some(_) => {
                self.wrong(lw, i, "a seed (an integer of 0 or more)");
                None
            }
        }
    }

    /// Axes as written (an integer, a list of integers, or absent), made
    /// non-negative for a tensor of `rank`.
    fn axes(&self, lw: &mut Lowerer<'_>, i: usize, rank: usize) -> Option<Option<Vec<usize>>> {
        let raw: Vec<i64> = match self.get(i) {
            None => return Some(None),
            Some((Value::Int(v), _)) => vec![*v],
            Some((Value::List(items), _)) if items.iter().all(|v| matches!(v, Value::Int(_))) => {
                items.iter().map(|v| if let Value::Int(a) = v { *a } else { 0 }).collect()
            }
            Some(_) => {
                self.wrong(lw, i, "an axis or a list of axes");
                return None;
            }
        };
        let mut axes = Vec::with_capacity(raw.len());
        for a in raw {
            let axis = if a < 0 { a + rank as i64 } else { a };
            if axis < 0 || axis >= rank as i64 {
                lw.report(self.span_of(i), format!("axis {a} is out of range for a tensor of rank {rank}"));
                return None;
            }
            axes.push(axis as usize);
        }
        Some(Some(axes))
    }

    fn axis(&self, lw: &mut Lowerer<'_>, i: usize, rank: usize, default: Option<i64>) -> Option<Option<usize>> {
        if self.get(i).is_none() {
            let Some(d) = default else { return Some(None) };
            let axis = if d < 0 { d + rank as i64 } else { d };
            if axis < 0 || axis >= rank as i64 {
                lw.report(self.span, format!("`{}` needs a tensor of rank 1 or more", self.callee));
                return None;
            }
            return Some(Some(axis as usize));
        }
        if !matches!(self.get(i), Some((Value::Int(_), _))) {
            self.wrong(lw, i, "a single axis");
            return None;
        }
        Some(self.axes(lw, i, rank)?.map(|a| a[0]))
    }

    /// A shape: a list of sizes, symbolic dimensions and (where allowed) one
    /// `-1` to infer. `None` entries are the `-1`.
    fn shape(&self, lw: &mut Lowerer<'_>, i: usize, allow_infer: bool) -> Option<Vec<Option<Dim>>> {
        let items = match self.get(i) {
            Some((Value::List(items), _)) => items.clone(),
            _ => {
                self.wrong(lw, i, "a shape such as [B, 10]");
                return None;
            }
        };
        let mut dims = Vec::with_capacity(items.len());
        let mut inferred = 0;
        for item in items {
            match item {
                Value::Int(n) if n >= 0 => dims.push(Some(Dim::Known(n as usize))),
                Value::Int(-1) if allow_infer => {
                    inferred += 1;
                    dims.push(None);
                }
                Value::Dim(d) => dims.push(Some(d)),
                Value::Error => return None,
                other => {
                    let what = match other {
                        Value::Int(n) => format!("{n}"),
                        other => other.describe().to_string(),
                    };
                    let allowed = if allow_infer { ", or -1 once" } else { "" };
                    lw.report(
                        self.span_of(i),
                        format!("a shape lists sizes of 0 or more and symbolic dimensions{allowed}; found {what}"),
                    );
                    return None;
                }
            }
        }
        if inferred > 1 {
            lw.report(self.span_of(i), "a shape can have at most one -1");
            return None;
        }
        Some(dims)
    }

    fn full_shape(&self, lw: &mut Lowerer<'_>, i: usize) -> Option<Shape> {
        let dims = self.shape(lw, i, false)?;
        Some(Shape(dims.into_iter().flatten().collect()))
    }
}

/// Lowers a call of builtin `callee`.
pub(crate) fn call(lw: &mut Lowerer<'_>, callee: &Ident, call: CallArgs, span: Span) -> Value {
    let name = callee.name.as_str();
    let params = signature(name).expect("`call` is only used for builtins");
    let Some(values) = bind(lw, name, &params, call, span) else { return Value::Error };
    let args = Args { callee: name, values, params, span };
    lower_builtin(lw, name, &args).unwrap_or(Value::Error)
}

fn lower_builtin(lw: &mut Lowerer<'_>, name: &str, args: &Args<'_>) -> Option<Value> {
    let span = args.span;
    if let Some(op) = UnaryOp::from_name(name).filter(|op| *op != UnaryOp::Not) {
        return unary(lw, op, args);
    }
    if let Some(op) = BinaryOp::from_name(name) {
        let (a, b) = (args.get(0)?.0.clone(), args.get(1)?.0.clone());
        return Some(lw.binary(op, a, b, span));
    }
    if let Some(op) = ReduceOp::from_name(name) {
        let x = args.node(lw, 0)?;
        let rank = lw.graph.ty(x).rank();
        let axes = args.axes(lw, 1, rank)?.unwrap_or_else(|| (0..rank).collect());
        let keepdims = args.bool(lw, 2)?;
        return reduce(lw, op, x, axes, keepdims, span);
    }
    match name {
        "logical_not" => unary(lw, UnaryOp::Not, args),
        "stop_gradient" => {
            let x = args.node(lw, 0)?;
            Some(lw.add(Op::StopGradient, &[x], span))
        }
        "where" => {
            let cond = args.node(lw, 0)?;
            let (a, b) = (args.get(1)?.clone(), args.get(2)?.clone());
            // A literal branch takes the type of the other branch.
            let (a, b) = match (a.0, b.0) {
                (Value::Node(x), Value::Node(y)) => (x, y),
                (Value::Node(x), lit) => (x, lw.constant(&lit, lw.graph.ty(x).dtype, b.1)?),
                (lit, Value::Node(y)) => (lw.constant(&lit, lw.graph.ty(y).dtype, a.1)?, y),
                // Two literals: a float makes both floats.
                (x, y) if x.is_literal() && y.is_literal() => {
                    let dtype = if matches!(x, Value::Float(_)) || matches!(y, Value::Float(_)) {
                        DType::F32
                    } else {
                        crate::lower::natural_dtype(&x)
                    };
                    (lw.constant(&x, dtype, a.1)?, lw.constant(&y, dtype, b.1)?)
                }
                (x, y) => (lw.tensor(x, a.1, "a branch of `where`")?, lw.tensor(y, b.1, "a branch of `where`")?),
            };
            Some(lw.add(Op::Where, &[cond, a, b], span))
        }
        "argmax" => {
            let x = args.node(lw, 0)?;
            let rank = lw.graph.ty(x).rank();
            let axis = args.axis(lw, 1, rank, None)?;
            let keepdims = args.bool(lw, 2)?;
            Some(lw.add(Op::ArgMax { axis, keepdims }, &[x], span))
        }
        "softmax" | "log_softmax" => {
            let x = args.node(lw, 0)?;
            let rank = lw.graph.ty(x).rank();
            let axis = args.axis(lw, 1, rank, Some(-1))?.expect("a default axis");
            let op = if name == "softmax" { Op::Softmax { axis } } else { Op::LogSoftmax { axis } };
            Some(lw.add(op, &[x], span))
        }
        "matmul" => {
            let (a, b) = (args.get(0)?.0.clone(), args.get(1)?.0.clone());
            Some(lw.matmul(a, b, span))
        }
        "transpose" => {
            let x = args.node(lw, 0)?;
            let rank = lw.graph.ty(x).rank();
            let perm = args.axes(lw, 1, rank)?.unwrap_or_else(|| (0..rank).rev().collect());
            Some(lw.add(Op::Transpose { perm }, &[x], span))
        }
        "reshape" => {
            let x = args.node(lw, 0)?;
            let target = args.shape(lw, 1, true)?;
            let from = lw.graph.ty(x).shape.clone();
            match infer_reshape(&from, &target) {
                Ok(shape) => Some(lw.add(Op::Reshape { shape }, &[x], span)),
                Err(message) => Some(lw.error(args.span_of(1), message)),
            }
        }
        "flatten" => {
            let x = args.node(lw, 0)?;
            let ty = lw.graph.ty(x).clone();
            let dims: Vec<Option<Dim>> = match ty.shape.0.first() {
                Some(first) => vec![Some(first.clone()), None],
                None => vec![None],
            };
            match infer_reshape(&ty.shape, &dims[..ty.rank().clamp(1, 2)]) {
                Ok(shape) => Some(lw.add(Op::Reshape { shape }, &[x], span)),
                Err(message) => Some(lw.error(span, message)),
            }
        }
        "broadcast_to" => {
            let x = args.node(lw, 0)?;
            let shape = args.full_shape(lw, 1)?;
            Some(lw.add(Op::Broadcast { shape }, &[x], span))
        }
        "concat" => {
            let items = match args.get(0) {
                Some((Value::List(items), _)) if !items.is_empty() => items.clone(),
                _ => {
                    args.wrong(lw, 0, "a non-empty list of tensors");
                    return None;
                }
            };
            let mut nodes = Vec::with_capacity(items.len());
            for item in items {
                nodes.push(lw.tensor(item, args.span_of(0), "each operand of `concat`")?);
            }
            let rank = lw.graph.ty(nodes[0]).rank();
            let axis = args.axis(lw, 1, rank, Some(0))?.expect("a default axis");
            Some(lw.add(Op::Concat { axis }, &nodes, span))
        }
        "one_hot" => {
            let labels = args.node(lw, 0)?;
            let depth = args.int(lw, 1)?.unwrap_or(0);
            let Ok(depth) = usize::try_from(depth) else {
                args.wrong(lw, 1, "a depth of 0 or more");
                return None;
            };
            let dtype = args.dtype(lw, 2, DType::F32)?;
            Some(lw.add(Op::OneHot { depth, dtype }, &[labels], span))
        }
        "cast" => {
            let dtype = args.dtype(lw, 1, DType::F32)?;
            let x = match args.get(0)? {
                (Value::Node(id), _) => *id,
                (lit, s) if lit.is_literal() && literal_fits(lit, dtype) => {
                    return lw.constant(lit, dtype, *s).map(Value::Node);
                }
                _ => args.node(lw, 0)?,
            };
            Some(lw.add(Op::Cast { dtype }, &[x], span))
        }
        "normal" | "uniform" => {
            let shape = args.full_shape(lw, 0)?;
            // (mean, std) for `normal`, (low, high) for `uniform`: both default to 0 and 1.
            let (a, b) = (args.number(lw, 1, 0.0)?, args.number(lw, 2, 1.0)?);
            let seed = args.seed(lw, 3)?.expect("seed is required");
            let dtype = args.dtype(lw, 4, DType::F32)?;
            let dist = if name == "normal" {
                if a.is_nan() || b.is_nan() || b < 0.0 {
                    args.wrong(lw, 2, "a standard deviation of 0 or more");
                    return None;
                }
                Distribution::Normal { mean: Scalar::Float(a), std: Scalar::Float(b) }
            } else {
                if a.is_nan() || b.is_nan() || a > b {
                    lw.report(span, format!("`uniform` needs low <= high, got {a} and {b}"));
                    return None;
                }
                Distribution::Uniform { low: Scalar::Float(a), high: Scalar::Float(b) }
            };
            Some(lw.add(Op::Random { dist, seed, ty: Type::new(dtype, shape) }, &[], span))
        }
        "zeros" | "ones" | "full" => {
            let shape = args.full_shape(lw, 0)?;
            let (value, dtype_index) = match name {
                "zeros" => (Value::Int(0), 1),
                "ones" => (Value::Int(1), 1),
                _ => (args.get(1)?.0.clone(), 2),
            };
            let dtype = args.dtype(lw, dtype_index, DType::F32)?;
            // zeros and ones of bools are false and true.
            let value = match (value, dtype, name) {
                (Value::Int(v), DType::Bool, "zeros" | "ones") => Value::Bool(v != 0),
                (value, _, _) => value,
            };
            let constant = lw.constant(&value, dtype, span)?;
            if shape.rank() == 0 {
                return Some(Value::Node(constant));
            }
            Some(lw.add(Op::Broadcast { shape }, &[constant], span))
        }
        "cross_entropy" => cross_entropy(lw, args),
        "grad" => gradient(lw, args),
        "mse" => {
            let (prediction, target) = args.node_pair(lw, 0, 1)?;
            Some({
                let result = tx_ir::compose::mse(&mut lw.graph, prediction, target);
                lw.graph_result(result, span)
            })
        }
        _ => unreachable!("`{name}` has a signature but no lowering"),
    }
}

fn literal_fits(v: &Value, dtype: DType) -> bool {
    match v {
        Value::Int(_) => dtype.is_numeric(),
        Value::Float(_) => dtype.is_float(),
        Value::Bool(_) => dtype == DType::Bool,
        _ => false,
    }
}

fn unary(lw: &mut Lowerer<'_>, op: UnaryOp, args: &Args<'_>) -> Option<Value> {
    let (value, span) = args.get(0)?.clone();
    let x = match value {
        Value::Node(id) => id,
        // A literal argument of a float function is a float constant.
        lit if lit.is_literal() => {
            let dtype =
                if op.domain() == tx_ir::Domain::Float { DType::F32 } else { crate::lower::natural_dtype(&lit) };
            lw.constant(&lit, dtype, span)?
        }
        _ => {
            args.wrong(lw, 0, "a tensor");
            return None;
        }
    };
    Some(lw.add(Op::Unary(op), &[x], args.span))
}

fn reduce(
    lw: &mut Lowerer<'_>,
    op: ReduceOp,
    x: NodeId,
    axes: Vec<usize>,
    keepdims: bool,
    span: Span,
) -> Option<Value> {
    Some({
        let result = tx_ir::compose::reduce(&mut lw.graph, op, x, axes, keepdims);
        lw.graph_result(result, span)
    })
}

/// `cross_entropy(logits, labels, axis = -1)`: per-example cross-entropy.
fn cross_entropy(lw: &mut Lowerer<'_>, args: &Args<'_>) -> Option<Value> {
    let logits = args.node(lw, 0)?;
    let rank = lw.graph.ty(logits).rank();
    let axis = args.axis(lw, 2, rank, Some(-1))?.expect("a default axis");
    let labels = args.node(lw, 1)?;
    Some({
        let result = tx_ir::compose::cross_entropy(&mut lw.graph, logits, labels, axis);
        lw.graph_result(result, args.span)
    })
}

/// `grad(cost, wrt, allow_unused = false)`: the gradient of a float scalar
/// with respect to one tensor, or to each of a list of them.
fn gradient(lw: &mut Lowerer<'_>, args: &Args<'_>) -> Option<Value> {
    let cost = args.node(lw, 0)?;
    let (wrt, single) = match args.get(1)? {
        (Value::Node(id), _) => (vec![*id], true),
        (Value::List(items), _) if !items.is_empty() && items.iter().all(|v| matches!(v, Value::Node(_))) => {
            (items.iter().filter_map(|v| if let Value::Node(id) = v { Some(*id) } else { None }).collect(), false)
        }
        _ => {
            args.wrong(lw, 1, "a tensor or a non-empty list of tensors");
            return None;
        }
    };
    let allow_unused = args.bool(lw, 2)?;
    let config = tx_autodiff::GradConfig { allow_unused, ..tx_autodiff::GradConfig::default() };
    match tx_autodiff::grad(&mut lw.graph, cost, &wrt, &config) {
        Ok(grads) if single => Some(Value::Node(grads[0])),
        Ok(grads) => Some(Value::List(grads.into_iter().map(Value::Node).collect())),
        Err(e) => {
            let message = lw.describe_grad_error(&e);
            lw.report(args.span, message);
            None
        }
    }
}

/// Resolves a reshape target with at most one `None` (the `-1`): the
/// inferred size is the known element count left over, or the one symbol
/// left over.
pub(crate) fn infer_reshape(from: &Shape, target: &[Option<Dim>]) -> Result<Shape, String> {
    let shown: Vec<String> = target.iter().map(|d| d.as_ref().map_or("-1".to_string(), ToString::to_string)).collect();
    let shown = format!("[{}]", shown.join(", "));
    let Some(hole) = target.iter().position(Option::is_none) else {
        let shape = Shape(target.iter().flatten().cloned().collect());
        return if tx_ir::infer::same_size(from, &shape) {
            Ok(shape)
        } else {
            Err(format!("cannot reshape {from} to {shown}: the number of elements differs"))
        };
    };
    let mut leftover: Vec<Dim> = from.0.iter().filter(|d| matches!(d, Dim::Sym(_))).cloned().collect();
    for dim in target.iter().flatten() {
        if let Dim::Sym(_) = dim {
            match leftover.iter().position(|d| d == dim) {
                Some(i) => {
                    leftover.remove(i);
                }
                None => {
                    return Err(format!("cannot reshape {from} to {shown}: `{dim}` is not a dimension of the operand"));
                }
            }
        }
    }
    let known =
        |dims: &mut dyn Iterator<Item = &Dim>| dims.filter_map(Dim::known).try_fold(1usize, |a, n| a.checked_mul(n));
    let from_known = known(&mut from.0.iter()).ok_or("the shape is too large")?;
    let target_known = known(&mut target.iter().flatten()).ok_or("the shape is too large")?;
    let fill = match leftover.as_slice() {
        [] if target_known != 0 && from_known % target_known == 0 => Dim::Known(from_known / target_known),
        [sym] if from_known == target_known && target_known != 0 => sym.clone(),
        [] => return Err(format!("cannot reshape {from} to {shown}: the number of elements differs")),
        _ => {
            return Err(format!(
                "cannot reshape {from} to {shown}: the -1 would stand for a product involving symbolic dimensions, \
                 which a single dimension cannot express; keep the symbolic dimensions as separate axes"
            ));
        }
    };
    let mut dims: Vec<Dim> = target.iter().map(|d| d.clone().unwrap_or(Dim::Known(0))).collect();
    dims[hole] = fill;
    Ok(Shape(dims))
}

/// Lowers a parameter initializer such as `normal(0, 0.05, seed = 1)`. The
/// seed defaults to a hash of the parameter's name, so runs are reproducible
/// either way.
pub(crate) fn initializer(
    lw: &mut Lowerer<'_>,
    callee: &Ident,
    call: CallArgs,
    ty: &Type,
    param: &str,
    span: Span,
) -> Option<Init> {
    let name = callee.name.as_str();
    let params: Params = match name {
        "zeros" | "ones" => vec![],
        "normal" => vec![("mean", false), ("std", false), ("seed", false)],
        "uniform" => vec![("low", false), ("high", false), ("seed", false)],
        "glorot" | "glorot_normal" | "orthogonal" => vec![("gain", false), ("seed", false)],
        _ => {
            lw.report(
                callee.span,
                format!("unknown initializer `{name}`; expected zeros, ones, normal, uniform, glorot, glorot_normal or orthogonal"),
            );
            return None;
        }
    };
    let values = bind(lw, name, &params, call, span)?;
    let args = Args { callee: name, values, params: params.clone(), span };
    let seed_index = params.iter().position(|(p, _)| *p == "seed");
    let seed = match seed_index {
        Some(i) => args.seed(lw, i)?.unwrap_or_else(|| name_seed(param)),
        None => 0,
    };
    if !ty.dtype.is_float() && !matches!(name, "zeros" | "ones") {
        lw.report(callee.span, format!("`{name}` initializes float parameters; `{param}` is {ty}"));
        return None;
    }
    Some(match name {
        "zeros" => Init::Fill(0.0),
        "ones" => Init::Fill(1.0),
        "normal" => {
            let (mean, std) = (args.number(lw, 0, 0.0)?, args.number(lw, 1, 1.0)?);
            if std.is_nan() || std < 0.0 {
                args.wrong(lw, 1, "a standard deviation of 0 or more");
                return None;
            }
            Init::Normal { mean, std, seed }
        }
        "uniform" => {
            let (low, high) = (args.number(lw, 0, 0.0)?, args.number(lw, 1, 1.0)?);
            if low.is_nan() || high.is_nan() || low > high {
                lw.report(span, format!("`uniform` needs low <= high, got {low} and {high}"));
                return None;
            }
            Init::Uniform { low, high, seed }
        }
        "glorot" => Init::Glorot { gain: args.number(lw, 0, 1.0)?, seed },
        "glorot_normal" => Init::GlorotNormal { gain: args.number(lw, 0, 1.0)?, seed },
        _ => {
            if ty.rank() < 2 {
                lw.report(callee.span, format!("`orthogonal` needs a parameter of rank 2 or more; `{param}` is {ty}"));
                return None;
            }
            Init::Orthogonal { gain: args.number(lw, 0, 1.0)?, seed }
        }
    })
}

/// FNV-1a of the parameter name: the default seed.
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_inference() {
        let s =
            |dims: &[&str]| Shape(dims.iter().map(|d| d.parse().map_or_else(|_| Dim::sym(*d), Dim::Known)).collect());
        let t = |dims: &[&str]| -> Vec<Option<Dim>> {
            dims.iter()
                .map(|d| if *d == "-1" { None } else { Some(d.parse().map_or_else(|_| Dim::sym(*d), Dim::Known)) })
                .collect()
        };
        assert_eq!(infer_reshape(&s(&["B", "28", "28"]), &t(&["B", "-1"])).unwrap().to_string(), "[B, 784]");
        assert_eq!(infer_reshape(&s(&["B", "784"]), &t(&["-1", "28", "28"])).unwrap().to_string(), "[B, 28, 28]");
        assert_eq!(infer_reshape(&s(&["2", "3"]), &t(&["-1"])).unwrap().to_string(), "[6]");
        assert!(infer_reshape(&s(&["2", "3"]), &t(&["4", "-1"])).is_err());
        assert!(infer_reshape(&s(&["B", "3"]), &t(&["N", "-1"])).is_err());
    }

    #[test]
    fn every_builtin_has_a_signature() {
        for name in names() {
            assert!(signature(name).is_some(), "{name}");
        }
        assert!(builtin_signatures().contains(&"sum(x, axis?, keepdims?)".to_string()));
    }
}
