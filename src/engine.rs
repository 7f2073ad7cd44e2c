//! The driver: validates a problem, splits it into fixed-size chunks, runs the per-element formula
//! over each chunk (in parallel when large) and combines the chunk sums in a fixed order.
//!
//! Chunk boundaries depend only on the element count, never on the number of threads, and each
//! chunk is summed sequentially in `f64`: `mean` and `sum` are bit-identical for any thread count.

use crate::broadcast::{element_count, Operand, Plan, Run, OPERANDS};
use crate::element::{is_narrow, Element, Full, Libm, Math, Poly};
use crate::error::KernelError;
use crate::formulas::Formula;
use crate::pool;
use crate::simd::{self, Level};

/// Elements per chunk: the unit of parallel work and of the deterministic reduction.
pub const CHUNK: usize = 1 << 14;
/// Runs shorter than this (the input's simplified last dimension) are gathered into windows
/// (`Chunk::run`).
const GATHER_BELOW: usize = 1024;
/// Elements per gathered window.
const WINDOW: usize = 1024;

/// Which partial derivative a gradient is taken with respect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrt {
    Input,
    Target,
}

/// One call's data: the input's shape, input and target (C-contiguous, of that shape) and the
/// broadcast operands. Absent operands are `Operand::Const(1)`.
#[derive(Clone, Copy, Debug)]
pub struct Problem<'a, T> {
    pub shape: &'a [usize],
    pub input: &'a [T],
    pub target: &'a [T],
    pub weight: Operand<'a, T>,
    pub pos_weight: Operand<'a, T>,
    /// The upstream gradient per element (reduction "none"); multiplied by `grad_scale`.
    pub grad_output: Operand<'a, T>,
    /// The scalar upstream gradient (and the 1/N of a mean), applied in `f64`.
    pub grad_scale: f64,
    /// Which elements count: where it is zero, an element adds nothing to a sum and its loss,
    /// gradient and hessian are zero, whatever its values (NaN included).
    pub mask: Operand<'a, T>,
    /// ε of label smoothing: the target `y` becomes `y (1 - ε) + ε / 2`, formed in the storage
    /// type's precision. 0 leaves targets as they are.
    pub label_smoothing: f64,
}

/// What becomes of the per-element losses.
#[derive(Debug, Default)]
pub enum LossOut<'a, T> {
    /// Not computed (a gradient alone).
    #[default]
    Skip,
    /// Written per element (reduction "none").
    Each(&'a mut [T]),
    /// Summed, and the sum returned (reductions "mean" and "sum").
    Sum,
}

/// What to compute. Every requested output has the input's number of elements.
#[derive(Debug, Default)]
pub struct Request<'a, T> {
    pub loss: LossOut<'a, T>,
    /// A gradient and what it is taken with respect to.
    pub grad: Option<(&'a mut [T], Wrt)>,
    /// The second derivative with respect to the input, beside a gradient with respect to the
    /// input and no loss (what gradient boosting asks for).
    pub hess: Option<&'a mut [T]>,
}

impl<'a, T: Element> Problem<'a, T> {
    /// A problem with no weight, no pos_weight and a unit upstream gradient.
    pub fn new(shape: &'a [usize], input: &'a [T], target: &'a [T]) -> Self {
        let one = T::from_f64(1.0);
        Problem {
            shape,
            input,
            target,
            weight: Operand::Const(one),
            pos_weight: Operand::Const(one),
            grad_output: Operand::Const(one),
            grad_scale: 1.0,
            mask: Operand::Const(one),
            label_smoothing: 0.0,
        }
    }
}

// What the loss output of a span is: skipped, written per element, or summed.
const LOSS_SKIP: u8 = 0;
const LOSS_EACH: u8 = 1;
const LOSS_SUM: u8 = 2;
// Which gradient a span writes.
const GRAD_NONE: u8 = 0;
const GRAD_INPUT: u8 = 1;
const GRAD_TARGET: u8 = 2;
// The gradient with respect to the input and the hessian.
const GRAD_HESS: u8 = 3;

/// Calls `$body` with `$name` bound to the run as a concrete `Lane`, one instantiation per kind.
macro_rules! with_lane {
    ($run:expr, $name:ident => $body:expr) => {
        match $run {
            Run::Const(v) => {
                let $name = Splat(v);
                $body
            }
            Run::Slice(s) => {
                let $name = s;
                $body
            }
        }
    };
}

