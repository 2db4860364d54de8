//! Fusion: kernels form where they should (elementwise groups, reductions
//! that end them, matmuls with their bias and activation), values used more
//! than once stay materialized, and a fused graph computes exactly what the
//! unfused one computes (the interpreter runs a kernel op by op, so the
//! values agree to the bit), on small cases, on random graphs and on the
//! training step of the MNIST DTP network.

use proptest::prelude::*;
use tx_ir::{BinaryOp, DType, Dim, Graph, Init, Kernel, KernelArg, KernelKind, NodeId, Op, ReduceOp, Scalar, Shape};
use tx_ir::{Type, UnaryOp};
use tx_opt::fusion::{Fused, fuse};
use tx_tensor::Tensor;

fn f32_of(dims: &[Dim]) -> Type {
    Type::new(DType::F32, Shape::new(dims.iter().cloned()))
}

fn known(dims: &[usize]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::Known(d)).collect()
}

fn constant(g: &mut Graph, value: f64, dtype: DType) -> NodeId {
    g.add(Op::Constant { value: Scalar::Float(value), dtype }, &[]).unwrap()
}

fn unary(g: &mut Graph, op: UnaryOp, x: NodeId) -> NodeId {
    g.add(Op::Unary(op), &[x]).unwrap()
}

fn binary(g: &mut Graph, op: BinaryOp, a: NodeId, b: NodeId) -> NodeId {
    g.add(Op::Binary(op), &[a, b]).unwrap()
}

fn kernels(graph: &Graph) -> Vec<&Kernel> {
    graph
        .nodes()
        .filter_map(|(_, n)| match &n.op {
            Op::Fused(kernel) => Some(&**kernel),
            _ => None,
        })
        .collect()
}

fn count(graph: &Graph, kind: KernelKind) -> usize {
    kernels(graph).iter().filter(|k| k.kind == kind).count()
}

/// Seeded random values for the inputs (symbols of size 3).
fn inputs_of(graph: &Graph, seed: u64) -> Vec<(String, Tensor)> {
    tx_interp::random_inputs(graph, seed, &[("B", 3)]).unwrap()
}

/// The values of the outputs, then of `roots`, with every parameter at its
/// initial value.
fn values(graph: &Graph, roots: &[NodeId], inputs: &[(String, Tensor)]) -> Vec<Tensor> {
    let params = tx_interp::init_params(graph);
    let params: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let inputs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let wanted: Vec<NodeId> = graph.outputs().iter().map(|(_, id)| *id).chain(roots.iter().copied()).collect();
    tx_interp::evaluate(graph, &inputs, &params, &wanted)
        .unwrap_or_else(|e| panic!("evaluation failed: {e}\n{}", tx_ir::print_graph(graph)))
}

/// Same type and the same bits (NaN equal to NaN).
fn same(a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.ty() != b.ty() {
        return Err(format!("types differ: {} vs {}", a.ty(), b.ty()));
    }
    for (k, (x, y)) in a.to_f64s().iter().zip(b.to_f64s()).enumerate() {
        if x.to_bits() != y.to_bits() && !(x.is_nan() && y.is_nan()) {
            return Err(format!("element {k}: {x} vs {y}"));
        }
    }
    Ok(())
}

