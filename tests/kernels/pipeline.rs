//! The pipeline extensions of the kernels: the hessian beside the input gradient, masks and label
//! smoothing, each against float64 references written from the definitions and against finite
//! differences, in both storage types.

use crate::common::*;
use fastbce::ViewMut;
use fastbce::{
    Element, Formula, KernelError, LossOut, OnProbabilities, Operand, Problem, Request, WithLogits,
    Wrt,
};

/// `(gradient, hessian)` with respect to the input, from one call.
fn grad_hess<T: Element, F: Formula>(p: &Problem<'_, T>) -> Result<(Vec<T>, Vec<T>), KernelError> {
    let n = p.len();
    let (mut g, mut h) = (vec![sentinel::<T>(); n], vec![sentinel::<T>(); n]);
    eval::<T, F>(
        p,
        Request {
            loss: LossOut::Skip,
            grad: Some((ViewMut::new(&mut g, p.shape()), Wrt::Input)),
            hess: Some(ViewMut::new(&mut h, p.shape())),
        },
    )?;
    Ok((g, h))
}

/// The with-logits hessian from its definition: `w lw sigmoid(x) sigmoid(-x)`.
fn logits_hess(x: f64, y: f64, w: f64, pw: f64) -> f64 {
    w * ((1.0 - y) + pw * y) * sigmoid(x) * sigmoid(-x)
}

/// Random logits over the whole range, labels, weights and pos_weights, as float64.
fn logits_data(n: usize, seed: u64) -> [Vec<f64>; 4] {
    let mut rng = Rng::new(seed);
    let x = (0..n)
        .map(|i| match i % 7 {
            0 => rng.uniform(-100.0, 100.0),
            1 => rng.uniform(-1e-3, 1e-3),
            _ => rng.uniform(-12.0, 12.0),
        })
        .collect();
    let y = (0..n).map(|_| rng.label()).collect();
    let w = (0..n).map(|_| rng.uniform(0.0, 3.0)).collect();
    let pw = (0..n).map(|_| rng.uniform(0.0, 4.0)).collect();
    [x, y, w, pw]
}

fn narrow(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&a| a as f32).collect()
}

fn problem<'a, T: Element>(shape: &'a [usize], [x, y, w, pw]: &'a [Vec<T>; 4]) -> Problem<'a, T> {
    let mut p = Problem::new(shape, x, y);
    p.weight = Operand::array(w, shape);
    p.pos_weight = Operand::array(pw, shape);
    p
}

#[test]
fn logits_hessian_matches_the_definition_and_finite_differences() {
    let n = 5000;
    let data = logits_data(n, 11);
    let shape = [n];
    let p = problem(&shape, &data);
    let (g, h) = grad_hess::<f64, WithLogits>(&p).expect("grad_hess");
    let plain = grad::<f64, WithLogits>(&p, Wrt::Input).expect("grad");
    assert_same_slices("gradient beside the hessian", &g, &plain);
    let [x, y, w, pw] = &data;
    for i in 0..n {
        let want = logits_hess(x[i], y[i], w[i], pw[i]);
        assert!(
            close(h[i], want, 8.0 * EPS, 0.0),
            "hess({}, {}, {}, {}) = {:e}, want {want:e}",
            x[i],
            y[i],
            w[i],
            pw[i],
            h[i]
        );
        if x[i].abs() < 20.0 {
            let step = 1e-5 * (1.0 + x[i].abs());
            let fd = central(|t| logits_dinput(t, y[i], w[i], pw[i]), x[i], step);
            assert!(
                close(h[i], fd, 1e-6, 1e-9 * w[i]),
                "hess {:e} against finite difference {fd:e} at x = {}",
                h[i],
                x[i]
            );
        }
    }

    // float32: within 4 ulp of the float64 result rounded, down to the subnormal tail.
    let data32 = data.clone().map(|v| narrow(&v));
    let p32 = problem(&shape, &data32);
    let (g32, h32) = grad_hess::<f32, WithLogits>(&p32).expect("grad_hess f32");
    assert_same_slices(
        "f32 gradient beside the hessian",
        &g32,
        &grad::<f32, WithLogits>(&p32, Wrt::Input).expect("grad f32"),
    );
    let [x, y, w, pw] = &data32;
    for i in 0..n {
        let want = logits_hess(x[i].into(), y[i].into(), w[i].into(), pw[i].into()) as f32;
        assert!(
            ulps32(h32[i], want) <= 4,
            "f32 hess at x = {}: {:e}, want {want:e}",
            x[i],
            h32[i]
        );
    }
}

