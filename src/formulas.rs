//! The per-element loss formulas and their derivatives (GUIDE §3).
//!
//! Each formula returns the loss and both partial derivatives; the engine keeps only what a call
//! asked for, and the compiler drops the arithmetic whose result is unused.

use crate::element::{Element, Math};

/// Loss and partial derivatives of one element, weight included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms<R> {
    pub loss: R,
    pub d_input: R,
    pub d_target: R,
    /// The second derivative with respect to the input.
    pub curvature: R,
}

/// A loss, written once and branch-free (`if` on values only, which compiles to selects) so that
/// the same code serves the `f64` reference path and the vectorised paths.
pub trait Formula: Copy + Send + Sync + 'static {
    /// Whether input and target must lie in `[0, 1]`.
    const NEEDS_PROBABILITIES: bool;
    /// Whether an input value takes a narrow type's intermediates out of their normal range
    /// (underflow to subnormals, overflow), so that its block is better computed in `f64`.
    fn is_extreme<T: Element>(x: T) -> bool;
    fn terms<R: Element, M: Math>(x: R, y: R, weight: R, pos_weight: R) -> Terms<R>;
}

/// `binary_cross_entropy_with_logits`: `input` holds logits.
#[derive(Clone, Copy, Debug)]
pub struct WithLogits;

/// `binary_cross_entropy`: `input` holds probabilities; `pos_weight` is not part of it.
#[derive(Clone, Copy, Debug)]
pub struct OnProbabilities;

impl Formula for WithLogits {
    const NEEDS_PROBABILITIES: bool = false;

    /// Past |x| = 80, `exp(-|x|)` is near `f32`'s subnormal range and `|x| pw y` may overflow
    /// (NaN, too, is sent down the `f64` path, where it stays NaN).
    #[inline(always)]
    // Negated on purpose: NaN compares false, and must count as extreme.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn is_extreme<T: Element>(x: T) -> bool {
        !(x.abs() <= T::from_f64(80.0))
    }

    /// With `e = exp(-|x|)`, `sp = log1p(e)` and `lw = 1 + (pw - 1) y = (1 - y) + pw y`:
    /// `loss = w [ (x >= 0 ? x (1 - y) : -x pw y) + lw sp ]`, both terms non-negative for
    /// y in [0, 1], so no digits cancel. The linear term is written `coef * |x|` and set to zero when
    /// `coef` is zero, which gives the exact limits at infinite logits instead of `inf * 0 = NaN`.
    #[inline(always)]
    fn terms<R: Element, M: Math>(x: R, y: R, w: R, pw: R) -> Terms<R> {
        let (zero, one) = (R::ZERO, R::ONE);
        let a = x.abs();
        let e = M::exp_neg(-a);
        let sp = M::log1p(e);
        let negative = x < zero;
        let coef = if negative { pw * y } else { one - y };
        let linear = if coef == zero { zero } else { coef * a };
        // (1 - y) + pw y: two non-negative terms, where 1 + (pw - 1) y cancels for small pw.
        let lw = M::mul_add(pw, y, one - y);
        let loss = w * M::mul_add(lw, sp, linear);

        // sigmoid(x) and sigmoid(-x) from the same exponential.
        let r = one / (one + e);
        let er = e * r;
        let (sig, sig_neg) = if negative { (er, r) } else { (r, er) };
        let d_input = w * ((one - y) * sig - pw * y * sig_neg);

        // d/dy = -x - (pw - 1) log sigmoid(x), with log sigmoid(x) = min(x, 0) - sp written out per
        // sign so that x = -inf gives +inf rather than inf - inf.
        let slope_negative = if pw == zero { zero } else { -pw * x };
        let slope = if negative { slope_negative } else { -x };
        let d_target = w * M::mul_add(pw - one, sp, slope);

        // d2/dx2 = lw sigmoid(x) sigmoid(-x) = lw e / (1 + e)^2: a product, nothing cancels.
        let curvature = w * lw * (er * r);
        Terms {
            loss,
            d_input,
            d_target,
            curvature,
        }
    }
}

/// PyTorch clamps the input gradient's denominator at 1e-12 rounded to `f32`, for `f64` too.
pub const PROBABILITY_GRAD_EPS: f64 = 1e-12_f32 as f64;
/// PyTorch clamps each log at -100 so that a certain wrong answer costs 100, not infinity.
pub const LOG_CLAMP: f64 = -100.0;

impl Formula for OnProbabilities {
    const NEEDS_PROBABILITIES: bool = true;

    /// Probabilities are checked to lie in [0, 1]; `ln` handles subnormal ones itself.
    #[inline(always)]
    fn is_extreme<T: Element>(_: T) -> bool {
        false
    }

    #[inline(always)]
    fn terms<R: Element, M: Math>(p: R, y: R, w: R, _pos_weight: R) -> Terms<R> {
        let one = R::ONE;
        let clamp = R::from_f64(LOG_CLAMP);
        let log_p = M::ln(p);
        let log_q = M::log1p(-p);
        let loss = w * ((y - one) * log_q.max(clamp) - y * log_p.max(clamp));
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