/// Calls `$call!(LOSS, GRAD)` with the run-time modes turned into constants.
macro_rules! with_modes {
    ($loss:expr, $grad:expr, $call:ident) => {
        match ($loss, $grad) {
            (LOSS_EACH, GRAD_NONE) => $call!(LOSS_EACH, GRAD_NONE),
            (LOSS_SUM, GRAD_NONE) => $call!(LOSS_SUM, GRAD_NONE),
            (LOSS_SKIP, GRAD_INPUT) => $call!(LOSS_SKIP, GRAD_INPUT),
            (LOSS_EACH, GRAD_INPUT) => $call!(LOSS_EACH, GRAD_INPUT),
            (LOSS_SUM, GRAD_INPUT) => $call!(LOSS_SUM, GRAD_INPUT),
            (LOSS_SKIP, GRAD_TARGET) => $call!(LOSS_SKIP, GRAD_TARGET),
            (LOSS_EACH, GRAD_TARGET) => $call!(LOSS_EACH, GRAD_TARGET),
            (LOSS_SUM, GRAD_TARGET) => $call!(LOSS_SUM, GRAD_TARGET),
            (LOSS_SKIP, GRAD_HESS) => $call!(LOSS_SKIP, GRAD_HESS),
            // Nothing requested; `evaluate` returns before reaching here.
            _ => 0.0,
        }
    };
}

/// Evaluates `problem` with formula `F`, writing what `request` asks for; returns the sum of the
/// losses for `LossOut::Sum` (else 0).
pub fn evaluate<T: Element, F: Formula>(
    problem: &Problem<'_, T>,
    request: Request<'_, T>,
) -> Result<f64, KernelError> {
    let n = element_count(problem.shape)?;
    let check_len = |what: &'static str, got: usize| {
        if got == n {
            Ok(())
        } else {
            Err(KernelError::Length {
                what,
                expected: n,
                got,
            })
        }
    };
    check_len("input", problem.input.len())?;
    check_len("target", problem.target.len())?;
    if let LossOut::Each(loss) = &request.loss {
        check_len("loss output", loss.len())?;
    }
    if let Some((grad, _)) = &request.grad {
        check_len("gradient output", grad.len())?;
    }
    if let Some(hess) = &request.hess {
        check_len("hessian output", hess.len())?;
        let with_input_grad = matches!(request.grad, Some((_, Wrt::Input)));
        if !with_input_grad || !matches!(request.loss, LossOut::Skip) {
            return Err(KernelError::Unsupported {
                what: "a hessian is computed beside the input gradient alone",
            });
        }
    }
    let plan = Plan::new(
        problem.shape,
        [
            ("weight", &problem.weight),
            ("pos_weight", &problem.pos_weight),
            ("grad_output", &problem.grad_output),
            ("mask", &problem.mask),
        ],
    )?;
    if F::NEEDS_PROBABILITIES {
        check_unit_interval("input", problem.input, &plan, &problem.mask)?;
        check_unit_interval("target", problem.target, &plan, &problem.mask)?;
    }

    let (loss_mode, loss_each) = match request.loss {
        LossOut::Skip => (LOSS_SKIP, None),
        LossOut::Each(out) => (LOSS_EACH, Some(out)),
        LossOut::Sum => (LOSS_SUM, None),
    };
    let grad_mode = match (&request.grad, &request.hess) {
        (None, _) => GRAD_NONE,
        (Some((_, Wrt::Input)), None) => GRAD_INPUT,
        (Some((_, Wrt::Input)), Some(_)) => GRAD_HESS,
        (Some((_, Wrt::Target)), _) => GRAD_TARGET,
    };
    if loss_mode == LOSS_SKIP && grad_mode == GRAD_NONE {
        return Ok(0.0);
    }

    let chunks = n.div_ceil(CHUNK);
    let loss_parts = split(loss_each, chunks);
    let grad_parts = split(request.grad.map(|(g, _)| g), chunks);
    let hess_parts = split(request.hess, chunks);
    let tasks: Vec<_> = loss_parts
        .into_iter()
        .zip(grad_parts)
        .zip(hess_parts)
        .enumerate()
        .collect();
    let level = simd::active();
    let sums = pool::map_ordered(tasks, |(index, ((loss, grad), hess))| {
        let chunk = Chunk {
            problem,
            plan: &plan,
            index,
            loss_mode,
            grad_mode,
            loss,
            grad,
            hess,
        };
        chunk.run::<F>(level)
    })?;
    // Folded from +0.0: `Sum` for floats starts at -0.0, and an empty sum must be +0.0.
    Ok(sums.iter().fold(0.0, |a, b| a + b))
}

