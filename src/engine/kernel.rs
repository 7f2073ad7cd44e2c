//! The block loop of a kernel: one window of the flat range, input and target as slices, the
//! operands through [`Lane`]s, walked in blocks of [`BLOCK`] elements.
//!
//! Each element's results depend on its own values alone, so that a loss is the same bits whether
//! the call asked for it alone, beside a gradient, or over other neighbours:
//! - the loss is always computed in the storage type (or, at the reference level, in `f64`), from
//!   the same code whatever else the call computes;
//! - a gradient is computed in the storage type where that is accurate, else in `f64`
//!   (`dispatch::wide_gradient`), the same for every call that asks for it;
//! - an element that the polynomial functions of the storage type would get wrong
//!   ([`Formula::extreme`]: huge or NaN logits, targets outside `[0, 1]` in `f32`) is recomputed
//!   in `f64` with functions of the whole range, element by element;
//! - the block tests that only let work be skipped (all targets hard, or none) do not change
//!   results.

use super::lanes::{
    add_lanes, apply_mask, cast, combine_lanes, hard_labels, outside_unit_interval, smoothed,
    soft_labels, Lane, Params, Run, Scratch, BLOCK, LANES,
};
use super::mode::Mode;
use crate::element::{is_narrow, Element, Full, Math};
use crate::formulas::{Formula, Terms};

pub(super) const INPUT_OUT_OF_RANGE: u8 = 1;
pub(super) const TARGET_OUT_OF_RANGE: u8 = 2;

/// What a chunk (and, joined, a call) reports.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Outcome {
    /// The sum of the losses, when they are summed.
    pub sum: f64,
    /// `INPUT_OUT_OF_RANGE` and `TARGET_OUT_OF_RANGE`: a kept probability outside `[0, 1]`.
    pub out_of_range: u8,
}

/// What a chunk's windows add to: the lane sums, combined once the chunk is done (so that a
/// chunk's sum does not depend on how it is cut into windows), and the range flags.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Totals {
    pub lanes: [f64; LANES],
    pub out_of_range: u8,
}

impl Totals {
    pub(super) fn outcome(self) -> Outcome {
        Outcome {
            sum: combine_lanes(self.lanes),
            out_of_range: self.out_of_range,
        }
    }
}

impl Outcome {
    pub(super) fn join(self, other: &Outcome) -> Outcome {
        Outcome {
            sum: self.sum + other.sum,
            out_of_range: self.out_of_range | other.out_of_range,
        }
    }
}

/// One window: input, target and mask as read, outputs to write (each empty when not requested).
pub(super) struct Span<'s, T> {
    pub x: &'s [T],
    pub y: &'s [T],
    /// Applied after the formula, per block: not a type parameter of the block loop, so that
    /// masks cost no extra copies of it.
    pub mask: Run<'s, bool>,
    pub loss: &'s mut [T],
    pub grad: &'s mut [T],
    pub hess: &'s mut [T],
    pub params: Params,
}

/// Whether two compute types are the same (there are two: `f32` and `f64`).
#[inline(always)]
const fn same_type<A: Element, B: Element>() -> bool {
    std::mem::size_of::<A>() == std::mem::size_of::<B>()
}

/// Whether the call's input gradient is computed in a narrow `G` by the formula's narrow forms:
/// directly for hard labels, compensated (with `prepare`'s tail) for the others.
#[inline(always)]
fn narrow_input_gradient<G: Element, F: Formula, Mo: Mode>() -> bool {
    is_narrow::<G>() && Mo::INPUT_GRAD && F::NARROW_INPUT_GRADIENT
}

