//! Graph ⇄ e-graph. Into the e-graph, every node becomes an e-node (shared
//! operands stay shared: one class per value); out of it, the chosen e-node
//! of each needed class becomes one graph node, so the optimized graph is a
//! DAG with the same sharing, the same inputs and parameters (in the same
//! order, used or not) and the same named outputs.

use egg::{Id, RecExpr};
use tx_ir::{Graph, KernelArg, NodeId, Op};

use crate::OptError;
use crate::analysis::{TxAnalysis, TxGraph};
use crate::lang::{Head, TxNode};

/// The e-graph of `graph`, and the class of every node.
pub fn to_egraph(graph: &Graph, explanations: bool) -> (TxGraph, Vec<Id>) {
    let leaves: Vec<Op> = graph
        .nodes()
        .filter(|(_, n)| Head::of(&n.op).is_none() && n.inputs.is_empty())
        .map(|(_, n)| n.op.clone())
        .collect();
    let mut egraph = TxGraph::new(TxAnalysis::new(leaves));
    if explanations {
        egraph = egraph.with_explanations_enabled();
    }
    let mut classes: Vec<Id> = Vec::with_capacity(graph.len());
    let mut leaf = 0u32;
    for (_, node) in graph.nodes() {
        let operands: Vec<Id> = node.inputs.iter().map(|i| classes[i.index()]).collect();
        let id = match &node.op {
            Op::Fused(kernel) => {
                // Unfuse: the body's ops, over the operands' classes.
                let mut body: Vec<Id> = Vec::with_capacity(kernel.body.len());
                for inner in &kernel.body {
                    let args: Vec<Id> = inner
                        .args
                        .iter()
                        .map(|a| match *a {
                            KernelArg::Operand(k) => operands[k],
                            KernelArg::Node(k) => body[k],
                        })
                        .collect();
                    body.push(add_op(&mut egraph, &inner.op, args));
                }
                *body.last().expect("a kernel has a body")
            }
            op if node.inputs.is_empty() && Head::of(op).is_none() => {
                leaf += 1;
                egraph.add(TxNode::new(Head::Leaf(leaf - 1), vec![]))
            }
            op => add_op(&mut egraph, op, operands),
        };
        classes.push(id);
    }
    (egraph, classes)
}

/// Adds one op (not a leaf, not a kernel) over operand classes.
fn add_op(egraph: &mut TxGraph, op: &Op, operands: Vec<Id>) -> Id {
    let (head, attr) = Head::of(op).expect("leaves and kernels are handled by the caller");
    let mut children = Vec::with_capacity(operands.len() + 1);
    if let Some(attr) = attr {
        children.push(egraph.add(TxNode::new(Head::Attr(attr), vec![])));
    }
    children.extend(operands);
    egraph.add(TxNode::new(head, children))
}

/// The expression of node `root` of `graph` as a [`RecExpr`] (shared
/// operands once), for explanations.
pub fn to_recexpr(graph: &Graph, root: NodeId) -> RecExpr<TxNode> {
    let live = graph.reachable_from(&[root]);
    let mut expr: RecExpr<TxNode> = RecExpr::default();
    let mut ids: Vec<Option<Id>> = vec![None; graph.len()];
    let mut leaf = 0u32;
    for (id, node) in graph.nodes() {
        let is_leaf = node.inputs.is_empty() && Head::of(&node.op).is_none();
        if is_leaf {
            leaf += 1;
        }
        if !live[id.index()] {
            continue;
        }
        let operands: Vec<Id> = node.inputs.iter().map(|i| ids[i.index()].expect("operands come first")).collect();
        let added = if is_leaf {
            expr.add(TxNode::new(Head::Leaf(leaf - 1), vec![]))
        } else if let Some((head, attr)) = Head::of(&node.op) {
            let mut children = Vec::new();
            if let Some(attr) = attr {
                children.push(expr.add(TxNode::new(Head::Attr(attr), vec![])));
            }
            children.extend(operands);
            expr.add(TxNode::new(head, children))
        } else {
            // A fused node: explanations work on unfused graphs.
            continue;
        };
        ids[id.index()] = Some(added);
    }
    expr
}

/// The optimized graph, the node of each root, and the node each class
/// became.
pub struct Rebuilt {
    pub graph: Graph,
    pub roots: Vec<NodeId>,
    pub classes: std::collections::HashMap<Id, NodeId>,
}

/// Builds the graph that computes `roots` (classes) with the e-node `choose`
/// picks for each class. Inputs and parameters come first, as in `source`;
/// the caller names outputs and copies origins.
pub fn from_egraph(
    egraph: &TxGraph,
    source: &Graph,
    roots: &[Id],
    choose: impl Fn(Id) -> Option<TxNode>,
) -> Result<Rebuilt, OptError> {
    let internal = |message: String| OptError::Internal { message };
    let mut graph = Graph::new();
    // Leaves by number, as `to_egraph` numbered them.
    let mut leaf_nodes: Vec<Option<NodeId>> = vec![None; egraph.analysis.leaves.len()];
    let mut leaf = 0usize;
    for (_, node) in source.nodes() {
        if !(node.inputs.is_empty() && Head::of(&node.op).is_none()) {
            continue;
        }
        let new = match &node.op {
            Op::Input { name, ty } => Some(graph.input(name, ty.clone())),
            Op::Param { name, ty } => {
                let info = source.param_named(name).ok_or_else(|| internal(format!("parameter {name} has no info")))?;
                Some(graph.param(name, ty.clone(), info.init.clone(), info.frozen))
            }
            _ => None,
        };
        if let Some(new) = new {
            leaf_nodes[leaf] = Some(new.map_err(|e| internal(e.message))?);
        }
        leaf += 1;
    }
    let mut built: std::collections::HashMap<Id, NodeId> = std::collections::HashMap::new();
    let mut results = Vec::with_capacity(roots.len());
    for &root in roots {
        // Iterative post-order over the chosen e-nodes.
        let mut stack: Vec<(Id, bool)> = vec![(egraph.find(root), false)];
        while let Some((class, expanded)) = stack.pop() {
            if built.contains_key(&class) {
                continue;
            }
            let node = choose(class).ok_or_else(|| internal("a class has no well-typed e-node".to_string()))?;
            if !expanded {
                stack.push((class, true));
                for &child in node.operands().iter().rev() {
                    let child = egraph.find(child);
                    if !built.contains_key(&child) {
                        stack.push((child, false));
                    }
                }
                continue;
            }
            let new = match &node.head {
                Head::Leaf(n) => match leaf_nodes[*n as usize] {
                    Some(id) => id,
                    None => {
                        let op = egraph.analysis.leaves[*n as usize].clone();
                        let id = graph.add(op, &[]).map_err(|e| internal(e.message))?;
                        leaf_nodes[*n as usize] = Some(id);
                        id
                    }
                },
                Head::Attr(_) => return Err(internal("an attribute was chosen as a value".to_string())),
                _ => {
                    let op = crate::analysis::op_of(egraph, &node)
                        .ok_or_else(|| internal(format!("e-node {} has no op", node.head.name())))?;
                    let operands: Vec<NodeId> = node.operands().iter().map(|c| built[&egraph.find(*c)]).collect();
                    graph.add(op, &operands).map_err(|e| internal(format!("rebuilding the graph: {e}")))?
                }
            };
            built.insert(class, new);
        }
        results.push(built[&egraph.find(root)]);
    }
    Ok(Rebuilt { graph, roots: results, classes: built })
}
