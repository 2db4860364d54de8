//! Compiled functions with state (Theano's `function(inputs, outputs,
//! updates)`) through the Rust API: updates read the values from before the
//! call, parameters persist between calls, and gradient-descent updates
//! built with `tx::grad` train a classifier on the embedded digits.

use ndarray::{ArrayD, IxDyn};
use tx::{DType, Dim, GraphBuilder, Init, Tensor};

fn scalar(t: &Tensor) -> f64 {
    t.to_f64s()[0]
}

#[test]
fn every_update_reads_the_values_from_before_the_call() {
    let g = GraphBuilder::new();
    let a = g.param("a", DType::F64, [], Init::Fill(1.0));
    let b = g.param("b", DType::F64, [], Init::Fill(2.0));
    let sum = &a + &b;
    // a <- b and b <- a: a swap, only if both read the old values.
    let mut f = tx::function(&g).outputs([&sum]).updates([(&a, &b), (&b, &a)]).compile().unwrap();
    assert_eq!(scalar(&f.call(&[]).unwrap()[0]), 3.0);
    assert_eq!((scalar(f.param("a").unwrap()), scalar(f.param("b").unwrap())), (2.0, 1.0));
    f.call(&[]).unwrap();
    assert_eq!((scalar(f.param("a").unwrap()), scalar(f.param("b").unwrap())), (1.0, 2.0));
}

#[test]
fn updates_are_checked_when_compiling() {
    let g = GraphBuilder::new();
    let x = g.input("x", DType::F32, [Dim::sym("B")]);
    let w = g.param("w", DType::F32, [3.into()], Init::Fill(0.0));
    let e = |r: Result<tx::Function, tx::Error>| r.map(|_| ()).unwrap_err().to_string();
    assert_eq!(e(tx::function(&g).updates([(&x, &x)]).compile()), "only parameters can be updated, and %0 is not one");
    assert_eq!(e(tx::function(&g).updates([(&w, &x)]).compile()), "parameter `w` is f32[3], but its update is f32[B]");
    assert_eq!(e(tx::function(&g).updates([(&w, &w), (&w, &w)]).compile()), "parameter `w` is updated twice");
    let unused = g.param("unused", DType::F32, [3.into()], Init::Fill(0.0));
    let cost = x.sum(&[], false);
    let d = tx::grad(&cost, &[&unused]);
    assert!(e(tx::function(&g).outputs([&d[0]]).compile()).contains("does not depend on"));
}

#[test]
fn gradient_descent_trains_a_softmax_classifier_on_digits() {
    let split = tx::data::digits_split().unwrap();
    let g = GraphBuilder::new();
    let x = g.input("x", DType::F32, [Dim::sym("B"), 64.into()]);
    let y = g.input("y", DType::I64, [Dim::sym("B")]);
    let w = g.param("W", DType::F32, [64.into(), 10.into()], Init::Fill(0.0));
    let b = g.param("b", DType::F32, [10.into()], Init::Fill(0.0));
    let logits = x.matmul(&w) + &b;
    let loss = logits.cross_entropy(&y).mean(&[], false);
    let accuracy = logits.argmax(1).eq(&y).mean(&[], false);
    let grads = tx::grad(&loss, &[&w, &b]);
    let lr = 0.5;
    let w_next = &w - &(&grads[0] * lr);
    let b_next = &b - &(&grads[1] * lr);
    let mut step = tx::function(&g).outputs([&loss]).updates([(&w, &w_next), (&b, &b_next)]).compile().unwrap();
    let mut evaluate = tx::function(&g).outputs([&loss, &accuracy]).compile().unwrap();

    let train = [Tensor::F32(split.train.x.clone().into_dyn()), Tensor::I64(split.train.y.clone().into_dyn())];
    let test = [Tensor::F32(split.test.x.clone().into_dyn()), Tensor::I64(split.test.y.clone().into_dyn())];
    let first = scalar(&step.call(&train).unwrap()[0]);
    assert!((first - 10f64.ln()).abs() < 1e-5, "zero weights give a uniform prediction: {first}");
    let mut last = first;
    for _ in 0..60 {
        last = scalar(&step.call(&train).unwrap()[0]);
    }
    assert!(last < 0.3 * first, "the loss fell from {first} to only {last}");
    // The trained parameters live in `step`; copy them into `evaluate`.
    for name in ["W", "b"] {
        evaluate.set_param(name, step.param(name).unwrap().clone()).unwrap();
    }
    let out = evaluate.call(&test).unwrap();
    let test_accuracy = scalar(&out[1]);
    assert!(test_accuracy > 0.9, "test accuracy {test_accuracy}");
    // The state persisted in `step` between calls; a fresh function starts
    // from the initializers again.
    let zeros = Tensor::F32(ArrayD::zeros(IxDyn(&[10])));
    assert_ne!(step.param("b").unwrap(), &zeros);
    let fresh = tx::function(&g).outputs([&loss]).compile().unwrap();
    assert_eq!(fresh.param("b").unwrap(), &zeros);
}

/// Functions and programs are optimized at `-O2` unless told otherwise;
/// `-O0` runs the graph as built. Both compute the same values here, and
/// the stable form wins where the formula as built overflows.
#[test]
fn functions_and_programs_choose_their_optimization_level() {
    let g = GraphBuilder::new();
    let x = g.input("x", DType::F64, [Dim::sym("N")]);
    let w = g.param("w", DType::F64, [], Init::Fill(0.5));
    let naive = (&x * &w).sigmoid().log();
    let cost = naive.sum(&[], false);
    let dw = tx::grad(&cost, &[&w]);
    let w_next = &w + &(&dw[0] * 0.1);
    let input = Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![-2000.0, 0.0, 3.0]).unwrap());
    let mut results = Vec::new();
    for level in [tx::Level::O0, tx::Level::O1, tx::Level::O2] {
        let mut f = tx::function(&g).outputs([&naive]).updates([(&w, &w_next)]).opt_level(level).compile().unwrap();
        assert_eq!(f.opt_level(), level);
        let out = f.call(std::slice::from_ref(&input)).unwrap()[0].to_f64s();
        results.push((level, out, scalar(f.param("w").unwrap()), f.opt_report().nodes_after));
    }
    let (_, plain, _, plain_nodes) = &results[0];
    assert_eq!(plain[0], f64::NEG_INFINITY, "log(sigmoid(-1000)) underflows as built");
    let (_, stable, _, nodes) = &results[2];
    assert_eq!(stable[0], -1000.0, "-softplus(1000) once stabilized");
    assert!(nodes <= plain_nodes, "{results:?}");
    for (level, out, _, _) in &results {
        for (a, b) in out.iter().zip(plain).skip(1) {
            assert!((a - b).abs() <= 1e-12, "{level:?}: {out:?} against {plain:?}");
        }
    }

    let source = "input x : f64[N]\noutput y = log(sigmoid(x))\n";
    let program = tx::compile(source).unwrap();
    assert_eq!(program.opt_level(), tx::Level::O2);
    let x = Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[1]), vec![-800.0]).unwrap());
    assert_eq!(program.run(&[("x", x.clone())]).unwrap()[0].1.to_f64s(), vec![-800.0]);
    let plain = program.with_opt_level(tx::Level::O0).unwrap();
    assert_eq!(plain.optimized_graph().len(), plain.graph().len());
    assert_eq!(plain.run(&[("x", x)]).unwrap()[0].1.to_f64s(), vec![f64::NEG_INFINITY]);
}
