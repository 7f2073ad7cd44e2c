//! The per-element loss formulas and their derivatives (docs/DESIGN.md, "Formulas").
//!
//! Each formula returns the loss and both partial derivatives; the engine keeps only what a call
//! asked for, and the compiler drops the arithmetic whose result is unused.

use crate::element::{any_outside_unit, is_narrow, Element, Math};

/// Loss and partial derivatives of one element, weight included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms<R> {
    pub loss: R,
    pub d_input: R,
    pub d_target: R,
    /// The second derivative with respect to the input.
    pub curvature: R,
}

impl<R: Element> Default for Terms<R> {
    fn default() -> Self {
        Terms {
            loss: R::ZERO,
            d_input: R::ZERO,
            d_target: R::ZERO,
            curvature: R::ZERO,
        }
    }
}

impl<R: Element> Terms<R> {
    /// The terms in another type (the same values when it is the same type).
    #[inline(always)]
    pub fn cast<S: Element>(self) -> Terms<S> {
        let to = |v: R| S::from_f64(v.to_f64());
        Terms {
            loss: to(self.loss),
            d_input: to(self.d_input),
            d_target: to(self.d_target),
            curvature: to(self.curvature),
        }
    }
}

/// A loss, written once and branch-free (`if` on values only, which compiles to selects) so that
/// the same code serves the `f64` reference path and the vectorised paths.
pub trait Formula: Copy + Send + Sync + 'static {
    /// Whether input and target must lie in `[0, 1]`.
    const NEEDS_PROBABILITIES: bool;
    /// Whether `pos_weight` is an argument of the loss.
    const USES_POS_WEIGHT: bool;
    /// Whether some elements are computed wrong in a narrow type or with the polynomial functions'
    /// normal range (`extreme`).
    const HAS_EXTREMES: bool;
    /// Whether `terms` computes the input gradient and the curvature accurately in a narrow type
    /// (with FMA); if not, the engine computes narrow types' gradients in `f64`.
    const NARROW_INPUT_GRADIENT: bool;
    /// Whether blocks of hard labels save work on the loss (`terms`' `HARD_LABELS`), so that the
    /// engine tests the targets of a block whenever it computes losses (but not the target
    /// gradient, which needs the general form).
    const HARD_LABEL_LOSS: bool;
    /// Whether the element `(x, y)` (storage type `T`) must be computed in `f64` with functions of
    /// the whole range (`element::Full`) rather than in `R`: where intermediates computed in `R`
    /// leave their normal range (underflow to subnormals, overflow), NaN, or where the narrow
    /// formulas' assumptions fail. Decided per element, so that an element's result does not
    /// depend on its neighbours.
    fn extreme<R: Element, T: Element>(x: T, y: T) -> bool;
    /// Whether `extreme` holds for any element of a block: the kernel's test before it keeps a
    /// block's results, so written to vectorise well (a formula may give a cheaper equivalent).
    #[inline(always)]
    fn any_extreme<R: Element, T: Element>(x: &[T], y: &[T]) -> bool {
        x.iter()
            .zip(y)
            .fold(false, |any, (&v, &t)| any | Self::extreme::<R, T>(v, t))
    }
    /// The loss and its derivatives at one element. With `HARD_LABELS` the caller promises that
    /// `y` is 0 or 1, so that at most one of the input gradient's two terms is non-zero and
    /// nothing cancels: a narrow type then needs no compensated arithmetic for it. With
    /// `SOFT_LABELS` it promises the opposite, that `y` is neither, so that the direct form need
    /// not be computed beside the compensated one. The results must not depend on either (they
    /// only let work be skipped).
    fn terms<R: Element, M: Math, const HARD_LABELS: bool, const SOFT_LABELS: bool>(
        x: R,
        y: R,
        weight: R,
        pos_weight: R,
        prepared: (R, R),
    ) -> Terms<R>;
    /// What `terms` needs of the input alone (`prepared`), which the engine computes for a whole
    /// block in a loop of its own: two short chains of dependent operations instead of one long
    /// one, so that the processor overlaps more elements (5-10% faster here; three loops were
    /// slower than two). A value and its tail, the rounding error of the value where a narrow
    /// type's compensated input gradient needs more precision: the engine keeps the tail only for
    /// the blocks whose `terms` use it (in others its arithmetic is dropped), and passes zero
    /// elsewhere.
    fn prepare<R: Element, M: Math>(x: R) -> (R, R);
}

