//! Learning rules: how a model's parameters get their gradients. A rule is
//! a transform of the model's graph; the optimizer does the rest. Backprop
//! is here; feedback alignment (`feedback.rs`) and the target-propagation
//! family (`target.rs`) implement the same trait with their own gradient
//! graphs.

use tx_ir::{Graph, Model, NodeId};

use crate::LearnError;
use crate::feedback::{DirectFeedbackAlignment, FeedbackAlignment};
use crate::optimizer::PhaseSchedule;
use crate::spec::TrainConfig;
use crate::target::{TargetPropagation, Variant};

/// A learning rule: appends, for each parameter it trains, a node holding
/// the parameter's gradient (or the direction the rule uses in its place).
///
/// A rule may also train parameters of its own kind, apart from the forward
/// ones (target propagation's inverses): those come from
/// `inverse_gradients`, are stepped by their own optimizer, and run in the
/// phases `schedule` says.
pub trait Rule {
    fn name(&self) -> &'static str;
    /// The forward parameters' gradients (or the rule's directions).
    fn gradients(&self, graph: &mut Graph, model: &Model) -> Result<Vec<(NodeId, NodeId)>, LearnError>;
    /// Whether the rule trains inverse parameters: then its forward
    /// parameters take the `forward` optimizer and its inverse ones the
    /// `inverse` optimizer.
    fn trains_inverses(&self) -> bool {
        false
    }
    /// The inverse parameters' gradients. `epoch` is an f32 scalar node
    /// holding the epoch of the phase that applies them (for schedules of
    /// the rule's own, such as annealed noise).
    fn inverse_gradients(
        &self,
        _graph: &mut Graph,
        _model: &Model,
        _epoch: NodeId,
    ) -> Result<Vec<(NodeId, NodeId)>, LearnError> {
        Ok(Vec::new())
    }
    /// When the inverse updates run, for a rule that has them.
    fn schedule(&self) -> PhaseSchedule {
        PhaseSchedule::Parallel
    }
}

/// Backpropagation: the exact gradient of the loss for every trainable
/// (not frozen) parameter the loss depends on. Parameters only inverses use
/// are left alone, so a model written for target propagation trains by
/// backprop unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Backprop;

impl Rule for Backprop {
    fn name(&self) -> &'static str {
        "backprop"
    }

    fn gradients(&self, graph: &mut Graph, model: &Model) -> Result<Vec<(NodeId, NodeId)>, LearnError> {
        let loss = loss_of(model)?;
        let params = trained_params(graph, loss);
        let grads =
            tx_autodiff::grad(graph, loss, &params, &tx_autodiff::GradConfig::default()).map_err(LearnError::Grad)?;
        Ok(params.into_iter().zip(grads).collect())
    }
}

/// The rule named `name` with its default settings, when tx has it.
pub fn rule_named(name: &str) -> Option<Box<dyn Rule>> {
    rule_for(&TrainConfig::default_for(name))
}

/// The rule `config` names, with the settings of `config` it reads.
pub fn rule_for(config: &TrainConfig) -> Option<Box<dyn Rule>> {
    match config.rule.as_str() {
        "backprop" => Some(Box::new(Backprop)),
        "fa" => Some(Box::new(FeedbackAlignment { feedback: config.feedback })),
        "dfa" => Some(Box::new(DirectFeedbackAlignment { feedback: config.feedback })),
        "tp" | "dtp" | "sdtp" | "ao_sdtp" => {
            let variant = match config.rule.as_str() {
                "tp" => Variant::Tp,
                "dtp" => Variant::Dtp,
                "sdtp" => Variant::Sdtp,
                _ => Variant::AoSdtp,
            };
            Some(Box::new(TargetPropagation { variant, settings: config.target.clone(), feedback: config.feedback }))
        }
        _ => None,
    }
}

pub(crate) fn loss_of(model: &Model) -> Result<NodeId, LearnError> {
    model.loss.ok_or_else(|| LearnError::Model("the model has no `loss` to train".to_string()))
}

/// The parameters a rule trains: those the loss uses that are not frozen,
/// in declaration order.
pub(crate) fn trained_params(graph: &Graph, loss: NodeId) -> Vec<NodeId> {
    let used = graph.reachable_from(&[loss]);
    graph.params().iter().filter(|p| !p.frozen && used[p.node.index()]).map(|p| p.node).collect()
}
