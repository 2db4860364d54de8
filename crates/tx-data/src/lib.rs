//! tx-data (being written).
