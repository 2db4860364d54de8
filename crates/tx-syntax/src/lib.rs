//! tx-syntax: the `.tx` surface language. It owns the logos lexer, the
//! lalrpop parser (grammar in the top-level `grammar/`), the AST with spans,
//! and diagnostics as data with their one renderer. It knows nothing of the
//! graph, of types or of evaluation, and it never prints.

pub mod ast;
pub mod diagnostic;

pub use diagnostic::{Diagnostic, Severity, line_col, render};
