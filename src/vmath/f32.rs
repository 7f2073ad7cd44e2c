//! The `f32` functions (see the module documentation for their methods and accuracy).

use super::{log_specials_f32, mla32};

/// `1.5 * 2^23`: adding it rounds an `f32` of magnitude below `2^22` to an integer.
const SHIFT_F32: f32 = 12_582_912.0;
/// `ln 2` in two parts for the range reduction of `exp`; `k * EXP_LN2_HI_F32` is exact for
/// `|k| < 2^9` (the high part has 15 significant bits).
const EXP_LN2_HI_F32: f32 = 0.693_145_75;
const EXP_LN2_LO_F32: f32 = 1.428_606_8e-6;
/// `exp(r) = 1 + r + r^2 (E0 + E1 r + ... + E5 r^5)` on `|r| <= 1.02 ln2 / 2`, relative error
/// `8e-10` (Chebyshev fit).
const E_F32: [f32; 6] = [
    0.5,
    0.166_666_67,
    0.041_666_448,
    0.008_333_309,
    0.001_393_545_2,
    0.000_198_929_92,
];
/// Below this `exp(x)` rounds to 0 (`exp(-104) < 2^-150`); above the other bound it overflows.
const EXP_MIN_F32: f32 = -104.0;
const EXP_MAX_F32: f32 = 89.0;

/// `ln 2` in two parts for `log`: `k * LOG_LN2_HI_F32` is exact for `|k| < 2^7` (fdlibm).
const LOG_LN2_HI_F32: f32 = 0.693_138_1;
const LOG_LN2_LO_F32: f32 = 9.058_001e-6;
/// fdlibm's `Lg1..Lg4` (k_logf.h): `|(log(1+s) - log(1-s))/s - 2 - R(s^2)| < 2^-34.24`.
const LG_F32: [f32; 4] = [0.666_666_6, 0.400_009_72, 0.284_987_87, 0.242_790_79];

/// `exp(x)` for `x <= 0`, within 1 ulp, subnormal results included (`exp(-inf) = 0`,
/// `exp(-0) = 1`, NaN -> NaN; results below `2^-150` are 0). Also correct for `0 < x`, overflowing
/// to `+inf`.
#[inline(always)]
pub fn exp_neg_f32<const FMA: bool>(x: f32) -> f32 {
    // Clamp (NaN stays NaN: both comparisons are false).
    let x = if x < EXP_MIN_F32 { EXP_MIN_F32 } else { x };
    let x = if x > EXP_MAX_F32 { EXP_MAX_F32 } else { x };
    // k = round(x / ln2): `kh` holds SHIFT + k exactly, `kf` is k.
    let kh = mla32::<FMA>(x, std::f32::consts::LOG2_E, SHIFT_F32);
    let kf = kh - SHIFT_F32;
    // r = x - k ln2 = r_hi + r_lo, r_hi exact (k EXP_LN2_HI_F32 is exact, and so is the difference,
    // by Sterbenz's lemma).
    let r_hi = mla32::<FMA>(kf, -EXP_LN2_HI_F32, x);
    let r_lo = kf * -EXP_LN2_LO_F32;
    let r = r_hi + r_lo;
    // Estrin: P = (E0 + E1 r) + r^2 ((E2 + E3 r) + r^2 (E4 + E5 r)).
    let r2 = r * r;
    let p01 = mla32::<FMA>(E_F32[1], r, E_F32[0]);
    let p23 = mla32::<FMA>(E_F32[3], r, E_F32[2]);
    let p45 = mla32::<FMA>(E_F32[5], r, E_F32[4]);
    let p = mla32::<FMA>(r2, mla32::<FMA>(r2, p45, p23), p01);
    // exp(r) = (1 + r_hi) + (r_lo + r^2 P), with the rounding error of 1 + r_hi recovered exactly
    // (Fast2Sum), so that the result is rounded essentially once.
    let a = 1.0 + r_hi;
    let a_err = (1.0 - a) + r_hi;
    let e = a + (a_err + mla32::<FMA>(r2, p, r_lo));
    // 2^k = 2^k1 * 2^k2 with k1 = round(k / 2) (near enough), both normal, so that a subnormal
    // result is rounded once, by the last multiply. The low mantissa bits of `SHIFT + n` are `n`,
    // so shifting them into the exponent field gives 2^(n - bias); 2^k2 comes from the
    // difference of the two exponent fields.
    let h = mla32::<FMA>(x, 0.5 * std::f32::consts::LOG2_E, SHIFT_F32); // SHIFT + k1
    let b1 = (h + 127.0).to_bits() << 23;
    let b2 = ((kh + 254.0).to_bits() << 23).wrapping_sub(b1);
    e * f32::from_bits(b1) * f32::from_bits(b2)
}

