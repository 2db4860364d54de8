//! What an expression lowers to: a graph node, or a compile-time value
//! (numbers, flags, dtypes, dimensions, lists) that becomes a node only when
//! it meets a tensor, taking the tensor's element type ("weak" literals).

use tx_ir::{DType, Dim, NodeId};

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Node(NodeId),
    Int(i64),
    Float(f64),
    Bool(bool),
    DType(DType),
    /// A symbolic dimension such as `B`.
    Dim(Dim),
    List(Vec<Value>),
    /// Something that already failed; a diagnostic was reported.
    Error,
}

impl Value {
    /// What the value is, for messages ("expected an axis, found a tensor").
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Node(_) => "a tensor",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a bool",
            Value::DType(_) => "an element type",
            Value::Dim(_) => "a dimension",
            Value::List(_) => "a list",
            Value::Error => "an error",
        }
    }

    pub fn is_literal(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Float(_) | Value::Bool(_))
    }
}
