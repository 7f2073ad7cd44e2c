//! Errors the kernels report instead of panicking. The binding layer maps them to Python exceptions
//! (`ValueError`, except where noted).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// An array that must have the input's shape does not.
    Shape {
        what: &'static str,
        shape: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A buffer that does not hold the elements its shape (and strides) say: exactly those of a
    /// C-ordered array, at least those a strided one reaches.
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// Strides that do not describe a usable array.
    Layout { what: &'static str, reason: String },
    /// An operand does not broadcast to the input's shape without enlarging it.
    Broadcast {
        what: &'static str,
        operand: Vec<usize>,
        shape: Vec<usize>,
    },
    /// The element count of a shape does not fit in `usize`.
    TooLarge { shape: Vec<usize> },
    /// A value outside `[0, 1]` (or NaN) where a probability is required.
    OutOfUnitInterval { what: &'static str },
    /// `set_num_threads` with a count outside `1..=max`.
    ThreadCount { requested: u64, max: usize },
    /// The operating system refused to start the worker threads (`RuntimeError`).
    ThreadPool { reason: String },
    /// A combination of outputs the kernels do not compute.
    Unsupported { what: &'static str },
}

/// A shape as Python writes a tuple: `()`, `(5,)`, `(2, 3)`.
pub fn tuple(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Shape {
                what,
                shape,
                expected,
            } => write!(
                f,
                "{what} of shape {} must have the same shape as input of shape {}",
                tuple(shape),
                tuple(expected)
            ),
            KernelError::Length {
                what,
                expected,
                got,
            } => write!(
                f,
                "{what}: its shape and strides call for {expected} elements, but the buffer holds {got}"
            ),
            KernelError::Layout { what, reason } => write!(f, "{what}: {reason}"),
            KernelError::Broadcast {
                what,
                operand,
                shape,
            } => write!(
                f,
                "{what} of shape {} does not broadcast to the input's shape {} without enlarging it",
                tuple(operand),
                tuple(shape)
            ),
            KernelError::TooLarge { shape } => {
                write!(f, "input of shape {} has more elements than fit in memory", tuple(shape))
            }
            KernelError::OutOfUnitInterval { what } => {
                write!(f, "all elements of {what} should be between 0 and 1")
            }
            KernelError::ThreadCount { requested, max } => write!(
                f,
                "num_threads must be between 1 and {max} (4 per CPU), got {requested}"
            ),
            KernelError::ThreadPool { reason } => {
                write!(f, "could not start the fastbce thread pool: {reason}")
            }
            KernelError::Unsupported { what } => write!(f, "unsupported request: {what}"),
        }
    }
}

impl std::error::Error for KernelError {}
