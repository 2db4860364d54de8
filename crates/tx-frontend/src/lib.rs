//! tx-frontend: from the AST to a typed [`Model`]. It resolves names,
//! inlines user functions, turns builtins into ops through the op table
//! (desugaring composites such as `cross_entropy` into primitives), checks
//! dtypes and shapes with the IR's rules, and reports every problem as a
//! spanned [`Diagnostic`].
//!
//! **Architecture invariant:** the frontend never panics on user input and
//! never prints; everything it finds is a diagnostic. It knows nothing of
//! evaluation.

mod builtins;
mod lower;
mod value;

use tx_ir::Model;
use tx_syntax::Diagnostic;

/// The builtins callable from `.tx` with their parameter lists, for the
/// language reference and for "did you mean" messages.
pub use builtins::builtin_signatures;

/// The result of compiling one source file.
#[derive(Debug)]
pub struct Compiled {
    /// Present when there were no errors.
    pub model: Option<Model>,
    /// Errors and warnings in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Stack reserved for parsing and lowering. Expression depth and function
/// nesting are bounded, but debug builds use large frames; a dedicated stack
/// makes the bound hold on any thread the caller uses. Only touched pages
/// cost memory.
const COMPILE_STACK_BYTES: usize = 256 << 20;

/// Parses and lowers a `.tx` source. Never panics on any input.
pub fn compile(source: &str) -> Compiled {
    let run = || {
        let (program, mut diagnostics) = tx_syntax::parse(source);
        if diagnostics.iter().any(Diagnostic::is_error) {
            // Lowering a program with holes in it reports names whose
            // definitions failed to parse: noise, not help.
            return Compiled { model: None, diagnostics };
        }
        let (model, lower_diagnostics) = lower::lower(&program, source);
        diagnostics.extend(lower_diagnostics);
        diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        // A function called twice reports an error in its body twice.
        diagnostics.dedup_by(|a, b| a.span == b.span && a.message == b.message);
        let model = if diagnostics.iter().any(Diagnostic::is_error) { None } else { Some(model) };
        Compiled { model, diagnostics }
    };
    let spawned = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("tx-compile".into())
            .stack_size(COMPILE_STACK_BYTES)
            .spawn_scoped(scope, run)
            .map(|handle| handle.join())
    });
    match spawned {
        Ok(Ok(compiled)) => compiled,
        // A panic inside the compiler is a bug in tx, not in the program;
        // still, report it as a diagnostic rather than unwinding into the caller.
        Ok(Err(_)) => Compiled {
            model: None,
            diagnostics: vec![Diagnostic::error(Default::default(), "internal compiler error (a bug in tx)")],
        },
        // No thread could be started: compile on this one.
        Err(_) => run(),
    }
}
