//! The UCI handwritten digits, embedded in the binary so that examples,
//! tests and benchmarks have real data with no download.
//!
//! The data is the UCI "Optical Recognition of Handwritten Digits" test set
//! as shipped in scikit-learn 1.9.1 (CC BY 4.0; see `data/README.md`):
//! 1,797 images of 8x8 pixels with intensities 0..16, labels 0..9. [`digits`]
//! returns the pixels row-major as 64 f32 features divided by 16, so every
//! feature lies in [0, 1].
//!
//! # The fixed split
//!
//! [`digits_split`] always returns the same split, so that accuracies
//! reported anywhere in tx are comparable: the row indices `0..1797` are
//! shuffled with a Fisher–Yates shuffle driven by
//! `Rng::new(DIGITS_SPLIT_SEED)` (for `i` from 1796 down to 1, swap `i`
//! with `rng.below(i + 1)`), then the first 1,437 shuffled indices (80%) are
//! the training set and the last 360 the test set, each in shuffled order.

use std::fmt;
use std::io::Read;

use flate2::read::GzDecoder;
use ndarray::{Array1, Array2, Axis};
use tx_tensor::rng::Rng;

/// The seed of the fixed train/test split; changing it changes every
/// reported digits accuracy.
pub const DIGITS_SPLIT_SEED: u64 = 1797;

/// Rows in the digits data set.
pub const DIGITS_ROWS: usize = 1797;

/// Features per row: 8x8 pixels.
pub const DIGITS_FEATURES: usize = 64;

/// Rows in the training part of [`digits_split`]; the rest are the test part.
pub const DIGITS_TRAIN_ROWS: usize = 1437;

/// A labelled data set: one example per row of `x`, its class in `y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub x: Array2<f32>,
    pub y: Array1<i64>,
}

impl Dataset {
    /// The number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The examples at `rows`, in that order (repeats allowed).
    ///
    /// # Panics
    /// If a row index is out of range: indices come from the program, not
    /// from the user.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        Dataset { x: self.x.select(Axis(0), rows), y: self.y.select(Axis(0), rows) }
    }
}

/// A training set and a test set with no example in common.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}

/// All 1,797 digits, pixels scaled to [0, 1], in file order.
///
/// The data is embedded, so an error here means the embedded file is
/// damaged: a bug in the build, reported as a value rather than a panic.
pub fn digits() -> Result<Dataset, DigitsError> {
    let mut text = Vec::new();
    GzDecoder::new(DIGITS_CSV_GZ).read_to_end(&mut text).map_err(|e| DigitsError::Decompress(e.to_string()))?;
    let dataset = parse_csv(&text)?;
    if dataset.len() != DIGITS_ROWS {
        return Err(DigitsError::RowCount { found: dataset.len() });
    }
    Ok(dataset)
}

/// The fixed 1,437/360 train/test split described in the module docs.
///
/// ```
/// let split = tx_data::digits_split().unwrap();
/// assert_eq!((split.train.len(), split.test.len()), (1437, 360));
/// assert_eq!(split.train.x.ncols(), 64);
/// ```
pub fn digits_split() -> Result<Split, DigitsError> {
    let all = digits()?;
    let order = shuffled_indices(all.len(), DIGITS_SPLIT_SEED);
    let (train, test) = order.split_at(DIGITS_TRAIN_ROWS);
    Ok(Split { train: all.select(train), test: all.select(test) })
}

/// Why the embedded digits could not be loaded.
#[derive(Clone, Debug, PartialEq)]
pub enum DigitsError {
    /// The gzip stream is damaged.
    Decompress(String),
    /// A line is not 64 pixels in 0..=16 and a label in 0..=9.
    /// `line` counts from 1.
    Parse { line: usize, reason: String },
    /// The file parsed but has the wrong number of rows.
    RowCount { found: usize },
}

