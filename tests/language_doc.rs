//! Keeps `docs/language.md`, the language reference, true.
//!
//! - Every ```` ```tx ```` block is a complete program that must compile.
//! - Every ```` ```tx-fail ```` block must be rejected with at least one error,
//!   and must be followed by a plain ```` ``` ```` block holding exactly what
//!   `tx check example.tx` prints for it (diagnostics and summary).
//! - A plain block that follows a `tx` block and starts with `$ tx ...` shows
//!   a command run on that program (saved as `example.tx`): what follows the
//!   command line must be exactly what the command prints (stderr, then
//!   stdout).
//! - Every builtin of `tx::frontend::builtin_signatures()` is mentioned as
//!   `` `name( ``, so that a new builtin without documentation fails here.
//!
//! When a shown output is out of date, the failure prints what tx prints now;
//! `TX_BLESS=1 cargo test --test language_doc` writes it into the document
//! (review the diff before committing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const TX: &str = env!("CARGO_BIN_EXE_tx");

/// One fenced block of the document.
#[derive(Debug)]
struct Block {
    /// The info string after the opening fence ("tx", "tx-fail", "text", "").
    lang: String,
    /// 1-based line of the opening fence.
    line: usize,
    /// The lines between the fences, each ending with a newline.
    text: String,
    /// Whether only blank lines separate this block from the previous one.
    follows_previous: bool,
}

fn document_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md")
}

fn document() -> String {
    let path = document_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The fenced blocks of a markdown text. Fences are lines starting with
/// three backticks at column 0.
fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut only_blank_since_close = false;
    for (index, line) in doc.lines().enumerate() {
        match open.as_mut() {
            Some(block) => {
                if line.trim_end() == "```" {
                    out.push(open.take().expect("an open block"));
                    only_blank_since_close = true;
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                }
            }
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some(Block {
                        lang: info.trim().to_string(),
                        line: index + 1,
                        text: String::new(),
                        follows_previous: only_blank_since_close,
                    });
                } else if !line.trim().is_empty() {
                    only_blank_since_close = false;
                }
            }
        }
    }
    if let Some(block) = open {
        panic!("docs/language.md: the block opened at line {} is never closed", block.line);
    }
    out
}

/// The diagnostics of a compilation, rendered as the command line does.
fn rendered(source: &str, compiled: &tx::frontend::Compiled) -> String {
    compiled.diagnostics.iter().map(|d| tx::syntax::render(d, "example.tx", source) + "\n").collect()
}