/// Fuses `graph`, checks the result (verifier, kernels well formed, the same
/// inputs, parameters and outputs, fusing is deterministic and idempotent)
/// and that it computes the same values on a few random inputs.
fn fuse_checked(graph: &Graph, roots: &[NodeId]) -> Result<Fused, String> {
    let fused = fuse(graph, roots).map_err(|e| e.to_string())?;
    let printed = tx_ir::print_graph(&fused.graph);
    let context = || format!("before:\n{}\nafter:\n{printed}", tx_ir::print_graph(graph));
    tx_ir::verify(&fused.graph).map_err(|e| format!("verifier: {e}\n{}", context()))?;
    let again = fuse(graph, roots).map_err(|e| e.to_string())?;
    if tx_ir::print_graph(&again.graph) != printed || again.roots != fused.roots {
        return Err(format!("fusing twice gave different graphs\n{}", context()));
    }
    let twice = fuse(&fused.graph, &fused.roots).map_err(|e| e.to_string())?;
    if tx_ir::print_graph(&twice.graph) != printed {
        return Err(format!("fusing a fused graph changed it:\n{}\n{}", tx_ir::print_graph(&twice.graph), context()));
    }
    check_shape(graph, &fused).map_err(|why| format!("{why}\n{}", context()))?;
    for seed in 0..3 {
        let inputs = inputs_of(graph, seed);
        let before = values(graph, roots, &inputs);
        let after = values(&fused.graph, &fused.roots, &inputs);
        for (k, (x, y)) in before.iter().zip(&after).enumerate() {
            same(x, y).map_err(|why| format!("value {k} differs (seed {seed}): {why}\n{}", context()))?;
        }
    }
    Ok(fused)
}

/// The structural promises: inputs, parameters and outputs as before; every
/// kernel has two ops or more, inlines its constants and reads each operand
/// once.
fn check_shape(graph: &Graph, fused: &Fused) -> Result<(), String> {
    let after = &fused.graph;
    let names = |g: &Graph| -> Vec<String> { g.inputs().iter().map(|&i| g.node(i).op.attributes()).collect() };
    if names(graph) != names(after) {
        return Err("the inputs changed".to_string());
    }
    if graph.params().len() != after.params().len() {
        return Err("the parameters changed".to_string());
    }
    for (p, q) in graph.params().iter().zip(after.params()) {
        if p.name != q.name || p.init != q.init || p.frozen != q.frozen || graph.ty(p.node) != after.ty(q.node) {
            return Err(format!("parameter {} changed", p.name));
        }
    }
    let outputs = |g: &Graph| -> Vec<String> { g.outputs().iter().map(|(n, _)| n.clone()).collect() };
    if outputs(graph) != outputs(after) {
        return Err("the outputs changed".to_string());
    }
    for (id, node) in after.nodes() {
        let Op::Fused(kernel) = &node.op else { continue };
        if kernel.op_count() < 2 {
            return Err(format!("{id} is a kernel of one op"));
        }
        let mut sorted = node.inputs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != node.inputs.len() {
            return Err(format!("{id} has a repeated operand"));
        }
        if node.inputs.iter().any(|&i| matches!(after.node(i).op, Op::Constant { .. })) {
            return Err(format!("{id} has a constant operand"));
        }
    }
    check_maximal(after, &fused.roots)
}

/// No fusion was missed: no elementwise value (or matmul) that only one
/// elementwise node or reduction reads, is not an output or a root, and could
/// have joined it, is left outside its user.
fn check_maximal(graph: &Graph, roots: &[NodeId]) -> Result<(), String> {
    let elementwise = |op: &Op| {
        matches!(op, Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } | Op::StopGradient)
            || matches!(op, Op::Fused(k) if k.kind == KernelKind::Elementwise)
    };
    let reduction =
        |op: &Op| matches!(op, Op::Reduce { .. }) || matches!(op, Op::Fused(k) if k.kind == KernelKind::Reduce);
    // Nodes computed from constants alone: fusion leaves those to folding.
    let mut constant_only = vec![false; graph.len()];
    for (id, node) in graph.nodes() {
        constant_only[id.index()] = matches!(node.op, Op::Constant { .. })
            || (!node.inputs.is_empty() && node.inputs.iter().all(|i| constant_only[i.index()]));
    }
    let wanted: Vec<NodeId> = graph.outputs().iter().map(|(_, id)| *id).chain(roots.iter().copied()).collect();
    for (id, node) in graph.nodes() {
        if wanted.contains(&id) {
            continue;
        }
        let users = graph.users(id);
        let [user] = users[..] else { continue };
        let user_op = &graph.node(user).op;
        if constant_only[user.index()] {
            continue;
        }
        let missed = if elementwise(&node.op) {
            elementwise(user_op) || reduction(user_op)
        } else if matches!(node.op, Op::MatMul) {
            elementwise(user_op) && graph.ty(user).shape == node.ty.shape
        } else {
            false
        };
        if missed {
            return Err(format!("{id} could have been fused into its only user {user}"));
        }
    }
    Ok(())
}

