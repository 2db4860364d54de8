//! The derivative of every op: one exhaustive match, no `_ =>` arm, so a
//! new op does not compile until it says how gradients pass through it.
//! Each rule gets the adjoint `g` of the node's result (the node's type) and
//! returns, for each operand it is asked for, a contribution either in the
//! operand's shape or in the (broadcast) result shape, which the sweep sums
//! back. In the comments `y` is the node's value.

use tx_ir::{AxisSlice, BinaryOp, DType, Node, NodeId, Op, ReduceOp, Shape, UnaryOp};

use crate::GradError;
use crate::builder::Builder;

/// How a gradient passes from a node to one of its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Through the derivative rule.
    Gradient,
    /// Not at all, by definition (`stop_gradient`, the condition of `where`,
    /// `sign`, whose derivative is zero wherever it exists).
    Zero,
    /// The op has no derivative here (comparisons, `argmax`, casts from or
    /// to integers): a gradient that needs this path is an error.
    Blocked,
}

/// How the gradient flows from `op`'s result to operand `operand` of
/// element type `dtype`.
pub fn flow(op: &Op, operand: usize, dtype: DType) -> Flow {
    if !dtype.is_float() {
        // Integers and bools carry no gradient; only a path that needs one
        // through them is an error.
        return match op {
            Op::Where if operand == 0 => Flow::Zero,
            _ => Flow::Blocked,
        };
    }
    match op {
        Op::Input { .. } | Op::Param { .. } | Op::Constant { .. } | Op::Random { .. } => Flow::Zero,
        Op::Unary(UnaryOp::Sign) => Flow::Zero,
        Op::Unary(UnaryOp::Not) => Flow::Blocked,
        Op::Unary(
            UnaryOp::Neg
            | UnaryOp::Abs
            | UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Log1p
            | UnaryOp::Expm1
            | UnaryOp::Sqrt
            | UnaryOp::Tanh
            | UnaryOp::Sigmoid
            | UnaryOp::Softplus
            | UnaryOp::Relu
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Square
            | UnaryOp::Reciprocal,
        ) => Flow::Gradient,
        Op::Binary(
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Max
            | BinaryOp::Min,
        ) => Flow::Gradient,
        Op::Binary(
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::And
            | BinaryOp::Or,
        ) => Flow::Blocked,
        Op::Where => {
            if operand == 0 {
                Flow::Zero
            } else {
                Flow::Gradient
            }
        }
        Op::Reduce { .. }
        | Op::Softmax { .. }
        | Op::LogSoftmax { .. }
        | Op::MatMul
        | Op::Transpose { .. }
        | Op::Reshape { .. }
        | Op::Broadcast { .. }
        | Op::Concat { .. }
        | Op::Slice { .. }
        | Op::Unslice { .. } => Flow::Gradient,
        Op::ArgMax { .. } | Op::OneHot { .. } => Flow::Blocked,
        Op::Cast { dtype: to } => {
            if to.is_float() {
                Flow::Gradient
            } else {
                Flow::Blocked
            }
        }
        Op::StopGradient => Flow::Zero,
        // Kernels are formed by the optimizer after differentiation; a graph
        // that holds them is differentiated in its unfused form.
        Op::Fused(_) => Flow::Blocked,
    }
}

