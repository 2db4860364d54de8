//! The deterministic text form of graphs and models (one node per line,
//! dense numbering in topological order, the type on every line) and DOT
//! output for Graphviz. Tests compare the text form.

use std::fmt::Write;

use crate::graph::Graph;
use crate::model::Model;
use crate::op::Op;

/// One node per line: `%3 = add %1, %2 : f32[B, 240]`, then the outputs.
pub fn print_graph(graph: &Graph) -> String {
    let mut out = String::new();
    write_graph(&mut out, graph, "");
    out
}

fn write_graph(out: &mut String, graph: &Graph, indent: &str) {
    for (id, node) in graph.nodes() {
        let operands: Vec<String> = node.inputs.iter().map(ToString::to_string).collect();
        let operands = if operands.is_empty() { String::new() } else { format!(" {}", operands.join(", ")) };
        let _ = write!(out, "{indent}{id} = {}{}{operands} : {}", node.op.name(), node.op.attributes(), node.ty);
        if let Op::Param { name, .. } = &node.op
            && let Some(info) = graph.param_named(name)
        {
            let _ = write!(out, " ~ {}", info.init);
            if info.frozen {
                out.push_str(" frozen");
            }
        }
        out.push('\n');
    }
    for (name, id) in graph.outputs() {
        let _ = writeln!(out, "{indent}output {name} = {id}");
    }
}

/// The graph, then the model statements that refer to it.
pub fn print_model(model: &Model) -> String {
    let mut out = print_graph(&model.graph);
    if let Some(loss) = model.loss {
        let _ = writeln!(out, "loss = {loss}");
    }
    for (name, id) in &model.metrics {
        let _ = writeln!(out, "metric {name} = {id}");
    }
    for layer in &model.layers {
        let _ = write!(out, "layer {} = {}", layer.name, layer.node);
        match &layer.inverse {
            None => out.push('\n'),
            Some(inverse) => {
                let _ = writeln!(out, " inverse({}) = {} {{", inverse.arg, inverse.result);
                write_graph(&mut out, &inverse.graph, "  ");
                out.push_str("}\n");
            }
        }
    }
    for train in &model.train {
        let _ = writeln!(out, "train {} {{", train.rule);
        for (key, value) in &train.settings {
            let _ = writeln!(out, "  {key} = {value}");
        }
        out.push_str("}\n");
    }
    out
}

/// Graphviz DOT: one box per node labelled with its op and type, edges from
/// operand to user labelled with the operand position when there are several.
pub fn print_dot(graph: &Graph) -> String {
    let mut out = String::from("digraph tx {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (id, node) in graph.nodes() {
        let shape = match node.op {
            Op::Input { .. } => ", shape=invhouse",
            Op::Param { .. } => ", shape=cylinder",
            _ => "",
        };
        let label = format!("{id} {}{}\\n{}", node.op.name(), node.op.attributes(), node.ty);
        let _ = writeln!(out, "  n{} [label=\"{}\"{shape}];", id.0, escape(&label));
        for (position, input) in node.inputs.iter().enumerate() {
            if node.inputs.len() > 1 {
                let _ = writeln!(out, "  n{} -> n{} [label=\"{position}\"];", input.0, id.0);
            } else {
                let _ = writeln!(out, "  n{} -> n{};", input.0, id.0);
            }
        }
    }
    for (i, (name, id)) in graph.outputs().iter().enumerate() {
        let _ = writeln!(out, "  out{i} [label=\"{}\", shape=house];", escape(name));
        let _ = writeln!(out, "  n{} -> out{i};", id.0);
    }
    out.push_str("}\n");
    out
}

/// Escapes `"` and `\` that are not part of a `\n` line break.
fn escape(text: &str) -> String {
    text.replace("\\n", "\u{0}").replace('\\', "\\\\").replace('"', "\\\"").replace('\u{0}', "\\n")
}
