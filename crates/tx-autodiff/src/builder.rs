//! Adding gradient nodes: `Graph::add` with errors tagged by the node being
//! differentiated, and the shape plumbing every rule needs (summing a
//! broadcast contribution back, broadcasting a reduced adjoint out).

use tx_ir::{BinaryOp, DType, Dim, Graph, NodeId, Op, ReduceOp, Scalar, Shape, Type, UnaryOp};

use crate::GradError;

pub(crate) struct Builder<'g> {
    graph: &'g mut Graph,
    /// The node whose derivative is being built, for error messages.
    node: NodeId,
}

impl<'g> Builder<'g> {
    pub(crate) fn new(graph: &'g mut Graph, node: NodeId) -> Builder<'g> {
        Builder { graph, node }
    }

    pub(crate) fn ty(&self, id: NodeId) -> &Type {
        self.graph.ty(id)
    }

    pub(crate) fn add(&mut self, op: Op, inputs: &[NodeId]) -> Result<NodeId, GradError> {
        self.graph.add(op, inputs).map_err(|e| GradError::Internal { node: self.node, message: e.message })
    }

    pub(crate) fn constant(&mut self, value: f64, dtype: DType) -> Result<NodeId, GradError> {
        self.add(Op::Constant { value: Scalar::Float(value), dtype }, &[])
    }

    /// A scalar of `like`'s element type.
    pub(crate) fn scalar(&mut self, value: f64, like: NodeId) -> Result<NodeId, GradError> {
        let dtype = self.ty(like).dtype;
        self.constant(value, dtype)
    }

    pub(crate) fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId, GradError> {
        self.add(Op::Unary(op), &[x])
    }

    pub(crate) fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId, GradError> {
        self.add(Op::Binary(op), &[a, b])
    }

    pub(crate) fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GradError> {
        self.binary(BinaryOp::Mul, a, b)
    }

    pub(crate) fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GradError> {
        self.binary(BinaryOp::Div, a, b)
    }

    pub(crate) fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GradError> {
        self.binary(BinaryOp::Sub, a, b)
    }

    pub(crate) fn neg(&mut self, x: NodeId) -> Result<NodeId, GradError> {
        self.unary(UnaryOp::Neg, x)
    }

    /// `where(cond, x, 0)` (or `where(cond, 0, x)` when `keep_when` is false).
    pub(crate) fn mask(&mut self, cond: NodeId, x: NodeId, keep_when: bool) -> Result<NodeId, GradError> {
        let zero = self.scalar(0.0, x)?;
        let (a, b) = if keep_when { (x, zero) } else { (zero, x) };
        self.add(Op::Where, &[cond, a, b])
    }

    /// `sum + c`, or `c` when nothing was summed yet.
    pub(crate) fn accumulate(&mut self, sum: Option<NodeId>, c: NodeId) -> Result<NodeId, GradError> {
        match sum {
            None => Ok(c),
            Some(sum) => self.binary(BinaryOp::Add, sum, c),
        }
    }

    /// Zeros of a type.
    pub(crate) fn zeros(&mut self, dtype: DType, shape: &Shape) -> Result<NodeId, GradError> {
        let zero = self.constant(0.0, dtype)?;
        if shape.rank() == 0 { Ok(zero) } else { self.add(Op::Broadcast { shape: shape.clone() }, &[zero]) }
    }

    /// Sums a contribution computed in a broadcast shape back to `to`: over
    /// the leading axes `to` lacks and the axes where `to` has size 1.
    pub(crate) fn unbroadcast(&mut self, c: NodeId, to: &Shape) -> Result<NodeId, GradError> {
        let from = self.ty(c).shape.clone();
        if from == *to {
            return Ok(c);
        }
        let extra = from.rank().saturating_sub(to.rank());
        let mut axes: Vec<usize> = (0..extra).collect();
        for (i, dim) in to.0.iter().enumerate() {
            if dim.is_one() && !from.0[extra + i].is_one() {
                axes.push(extra + i);
            }
        }
        let summed =
            if axes.is_empty() { c } else { self.add(Op::Reduce { op: ReduceOp::Sum, axes, keepdims: true }, &[c])? };
        if self.ty(summed).shape == *to {
            return Ok(summed);
        }
        self.add(Op::Reshape { shape: to.clone() }, &[summed])
    }

    /// The adjoint of a reduction's result, broadcast back over the operand's
    /// shape `to` (after putting back the reduced axes as size 1).
    pub(crate) fn expand(
        &mut self,
        g: NodeId,
        axes: &[usize],
        keepdims: bool,
        to: &Shape,
    ) -> Result<NodeId, GradError> {
        let kept = keepdims_shape(to, axes);
        let g = if keepdims || self.ty(g).shape == kept { g } else { self.add(Op::Reshape { shape: kept }, &[g])? };
        if self.ty(g).shape == *to {
            return Ok(g);
        }
        self.add(Op::Broadcast { shape: to.clone() }, &[g])
    }

    /// The number of elements a reduction over `axes` of `shape` combines, as
    /// a scalar of `dtype`: a constant when the sizes are known, else counted
    /// when the graph runs.
    pub(crate) fn count(&mut self, shape: &Shape, axes: &[usize], dtype: DType) -> Result<NodeId, GradError> {
        let dims: Vec<Dim> = axes.iter().map(|&a| shape.0[a].clone()).collect();
        if let Some(n) = dims.iter().try_fold(1usize, |acc, d| acc.checked_mul(d.known()?)) {
            return self.constant(n as f64, dtype);
        }
        let one = self.constant(1.0, dtype)?;
        let ones = self.add(Op::Broadcast { shape: Shape(dims.clone()) }, &[one])?;
        self.add(Op::Reduce { op: ReduceOp::Sum, axes: (0..dims.len()).collect(), keepdims: false }, &[ones])
    }
}

/// `shape` with the `axes` set to 1.
pub(crate) fn keepdims_shape(shape: &Shape, axes: &[usize]) -> Shape {
    Shape(shape.0.iter().enumerate().map(|(i, d)| if axes.contains(&i) { Dim::Known(1) } else { d.clone() }).collect())
}
