//! Filetests: each `tests/filetests/<stage>/<name>.tx` is compiled, and the
//! result (the printed model, or the rendered diagnostics) is compared with
//! `<name>.expected` beside it. `TX_BLESS=1 cargo test --test filetests`
//! rewrites the expectations; review the diff before committing.

use std::path::{Path, PathBuf};

fn cases(stage: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests").join(stage);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tx"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no filetests in {}", dir.display());
    files
}

/// The printed model, or the diagnostics as the command line renders them.
fn lower_output(path: &Path) -> String {
    let source = std::fs::read_to_string(path).expect("a filetest is UTF-8");
    let name = path.file_name().expect("a file name").to_string_lossy();
    let compiled = tx::frontend::compile(&source);
    let mut out: String = compiled.diagnostics.iter().map(|d| tx::syntax::render(d, &name, &source) + "\n").collect();
    if let Some(model) = compiled.model {
        if let Err(e) = tx::ir::verify(&model.graph) {
            panic!("{name}: the lowered graph fails the verifier: {e}");
        }
        for layer in &model.layers {
            if let Some(inverse) = &layer.inverse {
                tx::ir::verify(&inverse.graph).unwrap_or_else(|e| panic!("{name}: inverse of {}: {e}", layer.name));
            }
        }
        out.push_str(&tx::ir::print_model(&model));
    }
    out
}

fn check_stage(stage: &str, run: fn(&Path) -> String) {
    let bless = std::env::var_os("TX_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for case in cases(stage) {
        let actual = run(&case);
        let expected_path = case.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual == expected {
            continue;
        }
        if bless {
            std::fs::write(&expected_path, &actual).expect("write the expectation");
        } else {
            failures.push(format!("{}:\n{}", case.display(), diff(&expected, &actual)));
        }
    }
    assert!(failures.is_empty(), "filetests differ (TX_BLESS=1 to accept):\n{}", failures.join("\n"));
}

/// A small line diff: `-` expected, `+` actual, around the first difference.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let first = e.iter().zip(&a).position(|(x, y)| x != y).unwrap_or(e.len().min(a.len()));
    let mut out = String::new();
    for line in e.iter().skip(first).take(12) {
        out.push_str(&format!("-{line}\n"));
    }
    for line in a.iter().skip(first).take(12) {
        out.push_str(&format!("+{line}\n"));
    }
    format!("first difference at line {}\n{out}", first + 1)
}

/// The model with the gradient of its loss with respect to every trainable
/// parameter, as `tx grad` prints it; the graph must pass the verifier.
fn grad_output(path: &Path) -> String {
    let source = std::fs::read_to_string(path).expect("a filetest is UTF-8");
    let mut model = tx::frontend::compile(&source).model.expect("a grad filetest compiles");
    let loss = model.loss.expect("a grad filetest has a loss");
    let params: Vec<(String, tx::NodeId)> =
        model.graph.params().iter().filter(|p| !p.frozen).map(|p| (p.name.clone(), p.node)).collect();
    let nodes: Vec<tx::NodeId> = params.iter().map(|(_, id)| *id).collect();
    let grads = tx::autodiff::grad(&mut model.graph, loss, &nodes, &Default::default()).expect("differentiable");
    for ((name, _), g) in params.iter().zip(grads) {
        model.graph.add_output(&format!("grad_{name}"), g).expect("a new output name");
    }
    tx::ir::verify(&model.graph).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tx::ir::print_model(&model)
}

#[test]
fn lower() {
    check_stage("lower", lower_output);
}

#[test]
fn grad() {
    check_stage("grad", grad_output);
}