#[test]
fn logits_hessian_edges() {
    let x = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.0,
        -800.0,
        745.0,
    ];
    let y = [1.0, 0.0, 0.5, 0.5, 0.3, 0.7];
    let shape = [x.len()];
    let (_, h) = grad_hess::<f64, WithLogits>(&Problem::new(&shape, &x, &y)).expect("grad_hess");
    assert_eq!(h[0], 0.0);
    assert_eq!(h[1], 0.0);
    assert!(h[2].is_nan());
    assert_eq!(h[3], 0.25);
    assert_eq!(h[4], 0.0, "exp(-800) underflows to zero");
    assert!(
        h[5] > 0.0 && h[5] < 1e-300,
        "subnormal curvature at x = 745: {:e}",
        h[5]
    );
}

#[test]
fn probabilities_hessian_matches_finite_differences() {
    let mut rng = Rng::new(5);
    let n = 2000;
    let p: Vec<f64> = (0..n).map(|_| rng.uniform(0.01, 0.99)).collect();
    let y: Vec<f64> = (0..n).map(|_| rng.label()).collect();
    let w: Vec<f64> = (0..n).map(|_| rng.uniform(0.0, 2.0)).collect();
    let shape = [n];
    let mut problem = Problem::new(&shape, &p, &y);
    problem.weight = Operand::array(&w, &shape);
    let (_, h) = grad_hess::<f64, OnProbabilities>(&problem).expect("grad_hess");
    for i in 0..n {
        let fd = central(|t| prob_dinput(t, y[i], w[i]), p[i], 1e-6);
        assert!(
            close(h[i], fd, 1e-5, 1e-9),
            "hess {:e} against {fd:e} at p = {}, y = {}",
            h[i],
            p[i],
            y[i]
        );
    }
}

#[test]
fn hessian_only_beside_the_input_gradient_alone() {
    let (x, y) = ([0.5f64, -1.0], [1.0f64, 0.0]);
    let shape = [2];
    let p = Problem::new(&shape, &x, &y);
    let (mut g, mut h, mut l) = ([0.0; 2], [0.0; 2], [0.0; 2]);
    for (loss, wrt) in [
        (
            LossOut::Each(ViewMut::new(&mut l[..], p.shape())),
            Wrt::Input,
        ),
        (LossOut::Sum, Wrt::Input),
        (LossOut::Skip, Wrt::Target),
    ] {
        let r = eval::<f64, WithLogits>(
            &p,
            Request {
                loss,
                grad: Some((ViewMut::new(&mut g, p.shape()), wrt)),
                hess: Some(ViewMut::new(&mut h, p.shape())),
            },
        );
        assert!(matches!(r, Err(KernelError::Unsupported { .. })), "{r:?}");
    }
    let r = eval::<f64, WithLogits>(
        &p,
        Request {
            loss: LossOut::Skip,
            grad: None,
            hess: Some(ViewMut::new(&mut h, p.shape())),
        },
    );
    assert!(matches!(r, Err(KernelError::Unsupported { .. })), "{r:?}");
    let mut short = [0.0; 1];
    let r = eval::<f64, WithLogits>(
        &p,
        Request {
            loss: LossOut::Skip,
            grad: Some((ViewMut::new(&mut g, p.shape()), Wrt::Input)),
            hess: Some(ViewMut::new(&mut short, p.shape())),
        },
    );
    assert!(matches!(r, Err(KernelError::Length { .. })), "{r:?}");
}