impl fmt::Display for DigitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigitsError::Decompress(reason) => {
                write!(f, "cannot decompress the embedded digits data: {reason}")
            }
            DigitsError::Parse { line, reason } => {
                write!(f, "the embedded digits data is malformed at line {line}: {reason}")
            }
            DigitsError::RowCount { found } => {
                write!(f, "the embedded digits data has {found} rows where {DIGITS_ROWS} were expected")
            }
        }
    }
}

impl std::error::Error for DigitsError {}

static DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// The largest pixel intensity; pixels are divided by it.
const MAX_INTENSITY: u8 = 16;
const CLASSES: u8 = 10;

/// Parses rows of 64 pixel intensities and a label, comma-separated, one
/// row per line (a final newline and `\r\n` endings allowed).
fn parse_csv(text: &[u8]) -> Result<Dataset, DigitsError> {
    let text = std::str::from_utf8(text)
        .map_err(|e| DigitsError::Parse { line: 1 + line_of(text, e.valid_up_to()), reason: "not UTF-8".into() })?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
    for (index, line) in lines.enumerate() {
        let error = |reason: String| DigitsError::Parse { line: index + 1, reason };
        let fields: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
        if fields.len() != DIGITS_FEATURES + 1 {
            return Err(error(format!(
                "expected {} comma-separated values, found {}",
                DIGITS_FEATURES + 1,
                fields.len()
            )));
        }
        let (label, row) = fields.split_last().unwrap_or((&"", &[]));
        for (column, field) in row.iter().enumerate() {
            let value = parse_small(field, MAX_INTENSITY).ok_or_else(|| {
                error(format!("pixel {} is `{field}`, not an integer from 0 to {MAX_INTENSITY}", column + 1))
            })?;
            pixels.push(f32::from(value) / f32::from(MAX_INTENSITY));
        }
        let label = parse_small(label, CLASSES - 1)
            .ok_or_else(|| error(format!("the label is `{label}`, not an integer from 0 to {}", CLASSES - 1)))?;
        labels.push(i64::from(label));
    }
    let rows = labels.len();
    let x = Array2::from_shape_vec((rows, DIGITS_FEATURES), pixels)
        .map_err(|e| DigitsError::Parse { line: rows, reason: e.to_string() })?;
    Ok(Dataset { x, y: Array1::from(labels) })
}

/// An integer in `0..=max`, surrounding spaces allowed.
fn parse_small(field: &str, max: u8) -> Option<u8> {
    field.trim().parse::<u8>().ok().filter(|&v| v <= max)
}

