//! tx-jit: the Cranelift JIT. It turns an (optimized) graph into an
//! [`Executable`]: native kernels for elementwise groups, reductions and
//! softmax, GEMM for matmuls (with the fused epilogue as a kernel over the
//! product), views for data movement, and the interpreter for the few ops
//! left (`argmax`, `concat`, `one_hot`, scatter of slices, i64 division).
//!
//! An executable plans each call's schedule and buffers for the shapes of
//! its arguments and keeps the plan, so that calls with the same shapes
//! reuse every buffer and allocate nothing. Arguments are checked exactly as
//! the interpreter checks them ([`tx_interp::bind_call`]) before any kernel
//! runs.
//!
//! **Architecture invariant:** this crate sees `tx-ir` graphs and
//! `tx-tensor` values only (the interpreter is its oracle and its fallback
//! for single ops); `unsafe` lives in `codegen.rs` (turning code into a
//! function pointer) and `runtime.rs` (calling kernels on the plan's
//! pointers), each block with its SAFETY argument.

mod codegen;
mod elementwise;
mod math;
mod plan;
mod reduce;
mod runtime;
mod view;
mod wide;

use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tx_interp::{Call, EvalError, bind_call};
use tx_ir::{Bindings, Graph, NodeId};
use tx_tensor::Tensor;

use crate::codegen::Jit;
use crate::plan::{Kernels, Plan};

/// How an executable runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Threads for large kernels and GEMM (1: the calling thread only).
    pub threads: usize,
    /// Keep the Cranelift IR of every kernel, for [`Executable::clif`].
    pub keep_clif: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { threads: 1, keep_clif: false }
    }
}

impl Options {
    /// One thread per core of this machine (what the `tx` command and the
    /// Rust API use).
    pub fn all_cores() -> Options {
        Options { threads: std::thread::available_parallelism().map_or(1, |n| n.get()), keep_clif: false }
    }
}

/// A compiled function of a graph: call it with inputs and parameters by
/// name, like [`tx_interp::evaluate`].
pub struct Executable {
    graph: Graph,
    outputs: Vec<NodeId>,
    /// The kernels of this graph, shared with every executable of the same
    /// graph in this process (the compile cache).
    kernels: Arc<Mutex<Kernels>>,
    /// The callable kernels, copied from `kernels` after each planning, so
    /// that a call takes no lock.
    fns: Vec<codegen::KernelFn>,
    /// Plans for the argument shapes seen most recently, the latest last
    /// (a training loop alternates between the batch size and its
    /// remainder).
    plans: Vec<Plan>,
    pool: Option<rayon::ThreadPool>,
}

/// Plans kept per executable.
const PLANS_KEPT: usize = 4;

/// Graphs whose kernels the compile cache keeps.
const GRAPHS_KEPT: usize = 8;

/// The compile cache: the kernels of the graphs compiled most recently in
/// this process, the latest last, keyed by the graph's text form, its
/// outputs and whether the IR is kept. Compiling a graph again (another
/// `tx::Function` of the same program, a step function built twice) then
/// compiles no kernel; plans are made per executable, which is cheap. A
/// kernel's code depends only on its body and operand classes, which is how
/// [`Kernels`] finds it, so sharing the kernels of equal graphs is safe.
static CACHE: Mutex<Vec<(String, Arc<Mutex<Kernels>>)>> = Mutex::new(Vec::new());

/// Locks `mutex`, also after a panic elsewhere: kernels are only ever
/// added whole, so the value is consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The cached kernels of `graph`, or a new entry for them.
fn cached_kernels(graph: &Graph, outputs: &[NodeId], keep_clif: bool) -> Result<Arc<Mutex<Kernels>>, String> {
    let mut key = tx_ir::print_graph(graph);
    let _ = write!(key, "roots {outputs:?} clif {keep_clif}");
    let mut cache = lock(&CACHE);
    if let Some(k) = cache.iter().position(|(k, _)| *k == key) {
        let entry = cache.remove(k);
        let kernels = Arc::clone(&entry.1);
        cache.push(entry);
        return Ok(kernels);
    }
    let kernels = Arc::new(Mutex::new(Kernels::new(Jit::new(keep_clif)?)));
    if cache.len() == GRAPHS_KEPT {
        cache.remove(0);
    }
    cache.push((key, Arc::clone(&kernels)));
    Ok(kernels)
}