/// Masked-out elements write zeros and add nothing, even where their values are NaN or infinite;
/// kept elements are bit-identical to an unmasked call; a mask broadcasts like the weights.
fn check_mask<T: Element + std::fmt::Debug>(from: fn(f64) -> T) {
    let (rows, cols) = (37, 700); // past one chunk's worth of blocks, ragged at both ends
    let n = rows * cols;
    let data = logits_data(n, 23);
    let mut typed: [Vec<T>; 4] = data.map(|v| v.into_iter().map(from).collect());
    let mut rng = Rng::new(3);
    let keep: Vec<bool> = (0..n).map(|_| rng.below(3) != 0).collect();
    for i in (0..n).step_by(5) {
        if !keep[i] {
            typed[0][i] = from(if i % 2 == 0 { f64::NAN } else { f64::INFINITY });
            typed[1][i] = from(f64::NAN);
        }
    }
    let shape = [rows, cols];
    let plain = problem(&shape, &typed);
    let mut masked = plain.clone();
    masked.mask = Operand::array(&keep, &shape);
    let all = eval_all::<T, WithLogits>(&plain);
    let got = eval_all::<T, WithLogits>(&masked);
    let (_, hess_plain) = grad_hess::<T, WithLogits>(&plain).expect("grad_hess");
    let (grad_masked, hess_masked) = grad_hess::<T, WithLogits>(&masked).expect("grad_hess");
    let pick = |v: &[T]| -> Vec<T> {
        v.iter()
            .zip(&keep)
            .map(|(&a, &k)| if k { a } else { T::ZERO })
            .collect()
    };
    for (what, masked_out, unmasked) in [
        ("loss", &got.loss, &all.loss),
        ("grad input", &got.grad_input, &all.grad_input),
        ("grad target", &got.grad_target, &all.grad_target),
        ("loss with grad", &got.loss_with_grad, &all.loss_with_grad),
        ("grad beside hess", &grad_masked, &all.grad_input),
        ("hess", &hess_masked, &hess_plain),
    ] {
        assert_same_slices(what, masked_out, &pick(unmasked));
    }
    // The sum is the sum of the kept losses (each a few ulp of the storage type from exact).
    let kept: Vec<f64> = got.loss.iter().map(|v| v.to_f64()).collect();
    let ulp = if std::mem::size_of::<T>() == 4 {
        f64::from(f32::EPSILON)
    } else {
        EPS
    };
    let want = accurate_sum(kept.iter().copied());
    assert!(
        (got.sum - want).abs() <= 4.0 * ulp * want,
        "masked sum {:e}, kept losses sum to {want:e}",
        got.sum
    );
    assert_eq!(got.sum.to_bits(), got.sum_with_grad.to_bits());

    // One mask value per row, broadcast along it; and a constant mask.
    let row_keep: Vec<bool> = (0..rows).map(|r| r % 3 != 1).collect();
    let row_shape = [rows, 1];
    let mut by_row = plain.clone();
    by_row.mask = Operand::array(&row_keep, &row_shape);
    let each = loss_each::<T, WithLogits>(&by_row).expect("row mask");
    for r in 0..rows {
        for c in 0..cols {
            let want = if r % 3 != 1 {
                all.loss[r * cols + c]
            } else {
                T::ZERO
            };
            assert!(same_bits(each[r * cols + c], want), "row {r}, column {c}");
        }
    }
    let mut none_kept = plain.clone();
    none_kept.mask = Operand::Const(false);
    assert_eq!(loss_sum::<T, WithLogits>(&none_kept).expect("sum"), 0.0);
    assert!(loss_each::<T, WithLogits>(&none_kept)
        .expect("each")
        .iter()
        .all(|&v| same_bits(v, T::ZERO)));
    let bad_shape = [cols + 1];
    let mut bad = plain.clone();
    bad.mask = Operand::array(&keep[..cols + 1], &bad_shape);
    assert!(matches!(
        loss_sum::<T, WithLogits>(&bad),
        Err(KernelError::Broadcast { what: "mask", .. })
    ));
}

#[test]
fn mask_f64() {
    check_mask::<f64>(|v| v);
}

#[test]
fn mask_f32() {
    check_mask::<f32>(|v| v as f32);
}

/// Label smoothing is the loss (and gradients) at the smoothed target `y (1 - ε) + ε / 2`, formed
/// with one rounding in the storage type; the target gradient carries the factor `1 - ε`.
#[test]
fn label_smoothing_is_the_loss_at_the_smoothed_target() {
    let n = 3000;
    let data = logits_data(n, 31);
    let shape = [n];
    for eps in [0.1, 1e-6, 0.5, 0.999] {
        let keep = 1.0 - eps;
        let half = eps / 2.0;
        let smoothed: Vec<f64> = data[1].iter().map(|&y| y.mul_add(keep, half)).collect();
        let mut p = problem(&shape, &data);
        p.label_smoothing = eps;
        let got = eval_all::<f64, WithLogits>(&p);
        let [x, _, w, pw] = &data;
        for i in 0..n {
            let ys = smoothed[i];
            let want = logits_loss(x[i], ys, w[i], pw[i]);
            assert!(
                close(got.loss[i], want, 8.0 * EPS, 0.0),
                "ε = {eps}: loss({}, {ys}) = {:e}, want {want:e}",
                x[i],
                got.loss[i]
            );
            let (a, b) = logits_dinput_terms(x[i], ys, pw[i]);
            let want_gi = w[i] * (a - b);
            assert!(
                close(
                    got.grad_input[i],
                    want_gi,
                    8.0 * EPS * (a + b) / (a - b).abs(),
                    0.0
                ),
                "ε = {eps}: grad input at x = {}: {:e}, want {want_gi:e}",
                x[i],
                got.grad_input[i]
            );
            let (c, d) = logits_dtarget_terms(x[i], pw[i]);
            let want_gt = keep * w[i] * (c - d);
            assert!(
                close(
                    got.grad_target[i],
                    want_gt,
                    8.0 * EPS * (c + d) / (c - d).abs(),
                    0.0
                ),
                "ε = {eps}: grad target at x = {}: {:e}, want {want_gt:e}",
                x[i],
                got.grad_target[i]
            );
        }
        // f32: the same, with the smoothed target rounded to f32 once.
        let data32 = data.clone().map(|v| narrow(&v));
        let mut p32 = problem(&shape, &data32);
        p32.label_smoothing = eps;
        let loss32 = loss_each::<f32, WithLogits>(&p32).expect("f32 loss");
        let (k32, h32) = (f64::from(keep as f32), f64::from(half as f32));
        let [x, y, w, pw] = &data32;
        for i in 0..n {
            let ys = f64::from(y[i]).mul_add(k32, h32) as f32;
            let want = logits_loss(x[i].into(), ys.into(), w[i].into(), pw[i].into()) as f32;
            assert!(
                ulps32(loss32[i], want) <= 4,
                "ε = {eps}, f32 loss at x = {}, y = {}: {:e}, want {want:e}",
                x[i],
                y[i],
                loss32[i]
            );
        }
    }
}

