//! Element types, dimensions, shapes and the numpy broadcasting rule.

use std::fmt;

/// The largest tensor tx handles, in bytes. Types whose known sizes exceed
/// it are rejected when the graph is built, and values that would exceed it
/// (symbolic sizes bound at a call) when it runs, so that no program can make
/// tx abort on an allocation.
pub const MAX_TENSOR_BYTES: usize = 1 << 32;

/// Checks a concrete shape against [`MAX_TENSOR_BYTES`]. A size-0
/// dimension counts as 1 here: an empty tensor whose other dimensions are
/// absurd is refused too, since loops over its rows (and ndarray itself)
/// still see those dimensions.
pub fn check_tensor_size(dtype: DType, dims: &[usize]) -> Result<usize, String> {
    let bound = dims.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n.max(1)));
    match bound {
        Some(n) if n.checked_mul(dtype.size()).is_some_and(|bytes| bytes <= MAX_TENSOR_BYTES) => {
            Ok(dims.iter().product())
        }
        _ => Err(format!(
            "a {dtype} tensor of shape {dims:?} is larger than the {} GiB tx allows for one tensor",
            MAX_TENSOR_BYTES >> 30
        )),
    }
}

/// The element types of tx tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    F64,
    I64,
    Bool,
}

impl DType {
    pub const ALL: [DType; 4] = [DType::F32, DType::F64, DType::I64, DType::Bool];

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::Bool => "bool",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Floats and integers: the types arithmetic is defined on.
    pub fn is_numeric(self) -> bool {
        self != DType::Bool
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One dimension: a size known when the graph is built, or a symbol (`B`)
/// bound when the graph is called.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Known(usize),
    Sym(String),
}

impl Dim {
    pub fn sym(name: impl Into<String>) -> Dim {
        Dim::Sym(name.into())
    }

