//! # tx: a symbolic tensor-expression compiler
//!
//! Write a model as a `.tx` program, or build the same graph in Rust with
//! operator overloading, and evaluate it on [`ndarray`] arrays.
//!
//! From source:
//! ```
//! let program = tx::compile("input x : f32[N]\noutput y = tanh(x) * 2").unwrap();
//! let x = tx::Tensor::F32(ndarray::arr1(&[0.0f32, 1.0]).into_dyn());
//! let outputs = program.run(&[("x", x)]).unwrap();
//! assert_eq!(outputs[0].0, "y");
//! ```
//!
//! From Rust:
//! ```
//! use tx::{DType, GraphBuilder, Init};
//! let g = GraphBuilder::new();
//! let x = g.input("x", DType::F32, ["B".into(), 3.into()]);
//! let w = g.param("w", DType::F32, [3.into(), 2.into()], Init::Glorot { gain: 1.0, seed: 1 });
//! let b = g.param("b", DType::F32, [2.into()], Init::Fill(0.0));
//! let h = (x.matmul(&w) + &b).tanh();
//! let mut f = tx::function(&g).outputs([&h]).compile().unwrap();
//! let out = f.call(&[tx::Tensor::F32(ndarray::Array2::<f32>::ones((4, 3)).into_dyn())]).unwrap();
//! assert_eq!(out[0].shape(), &[4, 2]);
//! ```
//!
//! Programs and functions are optimized when compiled, at `-O2` unless told
//! otherwise: [`Program::with_opt_level`], [`FunctionBuilder::opt_level`].
//!
//! The crates behind this facade are re-exported as [`ir`] (the graph),
//! [`syntax`] (the language), [`interp`] (the reference interpreter) and
//! [`opt`] (the optimizer).

mod builder;

use std::fmt;

pub use builder::{FunctionBuilder, GraphBuilder, Var, concat, function, grad, where_};
pub use tx_autodiff as autodiff;
pub use tx_data as data;
pub use tx_frontend as frontend;
pub use tx_interp as interp;
pub use tx_interp::EvalError;
pub use tx_ir as ir;
pub use tx_ir::{DType, Dim, Graph, Init, Model, NodeId, Shape, Type};
pub use tx_opt as opt;
pub use tx_opt::{Level, OptError};
pub use tx_syntax as syntax;
pub use tx_syntax::Diagnostic;
pub use tx_tensor::Tensor;

