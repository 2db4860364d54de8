//! Inputs built to break a parser: megabyte lines, deep nesting, long
//! operator chains, garbage. Each must come back, without panicking or
//! overflowing the stack, with the diagnostics it deserves (`parse_checked`
//! also checks spans and depths on every result).

use crate::parse_checked;
use tx_syntax::print::print_program;

const TOO_DEEP: &str = "expression is nested too deeply (more than 256 levels)";

/// The messages of the diagnostics, and the printed program.
fn outcome(source: &str) -> (Vec<String>, String) {
    let (program, diagnostics) = parse_checked(source);
    (diagnostics.into_iter().map(|d| d.message).collect(), print_program(&program))
}

/// Exactly one "too deep" diagnostic, and the trailing `let ok = 1` parsed.
fn check_one_too_deep(source: &str) {
    let (messages, program) = outcome(&format!("{source}\nlet ok = 1"));
    assert_eq!(messages, vec![TOO_DEEP.to_owned()]);
    assert!(program.ends_with("(let ok 1)\n"), "{program:.200}");
}

/// A deterministic stream of pseudo-random numbers (no seed to pass around).
fn pseudo_random(count: usize) -> impl Iterator<Item = u64> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count).map(move |_| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    })
}

#[test]
fn a_megabyte_line_of_additions() {
    check_one_too_deep(&format!("let x = {}a", "a+".repeat(500_000)));
}

#[test]
fn a_hundred_thousand_terms() {
    check_one_too_deep(&format!("let x = {}a", "a * b - ".repeat(100_000)));
    check_one_too_deep(&format!("let x = {}a", "a and ".repeat(100_000)));
}

#[test]
fn deep_parentheses() {
    let n = 100_000;
    check_one_too_deep(&format!("let x = {}a", "(".repeat(n)));
    check_one_too_deep(&format!("let x = {}a{}", "(".repeat(n), ")".repeat(n)));
    check_one_too_deep(&format!("let x = {}", "(".repeat(n)));
    // Deep, but within the limit: parentheses add no depth.
    let (messages, program) = outcome(&format!("let x = {}a{}", "(".repeat(250), ")".repeat(250)));
    assert!(messages.is_empty());
    assert_eq!(program, "(let x a)\n");
}

#[test]
fn deep_brackets_and_calls() {
    let n = 100_000;
    check_one_too_deep(&format!("let x = {}a", "[".repeat(n)));
    check_one_too_deep(&format!("let x = {}a{}", "[".repeat(n), "]".repeat(n)));
    check_one_too_deep(&format!("let x = {}a{}", "f(".repeat(n), ")".repeat(n)));
    check_one_too_deep(&format!("let x = a{}", "[b".repeat(n)));
    check_one_too_deep(&format!("param p : f32 = {}", "g(k = ".repeat(n)));
}

#[test]
fn long_prefix_chains() {
    let n = 100_000;
    check_one_too_deep(&format!("let x = {}a", "-".repeat(n)));
    check_one_too_deep(&format!("let x = {}a", "not ".repeat(n)));
    check_one_too_deep(&format!("let x = {}a", "a ** ".repeat(n)));
    check_one_too_deep(&format!("let x = {}a", "- a ** ".repeat(n)));
    check_one_too_deep(&format!("let x = {}{}a", "not ".repeat(n), "- a ** ".repeat(n)));
}

#[test]
fn long_postfix_chains() {
    check_one_too_deep(&format!("let x = a{}", "[0]".repeat(100_000)));
    check_one_too_deep(&format!("let x = f(a){}", "[:, 1:]".repeat(100_000)));
}

#[test]
fn wide_but_shallow() {
    let (messages, program) = outcome(&format!("let x = f({}1)", "1, ".repeat(300_000)));
    assert!(messages.is_empty());
    assert!(program.starts_with("(let x (call f 1 1 1"));
    let (messages, program) = outcome(&"let x = [1, 2]\n".repeat(100_000));
    assert!(messages.is_empty());
    assert_eq!(program.lines().count(), 100_000);
}

#[test]
fn huge_tokens() {
    let name = "a".repeat(1_000_000);
    let (messages, program) = outcome(&format!("let x = {name}"));
    assert!(messages.is_empty());
    assert_eq!(program.len(), name.len() + "(let x )\n".len());

    let (messages, _) = outcome(&format!("let x = {}", "9".repeat(1_000_000)));
    assert_eq!(messages, vec!["integer literal is too large (the largest is 9223372036854775807)".to_owned()]);
    let (messages, _) = outcome(&format!("let x = 1.{}e99999999999", "5".repeat(1_000_000)));
    assert_eq!(messages, vec!["float literal is out of range".to_owned()]);
    let (messages, program) = outcome(&format!("# {}\nlet x = 1", "#".repeat(1_000_000)));
    assert!(messages.is_empty());
    assert_eq!(program, "(let x 1)\n");
    let (messages, program) = outcome(&" \n\t".repeat(300_000));
    assert!(messages.is_empty() && program.is_empty());
}

#[test]
fn one_error_per_broken_item() {
    let (messages, program) = outcome(&"let ".repeat(100_000));
    assert_eq!(messages.len(), 100_000);
    assert!(program.is_empty());
    let (messages, program) = outcome(&"let x = )\nlet y = 1\n".repeat(10_000));
    assert_eq!(messages.len(), 10_000);
    assert_eq!(program.lines().count(), 10_000);
}

#[test]
fn deep_then_garbage() {
    // An error deep inside brackets, then a long tail of tokens that the
    // parser skips: the nesting guard keeps this linear.
    for prefix in ["(", "f(", "a + [", "- a ** ", "x[a or b and c == d + e * f(g, "] {
        let source = format!("let x = {}{}", prefix.repeat(80), ", ) ] ( [".repeat(20_000));
        let (messages, _) = outcome(&source);
        assert!(!messages.is_empty());
    }
}

#[test]
fn random_bytes() {
    let bytes: Vec<u8> = pseudo_random(1_000_000).map(|n| n as u8).collect();
    let source = String::from_utf8_lossy(&bytes);
    let (messages, _) = outcome(&source);
    assert!(!messages.is_empty());
    let ascii: String = pseudo_random(1_000_000).map(|n| char::from(b' ' + (n % 95) as u8)).collect();
    outcome(&ascii);
}

#[test]
fn random_tokens() {
    const TOKENS: &[&str] = &[
        "(", ")", "[", "]", "{", "}", ",", ":", "=", "~", "+", "-", "*", "/", "**", "@", "==", "<", "a", "f(", "1",
        "2.5", "not", "and", "let", "fn", "input", "param", "train", "return", "inverse", "frozen", "output", "#\n",
        "$",
    ];
    let source: Vec<&str> = pseudo_random(300_000).map(|n| TOKENS[n as usize % TOKENS.len()]).collect();
    outcome(&source.join(" "));
}
