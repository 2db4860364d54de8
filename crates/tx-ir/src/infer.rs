//! Type inference: the result type of an op from its operand types, or a
//! sentence saying why the op does not apply. This is where shapes are
//! checked, once, when a node is added; later passes rely on it.

use crate::op::{AxisSlice, Domain, Op, ReduceOp};
use crate::types::{DType, Dim, Shape, Type, broadcast_shapes};

/// The type of `op` applied to operands of types `inputs`. The message of an
/// error is a plain sentence for diagnostics ("cannot add f32[B, 240] and
/// f32[10]: dimension 1 differs (240 vs 10)").
pub fn infer(op: &Op, inputs: &[&Type]) -> Result<Type, String> {
    let ty = infer_unchecked(op, inputs)?;
    ty.check_size()?;
    Ok(ty)
}

fn infer_unchecked(op: &Op, inputs: &[&Type]) -> Result<Type, String> {
    if !op.arity().accepts(inputs.len()) {
        return Err(format!("`{}` takes {:?} operands, got {}", op.name(), op.arity(), inputs.len()));
    }
    match op {
        Op::Input { ty, .. } | Op::Param { ty, .. } => Ok(ty.clone()),
        Op::Constant { value, dtype } => {
            let fits = match (value, dtype) {
                (crate::Scalar::Float(_), d) => d.is_float(),
                (crate::Scalar::Int(_), d) => d.is_numeric(),
                (crate::Scalar::Bool(_), d) => *d == DType::Bool,
            };
            if !fits {
                return Err(format!("the constant {value} cannot have type {dtype}"));
            }
            Ok(Type::scalar(*dtype))
        }
        Op::Random { ty, .. } => {
            expect_domain(op.name(), Domain::Float, ty)?;
            Ok(ty.clone())
        }
        Op::Unary(unary) => {
            let x = inputs[0];
            expect_domain(unary.name(), unary.domain(), x)?;
            Ok(x.clone())
        }
        Op::Binary(binary) => {
            let (a, b) = (inputs[0], inputs[1]);
            let verb = binary.verb();
            if a.dtype != b.dtype {
                return Err(format!(
                    "cannot {verb} {a} and {b}: the element types differ ({} vs {}); use `cast`",
                    a.dtype, b.dtype
                ));
            }
            if !binary.domain().accepts(a.dtype) {
                return Err(format!(
                    "cannot {verb} {a} and {b}: `{}` needs {} operands",
                    binary.name(),
                    binary.domain().describe()
                ));
            }
            let shape = broadcast_shapes(&a.shape, &b.shape).map_err(|e| format!("cannot {verb} {a} and {b}: {e}"))?;
            let dtype = if binary.is_comparison() { DType::Bool } else { a.dtype };
            Ok(Type::new(dtype, shape))
        }
        Op::Where => {
            let (cond, a, b) = (inputs[0], inputs[1], inputs[2]);
            if cond.dtype != DType::Bool {
                return Err(format!("the condition of `where` must be bool, got {cond}"));
            }
            if a.dtype != b.dtype {
                return Err(format!("the two branches of `where` have different element types ({a} vs {b})"));
            }
            let shape = broadcast_shapes(&cond.shape, &a.shape)
                .and_then(|s| broadcast_shapes(&s, &b.shape))
                .map_err(|e| format!("cannot broadcast the operands of `where` ({cond}, {a}, {b}): {e}"))?;
            Ok(Type::new(a.dtype, shape))
        }
        Op::Reduce { op: reduce, axes, keepdims } => {
            let x = inputs[0];
            expect_domain(reduce.name(), reduce.domain(), x)?;
            check_axes(reduce.name(), axes, x.rank())?;
            if axes.windows(2).any(|w| w[0] > w[1]) {
                return Err(format!("the axes of `{}` must be in increasing order, got {axes:?}", reduce.name()));
            }
            if matches!(reduce, ReduceOp::Max | ReduceOp::Min | ReduceOp::LogSumExp) {
                for &axis in axes {
                    if x.shape.0[axis] == Dim::Known(0) {
                        return Err(format!("`{}` over axis {axis} of {x}, which has no elements", reduce.name()));
                    }
                }
            }
            Ok(Type::new(x.dtype, reduced_shape(&x.shape, axes, *keepdims)))
        }
        Op::ArgMax { axis, keepdims } => {
            let x = inputs[0];
            expect_domain("argmax", Domain::Numeric, x)?;
            let axes: Vec<usize> = match axis {
                Some(axis) => vec![*axis],
                None => (0..x.rank()).collect(),
            };
            check_axes("argmax", &axes, x.rank())?;
            if axes.iter().any(|&a| x.shape.0[a] == Dim::Known(0))
                || (axis.is_none() && x.shape.known_size() == Some(0))
            {
                return Err(format!("`argmax` of {x}, which has no elements"));
            }
            Ok(Type::new(DType::I64, reduced_shape(&x.shape, &axes, *keepdims)))
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            let x = inputs[0];
            expect_domain(op.name(), Domain::Float, x)?;
            check_axes(op.name(), &[*axis], x.rank())?;
            Ok(x.clone())
        }
        Op::MatMul => matmul_type(inputs[0], inputs[1]),
        Op::Transpose { perm } => {
            let x = inputs[0];
            let mut seen = vec![false; x.rank()];
            if perm.len() != x.rank() || perm.iter().any(|&p| p >= x.rank() || std::mem::replace(&mut seen[p], true)) {
                return Err(format!("{perm:?} is not a permutation of the {} axes of {x}", x.rank()));
            }
            Ok(Type::new(x.dtype, Shape(perm.iter().map(|&p| x.shape.0[p].clone()).collect())))
        }
        Op::Reshape { shape } => {
            let x = inputs[0];
            if !same_size(&x.shape, shape) {
                return Err(format!("cannot reshape {x} to {shape}: the number of elements differs"));
            }
            Ok(Type::new(x.dtype, shape.clone()))
        }
        Op::Broadcast { shape } => {
            let x = inputs[0];
            let ok = x.rank() <= shape.rank() && broadcast_shapes(&x.shape, shape).is_ok_and(|s| s == *shape);
            if !ok {
                return Err(format!("cannot broadcast {x} to {shape}"));
            }
            Ok(Type::new(x.dtype, shape.clone()))
        }
        Op::Concat { axis } => {
            let first = inputs[0];
            check_axes("concat", &[*axis], first.rank())?;
            let mut total = 0usize;
            for (i, t) in inputs.iter().enumerate() {
                if t.dtype != first.dtype || t.rank() != first.rank() {
                    return Err(format!("cannot concatenate {first} and {t} (operand {i})"));
                }
                for (d, (a, b)) in first.shape.0.iter().zip(&t.shape.0).enumerate() {
                    if d != *axis && a != b {
                        return Err(format!("cannot concatenate {first} and {t}: dimension {d} differs ({a} vs {b})"));
                    }
                }
                match &t.shape.0[*axis] {
                    Dim::Known(n) => {
                        total = total
                            .checked_add(*n)
                            .ok_or_else(|| format!("concatenating {first} and {t} gives an axis too large"))?;
                    }
                    Dim::Sym(s) => {
                        return Err(format!("cannot concatenate along axis {axis}: its size `{s}` is symbolic"));
                    }
                }
            }
            let mut shape = first.shape.clone();
            shape.0[*axis] = Dim::Known(total);
            Ok(Type::new(first.dtype, shape))
        }
        Op::Slice { axes } => {
            let x = inputs[0];
            Ok(Type::new(x.dtype, sliced_shape(&x.shape, axes).map_err(|why| format!("cannot slice {x}: {why}"))?))
        }
        Op::Unslice { axes, shape } => {
            // The operand must have exactly the shape that slicing `shape` gives.
            let x = inputs[0];
            let sliced = sliced_shape(shape, axes).map_err(|why| format!("cannot place {x} into {shape}: {why}"))?;
            if sliced != x.shape {
                return Err(format!("cannot place {x} into {shape}: the selected positions form {sliced}"));
            }
            Ok(Type::new(x.dtype, shape.clone()))
        }
        Op::OneHot { depth, dtype } => {
            let x = inputs[0];
            if x.dtype != DType::I64 {
                return Err(format!("`one_hot` needs i64 labels, got {x}"));
            }
            let mut shape = x.shape.clone();
            shape.0.push(Dim::Known(*depth));
            Ok(Type::new(*dtype, shape))
        }
        Op::Cast { dtype } => Ok(Type::new(*dtype, inputs[0].shape.clone())),
        Op::StopGradient => Ok(inputs[0].clone()),
        Op::Fused(kernel) => {
            let mut types = kernel.infer_body(inputs)?;
            Ok(types.pop().expect("infer_body checks the body is not empty"))
        }
    }
}

