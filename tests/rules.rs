//! A `train` block per learning rule, and `tx rules`, which trains one model
//! by every rule on the same data and budget: `tx train --rule R` takes R's
//! block (else the first block's settings); `tx rules` prints one table
//! (and writes it as markdown and CSV) whose numbers are exactly those of
//! `tx train --rule R --json` with the same budget and seed; a rule the
//! model lacks something for is skipped with the reason, or, when named
//! with `--rules`, refused; usage errors exit 2.

mod common;

use common::{Json, Outcome, ScratchDir, parse_json, run_tx};

const RULES: [&str; 7] = ["backprop", "fa", "dfa", "tp", "dtp", "sdtp", "ao_sdtp"];

/// A budget small enough for a test: two epochs of 64 examples a step.
const BUDGET: [&str; 6] = ["--epochs", "2", "--batch", "64", "--seed", "3"];

fn tx(args: &[&str]) -> Outcome {
    run_tx(args, &common::repo_root())
}

fn json_line(outcome: &Outcome) -> Json {
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    let line = outcome.stdout.trim_end();
    assert!(!line.contains('\n'), "one line: {}", outcome.stdout);
    parse_json(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn number(json: &Json, key: &str) -> f64 {
    json.get(key).and_then(Json::as_f64).unwrap_or_else(|| panic!("no number `{key}` in {json:?}"))
}

fn text<'a>(json: &'a Json, key: &str) -> &'a str {
    match json.get(key) {
        Some(Json::String(s)) => s,
        other => panic!("no string `{key}` in {json:?}: {other:?}"),
    }
}

/// The cells of a CSV line, with RFC 4180 quotes.
fn csv_cells(line: &str) -> Vec<String> {
    let (mut cells, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[test]
fn every_rule_trains_the_digits_network_with_the_numbers_of_tx_train() {
    let dir = ScratchDir::new("rules");
    let out = dir.path().join("results");
    let o = out.to_str().unwrap();
    let table = tx(&[&["rules", "examples/digits_dtp.tx", "--out", o][..], &BUDGET].concat());
    assert_eq!(table.code(), Some(0), "{}", table.describe());

    // The table: a caption, the header, the alignment row, a row per rule.
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "`examples/digits_dtp.tx` on digits (1437 training, 360 test examples): 2 epochs of batches of 64, seed 3."
    );
    let header: Vec<&str> = lines[2].split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["rule", "train error %", "test error %", "final train loss", "seconds", "steps/s", "settings"]);
    assert!(lines[3].starts_with("|---") && lines[3].contains("-:|"), "{}", lines[3]);
    let rows: Vec<Vec<&str>> = lines[4..].iter().map(|l| l.split('|').map(str::trim).collect()).collect();
    assert_eq!(rows.iter().map(|r| r[1]).collect::<Vec<_>>(), RULES);
    // One block (`train dtp`) lends its settings to every other rule.
    assert!(rows[4][7].starts_with("forward adam(lr=0.003); inverse adam(lr=0.003); parallel; top_step 100"));
    assert!(!rows[4][7].contains("from `train"), "{}", rows[4][7]);
    assert_eq!(rows[0][7], "adam(lr=0.01); from `train dtp`");
    // Progress on stderr: a line per epoch and rule.
    for rule in RULES {
        assert!(table.stderr.contains(&format!("\n{rule}: epoch 2/2: train loss ")), "{}", table.describe());
    }
    let markdown = std::fs::read_to_string(out.join("rules.md")).unwrap();
    assert_eq!(markdown, table.stdout, "rules.md holds what was printed");

    // The CSV: the numbers in full, for each rule what `tx train --json`
    // prints for the same budget and seed.
    let csv = std::fs::read_to_string(out.join("rules.csv")).unwrap();
    let csv: Vec<Vec<String>> = csv.lines().map(csv_cells).collect();
    assert_eq!(
        csv[0],
        [
            "rule",
            "status",
            "train_error_percent",
            "test_error_percent",
            "final_train_loss",
            "seconds",
            "steps_per_second",
            "settings",
            "reason"
        ]
    );
    assert_eq!(csv.len(), 1 + RULES.len());
    let json = json_line(&tx(&[&["rules", "examples/digits_dtp.tx", "--json"][..], &BUDGET].concat()));
    assert_eq!((number(&json, "epochs"), number(&json, "batch"), number(&json, "seed")), (2.0, 64.0, 3.0));
    let entries = json.get("rules").and_then(Json::as_array).expect("a list of rules");
    assert_eq!(entries.len(), RULES.len());
    for ((rule, row), entry) in RULES.iter().zip(&csv[1..]).zip(entries) {
        let alone =
            json_line(&tx(&[&["train", "examples/digits_dtp.tx", "--rule", rule, "--json"][..], &BUDGET].concat()));
        assert_eq!((text(entry, "rule"), text(entry, "status")), (*rule, "trained"));
        for key in ["epochs", "train_loss", "train_accuracy", "test_accuracy"] {
            assert_eq!(number(entry, key), number(&alone, key), "{rule}: `{key}` differs from `tx train`");
        }
        let percent = |key: &str| (1.0 - number(&alone, key)) * 100.0;
        let cell = |i: usize| row[i].parse::<f64>().unwrap_or_else(|e| panic!("{rule}: column {i} {:?}: {e}", row[i]));
        assert_eq!((row[0].as_str(), row[1].as_str()), (*rule, "trained"));
        assert_eq!(cell(2), percent("train_accuracy"), "{rule}: train error");
        assert_eq!(cell(3), percent("test_accuracy"), "{rule}: test error");
        assert_eq!(cell(4), number(&alone, "train_loss"), "{rule}: final train loss");
        assert!(cell(5) > 0.0 && cell(6) > 0.0, "{rule}: {row:?}");
        assert_eq!(row[7], text(entry, "settings"));
        assert_eq!(row[8], "");
        // The markdown shows the same errors, rounded.
        let shown = &rows[RULES.iter().position(|r| r == rule).unwrap()];
        assert_eq!(shown[3], format!("{:.2}", percent("test_accuracy")), "{rule}");
    }
}

