use super::*;
use ndarray::{ArrayD, IxDyn, array};
use proptest::prelude::*;

/// A `.npy` file with the given version, header text (used as is, no
/// padding) and data.
fn npy(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(header.len()).unwrap().to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap())
}

fn i64s(shape: &[usize], values: &[i64]) -> Tensor {
    Tensor::I64(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap())
}

/// Reading `bytes` fails with exactly `expect`.
fn check_error(bytes: &[u8], expect: &str) {
    match read(bytes) {
        Ok(tensor) => panic!("expected the error `{expect}`, read {tensor:?}"),
        Err(error) => assert_eq!(error.to_string(), expect),
    }
}

/// A header `{'descr': DESCR, 'fortran_order': False, 'shape': SHAPE}` with
/// `data` after it.
fn check_header_error(descr: &str, shape: &str, data: &[u8], expect: &str) {
    let header = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}}}\n");
    check_error(&npy(1, &header, data), expect);
}

// What `numpy.save` (numpy 2.4.6) writes, pasted from
// `python3 -c "import numpy as np, io; b = io.BytesIO(); np.save(b, ...); print(b.getvalue())"`.
const NUMPY_F32_1_2_3: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }                                                            \n\x00\x00\x80?\x00\x00\x00@\x00\x00@@";
const NUMPY_BOOL_SCALAR_TRUE: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, 'shape': (), }                                                              \n\x01";
const NUMPY_I64_EMPTY_2_0_3: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (2, 0, 3), }                                                       \n";

#[test]
fn write_matches_numpy_byte_for_byte() {
    assert_eq!(write(&f32s(&[3], &[1.0, 2.0, 3.0])), NUMPY_F32_1_2_3);
    assert_eq!(write(&Tensor::Bool(ArrayD::from_elem(IxDyn(&[]), true))), NUMPY_BOOL_SCALAR_TRUE);
    assert_eq!(write(&i64s(&[2, 0, 3], &[])), NUMPY_I64_EMPTY_2_0_3);
}

#[test]
fn numpy_files_read_back() {
    assert_eq!(read(NUMPY_F32_1_2_3).unwrap(), f32s(&[3], &[1.0, 2.0, 3.0]));
    assert_eq!(read(NUMPY_BOOL_SCALAR_TRUE).unwrap(), Tensor::Bool(ArrayD::from_elem(IxDyn(&[]), true)));
    assert_eq!(read(NUMPY_I64_EMPTY_2_0_3).unwrap(), i64s(&[2, 0, 3], &[]));
}

#[test]
fn every_tensor_type_round_trips() {
    let tensors = [
        f32s(&[2, 3], &[0.5, -1.0, f32::INFINITY, f32::MIN_POSITIVE, 1e-45, -0.0]),
        Tensor::F64(array![[1.0, f64::MAX], [f64::EPSILON, -2.5]].into_dyn()),
        i64s(&[4], &[i64::MIN, -1, 0, i64::MAX]),
        Tensor::Bool(array![[[true, false]], [[false, true]]].into_dyn()),
        f32s(&[], &[7.0]),
        i64s(&[0], &[]),
        f32s(&[1, 1, 1, 1, 1, 2], &[1.0, 2.0]),
    ];
    for tensor in tensors {
        let bytes = write(&tensor);
        assert_eq!(bytes.iter().position(|&b| b == b'\n').unwrap() % ARRAY_ALIGN, ARRAY_ALIGN - 1);
        assert_eq!(read(&bytes).unwrap(), tensor);
    }
    let nan = read(&write(&f32s(&[1], &[f32::NAN]))).unwrap();
    assert!(matches!(nan, Tensor::F32(a) if a[[0]].is_nan()));
}

#[test]
fn write_uses_logical_order_for_any_layout() {
    let transposed = array![[1i64, 2, 3], [4, 5, 6]].reversed_axes().into_dyn();
    assert!(!transposed.is_standard_layout());
    let back = read(&write(&Tensor::I64(transposed))).unwrap();
    assert_eq!(back, i64s(&[3, 2], &[1, 4, 2, 5, 3, 6]));
}

#[test]
fn write_moves_to_version_2_when_the_header_is_too_long() {
    // 22,000 axes of length 1 make a header of about 66,000 bytes.
    let shape = vec![1usize; 22_000];
    let tensor = Tensor::F32(ArrayD::from_elem(IxDyn(&shape), 2.5));
    let bytes = write(&tensor);
    assert_eq!(&bytes[6..8], &[2, 0]);
    let header_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    assert_eq!((12 + header_len) % ARRAY_ALIGN, 0);
    assert_eq!(read(&bytes).unwrap(), tensor);
}