/// Splits a positive normal `m` into `2^k f`, `f` in `[sqrt(1/2), sqrt(2))`; returns
/// `(g = f - 1, k)`, `g` exact (garbage for `m` not finite positive, which the callers mask).
#[inline(always)]
fn log_reduce_f32(m: f32) -> (f32, f32) {
    let ix = m.to_bits().wrapping_add(0x3f80_0000 - 0x3f35_04f3);
    let f = f32::from_bits((ix & 0x007f_ffff) + 0x3f35_04f3);
    let kf = ((ix >> 23) as i32 - 127) as f32;
    (f - 1.0, kf)
}

/// `k ln2 + log(1 + g) + cm` with `s = g / (2 + g)`, `z = s^2` (fdlibm's evaluation order).
#[inline(always)]
fn log_core_f32<const FMA: bool>(g: f32, s: f32, z: f32, kf: f32, cm: f32) -> f32 {
    let w = z * z;
    let t1 = w * mla32::<FMA>(w, LG_F32[3], LG_F32[1]);
    let t2 = z * mla32::<FMA>(w, LG_F32[2], LG_F32[0]);
    let rr = t1 + t2;
    let hfsq = 0.5 * g * g;
    let lo = mla32::<FMA>(kf, LOG_LN2_LO_F32, cm);
    let t = mla32::<FMA>(s, hfsq + rr, lo);
    mla32::<FMA>(kf, LOG_LN2_HI_F32, g - (hfsq - t))
}

/// `log1p(u) = ln(1 + u)` within 1 ulp for `u >= -1` (`log1p(-1) = -inf`, `u < -1 -> NaN`,
/// `+inf -> +inf`, NaN -> NaN, `±0 -> ±0`; exact for tiny and subnormal `u`).
#[inline(always)]
pub fn log1p_f32<const FMA: bool>(u: f32) -> f32 {
    ln_class_f32::<FMA>(-u, false)
}

/// `ln(p)` where `positive`, else `log1p(-p)`: [`ln_f32`] and [`log1p_f32`] are this function,
/// so that a caller that needs one of the two per element (a hard label's loss, the logarithm of
/// its own class's probability) evaluates the common core once, on the argument each reduces.
#[inline(always)]
pub fn ln_class_f32<const FMA: bool>(p: f32, positive: bool) -> f32 {
    ln_class_core_f32::<FMA, false>(p, positive)
}

/// [`ln_class_f32`] for `p` in `[0, 1]`, what a probability is, with the results a loss clamped
/// below at -100 needs: the same bits where the logarithm's argument (`p`, or `1 - p`) is not
/// zero, and a finite value below -100 (-104.7) where it is, instead of `-inf`. Outside `[0, 1]`
/// the result is unspecified. This leaves out the tests of special values that `[0, 1]` cannot
/// hold (negative, infinite, NaN): a ninth of a probability loss's instructions (callgrind).
#[inline(always)]
pub fn ln_class_unit_f32<const FMA: bool>(p: f32, positive: bool) -> f32 {
    ln_class_core_f32::<FMA, true>(p, positive)
}

