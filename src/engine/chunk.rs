//! One chunk of a call: its arrays read in place where they lie in the flat order (`Dense`), as one
//! value (`Const`), or through small buffers a window at a time (tiles of per-class values,
//! gathered strided or broadcast operands, outputs scattered back), then handed to the kernel.

use std::marker::PhantomData;

use super::dispatch::{self, Weights};
use super::kernel::{Outcome, Span, Totals};
use super::lanes::{Params, Run};
use super::mode::Mode;
use super::{Problem, CHUNK};
use crate::broadcast::{Access, Operand, Plan, Slot, ViewMut};
use crate::element::Element;
use crate::formulas::Formula;
use crate::simd::Level;

/// Elements per window where some array needs a buffer: small enough for the buffers to stay in
/// L1 and L2, large enough that a kernel call costs little beside its elements. A chunk whose
/// arrays all lie in place is one window.
const WINDOW: usize = 1024;

/// An output buffer, shared by the chunks, which write disjoint elements of it.
struct Shared<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: chunks write disjoint elements (distinct flat positions of an output whose elements are
// distinct, as `Plan::new` checked), and the buffer outlives the call (`Outputs`' borrow).
unsafe impl<T: Send> Send for Shared<T> {}
unsafe impl<T: Send> Sync for Shared<T> {}

/// A call's outputs (losses, gradient, hessian), borrowed for the call.
pub(super) struct Outputs<'a, T> {
    slots: [Option<Shared<T>>; 3],
    _borrow: PhantomData<&'a mut [T]>,
}

impl<'a, T> Outputs<'a, T> {
    pub(super) fn new(
        loss: Option<ViewMut<'a, T>>,
        grad: Option<ViewMut<'a, T>>,
        hess: Option<ViewMut<'a, T>>,
    ) -> Self {
        let shared = |out: Option<ViewMut<'a, T>>| {
            out.map(|o| Shared {
                len: o.data.len(),
                ptr: o.data.as_mut_ptr(),
            })
        };
        Outputs {
            slots: [shared(loss), shared(grad), shared(hess)],
            _borrow: PhantomData,
        }
    }
}

/// How the chunk reads one array.
enum Read<'d, T> {
    /// One value for every element, passed to the kernel as a constant.
    Splat(T),
    /// One value, materialised (for a lane that must be a slice).
    Fill(Vec<T>),
    /// Element `p` of the flat range is `data[p]`.
    Dense(&'d [T]),
    /// Element `p` is `tile[p % extent]`; the tile holds whole periods and a window more.
    Tile { tile: Vec<T>, extent: usize },
    /// Gathered per window.
    Gather { data: &'d [T], buffer: Vec<T> },
}

impl<'d, T: Copy> Read<'d, T> {
    fn array(plan: &Plan, slot: Slot, data: &'d [T], window: usize) -> Self {
        let origin = plan.origin(slot);
        match plan.access(slot) {
            Access::Absent | Access::Const => Read::Splat(data[origin]),
            Access::Dense => Read::Dense(&data[origin..]),
            Access::Tile => {
                let extent = plan.inner_extent();
                let period = &data[origin..origin + extent];
                let mut tile = Vec::with_capacity(window + 2 * extent);
                while tile.len() < window + extent {
                    tile.extend_from_slice(period);
                }
                Read::Tile { tile, extent }
            }
            Access::Strided => Read::Gather {
                data,
                buffer: Vec::with_capacity(window),
            },
        }
    }

    fn operand(plan: &Plan, slot: Slot, operand: &'d Operand<'_, T>, window: usize) -> Self {
        match operand {
            Operand::Const(v) => Read::Splat(*v),
            Operand::Array { data, .. } => Read::array(plan, slot, data, window),
        }
    }

    /// Reads of input and target must be slices.
    fn materialised(self, window: usize) -> Self {
        match self {
            Read::Splat(v) => Read::Fill(vec![v; window]),
            other => other,
        }
    }

    /// Whether windows need no work of their own.
    fn in_place(&self) -> bool {
        matches!(self, Read::Splat(_) | Read::Dense(_) | Read::Fill(_))
    }

    fn window(&mut self, plan: &Plan, slot: Slot, start: usize, len: usize) -> Run<'_, T> {
        match self {
            Read::Splat(v) => Run::Const(*v),
            Read::Fill(values) => Run::Slice(&values[..len]),
            Read::Dense(data) => Run::Slice(&data[start..start + len]),
            Read::Tile { tile, extent } => {
                let phase = start % *extent;
                Run::Slice(&tile[phase..phase + len])
            }
            Read::Gather { data, buffer } => {
                buffer.resize(len, data[0]);
                plan.gather(slot, data, start, buffer);
                Run::Slice(buffer)
            }
        }
    }

    fn slice(&mut self, plan: &Plan, slot: Slot, start: usize, len: usize) -> &[T] {
        match self.window(plan, slot, start, len) {
            Run::Slice(s) => s,
            // `materialised` leaves no constant.
            Run::Const(_) => &[],
        }
    }
}

/// How the chunk reads weight and pos_weight.
enum WeightReads<'d, T> {
    Constants(T, T),
    /// Both materialised where constant.
    Slices(Read<'d, T>, Read<'d, T>),
    /// A formula without pos_weight.
    WeightAlone(Read<'d, T>),
}

