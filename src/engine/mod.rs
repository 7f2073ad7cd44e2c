//! The driver: checks a problem, lays its arrays out ([`Plan`]), and runs the per-element formula
//! over fixed-size chunks of the flat range, in parallel when there are several, combining the
//! chunk sums in a fixed order.
//!
//! - `mode`: the outputs of a call, as types;
//! - `chunk`: one chunk, walked in windows, each array read in place or gathered;
//! - `dispatch`: the instruction-set level and the operand kinds, each a compiled kernel;
//! - `kernel`: the block loop of a kernel;
//! - `lanes`: what the block loop reads operands through, sums lanes and masks with.
//!
//! Chunk boundaries depend only on the element count, never on the number of threads, and each
//! chunk is summed sequentially in `f64`: `mean` and `sum` are bit-identical for any thread count.
//! Each element's results depend on that element's values alone (not on its neighbours, nor on
//! which outputs the call asked for); see `kernel`.

mod chunk;
mod dispatch;
mod kernel;
mod lanes;
pub mod mode;

use crate::broadcast::{Geometry, Operand, Plan, Rule, Slot, View, ViewMut, SLOTS};
use crate::element::Element;
use crate::error::KernelError;
use crate::formulas::Formula;
use crate::pool;
use crate::simd;
use mode::{GradKind, LossKind, Mode, Visitor};

/// Elements per chunk: the unit of parallel work and of the deterministic reduction.
pub const CHUNK: usize = 1 << 14;

/// Which partial derivative a gradient is taken with respect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrt {
    Input,
    Target,
}

/// One call's data. Absent operands are `Operand::Const(1)` (`Const(true)` for the mask).
#[derive(Clone, Debug)]
pub struct Problem<'a, T> {
    pub input: View<'a, T>,
    /// Of the input's shape.
    pub target: View<'a, T>,
    pub weight: Operand<'a, T>,
    pub pos_weight: Operand<'a, T>,
    /// The upstream gradient per element (reduction "none"); multiplied by `grad_scale`.
    pub grad_output: Operand<'a, T>,
    /// The scalar upstream gradient (and the 1/N of a mean), applied in the gradient's compute type.
    pub grad_scale: f64,
    /// Which elements count: where it is false, an element adds nothing to a sum and its loss,
    /// gradient and hessian are zero, whatever its values (NaN included).
    pub mask: Operand<'a, bool>,
    /// ε of label smoothing, in `[0, 1)` (the caller's to check): the target `y` becomes
    /// `y (1 - ε) + ε / 2`, rounded to the storage type. 0 leaves targets as they are.
    pub label_smoothing: f64,
}

impl<'a, T: Element> Problem<'a, T> {
    /// C-ordered input and target of `shape`, with no weight, pos_weight or mask and a unit
    /// upstream gradient.
    pub fn new(shape: &'a [usize], input: &'a [T], target: &'a [T]) -> Self {
        Problem {
            input: View::new(input, shape),
            target: View::new(target, shape),
            weight: Operand::Const(T::ONE),
            pos_weight: Operand::Const(T::ONE),
            grad_output: Operand::Const(T::ONE),
            grad_scale: 1.0,
            mask: Operand::Const(true),
            label_smoothing: 0.0,
        }
    }

    pub fn shape(&self) -> &'a [usize] {
        self.input.shape
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.input.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What becomes of the per-element losses.
#[derive(Debug, Default)]
pub enum LossOut<'a, T> {
    /// Not computed (a gradient alone).
    #[default]
    Skip,
    /// Written per element (reduction "none").
    Each(ViewMut<'a, T>),
    /// Summed, and the sum returned (reductions "mean" and "sum").
    Sum,
}

/// What to compute. Every output has the input's shape.
#[derive(Debug, Default)]
pub struct Request<'a, T> {
    pub loss: LossOut<'a, T>,
    /// A gradient and what it is taken with respect to.
    pub grad: Option<(ViewMut<'a, T>, Wrt)>,
    /// The second derivative with respect to the input, beside a gradient with respect to the
    /// input and no loss (what gradient boosting asks for).
    pub hess: Option<ViewMut<'a, T>>,
}

fn geometry<'s, T>(what: &'static str, view: &'s View<'_, T>, rule: Rule) -> Geometry<'s> {
    Geometry {
        what,
        shape: view.shape,
        strides: view.strides.as_ref(),
        len: view.data.len(),
        rule,
    }
}

fn output_geometry<'s, T>(what: &'static str, view: &'s ViewMut<'_, T>) -> Geometry<'s> {
    Geometry {
        what,
        shape: view.shape,
        strides: view.strides.as_ref(),
        len: view.data.len(),
        rule: Rule::Output,
    }
}

