//! Elementwise kernels: a body of elementwise ops over the operands, as one
//! pass over memory. Two variants of each body:
//!
//! - the vector kernel, when every value is a float of one width (bools as
//!   lane masks) and every operand is contiguous or constant along the
//!   innermost loop: an unrolled loop of `f32x4` / `f64x2`, then a vector
//!   loop, then a scalar tail;
//! - the strided kernel, for everything else (i64 and bool data, casts that
//!   change widths, operands read with any stride): one element at a time,
//!   each operand at its own stride.
//!
//! The body is also what the other kernel families run before their own
//! work: a reduction's prologue, a matmul's epilogue.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_frontend::FunctionBuilder;
use tx_ir::{BinaryOp, DType, KernelArg, KernelNode, Op, UnaryOp};

use crate::codegen::{self, Width, cl_type, constant, lane_count, lanes, size_of};
use crate::math;

/// An elementwise expression over numbered operands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Body {
    /// The element type of each operand.
    pub operands: Vec<DType>,
    /// Elementwise ops and constants in order; the last is the result.
    pub nodes: Vec<KernelNode>,
}

/// How an operand is read along the innermost loop of a vector kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    /// One element after the other.
    Contiguous,
    /// The same element for the whole loop (a broadcast).
    Constant,
}

impl Body {
    /// The body of one elementwise op on its operands.
    pub(crate) fn of_op(op: &Op, operands: Vec<DType>) -> Body {
        let args = (0..operands.len()).map(KernelArg::Operand).collect();
        Body { operands, nodes: vec![KernelNode { op: op.clone(), args }] }
    }

    /// The element type of every node.
    pub(crate) fn dtypes(&self) -> Vec<DType> {
        let mut dtypes: Vec<DType> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let arg = |k: usize| match node.args.get(k) {
                Some(KernelArg::Operand(i)) => self.operands[*i],
                Some(KernelArg::Node(i)) => dtypes[*i],
                None => DType::F32,
            };
            let dtype = match &node.op {
                Op::Constant { dtype, .. } | Op::Cast { dtype } => *dtype,
                Op::Binary(op) if op.is_comparison() => DType::Bool,
                Op::Where => arg(1),
                _ => arg(0),
            };
            dtypes.push(dtype);
        }
        dtypes
    }

    /// The result's element type.
    pub(crate) fn result(&self) -> DType {
        self.dtypes().last().copied().unwrap_or(DType::F32)
    }

    /// Whether the JIT compiles every op of this body (the rest run on the
    /// interpreter).
    pub(crate) fn supported(&self) -> bool {
        let dtypes = self.dtypes();
        self.nodes.iter().all(|node| {
            let arg0 = match node.args.first() {
                Some(KernelArg::Operand(i)) => self.operands[*i],
                Some(KernelArg::Node(i)) => dtypes[*i],
                None => DType::F32,
            };
            match &node.op {
                Op::Constant { .. } | Op::Where | Op::Cast { .. } | Op::StopGradient => true,
                Op::Unary(op) => match arg0 {
                    DType::F32 | DType::F64 => *op != UnaryOp::Not,
                    DType::I64 => {
                        matches!(op, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu | UnaryOp::Sign | UnaryOp::Square)
                    }
                    DType::Bool => *op == UnaryOp::Not,
                },
                Op::Binary(op) => match arg0 {
                    DType::F32 | DType::F64 => !matches!(op, BinaryOp::And | BinaryOp::Or),
                    DType::I64 => !matches!(op, BinaryOp::Div | BinaryOp::Pow | BinaryOp::And | BinaryOp::Or),
                    DType::Bool => matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Eq | BinaryOp::Ne),
                },
                _ => false,
            }
        })
    }

    /// The float type of the vector kernel, when this body has one: every
    /// operand, the result and every value is that float or a bool made
    /// in the kernel.
    pub(crate) fn vector_float(&self) -> Option<DType> {
        let float = *self.operands.first()?;
        if !float.is_float() || self.operands.iter().any(|&d| d != float) {
            return None;
        }
        let dtypes = self.dtypes();
        if dtypes.iter().any(|&d| d != float && d != DType::Bool) || *dtypes.last()? != float {
            return None;
        }
        Some(float)
    }
}

