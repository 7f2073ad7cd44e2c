//! The deterministic reduction: sums (and every per-element output) are bit-identical for any
//! number of threads, and agree with an accurate sum of the reference losses; empty inputs sum
//! to zero and write nothing; thread counts outside 1 to the cap are errors.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::common::*;
use fastbce::pool::{get_num_threads, set_num_threads};
use fastbce::ViewMut;
use fastbce::{
    Element, Formula, KernelError, LossOut, OnProbabilities, Problem, Request, WithLogits, Wrt,
    CHUNK,
};

/// The thread count is process-wide; tests in this file that change it take this lock, and put
/// the previous count back when done (also on panic).
static THREADS: Mutex<()> = Mutex::new(());

struct ThreadCount<'a> {
    previous: usize,
    _lock: MutexGuard<'a, ()>,
}

impl ThreadCount<'_> {
    fn take() -> ThreadCount<'static> {
        let lock = THREADS.lock().unwrap_or_else(PoisonError::into_inner);
        ThreadCount {
            previous: get_num_threads(),
            _lock: lock,
        }
    }

    fn set(&self, n: usize) {
        set_num_threads(n as u64).expect("set_num_threads");
        assert_eq!(get_num_threads(), n);
    }
}

impl Drop for ThreadCount<'_> {
    fn drop(&mut self) {
        let _ = set_num_threads(self.previous as u64);
    }
}

const THREAD_COUNTS: [usize; 4] = [1, 2, 3, 8];

/// Everything one thread count produces.
#[derive(Debug)]
struct Run<T> {
    sum: f64,
    /// `LossOut::Each` alone.
    loss_alone: Vec<T>,
    /// `LossOut::Each` with the input gradient.
    loss: Vec<T>,
    grad_input: Vec<T>,
    sum_with_grad: f64,
    grad_target: Vec<T>,
}

fn run<T: Element, F: Formula>(p: &Problem<'_, T>) -> Run<T> {
    let n = p.len();
    let sum = loss_sum::<T, F>(p).unwrap();
    let loss_alone = loss_each::<T, F>(p).unwrap();
    let mut loss = vec![sentinel::<T>(); n];
    let mut grad_input = vec![sentinel::<T>(); n];
    let r = eval::<T, F>(
        p,
        Request {
            loss: LossOut::Each(ViewMut::new(&mut loss, p.shape())),
            grad: Some((ViewMut::new(&mut grad_input, p.shape()), Wrt::Input)),
            hess: None,
        },
    )
    .unwrap();
    assert_eq!(r, 0.0);
    let mut grad_target = vec![sentinel::<T>(); n];
    let sum_with_grad = eval::<T, F>(
        p,
        Request {
            loss: LossOut::Sum,
            grad: Some((ViewMut::new(&mut grad_target, p.shape()), Wrt::Target)),
            hess: None,
        },
    )
    .unwrap();
    Run {
        sum,
        loss_alone,
        loss,
        grad_input,
        sum_with_grad,
        grad_target,
    }
}

/// Runs `case` with every thread count and checks all results are bit-identical to one thread's.
fn check_thread_invariance<T: Element + std::fmt::Debug, F: Formula>(
    case: &Case,
    threads: &ThreadCount<'_>,
) -> Run<T> {
    let t = case.typed::<T>();
    let p = t.problem();
    threads.set(1);
    let first = run::<T, F>(&p);
    for &k in &THREAD_COUNTS[1..] {
        threads.set(k);
        let other = run::<T, F>(&p);
        let label = format!("n = {}, {k} threads vs 1", case.len());
        assert!(
            same_bits(other.sum, first.sum),
            "{label}: sum {:e} vs {:e}",
            other.sum,
            first.sum
        );
        assert!(
            same_bits(other.sum_with_grad, first.sum_with_grad),
            "{label}: sum with grad {:e} vs {:e}",
            other.sum_with_grad,
            first.sum_with_grad
        );
        assert_same_slices(&format!("{label}: loss"), &other.loss, &first.loss);
        assert_same_slices(
            &format!("{label}: loss alone"),
            &other.loss_alone,
            &first.loss_alone,
        );
        assert_same_slices(
            &format!("{label}: grad input"),
            &other.grad_input,
            &first.grad_input,
        );
        assert_same_slices(
            &format!("{label}: grad target"),
            &other.grad_target,
            &first.grad_target,
        );
    }
    first
}

