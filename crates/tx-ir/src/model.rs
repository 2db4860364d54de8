//! What makes a graph a model: the loss, the metrics, the layer boundaries
//! with their inverses, and the `train` settings. Later stages (autodiff,
//! the learning-rule transforms, `tx train`) read these; the foundation only
//! records them, checked and typed.

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
    pub train: Option<TrainSpec>,
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
