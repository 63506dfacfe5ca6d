//! The model kinds, one folder each, each implementing the model contract
//! ([`crate::contract`]): [`ranking`] (TFRS's ranking model, also trained as a multitask
//! model), [`mf`] (biased matrix factorization, by SGD or by Gibbs sampling) and [`features`]
//! (the side-feature model). `any` is the one place that matches on which kind a model is.

mod any;
pub mod features;
pub mod mf;
pub mod ranking;

pub use any::{AnyModel, AnyRecipe, ModelConfig, Portable, ValidAnyRecipe};
