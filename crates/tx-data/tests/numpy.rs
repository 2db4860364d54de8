//! Round trips through the real numpy: numpy reads what tx writes (and
//! writes the same bytes), and tx reads what numpy writes, in every dtype
//! and layout tx accepts. Skipped, with a note, where `python3` with numpy
//! is not installed; `src/npy/tests.rs` keeps byte-exact numpy output
//! pasted in, so the format is still checked there.

use std::fs;
use std::path::Path;
use std::process::Command;

use ndarray::{ArrayD, IxDyn};
use tx_data::npy;
use tx_tensor::Tensor;

/// Checks each `NAME.tx.npy` against the array numpy builds for NAME, saves
/// that array as `NAME.np.npy`, and writes `NAME.in.npy` files in dtypes and
/// layouts that tx converts, each with `NAME.expect.npy`, the value tx should
/// read, in a dtype tx reads natively.
const SCRIPT: &str = r#"
import io, sys
import numpy as np
d = sys.argv[1]
f32 = np.float32
written = {
    'f32_matrix': np.arange(6, dtype=f32).reshape(2, 3) / f32(4),
    'f32_special': np.array([np.inf, -np.inf, -0.0, 1e-45, 3.4e38], dtype=f32),
    'f32_long_axis': np.arange(1000, dtype=f32),
    'f64_scalar': np.array(-2.5),
    'i64_empty': np.zeros((0, 3), dtype=np.int64),
    'i64_extremes': np.array([-(2**63), -1, 0, 2**63 - 1], dtype=np.int64),
    'bool_cube': np.array([[[True, False], [False, True]]]),
}
for name, expect in written.items():
    got = np.load(f'{d}/{name}.tx.npy')
    assert got.dtype == expect.dtype, (name, got.dtype, expect.dtype)
    assert got.shape == expect.shape, (name, got.shape, expect.shape)
    assert np.array_equal(got, expect), (name, got, expect)
    np.save(f'{d}/{name}.np.npy', expect)

ints = np.array([[-128, -1, 0], [1, 100, 127]])
converted = {
    'f2': (np.array([1, -2, 0.5, 65504, 6e-8, -np.inf], dtype=np.float16), None),
    'be_f4': (np.array([1.5, -3.25], dtype='>f4'), None),
    'be_f8': (np.array([[1e300, -0.1]], dtype='>f8'), None),
    'be_i8': (np.array([-(2**63), 2**40], dtype='>i8'), None),
    'i1': (ints.astype(np.int8), None),
    'u1': (np.array([0, 200, 255], dtype=np.uint8), None),
    'i2': (ints.astype('<i2') * 200, None),
    'be_i2': (ints.astype('>i2') * 200, None),
    'u2': (np.array([0, 65535], dtype='<u2'), None),
    'i4': (ints.astype('<i4') * 10**7, None),
    'u4': (np.array([4294967295, 7], dtype='<u4'), None),
    'be_u4': (np.array([4294967295, 7], dtype='>u4'), None),
    'u8': (np.array([2**63 - 1, 0], dtype='<u8'), None),
    'fortran': (np.asfortranarray(np.arange(24, dtype=f32).reshape(2, 3, 4)), None),
    'fortran_bool': (np.asfortranarray(np.arange(6).reshape(2, 3) % 4 == 1), None),
    'v2': (np.arange(5, dtype=np.int64), (2, 0)),
    'v3': (np.arange(5, dtype=np.float64), (3, 0)),
}
for name, (array, version) in converted.items():
    with open(f'{d}/{name}.in.npy', 'wb') as out:
        np.lib.format.write_array(out, array, version=version)
    if name.startswith('fortran'):
        with open(f'{d}/{name}.in.npy', 'rb') as back:
            assert b"'fortran_order': True" in back.read(), name
    native = {'f': np.float32 if array.dtype.itemsize <= 4 else np.float64, 'i': np.int64, 'u': np.int64, 'b': np.bool_}
    np.save(f'{d}/{name}.expect.npy', np.ascontiguousarray(array.astype(native[array.dtype.kind])))