fn expect_domain(name: &str, domain: Domain, x: &Type) -> Result<(), String> {
    if domain.accepts(x.dtype) {
        Ok(())
    } else {
        Err(format!("`{name}` needs a {} operand, got {x}", domain.describe()))
    }
}

fn check_axes(name: &str, axes: &[usize], rank: usize) -> Result<(), String> {
    for (i, &axis) in axes.iter().enumerate() {
        if axis >= rank {
            return Err(format!("axis {axis} is out of range for `{name}` of a rank-{rank} tensor"));
        }
        if axes[..i].contains(&axis) {
            return Err(format!("axis {axis} is repeated in `{name}`"));
        }
    }
    Ok(())
}

/// The shape that `axes` select from `shape`, with bounds checked where the
/// sizes are known; on a symbolic axis only forward slices can be expressed,
/// and their bounds are checked at the call.
pub fn sliced_shape(shape: &Shape, axes: &[AxisSlice]) -> Result<Shape, String> {
    if axes.len() != shape.rank() {
        return Err(format!("{} slices for {} axes", axes.len(), shape.rank()));
    }
    let mut dims = Vec::with_capacity(axes.len());
    for (axis, (slice, dim)) in axes.iter().zip(&shape.0).enumerate() {
        match slice {
            AxisSlice::Full => dims.push(dim.clone()),
            AxisSlice::Range { start, step, len } => {
                let Dim::Known(n) = dim else {
                    if *step <= 0 {
                        return Err(format!("axis {axis} has symbolic size `{dim}`: it can be sliced only forward"));
                    }
                    dims.push(Dim::Known(*len));
                    continue;
                };
                // i128: any attributes a builder could pass are safe here.
                let last = *start as i128 + (*len as i128 - 1) * i128::from(*step);
                let in_bounds = *len == 0 || (*start < *n && last >= 0 && last < *n as i128);
                if *step == 0 || !in_bounds {
                    return Err(format!("slice {start}:{step}:{len} is out of bounds for axis {axis} (size {n})"));
                }
                dims.push(Dim::Known(*len));
            }
        }
    }
    Ok(Shape(dims))
}