/// How the chunk writes one output.
enum Write<'o, T> {
    None,
    /// Element `p` of the flat range at `ptr + p`.
    Dense(&'o Shared<T>, usize),
    /// Into a buffer per window, then to the output's elements.
    Scatter(&'o Shared<T>, Vec<T>),
}

impl<'o, T: Element> Write<'o, T> {
    fn new(plan: &Plan, slot: Slot, out: Option<&'o Shared<T>>, window: usize) -> Self {
        match (out, plan.access(slot)) {
            (None, _) => Write::None,
            (Some(out), Access::Dense | Access::Const) => Write::Dense(out, plan.origin(slot)),
            (Some(out), _) => Write::Scatter(out, vec![T::ZERO; window]),
        }
    }

    fn in_place(&self) -> bool {
        !matches!(self, Write::Scatter(..))
    }

    fn window(&mut self, start: usize, len: usize) -> &mut [T] {
        match self {
            Write::None => &mut [],
            Write::Dense(out, origin) => {
                let at = *origin + start;
                assert!(at + len <= out.len, "output window past the buffer");
                // SAFETY: in bounds (checked), and no other chunk or window writes these
                // elements (`Shared`).
                unsafe { std::slice::from_raw_parts_mut(out.ptr.add(at), len) }
            }
            Write::Scatter(_, buffer) => &mut buffer[..len],
        }
    }

    fn finish(&mut self, plan: &Plan, slot: Slot, start: usize, len: usize) {
        if let Write::Scatter(out, buffer) = self {
            // SAFETY: every element of the slot lies in the buffer (`Plan::new`), and no other
            // chunk writes these positions (`Shared`).
            unsafe { plan.scatter(slot, out.ptr, start, &buffer[..len]) };
        }
    }
}

/// Runs chunk `index` of the call.
pub(super) fn run<T: Element, F: Formula, M: Mode>(
    problem: &Problem<'_, T>,
    plan: &Plan,
    outputs: &Outputs<'_, T>,
    level: Level,
    index: usize,
) -> Outcome {
    let start = index * CHUNK;
    let end = (start + CHUNK).min(plan.len());
    let chunk = end - start;
    let small = chunk.min(WINDOW);
    let x = Read::array(plan, Slot::Input, problem.input.data, small);
    let y = Read::array(plan, Slot::Target, problem.target.data, small);
    let w = Read::operand(plan, Slot::Weight, &problem.weight, small);
    let pw = if F::USES_POS_WEIGHT {
        Read::operand(plan, Slot::PosWeight, &problem.pos_weight, small)
    } else {
        Read::Splat(T::ONE)
    };
    let mut go = if M::ANY_GRAD {
        Read::operand(plan, Slot::GradOutput, &problem.grad_output, small)
    } else {
        Read::Splat(T::ONE)
    };
    let mut mask = Read::operand(plan, Slot::Mask, &problem.mask, small);
    let [loss_out, grad_out, hess_out] = &outputs.slots;
    let mut loss = Write::new(
        plan,
        Slot::Loss,
        loss_out.as_ref().filter(|_| M::EACH_LOSS),
        small,
    );
    let mut grad = Write::new(
        plan,
        Slot::Grad,
        grad_out.as_ref().filter(|_| M::ANY_GRAD),
        small,
    );
    let mut hess = Write::new(
        plan,
        Slot::Hess,
        hess_out.as_ref().filter(|_| M::HESSIAN),
        small,
    );
    let in_place = [&x, &y, &w, &pw, &go].iter().all(|r| r.in_place())
        && mask.in_place()
        && [&loss, &grad, &hess].iter().all(|o| o.in_place());
    let window = if in_place { chunk } else { small };
    // Input and target are read as slices; the kernels take weight and pos_weight as two
    // constants or two slices, so a constant beside a slice is materialised (the loss on
    // probabilities has no pos_weight: its weight slice stands in for one).
    let mut x = x.materialised(window);
    let mut y = y.materialised(window);
    let mut weights = match (w, pw) {
        (Read::Splat(w), Read::Splat(pw)) => WeightReads::Constants(w, pw),
        (w, _) if !F::USES_POS_WEIGHT => WeightReads::WeightAlone(w),
        (w, pw) => WeightReads::Slices(w.materialised(window), pw.materialised(window)),
    };
    let params = Params::new::<T>(problem.grad_scale, problem.label_smoothing);
    let mut totals = Totals::default();
    let mut position = start;
    while position < end {
        let len = (end - position).min(window);
        let weights = match &mut weights {
            WeightReads::Constants(w, pw) => Weights::Constants(*w, *pw),
            WeightReads::Slices(w, pw) => Weights::Slices(
                w.slice(plan, Slot::Weight, position, len),
                pw.slice(plan, Slot::PosWeight, position, len),
            ),
            WeightReads::WeightAlone(w) => {
                let w = w.slice(plan, Slot::Weight, position, len);
                Weights::Slices(w, w)
            }
        };
        let span = Span {
            x: x.slice(plan, Slot::Input, position, len),
            y: y.slice(plan, Slot::Target, position, len),
            mask: mask.window(plan, Slot::Mask, position, len),
            loss: loss.window(position, len),
            grad: grad.window(position, len),
            hess: hess.window(position, len),
            params,
        };
        let go = go.window(plan, Slot::GradOutput, position, len);
        dispatch::span::<T, F, M>(level, span, weights, go, &mut totals);
        loss.finish(plan, Slot::Loss, position, len);
        grad.finish(plan, Slot::Grad, position, len);
        hess.finish(plan, Slot::Hess, position, len);
        position += len;
    }
    totals.outcome()
}
