//! `WithLogits` against independent float64 references, finite differences, known values, exact
//! limits, and float32 against float64.

use crate::common::*;
use fastbce::{OnProbabilities, WithLogits};

const LN2: f64 = std::f64::consts::LN_2;

/// A random case over `shape` with logits drawn from `[-range, range]`.
fn random_case(seed: u64, shape: &[usize], range: f64) -> Case {
    let mut rng = Rng::new(seed);
    let n = count(shape);
    let x = (0..n).map(|_| rng.uniform(-range, range)).collect();
    let y = (0..n).map(|_| rng.label()).collect();
    let mut case = Case::new(shape, x, y);
    case.w = Spec::array(shape, || rng.uniform(0.0, 3.0));
    case.pw = Spec::array(shape, || match rng.below(4) {
        0 => 1.0,
        1 => 0.0,
        _ => rng.uniform(0.0, 5.0),
    });
    case.go = Spec::array(shape, || rng.uniform(-2.0, 2.0));
    case.scale = 0.75;
    case
}

/// Targets all 0 or 1 (the common case) take a direct float32 input gradient, without the
/// compensation soft labels need: still within 4 ulp of the float64 result, with weights,
/// pos_weight, grad_output and a scale; and a run whose labels turn soft halfway takes both paths.
#[test]
fn hard_labels_f32_within_4_ulp_of_f64() {
    on_big_stack(|| {
        for (seed, shape, range) in [
            (21u64, vec![20_000usize], 20.0),
            (22, vec![37, 330], 85.0),
            (23, vec![5000], 1e-3),
            (24, vec![3, 4, 5], 2.0),
        ] {
            let mut case = random_case(seed, &shape, range);
            let n = case.len();
            for (i, y) in case.y.iter_mut().enumerate() {
                // the first shape: soft labels in its second half
                if seed != 21 || i < n / 2 {
                    *y = if *y < 0.5 { 0.0 } else { 1.0 };
                }
            }
            let a64 = check_f32_matches_f64::<WithLogits>(&case);
            check_logits_f64(&case.round_f32(), &a64);
        }
    });
}

/// An element's float32 gradient does not depend on its neighbours' labels: a run of hard labels
/// skips the compensated form and a run of soft ones the direct form, so one label of the other
/// kind among them (a block that takes both) must not change the others' bits, and it must get
/// the bits it gets among its own kind.
#[test]
fn f32_gradient_does_not_depend_on_neighbouring_labels() {
    on_big_stack(|| {
        let case = random_case(31, &[3000], 20.0);
        let (at, soft_label, hard_label) = (1234, 0.3, 1.0);
        let mut hard = case.clone();
        for y in hard.y.iter_mut() {
            *y = if *y < 0.5 { 0.0 } else { 1.0 };
        }
        hard.y[at] = hard_label;
        let mut soft = case.clone();
        for y in soft.y.iter_mut() {
            *y = y.clamp(0.01, 0.99);
        }
        soft.y[at] = soft_label;
        let eval = |c: &Case| eval_all::<f32, WithLogits>(&c.round_f32().typed::<f32>().problem());
        let (all_hard, all_soft) = (eval(&hard), eval(&soft));
        for (kind, alike, odd, own_kind) in [
            ("hard", &hard, soft_label, &all_soft),
            ("soft", &soft, hard_label, &all_hard),
        ] {
            let uniform = eval(alike);
            let mut mixed_case = alike.clone();
            mixed_case.y[at] = odd;
            let mixed = eval(&mixed_case);
            for (what, a, b, own) in [
                (
                    "grad input",
                    &uniform.grad_input,
                    &mixed.grad_input,
                    &own_kind.grad_input,
                ),
                (
                    "grad input with loss",
                    &uniform.grad_input_with_loss,
                    &mixed.grad_input_with_loss,
                    &own_kind.grad_input_with_loss,
                ),
            ] {
                for i in (0..a.len()).filter(|&i| i != at) {
                    assert_eq!(a[i].to_bits(), b[i].to_bits(), "{kind}: {what} at {i}");
                }
                assert_ne!(
                    a[at].to_bits(),
                    b[at].to_bits(),
                    "{kind}: {what}: the label counts"
                );
                assert_eq!(
                    b[at].to_bits(),
                    own[at].to_bits(),
                    "{kind}: {what}: the odd label as among its own kind"
                );
            }
        }
    });
}

