//! The PyO3 layer, the only file that knows Python: for each call it borrows the NumPy arrays as
//! slices with strides, releases the GIL around the kernel, and wraps the results. No math here,
//! and no argument semantics (those live in `python/fastbce/_plan.py`); the checks of shapes,
//! broadcasting and values are the kernels' (`engine::evaluate`), reported as `ValueError`.

use std::borrow::Cow;
use std::ffi::c_void;
use std::ops::Range;

use numpy::npyffi::{NPY_ARRAY_ALIGNED, NPY_ARRAY_WRITEABLE, PY_ARRAY_API};
use numpy::{PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyString, PyTuple};

use crate::{
    evaluate, pool, simd, Element, KernelError, LossOut, OnProbabilities, Operand, Problem,
    Request, Strides, View, ViewMut, WithLogits, Wrt,
};

impl From<KernelError> for PyErr {
    fn from(e: KernelError) -> PyErr {
        match e {
            KernelError::ThreadPool { .. } => PyRuntimeError::new_err(e.to_string()),
            _ => PyValueError::new_err(e.to_string()),
        }
    }
}

/// The input, by dtype: the kernels' storage types.
enum Input<'py> {
    F32(Bound<'py, PyArrayDyn<f32>>),
    F64(Bound<'py, PyArrayDyn<f64>>),
}

/// Extracted by hand rather than derived: the derived extraction builds an error for each variant
/// it tries, which cost a float64 call 0.2 µs.
impl<'a, 'py> FromPyObject<'a, 'py> for Input<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(x) = obj.cast::<PyArrayDyn<f32>>() {
            return Ok(Input::F32(x.to_owned()));
        }
        if let Ok(x) = obj.cast::<PyArrayDyn<f64>>() {
            return Ok(Input::F64(x.to_owned()));
        }
        Err(PyTypeError::new_err(
            "input must be a NumPy array of dtype float32 or float64",
        ))
    }
}

/// What a mean divides by: an element count, a Python int, read as one (where the `f64`
/// extraction converts it to a Python float first, which cost a small call 0.03 µs), or a weight
/// sum, a float. A count beyond 2^53 rounds to the nearest `f64`, as Python's `float()` does.
struct Divisor(f64);

impl<'a, 'py> FromPyObject<'a, 'py> for Divisor {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(count) = obj.cast::<PyInt>() {
            if let Ok(count) = count.extract::<u64>() {
                return Ok(Divisor(count as f64));
            }
        }
        Ok(Divisor(obj.extract::<f64>()?))
    }
}

/// Below this many elements a call takes less time than releasing and re-taking the GIL.
const DETACH_MIN_ELEMENTS: usize = 4096;

/// An array's memory as the kernels see it: the slice from its lowest to its highest element
/// (copied when NumPy hands over unaligned memory, which a slice cannot be), the element strides,
/// and that byte range, to tell whether two arrays may overlap.
struct Memory<'a, T: Clone> {
    data: Cow<'a, [T]>,
    shape: Cow<'a, [usize]>,
    /// `None` for a C-ordered array.
    strides: Option<Strides>,
    bytes: Range<usize>,
}

fn flag(array: &Bound<'_, PyArrayDyn<impl numpy::Element>>, flag: i32) -> bool {
    // SAFETY: a live array object; reading its flags.
    unsafe { (*array.as_array_ptr()).flags & flag != 0 }
}