#[test]
fn headers_are_parsed_not_pattern_matched() {
    let data = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>();
    let expect = f32s(&[2], &[1.0, 2.0]);
    for header in [
        "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}",
        "{ 'descr' : '<f4' ,\n\t'fortran_order':False,'shape':( 2 , ) , }   \n",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}",
        "{u'descr': u'<f4', 'fortran_order': False, 'shape': (2L,), }\n",
        "{'descr': 'f4', 'fortran_order': False, 'shape': (+2,)}",
        "{'descr': '=f4', 'fortran_order': False, 'shape': (2,)}",
    ] {
        assert_eq!(read(&npy(1, header, &data)).unwrap(), expect, "{header}");
    }
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
    assert_eq!(read(&npy(2, header, &data)).unwrap(), expect);
    assert_eq!(read(&npy(3, header, &data)).unwrap(), expect);
    // Version 3.0 is UTF-8; a non-ASCII character in a key is simply an unknown key.
    check_error(
        &npy(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'é': 1}", &data),
        "malformed .npy header: unexpected key 'é' (the keys are 'descr', 'fortran_order' and 'shape')",
    );
    // A scalar has the empty shape.
    let scalar = npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': ()}", &3.5f64.to_le_bytes());
    assert_eq!(read(&scalar).unwrap(), Tensor::F64(ArrayD::from_elem(IxDyn(&[]), 3.5)));
}

#[test]
fn converted_dtypes_read_as_i64_f32_or_bool() {
    let check = |descr: &str, data: &[u8], expect: Tensor| {
        let n = expect.len();
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n},)}}");
        assert_eq!(read(&npy(1, &header, data)).unwrap(), expect, "{descr}");
    };
    check("|i1", &[0xff, 0x7f], i64s(&[2], &[-1, 127]));
    check("<i1", &[0x80], i64s(&[1], &[-128]));
    check("|u1", &[0xff, 0x00], i64s(&[2], &[255, 0]));
    check("<i2", &[0x00, 0x80, 0x01, 0x00], i64s(&[2], &[-32768, 1]));
    check(">i2", &[0x80, 0x00, 0x00, 0x01], i64s(&[2], &[-32768, 1]));
    check("<u2", &[0xff, 0xff], i64s(&[1], &[65535]));
    check(">u2", &[0x01, 0x00], i64s(&[1], &[256]));
    check("<i4", &(-5i32).to_le_bytes(), i64s(&[1], &[-5]));
    check(">i4", &(-5i32).to_be_bytes(), i64s(&[1], &[-5]));
    check("<u4", &u32::MAX.to_le_bytes(), i64s(&[1], &[4_294_967_295]));
    check(">u4", &u32::MAX.to_be_bytes(), i64s(&[1], &[4_294_967_295]));
    check(">i8", &(-7i64).to_be_bytes(), i64s(&[1], &[-7]));
    check("<u8", &(i64::MAX as u64).to_le_bytes(), i64s(&[1], &[i64::MAX]));
    check(">u8", &5u64.to_be_bytes(), i64s(&[1], &[5]));
    check(">f4", &1.5f32.to_be_bytes(), f32s(&[1], &[1.5]));
    check(">f8", &(-0.25f64).to_be_bytes(), Tensor::F64(ArrayD::from_elem(IxDyn(&[1]), -0.25)));
    check("<f2", &[0x00, 0x3c, 0x00, 0xc0], f32s(&[2], &[1.0, -2.0]));
    check(">f2", &[0x3c, 0x00], f32s(&[1], &[1.0]));
    let bools = Tensor::Bool(array![false, true, true, true].into_dyn());
    check("|b1", &[0, 1, 2, 255], bools);
}

#[test]
fn u8_values_above_i64_max_are_an_error() {
    let data = [5u64, u64::MAX].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>();
    check_header_error(
        "'<u8'",
        "(2,)",
        &data,
        "element 1 of the .npy data (<u8) is 18446744073709551615, which does not fit in i64",
    );
}

