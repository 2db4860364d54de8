//! `tx opt` and `tx compare` as a user runs them, and the `-O` flag of every
//! command that compiles and runs: every example optimizes and its
//! optimized graph agrees with the graph as written (plain, and the whole
//! training step where the model has a loss); `-O0` is the graph as
//! written; the JSON lines parse; bad input is a clear error with the
//! documented exit code, never a panic.

mod common;

use common::{Json, Outcome, ScratchDir, npy_bytes, parse_json, parse_run_json, run_tx};

/// The `.tx` programs in `examples/` (relative to the repository root), in a
/// fixed order, each with whether it declares a `loss`.
fn examples() -> Vec<(String, bool)> {
    let root = common::repo_root();
    let mut found: Vec<(String, bool)> = std::fs::read_dir(root.join("examples"))
        .expect("examples/ lists")
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tx"))
        .map(|name| {
            let path = format!("examples/{name}");
            let text = std::fs::read_to_string(root.join(&path)).expect("the example reads");
            let has_loss = text.lines().any(|line| line.starts_with("loss "));
            (path, has_loss)
        })
        .collect();
    found.sort();
    assert!(found.iter().any(|(_, loss)| *loss) && found.iter().any(|(_, loss)| !*loss));
    found
}

/// Small sizes for every symbolic dimension of the examples (the MNIST
/// network is large: two rows are plenty).
const SMALL: [&str; 8] = ["--random-inputs", "0", "--dim", "B=2", "--dim", "N=3", "--dim", "M=3"];

/// `tx args` in the repository root.
fn tx(args: &[&str]) -> Outcome {
    run_tx(args, &common::repo_root())
}

/// The one JSON line of `outcome`, parsed.
fn json_line(outcome: &Outcome) -> Result<Json, String> {
    let line = outcome.stdout.strip_suffix('\n').ok_or("the output does not end with a newline")?;
    if line.contains('\n') {
        return Err("the output is more than one line".to_string());
    }
    parse_json(line)
}

/// The variants of each example: as written, and its training step (by
/// backprop, whatever its `train` block says) when it has a loss.
fn variants() -> Vec<(String, Vec<&'static str>)> {
    let mut all = Vec::new();
    for (path, has_loss) in examples() {
        all.push((path.clone(), vec![]));
        if has_loss {
            all.push((path, vec!["--updates", "--rule", "backprop"]));
        }
    }
    all
}

