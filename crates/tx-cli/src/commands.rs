//! One function per subcommand.

use std::path::{Path, PathBuf};

use tx_ir::{DType, Model, NodeId};
use tx_tensor::Tensor;

use crate::Failure;
use crate::args::{BindArgs, Cli, Command, Emit, GraphFormat, RunArgs};
use crate::format;

/// Writes to stdout. A reader that went away (`tx run ... | head`) is not
/// an error of ours: the rest of the output is dropped quietly.
pub(crate) fn write_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// One line on stdout (see [`write_stdout`]).
pub(crate) fn write_line(text: &str) {
    write_stdout(&format!("{text}\n"));
}

macro_rules! out {
    ($($arg:tt)*) => { write_stdout(&format!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { write_stdout(&format!("{}\n", format!($($arg)*))) };
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Check { file, emit } => check(&file, emit),
        Command::Run(args) => run_program(&args),
        Command::Graph { file, format } => graph(&file, format),
        Command::Grad { file, wrt, format, updates: false, rule: None } => gradient(&file, &wrt, format),
        Command::Grad { file, format, rule, .. } => update_graph(&file, format, rule.as_deref()),
        Command::Train(args) => {
            let source = read_source(&args.file)?;
            let model = compile(&source)?;
            crate::train::train(&args, &model, &source)
        }
        Command::Rules(args) => crate::rules::rules(&args),
        Command::Opt(args) => crate::opt::opt(&args),
        Command::Compare(args) => crate::compare::compare(&args),
        Command::Bench(args) => crate::bench::bench(&args),
    }
}

/// Optimizes `graph` for its outputs and `roots` at `level`. The optimizer
/// fails only through a bug in tx: the message says so, and how to avoid it.
pub(crate) fn optimize(
    graph: &tx_ir::Graph,
    roots: &[NodeId],
    level: tx_opt::Level,
) -> Result<tx_opt::Optimized, Failure> {
    tx_opt::optimize(graph, roots, &tx_opt::OptConfig::new(level)).map_err(|e| {
        Failure::user(format!("error: {e}\nnote: `-O0` runs the program as written, without the optimizer"))
    })
}

/// The engine that runs an optimized graph: the JIT (its compiled function
/// kept between calls, so a training loop compiles once) or the reference
/// interpreter.
pub(crate) enum Engine<'g> {
    Interp(&'g tx_ir::Graph, Vec<NodeId>),
    Jit(Box<tx_jit::Executable>),
}

impl<'g> Engine<'g> {
    pub(crate) fn new(
        backend: crate::args::Backend,
        graph: &'g tx_ir::Graph,
        roots: &[NodeId],
        keep_clif: bool,
    ) -> Result<Engine<'g>, tx_interp::EvalError> {
        Ok(match backend {
            crate::args::Backend::Interp => Engine::Interp(graph, roots.to_vec()),
            crate::args::Backend::Jit => {
                let options = tx_jit::Options { keep_clif, ..tx_jit::Options::all_cores() };
                Engine::Jit(Box::new(tx_jit::compile(graph, roots, &options)?))
            }
        })
    }

    pub(crate) fn run(
        &mut self,
        inputs: &[(&str, &Tensor)],
        params: &[(&str, &Tensor)],
    ) -> Result<Vec<Tensor>, tx_interp::EvalError> {
        match self {
            Engine::Interp(graph, roots) => tx_interp::evaluate(graph, inputs, params, roots),
            Engine::Jit(exe) => exe.run(inputs, params),
        }
    }

    /// The Cranelift IR of the compiled kernels (JIT only).
    pub(crate) fn clif(&self) -> Option<String> {
        match self {
            Engine::Interp(..) => None,
            Engine::Jit(exe) => Some(exe.clif()),
        }
    }
}

/// A source file read as text, with its name as shown in diagnostics.
pub(crate) struct Source {
    pub(crate) name: String,
    pub(crate) text: String,
}

pub(crate) fn read_source(path: &Path) -> Result<Source, Failure> {
    let name = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| Failure::user(format!("error: cannot read `{name}`: {}", io_reason(&e))))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source { name, text }),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let diagnostic = tx_syntax::Diagnostic::error(
                tx_syntax::ast::Span::new(offset, offset + 1),
                format!("the file is not valid UTF-8 (byte {offset} starts an invalid sequence)"),
            );
            Err(Failure::user(tx_syntax::render(&diagnostic, &name, &lossy)))
        }
    }
}

pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => e.to_string(),
    }
}

/// A file of garbage has as many errors as tokens: past this many, only the
/// count is printed.
const MAX_SHOWN_DIAGNOSTICS: usize = 50;

/// Compiles a source, printing warnings; errors become the failure message.
pub(crate) fn compile(source: &Source) -> Result<Model, Failure> {
    let compiled = tx_frontend::compile(&source.text);
    let mut rendered = String::new();
    let errors = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
    for diagnostic in compiled.diagnostics.iter().take(MAX_SHOWN_DIAGNOSTICS) {
        rendered.push_str(&tx_syntax::render(diagnostic, &source.name, &source.text));
        rendered.push('\n');
    }
    if let Some(hidden) = compiled.diagnostics.len().checked_sub(MAX_SHOWN_DIAGNOSTICS).filter(|&n| n > 0) {
        rendered.push_str(&format!("note: {hidden} more diagnostics not shown\n"));
    }
    match compiled.model {
        Some(model) => {
            crate::write_stderr(&rendered);
            Ok(model)
        }
        None => {
            let plural = if errors == 1 { "" } else { "s" };
            rendered.push_str(&format!("error: could not compile `{}` ({errors} error{plural})\n", source.name));
            Err(Failure::user(rendered))
        }
    }
}

fn check(file: &Path, emit: Option<Emit>) -> Result<(), Failure> {
    let source = read_source(file)?;
    if emit == Some(Emit::Ast) {
        let (program, _) = tx_syntax::parse(&source.text);
        out!("{}", tx_syntax::print::print_program(&program));
    }
    let model = compile(&source)?;
    if emit == Some(Emit::Graph) {
        out!("{}", tx_ir::print_model(&model));
    }
    let graph = &model.graph;
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut parts = vec![
        count(graph.len(), "node"),
        count(graph.inputs().len(), "input"),
        count(graph.params().len(), "parameter"),
        count(graph.outputs().len(), "output"),
    ];
    if model.loss.is_some() {
        parts.push("a loss".to_string());
    }
    if !model.metrics.is_empty() {
        parts.push(count(model.metrics.len(), "metric"));
    }
    if !model.layers.is_empty() {
        parts.push(count(model.layers.len(), "layer"));
    }
    match model.train.as_slice() {
        [] => {}
        [train] => parts.push(format!("trained by `{}`", train.rule)),
        blocks => {
            let rules: Vec<String> = blocks.iter().map(|b| format!("`{}`", b.rule)).collect();
            parts.push(format!("train blocks for {}", rules.join(", ")));
        }
    }
    outln!("{}: ok ({})", source.name, parts.join(", "));
    Ok(())
}

fn graph(file: &Path, format: GraphFormat) -> Result<(), Failure> {
    let source = read_source(file)?;
    let model = compile(&source)?;
    match format {
        GraphFormat::Text => out!("{}", tx_ir::print_model(&model)),
        GraphFormat::Dot => out!("{}", tx_ir::print_dot(&model.graph)),
    }
    Ok(())
}

/// The training step of the model's first `train` block (or the defaults,
/// or `rule`'s block): the graph with every update as an output
/// `next_<name>`; the updates of every phase of a rule with several are in
/// the one graph.
fn update_graph(file: &Path, format: GraphFormat, rule: Option<&str>) -> Result<(), Failure> {
    let source = read_source(file)?;
    let model = step_model(&compile(&source)?, rule)?;
    match format {
        GraphFormat::Text => out!("{}", tx_ir::print_model(&model)),
        GraphFormat::Dot => out!("{}", tx_ir::print_dot(&model.graph)),
    }
    Ok(())
}

/// The model whose graph is the training step of `model`'s first `train`
/// block (or the defaults), with the next value of every parameter and
/// optimizer state as an output `next_<name>`; the loss and metrics are the
/// model's. `rule` trains by that rule instead, with its own block's
/// settings when the model has one.
pub(crate) fn step_model(model: &Model, rule: Option<&str>) -> Result<Model, Failure> {
    let mut model = model.clone();
    let config = crate::train::config_for(&model, rule, crate::train::Overrides::default())?;
    let rule = crate::train::rule_of(&config)?;
    let run = tx_learn::RunShape { steps_per_epoch: 1, epochs: config.epochs };
    let step =
        tx_learn::build_steps(&model, rule.as_ref(), &config, run).map_err(|e| Failure::user(format!("error: {e}")))?;
    model.graph = step.graph;
    model.loss = Some(step.loss);
    model.metrics = step.metrics;
    for (target, value) in &step.updates {
        if let tx_ir::Op::Param { name, .. } = &model.graph.node(*target).op {
            let name = format!("next_{name}");
            model.graph.add_output(&name, *value).map_err(|e| Failure::user(format!("error: {e}")))?;
        }
    }
    Ok(model)
}