/// The value of every node of `body` in `width`, given the operands'
/// values; returns the result.
pub(crate) fn emit_body(
    b: &mut FunctionBuilder,
    body: &Body,
    width: Width,
    float: DType,
    operands: &[Value],
) -> Result<Value, String> {
    let dtypes = body.dtypes();
    let mut values: Vec<Value> = Vec::with_capacity(body.nodes.len());
    for (index, node) in body.nodes.iter().enumerate() {
        let mut args = Vec::with_capacity(node.args.len());
        let mut arg_dtypes = Vec::with_capacity(node.args.len());
        for arg in &node.args {
            match *arg {
                KernelArg::Operand(k) => {
                    args.push(operands[k]);
                    arg_dtypes.push(body.operands[k]);
                }
                KernelArg::Node(k) => {
                    args.push(values[k]);
                    arg_dtypes.push(dtypes[k]);
                }
            }
        }
        let value = emit_op(b, &node.op, &args, &arg_dtypes, dtypes[index], width, float)?;
        values.push(value);
    }
    values.pop().ok_or_else(|| "an empty kernel body".to_string())
}

fn emit_op(
    b: &mut FunctionBuilder,
    op: &Op,
    args: &[Value],
    arg_dtypes: &[DType],
    out: DType,
    width: Width,
    float: DType,
) -> Result<Value, String> {
    let unsupported = || format!("the JIT has no lowering for `{}` on {:?}", op.name(), arg_dtypes);
    let ty = |dtype: DType| cl_type(dtype, width, float);
    Ok(match op {
        Op::Constant { value, dtype } => match dtype {
            DType::Bool => {
                let on = value.as_f64() != 0.0;
                match width {
                    Width::Scalar => b.ins().iconst(types::I8, i64::from(on)),
                    Width::Vector => constant(b, ty(DType::Bool), if on { -1.0 } else { 0.0 }),
                }
            }
            DType::I64 => match value {
                tx_ir::Scalar::Int(v) => {
                    let scalar = b.ins().iconst(types::I64, *v);
                    if width == Width::Vector { b.ins().splat(ty(DType::I64), scalar) } else { scalar }
                }
                other => constant(b, ty(DType::I64), other.as_f64()),
            },
            _ => constant(b, ty(*dtype), value.as_f64()),
        },
        Op::StopGradient => args[0],
        Op::Unary(unary) => match arg_dtypes[0] {
            DType::F32 | DType::F64 => {
                math::float_unary(b, *unary, ty(arg_dtypes[0]), args[0]).ok_or_else(unsupported)?
            }
            DType::I64 => int_unary(b, *unary, args[0]).ok_or_else(unsupported)?,
            DType::Bool => match width {
                Width::Scalar => b.ins().bxor_imm_u(args[0], 1),
                Width::Vector => b.ins().bnot(args[0]),
            },
        },
        Op::Binary(binary) => {
            let (x, y) = (args[0], args[1]);
            match arg_dtypes[0] {
                DType::F32 | DType::F64 => {
                    if let Some(cc) = float_cc(*binary) {
                        b.ins().fcmp(cc, x, y)
                    } else {
                        math::float_binary(b, *binary, ty(arg_dtypes[0]), x, y).ok_or_else(unsupported)?
                    }
                }
                DType::I64 => {
                    if let Some(cc) = int_cc(*binary) {
                        b.ins().icmp(cc, x, y)
                    } else {
                        match binary {
                            BinaryOp::Add => b.ins().iadd(x, y),
                            BinaryOp::Sub => b.ins().isub(x, y),
                            BinaryOp::Mul => b.ins().imul(x, y),
                            BinaryOp::Max => b.ins().smax(x, y),
                            BinaryOp::Min => b.ins().smin(x, y),
                            _ => return Err(unsupported()),
                        }
                    }
                }
                DType::Bool => match binary {
                    BinaryOp::And => b.ins().band(x, y),
                    BinaryOp::Or => b.ins().bor(x, y),
                    BinaryOp::Eq => match width {
                        Width::Scalar => b.ins().icmp(IntCC::Equal, x, y),
                        Width::Vector => {
                            let differ = b.ins().bxor(x, y);
                            b.ins().bnot(differ)
                        }
                    },
                    BinaryOp::Ne => match width {
                        Width::Scalar => b.ins().icmp(IntCC::NotEqual, x, y),
                        Width::Vector => b.ins().bxor(x, y),
                    },
                    _ => return Err(unsupported()),
                },
            }
        }
        Op::Where => {
            let (cond, x, y) = (args[0], args[1], args[2]);
            match width {
                Width::Scalar => b.ins().select(cond, x, y),
                Width::Vector => {
                    let target = ty(out);
                    let mask = if target == ty(DType::Bool) { cond } else { b.ins().bitcast(target, lanes(), cond) };
                    b.ins().bitselect(mask, x, y)
                }
            }
        }
        Op::Cast { dtype } => cast(b, args[0], arg_dtypes[0], *dtype, width, float)?,
        _ => return Err(unsupported()),
    })
}

