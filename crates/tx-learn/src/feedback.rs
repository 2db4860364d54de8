//! Feedback alignment (Lillicrap et al. 2016) and direct feedback alignment
//! (Nøkland 2016): backprop without weight transport. Both send the error
//! backwards through fixed random matrices instead of the transposed forward
//! weights; the matrices are frozen parameters of the step graph, named
//! `<name>.feedback` (names a program cannot write), drawn from a seeded
//! Glorot initializer, so they stay fixed for a run and are saved in
//! checkpoints with the other parameters.
//!
//! With a_l = h_{l-1} W_l + b_l, h_l = s(a_l) and the output error e:
//! - FA:  delta_l = (delta_{l+1} B_{l+1}) * s'(a_l), B_{l+1} of W_{l+1}^T's shape;
//! - DFA: delta_l = (e B_l) * s'(a_l), B_l of shape [n_out, n_l];
//!
//! and every weight's gradient is h_{l-1}^T delta_l, as in backprop.

use tx_autodiff::GradConfig;
use tx_ir::{Dim, Graph, Init, Model, NodeId, Op, Shape, Type};

use crate::LearnError;
use crate::rule::{Rule, loss_of, trained_params};

/// How the fixed random feedback matrices are drawn: Glorot-uniform, like a
/// weight of their shape, times `scale`, from a seed made of `seed` and the
/// matrix's name (so each matrix has its own stream and adding one leaves
/// the others as they were).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Feedback {
    pub seed: u64,
    pub scale: f64,
}

impl Default for Feedback {
    fn default() -> Feedback {
        Feedback { seed: 0, scale: 1.0 }
    }
}

/// Feedback alignment: backprop, except that where the gradient would go
/// back through a trained weight's transpose (a `matmul` of the weight and
/// a value that depends on other trained parameters) it goes through a
/// fixed random matrix of the transpose's shape. Every model with such a
/// weight trains by it; layer declarations are not needed.
#[derive(Clone, Copy, Debug, Default)]
pub struct FeedbackAlignment {
    pub feedback: Feedback,
}

/// Direct feedback alignment: the error at the output layer (the last
/// `layer`) is sent straight to every hidden layer through a fixed random
/// matrix B_l of shape [n_out, n_l]: a hidden layer's parameters get the
/// vector-Jacobian product of its value h_l with respect to them, with the
/// cotangent e B_l and the layer's input held fixed. The output layer's
/// parameters, and any the loss uses above it, get their true gradient.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectFeedbackAlignment {
    pub feedback: Feedback,
}

impl Rule for FeedbackAlignment {
    fn name(&self) -> &'static str {
        "fa"
    }

    fn gradients(&self, graph: &mut Graph, model: &Model) -> Result<Vec<(NodeId, NodeId)>, LearnError> {
        let loss = loss_of(model)?;
        let params = trained_params(graph, loss);
        let weights = transported_weights(graph, loss, &params);
        if weights.is_empty() {
            return Err(LearnError::Model(
                "`fa` replaces the transposed weights that carry the gradient down to lower layers, but this \
                 model has none: no `matmul` of a trained parameter with a value that depends on another \
                 trained parameter (a layer below it)"
                    .to_string(),
            ));
        }
        let mut stand_ins = Vec::with_capacity(weights.len());
        for weight in weights {
            let ty = graph.ty(weight).clone();
            let name = format!("{}.feedback", param_name(graph, weight)?);
            let matrix = feedback_matrix(graph, &name, Type::new(ty.dtype, transposed(&ty.shape)), self.feedback)?;
            // The matrix has W^T's shape; the sweep wants a stand-in of W's.
            let stand_in = match swap_last_two(ty.rank()) {
                Some(perm) => graph.add(Op::Transpose { perm }, &[matrix]).map_err(internal)?,
                None => matrix,
            };
            stand_ins.push((weight, stand_in));
        }
        let config = GradConfig { feedback: stand_ins, ..GradConfig::default() };
        let grads = tx_autodiff::grad(graph, loss, &params, &config).map_err(LearnError::Grad)?;
        Ok(params.into_iter().zip(grads).collect())
    }
}

