//! The kernel tests, as one test binary (`cargo test`): the pure-Rust kernels against independent
//! float64 references, with no Python involved. `common` holds the references and helpers.

mod common;

mod broadcast;
mod levels;
mod logits;
mod pipeline;
mod probabilities;
mod reduction;
mod stack;
