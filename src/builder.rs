//! Building graphs from Rust with operator overloading:
//! `(x.matmul(&w) + &b).tanh()`.
//!
//! Operators cannot return `Result`, so a type error is recorded in the
//! builder and every value computed from it is poisoned; the error comes
//! out of [`FunctionBuilder::compile`] (or [`GraphBuilder::finish`]). Shapes
//! are still checked once, when each node is added.

use std::cell::RefCell;
use std::ops;
use std::rc::Rc;

use tx_ir::{BinaryOp, DType, Dim, Graph, Init, NodeId, Op, ReduceOp, Scalar, Shape, Type, UnaryOp};

use crate::{Error, Function};

#[derive(Debug, Default)]
struct State {
    graph: Graph,
    /// The first error; later ones are consequences of it.
    error: Option<String>,
}

/// Builds one graph. Cheap to clone: clones share the graph.
#[derive(Clone, Debug, Default)]
pub struct GraphBuilder {
    state: Rc<RefCell<State>>,
}

/// A value in a graph under construction.
#[derive(Clone, Debug)]
pub struct Var {
    state: Rc<RefCell<State>>,
    /// `None` when this value could not be built.
    id: Option<NodeId>,
}

impl GraphBuilder {
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    fn var(&self, result: Result<NodeId, tx_ir::GraphError>) -> Var {
        let mut state = self.state.borrow_mut();
        let id = match result {
            Ok(id) => Some(id),
            Err(e) => {
                state.error.get_or_insert(e.message);
                None
            }
        };
        Var { state: self.state.clone(), id }
    }

    /// An input with a shape such as `["B".into(), 784.into()]`.
    pub fn input(&self, name: &str, dtype: DType, dims: impl IntoIterator<Item = Dim>) -> Var {
        let ty = Type::new(dtype, Shape(dims.into_iter().collect()));
        let result = self.state.borrow_mut().graph.input(name, ty);
        self.var(result)
    }

    /// A trainable parameter with its initializer.
    pub fn param(&self, name: &str, dtype: DType, dims: impl IntoIterator<Item = Dim>, init: Init) -> Var {
        let ty = Type::new(dtype, Shape(dims.into_iter().collect()));
        let result = self.state.borrow_mut().graph.param(name, ty, init, false);
        self.var(result)
    }

    /// A scalar constant.
    pub fn constant(&self, value: f64, dtype: DType) -> Var {
        let value = match dtype {
            DType::F32 | DType::F64 => Scalar::Float(value),
            DType::I64 => Scalar::Int(value as i64),
            DType::Bool => Scalar::Bool(value != 0.0),
        };
        let result = self.state.borrow_mut().graph.add(Op::Constant { value, dtype }, &[]);
        self.var(result)
    }

    /// Names a value as an output of the graph.
    pub fn output(&self, name: &str, value: &Var) {
        let mut state = self.state.borrow_mut();
        if let Some(id) = value.id
            && let Err(e) = state.graph.add_output(name, id)
        {
            state.error.get_or_insert(e.message);
        }
    }

    /// The graph, or the first error met while building it.
    pub fn finish(&self) -> Result<Graph, Error> {
        let state = self.state.borrow();
        match &state.error {
            Some(e) => Err(Error::Build(e.clone())),
            None => Ok(state.graph.clone()),
        }
    }
}

/// Starts compiling the graph of `builder` into a callable [`Function`].
pub fn function(builder: &GraphBuilder) -> FunctionBuilder {
    FunctionBuilder {
        builder: builder.clone(),
        inputs: None,
        outputs: Vec::new(),
        updates: Vec::new(),
        level: tx_opt::Level::O2,
    }
}

/// Chooses the inputs, outputs and updates of a [`Function`].
#[derive(Debug)]
pub struct FunctionBuilder {
    builder: GraphBuilder,
    inputs: Option<Vec<Var>>,
    outputs: Vec<Var>,
    updates: Vec<(Var, Var)>,
    level: tx_opt::Level,
}

