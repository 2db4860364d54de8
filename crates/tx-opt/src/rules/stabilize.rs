//! The stabilize family.

use super::{TxRewrite, rule};

pub fn rules() -> Vec<TxRewrite> {
    vec![]
}