/// The shape after reducing `axes`: removed, or kept as 1.
pub fn reduced_shape(shape: &Shape, axes: &[usize], keepdims: bool) -> Shape {
    let mut dims = Vec::with_capacity(shape.rank());
    for (axis, dim) in shape.0.iter().enumerate() {
        if !axes.contains(&axis) {
            dims.push(dim.clone());
        } else if keepdims {
            dims.push(Dim::Known(1));
        }
    }
    Shape(dims)
}

/// True when both shapes surely hold the same number of elements: the same
/// symbols (as a multiset) and the same product of known sizes.
pub fn same_size(a: &Shape, b: &Shape) -> bool {
    let product = |s: &Shape| s.0.iter().filter_map(Dim::known).try_fold(1usize, |acc, n| acc.checked_mul(n));
    fn symbols(s: &Shape) -> Vec<&str> {
        let mut v: Vec<&str> =
            s.0.iter().filter_map(|d| if let Dim::Sym(x) = d { Some(x.as_str()) } else { None }).collect();
        v.sort_unstable();
        v
    }
    let (pa, pb) = (product(a), product(b));
    // With a zero-size known dimension both are empty whatever the symbols are.
    if pa == Some(0) && pb == Some(0) {
        return true;
    }
    pa == pb && pa.is_some() && symbols(a) == symbols(b)
}

