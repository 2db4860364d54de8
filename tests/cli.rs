//! The `tx` command line: exit codes (0 success, 1 an error in the user's
//! program or data, 2 wrong usage, never a panic), the messages that go
//! with them, and the machine-readable outputs (`--json`, `--output-dir`).
//!
//! Every case goes through [`check`]: files are written to a fresh
//! directory, `tx` runs there with the given arguments, and the exit code
//! and fragments of stdout and stderr are compared.

mod common;

use std::process::{Command, Stdio};

use common::{NpyType, Outcome, ScratchDir, npy_bytes, parse_run_json, run_tx};

/// What a run must show: its exit code, and text that stdout and stderr
/// must each contain.
struct Expect<'a> {
    code: i32,
    stdout: &'a [&'a str],
    stderr: &'a [&'a str],
}

/// Writes `files` into a fresh directory, runs `tx args` there, and checks
/// the outcome against `expect`. Returns the outcome for further checks.
fn check(files: &[(&str, &[u8])], args: &[&str], expect: Expect<'_>) -> Outcome {
    let dir = ScratchDir::new("cli");
    for (name, bytes) in files {
        dir.write(name, bytes);
    }
    let outcome = run_tx(args, dir.path());
    let mut problems = Vec::new();
    if outcome.code() != Some(expect.code) {
        problems.push(format!("expected exit code {}", expect.code));
    }
    for fragment in expect.stdout {
        if !outcome.stdout.contains(fragment) {
            problems.push(format!("stdout lacks {fragment:?}"));
        }
    }
    for fragment in expect.stderr {
        if !outcome.stderr.contains(fragment) {
            problems.push(format!("stderr lacks {fragment:?}"));
        }
    }
    if outcome.stderr.contains("panicked") {
        problems.push("tx panicked".to_string());
    }
    assert!(problems.is_empty(), "`tx {}`: {}\n{}", args.join(" "), problems.join("; "), outcome.describe());
    outcome
}

/// A program with one input, `x : f32[3]`.
const DOUBLE: &[u8] = b"input x : f32[3]\noutput y = x * 2\n";

fn f32_vector(values: &[f64]) -> Vec<u8> {
    npy_bytes(NpyType::F32, &[values.len()], values)
}

// ---------------------------------------------------------------- usage

#[test]
fn help_and_version_exit_0() {
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["run", "--help"],
        &["graph", "--help"],
        &["opt", "--help"],
        &["compare", "--help"],
        &["help", "run"],
    ] {
        check(&[], args, Expect { code: 0, stdout: &["Usage: tx"], stderr: &[] });
    }
    check(&[], &["--version"], Expect { code: 0, stdout: &["tx "], stderr: &[] });
}

#[test]
fn wrong_usage_exits_2() {
    let program = [("p.tx", DOUBLE)];
    let cases: [(&[&str], &str); 9] = [
        (&[], "Usage"),
        (&["frobnicate"], "frobnicate"),
        (&["run", "p.tx", "--bogus"], "--bogus"),
        (&["check", "p.tx", "--bogus"], "--bogus"),
        (&["run"], "<FILE>"),
        (&["graph", "p.tx", "--format", "svg"], "svg"),
        (&["check", "p.tx", "--emit", "tokens"], "tokens"),
        (&["run", "p.tx", "--random-inputs", "many"], "many"),
        (&["run", "p.tx", "--data", "mnist"], "unknown data set"),
    ];
    for (args, fragment) in cases {
        check(&program, args, Expect { code: 2, stdout: &[], stderr: &[fragment] });
    }
}

#[test]
fn malformed_name_value_flags_exit_2() {
    let files = [("p.tx", DOUBLE), ("x.npy", &f32_vector(&[1.0, 2.0, 3.0])[..])];
    let cases: [(&[&str], &str); 6] = [
        (&["--input", "x"], "--input x: expected NAME=PATH.npy"),
        (&["--input", "=x.npy"], "expected NAME=PATH.npy"),
        (&["--input", "x="], "expected NAME=PATH.npy"),
        (&["--random-inputs", "0", "--dim", "N"], "--dim N: expected NAME=SIZE"),
        (&["--random-inputs", "0", "--dim", "N=many"], "--dim N=many: the size must be a whole number"),
        (&["--input", "x=x.npy", "--input", "x=x.npy"], "--input x is given twice"),
    ];
    for (flags, fragment) in cases {
        let mut args = vec!["run", "p.tx"];
        args.extend_from_slice(flags);
        check(&files, &args, Expect { code: 2, stdout: &[], stderr: &[fragment] });
    }
}