/// `binary_cross_entropy_with_logits`: `input` holds logits.
#[derive(Clone, Copy, Debug)]
pub struct WithLogits;

/// `binary_cross_entropy`: `input` holds probabilities; `pos_weight` is not part of it.
#[derive(Clone, Copy, Debug)]
pub struct OnProbabilities;

impl Formula for WithLogits {
    const NEEDS_PROBABILITIES: bool = false;
    const USES_POS_WEIGHT: bool = true;
    const HAS_EXTREMES: bool = true;
    const NARROW_INPUT_GRADIENT: bool = true;
    const HARD_LABEL_LOSS: bool = false;

    /// In `f32`, past |x| = 80, `exp(-|x|)` is near the subnormal range and `|x| pw y` may
    /// overflow; in `f64`, past 708 `exp(-|x|)` is subnormal (NaN, too, takes the general path,
    /// where it stays NaN). In `f32`, a target outside `[0, 1]` breaks what the uncancelled loss
    /// and the compensated gradient rely on (non-negative terms, `|y| <= 1`); huge or infinite
    /// ones overflow their intermediates.
    #[inline(always)]
    fn extreme<R: Element, T: Element>(x: T, y: T) -> bool {
        let bound = if is_narrow::<R>() { 80.0 } else { 708.0 };
        // The magnitude as an integer (NaN above infinity): one operation per vector.
        let far = x.magnitude_bits() > T::from_f64(bound).magnitude_bits();
        let outside = !((y >= T::ZERO) & (y <= T::ONE));
        far | (is_narrow::<R>() & outside)
    }

    /// `extreme` over a block in integer minima and maxima (an operation per vector each, where
    /// the element-wise booleans took a pack and an OR as well): the largest magnitude past the
    /// bound, and in `f32` a target's `unit_bits` outside `[0, 1's]`, which is a target outside
    /// `[0, 1]`.
    #[inline(always)]
    fn any_extreme<R: Element, T: Element>(x: &[T], y: &[T]) -> bool {
        let bound = if is_narrow::<R>() { 80.0 } else { 708.0 };
        let top = x
            .iter()
            .fold(T::Bits::default(), |m, &v| m.max(v.magnitude_bits()));
        let far = top > T::from_f64(bound).magnitude_bits();
        far || (is_narrow::<R>() && any_outside_unit::<T>(y.iter().map(|v| v.unit_bits())))
    }

    /// `e = exp(-|x|)` and what its rounding lost (`e_lo`).
    #[inline(always)]
    fn prepare<R: Element, M: Math>(x: R) -> (R, R) {
        M::exp_neg_split(-x.abs())
    }

