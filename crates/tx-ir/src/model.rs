//! What makes a graph a model: the loss, the metrics, the layer boundaries
//! with their inverses, and the `train` settings, a block per learning rule.
//! Later stages (autodiff, the learning-rule transforms, `tx train`) read
//! these; the foundation only records them, checked and typed.

use crate::graph::{Graph, NodeId};

/// A lowered `.tx` program.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub graph: Graph,
    /// The scalar the learning rule minimizes.
    pub loss: Option<NodeId>,
    /// Scalars reported during training, in declaration order.
    pub metrics: Vec<(String, NodeId)>,
    /// Layer boundaries h_1..h_M in declaration order.
    pub layers: Vec<Layer>,
    /// The `train` blocks in declaration order, at most one per rule.
    pub train: Vec<TrainSpec>,
}

impl Model {
    /// What running the program evaluates: the declared outputs, or else the
    /// loss (named `loss`) and the metrics.
    pub fn run_targets(&self) -> Vec<(String, NodeId)> {
        if !self.graph.outputs().is_empty() {
            return self.graph.outputs().to_vec();
        }
        let mut targets: Vec<(String, NodeId)> = self.loss.map(|l| ("loss".to_string(), l)).into_iter().collect();
        targets.extend(self.metrics.iter().cloned());
        targets
    }

    /// The `train` block that trains by `rule`: the block named after it,
    /// else the first block, whose settings a model written for one rule
    /// lends to every other (it still has to declare what that rule needs).
    /// Without a rule, the first block. `None` when the model has no block.
    pub fn train_block(&self, rule: Option<&str>) -> Option<&TrainSpec> {
        rule.and_then(|rule| self.train.iter().find(|spec| spec.rule == rule)).or_else(|| self.train.first())
    }
}

/// One layer boundary: the node that computes h_i.
#[derive(Clone, Debug)]
pub struct Layer {
    pub name: String,
    pub node: NodeId,
    /// g_i: shape(h_i) -> shape(h_{i-1}), for target propagation.
    pub inverse: Option<Inverse>,
}

/// A one-argument function kept as its own graph: its single input (named
/// after the lambda's parameter) stands for the argument, and its parameter
/// nodes refer by name to parameters of the model's graph.
#[derive(Clone, Debug)]
pub struct Inverse {
    pub graph: Graph,
    pub arg: NodeId,
    pub result: NodeId,
}

/// `train RULE { key = value ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    pub rule: String,
    pub settings: Vec<(String, Setting)>,
}

impl TrainSpec {
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A setting's value: numbers, names, flags, lists and calls such as
/// `rmsprop(lr = 0.01, centered = true)`.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    Int(i64),
    Float(f64),
    Bool(bool),
    Name(String),
    List(Vec<Setting>),
    Call { name: String, args: Vec<(Option<String>, Setting)> },
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Int(v) => write!(f, "{v}"),
            Setting::Float(v) => write!(f, "{v:?}"),
            Setting::Bool(v) => write!(f, "{v}"),
            Setting::Name(v) => f.write_str(v),
            Setting::List(items) => {
                let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
            Setting::Call { name, args } => {
                let parts: Vec<String> = args
                    .iter()
                    .map(|(k, v)| match k {
                        Some(k) => format!("{k} = {v}"),
                        None => v.to_string(),
                    })
                    .collect();
                write!(f, "{name}({})", parts.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(rule: &str) -> TrainSpec {
        TrainSpec { rule: rule.to_string(), settings: vec![("epochs".to_string(), Setting::Int(1))] }
    }

    #[test]
    fn a_rule_trains_by_its_own_block_else_by_the_first() {
        let mut model = Model::default();
        assert_eq!(model.train_block(None), None);
        assert_eq!(model.train_block(Some("fa")), None);
        model.train = vec![block("dtp"), block("backprop")];
        let rule_of = |rule: Option<&str>| model.train_block(rule).map(|spec| spec.rule.as_str());
        assert_eq!(rule_of(None), Some("dtp"));
        assert_eq!(rule_of(Some("backprop")), Some("backprop"));
        assert_eq!(rule_of(Some("dtp")), Some("dtp"));
        assert_eq!(rule_of(Some("fa")), Some("dtp"), "a rule without a block borrows the first");
    }
}
