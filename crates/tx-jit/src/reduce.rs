//! Row kernels: one call reduces (or normalizes) one row of `len` elements
//! along the innermost axes, after an elementwise prologue (the body of a
//! fused reduce kernel). `sum`, `mean`, `max`, `min` and `logsumexp` write
//! one element at `ptrs[operands]`; softmax and log-softmax write the whole
//! row there.
//!
//! Reductions over outer axes do not come here: they are elementwise
//! accumulations (`out = out + x[r]` for each reduced index `r`), built in
//! `plan.rs` from the elementwise kernels.
//!
//! The vector variant keeps four vector accumulators (so that the adds do
//! not wait on each other) and folds them, then the lanes, then a scalar
//! tail. Floats accumulate in their own type.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Type, Value, types};
use cranelift_frontend::FunctionBuilder;
use tx_ir::{BinaryOp, DType, ReduceOp};

use crate::codegen::{self, Width, cl_type, constant, lane_count, size_of};
use crate::elementwise::{Body, Class, emit_body};
use crate::math;

/// What a row kernel computes from the prologue's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RowOp {
    Reduce(ReduceOp),
    Softmax,
    LogSoftmax,
}

/// How the prologue's operands are read: in vectors (each operand
/// contiguous or constant along the row), or one element at a time at the
/// strides the runtime passes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Access {
    Vector(Vec<Class>),
    Strided,
}

/// Reads the prologue's value at element `i`.
struct Reader<'a> {
    body: &'a Body,
    float: DType,
    access: &'a Access,
    bases: Vec<Value>,
    steps: Vec<Value>,
    constants: Vec<Option<(Value, Value)>>,
}

impl Reader<'_> {
    fn value(&self, b: &mut FunctionBuilder, i: Value, width: Width) -> Result<Value, String> {
        self.value_at(b, i, 0, width)
    }

    /// The value at element `i + extra` (`extra` a constant: an immediate
    /// offset of the contiguous loads, so unrolled copies share addresses).
    fn value_at(&self, b: &mut FunctionBuilder, i: Value, extra: i64, width: Width) -> Result<Value, String> {
        let n = self.body.operands.len();
        let bytes = size_of(self.float);
        let mut values = Vec::with_capacity(n);
        for k in 0..n {
            let value = match self.access {
                Access::Vector(classes) => match (classes[k], self.constants[k]) {
                    (Class::Constant, Some((scalar, vector))) => {
                        if width == Width::Vector {
                            vector
                        } else {
                            scalar
                        }
                    }
                    _ => {
                        let addr = codegen::address(b, self.bases[k], i, bytes);
                        let ty = cl_type(self.float, width, self.float);
                        b.ins().load(ty, codegen::mem(), addr, (extra * bytes) as i32)
                    }
                },
                Access::Strided => {
                    let index = if extra == 0 { i } else { b.ins().iadd_imm_s(i, extra) };
                    let offset = b.ins().imul(index, self.steps[k]);
                    let addr = b.ins().iadd(self.bases[k], offset);
                    codegen::load(b, self.body.operands[k], Width::Scalar, self.float, addr)
                }
            };
            values.push(value);
        }
        emit_body(b, self.body, width, self.float, &values)
    }

    fn vectors(&self) -> bool {
        matches!(self.access, Access::Vector(_))
    }

    /// The row's first element, when the row is one contiguous f32 operand
    /// read as it is: the wide row functions can take it.
    fn plain_f32_row(&self) -> Option<Value> {
        let plain = self.float == DType::F32
            && self.body.operands == [DType::F32]
            && *self.access == Access::Vector(vec![Class::Contiguous])
            && matches!(&self.body.nodes[..], [node] if node.op == tx_ir::Op::StopGradient
                && node.args == [tx_ir::KernelArg::Operand(0)]);
        plain.then(|| self.bases[0])
    }
}

/// Calls a wide row function at `callee` with `args`; returns its f32.
fn call_row_fn(b: &mut FunctionBuilder, callee: usize, params: &[Type], args: &[Value]) -> Value {
    use cranelift_codegen::ir::{AbiParam, Signature};
    let mut signature = Signature::new(b.func.signature.call_conv);
    signature.params.extend(params.iter().map(|&t| AbiParam::new(t)));
    signature.returns.push(AbiParam::new(types::F32));
    let signature = b.import_signature(signature);
    let callee = b.ins().iconst(types::I64, callee as i64);
    let call = b.ins().call_indirect(signature, callee, args);
    b.inst_results(call)[0]
}

