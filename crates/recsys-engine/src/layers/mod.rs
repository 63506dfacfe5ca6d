//! Layers: the pieces a ranking model is stacked from, each with a hand-derived backward pass.
//!
//! Every layer reads and writes caller-owned buffers, so a training loop allocates its buffers
//! once and then runs step after step without touching the allocator.

pub mod activation;
pub mod biased_dot;
pub mod cross;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod interaction;
pub mod l2;
pub mod pooled;

pub use activation::Activation;
pub use biased_dot::{BiasedDot, BiasedDotGrads};
pub use cross::{Cross, CrossBuffers, CrossGrads};
pub use dense::{Dense, DenseGrads};
pub use dropout::Dropout;
pub use embedding::{Embedding, SparseGrad};
pub use interaction::DotInteraction;
pub use l2::L2;
pub use pooled::Ragged;