impl Rule for DirectFeedbackAlignment {
    fn name(&self) -> &'static str {
        "dfa"
    }

    fn gradients(&self, graph: &mut Graph, model: &Model) -> Result<Vec<(NodeId, NodeId)>, LearnError> {
        let loss = loss_of(model)?;
        let [hidden @ .., output] = model.layers.as_slice() else {
            return Err(dfa_needs_layers(0));
        };
        if hidden.is_empty() {
            return Err(dfa_needs_layers(1));
        }
        let params = trained_params(graph, loss);
        let boundaries: Vec<NodeId> = model.layers.iter().map(|l| l.node).collect();
        let insides: Vec<Vec<bool>> =
            model.layers.iter().map(|layer| layer_nodes(graph, layer.node, &boundaries)).collect();
        let owned: Vec<Vec<NodeId>> =
            insides.iter().map(|inside| params.iter().copied().filter(|p| inside[p.index()]).collect()).collect();
        for (i, lower) in model.layers.iter().enumerate() {
            for (j, upper) in model.layers.iter().enumerate().skip(i + 1) {
                if let Some(&shared) = owned[i].iter().find(|p| owned[j].contains(p)) {
                    return Err(LearnError::Model(format!(
                        "`dfa` trains each layer by its own error signal, but parameter `{}` is used by both \
                         layer `{}` and layer `{}`",
                        param_name(graph, shared)?,
                        lower.name,
                        upper.name
                    )));
                }
            }
        }
        let out_ty = graph.ty(output.node).clone();
        let out_units = units(&out_ty).ok_or_else(|| {
            LearnError::Model(format!(
                "`dfa` needs the output layer `{}` to be a [batch, units] matrix with a known number of units, \
                 but it is {out_ty}",
                output.name
            ))
        })?;
        for ((layer, own), inside) in hidden.iter().zip(&owned).zip(&insides) {
            let ty = graph.ty(layer.node);
            if units(ty).is_none() || ty.shape.0[0] != out_ty.shape.0[0] {
                return Err(LearnError::Model(format!(
                    "`dfa` needs hidden layer `{}` to be a [batch, units] matrix with a known number of units and \
                     the batch of the output layer `{}` ({out_ty}), but it is {ty}",
                    layer.name, output.name
                )));
            }
            let multiplies = graph.nodes().any(|(id, node)| {
                inside[id.index()] && matches!(node.op, Op::MatMul) && node.inputs.iter().any(|i| own.contains(i))
            });
            if !multiplies {
                return Err(LearnError::Model(format!(
                    "`dfa` needs every hidden layer to multiply its input by a trained weight of its own \
                     (h = s(h_prev @ W + b)), but layer `{}` has no `matmul` with a trained parameter",
                    layer.name
                )));
            }
        }

        // True gradients: the output error e = dL/d(output layer), and the
        // parameters of the output layer and of whatever lies above it.
        let hidden_params: Vec<NodeId> = owned[..hidden.len()].iter().flatten().copied().collect();
        let top: Vec<NodeId> = params.iter().copied().filter(|p| !hidden_params.contains(p)).collect();
        let mut wrt = vec![output.node];
        wrt.extend(&top);
        let grads = tx_autodiff::grad(graph, loss, &wrt, &GradConfig::default()).map_err(|e| match e {
            tx_autodiff::GradError::Unused { wrt } if wrt == output.node => {
                LearnError::Model(format!("`dfa` needs the loss to depend on the output layer `{}`", output.name))
            }
            other => LearnError::Grad(other),
        })?;
        let error = grads[0];
        let mut gradients: Vec<(NodeId, NodeId)> = top.into_iter().zip(grads[1..].iter().copied()).collect();

        // Each hidden layer: the VJP of h_l with the cotangent e B_l, a
        // constant, with respect to the layer's own parameters.
        for (layer, own) in hidden.iter().zip(&owned) {
            let ty = graph.ty(layer.node).clone();
            let n = units(&ty).unwrap_or(0);
            let shape = Shape(vec![Dim::Known(out_units), Dim::Known(n)]);
            let name = format!("{}.feedback", layer.name);
            let matrix = feedback_matrix(graph, &name, Type::new(out_ty.dtype, shape), self.feedback)?;
            let mut signal = graph.add(Op::MatMul, &[error, matrix]).map_err(internal)?;
            if ty.dtype != out_ty.dtype {
                signal = graph.add(Op::Cast { dtype: ty.dtype }, &[signal]).map_err(internal)?;
            }
            let signal = graph.add(Op::StopGradient, &[signal]).map_err(internal)?;
            let grads = tx_autodiff::vjp(graph, &[(layer.node, signal)], own, &GradConfig::default())
                .map_err(LearnError::Grad)?;
            gradients.extend(own.iter().copied().zip(grads));
        }
        // In declaration order, as backprop gives them.
        gradients.sort_by_key(|(param, _)| params.iter().position(|p| p == param));
        Ok(gradients)
    }
}