/// Splits an optional output into per-chunk pieces (or as many `None`s).
fn split<T>(out: Option<&mut [T]>, chunks: usize) -> Vec<Option<&mut [T]>> {
    match out {
        Some(s) => s.chunks_mut(CHUNK).map(Some).collect(),
        None => (0..chunks).map(|_| None).collect(),
    }
}

/// Whether every element the mask keeps lies in `[0, 1]` (NaN does not): masked-out elements may
/// hold anything, as they do for every other purpose.
fn check_unit_interval<T: Element>(
    what: &'static str,
    data: &[T],
    plan: &Plan,
    mask: &Operand<'_, T>,
) -> Result<(), KernelError> {
    // `&` rather than `&&` keeps the loops branch-free, so they vectorise.
    let in_range = |v: T| (v >= T::ZERO) & (v <= T::ONE);
    let chunks = data.len().div_ceil(CHUNK);
    let inner = plan.inner_strides()[3];
    let ok = pool::map_ordered((0..chunks).collect(), |index| {
        let (start, end) = (index * CHUNK, ((index + 1) * CHUNK).min(data.len()));
        if let Operand::Const(keep) = mask {
            return *keep == T::ZERO
                || data[start..end]
                    .iter()
                    .fold(true, |ok, &v| ok & in_range(v));
        }
        let mut ok = true;
        plan.for_each_run(start, end, |position, len, offsets| {
            let values = &data[position..position + len];
            ok &= match mask.run(offsets[3], inner, len) {
                Run::Const(keep) => {
                    keep == T::ZERO || values.iter().fold(true, |ok, &v| ok & in_range(v))
                }
                Run::Slice(keep) => values
                    .iter()
                    .zip(keep)
                    .fold(true, |ok, (&v, &k)| ok & ((k == T::ZERO) | in_range(v))),
            };
        });
        ok
    })?;
    if ok.into_iter().all(|ok| ok) {
        Ok(())
    } else {
        Err(KernelError::OutOfUnitInterval { what })
    }
}

/// One chunk of a call, with what it writes.
struct Chunk<'a, 'p, T> {
    problem: &'a Problem<'p, T>,
    plan: &'a Plan,
    index: usize,
    loss_mode: u8,
    grad_mode: u8,
    loss: Option<&'a mut [T]>,
    grad: Option<&'a mut [T]>,
    hess: Option<&'a mut [T]>,
}