fn float_cc(op: BinaryOp) -> Option<FloatCC> {
    Some(match op {
        BinaryOp::Eq => FloatCC::Equal,
        BinaryOp::Ne => FloatCC::NotEqual,
        BinaryOp::Lt => FloatCC::LessThan,
        BinaryOp::Le => FloatCC::LessThanOrEqual,
        BinaryOp::Gt => FloatCC::GreaterThan,
        BinaryOp::Ge => FloatCC::GreaterThanOrEqual,
        _ => return None,
    })
}

fn int_cc(op: BinaryOp) -> Option<IntCC> {
    Some(match op {
        BinaryOp::Eq => IntCC::Equal,
        BinaryOp::Ne => IntCC::NotEqual,
        BinaryOp::Lt => IntCC::SignedLessThan,
        BinaryOp::Le => IntCC::SignedLessThanOrEqual,
        BinaryOp::Gt => IntCC::SignedGreaterThan,
        BinaryOp::Ge => IntCC::SignedGreaterThanOrEqual,
        _ => return None,
    })
}

/// i64 unary ops, wrapping like the interpreter.
fn int_unary(b: &mut FunctionBuilder, op: UnaryOp, x: Value) -> Option<Value> {
    let zero = b.ins().iconst(types::I64, 0);
    Some(match op {
        UnaryOp::Neg => b.ins().ineg(x),
        UnaryOp::Abs => {
            let negated = b.ins().ineg(x);
            b.ins().smax(x, negated)
        }
        UnaryOp::Relu => b.ins().smax(x, zero),
        UnaryOp::Sign => {
            let positive = b.ins().icmp(IntCC::SignedGreaterThan, x, zero);
            let negative = b.ins().icmp(IntCC::SignedLessThan, x, zero);
            let positive = b.ins().uextend(types::I64, positive);
            let negative = b.ins().uextend(types::I64, negative);
            b.ins().isub(positive, negative)
        }
        UnaryOp::Square => b.ins().imul(x, x),
        _ => return None,
    })
}

