//! The floating-point types the kernels read, write and compute in, and the two ways they evaluate
//! elementary functions.
//!
//! A formula is written once, generically over `R: Element` and `M: Math`. The reference path
//! evaluates it in `f64` with the standard library (`Libm`), rounding once to the storage type; the
//! fast paths evaluate it in the storage type itself with the branch-free polynomials of
//! [`crate::vmath`] (`Poly`), which the compiler vectorises.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::vmath;

/// Whether `R` is narrower than `f64`: computed in it, terms that cancel need care, and values
/// past its normal range are better computed in `f64`.
#[inline(always)]
pub const fn is_narrow<R: Element>() -> bool {
    std::mem::size_of::<R>() < std::mem::size_of::<f64>()
}

pub trait Element:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    /// The bits of a value, as a signed integer of its width (magnitudes leave the sign bit clear,
    /// and AVX2 has a signed 64-bit comparison but no unsigned one).
    type Bits: Copy + Default + Ord + std::ops::BitOr<Output = Self::Bits> + Send + Sync;
    /// The bits of `|self|`: ordered as the magnitudes are, with NaN above infinity. One integer
    /// operation, so that a kernel can test a whole block with an integer max or OR.
    fn magnitude_bits(self) -> Self::Bits;
    /// The bits of `self + 0` as a signed integer: `-0` becomes `+0`, so that the values of
    /// `[0, 1]` are exactly those whose bits lie in `[0, ONE's]` (negative values and NaN with
    /// the sign bit below, values past 1 and other NaN above): a block's range test is an integer
    /// min and max.
    fn unit_bits(self) -> Self::Bits;
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
    fn abs(self) -> Self;
    fn max(self, other: Self) -> Self;

    fn libm_exp(self) -> Self;
    fn libm_ln_1p(self) -> Self;
    fn libm_ln(self) -> Self;
    fn poly_exp_neg<const FMA: bool>(self) -> Self;
    fn poly_log1p<const FMA: bool>(self) -> Self;
    fn poly_ln<const FMA: bool>(self) -> Self;
    fn poly_ln_class_unit<const FMA: bool>(self, positive: bool) -> Self;
    fn poly_exp_neg_split<const FMA: bool>(self) -> (Self, Self);
    fn poly_log1p_unit<const FMA: bool>(self) -> Self;
    fn fused_mul_add(self, b: Self, c: Self) -> Self;
}

/// Whether any of `bits` (the [`Element::unit_bits`] of some values) is that of a value outside
/// `[0, 1]`: an integer min and max per vector, where comparisons to booleans took a pack and an
/// OR as well. The one range test of the kernels' block checks.
#[inline(always)]
pub fn any_outside_unit<T: Element>(bits: impl Iterator<Item = T::Bits>) -> bool {
    let zero = T::Bits::default();
    let (low, high) = bits.fold((zero, zero), |(low, high), b| (low.min(b), high.max(b)));
    low < zero || high > T::ONE.unit_bits()
}

macro_rules! element {
    (
        $t:ty,
        $bits:ty,
        $exp_neg:ident,
        $log1p:ident,
        $ln:ident,
        $ln_class_unit:ident,
        $exp_neg_split:ident,
        $log1p_unit:ident
    ) => {
        impl Element for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            type Bits = $bits;
            #[inline(always)]
            fn magnitude_bits(self) -> $bits {
                self.abs().to_bits() as $bits
            }
            #[inline(always)]
            fn unit_bits(self) -> $bits {
                (self + 0.0).to_bits() as $bits
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(value: f64) -> Self {
                value as $t
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                if self > other {
                    self
                } else {
                    other
                }
            }
            #[inline(always)]
            fn libm_exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn libm_ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn libm_ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn poly_exp_neg<const FMA: bool>(self) -> Self {
                vmath::$exp_neg::<FMA>(self)
            }
            #[inline(always)]
            fn poly_log1p<const FMA: bool>(self) -> Self {
                vmath::$log1p::<FMA>(self)
            }
            #[inline(always)]
            fn poly_ln<const FMA: bool>(self) -> Self {
                vmath::$ln::<FMA>(self)
            }
            #[inline(always)]
            fn poly_ln_class_unit<const FMA: bool>(self, positive: bool) -> Self {
                vmath::$ln_class_unit::<FMA>(self, positive)
            }
            #[inline(always)]
            fn poly_exp_neg_split<const FMA: bool>(self) -> (Self, Self) {
                vmath::$exp_neg_split::<FMA>(self)
            }
            #[inline(always)]
            fn poly_log1p_unit<const FMA: bool>(self) -> Self {
                vmath::$log1p_unit::<FMA>(self)
            }
            #[inline(always)]
            fn fused_mul_add(self, b: Self, c: Self) -> Self {
                <$t>::mul_add(self, b, c)
            }
        }
    };
}

element!(
    f32,
    i32,
    exp_neg_f32,
    log1p_f32,
    ln_f32,
    ln_class_unit_f32,
    exp_neg_split_f32,
    log1p_unit_f32
);
element!(
    f64,
    i64,
    exp_neg_f64,
    log1p_f64,
    ln_f64,
    ln_class_unit_f64,
    exp_neg_split_f64,
    log1p_unit_f64
);