#[test]
fn dense_layer_is_one_matmul_kernel() {
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&[Dim::sym("B"), Dim::Known(4)])).unwrap();
    let w = g.param("W", f32_of(&known(&[4, 3])), Init::Glorot { gain: 1.0, seed: 1 }, false).unwrap();
    let b = g.param("b", f32_of(&known(&[3])), Init::Normal { mean: 0.0, std: 1.0, seed: 2 }, true).unwrap();
    let m = g.add(Op::MatMul, &[x, w]).unwrap();
    let s = binary(&mut g, BinaryOp::Add, m, b);
    let t = unary(&mut g, UnaryOp::Tanh, s);
    g.add_output("h", t).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    let after = &fused.graph;
    assert_eq!(count(after, KernelKind::MatMul), 1, "{}", tx_ir::print_graph(after));
    assert_eq!(kernels(after).len(), 1);
    // x, W, b and the kernel.
    assert_eq!(after.len(), 4, "{}", tx_ir::print_graph(after));
    let kernel = kernels(after)[0];
    assert_eq!(kernel.describe(), "matmul: t0 = matmul $0, $1; t1 = add t0, $2; t2 = tanh t1");
    let (out_id, out_node) = after.nodes().last().unwrap();
    assert_eq!(after.outputs(), &[("h".to_string(), out_id)]);
    let names: Vec<String> = out_node.inputs.iter().map(|&i| after.node(i).op.attributes()).collect();
    assert_eq!(names, ["[x]", "[W]", "[b]"]);
    assert!(after.param_named("b").unwrap().frozen);
}

#[test]
fn sum_of_elementwise_is_one_reduce_kernel() {
    // sum(exp(x - 1) * 2)
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&[Dim::sym("B"), Dim::Known(5)])).unwrap();
    let one = constant(&mut g, 1.0, DType::F32);
    let two = constant(&mut g, 2.0, DType::F32);
    let d = binary(&mut g, BinaryOp::Sub, x, one);
    let e = unary(&mut g, UnaryOp::Exp, d);
    let p = binary(&mut g, BinaryOp::Mul, e, two);
    let s = g.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0, 1], keepdims: false }, &[p]).unwrap();
    g.add_output("s", s).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    let after = &fused.graph;
    assert_eq!(count(after, KernelKind::Reduce), 1);
    assert_eq!(kernels(after).len(), 1);
    // The input and the kernel: the constants are inlined.
    assert_eq!(after.len(), 2, "{}", tx_ir::print_graph(after));
    assert_eq!(
        kernels(after)[0].describe(),
        "reduce: t0 = constant[1.0: f32]; t1 = sub $0, t0; t2 = exp t1; t3 = constant[2.0: f32]; \
         t4 = mul t2, t3; t5 = sum[axes=[0, 1], keepdims=false] t4"
    );
}

#[test]
fn logsumexp_ends_a_group_and_a_lone_reduction_stays_plain() {
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[3, 4]))).unwrap();
    let a = unary(&mut g, UnaryOp::Tanh, x);
    let l = g.add(Op::Reduce { op: ReduceOp::LogSumExp, axes: vec![1], keepdims: true }, &[a]).unwrap();
    let m = g.add(Op::Reduce { op: ReduceOp::Max, axes: vec![0], keepdims: false }, &[x]).unwrap();
    g.add_output("l", l).unwrap();
    g.add_output("m", m).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    let after = &fused.graph;
    assert_eq!(count(after, KernelKind::Reduce), 1);
    assert_eq!(kernels(after).len(), 1);
    assert_eq!(after.len(), 3);
}