impl FunctionBuilder {
    /// The inputs, in the order `call` takes them (default: every input of
    /// the graph, in declaration order).
    pub fn inputs<'v>(mut self, inputs: impl IntoIterator<Item = &'v Var>) -> FunctionBuilder {
        self.inputs = Some(inputs.into_iter().cloned().collect());
        self
    }

    pub fn outputs<'v>(mut self, outputs: impl IntoIterator<Item = &'v Var>) -> FunctionBuilder {
        self.outputs.extend(outputs.into_iter().cloned());
        self
    }

    /// `(parameter, next value)` pairs, applied after each call.
    pub fn updates<'v>(mut self, updates: impl IntoIterator<Item = (&'v Var, &'v Var)>) -> FunctionBuilder {
        self.updates.extend(updates.into_iter().map(|(p, v)| (p.clone(), v.clone())));
        self
    }

    /// How hard to optimize the function's graph (default
    /// [`Level::O2`](tx_opt::Level::O2); `Level::O0` runs it as built).
    pub fn opt_level(mut self, level: tx_opt::Level) -> FunctionBuilder {
        self.level = level;
        self
    }

    pub fn compile(self) -> Result<Function, Error> {
        let graph = self.builder.finish()?;
        let id = |var: &Var, what: &str| -> Result<NodeId, Error> {
            if !Rc::ptr_eq(&var.state, &self.builder.state) {
                return Err(Error::Build(format!("{what} belongs to another graph")));
            }
            var.id.ok_or_else(|| Error::Build(format!("{what} could not be built")))
        };
        let outputs = self.outputs.iter().map(|v| id(v, "an output")).collect::<Result<Vec<_>, _>>()?;
        let inputs = match &self.inputs {
            None => graph.inputs().to_vec(),
            Some(vars) => {
                let ids = vars.iter().map(|v| id(v, "an input")).collect::<Result<Vec<_>, _>>()?;
                if let Some(bad) = ids.iter().find(|&&i| !matches!(graph.node(i).op, Op::Input { .. })) {
                    return Err(Error::Build(format!("{bad} is not an input of the graph")));
                }
                ids
            }
        };
        let mut updates = Vec::with_capacity(self.updates.len());
        for (target, value) in &self.updates {
            let (target, value) = (id(target, "an update target")?, id(value, "an update")?);
            let name = match &graph.node(target).op {
                Op::Param { name, .. } => name,
                _ => return Err(Error::Build(format!("only parameters can be updated, and {target} is not one"))),
            };
            if graph.ty(target) != graph.ty(value) {
                return Err(Error::Build(format!(
                    "parameter `{name}` is {}, but its update is {}",
                    graph.ty(target),
                    graph.ty(value)
                )));
            }
            if updates.iter().any(|&(t, _)| t == target) {
                return Err(Error::Build(format!("parameter `{name}` is updated twice")));
            }
            updates.push((target, value));
        }
        Function::new(graph, inputs, outputs, updates, self.level)
    }
}

/// The gradient of the float scalar `cost` with respect to each of `wrt`.
/// A value the cost does not depend on, or a path through a
/// non-differentiable op, poisons the results like any type error.
pub fn grad(cost: &Var, wrt: &[&Var]) -> Vec<Var> {
    let poisoned = |message: String| {
        cost.state.borrow_mut().error.get_or_insert(message);
        wrt.iter().map(|_| Var { state: cost.state.clone(), id: None }).collect()
    };
    if wrt.iter().any(|w| !Rc::ptr_eq(&w.state, &cost.state)) {
        return poisoned("`grad` combines values of different graphs".to_string());
    }
    let (Some(c), Some(ids)) = (cost.id, wrt.iter().map(|w| w.id).collect::<Option<Vec<NodeId>>>()) else {
        return wrt.iter().map(|_| Var { state: cost.state.clone(), id: None }).collect();
    };
    let result = tx_autodiff::grad(&mut cost.state.borrow_mut().graph, c, &ids, &Default::default());
    match result {
        Ok(grads) => grads.into_iter().map(|g| Var { state: cost.state.clone(), id: Some(g) }).collect(),
        Err(e) => poisoned(format!("`grad`: {e}")),
    }
}

impl Var {
    /// The node id, when the value was built.
    pub fn id(&self) -> Option<NodeId> {
        self.id
    }

    /// The value's type, when it was built.
    pub fn ty(&self) -> Option<Type> {
        self.id.map(|id| self.state.borrow().graph.ty(id).clone())
    }

    fn builder(&self) -> GraphBuilder {
        GraphBuilder { state: self.state.clone() }
    }

    /// Applies `op` to `self` and `others`; poisoned if any operand is.
    fn apply(&self, op: Op, others: &[&Var]) -> Var {
        let mut ids = vec![self.id];
        for other in others {
            if !Rc::ptr_eq(&self.state, &other.state) {
                let mut state = self.state.borrow_mut();
                state.error.get_or_insert_with(|| format!("`{}` combines values of different graphs", op.name()));
                return Var { state: self.state.clone(), id: None };
            }
            ids.push(other.id);
        }
        let Some(ids) = ids.into_iter().collect::<Option<Vec<NodeId>>>() else {
            return Var { state: self.state.clone(), id: None };
        };
        let result = self.state.borrow_mut().graph.add(op, &ids);
        self.builder().var(result)
    }

