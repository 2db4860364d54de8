//! Gradients on fixed cases agree with JAX. The expected numbers were
//! computed once with JAX 0.10 in f64 (`jax.grad`, and `jax.jvp` of
//! `jax.grad` for the Hessian-vector product) on the same inputs, and are
//! pasted here; JAX is not needed to run the test. The script:
//!
//! ```python
//! def fill(n, k, scale=1.0):
//!     return ((np.arange(n) * 37 + k * 11) % 23 - 11) / 8.0 * scale
//! x = fill(12, 1).reshape(4, 3); y = np.array([0, 2, 1, 2])
//! W1 = fill(15, 2, 0.5).reshape(3, 5); b1 = fill(5, 3, 0.25)
//! W2 = fill(15, 4, 0.5).reshape(5, 3); b2 = fill(3, 5, 0.25)
//! def mlp(W1, b1, W2, b2):
//!     z = jnp.tanh(x @ W1 + b1) @ W2 + b2
//!     return jnp.mean(-jnp.take_along_axis(jax.nn.log_softmax(z, axis=1), y[:, None], axis=1)[:, 0])
//! A = fill(12, 6, 0.5).reshape(3, 4); v = fill(4, 7); w0 = fill(4, 8, 0.5)
//! def mix(w):
//!     z = A @ w
//!     s = jax.nn.sigmoid(z) * jnp.sqrt(z * z + 1.0)
//!     t = jnp.concatenate([s[1:], s[:1]]) * jnp.maximum(z, 0.25)
//!     u = jnp.where(z > 0, t, jax.nn.softplus(z))
//!     return logsumexp(u) + jnp.max(u) * jnp.mean(u) + jnp.sum(jnp.abs(w) ** 1.5)
//! jax.grad(mlp, argnums=(0, 1, 2, 3))(W1, b1, W2, b2); jax.grad(mix)(w0)
//! jax.jvp(jax.grad(mix), (w0,), (v,))[1]
//! ```

use ndarray::{ArrayD, IxDyn};
use tx::Tensor;

fn fill(n: usize, k: i64, scale: f64) -> Vec<f64> {
    (0..n as i64).map(|i| ((i * 37 + k * 11) % 23 - 11) as f64 / 8.0 * scale).collect()
}

fn f64s(shape: &[usize], values: Vec<f64>) -> Tensor {
    Tensor::F64(ArrayD::from_shape_vec(IxDyn(shape), values).unwrap())
}

fn check(name: &str, got: &Tensor, expect: &[f64]) {
    let got = got.to_f64s();
    assert_eq!(got.len(), expect.len(), "{name}");
    for (i, (a, b)) in got.iter().zip(expect).enumerate() {
        assert!((a - b).abs() <= 1e-12 + 1e-10 * b.abs(), "{name}[{i}]: tx {a}, JAX {b}");
    }
}

#[test]
fn mlp_cross_entropy_gradients_match_jax() {
    let program = tx::compile(
        "input x : f64[4, 3]
         input y : i64[4]
         input W1 : f64[3, 5]
         input b1 : f64[5]
         input W2 : f64[5, 3]
         input b2 : f64[3]
         let L = mean(cross_entropy(tanh(x @ W1 + b1) @ W2 + b2, y))
         output cost = L
         output dW1 = grad(L, W1)
         output db1 = grad(L, b1)
         output dW2 = grad(L, W2)
         output db2 = grad(L, b2)",
    )
    .unwrap();
    let inputs = [
        ("x", f64s(&[4, 3], fill(12, 1, 1.0))),
        ("y", Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[4]), vec![0, 2, 1, 2]).unwrap())),
        ("W1", f64s(&[3, 5], fill(15, 2, 0.5))),
        ("b1", f64s(&[5], fill(5, 3, 0.25))),
        ("W2", f64s(&[5, 3], fill(15, 4, 0.5))),
        ("b2", f64s(&[3], fill(3, 5, 0.25))),
    ];
    let out = program.run(&inputs).unwrap();
    check("cost", &out[0].1, &[1.0797581124685105]);
    #[rustfmt::skip]
    check("dW1", &out[1].1, &[0.07297657349437289, -0.21380666267834883, -0.2149255922211264, -0.2262383389846696, 0.09367308661054813, 0.15477664850417028, 0.0023608951587923525, 0.003214702508895377, 0.00479028729225359, -0.14288597969576294, -0.1046511796898307, 0.020447171377540353, 0.021449274547559127, 0.030605349646094508, 0.08693129888815171]);
    check(
        "db1",
        &out[2].1,
        &[-0.06439195229595024, -0.08188927445155501, -0.08273376092629432, -0.08875930657163761, 0.026129041620765375],
    );
    #[rustfmt::skip]
    check("dW2", &out[3].1, &[-0.020747900520967047, 0.1702833667316119, -0.14953546621064479, -0.0009218769246605446, -0.002923469833950875, 0.003845346758611423, -0.07964232151828851, -0.06505065478935453, 0.14469297630764305, 0.0614444085585555, 0.06033168690071303, -0.12177609545926851, -0.017014280661897883, -0.0013459784331836637, 0.018360259095081558]);
    check("db2", &out[4].1, &[0.04610858728498432, 0.07321054041920519, -0.11931912770418952]);
}

#[test]
fn a_mix_of_ops_and_its_hessian_vector_product_match_jax() {
    let program = tx::compile(
        "input A : f64[3, 4]
         input w : f64[4]
         input v : f64[4]
         fn f(w) {
           let z = A @ w
           let s = sigmoid(z) * sqrt(z * z + 1)
           let t = concat([s[1:], s[:1]]) * maximum(z, 0.25)
           let u = where(z > 0, t, softplus(z))
           return logsumexp(u) + max(u) * mean(u) + sum(abs(w) ** 1.5)
         }
         let m = f(w)
         output value = m
         output g = grad(m, w)
         output hv = grad(sum(grad(m, w) * v), w)",
    )
    .unwrap();
    let inputs = [
        ("A", f64s(&[3, 4], fill(12, 6, 0.5))),
        ("w", f64s(&[4], fill(4, 8, 0.5))),
        ("v", f64s(&[4], fill(4, 7, 1.0))),
    ];
    let out = program.run(&inputs).unwrap();
    check("value", &out[0].1, &[2.869178792784714]);
    check("grad", &out[1].1, &[1.2891182151415552, -0.2934554580600538, -0.9606869648055605, 0.7387420226449373]);
    check("hvp", &out[2].1, &[-0.4991215987378091, 4.338381409015291, 0.16320203735854263, -1.4709005349862105]);
}