/// The memory of `array`, borrowed for as long as `array` is. The caller makes sure that no
/// output's memory overlaps it ([`check_disjoint`]).
fn memory<'a, T: numpy::Element + Clone>(
    what: &str,
    array: &'a Bound<'_, PyArrayDyn<T>>,
) -> PyResult<Memory<'a, T>> {
    let size = std::mem::size_of::<T>() as isize;
    let shape = array.shape();
    let first = array.data();
    let c_order = array.is_c_contiguous();
    let empty = shape.contains(&0);
    let (mut lo, mut hi) = (0isize, 0isize);
    let mut steps = Vec::new();
    if c_order {
        if !empty {
            hi = shape.iter().product::<usize>() as isize - 1;
        }
    } else {
        steps.reserve(shape.len());
        for &bytes in array.strides() {
            if bytes % size != 0 {
                return Err(PyValueError::new_err(format!(
                    "{what} has a stride of {bytes} bytes, not a multiple of its items' {size}"
                )));
            }
            steps.push(bytes / size);
        }
        if !empty {
            for (&d, &s) in shape.iter().zip(&steps) {
                let reach = (d as isize - 1) * s;
                if reach < 0 {
                    lo += reach;
                } else {
                    hi += reach;
                }
            }
        }
    }
    let (data, bytes) = if empty {
        (Cow::Borrowed(&[][..]), 0..0)
    } else {
        // SAFETY: NumPy guarantees that every element the shape and strides reach lies in the
        // array's memory, which lives as long as `array`; `first.offset(lo)` is its lowest
        // element and `hi - lo + 1` elements reach its highest.
        let start = unsafe { first.offset(lo) };
        let len = (hi - lo + 1) as usize;
        let data = if flag(array, NPY_ARRAY_ALIGNED) {
            Cow::Borrowed(unsafe { std::slice::from_raw_parts(start as *const T, len) })
        } else {
            let mut copy = Vec::<T>::with_capacity(len);
            // SAFETY: `len` elements' bytes from `start` are the array's memory (above), copied
            // into a buffer of that capacity, which then holds `len` initialised elements.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    start as *const u8,
                    copy.as_mut_ptr() as *mut u8,
                    len * size as usize,
                );
                copy.set_len(len);
            }
            Cow::Owned(copy)
        };
        let at = start as usize;
        (data, at..at + len * size as usize)
    };
    let strides = (!c_order).then(|| Strides {
        steps,
        origin: (-lo) as usize,
    });
    Ok(Memory {
        data,
        shape: Cow::Borrowed(shape),
        strides,
        bytes,
    })
}

/// A weight or pos_weight as Python passed it: an array of the input's dtype, or a flat list of
/// numbers, read here (NumPy's conversion of a short list costs more than a small call).
enum Source<'py, T> {
    Array(Bound<'py, PyArrayDyn<T>>),
    List(Vec<T>),
}

fn source<'py, T: Element + numpy::Element>(
    what: &str,
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Source<'py, T>>> {
    let Some(obj) = obj else { return Ok(None) };
    if let Ok(list) = obj.cast::<PyList>() {
        let values: Vec<f64> = list.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must hold real numbers (a flat list of them, or an array)"
            ))
        })?;
        return Ok(Some(Source::List(
            values.into_iter().map(T::from_f64).collect(),
        )));
    }
    typed::<T>(what, obj).map(|a| Some(Source::Array(a)))
}

fn source_memory<'a, T: Element + numpy::Element>(
    what: &str,
    source: &'a Source<'_, T>,
) -> PyResult<Memory<'a, T>> {
    match source {
        Source::Array(a) => memory(what, a),
        // Our own buffer: no other array's memory can overlap it.
        Source::List(values) => Ok(Memory {
            data: Cow::Borrowed(values),
            shape: Cow::Owned(vec![values.len()]),
            strides: None,
            bytes: 0..0,
        }),
    }
}

/// An output's memory, mutable.
fn memory_mut<'a, T: Element + numpy::Element>(
    what: &str,
    array: &'a Bound<'_, PyArrayDyn<T>>,
) -> PyResult<(ViewMut<'a, T>, Range<usize>)> {
    if !flag(array, NPY_ARRAY_WRITEABLE) {
        return Err(PyValueError::new_err(format!("{what} is read-only")));
    }
    if !flag(array, NPY_ARRAY_ALIGNED) {
        return Err(PyValueError::new_err(format!(
            "{what} is not aligned in memory"
        )));
    }
    let m = memory(what, array)?;
    // SAFETY: the array is writeable and aligned (so `m.data` borrows its memory), and
    // `check_disjoint` refuses outputs whose memory overlaps any other array of the call, so this
    // is the only reference to these elements.
    let data = unsafe { std::slice::from_raw_parts_mut(m.data.as_ptr() as *mut T, m.data.len()) };
    let view = ViewMut {
        data,
        shape: array.shape(),
        strides: m.strides,
    };
    Ok((view, m.bytes))
}

