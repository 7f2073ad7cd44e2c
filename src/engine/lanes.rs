//! What the block loop reads its operands through, and the small loops around it: lane-wise sums
//! in a fixed order, masks, the hard-label test.

use std::mem::MaybeUninit;

use crate::element::{any_outside_unit, Element};

/// Elements summed in separate accumulators, so that the sum vectorises without reordering.
pub(super) const LANES: usize = 16;
/// Elements per block of the hot loop: a few vectors' worth, kept in L1.
pub(super) const BLOCK: usize = 256;

/// An operand over a window: one value, or one per element.
#[derive(Clone, Copy, Debug)]
pub(super) enum Run<'s, T> {
    Const(T),
    Slice(&'s [T]),
}

impl<'s, T: Copy> Run<'s, T> {
    #[inline(always)]
    pub(super) fn window(self, start: usize, len: usize) -> Run<'s, T> {
        match self {
            Run::Const(v) => Run::Const(v),
            Run::Slice(s) => Run::Slice(&s[start..start + len]),
        }
    }
}

/// Converts between the storage type and a compute type (a no-op when they are the same).
#[inline(always)]
pub(super) fn cast<A: Element, B: Element>(v: A) -> B {
    B::from_f64(v.to_f64())
}

/// An operand along a run, as the block loop reads it: a type per kind, so that each kernel is
/// compiled for the kinds it is given.
pub(super) trait Lane<T>: Copy {
    fn at<R: Element>(self, i: usize) -> R;
    /// The operand over `len` elements from `start`.
    fn window(self, start: usize, len: usize) -> Self;
}

/// One value for every element.
#[derive(Clone, Copy)]
pub(super) struct Splat<T>(pub T);

impl<T: Element> Lane<T> for Splat<T> {
    #[inline(always)]
    fn at<R: Element>(self, _: usize) -> R {
        cast(self.0)
    }
    #[inline(always)]
    fn window(self, _: usize, _: usize) -> Self {
        self
    }
}

impl<T: Element> Lane<T> for &[T] {
    #[inline(always)]
    fn at<R: Element>(self, i: usize) -> R {
        cast(self[i])
    }
    #[inline(always)]
    fn window(self, start: usize, len: usize) -> Self {
        &self[start..start + len]
    }
}

/// Constant or slice, chosen per element: one kernel for every kind of operand, where speed does
/// not matter (the reference level).
impl<T: Element> Lane<T> for Run<'_, T> {
    #[inline(always)]
    fn at<R: Element>(self, i: usize) -> R {
        match self {
            Run::Const(v) => cast(v),
            Run::Slice(s) => cast(s[i]),
        }
    }
    #[inline(always)]
    fn window(self, start: usize, len: usize) -> Self {
        Run::window(self, start, len)
    }
}

/// The per-call scalars of the block loop.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    /// The upstream gradient's scalar factor.
    pub scale: f64,
    /// Label smoothing as `y k + h`: `k = 1 - ε` and `h = ε / 2`, each rounded to the storage type.
    pub keep: f64,
    pub half: f64,
    pub smoothing: bool,
}

impl Params {
    pub(super) fn new<T: Element>(scale: f64, smoothing: f64) -> Self {
        let round = |v: f64| T::from_f64(v).to_f64();
        Params {
            scale,
            keep: round(1.0 - smoothing),
            half: round(smoothing / 2.0),
            smoothing: smoothing != 0.0,
        }
    }
}

/// A smoothed target, `y k + h` fused in `f64` (one rounding), then rounded to the storage type:
/// the same operations at every level and in every kernel (`mul_add` is correctly rounded with
/// or without hardware FMA), so every path sees the same smoothed target.
#[inline(always)]
pub(super) fn smoothed<T: Element>(y: T, params: &Params) -> T {
    T::from_f64(y.to_f64().mul_add(params.keep, params.half))
}

