//! tx-autodiff: reverse-mode automatic differentiation as a graph-to-graph
//! transform, in the manner of Theano's `grad`. The gradient is appended to
//! the graph as ordinary nodes, so it is printed, optimized and evaluated
//! like anything else, and can itself be differentiated (gradients of
//! gradients, Hessian-vector products).
//!
//! [`rules`] holds the derivative of every op in one exhaustive match; this
//! file holds the reverse sweep: which nodes need an adjoint, how adjoints
//! are summed, and how a contribution computed in a broadcast shape is
//! summed back to its operand's shape.
//!
//! **Architecture invariant:** this crate knows only `tx-ir`: no syntax, no
//! evaluation. It never panics on a well-typed graph; everything it cannot
//! do is a [`GradError`].

mod builder;
mod higher;
mod rules;

use tx_ir::{Graph, Node, NodeId, Op};

use builder::Builder;
pub use higher::{MAX_JACOBIAN_ROWS, hvp, jacobian, jvp};
pub use rules::{Flow, flow};

/// Options of [`grad`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GradConfig {
    /// A `wrt` node the cost does not depend on gets a zero gradient instead
    /// of an error.
    pub allow_unused: bool,
    /// `(weight, stand-in)` pairs, each stand-in of its weight's type: a
    /// `matmul` with the weight as an operand sends the gradient to its
    /// other operand as if it had been computed with the stand-in, so the
    /// weight's transpose never carries the gradient backwards (feedback
    /// alignment's fixed random matrices). The weight's own gradient, and
    /// every other op that uses it, stay exact. Empty: the true gradient.
    pub feedback: Vec<(NodeId, NodeId)>,
}

/// Why a gradient cannot be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GradError {
    /// The cost (or a seeded output) is not a float tensor, `grad`'s cost is
    /// not a scalar, or a cotangent or a feedback stand-in has the wrong type.
    BadCost { node: NodeId, message: String },
    /// A `wrt` node is not a float tensor.
    NotFloat { wrt: NodeId },
    /// The cost does not depend on `wrt` (and unused inputs are not allowed).
    Unused { wrt: NodeId },
    /// The gradient would have to pass through `node`, whose op has no
    /// derivative with respect to operand `operand` (comparisons, `argmax`,
    /// casts from integers, ...).
    NotDifferentiable { node: NodeId, operand: usize },
    /// A derivative rule built an ill-typed node: a bug in tx.
    Internal { node: NodeId, message: String },
}

impl std::fmt::Display for GradError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GradError::BadCost { message, .. } => f.write_str(message),
            GradError::NotFloat { wrt } => {
                write!(f, "cannot differentiate with respect to {wrt}: it is not a float tensor")
            }
            GradError::Unused { wrt } => write!(f, "the cost does not depend on {wrt}"),
            GradError::NotDifferentiable { node, operand } => {
                write!(f, "the gradient would pass through operand {operand} of {node}, which is not differentiable")
            }
            GradError::Internal { node, message } => {
                write!(f, "internal error while differentiating {node} (a bug in tx): {message}")
            }
        }
    }
}

impl std::error::Error for GradError {}

/// The gradient of the float scalar `cost` with respect to each of `wrt`,
/// appended to `graph`: one node per `wrt`, with its type.
pub fn grad(graph: &mut Graph, cost: NodeId, wrt: &[NodeId], config: &GradConfig) -> Result<Vec<NodeId>, GradError> {
    let ty = graph.ty(cost).clone();
    if !ty.dtype.is_float() || ty.rank() != 0 {
        return Err(GradError::BadCost {
            node: cost,
            message: format!("the cost to differentiate must be a float scalar, but it is {ty}"),
        });
    }
    let mut b = Builder::new(graph, cost);
    let seed = b.constant(1.0, ty.dtype)?;
    vjp(graph, &[(cost, seed)], wrt, config)
}

