//! Vectorisable elementary functions: `exp(x)` for `x <= 0`, `log1p(u)` and `ln(p)`, for `f32` and
//! `f64`.
//!
//! Every function here is branch-free straight-line code marked `#[inline(always)]`: no calls into
//! libm, no table lookups, and data-dependent choices only as `if c { a } else { b }` on values
//! (which LLVM turns into selects). Called element by element in a loop over slices inside a
//! function compiled with `#[target_feature(enable = "avx2,fma")]` (or `avx512f`), the loop
//! vectorises; in baseline x86-64 code the same functions are correct, only narrower.
//!
//! `const FMA: bool` chooses how `a * b + c` is evaluated: `true` uses `mul_add`, which is one
//! `vfmadd` instruction where the caller is compiled with FMA (and a slow library call where it is
//! not); `false` uses a separate multiply and add, for baseline code. Both are accurate.
//!
//! Methods:
//! - `exp`: `k = round(x / ln2)` by the shifter trick, `r = x - k ln2` in two parts (Cody-Waite),
//!   `exp(r) = 1 + r + r^2 P(r)` with a Chebyshev-fitted `P` (degree 5 for `f32`, 10 for `f64`)
//!   evaluated by Estrin's scheme, then scaled by `2^k1 * 2^k2` with `k1 + k2 = k`, so that
//!   subnormal results are rounded once, from a normal intermediate.
//! - `log`: the argument `m = 2^k f` with `f` in `[sqrt(1/2), sqrt(2))` (exponent taken from the
//!   bits), `g = f - 1` (exact), `s = g / (2 + g)` and fdlibm's `log(1 + g) = g - g^2/2 +
//!   s (g^2/2 + R(s^2))` with fdlibm's minimax `R` (public coefficients `Lg1..Lg4` / `Lg1..Lg7`).
//!   `log1p` adds the rounding error of `1 + u`, `c = (1 + u) - m` (exact), as `c / m`.
//!
//! - `log1p_unit` (the kernels' `log1p(exp(-|x|))`, argument in `[0, 1]`): for `f32`,
//!   `u + u^2 C(u)` with `C` of degree 8 (no division at all); for `f64`, `2 atanh(s)` with
//!   `s = u / (2 + u)` in `[0, 1/3]`, a polynomial of degree 9 in `s^2` and the rounding errors of
//!   `2 + u` and of the division put back with FMA: no exponent split and one division, not two.
//! - `exp_neg_normal_f32` / `exp_neg_split_f32`: `exp` on `[-87, 0]` only (what `f32` kernels see;
//!   larger `|x|` goes to `f64`), scaled by `2^k` in one multiply (`exp_neg_normal_f64` likewise
//!   on `[-708, 0]`, larger `|x|` going to the general `exp_neg_f64`), each with `1 + q` rounded
//!   once; the split form also returns what rounding lost, to about `2^-29.5` relative, for the
//!   compensated `f32` input gradient.
//!
//! Accuracy, with and without FMA (measured over every `f32` in the domain against `f64` std, and
//! on 200k samples per function against mpmath for `f64`): at most 0.77 ulp (`exp`), 0.87 ulp
//! (`log1p`), 0.84 ulp (`ln`) for `f32`; 0.76, 0.78, 0.80 ulp for `f64`. Subnormal results of `exp`
//! are rounded once from a normal intermediate (within 0.77 of the smallest subnormal).
//! `log1p_unit_f32`: 1.34 ulp, within 1 ulp of the rounded result (every 37th `f32` in `[0, 1]`,
//! with FMA; without FMA it is `log1p_f32`);
//! `exp_neg_normal_f32`: 1.02 ulp (every third `f32` in `[-87, 0]`), within 1 ulp of the rounded
//! result; `exp_neg_normal_f64`: 1.00 ulp against mpmath on 100k arguments of `[-708, 0]`;
//! `log1p_unit_f64`: within 1 ulp of std on 2M samples, 0.60 ulp
//! against mpmath at the worst of those.
//!
//! Cost per element (AVX2+FMA, one core of the development machine's AMD EPYC, n = 1e6, through
//! the engine, fastest and median of runs on a shared machine): mean with-logits loss 0.9-1.6 ns
//! in `f32` and 3.2-4.8 ns in `f64`, with the input gradient 1.4-2.3 ns and 3.7-5.5 ns, against
//! 10-11 ns for the loss with std's scalar functions. Instructions per element (callgrind, which
//! counts them exactly): `f32` loss 9.2, with gradient 12.1; `f64` 24.8 and 28.8.

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// `a * b + c`: fused where `FMA`, else a separate multiply and add.
#[inline(always)]
fn mla32<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `a * b + c`: fused where `FMA`, else a separate multiply and add.
#[inline(always)]
fn mla64<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// The IEEE results of a logarithm outside `(0, +inf)`, `x` being the argument whose log is taken
/// (`1 + u` for `log1p`): `+inf -> +inf`, `±0 -> -inf`, `< 0 -> NaN`, NaN -> NaN. Written as
/// ordered comparisons with finite values so that LLVM keeps them as three compares and three
/// blends (comparisons with infinity get rewritten into much longer integer class tests).
#[inline(always)]
fn log_specials_f32(x: f32, r: f32) -> f32 {
    let special = if x == 0.0 {
        f32::NEG_INFINITY
    } else {
        f32::NAN
    };
    let r = if x > 0.0 { r } else { special };
    if x > f32::MAX {
        x
    } else {
        r
    }
}

/// See [`log_specials_f32`].
#[inline(always)]
fn log_specials_f64(x: f64, r: f64) -> f64 {
    let special = if x == 0.0 {
        f64::NEG_INFINITY
    } else {
        f64::NAN
    };
    let r = if x > 0.0 { r } else { special };
    if x > f64::MAX {
        x
    } else {
        r
    }
}

// ---------------------------------------------------------------------------------------------
// f32
// ---------------------------------------------------------------------------------------------

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
    let m = 1.0 + u;
    // The rounding error of 1 + u, (1 + u) - m: exact while m < 2^24, because m - 1 is then exact
    // (Sterbenz's lemma for m in [1/2, 2]; m = 1 + u exactly below 1/2; above 2, m - 1 needs no
    // more bits than m), and beyond that too small to matter.
    let c = u - (m - 1.0);
    let (g, kf) = log_reduce_f32(m);
    let s = g / (2.0 + g);
    let r = log_core_f32::<FMA>(g, s, s * s, kf, c / m);
    let r = log_specials_f32(m, r);
    if u == 0.0 {
        u
    } else {
        r
    }
}