impl<T: Element> Chunk<'_, '_, T> {
    /// Walks the chunk's runs and hands each to the kernel for the run's operands, the requested
    /// outputs and the instruction-set level. Where runs are short (a last dimension of a few
    /// classes, with one pos_weight per class or one weight per row), a kernel call per run would
    /// cost more than its elements (35 times a plain call's time for 3 classes): the chunk is then
    /// taken in windows of `WINDOW` elements, each operand that is an array materialised for the
    /// window, and the kernel called once per window.
    fn run<F: Formula>(self, level: Level) -> f64 {
        let Chunk {
            problem,
            plan,
            index,
            loss_mode,
            grad_mode,
            mut loss,
            mut grad,
            mut hess,
        } = self;
        let start = index * CHUNK;
        let end = (start + CHUNK).min(plan.len());
        let inner = plan.inner_strides();
        let operands = [
            &problem.weight,
            &problem.pos_weight,
            &problem.grad_output,
            &problem.mask,
        ];
        let extent = plan.inner_extent();
        let mut sum = 0.0;
        // The kernel over `len` elements from `position`, with the operands' runs there.
        let mut kernel = |position: usize, len: usize, runs: [Run<'_, T>; OPERANDS]| {
            let local = position - start;
            let span = Span {
                x: &problem.input[position..position + len],
                y: &problem.target[position..position + len],
                scale: problem.grad_scale,
                smoothing: problem.label_smoothing,
                mask: runs[3],
                loss: loss.as_deref_mut().map(|l| &mut l[local..local + len]),
                grad: grad.as_deref_mut().map(|g| &mut g[local..local + len]),
                hess: hess.as_deref_mut().map(|h| &mut h[local..local + len]),
            };
            let operands = Operands {
                w: runs[0],
                pw: runs[1],
                go: runs[2],
            };
            macro_rules! call {
                ($l:ident, $g:ident) => {
                    span.at_level::<F, $l, $g>(level, operands)
                };
            }
            sum += with_modes!(loss_mode, grad_mode, call);
        };
        if extent >= GATHER_BELOW {
            plan.for_each_run(start, end, |position, len, offsets| {
                kernel(
                    position,
                    len,
                    std::array::from_fn(|k| operands[k].run(offsets[k], inner[k], len)),
                );
            });
            return sum;
        }
        // Per operand: a constant stays one; one that varies along the last dimension only is a
        // window into a tile of its values repeated (built once); any other array is gathered run
        // by run into a buffer.
        let tiled: [bool; OPERANDS] = std::array::from_fn(|k| plan.varies_along_inner_only(k));
        let gathered: [bool; OPERANDS] =
            std::array::from_fn(|k| matches!(operands[k], Operand::Array { .. }) && !tiled[k]);
        let window = WINDOW.min(end - start);
        let mut buffers: [Vec<T>; OPERANDS] = std::array::from_fn(|k| match operands[k] {
            Operand::Array { data, .. } if tiled[k] => {
                let mut tile = Vec::with_capacity(window + 2 * extent);
                while tile.len() < window + extent {
                    tile.extend_from_slice(&data[..extent]);
                }
                tile
            }
            _ if gathered[k] => vec![T::ZERO; window],
            _ => Vec::new(),
        });
        let mut position = start;
        while position < end {
            let len = (end - position).min(window);
            for (k, buffer) in buffers.iter_mut().enumerate() {
                if let (true, Operand::Array { data, .. }) = (gathered[k], operands[k]) {
                    plan.gather(k, data, position, &mut buffer[..len]);
                }
            }
            let phase = position % extent;
            let runs = std::array::from_fn(|k| match *operands[k] {
                Operand::Const(v) => Run::Const(v),
                Operand::Array { .. } if tiled[k] => Run::Slice(&buffers[k][phase..phase + len]),
                Operand::Array { .. } => Run::Slice(&buffers[k][..len]),
            });
            kernel(position, len, runs);
            position += len;
        }
        sum
    }
}

/// A run's weight, pos_weight and upstream gradient.
#[derive(Clone, Copy)]
struct Operands<'s, T> {
    w: Run<'s, T>,
    pw: Run<'s, T>,
    go: Run<'s, T>,
}

/// aarch64's baseline has FMA (and NEON); x86-64's has neither FMA nor AVX.
const BASELINE_HAS_FMA: bool = cfg!(target_arch = "aarch64");

/// Whether a storage type `T`'s `GRAD` is computed in `f64` on the polynomial path. Losses are
/// computed in the storage type: their two terms never cancel, so a few ulp per operation stay a
/// few ulp. Gradients can cancel ((1 - y) sigmoid(x) against pw y sigmoid(-x)), which amplifies
/// rounding by the ratio of term to result. For `f32`, the input gradient of a formula that
/// supports it (`Formula::NARROW_INPUT_GRADIENT`) is computed in `f32`, and so is the hessian
/// beside it (a product: nothing cancels): directly where the target is 0 or 1 (one term is zero;
/// within 3 ulp measured), with compensated arithmetic for other targets (within about 1 ulp; its
/// exact products need FMA). Other gradients are computed in `f64` and rounded once.
const fn wide_gradient<T: Element, F: Formula, const FMA: bool, const GRAD: u8>() -> bool {
    let narrow_grad = (GRAD == GRAD_INPUT || GRAD == GRAD_HESS) && F::NARROW_INPUT_GRADIENT && FMA;
    GRAD != GRAD_NONE && !narrow_grad && is_narrow::<T>()
}

/// The polynomial kernel in the compute type `wide_gradient` chooses. The choice is a constant,
/// so only the chosen kernel is compiled.
#[inline(always)]
fn poly<T: Element, F: Formula, const FMA: bool, const LOSS: u8, const GRAD: u8>(
    span: Span<'_, T>,
    (w, pw, go): (impl Lane<T>, impl Lane<T>, impl Lane<T>),
) -> f64 {
    if const { wide_gradient::<T, F, FMA, GRAD>() } {
        span.kernel::<f64, F, Poly<FMA>, LOSS, GRAD>(w, pw, go)
    } else {
        span.kernel::<T, F, Poly<FMA>, LOSS, GRAD>(w, pw, go)
    }
}

