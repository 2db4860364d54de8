//! `tx train` as a user runs it: a model trains on the embedded digits,
//! overrides and `--json` work, and bad models, data and settings are
//! clear errors before any training (a NaN during training names the node
//! that produced it).

mod common;

use common::{Json, ScratchDir, parse_json, run_tx};

fn train(args: &[&str]) -> common::Outcome {
    let mut full = vec!["train"];
    full.extend_from_slice(args);
    run_tx(&full, &common::repo_root())
}

#[test]
fn the_digits_mlp_trains_to_high_accuracy() {
    let outcome = train(&["examples/digits_mlp.tx", "--epochs", "8", "--json"]);
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    let line = outcome.stdout.trim();
    assert_eq!(line.lines().count(), 1, "one JSON line: {line}");
    let json = parse_json(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let field = |k: &str| json.get(k).and_then(Json::as_f64).unwrap_or_else(|| panic!("no number `{k}` in {line}"));
    assert_eq!(field("epochs"), 8.0);
    assert!(field("test_accuracy") > 0.93, "{line}");
    assert!(field("train_accuracy") > 0.95, "{line}");
    assert!(field("train_loss") < 0.2, "{line}");
    assert!(field("seconds") > 0.0 && field("steps_per_second") > 0.0, "{line}");
}

#[test]
fn training_is_reproducible_and_prints_one_line_per_epoch() {
    let args = ["examples/digits_mlp.tx", "--epochs", "2", "--batch", "64", "--seed", "3"];
    let (first, second) = (train(&args), train(&args));
    assert_eq!(first.code(), Some(0), "{}", first.describe());
    let strip = |s: &str| -> Vec<String> { s.lines().map(|l| l.rsplit_once(" (").unwrap().0.to_string()).collect() };
    assert_eq!(strip(&first.stdout), strip(&second.stdout), "same seed, same numbers");
    assert_eq!(first.stdout.lines().count(), 2);
    assert!(first.stdout.starts_with("epoch 1/2: train loss "), "{}", first.stdout);
    let other = train(&["examples/digits_mlp.tx", "--epochs", "2", "--batch", "64", "--seed", "4"]);
    assert_ne!(strip(&first.stdout), strip(&other.stdout), "another seed shuffles differently");
}

#[test]
fn bad_models_and_data_fail_before_training() {
    let dir = ScratchDir::new("train");
    let cases: [(&str, &str, &[&str], i32, &str); 6] = [
        ("no_loss.tx", "input x : f32[B, 64]\noutput y = x\n", &[], 1, "has no `loss` to train"),
        (
            "wide.tx",
            "input x : f32[B, 784]\ninput y : i64[B]\nparam W : f32[784, 10] = 0\nloss = mean(cross_entropy(x @ W, y))\n",
            &[],
            1,
            "the data has 64 features per example, but input `x` is f32[B, 784]",
        ),
        (
            "one_input.tx",
            "input x : f32[B, 64]\nparam W : f32[64, 10] = 0\nloss = mean(x @ W)\n",
            &[],
            1,
            "must declare two inputs",
        ),
        (
            "rule.tx",
            "input x : f32[B, 64]\ninput y : i64[B]\nparam W : f32[64, 10] = 0\nloss = mean(cross_entropy(x @ W, y))\n",
            &["--rule", "magic"],
            2,
            "--rule magic: unknown learning rule",
        ),
        (
            "data.tx",
            "input x : f32[B, 64]\ninput y : i64[B]\nparam W : f32[64, 10] = 0\nloss = mean(cross_entropy(x @ W, y))\n",
            &["--data", "imagenet"],
            2,
            "--data imagenet: expected `digits`, `mnist:DIR`, `csv:PATH` or `npz:PATH`",
        ),
        (
            "settings.tx",
            "input x : f32[B, 64]\ninput y : i64[B]\nparam W : f32[64, 10] = 0\nloss = mean(cross_entropy(x @ W, y))\ntrain backprop { optimizer = adam(lr = -1) }\n",
            &[],
            1,
            "`lr` of `adam` must be a positive number, not -1",
        ),
    ];
    for (name, source, extra, code, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, source).unwrap();
        let mut args = vec!["train", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let outcome = run_tx(&args, &common::repo_root());
        assert_eq!(outcome.code(), Some(code), "{name}: {}", outcome.describe());
        assert!(outcome.stderr.contains(message), "{name}: expected `{message}` in\n{}", outcome.describe());
        assert!(outcome.stdout.is_empty(), "{name}: nothing trained, nothing printed: {}", outcome.stdout);
    }
}

#[test]
fn a_nan_in_training_names_the_node_that_made_it() {
    let dir = ScratchDir::new("nan");
    // log of a negative number: the first NaN comes from `log`.
    let source = "input x : f32[B, 64]\ninput y : i64[B]\nparam W : f32[64, 10] = 0\n\
                  let z = log(x @ W - 1)\nloss = mean(cross_entropy(z, y))\n";
    let path = dir.path().join("nan.tx");
    std::fs::write(&path, source).unwrap();
    let outcome = run_tx(&["train", path.to_str().unwrap()], &common::repo_root());
    assert_eq!(outcome.code(), Some(1), "{}", outcome.describe());
    assert!(outcome.stderr.contains("the loss is NaN at epoch 1, step 0"), "{}", outcome.describe());
    assert!(outcome.stderr.contains("`log` (f32[B, 10]) is the first to produce a NaN"), "{}", outcome.describe());
    assert!(outcome.stderr.contains("4 | let z = log(x @ W - 1)"), "{}", outcome.describe());
}

#[test]
fn a_resumed_run_ends_exactly_where_an_uninterrupted_one_does() {
    let dir = ScratchDir::new("resume");
    let checkpoint = dir.path().join("run.npz");
    let plot = dir.path().join("curves.svg");
    let (c, p) = (checkpoint.to_str().unwrap(), plot.to_str().unwrap());
    let numbers = |outcome: &common::Outcome| {
        assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
        let json = parse_json(outcome.stdout.trim()).unwrap();
        ["epochs", "train_loss", "train_accuracy", "test_accuracy"].map(|k| json.get(k).and_then(Json::as_f64).unwrap())
    };
    let whole_checkpoint = dir.path().join("whole.npz");
    let whole_args =
        ["examples/digits_mlp.tx", "--epochs", "4", "--json", "--checkpoint", whole_checkpoint.to_str().unwrap()];
    let whole = numbers(&train(&whole_args));
    let first = train(&["examples/digits_mlp.tx", "--epochs", "2", "--checkpoint", c]);
    assert_eq!(first.code(), Some(0), "{}", first.describe());
    let resumed =
        train(&["examples/digits_mlp.tx", "--epochs", "4", "--resume", c, "--checkpoint", c, "--plot", p, "--json"]);
    assert_eq!(numbers(&resumed), whole, "bit for bit the same run");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("test accuracy") && svg.contains("<polyline"), "{svg}");

    // Every parameter and optimizer state ends bit for bit the same (the
    // resumed run wrote its checkpoints to the same path).
    let arrays = tx::data::npz::read_file(&checkpoint).unwrap();
    let whole_arrays = tx::data::npz::read_file(&whole_checkpoint).unwrap();
    assert_eq!(arrays.len(), whole_arrays.len());
    for ((name, a), (other, b)) in arrays.iter().zip(&whole_arrays) {
        assert_eq!(name, other);
        let bits = |t: &tx::Tensor| t.to_f64s().iter().map(|v| v.to_bits()).collect::<Vec<u64>>();
        assert_eq!(bits(a), bits(b), "`{name}` differs between the resumed and the uninterrupted run");
    }
    // The checkpoint holds every parameter and optimizer state, for numpy too.
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    for name in ["W1", "b2", "W1.m", "W1.v", "optimizer.step", "tx.epochs", "tx.curves"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    // A damaged checkpoint, or one of another model, is refused.
    let bytes = std::fs::read(&checkpoint).unwrap();
    std::fs::write(&checkpoint, &bytes[..bytes.len() / 2]).unwrap();
    let damaged = train(&["examples/digits_mlp.tx", "--resume", c]);
    assert_eq!(damaged.code(), Some(1), "{}", damaged.describe());
    assert!(damaged.stderr.contains("error: --resume"), "{}", damaged.describe());
    std::fs::write(&checkpoint, &bytes).unwrap();
    let other = train(&["examples/mlp.tx", "--resume", c]);
    assert_eq!(other.code(), Some(1), "{}", other.describe());
    assert!(other.stderr.contains("does not fit this model"), "{}", other.describe());
}

#[test]
fn killing_training_never_leaves_a_broken_checkpoint() {
    let dir = ScratchDir::new("kill");
    let checkpoint = dir.path().join("run.npz");
    // Kill runs at staggered moments; whatever is on disk must be a whole
    // checkpoint (or nothing yet), never a part of one.
    for (i, wait_ms) in [40u64, 90, 150, 230, 330].into_iter().enumerate() {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tx"))
            .args(["train", "examples/digits_mlp.tx", "--epochs", "200", "--checkpoint"])
            .arg(&checkpoint)
            .current_dir(common::repo_root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        let _ = child.kill();
        let _ = child.wait();
        if checkpoint.exists() {
            let arrays = tx::data::npz::read_file(&checkpoint)
                .unwrap_or_else(|e| panic!("kill {i} after {wait_ms} ms left a broken checkpoint: {e}"));
            assert!(arrays.iter().any(|(n, _)| n == "W1"), "kill {i}: {:?}", arrays.len());
        }
        let strays: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "run.npz" && !n.ends_with(".tmp"))
            .collect();
        assert!(strays.is_empty(), "unexpected files {strays:?}");
    }
}

#[test]
fn csv_and_npz_data_train_like_the_embedded_digits() {
    // The digits as a CSV file (label last) and as an .npz of the fixed split.
    let dir = ScratchDir::new("data");
    let split = tx::data::digits_split().unwrap();
    let mut csv = String::new();
    for set in [&split.train, &split.test] {
        for (row, label) in set.x.rows().into_iter().zip(set.y.iter()) {
            let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            csv.push_str(&format!("{},{label}\n", cells.join(",")));
        }
    }
    let csv_path = dir.path().join("digits.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let npz_path = dir.path().join("digits.npz");
    let t = |a: &ndarray::Array2<f32>| tx::Tensor::F32(a.clone().into_dyn());
    let l = |a: &ndarray::Array1<i64>| tx::Tensor::I64(a.clone().into_dyn());
    let (xa, ya, xb, yb) = (t(&split.train.x), l(&split.train.y), t(&split.test.x), l(&split.test.y));
    tx::data::npz::write_file(&npz_path, &[("x_train", &xa), ("y_train", &ya), ("x_test", &xb), ("y_test", &yb)])
        .unwrap();
    for data in [format!("csv:{}", csv_path.display()), format!("npz:{}", npz_path.display())] {
        let outcome = train(&["examples/digits_mlp.tx", "--epochs", "4", "--json", "--data", &data]);
        assert_eq!(outcome.code(), Some(0), "{data}: {}", outcome.describe());
        let json = parse_json(outcome.stdout.trim()).unwrap();
        let accuracy = json.get("test_accuracy").and_then(Json::as_f64).unwrap();
        assert!(accuracy > 0.9, "{data}: {accuracy}");
    }
}

#[test]
fn tx_grad_updates_prints_the_training_step() {
    let outcome = run_tx(&["grad", "examples/digits_mlp.tx", "--updates"], &common::repo_root());
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    for line in ["output next_W1 = %", "output next_W1.m = %", "output next_optimizer.step = %", "param[W1.v]"] {
        assert!(outcome.stdout.contains(line), "`{line}` missing:\n{}", outcome.stdout);
    }
    let again = run_tx(&["grad", "examples/digits_mlp.tx", "--updates"], &common::repo_root());
    assert_eq!(outcome.stdout, again.stdout, "deterministic");
}