    /// With `e = exp(-|x|)` (from `prepare`, with its tail `e_lo`), `sp = log1p(e)` and
    /// `lw = 1 + (pw - 1) y = (1 - y) + pw y`:
    /// `loss = w [ (x >= 0 ? x (1 - y) : -x pw y) + lw sp ]`, both terms non-negative for
    /// y in [0, 1], so no digits cancel. The linear term is written
    /// `coef * |x|` and set to zero when `coef` is zero, which gives the exact limits at infinite
    /// logits instead of `inf * 0 = NaN`.
    #[inline(always)]
    fn terms<R: Element, M: Math, const HARD_LABELS: bool, const SOFT_LABELS: bool>(
        x: R,
        y: R,
        w: R,
        pw: R,
        (e, e_lo): (R, R),
    ) -> Terms<R> {
        let (zero, one) = (R::ZERO, R::ONE);
        let a = x.abs();
        let sp = M::log1p_unit(e);
        let negative = x < zero;
        let coef = if negative { pw * y } else { one - y };
        // Only an infinite |x| needs the guard, and with `NORMAL_RANGE_ONLY` results are kept
        // only for finite ones (where the product is the same, a zero's sign aside, which the loss
        // below does not keep: it adds `lw sp >= 0` to it).
        let linear = if !M::NORMAL_RANGE_ONLY && coef == zero {
            zero
        } else {
            coef * a
        };
        // (1 - y) + pw y: two non-negative terms, where 1 + (pw - 1) y cancels for small pw.
        let lw = M::mul_add(pw, y, one - y);
        // In f64 past |x| = 708, e = exp(-|x|) is subnormal: rounded to a multiple of 2^-1074, an
        // error that the factors multiplying it (weights) would make many ulps of a subnormal
        // result. The general path, which is what computes those inputs, then forms each product
        // `c e` from the normal `h = exp(-|x| / 2)` as `(c h) h`, rounded once. (There `sp = e`,
        // `sigmoid(|x|) = 1` and `sigmoid(-|x|) = e` exactly.)
        let general_f64 = !M::NORMAL_RANGE_ONLY && !is_narrow::<R>();
        let tiny = general_f64 && e < R::from_f64(f64::MIN_POSITIVE);
        let h = if general_f64 {
            M::exp_neg(R::from_f64(-0.5) * a)
        } else {
            zero
        };
        let times_e = |c: R, plus: R| M::mul_add(c * h, h, plus);
        let loss = if tiny {
            times_e(w * lw, w * linear)
        } else {
            w * M::mul_add(lw, sp, linear)
        };

        // sigmoid(|x|) = 1 / (1 + e) and sigmoid(-|x|) = e / (1 + e) from the same exponential.
        let (r, er) = if is_narrow::<R>() {
            sigmoid_pair_narrow::<R, M>(e)
        } else {
            // Two divisions rather than `e * (1 / t)`, whose extra rounding could take the input
            // gradient past 4 ulp (3.85 measured against mpmath, with weights).
            let t = one + e;
            (one / t, e / t)
        };
        let (sig, sig_neg) = if negative { (er, r) } else { (r, er) };
        let direct = if !tiny {
            w * ((one - y) * sig - pw * y * sig_neg)
        } else if negative {
            times_e(w * (one - y), -(w * pw * y))
        } else {
            times_e(-(w * pw * y), w * (one - y))
        };
        // In a narrow type, soft labels need the compensated form. The choice is per element (a
        // block of hard labels only skips computing it), so that an element's gradient does not
        // depend on its neighbours' labels, nor on how broadcasting splits the data into runs.
        let d_input = if is_narrow::<R>() && !HARD_LABELS {
            let compensated = w * sigmoid_terms_compensated::<R, M>(negative, y, pw, (e, e_lo));
            if !SOFT_LABELS && is_hard_label(y) {
                direct
            } else {
                compensated
            }
        } else {
            direct
        };

        // d/dy = -x - (pw - 1) log sigmoid(x), with log sigmoid(x) = min(x, 0) - sp written out per
        // sign so that x = -inf gives +inf rather than inf - inf.
        let slope_negative = if pw == zero { zero } else { -pw * x };
        let slope = if negative { slope_negative } else { -x };
        let d_target = if tiny {
            times_e(w * (pw - one), w * slope)
        } else {
            w * M::mul_add(pw - one, sp, slope)
        };

        // d2/dx2 = lw sigmoid(x) sigmoid(-x) = lw e / (1 + e)^2: a product, nothing cancels.
        let curvature = if tiny {
            times_e(w * lw, zero)
        } else {
            w * lw * (er * r)
        };
        Terms {
            loss,
            d_input,
            d_target,
            curvature,
        }
    }
}

/// Whether a target is a hard label, 0 or 1: then at most one of the input gradient's terms is
/// non-zero. `Formula::terms` chooses its narrow gradient by it, and the engine's `HARD_LABELS`
/// blocks are those where it holds throughout.
#[inline(always)]
pub fn is_hard_label<R: Element>(y: R) -> bool {
    y == R::ZERO || y == R::ONE
}