/// `ln(p)` within 1 ulp for `p >= 0`, subnormal `p` included (`ln(0) = -inf`, `ln(1) = 0`,
/// `p < 0 -> NaN`, `+inf -> +inf`, NaN -> NaN).
#[inline(always)]
pub fn ln_f32<const FMA: bool>(p: f32) -> f32 {
    const TWO_24: f32 = 16_777_216.0;
    let tiny = p < f32::MIN_POSITIVE;
    let x = if tiny { p * TWO_24 } else { p }; // subnormals scaled to normal
    let (g, kf) = log_reduce_f32(x);
    let kf = if tiny { kf - 24.0 } else { kf };
    let s = g / (2.0 + g);
    let r = log_core_f32::<FMA>(g, s, s * s, kf, 0.0);
    log_specials_f32(p, r)
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

/// `exp(r) = 1 + r + r^2 (N0 + N1 r + ... + N4 r^4)` on `|r| <= 1.0001 ln2 / 2`: relative error
/// `2^-28.2` (reweighted least squares, each coefficient rounded to `f32` in turn). One degree
/// less than [`exp_neg_f32`]'s, which keeps the error of its compensated sum below the rounding.
const E_NORMAL_F32: [f32; 5] = [
    0.499_999_94,
    0.166_665_21,
    0.041_668_262,
    0.008_368_671,
    0.001_382_104,
];

/// `exp(x)` for `x` in `[-87, 0]`, where the result is a normal `f32`, within 1 ulp of the rounded
/// result (1.02 ulp of the exact one): the reduction of [`exp_neg_f32`], a degree-6 polynomial,
/// and `1 + q` rounded once (no compensated sum: this is the loss kernels' exponential, where a
/// few operations per element count), scaled by `2^k` in one multiply. No clamping and no
/// special values: outside that range the result is unspecified (but computing it is harmless).
/// The kernels use it where [`crate::formulas::Formula::extreme_above`] has sent larger `|x|` to
/// `f64`.
#[inline(always)]
pub fn exp_neg_normal_f32<const FMA: bool>(x: f32) -> f32 {
    let kh = mla32::<FMA>(x, std::f32::consts::LOG2_E, SHIFT_F32);
    let kf = kh - SHIFT_F32;
    let r = mla32::<FMA>(kf, -EXP_LN2_LO_F32, mla32::<FMA>(kf, -EXP_LN2_HI_F32, x));
    let r2 = r * r;
    let c = &E_NORMAL_F32;
    let p01 = mla32::<FMA>(c[1], r, c[0]);
    let p23 = mla32::<FMA>(c[3], r, c[2]);
    let p = mla32::<FMA>(r2, mla32::<FMA>(r2, c[4], p23), p01);
    (1.0 + mla32::<FMA>(r2, p, r)) * pow2_f32(kh)
}

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

/// `exp(r) = 1 + r + r^2/2 + r^3 (E1 + E2 r + ... + E5 r^4)` on `|r| <= 1.02 ln2 / 2` with `E1`
/// fixed at `1/6` rounded: relative error `2^-32.4` (least-squares fit refined to minimax).
const E_SPLIT_F32: [f32; 5] = [
    0.166_666_67,
    0.041_666_47,
    0.008_333_319,
    0.001_393_474_2,
    0.000_198_478_7,
];

/// `exp(x)` for `x` in `[-87, 0]` as an unevaluated sum `hi + lo` (`|lo| <= ulp(hi) / 2`) with a
/// relative error below `2^-29.5` (measured, every `f32` in `[-70, 0]`; `lo` turns subnormal
/// below that, its absolute error staying below `2^-149`): `hi` is `exp(x)` within 1 ulp, `lo`
/// what rounding it lost, for arithmetic that needs `exp` to more than `f32` precision (the
/// input gradient, whose two terms cancel). Needs `FMA` for its exact products; without it `lo`
/// is only roughly right. Unspecified outside `[-87, 0]`, like [`exp_neg_normal_f32`].
///
/// Every rounding error of the evaluation above `2^-31` is kept: `r = x - k ln2` as
/// `r + r_err`, `r^2` and `r^3` with their exact product errors, and `1 + r + r^2/2 + cubic`
/// summed with Fast2Sum; what remains is the rounding of the polynomial itself.
#[inline(always)]
pub fn exp_neg_split_f32<const FMA: bool>(x: f32) -> (f32, f32) {
    let kh = mla32::<FMA>(x, std::f32::consts::LOG2_E, SHIFT_F32);
    let kf = kh - SHIFT_F32;
    let r_hi = mla32::<FMA>(kf, -EXP_LN2_HI_F32, x);
    let r_lo = kf * -EXP_LN2_LO_F32;
    let r = r_hi + r_lo;
    let r_err = (r_hi - r) + r_lo; // r_hi + r_lo = r + r_err exactly (Fast2Sum)
    let r2 = r * r;
    let r2_err = mla32::<FMA>(r, r, -r2);
    let p12 = mla32::<FMA>(E_SPLIT_F32[1], r, E_SPLIT_F32[0]);
    let p34 = mla32::<FMA>(E_SPLIT_F32[3], r, E_SPLIT_F32[2]);
    let p = mla32::<FMA>(r2, mla32::<FMA>(r2, E_SPLIT_F32[4], p34), p12);
    let r3 = r2 * r;
    let r3_err = mla32::<FMA>(r2, r, -r3);
    let cubic = r3 * p;
    let cubic_err = mla32::<FMA>(r3, p, -cubic);
    // 1 + r_hi, + r^2/2, + cubic: each time the larger operand first, so the errors are exact.
    let a = 1.0 + r_hi;
    let a_err = (1.0 - a) + r_hi;
    let h = 0.5 * r2;
    let b = a + h;
    let b_err = (a - b) + h;
    let c = b + cubic;
    let c_err = (b - c) + cubic;
    // The small rest: r_lo (the linear term's second part), the derivative of r^2/2 + r^3/6 times
    // r_err, and the product errors.
    let small = mla32::<FMA>(r + h, r_err, r_lo)
        + mla32::<FMA>(r3_err, p, mla32::<FMA>(0.5, r2_err, cubic_err));
    let tail = (a_err + b_err) + (c_err + small);
    let hi = c + tail;
    let lo = tail - (hi - c);
    let scale = pow2_f32(kh);
    (hi * scale, lo * scale)
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

// ---------------------------------------------------------------------------------------------
// f64
// ---------------------------------------------------------------------------------------------

/// `1.5 * 2^52`: adding it rounds an `f64` of magnitude below `2^51` to an integer.
const SHIFT_F64: f64 = 6_755_399_441_055_744.0;
/// `ln 2` in two parts (fdlibm): `k * LN2_HI_F64` is exact for `|k| < 2^21`.
const LN2_HI_F64: f64 = 0.693_147_180_369_123_8;
const LN2_LO_F64: f64 = 1.908_214_929_270_587_7e-10;
/// `exp(r) = 1 + r + r^2 (E0 + E1 r + ... + E10 r^10)` on `|r| <= 1.02 ln2 / 2`, relative error
/// `7e-19` (Chebyshev fit).
const E_F64: [f64; 11] = [
    0.5,
    0.166_666_666_666_666_7,
    0.041_666_666_666_666_67,
    0.008_333_333_333_324_906,
    0.001_388_888_888_888_287,
    0.000_198_412_698_790_330_45,
    2.480_158_732_855_585_8e-5,
    2.755_725_016_302_918e-6,
    2.755_726_990_321_579_5e-7,
    2.510_735_376_726_187_7e-8,
    2.091_621_283_749_385_3e-9,
];
/// Below this `exp(x)` rounds to 0 (`exp(-746) < 2^-1075`); above the other bound it overflows.
const EXP_MIN_F64: f64 = -746.0;
const EXP_MAX_F64: f64 = 710.0;
/// fdlibm's `Lg1..Lg7` (e_log.c): `|(log(1+s) - log(1-s))/s - 2 - R(s^2)| < 2^-58.45`.
const LG_F64: [f64; 7] = [
    0.666_666_666_666_673_5,
    0.399_999_999_994_094_2,
    0.285_714_287_436_623_9,
    0.222_221_984_321_497_84,
    0.181_835_721_616_180_5,
    0.153_138_376_992_093_73,
    0.147_981_986_051_165_86,
];

/// `exp(r)` for `x = k ln2 + r`, `|r| <= ln2 / 2`, and `kh = SHIFT_F64 + k`: the reduction and
/// polynomial the `f64` exps share, before the scaling by `2^k`. `COMPENSATED` adds `1 + r` with
/// its rounding error kept (what the general `exp_neg_f64` does); without it, `1 + q` is rounded
/// once, `q = r + r^2 P(r)` (what the kernels' `exp_neg_normal_f64` does: three operations fewer,
/// within 1 ulp still).
#[inline(always)]
fn exp_reduced_f64<const FMA: bool, const COMPENSATED: bool>(x: f64) -> (f64, f64) {
    let kh = mla64::<FMA>(x, std::f64::consts::LOG2_E, SHIFT_F64);
    let kf = kh - SHIFT_F64;
    let r_hi = mla64::<FMA>(kf, -LN2_HI_F64, x);
    let r_lo = kf * -LN2_LO_F64;
    let r = r_hi + r_lo;
    // Estrin over pairs, r^2, r^4.
    let r2 = r * r;
    let r4 = r2 * r2;
    let p01 = mla64::<FMA>(E_F64[1], r, E_F64[0]);
    let p23 = mla64::<FMA>(E_F64[3], r, E_F64[2]);
    let p45 = mla64::<FMA>(E_F64[5], r, E_F64[4]);
    let p67 = mla64::<FMA>(E_F64[7], r, E_F64[6]);
    let p89 = mla64::<FMA>(E_F64[9], r, E_F64[8]);
    let q0 = mla64::<FMA>(r2, p23, p01);
    let q1 = mla64::<FMA>(r2, p67, p45);
    let q2 = mla64::<FMA>(r2, E_F64[10], p89);
    let p = mla64::<FMA>(r4, mla64::<FMA>(r4, q2, q1), q0);
    if !COMPENSATED {
        return (1.0 + mla64::<FMA>(r2, p, r), kh);
    }
    let a = 1.0 + r_hi;
    let a_err = (1.0 - a) + r_hi;
    (a + (a_err + mla64::<FMA>(r2, p, r_lo)), kh)
}

/// `exp(x)` for `x <= 0`, within 1 ulp, subnormal results included (`exp(-inf) = 0`,
/// `exp(-0) = 1`, NaN -> NaN; results below `2^-1075` are 0). Also correct for `0 < x`,
/// overflowing to `+inf`.
#[inline(always)]
pub fn exp_neg_f64<const FMA: bool>(x: f64) -> f64 {
    let x = if x < EXP_MIN_F64 { EXP_MIN_F64 } else { x };
    let x = if x > EXP_MAX_F64 { EXP_MAX_F64 } else { x };
    let (e, kh) = exp_reduced_f64::<FMA, true>(x);
    // 2^k = 2^k1 * 2^k2 (see exp_neg_f32); only 64-bit adds and left shifts, which AVX2 has.
    let h = mla64::<FMA>(x, 0.5 * std::f64::consts::LOG2_E, SHIFT_F64);
    let b1 = (h + 1023.0).to_bits() << 52;
    let b2 = ((kh + 2046.0).to_bits() << 52).wrapping_sub(b1);
    e * f64::from_bits(b1) * f64::from_bits(b2)
}

/// `exp(x)` for `x` in `[-708, 0]`, where the result is a normal `f64`, within 1 ulp: the
/// reduction and polynomial of [`exp_neg_f64`] with `1 + q` rounded once (no compensated sum),
/// scaled by `2^k` in one multiply (`k >= -1022`).
/// No clamping and no special values: outside that range the result is unspecified (but
/// computing it is harmless). The kernels use it where [`crate::formulas::Formula::extreme_above`]
/// has sent larger `|x|` to [`exp_neg_f64`].
#[inline(always)]
pub fn exp_neg_normal_f64<const FMA: bool>(x: f64) -> f64 {
    let (e, kh) = exp_reduced_f64::<FMA, false>(x);
    // 2^k from the low bits of kh = SHIFT_F64 + k.
    let scale = kh
        .to_bits()
        .wrapping_sub(SHIFT_F64.to_bits())
        .wrapping_add(1023)
        << 52;
    e * f64::from_bits(scale)
}

/// See [`log_reduce_f32`]. The exponent becomes a float by the `2^52` trick (AVX2 has no
/// 64-bit integer to float conversion).
#[inline(always)]
fn log_reduce_f64(m: f64) -> (f64, f64) {
    let ix = m
        .to_bits()
        .wrapping_add(0x3ff0_0000_0000_0000 - 0x3fe6_a09e_667f_3bcd);
    let kb = ix >> 52; // k + 1023
    let f = f64::from_bits((ix & 0x000f_ffff_ffff_ffff) + 0x3fe6_a09e_667f_3bcd);
    let kf = f64::from_bits(0x4330_0000_0000_0000 | kb) - (4_503_599_627_370_496.0 + 1023.0);
    (f - 1.0, kf)
}

/// See [`log_core_f32`].
#[inline(always)]
fn log_core_f64<const FMA: bool>(g: f64, s: f64, z: f64, kf: f64, cm: f64) -> f64 {
    let w = z * z;
    let t1 = w * mla64::<FMA>(w, mla64::<FMA>(w, LG_F64[5], LG_F64[3]), LG_F64[1]);
    let t2 = z * mla64::<FMA>(
        w,
        mla64::<FMA>(w, mla64::<FMA>(w, LG_F64[6], LG_F64[4]), LG_F64[2]),
        LG_F64[0],
    );
    let rr = t1 + t2;
    let hfsq = 0.5 * g * g;
    let lo = mla64::<FMA>(kf, LN2_LO_F64, cm);
    let t = mla64::<FMA>(s, hfsq + rr, lo);
    mla64::<FMA>(kf, LN2_HI_F64, g - (hfsq - t))
}

/// `log1p(u) = ln(1 + u)` within 1 ulp for `u >= -1` (see [`log1p_f32`]).
#[inline(always)]
pub fn log1p_f64<const FMA: bool>(u: f64) -> f64 {
    let m = 1.0 + u;
    let c = u - (m - 1.0); // the rounding error of 1 + u (see log1p_f32)
    let (g, kf) = log_reduce_f64(m);
    let s = g / (2.0 + g);
    let r = log_core_f64::<FMA>(g, s, s * s, kf, c / m);
    let r = log_specials_f64(m, r);
    if u == 0.0 {
        u
    } else {
        r
    }
}

/// `ln(p)` within 1 ulp for `p >= 0`, subnormal `p` included (see [`ln_f32`]).
#[inline(always)]
pub fn ln_f64<const FMA: bool>(p: f64) -> f64 {
    const TWO_54: f64 = 18_014_398_509_481_984.0;
    let tiny = p < f64::MIN_POSITIVE;
    let x = if tiny { p * TWO_54 } else { p }; // subnormals scaled to normal
    let (g, kf) = log_reduce_f64(x);
    let kf = if tiny { kf - 54.0 } else { kf };
    let s = g / (2.0 + g);
    let r = log_core_f64::<FMA>(g, s, s * s, kf, 0.0);
    log_specials_f64(p, r)
}

/// `exp(x)` as `(hi, lo)` like [`exp_neg_split_f32`], for code generic over the type: `f64`
/// arithmetic needs no more than `f64` precision here, so `lo` is 0 and `hi` is [`exp_neg_f64`]
/// (any `x`).
#[inline(always)]
pub fn exp_neg_split_f64<const FMA: bool>(x: f64) -> (f64, f64) {
    (exp_neg_f64::<FMA>(x), 0.0)
}

/// See [`L1P_UNIT_F32`]: `Q` on `[0, 1/9]` to relative error `9e-17` (`5e-18` of the result).
const L1P_UNIT_F64: [f64; 10] = [
    0.666_666_666_666_666_6,
    0.400_000_000_000_145_8,
    0.285_714_285_671_087_6,
    0.222_222_227_174_278_6,
    0.181_817_894_361_328_6,
    0.153_855_700_649_586_2,
    0.133_141_442_096_549_4,
    0.120_010_728_095_907_1,
    0.088_007_384_861_446_74,
    0.161_640_456_119_435_3,
];

/// `log1p(u)` for `u` in `[0, 1]` within 1 ulp (see [`log1p_unit_f32`]; a degree-9 polynomial in
/// `s^2`).
#[inline(always)]
pub fn log1p_unit_f64<const FMA: bool>(u: f64) -> f64 {
    if !FMA {
        return log1p_f64::<FMA>(u);
    }
    let t = 2.0 + u;
    let s = u / t;
    let z = s * s;
    let z2 = z * z;
    let z4 = z2 * z2;
    let c = &L1P_UNIT_F64;
    let q01 = mla64::<FMA>(c[1], z, c[0]);
    let q23 = mla64::<FMA>(c[3], z, c[2]);
    let q45 = mla64::<FMA>(c[5], z, c[4]);
    let q67 = mla64::<FMA>(c[7], z, c[6]);
    let q89 = mla64::<FMA>(c[9], z, c[8]);
    let q03 = mla64::<FMA>(q23, z2, q01);
    let q47 = mla64::<FMA>(q67, z2, q45);
    let q = mla64::<FMA>(mla64::<FMA>(q89, z4, q47), z4, q03);
    let t_err = (2.0 - t) + u;
    let rho = mla64::<FMA>(-s, t, u);
    let num = mla64::<FMA>(-s, t_err, rho);
    let two_delta = mla64::<FMA>(-num, s, num);
    mla64::<FMA>(s * z, q, two_delta) + (s + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    type F32 = fn(f32) -> f32;
    type F64 = fn(f64) -> f64;

    /// Position of `x` on the line of `f32`s (adjacent values differ by 1; -0 and +0 coincide).
    fn ord32(x: f32) -> i64 {
        let b = i64::from(x.to_bits());
        if b & 0x8000_0000 != 0 {
            -(b & 0x7fff_ffff)
        } else {
            b
        }
    }

    fn ord64(x: f64) -> i128 {
        let b = i128::from(x.to_bits());
        if b & (1 << 63) != 0 {
            -(b & 0x7fff_ffff_ffff_ffff)
        } else {
            b
        }
    }

    /// Distance in ulps between two results; NaNs and infinities must match exactly.
    fn dist32(got: f32, want: f32) -> i64 {
        if got.is_nan() || want.is_nan() || got.is_infinite() || want.is_infinite() {
            let same = (got.is_nan() && want.is_nan()) || got == want;
            return if same { 0 } else { i64::MAX };
        }
        (ord32(got) - ord32(want)).abs()
    }

    fn dist64(got: f64, want: f64) -> i128 {
        if got.is_nan() || want.is_nan() || got.is_infinite() || want.is_infinite() {
            let same = (got.is_nan() && want.is_nan()) || got == want;
            return if same { 0 } else { i128::MAX };
        }
        (ord64(got) - ord64(want)).abs()
    }

    /// Checks `f` against `reference` (std's `f64` function rounded to `f32`) on `xs`: at most
    /// 1 ulp apart.
    fn check32(name: &str, f: F32, reference: F64, xs: impl Iterator<Item = f32>) {
        let mut worst = (0i64, 0f32, 0f32, 0f32);
        let mut count = 0u64;
        for x in xs {
            let got = f(x);
            let want = reference(f64::from(x)) as f32;
            let d = dist32(got, want);
            if d > worst.0 {
                worst = (d, x, got, want);
            }
            count += 1;
        }
        assert!(count > 0);
        let (d, x, got, want) = worst;
        assert!(d <= 1, "{name}({x:e}) = {got:e}, want {want:e}: {d} ulp");
    }

    /// Checks `f` against std's `f64` function: at most 2 ulp apart (std itself is within 1).
    fn check64(name: &str, f: F64, reference: F64, xs: impl Iterator<Item = f64>) {
        let mut worst = (0i128, 0f64, 0f64, 0f64);
        for x in xs {
            let got = f(x);
            let want = reference(x);
            let d = dist64(got, want);
            if d > worst.0 {
                worst = (d, x, got, want);
            }
        }
        let (d, x, got, want) = worst;
        assert!(d <= 2, "{name}({x:e}) = {got:e}, want {want:e}: {d} ulp");
    }

    /// Every `stride`-th `f32` bit pattern from `lo` to `hi` (inclusive), with sign `sign`.
    fn f32s(lo: f32, hi: f32, stride: u32, negative: bool) -> impl Iterator<Item = f32> {
        let sign = if negative { 0x8000_0000 } else { 0 };
        (lo.to_bits()..=hi.to_bits())
            .step_by(stride as usize)
            .chain([hi.to_bits()])
            .map(move |b| f32::from_bits(b | sign))
    }

    /// Deterministic pseudo-random `f64`s: `n` uniform in `[lo, hi]` and `n` with uniformly random
    /// bit patterns between those of `blo` and `bhi` (both non-negative).
    fn f64s(lo: f64, hi: f64, blo: f64, bhi: f64, n: usize, negative: bool) -> Vec<f64> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (a, b) = (blo.to_bits(), bhi.to_bits());
        let sign = if negative { -1.0 } else { 1.0 };
        let mut v = Vec::with_capacity(2 * n + 2);
        for _ in 0..n {
            v.push(lo + (hi - lo) * ((next() >> 11) as f64 / (1u64 << 53) as f64));
            v.push(sign * f64::from_bits(a + next() % (b - a + 1)));
        }
        v.extend([lo, hi]);
        v
    }

    const F32_EXP: [(&str, F32); 2] = [
        ("exp_neg_f32::<false>", exp_neg_f32::<false>),
        ("exp_neg_f32::<true>", exp_neg_f32::<true>),
    ];
    const F32_LOG1P: [(&str, F32); 2] = [
        ("log1p_f32::<false>", log1p_f32::<false>),
        ("log1p_f32::<true>", log1p_f32::<true>),
    ];
    const F32_LN: [(&str, F32); 2] = [
        ("ln_f32::<false>", ln_f32::<false>),
        ("ln_f32::<true>", ln_f32::<true>),
    ];
    const F64_EXP: [(&str, F64); 2] = [
        ("exp_neg_f64::<false>", exp_neg_f64::<false>),
        ("exp_neg_f64::<true>", exp_neg_f64::<true>),
    ];
    const F64_LOG1P: [(&str, F64); 2] = [
        ("log1p_f64::<false>", log1p_f64::<false>),
        ("log1p_f64::<true>", log1p_f64::<true>),
    ];
    const F64_LN: [(&str, F64); 2] = [
        ("ln_f64::<false>", ln_f64::<false>),
        ("ln_f64::<true>", ln_f64::<true>),
    ];

    const F32_EXP_NORMAL: [(&str, F32); 2] = [
        ("exp_neg_normal_f32::<false>", exp_neg_normal_f32::<false>),
        ("exp_neg_normal_f32::<true>", exp_neg_normal_f32::<true>),
    ];
    const F32_EXP_SPLIT_HI: [(&str, F32); 2] = [
        ("exp_neg_split_f32::<false>.0", |x| {
            exp_neg_split_f32::<false>(x).0
        }),
        ("exp_neg_split_f32::<true>.0", |x| {
            exp_neg_split_f32::<true>(x).0
        }),
    ];
    const F32_LOG1P_UNIT: [(&str, F32); 2] = [
        ("log1p_unit_f32::<false>", log1p_unit_f32::<false>),
        ("log1p_unit_f32::<true>", log1p_unit_f32::<true>),
    ];
    const F64_LOG1P_UNIT: [(&str, F64); 2] = [
        ("log1p_unit_f64::<false>", log1p_unit_f64::<false>),
        ("log1p_unit_f64::<true>", log1p_unit_f64::<true>),
    ];

    #[test]
    fn exp_neg_normal_f32_sweep() {
        for (name, f) in F32_EXP_NORMAL.into_iter().chain(F32_EXP_SPLIT_HI) {
            // All of [-87, 0] (exp(-87) = 1.6e-38 is still normal), and densely near 0.
            check32(name, f, f64::exp, f32s(0.0, 87.0, 61, true));
            check32(name, f, f64::exp, f32s(0.0, 1e-3, 13, true));
            assert_eq!(f(0.0), 1.0);
            assert_eq!(f(-0.0), 1.0);
        }
    }

    /// `hi + lo` is `exp(x)` to `2^-29` relative, `lo` within half an ulp of `hi` (with FMA).
    #[test]
    fn exp_neg_split_f32_precision() {
        let mut worst = (0.0f64, 0.0f32);
        for x in f32s(0.0, 70.0, 29, true).chain(f32s(0.0, 1.0, 7, true)) {
            let (hi, lo) = exp_neg_split_f32::<true>(x);
            let want = f64::from(x).exp();
            let rel = ((f64::from(hi) + f64::from(lo)) - want).abs() / want;
            if rel > worst.0 {
                worst = (rel, x);
            }
            let half_ulp = f64::from(hi) * f64::from(f32::EPSILON) / 2.0;
            assert!(
                f64::from(lo).abs() <= half_ulp * 1.0001,
                "x = {x:e}: lo = {lo:e}"
            );
        }
        let (rel, x) = worst;
        assert!(
            rel < 2f64.powi(-29),
            "exp_neg_split_f32({x:e}): relative error {rel:e}"
        );
    }

    #[test]
    fn log1p_unit_f32_sweep() {
        for (name, f) in F32_LOG1P_UNIT {
            check32(name, f, f64::ln_1p, f32s(0.0, 1.0, 97, false));
            // Densely near 0, where 2 + u rounds, and near 1.
            check32(name, f, f64::ln_1p, f32s(1e-9, 1e-6, 7, false));
            check32(name, f, f64::ln_1p, f32s(0.99, 1.0, 3, false));
            for u in [0.0, f32::from_bits(1), f32::MIN_POSITIVE, 1e-30, 1e-9] {
                assert_eq!(f(u).to_bits(), u.to_bits(), "{name}({u:e})");
            }
            assert_eq!(f(1.0), std::f32::consts::LN_2);
        }
    }

    #[test]
    fn log1p_unit_f64_sweep() {
        for (name, f) in F64_LOG1P_UNIT {
            check64(
                name,
                f,
                f64::ln_1p,
                f64s(0.0, 1.0, 0.0, 1.0, 200_000, false).into_iter(),
            );
            check64(
                name,
                f,
                f64::ln_1p,
                f64s(0.0, 1e-8, 1e-300, 1e-6, 50_000, false).into_iter(),
            );
            check64(
                name,
                f,
                f64::ln_1p,
                f64s(0.99, 1.0, 0.99, 1.0, 50_000, false).into_iter(),
            );
            for u in [0.0, f64::from_bits(1), f64::MIN_POSITIVE, 1e-300, 1e-18] {
                assert_eq!(f(u).to_bits(), u.to_bits(), "{name}({u:e})");
            }
            assert_eq!(f(1.0), std::f64::consts::LN_2);
        }
    }

    #[test]
    fn exp_neg_f32_sweep() {
        for (name, f) in F32_EXP {
            // All of [-104, 0], subnormal results and the underflow to 0 included.
            check32(name, f, f64::exp, f32s(0.0, 104.0, 127, true));
            // Densely where the result turns subnormal and then 0.
            check32(name, f, f64::exp, f32s(87.0, 105.0, 3, true));
        }
    }

    #[test]
    fn exp_neg_f32_edges() {
        for (name, f) in F32_EXP {
            let xs = [
                0.0,
                -0.0,
                -f32::from_bits(1),
                -1e-30,
                -5.9604645e-8,
                -1.0,
                -f32::from_bits(0x3eb1_7217), // around ln2 / 2, where k changes
                -f32::from_bits(0x3eb1_7218),
                -87.33654, // exp = 2^-126
                -87.33655,
                -103.27893, // exp = 2^-149
                -103.97207, // exp = 2^-150, rounds to 0
                -103.97208,
                -104.0,
                -1e4,
                -f32::MAX,
                f32::NEG_INFINITY,
                f32::NAN,
                1e-3,
                88.0,
            ];
            check32(name, f, f64::exp, xs.into_iter());
            assert_eq!(f(0.0), 1.0);
            assert_eq!(f(-0.0), 1.0);
            assert_eq!(f(f32::NEG_INFINITY), 0.0);
            assert_eq!(f(-1e4), 0.0);
            assert_eq!(f(-103.27893), f32::from_bits(1));
            assert!(f(f32::NAN).is_nan());
            assert_eq!(f(89.0), f32::INFINITY);
            assert_eq!(f(f32::INFINITY), f32::INFINITY);
        }
    }

    #[test]
    fn log1p_f32_sweep() {
        for (name, f) in F32_LOG1P {
            // u in [-1, 1], tiny and subnormal u included.
            check32(name, f, f64::ln_1p, f32s(0.0, 1.0, 397, false));
            check32(name, f, f64::ln_1p, f32s(0.0, 1.0, 397, true));
            // Densely near 0, where 1 + u rounds, and near the ends.
            check32(name, f, f64::ln_1p, f32s(1e-9, 1e-6, 7, false));
            check32(name, f, f64::ln_1p, f32s(1e-9, 1e-6, 7, true));
            check32(name, f, f64::ln_1p, f32s(0.99, 1.0, 5, true));
            // u beyond 1.
            check32(name, f, f64::ln_1p, f32s(1.0, f32::MAX, 4099, false));
        }
    }

    #[test]
    fn log1p_f32_edges() {
        let one_minus = 1.0 - f32::EPSILON / 2.0;
        for (name, f) in F32_LOG1P {
            let us = [
                0.0,
                -0.0,
                f32::from_bits(1),
                -f32::from_bits(1),
                f32::MIN_POSITIVE,
                1e-30,
                -1e-30,
                2.9802322e-8,
                -2.9802322e-8,
                5.9604645e-8,
                0.5,
                -0.5,
                one_minus,
                1.0,
                -one_minus,
                -1.0,
                0.414_213_57,
                -0.292_893_2,
                f32::MAX,
                f32::INFINITY,
                -1.5,
                f32::NEG_INFINITY,
                f32::NAN,
            ];
            check32(name, f, f64::ln_1p, us.into_iter());
            for u in [
                0.0,
                -0.0,
                f32::from_bits(1),
                -f32::from_bits(3),
                1e-30,
                -1e-20,
                1e-9,
            ] {
                assert_eq!(f(u).to_bits(), u.to_bits(), "{name}({u:e})");
            }
            assert_eq!(f(-1.0), f32::NEG_INFINITY);
            assert!(f(-1.5).is_nan() && f(f32::NEG_INFINITY).is_nan() && f(f32::NAN).is_nan());
            assert_eq!(f(f32::INFINITY), f32::INFINITY);
            assert_eq!(f(1.0), std::f32::consts::LN_2);
        }
    }

    #[test]
    fn ln_f32_sweep() {
        for (name, f) in F32_LN {
            // p in [0, 1], every exponent, subnormals included.
            check32(name, f, f64::ln, f32s(0.0, 1.0, 127, false));
            check32(name, f, f64::ln, f32s(0.0, f32::MIN_POSITIVE, 13, false));
            check32(name, f, f64::ln, f32s(0.5, 1.0, 11, false));
            check32(name, f, f64::ln, f32s(1.0, f32::MAX, 4099, false));
        }
    }

    #[test]
    fn ln_f32_edges() {
        let one_minus = 1.0 - f32::EPSILON / 2.0;
        for (name, f) in F32_LN {
            let ps = [
                0.0,
                -0.0,
                f32::from_bits(1),
                f32::from_bits(0x007f_ffff),
                f32::MIN_POSITIVE,
                1e-30,
                0.5,
                std::f32::consts::FRAC_1_SQRT_2,
                one_minus,
                1.0,
                2.0,
                f32::MAX,
                f32::INFINITY,
                -1.0,
                f32::NEG_INFINITY,
                f32::NAN,
            ];
            check32(name, f, f64::ln, ps.into_iter());
            assert_eq!(f(1.0).to_bits(), 0);
            assert_eq!(f(0.0), f32::NEG_INFINITY);
            assert_eq!(f(-0.0), f32::NEG_INFINITY);
            assert_eq!(f(f32::INFINITY), f32::INFINITY);
            assert!(f(-1.0).is_nan() && f(f32::NAN).is_nan() && f(f32::NEG_INFINITY).is_nan());
            assert_eq!(f(0.5), -std::f32::consts::LN_2);
        }
    }

    /// The normal-range `f64` exp agrees with the general one (within 1 ulp of each other, both
    /// within 1 ulp of std) on `[-708, 0]`.
    #[test]
    fn exp_neg_normal_f64_sweep() {
        for (name, f) in [
            (
                "exp_neg_normal_f64::<false>",
                exp_neg_normal_f64::<false> as F64,
            ),
            ("exp_neg_normal_f64::<true>", exp_neg_normal_f64::<true>),
        ] {
            check64(
                name,
                f,
                f64::exp,
                f64s(-708.0, 0.0, 0.0, 708.0, 200_000, true).into_iter(),
            );
            check64(
                name,
                f,
                f64::exp,
                f64s(-708.0, -700.0, 700.0, 708.0, 20_000, true).into_iter(),
            );
            assert_eq!(f(0.0), 1.0);
            assert_eq!(f(-0.0), 1.0);
        }
    }

    #[test]
    fn exp_neg_f64_sweep() {
        for (name, f) in F64_EXP {
            check64(
                name,
                f,
                f64::exp,
                f64s(-746.0, 0.0, 0.0, 746.0, 200_000, true).into_iter(),
            );
            // Subnormal results and the underflow to 0.
            check64(
                name,
                f,
                f64::exp,
                f64s(-746.0, -705.0, 705.0, 746.0, 50_000, true).into_iter(),
            );
            // Tiny arguments.
            check64(
                name,
                f,
                f64::exp,
                f64s(-1e-6, 0.0, 0.0, 1e-6, 50_000, true).into_iter(),
            );
        }
    }

    #[test]
    fn exp_neg_f64_edges() {
        for (name, f) in F64_EXP {
            let xs = [
                0.0,
                -0.0,
                -f64::from_bits(1),
                -1e-300,
                -1.0,
                -0.346_573_590_279_972_6,
                -708.396_418_532_264_1, // exp = 2^-1022
                -708.396_418_532_265,
                -744.440_071_921_381_3, // exp = 2^-1074
                -745.133_219_101_941_1, // exp = 2^-1075, rounds to 0
                -745.133_219_101_941_2,
                -746.0,
                -1e5,
                -f64::MAX,
                f64::NEG_INFINITY,
                f64::NAN,
                1e-3,
                700.0,
            ];
            check64(name, f, f64::exp, xs.into_iter());
            assert_eq!(f(0.0), 1.0);
            assert_eq!(f(-0.0), 1.0);
            assert_eq!(f(f64::NEG_INFINITY), 0.0);
            assert_eq!(f(-1e5), 0.0);
            assert_eq!(f(-744.440_071_921_381_3), f64::from_bits(1));
            assert!(f(f64::NAN).is_nan());
            assert_eq!(f(710.0), f64::INFINITY);
            assert_eq!(f(f64::INFINITY), f64::INFINITY);
        }
    }

    #[test]
    fn log1p_f64_sweep() {
        for (name, f) in F64_LOG1P {
            for negative in [false, true] {
                let hi = if negative { -1.0 } else { 1.0 };
                check64(
                    name,
                    f,
                    f64::ln_1p,
                    f64s(0.0, hi, 0.0, 1.0, 200_000, negative).into_iter(),
                );
                check64(
                    name,
                    f,
                    f64::ln_1p,
                    f64s(0.0, 1e-8 * hi, 1e-20, 1e-6, 50_000, negative).into_iter(),
                );
            }
            check64(
                name,
                f,
                f64::ln_1p,
                f64s(1.0, 1e6, 1.0, f64::MAX, 50_000, false).into_iter(),
            );
        }
    }

    #[test]
    fn log1p_f64_edges() {
        let one_minus = 1.0 - f64::EPSILON / 2.0;
        for (name, f) in F64_LOG1P {
            let us = [
                0.0,
                -0.0,
                f64::from_bits(1),
                -f64::from_bits(1),
                f64::MIN_POSITIVE,
                1e-300,
                1.1102230246251565e-16,
                -1.1102230246251565e-16,
                0.5,
                -0.5,
                one_minus,
                1.0,
                -one_minus,
                -1.0,
                f64::MAX,
                f64::INFINITY,
                -1.5,
                f64::NEG_INFINITY,
                f64::NAN,
            ];
            check64(name, f, f64::ln_1p, us.into_iter());
            for u in [
                0.0,
                -0.0,
                f64::from_bits(1),
                -f64::from_bits(3),
                1e-300,
                -1e-200,
                1e-18,
            ] {
                assert_eq!(f(u).to_bits(), u.to_bits(), "{name}({u:e})");
            }
            assert_eq!(f(-1.0), f64::NEG_INFINITY);
            assert!(f(-1.5).is_nan() && f(f64::NEG_INFINITY).is_nan() && f(f64::NAN).is_nan());
            assert_eq!(f(f64::INFINITY), f64::INFINITY);
            assert_eq!(f(1.0), std::f64::consts::LN_2);
        }
    }

    #[test]
    fn ln_f64_sweep() {
        for (name, f) in F64_LN {
            check64(
                name,
                f,
                f64::ln,
                f64s(0.0, 1.0, 0.0, 1.0, 200_000, false).into_iter(),
            );
            check64(
                name,
                f,
                f64::ln,
                f64s(0.0, 1e-300, 0.0, f64::MIN_POSITIVE, 50_000, false).into_iter(),
            );
            check64(
                name,
                f,
                f64::ln,
                f64s(1.0 - 1e-6, 1.0, 0.5, 1.0, 50_000, false).into_iter(),
            );
            check64(
                name,
                f,
                f64::ln,
                f64s(1.0, 1e6, 1.0, f64::MAX, 50_000, false).into_iter(),
            );
        }
    }

    #[test]
    fn ln_f64_edges() {
        let one_minus = 1.0 - f64::EPSILON / 2.0;
        for (name, f) in F64_LN {
            let ps = [
                0.0,
                -0.0,
                f64::from_bits(1),
                f64::from_bits(0x000f_ffff_ffff_ffff),
                f64::MIN_POSITIVE,
                1e-300,
                0.5,
                std::f64::consts::FRAC_1_SQRT_2,
                one_minus,
                1.0,
                2.0,
                f64::MAX,
                f64::INFINITY,
                -1.0,
                f64::NEG_INFINITY,
                f64::NAN,
            ];
            check64(name, f, f64::ln, ps.into_iter());
            assert_eq!(f(1.0).to_bits(), 0);
            assert_eq!(f(0.0), f64::NEG_INFINITY);
            assert_eq!(f(-0.0), f64::NEG_INFINITY);
            assert_eq!(f(f64::INFINITY), f64::INFINITY);
            assert!(f(-1.0).is_nan() && f(f64::NAN).is_nan() && f(f64::NEG_INFINITY).is_nan());
            assert_eq!(f(0.5), -std::f64::consts::LN_2);
        }
    }

    /// The functions composed as the kernels use them, `log1p(exp(-|x|))`, inside an AVX2+FMA
    /// function (where the loop vectorises), agree with the scalar evaluation.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vectorised_matches_scalar() {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn sp32(x: &[f32], out: &mut [f32]) {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = log1p_f32::<true>(exp_neg_f32::<true>(-v.abs()));
            }
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn sp32_unit(x: &[f32], out: &mut [f32]) {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = log1p_unit_f32::<true>(exp_neg_normal_f32::<true>(-v.abs()));
            }
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn sp64_unit(x: &[f64], out: &mut [f64]) {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = log1p_unit_f64::<true>(exp_neg_f64::<true>(-v.abs()));
            }
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn sp64(x: &[f64], out: &mut [f64]) {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = log1p_f64::<true>(exp_neg_f64::<true>(-v.abs()));
            }
        }
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let x32: Vec<f32> = f32s(0.0, 120.0, 4099, false).collect();
        let mut o32 = vec![0.0; x32.len()];
        // SAFETY: AVX2 and FMA are present (checked above).
        unsafe { sp32(&x32, &mut o32) };
        for (&x, &o) in x32.iter().zip(&o32) {
            let want = log1p_f32::<true>(exp_neg_f32::<true>(-x));
            assert_eq!(o.to_bits(), want.to_bits(), "x = {x:e}");
            assert!(
                dist32(o, (-f64::from(x)).exp().ln_1p() as f32) <= 1,
                "x = {x:e}"
            );
        }
        let x32: Vec<f32> = f32s(0.0, 87.0, 4099, false).collect();
        let mut o32 = vec![0.0; x32.len()];
        // SAFETY: as above.
        unsafe { sp32_unit(&x32, &mut o32) };
        for (&x, &o) in x32.iter().zip(&o32) {
            let want = log1p_unit_f32::<true>(exp_neg_normal_f32::<true>(-x));
            assert_eq!(o.to_bits(), want.to_bits(), "x = {x:e}");
            // Two functions within 0.67 and 1.34 ulp of exact: 2 ulp of the rounded composition.
            assert!(
                dist32(o, (-f64::from(x)).exp().ln_1p() as f32) <= 2,
                "x = {x:e}"
            );
        }
        let x64 = f64s(0.0, 800.0, 0.0, 800.0, 20_000, false);
        let mut o64 = vec![0.0; x64.len()];
        // SAFETY: as above.
        unsafe { sp64_unit(&x64, &mut o64) };
        for (&x, &o) in x64.iter().zip(&o64) {
            let want = log1p_unit_f64::<true>(exp_neg_f64::<true>(-x));
            assert_eq!(o.to_bits(), want.to_bits(), "x = {x:e}");
        }
        let mut o64 = vec![0.0; x64.len()];
        // SAFETY: as above.
        unsafe { sp64(&x64, &mut o64) };
        for (&x, &o) in x64.iter().zip(&o64) {
            let want = log1p_f64::<true>(exp_neg_f64::<true>(-x));
            assert_eq!(o.to_bits(), want.to_bits(), "x = {x:e}");
        }
    }
}
