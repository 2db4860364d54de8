//! tx-syntax: the `.tx` surface language. It owns the logos lexer, the
//! lalrpop parser (grammar in the top-level `grammar/`), the AST with spans,
//! and diagnostics as data with their one renderer. It knows nothing of the
//! graph, of types or of evaluation, and it never prints.

pub mod ast;
pub mod diagnostic;
pub mod lexer;
pub mod print;

mod construct;
mod nesting;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_imports, unused_qualifications)]
    grammar,
    "/tx.rs"
);

pub use diagnostic::{Diagnostic, LineIndex, Severity, line_col, render, render_all};

/// Parses a whole `.tx` file.
///
/// Never fails and never panics: whatever the input, the result is the
/// program made of the items that parsed, and every problem found (lexical,
/// syntactic, expressions nested too deeply) as a diagnostic, in source order.
/// A syntax error drops the item it occurs in; parsing resumes at the next
/// item keyword, so several errors in one file are all reported.
///
/// Work is linear in the input, and the parser's stack is kept shallow by
/// the nesting guard (see `nesting.rs`), so megabyte lines and a hundred
/// thousand nested brackets are handled in bounded time and memory.
pub fn parse(source: &str) -> (ast::Program, Vec<Diagnostic>) {
    let mut lexer = lexer::Lexer::new(source);
    let mut guard = nesting::NestingGuard::new(&mut lexer);
    let mut diagnostics = Vec::new();
    let mut program = match grammar::ProgramParser::new().parse(source, &mut diagnostics, &mut guard) {
        Ok(program) => program,
        // Item-level recovery catches every error, so this is only a safety net.
        Err(error) => {
            diagnostics.extend(construct::syntax_error(source, error));
            ast::Program::default()
        }
    };
    let (guard_diagnostics, cut_items) = guard.finish();
    program.items.retain(|item| !cut_items.contains(&item.span.start));
    diagnostics.extend(guard_diagnostics);
    diagnostics.extend(lexer.into_diagnostics());
    diagnostics.sort_by_key(|diagnostic| (diagnostic.span.start, diagnostic.span.end));
    (program, diagnostics)
}
