//! No input makes `tx check` or `tx run` panic.
//!
//! The examples (and a few small programs calling the other builtins) are the
//! seeds; a seeded, deterministic generator mutates them: byte ranges
//! deleted, duplicated, swapped and inserted, tokens of the language and
//! builtin names inserted, truncations at every 37th byte, numbers replaced
//! by huge, negative and float ones, brackets nested 10 000 deep, lines of a
//! megabyte, random bytes. Every mutation is compiled in process (compiling
//! must give a program or diagnostics, never a panic); those that compile to
//! a small enough graph are also evaluated on seeded random inputs (errors
//! are fine, panics are not). A sample then goes through the real binary,
//! which must exit with 0, 1 or 2.
//!
//! `TX_FUZZ_CASES` sets the number of random mutations per seed (default
//! 1000); the deterministic ones (truncations, nesting, long lines) are
//! always made.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{ScratchDir, SplitMix64, run_tx};
use tx::ir::{Dim, Graph};

/// Random mutations per seed program unless `TX_FUZZ_CASES` says otherwise.
const DEFAULT_CASES_PER_SEED: usize = 1000;

/// A graph is evaluated only if no node holds more elements than this, and
/// all nodes together no more than [`MAX_TOTAL_ELEMENTS`], with every
/// symbolic dimension of size [`SYMBOL_SIZE`]: a mutation that declares a
/// huge parameter is a valid program, but not one to evaluate in a test.
const MAX_NODE_ELEMENTS: usize = 100_000;
const MAX_TOTAL_ELEMENTS: usize = 1_000_000;
/// The size `random_inputs` (and `tx run --random-inputs`) gives a symbolic
/// dimension that is not named with `--dim`.
const SYMBOL_SIZE: usize = 4;

/// How many mutations go through the binary (twice each: check and run).
const BINARY_SAMPLE: usize = 50;

// ---------------------------------------------------------------- the tests

#[test]
fn compiling_and_running_mutated_programs_never_panics() {
    let mut failures = Vec::new();
    let mut compiled = 0;
    let mut evaluated = 0;
    let mutations = mutations();
    for mutation in &mutations {
        match exercise_in_process(mutation) {
            Ok(Stage::Rejected) => {}
            Ok(Stage::Compiled) => compiled += 1,
            Ok(Stage::Evaluated) => {
                compiled += 1;
                evaluated += 1;
            }
            Err(why) => failures.push(format!("{}: {why}\n--- source ---\n{}", mutation.label, shown(&mutation.bytes))),
        }
    }
    println!("{} mutations: {compiled} compiled, {evaluated} evaluated", mutations.len());
    assert!(
        failures.is_empty(),
        "{} of {} mutations made tx panic; the first ones:\n\n{}",
        failures.len(),
        mutations.len(),
        failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n\n")
    );
    // The corpus must reach the interpreter, or the evaluation half tests nothing.
    assert!(evaluated > mutations.len() / 20, "only {evaluated} of {} mutations were evaluated", mutations.len());
}