/// Emits a row kernel.
pub(crate) fn row_kernel(
    b: &mut FunctionBuilder,
    body: &Body,
    op: RowOp,
    access: &Access,
    [len, ptrs, strides]: [Value; 3],
) -> Result<(), String> {
    let float = body.result();
    if !float.is_float() {
        return Err(format!("the JIT's row kernels take floats, not {float}"));
    }
    let n = body.operands.len();
    let bases: Vec<Value> = (0..=n).map(|k| codegen::load_word(b, ptrs, k)).collect();
    let mut steps = Vec::new();
    let mut constants = vec![None; n];
    match access {
        Access::Strided => {
            for k in 0..=n {
                let dtype = if k < n { body.operands[k] } else { float };
                let stride = codegen::load_word(b, strides, k);
                steps.push(b.ins().imul_imm_s(stride, size_of(dtype)));
            }
        }
        Access::Vector(classes) => {
            for k in 0..n {
                if classes[k] == Class::Constant {
                    let scalar = codegen::load(b, float, Width::Scalar, float, bases[k]);
                    let vector = b.ins().splat(cl_type(float, Width::Vector, float), scalar);
                    constants[k] = Some((scalar, vector));
                }
            }
        }
    }
    let reader = Reader { body, float, access, bases: bases.clone(), steps: steps.clone(), constants };
    let out = bases[n];
    let scalar_ty = cl_type(float, Width::Scalar, float);

    match op {
        RowOp::Reduce(reduce) => {
            let result = match reduce {
                ReduceOp::Sum => fold(b, &reader, len, Combine::Add, None)?,
                ReduceOp::Mean => {
                    let sum = fold(b, &reader, len, Combine::Add, None)?;
                    let count = b.ins().fcvt_from_sint(scalar_ty, len);
                    b.ins().fdiv(sum, count)
                }
                ReduceOp::Max => fold(b, &reader, len, Combine::Max, None)?,
                ReduceOp::Min => fold(b, &reader, len, Combine::Min, None)?,
                ReduceOp::LogSumExp => {
                    let max = fold(b, &reader, len, Combine::Max, None)?;
                    let (finite, shift) = finite_or_zero(b, scalar_ty, max);
                    let shift = codegen::pin(b, shift);
                    let sum = exp_sum(b, &reader, len, Shift { by: shift, store: None })?;
                    let log = math::log(b, scalar_ty, sum);
                    let lse = b.ins().fadd(shift, log);
                    b.ins().select(finite, lse, max)
                }
            };
            codegen::store(b, result, out);
        }
        RowOp::Softmax | RowOp::LogSoftmax => {
            let max = fold(b, &reader, len, Combine::Max, None)?;
            let store = (op == RowOp::Softmax).then(|| (out, steps.get(n).copied()));
            let sum = exp_sum(b, &reader, len, Shift { by: max, store })?;
            let bytes = size_of(float);
            let vectors = reader.vectors();
            let zero = b.ins().iconst(types::I64, 0);
            let out_step = steps.get(n).copied();
            let address = |b: &mut FunctionBuilder, i: Value| match out_step {
                Some(step) => {
                    let offset = b.ins().imul(i, step);
                    b.ins().iadd(out, offset)
                }
                None => codegen::address(b, out, i, bytes),
            };
            if op == RowOp::Softmax {
                // out = e / sum, as a multiplication by 1/sum.
                let unit = constant(b, scalar_ty, 1.0);
                let one = b.ins().fdiv(unit, sum);
                let one = codegen::pin(b, one);
                let scale = |b: &mut FunctionBuilder, i: Value, width: Width| {
                    let addr = address(b, i);
                    let e = codegen::load(b, float, width, float, addr);
                    let factor =
                        if width == Width::Vector { b.ins().splat(cl_type(float, width, float), one) } else { one };
                    let value = b.ins().fmul(e, factor);
                    codegen::store(b, value, addr);
                    Ok(())
                };
                let rest = if vectors {
                    codegen::counted_loop(b, zero, len, lane_count(float), &mut |b, i| scale(b, i, Width::Vector))?
                } else {
                    zero
                };
                codegen::counted_loop(b, rest, len, 1, &mut |b, i| scale(b, i, Width::Scalar))?;
            } else {
                // out = (x - max) - log(sum).
                let log = math::log(b, scalar_ty, sum);
                let log = codegen::pin(b, log);
                let write = |b: &mut FunctionBuilder, i: Value, width: Width| {
                    let x = reader.value(b, i, width)?;
                    let (m, l) = if width == Width::Vector {
                        let ty = cl_type(float, width, float);
                        (b.ins().splat(ty, max), b.ins().splat(ty, log))
                    } else {
                        (max, log)
                    };
                    let shifted = b.ins().fsub(x, m);
                    let value = b.ins().fsub(shifted, l);
                    let addr = address(b, i);
                    codegen::store(b, value, addr);
                    Ok(())
                };
                let rest = if vectors {
                    codegen::counted_loop(b, zero, len, lane_count(float), &mut |b, i| write(b, i, Width::Vector))?
                } else {
                    zero
                };
                codegen::counted_loop(b, rest, len, 1, &mut |b, i| write(b, i, Width::Scalar))?;
            }
        }
    }
    codegen::ret(b);
    Ok(())
}

