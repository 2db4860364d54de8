//! tx-opt: the optimizer. A graph goes into an e-graph (egg), rewrite
//! families (folding, useless ops, canonicalization, stabilization,
//! specialization, transpose and matmul algebra) saturate it within fixed
//! limits, a cost model that prefers stable forms and fewer passes over
//! memory extracts the best graph, and fusion groups elementwise work into
//! kernels.
//!
//! **Architecture invariant:** optimization is bounded and deterministic:
//! iteration and node limits (never the clock) decide where it stops, and
//! the same graph always gives the same optimized graph. The optimized
//! graph keeps the source's inputs, parameters and outputs, in order.

pub mod analysis;
pub mod convert;
pub mod cost;
pub mod explain;
pub mod extract;
pub mod fusion;
pub mod lang;
pub mod rules;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use egg::{Id, Runner, StopReason};
use tx_ir::{Graph, NodeId};

pub use analysis::{TxAnalysis, TxGraph};
pub use explain::explain;
pub use lang::{Attr, Head, TxNode};

/// How hard to optimize.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Nothing: the graph as written.
    O0,
    /// The cheap families one after another, a few iterations each.
    O1,
    /// Every family to saturation (within the limits), then fusion.
    O2,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::O0 => "-O0",
            Level::O1 => "-O1",
            Level::O2 => "-O2",
        }
    }
}

/// The optimizer's settings.
#[derive(Clone, Debug)]
pub struct OptConfig {
    pub level: Level,
    /// Equality-saturation iterations (per phase at `-O1`).
    pub iter_limit: usize,
    /// E-nodes the e-graph may grow to.
    pub node_limit: usize,
    /// Record why classes are equal (for `--explain`; slower).
    pub explanations: bool,
    /// Group elementwise work into kernels (`-O2`).
    pub fuse: bool,
}

impl OptConfig {
    pub fn new(level: Level) -> OptConfig {
        OptConfig { level, iter_limit: 16, node_limit: 200_000, explanations: false, fuse: level == Level::O2 }
    }
}

/// What the optimizer did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub nodes_before: usize,
    pub nodes_after: usize,
    /// Fused-kernel nodes in the result.
    pub kernels: usize,
    /// Rewrites that changed the e-graph, per rule.
    pub rules: BTreeMap<String, usize>,
    /// Rewrites refused because their result type differed, per rule.
    pub refused: BTreeMap<String, usize>,
    /// Why saturation stopped (the last phase's reason at `-O1`).
    pub stop_reason: String,
    pub iterations: usize,
    pub egraph_nodes: usize,
    pub egraph_classes: usize,
    /// Seconds per phase, in order.
    pub phases: Vec<(String, Duration)>,
    /// Classes merged with different types or constants (a bug in a rule).
    pub conflicts: Vec<String>,
}

impl Report {
    pub fn seconds(&self) -> f64 {
        self.phases.iter().map(|(_, d)| d.as_secs_f64()).sum()
    }
}

/// The optimized graph and the report.
#[derive(Clone, Debug)]
pub struct Optimized {
    pub graph: Graph,
    /// The new node of each extra root passed to [`optimize`].
    pub roots: Vec<NodeId>,
    pub report: Report,
}

/// An optimizer failure: always a bug in tx, never in the user's program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptError {
    Internal { message: String },
}

impl std::fmt::Display for OptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptError::Internal { message } => write!(f, "internal error in the optimizer (a bug in tx): {message}"),
        }
    }
}

impl std::error::Error for OptError {}