#[test]
fn half_floats_convert_exactly() {
    // Bit patterns with the values they stand for, written exactly.
    let cases: [(u16, f32); 11] = [
        (0x0000, 0.0),
        (0x3c00, 1.0),
        (0xc000, -2.0),
        (0x3555, 1365.0 / 4096.0),         // (1 + 341/1024) * 2^-2
        (0x7bff, 65504.0),                 // the largest half
        (0x0400, 2f32.powi(-14)),          // the smallest normal
        (0x0001, 2f32.powi(-24)),          // the smallest subnormal
        (0x03ff, 1023.0 * 2f32.powi(-24)), // the largest subnormal
        (0x8001, -(2f32.powi(-24))),       // a negative subnormal
        (0x7c00, f32::INFINITY),
        (0xfc00, f32::NEG_INFINITY),
    ];
    for (half, expect) in cases {
        assert_eq!(f16_to_f32(half), expect, "{half:#06x}");
    }
    assert!(f16_to_f32(0x8000).is_sign_negative() && f16_to_f32(0x8000) == 0.0);
    assert!(f16_to_f32(0x7e00).is_nan());
    assert!(f16_to_f32(0xfe01).is_nan());
}

#[test]
fn fortran_order_comes_back_row_major() {
    // The 2x3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column.
    let data = [1i64, 4, 2, 5, 3, 6].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>();
    let header = "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }";
    let Tensor::I64(matrix) = read(&npy(1, header, &data)).unwrap() else { panic!("expected i64") };
    assert!(matrix.is_standard_layout());
    assert_eq!(matrix, array![[1, 2, 3], [4, 5, 6]].into_dyn());

    // Three axes: element [i, j, k] is at i + 2j + 6k in Fortran order.
    let values: Vec<f32> = (0..24).map(|v| v as f32).collect();
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4)}";
    let Tensor::F32(cube) = read(&npy(1, header, &data)).unwrap() else { panic!("expected f32") };
    assert!(cube.is_standard_layout());
    for (i, j, k) in ndarray::indices((2, 3, 4)) {
        assert_eq!(cube[[i, j, k]], (i + 2 * j + 6 * k) as f32);
    }
}

#[test]
fn not_npy_files_are_rejected_by_their_first_bytes() {
    check_error(b"", "not a .npy file: it is empty");
    check_error(b"PK\x03\x04", "not a .npy file: bad magic bytes");
    check_error(b"\x93NUMPX\x01\x00", "not a .npy file: bad magic bytes");
    check_error(b"\x93NUM", "truncated .npy file: it ends after 4 bytes, inside the 10-byte preamble");
    check_error(
        b"\x93NUMPY\x02\x00\x10\x00",
        "truncated .npy file: it ends after 10 bytes, inside the 12-byte preamble",
    );
    check_error(
        b"\x93NUMPY\x04\x00\x10\x00",
        "unsupported .npy format version 4.0: tx reads versions 1.0, 2.0 and 3.0",
    );
    check_error(
        b"\x93NUMPY\x01\x01\x10\x00",
        "unsupported .npy format version 1.1: tx reads versions 1.0, 2.0 and 3.0",
    );
    check_error(
        b"\x93NUMPY\x01\x00\x76\x00{'descr'",
        "truncated .npy file: the header is 118 bytes long but only 8 bytes follow the preamble",
    );
    check_error(
        b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}",
        "truncated .npy file: the header is 4294967295 bytes long but only 2 bytes follow the preamble",
    );
}