#[test]
fn a_missing_input_exits_2_and_names_it() {
    check(
        &[("p.tx", DOUBLE)],
        &["run", "p.tx"],
        Expect { code: 2, stdout: &[], stderr: &["missing input `x`", "--input x=PATH.npy", "--random-inputs"] },
    );
    let two = b"input x : f32[3]\ninput k : i64[2]\noutput y = sum(x) + cast(sum(k), f32)\n";
    check(&[("p.tx", two)], &["run", "p.tx"], Expect { code: 2, stdout: &[], stderr: &["missing inputs `x`, `k`"] });
}

#[test]
fn an_input_the_program_does_not_declare_exits_2() {
    check(
        &[("p.tx", DOUBLE), ("q.npy", &f32_vector(&[1.0])[..])],
        &["run", "p.tx", "--input", "q=q.npy"],
        Expect { code: 2, stdout: &[], stderr: &["--input q", "has no input named `q`", "its inputs: x"] },
    );
}

// ---------------------------------------------------------------- files and diagnostics

#[test]
fn an_unreadable_source_file_exits_1() {
    for command in ["check", "run", "graph"] {
        check(
            &[],
            &[command, "nope.tx"],
            Expect { code: 1, stdout: &[], stderr: &["cannot read `nope.tx`: no such file"] },
        );
        check(&[], &[command, "."], Expect { code: 1, stdout: &[], stderr: &["cannot read `.`"] });
    }
}

#[test]
fn a_source_that_is_not_utf8_gets_a_rendered_diagnostic() {
    let source = b"input x : f32[3]\noutput y = x \xff\n";
    for command in ["check", "run", "graph"] {
        check(
            &[("bad.tx", source)],
            &[command, "bad.tx"],
            Expect {
                code: 1,
                stdout: &[],
                stderr: &["not valid UTF-8", "--> bad.tx:2:14", "2 | output y = x", "  |              ^"],
            },
        );
    }
}

