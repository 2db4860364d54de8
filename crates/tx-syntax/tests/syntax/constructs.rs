//! Every construct of the language, and operator precedence.

use crate::{MNIST_DTP, check, check_expr, parse_checked};
use tx_syntax::ast::{DimExpr, ExprKind, IndexItem, ItemKind, Span};

#[test]
fn sample_model() {
    check(
        MNIST_DTP,
        "
        (input x f32[B, 784])
        (input y i64[B])
        (const H 240)
        (fn dense (h W b) (call tanh (+ (@ h W) b)))
        (param W1 f32[784, H] (~ (call orthogonal seed=1)))
        (param b1 f32[H] (= 0))
        (param W2 f32[H, H] (~ (call orthogonal seed=2)))
        (param V2 f32[H, H] (~ (call orthogonal seed=102)))
        (param c2 f32[H] (= 0))
        (param B2 f32[H, H] (~ (call normal 0 0.05 seed=7)) frozen)
        (layer h1 (call dense x W1 b1))
        (layer h2 (call dense h1 W2 b2) (inverse t (call dense t V2 c2)))
        (let out (* (index h2 : 0:10) (** 2.0 (neg 1))))
        (loss (call mean (call cross_entropy out y)))
        (metric accuracy (call mean (== (call argmax out axis=1) y)))
        (output probs (call softmax out axis=(neg 1)))
        (train dtp (top_step 0.3277) (noise 0.3598) (schedule alternating) \
            (forward (call rmsprop lr=0.01489 centered=true momentum=0.9)) \
            (inverse (call rmsprop lr=0.005011 centered=true momentum=0.9)) (epochs 100) (batch 100))
        ",
    );
}

#[test]
fn inputs_and_types() {
    check("input x : f32", "(input x f32)");
    check("input x : f32[]", "(input x f32)");
    check("input x : f32[B, 10]", "(input x f32[B, 10])");
    check("input x : bool[B, 10, ]", "(input x bool[B, 10])");
    check("input x:f32[1]input y:f32[2]", "(input x f32[1])\n(input y f32[2])");
}

#[test]
fn params() {
    check("param W : f32[784, 240] ~ orthogonal(seed = 1)", "(param W f32[784, 240] (~ (call orthogonal seed=1)))");
    check("param b : f32[240] = 0", "(param b f32[240] (= 0))");
    check("param W : f32[3,3] ~ zeros", "(param W f32[3, 3] (~ zeros))");
    check("param W : f32[3,3] ~ zeros frozen", "(param W f32[3, 3] (~ zeros) frozen)");
    check("param s : f32 = 0.5 frozen", "(param s f32 (= 0.5) frozen)");
    check("param s : f32 = -1 param t : f32 = 2", "(param s f32 (= (neg 1)))\n(param t f32 (= 2))");
}

#[test]
fn bindings() {
    check("const H = 240", "(const H 240)");
    check("let h = x", "(let h x)");
    check("output y = x + 1", "(output y (+ x 1))");
    check("output h", "(output h)");
    check("output h output k", "(output h)\n(output k)");
    check("loss = mean(x)", "(loss (call mean x))");
    check("metric acc = mean(x == y)", "(metric acc (call mean (== x y)))");
}

#[test]
fn functions() {
    check("fn dense(h, W, b) = tanh(h @ W + b)", "(fn dense (h W b) (call tanh (+ (@ h W) b)))");
    check(
        "fn f(x, y) { let a = x * 2  let b = a + y  return a * b }",
        "(fn f (x y) (let a (* x 2)) (let b (+ a y)) (* a b))",
    );
    check("fn one() = 1", "(fn one () 1)");
    check("fn id(x,) { return x }", "(fn id (x) x)");
}

#[test]
fn layers() {
    check("layer h2 = dense(h1, W2, b2)", "(layer h2 (call dense h1 W2 b2))");
    check(
        "layer h2 = dense(h1, W2, b2) inverse(t) = dense(t, V2, c2)",
        "(layer h2 (call dense h1 W2 b2) (inverse t (call dense t V2 c2)))",
    );
}