    fn compose(&self, f: impl FnOnce(&mut Graph) -> Result<NodeId, tx_ir::GraphError>) -> Var {
        if self.id.is_none() {
            return self.clone();
        }
        let result = f(&mut self.state.borrow_mut().graph);
        self.builder().var(result)
    }

    /// A scalar of this value's element type.
    fn scalar(&self, value: f64) -> Var {
        let dtype = self.ty().map_or(DType::F32, |t| t.dtype);
        self.builder().constant(value, dtype)
    }

    fn rank(&self) -> usize {
        self.ty().map_or(0, |t| t.rank())
    }

    fn unary(&self, op: UnaryOp) -> Var {
        self.apply(Op::Unary(op), &[])
    }

    fn binary(&self, op: BinaryOp, other: &Var) -> Var {
        self.apply(Op::Binary(op), &[other])
    }

    pub fn matmul(&self, other: &Var) -> Var {
        self.apply(Op::MatMul, &[other])
    }

    pub fn pow(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Pow, other)
    }

    pub fn powf(&self, exponent: f64) -> Var {
        self.binary(BinaryOp::Pow, &self.scalar(exponent))
    }

    pub fn maximum(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Max, other)
    }

    pub fn minimum(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Min, other)
    }

    pub fn eq(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Eq, other)
    }

    pub fn ne(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Ne, other)
    }

    pub fn lt(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Lt, other)
    }

    pub fn le(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Le, other)
    }

    pub fn gt(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Gt, other)
    }

    pub fn ge(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Ge, other)
    }

    pub fn and(&self, other: &Var) -> Var {
        self.binary(BinaryOp::And, other)
    }

    pub fn or(&self, other: &Var) -> Var {
        self.binary(BinaryOp::Or, other)
    }

    /// Reduces over `axes` (all axes when empty).
    fn reduce(&self, op: ReduceOp, axes: &[usize], keepdims: bool) -> Var {
        let axes = if axes.is_empty() { (0..self.rank()).collect() } else { axes.to_vec() };
        let id = self.id;
        self.compose(|g| tx_ir::compose::reduce(g, op, id.expect("checked by compose"), axes, keepdims))
    }

    pub fn sum(&self, axes: &[usize], keepdims: bool) -> Var {
        self.reduce(ReduceOp::Sum, axes, keepdims)
    }

    pub fn mean(&self, axes: &[usize], keepdims: bool) -> Var {
        self.reduce(ReduceOp::Mean, axes, keepdims)
    }

    pub fn max(&self, axes: &[usize], keepdims: bool) -> Var {
        self.reduce(ReduceOp::Max, axes, keepdims)
    }

    pub fn min(&self, axes: &[usize], keepdims: bool) -> Var {
        self.reduce(ReduceOp::Min, axes, keepdims)
    }

    pub fn logsumexp(&self, axes: &[usize], keepdims: bool) -> Var {
        self.reduce(ReduceOp::LogSumExp, axes, keepdims)
    }

    pub fn argmax(&self, axis: usize) -> Var {
        self.apply(Op::ArgMax { axis: Some(axis), keepdims: false }, &[])
    }

    pub fn softmax(&self, axis: usize) -> Var {
        self.apply(Op::Softmax { axis }, &[])
    }

    pub fn log_softmax(&self, axis: usize) -> Var {
        self.apply(Op::LogSoftmax { axis }, &[])
    }

    /// Reverses the axes (a matrix transpose for rank 2).
    pub fn t(&self) -> Var {
        self.transpose(&(0..self.rank()).rev().collect::<Vec<_>>())
    }

    pub fn transpose(&self, perm: &[usize]) -> Var {
        self.apply(Op::Transpose { perm: perm.to_vec() }, &[])
    }

    pub fn reshape(&self, dims: impl IntoIterator<Item = Dim>) -> Var {
        self.apply(Op::Reshape { shape: Shape(dims.into_iter().collect()) }, &[])
    }

    pub fn broadcast_to(&self, dims: impl IntoIterator<Item = Dim>) -> Var {
        self.apply(Op::Broadcast { shape: Shape(dims.into_iter().collect()) }, &[])
    }

    pub fn one_hot(&self, depth: usize, dtype: DType) -> Var {
        self.apply(Op::OneHot { depth, dtype }, &[])
    }

    pub fn cast(&self, dtype: DType) -> Var {
        self.apply(Op::Cast { dtype }, &[])
    }

    pub fn stop_gradient(&self) -> Var {
        self.apply(Op::StopGradient, &[])
    }

    /// Per-example cross-entropy of these logits (class axis last) against
    /// i64 labels or probabilities.
    pub fn cross_entropy(&self, labels: &Var) -> Var {
        let (logits, labels_id, axis) = (self.id, labels.id, self.rank().saturating_sub(1));
        match labels_id {
            Some(labels_id) => {
                self.compose(|g| tx_ir::compose::cross_entropy(g, logits.expect("checked by compose"), labels_id, axis))
            }
            None => labels.clone(),
        }
    }

    /// Mean squared error against `target`.
    pub fn mse(&self, target: &Var) -> Var {
        let (prediction, target_id) = (self.id, target.id);
        match target_id {
            Some(target_id) => {
                self.compose(|g| tx_ir::compose::mse(g, prediction.expect("checked by compose"), target_id))
            }
            None => target.clone(),
        }
    }
}

