//! tx-interp: the reference interpreter. It gives every op of the graph IR
//! its executable meaning over ndarray values ([`Tensor`]), evaluates graphs
//! node by node, initializes parameters from their [`tx_ir::Init`], and
//! makes seeded random inputs. It is the oracle that the optimizer and the
//! JIT are checked against, so it prefers plain, obviously right code (and
//! f64 accumulation) to speed, while staying fast enough to train small
//! models.
//!
//! **Architecture invariant:** this crate knows nothing of the surface
//! syntax, of egg or of Cranelift; it sees only `tx-ir` graphs and
//! `tx-tensor` values. It never panics on a graph that passes
//! [`tx_ir::verify`], whatever the values: problems come back as
//! [`EvalError`].
//!
//! The op families each live in one file: `elementwise`, `reduce`,
//! `matmul`, `movement`, with seeded values in `init`; `eval` holds the
//! loop and the one exhaustive `match` over [`tx_ir::Op`].

mod element;
mod elementwise;
mod error;
mod eval;
mod init;
mod matmul;
mod movement;
mod reduce;

pub use element::broadcast_shape;
pub use error::EvalError;
pub use eval::{Call, bind_call, eval_op, evaluate};
pub use init::{init_param, init_params, random_inputs};
pub use movement::slice_fits;
pub use tx_tensor::Tensor;

use tx_ir::{Graph, NodeId};

/// Evaluates every output of `graph`, in order, with each parameter at its
/// initial value ([`init_params`]).
pub fn run(graph: &Graph, inputs: &[(&str, &Tensor)]) -> Result<Vec<(String, Tensor)>, EvalError> {
    let params = init_params(graph);
    let params: Vec<(&str, &Tensor)> = params.iter().map(|(name, value)| (name.as_str(), value)).collect();
    let ids: Vec<NodeId> = graph.outputs().iter().map(|&(_, id)| id).collect();
    let values = evaluate(graph, inputs, &params, &ids)?;
    Ok(graph.outputs().iter().map(|(name, _)| name.clone()).zip(values).collect())
}