fn view<'m, T: Clone>(m: &'m Memory<'_, T>) -> View<'m, T> {
    View {
        data: &m.data,
        shape: &m.shape,
        strides: m.strides.clone(),
    }
}

fn operand<'m, T: Clone>(m: &'m Option<Memory<'_, T>>, absent: T) -> Operand<'m, T> {
    match m {
        None => Operand::Const(absent),
        Some(m) => Operand::Array {
            data: &m.data,
            shape: &m.shape,
            strides: m.strides.clone(),
        },
    }
}

/// Refuses an output whose memory range meets another array's: a constant-time test, which may
/// refuse interleaved views of one buffer that share no element.
fn check_disjoint(
    outputs: &[Option<&Range<usize>>],
    inputs: &[Option<&Range<usize>>],
) -> PyResult<()> {
    let meets = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
    for (i, range) in outputs.iter().enumerate() {
        let Some(range) = range else { continue };
        if inputs.iter().flatten().any(|other| meets(range, other)) {
            return Err(PyValueError::new_err(
                "out shares memory with an input; pass a separate array",
            ));
        }
        if outputs[..i]
            .iter()
            .flatten()
            .any(|other| meets(range, other))
        {
            return Err(PyValueError::new_err(
                "out shares memory with another output; pass separate arrays",
            ));
        }
    }
    Ok(())
}

/// Which of `names` a string argument is (compared as Python strings: the callers pass interned
/// literals, so this is a pointer comparison), or an error naming the argument.
fn choice<const N: usize>(
    what: &str,
    value: Option<&Bound<'_, PyString>>,
    names: [&Bound<'_, PyString>; N],
) -> PyResult<Option<usize>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if let Some(i) = names.iter().position(|name| value.is(name)) {
        return Ok(Some(i));
    }
    for (i, name) in names.iter().enumerate() {
        if value.as_any().eq(name.as_any())? {
            return Ok(Some(i));
        }
    }
    Err(PyValueError::new_err(format!(
        "{what}: unexpected value {value}"
    )))
}

/// `value` as a NumPy scalar of its type (what `np.float32(value)` makes).
fn scalar<'py, T: numpy::Element>(py: Python<'py>, mut value: T) -> PyResult<Bound<'py, PyAny>> {
    let descr = T::get_dtype(py);
    // SAFETY: `value` is a `T`, the type `descr` describes; NumPy copies it into a new scalar
    // object, a new reference (or NULL with an error set).
    unsafe {
        let object = PY_ARRAY_API.PyArray_Scalar(
            py,
            (&mut value as *mut T).cast::<c_void>(),
            descr.as_dtype_ptr(),
            std::ptr::null_mut(),
        );
        Bound::from_owned_ptr_or_err(py, object)
    }
}

fn typed<'py, T: numpy::Element>(
    what: &str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    obj.cast::<PyArrayDyn<T>>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a NumPy array of dtype {}",
            std::any::type_name::<T>()
        ))
    })
}

fn typed_opt<'py, T: numpy::Element>(
    what: &str,
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyArrayDyn<T>>>> {
    obj.map(|o| typed::<T>(what, o)).transpose()
}

/// What becomes of the losses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Losses {
    Skip,
    Each,
    Sum,
}

/// What a call returns: each output asked for.
struct Results<'py> {
    loss: Bound<'py, PyAny>,
    grad: Option<Bound<'py, PyAny>>,
    hess: Option<Bound<'py, PyAny>>,
}

/// One call's arguments, as Python passed them.
struct Call<'a, 'py> {
    logits: bool,
    weight: Option<&'a Bound<'py, PyAny>>,
    pos_weight: Option<&'a Bound<'py, PyAny>>,
    mask: Option<&'a Bound<'py, PyAny>>,
    label_smoothing: f64,
    loss: Losses,
    loss_out: Option<&'a Bound<'py, PyAny>>,
    divisor: Option<f64>,
    grad: Option<Wrt>,
    grad_output: Option<&'a Bound<'py, PyAny>>,
    grad_scale: f64,
    grad_out: Option<&'a Bound<'py, PyAny>>,
    hess: bool,
    hess_out: Option<&'a Bound<'py, PyAny>>,
}

