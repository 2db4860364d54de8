//! The Cranelift side: one JIT module per compiled function, and the small
//! vocabulary every kernel generator shares (the kernel signature, loads and
//! stores, counted loops, the Cranelift type of a tx element type).
//!
//! Every kernel has the same signature, `fn(len: i64, ptrs: *const *mut u8,
//! strides: *const i64)`: `len` elements along the innermost loop, one base
//! pointer per operand and then the output, and each one's stride in
//! elements (used only by the kernels that do not know their strides at
//! compile time). The loop nest around the innermost loop runs in Rust
//! (`runtime.rs`), after the shapes have been coalesced so that the
//! innermost loop is as long as it can be.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Type, Value, types};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, ir::Endianness};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module};
use tx_ir::DType;

/// The signature of every kernel (see the module documentation).
pub(crate) type KernelFn = unsafe extern "C" fn(len: i64, ptrs: *const *mut u8, strides: *const i64);

/// A JIT module and the contexts reused to build its functions.
pub(crate) struct Jit {
    module: JITModule,
    isa: OwnedTargetIsa,
    ctx: Context,
    fctx: FunctionBuilderContext,
    /// Kept Cranelift IR text of each kernel, for `--emit clif`.
    pub(crate) clif: Option<Vec<(String, String)>>,
    pending: Vec<FuncId>,
    count: usize,
}

impl Jit {
    pub(crate) fn new(keep_clif: bool) -> Result<Jit, String> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, name: &str, value: &str| {
            flags.set(name, value).map_err(|e| format!("cranelift setting {name}={value}: {e}"))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "is_pic", "false")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        let isa = cranelift_native::builder()
            .map_err(|e| format!("this machine is not supported by Cranelift: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("cranelift: {e}"))?;
        let builder = JITBuilder::with_isa(isa.clone(), cranelift_module::default_libcall_names());
        let module = JITModule::new(builder);
        let ctx = module.make_context();
        Ok(Jit {
            module,
            isa,
            ctx,
            fctx: FunctionBuilderContext::new(),
            clif: keep_clif.then(Vec::new),
            pending: Vec::new(),
            count: 0,
        })
    }

    /// Builds one kernel with the common signature; `build` emits its body
    /// given the entry block's parameters `(len, ptrs, strides)` and must
    /// end every block it creates. The kernel is usable after [`Jit::finish`].
    pub(crate) fn define(
        &mut self,
        label: &str,
        build: impl FnOnce(&mut FunctionBuilder, [Value; 3]) -> Result<(), String>,
    ) -> Result<FuncId, String> {
        self.module.clear_context(&mut self.ctx);
        for _ in 0..3 {
            self.ctx.func.signature.params.push(AbiParam::new(types::I64));
        }
        let name = format!("k{}_{label}", self.count);
        self.count += 1;
        let id = self
            .module
            .declare_function(&name, Linkage::Local, &self.ctx.func.signature)
            .map_err(|e| format!("cranelift: {e}"))?;
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let params = b.block_params(entry);
            let params = [params[0], params[1], params[2]];
            build(&mut b, params)?;
            b.seal_all_blocks();
            b.finalize(self.isa.frontend_config());
        }
        if let Some(clif) = &mut self.clif {
            clif.push((name.clone(), self.ctx.func.display().to_string()));
        }
        self.ctx.set_disasm(std::env::var_os("TX_JIT_DISASM").is_some());
        self.module
            .define_function(id, &mut self.ctx)
            .map_err(|e| format!("cranelift could not compile kernel {name}: {e:?}"))?;
        if let Some(disasm) = self.ctx.compiled_code().and_then(|code| code.vcode.clone())
            && let Some(clif) = &mut self.clif
        {
            clif.push((format!("{name} (machine code)"), disasm));
        }
        self.module.clear_context(&mut self.ctx);
        self.pending.push(id);
        Ok(id)
    }

    /// Makes every kernel defined so far callable and returns their entry
    /// points in definition order.
    pub(crate) fn finish(&mut self) -> Result<Vec<KernelFn>, String> {
        self.module.finalize_definitions().map_err(|e| format!("cranelift: {e}"))?;
        Ok(self
            .pending
            .drain(..)
            .map(|id| {
                let code = self.module.get_finalized_function(id);
                // SAFETY: the function was declared with `KernelFn`'s
                // signature in `define` (three i64 parameters, no results,
                // the platform's default C calling convention).
                unsafe { std::mem::transmute::<*const u8, KernelFn>(code) }
            })
            .collect())
    }
}

/// Flags for every kernel memory access: in bounds by construction (the
/// runtime checks shapes before calling), not necessarily aligned.
pub(crate) fn mem() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Flags for a bit-level reinterpretation of a vector.
pub(crate) fn lanes() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// How a kernel computes: one element at a time, or `lanes` at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Width {
    Scalar,
    Vector,
}

