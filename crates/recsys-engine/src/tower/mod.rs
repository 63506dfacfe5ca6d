//! The fused tower: the TFRS ranking model's stack of dense layers over concatenated embedding
//! lookups, run without writing whole-batch activations to memory.
//!
//! Layer by layer, every activation of a batch is a matrix written by one product and read back
//! by the next, so the step runs at memory speed. Here instead:
//! - the first dense layer over `concat(E₁[id₁], E₂[id₂], …)` is computed once per distinct id,
//!   `W·concat(u, m) = Wᵤ·u + Wₘ·m`, and shared by the examples that name it
//!   ([`LookupProjection`], over [`DistinctIds`]);
//! - the rest of the tower runs a tile of [`TILE`](tiled::TILE) rows at a time, so a tile's
//!   activations stay in cache ([`forward_tiled`] for inference);
//! - the training step is tiled the same way across cores, each thread running its tiles forward
//!   and backward through the whole tower and adding gradients into shares of its own that are
//!   summed once per step ([`TiledStep`]).
//!
//! The arithmetic is the textbook step's, summed in another order.

mod active_columns;
pub mod distinct;
pub mod lookup_dense;
pub mod tiled;
pub mod tiled_step;

pub use distinct::{DistinctIds, group_by_key};
pub use lookup_dense::LookupProjection;
pub use tiled::{Projected, Which, forward_tiled};
pub use tiled_step::TiledStep;
