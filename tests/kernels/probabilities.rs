//! `OnProbabilities` against independent float64 references and finite differences, PyTorch's
//! clamps (each log at -100, the input-gradient denominator at float32(1e-12)), the unit-interval
//! check, and float32 against float64.

use crate::common::*;
use fastbce::ViewMut;
use fastbce::{KernelError, LossOut, OnProbabilities, Request, WithLogits, Wrt};

fn random_case(seed: u64, shape: &[usize]) -> Case {
    let mut rng = Rng::new(seed);
    let n = count(shape);
    let x = (0..n).map(|_| rng.probability()).collect();
    let y = (0..n).map(|_| rng.label()).collect();
    let mut case = Case::new(shape, x, y);
    case.w = Spec::array(shape, || rng.uniform(0.0, 3.0));
    case.go = Spec::array(shape, || rng.uniform(-2.0, 2.0));
    case.scale = 1.25;
    case
}

const EDGE_P: [f64; 16] = [
    0.0,
    1.0,
    0.5,
    0.25,
    0.75,
    1e-40,
    1e-44,
    1e-300,
    5e-324,
    1e-7,
    1e-13,
    1.0 - 1e-7,
    1.0 - 1e-13,
    1.0 - 1.0 / (1u64 << 53) as f64,
    1.4e-45,
    1.0 - 1.0 / (1u64 << 24) as f64,
];
const EDGE_Y: [f64; 7] = [0.0, 1.0, 0.5, 0.3, 1e-40, 1.0 - 1e-7, 1e-300];
const EDGE_W: [f64; 3] = [1.0, 0.25, 3.0];

fn edge_rows() -> Vec<(f64, f64, f64, f64)> {
    let mut rows = Vec::new();
    for &p in &EDGE_P {
        for &y in &EDGE_Y {
            for &w in &EDGE_W {
                rows.push((p, y, w, 1.0));
            }
        }
    }
    rows
}

#[test]
fn random_f64_matches_reference() {
    on_big_stack(|| {
        for (seed, shape) in [
            (1u64, vec![1000usize]),
            (2, vec![37, 33]),
            (3, vec![3, 4, 5]),
            (4, vec![2, 3, 4, 5]),
        ] {
            let case = random_case(seed, &shape);
            let all = eval_all::<f64, OnProbabilities>(&case.typed::<f64>().problem());
            check_consistency(&all);
            check_probabilities_f64(&case, &all);
        }
    });
}

#[test]
fn random_f32_within_one_ulp_of_f64() {
    on_big_stack(|| {
        for (seed, shape) in [(11u64, vec![2000usize]), (12, vec![37, 33])] {
            let case = random_case(seed, &shape);
            let a64 = check_f32_matches_f64::<OnProbabilities>(&case);
            check_probabilities_f64(&case.round_f32(), &a64);
        }
    });
}

#[test]
fn edge_values_f64_match_reference() {
    on_big_stack(|| {
        let case = Case::elementwise(&edge_rows());
        let all = eval_all::<f64, OnProbabilities>(&case.typed::<f64>().problem());
        check_consistency(&all);
        check_probabilities_f64(&case, &all);
        for i in 0..case.len() {
            assert!(
                all.loss[i] >= 0.0 && all.loss[i] <= 100.0 * 3.0,
                "loss {:e} at p = {:e}, y = {:e}",
                all.loss[i],
                case.x[i],
                case.y[i]
            );
        }
    });
}

#[test]
fn edge_values_f32_within_one_ulp_of_f64() {
    on_big_stack(|| {
        let case = Case::elementwise(&edge_rows());
        let a64 = check_f32_matches_f64::<OnProbabilities>(&case);
        check_probabilities_f64(&case.round_f32(), &a64);
    });
}

