//! From a window to a compiled kernel: the instruction-set level, the compute types, and the kinds
//! of operand, each combination one function.
//!
//! A kernel is specialised for whether weight and pos_weight are constants or slices (two
//! combinations: both constant, both slices; the chunk materialises a constant beside a slice) and,
//! where a gradient is computed, whether the upstream gradient is a constant or a slice. Constants
//! stay in registers: the unweighted loss reads nothing but input and target. On x86-64 the
//! baseline level, a fallback for processors without AVX2 and FMA, takes one kernel for every kind
//! of operand (as the reference level does); on aarch64, where it is the level in use, it is
//! specialised like the others.

use super::kernel::{kernel, Span, Totals};
use super::lanes::{Lane, Run, Splat};
use super::mode::Mode;
use crate::element::{is_narrow, Element, Libm, Poly};
use crate::formulas::Formula;
use crate::simd::Level;

/// A window's weight and pos_weight.
pub(super) enum Weights<'s, T> {
    Constants(T, T),
    Slices(&'s [T], &'s [T]),
}

impl<'s, T: Copy> Weights<'s, T> {
    fn runs(self) -> (Run<'s, T>, Run<'s, T>) {
        match self {
            Weights::Constants(w, pw) => (Run::Const(w), Run::Const(pw)),
            Weights::Slices(w, pw) => (Run::Slice(w), Run::Slice(pw)),
        }
    }
}

/// aarch64's baseline has FMA (and NEON); x86-64's has neither FMA nor AVX.
const BASELINE_HAS_FMA: bool = cfg!(target_arch = "aarch64");

/// Whether a storage type `T`'s derivatives are computed in `f64` on the polynomial path. Losses
/// are computed in the storage type: their two terms never cancel, so a few ulp per operation
/// stay a few ulp. Derivatives can cancel ((1 - y) sigmoid(x) against pw y sigmoid(-x)), which
/// amplifies rounding by the ratio of term to result. For `f32`, the input gradient of a formula
/// that supports it (`Formula::NARROW_INPUT_GRADIENT`) is computed in `f32`, and so is the hessian
/// beside it (a product: nothing cancels): directly where the target is 0 or 1 (one term is zero;
/// within 3 ulp measured), with compensated arithmetic for other targets (within about 1 ulp; its
/// exact products need FMA). Other derivatives are computed in `f64` and rounded once.
const fn wide_gradient<T: Element, F: Formula, Mo: Mode, const FMA: bool>() -> bool {
    let narrow = Mo::INPUT_GRAD && F::NARROW_INPUT_GRADIENT && FMA;
    Mo::ANY_GRAD && !narrow && is_narrow::<T>()
}

/// The polynomial kernel in the compute types `wide_gradient` chooses. The choice is a constant,
/// so only the chosen kernel is compiled.
#[inline(always)]
fn poly<T, F, Mo, const FMA: bool, W, PW, GO>(
    span: Span<'_, T>,
    w: W,
    pw: PW,
    go: GO,
    totals: &mut Totals,
) where
    T: Element,
    F: Formula,
    Mo: Mode,
    W: Lane<T>,
    PW: Lane<T>,
    GO: Lane<T>,
{
    if const { wide_gradient::<T, F, Mo, FMA>() } {
        kernel::<T, T, f64, F, Poly<FMA>, Mo, W, PW, GO>(span, w, pw, go, totals)
    } else {
        kernel::<T, T, T, F, Poly<FMA>, Mo, W, PW, GO>(span, w, pw, go, totals)
    }
}

macro_rules! compiled_for {
    ($(#[$attr:meta])* [$($qualifier:tt)*] $name:ident, $fma:expr) => {
        $(#[$attr])*
        pub(super) $($qualifier)* fn $name<T, F, Mo, W, PW, GO>(
            span: Span<'_, T>,
            w: W,
            pw: PW,
            go: GO,
            totals: &mut Totals,
        )
        where
            T: Element,
            F: Formula,
            Mo: Mode,
            W: Lane<T>,
            PW: Lane<T>,
            GO: Lane<T>,
        {
            poly::<T, F, Mo, { $fma }, W, PW, GO>(span, w, pw, go, totals)
        }
    };
}

compiled_for!(
    /// The polynomial kernels compiled for the baseline instruction set.
    #[inline(never)]
    [] poly_baseline,
    BASELINE_HAS_FMA
);

/// The reference level's kernel: in `f64` with the standard library's functions, one kernel for
/// every kind of operand (speed does not matter here).
#[inline(never)]
fn reference<T: Element, F: Formula, Mo: Mode>(
    span: Span<'_, T>,
    w: Run<'_, T>,
    pw: Run<'_, T>,
    go: Run<'_, T>,
    totals: &mut Totals,
) {
    kernel::<T, f64, f64, F, Libm, Mo, _, _, _>(span, w, pw, go, totals)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    compiled_for!(
        /// The polynomial kernels compiled for AVX2 and FMA: everything `poly` calls is inlined
        /// into this function, and so compiled for that instruction set.
        #[target_feature(enable = "avx2,fma")]
        [unsafe] poly_avx2,
        true
    );

    compiled_for!(
        /// As `poly_avx2`, for AVX-512: the same operations, so the same bits, on wider vectors.
        #[target_feature(enable = "avx512f,avx2,fma")]
        [unsafe] poly_avx512,
        true
    );
}

/// Runs one window at `level`, adding to the chunk's `totals`.
pub(super) fn span<T: Element, F: Formula, Mo: Mode>(
    level: Level,
    span: Span<'_, T>,
    weights: Weights<'_, T>,
    go: Run<'_, T>,
    totals: &mut Totals,
) {
    if level == Level::Scalar {
        let (w, pw) = weights.runs();
        return reference::<T, F, Mo>(span, w, pw, go, totals);
    }
    #[cfg(target_arch = "x86_64")]
    if level == Level::Baseline {
        let (w, pw) = weights.runs();
        return poly_baseline::<T, F, Mo, _, _, _>(span, w, pw, go, totals);
    }
    // `$kernel` for the window's kinds of operand.
    macro_rules! lanes {
        ($kernel:ident) => {{
            macro_rules! with_go {
                ($w:expr, $pw:expr) => {
                    if const { Mo::ANY_GRAD } {
                        match go {
                            Run::Const(g) => {
                                $kernel::<T, F, Mo, _, _, _>(span, $w, $pw, Splat(g), totals)
                            }
                            Run::Slice(g) => $kernel::<T, F, Mo, _, _, _>(span, $w, $pw, g, totals),
                        }
                    } else {
                        $kernel::<T, F, Mo, _, _, _>(span, $w, $pw, Splat(T::ONE), totals)
                    }
                };
            }
            match weights {
                Weights::Constants(w, pw) => with_go!(Splat(w), Splat(pw)),
                Weights::Slices(w, pw) => with_go!(w, pw),
            }
        }};
    }
    #[cfg(target_arch = "x86_64")]
    use x86::{poly_avx2, poly_avx512};
    #[cfg(target_arch = "x86_64")]
    match level {
        // SAFETY: `simd::active()` never returns a level the CPU lacks.
        Level::Avx512 => unsafe { lanes!(poly_avx512) },
        // SAFETY: as above (and the levels below returned already).
        _ => unsafe { lanes!(poly_avx2) },
    }
    #[cfg(not(target_arch = "x86_64"))]
    lanes!(poly_baseline)
}
