//! The kernels must run on ordinary threads: 2 MiB is the stack Rust gives a spawned thread, a
//! libtest test thread and a rayon worker (the crate's own pool included) unless told otherwise.
//! Each probe runs in a child process, so that an overflow (which aborts) is reported as a
//! failure naming the probe instead of killing the test binary.

use crate::common::*;
use fastbce::ViewMut;
use fastbce::{Element, Formula, LossOut, OnProbabilities, Request, WithLogits, Wrt, CHUNK};

const DEFAULT_STACK: usize = 2 << 20;

/// Every kind of request on `n` elements of `T` with formula `F`.
fn exercise<T: Element, F: Formula>(n: usize) {
    let mut rng = Rng::new(3);
    let x: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
    let y: Vec<f64> = (0..n).map(|_| rng.label()).collect();
    let case = Case::new(&[n], x, y);
    let t = case.typed::<T>();
    let p = t.problem();
    let mut loss = vec![T::ZERO; n];
    let mut g = vec![T::ZERO; n];
    fastbce::evaluate::<T, F>(
        &p,
        Request {
            loss: LossOut::Each(ViewMut::new(&mut loss, p.shape())),
            grad: Some((ViewMut::new(&mut g, p.shape()), Wrt::Input)),
            hess: None,
        },
    )
    .unwrap();
    fastbce::evaluate::<T, F>(
        &p,
        Request {
            loss: LossOut::Sum,
            grad: None,
            hess: None,
        },
    )
    .unwrap();
    fastbce::evaluate::<T, F>(
        &p,
        Request {
            loss: LossOut::Each(ViewMut::new(&mut loss, p.shape())),
            grad: None,
            hess: None,
        },
    )
    .unwrap();
    fastbce::evaluate::<T, F>(
        &p,
        Request {
            loss: LossOut::Skip,
            grad: Some((ViewMut::new(&mut g, p.shape()), Wrt::Target)),
            hess: None,
        },
    )
    .unwrap();
}

/// One chunk, on the calling thread, which has the default stack.
fn on_default_thread<T: Element, F: Formula>() {
    std::thread::Builder::new()
        .stack_size(DEFAULT_STACK)
        .spawn(|| exercise::<T, F>(1000))
        .unwrap()
        .join()
        .unwrap();
}

/// Several chunks on the crate's pool (two workers, default stacks).
fn on_pool<T: Element, F: Formula>() {
    fastbce::pool::set_num_threads(2).unwrap();
    exercise::<T, F>(4 * CHUNK + 1);
}

macro_rules! probes {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[test]
            #[ignore = "a probe, run in a child process by `kernels_fit_in_default_thread_stacks`"]
            fn $name() {
                $body
            }
        )*
        const PROBES: &[&str] = &[$(stringify!($name)),*];
    };
}

probes! {
    probe_thread_f64_logits => on_default_thread::<f64, WithLogits>();
    probe_thread_f32_logits => on_default_thread::<f32, WithLogits>();
    probe_thread_f64_probabilities => on_default_thread::<f64, OnProbabilities>();
    probe_thread_f32_probabilities => on_default_thread::<f32, OnProbabilities>();
    probe_pool_f64_logits => on_pool::<f64, WithLogits>();
    probe_pool_f32_logits => on_pool::<f32, WithLogits>();
    probe_pool_f64_probabilities => on_pool::<f64, OnProbabilities>();
    probe_pool_f32_probabilities => on_pool::<f32, OnProbabilities>();
}

#[test]
fn kernels_fit_in_default_thread_stacks() {
    let failed: Vec<String> = PROBES
        .iter()
        .filter_map(|name| {
            let (passed, report) = run_child(&format!("stack::{name}"), None);
            (!passed).then(|| {
                let overflow = report.contains("overflowed its stack");
                format!(
                    "{name}: {}",
                    if overflow {
                        "stack overflow on a 2 MiB thread".to_string()
                    } else {
                        report
                    }
                )
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} probes failed:\n{}",
        failed.len(),
        PROBES.len(),
        failed.join("\n")
    );
}
