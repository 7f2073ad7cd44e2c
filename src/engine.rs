//! The driver: validates a problem, splits it into fixed-size chunks, runs the per-element formula
//! over each chunk (in parallel when large) and combines the chunk sums in a fixed order.
//!
//! Chunk boundaries depend only on the element count, never on the number of threads, and each
//! chunk is summed sequentially in `f64`: `mean` and `sum` are bit-identical for any thread count.

use crate::broadcast::{element_count, Operand, Plan, Run};
use crate::element::Element;
use crate::error::KernelError;
use crate::formulas::{Formula, Terms};
use crate::pool;

/// Elements per chunk: the unit of parallel work and of the deterministic reduction.
pub const CHUNK: usize = 1 << 14;

/// Which partial derivative a gradient is taken with respect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrt {
    Input,
    Target,
}

/// One call's data: the input's shape, input and target (C-contiguous, of that shape) and the
/// broadcast operands. Absent operands are `Operand::Const(1)`.
#[derive(Clone, Copy, Debug)]
pub struct Problem<'a, T> {
    pub shape: &'a [usize],
    pub input: &'a [T],
    pub target: &'a [T],
    pub weight: Operand<'a, T>,
    pub pos_weight: Operand<'a, T>,
    /// The upstream gradient per element (reduction "none"); multiplied by `grad_scale`.
    pub grad_output: Operand<'a, T>,
    /// The scalar upstream gradient (and the 1/N of a mean), applied in `f64`.
    pub grad_scale: f64,
}

/// What becomes of the per-element losses.
#[derive(Debug, Default)]
pub enum LossOut<'a, T> {
    /// Not computed (a gradient alone).
    #[default]
    Skip,
    /// Written per element (reduction "none").
    Each(&'a mut [T]),
    /// Summed, and the sum returned (reductions "mean" and "sum").
    Sum,
}

/// What to compute. Every requested output has the input's number of elements.
#[derive(Debug, Default)]
pub struct Request<'a, T> {
    pub loss: LossOut<'a, T>,
    /// A gradient and what it is taken with respect to.
    pub grad: Option<(&'a mut [T], Wrt)>,
}

impl<'a, T: Element> Problem<'a, T> {
    /// A problem with no weight, no pos_weight and a unit upstream gradient.
    pub fn new(shape: &'a [usize], input: &'a [T], target: &'a [T]) -> Self {
        let one = T::from_f64(1.0);
        Problem {
            shape,
            input,
            target,
            weight: Operand::Const(one),
            pos_weight: Operand::Const(one),
            grad_output: Operand::Const(one),
            grad_scale: 1.0,
        }
    }
}

// What the loss output of a span is: skipped, written per element, or summed.
const LOSS_SKIP: u8 = 0;
const LOSS_EACH: u8 = 1;
const LOSS_SUM: u8 = 2;
// Which gradient a span writes.
const GRAD_NONE: u8 = 0;
const GRAD_INPUT: u8 = 1;
const GRAD_TARGET: u8 = 2;