#[test]
fn a_value_used_twice_is_materialized() {
    // y = exp(x) * 3 feeds two groups: the cheap scale is computed again in
    // each of them, and exp(x) once, on its own.
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[2, 3]))).unwrap();
    let three = constant(&mut g, 3.0, DType::F32);
    let e = unary(&mut g, UnaryOp::Exp, x);
    let y = binary(&mut g, BinaryOp::Mul, e, three);
    let one = constant(&mut g, 1.0, DType::F32);
    let a = binary(&mut g, BinaryOp::Add, y, one);
    let a = unary(&mut g, UnaryOp::Tanh, a);
    let b = binary(&mut g, BinaryOp::Mul, y, three);
    let b = unary(&mut g, UnaryOp::Sigmoid, b);
    g.add_output("a", a).unwrap();
    g.add_output("b", b).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    let after = &fused.graph;
    assert_eq!(count(after, KernelKind::Elementwise), 2, "{}", tx_ir::print_graph(after));
    assert_eq!(after.len(), 4, "{}", tx_ir::print_graph(after));
    // Both kernels read exp(x) and hold the scale.
    let first = after.ids().nth(1).unwrap();
    assert!(matches!(after.node(first).op, Op::Unary(UnaryOp::Exp)));
    assert_eq!(after.users(first).len(), 2);
    for user in after.users(first) {
        let Op::Fused(kernel) = &after.node(user).op else { panic!("{}", tx_ir::print_graph(after)) };
        assert!(kernel.body.iter().any(|n| n.op == Op::Binary(BinaryOp::Mul)));
    }

    // Used twice by one node of a group: one operand, read twice.
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[4]))).unwrap();
    let xx = binary(&mut g, BinaryOp::Mul, x, x);
    let s = binary(&mut g, BinaryOp::Sub, xx, x);
    g.add_output("s", s).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    let kernel = kernels(&fused.graph)[0];
    assert_eq!(kernel.describe(), "elementwise: t0 = mul $0, $0; t1 = sub t0, $0");
    assert_eq!(fused.graph.node(fused.graph.outputs()[0].1).inputs.len(), 1);

    // A diamond inside one group stays one kernel.
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[4]))).unwrap();
    let e = unary(&mut g, UnaryOp::Exp, x);
    let p = unary(&mut g, UnaryOp::Neg, e);
    let q = unary(&mut g, UnaryOp::Sqrt, e);
    let r = binary(&mut g, BinaryOp::Div, q, p);
    g.add_output("r", r).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    assert_eq!(fused.graph.len(), 2);
    assert_eq!(kernels(&fused.graph)[0].op_count(), 4);
}

#[test]
fn outputs_and_roots_stay_correct() {
    // y is an output and also read by the rest: it is materialized.
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[3]))).unwrap();
    let w = g.param("w", f32_of(&known(&[3])), Init::Fill(0.5), false).unwrap();
    let e = unary(&mut g, UnaryOp::Exp, x);
    let y = binary(&mut g, BinaryOp::Sub, e, w);
    let one = constant(&mut g, 1.0, DType::F32);
    let t = binary(&mut g, BinaryOp::Add, y, one);
    let t = unary(&mut g, UnaryOp::Tanh, t);
    // A root (an update) inside what would otherwise be a group.
    let r = unary(&mut g, UnaryOp::Abs, t);
    let u = binary(&mut g, BinaryOp::Mul, r, w);
    let u = unary(&mut g, UnaryOp::Neg, u);
    // A dead branch.
    let _dead = unary(&mut g, UnaryOp::Cos, u);
    g.add_output("t", t).unwrap();
    g.add_output("y", y).unwrap();
    g.add_output("one", one).unwrap();
    let fused = fuse_checked(&g, &[u, r]).unwrap();
    let after = &fused.graph;
    // x, w, y's kernel, the constant output, t's kernel, r, u's kernel.
    assert_eq!(after.len(), 7, "{}", tx_ir::print_graph(after));
    assert_eq!(count(after, KernelKind::Elementwise), 3, "{}", tx_ir::print_graph(after));
    let names: Vec<&str> = after.outputs().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["t", "y", "one"]);
    assert!(matches!(after.node(fused.roots[1]).op, Op::Unary(UnaryOp::Abs)));
    assert!(matches!(after.node(fused.roots[0]).op, Op::Fused(_)));
}