/// Each log is clamped at -100: a certain wrong answer costs `100 w`, a partly wrong one the
/// label-weighted share of it; a certain right answer costs nothing.
#[test]
fn log_clamp_at_minus_100() {
    on_big_stack(|| {
        // (p, y, expected loss for w = 1)
        let cases = [
            (0.0, 1.0, 100.0),
            (1.0, 0.0, 100.0),
            (0.0, 0.0, 0.0),
            (1.0, 1.0, 0.0),
            (0.0, 0.3, 0.3 * 100.0),
            (1.0, 0.3, 0.7 * 100.0),
            (1e-44, 1.0, 100.0),             // ln(1e-44) = -101.3
            (5e-324, 1.0, 100.0),            // ln = -744.4
            (1e-40, 1.0, 92.10340371976183), // -ln(1e-40), not clamped
            (0.5, 1.0, std::f64::consts::LN_2),
            (0.5, 0.0, std::f64::consts::LN_2),
        ];
        for &w in &[1.0, 2.5] {
            let rows: Vec<_> = cases.iter().map(|&(p, y, _)| (p, y, w, 1.0)).collect();
            let case = Case::elementwise(&rows);
            let all = eval_all::<f64, OnProbabilities>(&case.typed::<f64>().problem());
            for (i, &(p, y, want)) in cases.iter().enumerate() {
                let want = w * want;
                for (what, got) in [
                    ("loss", all.loss[i]),
                    ("loss with grad", all.loss_with_grad[i]),
                ] {
                    assert!(
                        close(got, want, 4.0 * EPS, 0.0),
                        "{what} at p = {p:e}, y = {y}, w = {w}: got {got:e}, want {want:e}"
                    );
                }
            }
            let want_sum = accurate_sum(cases.iter().map(|c| w * c.2));
            assert!(close(all.sum, want_sum, 1e-14, 0.0), "sum {}", all.sum);

            // float32: 1e-44 and 1.4e-45 are float32 subnormals; 1e-40 too.
            let case32 = case.round_f32();
            let all32 = eval_all::<f32, OnProbabilities>(&case32.typed::<f32>().problem());
            for i in 0..cases.len() {
                let want = prob_loss(case32.x[i], case32.y[i], w) as f32;
                for (what, got) in [
                    ("loss", all32.loss[i]),
                    ("loss with grad", all32.loss_with_grad[i]),
                ] {
                    assert!(
                        ulps32(got, want) <= 1,
                        "f32 {what} at p = {:e}, y = {}, w = {w}: got {got:e}, want {want:e}",
                        case32.x[i],
                        case32.y[i]
                    );
                }
            }
        }
    });
}

