//! Running a plan: base pointers for every place, loop nests around the
//! kernels (split across threads above a size threshold), GEMM, and the
//! interpreter for the rest.
//!
//! **Safety argument.** Kernels and GEMM write through raw pointers. They
//! stay in bounds because every view was derived, in `plan.rs`, from the
//! concrete shapes that `tx_interp::bind_call` checked the arguments
//! against, and the plan is only used for arguments of exactly those
//! shapes; buffers are allocated by the plan with the shapes it computed.
//! Threads write disjoint outputs: a nest is split only along indices that
//! write different output elements, and two steps run at once only when
//! neither writes a place the other reads or writes ([`Dag`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use tx_ir::DType;
use tx_tensor::Tensor;

use crate::codegen::KernelFn;
use crate::plan::{Dag, Nest, Plan, Step};
use crate::view::{Place, View};

/// Work below this many elements runs on one thread.
pub(crate) const PARALLEL_THRESHOLD: usize = 1 << 15;

/// A raw pointer that may cross threads (see the module's safety argument).
#[derive(Clone, Copy)]
struct Ptr(*mut u8);

impl Ptr {
    fn get(self) -> *mut u8 {
        self.0
    }
}

// SAFETY: the pointers are only dereferenced by kernels writing disjoint
// elements (module documentation).
unsafe impl Send for Ptr {}
// SAFETY: as above.
unsafe impl Sync for Ptr {}

pub(crate) fn data_ptr(tensor: &Tensor) -> *mut u8 {
    tx_tensor::with_array!(tensor, a => a.as_ptr() as *mut u8)
}

pub(crate) fn data_ptr_mut(tensor: &mut Tensor) -> *mut u8 {
    tx_tensor::with_array!(tensor, a => a.as_mut_ptr() as *mut u8)
}

/// The base pointer of every place: given tensors (row-major, checked by
/// the caller) and the plan's buffers.
pub(crate) struct Places {
    given: Vec<Ptr>,
    buffers: Vec<Ptr>,
    /// The element type and length of every buffer.
    buffer_sizes: Vec<(DType, usize)>,
}

impl Places {
    /// `given[node]` must point at a standard-layout tensor for every node
    /// the plan reads, derived from a mutable borrow for the parameters it
    /// writes in place.
    pub(crate) fn new(given: &[*mut u8], buffers: &mut [Tensor]) -> Places {
        Places {
            given: given.iter().map(|&p| Ptr(p)).collect(),
            buffers: buffers.iter_mut().map(|t| Ptr(data_ptr_mut(t))).collect(),
            buffer_sizes: buffers.iter().map(|t| (t.dtype(), t.len())).collect(),
        }
    }

    fn base(&self, place: Place) -> *mut u8 {
        match place {
            Place::Given(k) => self.given[k].0,
            Place::Buffer(k) => self.buffers[k].0,
        }
    }

    /// The address of element `offset` of `place`.
    fn at(&self, place: Place, offset: isize, dtype: DType) -> *mut u8 {
        self.base(place).wrapping_offset(offset * dtype.size() as isize)
    }
}

/// Runs every step of `plan`: in order on one thread, or, with a pool,
/// each step as soon as the steps it waits for are done ([`Dag`]), so that
/// independent steps run at once; large steps are also split across the
/// pool as before.
pub(crate) fn execute(
    plan: &mut Plan,
    kernels: &[KernelFn],
    given: &[*mut u8],
    pool: Option<&rayon::ThreadPool>,
) -> Result<(), (tx_ir::NodeId, String)> {
    let places = Places::new(given, &mut plan.buffers);
    let (steps, dag) = (&plan.steps, &plan.dag);
    match pool {
        Some(pool) if steps.len() > 1 => {
            let waits: Vec<AtomicUsize> = dag.waits.iter().map(|&w| AtomicUsize::new(w)).collect();
            let failure: Mutex<Option<(tx_ir::NodeId, String)>> = Mutex::new(None);
            let run = Runner { steps, dag, waits: &waits, kernels, places: &places, pool, failure: &failure };
            pool.scope(|scope| {
                for (k, _) in dag.waits.iter().enumerate().filter(|(_, w)| **w == 0) {
                    scope.spawn(move |scope| run.step(k, scope));
                }
            });
            match failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
                Some(error) => Err(error),
                None => Ok(()),
            }
        }
        _ => steps.iter().try_for_each(|step| run_step(step, kernels, &places, pool)),
    }
}