#[test]
fn operand_order_is_kept() {
    // 2 - exp(x) / (x + 1), pow(y, x), where(x > 0, y, x): non-commutative.
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[2, 3]))).unwrap();
    let y = g.input("y", f32_of(&known(&[3]))).unwrap();
    let two = constant(&mut g, 2.0, DType::F32);
    let one = constant(&mut g, 1.0, DType::F32);
    let zero = constant(&mut g, 0.0, DType::F32);
    let e = unary(&mut g, UnaryOp::Exp, x);
    let d = binary(&mut g, BinaryOp::Add, x, one);
    let q = binary(&mut g, BinaryOp::Div, e, d);
    let s = binary(&mut g, BinaryOp::Sub, two, q);
    let a = unary(&mut g, UnaryOp::Abs, y);
    let p = binary(&mut g, BinaryOp::Pow, a, s);
    let c = binary(&mut g, BinaryOp::Gt, x, zero);
    let w = g.add(Op::Where, &[c, p, x]).unwrap();
    let k = g.add(Op::Cast { dtype: DType::F64 }, &[w]).unwrap();
    let k = g.add(Op::StopGradient, &[k]).unwrap();
    g.add_output("k", k).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    assert_eq!(kernels(&fused.graph).len(), 1);
    assert_eq!(fused.graph.len(), 3);
    let kernel = kernels(&fused.graph)[0];
    assert_eq!(kernel.body.last().unwrap().op, Op::StopGradient);
    // `sub` reads the constant 2 first, `where` its condition first.
    let sub = kernel.body.iter().find(|n| n.op == Op::Binary(BinaryOp::Sub)).unwrap();
    let KernelArg::Node(first) = sub.args[0] else { panic!("{}", kernel.describe()) };
    assert_eq!(kernel.body[first].op, Op::Constant { value: Scalar::Float(2.0), dtype: DType::F32 });
    let select = kernel.body.iter().find(|n| n.op == Op::Where).unwrap();
    let KernelArg::Node(cond) = select.args[0] else { panic!("{}", kernel.describe()) };
    assert_eq!(kernel.body[cond].op, Op::Binary(BinaryOp::Gt));
    assert_eq!(select.args[2], KernelArg::Operand(0));
}

