//! Broadcasting of weight, pos_weight, grad_output and mask over the input's shape, without
//! materialising the broadcast.
//!
//! The input's shape is simplified once (dimensions of size 1 dropped, adjacent dimensions merged
//! where every operand allows it) and the flat index range is then walked as *runs*: stretches of
//! the innermost dimension along which each operand is either one constant or a contiguous slice.
//! The kernels see plain slices and constants, which is what lets them vectorise.

use crate::error::KernelError;

/// Something that broadcasts to the input's shape: one value everywhere, or a C-contiguous array of
/// its own shape (aligned to the input's shape from the right, as NumPy and PyTorch do).
#[derive(Clone, Copy, Debug)]
pub enum Operand<'a, T> {
    Const(T),
    Array { data: &'a [T], shape: &'a [usize] },
}

/// How an operand looks along one run.
#[derive(Clone, Copy, Debug)]
pub enum Run<'a, T> {
    Const(T),
    Slice(&'a [T]),
}

pub const OPERANDS: usize = 4;

/// The simplified iteration space shared by the input and its broadcast operands.
#[derive(Clone, Debug)]
pub struct Plan {
    len: usize,
    dims: Vec<usize>,
    /// `strides[d][k]`: element stride of operand `k` along dimension `d` (0 where it broadcasts).
    strides: Vec<[usize; OPERANDS]>,
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

/// Element strides of `operand` over `shape`, after checking that it broadcasts without enlarging.
fn broadcast_strides<T>(
    what: &'static str,
    operand: &Operand<'_, T>,
    shape: &[usize],
) -> Result<Vec<usize>, KernelError> {
    let (data, own) = match operand {
        Operand::Const(_) => return Ok(vec![0; shape.len()]),
        Operand::Array { data, shape: own } => (data, own),
    };
    let mismatch = || KernelError::Broadcast {
        what,
        operand: own.to_vec(),
        shape: shape.to_vec(),
    };
    if own.len() > shape.len() {
        return Err(mismatch());
    }
    let expected = element_count(own)?;
    if data.len() != expected {
        return Err(KernelError::Length {
            what,
            expected,
            got: data.len(),
        });
    }
    let offset = shape.len() - own.len();
    let mut strides = vec![0; shape.len()];
    let mut step = 1usize;
    for (i, &d) in own.iter().enumerate().rev() {
        let target = shape[offset + i];
        if d == target && d != 1 {
            strides[offset + i] = step;
        } else if d != 1 {
            return Err(mismatch());
        }
        step *= d;
    }
    Ok(strides)
}

impl Plan {
    pub fn new<T>(
        shape: &[usize],
        operands: [(&'static str, &Operand<'_, T>); OPERANDS],
    ) -> Result<Plan, KernelError> {
        let len = element_count(shape)?;
        let mut per_operand: [Vec<usize>; OPERANDS] = Default::default();
        for (strides, (what, operand)) in per_operand.iter_mut().zip(operands) {
            *strides = broadcast_strides(what, operand, shape)?;
        }
        let mut dims: Vec<usize> = Vec::with_capacity(shape.len());
        let mut strides: Vec<[usize; OPERANDS]> = Vec::with_capacity(shape.len());
        for (d, &extent) in shape.iter().enumerate() {
            if extent == 1 {
                continue;
            }
            let these: [usize; OPERANDS] = std::array::from_fn(|k| per_operand[k][d]);
            // Merge into the previous dimension when, for every operand, stepping over this whole
            // dimension equals one step of the previous one.
            if let (Some(prev_extent), Some(prev)) = (dims.last_mut(), strides.last_mut()) {
                if (0..OPERANDS).all(|k| prev[k] == these[k] * extent) {
                    *prev_extent *= extent;
                    *prev = these;
                    continue;
                }
            }
            dims.push(extent);
            strides.push(these);
        }
        Ok(Plan { len, dims, strides })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f(position, run_length, offsets)` for the runs covering `start..end`, in order, where
    /// `offsets[k]` is operand `k`'s element offset at `position` and its stride along the run is
    /// `self.inner_strides()[k]` (0 or 1).
    #[inline(always)]
    pub fn for_each_run(
        &self,
        start: usize,
        end: usize,
        mut f: impl FnMut(usize, usize, [usize; OPERANDS]),
    ) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        let Some(&inner) = self.dims.last() else {
            f(start, end - start, [0; OPERANDS]);
            return;
        };
        let ndim = self.dims.len();
        let mut index = vec![0usize; ndim];
        let mut rest = start;
        for d in (0..ndim).rev() {
            index[d] = rest % self.dims[d];
            rest /= self.dims[d];
        }
        // Each operand's offset at `position`, kept up to date as the odometer turns (a run per
        // element of a short last dimension makes this the loop's cost).
        let mut offsets = [0usize; OPERANDS];
        for (d, &i) in index.iter().enumerate() {
            for (k, offset) in offsets.iter_mut().enumerate() {
                *offset += i * self.strides[d][k];
            }
        }
        let mut position = start;
        loop {
            let run = (inner - index[ndim - 1]).min(end - position);
            f(position, run, offsets);
            position += run;
            if position >= end {
                return;
            }
            // The run ended at the end of the innermost dimension: back to its start, and carry
            // into the outer ones.
            for (k, offset) in offsets.iter_mut().enumerate() {
                *offset -= index[ndim - 1] * self.strides[ndim - 1][k];
            }
            index[ndim - 1] = 0;
            for d in (0..ndim - 1).rev() {
                let strides = &self.strides[d];
                if index[d] + 1 < self.dims[d] {
                    index[d] += 1;
                    for (offset, &stride) in offsets.iter_mut().zip(strides) {
                        *offset += stride;
                    }
                    break;
                }
                for (offset, &stride) in offsets.iter_mut().zip(strides) {
                    *offset -= index[d] * stride;
                }
                index[d] = 0;
            }
        }
    }

    /// Writes operand `k`'s values at flat positions `start..start + out.len()` into `out`: a
    /// broadcast materialised for one window.
    #[inline(always)]
    pub fn gather<T: Copy>(&self, k: usize, data: &[T], start: usize, out: &mut [T]) {
        let along = self.inner_strides()[k];
        if let ([rows, inner], 0) = (self.dims.as_slice(), along) {
            // One value per row of a two-dimensional iteration space (a weight of shape (N, 1)):
            // a fill per row, without the general walk's bookkeeping.
            let (step, mut row, mut column) = (self.strides[0][k], start / inner, start % inner);
            let mut filled = 0;
            while filled < out.len() {
                debug_assert!(row < *rows);
                let run = (inner - column).min(out.len() - filled);
                out[filled..filled + run].fill(data[row * step]);
                (filled, row, column) = (filled + run, row + 1, 0);
            }
            return;
        }
        self.for_each_run(start, start + out.len(), |position, len, offsets| {
            let into = &mut out[position - start..position - start + len];
            if along == 0 {
                into.fill(data[offsets[k]]);
            } else {
                into.copy_from_slice(&data[offsets[k]..offsets[k] + len]);
            }
        });
    }

    /// The length of the innermost (simplified) dimension: the longest a run can be.
    pub fn inner_extent(&self) -> usize {
        self.dims.last().copied().unwrap_or(self.len)
    }

    /// Whether operand `k` varies along the innermost dimension only (one value per last-dimension
    /// column): its value at flat position `p` is then element `p % self.inner_extent()` of its data.
    pub fn varies_along_inner_only(&self, k: usize) -> bool {
        match self.strides.split_last() {
            Some((last, outer)) => last[k] == 1 && outer.iter().all(|s| s[k] == 0),
            None => false,
        }
    }

    /// Each operand's stride along a run: 1 when it varies with the innermost dimension, else 0.
    pub fn inner_strides(&self) -> [usize; OPERANDS] {
        self.strides.last().copied().unwrap_or([0; OPERANDS])
    }
}

impl<'a, T: Copy> Operand<'a, T> {
    /// The operand along the run of `len` elements that starts at element `offset` of its data.
    #[inline(always)]
    pub fn run(&self, offset: usize, inner_stride: usize, len: usize) -> Run<'a, T> {
        match *self {
            Operand::Const(v) => Run::Const(v),
            Operand::Array { data, .. } if inner_stride == 0 => Run::Const(data[offset]),
            Operand::Array { data, .. } => Run::Slice(&data[offset..offset + len]),
        }
    }
}