/// The outputs of the last call, borrowed from the executable's buffers
/// (valid until the next call).
pub struct Outputs<'a> {
    plan: &'a mut Plan,
}

impl Outputs<'_> {
    pub fn len(&self) -> usize {
        self.plan.outputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plan.outputs.is_empty()
    }

    /// Output `index`; `None` for an update [`Executable::call_updating`]
    /// applied (its value is in the parameter).
    pub fn get(&self, index: usize) -> Option<&Tensor> {
        self.buffer(index).map(|buffer| &self.plan.buffers[buffer])
    }

    /// The buffer of output `index`, unless it is an applied update.
    fn buffer(&self, index: usize) -> Option<usize> {
        if self.plan.updates.iter().any(|&(output, _)| output == index) {
            return None;
        }
        self.plan.outputs.get(index).copied().flatten()
    }

    /// Exchanges output `index` with `value` (same type), without copying:
    /// how parameters take their updated values in place.
    pub fn swap(&mut self, index: usize, value: &mut Tensor) -> bool {
        match self.buffer(index) {
            Some(buffer) if self.plan.buffers[buffer].ty() == value.ty() => {
                std::mem::swap(&mut self.plan.buffers[buffer], value);
                true
            }
            _ => false,
        }
    }
}

/// Compiles the nodes `outputs` of `graph`. When every input's shape is
/// known, the plan and all kernels are built now; otherwise at the first
/// call (and again whenever the input shapes change).
pub fn compile(graph: &Graph, outputs: &[NodeId], options: &Options) -> Result<Executable, EvalError> {
    let internal = |message: String| EvalError::Runtime {
        node: outputs.first().copied().unwrap_or(NodeId(0)),
        message: format!("internal error in the JIT: {message}"),
    };
    if let Some(&missing) = outputs.iter().find(|id| id.index() >= graph.len()) {
        let message = format!("the graph has no node {missing} (it has {} nodes)", graph.len());
        return Err(EvalError::Runtime { node: missing, message });
    }
    let kernels = cached_kernels(graph, outputs, options.keep_clif).map_err(internal)?;
    let pool = if options.threads > 1 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(options.threads)
                .build()
                .map_err(|e| internal(e.to_string()))?,
        )
    } else {
        None
    };
    let mut executable = Executable {
        graph: graph.clone(),
        outputs: outputs.to_vec(),
        kernels,
        fns: Vec::new(),
        plans: Vec::new(),
        pool,
    };
    // Plan now when no shape depends on the call.
    let live = graph.reachable_from(outputs);
    let static_shapes: Option<Vec<Vec<usize>>> = graph
        .nodes()
        .map(
            |(id, node)| if live[id.index()] { node.ty.shape.resolve(&Bindings::new()).ok() } else { Some(Vec::new()) },
        )
        .collect();
    if let Some(shapes) = static_shapes {
        let plan = executable.plan(&live, &shapes, &[])?;
        executable.plans.push(plan);
    }
    Ok(executable)
}

impl Executable {
    /// Evaluates the outputs for these inputs and parameters (by name, as in
    /// [`tx_interp::evaluate`]); returns copies of them.
    pub fn run(&mut self, inputs: &[(&str, &Tensor)], params: &[(&str, &Tensor)]) -> Result<Vec<Tensor>, EvalError> {
        let outputs = self.call(inputs, params)?;
        Ok((0..outputs.len()).filter_map(|k| outputs.get(k).cloned()).collect())
    }

