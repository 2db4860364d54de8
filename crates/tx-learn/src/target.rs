//! The target-propagation family: target propagation (TP) and difference
//! target propagation (DTP) after Lee, Zhang, Fischer and Bengio (2015),
//! simplified DTP (SDTP) and SDTP with auxiliary outputs (AO-SDTP) after
//! Bartunov et al. (2018). The equations are those of TARGETPROP.md,
//! sections 1 and 2, in its notation: layers h_1..h_M (`layer`
//! declarations, h_M the output layer), inverses g_i (`inverse(t) = ...`)
//! mapping h_i to h_{i-1}.
//!
//! Forward parameters θ_i (the trained parameters layer i's own expression
//! uses) move toward targets ĥ_i, which are stop-gradient constants:
//! - top target, TP and DTP: ĥ_{M-1} = h_{M-1} − top_step · ∂L/∂h_{M-1}
//!   (the gradient of the model's loss through the output layer only);
//!   SDTP: ĥ_{M-1} = h_{M-1} + g_M(ĥ_M) − g_M(h_M), with h_M the class
//!   distribution softmax(output layer) and ĥ_M the label's one-hot;
//!   AO-SDTP: the same with h_M = [o, z], ĥ_M = [label, z], z = tanh(h_{M-1} R)
//!   fixed random features of the last hidden layer;
//! - lower targets: TP ĥ_{i-1} = g_i(ĥ_i); the others
//!   ĥ_{i-1} = h_{i-1} + (g_i(ĥ_i) − g_i(h_i)), the difference correction;
//! - hidden layer i: L_i = ||h_i − ĥ_i||² (sum over units, mean over the
//!   batch), differentiated with respect to θ_i only; the output layer (and
//!   any parameter of the loss above it) gets the gradient of the loss.
//!
//! Inverse parameters λ_i (the trained parameters an inverse uses that the
//! loss does not) minimize, with h̃ = h_{i-1} + ε, ε ~ N(0, σ²) and f_i
//! held constant: TP and DTP (noise-preserving, Lee):
//! ||g_i(f_i(h̃)) − h̃||², layers 2..M−1; SDTP and AO-SDTP (de-noising):
//! ||h_{i-1} − g_i(f_i(h̃))||², layers 2..M. The noise is an input of the
//! step graph, `noise.<layer>`, that the driver fills with fresh standard
//! normal draws every step; the graph scales it by σ, or by
//! σ / (1 + epoch / noise_decay).

use tx_autodiff::GradConfig;
use tx_ir::{BinaryOp, DType, Dim, Graph, Layer, Model, NodeId, Op, ReduceOp, Scalar, Shape, Type, UnaryOp};

use crate::LearnError;
use crate::feedback::{Feedback, layer_nodes, param_name, seeded_glorot, units};
use crate::optimizer::PhaseSchedule;
use crate::rule::{Rule, loss_of, trained_params};
use crate::splice::{Joined, apply_inverse, apply_inverse_joined, entry_matmul, reapply_layer};

/// Which rule of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Tp,
    Dtp,
    Sdtp,
    AoSdtp,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Tp => "tp",
            Variant::Dtp => "dtp",
            Variant::Sdtp => "sdtp",
            Variant::AoSdtp => "ao_sdtp",
        }
    }

    /// SDTP and AO-SDTP: the label is the output's target, and the output
    /// layer has an inverse too.
    fn label_target(self) -> bool {
        matches!(self, Variant::Sdtp | Variant::AoSdtp)
    }
}

/// The settings of a `train` block the family reads.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSettings {
    /// η̂, the step of the top target (TP and DTP).
    pub top_step: f64,
    /// σ of the inverse losses' corruption: one for every inverse, or one
    /// per trained inverse in layer order.
    pub noise: Vec<f64>,
    /// τ: σ at epoch e is σ / (1 + e/τ); `None` keeps σ constant.
    pub noise_decay: Option<f64>,
    pub schedule: PhaseSchedule,
    /// Reproduce the DTP reference code (conti_dtp.py), which never trains
    /// the bias of the fifth hidden layer nor the weight of the sixth.
    pub reference_quirks: bool,
    /// AO-SDTP: the number of auxiliary outputs z.
    pub aux_units: usize,
}

