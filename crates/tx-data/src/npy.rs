//! The NumPy `.npy` format: one array per file, written here from the
//! specification (`numpy.lib.format`) rather than through a crate.
//!
//! A file is the magic string `\x93NUMPY`, a version (1.0, 2.0 or 3.0), the
//! header length (2 bytes in 1.0, 4 bytes after), a header that is a Python
//! dictionary literal with the keys `'descr'` (the dtype), `'fortran_order'`
//! and `'shape'`, padded with spaces and a newline, then the raw elements.
//!
//! Reading accepts every numeric dtype that maps onto a tx element type
//! without loss of meaning: `f4`, `f8`, `i8` and `b1` natively, in either byte
//! order; `f2` widened to f32; the other integer widths (`i1 i2 i4 u1 u2 u4
//! u8`) widened to i64, an `u8` value above `i64::MAX` being an error; any
//! nonzero `b1` byte reads as true. Fortran-ordered files come back in the
//! standard row-major layout. Writing produces what `numpy.save` produces,
//! byte for byte: `<f4 <f8 <i8 |b1`, version 1.0 (2.0 when the header does
//! not fit), the header padded so that the data starts on a 64-byte boundary.
//!
//! The header is parsed by a small parser for the Python literals that can
//! appear in it, never evaluated. Every length is checked against the input
//! before anything is allocated for it, so a hostile or damaged file gives an
//! [`NpyError`], never a panic, a hang or a huge allocation.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use tx_tensor::Tensor;

use literal::{Literal, excerpt, parse_literal};

mod literal;

/// Reads a `.npy` file held in memory.
pub fn read(bytes: &[u8]) -> Result<Tensor, NpyError> {
    let (header, data_offset) = parse_prefix(bytes)?;
    let data = &bytes[data_offset..];
    if data.len() != header.data_bytes {
        return Err(header.length_error(data.len() as u64, false));
    }
    decode(&header, data)
}

/// Reads a `.npy` file from disk. Errors name the path.
///
/// The file is read as a stream, the header first, so that a file that is
/// not a `.npy` file (or a device that never ends) is rejected after a few
/// bytes, and no more is ever read than the header promises plus one byte.
pub fn read_file(path: &Path) -> Result<Tensor, NpyError> {
    let io_error = |source| NpyError::Read { path: path.to_path_buf(), source };
    let in_file = |error| NpyError::InFile { path: path.to_path_buf(), error: Box::new(error) };

    let mut file = File::open(path).map_err(io_error)?;
    let regular_file_len = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());

    let mut bytes = Vec::new();
    read_until_len(&mut file, &mut bytes, LONGEST_PREAMBLE as u64).map_err(io_error)?;
    let preamble = parse_preamble(&bytes).map_err(in_file)?;
    let header_end = (preamble.len as u64) + u64::from(preamble.header_len);
    read_until_len(&mut file, &mut bytes, header_end).map_err(io_error)?;
    let (header, data_offset) = parse_prefix(&bytes).map_err(in_file)?;

    // One byte past the promised end tells a file with trailing data apart
    // from a complete one without reading the rest of it.
    let data_end = (data_offset as u64).saturating_add(header.data_bytes as u64);
    read_until_len(&mut file, &mut bytes, data_end.saturating_add(1)).map_err(io_error)?;
    let data = &bytes[data_offset..];
    if data.len() != header.data_bytes {
        let (actual, at_least) = match regular_file_len {
            Some(len) if data.len() > header.data_bytes => (len.saturating_sub(data_offset as u64), false),
            _ => (data.len() as u64, data.len() > header.data_bytes),
        };
        return Err(in_file(header.length_error(actual, at_least)));
    }
    decode(&header, data).map_err(in_file)
}

