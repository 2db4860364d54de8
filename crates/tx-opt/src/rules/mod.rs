//! The rewrite rules, one file per family in the spirit of Theano's phases.
//! Every rule is one named line, `rule("log1p", "(log (add ?one ?x))",
//! "(log1p ?x)", is_const("?one", 1.0))`; its right side is added, and
//! unioned with the matched class only when the two have the same type (a
//! rule that would change a shape or dtype, a broadcast the pattern did not
//! see, is refused and counted, never applied).

mod algebra;
mod canonicalize;
mod folding;
mod specialize;
mod stabilize;
mod useless;

use egg::{Applier, Id, Pattern, PatternAst, Rewrite, SearchMatches, Subst, Symbol, Var};

use crate::analysis::{TxAnalysis, TxGraph, constant, ty};
use crate::lang::TxNode;

/// A rewrite of tx's language.
pub type TxRewrite = Rewrite<TxNode, TxAnalysis>;

/// A test on a match before the right side is added.
pub type Condition = Box<dyn Fn(&TxGraph, Id, &Subst) -> bool + Send + Sync>;

/// A family of rules, named as `tx opt` reports it.
pub struct Family {
    pub name: &'static str,
    pub rules: Vec<TxRewrite>,
    /// Cheap enough for `-O1` (no rule that grows the e-graph much).
    pub cheap: bool,
}

/// Every family, in phase order (merge and folding happen in the e-graph
/// itself: hash-consing merges equal nodes, the analysis folds constants).
pub fn families() -> Vec<Family> {
    vec![
        Family { name: "folding", rules: folding::rules(), cheap: true },
        Family { name: "useless", rules: useless::rules(), cheap: true },
        Family { name: "canonicalize", rules: canonicalize::rules(), cheap: true },
        Family { name: "stabilize", rules: stabilize::rules(), cheap: true },
        Family { name: "specialize", rules: specialize::rules(), cheap: true },
        Family { name: "algebra", rules: algebra::rules(), cheap: false },
    ]
}

/// The right side of a rule, with its condition and the type check.
pub struct Typed {
    rhs: Pattern<TxNode>,
    condition: Option<Condition>,
}

impl Applier<TxNode, TxAnalysis> for Typed {
    fn apply_matches(&self, egraph: &mut TxGraph, matches: &[SearchMatches<TxNode>], rule: Symbol) -> Vec<Id> {
        let mut changed = Vec::new();
        for found in matches {
            for subst in &found.substs {
                if let Some(id) = self.apply(egraph, found.eclass, subst, found.ast.as_deref(), rule) {
                    changed.push(id);
                }
            }
        }
        changed
    }

    fn apply_one(
        &self,
        egraph: &mut TxGraph,
        eclass: Id,
        subst: &Subst,
        searcher_ast: Option<&PatternAst<TxNode>>,
        rule: Symbol,
    ) -> Vec<Id> {
        self.apply(egraph, eclass, subst, searcher_ast, rule).into_iter().collect()
    }

    fn vars(&self) -> Vec<Var> {
        self.rhs.vars()
    }
}

impl Typed {
    fn apply(
        &self,
        egraph: &mut TxGraph,
        eclass: Id,
        subst: &Subst,
        searcher_ast: Option<&PatternAst<TxNode>>,
        rule: Symbol,
    ) -> Option<Id> {
        if let Some(condition) = &self.condition
            && !condition(egraph, eclass, subst)
        {
            return None;
        }
        let expected = egraph[eclass].data.ty.clone();
        let new = egraph.add_instantiation(&self.rhs.ast, subst);
        if expected.is_none() || egraph[new].data.ty != expected {
            *egraph.analysis.refused.entry(rule.to_string()).or_insert(0) += 1;
            return None;
        }
        let changed = match (searcher_ast, egraph.are_explanations_enabled()) {
            (Some(lhs), true) => egraph.union_instantiations(lhs, &self.rhs.ast, subst, rule).1,
            _ => egraph.union(eclass, new),
        };
        changed.then_some(eclass)
    }
}

fn pattern(text: &str) -> Pattern<TxNode> {
    text.parse().unwrap_or_else(|e| panic!("rule pattern `{text}` does not parse: {e}"))
}

/// `lhs => rhs`, applied when the types agree.
pub fn rule(name: &str, lhs: &str, rhs: &str) -> TxRewrite {
    Rewrite::new(name, pattern(lhs), Typed { rhs: pattern(rhs), condition: None })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

/// `lhs => rhs if condition`, applied when the types agree too.
pub fn rule_if(name: &str, lhs: &str, rhs: &str, condition: Condition) -> TxRewrite {
    Rewrite::new(name, pattern(lhs), Typed { rhs: pattern(rhs), condition: Some(condition) })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

fn var(name: &str) -> Var {
    name.parse().unwrap_or_else(|e| panic!("`{name}` is not a pattern variable: {e:?}"))
}

/// Every element of `?v` equals `value`.
pub fn is_const(v: &str, value: f64) -> Condition {
    let v = var(v);
    Box::new(move |egraph, _, subst| constant(egraph, subst[v]) == Some(value))
}

/// `?v` is a constant (every element the same known number).
pub fn is_any_const(v: &str) -> Condition {
    let v = var(v);
    Box::new(move |egraph, _, subst| constant(egraph, subst[v]).is_some())
}

/// `?v` is a float tensor.
pub fn is_float(v: &str) -> Condition {
    let v = var(v);
    Box::new(move |egraph, _, subst| ty(egraph, subst[v]).is_some_and(|t| t.dtype.is_float()))
}

/// Both conditions hold.
pub fn both(a: Condition, b: Condition) -> Condition {
    Box::new(move |egraph, id, subst| a(egraph, id, subst) && b(egraph, id, subst))
}