#[test]
fn the_binary_exits_0_1_or_2_on_mutated_programs() {
    let dir = ScratchDir::new("fuzz");
    let corpus = mutations();
    let sample = binary_sample(&corpus);
    let mut failures = Vec::new();
    for (i, mutation) in sample.iter().enumerate() {
        let file = format!("case{i}.tx");
        dir.write(&file, &mutation.bytes);
        for args in [&["check", file.as_str()][..], &["run", file.as_str(), "--random-inputs", "1"]] {
            let outcome = run_tx(args, dir.path());
            if !exited_cleanly(&outcome) {
                failures.push(format!(
                    "`tx {}` on {}:\n{}\n--- source ---\n{}",
                    args.join(" "),
                    mutation.label,
                    outcome.describe(),
                    shown(&mutation.bytes)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} runs crashed; the first ones:\n\n{}",
        failures.len(),
        failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n\n")
    );
}

/// The smallest reproductions of the crashes this fuzzer has found. Each
/// must compile to a program or to diagnostics (not to an internal compiler
/// error), and `tx check` and `tx run --random-inputs 1` must exit with 0, 1
/// or 2.
fn regressions() -> Vec<(&'static str, String)> {
    vec![
        // Slice length arithmetic overflowed in the frontend (`python_slice`).
        ("a slice step of i64::MAX", "input z : f64[4, 3]\noutput r = z[:, ::9223372036854775807]\n".into()),
        ("a slice step of -i64::MAX", "input z : f64[4, 3]\noutput r = z[:, ::-9223372036854775807]\n".into()),
        (
            "a bounded slice with step -i64::MAX",
            "input z : f64[4, 3]\noutput r = z[:, 1:0:-9223372036854775807]\n".into(),
        ),
        // The same arithmetic for a slice of an axis of symbolic size.
        (
            "a slice of a symbolic axis up to i64::MAX",
            "input x : f32[B, 3]\noutput y = x[0:9223372036854775807]\n".into(),
        ),
        (
            "a slice of a symbolic axis with step i64::MAX",
            "input x : f32[B, 3]\noutput y = x[0:5:9223372036854775807]\n".into(),
        ),
        // Printing a value of very high rank recursed once per axis.
        ("an input of rank 65 536", format!("input x : f32[{}1]\noutput y = x\n", "1, ".repeat(65_535))),
    ]
}

#[test]
fn regressions_found_by_fuzzing_do_not_crash() {
    let dir = ScratchDir::new("fuzz-regressions");
    let mut failures = Vec::new();
    for (i, (name, source)) in regressions().into_iter().enumerate() {
        let mutation = Mutation { label: name.to_string(), bytes: source.into_bytes(), extreme: true };
        if let Err(why) = exercise_in_process(&mutation) {
            failures.push(format!("{name}, in process: {why}"));
        }
        let file = format!("regression{i}.tx");
        dir.write(&file, &mutation.bytes);
        for args in [&["check", file.as_str()][..], &["run", file.as_str(), "--random-inputs", "1"]] {
            let outcome = run_tx(args, dir.path());
            if !exited_cleanly(&outcome) {
                failures.push(format!("{name}, `tx {}`:\n{}", args.join(" "), outcome.describe()));
            }
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Exit code 0, 1 or 2, and no panic (a release build reports a panic
/// inside the compiler only as an internal compiler error).
fn exited_cleanly(outcome: &common::Outcome) -> bool {
    matches!(outcome.code(), Some(0..=2))
        && !outcome.stderr.contains("panicked")
        && !outcome.stderr.contains("internal compiler error")
}

// ---------------------------------------------------------------- in process

enum Stage {
    /// The compiler reported errors.
    Rejected,
    /// It compiled, but the graph is too large to evaluate here.
    Compiled,
    /// It compiled and was evaluated (successfully or with an error).
    Evaluated,
}

/// Compiles one mutation and, when it compiles to a small graph, evaluates
/// it. `Err` describes a panic (or an internal compiler error, which is a
/// panic caught inside the compiler).
fn exercise_in_process(mutation: &Mutation) -> Result<Stage, String> {
    let source = String::from_utf8_lossy(&mutation.bytes);
    // The frontend first: `tx::compile` also initializes the parameters,
    // which a mutation may have made enormous.
    let compiled =
        catch_unwind(|| tx_frontend::compile(&source)).map_err(|p| panic_text("tx_frontend::compile", &p))?;
    if let Some(internal) = compiled.diagnostics.iter().find(|d| d.message.contains("internal compiler error")) {
        return Err(format!("tx_frontend::compile reported `{}`", internal.message));
    }
    let Some(model) = compiled.model else { return Ok(Stage::Rejected) };
    if !small_enough(&model.graph) {
        return Ok(Stage::Compiled);
    }
    let program = match catch_unwind(|| tx::compile(&source)).map_err(|p| panic_text("tx::compile", &p))? {
        Ok(program) => program,
        Err(e) => return Err(format!("the frontend accepted the program but tx::compile refused it: {e}")),
    };
    let seed = mutation.bytes.len() as u64;
    let symbols = symbols(program.graph());
    // Symbolic dimensions of the default size, then all empty, then all 1.
    for size in [None, Some(0), Some(1)] {
        let dims: Vec<(&str, usize)> = match size {
            None => Vec::new(),
            Some(n) => symbols.iter().map(|s| (s.as_str(), n)).collect(),
        };
        catch_unwind(AssertUnwindSafe(|| {
            // Inputs too large to make are an error, like any other.
            let Ok(inputs) = tx::interp::random_inputs(program.graph(), seed, &dims) else { return };
            let inputs: Vec<(&str, tx::Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
            // Errors are fine; only a panic is a failure.
            let _ = program.run(&inputs);
            for layer in &program.model().layers {
                let _ = program.evaluate(&inputs, &[layer.name.as_str()]);
            }
        }))
        .map_err(|p| panic_text(&format!("evaluating with symbolic dimensions {dims:?}"), &p))?;
    }
    Ok(Stage::Evaluated)
}

/// The names of the symbolic dimensions in `graph`, each once.
fn symbols(graph: &Graph) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (id, _) in graph.nodes() {
        for dim in graph.ty(id).shape.dims() {
            if let Dim::Sym(name) = dim
                && !names.contains(name)
            {
                names.push(name.clone());
            }
        }
    }
    names
}

fn panic_text(stage: &str, payload: &Box<dyn std::any::Any + Send>) -> String {
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".to_string());
    format!("{stage} panicked: {message}")
}

/// Whether every node of `graph` is small, with each symbolic dimension of
/// size [`SYMBOL_SIZE`].
fn small_enough(graph: &Graph) -> bool {
    let mut total = 0usize;
    for (id, _) in graph.nodes() {
        let elements = graph
            .ty(id)
            .shape
            .dims()
            .iter()
            .map(|d| match d {
                Dim::Known(n) => *n,
                Dim::Sym(_) => SYMBOL_SIZE,
            })
            .try_fold(1usize, usize::checked_mul);
        match elements {
            Some(n) if n <= MAX_NODE_ELEMENTS => total += n,
            _ => return false,
        }
    }
    total <= MAX_TOTAL_ELEMENTS
}

/// Source for a failure message: all of it when short, else its start.
fn shown(bytes: &[u8]) -> String {
    const LIMIT: usize = 600;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)]).into_owned();
    if bytes.len() > LIMIT { format!("{text}\n... ({} bytes in all)", bytes.len()) } else { text }
}

// ---------------------------------------------------------------- the corpus

/// One mutated program and how it was made.
struct Mutation {
    label: String,
    bytes: Vec<u8>,
    /// Made to stress sizes (nesting, long lines, random bytes): always part
    /// of the binary sample.
    extreme: bool,
}

/// Small programs that between them call the builtins the examples do not.
const EXTRA_SEEDS: [(&str, &str); 3] = [
    (
        "movement",
        "input z : f64[N, 5]
input k : i64[N]
output a = concat([z[::-1, ::2], z[:, 1:3]], axis = 1)
output b = transpose(reshape(z, [N, -1, 1]), [2, 0, 1])
output c = broadcast_to(z[0], [3, 5])
output d = flatten(z)
output e = where(z > 0, z, -z) ** 2
output f = one_hot(k, 5, i64) + cast(z, i64)
output g = logical_and(z > 0, not (z < 1)) or logical_not(z == 0)
",
    ),
    (
        "math",
        "input x : f32[B, 3]
const C = 3
fn act(v) { let w = softplus(v) return w * sigmoid(v) }
output a = maximum(minimum(act(x), 1.5), -0.5) / (abs(x) + 1)
output b = log1p(square(x)) + expm1(x / 4) - sqrt(abs(x)) * sign(x)
output c = logsumexp(sin(x) + cos(x), axis = [0, 1], keepdims = true)
output d = argmax(log_softmax(x), axis = -1, keepdims = true)
output e = stop_gradient(reciprocal(x + 10)) @ transpose(x)
output f = mse(x, zeros([B, C])) + mean(cross_entropy(x, softmax(x)))
output g = full([2, 2], 7, dtype = i64) + ones([2, 2], dtype = i64) - relu(-x[0:2, 0:2] > 0)
",
    ),
    (
        "model",
        "input x : f32[B, 4]
input y : i64[B]
param W : f32[4, 3] ~ normal(0, 0.1, seed = 3)
param V : f32[3, 4] ~ uniform(-1, 1) frozen
param b : f32[3] = 0.5
layer h = tanh(x @ W + b)   inverse(t) = tanh(t @ V)
loss = mean(cross_entropy(h, y))
metric accuracy = mean(argmax(h, axis = 1) == y)
metric noise = mean(normal([B, 3], std = 0.1, seed = 1) + uniform([B, 3], low = -1, high = 1, seed = 2))
train backprop { epochs = 1 batch = 2 }
",
    ),
];

/// The seed programs: every example, the same with its sizes made small
/// (so that its mutations are cheap to evaluate), and [`EXTRA_SEEDS`].
fn seeds() -> Vec<(String, String)> {
    let dir = common::repo_root().join("examples");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/ can be listed")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tx"))
        .collect();
    paths.sort();
    let mut seeds = Vec::new();
    for path in paths {
        let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("examples are UTF-8");
        seeds.push((format!("{name} (small)"), shrink_numbers(&text)));
        seeds.push((name, text));
    }
    seeds.extend(EXTRA_SEEDS.iter().map(|(name, text)| (name.to_string(), text.to_string())));
    seeds
}

/// Replaces each integer literal of 16 or more by a size from 2 to 6.
fn shrink_numbers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_number = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'.')));
        if !starts_number {
            out.push(text[i..].chars().next().expect("a char"));
            i += text[i..].chars().next().expect("a char").len_utf8();
            continue;
        }
        let end = i + bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let is_integer = !matches!(bytes.get(end), Some(b'.' | b'e' | b'E'));
        match text[i..end].parse::<u64>() {
            Ok(n) if is_integer && n >= 16 => out.push_str(&(n % 5 + 2).to_string()),
            _ => out.push_str(&text[i..end]),
        }
        i = end;
    }
    out
}