/// The 0-based line that byte `offset` is on.
fn line_of(text: &[u8], offset: usize) -> usize {
    text[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count()
}

/// `0..n` shuffled by Fisher–Yates with `Rng::new(seed)`.
pub(crate) fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut indices: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        indices.swap(i, j);
    }
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Examples per class 0..9 in the whole file, counted once with
    /// `zcat digits.csv.gz | cut -d, -f65 | sort | uniq -c`.
    const CLASS_COUNTS: [usize; 10] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];

    fn class_counts(y: &Array1<i64>) -> [usize; 10] {
        let mut counts = [0; 10];
        for &label in y {
            counts[usize::try_from(label).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn digits_has_the_documented_shape_range_and_classes() {
        let data = digits().unwrap();
        assert_eq!(data.len(), DIGITS_ROWS);
        assert_eq!(data.x.dim(), (1797, 64));
        assert!(data.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        // Both ends of the range occur, so the scaling is by 16, not by the maximum seen.
        assert!(data.x.iter().any(|&v| v == 0.0) && data.x.iter().any(|&v| v == 1.0));
        let counts = class_counts(&data.y);
        assert_eq!(counts, CLASS_COUNTS);
        assert!(counts.iter().all(|&c| (170..=190).contains(&c)));
    }

    #[test]
    fn first_row_matches_the_file() {
        // The first line of digits.csv: 0,0,5,13,9,1,0,0,... label 0.
        let data = digits().unwrap();
        let first: Vec<f32> = data.x.row(0).iter().take(6).map(|v| v * 16.0).collect();
        assert_eq!(first, [0.0, 0.0, 5.0, 13.0, 9.0, 1.0]);
        assert_eq!(data.y[0], 0);
        assert_eq!(data.y[1796], 8);
    }

    #[test]
    fn split_is_fixed_disjoint_and_complete() {
        let split = digits_split().unwrap();
        assert_eq!(split.train.len(), 1437);
        assert_eq!(split.test.len(), 360);
        assert_eq!(split, digits_split().unwrap());

        let order = shuffled_indices(DIGITS_ROWS, DIGITS_SPLIT_SEED);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..DIGITS_ROWS).collect::<Vec<_>>());

        let all = digits().unwrap();
        assert_eq!(split.train, all.select(&order[..1437]));
        assert_eq!(split.test, all.select(&order[1437..]));

        // Pinned so that a change to the shuffle or to the generator, which
        // would silently change every reported accuracy, fails here.
        assert_eq!(&order[..5], PINNED_FIRST_TRAIN_ROWS);
        assert_eq!(class_counts(&split.test.y), PINNED_TEST_CLASS_COUNTS);
        let train_counts = class_counts(&split.train.y);
        let test_counts = class_counts(&split.test.y);
        for class in 0..10 {
            assert_eq!(train_counts[class] + test_counts[class], CLASS_COUNTS[class]);
        }
    }

    // Computed once, and confirmed by an independent Python implementation
    // of xoshiro256++ and of the shuffle described in the module docs.
    const PINNED_FIRST_TRAIN_ROWS: &[usize] = &[831, 259, 1292, 1044, 382];
    const PINNED_TEST_CLASS_COUNTS: [usize; 10] = [32, 32, 31, 46, 33, 48, 39, 30, 39, 30];

    #[test]
    fn select_takes_rows_in_order() {
        let data = digits().unwrap();
        let picked = data.select(&[3, 1, 3]);
        assert_eq!(picked.len(), 3);
        assert_eq!(picked.x.row(0), data.x.row(3));
        assert_eq!(picked.x.row(1), data.x.row(1));
        assert_eq!(picked.y.to_vec(), [data.y[3], data.y[1], data.y[3]]);
        assert!(data.select(&[]).is_empty());
    }

    fn check_parse_error(text: &str, expect: &str) {
        let error = parse_csv(text.as_bytes()).unwrap_err();
        assert_eq!(error.to_string(), expect);
    }

    fn row(pixel: &str, label: &str) -> String {
        let mut fields = vec!["0"; 64];
        fields[0] = pixel;
        fields.push(label);
        fields.join(",")
    }

    #[test]
    fn parse_errors_name_the_line_and_the_problem() {
        let good = row("16", "9");
        let parsed = parse_csv(format!("{good}\r\n{good}\n").as_bytes()).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed.x[[1, 0]], 1.0);
        assert_eq!(parsed.y.to_vec(), [9, 9]);

        check_parse_error(
            &format!("{good}\n1,2,3\n"),
            "the embedded digits data is malformed at line 2: expected 65 comma-separated values, found 3",
        );
        check_parse_error(
            &row("17", "1"),
            "the embedded digits data is malformed at line 1: pixel 1 is `17`, not an integer from 0 to 16",
        );
        check_parse_error(
            &row("-1", "1"),
            "the embedded digits data is malformed at line 1: pixel 1 is `-1`, not an integer from 0 to 16",
        );
        check_parse_error(
            &row("1", "10"),
            "the embedded digits data is malformed at line 1: the label is `10`, not an integer from 0 to 9",
        );
        check_parse_error(
            &format!("{good}\n\n{good}"),
            "the embedded digits data is malformed at line 2: expected 65 comma-separated values, found 1",
        );
        let error = parse_csv(b"1,\xff").unwrap_err();
        assert_eq!(error.to_string(), "the embedded digits data is malformed at line 1: not UTF-8");
    }
}
