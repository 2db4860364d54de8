//! The rewrite rules, one file per family in the spirit of Theano's phases.
//! Every rule is one named line, `rule_if("log1p", "(log (add ?one ?x))",
//! "(log1p ?x)", is_const("?one", 1.0))`; its right side is added, and
//! unioned with the matched class only when the two have the same type (a
//! rule that would change a shape or dtype, a broadcast the pattern did not
//! see, is refused and counted, never applied).
//!
//! What a pattern cannot say (a composed permutation, merged reduction
//! axes, a constant on the right side) is a [`Build`]: Rust that adds the
//! right side, with [`rule_build`]; the same type check applies.
//!
//! Soundness: a rule may round differently (reassociation), and may make a
//! NaN or infinite result finite (a stable form, a cancellation), but never
//! changes a finite result for NaN or infinite inputs (`x * 0 => 0` is for
//! i64 only). Like XLA and PyTensor, rules do not keep the sign of a zero
//! (`x + 0 => x` for `x = -0`), which shows only through a later division
//! by that zero.
//!
//! A rule is also refused when both sides are constants that differ: the
//! class of a constant expression already holds its folded value, and a
//! rewrite of it (a stable form, a reassociation) can only round it
//! differently, which the analysis would report as a conflict.

mod algebra;
mod canonicalize;
mod folding;
mod specialize;
mod stabilize;
mod useless;

use egg::{Applier, Id, Pattern, PatternAst, Rewrite, SearchMatches, Subst, Symbol, Var};
use tx_ir::{DType, Scalar, Type};

use crate::analysis::{TxAnalysis, TxGraph, constant, ty};
use crate::lang::{Attr, Head, TxNode};

/// A rewrite of tx's language.
pub type TxRewrite = Rewrite<TxNode, TxAnalysis>;

/// A test on a match before the right side is added.
pub type Condition = Box<dyn Fn(&TxGraph, Id, &Subst) -> bool + Send + Sync>;

/// Adds the right side of a match (the matched class and the substitution
/// given) and returns its class, or `None` to decline the match.
pub type Build = Box<dyn Fn(&mut TxGraph, Id, &Subst) -> Option<Id> + Send + Sync>;

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
    rhs: Rhs,
    condition: Option<Condition>,
}

enum Rhs {
    Pattern(Pattern<TxNode>),
    Build(Build),
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
        match &self.rhs {
            Rhs::Pattern(rhs) => rhs.vars(),
            Rhs::Build(_) => Vec::new(),
        }
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
        let new = match &self.rhs {
            Rhs::Pattern(rhs) => egraph.add_instantiation(&rhs.ast, subst),
            Rhs::Build(build) => build(egraph, eclass, subst)?,
        };
        let differing_constants = match (egraph[eclass].data.constant, egraph[new].data.constant) {
            (Some(a), Some(b)) => a != b && !(a.as_f64().is_nan() && b.as_f64().is_nan()),
            _ => false,
        };
        if expected.is_none() || egraph[new].data.ty != expected || differing_constants {
            *egraph.analysis.refused.entry(rule.to_string()).or_insert(0) += 1;
            return None;
        }
        let changed = match (&self.rhs, searcher_ast, egraph.are_explanations_enabled()) {
            (Rhs::Pattern(rhs), Some(lhs), true) => egraph.union_instantiations(lhs, &rhs.ast, subst, rule).1,
            (_, _, true) => egraph.union_trusted(eclass, new, rule),
            (_, _, false) => egraph.union(eclass, new),
        };
        changed.then_some(eclass)
    }
}

fn pattern(text: &str) -> Pattern<TxNode> {
    text.parse().unwrap_or_else(|e| panic!("rule pattern `{text}` does not parse: {e}"))
}

/// `lhs => rhs`, applied when the types agree.
pub fn rule(name: &str, lhs: &str, rhs: &str) -> TxRewrite {
    Rewrite::new(name, pattern(lhs), Typed { rhs: Rhs::Pattern(pattern(rhs)), condition: None })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

/// `lhs => rhs if condition`, applied when the types agree too.
pub fn rule_if(name: &str, lhs: &str, rhs: &str, condition: Condition) -> TxRewrite {
    Rewrite::new(name, pattern(lhs), Typed { rhs: Rhs::Pattern(pattern(rhs)), condition: Some(condition) })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

/// `lhs => build(match)`, for right sides a pattern cannot express; applied
/// when the types agree too.
pub fn rule_build(name: &str, lhs: &str, build: Build) -> TxRewrite {
    Rewrite::new(name, pattern(lhs), Typed { rhs: Rhs::Build(build), condition: None })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

/// `lhs => build(match) if condition`.
pub fn rule_build_if(name: &str, lhs: &str, build: Build, condition: Condition) -> TxRewrite {
    Rewrite::new(name, pattern(lhs), Typed { rhs: Rhs::Build(build), condition: Some(condition) })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

/// A tensor of the matched class's type filled with `value`, for rules
/// whose right side is a constant (`x ** 0 => 1`).
pub fn fill_class(value: f64) -> Build {
    Box::new(move |egraph, eclass, _| {
        let ty = ty(egraph, eclass)?.clone();
        let value = match ty.dtype {
            DType::F32 | DType::F64 => Scalar::Float(value),
            DType::I64 => Scalar::Int(value as i64),
            DType::Bool => Scalar::Bool(value != 0.0),
        };
        Some(add_splat(egraph, value, &ty))
    })
}

pub fn var(name: &str) -> Var {
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

/// `?v` is not a constant (so a rule that moves constants has work to do).
pub fn not_const(v: &str) -> Condition {
    let v = var(v);
    Box::new(move |egraph, _, subst| constant(egraph, subst[v]).is_none())
}

/// `?v` is a constant for which `test` holds.
pub fn const_where(v: &str, test: fn(f64) -> bool) -> Condition {
    let v = var(v);
    Box::new(move |egraph, _, subst| constant(egraph, subst[v]).is_some_and(test))
}

/// `?v` has element type `dtype`.
pub fn is_dtype(v: &str, dtype: DType) -> Condition {
    let v = var(v);
    Box::new(move |egraph, _, subst| ty(egraph, subst[v]).is_some_and(|t| t.dtype == dtype))
}

/// The attribute class `?v` is, if it is one.
pub fn attr_of(egraph: &TxGraph, id: Id) -> Option<Attr> {
    egraph[id].data.attr.clone()
}

/// Adds an attribute leaf.
pub fn add_attr(egraph: &mut TxGraph, attr: Attr) -> Id {
    egraph.add(TxNode::new(Head::Attr(attr), vec![]))
}

/// Adds an op with an attribute as its first child.
pub fn add_with_attr(egraph: &mut TxGraph, head: Head, attr: Attr, operands: &[Id]) -> Id {
    let mut children = vec![add_attr(egraph, attr)];
    children.extend_from_slice(operands);
    egraph.add(TxNode::new(head, children))
}

/// A tensor of type `ty` whose every element is `value` (of a kind that
/// fits `ty`'s dtype): a scalar constant, broadcast when `ty` is not a
/// scalar.
pub fn add_splat(egraph: &mut TxGraph, value: Scalar, ty: &Type) -> Id {
    let constant = egraph.add(TxNode::new(Head::Const(value, ty.dtype), vec![]));
    if ty.rank() == 0 {
        constant
    } else {
        add_with_attr(egraph, Head::Broadcast, Attr::Shape(ty.shape.clone()), &[constant])
    }
}
