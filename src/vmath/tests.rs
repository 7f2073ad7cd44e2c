//! Accuracy of every function against the standard library (`f32`: every `stride`-th value of
//! the domain; `f64`: samples), edge values, and vectorised against scalar evaluation.

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

/// How much sparser the sweeps are in unoptimised builds (the README's `cargo test`), where they
/// take ten times as long: every point of the domain's ends and edges is still there, the interior
/// is sampled more thinly. `cargo test --release --lib` (which CI runs) sweeps at full density.
/// Odd, so that the `f32` sweeps' odd strides stay odd and still visit patterns of both parities.
const SPARSER: usize = if cfg!(debug_assertions) { 9 } else { 1 };

/// Every `stride`-th `f32` bit pattern from `lo` to `hi` (inclusive), with sign `sign`.
fn f32s(lo: f32, hi: f32, stride: u32, negative: bool) -> impl Iterator<Item = f32> {
    let sign = if negative { 0x8000_0000 } else { 0 };
    (lo.to_bits()..=hi.to_bits())
        .step_by(stride as usize * SPARSER)
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
    let n = n.div_ceil(SPARSER);
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

/// `hi + lo` is `exp(x)` to `2^-27.5` relative (`2^-27.7` measured), `lo` within an ulp of `hi`
/// (with FMA).
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
        let ulp = f64::from(hi) * f64::from(f32::EPSILON);
        assert!(f64::from(lo).abs() <= ulp, "x = {x:e}: lo = {lo:e}");
    }
    let (rel, x) = worst;
    assert!(
        rel < 2f64.powf(-27.5),
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

/// `ln_class_unit` is `ln_class` on `[0, 1]` where the logarithm's argument is not zero, bit for
/// bit, and below -100 where it is (`p = 0` for `ln`, `p = 1` for `log1p(-p)`), with and without
/// FMA: a loss clamped at -100 gets the same bits from either.
#[test]
fn ln_class_unit_is_ln_class_on_the_unit_interval() {
    macro_rules! check {
        ($ps:expr, $full:ident, $unit:ident, $fma:literal) => {
            for p in $ps {
                for positive in [true, false] {
                    let want = $full::<$fma>(p, positive);
                    let got = $unit::<$fma>(p, positive);
                    let argument_zero = if positive { p == 0.0 } else { p == 1.0 };
                    let what = concat!(stringify!($unit), "::<", stringify!($fma), ">");
                    if argument_zero {
                        assert!(got < -100.0, "{what}({p:e}, {positive}) = {got:e}");
                    } else {
                        assert_eq!(got.to_bits(), want.to_bits(), "{what}({p:e}, {positive})");
                    }
                }
            }
        };
    }
    // Every 31st f32 in [0, 1] (subnormals, tiny, next to 1), and 0 and 1.
    let p32 = || f32s(0.0, 1.0, 31, false).chain([0.0, 1.0]);
    check!(p32(), ln_class_f32, ln_class_unit_f32, false);
    check!(p32(), ln_class_f32, ln_class_unit_f32, true);
    let p64 = f64s(0.0, 1.0, 0.0, 1.0, 100_000, false);
    let edges = [
        0.0,
        1.0,
        f64::from_bits(1),
        f64::MIN_POSITIVE,
        1.0 - f64::EPSILON / 2.0,
    ];
    let p64 = || p64.iter().copied().chain(edges);
    check!(p64(), ln_class_f64, ln_class_unit_f64, false);
    check!(p64(), ln_class_f64, ln_class_unit_f64, true);
}