/// Words and symbols of the language, and numbers that test its limits.
fn tokens() -> Vec<String> {
    let mut tokens: Vec<String> = [
        "input",
        "param",
        "const",
        "let",
        "fn",
        "output",
        "layer",
        "inverse",
        "loss",
        "metric",
        "train",
        "frozen",
        "return",
        "true",
        "false",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "=",
        "~",
        "+",
        "-",
        "*",
        "/",
        "**",
        "@",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "#",
        "\n",
        " ",
        "f32",
        "f64",
        "i64",
        "bool",
        "glorot",
        "glorot_normal",
        "orthogonal",
        "x",
        "B",
        "N",
        "_",
        "0",
        "1",
        "-1",
        "2.5",
        "1e400",
        "99999999999999999999",
        "9223372036854775807",
        "::-1",
        "axis = 0",
        "keepdims = true",
        "é",
        "\u{0}",
        "\"",
        "\\",
        "\t",
        "\r",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    // Every builtin, so that a new one is fuzzed as soon as it exists.
    for signature in tx_frontend::builtin_signatures() {
        if let Some((name, _)) = signature.split_once('(') {
            tokens.push(name.to_string());
            tokens.push(format!("{name}("));
        }
    }
    tokens
}

const NUMBERS: [&str; 14] = [
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "4294967296",
    "1000000",
    "-1",
    "-9223372036854775808",
    "0",
    "1e308",
    "1e309",
    "0.5",
    "1.7976931348623157e308",
    "65537",
];

/// The whole corpus, in a fixed order.
fn mutations() -> Vec<Mutation> {
    let cases_per_seed =
        std::env::var("TX_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES_PER_SEED);
    let tokens = tokens();
    let seeds = seeds();
    let mut out = Vec::new();
    for (index, (name, text)) in seeds.iter().enumerate() {
        let bytes = text.as_bytes();
        out.push(Mutation { label: format!("{name} unchanged"), bytes: bytes.to_vec(), extreme: false });
        for cut in (0..bytes.len()).step_by(37) {
            out.push(Mutation {
                label: format!("{name} truncated at byte {cut}"),
                bytes: bytes[..cut].to_vec(),
                extreme: false,
            });
        }
        let mut rng = SplitMix64::new(0x7478_f022 + index as u64);
        for case in 0..cases_per_seed {
            let (how, bytes) = mutate(bytes, &seeds, &tokens, &mut rng);
            out.push(Mutation { label: format!("{name} case {case}: {how}"), bytes, extreme: false });
        }
    }
    out.extend(extremes(&seeds));
    out
}

/// One random mutation of `bytes`: what was done, and the result. Some
/// mutations apply a few edits in a row.
fn mutate(bytes: &[u8], seeds: &[(String, String)], tokens: &[String], rng: &mut SplitMix64) -> (String, Vec<u8>) {
    let mut current = bytes.to_vec();
    let mut done = Vec::new();
    let edits = 1 + rng.below(3);
    for _ in 0..edits {
        let len = current.len().max(1);
        let at = rng.below(len + 1).min(current.len());
        let span = (1 + rng.below(24)).min(current.len() - at);
        match rng.below(9) {
            0 => {
                current.drain(at..at + span);
                done.push(format!("deleted {span} bytes at {at}"));
            }
            1 => {
                let copy = current[at..at + span].to_vec();
                current.splice(at..at, copy);
                done.push(format!("duplicated {span} bytes at {at}"));
            }
            2 => {
                let other = rng.below(len + 1).min(current.len());
                let other_span = (1 + rng.below(24)).min(current.len() - other);
                let (first, second) =
                    if at <= other { ((at, span), (other, other_span)) } else { ((other, other_span), (at, span)) };
                if first.0 + first.1 <= second.0 {
                    let a = current[first.0..first.0 + first.1].to_vec();
                    let b = current[second.0..second.0 + second.1].to_vec();
                    current.splice(second.0..second.0 + second.1, a);
                    current.splice(first.0..first.0 + first.1, b);
                    done.push(format!("swapped bytes {}+{} and {}+{}", first.0, first.1, second.0, second.1));
                }
            }
            3 | 4 => {
                let token = rng.pick(tokens).clone();
                current.splice(at..at, token.bytes());
                done.push(format!("inserted {token:?} at {at}"));
            }
            5 => {
                if let Some((start, end)) = nth_number(&current, rng) {
                    let number = *rng.pick(&NUMBERS);
                    current.splice(start..end, number.bytes());
                    done.push(format!("replaced the number at {start} by {number}"));
                }
            }
            6 => {
                let (other_name, other) = rng.pick(seeds);
                let from = rng.below(other.len().max(1));
                let take = (1 + rng.below(80)).min(other.len() - from.min(other.len()));
                let piece = other.as_bytes()[from..from + take].to_vec();
                current.splice(at..at, piece);
                done.push(format!("inserted {take} bytes of {other_name} at {at}"));
            }
            7 => {
                let count = 1 + rng.below(8);
                let random: Vec<u8> = (0..count).map(|_| rng.next_u64() as u8).collect();
                current.splice(at..at, random.iter().copied());
                done.push(format!("inserted random bytes {random:?} at {at}"));
            }
            _ => {
                // A name replaced by another word of the language.
                if let Some((start, end)) = nth_word(&current, rng) {
                    let token = rng.pick(tokens).clone();
                    current.splice(start..end, token.bytes());
                    done.push(format!("replaced the word at {start} by {token:?}"));
                }
            }
        }
    }
    (done.join(", "), current)
}

/// The span of a random digit run in `bytes`.
fn nth_number(bytes: &[u8], rng: &mut SplitMix64) -> Option<(usize, usize)> {
    runs(bytes, |b| b.is_ascii_digit(), rng)
}

/// The span of a random identifier-like run in `bytes`.
fn nth_word(bytes: &[u8], rng: &mut SplitMix64) -> Option<(usize, usize)> {
    runs(bytes, |b| b.is_ascii_alphanumeric() || b == b'_', rng)
}

fn runs(bytes: &[u8], member: impl Fn(u8) -> bool, rng: &mut SplitMix64) -> Option<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if member(bytes[i]) {
            let start = i;
            while i < bytes.len() && member(bytes[i]) {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    if spans.is_empty() { None } else { Some(*rng.pick(&spans)) }
}

/// Inputs made to stress the limits: deep nesting, very long lines and
/// sources, random bytes.
fn extremes(seeds: &[(String, String)]) -> Vec<Mutation> {
    const DEEP: usize = 10_000;
    const MEGABYTE: usize = 1 << 20;
    let head = "input x : f32[B, 3]\n";
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        (
            "parentheses 10 000 deep".into(),
            format!("{head}output y = {}x{}\n", "(".repeat(DEEP), ")".repeat(DEEP)).into_bytes(),
        ),
        ("unclosed parentheses 10 000 deep".into(), format!("{head}output y = {}x\n", "(".repeat(DEEP)).into_bytes()),
        ("closing parentheses only".into(), format!("{head}output y = x{}\n", ")".repeat(DEEP)).into_bytes()),
        (
            "lists 10 000 deep".into(),
            format!("{head}output y = {}1{}\n", "[".repeat(DEEP), "]".repeat(DEEP)).into_bytes(),
        ),
        ("indexing 10 000 deep".into(), format!("{head}output y = x{}\n", "[0]".repeat(DEEP)).into_bytes()),
        (
            "calls 10 000 deep".into(),
            format!("{head}output y = {}x{}\n", "tanh(".repeat(DEEP), ")".repeat(DEEP)).into_bytes(),
        ),
        ("negations 10 000 deep".into(), format!("{head}output y = {}x\n", "-".repeat(DEEP)).into_bytes()),
        ("not 10 000 deep".into(), format!("{head}output y = {}(x > 0)\n", "not ".repeat(DEEP)).into_bytes()),
        ("power tower 10 000 high".into(), format!("{head}output y = x{}\n", " ** x".repeat(DEEP)).into_bytes()),
        ("sum of 10 000 terms".into(), format!("{head}output y = x{}\n", " + x".repeat(DEEP)).into_bytes()),
        ("braces 10 000 deep".into(), format!("{head}train t {}\n", "{".repeat(DEEP)).into_bytes()),
        (
            "function calls 2 000 deep".into(),
            format!(
                "{head}fn f0(v) = v\n{}output y = f1999(x)\n",
                (1..2000).map(|i| format!("fn f{i}(v) = f{}(v) + 1\n", i - 1)).collect::<String>()
            )
            .into_bytes(),
        ),
        ("recursive function".into(), format!("{head}fn f(v) = f(v)\noutput y = f(x)\n").into_bytes()),
        ("a 1 MB name".into(), format!("{head}output y = {}\n", "a".repeat(MEGABYTE)).into_bytes()),
        ("a 1 MB number".into(), format!("{head}output y = x * {}\n", "9".repeat(MEGABYTE)).into_bytes()),
        ("a 1 MB float".into(), format!("{head}output y = x * 0.{}1\n", "0".repeat(MEGABYTE)).into_bytes()),
        ("a 1 MB comment".into(), format!("{head}# {}\noutput y = x\n", "é".repeat(MEGABYTE / 2)).into_bytes()),
        ("a 1 MB line of tokens".into(), format!("{head}output y = x{}\n", " +".repeat(MEGABYTE / 2)).into_bytes()),
        ("a 1 MB shape".into(), format!("input x : f32[{}1]\noutput y = x\n", "1, ".repeat(MEGABYTE / 3)).into_bytes()),
        (
            "an input of rank 65 536".into(),
            format!("input x : f32[{}1]\noutput y = x\n", "1, ".repeat(65_535)).into_bytes(),
        ),
        ("1 MB of newlines".into(), format!("{head}{}output y = x\n", "\n".repeat(MEGABYTE)).into_bytes()),
        ("an empty file".into(), Vec::new()),
        ("only a BOM".into(), "\u{feff}".into()),
        ("invalid UTF-8".into(), b"input x : f32[3]\noutput y = x\xc3\x28 + \xff\xfe\n".to_vec()),
        ("a NUL byte".into(), b"input x : f32[3]\noutput y = x\0\n".to_vec()),
    ];
    let mut rng = SplitMix64::new(0xdead_beef);
    for size in [1usize, 16, 256, 4096, 65_536] {
        let random: Vec<u8> = (0..size).map(|_| rng.next_u64() as u8).collect();
        cases.push((format!("{size} random bytes"), random));
        let printable: Vec<u8> = (0..size).map(|_| *rng.pick(LANGUAGE_CHARACTERS)).collect();
        cases.push((format!("{size} random characters of the language"), printable));
    }
    // Every seed with all of its numbers huge.
    for (name, text) in seeds {
        let mut bytes = text.as_bytes().to_vec();
        while let Some((start, end)) = first_plain_number(&bytes) {
            bytes.splice(start..end, b"x99999999999999999999".iter().copied());
        }
        let bytes: Vec<u8> =
            String::from_utf8_lossy(&bytes).replace("x99999999999999999999", "99999999999999999999").into_bytes();
        cases.push((format!("{name} with every number 99999999999999999999"), bytes));
    }
    cases.into_iter().map(|(label, bytes)| Mutation { label, bytes, extreme: true }).collect()
}

/// Characters that make up most `.tx` source.
const LANGUAGE_CHARACTERS: &[u8] = b" \n()[]{},:=~+-*/@<>!#.0123456789abcxyzBN_";

/// The first digit run not preceded by `x` (the marker used above).
fn first_plain_number(bytes: &[u8]) -> Option<(usize, usize)> {
    let start =
        (0..bytes.len()).find(|&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()))?;
    let end = start + bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    Some((start, end))
}

/// About [`BINARY_SAMPLE`] mutations for the binary: every extreme one,
/// then an even spread of the others whose graphs are small enough to run
/// (or that do not compile).
fn binary_sample(mutations: &[Mutation]) -> Vec<&Mutation> {
    let mut sample: Vec<&Mutation> = mutations.iter().filter(|m| m.extreme).collect();
    let runnable: Vec<&Mutation> = mutations
        .iter()
        .filter(|m| !m.extreme)
        .filter(|m| {
            let compiled = tx_frontend::compile(&String::from_utf8_lossy(&m.bytes));
            compiled.model.is_none_or(|model| small_enough(&model.graph))
        })
        .collect();
    let wanted = BINARY_SAMPLE.saturating_sub(sample.len()).max(BINARY_SAMPLE / 2);
    let step = (runnable.len() / wanted.max(1)).max(1);
    sample.extend(runnable.iter().step_by(step).take(wanted));
    sample
}