/// The gradient of the loss with respect to parameters (by default every
/// one that is not frozen), appended to the graph and printed with it.
fn gradient(file: &Path, wrt: &[String], format: GraphFormat) -> Result<(), Failure> {
    let source = read_source(file)?;
    let mut model = compile(&source)?;
    let Some(loss) = model.loss else {
        return Err(Failure::user(format!("error: `{}` has no `loss` to differentiate", source.name)));
    };
    let graph = &mut model.graph;
    let targets: Vec<(String, NodeId)> = if wrt.is_empty() {
        graph.params().iter().filter(|p| !p.frozen).map(|p| (p.name.clone(), p.node)).collect()
    } else {
        let mut targets = Vec::new();
        for name in wrt {
            let node =
                graph.param_named(name).map(|p| p.node).or_else(|| graph.input_named(name)).ok_or_else(|| {
                    Failure::usage(format!(
                        "error: --wrt {name}: `{}` has no parameter or input named `{name}`",
                        source.name
                    ))
                })?;
            targets.push((name.clone(), node));
        }
        targets
    };
    if targets.is_empty() {
        return Err(Failure::user(format!("error: `{}` has no trainable parameters", source.name)));
    }
    let nodes: Vec<NodeId> = targets.iter().map(|(_, id)| *id).collect();
    let config = tx_autodiff::GradConfig { allow_unused: true, ..tx_autodiff::GradConfig::default() };
    let grads = tx_autodiff::grad(graph, loss, &nodes, &config).map_err(|e| Failure::user(format!("error: {e}")))?;
    for ((name, _), g) in targets.iter().zip(&grads) {
        graph.add_output(&format!("grad_{name}"), *g).map_err(|e| Failure::user(format!("error: {e}")))?;
    }
    match format {
        GraphFormat::Text => out!("{}", tx_ir::print_model(&model)),
        GraphFormat::Dot => out!("{}", tx_ir::print_dot(&model.graph)),
    }
    Ok(())
}

fn run_program(args: &RunArgs) -> Result<(), Failure> {
    // Usage is checked before any work, so that a typo costs nothing.
    let flags = BindFlags::parse(&args.bind)?;
    let source = read_source(&args.file)?;
    let model = compile(&source)?;
    let graph = &model.graph;
    let targets = model.run_targets();
    if targets.is_empty() {
        return Err(Failure::user(format!(
            "error: `{}` has nothing to run: declare an `output` (or a `loss` or `metric`)",
            source.name
        )));
    }
    let values = flags.bind(&args.bind, graph, &source)?;

    let nodes: Vec<NodeId> = targets.iter().map(|(_, id)| *id).collect();
    let optimized = optimize(graph, &nodes, args.opt.level.level())?;
    let inputs: Vec<(&str, &Tensor)> = values.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let params = tx_interp::init_params(graph);
    let params: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let emit_clif = args.emit == Some(crate::args::RunEmit::Clif);
    if emit_clif && args.backend.backend == crate::args::Backend::Interp {
        return Err(Failure::usage("error: --emit clif needs --backend jit (the interpreter compiles nothing)"));
    }
    let failure = |e: tx_interp::EvalError| runtime_failure(&e, &optimized.graph, &source);
    let mut engine =
        Engine::new(args.backend.backend, &optimized.graph, &optimized.roots, emit_clif).map_err(failure)?;
    let results = engine.run(&inputs, &params).map_err(failure)?;
    let results: Vec<(String, Tensor)> = targets.into_iter().map(|(n, _)| n).zip(results).collect();
    if let Some(clif) = engine.clif().filter(|_| emit_clif) {
        out!("{clif}");
    }

    if let Some(dir) = &args.output_dir {
        write_outputs(dir, &results)?;
    }
    if args.json {
        // Streamed: a reader that went away ends the output quietly.
        let stdout = std::io::stdout();
        let mut writer = std::io::BufWriter::new(stdout.lock());
        let _ = format::write_json(&mut writer, &results).and_then(|()| std::io::Write::flush(&mut writer));
    } else if args.output_dir.is_none() {
        for (name, tensor) in &results {
            outln!("{name}: {}", tensor.ty());
            outln!("{}", format::pretty(tensor));
        }
    }
    Ok(())
}

