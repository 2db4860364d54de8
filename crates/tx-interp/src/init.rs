//! Seeded values: parameter initializers, the `normal`/`uniform` random op,
//! and random inputs for testing. Every number comes from
//! [`tx_tensor::rng::Rng`], drawn in f64 in row-major order and converted to
//! the element type last, so that a seed means the same values for every
//! dtype and in every crate that follows the same recipe (the JIT must).

use tx_ir::{DType, Dim, Distribution, Graph, Init, Op, ParamInfo, Type};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

/// The initial value of one parameter of type `ty`, decided by its
/// [`Init`] and seed alone.
///
/// Parameters have known shapes ([`Graph::param`] refuses symbols); a
/// symbolic dimension, should one appear, counts as 0.
/// Fill converts its value as `cast` would; the random initializers draw in
/// f64 and convert, so on i64 or bool they are only useful as noise.
pub fn init_param(info: &ParamInfo, ty: &Type) -> Tensor {
    let shape: Vec<usize> = ty.shape.dims().iter().map(|d| d.known().unwrap_or(0)).collect();
    let count: usize = shape.iter().product();
    let values = match info.init {
        Init::Fill(value) => return Tensor::full(ty.dtype, &shape, value),
        Init::Normal { mean, std, seed } => normals(seed, count, mean, std),
        Init::Uniform { low, high, seed } => uniforms(seed, count, low, high),
        Init::Glorot { gain, seed } => {
            let (fan_in, fan_out) = fans(&shape);
            let limit = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
            uniforms(seed, count, -limit, limit)
        }
        Init::GlorotNormal { gain, seed } => {
            let (fan_in, fan_out) = fans(&shape);
            let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
            normals(seed, count, 0.0, std)
        }
        Init::Orthogonal { gain, seed } => orthogonal(&shape, gain, seed),
    };
    from_values(ty.dtype, &shape, &values)
}

/// The initial value of every parameter of `graph`, in declaration order.
pub fn init_params(graph: &Graph) -> Vec<(String, Tensor)> {
    graph.params().iter().map(|info| (info.name.clone(), init_param(info, graph.ty(info.node)))).collect()
}

/// Seeded random values for every input of `graph`, in declaration order,
/// all drawn from one stream: floats from N(0, 1), i64 uniform in `0..10`,
/// bool a fair coin. A symbolic dimension takes its size from `dims`, or 4.
/// Fails when a size makes an input larger than tx's per-tensor limit.
pub fn random_inputs(graph: &Graph, seed: u64, dims: &[(&str, usize)]) -> Result<Vec<(String, Tensor)>, String> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(graph.inputs().len());
    for &id in graph.inputs() {
        let Op::Input { name, ty } = &graph.node(id).op else {
            continue;
        };
        let shape: Vec<usize> = ty
            .shape
            .dims()
            .iter()
            .map(|dim| match dim {
                Dim::Known(n) => *n,
                Dim::Sym(s) => dims.iter().find(|(name, _)| name == s).map_or(4, |&(_, n)| n),
            })
            .collect();
        let count = tx_ir::check_tensor_size(ty.dtype, &shape).map_err(|why| format!("input `{name}`: {why}"))?;
        let values: Vec<f64> = match ty.dtype {
            DType::F32 | DType::F64 => (0..count).map(|_| rng.normal()).collect(),
            DType::I64 => (0..count).map(|_| rng.below(10) as f64).collect(),
            DType::Bool => (0..count).map(|_| f64::from(u8::from(rng.uniform() < 0.5))).collect(),
        };
        out.push((name.clone(), from_values(ty.dtype, &shape, &values)));
    }
    Ok(out)
}

/// The value of the `Random` op: `count` draws in row-major order from a
/// fresh generator, so the same seed gives the same tensor at every call.
pub(crate) fn random_values(dist: &Distribution, seed: u64, dtype: DType, shape: &[usize]) -> Tensor {
    let count: usize = shape.iter().product();
    let values = match dist {
        Distribution::Normal { mean, std } => normals(seed, count, mean.as_f64(), std.as_f64()),
        Distribution::Uniform { low, high } => uniforms(seed, count, low.as_f64(), high.as_f64()),
    };
    from_values(dtype, shape, &values)
}