impl<'a, 'py> Call<'a, 'py> {
    fn new(
        logits: bool,
        weight: Option<&'a Bound<'py, PyAny>>,
        pos_weight: Option<&'a Bound<'py, PyAny>>,
        mask: Option<&'a Bound<'py, PyAny>>,
        label_smoothing: f64,
    ) -> Self {
        Call {
            logits,
            weight,
            pos_weight,
            mask,
            label_smoothing,
            loss: Losses::Skip,
            loss_out: None,
            divisor: None,
            grad: None,
            grad_output: None,
            grad_scale: 1.0,
            grad_out: None,
            hess: false,
            hess_out: None,
        }
    }
}

/// An output: the caller's array, or a new one in the input's memory order.
fn output<'py, T: numpy::Element>(
    py: Python<'py>,
    given: Option<&Bound<'py, PyAny>>,
    input: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    match given {
        Some(out) => typed::<T>("out", out),
        None => {
            let fortran = input.is_fortran_contiguous() && !input.is_c_contiguous();
            // SAFETY: uninitialised, and the kernels write every element before it is returned.
            Ok(unsafe { PyArrayDyn::<T>::new(py, input.shape(), fortran) })
        }
    }
}

fn run<'py, T: Element + numpy::Element>(
    py: Python<'py>,
    input: Bound<'py, PyArrayDyn<T>>,
    target: &Bound<'py, PyAny>,
    call: Call<'_, 'py>,
) -> PyResult<Results<'py>> {
    let each = call.loss == Losses::Each;
    let wrt = call.grad;
    let target = typed::<T>("target", target)?;
    let weight = source::<T>("weight", call.weight)?;
    let pos_weight = source::<T>("pos_weight", call.pos_weight)?;
    let grad_output = typed_opt::<T>("grad_output", call.grad_output)?;
    let mask = typed_opt::<bool>("mask", call.mask)?;
    let loss_array = each
        .then(|| output(py, call.loss_out, &input))
        .transpose()?;
    let grad_array = wrt.map(|_| output(py, call.grad_out, &input)).transpose()?;
    let hess_array = call
        .hess
        .then(|| output(py, call.hess_out, &input))
        .transpose()?;

    let x = memory("input", &input)?;
    let y = memory("target", &target)?;
    let w = weight
        .as_ref()
        .map(|a| source_memory("weight", a))
        .transpose()?;
    let pw = pos_weight
        .as_ref()
        .map(|a| source_memory("pos_weight", a))
        .transpose()?;
    let go = grad_output
        .as_ref()
        .map(|a| memory("grad_output", a))
        .transpose()?;
    let m = mask.as_ref().map(|a| memory("mask", a)).transpose()?;
    let loss_out = loss_array
        .as_ref()
        .map(|a| memory_mut("out", a))
        .transpose()?;
    let grad_out = grad_array
        .as_ref()
        .map(|a| memory_mut("out", a))
        .transpose()?;
    let hess_out = hess_array
        .as_ref()
        .map(|a| memory_mut("out", a))
        .transpose()?;
    check_disjoint(
        &[
            loss_out.as_ref().map(|o| &o.1),
            grad_out.as_ref().map(|o| &o.1),
            hess_out.as_ref().map(|o| &o.1),
        ],
        &[
            Some(&x.bytes),
            Some(&y.bytes),
            w.as_ref().map(|m| &m.bytes),
            pw.as_ref().map(|m| &m.bytes),
            go.as_ref().map(|m| &m.bytes),
            m.as_ref().map(|m| &m.bytes),
        ],
    )?;
    let n = input.len();
    let problem = Problem {
        input: view(&x),
        target: view(&y),
        weight: operand(&w, T::ONE),
        pos_weight: operand(&pw, T::ONE),
        grad_output: operand(&go, T::ONE),
        grad_scale: call.grad_scale,
        mask: operand(&m, true),
        label_smoothing: call.label_smoothing,
    };
    let request = Request {
        loss: match (call.loss, loss_out) {
            (_, Some((out, _))) => LossOut::Each(out),
            (Losses::Skip, None) => LossOut::Skip,
            (_, None) => LossOut::Sum,
        },
        grad: grad_out.zip(wrt).map(|((out, _), wrt)| (out, wrt)),
        hess: hess_out.map(|(out, _)| out),
    };
    let logits = call.logits;
    let compute = move || {
        if logits {
            evaluate::<T, WithLogits>(&problem, request)
        } else {
            evaluate::<T, OnProbabilities>(&problem, request)
        }
    };
    let sum = if n >= DETACH_MIN_ELEMENTS {
        py.detach(compute)
    } else {
        compute()
    }?;
    let loss: Bound<'py, PyAny> = match (call.loss, loss_array, call.divisor) {
        (_, Some(array), _) => array.into_any(),
        (Losses::Skip, _, _) => py.None().into_bound(py),
        // A mean or a sum, rounded once to the storage type (NaN when nothing counts).
        (_, None, Some(d)) => scalar(py, T::from_f64(if d != 0.0 { sum / d } else { f64::NAN }))?,
        (_, None, None) => sum.into_pyobject(py)?.into_any(),
    };
    Ok(Results {
        loss,
        grad: grad_array.map(|a| a.into_any()),
        hess: hess_array.map(|a| a.into_any()),
    })
}