/// The Cranelift type holding a value of `dtype` in `width`; a bool is an
/// `i8` (0 or 1) as a scalar, and a lane mask as wide as the kernel's float
/// lanes in a vector (`float` is the kernel's float type).
pub(crate) fn cl_type(dtype: DType, width: Width, float: DType) -> Type {
    match (width, dtype) {
        (Width::Scalar, DType::F32) => types::F32,
        (Width::Scalar, DType::F64) => types::F64,
        (Width::Scalar, DType::I64) => types::I64,
        (Width::Scalar, DType::Bool) => types::I8,
        (Width::Vector, DType::F32) => types::F32X4,
        (Width::Vector, DType::F64) => types::F64X2,
        (Width::Vector, DType::I64) => types::I64X2,
        (Width::Vector, DType::Bool) => match float {
            DType::F32 => types::I32X4,
            _ => types::I64X2,
        },
    }
}

/// Bytes per element in memory.
pub(crate) fn size_of(dtype: DType) -> i64 {
    match dtype {
        DType::F32 => 4,
        DType::F64 | DType::I64 => 8,
        DType::Bool => 1,
    }
}

/// Lanes of a vector of `float`.
pub(crate) fn lane_count(float: DType) -> i64 {
    match float {
        DType::F32 => 4,
        _ => 2,
    }
}

/// The scalar type's constant `value`, splat to `ty` when it is a vector.
pub(crate) fn constant(b: &mut FunctionBuilder, ty: Type, value: f64) -> Value {
    let lane = ty.lane_type();
    let scalar = match lane {
        types::F32 => b.ins().f32const(value as f32),
        types::F64 => b.ins().f64const(value),
        _ => b.ins().iconst(lane, value as i64),
    };
    if ty.is_vector() { b.ins().splat(ty, scalar) } else { scalar }
}

/// The `k`-th entry of an array of i64 (pointers or strides).
pub(crate) fn load_word(b: &mut FunctionBuilder, array: Value, k: usize) -> Value {
    b.ins().load(types::I64, mem(), array, (8 * k) as i32)
}

/// Loads one element (or one vector) of `dtype` at `addr`.
pub(crate) fn load(b: &mut FunctionBuilder, dtype: DType, width: Width, float: DType, addr: Value) -> Value {
    let ty = cl_type(dtype, width, float);
    b.ins().load(ty, mem(), addr, 0)
}

/// Stores `value` (of `dtype`) at `addr`.
pub(crate) fn store(b: &mut FunctionBuilder, value: Value, addr: Value) {
    b.ins().store(mem(), value, addr, 0);
}

/// `base + index * bytes`.
pub(crate) fn address(b: &mut FunctionBuilder, base: Value, index: Value, bytes: i64) -> Value {
    let offset = if bytes == 1 {
        index
    } else if bytes.count_ones() == 1 {
        b.ins().ishl_imm_u(index, i64::from(bytes.trailing_zeros()))
    } else {
        b.ins().imul_imm_s(index, bytes)
    };
    b.ins().iadd(base, offset)
}

/// A counted loop `for i in (start..end).step_by(step)` whose body may run
/// only while `i + step <= end`; returns the value of `i` after the loop.
/// `body` gets the current `i` and must not switch blocks without coming
/// back to one it leaves open.
pub(crate) fn counted_loop(
    b: &mut FunctionBuilder,
    start: Value,
    end: Value,
    step: i64,
    body: &mut dyn FnMut(&mut FunctionBuilder, Value) -> Result<(), String>,
) -> Result<Value, String> {
    let header = b.create_block();
    let body_block = b.create_block();
    let exit = b.create_block();
    b.append_block_param(header, types::I64);
    b.append_block_param(exit, types::I64);
    b.ins().jump(header, &[start.into()]);

    b.switch_to_block(header);
    let i = b.block_params(header)[0];
    let next = b.ins().iadd_imm_s(i, step);
    let fits = b.ins().icmp(IntCC::SignedLessThanOrEqual, next, end);
    b.ins().brif(fits, body_block, &[], exit, &[i.into()]);

    b.switch_to_block(body_block);
    body(b, i)?;
    b.ins().jump(header, &[next.into()]);

    b.switch_to_block(exit);
    Ok(b.block_params(exit)[0])
}

/// `value`, computed here once: Cranelift's e-graph places pure values at
/// their uses, and a per-row scalar (a row's maximum, the log of its sum)
/// used in a later loop was recomputed at every iteration. A round trip
/// through a stack slot is not pure, so it stays where it is.
pub(crate) fn pin(b: &mut FunctionBuilder, value: Value) -> Value {
    let ty = b.func.dfg.value_type(value);
    let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, ty.bytes(), 4));
    b.ins().stack_store(types::I64, value, slot, 0);
    b.ins().stack_load(types::I64, ty, slot, 0)
}

/// Ends the current block with a return.
pub(crate) fn ret(b: &mut FunctionBuilder) {
    b.ins().return_(&[]);
}