fn dfa_needs_layers(declared: usize) -> LearnError {
    LearnError::Model(format!(
        "`dfa` sends the output error to every hidden layer, so it needs `layer` declarations: at least one \
         hidden layer and the output layer (the last `layer`); this model declares {declared}"
    ))
}

/// The trained weights whose transpose carries the gradient backwards: an
/// operand of a `matmul` the loss uses whose other operand depends on a
/// trained parameter. In order of first use, once each.
fn transported_weights(graph: &Graph, loss: NodeId, params: &[NodeId]) -> Vec<NodeId> {
    let used = graph.reachable_from(&[loss]);
    let mut carries = vec![false; graph.len()];
    for &p in params {
        carries[p.index()] = true;
    }
    let mut weights = Vec::new();
    for (id, node) in graph.nodes() {
        if node.inputs.iter().any(|i| carries[i.index()]) {
            carries[id.index()] = true;
        }
        if !used[id.index()] || !matches!(node.op, Op::MatMul) {
            continue;
        }
        let (a, c) = (node.inputs[0], node.inputs[1]);
        for (weight, partner) in [(a, c), (c, a)] {
            if params.contains(&weight) && carries[partner.index()] && !weights.contains(&weight) {
                weights.push(weight);
            }
        }
    }
    weights
}

/// The nodes of one layer's expression: those `layer` depends on without
/// passing through another layer boundary (the boundaries themselves are
/// marked, not entered).
pub(crate) fn layer_nodes(graph: &Graph, layer: NodeId, boundaries: &[NodeId]) -> Vec<bool> {
    let mut inside = vec![false; graph.len()];
    inside[layer.index()] = true;
    for index in (0..=layer.index()).rev() {
        let id = NodeId(index as u32);
        if inside[index] && (id == layer || !boundaries.contains(&id)) {
            for input in &graph.node(id).inputs {
                inside[input.index()] = true;
            }
        }
    }
    inside
}

/// The number of units of a [batch, units] value with a known unit count.
pub(crate) fn units(ty: &Type) -> Option<usize> {
    match ty.shape.0.as_slice() {
        [_, units] => units.known(),
        _ => None,
    }
}

/// A new frozen parameter holding a fixed random matrix.
fn feedback_matrix(graph: &mut Graph, name: &str, ty: Type, feedback: Feedback) -> Result<NodeId, LearnError> {
    seeded_glorot(graph, name, ty, feedback, true)
}

/// A new parameter a rule makes, Glorot-uniform times `feedback.scale`,
/// drawn from `feedback.seed` and its name.
pub(crate) fn seeded_glorot(
    graph: &mut Graph,
    name: &str,
    ty: Type,
    feedback: Feedback,
    frozen: bool,
) -> Result<NodeId, LearnError> {
    let seed = name_seed(name) ^ feedback.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    graph.param(name, ty, Init::Glorot { gain: feedback.scale, seed }, frozen).map_err(internal)
}

/// FNV-1a of a name: each feedback matrix's own stream.
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The permutation that swaps the last two axes, when there are two.
fn swap_last_two(rank: usize) -> Option<Vec<usize>> {
    (rank >= 2).then(|| {
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(rank - 2, rank - 1);
        perm
    })
}

/// A shape with its last two axes swapped (a vector stays as it is).
fn transposed(shape: &Shape) -> Shape {
    match swap_last_two(shape.rank()) {
        Some(perm) => Shape(perm.iter().map(|&axis| shape.0[axis].clone()).collect()),
        None => shape.clone(),
    }
}

pub(crate) fn param_name(graph: &Graph, param: NodeId) -> Result<&str, LearnError> {
    match &graph.node(param).op {
        Op::Param { name, .. } => Ok(name),
        _ => Err(LearnError::Internal(format!("{param} is not a parameter"))),
    }
}

fn internal(e: tx_ir::GraphError) -> LearnError {
    LearnError::Internal(e.message)
}