#[test]
fn matmul_kernels_only_where_the_product_is_used_by_its_epilogue() {
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&[Dim::sym("B"), Dim::Known(3)])).unwrap();
    let w = g.param("W", f32_of(&known(&[3, 3])), Init::Orthogonal { gain: 1.0, seed: 3 }, false).unwrap();
    let v = g.param("V", f32_of(&known(&[3, 3])), Init::Glorot { gain: 1.0, seed: 4 }, false).unwrap();
    // h feeds the matmul and its epilogue: it must stay outside.
    let h = unary(&mut g, UnaryOp::Exp, x);
    let m = g.add(Op::MatMul, &[h, w]).unwrap();
    let a = binary(&mut g, BinaryOp::Add, m, h);
    let a = unary(&mut g, UnaryOp::Relu, a);
    // Two matmuls into one epilogue: the kernel takes one of them.
    let m1 = g.add(Op::MatMul, &[a, v]).unwrap();
    let m2 = g.add(Op::MatMul, &[x, w]).unwrap();
    let s = binary(&mut g, BinaryOp::Add, m1, m2);
    let s = unary(&mut g, UnaryOp::Sigmoid, s);
    // A product that is also an output stays a plain matmul.
    let m3 = g.add(Op::MatMul, &[s, v]).unwrap();
    let t = unary(&mut g, UnaryOp::Tanh, m3);
    let t = unary(&mut g, UnaryOp::Square, t);
    // A product under a reduction stays plain: kernels have one loop shape.
    let m4 = g.add(Op::MatMul, &[t, w]).unwrap();
    let r = unary(&mut g, UnaryOp::Sin, m4);
    let r = g.add(Op::Reduce { op: ReduceOp::Mean, axes: vec![1], keepdims: false }, &[r]).unwrap();
    g.add_output("t", t).unwrap();
    g.add_output("m3", m3).unwrap();
    g.add_output("r", r).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    let after = &fused.graph;
    let printed = tx_ir::print_graph(after);
    assert_eq!(count(after, KernelKind::MatMul), 2, "{printed}");
    assert_eq!(count(after, KernelKind::Elementwise), 1, "{printed}");
    assert_eq!(count(after, KernelKind::Reduce), 1, "{printed}");
    // exp(x), m2, m3, m4 stay plain.
    let plain = |op: &Op| after.nodes().filter(|(_, n)| &n.op == op).count();
    assert_eq!(plain(&Op::MatMul), 3, "{printed}");
    assert_eq!(plain(&Op::Unary(UnaryOp::Exp)), 1, "{printed}");

    // An epilogue that broadcasts the product to a larger shape is an
    // elementwise kernel beside a plain matmul.
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[4]))).unwrap();
    let w = g.input("W", f32_of(&known(&[4, 3]))).unwrap();
    let c = g.input("c", f32_of(&known(&[2, 3]))).unwrap();
    let m = g.add(Op::MatMul, &[x, w]).unwrap();
    let a = binary(&mut g, BinaryOp::Add, m, c);
    let a = unary(&mut g, UnaryOp::Tanh, a);
    g.add_output("a", a).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    assert_eq!(count(&fused.graph, KernelKind::MatMul), 0);
    assert_eq!(count(&fused.graph, KernelKind::Elementwise), 1);

    // A lone activation after a matmul is an epilogue still.
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[2, 4]))).unwrap();
    let w = g.input("W", f32_of(&known(&[4, 3]))).unwrap();
    let m = g.add(Op::MatMul, &[x, w]).unwrap();
    let a = unary(&mut g, UnaryOp::Relu, m);
    g.add_output("a", a).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    assert_eq!(fused.graph.len(), 3);
    assert_eq!(kernels(&fused.graph)[0].describe(), "matmul: t0 = matmul $0, $1; t1 = relu t0");
}

#[test]
fn lone_ops_and_constant_work_stay_plain() {
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[3]))).unwrap();
    let two = constant(&mut g, 2.0, DType::F32);
    let y = binary(&mut g, BinaryOp::Mul, x, two);
    let c = unary(&mut g, UnaryOp::Exp, two);
    let c = unary(&mut g, UnaryOp::Neg, c);
    g.add_output("y", y).unwrap();
    g.add_output("c", c).unwrap();
    let fused = fuse_checked(&g, &[]).unwrap();
    assert!(kernels(&fused.graph).is_empty());
    assert_eq!(tx_ir::print_graph(&fused.graph), tx_ir::print_graph(&g));
}

#[test]
fn a_long_chain_is_one_kernel_without_recursion() {
    let mut g = Graph::new();
    let x = g.input("x", f32_of(&known(&[2]))).unwrap();
    let half = constant(&mut g, 0.5, DType::F32);
    let mut v = x;
    for k in 0..20_000 {
        v = if k % 2 == 0 { unary(&mut g, UnaryOp::Sin, v) } else { binary(&mut g, BinaryOp::Mul, v, half) };
    }
    g.add_output("v", v).unwrap();
    let fused = fuse(&g, &[]).unwrap();
    tx_ir::verify(&fused.graph).unwrap();
    assert_eq!(fused.graph.len(), 2);
    assert_eq!(kernels(&fused.graph)[0].op_count(), 20_000);
    let inputs = inputs_of(&g, 7);
    same(&values(&g, &[], &inputs)[0], &values(&fused.graph, &[], &inputs)[0]).unwrap();
}