    /// Evaluates the outputs into the executable's own buffers and lends
    /// them out until the next call.
    pub fn call(&mut self, inputs: &[(&str, &Tensor)], params: &[(&str, &Tensor)]) -> Result<Outputs<'_>, EvalError> {
        let Call { live, given, shapes } = bind_call(&self.graph, inputs, params, &self.outputs)?;
        // Kernels read given tensors row-major: copy any other layout.
        let copies: Vec<Option<Tensor>> = given
            .iter()
            .map(|t| match t {
                Some(t) if !is_standard(t) => Some(standard(t)),
                _ => None,
            })
            .collect();
        let pointers: Vec<*mut u8> = given
            .iter()
            .zip(&copies)
            .map(|(t, copy)| copy.as_ref().or(*t).map_or(std::ptr::null_mut(), runtime::data_ptr))
            .collect();
        self.execute(&live, &shapes, &pointers, &[])
    }

    /// Like [`Executable::call`], and each `(output, param)` of `updates`
    /// (an output's position, a position in `params`) gives that parameter
    /// the output's new value: written straight into the parameter's tensor
    /// where the plan can (an elementwise update, or a GEMM accumulating
    /// `p − c·(a @ b)` into the weights), once nothing else reads the
    /// parameter; swapped in otherwise. Every update is computed from the
    /// values before the call. Those outputs are then not in [`Outputs`].
    pub fn call_updating(
        &mut self,
        inputs: &[(&str, &Tensor)],
        params: &mut [(&str, &mut Tensor)],
        updates: &[(usize, usize)],
    ) -> Result<Outputs<'_>, EvalError> {
        let mut targets = Vec::with_capacity(updates.len());
        let given = params.len();
        for &(output, param) in updates {
            let bad = |message: String| EvalError::Runtime { node: NodeId(0), message };
            let Some((name, tensor)) = params.get_mut(param) else {
                return Err(bad(format!("update {output} names parameter {param}, but {given} were given")));
            };
            let Some(info) = self.graph.param_named(name) else {
                return Err(bad(format!("the graph has no parameter `{name}` to update")));
            };
            if output >= self.outputs.len() || targets.iter().any(|&(o, p, _)| o == output || p == param) {
                return Err(bad(format!("update ({output}, {param}) is out of range or repeated")));
            }
            if !is_standard(tensor) {
                **tensor = standard(tensor);
            }
            targets.push((output, param, info.node));
        }
        let (live, shapes, mut pointers) = {
            let shared: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (*n, &**t)).collect();
            let Call { live, given, shapes } = bind_call(&self.graph, inputs, &shared, &self.outputs)?;
            let copies: Vec<Option<Tensor>> =
                given.iter().map(|t| t.filter(|t| !is_standard(t)).map(standard)).collect();
            let pointers: Vec<*mut u8> = given
                .iter()
                .zip(&copies)
                .map(|(t, copy)| copy.as_ref().or(*t).map_or(std::ptr::null_mut(), runtime::data_ptr))
                .collect();
            (live, shapes, pointers)
        };
        // The parameters written in place, through their mutable borrows.
        for &(_, param, node) in &targets {
            pointers[node.index()] = runtime::data_ptr_mut(params[param].1);
        }
        let wanted: Vec<(usize, NodeId)> = targets.iter().map(|&(o, _, node)| (o, node)).collect();
        let outputs = self.execute(&live, &shapes, &pointers, &wanted)?;
        let plan = outputs.plan;
        for &(output, param, _) in &targets {
            if let Some(buffer) = plan.outputs[output] {
                std::mem::swap(&mut plan.buffers[buffer], params[param].1);
            }
        }
        Ok(Outputs { plan })
    }

    /// Runs the plan for these shapes and updates (made now if new).
    fn execute(
        &mut self,
        live: &[bool],
        shapes: &[Vec<usize>],
        pointers: &[*mut u8],
        updates: &[(usize, NodeId)],
    ) -> Result<Outputs<'_>, EvalError> {
        let fits =
            |plan: &Plan| plan.updates == updates && plan.key.iter().all(|(node, shape)| shapes[*node] == *shape);
        match self.plans.iter().position(fits) {
            Some(k) => {
                let plan = self.plans.remove(k);
                self.plans.push(plan);
            }
            None => {
                let plan = self.plan(live, shapes, updates)?;
                if self.plans.len() == PLANS_KEPT {
                    self.plans.remove(0);
                }
                self.plans.push(plan);
            }
        }
        let Some(plan) = self.plans.last_mut() else {
            return Err(EvalError::Runtime { node: NodeId(0), message: "internal error: no plan".to_string() });
        };
        runtime::execute(plan, &self.fns, pointers, self.pool.as_ref())
            .map_err(|(node, message)| EvalError::Runtime { node, message })?;
        Ok(Outputs { plan })
    }

    /// A plan for these shapes, compiling the kernels it needs; the
    /// executable's callable kernels are brought up to date.
    fn plan(&mut self, live: &[bool], shapes: &[Vec<usize>], updates: &[(usize, NodeId)]) -> Result<Plan, EvalError> {
        let mut kernels = lock(&self.kernels);
        let plan = plan::build(&self.graph, &self.outputs, updates, live, shapes, &mut kernels)
            .map_err(|(node, message)| EvalError::Runtime { node, message })?;
        self.fns.clone_from(&kernels.compiled);
        Ok(plan)
    }

    /// The Cranelift IR of every kernel compiled so far for this graph
    /// (when compiled with [`Options::keep_clif`]).
    pub fn clif(&self) -> String {
        let kernels = lock(&self.kernels);
        let mut text = String::new();
        for (name, clif) in kernels.jit.clif.iter().flatten() {
            let _ = writeln!(text, "; kernel {name}\n{clif}");
        }
        text
    }

    /// Whether the two executables run the same compiled kernels: they were
    /// compiled from equal graphs and the compile cache gave the second the
    /// kernels of the first.
    pub fn shares_kernels_with(&self, other: &Executable) -> bool {
        Arc::ptr_eq(&self.kernels, &other.kernels)
    }

    /// Kernels compiled so far for this graph.
    pub fn kernel_count(&self) -> usize {
        lock(&self.kernels).len()
    }

    /// Bytes of the current plan's buffers (its peak memory: buffers are
    /// reused within a call and across calls).
    pub fn peak_bytes(&self) -> usize {
        self.plans.last().map_or(0, |p| p.peak_bytes)
    }

    /// How the current plan runs each node: counts of kernel steps, GEMMs
    /// and interpreter steps.
    pub fn schedule_summary(&self) -> (usize, usize, usize) {
        let Some(plan) = self.plans.last() else { return (0, 0, 0) };
        let mut counts = (0, 0, 0);
        for step in &plan.steps {
            match step {
                plan::Step::Nest(_) | plan::Step::Fill { .. } => counts.0 += 1,
                plan::Step::Gemm { .. } => counts.1 += 1,
                plan::Step::Host { .. } => counts.2 += 1,
            }
        }
        counts
    }

    /// The ops that run on the interpreter in the current plan.
    pub fn host_ops(&self) -> Vec<String> {
        let Some(plan) = self.plans.last() else { return Vec::new() };
        plan.steps
            .iter()
            .filter_map(|step| match step {
                plan::Step::Host { op, .. } => Some(op.name().to_string()),
                _ => None,
            })
            .collect()
    }
}

/// A row-major copy of `tensor` whose memory, when it is large, is advised
/// to use transparent huge pages before it is first written (as numpy does
/// for its arrays): for data a program keeps and reads many times, such as
/// benchmark inputs or a data set.
pub fn huge_page_copy(tensor: &Tensor) -> Tensor {
    let mut copy = Tensor::full(tensor.dtype(), tensor.shape(), 0.0);
    runtime::advise_huge_pages(&copy);
    match (&mut copy, tensor) {
        (Tensor::F32(c), Tensor::F32(a)) => c.assign(a),
        (Tensor::F64(c), Tensor::F64(a)) => c.assign(a),
        (Tensor::I64(c), Tensor::I64(a)) => c.assign(a),
        (Tensor::Bool(c), Tensor::Bool(a)) => c.assign(a),
        _ => return tensor.clone(),
    }
    copy
}

fn is_standard(tensor: &Tensor) -> bool {
    tx_tensor::with_array!(tensor, a => a.is_standard_layout())
}

fn standard(tensor: &Tensor) -> Tensor {
    tx_tensor::with_array!(tensor, a => Tensor::from(a.as_standard_layout().into_owned()))
}
