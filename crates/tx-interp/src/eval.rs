//! The evaluation loop: check and bind the given values, resolve every
//! needed node's shape, then walk the needed nodes in id order (which is a
//! topological order), computing each from its operands and dropping each
//! value after its last use. Iterative throughout: no recursion over the
//! graph.

use std::borrow::Cow;

use ndarray::{ArrayD, IxDyn};
use tx_ir::{Bindings, DType, Graph, Kernel, KernelArg, NodeId, Op, Scalar};
use tx_tensor::Tensor;

use crate::element::checked_len;
use crate::error::EvalError;
use crate::{elementwise, init, matmul, movement, reduce};

/// Evaluates the nodes `outputs` of `graph` given input values by name and
/// parameter values by name, and returns their values in the same order.
///
/// Every given input is checked against its declaration (element type, rank,
/// known sizes) before anything is computed, and its symbolic dimensions are
/// bound, consistently across inputs ([`Bindings::unify`]). Only the nodes
/// the outputs depend on are evaluated, so an input or parameter they do not
/// need may be left out; one they need is an error when missing. Values
/// given for parameters the graph does not declare are ignored (a training
/// state may hold more than one graph's parameters).
pub fn evaluate(
    graph: &Graph,
    inputs: &[(&str, &Tensor)],
    params: &[(&str, &Tensor)],
    outputs: &[NodeId],
) -> Result<Vec<Tensor>, EvalError> {
    let Call { live, given, shapes } = bind_call(graph, inputs, params, outputs)?;

    let last_use = graph.last_uses(&live, outputs);

    let mut values: Vec<Option<Cow<'_, Tensor>>> = (0..graph.len()).map(|_| None).collect();
    for (id, node) in graph.nodes().filter(|(id, _)| live[id.index()]) {
        let runtime = |message: String| EvalError::Runtime { node: id, message };
        let value = match &node.op {
            Op::Input { .. } | Op::Param { .. } => {
                Cow::Borrowed(given[id.index()].ok_or_else(|| runtime("internal error: no value was bound".into()))?)
            }
            op => {
                let operands = node
                    .inputs
                    .iter()
                    .map(|input| values[input.index()].as_deref())
                    .collect::<Option<Vec<&Tensor>>>()
                    .ok_or_else(|| runtime("internal error: an operand was dropped before its last use".into()))?;
                Cow::Owned(eval_op(op, &operands, &shapes[id.index()]).map_err(runtime)?)
            }
        };
        // The oracle checks itself: every value has the type the IR promised,
        // which is also what lets each op trust its operands' shapes.
        if value.dtype() != node.ty.dtype || value.shape() != shapes[id.index()].as_slice() {
            return Err(runtime(format!(
                "internal error: `{}` computed {} where its type is {}",
                node.op.name(),
                value.ty(),
                node.ty
            )));
        }
        values[id.index()] = Some(value);
        for input in &node.inputs {
            if last_use[input.index()] == id.index() {
                values[input.index()] = None;
            }
        }
    }

    let mut results = Vec::with_capacity(outputs.len());
    for (position, output) in outputs.iter().enumerate() {
        let slot = &mut values[output.index()];
        let repeated_later = outputs[position + 1..].contains(output);
        let value = if repeated_later { slot.clone() } else { slot.take() };
        let value = value.ok_or_else(|| EvalError::Runtime {
            node: *output,
            message: "internal error: an output has no value".to_string(),
        })?;
        results.push(value.into_owned());
    }
    Ok(results)
}

/// A call's arguments, checked and bound: which nodes the outputs need, the
/// value given for each input and parameter node, and every needed node's
/// concrete shape.
pub struct Call<'a> {
    pub live: Vec<bool>,
    pub given: Vec<Option<&'a Tensor>>,
    pub shapes: Vec<Vec<usize>>,
}