/// Finite logits worth checking, in float64.
const EDGE_X_F64: [f64; 30] = [
    0.0,
    -0.0,
    1e-300,
    -1e-300,
    1e-40,
    -1e-40,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    -2.2250738585072014e-308,
    1e-8,
    -1e-8,
    1.0,
    -1.0,
    17.0,
    -17.0,
    37.0,
    -37.0,
    88.0,
    -88.0,
    104.0,
    -104.0,
    700.0,
    -700.0,
    745.0,
    -745.0,
    1e4,
    -1e4,
    1e6,
    -1e6,
];

/// Finite logits worth checking, representable in float32 (subnormals included).
const EDGE_X_F32: [f32; 22] = [
    0.0,
    -0.0,
    1e-40,
    -1e-40,
    1.4e-45,
    -1.4e-45,
    1.1754944e-38,
    -1.1754944e-38,
    1e-30,
    -1e-30,
    1.0,
    -1.0,
    88.0,
    -88.0,
    103.0,
    -103.0,
    700.0,
    -700.0,
    1e4,
    -1e4,
    3e38,
    -3e38,
];

const EDGE_Y: [f64; 9] = [
    0.0,
    1.0,
    0.5,
    0.25,
    0.9,
    1e-300,
    1e-40,
    1.0 - 1.0 / (1u64 << 53) as f64,
    1.0 - 1e-7,
];
const EDGE_W: [f64; 3] = [1.0, 0.25, 3.0];
const EDGE_PW: [f64; 4] = [1.0, 0.0, 0.5, 4.0];

fn edge_rows(xs: &[f64], ys: &[f64]) -> Vec<(f64, f64, f64, f64)> {
    let mut rows = Vec::new();
    for &x in xs {
        for &y in ys {
            for &w in &EDGE_W {
                for &pw in &EDGE_PW {
                    rows.push((x, y, w, pw));
                }
            }
        }
    }
    rows
}

#[test]
fn random_f64_matches_reference() {
    on_big_stack(|| {
        for (seed, shape, range) in [
            (1u64, vec![1000usize], 30.0),
            (2, vec![37, 33], 30.0),
            (3, vec![3, 4, 5], 8.0),
            (4, vec![2, 3, 4, 5], 1.0),
            (5, vec![700], 800.0),
            (6, vec![501], 40.0),
        ] {
            let case = random_case(seed, &shape, range);
            let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
            check_consistency(&all);
            check_logits_f64(&case, &all);
        }
    });
}

#[test]
fn random_f32_within_one_ulp_of_f64() {
    on_big_stack(|| {
        for (seed, shape, range) in [
            (11u64, vec![2000usize], 30.0),
            (12, vec![37, 33], 100.0),
            (13, vec![3, 4, 5], 2.0),
            (14, vec![1500], 1e4),
        ] {
            let case = random_case(seed, &shape, range);
            let a64 = check_f32_matches_f64::<WithLogits>(&case);
            check_logits_f64(&case.round_f32(), &a64);
        }
    });
}

#[test]
fn edge_values_f64_match_reference() {
    on_big_stack(|| {
        let case = Case::elementwise(&edge_rows(&EDGE_X_F64, &EDGE_Y));
        let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
        check_consistency(&all);
        check_logits_f64(&case, &all);
    });
}

#[test]
fn edge_values_f32_within_one_ulp_of_f64() {
    on_big_stack(|| {
        let xs: Vec<f64> = EDGE_X_F32.iter().map(|&v| f64::from(v)).collect();
        let ys: Vec<f64> = EDGE_Y.iter().map(|&v| v as f32 as f64).collect();
        let mut ys32 = ys.clone();
        ys32.push(1.0 - 2f64.powi(-24));
        let case = Case::elementwise(&edge_rows(&xs, &ys32));
        let a64 = check_f32_matches_f64::<WithLogits>(&case);
        check_logits_f64(&case, &a64);
    });
}

