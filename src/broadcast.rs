//! Where each array's elements are, and the order the kernels walk them in.
//!
//! Every array of a call — input, target, the broadcast operands (weight, pos_weight,
//! grad_output, mask) and the outputs — is a buffer with strides. A [`Plan`] lays them over the
//! input's shape once: operands aligned from the right and broadcast (stride 0) where their
//! extent is 1, the dimensions ordered as the input lies in memory (so a Fortran-ordered input is
//! walked as it is stored), extents of 1 dropped and adjacent dimensions merged wherever every
//! array allows it. The kernels then see the flat range `0..len` in that order, a window at a
//! time, each array in the window as one value, a slice of its buffer, or values gathered into a
//! small buffer ([`Access`]).

use smallvec::SmallVec;

use crate::error::KernelError;

/// Element offsets of a strided array: the element at multi-index `i` is
/// `data[origin + Σ i[d] * steps[d]]` (steps in elements, any sign).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strides {
    pub steps: Vec<isize>,
    pub origin: usize,
}

/// An array that must have the input's shape exactly: input, target.
#[derive(Clone, Debug)]
pub struct View<'a, T> {
    pub data: &'a [T],
    pub shape: &'a [usize],
    /// `None`: C order from the first element.
    pub strides: Option<Strides>,
}

impl<'a, T> View<'a, T> {
    /// A C-ordered array.
    pub fn new(data: &'a [T], shape: &'a [usize]) -> Self {
        View {
            data,
            shape,
            strides: None,
        }
    }
}

/// An output, of the input's shape. Its elements must be distinct memory (no zero or overlapping
/// strides), which [`Plan::new`] checks.
#[derive(Debug)]
pub struct ViewMut<'a, T> {
    pub data: &'a mut [T],
    pub shape: &'a [usize],
    /// `None`: C order from the first element.
    pub strides: Option<Strides>,
}

impl<'a, T> ViewMut<'a, T> {
    /// A C-ordered output.
    pub fn new(data: &'a mut [T], shape: &'a [usize]) -> Self {
        ViewMut {
            data,
            shape,
            strides: None,
        }
    }
}

/// Something that broadcasts to the input's shape: one value everywhere, or an array of its own
/// shape aligned to the input's from the right, as NumPy and PyTorch align them.
#[derive(Clone, Debug)]
pub enum Operand<'a, T> {
    Const(T),
    Array {
        data: &'a [T],
        shape: &'a [usize],
        /// `None`: C order from the first element.
        strides: Option<Strides>,
    },
}

impl<'a, T> Operand<'a, T> {
    /// A C-ordered array of shape `shape`.
    pub fn array(data: &'a [T], shape: &'a [usize]) -> Self {
        Operand::Array {
            data,
            shape,
            strides: None,
        }
    }
}

/// The arrays of a call, by position in a [`Plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Input = 0,
    Target,
    Weight,
    PosWeight,
    GradOutput,
    Mask,
    Loss,
    Grad,
    Hess,
}

pub const SLOTS: usize = 9;

/// How one array is read over the flat range of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Not part of the call.
    Absent,
    /// One element everywhere (every stride 0).
    Const,
    /// Element `p` of the flat range is `data[origin + p]`.
    Dense,
    /// Varies along the innermost dimension alone, with stride 1: element `p` is
    /// `data[origin + p % inner_extent]` (one value per class, say).
    Tile,
    /// Anything else: gathered (or, for an output, scattered) a run at a time.
    Strided,
}

/// What an array's shape must be, relative to the input's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Exactly the input's shape (target).
    Same,
    /// The input's shape, and written to: its elements must be distinct (outputs).
    Output,
    /// Broadcasts to the input's shape without enlarging it (weight, pos_weight, grad_output, mask).
    Broadcast,
}

/// The shape and strides of one array as [`Plan::new`] takes them.
#[derive(Clone, Copy, Debug)]
pub struct Geometry<'s> {
    pub what: &'static str,
    pub shape: &'s [usize],
    pub strides: Option<&'s Strides>,
    /// The length of the buffer the strides index.
    pub len: usize,
    pub rule: Rule,
}

/// The most dimensions an array may have (NumPy's limit).
pub const MAX_DIMS: usize = 64;

