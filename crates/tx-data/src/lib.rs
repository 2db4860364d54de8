//! tx-data: data in and out of tx. It owns reading and writing data files
//! (the NumPy `.npy` format, in [`npy`]) and the data sets embedded in the
//! binary (the UCI handwritten digits, in [`digits`](mod@digits)). Everything
//! here produces or consumes [`Tensor`](tx_tensor::Tensor)s and ndarray
//! arrays.
//!
//! **Architecture invariant:** this crate knows nothing about the `.tx`
//! syntax, graphs or evaluation: it moves numbers between files and arrays.
//! Bad files give an error value, never a panic, and library code never
//! prints.

pub mod digits;
pub mod mnist;
pub mod npy;
pub mod npz;
pub mod tables;

pub use digits::{DIGITS_SPLIT_SEED, Dataset, DigitsError, Split, digits, digits_split};
pub use npy::NpyError;