/// Finite inputs, labels in [0, 1], non-negative weights: the loss is finite and non-negative and
/// so are the gradients finite.
#[test]
fn loss_is_finite_and_non_negative() {
    on_big_stack(|| {
        fn check<T: fastbce::Element + std::fmt::Debug>(case: &Case) {
            let t = case.typed::<T>();
            let all = eval_all::<T, WithLogits>(&t.problem());
            for i in 0..case.len() {
                let ctx = format!("x = {:e}, y = {:e}", case.x[i], case.y[i]);
                for (what, v) in [
                    ("loss", all.loss[i]),
                    ("loss with grad", all.loss_with_grad[i]),
                ] {
                    let v = v.to_f64();
                    assert!(v.is_finite() && v >= 0.0, "{what} = {v:e}; {ctx}");
                }
                for (what, v) in [
                    ("grad input", all.grad_input[i]),
                    ("grad target", all.grad_target[i]),
                ] {
                    assert!(v.to_f64().is_finite(), "{what} = {v:?}; {ctx}");
                }
            }
            assert!(all.sum.is_finite() && all.sum >= 0.0, "sum = {}", all.sum);
        }
        let mut rng = Rng::new(21);
        let n = 5000;
        let x: Vec<f64> = (0..n)
            .map(|_| {
                let m = rng.uniform(-1.0, 1.0);
                m * 10f64.powf(rng.uniform(-40.0, 4.0))
            })
            .collect();
        let y: Vec<f64> = (0..n).map(|_| rng.label()).collect();
        let mut case = Case::new(&[n], x, y);
        case.w = Spec::array(&[n], || rng.uniform(0.0, 3.0));
        case.pw = Spec::array(&[n], || rng.uniform(0.0, 5.0));
        check::<f64>(&case);
        check::<f32>(&case.round_f32());
        check::<f64>(&Case::elementwise(&edge_rows(&EDGE_X_F64, &EDGE_Y)));
        // Excluding +-3e38, whose losses legitimately overflow float32 once weighted.
        let xs: Vec<f64> = EDGE_X_F32
            .iter()
            .filter(|v| v.abs() <= 1e4)
            .map(|&v| f64::from(v))
            .collect();
        check::<f32>(&Case::elementwise(&edge_rows(&xs, &EDGE_Y)).round_f32());
    });
}

/// At x = 0 (and at any |x| too small to matter) sigmoid is 1/2 and softplus is ln 2, so the loss
/// is `w lw ln2`, the input gradient `w (1 - y - pw y) / 2`, the target gradient
/// `w [(pw - 1) ln 2 - x (pw + 1) / 2]` (the `x` term only matters, and is exact, when pw = 1).
#[test]
fn known_values_near_zero() {
    on_big_stack(|| {
        let xs = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-40, -1e-40];
        // Labels and weights for which lw = 1 + (pw - 1) y and the gradients are exact.
        let combos = [
            (0.0, 1.0, 1.0),
            (1.0, 1.0, 1.0),
            (0.5, 1.0, 1.0),
            (0.0, 2.0, 3.0),
            (1.0, 2.0, 3.0),
            (1.0, 0.5, 0.0),
            (0.5, 4.0, 1.0),
            (0.25, 1.0, 2.0),
        ];
        let mut rows = Vec::new();
        for &x in &xs {
            for &(y, w, pw) in &combos {
                rows.push((x, y, w, pw));
            }
        }
        let case = Case::elementwise(&rows);
        let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
        // The same rows in float32 (1e-40 stays a subnormal there; 5e-324 and 1e-300 become zero).
        let case32 = case.round_f32();
        let rows32: Vec<_> = (0..case32.len())
            .map(|i| (case32.x[i], rows[i].1, rows[i].2, rows[i].3))
            .collect();
        let all32 = eval_all::<f32, WithLogits>(&case32.typed::<f32>().problem());
        for (i, &(x, y, w, pw)) in rows.iter().enumerate() {
            let lw = 1.0 + (pw - 1.0) * y;
            let loss = w * lw * LN2;
            let gi = w * 0.5 * (1.0 - y - pw * y);
            let gt = w * ((pw - 1.0) * LN2 - x * (pw + 1.0) / 2.0);
            let ctx = format!("x = {x:e}, y = {y}, w = {w}, pw = {pw}");
            assert!(
                ulps64(all.loss[i], loss) <= 4,
                "loss {:e} != {loss:e}; {ctx}",
                all.loss[i]
            );
            assert!(
                close(all.grad_input[i], gi, 4.0 * EPS, 1e-300),
                "grad input {:e} != {gi:e}; {ctx}",
                all.grad_input[i]
            );
            assert!(
                close(
                    all.grad_target[i],
                    gt,
                    4.0 * EPS,
                    4.0 * EPS * w * (1.0 + pw) * LN2
                ),
                "grad target {:e} != {gt:e}; {ctx}",
                all.grad_target[i]
            );
        }
        for (i, &(x, y, w, pw)) in rows32.iter().enumerate() {
            let lw = 1.0 + (pw - 1.0) * y;
            let ctx = format!("f32: x = {x:e}, y = {y}, w = {w}, pw = {pw}");
            let want = (w * lw * LN2) as f32;
            assert!(
                ulps32(all32.loss[i], want) <= 1,
                "loss {:e} != {want:e}; {ctx}",
                all32.loss[i]
            );
            // (1 - y) sigmoid(x) - pw y sigmoid(-x) to first order in x; where its constant part
            // cancels (y = 1/2, pw = 1) the result is x lw / 4, which a float64 computation
            // rounds to 0: docs/DESIGN.md ("Accuracy") allows 4 ulp of the larger term, w max(1 - y, pw y) / 2.
            let want = w * (0.5 * (1.0 - y - pw * y) + x * lw / 4.0);
            let larger = w * (1.0 - y).max(pw * y) / 2.0;
            assert!(
                close(
                    f64::from(all32.grad_input[i]),
                    want,
                    2f64.powi(-23),
                    4.0 * 2f64.powi(-24) * larger
                ),
                "grad input {:e} != {want:e}; {ctx}",
                all32.grad_input[i]
            );
            let want = (w * ((pw - 1.0) * LN2 - x * (pw + 1.0) / 2.0)) as f32;
            assert!(
                ulps32(all32.grad_target[i], want) <= 1,
                "grad target {:e} != {want:e}; {ctx}",
                all32.grad_target[i]
            );
        }
    });
}