#[test]
fn label_smoothing_on_probabilities() {
    let mut rng = Rng::new(8);
    let n = 2000;
    let p: Vec<f64> = (0..n).map(|_| rng.probability()).collect();
    let y: Vec<f64> = (0..n).map(|_| rng.label()).collect();
    let shape = [n];
    let eps = 0.2;
    let mut problem = Problem::new(&shape, &p, &y);
    problem.label_smoothing = eps;
    let got = eval_all::<f64, OnProbabilities>(&problem);
    for i in 0..n {
        let ys = y[i].mul_add(1.0 - eps, eps / 2.0);
        let want = prob_loss(p[i], ys, 1.0);
        assert!(
            close(got.loss[i], want, 8.0 * EPS, 0.0),
            "loss({}, {ys}) = {:e}, want {want:e}",
            p[i],
            got.loss[i]
        );
        let gi = prob_dinput(p[i], ys, 1.0);
        assert!(
            close(got.grad_input[i], gi, 8.0 * EPS, 0.0),
            "grad input at p = {}",
            p[i]
        );
        // ln(1 - p) - ln(p) cancels near p = 1/2: 8 ulp of the larger term.
        let gt = (1.0 - eps) * prob_dtarget(p[i], 1.0);
        let larger = ln_one_minus(p[i]).abs().max(p[i].ln().abs());
        assert!(
            close(got.grad_target[i], gt, 0.0, 8.0 * EPS * larger),
            "grad target at p = {}",
            p[i]
        );
    }
}

/// On probabilities, values outside [0, 1] (or NaN) are refused only where the mask keeps them.
#[test]
fn probability_check_skips_masked_out_elements() {
    let (rows, cols) = (3, 40_000); // several chunks
    let n = rows * cols;
    let mut rng = Rng::new(17);
    let mut p: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
    let y: Vec<f64> = (0..n).map(|_| rng.label()).collect();
    let row_keep = [true, false, true];
    let keep: Vec<bool> = (0..n).map(|i| row_keep[i / cols]).collect();
    for i in (cols..2 * cols).step_by(97) {
        p[i] = if i % 2 == 0 { f64::NAN } else { 7.0 };
    }
    let shape = [rows, cols];
    let row_shape = [rows, 1];
    for (mask, what) in [
        (Operand::array(&keep[..], &shape[..]), "same-shape mask"),
        (Operand::array(&row_keep[..], &row_shape[..]), "row mask"),
    ] {
        let mut problem = Problem::new(&shape, &p, &y);
        problem.mask = mask;
        let sum = loss_sum::<f64, OnProbabilities>(&problem).expect(what);
        assert!(sum.is_finite() && sum > 0.0, "{what}: {sum}");
        // Unmasked, the same values are refused.
        problem.mask = Operand::Const(true);
        assert_eq!(
            loss_sum::<f64, OnProbabilities>(&problem),
            Err(KernelError::OutOfUnitInterval { what: "input" }),
            "{what}"
        );
    }
    // A bad value in a kept row is still refused.
    p[5] = -0.5;
    let mut problem = Problem::new(&shape, &p, &y);
    problem.mask = Operand::array(&row_keep, &row_shape);
    assert_eq!(
        loss_sum::<f64, OnProbabilities>(&problem),
        Err(KernelError::OutOfUnitInterval { what: "input" })
    );
    problem.mask = Operand::Const(false);
    assert_eq!(loss_sum::<f64, OnProbabilities>(&problem), Ok(0.0));
}
