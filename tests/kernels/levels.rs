//! The same reference checks at every instruction-set level the CPU supports (the scalar reference
//! path, the portable baseline without FMA, AVX2+FMA, AVX-512), chosen with `simd::set_level`.
//! The level is process-wide: these tests run in child processes of their own (the other tests of
//! this binary run at the best level meanwhile), and take a lock there.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, PoisonError};

use crate::common::*;
use fastbce::simd::{self, Level, LEVELS};
use fastbce::{OnProbabilities, WithLogits};

static LEVEL: Mutex<()> = Mutex::new(());

fn message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "panic".to_string()
    }
}

/// Runs `check` at every level the CPU has and fails listing every level at which it failed.
fn at_every_level(check: impl Fn()) {
    let _lock = LEVEL.lock().unwrap_or_else(PoisonError::into_inner);
    let previous = simd::active();
    let mut failures = Vec::new();
    let mut ran = 0;
    for level in LEVELS {
        if simd::set_level(level) != level {
            continue; // not on this CPU
        }
        ran += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(&check)) {
            failures.push(format!("at level {}: {}", level.name(), message(&*panic)));
        }
    }
    simd::set_level(previous);
    assert!(
        ran >= 2,
        "the scalar and baseline levels exist on every CPU"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn logits_case(seed: u64, n: usize, range: f64) -> Case {
    let mut rng = Rng::new(seed);
    let x = (0..n).map(|_| rng.uniform(-range, range)).collect();
    let y = (0..n).map(|_| rng.label()).collect();
    let mut case = Case::new(&[n], x, y);
    case.w = Spec::array(&[n], || rng.uniform(0.0, 3.0));
    case.pw = Spec::array(&[n], || rng.uniform(0.0, 4.0));
    case.go = Spec::array(&[n], || rng.uniform(-2.0, 2.0));
    case.scale = 0.5;
    case
}

fn probability_case(seed: u64, n: usize) -> Case {
    let mut rng = Rng::new(seed);
    let x = (0..n).map(|_| rng.probability()).collect();
    let y = (0..n).map(|_| rng.label()).collect();
    let mut case = Case::new(&[n], x, y);
    case.w = Spec::array(&[n], || rng.uniform(0.0, 3.0));
    case.go = Spec::Const(-1.5);
    case
}

fn edge_logits() -> Case {
    let xs = [
        0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-40, -1e-40, 1.0, -1.0, 30.0, -30.0, 88.0,
        -88.0, 700.0, -700.0, 745.0, -745.0, 1e4, -1e4,
    ];
    let mut rows = Vec::new();
    for &x in &xs {
        for &y in &[0.0, 1.0, 0.5, 1e-300, 0.999] {
            for &(w, pw) in &[(1.0, 1.0), (2.0, 0.5), (0.5, 3.0), (1.0, 0.0)] {
                rows.push((x, y, w, pw));
            }
        }
    }
    Case::elementwise(&rows)
}

fn edge_probabilities() -> Case {
    let ps = [
        0.0,
        1.0,
        0.5,
        1e-40,
        1e-44,
        5e-324,
        1e-7,
        1.0 - 1e-7,
        1.0 - 1e-13,
    ];
    let mut rows = Vec::new();
    for &p in &ps {
        for &y in &[0.0, 1.0, 0.5, 0.3] {
            for &w in &[1.0, 2.5] {
                rows.push((p, y, w, 1.0));
            }
        }
    }
    Case::elementwise(&rows)
}

#[test]
fn reference_checks_at_every_level() {
    for name in [
        "levels::child_f64_matches_reference_at_every_level",
        "levels::child_f32_within_its_ulp_bounds_of_f64_at_every_level",
        "levels::child_avx2_and_avx512_give_the_same_bits",
        "levels::child_scalar_level_is_always_available",
    ] {
        child_must_pass(name);
    }
}

#[test]
#[ignore = "run in a child process by `reference_checks_at_every_level`"]
fn child_f64_matches_reference_at_every_level() {
    on_big_stack(|| {
        at_every_level(|| {
            for case in [
                logits_case(1, 3000, 30.0),
                logits_case(2, 500, 800.0),
                edge_logits(),
            ] {
                let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
                check_consistency(&all);
                check_logits_f64(&case, &all);
            }
            for case in [probability_case(3, 3000), edge_probabilities()] {
                let all = eval_all::<f64, OnProbabilities>(&case.typed::<f64>().problem());
                check_consistency(&all);
                check_probabilities_f64(&case, &all);
            }
        });
    });
}

#[test]
#[ignore = "run in a child process by `reference_checks_at_every_level`"]
fn child_f32_within_its_ulp_bounds_of_f64_at_every_level() {
    on_big_stack(|| {
        at_every_level(|| {
            let mut problems = Vec::new();
            for case in [logits_case(4, 3000, 30.0), edge_logits()] {
                if let Err(p) = catch_unwind(|| check_f32_matches_f64::<WithLogits>(&case)) {
                    problems.push(format!("with logits: {}", message(&*p)));
                }
            }
            for case in [probability_case(5, 3000), edge_probabilities()] {
                if let Err(p) = catch_unwind(|| check_f32_matches_f64::<OnProbabilities>(&case)) {
                    problems.push(format!("probabilities: {}", message(&*p)));
                }
            }
            assert!(problems.is_empty(), "{}", problems.join("\n"));
        });
    });
}

/// The AVX2 and AVX-512 kernels are the same operations on wider vectors: every result, every
/// element, the same bits (where the CPU has both).
#[test]
#[ignore = "run in a child process by `reference_checks_at_every_level`"]
fn child_avx2_and_avx512_give_the_same_bits() {
    let _lock = LEVEL.lock().unwrap_or_else(PoisonError::into_inner);
    if simd::detected() < Level::Avx512 {
        println!("no AVX-512 on this CPU: nothing to compare");
        return;
    }
    on_big_stack(|| {
        let cases = [
            logits_case(6, 5000, 30.0),
            logits_case(7, 700, 800.0),
            edge_logits(),
        ];
        for case in &cases {
            for t in [case.clone(), case.round_f32()] {
                let run = |level: Level| {
                    simd::set_level(level);
                    (
                        eval_all::<f64, WithLogits>(&t.typed::<f64>().problem()),
                        eval_all::<f32, WithLogits>(&t.typed::<f32>().problem()),
                        eval_all::<f64, OnProbabilities>(
                            &probability_case(8, 3000).typed::<f64>().problem(),
                        ),
                        eval_all::<f32, OnProbabilities>(
                            &probability_case(8, 3000).typed::<f32>().problem(),
                        ),
                    )
                };
                let (a64, a32, p64, p32) = run(Level::Avx2);
                let (b64, b32, q64, q32) = run(Level::Avx512);
                simd::set_level(Level::Avx512);
                assert_all_same(&a64, &b64);
                assert_all_same(&a32, &b32);
                assert_all_same(&p64, &q64);
                assert_all_same(&p32, &q32);
            }
        }
    });
}

fn assert_all_same<T: fastbce::Element + std::fmt::Debug>(a: &All<T>, b: &All<T>) {
    for (what, x, y) in [
        ("loss", &a.loss, &b.loss),
        ("grad input", &a.grad_input, &b.grad_input),
        ("grad target", &a.grad_target, &b.grad_target),
        ("loss with grad", &a.loss_with_grad, &b.loss_with_grad),
    ] {
        assert_same_slices(what, x, y);
    }
    assert_eq!(a.sum.to_bits(), b.sum.to_bits(), "sum");
}

/// The scalar reference path can always be selected, and the previous level restored.
#[test]
#[ignore = "run in a child process by `reference_checks_at_every_level`"]
fn child_scalar_level_is_always_available() {
    let _lock = LEVEL.lock().unwrap_or_else(PoisonError::into_inner);
    let previous = simd::active();
    assert_eq!(simd::set_level(Level::Scalar), Level::Scalar);
    assert_eq!(simd::active(), Level::Scalar);
    simd::set_level(previous);
    assert_eq!(simd::active(), previous);
}
