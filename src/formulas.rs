//! The per-element loss formulas and their derivatives (GUIDE §3), evaluated in `f64`.
//!
//! Each formula returns the loss and both partial derivatives; the engine keeps only what a call
//! asked for, and the compiler drops the arithmetic whose result is unused.

/// Loss and partial derivatives of one element, weight included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms {
    pub loss: f64,
    pub d_input: f64,
    pub d_target: f64,
}

pub trait Formula: Copy + Send + Sync + 'static {
    /// Whether input and target must lie in `[0, 1]`.
    const NEEDS_PROBABILITIES: bool;
    fn terms(x: f64, y: f64, weight: f64, pos_weight: f64) -> Terms;
}

/// `binary_cross_entropy_with_logits`: `input` holds logits.
#[derive(Clone, Copy, Debug)]
pub struct WithLogits;

/// `binary_cross_entropy`: `input` holds probabilities; `pos_weight` is not part of it.
#[derive(Clone, Copy, Debug)]
pub struct OnProbabilities;

impl Formula for WithLogits {
    const NEEDS_PROBABILITIES: bool = false;

    /// With `e = exp(-|x|)`, `sp = log1p(e)` and `lw = 1 + (pw - 1) y`:
    /// `loss = w [ (x >= 0 ? x (1 - y) : -x pw y) + lw sp ]`, both terms non-negative for
    /// y in [0, 1], so no digits cancel. The linear term is written `coef * |x|` and set to zero when
    /// `coef` is zero, which gives the exact limits at infinite logits instead of `inf * 0 = NaN`.
    #[inline(always)]
    fn terms(x: f64, y: f64, w: f64, pw: f64) -> Terms {
        let a = x.abs();
        let e = (-a).exp();
        let sp = e.ln_1p();
        let negative = x < 0.0;
        let coef = if negative { pw * y } else { 1.0 - y };
        let linear = if coef == 0.0 { 0.0 } else { coef * a };
        let lw = 1.0 + (pw - 1.0) * y;
        let loss = w * (linear + lw * sp);

        // sigmoid(x) and sigmoid(-x) from the same exponential.
        let r = 1.0 / (1.0 + e);
        let (sig, sig_neg) = if negative { (e * r, r) } else { (r, e * r) };
        let d_input = w * ((1.0 - y) * sig - pw * y * sig_neg);

        // d/dy = -x - (pw - 1) log sigmoid(x), with log sigmoid(x) = min(x, 0) - sp written out per
        // sign so that x = -inf gives +inf rather than inf - inf.
        let slope = if !negative {
            -x
        } else if pw == 0.0 {
            0.0
        } else {
            -pw * x
        };
        let d_target = w * (slope + (pw - 1.0) * sp);
        Terms {
            loss,
            d_input,
            d_target,
        }
    }
}

/// PyTorch clamps the input gradient's denominator at 1e-12 rounded to `f32`, for `f64` too.
pub const PROBABILITY_GRAD_EPS: f64 = 1e-12_f32 as f64;
/// PyTorch clamps each log at -100 so that a certain wrong answer costs 100, not infinity.
pub const LOG_CLAMP: f64 = -100.0;

impl Formula for OnProbabilities {
    const NEEDS_PROBABILITIES: bool = true;

    #[inline(always)]
    fn terms(p: f64, y: f64, w: f64, _pos_weight: f64) -> Terms {
        let log_p = p.ln();
        let log_q = (-p).ln_1p();
        let loss = w * ((y - 1.0) * log_q.max(LOG_CLAMP) - y * log_p.max(LOG_CLAMP));
        let d_input = w * (p - y) / (p * (1.0 - p)).max(PROBABILITY_GRAD_EPS);
        let d_target = w * (log_q - log_p);
        Terms {
            loss,
            d_input,
            d_target,
        }
    }
}
