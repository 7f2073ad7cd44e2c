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
//!   `ln_class` is either, on the argument it reduces; `ln_class_unit`, the same for `p` in
//!   `[0, 1]` without the special-value tests, for the probability loss (which clamps at -100).
//!
//! - `log1p_unit` (the kernels' `log1p(exp(-|x|))`, argument in `[0, 1]`): for `f32`,
//!   `u + u^2 C(u)` with `C` of degree 8 (no division at all); for `f64`, `2 atanh(s)` with
//!   `s = u / (2 + u)` in `[0, 1/3]`, a polynomial of degree 9 in `s^2` and the rounding errors of
//!   `2 + u` and of the division put back with FMA: no exponent split and one division, not two.
//! - `exp_neg_normal_f32` / `exp_neg_split_f32`: `exp` on `[-87, 0]` only (what `f32` kernels see;
//!   larger `|x|` goes to `f64`), scaled by `2^k` in one multiply (`exp_neg_normal_f64` likewise
//!   on `[-708, 0]`, larger `|x|` going to the general `exp_neg_f64`), each with `1 + q` rounded
//!   once. The split form is the same evaluation that also returns what its roundings lost (to
//!   `2^-27.7` relative), for the compensated `f32` input gradient: the normal one is its first
//!   half, so a kernel that computes both pays for one reduction and one polynomial.
//!
//! Accuracy, with and without FMA (measured over every `f32` in the domain against `f64` std, and
//! on 200k samples per function against mpmath for `f64`): at most 0.77 ulp (`exp`), 0.87 ulp
//! (`log1p`), 0.84 ulp (`ln`) for `f32`; 0.76, 0.78, 0.80 ulp for `f64`. Subnormal results of `exp`
//! are rounded once from a normal intermediate (within 0.77 of the smallest subnormal).
//! `log1p_unit_f32`: 1.34 ulp, within 1 ulp of the rounded result (every 37th `f32` in `[0, 1]`,
//! with FMA; without FMA it is `log1p_f32`);
//! `exp_neg_normal_f32`: 1.02 ulp with FMA, 0.99 without (every third `f32` in `[-87, 0]`), within
//! 1 ulp of the rounded result; `exp_neg_normal_f64`: 1.00 ulp against mpmath on 100k arguments of `[-708, 0]`;
//! `log1p_unit_f64`: within 1 ulp of std on 2M samples, 0.60 ulp
//! against mpmath at the worst of those.
//!
//! Cost per element (AVX2+FMA, one core of the development machine's AMD EPYC, n = 1e6, through
//! the engine, fastest and median of runs on a shared machine): mean with-logits loss 0.9-1.6 ns
//! in `f32` and 3.2-4.8 ns in `f64`, with the input gradient 1.4-2.3 ns and 3.7-5.5 ns, against
//! 10-11 ns for the loss with std's scalar functions. Instructions per element (callgrind, which
//! counts them exactly): `f32` loss 9.2, with gradient 12.1; `f64` 24.8 and 28.8.

mod f32;
mod f64;
#[cfg(test)]
mod tests;

pub use self::f32::*;
pub use self::f64::*;

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