/// The bits of `|y (1 - y)|`, zero exactly for a hard label, 0 or 1 (and -0): for any other
/// `y`, finite or not, it is not, subnormal `y` and `y` next to 1 included. The one test of both
/// block checks below, three operations per vector.
#[inline(always)]
fn label_product<T: Element>(y: T) -> T::Bits {
    (y * (T::ONE - y)).magnitude_bits()
}

/// Whether every target of a block is 0 or 1: an integer OR of [`label_product`]s, which
/// vectorises where a `bool` reduction may not.
#[inline(always)]
pub(super) fn hard_labels<T: Element>(y: &[T]) -> bool {
    let mut soft = T::Bits::default();
    for &v in y {
        soft = soft | label_product(v);
    }
    soft == T::Bits::default()
}

/// Whether no target of a block is 0 or 1: every [`label_product`] non-zero, an integer minimum
/// per vector. Then a narrow input gradient is the compensated form for every element, and the
/// direct one need not be computed. (A separate pass from [`hard_labels`], which the kernels call
/// first: one pass for both cost blocks of hard labels, the usual ones, 4% more instructions.)
#[inline(always)]
pub(super) fn soft_labels<T: Element>(y: &[T]) -> bool {
    // Started from a non-zero product, which leaves the test as it is.
    let least = y.iter().fold(label_product(T::from_f64(0.5)), |least, &v| {
        least.min(label_product(v))
    });
    least > T::Bits::default()
}

/// Scratch space for one block, written before it is read: a block's buffers cost nothing to set
/// up (zeroing them took a fifth of a small call). Aligned to a cache line, so that no vector load
/// or store of it straddles two: left at the alignment of `T`, every 64-byte access of AVX-512
/// did.
#[repr(C, align(64))]
pub(super) struct Scratch<T>([MaybeUninit<T>; BLOCK]);

impl<T: Copy> Scratch<T> {
    #[inline(always)]
    pub(super) fn new() -> Self {
        Scratch([MaybeUninit::uninit(); BLOCK])
    }

    /// Writes `f(v)` for each `v` of `from` (at most `BLOCK` of them) to the first elements and
    /// returns them. Zipped rather than indexed: with an index into `from` the loop kept a scalar
    /// tail of 8 elements in every block of 256 (the bounds check), a tenth of a loss's work.
    #[inline(always)]
    pub(super) fn map<S: Copy>(&mut self, from: &[S], mut f: impl FnMut(S) -> T) -> &mut [T] {
        let slots = &mut self.0[..from.len()];
        for (slot, &v) in slots.iter_mut().zip(from) {
            slot.write(f(v));
        }
        // SAFETY: the first `from.len()` elements were just written.
        unsafe { std::slice::from_raw_parts_mut(slots.as_mut_ptr().cast::<T>(), from.len()) }
    }

    /// [`Scratch::map`] for a function of two results, the first written here, the second to
    /// `other`.
    #[inline(always)]
    pub(super) fn map_pair<'a, S: Copy>(
        &'a mut self,
        other: &'a mut Scratch<T>,
        from: &[S],
        mut f: impl FnMut(S) -> (T, T),
    ) -> (&'a mut [T], &'a mut [T]) {
        let m = from.len();
        let (firsts, seconds) = (&mut self.0[..m], &mut other.0[..m]);
        for ((first, second), &v) in firsts.iter_mut().zip(seconds.iter_mut()).zip(from) {
            let (a, b) = f(v);
            first.write(a);
            second.write(b);
        }
        // SAFETY: the first `m` elements of both were just written.
        unsafe {
            (
                std::slice::from_raw_parts_mut(firsts.as_mut_ptr().cast::<T>(), m),
                std::slice::from_raw_parts_mut(seconds.as_mut_ptr().cast::<T>(), m),
            )
        }
    }

    /// Writes `f(i)` to the first `m` elements and returns them.
    #[inline(always)]
    pub(super) fn fill(&mut self, m: usize, mut f: impl FnMut(usize) -> T) -> &mut [T] {
        let slots = &mut self.0[..m];
        for (i, slot) in slots.iter_mut().enumerate() {
            slot.write(f(i));
        }
        // SAFETY: the first `m` elements were just written.
        unsafe { std::slice::from_raw_parts_mut(slots.as_mut_ptr().cast::<T>(), m) }
    }
}