/// The input gradient is `w (p - y) / max(p (1 - p), eps)` with `eps = float32(1e-12)`
/// (9.9999999600e-13), for float64 too; the target gradient `w (ln(1 - p) - ln p)` is not
/// clamped: +inf at p = 0 and -inf at p = 1.
#[test]
fn input_gradient_clamp_and_target_gradient_limits() {
    on_big_stack(|| {
        assert_eq!(PROB_EPS, 9.999999960041972e-13);
        let eps = PROB_EPS;
        let p1 = 1.0 - 1e-13;
        // (p, y, d input, d target) for w = 1.
        let cases = [
            (0.0, 1.0, -1.0 / eps, f64::INFINITY),
            (0.0, 0.0, 0.0, f64::INFINITY),
            (0.0, 0.5, -0.5 / eps, f64::INFINITY),
            (1.0, 0.0, 1.0 / eps, f64::NEG_INFINITY),
            (1.0, 1.0, 0.0, f64::NEG_INFINITY),
            (1e-40, 0.0, 1e-40 / eps, -(1e-40f64).ln()),
            (
                1e-13,
                0.0,
                1e-13 / eps,
                (-1e-13f64).ln_1p() - (1e-13f64).ln(),
            ),
            (p1, 1.0, (p1 - 1.0) / eps, (1.0 - p1).ln() - p1.ln()),
            // Unclamped: p (1 - p) is about 1e-7.
            (
                1e-7,
                1.0,
                (1e-7 - 1.0) / (1e-7 * (1.0 - 1e-7)),
                (-1e-7f64).ln_1p() - (1e-7f64).ln(),
            ),
            (0.5, 0.5, 0.0, 0.0),
            (0.5, 1.0, -2.0, 0.0),
            (0.25, 0.0, 0.25 / 0.1875, (0.75f64).ln() - (0.25f64).ln()),
        ];
        for &w in &[1.0, 3.0] {
            let rows: Vec<_> = cases.iter().map(|&(p, y, _, _)| (p, y, w, 1.0)).collect();
            let case = Case::elementwise(&rows);
            let all = eval_all::<f64, OnProbabilities>(&case.typed::<f64>().problem());
            for (i, &(p, y, gi, gt)) in cases.iter().enumerate() {
                let (gi, gt) = (w * gi, w * gt);
                let got = all.grad_input[i];
                assert!(
                    close(got, gi, 4.0 * EPS, 0.0),
                    "grad input at p = {p:e}, y = {y}, w = {w}: got {got:e}, want {gi:e}"
                );
                let got = all.grad_target[i];
                assert!(
                    close(got, gt, 8.0 * EPS, 8.0 * EPS * w),
                    "grad target at p = {p:e}, y = {y}, w = {w}: got {got:e}, want {gt:e}"
                );
            }
            // The clamp is float32(1e-12), not 1e-12: -1/eps differs from -1e12 by 4e-10 relative.
            assert!(
                all.grad_input[0] != -w * 1e12,
                "clamp uses 1e-12, not float32(1e-12)"
            );

            let case32 = case.round_f32();
            let all32 = eval_all::<f32, OnProbabilities>(&case32.typed::<f32>().problem());
            for i in 0..cases.len() {
                let (p, y) = (case32.x[i], case32.y[i]);
                let gi = prob_dinput(p, y, w) as f32;
                let got = all32.grad_input[i];
                assert!(
                    ulps32(got, gi) <= 1,
                    "f32 grad input at p = {p:e}, y = {y}, w = {w}: got {got:e}, want {gi:e}"
                );
                let gt = prob_dtarget(p, w) as f32;
                let got = all32.grad_target[i];
                assert!(
                    ulps32(got, gt) <= 1 || (got - gt).abs() <= 8.0 * f32::EPSILON * w as f32,
                    "f32 grad target at p = {p:e}, y = {y}, w = {w}: got {got:e}, want {gt:e}"
                );
            }
        }
    });
}

/// Finite differences of the kernel's own loss agree with its gradients in the interior.
#[test]
fn gradients_match_finite_differences_of_kernel_loss() {
    on_big_stack(|| {
        let mut rng = Rng::new(41);
        let n = 400;
        let x: Vec<f64> = (0..n).map(|_| rng.uniform(1e-3, 1.0 - 1e-3)).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.uniform(0.01, 0.99)).collect();
        let mut case = Case::new(&[n], x.clone(), y.clone());
        case.w = Spec::array(&[n], || rng.uniform(0.1, 2.0));
        let all = eval_all::<f64, OnProbabilities>(&case.typed::<f64>().problem());
        let shifted = |dx: &dyn Fn(f64) -> f64, dy: f64| {
            let mut c = case.clone();
            c.x = x.iter().map(|&v| v + dx(v)).collect();
            c.y = y.iter().map(|v| v + dy).collect();
            loss_each::<f64, OnProbabilities>(&c.typed::<f64>().problem()).unwrap()
        };
        let h = |p: f64| 1e-5 * p.min(1.0 - p);
        let (xp, xm) = (shifted(&|p| h(p), 0.0), shifted(&|p| -h(p), 0.0));
        let k = 1e-3;
        let (yp, ym) = (shifted(&|_| 0.0, k), shifted(&|_| 0.0, -k));
        for i in 0..n {
            let step = (x[i] + h(x[i])) - (x[i] - h(x[i]));
            let fd = (xp[i] - xm[i]) / step;
            // Rounding in the two losses, divided by the step, bounds the difference's own error.
            let tol = 1e-6 * fd.abs() + 100.0 * EPS * (1.0 + all.loss[i]) / step;
            assert!(
                (all.grad_input[i] - fd).abs() <= tol,
                "grad input {:e} vs finite difference {fd:e} at p = {:e}, y = {:e}",
                all.grad_input[i],
                x[i],
                y[i]
            );
            let fd = (yp[i] - ym[i]) / (2.0 * k);
            let tol = 1e-6 * fd.abs() + 1e-9 * (1.0 + all.loss[i]);
            assert!(
                (all.grad_target[i] - fd).abs() <= tol,
                "grad target {:e} vs finite difference {fd:e} at p = {:e}, y = {:e}",
                all.grad_target[i],
                x[i],
                y[i]
            );
        }
    });
}