/// Evaluates `problem` with formula `F`, writing what `request` asks for; returns the sum of the
/// losses for `LossOut::Sum` (else 0).
pub fn evaluate<T: Element, F: Formula>(
    problem: &Problem<'_, T>,
    request: Request<'_, T>,
) -> Result<f64, KernelError> {
    let shape = problem.shape();
    let Request { loss, grad, hess } = request;
    let loss_kind = match loss {
        LossOut::Skip => LossKind::Skip,
        LossOut::Each(_) => LossKind::Each,
        LossOut::Sum => LossKind::Sum,
    };
    let grad_kind = match (&grad, &hess) {
        (None, None) => GradKind::None,
        (Some((_, Wrt::Input)), None) => GradKind::Input,
        (Some((_, Wrt::Target)), None) => GradKind::Target,
        (Some((_, Wrt::Input)), Some(_)) => GradKind::InputAndHessian,
        (_, Some(_)) => {
            return Err(KernelError::Unsupported {
                what: "a hessian is computed beside the input gradient alone",
            })
        }
    };
    let loss_out = match loss {
        LossOut::Each(out) => Some(out),
        _ => None,
    };
    let grad_out = grad.map(|(out, _)| out);
    let mut arrays: [Option<Geometry<'_>>; SLOTS] = Default::default();
    arrays[Slot::Input as usize] = Some(geometry("input", &problem.input, Rule::Same));
    arrays[Slot::Target as usize] = Some(geometry("target", &problem.target, Rule::Same));
    arrays[Slot::Weight as usize] = Geometry::of("weight", &problem.weight);
    arrays[Slot::PosWeight as usize] = Geometry::of("pos_weight", &problem.pos_weight);
    arrays[Slot::GradOutput as usize] = Geometry::of("grad_output", &problem.grad_output);
    arrays[Slot::Mask as usize] = Geometry::of("mask", &problem.mask);
    arrays[Slot::Loss as usize] = loss_out.as_ref().map(|o| output_geometry("out", o));
    arrays[Slot::Grad as usize] = grad_out.as_ref().map(|o| output_geometry("out", o));
    arrays[Slot::Hess as usize] = hess.as_ref().map(|o| output_geometry("out", o));
    let plan = Plan::new(shape, &arrays)?;
    if loss_kind == LossKind::Skip && grad_kind == GradKind::None {
        return Ok(0.0);
    }
    let outputs = chunk::Outputs::new(loss_out, grad_out, hess);
    let run = Run::<T, F> {
        problem,
        plan: &plan,
        outputs,
        formula: std::marker::PhantomData,
    };
    let outcome = mode::visit(loss_kind, grad_kind, run)??;
    if outcome.out_of_range & kernel::INPUT_OUT_OF_RANGE != 0 {
        return Err(KernelError::OutOfUnitInterval { what: "input" });
    }
    if outcome.out_of_range & kernel::TARGET_OUT_OF_RANGE != 0 {
        return Err(KernelError::OutOfUnitInterval { what: "target" });
    }
    Ok(outcome.sum)
}

/// A checked call, run for its mode.
struct Run<'a, 'p, T, F> {
    problem: &'a Problem<'p, T>,
    plan: &'a Plan,
    outputs: chunk::Outputs<'a, T>,
    formula: std::marker::PhantomData<F>,
}

impl<T: Element, F: Formula> Visitor for Run<'_, '_, T, F> {
    type Output = Result<kernel::Outcome, KernelError>;

    fn visit<M: Mode>(self) -> Self::Output {
        let Run {
            problem,
            plan,
            outputs,
            ..
        } = self;
        let chunks = plan.len().div_ceil(CHUNK);
        let level = simd::active();
        // Folded from +0.0: `Sum` for floats starts at -0.0, and an empty sum must be +0.0.
        pool::fold_ordered(
            chunks,
            kernel::Outcome::default(),
            |index| chunk::run::<T, F, M>(problem, plan, &outputs, level, index),
            |a, b| a.join(&b),
        )
    }
}

/// How many elements of `shape` a mask keeps, and the sum of their weights (in `f64`, over the same
/// fixed chunks as a loss sum, so the same for any thread count): what a mean divides by.
pub fn kept<T: Element>(
    shape: &[usize],
    weight: &Operand<'_, T>,
    mask: &Operand<'_, bool>,
) -> Result<(u64, f64), KernelError> {
    let mut arrays: [Option<Geometry<'_>>; SLOTS] = Default::default();
    arrays[Slot::Weight as usize] = Geometry::of("weight", weight);
    arrays[Slot::Mask as usize] = Geometry::of("mask", mask);
    let plan = Plan::new(shape, &arrays)?;
    let steps = plan.inner_steps();
    let chunks = plan.len().div_ceil(CHUNK);
    pool::fold_ordered(
        chunks,
        (0u64, 0.0f64),
        |index| {
            let start = index * CHUNK;
            let (mut count, mut total) = (0u64, 0.0f64);
            plan.for_each_run(start, (start + CHUNK).min(plan.len()), |_, len, offsets| {
                let at = |k: Slot, i: usize| {
                    (offsets[k as usize] as isize + i as isize * steps[k as usize]) as usize
                };
                match (mask, weight) {
                    (Operand::Const(false), _) => {}
                    (Operand::Const(true), Operand::Const(w)) => {
                        count += len as u64;
                        total += len as f64 * w.to_f64();
                    }
                    (Operand::Const(true), Operand::Array { data, .. }) => {
                        count += len as u64;
                        for i in 0..len {
                            total += data[at(Slot::Weight, i)].to_f64();
                        }
                    }
                    (Operand::Array { data: keep, .. }, _) => {
                        for i in 0..len {
                            if keep[at(Slot::Mask, i)] {
                                count += 1;
                                total += match weight {
                                    Operand::Const(w) => w.to_f64(),
                                    Operand::Array { data, .. } => {
                                        data[at(Slot::Weight, i)].to_f64()
                                    }
                                };
                            }
                        }
                    }
                }
            });
            (count, total)
        },
        |(c, t), (count, total)| (c + count, t + total),
    )
}

/// Checks that an operand of shape `operand` broadcasts to `shape` without enlarging it (the rule
/// `evaluate` applies to weight, pos_weight, grad_output and mask), without any data.
pub fn check_broadcast(
    what: &'static str,
    operand: &[usize],
    shape: &[usize],
) -> Result<(), KernelError> {
    let len = crate::broadcast::element_count(operand)?;
    let mut arrays: [Option<Geometry<'_>>; SLOTS] = Default::default();
    arrays[Slot::Weight as usize] = Some(Geometry {
        what,
        shape: operand,
        strides: None,
        len,
        rule: Rule::Broadcast,
    });
    Plan::new(shape, &arrays).map(|_| ())
}