/// Evaluates `problem` with formula `F`, writing what `request` asks for; returns the sum of the
/// losses for `LossOut::Sum` (else 0).
pub fn evaluate<T: Element, F: Formula>(
    problem: &Problem<'_, T>,
    request: Request<'_, T>,
) -> Result<f64, KernelError> {
    let n = element_count(problem.shape)?;
    let check_len = |what: &'static str, got: usize| {
        if got == n {
            Ok(())
        } else {
            Err(KernelError::Length {
                what,
                expected: n,
                got,
            })
        }
    };
    check_len("input", problem.input.len())?;
    check_len("target", problem.target.len())?;
    if let LossOut::Each(loss) = &request.loss {
        check_len("loss output", loss.len())?;
    }
    if let Some((grad, _)) = &request.grad {
        check_len("gradient output", grad.len())?;
    }
    let plan = Plan::new(
        problem.shape,
        [
            ("weight", &problem.weight),
            ("pos_weight", &problem.pos_weight),
            ("grad_output", &problem.grad_output),
        ],
    )?;
    if F::NEEDS_PROBABILITIES {
        check_unit_interval("input", problem.input)?;
        check_unit_interval("target", problem.target)?;
    }

    let (loss_mode, loss_each) = match request.loss {
        LossOut::Skip => (LOSS_SKIP, None),
        LossOut::Each(out) => (LOSS_EACH, Some(out)),
        LossOut::Sum => (LOSS_SUM, None),
    };
    let grad_mode = match &request.grad {
        None => GRAD_NONE,
        Some((_, Wrt::Input)) => GRAD_INPUT,
        Some((_, Wrt::Target)) => GRAD_TARGET,
    };
    if loss_mode == LOSS_SKIP && grad_mode == GRAD_NONE {
        return Ok(0.0);
    }

    let chunks = n.div_ceil(CHUNK);
    let loss_parts = split(loss_each, chunks);
    let grad_parts = split(request.grad.map(|(g, _)| g), chunks);
    let tasks: Vec<_> = loss_parts.into_iter().zip(grad_parts).enumerate().collect();
    let sums = pool::map_ordered(tasks, |(c, (loss, grad))| {
        chunk::<T, F>(problem, &plan, c, loss_mode, grad_mode, loss, grad)
    })?;
    Ok(sums.iter().sum())
}

/// Splits an optional output into per-chunk pieces (or as many `None`s).
fn split<T>(out: Option<&mut [T]>, chunks: usize) -> Vec<Option<&mut [T]>> {
    match out {
        Some(s) => s.chunks_mut(CHUNK).map(Some).collect(),
        None => (0..chunks).map(|_| None).collect(),
    }
}

/// Whether every element lies in `[0, 1]` (NaN does not).
fn check_unit_interval<T: Element>(what: &'static str, data: &[T]) -> Result<(), KernelError> {
    let parts: Vec<&[T]> = data.chunks(CHUNK).collect();
    let in_range = pool::map_ordered(parts, |part| {
        part.iter().all(|v| (0.0..=1.0).contains(&v.to_f64()))
    })?;
    let all_ok = in_range.into_iter().all(|ok| ok);
    if all_ok {
        Ok(())
    } else {
        Err(KernelError::OutOfUnitInterval { what })
    }
}

/// One chunk: walks its runs and hands each to the kernel specialised for the run's operands.
fn chunk<T: Element, F: Formula>(
    problem: &Problem<'_, T>,
    plan: &Plan,
    c: usize,
    loss_mode: u8,
    grad_mode: u8,
    mut loss: Option<&mut [T]>,
    mut grad: Option<&mut [T]>,
) -> f64 {
    let start = c * CHUNK;
    let end = (start + CHUNK).min(plan.len());
    let inner = plan.inner_strides();
    let mut sum = 0.0;
    plan.for_each_run(start, end, |position, len, offsets| {
        let local = position - start;
        let x = &problem.input[position..position + len];
        let y = &problem.target[position..position + len];
        let w = problem.weight.run(offsets[0], inner[0], len);
        let pw = problem.pos_weight.run(offsets[1], inner[1], len);
        let go = problem.grad_output.run(offsets[2], inner[2], len);
        let loss = loss.as_deref_mut().map(|l| &mut l[local..local + len]);
        let grad = grad.as_deref_mut().map(|g| &mut g[local..local + len]);
        let span = Span {
            x,
            y,
            scale: problem.grad_scale,
            loss,
            grad,
        };
        sum += span.dispatch::<F>(loss_mode, grad_mode, w, pw, go);
    });
    sum
}

/// One run: input, target and outputs as slices of equal length.
struct Span<'s, T> {
    x: &'s [T],
    y: &'s [T],
    scale: f64,
    loss: Option<&'s mut [T]>,
    grad: Option<&'s mut [T]>,
}

/// An operand along a run, as the kernel reads it.
trait Lane<T>: Copy {
    fn at(self, i: usize) -> f64;
}