/// For |x| large the softplus of -|x| is `exp(-|x|)` to double precision (the next term is
/// `exp(-2|x|)/2`), so loss and gradients have simple closed forms with no cancellation.
#[test]
fn large_logit_asymptotics() {
    on_big_stack(|| {
        let mut rows = Vec::new();
        let mut expect = Vec::new();
        for &a in &[40.0f64, 88.0, 103.0, 700.0, 740.0, 1e4] {
            let e = (-a).exp();
            for &(w, pw) in &[(1.0, 1.0), (2.0, 3.0), (0.5, 0.0)] {
                // (x, y): loss, d input, d target
                for &(x, y) in &[
                    (a, 1.0),
                    (-a, 0.0),
                    (a, 0.0),
                    (-a, 1.0),
                    (a, 0.25),
                    (-a, 0.25),
                ] {
                    let lw = 1.0 + (pw - 1.0) * y;
                    let loss = if x > 0.0 {
                        w * ((1.0 - y) * a + lw * e)
                    } else {
                        w * (pw * y * a + lw * e)
                    };
                    // sigmoid(a) = 1 - e, sigmoid(-a) = e (to double precision).
                    let gi = if x > 0.0 {
                        w * ((1.0 - y) * (1.0 - e) - pw * y * e)
                    } else {
                        w * ((1.0 - y) * e - pw * y * (1.0 - e))
                    };
                    // -x - (pw - 1) log sigmoid(x); log sigmoid(a) = -e, log sigmoid(-a) = -a - e.
                    let gt = if x > 0.0 {
                        w * (-a + (pw - 1.0) * e)
                    } else {
                        w * (pw * a + (pw - 1.0) * e)
                    };
                    rows.push((x, y, w, pw));
                    expect.push((loss, gi, gt));
                }
            }
        }
        let case = Case::elementwise(&rows);
        let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
        for (i, (&(x, y, w, pw), &(loss, gi, gt))) in rows.iter().zip(&expect).enumerate() {
            let ctx = format!("x = {x:e}, y = {y}, w = {w}, pw = {pw}");
            assert!(
                close(all.loss[i], loss, 8.0 * EPS, 1e-321),
                "loss {:e} != {loss:e} ({} ulp); {ctx}",
                all.loss[i],
                ulps64(all.loss[i], loss)
            );
            assert!(
                close(all.grad_input[i], gi, 8.0 * EPS, 1e-321),
                "grad input {:e} != {gi:e} ({} ulp); {ctx}",
                all.grad_input[i],
                ulps64(all.grad_input[i], gi)
            );
            assert!(
                close(all.grad_target[i], gt, 8.0 * EPS, 1e-321),
                "grad target {:e} != {gt:e}; {ctx}",
                all.grad_target[i]
            );
        }
        // The same in float32 storage, where exp(-88) and exp(-103) are subnormal.
        let rows32: Vec<_> = rows.iter().filter(|r| r.0.abs() <= 1e4).copied().collect();
        let case32 = Case::elementwise(&rows32).round_f32();
        let all32 = eval_all::<f32, WithLogits>(&case32.typed::<f32>().problem());
        for (i, &(x, y, w, pw)) in rows32.iter().enumerate() {
            let j = rows.iter().position(|r| *r == (x, y, w, pw)).unwrap();
            let (loss, gi, gt) = expect[j];
            let ctx = format!("f32: x = {x:e}, y = {y}, w = {w}, pw = {pw}");
            for (what, got, want) in [
                ("loss", all32.loss[i], loss),
                ("grad input", all32.grad_input[i], gi),
                ("grad target", all32.grad_target[i], gt),
            ] {
                assert!(
                    ulps32(got, want as f32) <= 1,
                    "{what} {got:e} != {:e} ({} ulp); {ctx}",
                    want as f32,
                    ulps32(got, want as f32)
                );
            }
        }
    });
}