/// Contributions to the adjoints of `node`'s operands (`None` where not
/// `needed`), given the adjoint `g` of its result.
pub(crate) fn vjp(
    b: &mut Builder<'_>,
    id: NodeId,
    node: &Node,
    g: NodeId,
    needed: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    let x = node.inputs.first().copied();
    let operand = |k: usize| node.inputs[k];
    let mut out: Vec<Option<NodeId>> = vec![None; node.inputs.len()];
    match &node.op {
        Op::Input { .. } | Op::Param { .. } | Op::Constant { .. } | Op::Random { .. } => {}
        Op::Unary(op) => {
            let x = x.expect("a unary op has an operand");
            out[0] = Some(unary(b, *op, id, x, g)?);
        }
        Op::Binary(op) => {
            let (a, c) = (operand(0), operand(1));
            let (da, dc) = binary(b, *op, id, a, c, g, needed)?;
            out[0] = da;
            out[1] = dc;
        }
        Op::Where => {
            // d where(c, a, b) = where(c, g, 0) for a, where(c, 0, g) for b.
            let cond = operand(0);
            if needed[1] {
                out[1] = Some(b.mask(cond, g, true)?);
            }
            if needed[2] {
                out[2] = Some(b.mask(cond, g, false)?);
            }
        }
        Op::Reduce { op, axes, keepdims } => {
            let x = operand(0);
            let shape = b.ty(x).shape.clone();
            let spread = b.expand(g, axes, *keepdims, &shape)?;
            out[0] = Some(match op {
                ReduceOp::Sum => spread,
                ReduceOp::Mean => {
                    let n = b.count(&shape, axes, b.ty(x).dtype)?;
                    b.div(spread, n)?
                }
                // The gradient goes to every element equal to the extremum.
                ReduceOp::Max | ReduceOp::Min => {
                    let y = b.expand(id, axes, *keepdims, &shape)?;
                    let hit = b.binary(BinaryOp::Eq, x, y)?;
                    b.mask(hit, spread, true)?
                }
                // d logsumexp(x) = g * exp(x - y) = g * softmax(x).
                ReduceOp::LogSumExp => {
                    let y = b.expand(id, axes, *keepdims, &shape)?;
                    let shifted = b.sub(x, y)?;
                    let weights = b.unary(UnaryOp::Exp, shifted)?;
                    b.mul(spread, weights)?
                }
            });
        }
        Op::Softmax { axis } => {
            // dx = y * (g - sum(g * y, axis)).
            let gy = b.mul(g, id)?;
            let s = b.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![*axis], keepdims: true }, &[gy])?;
            let centred = b.sub(g, s)?;
            out[0] = Some(b.mul(id, centred)?);
        }
        Op::LogSoftmax { axis } => {
            // dx = g - exp(y) * sum(g, axis).
            let s = b.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![*axis], keepdims: true }, &[g])?;
            let p = b.unary(UnaryOp::Exp, id)?;
            let ps = b.mul(p, s)?;
            out[0] = Some(b.sub(g, ps)?);
        }
        Op::MatMul => {
            let (da, dc) = matmul(b, operand(0), operand(1), g, needed)?;
            out[0] = da;
            out[1] = dc;
        }
        Op::Transpose { perm } => {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            out[0] = Some(b.add(Op::Transpose { perm: inverse }, &[g])?);
        }
        Op::Reshape { .. } => {
            let shape = b.ty(operand(0)).shape.clone();
            out[0] = Some(b.add(Op::Reshape { shape }, &[g])?);
        }
        // Summed back to the operand's shape by the sweep.
        Op::Broadcast { .. } => out[0] = Some(g),
        Op::Concat { axis } => {
            let mut offset = 0;
            for (k, &part) in node.inputs.iter().enumerate() {
                let shape = b.ty(part).shape.clone();
                let len = shape.0[*axis].known().expect("concatenated axes have known sizes");
                if needed[k] {
                    let mut axes = vec![AxisSlice::Full; shape.rank()];
                    axes[*axis] = AxisSlice::Range { start: if len == 0 { 0 } else { offset }, step: 1, len };
                    out[k] = Some(b.add(Op::Slice { axes }, &[g])?);
                }
                offset += len;
            }
        }
        Op::Slice { axes } => {
            let shape = b.ty(operand(0)).shape.clone();
            out[0] = Some(b.add(Op::Unslice { axes: axes.clone(), shape }, &[g])?);
        }
        Op::Unslice { axes, .. } => out[0] = Some(b.add(Op::Slice { axes: axes.clone() }, &[g])?),
        Op::Cast { .. } => {
            let dtype = b.ty(operand(0)).dtype;
            out[0] = Some(b.add(Op::Cast { dtype }, &[g])?);
        }
        // `flow` never lets a gradient through these.
        Op::ArgMax { .. } | Op::OneHot { .. } | Op::StopGradient | Op::Fused(_) => {}
    }
    Ok(out)
}