#[test]
fn malformed_headers_are_explained() {
    let prefix = "malformed .npy header: ";
    for (header, expect) in [
        ("", "unexpected end of the header at character 1 of ``"),
        ("   \n", "unexpected end of the header at character 5 of ``"),
        ("{'descr': '<f4' 'shape': ()}", "expected `,` or `}` at character 17 of `{'descr': '<f4' 'shape': ()}`"),
        ("{'descr' '<f4'}", "expected `:` after a key at character 10 of `{'descr' '<f4'}`"),
        ("{'descr': '<f4}", "unterminated string at character 16 of `{'descr': '<f4}`"),
        ("{'shape': (2,,)}", "unexpected `,` at character 14 of `{'shape': (2,,)}`"),
        ("{'shape': (2 3)}", "expected `,` or `)` at character 14 of `{'shape': (2 3)}`"),
        ("{'descr': numpy.float32}", "unexpected name `numpy` at character 11 of `{'descr': numpy.float32}`"),
        ("{} {}", "unexpected text after the dictionary at character 4 of `{} {}`"),
        ("{}\0", "unexpected text after the dictionary at character 3 of `{}\\u{0}`"),
        ("['descr']", "expected a dictionary, found ['descr']"),
        ("{1: 2}", "the key 1 is not a string"),
        ("{'descr': '<f4', 'fortran_order': False}", "the key 'shape' is missing"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'descr': '<f8'}", "the key 'descr' appears twice"),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 0}",
            "unexpected key 'extra' (the keys are 'descr', 'fortran_order' and 'shape')",
        ),
        ("{'descr': 4, 'fortran_order': False, 'shape': ()}", "'descr' must be a dtype string, found 4"),
        ("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", "'fortran_order' must be True or False, found 0"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "'shape' must be a tuple of integers, found [2]"),
        // `(2)` is the integer 2 in Python, not a tuple.
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", "'shape' must be a tuple of integers, found 2"),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 'a')}",
            "'shape' must be a tuple of integers, found (2, 'a')",
        ),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "'shape' (-1,) has a negative entry"),
        (
            "{'shape': (99999999999999999999999999999999999999999,)}",
            "integer too large at character 50 of `{'shape': (99999999999999999999999999999999999999999,)}`",
        ),
    ] {
        check_error(&npy(1, header, &[]), &format!("{prefix}{expect}"));
    }
    let deep = format!("{{'shape': {}{}}}", "(".repeat(100), ")".repeat(100));
    let error = read(&npy(1, &deep, &[])).unwrap_err().to_string();
    assert!(error.starts_with("malformed .npy header: values nested too deeply at character 27 of"), "{error}");
    let mut latin1 = npy(3, "{'descr': 'x'}", &[]);
    latin1[12 + 11] = 0xe9;
    check_error(&latin1, "malformed .npy header: a version 3.0 header must be UTF-8");
}

#[test]
fn unsupported_dtypes_are_named() {
    let tail = "; tx reads floats (f2, f4, f8), integers (i1 to i8, u1 to u8) and booleans (b1)";
    for (descr, expect) in [
        ("'|O'", "'|O' (Python objects)"),
        ("'<U3'", "'<U3' (Unicode strings)"),
        ("'|S5'", "'|S5' (byte strings)"),
        ("'<c8'", "'<c8' (complex numbers)"),
        ("'<f16'", "'<f16' (a float width tx has no type for)"),
        ("'<i16'", "'<i16' (an integer width tx has no type for)"),
        ("'<M8[ns]'", "'<M8[ns]' (dates and times)"),
        ("'|V4'", "'|V4' (raw bytes)"),
        ("''", "'' (not a dtype tx knows)"),
        ("'float32'", "'float32' (not a dtype tx knows)"),
        ("'<b2'", "'<b2' (not a dtype tx knows)"),
        ("[('x', '<f4'), ('y', '<i8')]", "[('x', '<f4'), ('y', '<i8')] (a structured dtype)"),
        ("('<f4', (2,))", "('<f4', (2,)) (a subarray dtype)"),
    ] {
        check_header_error(descr, "()", &[0; 16], &format!("unsupported .npy dtype {expect}{tail}"));
    }
}

#[test]
fn data_length_is_checked_before_anything_is_allocated() {
    check_header_error(
        "'<f4'",
        "(3, 4)",
        &[0; 40],
        "truncated .npy file: the header says 12 elements of <f4 (48 bytes) but 40 bytes follow",
    );
    check_header_error(
        "'<f4'",
        "(3, 4)",
        &[0; 56],
        "the .npy file has trailing data: the header says 12 elements of <f4 (48 bytes) but 56 bytes follow",
    );
    check_header_error(
        "'|b1'",
        "(1,)",
        &[],
        "truncated .npy file: the header says 1 element of |b1 (1 byte) but 0 bytes follow",
    );
    // Huge but addressable shapes fail on the length check, not in the allocator.
    check_header_error(
        "'<f8'",
        "(1000000000000,)",
        &[0; 8],
        "truncated .npy file: the header says 1000000000000 elements of <f8 (8000000000000 bytes) but 8 bytes follow",
    );
    check_header_error(
        "'<f8'",
        "(4294967296, 4294967296, 16)",
        &[],
        "the .npy shape (4294967296, 4294967296, 16) has more elements than this machine can hold",
    );
    check_header_error(
        "'<f8'",
        "(1152921504606846976,)",
        &[],
        "the .npy shape (1152921504606846976,) has more elements than this machine can hold",
    );
    check_header_error(
        "'<f8'",
        "(18446744073709551616,)",
        &[],
        "the .npy shape (18446744073709551616,) has more elements than this machine can hold",
    );
    // A zero axis makes the array empty, but ndarray still needs the other
    // axes' product to fit.
    check_header_error(
        "'<f8'",
        "(0, 4294967296, 4294967296)",
        &[],
        "the .npy shape (0, 4294967296, 4294967296) has more elements than this machine can hold",
    );
    assert_eq!(
        read(&npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296)}", &[])).unwrap().shape(),
        &[0, 4_294_967_296]
    );
}

