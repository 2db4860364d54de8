//! Parser tests: every construct, precedence, error messages, pathological
//! inputs and a fuzzer, all through a few `check` helpers that compare
//! against the printed AST (`tx_syntax::print`) and compact diagnostics.

mod scratch;