/// The two above: `UNIT` for `p` in `[0, 1]`.
#[inline(always)]
fn ln_class_core_f32<const FMA: bool, const UNIT: bool>(p: f32, positive: bool) -> f32 {
    const TWO_24: f32 = 16_777_216.0;
    let u = -p;
    let m = 1.0 + u;
    // log1p: the rounding error of 1 + u, (1 + u) - m: exact while m < 2^24, because m - 1 is
    // then exact (Sterbenz's lemma for m in [1/2, 2]; m = 1 + u exactly below 1/2; above 2, m - 1
    // needs no more bits than m), and beyond that too small to matter.
    let c = u - (m - 1.0);
    let x = if positive { p } else { m };
    // ln: subnormals scaled to normal. For `UNIT`, a zero argument too (of log1p, `m = 0`, the
    // only `m` below 2^-24), which then reduces to 2^-151 and a logarithm below -100.
    let tiny = if UNIT {
        x < f32::MIN_POSITIVE
    } else {
        positive & (p < f32::MIN_POSITIVE)
    };
    let x = if tiny { x * TWO_24 } else { x };
    let (g, kf) = log_reduce_f32(x);
    let kf = if tiny { kf - 24.0 } else { kf };
    let s = g / (2.0 + g);
    // (c / m is NaN for m = 0, which only `UNIT` reaches here.)
    let cm = if positive | (UNIT & tiny) { 0.0 } else { c / m };
    let r = log_core_f32::<FMA>(g, s, s * s, kf, cm);
    let r = if UNIT {
        r
    } else {
        log_specials_f32(if positive { p } else { m }, r)
    };
    if !positive & (u == 0.0) {
        u
    } else {
        r
    }
}

/// `ln(p)` within 1 ulp for `p >= 0`, subnormal `p` included (`ln(0) = -inf`, `ln(1) = 0`,
/// `p < 0 -> NaN`, `+inf -> +inf`, NaN -> NaN).
#[inline(always)]
pub fn ln_f32<const FMA: bool>(p: f32) -> f32 {
    ln_class_f32::<FMA>(p, true)
}

/// `log1p(u) = u + u^2 C(u)` on `[0, 1]`: `C` of degree 8 (`C(0) = -1/2`), fitted to minimise the
/// relative error of the result with each coefficient rounded to `f32` in turn (reweighted least
/// squares): `2^-27` of `log1p(u)`.
const L1P_UNIT_F32: [f32; 9] = [
    -0.5,
    0.333_322_5,
    -0.249_750_82,
    0.197_742_3,
    -0.155_692_5,
    0.110_246_345,
    -0.060_916_57,
    0.021_872_832,
    -0.003_676_900_4,
];

/// `2^k` from `kh = SHIFT_F32 + k` (`-126 <= k <= 127`): the low mantissa bits of `kh` are `k`.
#[inline(always)]
fn pow2_f32(kh: f32) -> f32 {
    f32::from_bits(
        kh.to_bits()
            .wrapping_sub(SHIFT_F32.to_bits())
            .wrapping_add(127)
            << 23,
    )
}

/// `exp(r) = 1 + r + r^2/2 + r^3 (E1 + E2 r + E3 r^2 + E4 r^3)` on `|r| <= 1.0001 ln2 / 2`:
/// relative error `2^-28.0` (least squares reweighted to minimax, each coefficient rounded to
/// `f32` in turn). The degree of the kernels' exponential before it had a tail, so that the loss
/// costs what it did; the tail's own accuracy is this error.
const E_SPLIT_F32: [f32; 4] = [0.166_665_35, 0.041_667_245, 0.008_367_433, 0.001_386_308_5];