/// Checks a call's arguments exactly as [`evaluate`] does (the JIT calls
/// this too, so both reject the same arguments with the same messages) and
/// resolves the shape of every node `outputs` need.
pub fn bind_call<'a>(
    graph: &Graph,
    inputs: &[(&str, &'a Tensor)],
    params: &[(&str, &'a Tensor)],
    outputs: &[NodeId],
) -> Result<Call<'a>, EvalError> {
    if let Some(&missing) = outputs.iter().find(|id| id.index() >= graph.len()) {
        let message = format!("the graph has no node {missing} (it has {} nodes)", graph.len());
        return Err(EvalError::Runtime { node: missing, message });
    }
    let live = graph.reachable_from(outputs);
    let mut given: Vec<Option<&Tensor>> = vec![None; graph.len()];
    let bindings = bind_inputs(graph, inputs, &live, &mut given)?;
    bind_params(graph, params, &live, &mut given)?;
    let shapes = resolve_shapes(graph, &live, &bindings)?;
    Ok(Call { live, given, shapes })
}

/// Checks the given inputs against their declarations and binds their
/// symbolic dimensions. Inputs are taken in declaration order, so that
/// "already bound by an earlier input" refers to the graph's order.
fn bind_inputs<'a>(
    graph: &Graph,
    inputs: &[(&str, &'a Tensor)],
    live: &[bool],
    given: &mut [Option<&'a Tensor>],
) -> Result<Bindings, EvalError> {
    if let Some((name, _)) = inputs.iter().find(|(name, _)| graph.input_named(name).is_none()) {
        return Err(EvalError::UnknownInput { name: name.to_string() });
    }
    let mut bindings = Bindings::new();
    for &id in graph.inputs() {
        let Op::Input { name, .. } = &graph.node(id).op else {
            continue;
        };
        let ty = graph.ty(id);
        let mut matching = inputs.iter().filter(|(n, _)| n == name).map(|&(_, value)| value);
        let (value, again) = (matching.next(), matching.next());
        let mismatch = |value: &Tensor, why: String| EvalError::InputType {
            name: name.clone(),
            expected: ty.to_string(),
            got: value.ty().to_string(),
            why,
        };
        match (value, again) {
            (None, _) if live[id.index()] => {
                return Err(EvalError::MissingInput { name: name.clone() });
            }
            (None, _) => {}
            (Some(_), Some(second)) => {
                return Err(mismatch(second, "a value was given more than once".to_string()));
            }
            (Some(value), None) => {
                if value.dtype() != ty.dtype {
                    let why = format!("the element types differ ({} vs {})", ty.dtype, value.dtype());
                    return Err(mismatch(value, why));
                }
                bindings.unify(&ty.shape, value.shape()).map_err(|why| mismatch(value, why))?;
                given[id.index()] = Some(value);
            }
        }
    }
    Ok(bindings)
}

/// Checks the given parameters against their (fully known) types.
fn bind_params<'a>(
    graph: &Graph,
    params: &[(&str, &'a Tensor)],
    live: &[bool],
    given: &mut [Option<&'a Tensor>],
) -> Result<(), EvalError> {
    for info in graph.params() {
        let id = info.node;
        let ty = graph.ty(id);
        let mut matching = params.iter().filter(|(n, _)| *n == info.name).map(|&(_, value)| value);
        let (value, again) = (matching.next(), matching.next());
        let mismatch = |value: &Tensor, why: String| EvalError::ParamType {
            name: info.name.clone(),
            expected: ty.to_string(),
            got: value.ty().to_string(),
            why,
        };
        match (value, again) {
            (None, _) if live[id.index()] => {
                return Err(EvalError::MissingParam { name: info.name.clone() });
            }
            (None, _) => {}
            (Some(_), Some(second)) => {
                return Err(mismatch(second, "a value was given more than once".to_string()));
            }
            (Some(value), None) => {
                if value.dtype() != ty.dtype {
                    let why = format!("the element types differ ({} vs {})", ty.dtype, value.dtype());
                    return Err(mismatch(value, why));
                }
                if value.ty() != *ty {
                    let why = format!("the shapes differ ({} vs {})", ty.shape, value.ty().shape);
                    return Err(mismatch(value, why));
                }
                given[id.index()] = Some(value);
            }
        }
    }
    Ok(())
}

/// The concrete shape of every needed node, checked to be allocatable.
/// A symbol no input binds (say the target of a `broadcast_to`) is an error
/// here, before anything is computed.
fn resolve_shapes(graph: &Graph, live: &[bool], bindings: &Bindings) -> Result<Vec<Vec<usize>>, EvalError> {
    let mut shapes = vec![Vec::new(); graph.len()];
    for (id, node) in graph.nodes().filter(|(id, _)| live[id.index()]) {
        let runtime = |message: String| EvalError::Runtime { node: id, message };
        let shape = node
            .ty
            .shape
            .resolve(bindings)
            .map_err(|why| runtime(format!("{why}: no input of this call gives its size")))?;
        checked_len(&shape).map_err(runtime)?;
        shapes[id.index()] = shape;
    }
    Ok(shapes)
}

/// The value of one op on its operands; `shape` is the node's resolved shape
/// (what `reshape`, `broadcast_to` and the random ops produce).
pub fn eval_op(op: &Op, operands: &[&Tensor], shape: &[usize]) -> Result<Tensor, String> {
    if !op.arity().accepts(operands.len()) {
        return Err(format!("`{}` got {} operands", op.name(), operands.len()));
    }
    match op {
        Op::Input { .. } | Op::Param { .. } => {
            Err("internal error: inputs and parameters are bound, not computed".to_string())
        }
        Op::Constant { value, dtype } => constant(*value, *dtype),
        Op::Unary(unary) => elementwise::unary(*unary, operands[0]),
        Op::Binary(binary) => elementwise::binary(*binary, operands[0], operands[1]),
        Op::Where => elementwise::select(operands[0], operands[1], operands[2]),
        Op::Reduce { op, axes, keepdims } => reduce::reduce(*op, operands[0], axes, *keepdims),
        Op::ArgMax { axis, keepdims } => reduce::argmax(operands[0], *axis, *keepdims),
        Op::Softmax { axis } => reduce::softmax(operands[0], *axis, false),
        Op::LogSoftmax { axis } => reduce::softmax(operands[0], *axis, true),
        Op::MatMul => matmul::matmul(operands[0], operands[1]),
        Op::Transpose { perm } => movement::transpose(operands[0], perm),
        Op::Reshape { .. } => movement::reshape(operands[0], shape),
        Op::Broadcast { .. } => movement::broadcast_to(operands[0], shape),
        Op::Concat { axis } => movement::concat(operands, *axis),
        Op::Slice { axes } => movement::slice(operands[0], axes),
        Op::Unslice { axes, .. } => movement::unslice(operands[0], axes, shape),
        Op::OneHot { depth, dtype } => movement::one_hot(operands[0], *depth, *dtype),
        Op::Cast { dtype } => Ok(operands[0].cast(*dtype)),
        Op::Random { dist, seed, ty } => Ok(init::random_values(dist, *seed, ty.dtype, shape)),
        Op::StopGradient => Ok(operands[0].clone()),
        Op::Fused(kernel) => fused(kernel, operands),
    }
}

/// A fused kernel, op by op: the reference semantics the JIT's single loop
/// must reproduce. Body ops are elementwise, a matmul or a reduction, none
/// of which needs the node's shape.
fn fused(kernel: &Kernel, operands: &[&Tensor]) -> Result<Tensor, String> {
    let mut values: Vec<Tensor> = Vec::with_capacity(kernel.body.len());
    for node in &kernel.body {
        let args: Vec<&Tensor> = node
            .args
            .iter()
            .map(|arg| match *arg {
                KernelArg::Operand(k) => operands.get(k).copied(),
                KernelArg::Node(k) => values.get(k),
            })
            .collect::<Option<_>>()
            .ok_or_else(|| "a fused kernel refers to a value it does not have".to_string())?;
        let value = eval_op(&node.op, &args, &[])?;
        values.push(value);
    }
    values.pop().ok_or_else(|| "a fused kernel has no ops".to_string())
}

/// A 0-d tensor holding `value` as `dtype` (an integer constant may be a
/// float; i64 constants are exact, never routed through f64).
fn constant(value: Scalar, dtype: DType) -> Result<Tensor, String> {
    let scalar = IxDyn(&[]);
    Ok(match (value, dtype) {
        (Scalar::Float(v), DType::F32) => Tensor::F32(ArrayD::from_elem(scalar, v as f32)),
        (Scalar::Float(v), DType::F64) => Tensor::F64(ArrayD::from_elem(scalar, v)),
        (Scalar::Int(v), DType::F32) => Tensor::F32(ArrayD::from_elem(scalar, v as f32)),
        (Scalar::Int(v), DType::F64) => Tensor::F64(ArrayD::from_elem(scalar, v as f64)),
        (Scalar::Int(v), DType::I64) => Tensor::I64(ArrayD::from_elem(scalar, v)),
        (Scalar::Bool(v), DType::Bool) => Tensor::Bool(ArrayD::from_elem(scalar, v)),
        (Scalar::Float(_), DType::I64 | DType::Bool)
        | (Scalar::Int(_), DType::Bool)
        | (Scalar::Bool(_), DType::F32 | DType::F64 | DType::I64) => {
            return Err(format!("the constant {value} cannot have type {dtype}"));
        }
    })
}