/// The polynomial kernels compiled for the baseline instruction set, one function per kernel.
#[inline(never)]
fn poly_baseline<T: Element, F: Formula, const LOSS: u8, const GRAD: u8>(
    span: Span<'_, T>,
    lanes: (impl Lane<T>, impl Lane<T>, impl Lane<T>),
) -> f64 {
    poly::<T, F, BASELINE_HAS_FMA, LOSS, GRAD>(span, lanes)
}

/// The reference path's kernel: in `f64` with the standard library's functions, one kernel for
/// every kind of operand (speed does not matter here).
#[inline(never)]
fn reference<T: Element, F: Formula, const LOSS: u8, const GRAD: u8>(
    span: Span<'_, T>,
    Operands { w, pw, go }: Operands<'_, T>,
) -> f64 {
    span.kernel::<f64, F, Libm, LOSS, GRAD>(w, pw, go)
}

/// The polynomial kernels compiled for AVX2 and FMA: everything `poly` calls is inlined into
/// this function, and so compiled for that instruction set.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn poly_avx2<T: Element, F: Formula, const LOSS: u8, const GRAD: u8>(
    span: Span<'_, T>,
    lanes: (impl Lane<T>, impl Lane<T>, impl Lane<T>),
) -> f64 {
    poly::<T, F, true, LOSS, GRAD>(span, lanes)
}

/// As `poly_avx2`, for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn poly_avx512<T: Element, F: Formula, const LOSS: u8, const GRAD: u8>(
    span: Span<'_, T>,
    lanes: (impl Lane<T>, impl Lane<T>, impl Lane<T>),
) -> f64 {
    poly::<T, F, true, LOSS, GRAD>(span, lanes)
}

/// One run: input, target and outputs as slices of equal length.
struct Span<'s, T> {
    x: &'s [T],
    y: &'s [T],
    scale: f64,
    smoothing: f64,
    /// Applied after the formula, per block: one constant or a slice along the run. Not a type
    /// parameter of the hot loop, so that masks cost no extra copies of it.
    mask: Run<'s, T>,
    loss: Option<&'s mut [T]>,
    grad: Option<&'s mut [T]>,
    hess: Option<&'s mut [T]>,
}

/// Converts between the storage type and the compute type (a no-op when they are the same).
#[inline(always)]
fn cast<A: Element, B: Element>(v: A) -> B {
    B::from_f64(v.to_f64())
}

/// An operand along a run, as the kernel reads it.
trait Lane<T>: Copy {
    fn at<R: Element>(self, i: usize) -> R;
    /// The operand over `len` elements from `start`.
    fn window(self, start: usize, len: usize) -> Self;
}

#[derive(Clone, Copy)]
struct Splat<T>(T);

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

/// A run read as it comes, constant or slice, chosen per element: one kernel for every kind of
/// operand, where speed does not matter (the reference path).
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
        match self {
            Run::Const(v) => Run::Const(v),
            Run::Slice(s) => Run::Slice(&s[start..start + len]),
        }
    }
}

/// Elements summed in separate accumulators, so that the sum vectorises without reordering.
const LANES: usize = 16;
/// Elements per block of the hot loop: a few vectors' worth, kept in L1.
const BLOCK: usize = 256;

