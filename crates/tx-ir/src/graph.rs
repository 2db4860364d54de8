//! The graph: typed nodes in a petgraph, with the program's inputs,
//! parameters (and how to initialize them) and named outputs.
//!
//! A graph only grows: a node is added after its operands, so node order is
//! a topological order and passes build new graphs rather than editing old
//! ones. Every node is type-checked when it is added ([`Graph::add`]); a
//! graph that was built without error is well typed, which
//! [`crate::verify::verify`] re-checks after passes in tests.

use petgraph::graph::{DiGraph, NodeIndex};

use crate::infer::infer;
use crate::op::Op;
use crate::types::Type;

/// A node handle. Ids are dense and in topological order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }

    fn petgraph(self) -> NodeIndex<u32> {
        NodeIndex::new(self.index())
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// One operation with its operands (in order) and result type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub ty: Type,
}

/// How a parameter gets its first value. Evaluated by the runtime
/// (`tx-interp`), so that the IR stays free of number crunching.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Every element the same value.
    Fill(f64),
    Normal {
        mean: f64,
        std: f64,
        seed: u64,
    },
    Uniform {
        low: f64,
        high: f64,
        seed: u64,
    },
    /// Glorot/Xavier uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
    Glorot {
        gain: f64,
        seed: u64,
    },
    /// Glorot/Xavier normal: N(0, gain^2 * 2 / (fan_in + fan_out)).
    GlorotNormal {
        gain: f64,
        seed: u64,
    },
    /// A (semi-)orthogonal matrix from the QR decomposition of a Gaussian
    /// one, times `gain`; higher ranks are flattened to (dim0, rest).
    Orthogonal {
        gain: f64,
        seed: u64,
    },
}

impl std::fmt::Display for Init {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Init::Fill(v) => write!(f, "fill({v:?})"),
            Init::Normal { mean, std, seed } => write!(f, "normal({mean:?}, {std:?}, seed={seed})"),
            Init::Uniform { low, high, seed } => write!(f, "uniform({low:?}, {high:?}, seed={seed})"),
            Init::Glorot { gain, seed } => write!(f, "glorot(gain={gain:?}, seed={seed})"),
            Init::GlorotNormal { gain, seed } => write!(f, "glorot_normal(gain={gain:?}, seed={seed})"),
            Init::Orthogonal { gain, seed } => write!(f, "orthogonal(gain={gain:?}, seed={seed})"),
        }
    }
}

/// A parameter: shared state that persists between calls.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub node: NodeId,
    pub init: Init,
    /// Never updated by training (feedback matrices, fixed random features).
    pub frozen: bool,
}

/// Errors from building a graph: the operands do not fit the op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub message: String,
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GraphError {}

/// Where a node came from in the source: a byte range. Plain numbers, so
/// the IR stays free of the syntax crate; used to point runtime errors (and,
/// later, NaN guards) at the expression that produced a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub start: usize,
    pub end: usize,
}