/// Dimensions held without allocating: more than this many (after merging) go to the heap.
const INLINE_DIMS: usize = 6;

impl<'s> Geometry<'s> {
    /// C-ordered at exactly `shape` (an operand that broadcasts has another shape).
    fn contiguous_at(&self, shape: &[usize]) -> bool {
        self.strides.is_none() && self.shape == shape
    }

    /// A broadcast operand's geometry (`None` for a constant).
    pub fn of<T>(what: &'static str, operand: &'s Operand<'_, T>) -> Option<Geometry<'s>> {
        match operand {
            Operand::Const(_) => None,
            Operand::Array {
                data,
                shape,
                strides,
            } => Some(Geometry {
                what,
                shape,
                strides: strides.as_ref(),
                len: data.len(),
                rule: Rule::Broadcast,
            }),
        }
    }
}

/// The iteration space shared by the input and the arrays laid over it. Held inline for the
/// usual few dimensions, so that a small call's plan costs no more than its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    len: usize,
    ndim: usize,
    /// Extents, outermost first, after reordering and merging.
    dims: SmallVec<[usize; INLINE_DIMS]>,
    /// `steps[d][k]`: element stride of slot `k` along dimension `d` (0 where it broadcasts).
    steps: SmallVec<[[isize; SLOTS]; INLINE_DIMS]>,
    origins: [usize; SLOTS],
    access: [Access; SLOTS],
}

/// The number of elements of `shape`, or an error when it overflows.
pub fn element_count(shape: &[usize]) -> Result<usize, KernelError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| KernelError::TooLarge {
            shape: shape.to_vec(),
        })
}

