//! tx (being written).
