//! Copies of graphs inside a step graph, as target propagation needs them:
//! a layer's inverse g_i applied to a given argument (the inverse is a graph
//! of its own, whose parameters name the model's), and a layer f_i applied
//! to a new input (the nodes between two layer boundaries, copied with the
//! lower boundary replaced). Both copy the nodes' source origins, so a NaN
//! found in a copy points at the expression it came from.

use tx_ir::{Graph, Layer, NodeId, Op};

use crate::LearnError;

/// Extra features joined to an inverse's argument where the inverse first
/// multiplies it by a matrix: `t @ V` becomes `t @ V + features @ weight`,
/// which is `[t, features] @ [V; weight]` (AO-SDTP's auxiliary outputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    pub features: NodeId,
    pub weight: NodeId,
}

/// g(arg) for the inverse of `layer`, appended to `graph`: the inverse's
/// argument becomes `arg` (which must have the argument's type) and its
/// parameters the parameters of `graph` with the same names.
pub fn apply_inverse(graph: &mut Graph, layer: &Layer, arg: NodeId) -> Result<NodeId, LearnError> {
    apply_inverse_joined(graph, layer, arg, None)
}

/// `apply_inverse`, with `joined` features added where the inverse
/// multiplies its argument by a matrix (see [`Joined`]; the caller checks
/// with [`entry_matmul`] that the inverse has that form).
pub fn apply_inverse_joined(
    graph: &mut Graph,
    layer: &Layer,
    arg: NodeId,
    joined: Option<Joined>,
) -> Result<NodeId, LearnError> {
    let inverse =
        layer.inverse.as_ref().ok_or_else(|| LearnError::Model(format!("layer `{}` has no inverse", layer.name)))?;
    let (expected, given) = (inverse.graph.ty(inverse.arg), graph.ty(arg));
    if expected != given {
        return Err(LearnError::Model(format!(
            "the inverse of layer `{}` takes {expected}, but target propagation applies it to {given}",
            layer.name
        )));
    }
    let entry = joined.map(|_| entry_matmul(layer)).transpose()?;
    let source = &inverse.graph;
    let live = source.reachable_from(&[inverse.result]);
    let mut copies: Vec<NodeId> = Vec::with_capacity(inverse.result.index() + 1);
    for (id, node) in source.nodes().take(inverse.result.index() + 1) {
        if !live[id.index()] {
            copies.push(arg); // a placeholder: nothing the result needs reads it
            continue;
        }
        let copy = match &node.op {
            Op::Input { .. } if id == inverse.arg => arg,
            Op::Input { name, .. } => {
                return Err(LearnError::Model(format!(
                    "the inverse of layer `{}` reads input `{name}`; an inverse reads only its argument",
                    layer.name
                )));
            }
            Op::Param { name, ty } => match graph.param_named(name) {
                Some(param) if graph.ty(param.node) == ty => param.node,
                Some(param) => {
                    return Err(LearnError::Model(format!(
                        "the inverse of layer `{}` uses parameter `{name}` as {ty}, but the model declares it as {}",
                        layer.name,
                        graph.ty(param.node)
                    )));
                }
                None => {
                    return Err(LearnError::Model(format!(
                        "the inverse of layer `{}` uses parameter `{name}`, which the model does not declare",
                        layer.name
                    )));
                }
            },
            op => {
                let inputs: Vec<NodeId> = node.inputs.iter().map(|i| copies[i.index()]).collect();
                let mut copy = graph.add(op.clone(), &inputs).map_err(internal)?;
                if let Some(origin) = source.origin(id) {
                    graph.set_origin_if_unset(copy, origin);
                }
                if let (Some(entry), Some(joined)) = (entry, joined)
                    && entry == id
                {
                    let extra = graph.add(Op::MatMul, &[joined.features, joined.weight]).map_err(internal)?;
                    copy = graph.add(Op::Binary(tx_ir::BinaryOp::Add), &[copy, extra]).map_err(internal)?;
                }
                copy
            }
        };
        copies.push(copy);
    }
    Ok(copies[inverse.result.index()])
}

/// The `t @ V` node of the inverse of `layer`: its argument's only use,
/// a `matmul` with the argument on the left.
pub fn entry_matmul(layer: &Layer) -> Result<NodeId, LearnError> {
    let inverse =
        layer.inverse.as_ref().ok_or_else(|| LearnError::Model(format!("layer `{}` has no inverse", layer.name)))?;
    let users = inverse.graph.users(inverse.arg);
    match users.as_slice() {
        [user]
            if matches!(inverse.graph.node(*user).op, Op::MatMul)
                && inverse.graph.node(*user).inputs[0] == inverse.arg =>
        {
            Ok(*user)
        }
        _ => Err(LearnError::Model(format!(
            "the inverse of layer `{}` must multiply its argument by a matrix first (as in `inverse(t) = tanh(t @ V + c)`), \
             so that more inputs can join the argument there",
            layer.name
        ))),
    }
}

/// f(input) for `layer`: the nodes on the paths from the layer below
/// (`below`) to `layer`, copied with `below`'s value replaced by `input`
/// (of the same type). Everything else the layer reads (its parameters,
/// constants, values from elsewhere) is shared, not copied.
pub fn reapply_layer(graph: &mut Graph, below: &Layer, layer: &Layer, input: NodeId) -> Result<NodeId, LearnError> {
    let (from, to) = (below.node, layer.node);
    if graph.ty(input) != graph.ty(from) {
        return Err(LearnError::Internal(format!(
            "layer `{}` applied to {} instead of {}",
            layer.name,
            graph.ty(input),
            graph.ty(from)
        )));
    }
    let needed = graph.reachable_from(&[to]);
    if from.index() >= to.index() || !needed[from.index()] {
        return Err(LearnError::Model(format!(
            "target propagation applies each layer to a new input, but layer `{}` does not use the layer before it, `{}`",
            layer.name, below.name
        )));
    }
    // Nodes between the two boundaries that depend on the lower one.
    let mut copies: Vec<Option<NodeId>> = vec![None; to.index() + 1];
    copies[from.index()] = Some(input);
    for index in from.index() + 1..=to.index() {
        let id = NodeId(index as u32);
        let node = graph.node(id);
        if !needed[index] || !node.inputs.iter().any(|i| copies[i.index()].is_some()) {
            continue;
        }
        let op = node.op.clone();
        let inputs: Vec<NodeId> = node.inputs.iter().map(|i| copies[i.index()].unwrap_or(*i)).collect();
        let copy = graph.add(op, &inputs).map_err(internal)?;
        if let Some(origin) = graph.origin(id) {
            graph.set_origin_if_unset(copy, origin);
        }
        copies[index] = Some(copy);
    }
    copies[to.index()].ok_or_else(|| LearnError::Internal(format!("layer `{}` was not copied", layer.name)))
}

fn internal(e: tx_ir::GraphError) -> LearnError {
    LearnError::Internal(e.message)
}