/// One step of a random program: an op applied to earlier values (picked by
/// index modulo how many there are), and whether its value is wanted.
#[derive(Clone, Debug)]
enum Step {
    Unary(usize, usize),
    Binary(usize, usize, usize),
    Constant(usize),
    Reduce(usize, usize, usize, bool),
    MatMul(usize, usize),
    Where(usize, usize, usize),
    Cast(usize),
    Transpose(usize),
}

const UNARY: [UnaryOp; 12] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Relu,
    UnaryOp::Sin,
    UnaryOp::Square,
    UnaryOp::Reciprocal,
    UnaryOp::Softplus,
];
const BINARY: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Max, BinaryOp::Min];
const CONSTANTS: [f64; 5] = [0.0, 1.0, -1.0, 2.0, 0.5];
const REDUCE: [ReduceOp; 5] = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min, ReduceOp::LogSumExp];

fn steps() -> impl Strategy<Value = Vec<(Step, u8)>> {
    let step = prop_oneof![
        6 => (0usize..12, 0usize..64).prop_map(|(op, a)| Step::Unary(op, a)),
        6 => (0usize..7, 0usize..64, 0usize..64).prop_map(|(op, a, b)| Step::Binary(op, a, b)),
        2 => (0usize..5).prop_map(Step::Constant),
        2 => (0usize..5, 0usize..64, 0usize..3, any::<bool>()).prop_map(|(op, a, axis, k)| Step::Reduce(op, a, axis, k)),
        2 => (0usize..64, 0usize..64).prop_map(|(a, b)| Step::MatMul(a, b)),
        1 => (0usize..64, 0usize..64, 0usize..64).prop_map(|(c, a, b)| Step::Where(c, a, b)),
        1 => (0usize..64).prop_map(Step::Cast),
        1 => (0usize..64).prop_map(Step::Transpose),
    ];
    prop::collection::vec((step, 0u8..10), 1..40)
}

/// The program over inputs `a: f32[B, 3]`, `b: f32[3]`, `c: f32[3, 3]` and a
/// parameter `w: f32[3, 3]`; a step whose operands do not fit is skipped.
/// A value marked 0 is an output, 1 a root; the last value is an output.
fn build(program: &[(Step, u8)]) -> (Graph, Vec<NodeId>) {
    let mut g = Graph::new();
    let mut values = vec![
        g.input("a", f32_of(&[Dim::sym("B"), Dim::Known(3)])).unwrap(),
        g.input("b", f32_of(&known(&[3]))).unwrap(),
        g.input("c", f32_of(&known(&[3, 3]))).unwrap(),
        g.param("w", f32_of(&known(&[3, 3])), Init::Normal { mean: 0.0, std: 1.0, seed: 9 }, false).unwrap(),
    ];
    let mut roots = Vec::new();
    let mut outputs = Vec::new();
    for (step, mark) in program {
        let pick = |k: usize| values[k % values.len()];
        let added = match *step {
            Step::Unary(op, a) => g.add(Op::Unary(UNARY[op]), &[pick(a)]),
            Step::Binary(op, a, b) => g.add(Op::Binary(BINARY[op]), &[pick(a), pick(b)]),
            Step::Constant(k) => g.add(Op::Constant { value: Scalar::Float(CONSTANTS[k]), dtype: DType::F32 }, &[]),
            Step::Reduce(op, a, axis, keepdims) => {
                let x = pick(a);
                let rank = g.ty(x).rank();
                let axes = if rank == 0 { vec![] } else { vec![axis % rank] };
                g.add(Op::Reduce { op: REDUCE[op], axes, keepdims }, &[x])
            }
            Step::MatMul(a, b) => g.add(Op::MatMul, &[pick(a), pick(b)]),
            Step::Where(c, a, b) => {
                let zero = constant(&mut g, 0.0, DType::F32);
                match g.add(Op::Binary(BinaryOp::Gt), &[pick(c), zero]) {
                    Ok(cond) => g.add(Op::Where, &[cond, pick(a), pick(b)]),
                    Err(e) => Err(e),
                }
            }
            Step::Cast(a) => g
                .add(Op::Cast { dtype: DType::F64 }, &[pick(a)])
                .and_then(|wide| g.add(Op::Unary(UnaryOp::Tanh), &[wide]))
                .and_then(|wide| g.add(Op::Cast { dtype: DType::F32 }, &[wide])),
            Step::Transpose(a) => {
                let x = pick(a);
                let rank = g.ty(x).rank();
                g.add(Op::Transpose { perm: (0..rank).rev().collect() }, &[x])
            }
        };
        if let Ok(id) = added {
            values.push(id);
            match mark {
                0 => outputs.push(id),
                1 => roots.push(id),
                _ => {}
            }
        }
    }
    let last = *values.last().unwrap();
    if !outputs.contains(&last) {
        outputs.push(last);
    }
    for (k, id) in outputs.into_iter().enumerate() {
        g.add_output(&format!("v{k}"), id).unwrap();
    }
    (g, roots)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn fusion_preserves_values_on_random_graphs(program in steps()) {
        let (graph, roots) = build(&program);
        if let Err(why) = fuse_checked(&graph, &roots) {
            return Err(TestCaseError::fail(why));
        }
    }
}