/// `exp(x)` for `x` in `[-87, 0]`, where the result is a normal `f32`, as `(hi, lo)`: `hi` is
/// `exp(x)` within 1 ulp of the rounded result (the kernels' exponential, [`exp_neg_normal_f32`]),
/// and `lo` (`|lo| <= ulp(hi)`) what its roundings lost, so that `hi + lo` is `exp(x)` to a
/// relative `2^-27.7`, the polynomial's error (measured on every 29th `f32` of `[-70, 0]`, the
/// test's sample; below that `lo` turns subnormal, its absolute error staying below `2^-149`),
/// for arithmetic that needs more than `f32` precision (the input gradient of soft labels, whose
/// two terms cancel: there it is 0.08 ulp of the larger term). No clamping and no special
/// values: outside `[-87, 0]` the result is unspecified (but computing it is harmless); the
/// kernels use it where [`crate::formulas::Formula::extreme`] has sent larger `|x|` to `f64`.
///
/// `hi`: `k` and `r = x - k ln2` as in [`exp_neg_f32`] (`r` rounded once, by an FMA),
/// `q = r + r^2 (1/2 + r P(r))` in two FMAs and `1 + q` rounded once, scaled by `2^k` in one
/// multiply. `lo` costs a dozen operations more, and a caller that only keeps `hi` does not
/// compute them: each rounding of that evaluation is recovered exactly (Sterbenz's lemma for the
/// differences `r_hi - r`, `1/2 - (1/2 + r P)`, `r - q` and `s - 1`, whose operands lie within a
/// factor 2 of each other; an FMA residual for the product `r^2`), what is left being the
/// polynomial's own error and roundings of `2^-31` and below (`r_hi - r` may be inexact only
/// where `|r_hi| < 2^-11`, and then by less than `2^-34`). Needs `FMA` for those residuals;
/// without it `lo` is only roughly right.
#[inline(always)]
pub fn exp_neg_split_f32<const FMA: bool>(x: f32) -> (f32, f32) {
    let kh = mla32::<FMA>(x, std::f32::consts::LOG2_E, SHIFT_F32);
    let kf = kh - SHIFT_F32;
    // r = x - k ln2, rounded once; r_err its rounding error.
    let r_hi = mla32::<FMA>(kf, -EXP_LN2_HI_F32, x);
    let r = mla32::<FMA>(kf, -EXP_LN2_LO_F32, r_hi);
    let r_err = mla32::<FMA>(kf, -EXP_LN2_LO_F32, r_hi - r);
    let r2 = r * r;
    let c = &E_SPLIT_F32;
    let p = mla32::<FMA>(r2, mla32::<FMA>(c[3], r, c[2]), mla32::<FMA>(c[1], r, c[0]));
    // q = expm1(r) = r + r^2 (1/2 + r P), then s = 1 + q.
    let half = mla32::<FMA>(r, p, 0.5);
    let q = mla32::<FMA>(r2, half, r);
    let s = 1.0 + q;
    let scale = pow2_f32(kh);
    // The roundings of `1/2 + r P`, q and s, and of the product r^2 (as it enters), then that of
    // r, which scales the whole: exp(r + r_err) = exp(r) (1 + r_err).
    let half_err = mla32::<FMA>(r, p, 0.5 - half);
    let q_err = mla32::<FMA>(r2, half, r - q);
    let s_err = q - (s - 1.0);
    let r2_err = mla32::<FMA>(r, r, -r2);
    let small = mla32::<FMA>(r2_err, half, mla32::<FMA>(r2, half_err, q_err));
    let lo = mla32::<FMA>(s, r_err, s_err + small);
    (s * scale, lo * scale)
}

/// `exp(x)` for `x` in `[-87, 0]` within 1 ulp of the rounded result: the `hi` of
/// [`exp_neg_split_f32`], whose `lo` the compiler then drops.
#[inline(always)]
pub fn exp_neg_normal_f32<const FMA: bool>(x: f32) -> f32 {
    exp_neg_split_f32::<FMA>(x).0
}

/// `log1p(u)` for `u` in `[0, 1]` within 1 ulp of the correctly rounded result (at most 1.34 ulp
/// from the exact value, every 37th `f32` in `[0, 1]`, with FMA): `u + u^2 C(u)` with no
/// division, `C` evaluated by Estrin's scheme, so that its dependency chain is short. The final
/// FMA adds a correction of at most `0.31 u` to `u`, so the errors of `u^2` and `C` reach the
/// result reduced. Without FMA the evaluation's extra roundings reach 2 ulp, and this is
/// [`log1p_f32`]. `u = 0` gives `+0`, and `u` below `2^-13` gives `u` rounded as `log1p` does;
/// outside `[0, 1]` the result is unspecified.
#[inline(always)]
pub fn log1p_unit_f32<const FMA: bool>(u: f32) -> f32 {
    if !FMA {
        return log1p_f32::<FMA>(u);
    }
    let c = &L1P_UNIT_F32;
    let u2 = u * u;
    let u4 = u2 * u2;
    let p01 = mla32::<FMA>(c[1], u, c[0]);
    let p23 = mla32::<FMA>(c[3], u, c[2]);
    let p45 = mla32::<FMA>(c[5], u, c[4]);
    let p67 = mla32::<FMA>(c[7], u, c[6]);
    let p03 = mla32::<FMA>(u2, p23, p01);
    let p47 = mla32::<FMA>(u2, p67, p45);
    let p48 = mla32::<FMA>(u4, c[8], p47);
    let p = mla32::<FMA>(u4, p48, p03);
    mla32::<FMA>(u2, p, u)
}