/// `cast` with Rust's `as` semantics (what the interpreter does): floats to
/// i64 saturate, NaN to 0; nonzero is true; bool is 0 or 1.
fn cast(
    b: &mut FunctionBuilder,
    x: Value,
    from: DType,
    to: DType,
    width: Width,
    float: DType,
) -> Result<Value, String> {
    if from == to {
        return Ok(x);
    }
    if width == Width::Vector {
        // Only within the lanes of the kernel's float type.
        return match (from, to) {
            (f, DType::Bool) if f.is_float() => {
                let zero = constant(b, cl_type(f, width, float), 0.0);
                Ok(b.ins().fcmp(FloatCC::NotEqual, x, zero))
            }
            (DType::Bool, f) if f.is_float() => {
                let target = cl_type(f, width, float);
                let one = constant(b, target, 1.0);
                let mask = b.ins().bitcast(target, lanes(), x);
                Ok(b.ins().band(mask, one))
            }
            _ => Err(format!("no vector cast from {from} to {to}")),
        };
    }
    let ins = b.ins();
    Ok(match (from, to) {
        (DType::F32, DType::F64) => ins.fpromote(types::F64, x),
        (DType::F64, DType::F32) => ins.fdemote(types::F32, x),
        (DType::F32 | DType::F64, DType::I64) => ins.fcvt_to_sint_sat(types::I64, x),
        (DType::I64, DType::F32) => ins.fcvt_from_sint(types::F32, x),
        (DType::I64, DType::F64) => ins.fcvt_from_sint(types::F64, x),
        (DType::F32, DType::Bool) => {
            let zero = b.ins().f32const(0.0);
            b.ins().fcmp(FloatCC::NotEqual, x, zero)
        }
        (DType::F64, DType::Bool) => {
            let zero = b.ins().f64const(0.0);
            b.ins().fcmp(FloatCC::NotEqual, x, zero)
        }
        (DType::I64, DType::Bool) => ins.icmp_imm_s(IntCC::NotEqual, x, 0),
        (DType::Bool, DType::I64) => ins.uextend(types::I64, x),
        (DType::Bool, DType::F32) => {
            let wide = ins.uextend(types::I32, x);
            b.ins().fcvt_from_sint(types::F32, wide)
        }
        (DType::Bool, DType::F64) => {
            let wide = ins.uextend(types::I32, x);
            b.ins().fcvt_from_sint(types::F64, wide)
        }
        _ => return Err(format!("no cast from {from} to {to}")),
    })
}

/// The vector kernel of `body`: every operand read with `classes`, the
/// result written contiguously at `ptrs[operands]`.
pub(crate) fn vector_kernel(
    b: &mut FunctionBuilder,
    body: &Body,
    classes: &[Class],
    [len, ptrs, _strides]: [Value; 3],
) -> Result<(), String> {
    let float = body.vector_float().ok_or("internal error: not a vector body")?;
    let n = body.operands.len();
    let lanes_per = lane_count(float);
    let bytes = size_of(float);
    let bases: Vec<Value> = (0..=n).map(|k| codegen::load_word(b, ptrs, k)).collect();
    // Broadcast operands are loaded once, as scalars and as vectors.
    let mut scalar_constants = vec![None; n];
    let mut vector_constants = vec![None; n];
    for k in 0..n {
        if classes[k] == Class::Constant {
            let scalar = codegen::load(b, body.operands[k], Width::Scalar, float, bases[k]);
            scalar_constants[k] = Some(scalar);
            vector_constants[k] = Some(b.ins().splat(cl_type(float, Width::Vector, float), scalar));
        }
    }
    let unroll: i64 = if body.nodes.len() <= 6 { 4 } else { 2 };
    let zero = b.ins().iconst(types::I64, 0);
    let step = |b: &mut FunctionBuilder, i: Value, width: Width, count: i64| -> Result<(), String> {
        // One address per operand; the unrolled copies use immediate offsets.
        let addrs: Vec<Option<Value>> = (0..=n)
            .map(|k| (k == n || classes[k] == Class::Contiguous).then(|| codegen::address(b, bases[k], i, bytes)))
            .collect();
        let lanes_here = if width == Width::Vector { lanes_per } else { 1 };
        for u in 0..count {
            let offset = (u * lanes_here * bytes) as i32;
            let mut values = Vec::with_capacity(n);
            for k in 0..n {
                let value = match (classes[k], width, addrs[k]) {
                    (Class::Constant, Width::Vector, _) => vector_constants[k].unwrap_or(zero),
                    (Class::Constant, Width::Scalar, _) => scalar_constants[k].unwrap_or(zero),
                    (Class::Contiguous, _, Some(addr)) => {
                        b.ins().load(cl_type(float, width, float), codegen::mem(), addr, offset)
                    }
                    (Class::Contiguous, _, None) => zero,
                };
                values.push(value);
            }
            let result = emit_body(b, body, width, float, &values)?;
            if let Some(addr) = addrs[n] {
                b.ins().store(codegen::mem(), result, addr, offset);
            }
        }
        Ok(())
    };
    let after_unrolled =
        codegen::counted_loop(b, zero, len, lanes_per * unroll, &mut |b, i| step(b, i, Width::Vector, unroll))?;
    let after_vector =
        codegen::counted_loop(b, after_unrolled, len, lanes_per, &mut |b, i| step(b, i, Width::Vector, 1))?;
    codegen::counted_loop(b, after_vector, len, 1, &mut |b, i| step(b, i, Width::Scalar, 1))?;
    codegen::ret(b);
    Ok(())
}