fn normals(seed: u64, count: usize, mean: f64, std: f64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..count).map(|_| mean + std * rng.normal()).collect()
}

fn uniforms(seed: u64, count: usize, low: f64, high: f64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..count).map(|_| low + (high - low) * rng.uniform()).collect()
}

fn from_values(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
    // The count always matches, since it was computed from `shape`.
    Tensor::from_f64s(dtype, shape, values).unwrap_or_else(|| Tensor::full(dtype, shape, 0.0))
}

/// (fan_in, fan_out) of a weight used as `x @ W`: rank 0 is (1, 1), rank 1
/// `[n]` is (n, n), rank 2 `[a, b]` is (a, b), and `[a, b, rest...]` is
/// (a * prod(rest), b * prod(rest)).
fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [a, b, rest @ ..] => {
            let field: usize = rest.iter().product();
            (a * field, b * field)
        }
    }
}

/// A (semi-)orthogonal matrix, flattened to (dim0, product of the rest),
/// times `gain`, in row-major order.
///
/// A Gaussian matrix is drawn row by row; its taller orientation is
/// QR-decomposed with Householder reflections, and each column of Q is
/// multiplied by the sign of the matching diagonal entry of R. That makes
/// the result the Q of the unique QR with a positive diagonal, which is
/// distributed uniformly (Haar) over the orthogonal matrices. Wide shapes
/// use the transpose, so their rows rather than columns are orthonormal.
fn orthogonal(shape: &[usize], gain: f64, seed: u64) -> Vec<f64> {
    let (rows, cols) = match shape {
        [] => (1, 1),
        [n] => (1, *n),
        [first, rest @ ..] => (*first, rest.iter().product()),
    };
    let gaussian = normals(seed, rows * cols, 0.0, 1.0);
    let transpose = rows < cols;
    let (tall, wide) = if transpose { (cols, rows) } else { (rows, cols) };
    // `m` is tall x wide, row-major.
    let m: Vec<f64> = if transpose {
        (0..tall * wide).map(|idx| gaussian[(idx % wide) * cols + idx / wide]).collect()
    } else {
        gaussian
    };
    let q = householder_q(m, tall, wide);
    let mut out = vec![0.0; rows * cols];
    for i in 0..tall {
        for j in 0..wide {
            let value = gain * q[i * wide + j];
            if transpose {
                out[j * cols + i] = value;
            } else {
                out[i * cols + j] = value;
            }
        }
    }
    out
}