/// Every error of a program is reported, each rendered like rustc's: the
/// message, `--> file:line:col`, the source line and a caret under the span.
#[test]
fn every_error_of_a_program_is_reported_with_its_source_line() {
    let lowering = b"input x : f32[3]
input k : i64[3]
output a = nosuch(x)
output b = x + k
output c = sum(x, axis = 5)
output d = tanh(k)
";
    check(
        &[("many.tx", lowering)],
        &["check", "many.tx"],
        Expect {
            code: 1,
            stdout: &[],
            stderr: &[
                "error: unknown function `nosuch`\n --> many.tx:3:12\n  |\n3 | output a = nosuch(x)\n  |            ^^^^^^\n",
                "--> many.tx:4:12\n  |\n4 | output b = x + k\n  |            ^^^^^\n",
                "--> many.tx:5:26\n  |\n5 | output c = sum(x, axis = 5)\n  |                          ^\n",
                "--> many.tx:6:12\n  |\n6 | output d = tanh(k)\n  |            ^^^^^^^\n",
                "error: could not compile `many.tx` (4 errors)",
            ],
        },
    );
    let parsing = b"input x : f32[3]
output a = (x +
output b = x ** ** 2
let = 3
output c = x
";
    let outcome = check(
        &[("syntax.tx", parsing)],
        &["run", "syntax.tx", "--random-inputs", "0"],
        Expect {
            code: 1,
            stdout: &[],
            stderr: &["--> syntax.tx:3:1", "--> syntax.tx:3:17", "--> syntax.tx:4:5", "4 | let = 3", "(3 errors)"],
        },
    );
    let caret_lines = outcome
        .stderr
        .lines()
        .filter(|line| line.split_once('|').is_some_and(|(_, rest)| rest.trim_start().starts_with('^')))
        .count();
    assert_eq!(caret_lines, 3, "one caret line per error\n{}", outcome.stderr);
}

#[test]
fn a_program_with_nothing_to_run_exits_1() {
    check(
        &[("p.tx", b"input x : f32[3]\n")],
        &["run", "p.tx", "--random-inputs", "0"],
        Expect { code: 1, stdout: &[], stderr: &["has nothing to run"] },
    );
}

#[test]
fn an_npy_input_of_the_wrong_type_exits_1_naming_both_types() {
    let cases: [(Vec<u8>, &[&str]); 4] = [
        (npy_bytes(NpyType::F64, &[3], &[1.0, 2.0, 3.0]), &["`x`", "f32[3]", "f64[3]"]),
        (npy_bytes(NpyType::I64, &[3], &[1.0, 2.0, 3.0]), &["`x`", "f32[3]", "i64[3]"]),
        (f32_vector(&[1.0, 2.0, 3.0, 4.0]), &["`x`", "f32[3]", "f32[4]"]),
        (npy_bytes(NpyType::F32, &[3, 1], &[1.0, 2.0, 3.0]), &["`x`", "f32[3]", "f32[3, 1]"]),
    ];
    for (bytes, fragments) in cases {
        check(
            &[("p.tx", DOUBLE), ("x.npy", &bytes)],
            &["run", "p.tx", "--input", "x=x.npy"],
            Expect { code: 1, stdout: &[], stderr: fragments },
        );
    }
}

#[test]
fn inputs_that_disagree_on_a_symbolic_dimension_exit_1() {
    let program = b"input a : f32[N]\ninput b : f32[N]\noutput c = a + b\n";
    check(
        &[("p.tx", program), ("a.npy", &f32_vector(&[1.0, 2.0])[..]), ("b.npy", &f32_vector(&[1.0, 2.0, 3.0])[..])],
        &["run", "p.tx", "--input", "a=a.npy", "--input", "b=b.npy"],
        Expect { code: 1, stdout: &[], stderr: &["the input `b`", "`N`", "bound to 2", "got 3"] },
    );
}

#[test]
fn a_corrupt_or_truncated_npy_input_exits_1() {
    let good = f32_vector(&[1.0, 2.0, 3.0]);
    let cases: [(&[u8], &str); 6] = [
        (&good[..good.len() - 2], "truncated"),
        (&good[..20], "truncated"),
        (b"hello, this is not a numpy file", "not a .npy file"),
        (b"", "--input x"),
        (b"\x93NUMPY\x09\x00", "--input x"),
        (&[good.as_slice(), b"trailing"].concat(), "--input x"),
    ];
    for (bytes, fragment) in cases {
        check(
            &[("p.tx", DOUBLE), ("x.npy", bytes)],
            &["run", "p.tx", "--input", "x=x.npy"],
            Expect { code: 1, stdout: &[], stderr: &["--input x", "cannot read `x.npy`", fragment] },
        );
    }
    check(
        &[("p.tx", DOUBLE)],
        &["run", "p.tx", "--input", "x=absent.npy"],
        Expect { code: 1, stdout: &[], stderr: &["--input x", "absent.npy"] },
    );
}

// ---------------------------------------------------------------- outputs

/// A program over every element type, with an output that is NaN and
/// minus infinity (JSON `null`).
const ALL_TYPES: &[u8] = b"input x : f32[2, 2]
input k : i64[3]
input d : f64[2]
output y = x * 2
output n = k + 1
output flag = k > 1
output s = sum(d)
output bad = log(d - 1)
";

fn all_types_inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("p.tx", ALL_TYPES.to_vec()),
        ("x.npy", npy_bytes(NpyType::F32, &[2, 2], &[1.0, 2.0, -0.5, 0.25])),
        ("k.npy", npy_bytes(NpyType::I64, &[3], &[0.0, 3.0, -7.0])),
        ("d.npy", npy_bytes(NpyType::F64, &[2], &[0.5, 1.0])),
    ]
}

const ALL_TYPES_ARGS: [&str; 8] = ["run", "p.tx", "--input", "x=x.npy", "--input", "k=k.npy", "--input", "d=d.npy"];

#[test]
fn json_output_is_one_line_in_the_documented_format() {
    let files = all_types_inputs();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let mut args = ALL_TYPES_ARGS.to_vec();
    args.push("--json");
    let outcome = check(&files, &args, Expect { code: 0, stdout: &[], stderr: &[] });
    let expected = concat!(
        r#"{"outputs": {"#,
        r#""y": {"shape": [2, 2], "dtype": "f32", "data": [2.0, 4.0, -1.0, 0.5]}, "#,
        r#""n": {"shape": [3], "dtype": "i64", "data": [1, 4, -6]}, "#,
        r#""flag": {"shape": [3], "dtype": "bool", "data": [false, true, false]}, "#,
        r#""s": {"shape": [], "dtype": "f64", "data": [1.5]}, "#,
        r#""bad": {"shape": [2], "dtype": "f64", "data": [null, null]}"#,
        "}}\n"
    );
    assert_eq!(outcome.stdout, expected);
    parse_run_json(&outcome.stdout).expect("the line is valid JSON in the documented layout");
}

