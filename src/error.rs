//! Errors the kernels report instead of panicking. The binding layer maps them to Python exceptions.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// A buffer does not hold as many elements as the shape says.
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
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
    /// `set_num_threads` with a count that is not positive.
    ThreadCount { requested: usize },
    /// The operating system refused to start the worker threads.
    ThreadPool { reason: String },
    /// A combination of outputs the kernels do not compute.
    Unsupported { what: &'static str },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Length {
                what,
                expected,
                got,
            } => write!(f, "{what}: expected {expected} elements, got {got}"),
            KernelError::Broadcast {
                what,
                operand,
                shape,
            } => write!(
                f,
                "{what} of shape {operand:?} does not broadcast to the input's shape {shape:?} without enlarging it"
            ),
            KernelError::TooLarge { shape } => {
                write!(f, "input of shape {shape:?} has more elements than fit in memory")
            }
            KernelError::OutOfUnitInterval { what } => {
                write!(f, "all elements of {what} should be between 0 and 1")
            }
            KernelError::ThreadCount { requested } => write!(
                f,
                "num_threads must be a positive integer, got {requested}"
            ),
            KernelError::ThreadPool { reason } => {
                write!(f, "could not start the fastbce thread pool: {reason}")
            }
            KernelError::Unsupported { what } => write!(f, "unsupported request: {what}"),
        }
    }
}

impl std::error::Error for KernelError {}
