//! Printing values: numpy-like text for people, one JSON line for programs.

use tx_tensor::Tensor;

/// Above this many elements only the corners of each axis are shown.
const SUMMARIZE_ABOVE: usize = 1000;
const EDGE_ITEMS: usize = 3;

/// Nested brackets like numpy's `repr`, summarized with `...` when large.
/// Iterative, and linear in rank plus printed elements, so a tensor of any
/// rank prints.
pub fn pretty(tensor: &Tensor) -> String {
    let values = element_texts(tensor);
    let shape = tensor.shape();
    if shape.is_empty() {
        return values.first().cloned().unwrap_or_default();
    }
    if values.is_empty() {
        return "[]".to_string();
    }
    let summarize = values.len() > SUMMARIZE_ABOVE;
    let width = values.iter().map(String::len).max().unwrap_or(0);
    // The indices shown along each axis; `None` is the `...` of a summary.
    let shown: Vec<Vec<Option<usize>>> = shape
        .iter()
        .map(|&n| {
            if summarize && n > 2 * EDGE_ITEMS {
                (0..EDGE_ITEMS).map(Some).chain(std::iter::once(None)).chain((n - EDGE_ITEMS..n).map(Some)).collect()
            } else {
                (0..n).map(Some).collect()
            }
        })
        .collect();
    let mut strides = vec![1usize; shape.len()];
    for axis in (0..shape.len() - 1).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    let rank = shape.len();
    let mut out = String::from("[");
    // positions[a]: how far along `shown[a]` the walk is; offsets[a]: the
    // element offset of the sub-array being printed at depth a.
    let mut positions = vec![0usize];
    let mut offsets = vec![0usize];
    while let Some(&position) = positions.last() {
        let axis = positions.len() - 1;
        if position == shown[axis].len() {
            out.push(']');
            positions.pop();
            offsets.pop();
            if let Some(last) = positions.last_mut() {
                *last += 1;
            }
            continue;
        }
        if position > 0 {
            out.push(',');
            if axis + 1 < rank {
                out.push('\n');
                out.push_str(&" ".repeat(axis + 1));
            } else {
                out.push(' ');
            }
        }
        match shown[axis][position] {
            None => {
                out.push_str("...");
                positions[axis] += 1;
            }
            Some(i) if axis + 1 == rank => {
                out.push_str(&format!("{:>width$}", values[offsets[axis] + i * strides[axis]]));
                positions[axis] += 1;
            }
            Some(i) => {
                out.push('[');
                let offset = offsets[axis] + i * strides[axis];
                positions.push(0);
                offsets.push(offset);
            }
        }
    }
    out
}

/// Each element as the shortest text that reads back to the same value.
fn element_texts(tensor: &Tensor) -> Vec<String> {
    match tensor {
        Tensor::F32(a) => a.iter().map(|v| float_text(f64::from(*v), format!("{v:?}"))).collect(),
        Tensor::F64(a) => a.iter().map(|v| float_text(*v, format!("{v:?}"))).collect(),
        Tensor::I64(a) => a.iter().map(ToString::to_string).collect(),
        Tensor::Bool(a) => a.iter().map(ToString::to_string).collect(),
    }
}

fn float_text(v: f64, shortest: String) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".to_string() } else { "-inf".to_string() }
    } else {
        shortest
    }
}

/// `{"outputs": {"<name>": {"shape": [...], "dtype": "f32", "data": [...]}}}`
/// on one line. JSON has no NaN or infinity: those elements are `null`.
pub fn json_outputs(results: &[(String, Tensor)]) -> String {
    let mut out = String::from("{\"outputs\": {");
    for (i, (name, tensor)) in results.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let shape: Vec<String> = tensor.shape().iter().map(ToString::to_string).collect();
        let data: Vec<String> = match tensor {
            Tensor::F32(a) => a.iter().map(|v| json_float(f64::from(*v), format!("{v:?}"))).collect(),
            Tensor::F64(a) => a.iter().map(|v| json_float(*v, format!("{v:?}"))).collect(),
            Tensor::I64(a) => a.iter().map(ToString::to_string).collect(),
            Tensor::Bool(a) => a.iter().map(ToString::to_string).collect(),
        };
        out.push_str(&format!(
            "{}: {{\"shape\": [{}], \"dtype\": \"{}\", \"data\": [{}]}}",
            json_string(name),
            shape.join(", "),
            tensor.dtype(),
            data.join(", ")
        ));
    }
    out.push_str("}}");
    out
}

fn json_float(v: f64, shortest: String) -> String {
    if v.is_finite() { shortest } else { "null".to_string() }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn pretty_prints_like_numpy() {
        let t = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, 2.5, -3.0, 4.0]).unwrap());
        assert_eq!(pretty(&t), "[[ 1.0,  2.5],\n [-3.0,  4.0]]");
        let big = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[2000]), (0..2000).collect()).unwrap());
        assert_eq!(pretty(&big), "[   0,    1,    2, ..., 1997, 1998, 1999]");
        let cube = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[2, 2, 2]), (0..8).collect()).unwrap());
        assert_eq!(pretty(&cube), "[[[0, 1],\n  [2, 3]],\n [[4, 5],\n  [6, 7]]]");
        let empty = Tensor::F32(ArrayD::zeros(IxDyn(&[2, 0])));
        assert_eq!(pretty(&empty), "[]");
        let scalar = Tensor::Bool(ArrayD::from_elem(IxDyn(&[]), true));
        assert_eq!(pretty(&scalar), "true");
        let deep = Tensor::F32(ArrayD::zeros(IxDyn(&vec![1; 100_000])));
        assert_eq!(pretty(&deep).len(), 200_003);
    }

    #[test]
    fn json_has_null_for_nan() {
        let t = Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[2]), vec![f64::NAN, 0.5]).unwrap());
        assert_eq!(
            json_outputs(&[("y".into(), t)]),
            "{\"outputs\": {\"y\": {\"shape\": [2], \"dtype\": \"f64\", \"data\": [null, 0.5]}}}"
        );
    }
}