impl Default for TargetSettings {
    fn default() -> TargetSettings {
        TargetSettings {
            top_step: 0.1,
            noise: vec![0.1],
            noise_decay: None,
            schedule: PhaseSchedule::Alternating,
            reference_quirks: false,
            aux_units: 512,
        }
    }
}

/// A rule of the target-propagation family with its settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetPropagation {
    pub variant: Variant,
    pub settings: TargetSettings,
    /// The seed and gain of AO-SDTP's fixed random features (and of the
    /// initial weights that join them to the output inverse).
    pub feedback: Feedback,
}

impl TargetPropagation {
    /// The rule with default settings.
    pub fn new(variant: Variant) -> TargetPropagation {
        TargetPropagation { variant, settings: TargetSettings::default(), feedback: Feedback::default() }
    }

    /// Appends the targets ĥ_1..ĥ_{M-1} of the hidden layers (stop-gradient
    /// nodes, in layer order) to `graph`, a copy of the model's graph.
    pub fn targets(&self, graph: &mut Graph, model: &Model) -> Result<Vec<NodeId>, LearnError> {
        let net = self.network(graph, model)?;
        self.targets_of(graph, &net)
    }
}

impl Rule for TargetPropagation {
    fn name(&self) -> &'static str {
        self.variant.name()
    }

    fn gradients(&self, graph: &mut Graph, model: &Model) -> Result<Vec<(NodeId, NodeId)>, LearnError> {
        let net = self.network(graph, model)?;
        let targets = self.targets_of(graph, &net)?;
        let mut gradients = Vec::new();
        for (i, (layer, target)) in net.hidden.iter().zip(targets).enumerate() {
            let own = self.trained_by_target(graph, i, &net.own[i]);
            if own.is_empty() {
                continue;
            }
            let mut b = Nodes(graph);
            let local = b.squared_distance(layer.node, target)?;
            let grads = tx_autodiff::grad(graph, local, &own, &GradConfig::default()).map_err(LearnError::Grad)?;
            gradients.extend(own.into_iter().zip(grads));
        }
        if !net.top.is_empty() {
            let grads =
                tx_autodiff::grad(graph, net.loss, &net.top, &GradConfig::default()).map_err(LearnError::Grad)?;
            gradients.extend(net.top.iter().copied().zip(grads));
        }
        // In declaration order, as backprop gives them.
        gradients.sort_by_key(|(param, _)| net.params.iter().position(|p| p == param));
        Ok(gradients)
    }

    fn trains_inverses(&self) -> bool {
        true
    }

    fn inverse_gradients(
        &self,
        graph: &mut Graph,
        model: &Model,
        epoch: NodeId,
    ) -> Result<Vec<(NodeId, NodeId)>, LearnError> {
        let net = self.network(graph, model)?;
        let pairs = self.inverted(&net);
        let sigmas = self.sigmas(&pairs)?;
        let used_by_loss = graph.reachable_from(&[net.loss]);
        let mut total: Option<NodeId> = None;
        let mut wrt: Vec<NodeId> = Vec::new();
        for ((below, layer), sigma) in pairs.into_iter().zip(sigmas) {
            let inverse = layer.inverse.as_ref().ok_or_else(|| missing_inverse(self, &[layer]))?;
            let mut own: Vec<NodeId> = Vec::new();
            for info in inverse.graph.params() {
                if let Some(param) = graph.param_named(&info.name)
                    && !param.frozen
                    && !used_by_loss[param.node.index()]
                {
                    own.push(param.node);
                }
            }
            let is_output = std::ptr::eq(layer, net.output);
            let aux = if is_output && self.variant == Variant::AoSdtp { Some(self.aux(graph, &net)?) } else { None };
            if let Some(aux) = aux {
                own.push(aux.weight);
            }
            if own.is_empty() {
                continue; // nothing of this inverse is trained
            }
            let mut b = Nodes(graph);
            let clean = b.stop(below.node)?;
            let corrupted = if sigma > 0.0 {
                let ty = b.0.ty(below.node).clone();
                let noise = b.0.input(&format!("noise.{}", layer.name), ty.clone()).map_err(internal)?;
                let scale = b.sigma(sigma, self.settings.noise_decay, epoch, ty.dtype)?;
                let scaled = b.binary(BinaryOp::Mul, scale, noise)?;
                b.binary(BinaryOp::Add, clean, scaled)?
            } else {
                clean
            };
            let mut forward = reapply_layer(graph, below, layer, corrupted)?;
            let mut b = Nodes(graph);
            if is_output && self.variant.label_target() {
                forward = b.softmax(forward)?;
            }
            let forward = b.stop(forward)?;
            let joined = match aux {
                Some(aux) => Some(Joined { features: b.features(corrupted, aux.matrix)?, weight: aux.weight }),
                None => None,
            };
            let reconstruction = apply_inverse_joined(graph, layer, forward, joined)?;
            let mut b = Nodes(graph);
            let local = if self.variant.label_target() {
                b.squared_distance(clean, reconstruction)?
            } else {
                b.squared_distance(reconstruction, corrupted)?
            };
            total = Some(match total {
                Some(sum) => b.binary(BinaryOp::Add, sum, local)?,
                None => local,
            });
            for p in own {
                if !wrt.contains(&p) {
                    wrt.push(p);
                }
            }
        }
        let Some(total) = total else { return Ok(Vec::new()) };
        wrt.sort_by_key(|p| graph.params().iter().position(|info| info.node == *p));
        let grads = tx_autodiff::grad(graph, total, &wrt, &GradConfig::default()).map_err(LearnError::Grad)?;
        Ok(wrt.into_iter().zip(grads).collect())
    }

    fn schedule(&self) -> PhaseSchedule {
        self.settings.schedule
    }
}