/// Reverse mode in general: given cotangents `seeds` (pairs of an output
/// node and a node of the same type holding its cotangent), the
/// vector-Jacobian products with respect to each of `wrt`.
pub fn vjp(
    graph: &mut Graph,
    seeds: &[(NodeId, NodeId)],
    wrt: &[NodeId],
    config: &GradConfig,
) -> Result<Vec<NodeId>, GradError> {
    for &w in wrt {
        if !graph.ty(w).dtype.is_float() {
            return Err(GradError::NotFloat { wrt: w });
        }
    }
    for &(weight, stand_in) in &config.feedback {
        let (weight_ty, stand_in_ty) = (graph.ty(weight), graph.ty(stand_in));
        if weight_ty != stand_in_ty {
            return Err(GradError::BadCost {
                node: stand_in,
                message: format!("the stand-in for an {weight_ty} weight must be {weight_ty}, but it is {stand_in_ty}"),
            });
        }
    }
    for &(output, seed) in seeds {
        let (out_ty, seed_ty) = (graph.ty(output), graph.ty(seed));
        if !out_ty.dtype.is_float() || out_ty != seed_ty {
            return Err(GradError::BadCost {
                node: output,
                message: format!("the cotangent of an {out_ty} output must be {out_ty}, but it is {seed_ty}"),
            });
        }
    }
    let original = graph.len();
    // Which nodes depend on some `wrt`: only they need adjoints.
    let mut depends = vec![false; original];
    for &w in wrt {
        depends[w.index()] = true;
    }
    for id in graph.ids() {
        if graph.node(id).inputs.iter().any(|i| depends[i.index()]) {
            depends[id.index()] = true;
        }
    }

    let mut adjoint: Vec<Option<NodeId>> = vec![None; original];
    for &(output, seed) in seeds {
        let mut b = Builder::new(graph, output);
        adjoint[output.index()] = Some(b.accumulate(adjoint[output.index()], seed)?);
    }
    let last = seeds.iter().map(|(o, _)| o.index()).max().unwrap_or(0);
    for index in (0..=last.min(original.saturating_sub(1))).rev() {
        let id = NodeId(index as u32);
        let (Some(g), true) = (adjoint[index], depends[index]) else { continue };
        let node = graph.node(id).clone();
        // Which operands need a contribution; an operand the gradient must
        // reach but cannot is an error.
        let mut needed = vec![false; node.inputs.len()];
        for (k, operand) in node.inputs.iter().enumerate() {
            if !depends[operand.index()] {
                continue;
            }
            match flow(&node.op, k, graph.ty(*operand).dtype) {
                Flow::Gradient => needed[k] = true,
                Flow::Zero => {}
                Flow::Blocked => return Err(GradError::NotDifferentiable { node: id, operand: k }),
            }
        }
        if !needed.iter().any(|&n| n) {
            continue;
        }
        let mut b = Builder::new(graph, id);
        let differentiated = with_stand_ins(&node, &config.feedback);
        let contributions = rules::vjp(&mut b, id, &differentiated, g, &needed)?;
        for (k, contribution) in contributions.into_iter().enumerate() {
            let (Some(c), true) = (contribution, needed[k]) else { continue };
            let operand = node.inputs[k];
            let target = b.ty(operand).shape.clone();
            let c = b.unbroadcast(c, &target)?;
            adjoint[operand.index()] = Some(b.accumulate(adjoint[operand.index()], c)?);
        }
    }

    let mut out = Vec::with_capacity(wrt.len());
    for &w in wrt {
        match adjoint[w.index()] {
            Some(g) => out.push(g),
            None if config.allow_unused => {
                let ty = graph.ty(w).clone();
                let mut b = Builder::new(graph, w);
                out.push(b.zeros(ty.dtype, &ty.shape)?);
            }
            None => return Err(GradError::Unused { wrt: w }),
        }
    }
    Ok(out)
}

/// `node` as the sweep differentiates it: each operand of a `matmul` that
/// has a stand-in reads the stand-in instead. A matmul's contribution to
/// one operand reads only the other operand (never its result), so the
/// gradient to a weight stays exact while the gradient to the weight's
/// partner travels back through the stand-in.
fn with_stand_ins(node: &Node, feedback: &[(NodeId, NodeId)]) -> Node {
    let mut node = node.clone();
    if matches!(node.op, Op::MatMul) {
        for input in &mut node.inputs {
            if let Some(&(_, stand_in)) = feedback.iter().find(|(weight, _)| weight == input) {
                *input = stand_in;
            }
        }
    }
    node
}
