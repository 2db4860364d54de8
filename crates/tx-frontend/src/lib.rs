//! tx-frontend (being written).
