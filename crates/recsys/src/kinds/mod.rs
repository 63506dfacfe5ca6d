//! The model kinds, one folder each: [`ranking`] (TFRS's ranking model, also trained as a
//! multitask model), [`mf`] (biased matrix factorization, by SGD or by Gibbs sampling) and
//! [`features`] (the side-feature model).

pub mod features;
pub mod mf;
pub mod ranking;