/// What the rule reads of the model, checked.
struct Network<'m> {
    loss: NodeId,
    hidden: &'m [Layer],
    output: &'m Layer,
    /// θ_i: the trained parameters each hidden layer's expression uses.
    own: Vec<Vec<NodeId>>,
    /// The trained parameters outside the hidden layers (the output
    /// layer's, and any the loss uses above it): the loss's gradient.
    top: Vec<NodeId>,
    /// Every trained parameter, in declaration order.
    params: Vec<NodeId>,
    /// SDTP and AO-SDTP: the integer labels input.
    labels: Option<NodeId>,
}

/// AO-SDTP's auxiliary outputs: the fixed random matrix R of z = tanh(h R)
/// and the inverse weight U that joins z to the output inverse.
#[derive(Clone, Copy)]
struct Aux {
    matrix: NodeId,
    weight: NodeId,
}

impl TargetPropagation {
    /// Checks that the model has what the rule needs, naming what is missing.
    fn network<'m>(&self, graph: &Graph, model: &'m Model) -> Result<Network<'m>, LearnError> {
        let rule = self.name();
        let loss = loss_of(model)?;
        let [hidden @ .., output] = model.layers.as_slice() else {
            return Err(needs_layers(rule, 0));
        };
        if hidden.is_empty() {
            return Err(needs_layers(rule, 1));
        }
        for layer in hidden {
            let ty = graph.ty(layer.node);
            if !ty.dtype.is_float() || ty.rank() == 0 {
                return Err(LearnError::Model(format!(
                    "`{rule}` moves each hidden layer toward a target, so hidden layer `{}` must be a float \
                     [batch, units] tensor, but it is {ty}",
                    layer.name
                )));
            }
        }
        let last = hidden[hidden.len() - 1].node;
        if !graph.reachable_from(&[loss])[last.index()] {
            return Err(LearnError::Model(format!(
                "`{rule}` takes its first target from the loss at the last hidden layer `{}`, but the loss does \
                 not depend on it",
                hidden[hidden.len() - 1].name
            )));
        }

        // The inverses the rule applies: each maps h_i to h_{i-1}.
        let first = &model.layers[1..];
        let needed: &[Layer] = if self.variant.label_target() { first } else { &first[..first.len() - 1] };
        let missing: Vec<&Layer> = needed.iter().filter(|l| l.inverse.is_none()).collect();
        if !missing.is_empty() {
            return Err(missing_inverse(self, &missing));
        }
        for (below, layer) in model.layers.iter().zip(&model.layers[1..]) {
            let Some(inverse) = layer.inverse.as_ref().filter(|_| needed.iter().any(|l| std::ptr::eq(l, layer))) else {
                continue;
            };
            let (arg, result) = (inverse.graph.ty(inverse.arg), inverse.graph.ty(inverse.result));
            let (from, to) = (graph.ty(layer.node), graph.ty(below.node));
            if arg != from || result != to {
                return Err(LearnError::Model(format!(
                    "`{rule}` needs the inverse of layer `{}` to map {from} (the layer) to {to} (the layer before \
                     it, `{}`), but it maps {arg} to {result}",
                    layer.name, below.name
                )));
            }
        }

        let params = trained_params(graph, loss);
        let boundaries: Vec<NodeId> = model.layers.iter().map(|l| l.node).collect();
        let owned: Vec<Vec<NodeId>> = model
            .layers
            .iter()
            .map(|layer| {
                let inside = layer_nodes(graph, layer.node, &boundaries);
                params.iter().copied().filter(|p| inside[p.index()]).collect()
            })
            .collect();
        for (i, lower) in model.layers.iter().enumerate() {
            for (j, upper) in model.layers.iter().enumerate().skip(i + 1) {
                if let Some(&shared) = owned[i].iter().find(|p| owned[j].contains(p)) {
                    return Err(LearnError::Model(format!(
                        "`{rule}` trains each layer toward its own target, but parameter `{}` is used by both layer \
                         `{}` and layer `{}`",
                        param_name(graph, shared)?,
                        lower.name,
                        upper.name
                    )));
                }
            }
        }
        let own: Vec<Vec<NodeId>> = owned[..hidden.len()].to_vec();
        let top: Vec<NodeId> = params.iter().copied().filter(|p| !own.iter().flatten().any(|q| q == p)).collect();

        if self.settings.reference_quirks && hidden.len() < 6 {
            return Err(LearnError::Model(format!(
                "`reference_quirks` leaves the bias of the fifth hidden layer and the weight of the sixth \
                 untrained, as the DTP reference code does, so it needs at least six hidden layers; this model has {}",
                hidden.len()
            )));
        }

        let labels = if self.variant.label_target() { Some(self.labels(graph, output)?) } else { None };
        if self.variant == Variant::AoSdtp {
            entry_matmul(output).map_err(|e| LearnError::Model(format!("`ao_sdtp`: {e}")))?;
            let ty = graph.ty(last);
            if units(ty).is_none() {
                return Err(LearnError::Model(format!(
                    "`ao_sdtp` draws its auxiliary outputs from the last hidden layer `{}`, which must be a \
                     [batch, units] matrix with a known number of units, but it is {ty}",
                    hidden[hidden.len() - 1].name
                )));
            }
        }
        Ok(Network { loss, hidden, output, own, top, params, labels })
    }

    /// The integer labels input, the output's target of SDTP.
    fn labels(&self, graph: &Graph, output: &Layer) -> Result<NodeId, LearnError> {
        let rule = self.name();
        let ty = graph.ty(output.node);
        if !ty.dtype.is_float() || units(ty).is_none() {
            return Err(LearnError::Model(format!(
                "`{rule}` takes the label distribution as the target of the output layer `{}`, which must be a \
                 float [batch, classes] matrix of logits with a known number of classes, but it is {ty}",
                output.name
            )));
        }
        let labels: Vec<NodeId> = graph
            .inputs()
            .iter()
            .copied()
            .filter(|&id| {
                let t = graph.ty(id);
                t.dtype == DType::I64 && t.rank() == 1 && t.shape.0[0] == ty.shape.0[0]
            })
            .collect();
        match labels.as_slice() {
            [one] => Ok(*one),
            _ => Err(LearnError::Model(format!(
                "`{rule}` takes the label distribution as the target of the output layer, so the model needs \
                 exactly one integer labels input of shape i64[{}]; it has {}",
                ty.shape.0[0],
                labels.len()
            ))),
        }
    }

    /// ĥ of every hidden layer, from the top down.
    fn targets_of(&self, graph: &mut Graph, net: &Network) -> Result<Vec<NodeId>, LearnError> {
        let m = net.hidden.len();
        let last = &net.hidden[m - 1];
        let top = if self.variant.label_target() {
            // ĥ_{M-1} = h_{M-1} + (g_M(ĥ_M) − g_M(h_M)).
            let aux = if self.variant == Variant::AoSdtp { Some(self.aux(graph, net)?) } else { None };
            let mut b = Nodes(graph);
            let distribution = b.softmax(net.output.node)?;
            let out_ty = b.0.ty(net.output.node).clone();
            let depth = units(&out_ty).unwrap_or(0);
            let labels = net.labels.ok_or_else(|| LearnError::Internal("no labels".to_string()))?;
            let label = b.add(Op::OneHot { depth, dtype: out_ty.dtype }, &[labels])?;
            let joined = match aux {
                Some(aux) => Some(Joined { features: b.features(last.node, aux.matrix)?, weight: aux.weight }),
                None => None,
            };
            let toward = apply_inverse_joined(graph, net.output, label, joined)?;
            let from = apply_inverse_joined(graph, net.output, distribution, joined)?;
            let mut b = Nodes(graph);
            let difference = b.binary(BinaryOp::Sub, toward, from)?;
            b.binary(BinaryOp::Add, last.node, difference)?
        } else {
            // ĥ_{M-1} = h_{M-1} − η̂ ∂L/∂h_{M-1}.
            let slope =
                tx_autodiff::grad(graph, net.loss, &[last.node], &GradConfig::default()).map_err(LearnError::Grad)?[0];
            let mut b = Nodes(graph);
            let dtype = b.0.ty(last.node).dtype;
            let eta = b.constant(self.settings.top_step, dtype)?;
            let step = b.binary(BinaryOp::Mul, eta, slope)?;
            b.binary(BinaryOp::Sub, last.node, step)?
        };
        let mut targets = vec![Nodes(graph).stop(top)?];
        for i in (1..m).rev() {
            let (below, layer) = (&net.hidden[i - 1], &net.hidden[i]);
            let above = targets[targets.len() - 1];
            let toward = apply_inverse(graph, layer, above)?;
            let target = match self.variant {
                Variant::Tp => toward,
                // h_{i-1} + (g_i(ĥ_i) − g_i(h_i)): the difference first, so
                // that ĥ_i = h_i gives exactly h_{i-1}.
                Variant::Dtp | Variant::Sdtp | Variant::AoSdtp => {
                    let from = apply_inverse(graph, layer, layer.node)?;
                    let mut b = Nodes(graph);
                    let difference = b.binary(BinaryOp::Sub, toward, from)?;
                    b.binary(BinaryOp::Add, below.node, difference)?
                }
            };
            targets.push(Nodes(graph).stop(target)?);
        }
        targets.reverse();
        Ok(targets)
    }

    /// θ_i less what `reference_quirks` leaves untrained: the bias (a
    /// vector) of the fifth hidden layer and the weight (a matrix) of the
    /// sixth.
    fn trained_by_target(&self, graph: &Graph, layer: usize, own: &[NodeId]) -> Vec<NodeId> {
        let kept = |p: &NodeId| match (self.settings.reference_quirks, layer) {
            (true, 4) => graph.ty(*p).rank() != 1,
            (true, 5) => graph.ty(*p).rank() < 2,
            _ => true,
        };
        own.iter().copied().filter(kept).collect()
    }

    /// (h_{i-1}, h_i) of every layer whose inverse the rule trains.
    fn inverted<'m>(&self, net: &Network<'m>) -> Vec<(&'m Layer, &'m Layer)> {
        let mut pairs: Vec<(&Layer, &Layer)> = net.hidden.iter().zip(&net.hidden[1..]).collect();
        if self.variant.label_target() {
            pairs.push((&net.hidden[net.hidden.len() - 1], net.output));
        }
        pairs
    }

    /// One σ per trained inverse.
    fn sigmas(&self, pairs: &[(&Layer, &Layer)]) -> Result<Vec<f64>, LearnError> {
        match self.settings.noise.as_slice() {
            [sigma] => Ok(vec![*sigma; pairs.len()]),
            sigmas if sigmas.len() == pairs.len() => Ok(sigmas.to_vec()),
            sigmas => {
                let names: Vec<String> = pairs.iter().map(|(_, l)| format!("`{}`", l.name)).collect();
                let (inverses, layers) = if pairs.len() == 1 { ("inverse", "layer") } else { ("inverses", "layers") };
                Err(LearnError::Model(format!(
                    "`noise` lists {} sigmas, but `{}` trains {} {inverses} (of {layers} {}): give one sigma for \
                     all, or one per inverse",
                    sigmas.len(),
                    self.name(),
                    pairs.len(),
                    names.join(", ")
                )))
            }
        }
    }

    /// AO-SDTP's fixed random matrix `<output>.aux` (frozen, Glorot, drawn
    /// from `feedback_seed` and its name) and the trained inverse weight
    /// `<output>.aux_inverse`, made once per graph.
    fn aux(&self, graph: &mut Graph, net: &Network) -> Result<Aux, LearnError> {
        let last = &net.hidden[net.hidden.len() - 1];
        let ty = graph.ty(last.node).clone();
        let (units, aux_units) = (units(&ty).unwrap_or(0), self.settings.aux_units);
        let matrix_ty = Type::new(ty.dtype, Shape(vec![Dim::Known(units), Dim::Known(aux_units)]));
        let matrix = self.seeded_param(graph, &format!("{}.aux", net.output.name), matrix_ty, true)?;
        let entry = entry_matmul(net.output)?;
        let inverse = net.output.inverse.as_ref().ok_or_else(|| missing_inverse(self, &[net.output]))?;
        let entry_ty = inverse.graph.ty(entry);
        let columns = entry_ty.shape.0.last().cloned().unwrap_or(Dim::Known(1));
        let weight_ty = Type::new(entry_ty.dtype, Shape(vec![Dim::Known(aux_units), columns]));
        let weight = self.seeded_param(graph, &format!("{}.aux_inverse", net.output.name), weight_ty, false)?;
        Ok(Aux { matrix, weight })
    }

    /// A Glorot-initialized parameter the rule makes, or the one it made
    /// already.
    fn seeded_param(&self, graph: &mut Graph, name: &str, ty: Type, frozen: bool) -> Result<NodeId, LearnError> {
        match graph.param_named(name) {
            Some(param) => Ok(param.node),
            None => seeded_glorot(graph, name, ty, self.feedback, frozen),
        }
    }
}

