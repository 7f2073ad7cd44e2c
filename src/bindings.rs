//! The PyO3 layer: borrows NumPy buffers, releases the GIL around each kernel call, maps errors to
//! Python exceptions. No math here; argument semantics live in the Python package.

use numpy::{
    PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::{
    evaluate, pool, simd, Element, KernelError, LossOut, OnProbabilities, Operand, Problem,
    Request, WithLogits, Wrt,
};

fn to_py_err(e: KernelError) -> PyErr {
    match e {
        KernelError::ThreadPool { .. } => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn readonly<'py, T: Element + numpy::Element>(
    what: &str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let array = obj.cast::<PyArrayDyn<T>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: expected a NumPy array of the input's dtype"
        ))
    })?;
    array
        .try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

fn readwrite<'py, T: Element + numpy::Element>(
    what: &str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<PyReadwriteArrayDyn<'py, T>> {
    let array = obj.cast::<PyArrayDyn<T>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: expected a NumPy array of the input's dtype"
        ))
    })?;
    array.try_readwrite().map_err(|e| {
        PyValueError::new_err(format!(
            "{what}: {e} (it must be writeable and must not overlap an input)"
        ))
    })
}

fn contiguous<'a, T: Element + numpy::Element>(
    what: &str,
    array: &'a PyReadonlyArrayDyn<'_, T>,
) -> PyResult<&'a [T]> {
    // A Fortran-ordered array is contiguous too, but its elements are not in the input's order.
    let c_order = array.is_c_contiguous();
    match array.as_slice() {
        Ok(data) if c_order => Ok(data),
        _ => Err(PyValueError::new_err(format!(
            "{what}: expected a C-contiguous, aligned array"
        ))),
    }
}

fn operand<'a, T: Element + numpy::Element>(
    what: &str,
    array: &'a Option<PyReadonlyArrayDyn<'_, T>>,
) -> PyResult<Operand<'a, T>> {
    Ok(match array {
        None => Operand::Const(T::from_f64(1.0)),
        Some(a) => Operand::Array {
            data: contiguous(what, a)?,
            shape: a.shape(),
        },
    })
}

/// The optional arguments of one kernel call, as Python objects.
struct Call<'a, 'py> {
    with_logits: bool,
    input: &'a Bound<'py, PyAny>,
    target: &'a Bound<'py, PyAny>,
    weight: Option<&'a Bound<'py, PyAny>>,
    pos_weight: Option<&'a Bound<'py, PyAny>>,
    grad_output: Option<&'a Bound<'py, PyAny>>,
    grad_scale: f64,
    loss_out: Option<&'a Bound<'py, PyAny>>,
    loss_sum: bool,
    grad_out: Option<&'a Bound<'py, PyAny>>,
    wrt: Wrt,
    mask: Option<&'a Bound<'py, PyAny>>,
    label_smoothing: f64,
    hess_out: Option<&'a Bound<'py, PyAny>>,
}

fn evaluate_typed<T: Element + numpy::Element>(
    py: Python<'_>,
    call: Call<'_, '_>,
) -> PyResult<f64> {
    let input = readonly::<T>("input", call.input)?;
    let target = readonly::<T>("target", call.target)?;
    let weight = call
        .weight
        .map(|a| readonly::<T>("weight", a))
        .transpose()?;
    let pos_weight = call
        .pos_weight
        .map(|a| readonly::<T>("pos_weight", a))
        .transpose()?;
    let grad_output = call
        .grad_output
        .map(|a| readonly::<T>("grad_output", a))
        .transpose()?;
    let mask = call.mask.map(|a| readonly::<T>("mask", a)).transpose()?;
    let mut loss_out = call
        .loss_out
        .map(|a| readwrite::<T>("loss output", a))
        .transpose()?;
    let mut grad_out = call
        .grad_out
        .map(|a| readwrite::<T>("gradient output", a))
        .transpose()?;
    let mut hess_out = call
        .hess_out
        .map(|a| readwrite::<T>("hessian output", a))
        .transpose()?;

    let problem = Problem {
        shape: input.shape(),
        input: contiguous("input", &input)?,
        target: contiguous("target", &target)?,
        weight: operand("weight", &weight)?,
        pos_weight: operand("pos_weight", &pos_weight)?,
        grad_output: operand("grad_output", &grad_output)?,
        grad_scale: call.grad_scale,
        mask: operand("mask", &mask)?,
        label_smoothing: call.label_smoothing,
    };
    let not_contiguous =
        |what: &str| PyValueError::new_err(format!("{what}: expected a C-contiguous array"));
    let loss = match (loss_out.as_mut(), call.loss_sum) {
        (Some(out), _) => LossOut::Each(
            out.as_slice_mut()
                .map_err(|_| not_contiguous("loss output"))?,
        ),
        (None, true) => LossOut::Sum,
        (None, false) => LossOut::Skip,
    };
    let grad = match grad_out.as_mut() {
        Some(out) => Some((
            out.as_slice_mut()
                .map_err(|_| not_contiguous("gradient output"))?,
            call.wrt,
        )),
        None => None,
    };
    let hess = match hess_out.as_mut() {
        Some(out) => Some(
            out.as_slice_mut()
                .map_err(|_| not_contiguous("hessian output"))?,
        ),
        None => None,
    };
    let request = Request { loss, grad, hess };
    let with_logits = call.with_logits;
    let n = problem.input.len();
    detached_if_large(py, n, move || evaluate_loss(with_logits, &problem, request))
        .map_err(to_py_err)
}