    pub fn known(&self) -> Option<usize> {
        match self {
            Dim::Known(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }

    pub fn is_one(&self) -> bool {
        *self == Dim::Known(1)
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Dim {
        Dim::Known(n)
    }
}

impl From<&str> for Dim {
    fn from(name: &str) -> Dim {
        Dim::Sym(name.to_string())
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// A shape: one [`Dim`] per axis; rank 0 is a scalar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    pub fn new(dims: impl IntoIterator<Item = impl Into<Dim>>) -> Shape {
        Shape(dims.into_iter().map(Into::into).collect())
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    pub fn dims(&self) -> &[Dim] {
        &self.0
    }

    /// The element count when every dimension is known.
    pub fn known_size(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |acc, d| acc.checked_mul(d.known()?))
    }

    /// The symbols used, in order of first appearance.
    pub fn symbols(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for dim in &self.0 {
            if let Dim::Sym(s) = dim
                && !out.contains(&s.as_str())
            {
                out.push(s);
            }
        }
        out
    }

    /// The concrete sizes under the given symbol bindings.
    pub fn resolve(&self, bindings: &Bindings) -> Result<Vec<usize>, String> {
        self.0
            .iter()
            .map(|d| match d {
                Dim::Known(n) => Ok(*n),
                Dim::Sym(s) => bindings.get(s).ok_or_else(|| format!("dimension `{s}` is not bound")),
            })
            .collect()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// A tensor type: element type and shape. Printed `f32[B, 784]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Type {
    pub dtype: DType,
    pub shape: Shape,
}

impl Type {
    pub fn new(dtype: DType, shape: Shape) -> Type {
        Type { dtype, shape }
    }

    pub fn scalar(dtype: DType) -> Type {
        Type { dtype, shape: Shape::scalar() }
    }

    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    /// Fails when the known dimensions alone already exceed
    /// [`MAX_TENSOR_BYTES`] (symbolic ones count as 1 here).
    pub fn check_size(&self) -> Result<(), String> {
        let known: Vec<usize> = self.shape.0.iter().map(|d| d.known().unwrap_or(1)).collect();
        // (check_tensor_size counts size-0 dimensions as 1.)
        check_tensor_size(self.dtype, &known)
            .map(|_| ())
            .map_err(|_| format!("{self} is larger than the {} GiB tx allows for one tensor", MAX_TENSOR_BYTES >> 30))
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)
    }
}

/// Values of symbolic dimensions, fixed for one call of a graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bindings(Vec<(String, usize)>);

impl Bindings {
    pub fn new() -> Bindings {
        Bindings::default()
    }

    pub fn get(&self, name: &str) -> Option<usize> {
        self.0.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    /// Binds the symbols of `shape` to `actual`; fails when the rank differs,
    /// a known size differs, or a symbol is already bound to another size.
    pub fn unify(&mut self, shape: &Shape, actual: &[usize]) -> Result<(), String> {
        if shape.rank() != actual.len() {
            return Err(format!("expected rank {} ({shape}), got rank {} ({actual:?})", shape.rank(), actual.len()));
        }
        for (axis, (dim, &size)) in shape.0.iter().zip(actual).enumerate() {
            match dim {
                Dim::Known(n) if *n != size => {
                    return Err(format!("dimension {axis} must be {n} ({shape}), got {size}"));
                }
                Dim::Known(_) => {}
                Dim::Sym(s) => match self.get(s) {
                    Some(bound) if bound != size => {
                        return Err(format!(
                            "dimension {axis} is `{s}`, already bound to {bound} by an earlier input, got {size}"
                        ));
                    }
                    Some(_) => {}
                    None => self.0.push((s.clone(), size)),
                },
            }
        }
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }
}

/// The numpy broadcast of two shapes: align on the right, and each pair of
/// dimensions must be equal or one of them 1. A symbol broadcasts only with
/// itself or with 1, since its size is unknown until the call.
/// The error names the result axis that differs, in the words of diagnostics.
pub fn broadcast_shapes(a: &Shape, b: &Shape) -> Result<Shape, String> {
    let rank = a.rank().max(b.rank());
    let mut out = Vec::with_capacity(rank);
    for axis in 0..rank {
        let da = dim_from_right(a, rank - axis);
        let db = dim_from_right(b, rank - axis);
        let dim = match (da, db) {
            (None, Some(d)) | (Some(d), None) => d.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(x), Some(y)) if x.is_one() => y.clone(),
            (Some(x), Some(y)) if y.is_one() => x.clone(),
            (Some(x), Some(y)) => return Err(format!("dimension {axis} differs ({x} vs {y})")),
            (None, None) => unreachable!("axis below the larger rank"),
        };
        out.push(dim);
    }
    Ok(Shape(out))
}

/// The dimension `k` places from the right (k = 1 is the last), if any.
fn dim_from_right(shape: &Shape, k: usize) -> Option<&Dim> {
    shape.rank().checked_sub(k).map(|i| &shape.0[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &[Dim], b: &[Dim], expect: &str) {
        let got = match broadcast_shapes(&Shape(a.to_vec()), &Shape(b.to_vec())) {
            Ok(s) => s.to_string(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn broadcasting_follows_numpy() {
        let b = || Dim::sym("B");
        let k = Dim::Known;
        check(&[b(), k(240)], &[k(240)], "[B, 240]");
        check(&[b(), k(240)], &[k(10)], "error: dimension 1 differs (240 vs 10)");
        check(&[k(1), k(3)], &[k(2), k(1)], "[2, 3]");
        check(&[], &[k(0), k(3)], "[0, 3]");
        check(&[k(1)], &[k(0)], "[0]");
        check(&[b(), k(1)], &[k(1), b()], "[B, B]");
        check(&[b()], &[Dim::sym("N")], "error: dimension 0 differs (B vs N)");
        check(&[b()], &[k(3)], "error: dimension 0 differs (B vs 3)");
    }

    #[test]
    fn bindings_unify_symbols_once() {
        let mut bindings = Bindings::new();
        let shape = Shape(vec![Dim::sym("B"), Dim::Known(3)]);
        assert!(bindings.unify(&shape, &[5, 3]).is_ok());
        assert_eq!(bindings.get("B"), Some(5));
        assert!(bindings.unify(&shape, &[4, 3]).unwrap_err().contains("already bound to 5"));
        assert!(bindings.unify(&shape, &[5, 2]).unwrap_err().contains("must be 3"));
    }
}