/// Encodes a tensor as a `.npy` file: `<f4`, `<f8`, `<i8` or `|b1`, C order,
/// exactly as `numpy.save` would write the same array.
///
/// ```
/// use tx_data::npy;
/// use tx_tensor::Tensor;
///
/// let tensor = Tensor::F32(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
/// let bytes = npy::write(&tensor);
/// assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
/// assert_eq!(npy::read(&bytes).unwrap(), tensor);
/// assert_eq!(
///     npy::read(&bytes[..bytes.len() - 1]).unwrap_err().to_string(),
///     "truncated .npy file: the header says 4 elements of <f4 (16 bytes) but 15 bytes follow",
/// );
/// ```
pub fn write(tensor: &Tensor) -> Vec<u8> {
    let descr = match tensor {
        Tensor::F32(_) => "<f4",
        Tensor::F64(_) => "<f8",
        Tensor::I64(_) => "<i8",
        Tensor::Bool(_) => "|b1",
    };
    let mut out = header_bytes(descr, tensor.shape());
    // `iter` walks the logical row-major order whatever the memory layout.
    match tensor {
        Tensor::F32(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Tensor::F64(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Tensor::I64(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Tensor::Bool(a) => out.extend(a.iter().map(|&v| u8::from(v))),
    }
    out
}

/// Writes a tensor to a `.npy` file atomically: the bytes go to a temporary
/// file in the same directory, which is flushed to disk and then renamed
/// over `path`. Readers see either the old file or the whole new one, and
/// on error the temporary file is removed.
pub fn write_file(path: &Path, tensor: &Tensor) -> Result<(), NpyError> {
    write_atomically(path, &write(tensor)).map_err(|source| NpyError::Write { path: path.to_path_buf(), source })
}

/// Why a `.npy` file could not be read or written. `Display` gives a plain
/// sentence for the user.
#[derive(Debug)]
pub enum NpyError {
    /// The input has no bytes at all.
    Empty,
    /// The input does not start with `\x93NUMPY`.
    BadMagic,
    /// A format version other than 1.0, 2.0 and 3.0.
    UnsupportedVersion { major: u8, minor: u8 },
    /// The input ends inside the magic string, version or header length.
    TruncatedPreamble { len: usize, needed: usize },
    /// The header length points past the end of the input.
    TruncatedHeader { header_len: u64, available: u64 },
    /// The header is not the dictionary the format requires.
    BadHeader(String),
    /// A well-formed dtype that tx has no element type for.
    UnsupportedDtype { descr: String, reason: &'static str },
    /// The shape's element count or byte size does not fit in memory.
    ShapeOverflow { shape: String },
    /// The data after the header is shorter or longer than the shape says.
    /// `at_least` means more than `actual_bytes` follow (a stream that was
    /// not read to its end).
    DataLength { elements: u64, descr: String, expected_bytes: u64, actual_bytes: u64, at_least: bool },
    /// An unsigned 64-bit element too large for i64.
    ValueOutOfRange { descr: String, index: u64, value: u64 },
    /// The file could not be opened or read.
    Read { path: PathBuf, source: io::Error },
    /// The file could not be written.
    Write { path: PathBuf, source: io::Error },
    /// The file was read but is not a valid `.npy` file.
    InFile { path: PathBuf, error: Box<NpyError> },
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpyError::Empty => write!(f, "not a .npy file: it is empty"),
            NpyError::BadMagic => write!(f, "not a .npy file: bad magic bytes"),
            NpyError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported .npy format version {major}.{minor}: tx reads versions 1.0, 2.0 and 3.0")
            }
            NpyError::TruncatedPreamble { len, needed } => {
                write!(
                    f,
                    "truncated .npy file: it ends after {}, inside the {needed}-byte preamble",
                    count(*len as u64, "byte")
                )
            }
            NpyError::TruncatedHeader { header_len, available } => write!(
                f,
                "truncated .npy file: the header is {} long but only {} follow the preamble",
                count(*header_len, "byte"),
                count(*available, "byte")
            ),
            NpyError::BadHeader(reason) => write!(f, "malformed .npy header: {reason}"),
            NpyError::UnsupportedDtype { descr, reason } => write!(
                f,
                "unsupported .npy dtype {descr} ({reason}); tx reads floats (f2, f4, f8), \
                 integers (i1 to i8, u1 to u8) and booleans (b1)"
            ),
            NpyError::ShapeOverflow { shape } => {
                write!(f, "the .npy shape {shape} has more elements than this machine can hold")
            }
            NpyError::DataLength { elements, descr, expected_bytes, actual_bytes, at_least } => {
                let what = if actual_bytes < expected_bytes {
                    "truncated .npy file"
                } else {
                    "the .npy file has trailing data"
                };
                let more = if *at_least { "more than " } else { "" };
                write!(
                    f,
                    "{what}: the header says {} of {descr} ({}) but {more}{} follow",
                    count(*elements, "element"),
                    count(*expected_bytes, "byte"),
                    count(*actual_bytes, "byte")
                )
            }
            NpyError::ValueOutOfRange { descr, index, value } => {
                write!(f, "element {index} of the .npy data ({descr}) is {value}, which does not fit in i64")
            }
            NpyError::Read { path, source } => {
                write!(f, "cannot read `{}`: {}", path.display(), io_message(source))
            }
            NpyError::Write { path, source } => {
                write!(f, "cannot write `{}`: {}", path.display(), io_message(source))
            }
            NpyError::InFile { path, error } => {
                write!(f, "cannot read `{}`: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for NpyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NpyError::Read { source, .. } | NpyError::Write { source, .. } => Some(source),
            NpyError::InFile { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Magic, version and a 4-byte header length (versions 2.0 and 3.0).
const LONGEST_PREAMBLE: usize = 12;
/// numpy aligns the start of the data to this many bytes.
const ARRAY_ALIGN: usize = 64;
/// numpy pads the header so that the first axis can later grow in place to
/// any length of up to this many digits; matched to stay byte-identical.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// `n thing` or `n things`.
fn count(n: u64, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// The operating system's message without Rust's ` (os error N)` suffix,
/// which means nothing to a user.
fn io_message(error: &io::Error) -> String {
    let message = error.to_string();
    match message.rfind(" (os error ") {
        Some(at) if message.ends_with(')') => message[..at].to_string(),
        _ => message,
    }
}

// ---------------------------------------------------------------------------
// Reading: preamble and header.

struct Preamble {
    /// Bytes before the header: 10 in version 1.0, 12 after.
    len: usize,
    header_len: u32,
    /// Version 3.0 headers are UTF-8; earlier ones are Latin-1.
    utf8: bool,
}

fn parse_preamble(bytes: &[u8]) -> Result<Preamble, NpyError> {
    if bytes.is_empty() {
        return Err(NpyError::Empty);
    }
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(NpyError::BadMagic);
    }
    // The version decides the preamble's length, so ask for the shortest
    // preamble until the version is known.
    let truncated = |needed| NpyError::TruncatedPreamble { len: bytes.len(), needed };
    let (&major, &minor) = match (bytes.get(6), bytes.get(7)) {
        (Some(major), Some(minor)) => (major, minor),
        _ => return Err(truncated(10)),
    };
    let (len, utf8) = match (major, minor) {
        (1, 0) => (10, false),
        (2, 0) => (12, false),
        (3, 0) => (12, true),
        _ => return Err(NpyError::UnsupportedVersion { major, minor }),
    };
    let header_len = match &bytes.get(8..len) {
        Some([a, b]) => u32::from(u16::from_le_bytes([*a, *b])),
        Some([a, b, c, d]) => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => return Err(truncated(len)),
    };
    Ok(Preamble { len, header_len, utf8 })
}

/// What the header says about the data.
struct Header {
    dtype: Dtype,
    fortran_order: bool,
    shape: Vec<usize>,
    elements: usize,
    data_bytes: usize,
}

impl Header {
    fn length_error(&self, actual_bytes: u64, at_least: bool) -> NpyError {
        NpyError::DataLength {
            elements: self.elements as u64,
            descr: self.dtype.descr.clone(),
            expected_bytes: self.data_bytes as u64,
            actual_bytes,
            at_least,
        }
    }
}

/// Parses everything before the data; returns the header and the offset of
/// the first data byte.
fn parse_prefix(bytes: &[u8]) -> Result<(Header, usize), NpyError> {
    let preamble = parse_preamble(bytes)?;
    let available = bytes.len() - preamble.len;
    let header_len = preamble.header_len as usize;
    let Some(raw) = bytes.get(preamble.len..preamble.len.saturating_add(header_len)) else {
        return Err(NpyError::TruncatedHeader {
            header_len: u64::from(preamble.header_len),
            available: available as u64,
        });
    };
    let text = if preamble.utf8 {
        std::str::from_utf8(raw)
            .map_err(|_| NpyError::BadHeader("a version 3.0 header must be UTF-8".to_string()))?
            .to_string()
    } else {
        // Latin-1 maps every byte to the code point of the same value.
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let literal = parse_literal(&text).map_err(NpyError::BadHeader)?;
    Ok((interpret_header(literal)?, preamble.len + header_len))
}

fn interpret_header(literal: Literal) -> Result<Header, NpyError> {
    let Literal::Dict(entries) = literal else {
        return Err(NpyError::BadHeader(format!("expected a dictionary, found {}", excerpt(&literal.to_string()))));
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    for (key, value) in entries {
        let Literal::Str(name) = key else {
            return Err(NpyError::BadHeader(format!("the key {} is not a string", excerpt(&key.to_string()))));
        };
        let slot = match name.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran_order,
            "shape" => &mut shape,
            _ => {
                return Err(NpyError::BadHeader(format!(
                    "unexpected key {} (the keys are 'descr', 'fortran_order' and 'shape')",
                    excerpt(&Literal::Str(name).to_string())
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(NpyError::BadHeader(format!("the key '{name}' appears twice")));
        }
    }
    let missing = |key: &str| NpyError::BadHeader(format!("the key '{key}' is missing"));
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran_order = fortran_order.ok_or_else(|| missing("fortran_order"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;

    let dtype = match &descr {
        Literal::Str(text) => parse_descr(text)?,
        Literal::List(_) => {
            return Err(NpyError::UnsupportedDtype {
                descr: excerpt(&descr.to_string()),
                reason: "a structured dtype",
            });
        }
        Literal::Tuple(_) => {
            return Err(NpyError::UnsupportedDtype { descr: excerpt(&descr.to_string()), reason: "a subarray dtype" });
        }
        _ => {
            return Err(NpyError::BadHeader(format!(
                "'descr' must be a dtype string, found {}",
                excerpt(&descr.to_string())
            )));
        }
    };
    let Literal::Bool(fortran_order) = fortran_order else {
        return Err(NpyError::BadHeader(format!(
            "'fortran_order' must be True or False, found {}",
            excerpt(&fortran_order.to_string())
        )));
    };
    let (shape, elements, data_bytes) = interpret_shape(&shape, dtype.element.size())?;
    Ok(Header { dtype, fortran_order, shape, elements, data_bytes })
}

/// Checks the shape and returns it with its element count and byte size,
/// all known to fit in memory (and in ndarray's `isize` limit).
fn interpret_shape(shape: &Literal, item_size: usize) -> Result<(Vec<usize>, usize, usize), NpyError> {
    let not_a_shape =
        || NpyError::BadHeader(format!("'shape' must be a tuple of integers, found {}", excerpt(&shape.to_string())));
    let Literal::Tuple(entries) = shape else {
        return Err(not_a_shape());
    };
    let overflow = || NpyError::ShapeOverflow { shape: excerpt(&shape.to_string()) };
    let mut dims = Vec::with_capacity(entries.len());
    for entry in entries {
        let Literal::Int(value) = entry else {
            return Err(not_a_shape());
        };
        if *value < 0 {
            return Err(NpyError::BadHeader(format!("'shape' {} has a negative entry", excerpt(&shape.to_string()))));
        }
        dims.push(usize::try_from(*value).map_err(|_| overflow())?);
    }
    // ndarray requires the product of the nonzero axes to fit in isize even
    // when another axis is zero.
    let nonzero_product = dims
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |product, &d| product.checked_mul(d))
        .filter(|&product| isize::try_from(product).is_ok())
        .ok_or_else(overflow)?;
    let elements = if dims.contains(&0) { 0 } else { nonzero_product };
    let data_bytes =
        elements.checked_mul(item_size).filter(|&bytes| isize::try_from(bytes).is_ok()).ok_or_else(overflow)?;
    Ok((dims, elements, data_bytes))
}

/// An element type as stored in a file.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Element {
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl Element {
    fn size(self) -> usize {
        match self {
            Element::I8 | Element::U8 | Element::Bool => 1,
            Element::F16 | Element::I16 | Element::U16 => 2,
            Element::F32 | Element::I32 | Element::U32 => 4,
            Element::F64 | Element::I64 | Element::U64 => 8,
        }
    }
}

struct Dtype {
    element: Element,
    big_endian: bool,
    /// As written in the file, for messages.
    descr: String,
}

/// Parses a dtype string such as `<f4`: an optional byte order
/// (`<` little, `>` big, `|` not applicable, `=` native), a kind letter and a
/// size in bytes.
fn parse_descr(descr: &str) -> Result<Dtype, NpyError> {
    let quoted = excerpt(&Literal::Str(descr.to_string()).to_string());
    let (big_endian, rest) = match descr.chars().next() {
        Some('<' | '|') => (false, &descr[1..]),
        Some('>') => (true, &descr[1..]),
        Some('=') => (cfg!(target_endian = "big"), &descr[1..]),
        _ => (cfg!(target_endian = "big"), descr),
    };
    // A kind letter, a size in bytes, and for dates a unit: `M8[ns]`.
    let mut chars = rest.chars();
    let kind = chars.next().filter(char::is_ascii_alphabetic);
    let size = chars.as_str();
    let digits = size.split('[').next().unwrap_or("");
    let unit = &size[digits.len()..];
    let well_formed = kind.is_some()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (unit.is_empty() || (unit.starts_with('[') && unit.ends_with(']')));
    let unsupported = |reason| NpyError::UnsupportedDtype { descr: quoted.clone(), reason };
    if !well_formed {
        return Err(unsupported("not a dtype tx knows"));
    }
    let element = match (kind, size) {
        (Some('f'), "2") => Element::F16,
        (Some('f'), "4") => Element::F32,
        (Some('f'), "8") => Element::F64,
        (Some('i'), "1") => Element::I8,
        (Some('i'), "2") => Element::I16,
        (Some('i'), "4") => Element::I32,
        (Some('i'), "8") => Element::I64,
        (Some('u'), "1") => Element::U8,
        (Some('u'), "2") => Element::U16,
        (Some('u'), "4") => Element::U32,
        (Some('u'), "8") => Element::U64,
        (Some('b'), "1") => Element::Bool,
        (Some('f'), _) => return Err(unsupported("a float width tx has no type for")),
        (Some('i' | 'u'), _) => return Err(unsupported("an integer width tx has no type for")),
        (Some('c'), _) => return Err(unsupported("complex numbers")),
        (Some('O'), _) => return Err(unsupported("Python objects")),
        (Some('U'), _) => return Err(unsupported("Unicode strings")),
        (Some('S' | 'a'), _) => return Err(unsupported("byte strings")),
        (Some('V'), _) => return Err(unsupported("raw bytes")),
        (Some('M'), _) => return Err(unsupported("dates and times")),
        (Some('m'), _) => return Err(unsupported("time differences")),
        _ => return Err(unsupported("not a dtype tx knows")),
    };
    Ok(Dtype { element, big_endian, descr: descr.to_string() })
}

// ---------------------------------------------------------------------------
// Reading: data.

/// Decodes `data`, whose length the caller has checked against the header.
fn decode(header: &Header, data: &[u8]) -> Result<Tensor, NpyError> {
    let big = header.dtype.big_endian;
    let tensor = match header.dtype.element {
        Element::F16 => Tensor::F32(shaped(header, elements(data, big, |b| f16_to_f32(u16::from_le_bytes(b))))?),
        Element::F32 => Tensor::F32(shaped(header, elements(data, big, f32::from_le_bytes))?),
        Element::F64 => Tensor::F64(shaped(header, elements(data, big, f64::from_le_bytes))?),
        Element::I8 => Tensor::I64(shaped(header, elements(data, big, |b| i64::from(i8::from_le_bytes(b))))?),
        Element::I16 => Tensor::I64(shaped(header, elements(data, big, |b| i64::from(i16::from_le_bytes(b))))?),
        Element::I32 => Tensor::I64(shaped(header, elements(data, big, |b| i64::from(i32::from_le_bytes(b))))?),
        Element::I64 => Tensor::I64(shaped(header, elements(data, big, i64::from_le_bytes))?),
        Element::U8 => Tensor::I64(shaped(header, elements(data, big, |b: [u8; 1]| i64::from(b[0])))?),
        Element::U16 => Tensor::I64(shaped(header, elements(data, big, |b| i64::from(u16::from_le_bytes(b))))?),
        Element::U32 => Tensor::I64(shaped(header, elements(data, big, |b| i64::from(u32::from_le_bytes(b))))?),
        Element::U64 => {
            let values = elements(data, big, u64::from_le_bytes)
                .into_iter()
                .enumerate()
                .map(|(index, value)| {
                    i64::try_from(value).map_err(|_| NpyError::ValueOutOfRange {
                        descr: header.dtype.descr.clone(),
                        index: index as u64,
                        value,
                    })
                })
                .collect::<Result<Vec<i64>, NpyError>>()?;
            Tensor::I64(shaped(header, values)?)
        }
        Element::Bool => Tensor::Bool(shaped(header, data.iter().map(|&b| b != 0).collect())?),
    };
    Ok(tensor)
}

/// Splits `data` into `N`-byte elements, puts each in little-endian byte
/// order and converts it.
fn elements<const N: usize, T>(data: &[u8], big_endian: bool, convert: impl Fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|chunk| {
            let mut bytes = [0u8; N];
            bytes.copy_from_slice(chunk);
            if big_endian {
                bytes.reverse();
            }
            convert(bytes)
        })
        .collect()
}

/// Gives the values their shape, in standard (row-major) layout whatever the
/// file's order.
fn shaped<T: Clone>(header: &Header, values: Vec<T>) -> Result<ArrayD<T>, NpyError> {
    let shape_error = |_| NpyError::ShapeOverflow { shape: python_tuple(&header.shape) };
    if header.fortran_order {
        let array = ArrayD::from_shape_vec(IxDyn(&header.shape).f(), values).map_err(shape_error)?;
        Ok(array.as_standard_layout().into_owned())
    } else {
        ArrayD::from_shape_vec(IxDyn(&header.shape), values).map_err(shape_error)
    }
}

/// IEEE 754 binary16 to binary32; exact, since every half is a float.
fn f16_to_f32(half: u16) -> f32 {
    let sign = u32::from(half >> 15) << 31;
    let exponent = u32::from((half >> 10) & 0x1f);
    let mantissa = u32::from(half & 0x3ff);
    match exponent {
        // Zero and subnormals: mantissa * 2^-24, exact in f32.
        0 => {
            let magnitude = mantissa as f32 * (1.0 / 16_777_216.0);
            if sign != 0 { -magnitude } else { magnitude }
        }
        // Infinities and NaNs, keeping the NaN payload.
        0x1f => f32::from_bits(sign | 0x7f80_0000 | (mantissa << 13)),
        // Normal numbers: rebias the exponent from 15 to 127.
        _ => f32::from_bits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13)),
    }
}

/// Appends bytes from `reader` until `bytes` holds `len` bytes or the input
/// ends. The buffer grows with what actually arrives, so a large `len`
/// allocates nothing by itself.
fn read_until_len(reader: &mut impl Read, bytes: &mut Vec<u8>, len: u64) -> io::Result<()> {
    let missing = len.saturating_sub(bytes.len() as u64);
    reader.take(missing).read_to_end(bytes)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Writing.

/// Magic, version, header length, and the header dictionary padded as
/// `numpy.lib.format` pads it.
fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}", python_tuple(shape));
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.extend(std::iter::repeat_n(' ', GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    // The header ends with a newline, and padding makes magic + version +
    // length + header a multiple of ARRAY_ALIGN (a whole extra block when it
    // already is one, as numpy does).
    let padded_len = |length_field: usize| {
        let unpadded = MAGIC.len() + 2 + length_field + dict.len() + 1;
        dict.len() + 1 + ARRAY_ALIGN - unpadded % ARRAY_ALIGN
    };
    // Version 1.0 has a 2-byte header length; numpy moves to 2.0 (4 bytes)
    // only when that is too small.
    let (version, length_field) = if padded_len(2) <= usize::from(u16::MAX) { (1u8, 2) } else { (2u8, 4) };
    let header_len = padded_len(length_field);
    // No shape has a header near 4 GiB: it would need a billion axes.
    let header_len_bytes = u32::try_from(header_len).unwrap_or(u32::MAX).to_le_bytes();
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + length_field + header_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    // Little-endian, so the 2-byte field is the first two bytes of the u32.
    out.extend_from_slice(&header_len_bytes[..length_field]);
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + header_len - dict.len() - 1, b' ');
    out.push(b'\n');
    out
}

/// A shape as Python writes a tuple: `()`, `(3,)`, `(2, 3)`.
fn python_tuple(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [only] => format!("({only},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// Makes temporary names unique among writers in this process; the process
/// id separates processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that readers see the old file or the whole new
/// one, never a part: a temporary file in the same directory, synced, then
/// renamed into place (and removed on any error).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name =
        path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file"))?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let (temp_path, mut file) = create_temp_file(dir, &file_name.to_string_lossy())?;
    let result = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| {
        drop(file);
        fs::rename(&temp_path, path)
    });
    if let Err(error) = result {
        // Best effort: the rename error is the one worth reporting.
        let _ = fs::remove_file(&temp_path);
        return Err(error);
    }
    sync_directory(dir);
    Ok(())
}

/// Creates `.{name}.{pid}.{n}.tmp` in `dir`, never reusing an existing file.
fn create_temp_file(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    const ATTEMPTS: usize = 100;
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_path = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match File::options().write(true).create_new(true).open(&temp_path) {
            Ok(file) => return Ok((temp_path, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("cannot create a temporary file")))
}

/// Makes the rename itself durable. Best effort: the data is already safe
/// under one name or the other, and not every platform can open a directory.
fn sync_directory(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests;
