//! tx-learn: training as graph transforms. A learning rule turns a model
//! (a forward graph with a loss) into parameter gradients, and an optimizer
//! turns gradients into update graphs: new values for the parameters and for
//! the optimizer's own state (moments, step counter), all computed from the
//! values before a step, in the manner of Theano's `function(..., updates)`.
//! The result is a graph like any other: printed, evaluated, optimized.
//!
//! `spec.rs` reads and checks the settings of a `train` block, `optimizer.rs`
//! builds update graphs (one or more phases), `rule.rs` holds the `Rule`
//! trait and backprop, `feedback.rs` feedback alignment and direct feedback
//! alignment, `target.rs` the target-propagation family (TP, DTP, SDTP,
//! AO-SDTP), and `splice.rs` the graph copies it needs (an inverse applied
//! to an argument, a layer applied to a new input).
//!
//! **Architecture invariant:** this crate builds graphs and knows nothing of
//! syntax, data files or evaluation.

pub mod feedback;
pub mod optimizer;
pub mod rule;
pub mod spec;
pub mod splice;
pub mod target;

pub use feedback::{DirectFeedbackAlignment, Feedback, FeedbackAlignment};
pub use optimizer::{Optimizer, Phase, PhaseSchedule, RunShape, Schedule, StepGraph, build_step, build_steps};
pub use rule::{Backprop, Rule, rule_for, rule_named};
pub use spec::{SpecError, TrainConfig, read_spec};
pub use splice::{apply_inverse, reapply_layer};
pub use target::{TargetPropagation, TargetSettings, Variant};

/// Why a training graph cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LearnError {
    /// The model lacks something training needs (a loss, parameters).
    Model(String),
    /// The gradient could not be taken.
    Grad(tx_autodiff::GradError),
    /// A node of the update graph is ill-typed: a bug in tx.
    Internal(String),
}

impl std::fmt::Display for LearnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LearnError::Model(message) => f.write_str(message),
            LearnError::Grad(e) => write!(f, "{e}"),
            LearnError::Internal(message) => write!(f, "internal error while building the training step: {message}"),
        }
    }
}

impl std::error::Error for LearnError {}