/// Exact limits at infinite logits: loss 0 for (+inf, y = 1) and (-inf, y = 0), +inf where a
/// positive weight meets the wrong label; the input gradient tends to `w (1 - y)` at +inf and to
/// `-w pw y` at -inf; the target gradient to -inf at +inf and to +inf (or 0 when pw = 0) at -inf.
#[test]
fn infinite_logits_give_exact_limits() {
    on_big_stack(|| {
        let inf = f64::INFINITY;
        let mut rows = Vec::new();
        let mut expect = Vec::new();
        for &(w, pw) in &[(1.0, 1.0), (2.0, 3.0), (0.5, 0.0), (1.5, 0.5)] {
            for &y in &[0.0, 1.0, 0.5, 0.25] {
                for &x in &[inf, -inf] {
                    let loss = if x > 0.0 {
                        if y == 1.0 {
                            0.0
                        } else {
                            inf
                        }
                    } else if y == 0.0 || pw == 0.0 {
                        0.0
                    } else {
                        inf
                    };
                    let gi = if x > 0.0 { w * (1.0 - y) } else { -w * pw * y };
                    let gt = if x > 0.0 {
                        -inf
                    } else if pw == 0.0 {
                        0.0
                    } else {
                        inf
                    };
                    rows.push((x, y, w, pw));
                    expect.push((loss, gi, gt));
                }
            }
        }
        let case = Case::elementwise(&rows);
        let a64 = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
        let a32 = eval_all::<f32, WithLogits>(&case.typed::<f32>().problem());
        for (i, (&(x, y, w, pw), &(loss, gi, gt))) in rows.iter().zip(&expect).enumerate() {
            let ctx = format!("x = {x}, y = {y}, w = {w}, pw = {pw}");
            for (what, got, want) in [
                ("loss", a64.loss[i], loss),
                ("loss with grad", a64.loss_with_grad[i], loss),
                ("grad input", a64.grad_input[i], gi),
                ("grad target", a64.grad_target[i], gt),
                ("loss f32", f64::from(a32.loss[i]), loss),
                ("loss with grad f32", f64::from(a32.loss_with_grad[i]), loss),
                ("grad input f32", f64::from(a32.grad_input[i]), gi),
                ("grad target f32", f64::from(a32.grad_target[i]), gt),
            ] {
                assert!(got == want, "{what}: got {got:e}, want {want:e}; {ctx}");
            }
        }
        // A sum over exact zeros is exactly zero.
        let zeros = Case::new(&[2], vec![inf, -inf], vec![1.0, 0.0]);
        assert_eq!(
            loss_sum::<f64, WithLogits>(&zeros.typed::<f64>().problem()).unwrap(),
            0.0
        );
        assert_eq!(
            loss_sum::<f32, WithLogits>(&zeros.typed::<f32>().problem()).unwrap(),
            0.0
        );
    });
}

