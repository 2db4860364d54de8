//! `tx train --rule fa` and `--rule dfa` as a user runs them: the digits
//! perceptron, written for backprop, trains by both rules without editing;
//! the fixed random feedback matrices are saved in checkpoints and stay
//! fixed for the whole run; `feedback_seed` draws others; a model without
//! what a rule needs is refused with the reason.

mod common;

use common::{Json, ScratchDir, parse_json, run_tx};

fn train(args: &[&str]) -> common::Outcome {
    let mut full = vec!["train"];
    full.extend_from_slice(args);
    run_tx(&full, &common::repo_root())
}

/// The fixed random matrix of each rule on `examples/digits_mlp.tx`.
const MATRICES: [(&str, &str); 2] = [("fa", "W2.feedback"), ("dfa", "h1.feedback")];

fn saved(checkpoint: &std::path::Path, name: &str) -> tx::Tensor {
    let arrays = tx::data::npz::read_file(checkpoint).unwrap();
    arrays.into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no `{name}` in the checkpoint")).1
}

fn bits(t: &tx::Tensor) -> Vec<u64> {
    t.to_f64s().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn fa_and_dfa_train_the_digits_mlp_to_high_accuracy() {
    let dir = ScratchDir::new("feedback");
    for (rule, matrix) in MATRICES {
        let checkpoint = dir.path().join(format!("{rule}.npz"));
        let c = checkpoint.to_str().unwrap();
        let outcome = train(&["examples/digits_mlp.tx", "--rule", rule, "--epochs", "5", "--json", "--checkpoint", c]);
        assert_eq!(outcome.code(), Some(0), "{rule}: {}", outcome.describe());
        let line = outcome.stdout.trim();
        let json = parse_json(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let accuracy = json.get("test_accuracy").and_then(Json::as_f64).unwrap();
        assert!(accuracy >= 0.9, "{rule}: {line}");

        // The matrix after five epochs is the one a one-epoch run starts
        // and ends with: fixed, never trained, saved like other state.
        let after_five = saved(&checkpoint, matrix);
        assert_eq!(after_five.shape(), [10, 64], "{rule}: B has the shape of W2's transpose");
        let short = train(&["examples/digits_mlp.tx", "--rule", rule, "--epochs", "1", "--checkpoint", c]);
        assert_eq!(short.code(), Some(0), "{rule}: {}", short.describe());
        assert_eq!(bits(&saved(&checkpoint, matrix)), bits(&after_five), "{rule}: `{matrix}` changed in training");

        // Another `feedback_seed`, other matrices.
        let source = std::fs::read_to_string(common::repo_root().join("examples/digits_mlp.tx")).unwrap();
        let reseeded = source.replace("  seed = 0\n", "  seed = 0\n  feedback_seed = 5\n  feedback_scale = 0.5\n");
        assert_ne!(reseeded, source);
        let path = dir.write(&format!("{rule}_reseeded.tx"), reseeded);
        let other = train(&[path.to_str().unwrap(), "--rule", rule, "--epochs", "1", "--checkpoint", c]);
        assert_eq!(other.code(), Some(0), "{rule}: {}", other.describe());
        assert_ne!(bits(&saved(&checkpoint, matrix)), bits(&after_five), "{rule}: `feedback_seed` is read");
    }
}

#[test]
fn a_model_without_what_a_rule_needs_is_refused() {
    let dir = ScratchDir::new("feedback_refused");
    let linear = "input x : f32[B, 64]\ninput y : i64[B]\nparam W : f32[64, 10] = 0\n\
                  loss = mean(cross_entropy(x @ W, y))\n";
    let hidden = "input x : f32[B, 64]\ninput y : i64[B]\nparam W1 : f32[64, 32] ~ glorot\n\
                  param W2 : f32[32, 10] ~ glorot\nlet h = tanh(x @ W1)\nloss = mean(cross_entropy(h @ W2, y))\n";
    let cases = [
        (linear, "fa", "`fa` replaces the transposed weights that carry the gradient down to lower layers"),
        (hidden, "dfa", "`dfa` sends the output error to every hidden layer, so it needs `layer` declarations"),
    ];
    for (i, (source, rule, message)) in cases.into_iter().enumerate() {
        let path = dir.write(&format!("case{i}.tx"), source);
        let outcome = train(&[path.to_str().unwrap(), "--rule", rule]);
        assert_eq!(outcome.code(), Some(1), "{rule}: {}", outcome.describe());
        assert!(outcome.stderr.contains(message), "{rule}: expected `{message}` in\n{}", outcome.describe());
        assert!(outcome.stdout.is_empty(), "{rule}: nothing trained: {}", outcome.stdout);
    }
    // The hidden-layer model needs no layer declarations for `fa`.
    let path = dir.write("fa_hidden.tx", hidden);
    let outcome = train(&[path.to_str().unwrap(), "--rule", "fa", "--epochs", "1", "--json"]);
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
}
