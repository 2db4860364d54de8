//! MNIST in its original IDX format, gzip-compressed or not.
//!
//! A directory with the four files (`train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each optionally with `.gz`) gives the usual
//! 60,000/10,000 split. A directory with only the two `t10k` files (the test
//! set, which is what this project's machines have) gives the fixed split
//! used for the experiments here: the first 8,000 images for training, the
//! last 2,000 for testing. Pixels are scaled to [0, 1].

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};

use crate::digits::{Dataset, Split};

/// Training rows of the split of the t10k files alone.
pub const T10K_TRAIN_ROWS: usize = 8000;

/// Loads MNIST from `dir`.
pub fn mnist(dir: &Path) -> Result<Split, String> {
    let find = |stem: &str| -> Option<PathBuf> {
        [stem.to_string(), format!("{stem}.gz")].into_iter().map(|name| dir.join(name)).find(|p| p.is_file())
    };
    let test_images = find("t10k-images-idx3-ubyte");
    let test_labels = find("t10k-labels-idx1-ubyte");
    let (Some(test_images), Some(test_labels)) = (test_images, test_labels) else {
        return Err(format!(
            "`{}` does not hold the MNIST test files t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)",
            dir.display()
        ));
    };
    let test = dataset(&test_images, &test_labels)?;
    match (find("train-images-idx3-ubyte"), find("train-labels-idx1-ubyte")) {
        (Some(images), Some(labels)) => Ok(Split { train: dataset(&images, &labels)?, test }),
        _ => {
            if test.len() <= T10K_TRAIN_ROWS {
                return Err(format!("the MNIST test set in `{}` has only {} images", dir.display(), test.len()));
            }
            let rows: Vec<usize> = (0..test.len()).collect();
            let (train, rest) = rows.split_at(T10K_TRAIN_ROWS);
            Ok(Split { train: test.select(train), test: test.select(rest) })
        }
    }
}

fn dataset(images: &Path, labels: &Path) -> Result<Dataset, String> {
    let (image_dims, pixels) = read_idx(images, 0x0803)?;
    let (label_dims, label_bytes) = read_idx(labels, 0x0801)?;
    let &[count, rows, columns] = image_dims.as_slice() else { unreachable!("magic 0x0803 has 3 dimensions") };
    if label_dims[0] != count {
        return Err(format!(
            "`{}` has {count} images but `{}` has {} labels",
            images.display(),
            labels.display(),
            label_dims[0]
        ));
    }
    if let Some(bad) = label_bytes.iter().find(|&&l| l > 9) {
        return Err(format!("`{}` holds the label {bad}; MNIST labels are 0 to 9", labels.display()));
    }
    let x = Array2::from_shape_vec((count, rows * columns), pixels.iter().map(|&p| f32::from(p) / 255.0).collect())
        .map_err(|e| format!("`{}`: {e}", images.display()))?;
    let y = Array1::from_iter(label_bytes.iter().map(|&l| i64::from(l)));
    Ok(Dataset { x, y })
}

/// Reads an IDX file of unsigned bytes: its dimensions and data. Checks the
/// magic number and that the data is exactly as long as the dimensions say.
fn read_idx(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>), String> {
    let name = path.display();
    let raw = std::fs::read(path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .take(1 << 31)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot decompress `{name}`: {e}"))?;
        out
    } else {
        raw
    };
    let header =
        |i: usize| -> Option<u32> { bytes.get(4 * i..4 * i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])) };
    match header(0) {
        Some(m) if m == magic => {}
        Some(m) => {
            return Err(format!(
                "`{name}` is not an IDX file of the expected kind (magic {m:#010x}, expected {magic:#010x})"
            ));
        }
        None => return Err(format!("`{name}` is too short to be an IDX file")),
    }
    let rank = (magic & 0xff) as usize;
    let mut dims = Vec::with_capacity(rank);
    for i in 0..rank {
        dims.push(header(1 + i).ok_or_else(|| format!("`{name}` ends inside its header"))? as usize);
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("`{name}`: dimensions too large"))?;
    let data = &bytes[4 * (1 + rank)..];
    if data.len() != expected {
        return Err(format!(
            "`{name}` should hold {expected} bytes of data after its header, but holds {}",
            data.len()
        ));
    }
    Ok((dims, data.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_idx(dir: &Path, name: &str, magic: u32, dims: &[u32], data: &[u8]) {
        let mut bytes = magic.to_be_bytes().to_vec();
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(data);
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    #[test]
    fn reads_uncompressed_files_and_checks_them() {
        let dir = std::env::temp_dir().join(format!("tx-mnist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = T10K_TRAIN_ROWS as u32 + 3;
        let pixels: Vec<u8> = (0..n * 4).map(|i| (i % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        write_idx(&dir, "t10k-images-idx3-ubyte", 0x0803, &[n, 2, 2], &pixels);
        write_idx(&dir, "t10k-labels-idx1-ubyte", 0x0801, &[n], &labels);
        let split = mnist(&dir).unwrap();
        assert_eq!((split.train.len(), split.test.len()), (T10K_TRAIN_ROWS, 3));
        assert_eq!(split.train.x.row(1).to_vec(), vec![4.0 / 255.0, 5.0 / 255.0, 6.0 / 255.0, 7.0 / 255.0]);
        assert_eq!(split.test.y.to_vec(), vec![0, 1, 2]);
        write_idx(&dir, "t10k-labels-idx1-ubyte", 0x0801, &[n - 1], &labels[1..]);
        assert!(mnist(&dir).unwrap_err().contains("labels"));
        write_idx(&dir, "t10k-labels-idx1-ubyte", 0x0803, &[n], &labels);
        assert!(mnist(&dir).unwrap_err().contains("magic"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_the_real_test_set_when_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist-t10k");
        if !dir.is_dir() {
            eprintln!("note: {} is absent; the real MNIST files are not checked", dir.display());
            return;
        }
        let split = mnist(&dir).unwrap();
        assert_eq!((split.train.len(), split.test.len()), (8000, 2000));
        assert_eq!(split.train.x.ncols(), 784);
        // The first test labels of MNIST are 7, 2, 1, 0, 4.
        assert_eq!(split.train.y.iter().take(5).copied().collect::<Vec<_>>(), vec![7, 2, 1, 0, 4]);
    }
}