/// How elementary functions are evaluated.
pub trait Math: Copy + Send + Sync + 'static {
    /// `exp(x)` for `x <= 0`.
    fn exp_neg<R: Element>(x: R) -> R;
    /// `log1p(u)` for `u` in `[-1, 1]`.
    fn log1p<R: Element>(u: R) -> R;
    /// `ln(p)` for `p` in `[0, 1]`.
    fn ln<R: Element>(p: R) -> R;
    /// `ln(p)` where `positive`, else `log1p(-p)`, for `p` in `[0, 1]`: the same bits as `ln`
    /// and `log1p` give, for the price of one, except that where the logarithm's argument is
    /// zero the result may be any value below -100 instead of `-inf` (for a loss that clamps
    /// there; `vmath::ln_class_unit_f32`).
    fn ln_class_unit<R: Element>(p: R, positive: bool) -> R;
    /// `exp(x)` for `x <= 0` as an unevaluated sum `hi + lo`: `hi` is the kernels' exponential,
    /// and `lo` what its roundings lost where `R` needs more precision (`f32`, with FMA; else
    /// `0`). Where `NORMAL_RANGE_ONLY`, only for results normal in `R` (`x >= -87` for `f32`,
    /// `-708` for `f64`); else for any `x <= 0`. The kernels meet larger `|x|` only for elements
    /// that `Formula::extreme` sends to [`Full`], whose first results are discarded. One
    /// function for both halves, so that a loss computed alone (which drops `lo`) is the same
    /// bits as one computed beside a gradient that needs `lo`.
    fn exp_neg_split<R: Element>(x: R) -> (R, R);
    /// Whether `exp_neg_split` is limited to normal results. The kernels keep what they compute
    /// with such an `M` only for elements that `Formula::extreme` passes, finite
    /// ones, so a formula may then leave out what only infinite inputs need.
    const NORMAL_RANGE_ONLY: bool;
    /// `log1p(u)` for `u` in `[0, 1]`.
    fn log1p_unit<R: Element>(u: R) -> R;
    /// `a * b + c`, fused where the hardware has it.
    fn mul_add<R: Element>(a: R, b: R, c: R) -> R;
}

/// The standard library's functions: the reference path.
#[derive(Clone, Copy, Debug)]
pub struct Libm;

/// Branch-free polynomials that vectorise; `FMA` only where the code is compiled for it (without
/// hardware FMA, `mul_add` is a slow library call).
#[derive(Clone, Copy, Debug)]
pub struct Poly<const FMA: bool>;

/// `M` with `exp_neg_split` over the whole range: what the kernels recompute extreme blocks with.
#[derive(Clone, Copy, Debug)]
pub struct Full<M>(std::marker::PhantomData<M>);

impl<M: Math> Math for Full<M> {
    const NORMAL_RANGE_ONLY: bool = false;
    #[inline(always)]
    fn exp_neg<R: Element>(x: R) -> R {
        M::exp_neg(x)
    }
    #[inline(always)]
    fn log1p<R: Element>(u: R) -> R {
        M::log1p(u)
    }
    #[inline(always)]
    fn ln<R: Element>(p: R) -> R {
        M::ln(p)
    }
    #[inline(always)]
    fn ln_class_unit<R: Element>(p: R, positive: bool) -> R {
        M::ln_class_unit(p, positive)
    }
    /// The whole range, in `f64` (what `Full` computes in), which needs no `lo`.
    #[inline(always)]
    fn exp_neg_split<R: Element>(x: R) -> (R, R) {
        (M::exp_neg(x), R::ZERO)
    }
    #[inline(always)]
    fn log1p_unit<R: Element>(u: R) -> R {
        M::log1p_unit(u)
    }
    #[inline(always)]
    fn mul_add<R: Element>(a: R, b: R, c: R) -> R {
        M::mul_add(a, b, c)
    }
}

impl Math for Libm {
    const NORMAL_RANGE_ONLY: bool = false;
    #[inline(always)]
    fn exp_neg<R: Element>(x: R) -> R {
        x.libm_exp()
    }
    #[inline(always)]
    fn log1p<R: Element>(u: R) -> R {
        u.libm_ln_1p()
    }
    #[inline(always)]
    fn ln<R: Element>(p: R) -> R {
        p.libm_ln()
    }
    #[inline(always)]
    fn ln_class_unit<R: Element>(p: R, positive: bool) -> R {
        if positive {
            p.libm_ln()
        } else {
            (-p).libm_ln_1p()
        }
    }
    #[inline(always)]
    fn exp_neg_split<R: Element>(x: R) -> (R, R) {
        (x.libm_exp(), R::ZERO)
    }
    #[inline(always)]
    fn log1p_unit<R: Element>(u: R) -> R {
        u.libm_ln_1p()
    }
    #[inline(always)]
    fn mul_add<R: Element>(a: R, b: R, c: R) -> R {
        a * b + c
    }
}

impl<const FMA: bool> Math for Poly<FMA> {
    const NORMAL_RANGE_ONLY: bool = true;
    #[inline(always)]
    fn exp_neg<R: Element>(x: R) -> R {
        x.poly_exp_neg::<FMA>()
    }
    #[inline(always)]
    fn log1p<R: Element>(u: R) -> R {
        u.poly_log1p::<FMA>()
    }
    #[inline(always)]
    fn ln<R: Element>(p: R) -> R {
        p.poly_ln::<FMA>()
    }
    #[inline(always)]
    fn ln_class_unit<R: Element>(p: R, positive: bool) -> R {
        p.poly_ln_class_unit::<FMA>(positive)
    }
    #[inline(always)]
    fn exp_neg_split<R: Element>(x: R) -> (R, R) {
        x.poly_exp_neg_split::<FMA>()
    }
    #[inline(always)]
    fn log1p_unit<R: Element>(u: R) -> R {
        u.poly_log1p_unit::<FMA>()
    }
    #[inline(always)]
    fn mul_add<R: Element>(a: R, b: R, c: R) -> R {
        if FMA {
            a.fused_mul_add(b, c)
        } else {
            a * b + c
        }
    }
}
