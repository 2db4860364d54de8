//! Learning rules: how a model's parameters get their gradients. A rule is
//! a transform of the model's graph; the optimizer does the rest. Backprop
//! is the first; feedback alignment and the target-propagation family
//! implement the same trait with their own gradient graphs.

use tx_ir::{Graph, Model, NodeId};

use crate::LearnError;

/// A learning rule: appends, for each parameter it trains, a node holding
/// the parameter's gradient (or the direction the rule uses in its place).
pub trait Rule {
    fn name(&self) -> &'static str;
    fn gradients(&self, graph: &mut Graph, model: &Model) -> Result<Vec<(NodeId, NodeId)>, LearnError>;
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
        let loss = model.loss.ok_or_else(|| LearnError::Model("the model has no `loss` to train".to_string()))?;
        let used = graph.reachable_from(&[loss]);
        let params: Vec<NodeId> =
            graph.params().iter().filter(|p| !p.frozen && used[p.node.index()]).map(|p| p.node).collect();
        let grads =
            tx_autodiff::grad(graph, loss, &params, &tx_autodiff::GradConfig::default()).map_err(LearnError::Grad)?;
        Ok(params.into_iter().zip(grads).collect())
    }
}

/// The rule a `train` block or `--rule` names, when tx has it.
pub fn rule_named(name: &str) -> Option<Box<dyn Rule>> {
    match name {
        "backprop" => Some(Box::new(Backprop)),
        _ => None,
    }
}