/// A fresh directory holding `source` as `example.tx`.
fn scratch(source: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("language_doc-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    std::fs::write(dir.join("example.tx"), source).expect("write example.tx");
    dir
}

/// Runs `tx ARGS` on `source` saved as `example.tx`: (success, stderr then stdout).
fn run_tx(source: &str, args: &[&str]) -> (bool, String) {
    let dir = scratch(source);
    let output = Command::new(TX).args(args).current_dir(&dir).output().expect("run the tx binary");
    let _ = std::fs::remove_dir_all(&dir);
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    (output.status.success(), text)
}

fn same_text(expected: &str, actual: &str) -> bool {
    expected.trim_end() == actual.trim_end()
}

#[test]
fn the_document_has_examples() {
    let blocks = blocks(&document());
    let count = |lang: &str| blocks.iter().filter(|b| b.lang == lang).count();
    assert!(count("tx") >= 30, "only {} ```tx blocks: is the parser of this test broken?", count("tx"));
    assert!(count("tx-fail") >= 10, "only {} ```tx-fail blocks", count("tx-fail"));
}

#[test]
fn tx_blocks_compile() {
    let blocks = blocks(&document());
    let mut failures = Vec::new();
    for block in blocks.iter().filter(|b| b.lang == "tx") {
        let compiled = tx::frontend::compile(&block.text);
        if compiled.model.is_none() {
            failures.push(format!(
                "the ```tx block at line {} does not compile:\n{}\n{}",
                block.line,
                block.text,
                rendered(&block.text, &compiled)
            ));
        }
    }
    assert!(failures.is_empty(), "docs/language.md:\n{}", failures.join("\n"));
}

#[test]
fn tx_fail_blocks_are_rejected() {
    let blocks = blocks(&document());
    let mut failures = Vec::new();
    for block in blocks.iter().filter(|b| b.lang == "tx-fail") {
        let compiled = tx::frontend::compile(&block.text);
        if !compiled.diagnostics.iter().any(tx::Diagnostic::is_error) {
            failures
                .push(format!("the ```tx-fail block at line {} compiles without errors:\n{}", block.line, block.text));
        }
    }
    assert!(failures.is_empty(), "docs/language.md:\n{}", failures.join("\n"));
}

/// What the plain block after `blocks[i]` must hold, if `blocks[i]` has one:
/// the errors of a `tx-fail` block, or the command line and output of a
/// `$ tx ...` block after a `tx` block. `None` when nothing is shown.
fn expected_output(blocks: &[Block], i: usize) -> Option<Result<String, String>> {
    let program = &blocks[i];
    let shown = blocks.get(i + 1).filter(|next| next.lang.is_empty() && next.follows_previous);
    match program.lang.as_str() {
        "tx-fail" => {
            let (ok, actual) = run_tx(&program.text, &["check", "example.tx"]);
            Some(match (shown, ok) {
                (_, true) => Err(format!("`tx check` accepts the ```tx-fail block at line {}", program.line)),
                (None, false) => Err(format!(
                    "the ```tx-fail block at line {} must be followed by a plain ``` block with its errors:\n{actual}",
                    program.line
                )),
                (Some(_), false) => Ok(actual),
            })
        }
        "tx" => {
            let first = shown?.text.lines().next()?;
            let command = first.strip_prefix("$ tx ")?;
            let args: Vec<&str> = command.split_whitespace().collect();
            let (_, actual) = run_tx(&program.text, &args);
            Some(Ok(format!("{first}\n{actual}")))
        }
        _ => None,
    }
}

/// Replaces the contents of the given blocks (by index) in the document.
fn bless(doc: &str, blocks: &[Block], replacements: &[(usize, String)]) -> String {
    let mut lines: Vec<String> = doc.lines().map(str::to_string).collect();
    let mut sorted: Vec<&(usize, String)> = replacements.iter().collect();
    sorted.sort_by_key(|(i, _)| std::cmp::Reverse(blocks[*i].line));
    for (i, text) in sorted {
        let block = &blocks[*i];
        // The opening fence is at 1-based `line`, so the contents start at
        // 0-based index `line`.
        let start = block.line;
        let end = start + block.text.lines().count();
        lines.splice(start..end, text.trim_end().lines().map(str::to_string));
    }
    lines.join("\n") + "\n"
}

/// The errors after each `tx-fail` block, and the output of each `$ tx ...`
/// command, are what tx prints now. `TX_BLESS=1` rewrites them in the
/// document instead (review the diff).
#[test]
fn shown_outputs_are_what_tx_prints() {
    let doc = document();
    let blocks = blocks(&doc);
    // Problems that blessing cannot fix, then outputs that it can.
    let mut problems = Vec::new();
    let mut failures = Vec::new();
    let mut replacements = Vec::new();
    let mut checked = 0;
    for i in 0..blocks.len() {
        match expected_output(&blocks, i) {
            None => {}
            Some(Err(problem)) => problems.push(problem),
            Some(Ok(actual)) => {
                checked += 1;
                let shown = &blocks[i + 1];
                if !same_text(&shown.text, &actual) {
                    failures.push(format!("the output shown at line {} is now:\n{actual}", shown.line));
                    replacements.push((i + 1, actual));
                }
            }
        }
    }
    assert!(checked >= 15, "only {checked} outputs shown: is the parser of this test broken?");
    if std::env::var_os("TX_BLESS").is_some_and(|v| v == "1") && !replacements.is_empty() {
        std::fs::write(document_path(), bless(&doc, &blocks, &replacements)).expect("rewrite docs/language.md");
        failures.clear();
    }
    assert!(problems.is_empty(), "docs/language.md:\n{}", problems.join("\n"));
    assert!(
        failures.is_empty(),
        "docs/language.md is out of date (TX_BLESS=1 cargo test --test language_doc rewrites it):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_builtin_is_documented() {
    let doc = document();
    let signatures = tx::frontend::builtin_signatures();
    assert!(!signatures.is_empty());
    let missing: Vec<&String> = signatures
        .iter()
        .filter(|signature| {
            let name = signature.split('(').next().unwrap_or(signature);
            !doc.contains(&format!("`{name}("))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/language.md does not document these builtins (mention each as `name(...)`): {missing:?}"
    );
}