fn dispatch<'py>(
    py: Python<'py>,
    input: Input<'py>,
    target: &Bound<'py, PyAny>,
    call: Call<'_, 'py>,
) -> PyResult<Results<'py>> {
    match input {
        Input::F32(x) => run(py, x, target, call),
        Input::F64(x) => run(py, x, target, call),
    }
}

// The entry points, by job. Each takes input and target, then the loss's own arguments in one
// order: `logits` (with logits, or on probabilities), `weight`, `pos_weight`, `mask` (all None or
// arrays of the input's dtype; the mask boolean) and `label_smoothing`; then what the job needs.
// Arrays may have any layout; outputs are new arrays in the input's memory order unless given.
// The parameters are positional-or-keyword: callers on the hot path pass them positionally, since
// keyword arguments cost a dictionary per call under the limited API of Python 3.9.

/// The per-element losses, written into `out` when given.
#[pyfunction]
#[pyo3(signature = (input, target, logits, weight=None, pos_weight=None, mask=None, label_smoothing=0.0, out=None))]
#[allow(clippy::too_many_arguments)]
fn losses<'py>(
    py: Python<'py>,
    input: Input<'py>,
    target: &Bound<'py, PyAny>,
    logits: bool,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    mask: Option<&Bound<'py, PyAny>>,
    label_smoothing: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut call = Call::new(logits, weight, pos_weight, mask, label_smoothing);
    call.loss = Losses::Each;
    call.loss_out = out;
    Ok(dispatch(py, input, target, call)?.loss)
}

/// The sum of the losses: a float64 Python float, or with `divisor`, `sum / divisor` (NaN for a
/// zero divisor) rounded once to a NumPy scalar of the input's dtype.
#[pyfunction]
#[pyo3(signature = (input, target, logits, weight=None, pos_weight=None, mask=None, label_smoothing=0.0, divisor=None))]
#[allow(clippy::too_many_arguments)]
fn loss_total<'py>(
    py: Python<'py>,
    input: Input<'py>,
    target: &Bound<'py, PyAny>,
    logits: bool,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    mask: Option<&Bound<'py, PyAny>>,
    label_smoothing: f64,
    divisor: Option<Divisor>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut call = Call::new(logits, weight, pos_weight, mask, label_smoothing);
    call.loss = Losses::Sum;
    call.divisor = divisor.map(|d| d.0);
    Ok(dispatch(py, input, target, call)?.loss)
}