impl<T: Element> Span<'_, T> {
    /// The kernel for the instruction-set level, specialised for each kind of operand (constant or
    /// slice) on the fast paths; the upstream gradient's kind only where a gradient is computed.
    fn at_level<F: Formula, const LOSS: u8, const GRAD: u8>(
        self,
        level: Level,
        operands: Operands<'_, T>,
    ) -> f64 {
        let Operands { w, pw, go } = operands;
        // `$kernel` for the run's kinds of operand.
        macro_rules! lanes {
            ($kernel:ident) => {
                with_lane!(w, w => with_lane!(pw, pw => if const { GRAD == GRAD_NONE } {
                    $kernel::<T, F, LOSS, GRAD>(self, (w, pw, Splat(T::ONE)))
                } else {
                    with_lane!(go, go => $kernel::<T, F, LOSS, GRAD>(self, (w, pw, go)))
                }))
            };
        }
        match level {
            Level::Scalar => reference::<T, F, LOSS, GRAD>(self, operands),
            // SAFETY: `simd::active()` never returns a level the CPU lacks.
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => unsafe { lanes!(poly_avx2) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => unsafe { lanes!(poly_avx512) },
            _ => lanes!(poly_baseline),
        }
    }

    /// The hot loop, specialised for the run's operand kinds and the requested outputs.
    ///
    /// The run is walked in blocks of `BLOCK` elements. Losses to be summed go to a small buffer
    /// that is then added lane-wise into `LANES` `f64` accumulators, combined pairwise at the end:
    /// a fixed order, whatever the thread count. A block holding a value that would take the
    /// intermediates out of their normal range (`Formula::extreme_above`) is computed again in
    /// `f64` with functions of the whole range.
    ///
    /// Release builds inline all of this into the function that compiles it for an instruction set
    /// (`poly_avx2` and the like), one small function per kernel, which LLVM optimises separately
    /// and quickly (inlining every kernel into one function per instruction set had made a release
    /// build take 8 to 15 minutes here, instead of one). Debug builds do not inline it, which keeps
    /// their stack frames small.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn kernel<R: Element, F: Formula, M: Math, const LOSS: u8, const GRAD: u8>(
        self,
        w: impl Lane<T>,
        pw: impl Lane<T>,
        go: impl Lane<T>,
    ) -> f64 {
        let n = self.x.len();
        let (x, y) = (self.x, &self.y[..n]);
        let loss_out = self.loss.unwrap_or_default();
        let grad_out = self.grad.unwrap_or_default();
        let hess_out = self.hess.unwrap_or_default();
        let params = Params::new::<T>(self.scale, self.smoothing);
        let narrow = is_narrow::<R>();
        // An input gradient computed narrow: blocks whose targets are all 0 or 1 skip the
        // compensated form that soft labels need (`Formula::terms`' HARD_LABELS); the results are
        // the same as without the skip.
        let narrow_input_grad =
            narrow && F::NARROW_INPUT_GRADIENT && (GRAD == GRAD_INPUT || GRAD == GRAD_HESS);
        // Whether a block may hold inputs that the first pass does not compute right (outside a
        // narrow type's range, or outside the range of `M`'s `exp_neg_normal`).
        let flag = narrow || M::NORMAL_RANGE_ONLY;
        let mut acc = [0.0f64; LANES];
        // Losses to sum, in the compute type so that the element loop is all of one width (a
        // wider store halves the vector length); a block recomputed wide sums its own in f64.
        let mut narrow_sums = [R::ZERO; BLOCK];
        // What `Formula::prepare` computes for a block, kept here so that it is initialised once
        // per call rather than once per block.
        let mut prepared = [R::ZERO; BLOCK];
        let mut start = 0;
        while start < n {
            let m = (n - start).min(BLOCK);
            let (xb, yb) = (&x[start..start + m], &y[start..start + m]);
            let (wb, pwb, gob) = (w.window(start, m), pw.window(start, m), go.window(start, m));
            let lb: &mut [T] = if LOSS == LOSS_EACH {
                &mut loss_out[start..start + m]
            } else {
                &mut []
            };
            let gb: &mut [T] = if GRAD != GRAD_NONE {
                &mut grad_out[start..start + m]
            } else {
                &mut []
            };
            let hb: &mut [T] = if GRAD == GRAD_HESS {
                &mut hess_out[start..start + m]
            } else {
                &mut []
            };
            let mask = match self.mask {
                Run::Slice(s) => Run::Slice(&s[start..start + m]),
                constant => constant,
            };
            let inputs = (xb, yb, wb, pwb, gob);
            let outputs = (&mut *lb, &mut *gb, &mut *hb, &mut narrow_sums[..m]);
            let extreme = if narrow_input_grad && hard_labels(yb, params) {
                compute_block::<T, R, F, M, LOSS, GRAD, true>(
                    inputs,
                    params,
                    outputs,
                    &mut prepared,
                    flag,
                )
            } else {
                compute_block::<T, R, F, M, LOSS, GRAD, false>(
                    inputs,
                    params,
                    outputs,
                    &mut prepared,
                    flag,
                )
            };
            if !extreme {
                apply_mask(mask, (lb, gb, hb, &mut narrow_sums[..m]));
                if LOSS == LOSS_SUM {
                    add_lanes(&mut acc, &mut narrow_sums, m);
                }
            } else {
                // Rare: recomputed in f64 with functions of the whole range, overwriting what
                // the first pass wrote.
                let (mut wide_sums, mut wide_prepared) = ([0.0f64; BLOCK], [0.0f64; BLOCK]);
                compute_block::<T, f64, F, Full<M>, LOSS, GRAD, false>(
                    (xb, yb, wb, pwb, gob),
                    params,
                    (&mut *lb, &mut *gb, &mut *hb, &mut wide_sums[..m]),
                    &mut wide_prepared,
                    false,
                );
                apply_mask(mask, (lb, gb, hb, &mut wide_sums[..m]));
                if LOSS == LOSS_SUM {
                    add_lanes(&mut acc, &mut wide_sums, m);
                }
            }
            start += m;
        }
        combine_lanes(acc)
    }
}

