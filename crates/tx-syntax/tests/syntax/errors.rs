//! Diagnostics: every class of message, recovery, and several errors in one file.

use crate::check_errors;
use tx_syntax::{parse, render};

#[test]
fn expected_an_expression() {
    check_errors("let x = )", "8..9: expected an expression, found `)` --");
    check_errors("let x = 1 +", "11..11: expected an expression, found end of file --");
    check_errors("let x = f(a, =)", "13..14: expected one of `)`, an expression, found `=` --");
}

#[test]
fn expected_tokens_by_name() {
    check_errors("param W : f32[3]", "16..16: expected one of `=`, `~`, found end of file --");
    check_errors("input x f32", "8..11: expected `:`, found `f32` --");
    check_errors("input x : f32[3", "15..15: expected one of `,`, `]`, found end of file --");
    check_errors("layer h = a inverse(t, u) = 1", "21..22: expected `)`, found `,` --");
    check_errors("fn f(x { }", "7..8: expected one of `,`, `)`, found `{` --");
    check_errors("fn f(x) { let a = x }", "20..21: expected one of `let`, `return`, found `}` --");
}

#[test]
fn expected_an_identifier() {
    check_errors("let = 3", "4..5: expected an identifier, found `=` --");
    // Recovery restarts at the keyword, which then lacks its own name.
    check_errors(
        "let input = 1",
        "4..9: expected an identifier, found `input` 10..11: expected an identifier, found `=` --",
    );
    check_errors("train t { = 3 }", "10..11: expected one of `}`, an identifier, found `=` --");
    check_errors("fn (x) = x", "3..4: expected an identifier, found `(` --");
}

#[test]
fn expected_an_item() {
    check_errors(")))\nlet a = 1", "0..1: expected an item, found `)` -- (let a 1)");
    check_errors("x = 1", "0..1: expected an item, found `x` --");
    check_errors("let x = a b", "10..11: expected an item, found `b` -- (let x a)");
}

#[test]
fn callee_must_be_a_name() {
    // `let x = (f)` is a whole item: it is kept, and the error is on `(`.
    check_errors("let x = (f)(x)", "11..12: expected one of `[`, an operator, an item, found `(` -- (let x f)");
}

#[test]
fn comparisons_do_not_chain() {
    check_errors(
        "let x = a < b < c",
        "
        14..15: expected one of `and`, `or`, an item, found `<`
        = comparisons do not chain: write `a < b and b < c`
        --
        (let x (< a b))
        ",
    );
    check_errors(
        "let x = a == b != c",
        "
        15..17: expected one of `and`, `or`, an item, found `!=`
        = comparisons do not chain: write `a < b and b < c`
        --
        (let x (== a b))
        ",
    );
}

#[test]
fn lexical_errors() {
    check_errors("let x = a $ b", "10..11: unexpected character `$` 12..13: expected an item, found `b` -- (let x a)");
    check_errors(
        "let x = 1 ?? 2",
        "10..12: unexpected characters `??` 13..14: expected one of `[`, an operator, an item, found `2` -- (let x 1)",
    );
    check_errors("let é = 1", "4..6: unexpected character `é` 7..8: expected an identifier, found `=` --");
    check_errors("let x = 1 !", "10..11: unexpected character `!` -- (let x 1)");
    check_errors("let x = .5", "8..9: unexpected character `.` -- (let x 5)");
    check_errors("let x = 1\0", "9..10: unexpected character `\\u{0}` -- (let x 1)");
}

#[test]
fn literals_out_of_range() {
    check_errors(
        "let x = 99999999999999999999",
        "8..28: integer literal is too large (the largest is 9223372036854775807) -- (let x <error>)",
    );
    // The error node swallows the expression around it, silently.
    check_errors(
        "let x = f(1, 2 * 99999999999999999999)",
        "17..37: integer literal is too large (the largest is 9223372036854775807) -- (let x <error>)",
    );
    check_errors(
        "let x = -9223372036854775808",
        "9..28: integer literal is too large (the largest is 9223372036854775807) -- (let x <error>)",
    );
    check_errors("let x = 1e400", "8..13: float literal is out of range -- (let x <error>)");
    check_errors("let x = 1e-400", "-- (let x 0.0)");
    check_errors(
        "input x : f32[99999999999999999999]",
        "14..34: integer literal is too large (the largest is 9223372036854775807) \
         -- (input x f32[9223372036854775807])",
    );
}

#[test]
fn nested_too_deeply() {
    // Built one level too deep: reported once, at the node that went over,
    // and the error node swallows the rest of the expression.
    let source = format!("let x = x{} + y", "+x".repeat(256));
    check_errors(&source, "8..521: expression is nested too deeply (more than 256 levels) -- (let x <error>)");
    let source = format!("let x = x{}", "[0]".repeat(256));
    check_errors(&source, "8..777: expression is nested too deeply (more than 256 levels) -- (let x <error>)");
    // 256 things open at once (brackets, operators waiting for an operand):
    // the nesting guard reports it at the token that reached the limit, and
    // parsing resumes at the next item.
    let source = format!("let x = {}x\nlet y = 2", "-".repeat(256));
    check_errors(&source, "263..264: expression is nested too deeply (more than 256 levels) -- (let y 2)");
    // The parser could complete `let x = a ** ... ** a` from the tokens
    // before the cut: that item is dropped all the same.
    let source = format!("let x = {}a\nlet y = 2", "a ** ".repeat(300));
    check_errors(&source, "1285..1287: expression is nested too deeply (more than 256 levels) -- (let y 2)");
    let source = format!("let x = {}1\nlet y = 2", "(".repeat(300));
    check_errors(&source, "263..264: expression is nested too deeply (more than 256 levels) -- (let y 2)");
    let source = format!("let x = f({})\noutput x", "[".repeat(300));
    check_errors(&source, "264..265: expression is nested too deeply (more than 256 levels) -- (output x)");
}

#[test]
fn several_errors_in_one_file() {
    check_errors(
        "
input x : f32[B, 784]
let a = x +
param W : f32[784 10] ~ glorot(seed = 1)
let ok = x @ W
fn f(x) { let y = x  y }
train t { lr = 0.1  momentum 0.9 }
output ok
",
        "
        35..40: expected an expression, found `param`
        53..55: expected one of `,`, `]`, found `10`
        112..113: expected one of `let`, `return`, found `y`
        145..148: expected `=`, found `0.9`
        --
        (input x f32[B, 784])
        (let ok (@ x W))
        (output ok)
        ",
    );
}

#[test]
fn renders_with_the_shared_renderer() {
    let source = "input x : f32[B, 784]\nparam W : f32[784, 10]\n";
    let (_, diagnostics) = parse(source);
    let rendered: Vec<String> = diagnostics.iter().map(|d| render(d, "m.tx", source)).collect();
    assert_eq!(
        rendered,
        vec![
            "error: expected one of `=`, `~`, found end of file\n --> m.tx:2:23\n  |\n2 | param W : f32[784, 10]\n  |                       ^\n"
        ]
    );
}