/// `(loss, gradient)`: the gradient of `sum(loss * grad_output) * grad_scale` with respect to
/// `wrt` ("input" or "target"; `grad_output` None or an array), written into `out` when given;
/// the loss as `loss` asks: None, "each" (into `loss_out` when given) or "sum" (as `loss_total`,
/// with `divisor`).
#[pyfunction]
#[pyo3(signature = (
    input, target, logits, weight=None, pos_weight=None, mask=None, label_smoothing=0.0,
    wrt=None, grad_output=None, grad_scale=1.0, out=None, loss=None, loss_out=None, divisor=None,
))]
#[allow(clippy::too_many_arguments)]
fn gradient<'py>(
    py: Python<'py>,
    input: Input<'py>,
    target: &Bound<'py, PyAny>,
    logits: bool,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    mask: Option<&Bound<'py, PyAny>>,
    label_smoothing: f64,
    wrt: Option<&Bound<'py, PyString>>,
    grad_output: Option<&Bound<'py, PyAny>>,
    grad_scale: f64,
    out: Option<&Bound<'py, PyAny>>,
    loss: Option<&Bound<'py, PyString>>,
    loss_out: Option<&Bound<'py, PyAny>>,
    divisor: Option<Divisor>,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut call = Call::new(logits, weight, pos_weight, mask, label_smoothing);
    call.grad = Some(
        match choice("wrt", wrt, [intern!(py, "input"), intern!(py, "target")])? {
            Some(1) => Wrt::Target,
            _ => Wrt::Input,
        },
    );
    call.loss = match choice("loss", loss, [intern!(py, "each"), intern!(py, "sum")])? {
        None => Losses::Skip,
        Some(0) => Losses::Each,
        Some(_) => Losses::Sum,
    };
    call.grad_output = grad_output;
    call.grad_scale = grad_scale;
    call.grad_out = out;
    call.loss_out = loss_out;
    call.divisor = divisor.map(|d| d.0);
    let result = dispatch(py, input, target, call)?;
    let grad = result.grad.unwrap_or_else(|| py.None().into_bound(py));
    PyTuple::new(py, [result.loss, grad])
}

/// `(gradient, hessian)` of the with-logits loss with respect to the input, written into
/// `grad_out` and `hess_out` when given.
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, pos_weight=None, mask=None, label_smoothing=0.0, grad_out=None, hess_out=None))]
#[allow(clippy::too_many_arguments)]
fn grad_hess<'py>(
    py: Python<'py>,
    input: Input<'py>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    mask: Option<&Bound<'py, PyAny>>,
    label_smoothing: f64,
    grad_out: Option<&Bound<'py, PyAny>>,
    hess_out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut call = Call::new(true, weight, pos_weight, mask, label_smoothing);
    call.grad = Some(Wrt::Input);
    call.grad_out = grad_out;
    call.hess = true;
    call.hess_out = hess_out;
    let result = dispatch(py, input, target, call)?;
    let none = || py.None().into_bound(py);
    PyTuple::new(
        py,
        [
            result.grad.unwrap_or_else(none),
            result.hess.unwrap_or_else(none),
        ],
    )
}

/// `(count, weight_sum)`: how many elements of the input's shape `mask` keeps, and the float64
/// sum of their `weight`s (their count when there is none), as a mean divides by them.
#[pyfunction]
#[pyo3(signature = (input, weight=None, mask=None))]
fn kept<'py>(
    py: Python<'py>,
    input: Input<'py>,
    weight: Option<&Bound<'py, PyAny>>,
    mask: Option<&Bound<'py, PyAny>>,
) -> PyResult<(u64, f64)> {
    fn typed_kept<'py, T: Element + numpy::Element>(
        py: Python<'py>,
        input: Bound<'py, PyArrayDyn<T>>,
        weight: Option<&Bound<'py, PyAny>>,
        mask: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(u64, f64)> {
        let weight = source::<T>("weight", weight)?;
        let mask = typed_opt::<bool>("mask", mask)?;
        let w = weight
            .as_ref()
            .map(|a| source_memory("weight", a))
            .transpose()?;
        let m = mask.as_ref().map(|a| memory("mask", a)).transpose()?;
        let (w, m) = (operand(&w, T::ONE), operand(&m, true));
        let shape = input.shape();
        let n = input.len();
        let count = move || crate::kept(shape, &w, &m);
        Ok(if n >= DETACH_MIN_ELEMENTS {
            py.detach(count)
        } else {
            count()
        }?)
    }
    match input {
        Input::F32(x) => typed_kept(py, x, weight, mask),
        Input::F64(x) => typed_kept(py, x, weight, mask),
    }
}

