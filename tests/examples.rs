//! Every example in `examples/` is run by a test: each `.tx` program (found
//! by listing the directory, so a new example is covered without editing
//! this file) must pass `tx check` and `tx run` on seeded random inputs, the
//! digits classifier must classify, and the Rust embedding example must run
//! its own assertions.

mod common;

use common::{Json, parse_json, parse_run_json, run_tx};

/// The `.tx` programs in `examples/`, by path relative to the repository
/// root (so messages show `examples/mlp.tx`), in a fixed order.
fn example_programs() -> Vec<String> {
    let dir = common::repo_root().join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tx"))
        .map(|name| format!("examples/{name}"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "examples/ holds no .tx program");
    names
}

/// Runs `tx` with `args` on every example (the example's path is appended)
/// and reports every failing example at once. `accept` says what is wrong
/// with an outcome, if anything.
fn check_every_example(args: &[&str], accept: impl Fn(&common::Outcome) -> Result<(), String>) {
    let root = common::repo_root();
    let mut failures = Vec::new();
    for example in example_programs() {
        let mut full: Vec<&str> = args.to_vec();
        full.insert(1, &example);
        let outcome = run_tx(&full, &root);
        let verdict = match outcome.code() {
            Some(0) => accept(&outcome),
            _ => Err("expected exit code 0".to_string()),
        };
        if let Err(why) = verdict {
            failures.push(format!("`tx {}`: {why}\n{}", full.join(" "), outcome.describe()));
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn every_example_passes_tx_check() {
    check_every_example(&["check"], |outcome| {
        if outcome.stdout.contains(": ok (") { Ok(()) } else { Err("stdout does not say `ok`".to_string()) }
    });
}

#[test]
fn every_example_runs_on_random_inputs_and_prints_one_json_line() {
    let args = ["run", "--random-inputs", "0", "--dim", "B=2", "--dim", "N=3", "--dim", "M=3", "--json"];
    check_every_example(&args, |outcome| {
        let outputs = parse_run_json(&outcome.stdout)?;
        if outputs.is_empty() {
            return Err("the JSON lists no outputs".to_string());
        }
        Ok(())
    });
}

/// The accuracy the nearest-centroid classifier reaches on the fixed digits
/// split; well above chance (0.1), below what a trained network reaches.
#[test]
fn digits_centroid_classifies_the_embedded_digits_with_no_flags() {
    let outcome = run_tx(&["run", "examples/digits_centroid.tx", "--json"], &common::repo_root());
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    let outputs = parse_run_json(&outcome.stdout).unwrap_or_else(|e| panic!("{e}\n{}", outcome.describe()));
    for name in ["test_accuracy", "train_accuracy"] {
        let output = outputs.iter().find(|o| o.name == name).unwrap_or_else(|| panic!("no output `{name}`"));
        assert_eq!(output.shape, Vec::<usize>::new(), "{name} is a scalar");
        let accuracy = output.data[0].unwrap_or(f64::NAN);
        assert!((0.85..=0.95).contains(&accuracy), "{name} = {accuracy}, expected between 0.85 and 0.95");
    }
    let confusion = outputs.iter().find(|o| o.name == "confusion").expect("an output `confusion`");
    assert_eq!(confusion.shape, [10, 10]);
    assert_eq!(confusion.dtype, "i64");
}

/// `examples/embed.rs` asserts internally (the Rust-built and the
/// source-built model agree exactly, an ill-typed graph is refused); it is
/// compiled into this test and its `main` called.
#[path = "../examples/embed.rs"]
mod embed;

#[test]
fn the_rust_embedding_example_runs() {
    embed::main();
}

/// The checker the JSON tests rely on accepts JSON and rejects the rest.
#[test]
fn the_json_checker_accepts_json_and_rejects_the_rest() {
    let good =
        [r#"{"a": [1, -2.5e3, 0.0, true, false, null], "b": {"c": "x\"\\\u0041"}}"#, "[]", " {} ", "-0", r#""\n""#];
    for text in good {
        assert!(parse_json(text).is_ok(), "{text}: {:?}", parse_json(text));
    }
    let depth = common::JSON_MAX_DEPTH;
    assert!(parse_json(&format!("{}{}", "[".repeat(depth), "]".repeat(depth))).is_ok());
    let too_deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bad = ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "nan", "[1] 2", "\"\u{1}\"", "{1: 2}", too_deep.as_str()];
    for text in bad {
        assert!(parse_json(text).is_err(), "{text:.40} was accepted");
    }
    let parsed = parse_json(r#"{"k": [1, 2]}"#).expect("valid JSON");
    assert_eq!(parsed.get("k").and_then(Json::as_array).map(<[Json]>::len), Some(2));
}
