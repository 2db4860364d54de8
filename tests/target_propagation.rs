//! `tx train --rule tp|dtp|sdtp|ao_sdtp` as a user runs them: the digits
//! network with inverses trains by every rule of the family; a run with an
//! inverse phase and annealed noise resumes bit for bit; `tx grad --rule`
//! prints the update graphs, and `tx compare` finds the optimized ones
//! equal; a model without what a rule needs is refused with the reason.

mod common;

use common::{Json, ScratchDir, parse_json, run_tx};

fn tx(args: &[&str]) -> common::Outcome {
    run_tx(args, &common::repo_root())
}

fn test_accuracy(outcome: &common::Outcome) -> f64 {
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    let line = outcome.stdout.trim();
    let json = parse_json(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    json.get("test_accuracy").and_then(Json::as_f64).unwrap()
}

#[test]
fn every_rule_of_the_family_trains_the_digits_network() {
    for rule in ["tp", "dtp", "sdtp", "ao_sdtp"] {
        let outcome = tx(&["train", "examples/digits_dtp.tx", "--rule", rule, "--json"]);
        let accuracy = test_accuracy(&outcome);
        assert!(accuracy >= 0.9, "{rule}: {}", outcome.stdout);
    }
}

#[test]
fn an_alternating_run_with_annealed_noise_resumes_bit_for_bit() {
    let dir = ScratchDir::new("target_resume");
    let source = std::fs::read_to_string(common::repo_root().join("examples/digits_dtp.tx")).unwrap();
    let alternating = source.replace("schedule = parallel ", "schedule = alternating  noise_decay = 2 ");
    assert_ne!(alternating, source);
    let path = dir.write("alternating.tx", alternating);
    let path = path.to_str().unwrap();
    let whole = dir.path().join("whole.npz");
    let part = dir.path().join("part.npz");
    let (w, p) = (whole.to_str().unwrap(), part.to_str().unwrap());
    let numbers = |outcome: &common::Outcome| {
        assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
        let json = parse_json(outcome.stdout.trim()).unwrap();
        ["epochs", "train_loss", "train_accuracy", "test_accuracy"].map(|k| json.get(k).and_then(Json::as_f64).unwrap())
    };
    let uninterrupted = numbers(&tx(&["train", path, "--epochs", "3", "--json", "--checkpoint", w]));
    assert!(uninterrupted[3] >= 0.9, "{uninterrupted:?}");
    let first = tx(&["train", path, "--epochs", "1", "--checkpoint", p]);
    assert_eq!(first.code(), Some(0), "{}", first.describe());
    let resumed = numbers(&tx(&["train", path, "--epochs", "3", "--resume", p, "--checkpoint", p, "--json"]));
    assert_eq!(resumed, uninterrupted, "bit for bit the same run");

    let arrays = tx::data::npz::read_file(&part).unwrap();
    let whole_arrays = tx::data::npz::read_file(&whole).unwrap();
    assert_eq!(arrays.len(), whole_arrays.len());
    let bits = |t: &tx::Tensor| t.to_f64s().iter().map(|v| v.to_bits()).collect::<Vec<u64>>();
    for ((name, a), (other, b)) in arrays.iter().zip(&whole_arrays) {
        assert_eq!(name, other);
        assert_eq!(bits(a), bits(b), "`{name}` differs between the resumed and the uninterrupted run");
    }
    // Each phase counts its own steps (45 mini-batches of 32 per epoch);
    // the inverses and their optimizer state are trained and saved (the
    // output layer's inverse only by sdtp).
    let find = |name: &str| &arrays.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no `{name}`")).1;
    assert_eq!(find("inverse.step").to_f64s(), [135.0]);
    assert_eq!(find("optimizer.step").to_f64s(), [135.0]);
    for name in ["V2.m", "c3.v", "c3"] {
        assert!(find(name).to_f64s().iter().any(|v| *v != 0.0 && v.is_finite()), "{name}");
    }
    assert!(arrays.iter().all(|(n, _)| n != "V4.m"), "dtp leaves the output layer's inverse alone");
}

#[test]
fn tx_grad_with_a_rule_prints_its_update_graphs() {
    let outcome = tx(&["grad", "examples/digits_dtp.tx", "--rule", "sdtp"]);
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    let text = &outcome.stdout;
    for part in ["input[noise.h2]", "input[noise.out]", "output next_V4 = ", "output next_W1 = ", "softmax", "one_hot"]
    {
        assert!(text.contains(part), "`{part}` missing from\n{text}");
    }
    assert!(!text.contains("next_inverse.step"), "the block's schedule is parallel: one counter");
    let ao = tx(&["grad", "examples/digits_dtp.tx", "--rule", "ao_sdtp"]);
    assert_eq!(ao.code(), Some(0), "{}", ao.describe());
    assert!(ao.stdout.contains("param[out.aux] : f32[64, 64]"), "{}", ao.stdout);
    assert!(ao.stdout.contains("output next_out.aux_inverse = "), "{}", ao.stdout);
    assert!(!ao.stdout.contains("next_out.aux ="), "the random features are fixed");
    let twice = tx(&["grad", "examples/digits_dtp.tx", "--rule", "sdtp"]);
    assert_eq!(twice.stdout, outcome.stdout, "deterministic");
}

/// The optimized step of every rule computes what the step as written does.
#[test]
fn optimized_steps_agree_with_the_steps_as_written() {
    for rule in ["tp", "dtp", "sdtp", "ao_sdtp"] {
        let args = ["compare", "examples/digits_dtp.tx", "--updates", "--rule", rule, "--random-inputs", "0"];
        let outcome = tx(&[&args[..], &["--dim", "B=4", "--json"]].concat());
        assert_eq!(outcome.code(), Some(0), "{rule}: {}", outcome.describe());
        let json = parse_json(outcome.stdout.trim()).unwrap();
        assert_eq!(json.get("ok"), Some(&Json::Bool(true)), "{rule}: {}", outcome.stdout);
    }
}

#[test]
fn a_model_without_what_a_rule_needs_is_refused() {
    // The digits perceptron has one hidden layer and no inverses: DTP needs
    // none there (its one hidden layer takes the top target), SDTP needs the
    // output layer's.
    let dtp = tx(&["train", "examples/digits_mlp.tx", "--rule", "dtp", "--epochs", "1", "--json"]);
    assert_eq!(dtp.code(), Some(0), "{}", dtp.describe());
    let sdtp = tx(&["train", "examples/digits_mlp.tx", "--rule", "sdtp"]);
    assert_eq!(sdtp.code(), Some(1), "{}", sdtp.describe());
    let expected = "error: `sdtp` sends targets down through the layers' inverses, so every layer from the second \
                    to the output layer needs `inverse(t) = ...`; layer `logits` has none";
    assert!(sdtp.stderr.contains(expected), "{}", sdtp.describe());
    assert!(sdtp.stdout.is_empty());

    let dir = ScratchDir::new("target_refused");
    let flat = "input x : f32[B, 64]\ninput y : i64[B]\nparam W : f32[64, 10] = 0\n\
                layer out = x @ W\nloss = mean(cross_entropy(out, y))\n";
    let path = dir.write("flat.tx", flat);
    let outcome = tx(&["train", path.to_str().unwrap(), "--rule", "tp"]);
    assert_eq!(outcome.code(), Some(1), "{}", outcome.describe());
    assert!(outcome.stderr.contains("`tp` trains each hidden layer toward a target"), "{}", outcome.describe());
    assert!(outcome.stderr.contains("this model declares 1"), "{}", outcome.describe());
}
