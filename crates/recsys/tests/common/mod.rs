//! Locating the shared data for integration tests: recsys-data's locator (its `testdata`
//! feature), so every crate's tests agree on where the data is.

#[allow(unused_imports)]
pub use recsys_data::testdata::{data_dir, peers_dir, workspace_root};