#[test]
fn output_dir_writes_each_output_as_npy_with_the_same_values() {
    let dir = ScratchDir::new("cli-output-dir");
    for (name, bytes) in all_types_inputs() {
        dir.write(name, bytes);
    }
    let mut json_args = ALL_TYPES_ARGS.to_vec();
    json_args.push("--json");
    let json = run_tx(&json_args, dir.path());
    assert_eq!(json.code(), Some(0), "{}", json.describe());
    let from_json = parse_run_json(&json.stdout).expect("valid JSON");

    let mut args = ALL_TYPES_ARGS.to_vec();
    args.extend(["--output-dir", "out/nested"]);
    let outcome = run_tx(&args, dir.path());
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    assert_eq!(outcome.stdout, "", "with --output-dir alone, nothing goes to stdout");
    for output in &from_json {
        let path = dir.path().join("out/nested").join(format!("{}.npy", output.name));
        assert!(outcome.stderr.contains(&format!("{}.npy", output.name)), "{}", outcome.describe());
        let tensor = tx_data::npy::read_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(tensor.dtype().to_string(), output.dtype, "{}", output.name);
        assert_eq!(tensor.shape(), output.shape.as_slice(), "{}", output.name);
        let values: Vec<Option<f64>> =
            tensor.to_f64s().into_iter().map(|v| if v.is_finite() { Some(v) } else { None }).collect();
        assert_eq!(values, output.data, "{}", output.name);
    }
    // The file is what numpy.save writes for the same array, byte for byte.
    let y = std::fs::read(dir.path().join("out/nested/y.npy")).expect("y.npy");
    assert_eq!(y, npy_bytes(NpyType::F32, &[2, 2], &[2.0, 4.0, -1.0, 0.5]));
    let bad = tx_data::npy::read_file(&dir.path().join("out/nested/bad.npy")).expect("bad.npy");
    let bad = bad.to_f64s();
    assert!(bad[0].is_nan() && bad[1] == f64::NEG_INFINITY, "log(-0.5) is NaN, log(0) is -inf: {bad:?}");

    // An output directory that is a file cannot be created.
    dir.write("taken", "a file");
    let mut args = ALL_TYPES_ARGS.to_vec();
    args.extend(["--output-dir", "taken"]);
    let blocked = run_tx(&args, dir.path());
    assert_eq!(blocked.code(), Some(1), "{}", blocked.describe());
    assert!(blocked.stderr.contains("cannot create `taken`"), "{}", blocked.describe());
}

/// The test's `.npy` writer (used for every input) agrees with numpy: these
/// are the bytes of `np.save(f, np.array([[2, 4], [-1, 0.5]], np.float32))`.
#[test]
fn the_tests_npy_writer_matches_numpy_save() {
    let mut numpy = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }".to_vec();
    numpy.extend_from_slice(&[b' '; 58]);
    numpy.extend_from_slice(b"\n\x00\x00\x00@\x00\x00\x80@\x00\x00\x80\xbf\x00\x00\x00?");
    assert_eq!(npy_bytes(NpyType::F32, &[2, 2], &[2.0, 4.0, -1.0, 0.5]), numpy);
    for (ty, shape) in [(NpyType::F64, &[][..]), (NpyType::Bool, &[2][..]), (NpyType::I64, &[1, 2, 1][..])] {
        let count = shape.iter().product();
        let bytes = npy_bytes(ty, shape, &vec![1.0; count]);
        let read = tx_data::npy::read(&bytes).unwrap_or_else(|e| panic!("{ty:?} {shape:?}: {e}"));
        assert_eq!(read.shape(), shape);
        assert_eq!(bytes.iter().position(|&b| b == b'\n'), Some(127), "the data starts at byte 128");
    }
}

