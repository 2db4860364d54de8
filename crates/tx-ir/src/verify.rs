//! The verifier: re-checks every invariant of a graph. Passes must produce
//! graphs that pass it; tests run it after every pass.

use crate::graph::{Graph, NodeId};
use crate::infer::infer;
use crate::op::Op;
use crate::types::Type;

/// What is wrong, and at which node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    pub node: Option<NodeId>,
    pub message: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.node {
            Some(node) => write!(f, "{node}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Checks that operands come before their users, that each node's stored type
/// is the one its op infers, that inputs and parameters are registered under
/// unique names, and that outputs exist.
pub fn verify(graph: &Graph) -> Result<(), VerifyError> {
    let fail = |node: Option<NodeId>, message: String| Err(VerifyError { node, message });
    for (id, node) in graph.nodes() {
        for input in &node.inputs {
            if *input >= id {
                return fail(Some(id), format!("operand {input} does not come before its user"));
            }
        }
        let types: Vec<&Type> = node.inputs.iter().map(|&i| graph.ty(i)).collect();
        match infer(&node.op, &types) {
            Ok(ty) if ty == node.ty => {}
            Ok(ty) => return fail(Some(id), format!("stored type {} but `{}` infers {ty}", node.ty, node.op.name())),
            Err(e) => return fail(Some(id), e),
        }
        match &node.op {
            Op::Input { name, .. } if graph.input_named(name) != Some(id) => {
                return fail(Some(id), format!("input `{name}` is not registered"));
            }
            Op::Param { name, .. } if graph.param_named(name).map(|p| p.node) != Some(id) => {
                return fail(Some(id), format!("parameter `{name}` is not registered"));
            }
            _ => {}
        }
    }
    let mut names: Vec<&str> = graph.params().iter().map(|p| p.name.as_str()).collect();
    names.extend(graph.inputs().iter().filter_map(|&i| match &graph.node(i).op {
        Op::Input { name, .. } => Some(name.as_str()),
        _ => None,
    }));
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return fail(None, format!("`{}` is declared twice", w[0]));
    }
    for (name, id) in graph.outputs() {
        if id.index() >= graph.len() {
            return fail(None, format!("output `{name}` refers to missing node {id}"));
        }
    }
    Ok(())
}
