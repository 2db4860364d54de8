//! `tx opt`: the optimizer at work on one program (or its training step):
//! the graph before and after, node and fused-kernel counts, the rules that
//! fired, the time of each phase and the stop reason; or, with `--explain`,
//! the chain of rewrites that makes one output equal before and after.

use tx_ir::{Model, NodeId};

use crate::Failure;
use crate::args::{GraphFormat, OptArgs};
use crate::commands::{compile, optimize, read_source, step_model, write_line, write_stdout};
use crate::format::{duration, json_number, json_object, json_string};

pub fn opt(args: &OptArgs) -> Result<(), Failure> {
    let source = read_source(&args.file)?;
    let model = compile(&source)?;
    let model = if args.updates { step_model(&model, args.rule.as_deref())? } else { model };
    let level = args.opt.level.level();
    if let Some(output) = &args.explain {
        return explain(&model, output, level, &source.name);
    }

    // The outputs are kept by the optimizer; the loss and the metrics (what
    // `tx run` and `tx train` evaluate) are kept as extra roots.
    let roots: Vec<NodeId> = model.loss.into_iter().chain(model.metrics.iter().map(|(_, id)| *id)).collect();
    let optimized = optimize(&model.graph, &roots, level)?;
    let report = &optimized.report;
    for conflict in &report.conflicts {
        crate::write_stderr(&format!("warning: the optimizer merged values that differ (a bug in tx): {conflict}\n"));
    }
    if args.json {
        write_line(&json(report, level));
        return Ok(());
    }
    let mut new_roots = optimized.roots.iter().copied();
    let loss = model.loss.and_then(|_| new_roots.next());
    let metrics = model.metrics.iter().map(|(name, _)| name.clone()).zip(new_roots).collect();
    let after = Model {
        graph: optimized.graph.clone(),
        loss,
        metrics,
        // Layer boundaries are not kept by the optimizer (nothing evaluates
        // them); at -O0 the graph is the same, and so are they.
        layers: if level == tx_opt::Level::O0 { model.layers.clone() } else { Vec::new() },
        train: model.train.clone(),
    };
    let (before_text, after_text, comment) = match args.format {
        GraphFormat::Text => (tx_ir::print_model(&model), tx_ir::print_model(&after), ""),
        GraphFormat::Dot => (
            tx_ir::print_dot(&model.graph).replacen("digraph tx {", "digraph before {", 1),
            tx_ir::print_dot(&after.graph).replacen("digraph tx {", "digraph after {", 1),
            "// ",
        ),
    };
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut out = String::new();
    out.push_str(&format!("{comment}before: {}\n", plural(report.nodes_before, "node")));
    out.push_str(&before_text);
    out.push_str(&format!(
        "\n{comment}after {}: {}, {}\n",
        level.name(),
        plural(report.nodes_after, "node"),
        plural(report.kernels, "fused kernel")
    ));
    out.push_str(&after_text);
    out.push('\n');
    for line in summary(report) {
        out.push_str(&format!("{comment}{line}\n"));
    }
    write_stdout(&out);
    Ok(())
}

/// The report for people: rules, phases, the stop reason.
fn summary(report: &tx_opt::Report) -> Vec<String> {
    let mut lines = Vec::new();
    let fired: usize = report.rules.values().sum();
    if fired == 0 {
        lines.push("rules: none fired".to_string());
    } else {
        lines.push(format!("rules: {fired} rewrite{}", if fired == 1 { "" } else { "s" }));
        lines.extend(table(&report.rules));
    }
    if !report.refused.is_empty() {
        lines.push("refused (the result's type would differ):".to_string());
        lines.extend(table(&report.refused));
    }
    let phases: Vec<String> = report.phases.iter().map(|(name, d)| format!("{name} {}", duration(*d))).collect();
    let total = std::time::Duration::from_secs_f64(report.seconds());
    if phases.is_empty() {
        lines.push(format!("phases: none ({} in all)", duration(total)));
    } else {
        lines.push(format!("phases: {} ({} in all)", phases.join(", "), duration(total)));
    }
    let mut stop = format!("stop reason: {}", report.stop_reason);
    if report.iterations > 0 || report.egraph_nodes > 0 {
        stop.push_str(&format!(
            " after {} iteration{} (e-graph: {} nodes, {} classes)",
            report.iterations,
            if report.iterations == 1 { "" } else { "s" },
            report.egraph_nodes,
            report.egraph_classes
        ));
    }
    lines.push(stop);
    lines
}

/// `name  count` lines, names padded to one column.
fn table(counts: &std::collections::BTreeMap<String, usize>) -> Vec<String> {
    let width = counts.keys().map(String::len).max().unwrap_or(0);
    counts.iter().map(|(name, n)| format!("  {name:<width$}  {n}")).collect()
}

/// `{"nodes_before": N, "nodes_after": N, "kernels": N, "rules": {...}, ...}`
/// on one line.
fn json(report: &tx_opt::Report, level: tx_opt::Level) -> String {
    let counts = |map: &std::collections::BTreeMap<String, usize>| {
        json_object(map.iter().map(|(name, n)| (name.as_str(), n.to_string())))
    };
    let phases = json_object(report.phases.iter().map(|(name, d)| (name.as_str(), json_number(d.as_secs_f64()))));
    json_object([
        ("level", json_string(level.name())),
        ("nodes_before", report.nodes_before.to_string()),
        ("nodes_after", report.nodes_after.to_string()),
        ("kernels", report.kernels.to_string()),
        ("rules", counts(&report.rules)),
        ("refused", counts(&report.refused)),
        ("stop_reason", json_string(&report.stop_reason)),
        ("iterations", report.iterations.to_string()),
        ("egraph_nodes", report.egraph_nodes.to_string()),
        ("egraph_classes", report.egraph_classes.to_string()),
        ("seconds", json_number(report.seconds())),
        ("phases", phases),
    ])
}

/// `--explain OUTPUT`: an output of the graph, `loss`, or a metric. A name
/// the program does not have is wrong usage, like `--wrt` and `--input`.
fn explain(model: &Model, output: &str, level: tx_opt::Level, file: &str) -> Result<(), Failure> {
    let mut names: Vec<(String, NodeId)> = model.graph.outputs().to_vec();
    for (name, id) in model.loss.map(|l| ("loss".to_string(), l)).into_iter().chain(model.metrics.iter().cloned()) {
        if !names.iter().any(|(n, _)| *n == name) {
            names.push((name, id));
        }
    }
    let Some(&(_, node)) = names.iter().find(|(n, _)| n == output) else {
        let known: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Failure::usage(format!(
            "error: --explain {output}: `{file}` has no output named `{output}` ({})",
            if known.is_empty() {
                "it has no outputs".to_string()
            } else {
                format!("its outputs: {}", known.join(", "))
            }
        )));
    };
    // The loss and the metrics are explained as outputs of their own.
    let mut graph = model.graph.clone();
    if !graph.outputs().iter().any(|(n, _)| n == output) {
        graph.add_output(output, node).map_err(|e| Failure::user(format!("error: {e}")))?;
    }
    let config = tx_opt::OptConfig { explanations: true, ..tx_opt::OptConfig::new(level) };
    let text = tx_opt::explain(&graph, output, &config).map_err(|e| Failure::user(format!("error: {e}")))?;
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    write_stdout(&format!("{text}{newline}"));
    Ok(())
}
