//! From a graph and the concrete shapes of one call to a schedule: every
//! needed node becomes a view of another (transpose, broadcast, slice,
//! reshape of dense data), a kernel over a loop nest, a GEMM, or, for the
//! ops the JIT does not compile, a step on the interpreter. Buffers are
//! assigned by liveness and reused within the call (an elementwise kernel
//! may write over an operand that dies with it); the plan keeps them, so a
//! call with the same shapes allocates nothing.

use std::collections::HashMap;

use tx_ir::{BinaryOp, DType, Graph, KernelArg, KernelKind, KernelNode, NodeId, Op, ReduceOp};
use tx_tensor::Tensor;

use crate::codegen::Jit;
use crate::elementwise::{self, Body, Class};
use crate::reduce::{self, Access, RowOp};
use crate::view::{Place, View, coalesce, standard_strides};

/// What a kernel is compiled from; equal keys share one compiled kernel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KernelKey {
    Vector(Body, Vec<Class>),
    Strided(Body),
    Row(Body, RowOp, Access),
}

/// The compiled kernels of an executable, by key.
pub(crate) struct Kernels {
    pub jit: Jit,
    index: HashMap<KernelKey, usize>,
    pub compiled: Vec<crate::codegen::KernelFn>,
    pending: usize,
}

impl Kernels {
    pub(crate) fn new(jit: Jit) -> Kernels {
        Kernels { jit, index: HashMap::new(), compiled: Vec::new(), pending: 0 }
    }

    /// The kernel for `key`, compiling it when new. It is callable once
    /// [`Kernels::finish`] has run.
    fn get(&mut self, key: KernelKey) -> Result<usize, String> {
        if let Some(&k) = self.index.get(&key) {
            return Ok(k);
        }
        match &key {
            KernelKey::Vector(body, classes) if elementwise::tiled(body) => {
                self.jit.define("tiled", |b, params| elementwise::tiled_kernel(b, body, classes, params))?
            }
            KernelKey::Vector(body, classes) => {
                self.jit.define("vector", |b, params| elementwise::vector_kernel(b, body, classes, params))?
            }
            KernelKey::Strided(body) => {
                self.jit.define("strided", |b, params| elementwise::strided_kernel(b, body, params))?
            }
            KernelKey::Row(body, op, access) => {
                self.jit.define("row", |b, params| reduce::row_kernel(b, body, *op, access, params))?
            }
        };
        let k = self.compiled.len() + self.pending;
        self.pending += 1;
        self.index.insert(key, k);
        Ok(k)
    }

    pub(crate) fn finish(&mut self) -> Result<(), String> {
        if self.pending > 0 {
            self.compiled.extend(self.jit.finish()?);
            self.pending = 0;
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.compiled.len()
    }
}

/// One operand (or the output) of a loop nest.
#[derive(Clone, Debug)]
pub(crate) struct Arg {
    pub place: Place,
    pub offset: isize,
    pub dtype: DType,
}

/// A kernel called once per index of the outer dimensions, over `len`
/// elements of the innermost.
#[derive(Clone, Debug)]
pub(crate) struct Nest {
    pub kernel: usize,
    pub args: Vec<Arg>,
    pub outer: Vec<usize>,
    /// Per argument, its stride along each outer dimension (elements).
    pub outer_strides: Vec<Vec<isize>>,
    pub len: usize,
    /// Per argument, its stride along the innermost dimension.
    pub inner: Vec<i64>,
    /// Whether pieces of the innermost loop may run on different threads
    /// (elementwise kernels); a row kernel's row is one piece.
    pub split_inner: bool,
    /// Whether outer indices may run on different threads (not when they
    /// accumulate into the same output).
    pub parallel: bool,
}

impl Nest {
    /// Elements of work, for the threading threshold.
    pub(crate) fn work(&self) -> usize {
        self.outer.iter().product::<usize>() * self.len
    }
}

/// One step of a schedule.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Nest(Nest),
    /// Every element of a dense buffer set to `value`.
    Fill {
        buffer: usize,
        value: f64,
    },
    /// `out = a @ b` on 2-D float views; with `accumulate: Some(s)`,
    /// `out = out + s·(a @ b)` (a parameter updated in place).
    Gemm {
        a: View,
        b: View,
        out: View,
        accumulate: Option<f64>,
    },
    /// An op the JIT does not compile, on the interpreter.
    Host {
        node: NodeId,
        op: Op,
        operands: Vec<View>,
        out: View,
    },
}

impl Step {
    /// The places this step reads and the one it writes (none for a
    /// step that writes nothing).
    fn access(&self) -> (Vec<Place>, Option<Place>) {
        match self {
            Step::Nest(nest) => {
                let places: Vec<Place> = nest.args.iter().map(|a| a.place).collect();
                let out = places.last().copied();
                (places, out)
            }
            Step::Fill { buffer, .. } => (Vec::new(), Some(Place::Buffer(*buffer))),
            Step::Gemm { a, b, out, accumulate } => {
                let mut reads = vec![a.place, b.place];
                reads.extend(accumulate.map(|_| out.place));
                (reads, Some(out.place))
            }
            Step::Host { operands, out, .. } => (operands.iter().map(|v| v.place).collect(), Some(out.place)),
        }
    }
}