#[test]
fn rules_the_model_cannot_train_by_are_skipped_with_the_reason() {
    let outcome = tx(&["rules", "examples/digits_mlp.tx", "--epochs", "1"]);
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    // The perceptron has no inverse for its output layer, which `sdtp` and
    // `ao_sdtp` need; its one hidden layer is all `tp` and `dtp` need.
    for rule in ["sdtp", "ao_sdtp"] {
        let row = outcome.stdout.lines().find(|l| l.starts_with(&format!("| {rule} "))).expect("a row per rule");
        assert!(row.contains("| skipped: `") && row.contains("layer `logits` has none"), "{row}");
        assert!(
            outcome.stderr.contains(&format!("{rule}: skipped: `{rule}` sends targets down")),
            "{}",
            outcome.stderr
        );
    }
    for rule in ["backprop", "fa", "dfa", "tp", "dtp"] {
        assert!(outcome.stderr.contains(&format!("{rule}: epoch 1/1: ")), "{}", outcome.describe());
    }
    // Named with --rules, a rule that cannot train the model fails before
    // any rule trains.
    let named = tx(&["rules", "examples/digits_mlp.tx", "--rules", "backprop,sdtp"]);
    assert_eq!(named.code(), Some(1), "{}", named.describe());
    assert!(named.stderr.contains("error: `sdtp` sends targets down through the layers' inverses"), "{}", named.stderr);
    assert!(!named.stderr.contains("backprop: epoch"), "nothing trained: {}", named.stderr);
    assert!(named.stdout.is_empty(), "{}", named.stdout);
}

#[test]
fn tx_rules_trains_the_rules_asked_for_in_their_order() {
    let json =
        json_line(&tx(&["rules", "examples/digits_mlp.tx", "--rules", "dfa,backprop", "--epochs", "1", "--json"]));
    let entries = json.get("rules").and_then(Json::as_array).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| text(e, "rule")).collect();
    assert_eq!(names, ["dfa", "backprop"]);
    // The budget defaults to the first block's batch (32) and seed (0).
    assert_eq!((number(&json, "epochs"), number(&json, "batch"), number(&json, "seed")), (1.0, 32.0, 0.0));
}

