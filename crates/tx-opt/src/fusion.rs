//! Fusion: groups of elementwise work become one kernel node.
//!
//! Three kinds of kernel (see [`tx_ir::Kernel`]):
//!
//! - **elementwise**: a maximal connected group of elementwise ops (unary,
//!   binary, `where`, `cast`, `stop_gradient`) with one result. Every member
//!   except the result is used only inside the group; a value used outside
//!   it (or an output, or a root) is materialized and ends a group. A group
//!   of one op stays a plain node: it is one loop already.
//! - **reduce**: an elementwise group whose result only a reduction uses,
//!   with that reduction as the kernel's last op.
//! - **matmul**: a matmul whose result only an elementwise group uses (bias,
//!   activation), when that epilogue keeps the matmul's shape. The matmul's
//!   operands stay operands of the kernel.
//!
//! Scalar constants are inlined into kernel bodies; a kernel's operands are
//! the distinct outside values its body reads, in order of first use. Body
//! ops keep their operand order, so a kernel computes exactly what its
//! members computed.
//!
//! Groups are found in one sweep over the nodes in reverse topological
//! order: when a node is visited all its users already belong to their
//! groups, and an elementwise node joins a group when all its users are in
//! that one group. Iterative and deterministic (vectors and ordered maps
//! only).

use std::collections::BTreeMap;

use tx_ir::{Graph, Kernel, KernelArg, KernelKind, KernelNode, NodeId, Op};

use crate::OptError;

/// A graph with its kernels, and the new node of each root.
pub struct Fused {
    pub graph: Graph,
    pub roots: Vec<NodeId>,
}

/// A group of source nodes that may become one kernel.
struct Group {
    /// The node whose value the kernel computes (the group's result).
    sink: NodeId,
    kind: KernelKind,
    /// The matmul of a matmul group.
    matmul: Option<NodeId>,
    /// Every member, the sink included (constants are not members).
    members: Vec<NodeId>,
}

/// The ops a kernel body may hold besides constants, matmuls and reductions.
fn is_elementwise(op: &Op) -> bool {
    matches!(op, Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } | Op::StopGradient)
}

/// Groups elementwise work into [`tx_ir::Op::Fused`] nodes. The result has
/// the inputs and parameters of `graph` (in order, with their initializers),
/// the same named outputs, and the nodes the outputs and `roots` need; the
/// new node of each root comes back in [`Fused::roots`].
pub fn fuse(graph: &Graph, roots: &[NodeId]) -> Result<Fused, OptError> {
    let internal = |message: String| OptError::Internal { message };
    let n = graph.len();
    let wanted: Vec<NodeId> = graph.outputs().iter().map(|(_, id)| *id).chain(roots.iter().copied()).collect();
    if let Some(missing) = wanted.iter().find(|id| id.index() >= n) {
        return Err(internal(format!("fusion was asked for node {missing}, which the graph does not have")));
    }
    let live = graph.reachable_from(&wanted);
    let mut pinned = vec![false; n];
    for id in &wanted {
        pinned[id.index()] = true;
    }
    // The live users of every node, once each, in id order.
    let mut users: Vec<Vec<NodeId>> = vec![Vec::new(); n];
    for (id, node) in graph.nodes().filter(|(id, _)| live[id.index()]) {
        for input in &node.inputs {
            let list = &mut users[input.index()];
            if list.last() != Some(&id) {
                list.push(id);
            }
        }
    }

    let groups = find_groups(graph, &live, &pinned, &users);

    // The body and operands of each group that becomes a kernel.
    let mut kernels: Vec<Option<(Kernel, Vec<NodeId>)>> = Vec::with_capacity(groups.len());
    let mut in_kernel = vec![false; n];
    for group in &groups {
        let (kernel, operands) = kernel_of(graph, group);
        // A lone op is one loop already; a body without operands is
        // constant work, left to the folding rules.
        if group.members.len() >= 2 && !operands.is_empty() {
            for member in &group.members {
                in_kernel[member.index()] = true;
            }
            kernels.push(Some((kernel, operands)));
        } else {
            kernels.push(None);
        }
    }
    let mut kernel_at: Vec<Option<usize>> = vec![None; n];
    for (index, group) in groups.iter().enumerate() {
        if kernels[index].is_some() {
            kernel_at[group.sink.index()] = Some(index);
        }
    }

    let mut out = Graph::new();
    let mut map: Vec<Option<NodeId>> = vec![None; n];
    // Inputs and parameters first, in their order, used or not.
    for (id, node) in graph.nodes() {
        let new = match &node.op {
            Op::Input { name, ty } => out.input(name, ty.clone()),
            Op::Param { name, ty } => {
                let info = graph.param_named(name).ok_or_else(|| internal(format!("parameter {name} has no info")))?;
                out.param(name, ty.clone(), info.init.clone(), info.frozen)
            }
            _ => continue,
        }
        .map_err(|e| internal(format!("rebuilding the graph: {e}")))?;
        map[id.index()] = Some(new);
        if let Some(origin) = graph.origin(id) {
            out.set_origin_if_unset(new, origin);
        }
    }
    let mapped = |map: &[Option<NodeId>], ids: &[NodeId]| -> Result<Vec<NodeId>, OptError> {
        ids.iter()
            .map(|id| map[id.index()].ok_or_else(|| internal(format!("operand {id} was not rebuilt before its user"))))
            .collect()
    };
    for (id, node) in graph.nodes() {
        if !live[id.index()] || map[id.index()].is_some() {
            continue;
        }
        if let Some(index) = kernel_at[id.index()] {
            let (kernel, operands) = kernels[index].take().expect("each kernel is built once");
            let operands = mapped(&map, &operands)?;
            let new = out
                .add(Op::Fused(Box::new(kernel)), &operands)
                .map_err(|e| internal(format!("a fused kernel does not type-check: {e}")))?;
            if out.ty(new) != &node.ty {
                return Err(internal(format!(
                    "the kernel of {id} has type {} where the node had {}",
                    out.ty(new),
                    node.ty
                )));
            }
            map[id.index()] = Some(new);
            let origin = graph.origin(id).or_else(|| groups[index].members.iter().find_map(|&m| graph.origin(m)));
            if let Some(origin) = origin {
                out.set_origin_if_unset(new, origin);
            }
            continue;
        }
        if in_kernel[id.index()] {
            // Computed inside its group's kernel.
            continue;
        }
        if matches!(node.op, Op::Constant { .. })
            && !pinned[id.index()]
            && users[id.index()].iter().all(|u| in_kernel[u.index()])
        {
            // Inlined into every kernel that reads it.
            continue;
        }
        let operands = mapped(&map, &node.inputs)?;
        let new = out.add(node.op.clone(), &operands).map_err(|e| internal(format!("rebuilding the graph: {e}")))?;
        map[id.index()] = Some(new);
        if let Some(origin) = graph.origin(id) {
            out.set_origin_if_unset(new, origin);
        }
    }
    for (name, id) in graph.outputs() {
        let new = map[id.index()].ok_or_else(|| internal(format!("output {name} was not rebuilt")))?;
        out.add_output(name, new).map_err(|e| internal(e.message))?;
    }
    let roots = mapped(&map, roots)?;
    Ok(Fused { graph: out, roots })
}

