use tx_syntax::{parse, print::print_program};
use std::time::Instant;

fn run(name: &str, src: &str) {
    let t = Instant::now();
    let (toks, _) = tx_syntax::lexer::lex(src);
    let lex_t = t.elapsed();
    let t = Instant::now();
    let (p, d) = parse(src);
    let el = t.elapsed();
    let printed = print_program(&p);
    println!("{name}: lex {:?} ({} tokens) parse {:?} items={} diags={} first={:?} prog={:.80}", lex_t, toks.len(), el, p.items.len(), d.len(), d.first().map(|d| (&d.message, d.span)), printed);
}

#[test]
fn scratch() {
    run("plus chain 1MB", &format!("let x = {}a", "a+".repeat(500_000)));
    run("many items", &"let x = 1\n".repeat(100_000));
    run("list", &format!("let x = [{}]", "1,".repeat(300_000)));
    println!("sizes: Expr {} ExprKind {} IndexItem {} ItemKind {} Item {} FnDef {} Arg {} Lambda {}",
      std::mem::size_of::<tx_syntax::ast::Expr>(), std::mem::size_of::<tx_syntax::ast::ExprKind>(), std::mem::size_of::<tx_syntax::ast::IndexItem>(), std::mem::size_of::<tx_syntax::ast::ItemKind>(), std::mem::size_of::<tx_syntax::ast::Item>(), std::mem::size_of::<tx_syntax::ast::FnDef>(), std::mem::size_of::<tx_syntax::ast::Arg>(), std::mem::size_of::<tx_syntax::ast::Lambda>());
}