#[test]
fn train_blocks() {
    check("train bp { }", "(train bp)");
    check(
        "train dtp { top_step = 0.3277  schedule = alternating  forward = rmsprop(lr = 0.01, centered = true) }",
        "(train dtp (top_step 0.3277) (schedule alternating) (forward (call rmsprop lr=0.01 centered=true)))",
    );
    check(
        "train t { inverse = a loss = b metric = c layer = d input = e output = f param = g }",
        "(train t (inverse a) (loss b) (metric c) (layer d) (input e) (output f) (param g))",
    );
}

#[test]
fn literals_and_names() {
    check_expr("42", "42");
    check_expr("1.5", "1.5");
    check_expr("1e-3", "0.001");
    check_expr("2.5E+4", "25000.0");
    check_expr("1.", "1.0");
    check_expr("true", "true");
    check_expr("false", "false");
    check_expr("_x1", "_x1");
    check_expr("9223372036854775807", "9223372036854775807");
}

#[test]
fn calls() {
    check_expr("f()", "(call f)");
    check_expr("f(a, b)", "(call f a b)");
    check_expr("f(a, b,)", "(call f a b)");
    check_expr("f(a, axis = 1)", "(call f a axis=1)");
    // Keyword arguments among positional ones parse; the frontend checks order.
    check_expr("f(k = 1, a)", "(call f k=1 a)");
    check_expr("f(g(x), [1, 2])", "(call f (call g x) [1 2])");
}

#[test]
fn indexing() {
    check_expr("x[0]", "(index x 0)");
    check_expr("x[i, a:b, ::2, :]", "(index x i a:b ::2 :)");
    check_expr("x[1:, :3, 1:2:3, ::, a+1:]", "(index x 1: :3 1:2:3 : (+ a 1):)");
    check_expr("x[-1]", "(index x (neg 1))");
    check_expr("f(x)[0][1:]", "(index (index (call f x) 0) 1:)");
    check_expr("(a + b)[0]", "(index (+ a b) 0)");
    check_expr("[1, 2][0]", "(index [1 2] 0)");
    check_expr("x[0,]", "(index x 0)");
}

#[test]
fn lists_and_parentheses() {
    check_expr("[]", "[]");
    check_expr("[a, b, c]", "[a b c]");
    check_expr("[a, b, c,]", "[a b c]");
    check_expr("[[1], []]", "[[1] []]");
    check_expr("((a))", "a");
    check_expr("(a + b) * c", "(* (+ a b) c)");
}

#[test]
fn precedence() {
    check_expr("a or b and c", "(or a (and b c))");
    check_expr("a and b or c", "(or (and a b) c)");
    check_expr("not a and b", "(and (not a) b)");
    check_expr("not a == b", "(not (== a b))");
    check_expr("not not a", "(not (not a))");
    check_expr("a == b + c", "(== a (+ b c))");
    check_expr("a + b < c * d", "(< (+ a b) (* c d))");
    check_expr("a + b * c", "(+ a (* b c))");
    check_expr("a * b + c", "(+ (* a b) c)");
    check_expr("a @ W + b", "(+ (@ a W) b)");
    check_expr("-a * b", "(* (neg a) b)");
    check_expr("a * -b", "(* a (neg b))");
    check_expr("-x ** 2", "(neg (** x 2))");
    check_expr("2 ** -1", "(** 2 (neg 1))");
    check_expr("2 ** -x ** 2", "(** 2 (neg (** x 2)))");
    check_expr("- - x", "(neg (neg x))");
    check_expr("a - -b", "(- a (neg b))");
    check_expr("f(x) ** 2", "(** (call f x) 2)");
    check_expr("x[0] ** 2", "(** (index x 0) 2)");
    check_expr("-x[0]", "(neg (index x 0))");
    check_expr("a != b", "(!= a b)");
    check_expr("a <= b", "(<= a b)");
    check_expr("a >= b", "(>= a b)");
    check_expr("a > b", "(> a b)");
    check_expr("a / b", "(/ a b)");
}

#[test]
fn associativity() {
    check_expr("a - b - c", "(- (- a b) c)");
    check_expr("a / b / c", "(/ (/ a b) c)");
    check_expr("a @ b @ c", "(@ (@ a b) c)");
    check_expr("a or b or c", "(or (or a b) c)");
    check_expr("a and b and c", "(and (and a b) c)");
    check_expr("a ** b ** c", "(** a (** b c))");
    check_expr("(a < b) < c", "(< (< a b) c)");
}