/// `(1 / (1 + e), e / (1 + e))` for `e` in `[0, 1]` in a narrow type, each within about 1.5 ulp
/// of the values at the given `e`: the rounding error of `1 + e` (Fast2Sum, exact) and of the
/// reciprocal (its FMA residual) are put back by one Newton step. Beside a loss whose terms
/// already need `e` this costs one division and five operations, instead of the compensated
/// evaluation's thirty and `e`'s tail; the hard-label input gradient and the hessian use it.
#[inline(always)]
fn sigmoid_pair_narrow<R: Element, M: Math>(e: R) -> (R, R) {
    let one = R::ONE;
    let t = one + e;
    let t_err = (one - t) + e;
    let r = one / t;
    // 1 - r (t + t_err), to first order the reciprocal's relative error.
    let rho = M::mul_add(-r, t_err, M::mul_add(-r, t, one));
    let r = M::mul_add(r, rho, r);
    (r, e * r)
}

/// `(1 - y) sigmoid(x) - pw y sigmoid(-x)` in a narrow type, accurate to about 1 ulp of the
/// result even where the two terms cancel (soft labels near `sigmoid(x)`), from `e = exp(-|x|)`
/// given as `e_hi + e_lo`. With `u = 1 - y`, `v = pw y`, it is `N / (1 + e)` where
/// `N = u - v e` (`x >= 0`) or `u e - v` (`x < 0`). `u` and `v` are kept exactly as pairs
/// (Fast2Sum, FMA product error), the product with `e` likewise, and the difference whose operands
/// are within a factor 2 is exact (Sterbenz); what is left of the rounding goes into a tail,
/// and the division by `1 + e` (itself kept as a pair) is corrected by its FMA residual. The
/// error is then that of `e` (below `2^-27.5` relative, [`crate::vmath::exp_neg_split_f32`]), in
/// units of the larger term, instead of several `f32` ulps of it.
///
/// Needs `M` with FMA (exact products) and `|x| <= 87`; the engine computes narrow input gradients
/// only there, and in `f64` otherwise.
#[inline(always)]
fn sigmoid_terms_compensated<R: Element, M: Math>(
    negative: bool,
    y: R,
    pw: R,
    (e, e_lo): (R, R),
) -> R {
    let one = R::ONE;
    let u = one - y;
    let u_lo = (one - u) - y; // exact for |y| <= 1
    let v = pw * y;
    let v_lo = M::mul_add(pw, y, -v);
    // N = ce e + c1.
    let (ce, ce_lo, c1, c1_lo) = if negative {
        (u, u_lo, -v, -v_lo)
    } else {
        (-v, -v_lo, u, u_lo)
    };
    let p = ce * e;
    let p_lo = M::mul_add(ce, e, -p);
    // TwoSum: s + s_err = p + c1 exactly.
    let s = p + c1;
    let s_p = s - c1;
    let s_err = (p - s_p) + (c1 - (s - s_p));
    let tail = ((p_lo + c1_lo) + M::mul_add(ce, e_lo, ce_lo * e)) + s_err;
    // TwoSum again: n + n_err = s + tail, the numerator.
    let n = s + tail;
    let n_t = n - tail;
    let n_err = (s - n_t) + (tail - (n - n_t));
    // 1 + e = t + t_err, and N / (1 + e) = q + (N - q t - q t_err) / t, with 1/t in [1/2, 1]
    // approximated by 1.5 - t/2 (within 6%: this only scales a correction of a few ulp).
    let t = one + e;
    let t_err = ((one - t) + e) + e_lo;
    let q = n / t;
    let rho = M::mul_add(-q, t, n) + n_err;
    let correction = M::mul_add(-q, t_err, rho);
    let inv_t = M::mul_add(R::from_f64(-0.5), t, R::from_f64(1.5));
    M::mul_add(correction, inv_t, q)
}

/// PyTorch clamps the input gradient's denominator at 1e-12 rounded to `f32`, for `f64` too.
pub const PROBABILITY_GRAD_EPS: f64 = 1e-12_f32 as f64;
/// PyTorch clamps each log at -100 so that a certain wrong answer costs 100, not infinity.
pub const LOG_CLAMP: f64 = -100.0;

impl Formula for OnProbabilities {
    const NEEDS_PROBABILITIES: bool = true;
    const USES_POS_WEIGHT: bool = false;
    const HAS_EXTREMES: bool = false;
    const NARROW_INPUT_GRADIENT: bool = false;
    const HARD_LABEL_LOSS: bool = true;

