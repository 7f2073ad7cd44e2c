//! fastbce: binary cross-entropy and its gradients, as PyTorch defines them, for NumPy.
//!
//! The kernels (everything but `bindings`) are plain Rust: slices in, results out, no Python.
//! `bindings` is the thin PyO3 layer, built only with the `python` feature (maturin turns it on).
//! The design notes (formulas, accuracy, layout) are in `docs/DESIGN.md`.

pub mod broadcast;
pub mod element;
pub mod engine;
pub mod error;
pub mod formulas;
pub mod pool;
pub mod simd;
pub mod vmath;

#[cfg(feature = "python")]
mod bindings;

pub use broadcast::{Operand, Strides, View, ViewMut};
pub use element::Element;
pub use engine::{check_broadcast, evaluate, kept, LossOut, Problem, Request, Wrt, CHUNK};
pub use error::KernelError;
pub use formulas::{Formula, OnProbabilities, Terms, WithLogits};