/// The groups of `graph`, found in one reverse sweep.
fn find_groups(graph: &Graph, live: &[bool], pinned: &[bool], users: &[Vec<NodeId>]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: Vec<Option<usize>> = vec![None; graph.len()];
    for id in graph.ids().rev() {
        if !live[id.index()] {
            continue;
        }
        let op = &graph.node(id).op;
        // The one group all users of `id` are in, when there is one and
        // `id` need not be materialized.
        let shared = match users[id.index()].split_first() {
            Some((first, rest)) if !pinned[id.index()] => {
                group_of[first.index()].filter(|&g| rest.iter().all(|u| group_of[u.index()] == Some(g)))
            }
            _ => None,
        };
        if is_elementwise(op) {
            // The operands of a group's matmul stay operands of the kernel.
            let joins = shared.filter(|&g| groups[g].matmul.is_none_or(|m| !users[id.index()].contains(&m)));
            match joins {
                Some(g) => {
                    groups[g].members.push(id);
                    group_of[id.index()] = Some(g);
                }
                None => {
                    group_of[id.index()] = Some(groups.len());
                    groups.push(Group { sink: id, kind: KernelKind::Elementwise, matmul: None, members: vec![id] });
                }
            }
        } else if matches!(op, Op::Reduce { .. }) {
            group_of[id.index()] = Some(groups.len());
            groups.push(Group { sink: id, kind: KernelKind::Reduce, matmul: None, members: vec![id] });
        } else if matches!(op, Op::MatMul)
            && let Some(g) = shared
            && groups[g].kind == KernelKind::Elementwise
            // An epilogue that broadcasts the product to a larger shape is
            // not one pass over the product: leave it an elementwise kernel.
            && graph.ty(groups[g].sink).shape == graph.ty(id).shape
        {
            let group = &mut groups[g];
            group.kind = KernelKind::MatMul;
            group.matmul = Some(id);
            group.members.push(id);
            group_of[id.index()] = Some(g);
        }
    }
    groups
}

/// The kernel of `group` and its operands (source nodes), deduplicated in
/// order of first use. Members run in id order (a topological order), the
/// matmul of a matmul group first: no member is an ancestor of it.
fn kernel_of(graph: &Graph, group: &Group) -> (Kernel, Vec<NodeId>) {
    let mut order = group.members.clone();
    order.sort_unstable();
    if let Some(matmul) = group.matmul {
        order.retain(|&m| m != matmul);
        order.insert(0, matmul);
    }
    let mut body: Vec<KernelNode> = Vec::with_capacity(order.len());
    let mut at: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut operands: Vec<NodeId> = Vec::new();
    let mut operand_at: BTreeMap<NodeId, usize> = BTreeMap::new();
    for &id in &order {
        let node = graph.node(id);
        let mut args = Vec::with_capacity(node.inputs.len());
        for &input in &node.inputs {
            let arg = if let Some(&k) = at.get(&input) {
                KernelArg::Node(k)
            } else if let op @ Op::Constant { .. } = &graph.node(input).op {
                // Inlined, once per distinct constant.
                let k = match body.iter().position(|b| &b.op == op) {
                    Some(k) => k,
                    None => {
                        body.push(KernelNode { op: op.clone(), args: Vec::new() });
                        body.len() - 1
                    }
                };
                KernelArg::Node(k)
            } else {
                let k = *operand_at.entry(input).or_insert_with(|| {
                    operands.push(input);
                    operands.len() - 1
                });
                KernelArg::Operand(k)
            };
            args.push(arg);
        }
        at.insert(id, body.len());
        body.push(KernelNode { op: node.op.clone(), args });
    }
    (Kernel { kind: group.kind, body }, operands)
}