    /// Probabilities are checked to lie in [0, 1]; `ln` handles subnormal ones itself.
    #[inline(always)]
    fn extreme<R: Element, T: Element>(_: T, _: T) -> bool {
        false
    }

    /// Nothing: the logarithms are of the input and the target together.
    #[inline(always)]
    fn prepare<R: Element, M: Math>(_: R) -> (R, R) {
        (R::ZERO, R::ZERO)
    }

    #[inline(always)]
    fn terms<R: Element, M: Math, const HARD_LABELS: bool, const SOFT_LABELS: bool>(
        p: R,
        y: R,
        w: R,
        _pos_weight: R,
        _prepared: (R, R),
    ) -> Terms<R> {
        let one = R::ONE;
        let clamp = R::from_f64(LOG_CLAMP);
        // The loss's logarithms are clamped at -100, so they need not be -inf at zero
        // (`ln_class_unit`); the target gradient's are not.
        let loss = if HARD_LABELS {
            // y = 1: `-ln p`; y = 0: `-log1p(-p)`, one logarithm. The same bits as the general
            // form, whose other term is a signed zero that leaves the difference as it is
            // (the clamp keeps it finite).
            w * -M::ln_class_unit(p, y == one).max(clamp)
        } else {
            let log_p = M::ln_class_unit(p, true).max(clamp);
            let log_q = M::ln_class_unit(p, false).max(clamp);
            w * ((y - one) * log_q - y * log_p)
        };
        let log_p = M::ln(p);
        let log_q = M::log1p(-p);
        let d_input = w * (p - y) / (p * (one - p)).max(R::from_f64(PROBABILITY_GRAD_EPS));
        let d_target = w * (log_q - log_p);
        // The second derivative of the unclamped loss: y / p^2 + (1 - y) / (1 - p)^2.
        let q = one - p;
        let curvature = w * (y / (p * p) + (one - y) / (q * q));
        Terms {
            loss,
            d_input,
            d_target,
            curvature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::Poly;

    /// The float32 input gradient of soft labels is within 1 ulp of its larger term (the design
    /// allows 4), where the two terms cancel too: the compensated form with `exp(-|x|)`'s tail
    /// from `prepare` (0.65 ulp measured here; 1.48 without the tail). The reference is the same
    /// closed form in `f64` from the same `f32` inputs.
    #[test]
    fn soft_label_f32_input_gradient_within_1_ulp_of_its_larger_term() {
        let mut worst = (0.0f64, 0.0f32, 0.0f32, 0.0f32);
        // A small linear congruential generator: the test needs spread, not statistics.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..200_000 {
            let x = ((uniform() - 0.5) * 40.0) as f32;
            let xd = f64::from(x);
            let sig = 1.0 / (1.0 + (-xd).exp());
            // Half uniform, half next to sigmoid(x), where the terms cancel.
            let y = if i % 2 == 0 {
                uniform()
            } else {
                sig * (1.0 + (uniform() - 0.5) * 1e-4)
            };
            let y = (y.clamp(1e-7, 1.0 - 1e-7)) as f32;
            let pw = [1.0f32, 3.0, 0.25][i % 3];
            let t = WithLogits::terms::<f32, Poly<true>, false, true>(
                x,
                y,
                1.0,
                pw,
                WithLogits::prepare::<f32, Poly<true>>(x),
            );
            let (yd, pwd) = (f64::from(y), f64::from(pw));
            let (plus, minus) = ((1.0 - yd) * sig, pwd * yd * (1.0 - sig));
            let larger = plus.max(minus) as f32;
            let ulp = f64::from(f32::from_bits(larger.to_bits() + 1) - larger);
            let off = (f64::from(t.d_input) - (plus - minus)).abs() / ulp;
            if off > worst.0 {
                worst = (off, x, y, pw);
            }
        }
        let (off, x, y, pw) = worst;
        assert!(
            off <= 1.0,
            "{off:.2} ulp at x = {x:e}, y = {y:e}, pw = {pw}"
        );
    }
}
