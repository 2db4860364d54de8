//! Printing values: numpy-like text for people, one JSON line for programs.

use tx_tensor::Tensor;

/// Above this many elements only the corners of each axis are shown.
const SUMMARIZE_ABOVE: usize = 1000;
const EDGE_ITEMS: usize = 3;

/// Nested brackets like numpy's `repr`, summarized with `...` when large.
/// Iterative, linear in rank plus printed elements, and only the printed
/// elements are formatted, so a tensor of any rank or size prints.
pub fn pretty(tensor: &Tensor) -> String {
    let shape = tensor.shape();
    if tensor.is_empty() {
        return if shape.is_empty() { String::new() } else { "[]".to_string() };
    }
    let summarize = tensor.len() > SUMMARIZE_ABOVE;
    // First walk: which elements are shown; then format just those.
    let mut offsets = Vec::new();
    walk(shape, summarize, |token| {
        if let Token::Element(offset) = token {
            offsets.push(offset);
        }
    });
    let texts = element_texts(tensor, &offsets);
    let width = texts.iter().map(String::len).max().unwrap_or(0);
    let mut texts = texts.into_iter();
    let mut out = String::new();
    walk(shape, summarize, |token| match token {
        Token::Open => out.push('['),
        Token::Close => out.push(']'),
        Token::Separator { inner } => {
            out.push(',');
            match inner {
                Some(depth) => {
                    out.push('\n');
                    out.push_str(&" ".repeat(depth));
                }
                None => out.push(' '),
            }
        }
        Token::Ellipsis => out.push_str("..."),
        Token::Element(_) => out.push_str(&format!("{:>width$}", texts.next().unwrap_or_default())),
    });
    out
}

/// The pieces of a printed tensor, in order.
enum Token {
    Open,
    Close,
    /// Between two items; `inner` is the indentation when the items are
    /// themselves arrays (and go on separate lines).
    Separator {
        inner: Option<usize>,
    },
    Ellipsis,
    /// The element at this row-major offset.
    Element(usize),
}

/// Visits the printed form of a tensor of `shape` (rank 1 or more) without
/// recursion: a stack of positions, one per open bracket.
fn walk(shape: &[usize], summarize: bool, mut visit: impl FnMut(Token)) {
    let rank = shape.len();
    if rank == 0 {
        visit(Token::Element(0));
        return;
    }
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
    let mut strides = vec![1usize; rank];
    for axis in (0..rank - 1).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    visit(Token::Open);
    let mut positions = vec![0usize];
    let mut offsets = vec![0usize];
    while let Some(&position) = positions.last() {
        let axis = positions.len() - 1;
        if position == shown[axis].len() {
            visit(Token::Close);
            positions.pop();
            offsets.pop();
            if let Some(last) = positions.last_mut() {
                *last += 1;
            }
            continue;
        }
        if position > 0 {
            visit(Token::Separator { inner: (axis + 1 < rank).then_some(axis + 1) });
        }
        match shown[axis][position] {
            None => {
                visit(Token::Ellipsis);
                positions[axis] += 1;
            }
            Some(i) if axis + 1 == rank => {
                visit(Token::Element(offsets[axis] + i * strides[axis]));
                positions[axis] += 1;
            }
            Some(i) => {
                visit(Token::Open);
                let offset = offsets[axis] + i * strides[axis];
                positions.push(0);
                offsets.push(offset);
            }
        }
    }
}

/// The elements at the given row-major offsets, each as the shortest text
/// that reads back to the same value.
fn element_texts(tensor: &Tensor, offsets: &[usize]) -> Vec<String> {
    fn pick<T: Clone>(a: &ndarray::ArrayD<T>, offsets: &[usize], text: impl Fn(&T) -> String) -> Vec<String> {
        let standard = a.as_standard_layout();
        let values = standard.as_slice().expect("a standard-layout array is contiguous");
        offsets.iter().map(|&i| text(&values[i])).collect()
    }
    match tensor {
        Tensor::F32(a) => pick(a, offsets, |v| float_text(f64::from(*v), format!("{v:?}"))),
        Tensor::F64(a) => pick(a, offsets, |v| float_text(*v, format!("{v:?}"))),
        Tensor::I64(a) => pick(a, offsets, ToString::to_string),
        Tensor::Bool(a) => pick(a, offsets, ToString::to_string),
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
/// on one line, written as it goes (the data of a large output is never held
/// as text). JSON has no NaN or infinity: those elements are `null`.
pub fn write_json(out: &mut impl std::io::Write, results: &[(String, Tensor)]) -> std::io::Result<()> {
    out.write_all(b"{\"outputs\": {")?;
    for (i, (name, tensor)) in results.iter().enumerate() {
        if i > 0 {
            out.write_all(b", ")?;
        }
        let shape: Vec<String> = tensor.shape().iter().map(ToString::to_string).collect();
        write!(
            out,
            "{}: {{\"shape\": [{}], \"dtype\": \"{}\", \"data\": [",
            json_string(name),
            shape.join(", "),
            tensor.dtype()
        )?;
        fn each<T>(
            out: &mut impl std::io::Write,
            a: &ndarray::ArrayD<T>,
            text: impl Fn(&T) -> String,
        ) -> std::io::Result<()> {
            for (k, v) in a.iter().enumerate() {
                if k > 0 {
                    out.write_all(b", ")?;
                }
                out.write_all(text(v).as_bytes())?;
            }
            Ok(())
        }
        match tensor {
            Tensor::F32(a) => each(out, a, |v| json_float(f64::from(*v), format!("{v:?}")))?,
            Tensor::F64(a) => each(out, a, |v| json_float(*v, format!("{v:?}")))?,
            Tensor::I64(a) => each(out, a, ToString::to_string)?,
            Tensor::Bool(a) => each(out, a, ToString::to_string)?,
        }
        out.write_all(b"]}")?;
    }
    out.write_all(b"}}\n")
}

/// [`write_json`] into a string (for tests).
#[cfg(test)]
fn json_outputs(results: &[(String, Tensor)]) -> String {
    let mut bytes = Vec::new();
    write_json(&mut bytes, results).expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the JSON is UTF-8").trim_end().to_string()
}

fn json_float(v: f64, shortest: String) -> String {
    if v.is_finite() { shortest } else { "null".to_string() }
}

/// A number for JSON: the shortest text that reads back, `null` for NaN
/// and the infinities.
pub(crate) fn json_number(v: f64) -> String {
    json_float(v, format!("{v:?}"))
}

/// A JSON object of numbers, keys in the order given.
pub(crate) fn json_object<'a>(entries: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let members: Vec<String> = entries.into_iter().map(|(k, v)| format!("{}: {v}", json_string(k))).collect();
    format!("{{{}}}", members.join(", "))
}

/// A duration for people: milliseconds below a second.
pub(crate) fn duration(d: std::time::Duration) -> String {
    let seconds = d.as_secs_f64();
    if seconds < 1.0 { format!("{:.3} ms", seconds * 1e3) } else { format!("{seconds:.3} s") }
}

pub(crate) fn json_string(s: &str) -> String {
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