fn matmul_type(a: &Type, b: &Type) -> Result<Type, String> {
    let fail = |why: String| Err(format!("cannot multiply {a} @ {b}: {why}"));
    if a.dtype != b.dtype {
        return fail(format!("the element types differ ({} vs {}); use `cast`", a.dtype, b.dtype));
    }
    if !a.dtype.is_numeric() {
        return fail("`@` needs numeric operands".to_string());
    }
    if a.rank() == 0 || b.rank() == 0 {
        return fail("`@` needs operands of rank 1 or more; use `*` for scalars".to_string());
    }
    // Promote 1-D operands as numpy does, and remember to drop the added axis.
    let mut ashape = a.shape.0.clone();
    let mut bshape = b.shape.0.clone();
    let a_vector = ashape.len() == 1;
    let b_vector = bshape.len() == 1;
    if a_vector {
        ashape.insert(0, Dim::Known(1));
    }
    if b_vector {
        bshape.push(Dim::Known(1));
    }
    let (m, k1) = (&ashape[ashape.len() - 2], &ashape[ashape.len() - 1]);
    let (k2, n) = (&bshape[bshape.len() - 2], &bshape[bshape.len() - 1]);
    if k1 != k2 {
        return fail(format!("the inner dimensions differ ({k1} vs {k2})"));
    }
    let batch_a = Shape(ashape[..ashape.len() - 2].to_vec());
    let batch_b = Shape(bshape[..bshape.len() - 2].to_vec());
    let batch = match broadcast_shapes(&batch_a, &batch_b) {
        Ok(s) => s,
        Err(e) => return fail(format!("the batch dimensions do not broadcast: {e}")),
    };
    let mut dims = batch.0;
    if !a_vector {
        dims.push(m.clone());
    }
    if !b_vector {
        dims.push(n.clone());
    }
    Ok(Type::new(a.dtype, Shape(dims)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{BinaryOp, UnaryOp};

    fn t(dtype: DType, dims: &[&str]) -> Type {
        Type::new(
            dtype,
            Shape(dims.iter().map(|d| d.parse::<usize>().map_or_else(|_| Dim::sym(*d), Dim::Known)).collect()),
        )
    }

    fn check(op: Op, inputs: &[Type], expect: &str) {
        let refs: Vec<&Type> = inputs.iter().collect();
        let got = match infer(&op, &refs) {
            Ok(t) => t.to_string(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect);
    }

    use DType::*;

    #[test]
    fn elementwise_types() {
        check(Op::Binary(BinaryOp::Add), &[t(F32, &["B", "240"]), t(F32, &["240"])], "f32[B, 240]");
        check(
            Op::Binary(BinaryOp::Add),
            &[t(F32, &["B", "240"]), t(F32, &["10"])],
            "error: cannot add f32[B, 240] and f32[10]: dimension 1 differs (240 vs 10)",
        );
        check(
            Op::Binary(BinaryOp::Mul),
            &[t(F32, &["2"]), t(F64, &["2"])],
            "error: cannot multiply f32[2] and f64[2]: the element types differ (f32 vs f64); use `cast`",
        );
        check(Op::Binary(BinaryOp::Lt), &[t(I64, &["3"]), t(I64, &[])], "bool[3]");
        check(
            Op::Unary(UnaryOp::Exp),
            &[t(I64, &["3"])],
            "error: `exp` needs a float (f32 or f64) operand, got i64[3]",
        );
        check(Op::Where, &[t(Bool, &["B", "1"]), t(F64, &["3"]), t(F64, &[])], "f64[B, 3]");
    }

    #[test]
    fn reductions_and_matmul() {
        let sum = |axes: Vec<usize>, keepdims| Op::Reduce { op: ReduceOp::Sum, axes, keepdims };
        check(sum(vec![1], false), &[t(F32, &["B", "10"])], "f32[B]");
        check(sum(vec![0, 1], true), &[t(F32, &["B", "10"])], "f32[1, 1]");
        check(
            sum(vec![2], true),
            &[t(F32, &["B", "10"])],
            "error: axis 2 is out of range for `sum` of a rank-2 tensor",
        );
        check(Op::ArgMax { axis: None, keepdims: false }, &[t(F32, &["4", "3"])], "i64[]");
        check(Op::MatMul, &[t(F32, &["B", "784"]), t(F32, &["784", "240"])], "f32[B, 240]");
        check(Op::MatMul, &[t(F32, &["3"]), t(F32, &["3"])], "f32[]");
        check(Op::MatMul, &[t(F32, &["5", "2", "3"]), t(F32, &["3"])], "f32[5, 2]");
        check(
            Op::MatMul,
            &[t(F32, &["B", "784"]), t(F32, &["240", "10"])],
            "error: cannot multiply f32[B, 784] @ f32[240, 10]: the inner dimensions differ (784 vs 240)",
        );
    }

    #[test]
    fn movement_types() {
        check(Op::Reshape { shape: Shape::new([Dim::sym("B")]) }, &[t(F32, &["B", "1"])], "f32[B]");
        check(Op::Reshape { shape: Shape::new([6usize]) }, &[t(F32, &["2", "3"])], "f32[6]");
        check(
            Op::Reshape { shape: Shape::new([5usize]) },
            &[t(F32, &["2", "3"])],
            "error: cannot reshape f32[2, 3] to [5]: the number of elements differs",
        );
        check(Op::Concat { axis: 0 }, &[t(F32, &["2", "3"]), t(F32, &["4", "3"])], "f32[6, 3]");
        check(
            Op::Slice { axes: vec![AxisSlice::Full, AxisSlice::Range { start: 4, step: -2, len: 3 }] },
            &[t(F32, &["B", "5"])],
            "f32[B, 3]",
        );
        check(Op::OneHot { depth: 10, dtype: F32 }, &[t(I64, &["B"])], "f32[B, 10]");
        check(Op::Transpose { perm: vec![1, 0] }, &[t(F32, &["B", "3"])], "f32[3, B]");
        check(Op::Broadcast { shape: Shape::new([Dim::sym("B"), Dim::Known(3)]) }, &[t(F32, &["3"])], "f32[B, 3]");
    }
}