/// The strided kernel of `body`: operand `k` is read at `ptrs[k] + i *
/// strides[k]` (in elements), the result written likewise.
pub(crate) fn strided_kernel(
    b: &mut FunctionBuilder,
    body: &Body,
    [len, ptrs, strides]: [Value; 3],
) -> Result<(), String> {
    let n = body.operands.len();
    let result = body.result();
    let dtypes: Vec<DType> = body.operands.iter().copied().chain([result]).collect();
    let bases: Vec<Value> = (0..=n).map(|k| codegen::load_word(b, ptrs, k)).collect();
    let steps: Vec<Value> = (0..=n)
        .map(|k| {
            let stride = codegen::load_word(b, strides, k);
            b.ins().imul_imm_s(stride, size_of(dtypes[k]))
        })
        .collect();
    let zero = b.ins().iconst(types::I64, 0);
    codegen::counted_loop(b, zero, len, 1, &mut |b, i| {
        let mut values = Vec::with_capacity(n);
        for k in 0..n {
            let offset = b.ins().imul(i, steps[k]);
            let addr = b.ins().iadd(bases[k], offset);
            values.push(codegen::load(b, dtypes[k], Width::Scalar, DType::F32, addr));
        }
        let value = emit_body(b, body, Width::Scalar, DType::F32, &values)?;
        let offset = b.ins().imul(i, steps[n]);
        let addr = b.ins().iadd(bases[n], offset);
        codegen::store(b, value, addr);
        Ok(())
    })?;
    codegen::ret(b);
    Ok(())
}

/// Elements per tile of a tiled kernel (a tile buffer is 2 KiB of f32).
const TILE: i64 = 512;

/// The block function of a node of an f32 body that runs wide (see
/// `wide.rs`), if it is one.
fn wide_fn(body: &Body, node: &KernelNode) -> Option<crate::wide::BlockFn> {
    match node.op {
        Op::Unary(op) if body.vector_float() == Some(DType::F32) => crate::wide::block_fn(op),
        _ => None,
    }
}

/// Whether `body` is compiled in tiles: an f32 vector body with at least
/// one function that runs wide on this CPU.
pub(crate) fn tiled(body: &Body) -> bool {
    body.nodes.iter().any(|node| wide_fn(body, node).is_some())
}

