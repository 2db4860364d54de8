//! What can go wrong when a graph is evaluated. The graph itself was checked
//! when it was built, so what is left is about the values given to it, and
//! the few facts that only the values decide (a symbolic dimension bound to
//! 0 under a `max`).

use std::fmt;

use tx_ir::NodeId;

#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    /// The outputs need this input and no value was given for it.
    MissingInput { name: String },
    /// A value was given for an input the graph does not declare.
    UnknownInput { name: String },
    /// An input's value does not fit its declared type: `expected` is the
    /// declaration (`f32[B, 784]`), `got` the value's type (`f64[3, 784]`),
    /// `why` the first difference in words.
    InputType { name: String, expected: String, got: String, why: String },
    /// The outputs need this parameter and no value was given for it.
    MissingParam { name: String },
    /// A parameter's value does not have its declared type.
    ParamType { name: String, expected: String, got: String, why: String },
    /// Evaluating `node` failed on these values.
    Runtime { node: NodeId, message: String },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::MissingInput { name } => {
                write!(f, "no value was given for the input `{name}`")
            }
            EvalError::UnknownInput { name } => {
                write!(f, "a value was given for `{name}`, but the graph has no input of that name")
            }
            EvalError::InputType { name, expected, got, why } => {
                write!(f, "the input `{name}` should be {expected}, but the value given is {got}: {why}")
            }
            EvalError::MissingParam { name } => {
                write!(f, "no value was given for the parameter `{name}`")
            }
            EvalError::ParamType { name, expected, got, why } => {
                write!(f, "the parameter `{name}` should be {expected}, but the value given is {got}: {why}")
            }
            EvalError::Runtime { node, message } => {
                write!(f, "evaluating {node} failed: {message}")
            }
        }
    }
}

impl std::error::Error for EvalError {}