/// The sum of the lanes, pairwise in a fixed order. Not inlined: where the kernel's loop could see
/// this reduction, LLVM kept the accumulators as 128-bit pairs to match its shape, so that adding a
/// block took two 128-bit adds and an extract per four elements instead of one 256-bit add.
#[inline(never)]
fn combine_lanes(mut acc: [f64; LANES]) -> f64 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            acc[lane] += acc[lane + width];
        }
    }
    acc[0]
}

/// Whether every target of a block is 0 or 1 and no label smoothing moves them (a smoothed block
/// just takes `Formula::terms`' per-element choice). `y (1 - y)` is zero exactly for those (and
/// -0): for any other `y`, finite or not, it is not, subnormal `y` and `y` next to 1 included.
/// Three operations per vector and an integer OR, which vectorises where a `bool` reduction may
/// not.
#[inline(always)]
fn hard_labels<T: Element>(y: &[T], params: Params) -> bool {
    if params.keep != 1.0 || params.half != 0.0 {
        return false;
    }
    let mut soft = T::Bits::default();
    for &v in y {
        soft = soft | (v * (T::ONE - v)).magnitude_bits();
    }
    soft == T::Bits::default()
}

/// Adds the first `m` values of `block` lane-wise into `acc` (zeroing the rest first, so that a
/// short last block adds nothing past its end).
#[inline(always)]
fn add_lanes<S: Element>(acc: &mut [f64; LANES], block: &mut [S; BLOCK], m: usize) {
    block[m..].fill(S::ZERO);
    let mut wide = [0.0f64; BLOCK];
    for (w, &v) in wide.iter_mut().zip(block.iter()) {
        *w = v.to_f64();
    }
    for group in wide.chunks_exact(LANES) {
        for (a, &v) in acc.iter_mut().zip(group) {
            *a += v;
        }
    }
}

/// Zeroes what a block wrote for the elements its mask leaves out (empty slices are outputs the
/// call did not ask for). Outside the formula, so that an absent mask (a constant 1) costs one
/// comparison per block; the masking loops themselves are compiled once per type, not into every
/// copy of the hot loop.
#[inline(always)]
fn apply_mask<T: Element, S: Element>(
    mask: Run<'_, T>,
    outputs: (&mut [T], &mut [T], &mut [T], &mut [S]),
) {
    match mask {
        Run::Const(keep) if keep != T::ZERO => {}
        _ => mask_block(mask, outputs),
    }
}

#[inline(never)]
fn mask_block<T: Element, S: Element>(
    mask: Run<'_, T>,
    (loss, grad, hess, sums): (&mut [T], &mut [T], &mut [T], &mut [S]),
) {
    match mask {
        Run::Const(keep) if keep != T::ZERO => {}
        Run::Const(_) => {
            loss.fill(T::ZERO);
            grad.fill(T::ZERO);
            hess.fill(T::ZERO);
            sums.fill(S::ZERO);
        }
        Run::Slice(keep) => {
            for out in [loss, grad, hess] {
                for (v, &k) in out.iter_mut().zip(keep) {
                    *v = if k != T::ZERO { *v } else { T::ZERO };
                }
            }
            for (v, &k) in sums.iter_mut().zip(keep) {
                *v = if k != T::ZERO { *v } else { S::ZERO };
            }
        }
    }
}

/// The per-call scalars of the hot loop, in `f64`.
#[derive(Clone, Copy)]
struct Params {
    /// The upstream gradient's scalar factor.
    scale: f64,
    /// Label smoothing as `y k + h`: `k = 1 - ε` and `h = ε / 2`, each rounded to the storage type.
    keep: f64,
    half: f64,
}