#[test]
fn a_rule_whose_loss_is_not_finite_is_reported_as_diverged() {
    let dir = ScratchDir::new("rules_nan");
    // log of a negative number: the first NaN comes from `log`.
    let source = "input x : f32[B, 64]\ninput y : i64[B]\nparam W : f32[64, 10] = 0\n\
                  let z = log(x @ W - 1)\nloss = mean(cross_entropy(z, y))\n";
    let path = dir.write("nan.tx", source);
    let outcome = tx(&["rules", path.to_str().unwrap(), "--rules", "backprop", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
    let row = outcome.stdout.lines().find(|l| l.starts_with("| backprop ")).expect("a row");
    assert!(row.contains("| diverged: the loss is NaN at epoch 1, step 0; sgd(lr=0.1); defaults |"), "{row}");
    assert!(outcome.stderr.contains("`log` (f32[B, 10]) is the first to produce a NaN"), "{}", outcome.stderr);
    let csv = std::fs::read_to_string(dir.path().join("rules.csv")).unwrap();
    assert_eq!(
        csv.lines().nth(1).map(csv_cells).unwrap(),
        ["backprop", "diverged", "", "", "", "", "", "sgd(lr=0.1); defaults", "the loss is NaN at epoch 1, step 0"]
    );
}

#[test]
fn bad_flags_and_models_fail_before_training() {
    let dir = ScratchDir::new("rules_errors");
    let no_loss = dir.write("no_loss.tx", "input x : f32[B, 64]\noutput y = x * 2\n");
    let frozen = dir.write(
        "frozen.tx",
        "input x : f32[B, 64]\ninput y : i64[B]\nparam W : f32[64, 10] = 0 frozen\n\
         loss = mean(cross_entropy(x @ W, y))\n",
    );
    let broken = dir.write("broken.tx", "input x : f32[B, 64]\nloss = mean(x @ W)\n");
    let (no_loss, frozen, broken) = (no_loss.to_str().unwrap(), frozen.to_str().unwrap(), broken.to_str().unwrap());
    let cases: [(&[&str], i32, &str); 8] = [
        (&["examples/digits_mlp.tx", "--rules", "magic"], 2, "error: --rules: unknown learning rule `magic`"),
        (&["examples/digits_mlp.tx", "--rules", "fa,dfa,fa"], 2, "error: --rules: `fa` is named twice"),
        (&["examples/digits_mlp.tx", "--data", "nowhere"], 2, "error: --data nowhere: expected `digits`"),
        (&["examples/digits_mlp.tx", "--epochs", "many"], 2, "invalid value 'many'"),
        (&[no_loss], 1, "has no `loss` to train"),
        (&[frozen], 1, "error: no learning rule can train"),
        (&[frozen, "--rules", "backprop"], 1, "error: the model has no trainable parameters"),
        (&[broken], 1, "error: unknown name `W`"),
    ];
    for (args, code, message) in cases {
        let outcome = tx(&[&["rules"][..], args].concat());
        assert_eq!(outcome.code(), Some(code), "{args:?}: {}", outcome.describe());
        assert!(outcome.stderr.contains(message), "{args:?}: expected `{message}` in\n{}", outcome.describe());
        assert!(outcome.stdout.is_empty(), "{args:?}: nothing trained, nothing printed: {}", outcome.stdout);
    }
}

/// `tx train --rule R` takes R's own block; a rule without one borrows the
/// first block's settings, and `tx train` alone trains by the first block.
#[test]
fn tx_train_picks_the_block_of_its_rule() {
    let dir = ScratchDir::new("rules_blocks");
    let source = std::fs::read_to_string(common::repo_root().join("examples/digits_mlp.tx")).unwrap();
    let blocks = source.replace(
        "train backprop {",
        "train dfa { optimizer = adam(lr = 0.02)  epochs = 1 }\ntrain fa { optimizer = sgd(lr = 0.3)  epochs = 3 }\ntrain backprop {",
    );
    assert_ne!(blocks, source);
    let path = dir.write("blocks.tx", blocks);
    let path = path.to_str().unwrap();
    let epochs = |rule: Option<&str>| {
        let mut args = vec!["train", path, "--json"];
        args.extend(rule.map(|r| ["--rule", r]).into_iter().flatten());
        number(&json_line(&tx(&args)), "epochs")
    };
    assert_eq!(epochs(None), 1.0, "the first block, dfa's");
    assert_eq!(epochs(Some("fa")), 3.0);
    assert_eq!(epochs(Some("backprop")), 20.0);
    assert_eq!(epochs(Some("tp")), 1.0, "no block of its own: the first one's settings");

    // `tx grad --rule` builds the step from the rule's block: Adam keeps
    // moments, plain SGD none.
    let grad = |rule: &str| {
        let outcome = tx(&["grad", path, "--rule", rule]);
        assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
        outcome.stdout.contains("param[W1.m]")
    };
    assert!(grad("backprop") && grad("dfa") && !grad("fa"));

    // `tx rules` gives every rule the first block's budget and its own
    // settings.
    let json = json_line(&tx(&["rules", path, "--rules", "backprop,fa", "--json"]));
    let entries = json.get("rules").and_then(Json::as_array).unwrap();
    assert_eq!(entries.iter().map(|e| number(e, "epochs")).collect::<Vec<_>>(), [1.0, 1.0]);
    assert_eq!(entries.iter().map(|e| text(e, "settings")).collect::<Vec<_>>(), ["adam(lr=0.01)", "sgd(lr=0.3)"]);
}