/// Raises ValueError unless an operand of shape `operand` broadcasts to `shape` without
/// enlarging it: the kernels' rule, for callers that check shapes before any data exists (Dask,
/// the upstream gradient of an axis reduction, whose `shape` the message calls `shape_name`).
#[pyfunction]
#[pyo3(signature = (what, operand, shape, shape_name="the input's shape"))]
fn check_broadcast(
    what: &str,
    operand: Vec<usize>,
    shape: Vec<usize>,
    shape_name: &str,
) -> PyResult<()> {
    let name = match what {
        "weight" => "weight",
        "pos_weight" => "pos_weight",
        "grad_output" => "grad_output",
        "mask" => "mask",
        _ => "operand",
    };
    crate::check_broadcast(name, &operand, &shape).map_err(|e| match e {
        KernelError::Broadcast { operand, shape, .. } => PyValueError::new_err(format!(
            "{what} of shape {} does not broadcast to {shape_name} {} without enlarging it",
            crate::error::tuple(&operand),
            crate::error::tuple(&shape)
        )),
        other => other.into(),
    })
}

/// Sets the thread count of later calls: an integer from 1 to `MAX_THREADS`.
#[pyfunction]
fn set_num_threads(threads: &Bound<'_, PyAny>) -> PyResult<()> {
    match threads.extract::<u64>() {
        Ok(n) => Ok(pool::set_num_threads(n)?),
        Err(_) => Err(PyValueError::new_err(format!(
            "num_threads must be between 1 and {} (4 per CPU), got {threads}",
            pool::max_threads()
        ))),
    }
}

#[pyfunction]
fn get_num_threads() -> usize {
    pool::get_num_threads()
}

/// The instruction-set level the kernels use ("scalar", "baseline", "avx2", "avx512", "neon").
#[pyfunction]
fn simd_level() -> &'static str {
    simd::active().name()
}

/// Caps the level (for tests and benchmarks); returns the level now in use.
#[pyfunction]
fn set_simd_level(name: &str) -> PyResult<&'static str> {
    let level = simd::Level::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown SIMD level {name:?}; expected one of scalar, baseline, avx2, avx512"
        ))
    })?;
    Ok(simd::set_level(level).name())
}

/// The levels this CPU can run, from the reference path up.
#[pyfunction]
fn simd_levels() -> Vec<&'static str> {
    simd::LEVELS
        .into_iter()
        .filter(|l| *l <= simd::detected())
        .map(|l| l.name())
        .collect()
}

/// Free-threaded Python may run this module without a GIL (`gil_used = false`): the kernels keep
/// no Python state, every call works on the arrays it is given with the GIL released already, and
/// the one piece of shared state, the thread pool's, is behind a mutex. Another thread writing an
/// array that a call reads is the race it always was with the GIL released: that call's results
/// are unspecified, nothing else is.
#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pool::install_fork_handlers();
    m.add_function(wrap_pyfunction!(losses, m)?)?;
    m.add_function(wrap_pyfunction!(loss_total, m)?)?;
    m.add_function(wrap_pyfunction!(gradient, m)?)?;
    m.add_function(wrap_pyfunction!(grad_hess, m)?)?;
    m.add_function(wrap_pyfunction!(kept, m)?)?;
    m.add_function(wrap_pyfunction!(check_broadcast, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(set_simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(simd_levels, m)?)?;
    m.add("CHUNK", crate::CHUNK)?;
    m.add("MAX_THREADS", pool::max_threads())?;
    Ok(())
}