/// The order steps must keep, for running independent steps at once (the
/// weight gradients of different layers, say): a step waits for the last
/// earlier step writing a place it reads or writes, and for every earlier
/// step reading a place it writes since that write. Buffers are reused by
/// liveness, so the second rule matters as much as the first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dag {
    /// How many steps each step waits for.
    pub waits: Vec<usize>,
    /// The steps waiting for each step.
    pub then: Vec<Vec<usize>>,
}

impl Dag {
    fn of(steps: &[Step], buffers: usize) -> Dag {
        let slot = |place: Place, given: usize| match place {
            Place::Given(k) => k,
            Place::Buffer(k) => given + k,
        };
        let given = steps
            .iter()
            .flat_map(|s| {
                let (reads, write) = s.access();
                reads.into_iter().chain(write)
            })
            .filter_map(|p| match p {
                Place::Given(k) => Some(k + 1),
                Place::Buffer(_) => None,
            })
            .max()
            .unwrap_or(0);
        let mut writer: Vec<Option<usize>> = vec![None; given + buffers];
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); given + buffers];
        let mut dag = Dag { waits: vec![0; steps.len()], then: vec![Vec::new(); steps.len()] };
        for (j, step) in steps.iter().enumerate() {
            let (reads, write) = step.access();
            let mut before: Vec<usize> = Vec::new();
            for &place in &reads {
                before.extend(writer[slot(place, given)]);
            }
            if let Some(place) = write {
                let k = slot(place, given);
                before.extend(writer[k]);
                before.extend(readers[k].iter().copied());
            }
            before.sort_unstable();
            before.dedup();
            before.retain(|&i| i != j);
            dag.waits[j] = before.len();
            for i in before {
                dag.then[i].push(j);
            }
            for &place in &reads {
                let k = slot(place, given);
                if !readers[k].contains(&j) {
                    readers[k].push(j);
                }
            }
            if let Some(place) = write {
                let k = slot(place, given);
                writer[k] = Some(j);
                readers[k].clear();
            }
        }
        dag
    }
}

/// A schedule for one set of input shapes, with its buffers.
pub(crate) struct Plan {
    /// The shape of every input and parameter this plan was made for.
    pub key: Vec<(usize, Vec<usize>)>,
    pub buffers: Vec<Tensor>,
    pub steps: Vec<Step>,
    pub dag: Dag,
    /// The outputs, each a whole buffer, or `None` for an output written
    /// into the parameter it updates.
    pub outputs: Vec<Option<usize>>,
    /// The updates this plan was made for: (output position, parameter).
    pub updates: Vec<(usize, NodeId)>,
    pub peak_bytes: usize,
}

struct Builder<'g> {
    graph: &'g Graph,
    shapes: &'g [Vec<usize>],
    kernels: &'g mut Kernels,
    buffers: Vec<Tensor>,
    /// Buffers free for reuse.
    free: Vec<usize>,
    /// Buffers that are never reused (constants, outputs).
    pinned: Vec<bool>,
    /// Buffers computed once, when the plan is made (constants, random
    /// sources): an output reading one gets a copy, which the caller may
    /// take away.
    once: Vec<bool>,
    steps: Vec<Step>,
    views: Vec<Option<View>>,
    /// The last node reading each buffer.
    buffer_last_use: Vec<usize>,
    /// Per node, the parameter (node index) its value may be written into:
    /// an update whose parameter nothing reads after it.
    in_place: Vec<Option<usize>>,
}