macro_rules! unary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl Var {
            $(
                #[doc = concat!("Elementwise `", stringify!($name), "`.")]
                pub fn $name(&self) -> Var {
                    self.unary(UnaryOp::$op)
                }
            )*
        }
    };
}

unary_methods! {
    abs => Abs, exp => Exp, log => Log, log1p => Log1p, expm1 => Expm1, sqrt => Sqrt, tanh => Tanh,
    sigmoid => Sigmoid, softplus => Softplus, relu => Relu, sin => Sin, cos => Cos, sign => Sign,
    square => Square, reciprocal => Reciprocal, logical_not => Not,
}

/// `where(cond, a, b)`.
pub fn where_(cond: &Var, a: &Var, b: &Var) -> Var {
    cond.apply(Op::Where, &[a, b])
}

/// Joins values along `axis`.
pub fn concat(values: &[&Var], axis: usize) -> Var {
    match values.split_first() {
        Some((first, rest)) => first.apply(Op::Concat { axis }, rest),
        None => {
            let builder = GraphBuilder::new();
            builder.state.borrow_mut().error = Some("`concat` of nothing".to_string());
            Var { state: builder.state, id: None }
        }
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:ident) => {
        impl ops::$trait<&Var> for &Var {
            type Output = Var;
            fn $method(self, rhs: &Var) -> Var {
                self.binary(BinaryOp::$op, rhs)
            }
        }
        impl ops::$trait<&Var> for Var {
            type Output = Var;
            fn $method(self, rhs: &Var) -> Var {
                self.binary(BinaryOp::$op, rhs)
            }
        }
        impl ops::$trait<Var> for Var {
            type Output = Var;
            fn $method(self, rhs: Var) -> Var {
                self.binary(BinaryOp::$op, &rhs)
            }
        }
        impl ops::$trait<Var> for &Var {
            type Output = Var;
            fn $method(self, rhs: Var) -> Var {
                self.binary(BinaryOp::$op, &rhs)
            }
        }
        impl ops::$trait<f64> for &Var {
            type Output = Var;
            fn $method(self, rhs: f64) -> Var {
                self.binary(BinaryOp::$op, &self.scalar(rhs))
            }
        }
        impl ops::$trait<f64> for Var {
            type Output = Var;
            fn $method(self, rhs: f64) -> Var {
                self.binary(BinaryOp::$op, &self.scalar(rhs))
            }
        }
        impl ops::$trait<&Var> for f64 {
            type Output = Var;
            fn $method(self, rhs: &Var) -> Var {
                rhs.scalar(self).binary(BinaryOp::$op, rhs)
            }
        }
        impl ops::$trait<Var> for f64 {
            type Output = Var;
            fn $method(self, rhs: Var) -> Var {
                rhs.scalar(self).binary(BinaryOp::$op, &rhs)
            }
        }
    };
}

binary_operator!(Add, add, Add);
binary_operator!(Sub, sub, Sub);
binary_operator!(Mul, mul, Mul);
binary_operator!(Div, div, Div);

impl ops::Neg for &Var {
    type Output = Var;
    fn neg(self) -> Var {
        self.unary(UnaryOp::Neg)
    }
}

impl ops::Neg for Var {
    type Output = Var;
    fn neg(self) -> Var {
        self.unary(UnaryOp::Neg)
    }
}