np.save(f'{d}/too_big.in.npy', np.array([3, 2**64 - 1], dtype=np.uint64))
np.save(f'{d}/object.in.npy', np.array([{}, 1], dtype=object), allow_pickle=True)
np.save(f'{d}/unicode.in.npy', np.array(['abc']))
np.save(f'{d}/complex.in.npy', np.array([1j], dtype=np.complex64))
np.save(f'{d}/structured.in.npy', np.zeros(2, dtype=[('x', '<f4'), ('y', '<i8')]))
"#;

fn python_with_numpy() -> bool {
    Command::new("python3").args(["-c", "import numpy"]).output().is_ok_and(|o| o.status.success())
}

fn tensor<T>(shape: &[usize], values: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

#[test]
fn tx_and_numpy_read_each_others_files() {
    if !python_with_numpy() {
        println!("note: skipping the numpy round trip: python3 with numpy is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);

    let written: Vec<(&str, Tensor)> = vec![
        ("f32_matrix", Tensor::F32(tensor(&[2, 3], vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.25]))),
        ("f32_special", Tensor::F32(tensor(&[5], vec![f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-45, 3.4e38]))),
        ("f32_long_axis", Tensor::F32(tensor(&[1000], (0..1000).map(|v| v as f32).collect()))),
        ("f64_scalar", Tensor::F64(tensor(&[], vec![-2.5]))),
        ("i64_empty", Tensor::I64(tensor(&[0, 3], vec![]))),
        ("i64_extremes", Tensor::I64(tensor(&[4], vec![i64::MIN, -1, 0, i64::MAX]))),
        ("bool_cube", Tensor::Bool(tensor(&[1, 2, 2], vec![true, false, false, true]))),
    ];
    for (name, value) in &written {
        npy::write_file(&path(&format!("{name}.tx.npy")), value).unwrap();
    }

    let output = Command::new("python3").args(["-c", SCRIPT]).arg(dir.path()).output().unwrap();
    assert!(output.status.success(), "python failed:\n{}", String::from_utf8_lossy(&output.stderr));

    for (name, _) in &written {
        let ours = fs::read(path(&format!("{name}.tx.npy"))).unwrap();
        let theirs = fs::read(path(&format!("{name}.np.npy"))).unwrap();
        assert!(ours == theirs, "{name}: tx and numpy wrote different bytes");
    }

    for name in [
        "f2",
        "be_f4",
        "be_f8",
        "be_i8",
        "i1",
        "u1",
        "i2",
        "be_i2",
        "u2",
        "i4",
        "u4",
        "be_u4",
        "u8",
        "fortran",
        "fortran_bool",
        "v2",
        "v3",
    ] {
        let got = npy::read_file(&path(&format!("{name}.in.npy"))).unwrap();
        let expect = npy::read_file(&path(&format!("{name}.expect.npy"))).unwrap();
        assert_eq!(got, expect, "{name}");
        tx_tensor::with_array!(&got, a => assert!(a.is_standard_layout(), "{name}"));
    }

    let error = |name: &str| {
        let file = path(&format!("{name}.in.npy"));
        let message = npy::read_file(&file).unwrap_err().to_string();
        let prefix = format!("cannot read `{}`: ", file.display());
        message.strip_prefix(&prefix).unwrap_or_else(|| panic!("{message}")).to_string()
    };
    assert_eq!(error("too_big"), "element 1 of the .npy data (<u8) is 18446744073709551615, which does not fit in i64");
    assert!(error("object").starts_with("unsupported .npy dtype '|O' (Python objects)"));
    assert!(error("unicode").starts_with("unsupported .npy dtype '<U3' (Unicode strings)"));
    assert!(error("complex").starts_with("unsupported .npy dtype '<c8' (complex numbers)"));
    assert!(
        error("structured").starts_with("unsupported .npy dtype [('x', '<f4'), ('y', '<i8')] (a structured dtype)")
    );
    assert!(Path::new(&path("f2.in.npy")).exists());
}