/// What the steps of one call share while they run on the pool.
#[derive(Clone, Copy)]
struct Runner<'a> {
    steps: &'a [Step],
    dag: &'a Dag,
    waits: &'a [AtomicUsize],
    kernels: &'a [KernelFn],
    places: &'a Places,
    pool: &'a rayon::ThreadPool,
    failure: &'a Mutex<Option<(tx_ir::NodeId, String)>>,
}

impl<'a> Runner<'a> {
    /// Runs step `k` (unless an earlier step failed), then starts every
    /// step that was waiting only for it.
    fn step(self, k: usize, scope: &rayon::Scope<'a>) {
        let failed = self.failure.lock().map_or(true, |f| f.is_some());
        if !failed && let Err(error) = run_step(&self.steps[k], self.kernels, self.places, Some(self.pool)) {
            let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            failure.get_or_insert(error);
        }
        for &next in &self.dag.then[k] {
            if self.waits[next].fetch_sub(1, Ordering::AcqRel) == 1 {
                scope.spawn(move |scope| self.step(next, scope));
            }
        }
    }
}

fn run_step(
    step: &Step,
    kernels: &[KernelFn],
    places: &Places,
    pool: Option<&rayon::ThreadPool>,
) -> Result<(), (tx_ir::NodeId, String)> {
    match step {
        Step::Nest(nest) => {
            let kernel = kernels[nest.kernel];
            match pool {
                Some(pool) if nest.work() >= PARALLEL_THRESHOLD => {
                    pool.install(|| run_nest_parallel(nest, kernel, places, pool.current_num_threads()))
                }
                _ => run_nest(nest, kernel, places, 0, nest.outer.iter().product(), None),
            }
        }
        Step::Fill { buffer, value } => fill(places, *buffer, *value),
        Step::Gemm { a, b, out, accumulate } => gemm(a, b, out, *accumulate, places, pool),
        Step::Host { node, op, operands, out } => {
            let values: Vec<Tensor> =
                operands.iter().map(|v| gather(v, places)).collect::<Result<_, _>>().map_err(|e| (*node, e))?;
            let refs: Vec<&Tensor> = values.iter().collect();
            let value = tx_interp::eval_op(op, &refs, &out.shape).map_err(|e| (*node, e))?;
            scatter(&value, out, places).map_err(|e| (*node, e))?;
        }
    }
    Ok(())
}