#[test]
fn comments_and_layout() {
    check("# leading comment\ninput x : f32 # trailing\n\n\t# indented\r\nlet y = x # end", "(input x f32)\n(let y x)");
    check("let a = 1 let b = 2 output a", "(let a 1)\n(let b 2)\n(output a)");
    check("let a =\n  f(\n    x, # first\n    y,\n  )", "(let a (call f x y))");
    check("", "");
    check("# only a comment", "");
}

#[test]
fn spans() {
    let source = "let e = (a + b) * f(c)[1:]\ninput x : f32[B, 3]";
    let (program, _) = parse_checked(source);
    let ItemKind::Let { name, value } = &program.items[0].kind else { panic!() };
    assert_eq!(at(source, program.items[0].span), "let e = (a + b) * f(c)[1:]");
    assert_eq!(at(source, name.span), "e");
    assert_eq!(at(source, value.span), "(a + b) * f(c)[1:]");
    let ExprKind::Binary { lhs, rhs, .. } = &value.kind else { panic!() };
    assert_eq!(at(source, lhs.span), "(a + b)");
    assert_eq!(at(source, rhs.span), "f(c)[1:]");
    let ExprKind::Index { base, indices } = &rhs.kind else { panic!() };
    assert_eq!(at(source, base.span), "f(c)");
    let IndexItem::Slice { span, .. } = &indices[0] else { panic!() };
    assert_eq!(at(source, *span), "1:");
    let ItemKind::Input { ty, .. } = &program.items[1].kind else { panic!() };
    assert_eq!(at(source, ty.span), "f32[B, 3]");
    assert_eq!(at(source, ty.dims[1].span()), "3");
    assert!(matches!(ty.dims[1], DimExpr::Size { value: 3, .. }));

    let source = "fn f(x) = -x\nlayer h = g(x) inverse(t) = t";
    let (program, _) = parse_checked(source);
    let ItemKind::Fn(def) = &program.items[0].kind else { panic!() };
    assert_eq!(at(source, def.span), "fn f(x) = -x");
    assert_eq!(at(source, def.body.result.span), "-x");
    let ItemKind::Layer { inverse: Some(inverse), .. } = &program.items[1].kind else { panic!() };
    assert_eq!(at(source, inverse.span), "inverse(t) = t");
    assert_eq!(at(source, inverse.param.span), "t");

    // An empty slice part: the span is the colon alone.
    let source = "let e = x[:]";
    let (program, _) = parse_checked(source);
    let ItemKind::Let { value, .. } = &program.items[0].kind else { panic!() };
    let ExprKind::Index { indices, .. } = &value.kind else { panic!() };
    let IndexItem::Slice { span, .. } = &indices[0] else { panic!() };
    assert_eq!(at(source, *span), ":");
}

fn at(source: &str, span: Span) -> &str {
    &source[span.start..span.end]
}

#[test]
fn depth() {
    let depth_of = |source: &str| {
        let (program, diagnostics) = parse_checked(&format!("let e = {source}"));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let ItemKind::Let { value, .. } = &program.items[0].kind else { panic!() };
        value.depth
    };
    assert_eq!(depth_of("a"), 1);
    assert_eq!(depth_of("((a))"), 1);
    assert_eq!(depth_of("a + b"), 2);
    assert_eq!(depth_of("f()"), 1);
    assert_eq!(depth_of("f(a, g(b))"), 3);
    assert_eq!(depth_of("x[i, a:b]"), 2);
    assert_eq!(depth_of("x[f(i)]"), 3);
    assert_eq!(depth_of("[[1]]"), 3);
    assert_eq!(depth_of("-a ** 2"), 3);
    // The deepest allowed: 256 levels.
    assert_eq!(depth_of(&format!("{}x", "-".repeat(255))), 256);
    assert_eq!(depth_of(&format!("{}x{}", "[".repeat(255), "]".repeat(255))), 256);
    assert_eq!(depth_of(&format!("x{}", "+x".repeat(255))), 256);
    assert_eq!(depth_of(&format!("{}x{}", "(".repeat(200), ")".repeat(200))), 1);
}