/// Builds the plan of `outputs` for the shapes of one call. `updates`
/// pairs outputs (by position) with the parameter nodes they update: those
/// the plan can write in place are written into the parameter's own tensor.
pub(crate) fn build(
    graph: &Graph,
    outputs: &[NodeId],
    updates: &[(usize, NodeId)],
    live: &[bool],
    shapes: &[Vec<usize>],
    kernels: &mut Kernels,
) -> Result<Plan, (NodeId, String)> {
    let last_use = graph.last_uses(live, outputs);
    let mut builder = Builder {
        graph,
        shapes,
        kernels,
        buffers: Vec::new(),
        free: Vec::new(),
        pinned: Vec::new(),
        once: Vec::new(),
        steps: Vec::new(),
        views: vec![None; graph.len()],
        buffer_last_use: Vec::new(),
        in_place: in_place_updates(graph, outputs, updates, live),
    };
    let mut key = Vec::new();
    for (id, node) in graph.nodes().filter(|(id, _)| live[id.index()]) {
        let i = id.index();
        if matches!(node.op, Op::Input { .. } | Op::Param { .. }) {
            key.push((i, shapes[i].clone()));
        }
        let view = builder.node(id, &last_use).map_err(|message| (id, message))?;
        // A buffer lives until the last reader of any view of it.
        if let Place::Buffer(buffer) = view.place {
            let last = &mut builder.buffer_last_use[buffer];
            *last = (*last).max(last_use[i]);
        }
        builder.views[i] = Some(view);
        // Release the buffers whose last reader this node was.
        for input in &node.inputs {
            builder.release_after(*input, i);
        }
    }
    let mut output_buffers = Vec::with_capacity(outputs.len());
    for (k, &output) in outputs.iter().enumerate() {
        let view = builder.views[output.index()].clone().ok_or((output, "internal error: no value".to_string()))?;
        if let Some(&(_, param)) = updates.iter().find(|&&(o, _)| o == k)
            && view.place == Place::Given(param.index())
        {
            output_buffers.push(None);
            continue;
        }
        let buffer = match view.place {
            Place::Buffer(buffer)
                if builder.pinned[buffer]
                    && !builder.once[buffer]
                    && !output_buffers.contains(&Some(buffer))
                    && view.offset == 0
                    && view.is_dense()
                    && builder.buffers[buffer].shape() == view.shape.as_slice() =>
            {
                buffer
            }
            _ => {
                // A view (of an input, or of another value): copied out.
                let buffer = builder.allocate(view.dtype, &view.shape, true);
                let out = View::dense(Place::Buffer(buffer), view.dtype, &view.shape);
                builder
                    .elementwise(&Body::of_op(&Op::StopGradient, vec![view.dtype]), &[view], &out)
                    .map_err(|e| (output, e))?;
                buffer
            }
        };
        output_buffers.push(Some(buffer));
    }
    builder.kernels.finish().map_err(|e| (outputs.first().copied().unwrap_or(NodeId(0)), e))?;
    let peak_bytes = builder.buffers.iter().map(|t| t.len() * t.dtype().size()).sum();
    let dag = Dag::of(&builder.steps, builder.buffers.len());
    Ok(Plan {
        key,
        buffers: builder.buffers,
        steps: builder.steps,
        dag,
        outputs: output_buffers,
        updates: updates.to_vec(),
        peak_bytes,
    })
}

/// Which update outputs may be written into their parameter: the node is
/// computed by a kernel (elementwise, or a GEMM with its epilogue), it is
/// one output only, and no node after it reads the parameter or any view of
/// it (transposes, reshapes, slices), nor is any such view an output (those
/// are copied out at the end).
fn in_place_updates(
    graph: &Graph,
    outputs: &[NodeId],
    updates: &[(usize, NodeId)],
    live: &[bool],
) -> Vec<Option<usize>> {
    let mut in_place = vec![None; graph.len()];
    for &(k, param) in updates {
        let Some(&node) = outputs.get(k) else { continue };
        let computed =
            matches!(graph.node(node).op, Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } | Op::Fused(_));
        let once = outputs.iter().filter(|&&o| o == node).count() == 1;
        if !computed || !once || !matches!(graph.node(param).op, Op::Param { .. }) {
            continue;
        }
        // The parameter and the views of it.
        let mut alias = vec![false; graph.len()];
        alias[param.index()] = true;
        let mut last_reader = 0;
        for (id, n) in graph.nodes().filter(|(id, _)| live[id.index()]) {
            if !n.inputs.iter().any(|i| alias[i.index()]) {
                continue;
            }
            let view = matches!(
                n.op,
                Op::StopGradient | Op::Transpose { .. } | Op::Broadcast { .. } | Op::Slice { .. } | Op::Reshape { .. }
            );
            if view {
                alias[id.index()] = true;
            } else {
                last_reader = last_reader.max(id.index());
            }
        }
        let alias_out = outputs.iter().any(|o| alias[o.index()]);
        if last_reader <= node.index() && !alias[node.index()] && !alias_out {
            in_place[node.index()] = Some(param.index());
        }
    }
    in_place
}