/// The training step of the MNIST DTP network (by backpropagation, with the
/// RMSprop of its `train` block): fused, it computes the same loss, metrics
/// and updates.
#[test]
fn mnist_dtp_training_step() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/mnist_dtp.tx");
    let source = std::fs::read_to_string(path).unwrap();
    let compiled = tx_frontend::compile(&source);
    let model = compiled.model.unwrap_or_else(|| panic!("{:?}", compiled.diagnostics));
    let config = tx_learn::read_spec(model.train_block(Some("backprop")).unwrap()).unwrap();
    let run = tx_learn::RunShape { steps_per_epoch: 1, epochs: config.epochs };
    let step = tx_learn::build_step(
        &model,
        &tx_learn::Backprop,
        &config.optimizer,
        &config.lr_schedule,
        config.weight_decay,
        run,
    )
    .unwrap();
    let roots: Vec<NodeId> = std::iter::once(step.loss)
        .chain(step.metrics.iter().map(|(_, id)| *id))
        .chain(step.updates.iter().map(|(_, value)| *value))
        .collect();
    let graph = &step.graph;
    let fused = fuse(graph, &roots).unwrap();
    tx_ir::verify(&fused.graph).unwrap();
    check_shape(graph, &fused).unwrap();

    let describe = |g: &Graph, roots: &[NodeId]| {
        let live =
            g.reachable_from(&g.outputs().iter().map(|(_, id)| *id).chain(roots.iter().copied()).collect::<Vec<_>>());
        let computed = g
            .nodes()
            .filter(|(id, n)| live[id.index()] && !matches!(n.op, Op::Input { .. } | Op::Param { .. }))
            .count();
        let ks = kernels(g);
        format!(
            "{} live nodes ({computed} computed), {} kernels ({} elementwise, {} reduce, {} matmul) holding {} ops",
            tx_opt::live_nodes(g, roots),
            ks.len(),
            count(g, KernelKind::Elementwise),
            count(g, KernelKind::Reduce),
            count(g, KernelKind::MatMul),
            ks.iter().map(|k| k.op_count()).sum::<usize>()
        )
    };
    eprintln!("mnist_dtp backprop step, before fusion: {}", describe(graph, &roots));
    eprintln!("mnist_dtp backprop step, after fusion:  {}", describe(&fused.graph, &fused.roots));
    assert!(count(&fused.graph, KernelKind::MatMul) >= 8, "every dense layer is a matmul kernel");

    let inputs = tx_interp::random_inputs(graph, 1, &[("B", 4)]).unwrap();
    let before = values(graph, &roots, &inputs);
    let after = values(&fused.graph, &fused.roots, &inputs);
    assert_eq!(before.len(), after.len());
    for (k, (x, y)) in before.iter().zip(&after).enumerate() {
        same(x, y).unwrap_or_else(|why| panic!("root {k} differs: {why}"));
    }
}
