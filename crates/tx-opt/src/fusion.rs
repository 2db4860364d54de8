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
    let n = graph.len();
    let wanted: Vec<NodeId> = graph.outputs().iter().map(|(_, id)| *id).chain(roots.iter().copied()).collect();
    if let Some(missing) = wanted.iter().find(|id| id.index() >= n) {
        return Err(internal(format!("fusion was asked for node {missing}, which the graph does not have")));
    }
    group(graph, roots, &Uses::of(graph, &wanted))
}

fn internal(message: String) -> OptError {
    OptError::Internal { message }
}

/// Which nodes the outputs and roots need, which of them must be
/// materialized, and the live users of every node.
struct Uses {
    live: Vec<bool>,
    pinned: Vec<bool>,
    /// The live users of every node, once each, in id order.
    users: Vec<Vec<NodeId>>,
}

impl Uses {
    fn of(graph: &Graph, wanted: &[NodeId]) -> Uses {
        let n = graph.len();
        let live = graph.reachable_from(wanted);
        let mut pinned = vec![false; n];
        for id in wanted {
            pinned[id.index()] = true;
        }
        let mut users: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for (id, node) in graph.nodes().filter(|(id, _)| live[id.index()]) {
            for input in &node.inputs {
                let list = &mut users[input.index()];
                if list.last() != Some(&id) {
                    list.push(id);
                }
            }
        }
        Uses { live, pinned, users }
    }
}

/// A softmax or log-softmax that only kernels read becomes
/// `exp(x - logsumexp(x, k, keepdims))` or `x - logsumexp(x, k, keepdims)`:
/// one row reduction, shared by every softmax and log-softmax of the same
/// `x` and axis, and elementwise work that fuses into its readers, so the
/// full-size result is never written out (softmax cross-entropy and its
/// gradient read `x` and the labels once more instead). `None` when no node
/// qualifies.
///
/// This runs before [`fuse`], not in it: it changes how values are rounded
/// (within an ulp or two), where grouping never does.
pub fn expand_softmax(graph: &Graph, roots: &[NodeId]) -> Result<Option<Fused>, OptError> {
    let wanted: Vec<NodeId> = graph.outputs().iter().map(|(_, id)| *id).chain(roots.iter().copied()).collect();
    if let Some(missing) = wanted.iter().find(|id| id.index() >= graph.len()) {
        return Err(internal(format!("expansion was asked for node {missing}, which the graph does not have")));
    }
    let uses = Uses::of(graph, &wanted);
    let fusible = |id: NodeId| {
        let op = &graph.node(id).op;
        is_elementwise(op) || matches!(op, Op::Reduce { .. })
    };
    let expands = |id: NodeId| {
        matches!(graph.node(id).op, Op::Softmax { .. } | Op::LogSoftmax { .. })
            && uses.live[id.index()]
            && !uses.pinned[id.index()]
            && uses.users[id.index()].iter().all(|&u| fusible(u))
    };
    if !graph.ids().any(expands) {
        return Ok(None);
    }
    let rebuild = |e: tx_ir::GraphError| internal(format!("expanding a softmax: {e}"));
    let mut out = Graph::new();
    let mut map: Vec<Option<NodeId>> = vec![None; graph.len()];
    // The logsumexp of each (operand, axis), made once.
    let mut lse: BTreeMap<(NodeId, usize), NodeId> = BTreeMap::new();
    for (id, node) in graph.nodes() {
        if !uses.live[id.index()] && !matches!(node.op, Op::Input { .. } | Op::Param { .. }) {
            continue;
        }
        let inputs = node
            .inputs
            .iter()
            .map(|i| map[i.index()].ok_or_else(|| internal(format!("operand {i} was not rebuilt before its user"))))
            .collect::<Result<Vec<_>, _>>()?;
        let new = match &node.op {
            Op::Input { name, ty } => out.input(name, ty.clone()).map_err(rebuild)?,
            Op::Param { name, ty } => {
                let info = graph.param_named(name).ok_or_else(|| internal(format!("parameter {name} has no info")))?;
                out.param(name, ty.clone(), info.init.clone(), info.frozen).map_err(rebuild)?
            }
            &(Op::Softmax { axis } | Op::LogSoftmax { axis }) if expands(id) => {
                let x = inputs[0];
                let m = match lse.get(&(x, axis)) {
                    Some(&m) => m,
                    None => {
                        let reduce = Op::Reduce { op: tx_ir::ReduceOp::LogSumExp, axes: vec![axis], keepdims: true };
                        let m = out.add(reduce, &[x]).map_err(rebuild)?;
                        lse.insert((x, axis), m);
                        m
                    }
                };
                let shifted = out.add(Op::Binary(tx_ir::BinaryOp::Sub), &[x, m]).map_err(rebuild)?;
                if matches!(node.op, Op::Softmax { .. }) {
                    out.add(Op::Unary(tx_ir::UnaryOp::Exp), &[shifted]).map_err(rebuild)?
                } else {
                    shifted
                }
            }
            op => out.add(op.clone(), &inputs).map_err(rebuild)?,
        };
        map[id.index()] = Some(new);
        if let Some(origin) = graph.origin(id) {
            out.set_origin_if_unset(new, origin);
        }
    }
    let mapped = |id: &NodeId| map[id.index()].ok_or_else(|| internal(format!("node {id} was not rebuilt")));
    for (name, id) in graph.outputs() {
        out.add_output(name, mapped(id)?).map_err(rebuild)?;
    }
    let roots = roots.iter().map(mapped).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Fused { graph: out, roots }))
}

/// Groups the nodes of `graph` into kernels and rebuilds it.
fn group(graph: &Graph, roots: &[NodeId], uses: &Uses) -> Result<Fused, OptError> {
    let n = graph.len();
    let Uses { live, pinned, users } = uses;
    let groups = find_groups(graph, live, pinned, users);

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
                None if !pinned[id.index()]
                    && let Some(targets) = recompute_in(graph, id, users, &group_of, &groups) =>
                {
                    // Computed again in each kernel that reads it; it
                    // belongs to no group, so its operands stay outside.
                    for g in targets {
                        groups[g].members.push(id);
                    }
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

/// The groups that compute `id` again rather than read it, when `id` is
/// one cheap op (a scale of the labels, say) and all its users are in
/// kernels that may hold it: a fresh copy in each costs an operation per
/// element, where materializing it costs a write and a read. Its operands
/// then belong to no group of its users, so they are materialized in its
/// place (never more traffic than materializing `id`), and fusing the result
/// again finds nothing more to do.
fn recompute_in(
    graph: &Graph,
    id: NodeId,
    users: &[Vec<NodeId>],
    group_of: &[Option<usize>],
    groups: &[Group],
) -> Option<Vec<usize>> {
    use tx_ir::{BinaryOp, UnaryOp};
    let node = graph.node(id);
    let cheap = matches!(
        node.op,
        Op::Unary(UnaryOp::Neg) | Op::Binary(BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul) | Op::Cast { .. }
    );
    // A value with an outside operand, so that every kernel holding it has
    // an operand and is built (a body of constants is left to folding).
    let outside = node.inputs.iter().any(|i| !matches!(graph.node(*i).op, Op::Constant { .. }));
    if !cheap || !outside {
        return None;
    }
    let mut targets = Vec::new();
    for user in &users[id.index()] {
        let g = group_of[user.index()]?;
        if groups[g].matmul == Some(*user) {
            return None;
        }
        if !targets.contains(&g) {
            targets.push(g);
        }
    }
    (targets.len() <= 3).then_some(targets)
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