impl Params {
    fn new<T: Element>(scale: f64, smoothing: f64) -> Self {
        let round = |v: f64| T::from_f64(v).to_f64();
        Params {
            scale,
            keep: round(1.0 - smoothing),
            half: round(smoothing / 2.0),
        }
    }
}

/// One block of a run, every slice of the block's length, so the compiler drops the bounds checks
/// and vectorises the loop. Inputs: `(x, y, weight, pos_weight, grad_output)`; outputs:
/// `(losses, gradient, hessian, losses to sum)`, each empty when not requested; `prepared` is
/// scratch space for `Formula::prepare`'s values. Computes in `R`; with
/// `flag_extremes`, also returns whether any input value is extreme for `R`
/// (`Formula::extreme_above`), in which case the caller recomputes the block wider. `HARD_LABELS`:
/// the caller has checked that every (smoothed) target is 0 or 1.
#[inline(always)]
fn compute_block<
    T: Element,
    R: Element,
    F: Formula,
    M: Math,
    const LOSS: u8,
    const GRAD: u8,
    const HARD_LABELS: bool,
>(
    (x, y, w, pw, go): (&[T], &[T], impl Lane<T>, impl Lane<T>, impl Lane<T>),
    params: Params,
    (loss, grad, hess, sums): (&mut [T], &mut [T], &mut [T], &mut [R]),
    prepared: &mut [R; BLOCK],
    flag_extremes: bool,
) -> bool {
    let m = x.len();
    let (y, sums) = (&y[..m], &mut sums[..m]);
    let scale: R = cast(params.scale);
    // The target's derivative includes the smoothing's factor 1 - ε.
    let target_scale: R = cast(params.scale * params.keep);
    let (keep, half): (R, R) = (cast(params.keep), cast(params.half));
    // The largest magnitude as an integer max (NaN above infinity): one operation per vector.
    let bound = F::extreme_above::<R>().map(|b| T::from_f64(b).magnitude_bits());
    let flag_extremes = flag_extremes && bound.is_some();
    let mut largest = T::Bits::default();
    let prepared = &mut prepared[..m];
    for (p, &v) in prepared.iter_mut().zip(x) {
        *p = F::prepare::<R, M>(cast(v));
    }
    for i in 0..m {
        if flag_extremes {
            largest = largest.max(x[i].magnitude_bits());
        }
        // Smoothed in the compute type with one rounding, then rounded to the storage type, so that
        // every path sees the same smoothed target (without smoothing: `y * 1 + 0`, exactly `y`).
        let smoothed: T = cast(M::mul_add(cast(y[i]), keep, half));
        let t = F::terms::<R, M, HARD_LABELS>(
            cast(x[i]),
            cast(smoothed),
            w.at(i),
            pw.at(i),
            prepared[i],
        );
        if LOSS == LOSS_EACH {
            loss[i] = cast(t.loss);
        }
        if LOSS == LOSS_SUM {
            sums[i] = t.loss;
        }
        if GRAD == GRAD_INPUT || GRAD == GRAD_HESS {
            grad[i] = cast(go.at::<R>(i) * scale * t.d_input);
        } else if GRAD == GRAD_TARGET {
            grad[i] = cast(go.at::<R>(i) * target_scale * t.d_target);
        }
        if GRAD == GRAD_HESS {
            hess[i] = cast(go.at::<R>(i) * scale * t.curvature);
        }
    }
    flag_extremes && bound.is_some_and(|b| largest > b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain<T: Element>() -> Params {
        Params::new::<T>(1.0, 0.0)
    }

    /// `hard_labels`' product test says "hard" for exactly 0, 1 and -0: any other target in the
    /// block, however close to 0 or 1 or however large, makes the block soft (a wrong "hard"
    /// would skip the compensated gradient that soft labels need).
    #[test]
    fn hard_labels_are_exactly_zero_and_one() {
        fn check<T: Element + std::fmt::Debug>(near: &[f64]) {
            let hard: Vec<T> = [0.0, 1.0, -0.0, 1.0, 0.0]
                .iter()
                .map(|&v| T::from_f64(v))
                .collect();
            assert!(hard_labels(&hard, plain::<T>()));
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
                assert!(!hard_labels(&block, plain::<T>()), "{odd:e} taken as hard");
            }
            // Smoothing moves every target off 0 and 1.
            assert!(!hard_labels(&hard, Params::new::<T>(1.0, 0.1)));
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
}
