//! Printing values: numpy-like text for people, one JSON line for programs.

use tx_tensor::Tensor;

/// Above this many elements only the corners of each axis are shown.
const SUMMARIZE_ABOVE: usize = 1000;
const EDGE_ITEMS: usize = 3;

/// Nested brackets like numpy's `repr`, summarized with `...` when large.
pub fn pretty(tensor: &Tensor) -> String {
    let values = element_texts(tensor);
    let shape = tensor.shape().to_vec();
    let summarize = values.len() > SUMMARIZE_ABOVE;
    let width = values.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    nested(&mut out, &values, &shape, 0, 0, summarize, width);
    out
}

fn nested(out: &mut String, values: &[String], shape: &[usize], axis: usize, offset: usize, summarize: bool, width: usize) {
    if axis == shape.len() {
        out.push_str(&format!("{:>width$}", values[offset]));
        return;
    }
    let n = shape[axis];
    let stride: usize = shape[axis + 1..].iter().product();
    out.push('[');
    let shown: Vec<Option<usize>> = if summarize && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS).map(Some).chain(std::iter::once(None)).chain((n - EDGE_ITEMS..n).map(Some)).collect()
    } else {
        (0..n).map(Some).collect()
    };
    for (k, index) in shown.iter().enumerate() {
        if k > 0 {
            out.push(',');
            if axis + 1 < shape.len() {
                out.push('\n');
                out.push_str(&" ".repeat(axis + 1));
            } else {
                out.push(' ');
            }
        }
        match index {
            Some(i) => nested(out, values, shape, axis + 1, offset + i * stride, summarize, width),
            None => out.push_str("..."),
        }
    }
    out.push(']');
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
        assert!(pretty(&big).contains("..."));
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
