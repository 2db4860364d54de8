//! tx-interp (being written).