/// The thin Q (rows x cols, rows >= cols, row-major) of the QR decomposition
/// of `a` with R's diagonal made positive.
fn householder_q(mut a: Vec<f64>, rows: usize, cols: usize) -> Vec<f64> {
    // Reflector j is I - 2 v v^T / (v^T v), acting on rows j.. .
    let mut reflectors: Vec<Vec<f64>> = Vec::with_capacity(cols);
    let mut diagonal_signs = vec![1.0; cols];
    for j in 0..cols {
        let x: Vec<f64> = (j..rows).map(|i| a[i * cols + j]).collect();
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        // alpha = -sign(x0) |x| keeps v = x - alpha e0 free of cancellation.
        let alpha = if x[0] >= 0.0 { -norm } else { norm };
        let mut v = x;
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|t| t * t).sum();
        if vv > 0.0 {
            for c in j..cols {
                let dot: f64 = (j..rows).map(|i| v[i - j] * a[i * cols + c]).sum();
                let scale = 2.0 * dot / vv;
                for i in j..rows {
                    a[i * cols + c] -= scale * v[i - j];
                }
            }
        }
        // R[j][j] is now a[j][j] (alpha, or x0 when no reflection was needed).
        if a[j * cols + j] < 0.0 {
            diagonal_signs[j] = -1.0;
        }
        reflectors.push(if vv > 0.0 { v } else { Vec::new() });
    }
    // Q = H_0 H_1 ... H_{cols-1} applied to the first `cols` columns of I.
    let mut q = vec![0.0; rows * cols];
    for j in 0..cols {
        q[j * cols + j] = 1.0;
    }
    for (j, v) in reflectors.iter().enumerate().rev() {
        if v.is_empty() {
            continue;
        }
        let vv: f64 = v.iter().map(|t| t * t).sum();
        for c in 0..cols {
            let dot: f64 = (j..rows).map(|i| v[i - j] * q[i * cols + c]).sum();
            let scale = 2.0 * dot / vv;
            for i in j..rows {
                q[i * cols + c] -= scale * v[i - j];
            }
        }
    }
    for i in 0..rows {
        for (j, sign) in diagonal_signs.iter().enumerate() {
            q[i * cols + j] *= sign;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(init: Init, dtype: DType, dims: &[usize]) -> Tensor {
        let info = ParamInfo { name: "w".to_string(), node: tx_ir::NodeId(0), init, frozen: false };
        init_param(&info, &Type::new(dtype, tx_ir::Shape::new(dims.iter().copied())))
    }

    /// (A A^T or A^T A, whichever is the smaller) minus I, largest entry.
    fn orthogonality_error(values: &[f64], rows: usize, cols: usize, gain: f64) -> f64 {
        let (outer, inner, at) = if rows <= cols {
            (rows, cols, Box::new(move |i: usize, k: usize| values[i * cols + k]) as Box<dyn Fn(usize, usize) -> f64>)
        } else {
            (cols, rows, Box::new(move |j: usize, k: usize| values[k * cols + j]) as Box<dyn Fn(usize, usize) -> f64>)
        };
        let mut worst: f64 = 0.0;
        for i in 0..outer {
            for j in 0..outer {
                let dot: f64 = (0..inner).map(|k| at(i, k) * at(j, k)).sum::<f64>() / (gain * gain);
                let expect = if i == j { 1.0 } else { 0.0 };
                worst = worst.max((dot - expect).abs());
            }
        }
        worst
    }

    #[test]
    fn orthogonal_is_orthonormal_in_every_orientation() {
        for (dims, gain) in
            [(vec![5, 5], 1.0), (vec![7, 3], 2.0), (vec![3, 7], 0.5), (vec![4, 2, 3], 1.0), (vec![6], 1.0)]
        {
            let t = param(Init::Orthogonal { gain, seed: 11 }, DType::F64, &dims);
            assert_eq!(t.shape(), dims.as_slice());
            let rows = if dims.len() == 1 { 1 } else { dims[0] };
            let cols = t.len() / rows;
            let error = orthogonality_error(&t.to_f64s(), rows, cols, gain);
            assert!(error < 1e-12, "{dims:?}: {error}");
        }
    }

    #[test]
    fn orthogonal_r_has_a_positive_diagonal() {
        // Q^T G = R must be upper triangular with a positive diagonal.
        let (rows, cols) = (6, 4);
        let q = param(Init::Orthogonal { gain: 1.0, seed: 3 }, DType::F64, &[rows, cols]).to_f64s();
        let g = normals(3, rows * cols, 0.0, 1.0);
        for i in 0..cols {
            for j in 0..cols {
                let r: f64 = (0..rows).map(|k| q[k * cols + i] * g[k * cols + j]).sum();
                if i == j {
                    assert!(r > 0.0, "R[{i}][{i}] = {r}");
                } else if i > j {
                    assert!(r.abs() < 1e-12, "R[{i}][{j}] = {r}");
                }
            }
        }
    }

    #[test]
    fn initializers_are_deterministic_per_seed() {
        let inits = [
            Init::Normal { mean: 0.0, std: 1.0, seed: 5 },
            Init::Uniform { low: -1.0, high: 1.0, seed: 5 },
            Init::Glorot { gain: 1.0, seed: 5 },
            Init::GlorotNormal { gain: 1.0, seed: 5 },
            Init::Orthogonal { gain: 1.0, seed: 5 },
        ];
        for init in inits {
            let a = param(init.clone(), DType::F32, &[4, 3]);
            let b = param(init.clone(), DType::F32, &[4, 3]);
            assert_eq!(a, b, "{init}");
            let reseeded = match init {
                Init::Normal { mean, std, .. } => Init::Normal { mean, std, seed: 6 },
                Init::Uniform { low, high, .. } => Init::Uniform { low, high, seed: 6 },
                Init::Glorot { gain, .. } => Init::Glorot { gain, seed: 6 },
                Init::GlorotNormal { gain, .. } => Init::GlorotNormal { gain, seed: 6 },
                Init::Orthogonal { gain, .. } => Init::Orthogonal { gain, seed: 6 },
                Init::Fill(v) => Init::Fill(v),
            };
            assert_ne!(a, param(reseeded, DType::F32, &[4, 3]), "{init}");
        }
    }

    #[test]
    fn glorot_stays_within_its_bound_and_fills_it() {
        // fan_in = 300, fan_out = 100: a = 2 * sqrt(6 / 400).
        let limit = 2.0 * (6.0f64 / 400.0).sqrt();
        let values = param(Init::Glorot { gain: 2.0, seed: 1 }, DType::F64, &[300, 100]).to_f64s();
        assert!(values.iter().all(|v| v.abs() <= limit));
        let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(largest > 0.99 * limit, "{largest} vs {limit}");
        // Higher rank [a, b, rest]: fans a * 9 = 18 and b * 9 = 27.
        let limit = (6.0f64 / 45.0).sqrt();
        let values = param(Init::Glorot { gain: 1.0, seed: 2 }, DType::F64, &[2, 3, 3, 3]).to_f64s();
        assert!(values.iter().all(|v| v.abs() <= limit));
    }

    fn moments(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn normal_initializers_have_their_moments() {
        let (mean, var) =
            moments(&param(Init::Normal { mean: 3.0, std: 2.0, seed: 9 }, DType::F64, &[200, 100]).to_f64s());
        assert!((mean - 3.0).abs() < 0.05, "{mean}");
        assert!((var - 4.0).abs() < 0.1, "{var}");
        // glorot_normal: variance 2 / (fan_in + fan_out) = 2 / 300.
        let (mean, var) = moments(&param(Init::GlorotNormal { gain: 1.0, seed: 9 }, DType::F64, &[200, 100]).to_f64s());
        assert!(mean.abs() < 0.002, "{mean}");
        assert!((var / (2.0 / 300.0) - 1.0).abs() < 0.03, "{var}");
        let (mean, var) =
            moments(&param(Init::Uniform { low: -1.0, high: 3.0, seed: 9 }, DType::F64, &[200, 100]).to_f64s());
        // U(-1, 3): mean 1, variance 16 / 12.
        assert!((mean - 1.0).abs() < 0.03, "{mean}");
        assert!((var - 16.0 / 12.0).abs() < 0.03, "{var}");
    }

    #[test]
    fn fill_converts_to_the_dtype() {
        assert_eq!(param(Init::Fill(2.7), DType::I64, &[2]), Tensor::I64(ndarray::arr1(&[2, 2]).into_dyn()));
        assert_eq!(param(Init::Fill(1.0), DType::Bool, &[]), Tensor::Bool(ndarray::arr0(true).into_dyn()));
        assert_eq!(param(Init::Fill(0.5), DType::F32, &[1, 2]).to_f64s(), vec![0.5, 0.5]);
    }

    #[test]
    fn fans_follow_x_at_w() {
        assert_eq!(fans(&[]), (1, 1));
        assert_eq!(fans(&[7]), (7, 7));
        assert_eq!(fans(&[784, 240]), (784, 240));
        assert_eq!(fans(&[2, 3, 4, 5]), (40, 60));
    }
}