/// Adds `values` lane-wise into `acc`: value `i` to lane `i % LANES`, in order.
#[inline(always)]
pub(super) fn add_lanes<S: Element>(acc: &mut [f64; LANES], values: &[S]) {
    let groups = values.chunks_exact(LANES);
    let tail = groups.remainder();
    for group in groups {
        for (a, &v) in acc.iter_mut().zip(group) {
            *a += v.to_f64();
        }
    }
    for (a, &v) in acc.iter_mut().zip(tail) {
        *a += v.to_f64();
    }
}

/// The sum of the lanes, pairwise in a fixed order. Not inlined: where the kernel's loop could see
/// this reduction, LLVM kept the accumulators as 128-bit pairs to match its shape, so that adding a
/// block took two 128-bit adds and an extract per four elements instead of one 256-bit add.
#[inline(never)]
pub(super) fn combine_lanes(mut acc: [f64; LANES]) -> f64 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            acc[lane] += acc[lane + width];
        }
    }
    acc[0]
}

/// Zeroes what a block wrote for the elements its mask leaves out (empty slices are outputs the
/// call did not ask for). Outside the formula, so that an absent mask costs one comparison per
/// block; the masking loops themselves are compiled once per type, not into every kernel.
#[inline(always)]
pub(super) fn apply_mask<T: Element, S: Element>(
    mask: Run<'_, bool>,
    outputs: (&mut [T], &mut [T], &mut [T], &mut [S]),
) {
    if !matches!(mask, Run::Const(true)) {
        mask_block(mask, outputs)
    }
}

#[inline(never)]
fn mask_block<T: Element, S: Element>(
    mask: Run<'_, bool>,
    (loss, grad, hess, sums): (&mut [T], &mut [T], &mut [T], &mut [S]),
) {
    match mask {
        Run::Const(true) => {}
        Run::Const(false) => {
            loss.fill(T::ZERO);
            grad.fill(T::ZERO);
            hess.fill(T::ZERO);
            sums.fill(S::ZERO);
        }
        Run::Slice(keep) => {
            for out in [loss, grad, hess] {
                for (v, &k) in out.iter_mut().zip(keep) {
                    *v = if k { *v } else { T::ZERO };
                }
            }
            for (v, &k) in sums.iter_mut().zip(keep) {
                *v = if k { *v } else { S::ZERO };
            }
        }
    }
}