fn unary(b: &mut Builder<'_>, op: UnaryOp, y: NodeId, x: NodeId, g: NodeId) -> Result<NodeId, GradError> {
    match op {
        // d(-x) = -g
        UnaryOp::Neg => b.neg(g),
        // d|x| = g * sign(x)
        UnaryOp::Abs => {
            let s = b.unary(UnaryOp::Sign, x)?;
            b.mul(g, s)
        }
        // d exp(x) = g * y
        UnaryOp::Exp => b.mul(g, y),
        // d log(x) = g / x
        UnaryOp::Log => b.div(g, x),
        // d log1p(x) = g / (1 + x)
        UnaryOp::Log1p => {
            let one = b.scalar(1.0, x)?;
            let d = b.binary(BinaryOp::Add, x, one)?;
            b.div(g, d)
        }
        // d expm1(x) = g * (y + 1)
        UnaryOp::Expm1 => {
            let one = b.scalar(1.0, x)?;
            let d = b.binary(BinaryOp::Add, y, one)?;
            b.mul(g, d)
        }
        // d sqrt(x) = g / (2 y)
        UnaryOp::Sqrt => {
            let two = b.scalar(2.0, x)?;
            let d = b.mul(two, y)?;
            b.div(g, d)
        }
        // d tanh(x) = g * (1 - y^2)
        UnaryOp::Tanh => {
            let one = b.scalar(1.0, x)?;
            let y2 = b.unary(UnaryOp::Square, y)?;
            let d = b.sub(one, y2)?;
            b.mul(g, d)
        }
        // d sigmoid(x) = g * y * (1 - y)
        UnaryOp::Sigmoid => {
            let one = b.scalar(1.0, x)?;
            let rest = b.sub(one, y)?;
            let d = b.mul(y, rest)?;
            b.mul(g, d)
        }
        // d softplus(x) = g * sigmoid(x)
        UnaryOp::Softplus => {
            let s = b.unary(UnaryOp::Sigmoid, x)?;
            b.mul(g, s)
        }
        // d relu(x) = g where x > 0
        UnaryOp::Relu => {
            let zero = b.scalar(0.0, x)?;
            let positive = b.binary(BinaryOp::Gt, x, zero)?;
            b.mask(positive, g, true)
        }
        // d sin(x) = g * cos(x)
        UnaryOp::Sin => {
            let c = b.unary(UnaryOp::Cos, x)?;
            b.mul(g, c)
        }
        // d cos(x) = -g * sin(x)
        UnaryOp::Cos => {
            let s = b.unary(UnaryOp::Sin, x)?;
            let gs = b.mul(g, s)?;
            b.neg(gs)
        }
        // d x^2 = g * 2x
        UnaryOp::Square => {
            let two = b.scalar(2.0, x)?;
            let d = b.mul(two, x)?;
            b.mul(g, d)
        }
        // d (1/x) = -g * y^2
        UnaryOp::Reciprocal => {
            let y2 = b.unary(UnaryOp::Square, y)?;
            let gy2 = b.mul(g, y2)?;
            b.neg(gy2)
        }
        // `flow` gives these no gradient; a zero keeps the match total.
        UnaryOp::Sign | UnaryOp::Not => {
            let ty = b.ty(x).clone();
            b.zeros(ty.dtype, &ty.shape)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn binary(
    b: &mut Builder<'_>,
    op: BinaryOp,
    y: NodeId,
    a: NodeId,
    c: NodeId,
    g: NodeId,
    needed: &[bool],
) -> Result<(Option<NodeId>, Option<NodeId>), GradError> {
    let (need_a, need_c) = (needed[0], needed[1]);
    let maybe = |need: bool, f: &mut dyn FnMut(&mut Builder<'_>) -> Result<NodeId, GradError>, b: &mut Builder<'_>| {
        if need { f(b).map(Some) } else { Ok(None) }
    };
    Ok(match op {
        // d(a + c) = g, g
        BinaryOp::Add => (need_a.then_some(g), need_c.then_some(g)),
        // d(a - c) = g, -g
        BinaryOp::Sub => (need_a.then_some(g), maybe(need_c, &mut |b| b.neg(g), b)?),
        // d(a c) = g c, g a
        BinaryOp::Mul => (maybe(need_a, &mut |b| b.mul(g, c), b)?, maybe(need_c, &mut |b| b.mul(g, a), b)?),
        // d(a / c) = g / c, -g y / c
        BinaryOp::Div => (
            maybe(need_a, &mut |b| b.div(g, c), b)?,
            maybe(
                need_c,
                &mut |b| {
                    let gy = b.mul(g, y)?;
                    let q = b.div(gy, c)?;
                    b.neg(q)
                },
                b,
            )?,
        ),
        // d(a^c) = g c a^(c-1), g y log(a)
        BinaryOp::Pow => (
            maybe(
                need_a,
                &mut |b| {
                    let one = b.scalar(1.0, c)?;
                    let c1 = b.sub(c, one)?;
                    let p = b.binary(BinaryOp::Pow, a, c1)?;
                    let cp = b.mul(c, p)?;
                    b.mul(g, cp)
                },
                b,
            )?,
            maybe(
                need_c,
                &mut |b| {
                    let log_a = b.unary(UnaryOp::Log, a)?;
                    let gy = b.mul(g, y)?;
                    b.mul(gy, log_a)
                },
                b,
            )?,
        ),
        // The larger (smaller) operand gets the gradient; ties go to `a`.
        BinaryOp::Max | BinaryOp::Min => {
            let pick = if op == BinaryOp::Max { BinaryOp::Ge } else { BinaryOp::Le };
            let a_wins = b.binary(pick, a, c)?;
            (maybe(need_a, &mut |b| b.mask(a_wins, g, true), b)?, maybe(need_c, &mut |b| b.mask(a_wins, g, false), b)?)
        }
        // `flow` blocks these.
        BinaryOp::Eq
        | BinaryOp::Ne
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge
        | BinaryOp::And
        | BinaryOp::Or => (None, None),
    })
}

/// numpy matmul: promote 1-D operands to matrices, take the two products,
/// sum over broadcast batch axes, and undo the promotion.
fn matmul(
    b: &mut Builder<'_>,
    a: NodeId,
    c: NodeId,
    g: NodeId,
    needed: &[bool],
) -> Result<(Option<NodeId>, Option<NodeId>), GradError> {
    let (a_shape, c_shape) = (b.ty(a).shape.clone(), b.ty(c).shape.clone());
    let promote = |b: &mut Builder<'_>, x: NodeId, shape: &Shape, at: usize| -> Result<NodeId, GradError> {
        if shape.rank() != 1 {
            return Ok(x);
        }
        let mut dims = shape.0.clone();
        dims.insert(at, tx_ir::Dim::Known(1));
        b.add(Op::Reshape { shape: Shape(dims) }, &[x])
    };
    let a2 = promote(b, a, &a_shape, 0)?;
    let c2 = promote(b, c, &c_shape, 1)?;
    // g in the shape of matmul(a2, c2): put back the axes numpy removed.
    let mut g_dims = b.ty(g).shape.0.clone();
    if a_shape.rank() == 1 {
        let at = g_dims.len() + 1 - usize::from(c_shape.rank() != 1);
        g_dims.insert(at - 1, tx_ir::Dim::Known(1));
    }
    if c_shape.rank() == 1 {
        g_dims.push(tx_ir::Dim::Known(1));
    }
    let g2 = if b.ty(g).shape.0 == g_dims { g } else { b.add(Op::Reshape { shape: Shape(g_dims) }, &[g])? };
    let swap = |b: &mut Builder<'_>, x: NodeId| -> Result<NodeId, GradError> {
        let rank = b.ty(x).rank();
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(rank - 2, rank - 1);
        b.add(Op::Transpose { perm }, &[x])
    };
    let mut da = None;
    if needed[0] {
        // da = g c^T, summed over the batch axes a was broadcast along.
        let ct = swap(b, c2)?;
        let product = b.add(Op::MatMul, &[g2, ct])?;
        let a2_shape = b.ty(a2).shape.clone();
        let summed = b.unbroadcast(product, &a2_shape)?;
        da = Some(if a_shape.rank() == 1 { b.add(Op::Reshape { shape: a_shape.clone() }, &[summed])? } else { summed });
    }
    let mut dc = None;
    if needed[1] {
        // dc = a^T g.
        let at = swap(b, a2)?;
        let product = b.add(Op::MatMul, &[at, g2])?;
        let c2_shape = b.ty(c2).shape.clone();
        let summed = b.unbroadcast(product, &c2_shape)?;
        dc = Some(if c_shape.rank() == 1 { b.add(Op::Reshape { shape: c_shape.clone() }, &[summed])? } else { summed });
    }
    Ok((da, dc))
}