fn logits_case(seed: u64, shape: &[usize]) -> Case {
    let mut rng = Rng::new(seed);
    let n = count(shape);
    let x = (0..n).map(|_| rng.uniform(-20.0, 20.0)).collect();
    let y = (0..n).map(|_| rng.label()).collect();
    let mut case = Case::new(shape, x, y);
    let nd = shape.len();
    // A column weight and a last-dimension pos_weight, so that runs cross chunk boundaries.
    let mut column = shape.to_vec();
    column[nd - 1] = 1;
    case.w = Spec::array(&column, || rng.uniform(0.0, 2.0));
    case.pw = Spec::array(&shape[nd - 1..], || rng.uniform(0.0, 3.0));
    case.go = Spec::Const(0.5);
    case.scale = 1.0 / n as f64;
    case
}

/// Sizes around the chunk length.
fn sizes() -> Vec<Vec<usize>> {
    vec![
        vec![1],
        vec![CHUNK - 1],
        vec![CHUNK],
        vec![CHUNK + 1],
        vec![5 * CHUNK + 123],
        vec![3, CHUNK + 5],
    ]
}

/// Ten chunks, none of them full-width rows (debug builds are slow: float64 with-logits only).
const LARGE: [usize; 2] = [401, 399];

/// Run in a child process whose threads (the crate's pool workers included) get large stacks:
/// see `tests/stack.rs`.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    child_must_pass("reduction::child_results_do_not_depend_on_the_thread_count");
}

#[test]
#[ignore = "run in a child process by `results_do_not_depend_on_the_thread_count`"]
fn child_results_do_not_depend_on_the_thread_count() {
    let threads = ThreadCount::take();
    on_big_stack(|| {
        let mut shapes = sizes();
        shapes.push(LARGE.to_vec());
        for (i, shape) in shapes.into_iter().enumerate() {
            let case = logits_case(100 + i as u64, &shape);
            let r64 = check_thread_invariance::<f64, WithLogits>(&case, &threads);
            if shape == LARGE {
                let (w, pw, _) = case.materialised();
                let refs: Vec<f64> = (0..case.len())
                    .map(|j| logits_loss(case.x[j], case.y[j], w[j], pw[j]))
                    .collect();
                check_sum(r64.sum, &refs, &format!("sum over {shape:?}"));
                continue;
            }
            let r32 = check_thread_invariance::<f32, WithLogits>(&case.round_f32(), &threads);

            // The sums agree with an accurate sum of the reference losses (float64), and with an
            // accurate sum of the kernel's own per-element losses.
            let (w, pw, _) = case.materialised();
            let refs: Vec<f64> = (0..case.len())
                .map(|j| logits_loss(case.x[j], case.y[j], w[j], pw[j]))
                .collect();
            check_sum(r64.sum, &refs, &format!("sum over {shape:?}"));
            check_sum(
                r64.sum_with_grad,
                &refs,
                &format!("sum with grad over {shape:?}"),
            );
            // The sum is the float64 sum of exactly the elements `LossOut::Each` writes.
            let own = accurate_sum(r64.loss_alone.iter().copied());
            assert!(
                close(r64.sum, own, 1e-12, 0.0),
                "sum {:e} vs accurate sum of the elements {own:e}",
                r64.sum
            );
            let own32 = accurate_sum(r32.loss_alone.iter().map(|&v| f64::from(v)));
            assert!(
                close(r32.sum, own32, 1e-12, 0.0),
                "f32: sum {:e} vs accurate sum of the elements {own32:e}",
                r32.sum
            );
            // Beside a gradient, the float32 losses and their sum are those computed alone.
            assert_eq!(
                r32.sum_with_grad.to_bits(),
                r32.sum.to_bits(),
                "f32: sum with grad over {shape:?}"
            );
        }
    });
}

/// Run in a child process whose threads (the crate's pool workers included) get large stacks:
/// see `tests/stack.rs`.
#[test]
fn probability_results_do_not_depend_on_the_thread_count() {
    child_must_pass("reduction::child_probability_results_do_not_depend_on_the_thread_count");
}

