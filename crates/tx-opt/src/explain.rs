//! Why the optimized form of an output equals the original: the chain of
//! rewrites egg's explanations record, one line per rewrite, with the
//! subterm before and after (long subterms shortened).

use egg::FlatTerm;
use tx_ir::{Graph, Op};

use crate::lang::{Head, TxNode};
use crate::{OptConfig, OptError, Report, convert, extract, saturate};

/// Subterms longer than this are shortened in the explanation.
const TERM_CHARS: usize = 160;

/// The rewrites that make output `output` of `graph` before optimization
/// equal to its optimized form (before fusion, which only groups ops).
pub fn explain(graph: &Graph, output: &str, config: &OptConfig) -> Result<String, OptError> {
    let internal = |message: String| OptError::Internal { message };
    let &(_, node) = graph
        .outputs()
        .iter()
        .find(|(name, _)| name == output)
        .ok_or_else(|| internal(format!("the graph has no output `{output}`")))?;
    let config = OptConfig { explanations: true, ..config.clone() };
    let mut report = Report::default();
    let (mut egraph, classes) = saturate(graph, &config, &mut report);
    let before = convert::to_recexpr(graph, node);
    let root = egraph.find(classes[node.index()]);
    let after = extract::extract(&egraph)
        .expr(&egraph, root)
        .ok_or_else(|| internal(format!("output `{output}` has no well-typed form")))?;
    let leaves = egraph.analysis.leaves.clone();
    if before.to_string() == after.to_string() {
        return Ok(format!("output `{output}` is unchanged by the rewrites ({})\n", report.stop_reason));
    }
    let mut explanation = egraph.explain_equivalence(&before, &after);
    let steps = explanation.make_flat_explanation().clone();
    let mut out = String::new();
    let mut count = 0;
    for pair in steps.windows(2) {
        if let Some((rule, forward, from, to)) = rewrite_of(&pair[0], &pair[1]) {
            count += 1;
            let arrow = if forward { "=>" } else { "<=" };
            out.push_str(&format!("{count:>4}. {rule}: {} {arrow} {}\n", show(from, &leaves), show(to, &leaves)));
        }
    }
    let rewrites = if count == 1 { "rewrite makes" } else { "rewrites make" };
    Ok(format!("output `{output}`: {count} {rewrites} the original equal to the optimized form\n{out}"))
}

/// Where `next` differs from `previous` by one rewrite: the rule, its
/// direction, and the subterms before and after. Iterative: walks both
/// terms side by side.
fn rewrite_of<'a>(
    previous: &'a FlatTerm<TxNode>,
    next: &'a FlatTerm<TxNode>,
) -> Option<(String, bool, &'a FlatTerm<TxNode>, &'a FlatTerm<TxNode>)> {
    let mut stack = vec![(previous, next)];
    while let Some((a, b)) = stack.pop() {
        if let Some(rule) = b.forward_rule {
            return Some((rule.to_string(), true, a, b));
        }
        if let Some(rule) = b.backward_rule {
            return Some((rule.to_string(), false, a, b));
        }
        for (x, y) in a.children.iter().zip(&b.children).rev() {
            stack.push((x, y));
        }
    }
    None
}

/// A term as text: `log_softmax[axis=1](add(matmul(x, W), b))`, leaves by
/// name, shortened past [`TERM_CHARS`]. Iterative (post-order).
fn show(term: &FlatTerm<TxNode>, leaves: &[Op]) -> String {
    let mut done: Vec<String> = Vec::new();
    let mut stack: Vec<(&FlatTerm<TxNode>, bool)> = vec![(term, false)];
    while let Some((t, expanded)) = stack.pop() {
        if !expanded {
            stack.push((t, true));
            stack.extend(t.children.iter().rev().map(|c| (c, false)));
            continue;
        }
        let children = done.split_off(done.len() - t.children.len());
        let s = match &t.node.head {
            Head::Leaf(n) => match leaves.get(*n as usize) {
                Some(Op::Input { name, .. } | Op::Param { name, .. }) => name.clone(),
                Some(op) => format!("{}{}", op.name(), op.attributes()),
                None => format!("leaf{n}"),
            },
            Head::Const(value, _) => value.to_string(),
            Head::Attr(attr) => format!("[{attr}]"),
            head => {
                let (attr, operands) = if head.has_attr() && !children.is_empty() {
                    (children[0].clone(), &children[1..])
                } else {
                    (String::new(), &children[..])
                };
                format!("{}{attr}({})", head.name(), operands.join(", "))
            }
        };
        done.push(shorten(s));
    }
    done.pop().unwrap_or_default()
}

fn shorten(s: String) -> String {
    if s.chars().count() <= TERM_CHARS {
        return s;
    }
    let head: String = s.chars().take(TERM_CHARS - 1).collect();
    format!("{head}…")
}