fn needs_layers(rule: &str, declared: usize) -> LearnError {
    LearnError::Model(format!(
        "`{rule}` trains each hidden layer toward a target, so it needs `layer` declarations: at least one hidden \
         layer and the output layer (the last `layer`); this model declares {declared}"
    ))
}

fn missing_inverse(rule: &TargetPropagation, missing: &[&Layer]) -> LearnError {
    let which = if rule.variant.label_target() {
        "every layer from the second to the output layer"
    } else {
        "every layer from the second to the last hidden layer"
    };
    let names: Vec<String> = missing.iter().map(|l| format!("`{}`", l.name)).collect();
    let (noun, verb) = if names.len() == 1 { ("layer", "has") } else { ("layers", "have") };
    LearnError::Model(format!(
        "`{}` sends targets down through the layers' inverses, so {which} needs `inverse(t) = ...`; {noun} {} {verb} \
         none",
        rule.name(),
        names.join(", ")
    ))
}

fn internal(e: tx_ir::GraphError) -> LearnError {
    LearnError::Internal(e.message)
}

/// Appends nodes, with graph errors as internal errors.
struct Nodes<'g>(&'g mut Graph);

impl Nodes<'_> {
    fn add(&mut self, op: Op, inputs: &[NodeId]) -> Result<NodeId, LearnError> {
        self.0.add(op, inputs).map_err(internal)
    }

    fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId, LearnError> {
        self.add(Op::Binary(op), &[a, b])
    }

    fn constant(&mut self, value: f64, dtype: DType) -> Result<NodeId, LearnError> {
        self.add(Op::Constant { value: Scalar::Float(value), dtype }, &[])
    }

    fn stop(&mut self, x: NodeId) -> Result<NodeId, LearnError> {
        self.add(Op::StopGradient, &[x])
    }

    /// Softmax over the last axis: the class distribution of logits.
    fn softmax(&mut self, logits: NodeId) -> Result<NodeId, LearnError> {
        let axis = self.0.ty(logits).rank().saturating_sub(1);
        self.add(Op::Softmax { axis }, &[logits])
    }

    /// AO-SDTP's auxiliary outputs of `hidden`: tanh(hidden @ R), constant.
    fn features(&mut self, hidden: NodeId, matrix: NodeId) -> Result<NodeId, LearnError> {
        let product = self.add(Op::MatMul, &[hidden, matrix])?;
        let features = self.add(Op::Unary(UnaryOp::Tanh), &[product])?;
        self.stop(features)
    }

    /// ||a − b||²: the squares summed over every axis but the first (the
    /// units), then averaged over the first (the batch).
    fn squared_distance(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, LearnError> {
        let difference = self.binary(BinaryOp::Sub, a, b)?;
        let square = self.add(Op::Unary(UnaryOp::Square), &[difference])?;
        let rank = self.0.ty(square).rank();
        let per_example = if rank >= 2 {
            self.add(Op::Reduce { op: ReduceOp::Sum, axes: (1..rank).collect(), keepdims: false }, &[square])?
        } else {
            square
        };
        if rank >= 1 {
            self.add(Op::Reduce { op: ReduceOp::Mean, axes: vec![0], keepdims: false }, &[per_example])
        } else {
            Ok(per_example)
        }
    }

    /// σ, or σ / (1 + epoch/τ), as a scalar of `dtype`.
    fn sigma(&mut self, sigma: f64, decay: Option<f64>, epoch: NodeId, dtype: DType) -> Result<NodeId, LearnError> {
        let Some(tau) = decay else { return self.constant(sigma, dtype) };
        let tau = self.constant(tau, DType::F32)?;
        let one = self.constant(1.0, DType::F32)?;
        let ratio = self.binary(BinaryOp::Div, epoch, tau)?;
        let denominator = self.binary(BinaryOp::Add, one, ratio)?;
        let numerator = self.constant(sigma, DType::F32)?;
        let scale = self.binary(BinaryOp::Div, numerator, denominator)?;
        if dtype == DType::F32 { Ok(scale) } else { self.add(Op::Cast { dtype }, &[scale]) }
    }
}