/// Optimizes `graph`: its outputs, and the extra `roots` (update values of a
/// training step), whose new nodes come back in [`Optimized::roots`].
pub fn optimize(graph: &Graph, roots: &[NodeId], config: &OptConfig) -> Result<Optimized, OptError> {
    let mut report = Report { nodes_before: live_nodes(graph, roots), ..Report::default() };
    if config.level == Level::O0 {
        report.nodes_after = report.nodes_before;
        report.stop_reason = "not optimized (-O0)".to_string();
        return Ok(Optimized { graph: graph.clone(), roots: roots.to_vec(), report });
    }
    let (egraph, classes) = saturate(graph, config, &mut report);
    let start = Instant::now();
    let wanted: Vec<NodeId> = graph.outputs().iter().map(|(_, id)| *id).chain(roots.iter().copied()).collect();
    let wanted_classes: Vec<Id> = wanted.iter().map(|id| egraph.find(classes[id.index()])).collect();
    let extraction = extract::extract(&egraph);
    let rebuilt =
        convert::from_egraph(&egraph, graph, &wanted_classes, |class| extraction.node(&egraph, class).cloned())?;
    let mut optimized = rebuilt.graph;
    for (id, _) in graph.nodes() {
        if let (Some(origin), Some(&new)) = (graph.origin(id), rebuilt.classes.get(&egraph.find(classes[id.index()]))) {
            optimized.set_origin_if_unset(new, origin);
        }
    }
    let outputs = graph.outputs().len();
    for ((name, _), &new) in graph.outputs().iter().zip(&rebuilt.roots) {
        optimized.add_output(name, new).map_err(|e| OptError::Internal { message: e.message })?;
    }
    let mut new_roots = rebuilt.roots[outputs..].to_vec();
    report.phases.push(("extract".to_string(), start.elapsed()));
    if config.fuse {
        let start = Instant::now();
        if let Some(expanded) = fusion::expand_softmax(&optimized, &new_roots)? {
            optimized = expanded.graph;
            new_roots = expanded.roots;
        }
        let fused = fusion::fuse(&optimized, &new_roots)?;
        optimized = fused.graph;
        new_roots = fused.roots;
        report.phases.push(("fuse".to_string(), start.elapsed()));
    }
    report.kernels = optimized.nodes().filter(|(_, n)| matches!(n.op, tx_ir::Op::Fused(_))).count();
    report.nodes_after = live_nodes(&optimized, &new_roots);
    report.conflicts.clone_from(&egraph.analysis.conflicts);
    report.refused.clone_from(&egraph.analysis.refused);
    if egraph.analysis.folded > 0 {
        // Folding is done by the analysis, not a rule, but it fired too.
        report.rules.insert("constant-folding".to_string(), egraph.analysis.folded);
    }
    Ok(Optimized { graph: optimized, roots: new_roots, report })
}

/// Nodes the outputs and `roots` need (inputs and parameters included).
pub fn live_nodes(graph: &Graph, roots: &[NodeId]) -> usize {
    let all: Vec<NodeId> = graph.outputs().iter().map(|(_, id)| *id).chain(roots.iter().copied()).collect();
    graph.reachable_from(&all).iter().filter(|&&live| live).count()
}

/// Runs the rule families on the e-graph of `graph`: all together at `-O2`,
/// one phase after another at `-O1`.
pub fn saturate(graph: &Graph, config: &OptConfig, report: &mut Report) -> (TxGraph, Vec<Id>) {
    let start = Instant::now();
    let (mut egraph, classes) = convert::to_egraph(graph, config.explanations);
    egraph.rebuild();
    report.phases.push(("to e-graph".to_string(), start.elapsed()));
    let families = rules::families();
    let phases: Vec<(String, Vec<&rules::TxRewrite>, usize)> = match config.level {
        Level::O0 => Vec::new(),
        Level::O1 => families
            .iter()
            .filter(|f| f.cheap)
            .map(|f| (f.name.to_string(), f.rules.iter().collect(), config.iter_limit.min(4)))
            .collect(),
        Level::O2 => {
            vec![("saturate".to_string(), families.iter().flat_map(|f| f.rules.iter()).collect(), config.iter_limit)]
        }
    };
    for (name, rules, iter_limit) in phases {
        let start = Instant::now();
        let runner = Runner::default()
            .with_egraph(egraph)
            .with_iter_limit(iter_limit)
            .with_node_limit(config.node_limit)
            // A safety net only: the iteration and node limits decide.
            .with_time_limit(Duration::from_secs(60))
            .run(rules);
        for iteration in &runner.iterations {
            for (rule, count) in &iteration.applied {
                *report.rules.entry(rule.to_string()).or_insert(0) += count;
            }
        }
        report.iterations += runner.iterations.len();
        report.stop_reason = match &runner.stop_reason {
            Some(StopReason::Saturated) => "saturated".to_string(),
            Some(StopReason::IterationLimit(n)) => format!("iteration limit ({n})"),
            Some(StopReason::NodeLimit(n)) => format!("node limit ({n})"),
            Some(StopReason::TimeLimit(s)) => format!("time limit ({s} s)"),
            Some(StopReason::Other(why)) => why.clone(),
            None => "not run".to_string(),
        };
        egraph = runner.egraph;
        report.phases.push((name, start.elapsed()));
    }
    report.egraph_nodes = egraph.total_size();
    report.egraph_classes = egraph.number_of_classes();
    (egraph, classes)
}