impl Builder<'_> {
    fn view(&self, id: NodeId) -> Result<View, String> {
        self.views[id.index()].clone().ok_or_else(|| "internal error: an operand has no value".to_string())
    }

    /// A dense buffer for a value of `shape`: a free one of the same type
    /// and size, or a new one. Pinned buffers are never given out again.
    fn allocate(&mut self, dtype: DType, shape: &[usize], pinned: bool) -> usize {
        let len: usize = shape.iter().product();
        if !pinned
            && let Some(position) =
                self.free.iter().position(|&k| self.buffers[k].dtype() == dtype && self.buffers[k].len() == len)
        {
            return self.free.swap_remove(position);
        }
        let buffer = Tensor::full(dtype, shape, 0.0);
        crate::runtime::advise_huge_pages(&buffer);
        self.buffers.push(buffer);
        self.pinned.push(pinned);
        self.once.push(false);
        self.buffer_last_use.push(0);
        self.buffers.len() - 1
    }

    /// Frees `input`'s buffer if node `at` was its last reader.
    fn release_after(&mut self, input: NodeId, at: usize) {
        if let Some(View { place: Place::Buffer(buffer), .. }) = self.views[input.index()]
            && !self.pinned[buffer]
            && self.buffer_last_use[buffer] == at
            && !self.free.contains(&buffer)
        {
            self.free.push(buffer);
        }
    }

    /// The output buffer of an elementwise node: an operand's buffer when
    /// that operand dies here and is laid out exactly like the result.
    fn elementwise_output(&mut self, id: NodeId, dtype: DType, shape: &[usize], last_use: &[usize]) -> usize {
        let pinned = last_use[id.index()] == usize::MAX;
        if !pinned {
            for input in &self.graph.node(id).inputs {
                if let Some(view) = &self.views[input.index()]
                    && let Place::Buffer(buffer) = view.place
                    && !self.pinned[buffer]
                    && self.buffer_last_use[buffer] == id.index()
                    && view.offset == 0
                    && view.shape == shape
                    && view.is_dense()
                    && self.buffers[buffer].dtype() == dtype
                    && self.buffers[buffer].len() == view.len()
                    && self.only_dense_reader(id, buffer, shape)
                {
                    return buffer;
                }
            }
        }
        self.allocate(dtype, shape, pinned)
    }

    /// The parameter `id` is written into, when it may be and every operand
    /// reading that parameter reads it densely from its start (so that
    /// writing element `i` in place only changes what element `i` reads).
    fn in_place_view(&self, id: NodeId, dtype: DType, shape: &[usize], operands: &[View]) -> Option<View> {
        let param = self.in_place[id.index()]?;
        let out = View::dense(Place::Given(param), dtype, shape);
        let fits = |v: &View| v.place != out.place || (v.offset == 0 && v.is_dense() && v.shape == shape);
        (self.shapes[param] == shape && operands.iter().all(fits)).then_some(out)
    }

    /// Whether every operand of `id` that reads `buffer` reads it densely
    /// from its start (so that writing element `i` in place only changes
    /// what element `i` reads).
    fn only_dense_reader(&self, id: NodeId, buffer: usize, shape: &[usize]) -> bool {
        self.graph.node(id).inputs.iter().all(|input| match &self.views[input.index()] {
            Some(view) if view.place == Place::Buffer(buffer) => {
                view.offset == 0 && view.is_dense() && view.shape == shape
            }
            _ => true,
        })
    }

    fn node(&mut self, id: NodeId, last_use: &[usize]) -> Result<View, String> {
        let node = self.graph.node(id);
        let shape = self.shapes[id.index()].clone();
        let dtype = node.ty.dtype;
        let pinned = last_use[id.index()] == usize::MAX;
        let operand = |k: usize| self.view(node.inputs[k]);
        Ok(match &node.op {
            Op::Input { .. } | Op::Param { .. } => View::dense(Place::Given(id.index()), dtype, &shape),
            Op::Constant { .. } | Op::Random { .. } => {
                // Computed once, when the plan is made: a random source
                // gives the same values at every evaluation.
                let value = tx_interp::eval_op(&node.op, &[], &shape)?;
                self.buffers.push(value);
                self.pinned.push(true);
                self.once.push(true);
                self.buffer_last_use.push(usize::MAX);
                View::dense(Place::Buffer(self.buffers.len() - 1), dtype, &shape)
            }
            Op::StopGradient => operand(0)?,
            Op::Transpose { perm } => operand(0)?.transpose(perm),
            Op::Broadcast { .. } => operand(0)?.broadcast(&shape),
            Op::Slice { axes } => {
                let source = operand(0)?;
                if tx_interp::slice_fits(&source.shape, axes) {
                    source.slice(axes)
                } else {
                    // Out of bounds for this call: the interpreter says why.
                    let buffer = self.allocate(dtype, &shape, pinned);
                    let out = View::dense(Place::Buffer(buffer), dtype, &shape);
                    self.host(id, vec![source], out.clone());
                    out
                }
            }
            Op::Reshape { .. } => {
                let source = operand(0)?;
                if source.is_dense() {
                    source.reshape(&shape)
                } else {
                    let buffer = self.allocate(dtype, &source.shape, pinned);
                    let out = View::dense(Place::Buffer(buffer), dtype, &source.shape);
                    self.elementwise(&Body::of_op(&Op::StopGradient, vec![dtype]), &[source], &out)?;
                    out.reshape(&shape)
                }
            }
            Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } => {
                let operands: Vec<View> = (0..node.inputs.len()).map(operand).collect::<Result<_, _>>()?;
                let body = Body::of_op(&node.op, operands.iter().map(|v| v.dtype).collect());
                self.elementwise_or_host(id, body, operands, dtype, &shape, last_use)?
            }
            Op::Fused(kernel) => {
                let operands: Vec<View> = (0..node.inputs.len()).map(operand).collect::<Result<_, _>>()?;
                match kernel.kind {
                    KernelKind::Elementwise => {
                        let body =
                            Body { operands: operands.iter().map(|v| v.dtype).collect(), nodes: kernel.body.clone() };
                        self.elementwise_or_host(id, body, operands, dtype, &shape, last_use)?
                    }
                    KernelKind::Reduce => self.fused_reduce(id, kernel, operands, dtype, &shape, pinned)?,
                    KernelKind::MatMul => self.fused_matmul(id, kernel, operands, dtype, &shape, pinned)?,
                }
            }
            Op::Reduce { op, axes, keepdims: _ } => {
                let x = operand(0)?;
                let body = identity(x.dtype);
                self.reduce(id, &body, vec![x], *op, axes, dtype, &shape, pinned)?
            }
            Op::Softmax { axis } | Op::LogSoftmax { axis } => {
                let x = operand(0)?;
                let row = if matches!(node.op, Op::Softmax { .. }) { RowOp::Softmax } else { RowOp::LogSoftmax };
                let buffer = self.allocate(dtype, &shape, pinned);
                let out = View::dense(Place::Buffer(buffer), dtype, &shape);
                if *axis + 1 == shape.len() && dtype.is_float() && shape[*axis] > 0 {
                    self.rows(&identity(dtype), row, std::slice::from_ref(&x), &out, &shape, 1)?;
                } else {
                    self.host(id, vec![x], out.clone());
                }
                out
            }
            Op::MatMul => {
                let (a, b) = (operand(0)?, operand(1)?);
                let buffer = self.allocate(dtype, &shape, pinned);
                let out = View::dense(Place::Buffer(buffer), dtype, &shape);
                if dtype.is_float() && a.shape.len() == 2 && b.shape.len() == 2 {
                    self.steps.push(Step::Gemm { a, b, out: out.clone(), accumulate: None });
                } else {
                    self.host(id, vec![a, b], out.clone());
                }
                out
            }
            Op::ArgMax { .. } | Op::Concat { .. } | Op::Unslice { .. } | Op::OneHot { .. } => {
                let operands: Vec<View> = (0..node.inputs.len()).map(operand).collect::<Result<_, _>>()?;
                let buffer = self.allocate(dtype, &shape, pinned);
                let out = View::dense(Place::Buffer(buffer), dtype, &shape);
                self.host(id, operands, out.clone());
                out
            }
        })
    }

    fn host(&mut self, id: NodeId, operands: Vec<View>, out: View) {
        let op = self.graph.node(id).op.clone();
        self.steps.push(Step::Host { node: id, op, operands, out });
    }

    fn elementwise_or_host(
        &mut self,
        id: NodeId,
        body: Body,
        operands: Vec<View>,
        dtype: DType,
        shape: &[usize],
        last_use: &[usize],
    ) -> Result<View, String> {
        let out = match self.in_place_view(id, dtype, shape, &operands) {
            Some(out) => out,
            None => {
                let buffer = self.elementwise_output(id, dtype, shape, last_use);
                View::dense(Place::Buffer(buffer), dtype, shape)
            }
        };
        if body.supported() {
            let operands: Vec<View> = operands.iter().map(|v| v.broadcast(shape)).collect();
            self.elementwise(&body, &operands, &out)?;
        } else {
            self.host(id, operands, out.clone());
        }
        Ok(out)
    }

    /// A loop nest of `body` over `out`'s shape; the operands are already
    /// broadcast to it.
    fn elementwise(&mut self, body: &Body, operands: &[View], out: &View) -> Result<(), String> {
        let mut strides: Vec<Vec<isize>> = operands.iter().map(|v| v.strides.clone()).collect();
        strides.push(out.strides.clone());
        let (dims, strides) = coalesce(&out.shape, &strides);
        let (outer, len) = match dims.split_last() {
            Some((&len, outer)) => (outer.to_vec(), len),
            None => (Vec::new(), 1),
        };
        let split = |s: &Vec<isize>| match s.split_last() {
            Some((&inner, outer)) => (outer.to_vec(), inner as i64),
            None => (Vec::new(), 0),
        };
        let (outer_strides, inner): (Vec<Vec<isize>>, Vec<i64>) = strides.iter().map(split).unzip();
        let classes = classes_of(&inner[..operands.len()]);
        let key = match (classes, body.vector_float(), inner[operands.len()]) {
            (Some(classes), Some(_), 1) => KernelKey::Vector(body.clone(), classes),
            _ => KernelKey::Strided(body.clone()),
        };
        let kernel = self.kernels.get(key)?;
        let args =
            operands.iter().chain([out]).map(|v| Arg { place: v.place, offset: v.offset, dtype: v.dtype }).collect();
        self.steps.push(Step::Nest(Nest {
            kernel,
            args,
            outer,
            outer_strides,
            len,
            inner,
            split_inner: true,
            parallel: true,
        }));
        Ok(())
    }

    /// A row kernel over the innermost `reduced` dimensions of `input_shape`
    /// (the operands broadcast to it); `out` is dense over the rest.
    fn rows(
        &mut self,
        body: &Body,
        op: RowOp,
        operands: &[View],
        out: &View,
        input_shape: &[usize],
        reduced: usize,
    ) -> Result<bool, String> {
        let kept = input_shape.len() - reduced;
        let operands: Vec<View> = operands.iter().map(|v| v.broadcast(input_shape)).collect();
        // The reduced dimensions must merge into one for every operand.
        let inner_strides: Vec<Vec<isize>> = operands.iter().map(|v| v.strides[kept..].to_vec()).collect();
        let (inner_dims, inner_strides) = coalesce(&input_shape[kept..], &inner_strides);
        if inner_dims.len() > 1 {
            return Ok(false);
        }
        let len = inner_dims.first().copied().unwrap_or(1);
        let mut inner: Vec<i64> = inner_strides.iter().map(|s| s.first().copied().unwrap_or(0) as i64).collect();
        // The output row (softmax) is dense; a reduction writes one element.
        inner.push(if matches!(op, RowOp::Reduce(_)) { 0 } else { 1 });
        let kept_shape = &input_shape[..kept];
        let mut outer_strides: Vec<Vec<isize>> = operands.iter().map(|v| v.strides[..kept].to_vec()).collect();
        let out_row = if matches!(op, RowOp::Reduce(_)) { 1 } else { len as isize };
        outer_strides.push(standard_strides(kept_shape).iter().map(|s| s * out_row).collect());
        let (outer, outer_strides) = coalesce(kept_shape, &outer_strides);
        let classes = classes_of(&inner[..operands.len()]);
        let out_dense = matches!(op, RowOp::Reduce(_)) || inner[operands.len()] == 1;
        let access = match (classes, body.vector_float(), out_dense) {
            (Some(classes), Some(_), true) => Access::Vector(classes),
            _ => Access::Strided,
        };
        let kernel = self.kernels.get(KernelKey::Row(body.clone(), op, access))?;
        let args =
            operands.iter().chain([out]).map(|v| Arg { place: v.place, offset: v.offset, dtype: v.dtype }).collect();
        self.steps.push(Step::Nest(Nest {
            kernel,
            args,
            outer,
            outer_strides,
            len,
            inner,
            split_inner: false,
            parallel: true,
        }));
        Ok(true)
    }

    /// `op` over `axes` of `body`'s value (the operands broadcast to the
    /// reduction's input shape).
    #[allow(clippy::too_many_arguments)]
    fn reduce(
        &mut self,
        id: NodeId,
        body: &Body,
        operands: Vec<View>,
        op: ReduceOp,
        axes: &[usize],
        dtype: DType,
        shape: &[usize],
        pinned: bool,
    ) -> Result<View, String> {
        let shapes: Vec<&[usize]> = operands.iter().map(|v| v.shape.as_slice()).collect();
        let input_shape = tx_interp::broadcast_shape(&shapes)?;
        if matches!(op, ReduceOp::Max | ReduceOp::Min | ReduceOp::LogSumExp)
            && let Some(&axis) = axes.iter().find(|&&axis| input_shape[axis] == 0)
        {
            return Err(format!("`{}` over axis {axis}, which has no elements in this call", op.name()));
        }
        let buffer = self.allocate(dtype, shape, pinned);
        let out = View::dense(Place::Buffer(buffer), dtype, shape);
        let rank = input_shape.len();
        let float = dtype.is_float() && body.supported();
        if float && !axes.is_empty() {
            // Reduced axes moved last: a row kernel when they merge.
            let kept: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
            let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
            let moved_shape: Vec<usize> = perm.iter().map(|&p| input_shape[p]).collect();
            let moved: Vec<View> = operands.iter().map(|v| v.broadcast(&input_shape).transpose(&perm)).collect();
            let last_reduced = axes.contains(&(rank - 1));
            if last_reduced && self.rows(body, RowOp::Reduce(op), &moved, &out, &moved_shape, axes.len())? {
                return Ok(out);
            }
            if !last_reduced && op != ReduceOp::LogSumExp {
                self.accumulate(body, op, &operands, &out, &input_shape, axes)?;
                return Ok(out);
            }
        }
        if axes.is_empty() && body.supported() {
            // Nothing reduced: the prologue itself.
            let operands: Vec<View> = operands.iter().map(|v| v.broadcast(shape)).collect();
            self.elementwise(body, &operands, &out)?;
            return Ok(out);
        }
        self.host(id, operands, out.clone());
        Ok(out)
    }

    /// A reduction over outer axes as accumulation: `out = out ⊕ x[r]`
    /// over every reduced index `r`, the innermost (kept) axis vectorized.
    fn accumulate(
        &mut self,
        body: &Body,
        op: ReduceOp,
        operands: &[View],
        out: &View,
        input_shape: &[usize],
        axes: &[usize],
    ) -> Result<(), String> {
        let Place::Buffer(buffer) = out.place else {
            return Err("internal error: a reduction without a buffer".to_string());
        };
        let identity = match op {
            ReduceOp::Sum | ReduceOp::Mean => 0.0,
            ReduceOp::Max => f64::NEG_INFINITY,
            ReduceOp::Min => f64::INFINITY,
            ReduceOp::LogSumExp => return Err("internal error: logsumexp is not accumulated".to_string()),
        };
        self.steps.push(Step::Fill { buffer, value: identity });
        let combine = match op {
            ReduceOp::Max => BinaryOp::Max,
            ReduceOp::Min => BinaryOp::Min,
            _ => BinaryOp::Add,
        };
        // The body, then `result ⊕ out` with the output as one more operand.
        let n = body.operands.len();
        let mut accumulating = body.clone();
        accumulating.operands.push(out.dtype);
        let last = KernelArg::Node(accumulating.nodes.len() - 1);
        accumulating.nodes.push(KernelNode { op: Op::Binary(combine), args: vec![last, KernelArg::Operand(n)] });
        // The output read and written in the input's index space: stride 0
        // along the reduced axes.
        let kept_strides = standard_strides(&out_kept_shape(input_shape, axes));
        let mut strides = vec![0isize; input_shape.len()];
        let mut k = 0;
        for (axis, stride) in strides.iter_mut().enumerate() {
            if !axes.contains(&axis) {
                *stride = kept_strides[k];
                k += 1;
            }
        }
        let acc = View { place: out.place, dtype: out.dtype, offset: 0, shape: input_shape.to_vec(), strides };
        let mut args: Vec<View> = operands.iter().map(|v| v.broadcast(input_shape)).collect();
        args.push(acc.clone());
        self.elementwise(&accumulating, &args, &acc)?;
        if let Some(Step::Nest(nest)) = self.steps.last_mut() {
            // Outer indices write the same outputs: one thread; the
            // innermost loop may be split only when it runs over kept
            // elements (not when it is the reduced axis itself).
            nest.parallel = false;
            nest.split_inner = nest.inner.last().is_some_and(|&s| s != 0);
        }
        if op == ReduceOp::Mean {
            let count: usize = axes.iter().map(|&a| input_shape[a]).product();
            let scale = Body {
                operands: vec![out.dtype],
                nodes: vec![
                    KernelNode {
                        op: Op::Constant { value: tx_ir::Scalar::Float(1.0 / count as f64), dtype: out.dtype },
                        args: vec![],
                    },
                    KernelNode { op: Op::Binary(BinaryOp::Mul), args: vec![KernelArg::Operand(0), KernelArg::Node(0)] },
                ],
            };
            // 0/0 is NaN, as numpy's mean of nothing.
            let scale = if count == 0 {
                Body {
                    operands: vec![out.dtype],
                    nodes: vec![KernelNode {
                        op: Op::Constant { value: tx_ir::Scalar::Float(f64::NAN), dtype: out.dtype },
                        args: vec![],
                    }],
                }
            } else {
                scale
            };
            self.elementwise(&scale, std::slice::from_ref(out), out)?;
        }
        Ok(())
    }

    fn fused_reduce(
        &mut self,
        id: NodeId,
        kernel: &tx_ir::Kernel,
        operands: Vec<View>,
        dtype: DType,
        shape: &[usize],
        pinned: bool,
    ) -> Result<View, String> {
        let Some((last, prologue)) = kernel.body.split_last() else {
            return Err("an empty fused kernel".to_string());
        };
        let Op::Reduce { op, axes, .. } = &last.op else {
            return Err("a fused reduce kernel must end in a reduction".to_string());
        };
        let operand_dtypes: Vec<DType> = operands.iter().map(|v| v.dtype).collect();
        let body = match last.args.first() {
            Some(KernelArg::Node(k)) if *k + 1 == prologue.len() => {
                Body { operands: operand_dtypes, nodes: prologue.to_vec() }
            }
            Some(KernelArg::Operand(k)) if prologue.is_empty() => Body {
                operands: operand_dtypes,
                nodes: vec![KernelNode { op: Op::StopGradient, args: vec![KernelArg::Operand(*k)] }],
            },
            _ => {
                let buffer = self.allocate(dtype, shape, pinned);
                let out = View::dense(Place::Buffer(buffer), dtype, shape);
                self.host(id, operands, out.clone());
                return Ok(out);
            }
        };
        self.reduce(id, &body, operands, *op, axes, dtype, shape, pinned)
    }

    fn fused_matmul(
        &mut self,
        id: NodeId,
        kernel: &tx_ir::Kernel,
        operands: Vec<View>,
        dtype: DType,
        shape: &[usize],
        pinned: bool,
    ) -> Result<View, String> {
        let first = &kernel.body[0];
        let pick = |arg: &KernelArg| match arg {
            KernelArg::Operand(k) => operands.get(*k).cloned(),
            KernelArg::Node(_) => None,
        };
        let (a, b) = match (first.args.first().and_then(pick), first.args.get(1).and_then(pick)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err("a fused matmul kernel must start with a matmul of two operands".to_string()),
        };
        // The epilogue reads the product from the output, in place, and
        // only the operands it uses (not the matmul's own).
        let mut used: Vec<usize> = Vec::new();
        for node in &kernel.body[1..] {
            for arg in &node.args {
                if let KernelArg::Operand(k) = *arg
                    && !used.contains(&k)
                {
                    used.push(k);
                }
            }
        }
        let product = used.len();
        let renumber = |arg: &KernelArg| match *arg {
            KernelArg::Operand(k) => KernelArg::Operand(used.iter().position(|&u| u == k).unwrap_or(0)),
            KernelArg::Node(0) => KernelArg::Operand(product),
            KernelArg::Node(k) => KernelArg::Node(k - 1),
        };
        let mut epilogue = Body { operands: used.iter().map(|&k| operands[k].dtype).collect(), nodes: Vec::new() };
        epilogue.operands.push(dtype);
        for node in &kernel.body[1..] {
            epilogue.nodes.push(KernelNode { op: node.op.clone(), args: node.args.iter().map(renumber).collect() });
        }
        let gemm = dtype.is_float() && a.shape.len() == 2 && b.shape.len() == 2 && epilogue.supported();
        if !gemm {
            let buffer = self.allocate(dtype, shape, pinned);
            let out = View::dense(Place::Buffer(buffer), dtype, shape);
            self.host(id, operands, out.clone());
            return Ok(out);
        }
        // An update `p ± c·(a @ b)` of a parameter nothing reads after it:
        // one GEMM accumulating into the parameter itself.
        if let Some(target) = self.in_place_view(id, dtype, shape, &operands)
            && a.place != target.place
            && b.place != target.place
            && let Some(scale) = accumulation(&kernel.body, &operands, &target)
        {
            self.steps.push(Step::Gemm { a, b, out: target.clone(), accumulate: Some(scale) });
            return Ok(target);
        }
        let buffer = self.allocate(dtype, shape, pinned);
        let out = View::dense(Place::Buffer(buffer), dtype, shape);
        self.steps.push(Step::Gemm { a, b, out: out.clone(), accumulate: None });
        if !epilogue.nodes.is_empty() {
            let mut args: Vec<View> = used.iter().map(|&k| operands[k].broadcast(shape)).collect();
            args.push(out.clone());
            self.elementwise(&epilogue, &args, &out)?;
        }
        Ok(out)
    }
}