/// Evaluates the with-logits loss or the loss on probabilities.
fn evaluate_loss<T: Element>(
    with_logits: bool,
    problem: &Problem<'_, T>,
    request: Request<'_, T>,
) -> Result<f64, KernelError> {
    if with_logits {
        evaluate::<T, WithLogits>(problem, request)
    } else {
        evaluate::<T, OnProbabilities>(problem, request)
    }
}

/// Below this many elements a call takes less time than releasing and re-taking the GIL.
const DETACH_MIN_ELEMENTS: usize = 4096;

/// Runs `f` with the GIL released, unless the call is so small that the release would cost more
/// than it lets other threads gain.
fn detached_if_large<R: Send>(py: Python<'_>, n: usize, f: impl FnOnce() -> R + Send) -> R {
    if n >= DETACH_MIN_ELEMENTS {
        py.detach(f)
    } else {
        f()
    }
}

/// The common case, kept lean for small calls: mean or sum of one loss over two C-contiguous
/// arrays of the same float dtype and shape, with no weights. Returns `None` for anything else,
/// and the caller takes the general path.
fn reduced_typed<T: Element + numpy::Element>(
    py: Python<'_>,
    with_logits: bool,
    input: &Bound<'_, PyArrayDyn<T>>,
    target: &Bound<'_, PyAny>,
    mean: bool,
) -> PyResult<Option<f64>> {
    let Ok(target) = target.cast::<PyArrayDyn<T>>() else {
        return Ok(None);
    };
    if input.shape() != target.shape() || !input.is_c_contiguous() || !target.is_c_contiguous() {
        return Ok(None);
    }
    let (Ok(x), Ok(y)) = (input.try_readonly(), target.try_readonly()) else {
        return Ok(None);
    };
    let (Ok(xs), Ok(ys)) = (x.as_slice(), y.as_slice()) else {
        return Ok(None);
    };
    if xs.is_empty() {
        return Ok(None);
    }
    let shape = [xs.len()];
    let problem = Problem::new(&shape, xs, ys);
    let request = Request {
        loss: LossOut::Sum,
        grad: None,
        hess: None,
    };
    let total = detached_if_large(py, xs.len(), || {
        evaluate_loss(with_logits, &problem, request)
    })
    .map_err(to_py_err)?;
    Ok(Some(if mean { total / xs.len() as f64 } else { total }))
}

/// `mean` (or sum) of the loss for the plain case, or `None` when the general path is needed.
#[pyfunction]
fn reduced_loss(
    py: Python<'_>,
    with_logits: bool,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    mean: bool,
) -> PyResult<Option<f64>> {
    if let Ok(x) = input.cast::<PyArrayDyn<f32>>() {
        reduced_typed(py, with_logits, x, target, mean)
    } else if let Ok(x) = input.cast::<PyArrayDyn<f64>>() {
        reduced_typed(py, with_logits, x, target, mean)
    } else {
        Ok(None)
    }
}

/// Evaluates one loss call. `input`, `target` and the optional operands are C-contiguous arrays of
/// one dtype (float32 or float64); outputs are writeable arrays of that dtype and the input's size.
/// Returns the sum of the losses when `loss_sum`, else 0.
#[pyfunction]
#[pyo3(signature = (with_logits, input, target, weight, pos_weight, grad_output, grad_scale, loss_out, loss_sum, grad_out, wrt_target, mask=None, label_smoothing=0.0, hess_out=None))]
#[allow(clippy::too_many_arguments)]
fn bce<'py>(
    py: Python<'py>,
    with_logits: bool,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    grad_output: Option<&Bound<'py, PyAny>>,
    grad_scale: f64,
    loss_out: Option<&Bound<'py, PyAny>>,
    loss_sum: bool,
    grad_out: Option<&Bound<'py, PyAny>>,
    wrt_target: bool,
    mask: Option<&Bound<'py, PyAny>>,
    label_smoothing: f64,
    hess_out: Option<&Bound<'py, PyAny>>,
) -> PyResult<f64> {
    let call = Call {
        with_logits,
        input,
        target,
        weight,
        pos_weight,
        grad_output,
        grad_scale,
        loss_out,
        loss_sum,
        grad_out,
        wrt: if wrt_target { Wrt::Target } else { Wrt::Input },
        mask,
        label_smoothing,
        hess_out,
    };
    if input.cast::<PyArrayDyn<f32>>().is_ok() {
        evaluate_typed::<f32>(py, call)
    } else if input.cast::<PyArrayDyn<f64>>().is_ok() {
        evaluate_typed::<f64>(py, call)
    } else {
        Err(PyTypeError::new_err(
            "input: expected a float32 or float64 NumPy array",
        ))
    }
}

#[pyfunction]
fn set_num_threads(threads: usize) -> PyResult<()> {
    pool::set_num_threads(threads).map_err(to_py_err)
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bce, m)?)?;
    m.add_function(wrap_pyfunction!(reduced_loss, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(set_simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(simd_levels, m)?)?;
    m.add("CHUNK", crate::CHUNK)?;
    Ok(())
}