#[test]
#[ignore = "run in a child process by `probability_results_do_not_depend_on_the_thread_count`"]
fn child_probability_results_do_not_depend_on_the_thread_count() {
    let threads = ThreadCount::take();
    on_big_stack(|| {
        for (i, shape) in sizes().into_iter().enumerate() {
            let mut rng = Rng::new(200 + i as u64);
            let n = count(&shape);
            let x = (0..n).map(|_| rng.probability()).collect();
            let y = (0..n).map(|_| rng.label()).collect();
            let mut case = Case::new(&shape, x, y);
            case.w = Spec::array(&shape[shape.len() - 1..], || rng.uniform(0.0, 2.0));
            let r64 = check_thread_invariance::<f64, OnProbabilities>(&case, &threads);
            check_thread_invariance::<f32, OnProbabilities>(&case.round_f32(), &threads);
            let w = case.w.materialise(&shape);
            let refs: Vec<f64> = (0..n)
                .map(|j| prob_loss(case.x[j], case.y[j], w[j]))
                .collect();
            check_sum(r64.sum, &refs, &format!("sum over {shape:?}"));
        }
    });
}

#[test]
fn thread_counts_outside_one_to_the_cap_are_errors() {
    let threads = ThreadCount::take();
    threads.set(3);
    let max = fastbce::pool::max_threads();
    for requested in [0, max as u64 + 1, u64::MAX] {
        assert_eq!(
            set_num_threads(requested),
            Err(KernelError::ThreadCount { requested, max })
        );
        assert_eq!(get_num_threads(), 3, "a refused count changes nothing");
    }
    assert!(KernelError::ThreadCount { requested: 0, max }
        .to_string()
        .contains(&format!("between 1 and {max}")));
    threads.set(max);
    assert_eq!(get_num_threads(), max, "the cap itself is accepted");
}

/// n = 0: the sum is +0 (as in NumPy and PyTorch), every request succeeds, nothing is written.
#[test]
fn empty_input() {
    fn check<T: Element + std::fmt::Debug, F: Formula>(shape: &[usize]) {
        let x: Vec<T> = vec![];
        let y: Vec<T> = vec![];
        let last = *shape.last().unwrap();
        let w = vec![T::from_f64(2.0); last];
        let mut p = Problem::new(shape, &x, &y);
        p.weight = fastbce::Operand::array(&w, &shape[shape.len() - 1..]);
        let label = format!("shape {shape:?}");
        for (what, sum) in [
            ("sum", loss_sum::<T, F>(&p).unwrap()),
            (
                "sum with grad",
                eval::<T, F>(
                    &p,
                    Request {
                        loss: LossOut::Sum,
                        grad: Some((ViewMut::new(&mut [], shape), Wrt::Input)),
                        hess: None,
                    },
                )
                .unwrap(),
            ),
        ] {
            assert!(
                sum == 0.0 && sum.is_sign_positive(),
                "{label}: {what} of nothing is {sum:?}, want +0.0"
            );
        }
        assert!(loss_each::<T, F>(&p).unwrap().is_empty());
        assert!(grad::<T, F>(&p, Wrt::Target).unwrap().is_empty());
        let r = eval::<T, F>(
            &p,
            Request {
                loss: LossOut::Each(ViewMut::new(&mut [], shape)),
                grad: Some((ViewMut::new(&mut [], shape), Wrt::Target)),
                hess: None,
            },
        );
        assert_eq!(r, Ok(0.0), "{label}");
        // Nothing requested at all.
        let nothing = Request {
            loss: LossOut::Skip,
            grad: None,
            hess: None,
        };
        assert_eq!(eval::<T, F>(&p, nothing), Ok(0.0), "{label}");
    }
    on_big_stack(|| {
        for shape in [&[0usize][..], &[0, 3], &[3, 0], &[2, 0, 4]] {
            check::<f64, WithLogits>(shape);
            check::<f32, WithLogits>(shape);
            check::<f64, OnProbabilities>(shape);
            check::<f32, OnProbabilities>(shape);
        }
    });
}

/// A request for nothing succeeds, returns 0 and writes nothing.
#[test]
fn nothing_requested() {
    on_big_stack(|| {
        let case = logits_case(5, &[4, 5]);
        let t = case.typed::<f64>();
        assert_eq!(
            eval::<f64, WithLogits>(&t.problem(), Request::default()),
            Ok(0.0)
        );
    });
}
