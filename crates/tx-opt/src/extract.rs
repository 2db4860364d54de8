//! Extraction: the cheapest e-node of every class, by tree cost (an e-node
//! costs its own [`node_cost`] plus its operands' classes), computed
//! with a worklist: a class is revisited only when one of its children got
//! cheaper, so a deep graph costs a few passes over its nodes, not one pass
//! per level as a sweep over all classes until nothing changes would.
//! Ill-typed e-nodes are never chosen. The optimized graph is built from
//! one chosen e-node per class, so shared values stay shared.

use std::collections::{HashMap, VecDeque};

use egg::{Id, RecExpr};

use crate::analysis::TxGraph;
use crate::cost::node_cost;
use crate::lang::{Head, TxNode};

/// The chosen e-node and cost of every class that has one.
pub struct Extraction {
    best: HashMap<Id, (f64, TxNode)>,
}

impl Extraction {
    /// The chosen e-node of `class` (any id of it).
    pub fn node(&self, egraph: &TxGraph, class: Id) -> Option<&TxNode> {
        self.best.get(&egraph.find(class)).map(|(_, node)| node)
    }

    /// The chosen expression of `root`, each class once.
    pub fn expr(&self, egraph: &TxGraph, root: Id) -> Option<RecExpr<TxNode>> {
        let mut expr = RecExpr::default();
        let mut added: HashMap<Id, Id> = HashMap::new();
        let mut stack = vec![(egraph.find(root), false)];
        while let Some((class, expanded)) = stack.pop() {
            if added.contains_key(&class) {
                continue;
            }
            let node = self.node(egraph, class)?;
            if !expanded {
                stack.push((class, true));
                stack.extend(node.children.iter().rev().map(|&c| (egraph.find(c), false)));
                continue;
            }
            let mut copy = node.clone();
            for child in &mut copy.children {
                *child = added[&egraph.find(*child)];
            }
            added.insert(class, expr.add(copy));
        }
        Some(expr)
    }
}

/// Chooses the cheapest e-node of every class of `egraph` (rebuilt).
pub fn extract(egraph: &TxGraph) -> Extraction {
    // Each e-node's own cost, once (infinite for ill-typed ones).
    let mut own: HashMap<Id, Vec<f64>> = HashMap::new();
    for class in egraph.classes() {
        let ty = class.data.ty.as_ref();
        let costs = class
            .nodes
            .iter()
            .map(|n| {
                if ty.is_none() && !matches!(n.head, Head::Attr(_)) { f64::INFINITY } else { node_cost(egraph, n, ty) }
            })
            .collect();
        own.insert(class.id, costs);
    }
    let mut best: HashMap<Id, (f64, TxNode)> = HashMap::new();
    let mut queue: VecDeque<Id> = egraph.classes().map(|c| c.id).collect();
    let mut queued: std::collections::HashSet<Id> = queue.iter().copied().collect();
    while let Some(id) = queue.pop_front() {
        queued.remove(&id);
        let class = &egraph[id];
        let mut choice: Option<(f64, &TxNode)> = None;
        for (node, &cost) in class.nodes.iter().zip(&own[&id]) {
            if !cost.is_finite() {
                continue;
            }
            // Tree costs count a shared operand once per use; on deep graphs
            // with much sharing the sum could overflow, so it saturates.
            let total = node
                .children
                .iter()
                .try_fold(cost, |sum, &c| best.get(&egraph.find(c)).map(|(child, _)| (sum + child).min(f64::MAX)));
            if let Some(total) = total
                && choice.is_none_or(|(c, _)| total < c)
            {
                choice = Some((total, node));
            }
        }
        let Some((cost, node)) = choice else { continue };
        if best.get(&id).is_some_and(|(old, _)| *old <= cost) {
            continue;
        }
        best.insert(id, (cost, node.clone()));
        for parent in class.parents() {
            let parent = egraph.find(parent);
            if queued.insert(parent) {
                queue.push_back(parent);
            }
        }
    }
    Extraction { best }
}
