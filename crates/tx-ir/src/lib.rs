//! tx-ir: the typed graph at the centre of tx. It owns the element types and
//! shapes (with symbolic dimensions), the op table, type and shape inference
//! with numpy broadcasting, the graph itself (petgraph inside), the model
//! statements, the verifier, and the text and DOT printers.
//!
//! **Architecture invariant:** this crate knows nothing of the surface
//! syntax, of ndarray, of egg or of Cranelift. Passes that use those live in
//! their own crates and talk to the graph through this API.

pub mod compose;
pub mod graph;
pub mod infer;
pub mod kernel;
pub mod model;
pub mod op;
pub mod print;
pub mod types;
pub mod verify;

pub use graph::{Graph, GraphError, Init, Node, NodeId, Origin, ParamInfo};
pub use infer::infer;
pub use kernel::{Kernel, KernelArg, KernelKind, KernelNode};
pub use model::{Inverse, Layer, Model, Setting, TrainSpec};
pub use op::{Arity, AxisSlice, BinaryOp, Distribution, Domain, Family, Op, ReduceOp, Scalar, UnaryOp};
pub use print::{print_dot, print_graph, print_model};
pub use types::{Bindings, DType, Dim, MAX_TENSOR_BYTES, Shape, Type, broadcast_shapes, check_tensor_size};
pub use verify::{VerifyError, verify};
