//! Data sets from files a user brings: CSV (features, then the label in the
//! last column) and `.npz` (`x_train`, `y_train`, `x_test`, `y_test`).

use std::io::Read;
use std::path::Path;

use ndarray::{Array1, Array2};
use tx_tensor::Tensor;

use crate::digits::{Dataset, Split, shuffled_indices};

/// The seed of the fixed split of a CSV file, as for the digits.
pub const CSV_SPLIT_SEED: u64 = 1797;

/// A CSV file (gzip-compressed when its name ends in `.gz`): one example a
/// row, numeric features, then an integer label of 0 or more in the last
/// column; a first row that is not numbers is a header. Split like the
/// digits: a fixed seeded shuffle, the first 80% for training.
pub fn csv(path: &Path) -> Result<Split, String> {
    let name = path.display();
    let raw = std::fs::read(path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
    let text = if name.to_string().ends_with(".gz") {
        let mut out = String::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .take(1 << 32)
            .read_to_string(&mut out)
            .map_err(|e| format!("cannot decompress `{name}`: {e}"))?;
        out
    } else {
        String::from_utf8(raw).map_err(|_| format!("`{name}` is not UTF-8 text"))?
    };
    let mut features: Vec<f32> = Vec::new();
    let mut labels: Vec<i64> = Vec::new();
    let mut width: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let numbers: Option<Vec<f64>> = cells.iter().map(|c| c.parse::<f64>().ok()).collect();
        let Some(numbers) = numbers else {
            if index == 0 {
                continue; // a header
            }
            return Err(format!("`{name}` line {}: every value must be a number", index + 1));
        };
        if numbers.len() < 2 {
            return Err(format!("`{name}` line {}: a row needs features and a label", index + 1));
        }
        match width {
            None => width = Some(numbers.len()),
            Some(w) if w != numbers.len() => {
                return Err(format!(
                    "`{name}` line {}: {} values where earlier rows have {w}",
                    index + 1,
                    numbers.len()
                ));
            }
            Some(_) => {}
        }
        let (label, row) = numbers.split_last().expect("two values or more");
        if label.fract() != 0.0 || *label < 0.0 || *label > 1e9 {
            return Err(format!("`{name}` line {}: the label {label} is not a class number (0, 1, 2, ...)", index + 1));
        }
        if row.iter().any(|v| !v.is_finite()) {
            return Err(format!("`{name}` line {}: a feature is not a finite number", index + 1));
        }
        features.extend(row.iter().map(|&v| v as f32));
        labels.push(*label as i64);
    }
    let width = width.ok_or_else(|| format!("`{name}` holds no rows"))? - 1;
    if labels.len() < 2 {
        return Err(format!("`{name}` needs at least two rows to split into training and test sets"));
    }
    let all = Dataset {
        x: Array2::from_shape_vec((labels.len(), width), features).map_err(|e| e.to_string())?,
        y: Array1::from(labels),
    };
    let order = shuffled_indices(all.len(), CSV_SPLIT_SEED);
    let train_rows = (all.len() * 4 / 5).clamp(1, all.len() - 1);
    let (train, test) = order.split_at(train_rows);
    Ok(Split { train: all.select(train), test: all.select(test) })
}

/// An `.npz` archive with `x_train`, `y_train`, `x_test` and `y_test`:
/// float features of shape `[N, F]` and integer labels of shape `[N]`.
pub fn npz(path: &Path) -> Result<Split, String> {
    let arrays = crate::npz::read_file(path)?;
    let name = path.display();
    let get = |key: &str| {
        arrays.iter().find(|(n, _)| n == key).map(|(_, t)| t).ok_or_else(|| format!("`{name}` has no array `{key}`"))
    };
    let set = |x_key: &str, y_key: &str| -> Result<Dataset, String> {
        let (x, y) = (get(x_key)?, get(y_key)?);
        let x = match x.cast(tx_ir::DType::F32) {
            Tensor::F32(a) if x.dtype().is_float() || x.dtype() == tx_ir::DType::I64 => a,
            _ => return Err(format!("`{x_key}` in `{name}` must hold numbers")),
        };
        let x = x.into_dimensionality::<ndarray::Ix2>().map_err(|_| format!("`{x_key}` in `{name}` must be [N, F]"))?;
        let y = match y {
            Tensor::I64(a) => a.clone(),
            _ => return Err(format!("`{y_key}` in `{name}` must hold integer labels")),
        };
        let y = y.into_dimensionality::<ndarray::Ix1>().map_err(|_| format!("`{y_key}` in `{name}` must be [N]"))?;
        if y.len() != x.nrows() {
            return Err(format!("`{name}` has {} rows in `{x_key}` but {} labels in `{y_key}`", x.nrows(), y.len()));
        }
        if y.iter().any(|&l| l < 0) {
            return Err(format!("`{y_key}` in `{name}` holds a negative label"));
        }
        Ok(Dataset { x, y })
    };
    let split = Split { train: set("x_train", "y_train")?, test: set("x_test", "y_test")? };
    if split.train.x.ncols() != split.test.x.ncols() {
        return Err(format!("`{name}`: the training and test features differ in width"));
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_with_a_header_and_checks_rows() {
        let dir = std::env::temp_dir().join(format!("tx-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.csv");
        let mut text = String::from("a,b,label\n");
        for i in 0..10 {
            text.push_str(&format!("{i},{}.5,{}\n", i * 2, i % 3));
        }
        std::fs::write(&path, &text).unwrap();
        let split = csv(&path).unwrap();
        assert_eq!((split.train.len(), split.test.len(), split.train.x.ncols()), (8, 2, 2));
        let total: f32 = split.train.x.column(0).sum() + split.test.x.column(0).sum();
        assert_eq!(total, 45.0);
        std::fs::write(&path, "1,2,0\n3,4\n").unwrap();
        assert!(csv(&path).unwrap_err().contains("line 2: 2 values where earlier rows have 3"));
        std::fs::write(&path, "1,2,0.5\n").unwrap();
        assert!(csv(&path).unwrap_err().contains("not a class number"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_npz_data_sets() {
        let dir = std::env::temp_dir().join(format!("tx-npzdata-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.npz");
        let x = Tensor::F64(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3, 2]), vec![1.0; 6]).unwrap());
        let y = Tensor::I64(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3]), vec![0, 1, 2]).unwrap());
        crate::npz::write_file(&path, &[("x_train", &x), ("y_train", &y), ("x_test", &x), ("y_test", &y)]).unwrap();
        let split = npz(&path).unwrap();
        assert_eq!((split.train.len(), split.test.x.ncols()), (3, 2));
        crate::npz::write_file(&path, &[("x_train", &x), ("y_train", &y)]).unwrap();
        assert!(npz(&path).unwrap_err().contains("has no array `x_test`"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