/// Whether a kept element of `values` lies outside `[0, 1]` (NaN included); masked-out elements
/// may hold anything.
#[inline(always)]
pub(super) fn outside_unit_interval<T: Element>(values: &[T], mask: Run<'_, bool>) -> bool {
    match mask {
        Run::Const(false) => false,
        Run::Const(true) => any_outside_unit::<T>(values.iter().map(|v| v.unit_bits())),
        Run::Slice(keep) => any_outside_unit::<T>(values.iter().zip(keep).map(|(v, &k)| {
            // a masked-out value counts as 0, which is inside
            if k {
                v.unit_bits()
            } else {
                T::Bits::default()
            }
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hard_labels`' product test says "hard" for exactly 0, 1 and -0: any other target in the
    /// block, however close to 0 or 1 or however large, makes the block soft (a wrong "hard"
    /// would skip the compensated gradient that soft labels need).
    #[test]
    fn hard_and_soft_labels_are_told_apart_exactly() {
        fn check<T: Element + std::fmt::Debug>(near: &[f64]) {
            let hard: Vec<T> = [0.0, 1.0, -0.0, 1.0, 0.0]
                .iter()
                .map(|&v| T::from_f64(v))
                .collect();
            assert!(hard_labels(&hard));
            let specials = [
                0.5,
                2.0,
                -1.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                f64::MAX,
                -f64::MAX,
            ];
            for &odd in near.iter().chain(&specials) {
                let mut block = hard.clone();
                block[2] = T::from_f64(odd);
                assert!(!hard_labels(&block), "{odd:e} taken as hard");
                // `soft_labels` is the same product test the other way round: a block of `odd`
                // alone is soft, and one hard label among soft ones makes it mixed.
                let soft = vec![T::from_f64(odd); 5];
                assert!(soft_labels(&soft), "{odd:e} taken as hard");
                for &label in &hard {
                    let mut mixed = soft.clone();
                    mixed[3] = label;
                    assert!(!soft_labels(&mixed), "{label:?} taken as soft");
                }
            }
            assert!(!soft_labels(&hard));
        }
        let tiny32 = f64::from(f32::from_bits(1));
        check::<f32>(&[
            tiny32,
            -tiny32,
            1.0 - 2f64.powi(-24),
            1.0 + 2f64.powi(-23),
            f64::from(f32::MIN_POSITIVE),
        ]);
        let tiny64 = f64::from_bits(1);
        check::<f64>(&[
            tiny64,
            -tiny64,
            1.0 - 2f64.powi(-53),
            1.0 + 2f64.powi(-52),
            f64::MIN_POSITIVE,
        ]);
    }

    /// Values on both sides of every edge the block range tests draw: 0, -0, 1, the tiniest
    /// subnormals, the logit bounds 80 and 708, infinities, NaN of both signs.
    fn edges<T: Element>() -> Vec<T> {
        let mut v = vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            -0.5,
            2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
        ];
        for edge in [1.0f64, 80.0, 708.0] {
            let t = T::from_f64(edge).to_f64();
            // the neighbours of the edge in T
            let ulp = if std::mem::size_of::<T>() == 4 {
                f64::from(f32::EPSILON)
            } else {
                f64::EPSILON
            } * edge;
            v.extend([t, t + ulp, t - ulp / 2.0, -t, -(t + ulp)]);
        }
        let tiny = if std::mem::size_of::<T>() == 4 {
            f64::from(f32::from_bits(1))
        } else {
            f64::from_bits(1)
        };
        v.extend([tiny, -tiny]);
        v.into_iter().map(T::from_f64).collect()
    }

    /// The integer-max range test gives what the comparisons give, for each value alone and with
    /// a mask, and a block of in-range values beside one of them says what that one says.
    #[test]
    fn outside_unit_interval_is_the_comparison() {
        fn check<T: Element + std::fmt::Debug>() {
            for v in edges::<T>() {
                let outside = !((v >= T::ZERO) & (v <= T::ONE));
                let block = [T::from_f64(0.25), v, T::ONE, T::from_f64(-0.0)];
                assert_eq!(
                    outside_unit_interval(&block, Run::Const(true)),
                    outside,
                    "{v:?}"
                );
                let keep = [true, false, true, true];
                assert!(
                    !outside_unit_interval(&block, Run::Slice(&keep)),
                    "{v:?} masked"
                );
                assert!(
                    !outside_unit_interval(&block, Run::Const(false)),
                    "{v:?} all masked"
                );
            }
        }
        check::<f32>();
        check::<f64>();
    }

    /// `Formula::any_extreme` (integer maxima) says what `Formula::extreme` says of any element,
    /// in both compute types, whatever its neighbours.
    #[test]
    fn any_extreme_is_the_element_test_of_a_block() {
        use crate::formulas::{Formula, WithLogits};
        fn check<T: Element + std::fmt::Debug, R: Element>() {
            let values = edges::<T>();
            let plain = T::from_f64(0.25);
            for &x in &values {
                for &y in &values {
                    let one = WithLogits::extreme::<R, T>(x, y);
                    let xs = [plain, x, plain];
                    let ys = [plain, y, T::ONE];
                    assert_eq!(
                        WithLogits::any_extreme::<R, T>(&xs, &ys),
                        one,
                        "x {x:?}, y {y:?}"
                    );
                }
            }
        }
        check::<f32, f32>();
        check::<f32, f64>();
        check::<f64, f64>();
    }
}