/// Calls the kernel for flat outer indices `start..end`, each over the
/// innermost range `inner` (or all of it).
fn run_nest(nest: &Nest, kernel: KernelFn, places: &Places, start: usize, end: usize, inner: Option<(usize, usize)>) {
    let args = nest.args.len();
    let bases: Vec<*mut u8> = nest.args.iter().map(|a| places.at(a.place, a.offset, a.dtype)).collect();
    let sizes: Vec<isize> = nest.args.iter().map(|a| a.dtype.size() as isize).collect();
    let (from, len) = inner.unwrap_or((0, nest.len));
    // The multi-index of `start`, then counted up like an odometer.
    let mut index = vec![0usize; nest.outer.len()];
    let mut rest = start;
    for d in (0..nest.outer.len()).rev() {
        index[d] = rest % nest.outer[d].max(1);
        rest /= nest.outer[d].max(1);
    }
    let mut ptrs: Vec<*mut u8> = vec![std::ptr::null_mut(); args];
    for _ in start..end {
        for k in 0..args {
            let mut offset = from as isize * nest.inner[k] as isize;
            for (d, &i) in index.iter().enumerate() {
                offset += i as isize * nest.outer_strides[k][d];
            }
            ptrs[k] = bases[k].wrapping_offset(offset * sizes[k]);
        }
        // SAFETY: the kernel reads and writes `len` elements from each
        // pointer at the strides in `nest.inner`, all within the views the
        // plan derived from the checked shapes (module documentation).
        unsafe { kernel(len as i64, ptrs.as_ptr(), nest.inner.as_ptr()) };
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < nest.outer[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

fn run_nest_parallel(nest: &Nest, kernel: KernelFn, places: &Places, threads: usize) {
    let outer: usize = nest.outer.iter().product();
    if !nest.parallel {
        // Outer indices accumulate into the same outputs: split the
        // innermost loop instead, when allowed.
        if nest.split_inner {
            split_inner(nest, kernel, places, threads, outer);
        } else {
            run_nest(nest, kernel, places, 0, outer, None);
        }
        return;
    }
    if outer >= threads * 4 || !nest.split_inner {
        let pieces = (threads * 4).min(outer.max(1));
        (0..pieces).into_par_iter().for_each(|piece| {
            let start = outer * piece / pieces;
            let end = outer * (piece + 1) / pieces;
            run_nest(nest, kernel, places, start, end, None);
        });
    } else {
        split_inner(nest, kernel, places, threads, outer);
    }
}

/// Runs each outer index's innermost loop in pieces on several threads
/// (elementwise kernels only: element `i` of a piece depends on nothing
/// else).
fn split_inner(nest: &Nest, kernel: KernelFn, places: &Places, threads: usize, outer: usize) {
    const ALIGN: usize = 64;
    let pieces = threads * 4;
    let chunk = nest.len.div_ceil(pieces).div_ceil(ALIGN) * ALIGN;
    let ranges: Vec<(usize, usize)> =
        (0..nest.len).step_by(chunk.max(1)).map(|from| (from, chunk.min(nest.len - from))).collect();
    if nest.parallel {
        (0..outer).into_par_iter().for_each(|o| {
            ranges.par_iter().for_each(|&range| run_nest(nest, kernel, places, o, o + 1, Some(range)));
        });
    } else {
        // The outer indices in order (they accumulate); pieces in parallel.
        ranges.par_iter().for_each(|&range| {
            run_nest(nest, kernel, places, 0, outer, Some(range));
        });
    }
}

/// Buffers from this size on are advised to use transparent huge pages.
const HUGE_PAGE_BYTES: usize = 4 << 20;

/// Asks the kernel to back a large, freshly allocated buffer with huge
/// pages. Transparent huge pages are often in `madvise` mode, where a
/// buffer of 4 KiB pages costs a page fault per page at its first use
/// (about 20 ms for 40 MB) and more TLB misses in every pass after. Only
/// the 2 MiB-aligned part of the allocation is affected; the advice is a
/// hint, and failing to take it changes nothing but speed.
pub(crate) fn advise_huge_pages(tensor: &Tensor) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = tensor.len() * tensor.dtype().size();
        if bytes < HUGE_PAGE_BYTES {
            return;
        }
        let start = tx_tensor::with_array!(tensor, a => a.as_ptr() as usize);
        let (from, to) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if to > from {
            // SAFETY: `from..to` lies inside the tensor's own allocation,
            // which is alive for this call; MADV_HUGEPAGE only changes how
            // the kernel backs those pages, never their contents.
            unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = tensor;
}

/// Sets every element of buffer `buffer` to `value`.
fn fill(places: &Places, buffer: usize, value: f64) {
    fn set<T: Copy>(base: *mut u8, len: usize, value: T) {
        // SAFETY: `base` is the start of a live buffer of `len` elements of
        // `T` (the plan's own, dense and row-major), which no other step
        // touches while this one runs (module documentation).
        unsafe { std::slice::from_raw_parts_mut(base as *mut T, len) }.fill(value);
    }
    let (dtype, len) = places.buffer_sizes[buffer];
    let base = places.base(Place::Buffer(buffer));
    match dtype {
        DType::F32 => set(base, len, value as f32),
        DType::F64 => set(base, len, value),
        DType::I64 => set(base, len, value as i64),
        DType::Bool => set(base, len, value != 0.0),
    }
}

/// `out = a @ b` for 2-D float views, with the `gemm` crate (chosen by
/// measurement over `matrixmultiply`: 7–12% faster on one thread, and it
/// runs on tx's own rayon pool). Strides are in elements; transposed views
/// need no copy.
fn gemm(a: &View, b: &View, out: &View, accumulate: Option<f64>, places: &Places, pool: Option<&rayon::ThreadPool>) {
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1]);
    let (pa, pb, pc) = (
        Ptr(places.at(a.place, a.offset, a.dtype)),
        Ptr(places.at(b.place, b.offset, b.dtype)),
        Ptr(places.at(out.place, out.offset, out.dtype)),
    );
    if m == 0 || n == 0 {
        return;
    }
    let parallelism = match pool {
        Some(pool) => gemm::Parallelism::Rayon(pool.current_num_threads()),
        None => gemm::Parallelism::None,
    };
    let (rsa, csa, rsb, csb, rsc, csc) =
        (a.strides[0], a.strides[1], b.strides[0], b.strides[1], out.strides[0], out.strides[1]);
    // dst = keep·dst + scale·a·b, reading dst only when accumulating.
    let (read, keep, scale) = match accumulate {
        Some(scale) => (true, 1.0, scale),
        None => (false, 0.0, 1.0),
    };
    let call = move || {
        let (pa, pb, pc) = (pa.get(), pb.get(), pc.get());
        // SAFETY: the views describe m×k, k×n and m×n matrices inside their
        // places (module documentation); `dst = 0·dst + 1·a·b` with
        // `read_dst = false` never reads the output (k = 0 writes zeros);
        // an accumulation `dst = dst + s·a·b` reads it, a parameter that the
        // plan writes in place and that `a` and `b` do not alias.
        unsafe {
            match out.dtype {
                DType::F32 => gemm::gemm(
                    m,
                    n,
                    k,
                    pc as *mut f32,
                    csc,
                    rsc,
                    read,
                    pa as *const f32,
                    csa,
                    rsa,
                    pb as *const f32,
                    csb,
                    rsb,
                    keep as f32,
                    scale as f32,
                    false,
                    false,
                    false,
                    parallelism,
                ),
                DType::F64 => gemm::gemm(
                    m,
                    n,
                    k,
                    pc as *mut f64,
                    csc,
                    rsc,
                    read,
                    pa as *const f64,
                    csa,
                    rsa,
                    pb as *const f64,
                    csb,
                    rsb,
                    keep,
                    scale,
                    false,
                    false,
                    false,
                    parallelism,
                ),
                DType::I64 | DType::Bool => {}
            }
        }
    };
    match pool {
        Some(pool) => pool.install(call),
        None => call(),
    }
}

/// The elements of a view, copied into a tensor.
fn gather(view: &View, places: &Places) -> Result<Tensor, String> {
    let base = places.at(view.place, view.offset, view.dtype);
    fn collect<T: Copy>(view: &View, base: *mut u8) -> Result<ArrayD<T>, String> {
        let len = view.len();
        let mut data = Vec::with_capacity(len);
        let mut index = vec![0usize; view.shape.len()];
        for _ in 0..len {
            let offset: isize = index.iter().zip(&view.strides).map(|(&i, &s)| i as isize * s).sum();
            // SAFETY: the offset is inside the view (module documentation).
            data.push(unsafe { *(base as *const T).wrapping_offset(offset) });
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < view.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        ArrayD::from_shape_vec(IxDyn(&view.shape), data).map_err(|e| format!("internal error: {e}"))
    }
    match view.dtype {
        DType::F32 => collect(view, base).map(Tensor::F32),
        DType::F64 => collect(view, base).map(Tensor::F64),
        DType::I64 => collect(view, base).map(Tensor::I64),
        DType::Bool => collect(view, base).map(Tensor::Bool),
    }
}

/// Copies `value` into the dense view `out`.
fn scatter(value: &Tensor, out: &View, places: &Places) -> Result<(), String> {
    if value.dtype() != out.dtype || value.shape() != out.shape.as_slice() || !out.is_dense() {
        return Err(format!("internal error: a host step computed {} for a {:?} view", value.ty(), out.shape));
    }
    let base = places.at(out.place, out.offset, out.dtype);
    fn copy<T: Copy>(a: &ArrayD<T>, base: *mut u8) {
        let a = a.as_standard_layout();
        if let Some(slice) = a.as_slice() {
            // SAFETY: `out` is dense with exactly `slice.len()` elements.
            unsafe { std::ptr::copy_nonoverlapping(slice.as_ptr(), base as *mut T, slice.len()) };
        }
    }
    match value {
        Tensor::F32(a) => copy(a, base),
        Tensor::F64(a) => copy(a, base),
        Tensor::I64(a) => copy(a, base),
        Tensor::Bool(a) => copy(a, base),
    }
    Ok(())
}