/// NaN anywhere in a logit, label or weight gives NaN loss and input gradient; a NaN logit or
/// weight gives a NaN target gradient too (the target gradient does not depend on the label).
#[test]
fn nan_propagates() {
    on_big_stack(|| {
        let nan = f64::NAN;
        let rows = [
            (nan, 0.0, 1.0, 1.0),
            (nan, 1.0, 1.0, 1.0),
            (nan, 0.5, 2.0, 3.0),
            (1.0, nan, 1.0, 1.0),
            (-3.0, nan, 1.0, 2.0),
            (0.0, nan, 1.0, 1.0),
            (1.0, 0.5, nan, 1.0),
            (-1.0, 0.5, nan, 1.0),
            (2.0, 0.5, 1.0, nan),
            (-2.0, 0.5, 1.0, nan),
        ];
        let case = Case::elementwise(&rows);
        fn check<T: fastbce::Element>(case: &Case, rows: &[(f64, f64, f64, f64)]) {
            let all = eval_all::<T, WithLogits>(&case.typed::<T>().problem());
            for (i, &(x, y, w, pw)) in rows.iter().enumerate() {
                let ctx = format!("x = {x}, y = {y}, w = {w}, pw = {pw}");
                assert!(all.loss[i].to_f64().is_nan(), "loss not NaN; {ctx}");
                assert!(
                    all.loss_with_grad[i].to_f64().is_nan(),
                    "loss with grad not NaN; {ctx}"
                );
                assert!(
                    all.grad_input[i].to_f64().is_nan(),
                    "grad input not NaN; {ctx}"
                );
                if x.is_nan() || w.is_nan() {
                    assert!(
                        all.grad_target[i].to_f64().is_nan(),
                        "grad target not NaN; {ctx}"
                    );
                }
            }
            assert!(all.sum.is_nan(), "sum not NaN");
        }
        check::<f64>(&case, &rows);
        check::<f32>(&case, &rows);
    });
}

/// The gradient is that of `sum(loss * grad_output) * grad_scale`; the losses ignore both.
#[test]
fn grad_output_and_grad_scale() {
    on_big_stack(|| {
        let mut rng = Rng::new(31);
        let n = 300;
        let x: Vec<f64> = (0..n).map(|_| rng.uniform(-10.0, 10.0)).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.label()).collect();
        let mut base = Case::new(&[n], x, y);
        base.w = Spec::Const(1.5);
        base.pw = Spec::Const(2.0);
        let plain = eval_all::<f64, WithLogits>(&base.typed::<f64>().problem());
        let mut scaled = base.clone();
        scaled.go = Spec::array(&[n], || rng.uniform(-3.0, 3.0));
        scaled.scale = 1.0 / n as f64;
        let all = eval_all::<f64, WithLogits>(&scaled.typed::<f64>().problem());
        assert_same_slices("loss", &all.loss, &plain.loss);
        assert!(same_bits(all.sum, plain.sum), "sum depends on grad_output");
        let go = scaled.go.materialise(&[n]);
        for (i, &g) in go.iter().enumerate() {
            for (what, got, one) in [
                ("grad input", all.grad_input[i], plain.grad_input[i]),
                ("grad target", all.grad_target[i], plain.grad_target[i]),
            ] {
                let want = g * scaled.scale * one;
                assert!(
                    close(got, want, 4.0 * EPS, 1e-300),
                    "{what}: {got:e} != {want:e} at {i}"
                );
            }
        }
        check_logits_f64(&scaled, &all);
        // Scalar grad_output, f32 storage.
        let mut c = base.clone();
        c.go = Spec::Const(-0.5);
        c.scale = 3.0;
        let a64 = check_f32_matches_f64::<WithLogits>(&c);
        check_logits_f64(&c.round_f32(), &a64);
    });
}

