//! The `f64` functions (see the module documentation for their methods and accuracy).

use super::{log_specials_f64, mla64};

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
/// computing it is harmless). The kernels use it where [`crate::formulas::Formula::extreme`]
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
    ln_class_f64::<FMA>(-u, false)
}

/// `ln(p)` where `positive`, else `log1p(-p)`: [`ln_f64`] and [`log1p_f64`] are this function
/// (see [`super::ln_class_f32`]; `c` is the rounding error of `1 + u`, `tiny` scales subnormals).
#[inline(always)]
pub fn ln_class_f64<const FMA: bool>(p: f64, positive: bool) -> f64 {
    ln_class_core_f64::<FMA, false>(p, positive)
}

/// [`ln_class_f64`] for `p` in `[0, 1]` (see [`super::ln_class_unit_f32`]): a zero argument
/// gives -746.5.
#[inline(always)]
pub fn ln_class_unit_f64<const FMA: bool>(p: f64, positive: bool) -> f64 {
    ln_class_core_f64::<FMA, true>(p, positive)
}

/// The two above (see [`super::ln_class_unit_f32`]'s core).
#[inline(always)]
fn ln_class_core_f64<const FMA: bool, const UNIT: bool>(p: f64, positive: bool) -> f64 {
    const TWO_54: f64 = 18_014_398_509_481_984.0;
    let u = -p;
    let m = 1.0 + u;
    let c = u - (m - 1.0);
    let x = if positive { p } else { m };
    let tiny = if UNIT {
        x < f64::MIN_POSITIVE
    } else {
        positive & (p < f64::MIN_POSITIVE)
    };
    let x = if tiny { x * TWO_54 } else { x };
    let (g, kf) = log_reduce_f64(x);
    let kf = if tiny { kf - 54.0 } else { kf };
    let s = g / (2.0 + g);
    let cm = if positive | (UNIT & tiny) { 0.0 } else { c / m };
    let r = log_core_f64::<FMA>(g, s, s * s, kf, cm);
    let r = if UNIT {
        r
    } else {
        log_specials_f64(if positive { p } else { m }, r)
    };
    if !positive & (u == 0.0) {
        u
    } else {
        r
    }
}

/// `ln(p)` within 1 ulp for `p >= 0`, subnormal `p` included (see [`ln_f32`]).
#[inline(always)]
pub fn ln_f64<const FMA: bool>(p: f64) -> f64 {
    ln_class_f64::<FMA>(p, true)
}

/// `exp(x)` as `(hi, lo)` like [`exp_neg_split_f32`], for code generic over the type: `f64`
/// arithmetic needs no more than `f64` precision here, so `lo` is 0 and `hi` is
/// [`exp_neg_normal_f64`] (on its domain).
#[inline(always)]
pub fn exp_neg_split_f64<const FMA: bool>(x: f64) -> (f64, f64) {
    (exp_neg_normal_f64::<FMA>(x), 0.0)
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