/// Everything that can go wrong through the API.
#[derive(Debug)]
pub enum Error {
    /// The `.tx` source has errors; the message is rendered like rustc's.
    Compile { diagnostics: Vec<Diagnostic>, rendered: String },
    /// A graph built in Rust is ill-typed: the first problem found.
    Build(String),
    /// Evaluation failed (wrong inputs, runtime errors).
    Eval(EvalError),
    /// A call with the wrong number of arguments, an unknown name, ...
    Call(String),
    /// The optimizer failed: a bug in tx (`Level::O0` avoids the optimizer).
    Optimize(OptError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Compile { rendered, .. } => f.write_str(rendered.trim_end()),
            Error::Build(message) | Error::Call(message) => f.write_str(message),
            Error::Eval(e) => write!(f, "{e}"),
            Error::Optimize(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<EvalError> for Error {
    fn from(e: EvalError) -> Error {
        Error::Eval(e)
    }
}

impl From<OptError> for Error {
    fn from(e: OptError) -> Error {
        Error::Optimize(e)
    }
}

/// Compiles `.tx` source (named `<source>` in messages), optimized at
/// [`Level::O2`].
pub fn compile(source: &str) -> Result<Program, Error> {
    compile_named(source, "<source>")
}

/// Compiles a `.tx` file.
pub fn compile_file(path: impl AsRef<std::path::Path>) -> Result<Program, Error> {
    let path = path.as_ref();
    let source =
        std::fs::read_to_string(path).map_err(|e| Error::Call(format!("cannot read `{}`: {e}", path.display())))?;
    compile_named(&source, &path.display().to_string())
}

fn compile_named(source: &str, name: &str) -> Result<Program, Error> {
    let compiled = tx_frontend::compile(source);
    match compiled.model {
        Some(model) => Program::new(model, Level::O2),
        None => {
            let rendered = tx_syntax::render_all(&compiled.diagnostics, name, source);
            Err(Error::Compile { diagnostics: compiled.diagnostics, rendered })
        }
    }
}

/// A compiled `.tx` program with its parameter values. What `run`
/// evaluates (the outputs, the loss and the metrics) comes from the graph
/// optimized at the program's level; layers from the graph as written.
#[derive(Clone, Debug)]
pub struct Program {
    model: Model,
    params: Vec<(String, Tensor)>,
    optimized: tx_opt::Optimized,
    level: Level,
    /// The outputs, `loss` and the metrics, with their nodes in the
    /// optimized graph.
    targets: Vec<(String, NodeId)>,
    /// JIT-compiled functions of the optimized graph, by the nodes they
    /// compute, built at the first evaluation that needs them.
    compiled: Cache,
}

/// Compiled functions of a program, by the nodes they compute: not cloned,
/// not printed.
#[derive(Default)]
struct Cache(std::cell::RefCell<Vec<(Vec<NodeId>, Box<tx_jit::Executable>)>>);

impl Clone for Cache {
    fn clone(&self) -> Cache {
        Cache::default()
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cache({} compiled)", self.0.borrow().len())
    }
}

impl Program {
    fn new(model: Model, level: Level) -> Result<Program, Error> {
        let params = tx_interp::init_params(&model.graph);
        let mut names: Vec<(String, NodeId)> = model.graph.outputs().to_vec();
        for (name, id) in model.loss.map(|l| ("loss".to_string(), l)).into_iter().chain(model.metrics.iter().cloned()) {
            if !names.iter().any(|(n, _)| *n == name) {
                names.push((name, id));
            }
        }
        let roots: Vec<NodeId> = names.iter().map(|(_, id)| *id).collect();
        let optimized = tx_opt::optimize(&model.graph, &roots, &tx_opt::OptConfig::new(level))?;
        let targets = names.into_iter().map(|(n, _)| n).zip(optimized.roots.iter().copied()).collect();
        Ok(Program { model, params, optimized, level, targets, compiled: Cache::default() })
    }

    /// The same program optimized at `level` instead (parameter values are
    /// kept): `tx::compile(source)?.with_opt_level(tx::Level::O0)?` runs the
    /// graph as written.
    pub fn with_opt_level(self, level: Level) -> Result<Program, Error> {
        let params = self.params;
        let mut program = Program::new(self.model, level)?;
        program.params = params;
        Ok(program)
    }

    pub fn opt_level(&self) -> Level {
        self.level
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The graph as written.
    pub fn graph(&self) -> &Graph {
        &self.model.graph
    }

    /// The graph `run` evaluates: the program's graph optimized at its level.
    pub fn optimized_graph(&self) -> &Graph {
        &self.optimized.graph
    }

    /// What the optimizer did.
    pub fn opt_report(&self) -> &tx_opt::Report {
        &self.optimized.report
    }

    /// The names `run` evaluates: the declared outputs, or else `loss` and
    /// the metrics.
    pub fn output_names(&self) -> Vec<String> {
        self.model.run_targets().into_iter().map(|(n, _)| n).collect()
    }

    /// Evaluates the outputs with the JIT.
    pub fn run(&self, inputs: &[(&str, Tensor)]) -> Result<Vec<(String, Tensor)>, Error> {
        let names: Vec<String> = self.output_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let values = self.evaluate(inputs, &names)?;
        Ok(names.iter().map(|n| n.to_string()).zip(values).collect())
    }

    /// Evaluates named values: outputs, `loss`, metrics (on the optimized
    /// graph), layers (on the graph as written, with everything else asked
    /// for in the same call).
    pub fn evaluate(&self, inputs: &[(&str, Tensor)], names: &[&str]) -> Result<Vec<Tensor>, Error> {
        let inputs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (*n, t)).collect();
        let params: Vec<(&str, &Tensor)> = self.params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let optimized: Option<Vec<NodeId>> =
            names.iter().map(|name| self.targets.iter().find(|(n, _)| n == name).map(|(_, id)| *id)).collect();
        if let Some(nodes) = optimized {
            let mut cache = self.compiled.0.borrow_mut();
            let position = match cache.iter().position(|(n, _)| *n == nodes) {
                Some(k) => k,
                None => {
                    let exe = tx_jit::compile(&self.optimized.graph, &nodes, &tx_jit::Options::all_cores())?;
                    cache.push((nodes, Box::new(exe)));
                    cache.len() - 1
                }
            };
            return Ok(cache[position].1.run(&inputs, &params)?);
        }
        let mut nodes = Vec::with_capacity(names.len());
        for name in names {
            let node = self
                .model
                .graph
                .outputs()
                .iter()
                .chain(&self.model.metrics)
                .find(|(n, _)| n == name)
                .map(|(_, id)| *id)
                .or_else(|| if *name == "loss" { self.model.loss } else { None })
                .or_else(|| self.model.layers.iter().find(|l| l.name == *name).map(|l| l.node))
                .ok_or_else(|| Error::Call(format!("the program has no output, metric or layer named `{name}`")))?;
            nodes.push(node);
        }
        Ok(tx_interp::evaluate(&self.model.graph, &inputs, &params, &nodes)?)
    }

    /// The current value of a parameter.
    pub fn param(&self, name: &str) -> Option<&Tensor> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Replaces a parameter's value; its type must match the declaration.
    pub fn set_param(&mut self, name: &str, value: Tensor) -> Result<(), Error> {
        set_param(&self.model.graph, &mut self.params, name, value)
    }
}

fn set_param(graph: &Graph, params: &mut [(String, Tensor)], name: &str, value: Tensor) -> Result<(), Error> {
    let info = graph.param_named(name).ok_or_else(|| Error::Call(format!("there is no parameter named `{name}`")))?;
    let declared = graph.ty(info.node);
    if value.ty() != *declared {
        return Err(Error::Call(format!("parameter `{name}` is {declared}, but the new value is {}", value.ty())));
    }
    if let Some(slot) = params.iter_mut().find(|(n, _)| n == name) {
        slot.1 = value;
    }
    Ok(())
}

/// A graph compiled once and called many times, with shared state: Theano's
/// `function(inputs, outputs, updates)`. Parameters persist between calls;
/// after each call every update target takes its update's value, all of them
/// computed from the values before the call. The outputs and updates are
/// computed by the graph optimized at the function's level (`-O2` unless
/// [`FunctionBuilder::opt_level`] says otherwise).
#[derive(Clone, Debug)]
pub struct Function {
    /// The graph as built.
    graph: Graph,
    /// The input names, in the order `call` takes their values.
    inputs: Vec<String>,
    optimized: tx_opt::Optimized,
    /// The outputs in the optimized graph.
    outputs: Vec<NodeId>,
    /// (index into `params`, the node computing its next value in the
    /// optimized graph).
    updates: Vec<(usize, NodeId)>,
    params: Vec<(String, Tensor)>,
    level: Level,
    /// The JIT-compiled function, built at the first call.
    compiled: Compiled,
}

/// A function's compiled code: not cloned (a clone compiles its own at its
/// first call), not printed.
#[derive(Default)]
struct Compiled(Option<Box<tx_jit::Executable>>);

impl Clone for Compiled {
    fn clone(&self) -> Compiled {
        Compiled(None)
    }
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Compiled(jit)" } else { "Compiled(not yet)" })
    }
}

impl Function {
    fn new(
        graph: Graph,
        inputs: Vec<NodeId>,
        outputs: Vec<NodeId>,
        updates: Vec<(NodeId, NodeId)>,
        level: Level,
    ) -> Result<Function, Error> {
        let params = tx_interp::init_params(&graph);
        let inputs = inputs
            .into_iter()
            .filter_map(|id| match &graph.node(id).op {
                tx_ir::Op::Input { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        let updates: Vec<(usize, NodeId)> = updates
            .into_iter()
            .filter_map(|(target, value)| {
                let name = match &graph.node(target).op {
                    tx_ir::Op::Param { name, .. } => name,
                    _ => return None,
                };
                params.iter().position(|(n, _)| n == name).map(|i| (i, value))
            })
            .collect();
        let mut roots = outputs;
        roots.extend(updates.iter().map(|&(_, value)| value));
        let optimized = tx_opt::optimize(&graph, &roots, &tx_opt::OptConfig::new(level))?;
        let (outputs, values) = optimized.roots.split_at(roots.len() - updates.len());
        let outputs = outputs.to_vec();
        let updates = updates.iter().zip(values).map(|(&(index, _), &value)| (index, value)).collect();
        Ok(Function { graph, inputs, optimized, outputs, updates, params, level, compiled: Compiled::default() })
    }

    /// Calls the function with one value per input (in the order given to
    /// `inputs`, or else of declaration), returns the outputs and applies the
    /// updates.
    pub fn call(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::Call(format!("the function takes {} inputs, got {}", self.inputs.len(), inputs.len())));
        }
        let named: Vec<(&str, &Tensor)> = self.inputs.iter().map(String::as_str).zip(inputs).collect();
        let mut params: Vec<(&str, &mut Tensor)> = self.params.iter_mut().map(|(n, t)| (n.as_str(), t)).collect();
        let exe = match &mut self.compiled.0 {
            Some(exe) => exe,
            slot => {
                let mut nodes = self.outputs.clone();
                nodes.extend(self.updates.iter().map(|&(_, value)| value));
                slot.insert(Box::new(tx_jit::compile(&self.optimized.graph, &nodes, &tx_jit::Options::all_cores())?))
            }
        };
        // Every update is computed from the values before the call; each
        // parameter takes its new value without a copy, in place where the
        // plan can write it there.
        let updates: Vec<(usize, usize)> =
            self.updates.iter().enumerate().map(|(k, &(index, _))| (self.outputs.len() + k, index)).collect();
        let outputs = exe.call_updating(&named, &mut params, &updates)?;
        Ok((0..self.outputs.len()).filter_map(|k| outputs.get(k).cloned()).collect())
    }

    /// The graph as built.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The graph `call` evaluates: the outputs and updates, optimized.
    pub fn optimized_graph(&self) -> &Graph {
        &self.optimized.graph
    }

    /// What the optimizer did.
    pub fn opt_report(&self) -> &tx_opt::Report {
        &self.optimized.report
    }

    pub fn opt_level(&self) -> Level {
        self.level
    }

    pub fn param(&self, name: &str) -> Option<&Tensor> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    pub fn set_param(&mut self, name: &str, value: Tensor) -> Result<(), Error> {
        set_param(&self.graph, &mut self.params, name, value)
    }
}