/// `(finite, value or 0)`: logsumexp subtracts the maximum only when it is
/// finite (an infinite or NaN maximum is the answer itself).
fn finite_or_zero(b: &mut FunctionBuilder, ty: Type, x: Value) -> (Value, Value) {
    let magnitude = b.ins().fabs(x);
    let infinity = constant(b, ty, f64::INFINITY);
    let finite = b.ins().fcmp(FloatCC::LessThan, magnitude, infinity);
    let zero = constant(b, ty, 0.0);
    (finite, b.ins().select(finite, x, zero))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Combine {
    Add,
    Max,
    Min,
}

impl Combine {
    fn identity(self) -> f64 {
        match self {
            Combine::Add => 0.0,
            Combine::Max => f64::NEG_INFINITY,
            Combine::Min => f64::INFINITY,
        }
    }

    fn apply(self, b: &mut FunctionBuilder, ty: Type, acc: Value, x: Value) -> Value {
        match self {
            Combine::Add => b.ins().fadd(acc, x),
            // `x` first: NaN in either gives NaN.
            Combine::Max => math::float_binary(b, BinaryOp::Max, ty, x, acc).unwrap_or(x),
            Combine::Min => math::float_binary(b, BinaryOp::Min, ty, x, acc).unwrap_or(x),
        }
    }
}

/// `exp(x - by)` in place of `x`, stored at `store` (the output row, with
/// its byte step when strided) as it is computed.
struct Shift {
    by: Value,
    store: Option<(Value, Option<Value>)>,
}

/// Elements per tile when `exp` runs wide.
const TILE: i64 = 512;

/// The sum of `exp(x - shift)` over the row (stored into the output row as
/// well for softmax). For f32 rows read in vectors, `exp` runs 16 lanes wide
/// (`wide.rs`): the shifted values go to a tile buffer on the stack (or
/// straight into the output row), the wide `exp` runs over it in place, and
/// a vector loop sums it.
fn exp_sum(b: &mut FunctionBuilder, reader: &Reader, len: Value, shift: Shift) -> Result<Value, String> {
    use cranelift_codegen::ir::{AbiParam, Signature, StackSlotData, StackSlotKind};
    if let (Some(row), Some((_, sum)), None | Some((_, None))) =
        (reader.plain_f32_row(), crate::wide::row_fns(), shift.store)
    {
        // The whole row in one wide pass, stored too for softmax.
        let out = match shift.store {
            Some((out, _)) => out,
            None => b.ins().iconst(types::I64, 0),
        };
        let params = [types::I64, types::I64, types::F32, types::I64];
        let result = call_row_fn(b, sum as usize, &params, &[row, len, shift.by, out]);
        return Ok(codegen::pin(b, result));
    }
    let wide = crate::wide::block_fn(tx_ir::UnaryOp::Exp).filter(|_| {
        reader.float == DType::F32 && reader.vectors() && shift.store.is_none_or(|(_, step)| step.is_none())
    });
    let Some(wide) = wide else {
        return fold(b, reader, len, Combine::Add, Some(shift));
    };
    let mut signature = Signature::new(b.func.signature.call_conv);
    signature.params.push(AbiParam::new(types::I64));
    signature.params.push(AbiParam::new(types::I64));
    let signature = b.import_signature(signature);
    let callee = b.ins().iconst(types::I64, wide as usize as i64);
    let vector_ty = cl_type(DType::F32, Width::Vector, DType::F32);
    let by = b.ins().splat(vector_ty, shift.by);
    // x - shift for elements start..start+count, written at `dest`.
    let shifted = |b: &mut FunctionBuilder, start: Value, count: Value, dest: Value| -> Result<(), String> {
        let zero = b.ins().iconst(types::I64, 0);
        let write = |b: &mut FunctionBuilder, i: Value, width: Width| -> Result<(), String> {
            let index = b.ins().iadd(start, i);
            let x = reader.value(b, index, width)?;
            let d = if width == Width::Vector { by } else { shift.by };
            let value = b.ins().fsub(x, d);
            let addr = codegen::address(b, dest, i, 4);
            b.ins().store(codegen::mem(), value, addr, 0);
            Ok(())
        };
        let rest = codegen::counted_loop(b, zero, count, 4, &mut |b, i| write(b, i, Width::Vector))?;
        codegen::counted_loop(b, rest, count, 1, &mut |b, i| write(b, i, Width::Scalar))?;
        Ok(())
    };
    let zero = b.ins().iconst(types::I64, 0);
    match shift.store {
        Some((out, _)) => {
            // Softmax: the output row holds the exps.
            shifted(b, zero, len, out)?;
            b.ins().call_indirect(signature, callee, &[out, len]);
            sum_buffer(b, out, len)
        }
        None => {
            let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, (TILE * 4) as u32, 6));
            let tile = b.ins().stack_addr(types::I64, slot, 0);
            let total = b.declare_var(types::F32);
            let start_total = b.ins().f32const(0.0);
            b.def_var(total, start_total);
            let tile_len = b.ins().iconst(types::I64, TILE);
            let one_tile = |b: &mut FunctionBuilder, start: Value, count: Value| -> Result<(), String> {
                shifted(b, start, count, tile)?;
                b.ins().call_indirect(signature, callee, &[tile, count]);
                let part = sum_buffer(b, tile, count)?;
                let current = b.use_var(total);
                let next = b.ins().fadd(current, part);
                b.def_var(total, next);
                Ok(())
            };
            let rest = codegen::counted_loop(b, zero, len, TILE, &mut |b, start| one_tile(b, start, tile_len))?;
            let remaining = b.ins().isub(len, rest);
            one_tile(b, rest, remaining)?;
            let total = b.use_var(total);
            Ok(codegen::pin(b, total))
        }
    }
}