#[test]
fn tx_opt_works_on_every_example_in_text_dot_and_json() {
    let mut failures = Vec::new();
    for (path, extra) in variants() {
        let mut check = |args: Vec<&str>, accept: &dyn Fn(&Outcome) -> Result<(), String>| {
            let outcome = tx(&args);
            let verdict = if outcome.code() == Some(0) { accept(&outcome) } else { Err("expected exit 0".into()) };
            if let Err(why) = verdict {
                failures.push(format!("`tx {}`: {why}\n{}", args.join(" "), outcome.describe()));
            }
        };
        let base: Vec<&str> = [&["opt", path.as_str()][..], &extra].concat();
        check(base.clone(), &|o| {
            for part in ["before: ", "\nafter -O2: ", " fused kernel", "\nrules: ", "\nphases: ", "\nstop reason: "] {
                if !o.stdout.contains(part) {
                    return Err(format!("stdout lacks {part:?}"));
                }
            }
            Ok(())
        });
        check([&base[..], &["--format", "dot"]].concat(), &|o| {
            let graphs = o.stdout.matches("digraph ").count();
            let ok = graphs == 2 && o.stdout.contains("digraph before {") && o.stdout.contains("digraph after {");
            let comments = o.stdout.lines().filter(|l| !l.is_empty() && !l.starts_with("  ") && *l != "}");
            let stray: Vec<&str> = comments.filter(|l| !l.starts_with("digraph ") && !l.starts_with("// ")).collect();
            if ok && stray.is_empty() { Ok(()) } else { Err(format!("not two DOT graphs with comments: {stray:?}")) }
        });
        check([&base[..], &["--json"]].concat(), &|o| {
            let json = json_line(o)?;
            for key in ["nodes_before", "nodes_after", "kernels", "seconds", "iterations"] {
                let n = json.get(key).and_then(Json::as_f64).ok_or(format!("no number `{key}`"))?;
                if n < 0.0 {
                    return Err(format!("`{key}` is negative"));
                }
            }
            for key in ["rules", "phases", "refused"] {
                if !matches!(json.get(key), Some(Json::Object(_))) {
                    return Err(format!("`{key}` is not an object"));
                }
            }
            if !matches!(json.get("stop_reason"), Some(Json::String(s)) if !s.is_empty()) {
                return Err("no `stop_reason` string".into());
            }
            let before = json.get("nodes_before").and_then(Json::as_f64).unwrap_or(0.0);
            if before < 1.0 {
                return Err("nothing before optimization".into());
            }
            Ok(())
        });
    }
    assert!(failures.is_empty(), "{} failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn tx_compare_passes_on_every_example() {
    let mut failures = Vec::new();
    for (path, extra) in variants() {
        for level in ["-O1", "-O2"] {
            let args: Vec<&str> = [&["compare", path.as_str(), level][..], &extra, &SMALL, &["--json"]].concat();
            let outcome = tx(&args);
            let verdict = match outcome.code() {
                Some(0) => compare_json(&outcome, level),
                _ => Err("expected exit code 0".to_string()),
            };
            if let Err(why) = verdict {
                failures.push(format!("`tx {}`: {why}\n{}", args.join(" "), outcome.describe()));
            }
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

/// The documented fields of `tx compare --json`, all present and sensible.
fn compare_json(outcome: &Outcome, level: &str) -> Result<(), String> {
    let json = json_line(outcome)?;
    let Some(Json::Object(outputs)) = json.get("outputs") else {
        return Err("`outputs` is not an object".into());
    };
    if outputs.is_empty() {
        return Err("no outputs compared".into());
    }
    for (name, fields) in outputs {
        for key in ["max_abs", "max_rel"] {
            let v = fields.get(key).and_then(Json::as_f64).ok_or(format!("`{name}.{key}` is not a number"))?;
            if v < 0.0 {
                return Err(format!("`{name}.{key}` is negative"));
            }
        }
        if fields.get("ok") != Some(&Json::Bool(true)) {
            return Err(format!("`{name}` is not ok"));
        }
    }
    for key in ["o0_seconds", "o2_seconds", "nodes_before", "nodes_after", "kernels"] {
        json.get(key).and_then(Json::as_f64).ok_or(format!("no number `{key}`"))?;
    }
    if json.get("level") != Some(&Json::String(level.to_string())) {
        return Err(format!("`level` is not {level}"));
    }
    if json.get("ok") != Some(&Json::Bool(true)) {
        return Err("`ok` is not true".into());
    }
    Ok(())
}

/// `-O0` leaves the graph as written: `tx opt -O0` prints the graph of `tx
/// graph` (or `tx grad --updates`) twice, and nothing fired.
#[test]
fn o0_is_the_graph_as_written() {
    for (path, extra) in variants() {
        let written = if extra.is_empty() {
            tx(&["graph", &path])
        } else {
            tx(&["grad", &path, "--updates", "--rule", "backprop"])
        };
        assert_eq!(written.code(), Some(0), "{}", written.describe());
        let opt = tx(&[&["opt", path.as_str(), "-O0"][..], &extra].concat());
        assert_eq!(opt.code(), Some(0), "{}", opt.describe());
        let (before, after) = opt.stdout.split_once("\nafter -O0: ").expect("two sections");
        let before = before.split_once('\n').expect("a header line").1;
        let after = after.split_once('\n').expect("a header line").1;
        assert_eq!(before, written.stdout, "{path} {extra:?}: the graph before");
        assert!(after.starts_with(&written.stdout), "{path} {extra:?}: the graph after -O0\n{after}");
        assert!(after.contains("\nrules: none fired\n"), "{after}");
        let json = json_line(&tx(&[&["opt", path.as_str(), "-O0", "--json"][..], &extra].concat())).expect("JSON");
        assert_eq!(json.get("nodes_before"), json.get("nodes_after"), "{path}");
        assert_eq!(json.get("kernels").and_then(Json::as_f64), Some(0.0), "{path}");
        assert_eq!(json.get("rules"), Some(&Json::Object(vec![])), "{path}");
    }
}

/// The same program always optimizes to the same graph.
#[test]
fn tx_opt_is_deterministic() {
    let args = ["opt", "examples/mnist_dtp.tx", "--updates", "--rule", "backprop"];
    let graphs = |o: &Outcome| -> String {
        assert_eq!(o.code(), Some(0), "{}", o.describe());
        o.stdout.lines().filter(|l| !l.starts_with("phases: ")).collect::<Vec<_>>().join("\n")
    };
    let first = graphs(&tx(&args));
    assert_eq!(first, graphs(&tx(&args)), "two runs of `tx {}` differ", args.join(" "));
}

/// A value that is infinite as written and finite once stabilized is
/// counted, not a failure; a difference beyond the tolerance is exit 1.
#[test]
fn compare_counts_stabilized_values_and_fails_beyond_the_tolerance() {
    let dir = ScratchDir::new("compare");
    dir.write("p.tx", "input x : f64[N]\noutput naive = log(1 + x)\noutput logsig = log(sigmoid(x))\n");
    dir.write("x.npy", npy_bytes(common::NpyType::F64, &[3], &[1e-10, -800.0, 0.5]));
    let base = ["compare", "p.tx", "--input", "x=x.npy"];
    let ok = run_tx(&[&base[..], &["--json"]].concat(), dir.path());
    assert_eq!(ok.code(), Some(0), "{}", ok.describe());
    let json = json_line(&ok).expect("one JSON line");
    let outputs = json.get("outputs").expect("outputs");
    let logsig = outputs.get("logsig").expect("logsig compared");
    assert_eq!(logsig.get("stabilized").and_then(Json::as_f64), Some(1.0), "log(sigmoid(-800)) is -inf as written");
    assert_eq!(logsig.get("destabilized").and_then(Json::as_f64), Some(0.0));
    let text = run_tx(&base, dir.path());
    assert_eq!(text.code(), Some(0), "{}", text.describe());
    assert!(text.stdout.contains("1 element not finite at -O0 finite at -O2"), "{}", text.describe());
    assert!(text.stdout.contains("ok: every output agrees"), "{}", text.describe());

    // log(1 + 1e-10) rounds as written; log1p does not: exact tolerances see it.
    let strict = run_tx(&[&base[..], &["--rtol", "0", "--atol", "0"]].concat(), dir.path());
    assert_eq!(strict.code(), Some(1), "{}", strict.describe());
    assert!(strict.stdout.contains("DIFFERS"), "{}", strict.describe());
    assert!(strict.stderr.contains("between -O0 and -O2: naive"), "{}", strict.describe());
    assert!(strict.stderr.contains("f64: 0 + 0 * |a|"), "{}", strict.describe());
    // -O0 against -O0 never differs.
    let same = run_tx(&[&base[..], &["-O0", "--rtol", "0", "--atol", "0"]].concat(), dir.path());
    assert_eq!(same.code(), Some(0), "{}", same.describe());

    // `tx run` takes the level too: -O0 is the naive formula.
    let run = |level: &str| {
        let o = run_tx(&["run", "p.tx", "--input", "x=x.npy", level, "--json"], dir.path());
        assert_eq!(o.code(), Some(0), "{}", o.describe());
        parse_run_json(&o.stdout).expect("run JSON")
    };
    let (naive, stable) = (run("-O0"), run("-O2"));
    assert_eq!(naive[1].data[1], None, "-inf as written");
    assert_eq!(stable[1].data[1], Some(-800.0), "finite once stabilized");
}

#[test]
fn bad_input_is_a_clear_error_with_the_right_exit_code() {
    let dir = ScratchDir::new("opt-errors");
    dir.write("p.tx", "input x : f32[3]\noutput y = exp(x) * 2\nloss = sum(y)\nmetric top = max(y)\n");
    dir.write("nothing.tx", "input x : f32[3]\n");
    dir.write("no_loss.tx", "input x : f32[3]\noutput y = x\n");
    let cases: Vec<(Vec<&str>, i32, &[&str])> = vec![
        (vec!["opt", "absent.tx"], 1, &["cannot read `absent.tx`: no such file"]),
        (vec!["compare", "absent.tx"], 1, &["cannot read `absent.tx`: no such file"]),
        (
            vec!["opt", "p.tx", "--explain", "z"],
            2,
            &["--explain z", "no output named `z`", "its outputs: y, loss, top"],
        ),
        (vec!["opt", "nothing.tx", "--explain", "z"], 2, &["no output named `z`", "it has no outputs"]),
        (vec!["opt", "p.tx", "-O3"], 2, &["invalid value '3'", "-O"]),
        (vec!["opt", "p.tx", "-Ofast"], 2, &["invalid value 'fast'"]),
        (vec!["run", "p.tx", "-O9"], 2, &["invalid value '9'"]),
        (vec!["compare", "p.tx", "-O", "x"], 2, &["invalid value 'x'"]),
        (vec!["train", "p.tx", "-O3"], 2, &["invalid value '3'"]),
        (vec!["opt", "p.tx", "--explain", "y", "--json"], 2, &["cannot be used with"]),
        (vec!["opt", "p.tx", "--rule", "backprop"], 2, &["--updates"]),
        (vec!["opt", "p.tx", "--format", "svg"], 2, &["svg"]),
        (vec!["compare", "p.tx", "--rtol=-1"], 2, &["--rtol", "finite number"]),
        (vec!["compare", "p.tx", "--atol", "nan"], 2, &["--atol"]),
        (vec!["compare", "p.tx"], 2, &["missing input `x`", "--random-inputs"]),
        (vec!["compare", "p.tx", "--dim", "N"], 2, &["--dim N: expected NAME=SIZE"]),
        (vec!["compare", "p.tx", "--input", "q=q.npy"], 2, &["has no input named `q`"]),
        (vec!["compare", "nothing.tx", "--random-inputs", "0"], 1, &["has nothing to compare"]),
        (vec!["compare", "no_loss.tx", "--updates", "--random-inputs", "0"], 1, &["has no `loss`"]),
        (vec!["opt", "no_loss.tx", "--updates"], 1, &["has no `loss`"]),
        (vec!["opt", "p.tx", "--updates", "--rule", "nosuch"], 2, &["unknown learning rule"]),
    ];
    let mut failures = Vec::new();
    for (args, code, fragments) in cases {
        let outcome = run_tx(&args, dir.path());
        let missing: Vec<&&str> = fragments.iter().filter(|f| !outcome.stderr.contains(**f)).collect();
        if outcome.code() != Some(code) || !missing.is_empty() || outcome.stderr.contains("panicked") {
            failures.push(format!(
                "`tx {}`: expected exit {code} and {missing:?}\n{}",
                args.join(" "),
                outcome.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

/// `--explain` on an output that exists prints the chain of rewrites, for
/// outputs, the loss and metrics alike: `log(1 + exp(x))` becomes
/// `softplus(x)` by a named rule.
#[test]
fn explain_takes_outputs_the_loss_and_metrics() {
    let dir = ScratchDir::new("opt-explain");
    dir.write("p.tx", "input x : f32[3]\noutput y = log(1 + exp(x))\nloss = sum(y)\nmetric top = max(y)\n");
    for name in ["y", "loss", "top"] {
        let outcome = run_tx(&["opt", "p.tx", "--explain", name], dir.path());
        outcome.assert_no_crash(&format!("tx opt --explain {name}"));
        assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
        assert!(outcome.stdout.contains(&format!("output `{name}`")), "{}", outcome.describe());
        assert!(outcome.stdout.contains("softplus(x)"), "{}", outcome.describe());
    }
}