/// A typed dataflow graph with named inputs, parameters and outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Edges run from operand to user; the edge weight is the operand position.
    dag: DiGraph<Node, u32, u32>,
    inputs: Vec<NodeId>,
    params: Vec<ParamInfo>,
    outputs: Vec<(String, NodeId)>,
    /// One entry per node; not part of the graph's meaning (not printed).
    origins: Vec<Option<Origin>>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Adds `op` applied to `inputs`, checking dtypes and shapes.
    pub fn add(&mut self, op: Op, inputs: &[NodeId]) -> Result<NodeId, GraphError> {
        for &input in inputs {
            if input.index() >= self.len() {
                return Err(GraphError { message: format!("operand {input} does not exist") });
            }
        }
        if matches!(op, Op::Input { .. } | Op::Param { .. }) {
            return Err(GraphError { message: "inputs and parameters are added with `input` and `param`".into() });
        }
        let types: Vec<&Type> = inputs.iter().map(|&id| &self.node(id).ty).collect();
        let ty = infer(&op, &types).map_err(|message| GraphError { message })?;
        Ok(self.push(Node { op, inputs: inputs.to_vec(), ty }))
    }

    /// Declares an input; names are unique among inputs and parameters.
    pub fn input(&mut self, name: &str, ty: Type) -> Result<NodeId, GraphError> {
        self.check_new_name(name)?;
        ty.check_size().map_err(|message| GraphError { message })?;
        let id = self.push(Node { op: Op::Input { name: name.to_string(), ty: ty.clone() }, inputs: vec![], ty });
        self.inputs.push(id);
        Ok(id)
    }

    /// Declares a parameter. Its shape must be fully known.
    pub fn param(&mut self, name: &str, ty: Type, init: Init, frozen: bool) -> Result<NodeId, GraphError> {
        self.check_new_name(name)?;
        ty.check_size().map_err(|message| GraphError { message })?;
        if let Some(sym) = ty.shape.symbols().first() {
            return Err(GraphError {
                message: format!("parameter `{name}` has symbolic dimension `{sym}`; parameters need known sizes"),
            });
        }
        let id = self.push(Node { op: Op::Param { name: name.to_string(), ty: ty.clone() }, inputs: vec![], ty });
        self.params.push(ParamInfo { name: name.to_string(), node: id, init, frozen });
        Ok(id)
    }

    /// Names a node as an output. Output names are unique.
    pub fn add_output(&mut self, name: &str, node: NodeId) -> Result<(), GraphError> {
        if self.outputs.iter().any(|(n, _)| n == name) {
            return Err(GraphError { message: format!("output `{name}` is defined twice") });
        }
        if node.index() >= self.len() {
            return Err(GraphError { message: format!("output node {node} does not exist") });
        }
        self.outputs.push((name.to_string(), node));
        Ok(())
    }

    fn check_new_name(&self, name: &str) -> Result<(), GraphError> {
        if self.input_named(name).is_some() || self.param_named(name).is_some() {
            return Err(GraphError { message: format!("`{name}` is declared twice") });
        }
        Ok(())
    }

    /// Records where `id` came from, unless it already has an origin: the
    /// innermost expression that created a node names it.
    pub fn set_origin_if_unset(&mut self, id: NodeId, origin: Origin) {
        if let Some(slot) = self.origins.get_mut(id.index())
            && slot.is_none()
        {
            *slot = Some(origin);
        }
    }

    pub fn origin(&self, id: NodeId) -> Option<Origin> {
        self.origins.get(id.index()).copied().flatten()
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.origins.push(None);
        let operands = node.inputs.clone();
        let id = NodeId(self.dag.add_node(node).index() as u32);
        for (position, operand) in operands.into_iter().enumerate() {
            self.dag.add_edge(operand.petgraph(), id.petgraph(), position as u32);
        }
        id
    }

    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.dag[id.petgraph()]
    }

    pub fn ty(&self, id: NodeId) -> &Type {
        &self.node(id).ty
    }

    /// Every node id in topological order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator + use<> {
        (0..self.len() as u32).map(NodeId)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.ids().map(|id| (id, self.node(id)))
    }

    /// The nodes that use `id` as an operand, in id order, once each.
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        let mut users: Vec<NodeId> = self
            .dag
            .neighbors_directed(id.petgraph(), petgraph::Direction::Outgoing)
            .map(|n| NodeId(n.index() as u32))
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Input nodes in declaration order.
    pub fn inputs(&self) -> &[NodeId] {
        &self.inputs
    }

    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    pub fn outputs(&self) -> &[(String, NodeId)] {
        &self.outputs
    }

    pub fn input_named(&self, name: &str) -> Option<NodeId> {
        self.inputs.iter().copied().find(|&id| matches!(&self.node(id).op, Op::Input { name: n, .. } if n == name))
    }

    pub fn param_named(&self, name: &str) -> Option<&ParamInfo> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Marks which nodes the given roots depend on (the roots included).
    /// Iterative: one backward sweep in reverse topological order.
    pub fn reachable_from(&self, roots: &[NodeId]) -> Vec<bool> {
        let mut live = vec![false; self.len()];
        for root in roots {
            live[root.index()] = true;
        }
        for id in self.ids().rev() {
            if live[id.index()] {
                for input in &self.node(id).inputs {
                    live[input.index()] = true;
                }
            }
        }
        live
    }

    /// The index of the last live node reading each node's value (0 for
    /// none), with `usize::MAX` for `outputs`, which are kept to the end:
    /// what evaluators free buffers by.
    pub fn last_uses(&self, live: &[bool], outputs: &[NodeId]) -> Vec<usize> {
        let mut last_use = vec![0; self.len()];
        for (id, node) in self.nodes().filter(|(id, _)| live[id.index()]) {
            for input in &node.inputs {
                last_use[input.index()] = id.index();
            }
        }
        for output in outputs {
            last_use[output.index()] = usize::MAX;
        }
        last_use
    }

    /// The petgraph inside, for algorithms (read only).
    pub fn petgraph(&self) -> &DiGraph<Node, u32, u32> {
        &self.dag
    }
}