/// The `--input` and `--dim` flags, read before any work so that a typo
/// costs nothing.
pub(crate) struct BindFlags {
    given: Vec<(String, String)>,
    dims: Vec<(String, usize)>,
}

impl BindFlags {
    pub(crate) fn parse(args: &BindArgs) -> Result<BindFlags, Failure> {
        let given = parse_pairs(&args.inputs, "--input", "NAME=PATH.npy")?;
        let dims = parse_pairs(&args.dims, "--dim", "NAME=SIZE")?
            .into_iter()
            .map(|(name, size)| match size.parse::<usize>() {
                Ok(n) => Ok((name, n)),
                Err(_) => Err(Failure::usage(format!("error: --dim {name}={size}: the size must be a whole number"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BindFlags { given, dims })
    }

    /// A value for every input `graph` declares: from `--input` files, a
    /// data set, or `--random-inputs`; a missing one is a usage error
    /// naming it.
    pub(crate) fn bind(
        &self,
        args: &BindArgs,
        graph: &tx_ir::Graph,
        source: &Source,
    ) -> Result<Vec<(String, Tensor)>, Failure> {
        let declared: Vec<(String, tx_ir::Type)> = graph
            .inputs()
            .iter()
            .filter_map(|&id| match &graph.node(id).op {
                tx_ir::Op::Input { name, ty } => Some((name.clone(), ty.clone())),
                _ => None,
            })
            .collect();
        let mut values: Vec<(String, Tensor)> = Vec::new();
        for (name, path) in &self.given {
            if !declared.iter().any(|(n, _)| n == name) {
                let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
                return Err(Failure::usage(format!(
                    "error: --input {name}: `{}` has no input named `{name}` (its inputs: {})",
                    source.name,
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                )));
            }
            if values.iter().any(|(n, _)| n == name) {
                return Err(Failure::usage(format!("error: --input {name} is given twice")));
            }
            let tensor = tx_data::npy::read_file(Path::new(path))
                .map_err(|e| Failure::user(format!("error: --input {name}: {e}")))?;
            values.push((name.clone(), tensor));
        }
        match &args.data {
            Some(data) => bind_data(data, &declared, &mut values, true)?,
            // The embedded digits split is the default data set: a program that
            // declares its inputs by those names runs with no flags at all.
            None if declared
                .iter()
                .any(|(n, _)| SPLIT_NAMES.contains(&n.as_str()) && !values.iter().any(|(v, _)| v == n))
                && args.random_inputs.is_none() =>
            {
                crate::write_stderr(&format!(
                    "note: binding {} from the embedded digits data set (--data digits)\n",
                    split_names_declared(&declared)
                ));
                bind_data("digits", &declared, &mut values, false)?;
            }
            None => {}
        }
        if let Some(seed) = args.random_inputs {
            // Sizes bound by the inputs given win over the default of 4.
            let mut bound = tx_ir::Bindings::new();
            for (name, tensor) in &values {
                if let Some((_, ty)) = declared.iter().find(|(n, _)| n == name) {
                    let _ = bound.unify(&ty.shape, tensor.shape());
                }
            }
            let mut dims: Vec<(&str, usize)> = self.dims.iter().map(|(n, s)| (n.as_str(), *s)).collect();
            for (name, size) in bound.iter() {
                if !dims.iter().any(|(n, _)| *n == name) {
                    dims.push((name, size));
                }
            }
            // The sizes come from the command line: check them before allocating.
            for (name, ty) in &declared {
                let sizes: Vec<usize> = ty
                    .shape
                    .0
                    .iter()
                    .map(|d| match d {
                        tx_ir::Dim::Known(n) => *n,
                        tx_ir::Dim::Sym(s) => dims.iter().find(|(n, _)| n == s).map_or(4, |&(_, v)| v),
                    })
                    .collect();
                if let Err(why) = tx_ir::check_tensor_size(ty.dtype, &sizes) {
                    return Err(Failure::usage(format!("error: --random-inputs: input `{name}`: {why}")));
                }
            }
            let random = tx_interp::random_inputs(graph, seed, &dims)
                .map_err(|why| Failure::usage(format!("error: --random-inputs: {why}")))?;
            for (name, tensor) in random {
                if !values.iter().any(|(n, _)| *n == name) {
                    values.push((name, tensor));
                }
            }
        }
        let missing: Vec<&str> =
            declared.iter().map(|(n, _)| n.as_str()).filter(|n| !values.iter().any(|(v, _)| v == n)).collect();
        if !missing.is_empty() {
            let hint = missing.iter().map(|n| format!("--input {n}=PATH.npy")).collect::<Vec<_>>().join(" ");
            return Err(Failure::usage(format!(
                "error: missing input{} {}: give {hint}, or --random-inputs SEED",
                if missing.len() == 1 { "" } else { "s" },
                missing.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(values)
    }
}

/// An evaluation error; one raised by a node is shown at the expression
/// that made the node.
pub(crate) fn runtime_failure(error: &tx_interp::EvalError, graph: &tx_ir::Graph, source: &Source) -> Failure {
    if let tx_interp::EvalError::Runtime { node, message } = error
        && let Some(origin) = graph.origin(*node)
    {
        let op = graph.node(*node).op.name();
        let diagnostic = tx_syntax::Diagnostic::error(
            tx_syntax::ast::Span::new(origin.start, origin.end),
            format!("{message} (while evaluating `{op}`, node {node})"),
        );
        return Failure::user(tx_syntax::render(&diagnostic, &source.name, &source.text));
    }
    Failure::user(format!("error: {error}"))
}

/// `NAME=VALUE` pairs from repeated flags.
fn parse_pairs(raw: &[String], flag: &str, form: &str) -> Result<Vec<(String, String)>, Failure> {
    raw.iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.is_empty() && !value.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => Err(Failure::usage(format!("error: {flag} {pair}: expected {form}"))),
        })
        .collect()
}

/// The inputs the default data set binds without being asked.
const SPLIT_NAMES: [&str; 4] = ["x_train", "y_train", "x_test", "y_test"];

fn split_names_declared(declared: &[(String, tx_ir::Type)]) -> String {
    let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).filter(|n| SPLIT_NAMES.contains(n)).collect();
    names.join(", ")
}

/// Binds the inputs a program declares under the data set's names; the
/// whole set as `x`, `y` only when asked for explicitly.
fn bind_data(
    data: &str,
    declared: &[(String, tx_ir::Type)],
    values: &mut Vec<(String, Tensor)>,
    explicit: bool,
) -> Result<(), Failure> {
    if data != "digits" {
        return Err(Failure::usage(format!("error: --data {data}: unknown data set; `tx run` knows `digits`")));
    }
    let split = tx_data::digits::digits_split().map_err(|e| Failure::user(format!("error: {e}")))?;
    let all = tx_data::digits::digits().map_err(|e| Failure::user(format!("error: {e}")))?;
    let mut sets = vec![("x_train", "y_train", &split.train), ("x_test", "y_test", &split.test)];
    if explicit {
        sets.push(("x", "y", &all));
    }
    let mut bound = 0;
    for (x_name, y_name, set) in sets {
        for (name, tensor) in
            [(x_name, Tensor::F32(set.x.clone().into_dyn())), (y_name, Tensor::I64(set.y.clone().into_dyn()))]
        {
            let Some((_, ty)) = declared.iter().find(|(n, _)| n == name) else { continue };
            if values.iter().any(|(n, _)| n == name) {
                continue;
            }
            // Features follow the declared float type; labels stay i64.
            let tensor =
                if ty.dtype.is_float() && tensor.dtype() == DType::F32 { tensor.cast(ty.dtype) } else { tensor };
            values.push((name.to_string(), tensor));
            bound += 1;
        }
    }
    if bound == 0 {
        return Err(Failure::usage(
            "error: --data digits: the program declares none of the inputs x_train, y_train, x_test, y_test, x, y",
        ));
    }
    Ok(())
}

fn write_outputs(dir: &PathBuf, results: &[(String, Tensor)]) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::user(format!("error: cannot create `{}`: {}", dir.display(), io_reason(&e))))?;
    for (name, tensor) in results {
        let path = dir.join(format!("{name}.npy"));
        tx_data::npy::write_file(&path, tensor).map_err(|e| Failure::user(format!("error: {e}")))?;
        crate::write_stderr(&format!("wrote {}\n", path.display()));
    }
    Ok(())
}