/// The sum of `len` f32 values at `base`: four vector accumulators, then a
/// vector loop, then a scalar tail.
fn sum_buffer(b: &mut FunctionBuilder, base: Value, len: Value) -> Result<Value, String> {
    let vector_ty = types::F32X4;
    let accs: Vec<_> = (0..4).map(|_| b.declare_var(vector_ty)).collect();
    let zero_vector = constant(b, vector_ty, 0.0);
    for &acc in &accs {
        b.def_var(acc, zero_vector);
    }
    let scalar = b.declare_var(types::F32);
    let zero_scalar = b.ins().f32const(0.0);
    b.def_var(scalar, zero_scalar);
    let zero = b.ins().iconst(types::I64, 0);
    {
        let rest = codegen::counted_loop(b, zero, len, 16, &mut |b, i| {
            let addr = codegen::address(b, base, i, 4);
            for (u, &acc) in accs.iter().enumerate() {
                let x = b.ins().load(vector_ty, codegen::mem(), addr, (u * 16) as i32);
                let current = b.use_var(acc);
                let next = b.ins().fadd(current, x);
                b.def_var(acc, next);
            }
            Ok(())
        })?;
        let rest = codegen::counted_loop(b, rest, len, 4, &mut |b, i| {
            let addr = codegen::address(b, base, i, 4);
            let x = b.ins().load(vector_ty, codegen::mem(), addr, 0);
            let current = b.use_var(accs[0]);
            let next = b.ins().fadd(current, x);
            b.def_var(accs[0], next);
            Ok(())
        })?;
        codegen::counted_loop(b, rest, len, 1, &mut |b, i| {
            let addr = codegen::address(b, base, i, 4);
            let x = b.ins().load(types::F32, codegen::mem(), addr, 0);
            let current = b.use_var(scalar);
            let next = b.ins().fadd(current, x);
            b.def_var(scalar, next);
            Ok(())
        })?;
        let mut total = b.use_var(accs[0]);
        for &acc in &accs[1..] {
            let other = b.use_var(acc);
            total = b.ins().fadd(total, other);
        }
        let mut sum = b.use_var(scalar);
        for lane in 0..4u8 {
            let x = b.ins().extractlane(total, lane);
            sum = b.ins().fadd(sum, x);
        }
        Ok(sum)
    }
}