/// Files that exercise each kind of reader, cut and damaged by the tests below.
fn sample_files() -> Vec<Vec<u8>> {
    let data = (0..6).flat_map(|v: u16| v.to_be_bytes()).collect::<Vec<_>>();
    vec![
        write(&f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
        write(&i64s(&[], &[42])),
        write(&Tensor::Bool(array![true, false].into_dyn())),
        NUMPY_I64_EMPTY_2_0_3.to_vec(),
        npy(2, "{'descr': '>u2', 'fortran_order': True, 'shape': (3, 2)}\n", &data),
        npy(3, "{'descr': '<f2', 'fortran_order': False, 'shape': (6,)}", &data[..12]),
    ]
}

#[test]
fn every_truncation_is_a_clear_error() {
    for file in sample_files() {
        assert!(read(&file).is_ok());
        for len in 0..file.len() {
            let error = read(&file[..len]).expect_err("a strict prefix must not parse").to_string();
            assert!(
                error.starts_with("truncated .npy file: ") || error == "not a .npy file: it is empty",
                "cut at {len}: {error}"
            );
        }
    }
}

/// Files on disk for the read_file and write_file tests.
fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn read_file_errors_name_the_path() {
    let dir = temp_dir();
    let missing = dir.path().join("x.npy");
    assert_eq!(
        read_file(&missing).unwrap_err().to_string(),
        format!("cannot read `{}`: No such file or directory", missing.display())
    );

    let junk = dir.path().join("junk.npy");
    fs::write(&junk, b"hello, world").unwrap();
    assert_eq!(
        read_file(&junk).unwrap_err().to_string(),
        format!("cannot read `{}`: not a .npy file: bad magic bytes", junk.display())
    );

    // The trailing-data count comes from the file's size, though only one
    // byte past the data is read.
    let long = dir.path().join("long.npy");
    let mut bytes = write(&f32s(&[3], &[1.0, 2.0, 3.0]));
    bytes.extend_from_slice(&[0; 100]);
    fs::write(&long, &bytes).unwrap();
    assert_eq!(
        read_file(&long).unwrap_err().to_string(),
        format!(
            "cannot read `{}`: the .npy file has trailing data: \
             the header says 3 elements of <f4 (12 bytes) but 112 bytes follow",
            long.display()
        )
    );

    let short = dir.path().join("short.npy");
    fs::write(&short, &bytes[..130]).unwrap();
    assert_eq!(
        read_file(&short).unwrap_err().to_string(),
        format!(
            "cannot read `{}`: truncated .npy file: the header says 3 elements of <f4 (12 bytes) but 2 bytes follow",
            short.display()
        )
    );

    assert_eq!(
        read_file(dir.path()).unwrap_err().to_string(),
        format!("cannot read `{}`: Is a directory", dir.path().display())
    );
}

#[test]
fn read_file_reads_every_truncation_like_read() {
    let dir = temp_dir();
    let path = dir.path().join("cut.npy");
    for file in sample_files() {
        fs::write(&path, &file).unwrap();
        assert_eq!(read_file(&path).unwrap(), read(&file).unwrap());
        for len in 0..file.len() {
            fs::write(&path, &file[..len]).unwrap();
            let from_disk = read_file(&path).unwrap_err().to_string();
            let in_memory = read(&file[..len]).unwrap_err().to_string();
            assert_eq!(from_disk, format!("cannot read `{}`: {in_memory}", path.display()));
        }
    }
}

#[cfg(unix)]
#[test]
fn endless_devices_are_rejected_without_reading_them() {
    let zero = Path::new("/dev/zero");
    if zero.exists() {
        assert_eq!(
            read_file(zero).unwrap_err().to_string(),
            "cannot read `/dev/zero`: not a .npy file: bad magic bytes"
        );
    }
}

#[test]
fn write_file_replaces_atomically_and_leaves_nothing_behind() {
    let dir = temp_dir();
    let path = dir.path().join("out.npy");
    let first = f32s(&[2], &[1.0, 2.0]);
    let second = i64s(&[3], &[7, 8, 9]);
    write_file(&path, &first).unwrap();
    assert_eq!(read_file(&path).unwrap(), first);
    write_file(&path, &second).unwrap();
    assert_eq!(read_file(&path).unwrap(), second);
    assert_eq!(file_names(dir.path()), ["out.npy"]);

    // Renaming onto a directory fails after the temporary file was written;
    // it must be removed.
    let occupied = dir.path().join("taken");
    fs::create_dir(&occupied).unwrap();
    let error = write_file(&occupied, &first).unwrap_err().to_string();
    assert!(error.starts_with(&format!("cannot write `{}`: ", occupied.display())), "{error}");
    assert!(!error.contains("os error"), "{error}");
    assert_eq!(file_names(dir.path()), ["out.npy", "taken"]);
    assert!(file_names(&occupied).is_empty());

    let nowhere = dir.path().join("missing").join("x.npy");
    assert_eq!(
        write_file(&nowhere, &first).unwrap_err().to_string(),
        format!("cannot write `{}`: No such file or directory", nowhere.display())
    );
}

#[test]
fn io_messages_drop_the_os_error_number() {
    let error = io::Error::from_raw_os_error(2);
    assert!(error.to_string().ends_with("(os error 2)"));
    assert_eq!(io_message(&error), "No such file or directory");
    assert_eq!(io_message(&io::Error::other("plain")), "plain");
}

#[test]
fn python_tuples_and_literals_print_as_python_does() {
    assert_eq!(python_tuple(&[]), "()");
    assert_eq!(python_tuple(&[3]), "(3,)");
    assert_eq!(python_tuple(&[2, 0, 3]), "(2, 0, 3)");
    let literal = parse_literal("{'a': [1, (2,), ()], 'b\\'c': None, 'd': True}").unwrap();
    assert_eq!(literal.to_string(), "{'a': [1, (2,), ()], 'b\\'c': None, 'd': True}");
}

/// Damage done to a valid file by the property test.
#[derive(Clone, Debug)]
enum Damage {
    Truncate(usize),
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Set(at, byte)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Insert(at, byte)),
        any::<usize>().prop_map(Damage::Remove),
    ]
}