/// Lays one array over the input's `shape`: its steps along each of the input's dimensions
/// (broadcast, checked) go to column `k` of `table`; returns its origin.
fn lay_over(
    shape: &[usize],
    g: &Geometry<'_>,
    k: usize,
    table: &mut [[isize; SLOTS]],
) -> Result<usize, KernelError> {
    let own = g.shape;
    if g.rule != Rule::Broadcast && own != shape {
        return Err(KernelError::Shape {
            what: g.what,
            shape: own.to_vec(),
            expected: shape.to_vec(),
        });
    }
    if own.len() > MAX_DIMS {
        return Err(KernelError::Layout {
            what: g.what,
            reason: format!("{} dimensions, more than {MAX_DIMS}", own.len()),
        });
    }
    let mut steps: SmallVec<[isize; INLINE_DIMS]> = SmallVec::from_elem(0, own.len());
    match g.strides {
        Some(s) if s.steps.len() != own.len() => {
            return Err(KernelError::Layout {
                what: g.what,
                reason: format!("{} strides for {} dimensions", s.steps.len(), own.len()),
            })
        }
        Some(s) => steps.copy_from_slice(&s.steps),
        None => {
            let mut step = 1isize;
            for (s, &d) in steps.iter_mut().zip(own).rev() {
                *s = step;
                step = step.saturating_mul(d as isize);
            }
        }
    }
    let origin = g.strides.map_or(0, |s| s.origin);
    let count = element_count(own)?;
    // A C-ordered buffer holds exactly the shape's elements; a strided one, every element its
    // strides reach.
    if g.strides.is_none() && g.len != count {
        return Err(KernelError::Length {
            what: g.what,
            expected: count,
            got: g.len,
        });
    }
    if count > 0 {
        let (mut lo, mut hi) = (origin as i128, origin as i128);
        for (&d, &s) in own.iter().zip(steps.iter()) {
            let reach = (d as i128 - 1) * s as i128;
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
        if lo < 0 || hi >= g.len as i128 {
            return Err(KernelError::Length {
                what: g.what,
                expected: usize::try_from(hi - lo + 1).unwrap_or(usize::MAX),
                got: g.len,
            });
        }
    }
    if g.rule == Rule::Output && count > 1 && !distinct_elements(own, &steps) {
        return Err(KernelError::Layout {
            what: g.what,
            reason: "its elements overlap in memory".to_string(),
        });
    }
    if own.len() > shape.len() {
        return Err(KernelError::Broadcast {
            what: g.what,
            operand: own.to_vec(),
            shape: shape.to_vec(),
        });
    }
    let lead = shape.len() - own.len();
    for row in table[..lead].iter_mut() {
        row[k] = 0;
    }
    for (i, (&d, &s)) in own.iter().zip(steps.iter()).enumerate() {
        let target = shape[lead + i];
        if d != target && d != 1 {
            return Err(KernelError::Broadcast {
                what: g.what,
                operand: own.to_vec(),
                shape: shape.to_vec(),
            });
        }
        table[lead + i][k] = if d == 1 { 0 } else { s };
    }
    Ok(origin)
}

/// Whether no two elements of an array share an address: with the dimensions sorted by stride,
/// each stride exceeds the reach of all smaller ones (sufficient, and all a NumPy array that owns
/// or views its memory plainly needs).
fn distinct_elements(shape: &[usize], steps: &[isize]) -> bool {
    let mut dims = [(0usize, 0usize); MAX_DIMS];
    let mut n = 0;
    for (&d, &s) in shape.iter().zip(steps) {
        if d > 1 {
            dims[n] = (s.unsigned_abs(), d);
            n += 1;
        }
    }
    let dims = &mut dims[..n];
    dims.sort_unstable();
    let mut reach = 0usize;
    for &(step, extent) in dims.iter() {
        if step <= reach {
            return false;
        }
        reach = match (extent - 1)
            .checked_mul(step)
            .and_then(|r| r.checked_add(reach))
        {
            Some(r) => r,
            None => return false,
        };
    }
    true
}

impl Plan {
    /// Lays every present array over `shape` (the input's). Errors name the array: a buffer too
    /// short for its strides, an operand that does not broadcast to `shape` without enlarging it,
    /// an output whose elements overlap.
    pub fn new(
        shape: &[usize],
        arrays: &[Option<Geometry<'_>>; SLOTS],
    ) -> Result<Plan, KernelError> {
        let len = element_count(shape)?;
        if shape.len() > MAX_DIMS {
            return Err(KernelError::Layout {
                what: "input",
                reason: format!("{} dimensions, more than {MAX_DIMS}", shape.len()),
            });
        }
        if len > 1 && arrays.iter().flatten().all(|g| g.contiguous_at(shape)) {
            return Plan::contiguous(len, arrays);
        }
        Plan::laid_out(shape, len, arrays)
    }

    /// The plan of arrays that are all C-ordered at the input's shape (the usual call): one
    /// dimension of `len` elements, step 1 in every array, which is what [`Plan::laid_out`]
    /// merges such arrays into (checked by the tests), found without its work. `len > 1`.
    fn contiguous(len: usize, arrays: &[Option<Geometry<'_>>; SLOTS]) -> Result<Plan, KernelError> {
        for g in arrays.iter().flatten() {
            if g.len != len {
                return Err(KernelError::Length {
                    what: g.what,
                    expected: len,
                    got: g.len,
                });
            }
        }
        let present = |k: usize| arrays[k].is_some();
        let mut dims = SmallVec::new();
        dims.push(len);
        let mut steps = SmallVec::new();
        steps.push(std::array::from_fn(|k| present(k) as isize));
        Ok(Plan {
            len,
            ndim: 1,
            dims,
            steps,
            origins: [0; SLOTS],
            access: std::array::from_fn(|k| {
                if present(k) {
                    Access::Dense
                } else {
                    Access::Absent
                }
            }),
        })
    }

    /// The general plan: each array laid over `shape` (checked), the dimensions in the input's
    /// memory order, merged where every array allows it.
    fn laid_out(
        shape: &[usize],
        len: usize,
        arrays: &[Option<Geometry<'_>>; SLOTS],
    ) -> Result<Plan, KernelError> {
        let mut laid: SmallVec<[[isize; SLOTS]; INLINE_DIMS]> =
            SmallVec::from_elem([0; SLOTS], shape.len());
        let mut origins = [0usize; SLOTS];
        for (k, g) in arrays.iter().enumerate() {
            if let Some(g) = g {
                origins[k] = lay_over(shape, g, k, &mut laid)?;
            }
        }
        // The input's memory order, largest stride outermost (a stable sort: C order stays).
        let input = Slot::Input as usize;
        let mut order: SmallVec<[usize; INLINE_DIMS]> =
            (0..shape.len()).filter(|&d| shape[d] != 1).collect();
        order.sort_by_key(|&d| std::cmp::Reverse(laid[d][input].unsigned_abs()));
        let mut plan = Plan {
            len,
            ndim: 0,
            dims: SmallVec::new(),
            steps: SmallVec::new(),
            origins,
            access: [Access::Absent; SLOTS],
        };
        for &d in &order {
            let extent = shape[d];
            let these = laid[d];
            // Merged into the previous dimension when, for every array, a step over this whole
            // dimension is one step of the previous.
            if plan.ndim > 0 {
                let prev = &mut plan.steps[plan.ndim - 1];
                if (0..SLOTS).all(|k| prev[k] == these[k] * extent as isize) {
                    plan.dims[plan.ndim - 1] *= extent;
                    *prev = these;
                    continue;
                }
            }
            plan.dims.push(extent);
            plan.steps.push(these);
            plan.ndim += 1;
        }
        plan.access = std::array::from_fn(|k| {
            if arrays[k].is_some() {
                plan.classify(k)
            } else {
                Access::Absent
            }
        });
        Ok(plan)
    }

    fn dims(&self) -> &[usize] {
        &self.dims[..self.ndim]
    }

    fn steps(&self) -> &[[isize; SLOTS]] {
        &self.steps[..self.ndim]
    }

    fn classify(&self, k: usize) -> Access {
        // Without dimensions (at most one element) every array is element 0 at its origin.
        if self.ndim == 0 {
            return Access::Dense;
        }
        if self.steps().iter().all(|s| s[k] == 0) {
            return Access::Const;
        }
        let mut dense = 1isize;
        let mut is_dense = true;
        for (s, &d) in self.steps().iter().zip(self.dims()).rev() {
            is_dense &= s[k] == dense;
            dense = dense.saturating_mul(d as isize);
        }
        if is_dense {
            return Access::Dense;
        }
        match self.steps().split_last() {
            Some((last, outer)) if last[k] == 1 && outer.iter().all(|s| s[k] == 0) => Access::Tile,
            _ => Access::Strided,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn access(&self, slot: Slot) -> Access {
        self.access[slot as usize]
    }

    pub fn origin(&self, slot: Slot) -> usize {
        self.origins[slot as usize]
    }

    /// The length of the innermost dimension: the longest a run can be.
    pub fn inner_extent(&self) -> usize {
        self.dims().last().copied().unwrap_or(self.len)
    }

    /// Calls `f(position, run_length, offsets)` for the runs covering `start..end`, in order, where
    /// `offsets[k]` is slot `k`'s element offset (origin included) at `position`; along the run,
    /// slot `k` advances by `self.inner_steps()[k]` per element.
    #[inline(always)]
    pub fn for_each_run(
        &self,
        start: usize,
        end: usize,
        mut f: impl FnMut(usize, usize, [usize; SLOTS]),
    ) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        let ndim = self.ndim;
        if ndim == 0 {
            f(start, end - start, self.origins);
            return;
        }
        let inner = self.dims[ndim - 1];
        let mut index = [0usize; MAX_DIMS];
        let mut rest = start;
        for d in (0..ndim).rev() {
            index[d] = rest % self.dims[d];
            rest /= self.dims[d];
        }
        // Offsets as signed numbers; each is an element of its buffer at every position.
        let mut offsets: [isize; SLOTS] = std::array::from_fn(|k| self.origins[k] as isize);
        for (d, &i) in index[..ndim].iter().enumerate() {
            for (k, offset) in offsets.iter_mut().enumerate() {
                *offset += i as isize * self.steps[d][k];
            }
        }
        let mut position = start;
        loop {
            let run = (inner - index[ndim - 1]).min(end - position);
            f(position, run, offsets.map(|o| o as usize));
            position += run;
            if position >= end {
                return;
            }
            // The run ended at the end of the innermost dimension: back to its start, and carry
            // into the outer ones.
            for (k, offset) in offsets.iter_mut().enumerate() {
                *offset -= index[ndim - 1] as isize * self.steps[ndim - 1][k];
            }
            index[ndim - 1] = 0;
            for d in (0..ndim - 1).rev() {
                let steps = &self.steps[d];
                if index[d] + 1 < self.dims[d] {
                    index[d] += 1;
                    for (offset, &step) in offsets.iter_mut().zip(steps) {
                        *offset += step;
                    }
                    break;
                }
                for (offset, &step) in offsets.iter_mut().zip(steps) {
                    *offset -= index[d] as isize * step;
                }
                index[d] = 0;
            }
        }
    }

    /// Each slot's step along a run.
    pub fn inner_steps(&self) -> [isize; SLOTS] {
        self.steps().last().copied().unwrap_or([0; SLOTS])
    }

    /// Writes slot `k`'s values at flat positions `start..start + out.len()` into `out`.
    #[inline(always)]
    pub fn gather<T: Copy>(&self, slot: Slot, data: &[T], start: usize, out: &mut [T]) {
        let k = slot as usize;
        let along = self.inner_steps()[k];
        if let ([rows, inner], 0) = (self.dims(), along) {
            // One value per row of a two-dimensional iteration space (a weight of shape (N, 1)):
            // a fill per row, without the general walk's bookkeeping.
            let step = self.steps[0][k];
            let (mut row, mut column) = (start / inner, start % inner);
            let mut filled = 0;
            while filled < out.len() {
                debug_assert!(row < *rows);
                let run = (inner - column).min(out.len() - filled);
                let at = (self.origins[k] as isize + row as isize * step) as usize;
                out[filled..filled + run].fill(data[at]);
                (filled, row, column) = (filled + run, row + 1, 0);
            }
            return;
        }
        self.for_each_run(start, start + out.len(), |position, len, offsets| {
            let into = &mut out[position - start..position - start + len];
            let at = offsets[k];
            match along {
                0 => into.fill(data[at]),
                1 => into.copy_from_slice(&data[at..at + len]),
                step => {
                    for (i, v) in into.iter_mut().enumerate() {
                        *v = data[(at as isize + i as isize * step) as usize];
                    }
                }
            }
        });
    }

    /// Writes `values` to slot `k`'s elements at flat positions `start..start + values.len()`.
    ///
    /// # Safety
    /// `data` must point to a buffer that every element of slot `k` lies in (as [`Plan::new`]
    /// checked for its length), with no other reference to those elements alive.
    #[inline(always)]
    pub unsafe fn scatter<T: Copy>(&self, slot: Slot, data: *mut T, start: usize, values: &[T]) {
        let k = slot as usize;
        let along = self.inner_steps()[k];
        self.for_each_run(start, start + values.len(), |position, len, offsets| {
            let from = &values[position - start..position - start + len];
            let at = offsets[k] as isize;
            for (i, &v) in from.iter().enumerate() {
                // SAFETY: the caller's contract; the offset is one of slot k's elements.
                unsafe { *data.offset(at + i as isize * along) = v };
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contiguous plan is the general one's answer for C-ordered arrays at the input's shape,
    /// for every shape with more than one element and any set of arrays present, and a buffer of
    /// the wrong length is refused by both alike.
    #[test]
    fn contiguous_plan_is_the_laid_out_one() {
        let shapes: [&[usize]; 8] = [
            &[2],
            &[64],
            &[1, 5],
            &[5, 1],
            &[3, 4],
            &[2, 1, 3],
            &[1, 1, 7, 1],
            &[2, 3, 4, 5, 1, 2, 3],
        ];
        let rules = [
            Rule::Same,
            Rule::Same,
            Rule::Broadcast,
            Rule::Broadcast,
            Rule::Broadcast,
            Rule::Broadcast,
            Rule::Output,
            Rule::Output,
            Rule::Output,
        ];
        for shape in shapes {
            let len = element_count(shape).unwrap();
            for present in 0u32..1 << SLOTS {
                // Input is in every call.
                if present & 1 == 0 {
                    continue;
                }
                for short in [None, Some(31 - present.leading_zeros() as usize)] {
                    let arrays: [Option<Geometry<'_>>; SLOTS] = std::array::from_fn(|k| {
                        (present & (1 << k) != 0).then(|| Geometry {
                            what: "array",
                            shape,
                            strides: None,
                            len: if short == Some(k) { len - 1 } else { len },
                            rule: rules[k],
                        })
                    });
                    assert_eq!(
                        Plan::contiguous(len, &arrays),
                        Plan::laid_out(shape, len, &arrays),
                        "shape {shape:?}, arrays {present:#b}, short {short:?}"
                    );
                }
            }
        }
    }
}