/// The tiled kernel of `body` (classes as for [`vector_kernel`]): for each
/// tile of the row, stage after stage, a JIT-ed 128-bit loop computes the
/// cheap ops and stores the inputs of the wide functions (and any value a
/// later stage reads) into tile buffers on the stack; the wide functions
/// then run over those buffers in place (`wide.rs`).
pub(crate) fn tiled_kernel(
    b: &mut FunctionBuilder,
    body: &Body,
    classes: &[Class],
    [len, ptrs, _strides]: [Value; 3],
) -> Result<(), String> {
    use cranelift_codegen::ir::{AbiParam, Signature, StackSlotData, StackSlotKind};
    let float = DType::F32;
    let n = body.operands.len();
    let count = body.nodes.len();
    let wide: Vec<Option<crate::wide::BlockFn>> = body.nodes.iter().map(|node| wide_fn(body, node)).collect();
    // stage[k]: the stage computing node k (for a wide node: the stage that
    // stores its input); ready[k]: the first stage that can read its value.
    let mut stage = vec![0usize; count];
    let mut ready = vec![0usize; count];
    for (k, node) in body.nodes.iter().enumerate() {
        let s = node
            .args
            .iter()
            .map(|arg| match *arg {
                KernelArg::Operand(_) => 0,
                KernelArg::Node(j) => ready[j],
            })
            .max()
            .unwrap_or(0);
        stage[k] = s;
        ready[k] = if wide[k].is_some() { s + 1 } else { s };
    }
    let last = count - 1;
    // A cheap node moves to the latest stage its readers allow, so that
    // values not needed before a wide function (a scaled operand added
    // after an `exp`, say) are not stored to a tile and read back.
    for k in (0..last).rev() {
        if wide[k].is_some() {
            continue;
        }
        let latest = body
            .nodes
            .iter()
            .enumerate()
            .skip(k + 1)
            .filter(|(_, node)| node.args.contains(&KernelArg::Node(k)))
            .map(|(u, _)| stage[u])
            .min();
        if let Some(latest) = latest {
            stage[k] = stage[k].max(latest);
            ready[k] = stage[k];
        }
    }
    let stages = ready[last] + 1;
    // Which nodes live in a tile buffer: wide nodes, and values read in a
    // later stage than the one computing them.
    let mut buffered = vec![false; count];
    for (k, node) in body.nodes.iter().enumerate() {
        if wide[k].is_some() {
            buffered[k] = true;
        }
        for arg in &node.args {
            if let KernelArg::Node(j) = *arg
                && wide[k].is_none()
                && ready[j] < stage[k]
            {
                buffered[j] = true;
            }
        }
    }
    if ready[last] > stage[last] || stage[last] + 1 < stages {
        buffered[last] = true;
    }
    let mut offsets = vec![None; count];
    let mut slots = 0i64;
    for k in 0..count {
        if buffered[k] {
            offsets[k] = Some(slots * TILE * 4);
            slots += 1;
        }
    }
    let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, (slots * TILE * 4) as u32, 6));
    let tiles = b.ins().stack_addr(types::I64, slot, 0);
    let mut signature = Signature::new(b.func.signature.call_conv);
    signature.params.push(AbiParam::new(types::I64));
    signature.params.push(AbiParam::new(types::I64));
    let signature = b.import_signature(signature);

    let bases: Vec<Value> = (0..=n).map(|k| codegen::load_word(b, ptrs, k)).collect();
    let mut constants = vec![None; n];
    for k in 0..n {
        if classes[k] == Class::Constant {
            let scalar = codegen::load(b, float, Width::Scalar, float, bases[k]);
            let vector = b.ins().splat(cl_type(float, Width::Vector, float), scalar);
            constants[k] = Some((scalar, vector));
        }
    }
    let dtypes = body.dtypes();
    let ty4 = cl_type(float, Width::Vector, float);
    // One tile of `length` elements from element `start`.
    let tile = |b: &mut FunctionBuilder, start: Value, length: Value| -> Result<(), String> {
        for s in 0..stages {
            let pass = |b: &mut FunctionBuilder, i: Value, width: Width| -> Result<(), String> {
                let ty = if width == Width::Vector { ty4 } else { types::F32 };
                let index = b.ins().iadd(start, i);
                let mut values: Vec<Option<Value>> = vec![None; count];
                let read = |b: &mut FunctionBuilder, values: &[Option<Value>], arg: KernelArg| match arg {
                    KernelArg::Operand(k) => match (classes[k], constants[k]) {
                        (Class::Constant, Some((scalar, vector))) => {
                            if width == Width::Vector {
                                vector
                            } else {
                                scalar
                            }
                        }
                        _ => {
                            let addr = codegen::address(b, bases[k], index, 4);
                            b.ins().load(ty, codegen::mem(), addr, 0)
                        }
                    },
                    KernelArg::Node(j) => match (values[j], offsets[j]) {
                        (Some(value), _) => value,
                        (None, offset) => {
                            let base = b.ins().iadd_imm_s(tiles, offset.unwrap_or(0));
                            let addr = codegen::address(b, base, i, 4);
                            // A bool lives in a tile as a 32-bit lane mask.
                            match (dtypes[j], width) {
                                (DType::Bool, Width::Vector) => b.ins().load(types::I32X4, codegen::mem(), addr, 0),
                                (DType::Bool, Width::Scalar) => {
                                    let mask = b.ins().load(types::I32, codegen::mem(), addr, 0);
                                    b.ins().icmp_imm_s(IntCC::NotEqual, mask, 0)
                                }
                                _ => b.ins().load(ty, codegen::mem(), addr, 0),
                            }
                        }
                    },
                };
                let store_tile = |b: &mut FunctionBuilder, k: usize, value: Value| {
                    let base = b.ins().iadd_imm_s(tiles, offsets[k].unwrap_or(0));
                    let addr = codegen::address(b, base, i, 4);
                    let value = if dtypes[k] == DType::Bool && width == Width::Scalar {
                        let wide = b.ins().uextend(types::I32, value);
                        b.ins().ineg(wide)
                    } else {
                        value
                    };
                    b.ins().store(codegen::mem(), value, addr, 0);
                };
                for (k, node) in body.nodes.iter().enumerate() {
                    if stage[k] != s {
                        continue;
                    }
                    if wide[k].is_some() {
                        let input = read(b, &values, node.args[0]);
                        store_tile(b, k, input);
                        continue;
                    }
                    let args: Vec<Value> = node.args.iter().map(|&arg| read(b, &values, arg)).collect();
                    let arg_dtypes: Vec<DType> = node
                        .args
                        .iter()
                        .map(|arg| match *arg {
                            KernelArg::Operand(j) => body.operands[j],
                            KernelArg::Node(j) => dtypes[j],
                        })
                        .collect();
                    let value = emit_op(b, &node.op, &args, &arg_dtypes, dtypes[k], width, float)?;
                    values[k] = Some(value);
                    if buffered[k] && k != last {
                        store_tile(b, k, value);
                    }
                }
                if s + 1 == stages {
                    let result = read(b, &values, KernelArg::Node(last));
                    let addr = codegen::address(b, bases[n], index, 4);
                    b.ins().store(codegen::mem(), result, addr, 0);
                }
                Ok(())
            };
            let zero = b.ins().iconst(types::I64, 0);
            let rest = codegen::counted_loop(b, zero, length, 4, &mut |b, i| pass(b, i, Width::Vector))?;
            codegen::counted_loop(b, rest, length, 1, &mut |b, i| pass(b, i, Width::Scalar))?;
            // The wide functions whose inputs this stage stored.
            for k in (0..count).filter(|&k| stage[k] == s) {
                if let Some(f) = wide[k] {
                    let buffer = b.ins().iadd_imm_s(tiles, offsets[k].unwrap_or(0));
                    let callee = b.ins().iconst(types::I64, f as usize as i64);
                    b.ins().call_indirect(signature, callee, &[buffer, length]);
                }
            }
        }
        Ok(())
    };
    let zero = b.ins().iconst(types::I64, 0);
    let tile_len = b.ins().iconst(types::I64, TILE);
    let rest = codegen::counted_loop(b, zero, len, TILE, &mut |b, start| tile(b, start, tile_len))?;
    // The last, partial tile.
    let remaining = b.ins().isub(len, rest);
    tile(b, rest, remaining)?;
    codegen::ret(b);
    Ok(())
}