fn apply(file: &mut Vec<u8>, damage: &Damage) {
    let len = file.len();
    match *damage {
        Damage::Truncate(at) => file.truncate(at % (len + 1)),
        Damage::Set(at, byte) if len > 0 => file[at % len] = byte,
        Damage::Insert(at, byte) => file.insert(at % (len + 1), byte),
        Damage::Remove(at) if len > 0 => {
            file.remove(at % len);
        }
        Damage::Set(..) | Damage::Remove(_) => {}
    }
}

/// Bytes likely to matter in a header: the characters of its syntax.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b'('),
        Just(b')'),
        Just(b','),
        Just(b'\''),
        Just(b'{'),
        Just(b'}'),
        Just(b':'),
        Just(b'-'),
        Just(b'9'),
        Just(b' '),
        any::<u8>(),
    ]
}

proptest! {
    #[test]
    fn damaged_files_never_panic(file in 0..6usize, damages in proptest::collection::vec(damage(), 1..6)) {
        let mut bytes = sample_files().swap_remove(file);
        for damage in &damages {
            apply(&mut bytes, damage);
        }
        // Whatever comes back, reading returned.
        let _ = read(&bytes);
    }

    #[test]
    fn scrambled_headers_never_panic(
        file in 0..6usize,
        edits in proptest::collection::vec((any::<usize>(), header_byte()), 1..8),
    ) {
        let mut bytes = sample_files().swap_remove(file);
        let header_start = if bytes[6] == 1 { 10 } else { 12 };
        let header_len = bytes.len() - header_start;
        for (at, byte) in edits {
            bytes[header_start + at % header_len] = byte;
        }
        if let Err(error) = read(&bytes) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn arbitrary_headers_never_panic(header in "[{}()\\[\\],:'\" 0-9a-zA-Z_<>|=+-]{0,80}", data in proptest::collection::vec(any::<u8>(), 0..32)) {
        let _ = read(&npy(1, &header, &data));
    }

    #[test]
    fn f32_tensors_round_trip(shape in proptest::collection::vec(0..4usize, 0..4), seed in any::<u32>()) {
        let len = shape.iter().product::<usize>();
        // Any bit pattern but NaN, which is not equal to itself.
        let values: Vec<f32> = (0..len)
            .map(|i| f32::from_bits(seed.wrapping_mul(2_654_435_761).wrapping_add(i as u32)))
            .map(|v| if v.is_nan() { 0.0 } else { v })
            .collect();
        let tensor = f32s(&shape, &values);
        prop_assert_eq!(read(&write(&tensor)).unwrap(), tensor);
    }
}
