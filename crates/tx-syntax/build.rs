//! Generates the parser from `grammar/tx.lalrpop` (at the top of the
//! repository, outside this crate) into `OUT_DIR`. The rerun directives are
//! what make cargo watch a grammar that lives outside the crate.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    lalrpop::Configuration::new()
        .set_in_dir(manifest_dir.join("../../grammar"))
        .set_out_dir(out_dir)
        .emit_rerun_directives(true)
        .process()
        .expect("grammar/tx.lalrpop should generate a parser");
}