/// Finite differences of the kernel's own loss agree with its gradients.
#[test]
fn gradients_match_finite_differences_of_kernel_loss() {
    on_big_stack(|| {
        let mut rng = Rng::new(41);
        let n = 400;
        let x: Vec<f64> = (0..n).map(|_| rng.uniform(-25.0, 25.0)).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.uniform(0.01, 0.99)).collect();
        let mut case = Case::new(&[n], x.clone(), y.clone());
        case.w = Spec::array(&[n], || rng.uniform(0.1, 2.0));
        case.pw = Spec::array(&[n], || rng.uniform(0.0, 3.0));
        let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
        let shifted = |dx: f64, dy: f64| {
            let mut c = case.clone();
            c.x = x.iter().map(|v| v + dx).collect();
            c.y = y.iter().map(|v| v + dy).collect();
            loss_each::<f64, WithLogits>(&c.typed::<f64>().problem()).unwrap()
        };
        let h = 1e-5;
        let (xp, xm) = (shifted(h, 0.0), shifted(-h, 0.0));
        let k = 1e-3;
        let (yp, ym) = (shifted(0.0, k), shifted(0.0, -k));
        for i in 0..n {
            let fd = (xp[i] - xm[i]) / (2.0 * h);
            let tol = 1e-6 * fd.abs() + 1e-8 * (1.0 + all.loss[i]);
            assert!(
                (all.grad_input[i] - fd).abs() <= tol,
                "grad input {:e} vs finite difference {fd:e} at x = {:e}, y = {:e}",
                all.grad_input[i],
                x[i],
                y[i]
            );
            let fd = (yp[i] - ym[i]) / (2.0 * k);
            let tol = 1e-6 * fd.abs() + 1e-9 * (1.0 + all.loss[i]);
            assert!(
                (all.grad_target[i] - fd).abs() <= tol,
                "grad target {:e} vs finite difference {fd:e} at x = {:e}, y = {:e}",
                all.grad_target[i],
                x[i],
                y[i]
            );
        }
    });
}

/// With logits the target is not required to be a probability (PyTorch does not check it).
#[test]
fn logits_accept_targets_outside_unit_interval() {
    on_big_stack(|| {
        let case = Case::new(&[3], vec![1.0, -2.0, 0.5], vec![2.0, -1.0, 0.5]);
        let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
        for i in 0..3 {
            let want = logits_loss_textbook(case.x[i], case.y[i], 1.0, 1.0);
            assert!(close(all.loss[i], want, 1e-14, 1e-15));
        }
        // The same numbers are refused on probabilities.
        assert!(loss_each::<f64, OnProbabilities>(&case.typed::<f64>().problem()).is_err());
    });
}

/// `lw = 1 + (pw - 1) y` equals `(1 - y) + pw y`, a sum of two non-negative terms; with a small
/// pos_weight and a label at or near 1 the loss is `w pw y softplus(-x)`-dominated and must keep
/// its relative accuracy (docs/DESIGN.md, "Accuracy": within 4 ulp of the exact value), which rules out forming `lw`
/// as `1 + (pw - 1) y` (that cancels to an absolute error of an ulp of 1).
#[test]
fn small_pos_weight_keeps_relative_accuracy() {
    on_big_stack(|| {
        let mut rows = Vec::new();
        for &x in &[-30.0, -5.0, -0.5, 0.0, 0.5, 3.0, 20.0, 30.0] {
            for &y in &[1.0, 1.0 - 2f64.powi(-20)] {
                for &pw in &[1e-3, 0.0109, 1e-6, 1e-10] {
                    rows.push((x, y, 1.0, pw));
                }
            }
        }
        let case = Case::elementwise(&rows);
        let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
        let mut worst = (0u128, 0usize);
        for (i, &(x, y, w, pw)) in rows.iter().enumerate() {
            let d = ulps64(all.loss[i], logits_loss(x, y, w, pw));
            if d > worst.0 {
                worst = (d, i);
            }
        }
        let (d, i) = worst;
        let (x, y, w, pw) = rows[i];
        assert!(
            d <= 16,
            "loss {d} ulp from the reference at x = {x:e}, y = {y:e}, w = {w}, pw = {pw:e}: \
         got {:e}, reference {:e}",
            all.loss[i],
            logits_loss(x, y, w, pw)
        );
    });
}