/// The kernel: storage type `T`, losses computed in `L`, derivatives in `G`, elementary functions
/// from `M`, outputs as `Mo` says, operands of the kinds `W`, `PW`, `GO`.
///
/// Losses to be summed go to a small buffer per block that is then added lane-wise into the
/// chunk's `LANES` `f64` accumulators (`totals`), combined pairwise when the chunk is done: a
/// fixed order, whatever the thread count and the windows. Windows start at multiples of
/// `BLOCK`, so every element goes to the same lane and block in any windowing.
///
/// Release builds inline all of this into the function that compiles it for an instruction set
/// (`dispatch::poly_avx2` and the like), one small function per kernel, which LLVM optimises
/// separately and quickly. Debug builds do not inline it, which keeps their stack frames small.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn kernel<T, L, G, F, M, Mo, W, PW, GO>(
    span: Span<'_, T>,
    w: W,
    pw: PW,
    go: GO,
    totals: &mut Totals,
) where
    T: Element,
    L: Element,
    G: Element,
    F: Formula,
    M: Math,
    Mo: Mode,
    W: Lane<T>,
    PW: Lane<T>,
    GO: Lane<T>,
{
    let Span {
        x,
        y,
        mask,
        loss,
        grad,
        hess,
        params,
    } = span;
    let n = x.len();
    let y = &y[..n];
    // An input gradient computed narrow: blocks whose targets are all 0 or 1 skip the
    // compensated form that soft labels need (`Formula::terms`' HARD_LABELS).
    let narrow_input_grad = narrow_input_gradient::<G, F, Mo>();
    // Blocks of hard labels that take one logarithm for the loss where the formula has two.
    let hard_label_loss = F::HARD_LABEL_LOSS && Mo::ANY_LOSS && !Mo::TARGET_GRAD;
    // Whether an element may need the whole-range recomputation.
    let extremes = F::HAS_EXTREMES && (is_narrow::<L>() || M::NORMAL_RANGE_ONLY);
    let acc = &mut totals.lanes;
    let mut sums = Scratch::<L>::new();
    let mut prepared_loss = Scratch::<L>::new();
    let mut prepared_grad = Scratch::<G>::new();
    let mut prepared_tail = Scratch::<L>::new();
    let mut smoothing = Scratch::<T>::new();
    let out_of_range = &mut totals.out_of_range;
    let mut start = 0;
    while start < n {
        let m = (n - start).min(BLOCK);
        let range = start..start + m;
        let xb = &x[range.clone()];
        let keep = mask.window(start, m);
        if F::NEEDS_PROBABILITIES {
            if outside_unit_interval(xb, keep) {
                *out_of_range |= INPUT_OUT_OF_RANGE;
            }
            if outside_unit_interval(&y[range.clone()], keep) {
                *out_of_range |= TARGET_OUT_OF_RANGE;
            }
        }
        let yb: &[T] = if params.smoothing {
            let given = &y[range.clone()];
            smoothing.map(given, |v| smoothed(v, &params))
        } else {
            &y[range.clone()]
        };
        let lanes = (w.window(start, m), pw.window(start, m), go.window(start, m));
        let lb: &mut [T] = if Mo::EACH_LOSS {
            &mut loss[range.clone()]
        } else {
            &mut []
        };
        let gb: &mut [T] = if Mo::ANY_GRAD {
            &mut grad[range.clone()]
        } else {
            &mut []
        };
        let hb: &mut [T] = if Mo::HESSIAN {
            &mut hess[range]
        } else {
            &mut []
        };
        // Losses to sum, zero until written.
        let sums = sums.fill(if Mo::SUM_LOSS { m } else { 0 }, |_| L::ZERO);
        let outputs = (&mut *lb, &mut *gb, &mut *hb, &mut *sums);
        let prepared = (&mut prepared_loss, &mut prepared_tail, &mut prepared_grad);
        if (narrow_input_grad || hard_label_loss) && hard_labels(yb) {
            compute::<T, L, G, F, M, Mo, _, _, _, true, false>(
                xb, yb, lanes, &params, outputs, prepared,
            );
        } else if narrow_input_grad && soft_labels(yb) {
            compute::<T, L, G, F, M, Mo, _, _, _, false, true>(
                xb, yb, lanes, &params, outputs, prepared,
            );
        } else {
            compute::<T, L, G, F, M, Mo, _, _, _, false, false>(
                xb, yb, lanes, &params, outputs, prepared,
            );
        }
        let extreme = extremes && F::any_extreme::<L, T>(xb, yb);
        if !extreme {
            apply_mask(keep, (&mut *lb, &mut *gb, &mut *hb, &mut *sums));
            add_lanes(acc, sums);
        } else {
            // Rare: the whole block again in f64 with functions of the whole range, kept for
            // the elements that need it.
            let mut wide_sums = [0.0f64; BLOCK];
            let wide_sums = &mut wide_sums[..sums.len()];
            recompute_extremes::<T, L, F, M, Mo, _, _, _>(
                xb,
                yb,
                lanes,
                &params,
                (&mut *lb, &mut *gb, &mut *hb),
                sums,
                wide_sums,
            );
            apply_mask(keep, (&mut *lb, &mut *gb, &mut *hb, &mut *wide_sums));
            add_lanes(acc, wide_sums);
        }
        start += m;
    }
}