/// The scale `s` when a matmul kernel's body is `p + s·t0` for the operand
/// `p` read as `target` (the product `t0`, a constant `c`): `p − c·t0`,
/// `p + c·t0`, `p − t0`, `p + t0`, in either operand order.
fn accumulation(body: &[KernelNode], operands: &[View], target: &View) -> Option<f64> {
    use tx_ir::BinaryOp::{Add, Mul, Sub};
    let is_target = |arg: &KernelArg| matches!(*arg, KernelArg::Operand(k) if operands.get(k) == Some(target));
    let constant = |arg: &KernelArg| match *arg {
        KernelArg::Node(k) => match &body.get(k)?.op {
            Op::Constant { value, .. } => Some(value.as_f64()),
            _ => None,
        },
        KernelArg::Operand(_) => None,
    };
    let product = KernelArg::Node(0);
    // The term added to p: the product, or the product times a constant.
    let term = |arg: &KernelArg| -> Option<f64> {
        if *arg == product {
            return Some(1.0);
        }
        let KernelArg::Node(k) = *arg else { return None };
        let node = body.get(k)?;
        match (&node.op, &node.args[..]) {
            (Op::Binary(Mul), [x, y]) if *y == product => constant(x),
            (Op::Binary(Mul), [x, y]) if *x == product => constant(y),
            _ => None,
        }
    };
    let last = body.last()?;
    // Every node but the last is the product, a constant or the term.
    let nodes_used = body.len();
    let scale = match (&last.op, &last.args[..]) {
        (Op::Binary(Sub), [p, t]) if is_target(p) => -term(t)?,
        (Op::Binary(Add), [p, t]) if is_target(p) => term(t)?,
        (Op::Binary(Add), [t, p]) if is_target(p) => term(t)?,
        _ => return None,
    };
    let extra = body[1..body.len() - 1].iter().filter(|n| !matches!(n.op, Op::Constant { .. })).count();
    (nodes_used >= 2 && extra <= 1).then_some(scale)
}

/// How each operand is read along the innermost loop, when every one is
/// contiguous or constant there (what a vector kernel needs).
fn classes_of(inner: &[i64]) -> Option<Vec<Class>> {
    inner
        .iter()
        .map(|&stride| match stride {
            0 => Some(Class::Constant),
            1 => Some(Class::Contiguous),
            _ => None,
        })
        .collect()
}

/// The shape of a reduction's kept axes.
fn out_kept_shape(input_shape: &[usize], axes: &[usize]) -> Vec<usize> {
    (0..input_shape.len()).filter(|a| !axes.contains(a)).map(|a| input_shape[a]).collect()
}

/// The body that passes operand 0 through.
fn identity(dtype: DType) -> Body {
    Body::of_op(&Op::StopGradient, vec![dtype])
}
