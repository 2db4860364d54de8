//! Derivatives built from reverse mode: Jacobian-vector products (by
//! transposing the vector-Jacobian product, which is linear in its
//! cotangent), Hessian-vector products (reverse over reverse) and whole
//! Jacobians (one vector-Jacobian product per output element).

use tx_ir::{AxisSlice, Dim, Graph, NodeId, Op, ReduceOp, Scalar, Shape};

use crate::builder::Builder;
use crate::{GradConfig, GradError, grad, vjp};

/// The largest output a Jacobian is built for, in elements: each element
/// costs one reverse sweep in the graph.
pub const MAX_JACOBIAN_ROWS: usize = 4096;

/// `J v`: the derivative of `output` in the direction `tangents` (one per
/// `wrt`, each of its type). Built as `d/du <vjp(output, u), v>` for a
/// cotangent `u`, since the vector-Jacobian product is linear in `u`.
pub fn jvp(graph: &mut Graph, output: NodeId, wrt: &[NodeId], tangents: &[NodeId]) -> Result<NodeId, GradError> {
    if wrt.len() != tangents.len() {
        return Err(GradError::BadCost { node: output, message: "one tangent is needed for each `wrt`".to_string() });
    }
    for (&w, &t) in wrt.iter().zip(tangents) {
        if graph.ty(w) != graph.ty(t) {
            let message =
                format!("the tangent of a {} value must be {}, but it is {}", graph.ty(w), graph.ty(w), graph.ty(t));
            return Err(GradError::BadCost { node: t, message });
        }
    }
    let ty = graph.ty(output).clone();
    if !ty.dtype.is_float() {
        return Err(GradError::BadCost { node: output, message: format!("cannot differentiate an {ty} output") });
    }
    let u = Builder::new(graph, output).zeros(ty.dtype, &ty.shape)?;
    let cotangents = vjp(graph, &[(output, u)], wrt, &GradConfig { allow_unused: true, ..GradConfig::default() })?;
    let mut b = Builder::new(graph, output);
    let mut total: Option<NodeId> = None;
    for (&c, &t) in cotangents.iter().zip(tangents) {
        let product = b.mul(c, t)?;
        let rank = b.ty(product).rank();
        let dot = b.add(Op::Reduce { op: ReduceOp::Sum, axes: (0..rank).collect(), keepdims: false }, &[product])?;
        total = Some(b.accumulate(total, dot)?);
    }
    let total = total.ok_or_else(|| GradError::BadCost { node: output, message: "no `wrt` given".to_string() })?;
    Ok(grad(graph, total, &[u], &GradConfig { allow_unused: true, ..GradConfig::default() })?[0])
}

/// `H v`: the Hessian of the scalar `cost` with respect to `wrt`, times `v`.
pub fn hvp(graph: &mut Graph, cost: NodeId, wrt: NodeId, v: NodeId) -> Result<NodeId, GradError> {
    let g = grad(graph, cost, &[wrt], &GradConfig::default())?[0];
    let mut b = Builder::new(graph, cost);
    let gv = b.mul(g, v)?;
    let rank = b.ty(gv).rank();
    let dot = b.add(Op::Reduce { op: ReduceOp::Sum, axes: (0..rank).collect(), keepdims: false }, &[gv])?;
    Ok(grad(graph, dot, &[wrt], &GradConfig { allow_unused: true, ..GradConfig::default() })?[0])
}

/// The Jacobian of `output` (of known shape `O`) with respect to `wrt` (of
/// shape `W`), as a tensor of shape `O ++ W`.
pub fn jacobian(graph: &mut Graph, output: NodeId, wrt: NodeId) -> Result<NodeId, GradError> {
    let ty = graph.ty(output).clone();
    let sizes: Option<Vec<usize>> = ty.shape.0.iter().map(Dim::known).collect();
    let Some(sizes) = sizes else {
        let message = format!("a Jacobian needs an output of known shape, but it is {ty}");
        return Err(GradError::BadCost { node: output, message });
    };
    let rows: usize = sizes.iter().product();
    if rows > MAX_JACOBIAN_ROWS {
        let message =
            format!("a Jacobian of an output with {rows} elements is too large (at most {MAX_JACOBIAN_ROWS})");
        return Err(GradError::BadCost { node: output, message });
    }
    let wrt_shape = graph.ty(wrt).shape.clone();
    let mut row_shape = vec![Dim::Known(1)];
    row_shape.extend(wrt_shape.0.iter().cloned());
    let mut parts = Vec::with_capacity(rows);
    for index in 0..rows {
        // The one-hot cotangent of element `index`.
        let mut b = Builder::new(graph, output);
        let one = b.add(Op::Constant { value: Scalar::Float(1.0), dtype: ty.dtype }, &[])?;
        let ones = b.add(Op::Reshape { shape: Shape(vec![Dim::Known(1); sizes.len()]) }, &[one])?;
        let mut axes = Vec::with_capacity(sizes.len());
        let mut rest = index;
        for (axis, _) in sizes.iter().enumerate() {
            let stride: usize = sizes[axis + 1..].iter().product();
            axes.push(AxisSlice::Range { start: rest / stride, step: 1, len: 1 });
            rest %= stride;
        }
        let seed = b.add(Op::Unslice { axes, shape: ty.shape.clone() }, &[ones])?;
        let row =
            vjp(graph, &[(output, seed)], &[wrt], &GradConfig { allow_unused: true, ..GradConfig::default() })?[0];
        let mut b = Builder::new(graph, output);
        parts.push(b.add(Op::Reshape { shape: Shape(row_shape.clone()) }, &[row])?);
    }
    let mut dims = ty.shape.0.clone();
    dims.extend(wrt_shape.0.iter().cloned());
    let shape = Shape(dims);
    let mut b = Builder::new(graph, output);
    // Zero output elements: an empty Jacobian.
    if rows == 0 {
        return b.zeros(ty.dtype, &shape);
    }
    let stacked = if parts.len() == 1 { parts[0] } else { b.add(Op::Concat { axis: 0 }, &parts)? };
    if b.ty(stacked).shape == shape {
        return Ok(stacked);
    }
    b.add(Op::Reshape { shape }, &[stacked])
}