/// One block, every slice of the block's length, so that the compiler drops the bounds checks
/// and vectorises the loops. Outputs: `(losses, gradient, hessian, losses to sum)`, each empty
/// when not requested; `prepared` is scratch space for `Formula::prepare`'s values in `L` (with
/// their tails, where the terms use them) and `G` (computed in a loop of their own: two short
/// chains of dependent operations instead of one long one, so that the processor overlaps more
/// elements). `HARD_LABELS`: the caller has checked that every (smoothed) target is 0 or 1;
/// `SOFT_LABELS`, that none is.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn compute<T, L, G, F, M, Mo, W, PW, GO, const HARD_LABELS: bool, const SOFT_LABELS: bool>(
    x: &[T],
    y: &[T],
    (w, pw, go): (W, PW, GO),
    params: &Params,
    (loss, grad, hess, sums): (&mut [T], &mut [T], &mut [T], &mut [L]),
    (prepared_loss, prepared_tail, prepared_grad): (
        &mut Scratch<L>,
        &mut Scratch<L>,
        &mut Scratch<G>,
    ),
) where
    T: Element,
    L: Element,
    G: Element,
    F: Formula,
    M: Math,
    Mo: Mode,
    W: Lane<T>,
    PW: Lane<T>,
    GO: Lane<T>,
{
    let m = x.len();
    let y = &y[..m];
    // One evaluation of the formula gives the loss and the derivatives when both are computed in
    // one type; else the derivatives come from a second, in `G`.
    let shared = same_type::<L, G>();
    let loss_terms = Mo::ANY_LOSS || (shared && Mo::ANY_GRAD);
    let grad_terms = Mo::ANY_GRAD && !shared;
    // The tails of `prepare` are kept where the terms use them: a narrow input gradient (computed
    // with the loss, in one type), in a block that is not all hard labels (the compensated form).
    let tails = shared && narrow_input_gradient::<G, F, Mo>() && !HARD_LABELS;
    let (prepared_loss, prepared_tail): (&[L], &[L]) = if loss_terms && tails {
        let (values, tails) =
            prepared_loss.map_pair(prepared_tail, x, |v| F::prepare::<L, M>(cast(v)));
        (&*values, &*tails)
    } else if loss_terms {
        (prepared_loss.map(x, |v| F::prepare::<L, M>(cast(v)).0), &[])
    } else {
        (&[], &[])
    };
    let prepared_grad: &[G] = if grad_terms {
        prepared_grad.map(x, |v| F::prepare::<G, M>(cast(v)).0)
    } else {
        &[]
    };
    let scale = G::from_f64(params.scale);
    // The target's derivative includes the smoothing's factor 1 - ε.
    let target_scale = G::from_f64(params.scale * params.keep);
    for i in 0..m {
        let t: Terms<L> = if loss_terms {
            F::terms::<L, M, HARD_LABELS, SOFT_LABELS>(
                cast(x[i]),
                cast(y[i]),
                w.at(i),
                pw.at(i),
                (
                    prepared_loss[i],
                    if tails { prepared_tail[i] } else { L::ZERO },
                ),
            )
        } else {
            Terms::default()
        };
        let d: Terms<G> = if shared {
            t.cast()
        } else if grad_terms {
            F::terms::<G, M, HARD_LABELS, SOFT_LABELS>(
                cast(x[i]),
                cast(y[i]),
                w.at(i),
                pw.at(i),
                (prepared_grad[i], G::ZERO),
            )
        } else {
            Terms::default()
        };
        if Mo::EACH_LOSS {
            loss[i] = cast(t.loss);
        }
        if Mo::SUM_LOSS {
            sums[i] = t.loss;
        }
        if Mo::INPUT_GRAD {
            grad[i] = cast(go.at::<G>(i) * scale * d.d_input);
        } else if Mo::TARGET_GRAD {
            grad[i] = cast(go.at::<G>(i) * target_scale * d.d_target);
        }
        if Mo::HESSIAN {
            hess[i] = cast(go.at::<G>(i) * scale * d.curvature);
        }
    }
}

/// Recomputes a block in `f64` with functions of the whole range and keeps those results for
/// the elements `Formula::extreme` names (in `wide_sums`, the losses to sum: the recomputed ones
/// there, the first pass's `sums` elsewhere).
#[cfg_attr(not(debug_assertions), inline(always))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn recompute_extremes<T, L, F, M, Mo, W, PW, GO>(
    x: &[T],
    y: &[T],
    lanes: (W, PW, GO),
    params: &Params,
    (loss, grad, hess): (&mut [T], &mut [T], &mut [T]),
    sums: &[L],
    wide_sums: &mut [f64],
) where
    T: Element,
    L: Element,
    F: Formula,
    M: Math,
    Mo: Mode,
    W: Lane<T>,
    PW: Lane<T>,
    GO: Lane<T>,
{
    let m = x.len();
    let mut wide = [[T::ZERO; BLOCK]; 3];
    let [wide_loss, wide_grad, wide_hess] = &mut wide;
    let mut wide_block_sums = [0.0f64; BLOCK];
    let mut prepared = (Scratch::new(), Scratch::new(), Scratch::new());
    compute::<T, f64, f64, F, Full<M>, Mo, W, PW, GO, false, false>(
        x,
        y,
        lanes,
        params,
        (
            &mut wide_loss[..loss.len()],
            &mut wide_grad[..grad.len()],
            &mut wide_hess[..hess.len()],
            &mut wide_block_sums[..sums.len()],
        ),
        (&mut prepared.0, &mut prepared.1, &mut prepared.2),
    );
    for i in 0..m {
        let far = F::extreme::<L, T>(x[i], y[i]);
        if Mo::EACH_LOSS && far {
            loss[i] = wide_loss[i];
        }
        if Mo::ANY_GRAD && far {
            grad[i] = wide_grad[i];
        }
        if Mo::HESSIAN && far {
            hess[i] = wide_hess[i];
        }
        if Mo::SUM_LOSS {
            wide_sums[i] = if far {
                wide_block_sums[i]
            } else {
                sums[i].to_f64()
            };
        }
    }
}