#[test]
fn graph_dot_is_graphviz_and_the_text_forms_are_deterministic() {
    let program = b"input x : f32[B, 3]
param w : f32[3, 2] ~ glorot(seed = 1)
output y = softmax(tanh(x @ w), axis = 1)
";
    let dot = check(
        &[("p.tx", program)],
        &["graph", "p.tx", "--format", "dot"],
        Expect { code: 0, stdout: &[], stderr: &[] },
    );
    assert!(dot.stdout.starts_with("digraph"), "{}", dot.describe());
    assert!(dot.stdout.trim_end().ends_with('}'), "{}", dot.describe());
    let forms: [&[&str]; 4] = [
        &["graph", "p.tx"],
        &["graph", "p.tx", "--format", "dot"],
        &["check", "p.tx", "--emit", "ast"],
        &["check", "p.tx", "--emit", "graph"],
    ];
    for args in forms {
        let first = check(&[("p.tx", program)], args, Expect { code: 0, stdout: &[], stderr: &[] });
        let second = check(&[("p.tx", program)], args, Expect { code: 0, stdout: &[], stderr: &[] });
        assert!(!first.stdout.trim().is_empty(), "`tx {}` printed nothing", args.join(" "));
        assert_eq!(first.stdout, second.stdout, "`tx {}` is not deterministic", args.join(" "));
    }
    check(&[("p.tx", program)], &["check", "p.tx"], Expect { code: 0, stdout: &["p.tx: ok ("], stderr: &[] });
}

/// Which output stream a test closes.
#[derive(Clone, Copy, Debug)]
enum Closed {
    Stdout,
    Stderr,
}

/// Runs `tx args` in `dir` with one output stream a pipe whose read end was
/// closed before `tx` started, so that every write to it fails (`EPIPE`).
fn run_with_closed(closed: Closed, args: &[&str], dir: &std::path::Path) -> Outcome {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut command = Command::new(common::TX);
    command.args(args).current_dir(dir).stdin(Stdio::null());
    match closed {
        Closed::Stdout => command.stdout(writer).stderr(Stdio::piped()),
        Closed::Stderr => command.stdout(Stdio::piped()).stderr(writer),
    };
    let child = command.spawn().expect("tx starts");
    common::wait_guarded(child, &format!("tx {} with {closed:?} closed", args.join(" ")))
}

/// `tx ... | head`: a reader that goes away is not a crash.
#[test]
fn a_closed_stdout_does_not_make_tx_panic() {
    let dir = ScratchDir::new("cli-closed-stdout");
    dir.write("outer.tx", "input a : f32[N]\noutput outer = reshape(a, [N, 1]) * reshape(a, [1, N])\n");
    let commands: [&[&str]; 7] = [
        &["run", "outer.tx", "--random-inputs", "0", "--dim", "N=300", "--json"],
        &["run", "outer.tx", "--random-inputs", "0", "--dim", "N=300"],
        &["graph", "outer.tx", "--format", "dot"],
        &["opt", "outer.tx", "--format", "dot"],
        &["compare", "outer.tx", "--random-inputs", "0"],
        &["check", "outer.tx", "--emit", "graph"],
        &["run", "--help"],
    ];
    for args in commands {
        let outcome = run_with_closed(Closed::Stdout, args, dir.path());
        outcome.assert_no_crash(&format!("`tx {}` with stdout closed", args.join(" ")));
    }
}

/// `tx check bad.tx 2>&1 | head -1`: diagnostics, notes and "wrote" lines
/// go to stderr, and a reader of stderr that goes away is not a crash
/// either: the exit code is the one the command has with stderr open.
#[test]
fn a_closed_stderr_does_not_make_tx_panic() {
    let dir = ScratchDir::new("cli-closed-stderr");
    dir.write("bad.tx", "input x : f32[3]\noutput y = nosuch(x)\n");
    dir.write("p.tx", DOUBLE);
    let commands: [(&[&str], i32); 5] = [
        (&["check", "bad.tx"], 1),
        (&["check", "absent.tx"], 1),
        (&["run", "p.tx"], 2),
        (&["run", "p.tx", "--random-inputs", "0", "--output-dir", "out"], 0),
        (&["run", "p.tx", "--bogus"], 2),
    ];
    let mut failures = Vec::new();
    for (args, code) in commands {
        let outcome = run_with_closed(Closed::Stderr, args, dir.path());
        if outcome.code() != Some(code) {
            failures.push(format!(
                "`tx {}` with stderr closed: expected exit code {code}\n{}",
                args.join(" "),
                outcome.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