/// Folds the prologue's values over `0..len` with `combine`; returns a
/// scalar.
fn fold(
    b: &mut FunctionBuilder,
    reader: &Reader,
    len: Value,
    combine: Combine,
    shift: Option<Shift>,
) -> Result<Value, String> {
    if combine == Combine::Max
        && shift.is_none()
        && let (Some(row), Some((max, _))) = (reader.plain_f32_row(), crate::wide::row_fns())
    {
        let result = call_row_fn(b, max as usize, &[types::I64, types::I64], &[row, len]);
        return Ok(codegen::pin(b, result));
    }
    let float = reader.float;
    let scalar_ty = cl_type(float, Width::Scalar, float);
    let vector_ty = cl_type(float, Width::Vector, float);
    let bytes = size_of(float);
    let lanes = lane_count(float);
    let shift_vector = shift.as_ref().map(|s| b.ins().splat(vector_ty, s.by));
    let element = |b: &mut FunctionBuilder, i: Value, extra: i64, width: Width| -> Result<Value, String> {
        let x = reader.value_at(b, i, extra, width)?;
        let Some(shift) = &shift else { return Ok(x) };
        let (ty, by) = match width {
            Width::Vector => (vector_ty, shift_vector.unwrap_or(shift.by)),
            Width::Scalar => (scalar_ty, shift.by),
        };
        let shifted = b.ins().fsub(x, by);
        // x - shift <= 0: the cheaper exp when the values only feed a sum
        // (its flush of results below the smallest normal number to 0 is
        // invisible there); softmax stores them, so subnormals must stay.
        let e = if shift.store.is_some() { math::exp(b, ty, shifted) } else { math::exp_nonpositive(b, ty, shifted) };
        if let Some((out, step)) = shift.store {
            match step {
                Some(step) => {
                    let index = if extra == 0 { i } else { b.ins().iadd_imm_s(i, extra) };
                    let offset = b.ins().imul(index, step);
                    let addr = b.ins().iadd(out, offset);
                    codegen::store(b, e, addr);
                }
                None => {
                    let addr = codegen::address(b, out, i, bytes);
                    b.ins().store(codegen::mem(), e, addr, (extra * bytes) as i32);
                }
            }
        }
        Ok(e)
    };

    let zero = b.ins().iconst(types::I64, 0);
    let scalar_acc = b.declare_var(scalar_ty);
    let identity = constant(b, scalar_ty, combine.identity());
    b.def_var(scalar_acc, identity);
    let mut rest = zero;
    if reader.vectors() {
        const ACCUMULATORS: usize = 4;
        let accs: Vec<_> = (0..ACCUMULATORS).map(|_| b.declare_var(vector_ty)).collect();
        let identity = constant(b, vector_ty, combine.identity());
        for &acc in &accs {
            b.def_var(acc, identity);
        }
        let unrolled = codegen::counted_loop(b, zero, len, lanes * ACCUMULATORS as i64, &mut |b, i| {
            for (u, &acc) in accs.iter().enumerate() {
                let x = element(b, i, u as i64 * lanes, Width::Vector)?;
                let current = b.use_var(acc);
                let next = combine.apply(b, vector_ty, current, x);
                b.def_var(acc, next);
            }
            Ok(())
        })?;
        rest = codegen::counted_loop(b, unrolled, len, lanes, &mut |b, i| {
            let x = element(b, i, 0, Width::Vector)?;
            let current = b.use_var(accs[0]);
            let next = combine.apply(b, vector_ty, current, x);
            b.def_var(accs[0], next);
            Ok(())
        })?;
        let mut total = b.use_var(accs[0]);
        for &acc in &accs[1..] {
            let other = b.use_var(acc);
            total = combine.apply(b, vector_ty, total, other);
        }
        let mut scalar = b.use_var(scalar_acc);
        for lane in 0..lanes {
            let x = b.ins().extractlane(total, lane as u8);
            scalar = combine.apply(b, scalar_ty, scalar, x);
        }
        b.def_var(scalar_acc, scalar);
    }
    codegen::counted_loop(b, rest, len, 1, &mut |b, i| {
        let x = element(b, i, 0, Width::Scalar)?;
        let current = b.use_var(scalar_acc);
        let next = combine.apply(b, scalar_ty, current, x);
        b.def_var(scalar_acc, next);
        Ok(())
    })?;
    let result = b.use_var(scalar_acc);
    Ok(codegen::pin(b, result))
}