#[derive(Clone, Copy)]
struct Splat(f64);

impl<T> Lane<T> for Splat {
    #[inline(always)]
    fn at(self, _: usize) -> f64 {
        self.0
    }
}

impl<T: Element> Lane<T> for &[T] {
    #[inline(always)]
    fn at(self, i: usize) -> f64 {
        self[i].to_f64()
    }
}

/// Calls `$body` with `$name` bound to the run as a concrete `Lane`, one instantiation per kind.
macro_rules! with_lane {
    ($run:expr, $name:ident => $body:expr) => {
        match $run {
            Run::Const(v) => {
                let $name = Splat(v.to_f64());
                $body
            }
            Run::Slice(s) => {
                let $name = s;
                $body
            }
        }
    };
}

/// Calls `$f::<LOSS, GRAD>` with the run-time modes turned into constants.
macro_rules! with_modes {
    ($loss:expr, $grad:expr, $call:ident) => {
        match ($loss, $grad) {
            (LOSS_EACH, GRAD_NONE) => $call!(LOSS_EACH, GRAD_NONE),
            (LOSS_SUM, GRAD_NONE) => $call!(LOSS_SUM, GRAD_NONE),
            (LOSS_SKIP, GRAD_INPUT) => $call!(LOSS_SKIP, GRAD_INPUT),
            (LOSS_EACH, GRAD_INPUT) => $call!(LOSS_EACH, GRAD_INPUT),
            (LOSS_SUM, GRAD_INPUT) => $call!(LOSS_SUM, GRAD_INPUT),
            (LOSS_SKIP, GRAD_TARGET) => $call!(LOSS_SKIP, GRAD_TARGET),
            (LOSS_EACH, GRAD_TARGET) => $call!(LOSS_EACH, GRAD_TARGET),
            (LOSS_SUM, GRAD_TARGET) => $call!(LOSS_SUM, GRAD_TARGET),
            // Nothing requested; `evaluate` returns before reaching here.
            _ => 0.0,
        }
    };
}

impl<T: Element> Span<'_, T> {
    fn dispatch<F: Formula>(
        self,
        loss_mode: u8,
        grad_mode: u8,
        w: Run<'_, T>,
        pw: Run<'_, T>,
        go: Run<'_, T>,
    ) -> f64 {
        with_lane!(w, w => with_lane!(pw, pw => with_lane!(go, go => {
            macro_rules! call {
                ($l:ident, $g:ident) => {
                    self.kernel::<F, $l, $g>(w, pw, go)
                };
            }
            with_modes!(loss_mode, grad_mode, call)
        })))
    }

    /// The hot loop, specialised for the run's operand kinds and the requested outputs.
    #[inline(always)]
    fn kernel<F: Formula, const LOSS: u8, const GRAD: u8>(
        self,
        w: impl Lane<T>,
        pw: impl Lane<T>,
        go: impl Lane<T>,
    ) -> f64 {
        let n = self.x.len();
        let y = &self.y[..n];
        let mut loss_out = self.loss.unwrap_or_default();
        let mut grad_out = self.grad.unwrap_or_default();
        if LOSS == LOSS_EACH {
            loss_out = &mut loss_out[..n];
        }
        if GRAD != GRAD_NONE {
            grad_out = &mut grad_out[..n];
        }
        let mut sum = 0.0;
        for i in 0..n {
            let Terms {
                loss,
                d_input,
                d_target,
            } = F::terms(self.x[i].to_f64(), y[i].to_f64(), w.at(i), pw.at(i));
            if LOSS == LOSS_EACH {
                loss_out[i] = T::from_f64(loss);
            }
            if LOSS == LOSS_SUM {
                sum += loss;
            }
            if GRAD == GRAD_INPUT {
                grad_out[i] = T::from_f64(go.at(i) * self.scale * d_input);
            } else if GRAD == GRAD_TARGET {
                grad_out[i] = T::from_f64(go.at(i) * self.scale * d_target);
            }
        }
        sum
    }
}