fn unit_interval_error<T: fastbce::Element>(x: &[f64], y: &[f64], want: &'static str) {
    let case = Case::new(&[x.len()], x.to_vec(), y.to_vec());
    let t = case.typed::<T>();
    let p = t.problem();
    let expected = KernelError::OutOfUnitInterval { what: want };
    assert_eq!(
        loss_each::<T, OnProbabilities>(&p).err(),
        Some(expected.clone())
    );
    assert_eq!(
        loss_sum::<T, OnProbabilities>(&p).err(),
        Some(expected.clone())
    );
    for wrt in [Wrt::Input, Wrt::Target] {
        assert_eq!(
            grad::<T, OnProbabilities>(&p, wrt).err(),
            Some(expected.clone())
        );
    }
}

/// Probabilities outside [0, 1], NaN included, are refused, for input and for target, wherever
/// they are (also past the first chunk) and whatever is requested.
#[test]
fn out_of_unit_interval_is_refused() {
    on_big_stack(|| {
        let bad = [
            -1e-300,
            -5e-324,
            -0.1,
            1.0 + f64::EPSILON,
            1.1,
            2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
        ];
        let n = 3 * fastbce::CHUNK + 17;
        for &v in &bad {
            for &at in &[0, 5, fastbce::CHUNK + 3, n - 1] {
                let mut x = vec![0.5; n];
                let y = vec![0.25; n];
                x[at] = v;
                unit_interval_error::<f64>(&x, &y, "input");
                unit_interval_error::<f64>(&y, &x, "target");
                if (v as f32 as f64 == v || v.is_nan()) && v.abs() > 1e-40 {
                    unit_interval_error::<f32>(&x, &y, "input");
                    unit_interval_error::<f32>(&y, &x, "target");
                }
            }
        }
        // With logits the same values are accepted (PyTorch does not check them).
        let case = Case::new(&[bad.len()], vec![0.5; bad.len()], bad.to_vec());
        assert!(loss_sum::<f64, WithLogits>(&case.typed::<f64>().problem()).is_ok());
        assert!(grad::<f32, WithLogits>(&case.typed::<f32>().problem(), Wrt::Input).is_ok());
        // The bounds themselves, and -0.0, are fine.
        let case = Case::new(&[4], vec![0.0, 1.0, -0.0, 0.5], vec![1.0, 0.0, -0.0, 0.5]);
        let out = loss_each::<f64, OnProbabilities>(&case.typed::<f64>().problem()).unwrap();
        assert_eq!(out, vec![100.0, 100.0, 0.0, std::f64::consts::LN_2]);
        // Input and target both bad: either is a correct complaint, but there must be one.
        let case = Case::new(&[2], vec![0.5, 1.5], vec![-0.5, 0.5]);
        let t = case.typed::<f64>();
        let mut out = vec![0.0; 2];
        let err = eval::<f64, OnProbabilities>(
            &t.problem(),
            Request {
                loss: LossOut::Each(ViewMut::new(&mut out, &t.shape)),
                grad: None,
                hess: None,
            },
        );
        assert!(matches!(err, Err(KernelError::OutOfUnitInterval { .. })));
    });
}

/// The error's message is PyTorch's, naming the argument.
#[test]
fn error_messages_name_the_argument() {
    on_big_stack(|| {
        let e = KernelError::OutOfUnitInterval { what: "input" };
        assert_eq!(
            e.to_string(),
            "all elements of input should be between 0 and 1"
        );
        let e = KernelError::OutOfUnitInterval { what: "target" };
        assert_eq!(
            e.to_string(),
            "all elements of target should be between 0 and 1"
        );
    });
}
