//! Broadcasting of weight, pos_weight and grad_output over the input's shape: every allowed
//! pattern gives what the same operand written out in full gives, and matches the float64
//! reference; patterns that enlarge the shape or do not broadcast, and buffers of the wrong length,
//! are refused with the right error.

use crate::common::*;
use fastbce::broadcast::{Geometry, Plan, Slot, SLOTS};
use fastbce::ViewMut;
use fastbce::{
    Element, Formula, KernelError, LossOut, OnProbabilities, Operand, Problem, Request, WithLogits,
    Wrt,
};

/// The kernels take short last dimensions in gathered windows of 1024 elements and long ones run by
/// run: `[2500, 7]` spans windows that start mid-row and crosses a chunk (16384 elements), `[3, 1100]`
/// takes runs longer than a window, `[3, 700, 9]` gathers a three-dimensional pattern.
const SHAPES: [&[usize]; 12] = [
    &[7],
    &[4, 5],
    &[3, 4, 5],
    &[2, 3, 4, 5],
    &[37, 33],
    &[0, 3],
    &[1, 5],
    &[4, 1, 5],
    &[6, 1],
    &[2500, 7],
    &[3, 1100],
    &[3, 700, 9],
];

/// The operand shapes that broadcast to `shape` without enlarging it; `None` is a scalar constant.
fn patterns(shape: &[usize]) -> Vec<(&'static str, Option<Vec<usize>>)> {
    let nd = shape.len();
    let last = shape[nd - 1];
    let mut v: Vec<(&'static str, Option<Vec<usize>>)> = vec![
        ("same shape", Some(shape.to_vec())),
        ("(C,)", Some(vec![last])),
        ("scalar constant", None),
        ("0-d array", Some(vec![])),
        ("(1,)", Some(vec![1])),
        ("all ones", Some(vec![1; nd])),
    ];
    let mut column = shape.to_vec();
    column[nd - 1] = 1;
    v.push(("shape[:-1] + (1,)", Some(column)));
    if nd >= 2 {
        v.push(("(1, C)", Some(vec![1, last])));
        v.push(("(N, 1)", Some(vec![shape[nd - 2], 1])));
        v.push(("(N, C)", Some(shape[nd - 2..].to_vec())));
        let mut leading = vec![1; nd];
        leading[0] = shape[0];
        v.push(("leading dim only", Some(leading)));
    }
    if nd >= 3 {
        let mut middle = shape.to_vec();
        middle[1] = 1;
        v.push(("middle dim 1", Some(middle)));
    }
    v
}

fn spec(rng: &mut Rng, own: &Option<Vec<usize>>, lo: f64, hi: f64) -> Spec {
    match own {
        None => Spec::Const(rng.uniform(lo, hi)),
        Some(own) => Spec::array(own, || rng.uniform(lo, hi)),
    }
}

/// Checks a case, whose operands may broadcast, against the same case with every operand written
/// out in full: per-element outputs bit for bit, sums to rounding (the summation order may follow
/// the broadcast layout).
fn check_against_materialised<T: Element + std::fmt::Debug, F: Formula>(case: &Case, label: &str) {
    let mut full = case.clone();
    full.w = case.w.full(&case.shape);
    full.pw = case.pw.full(&case.shape);
    full.go = case.go.full(&case.shape);
    let got = eval_all::<T, F>(&case.typed::<T>().problem());
    let want = eval_all::<T, F>(&full.typed::<T>().problem());
    for (what, g, w) in [
        ("loss", &got.loss, &want.loss),
        ("loss with grad", &got.loss_with_grad, &want.loss_with_grad),
        ("grad input", &got.grad_input, &want.grad_input),
        ("grad target", &got.grad_target, &want.grad_target),
    ] {
        assert_same_slices(&format!("{label}: {what}"), g, w);
    }
    for (what, g, w) in [
        ("sum", got.sum, want.sum),
        ("sum with grad", got.sum_with_grad, want.sum_with_grad),
    ] {
        assert!(
            close(g, w, 1e-13, 1e-300),
            "{label}: {what} {g:e}, materialised {w:e}"
        );
    }
    check_consistency(&got);
}

/// Checks a case against its materialised twin (the broadcasting) and, where it is small (400
/// elements or fewer), against the float64 reference per element (the formulas, checked at length
/// elsewhere; here they confirm each element met its own operands).
fn check_case(case: &Case, label: &str, probabilities: bool) {
    let with_reference = case.len() <= 400;
    if probabilities {
        check_against_materialised::<f64, OnProbabilities>(case, label);
        check_against_materialised::<f32, OnProbabilities>(&case.round_f32(), label);
        if with_reference {
            let all = eval_all::<f64, OnProbabilities>(&case.typed::<f64>().problem());
            check_probabilities_f64(case, &all);
        }
    } else {
        check_against_materialised::<f64, WithLogits>(case, label);
        check_against_materialised::<f32, WithLogits>(&case.round_f32(), label);
        if with_reference {
            let all = eval_all::<f64, WithLogits>(&case.typed::<f64>().problem());
            check_logits_f64(case, &all);
        }
    }
}

fn base_case(rng: &mut Rng, shape: &[usize], probabilities: bool) -> Case {
    let n = count(shape);
    let x = (0..n)
        .map(|_| {
            if probabilities {
                rng.probability()
            } else {
                rng.uniform(-12.0, 12.0)
            }
        })
        .collect();
    let y = (0..n).map(|_| rng.label()).collect();
    let mut case = Case::new(shape, x, y);
    case.scale = 0.5;
    case
}

/// The patterns the long shapes are taken in: those that decide how a chunk is walked (one value
/// per class, per row, per element, one everywhere). The short shapes take every pattern.
const LONG_SHAPE_PATTERNS: [&str; 4] =
    ["same shape", "(C,)", "shape[:-1] + (1,)", "scalar constant"];

/// `shape`'s patterns to test.
fn patterns_for(shape: &[usize]) -> Vec<(&'static str, Option<Vec<usize>>)> {
    let mut all = patterns(shape);
    if count(shape) > 4000 {
        all.retain(|(name, _)| LONG_SHAPE_PATTERNS.contains(name));
    }
    all
}

/// Each operand alone in every pattern, the others constant.
#[test]
fn each_operand_in_every_pattern() {
    on_big_stack(|| {
        let mut rng = Rng::new(7);
        for shape in SHAPES {
            for (name, own) in patterns_for(shape) {
                for probabilities in [false, true] {
                    for which in 0..3 {
                        if probabilities && which == 1 {
                            continue; // pos_weight is not part of the probability loss
                        }
                        let mut case = base_case(&mut rng, shape, probabilities);
                        let label = format!(
                            "shape {shape:?}, {} {name} {own:?}, probabilities: {probabilities}",
                            ["weight", "pos_weight", "grad_output"][which]
                        );
                        match which {
                            0 => case.w = spec(&mut rng, &own, 0.0, 3.0),
                            1 => case.pw = spec(&mut rng, &own, 0.0, 4.0),
                            _ => case.go = spec(&mut rng, &own, -2.0, 2.0),
                        }
                        check_case(&case, &label, probabilities);
                    }
                }
            }
        }
    });
}

/// All three operands broadcast at once, in different patterns.
#[test]
fn all_operands_in_mixed_patterns() {
    on_big_stack(|| {
        let mut rng = Rng::new(8);
        for shape in SHAPES {
            let pats = patterns_for(shape);
            let k = pats.len();
            for i in 0..k {
                let (a, b, c) = (&pats[i], &pats[(i + 3) % k], &pats[(i + 5) % k]);
                for probabilities in [false, true] {
                    let mut case = base_case(&mut rng, shape, probabilities);
                    case.w = spec(&mut rng, &a.1, 0.0, 3.0);
                    case.pw = spec(&mut rng, &b.1, 0.0, 4.0);
                    case.go = spec(&mut rng, &c.1, -2.0, 2.0);
                    let label = format!(
                        "shape {shape:?}: weight {}, pos_weight {}, grad_output {}",
                        a.0, b.0, c.0
                    );
                    check_case(&case, &label, probabilities);
                }
            }
        }
    });
}

/// A 0-d input (shape `[]`) holds one element.
#[test]
fn zero_dimensional_input() {
    on_big_stack(|| {
        let mut case = Case::new(&[], vec![0.75], vec![0.25]);
        case.w = Spec::Array(vec![2.0], vec![]);
        case.pw = Spec::Const(3.0);
        case.go = Spec::Array(vec![-1.5], vec![]);
        check_case(&case, "0-d input", false);
        check_case(&case, "0-d input", true);
    });
}

/// Runs every request on a problem and checks each gives `want`.
fn expect_error<T: Element>(p: &Problem<'_, T>, want: &KernelError) {
    for (label, got) in [
        ("loss", loss_each::<T, WithLogits>(p).err()),
        ("sum", loss_sum::<T, WithLogits>(p).err()),
        ("grad input", grad::<T, WithLogits>(p, Wrt::Input).err()),
        ("grad target", grad::<T, WithLogits>(p, Wrt::Target).err()),
        ("probabilities sum", loss_sum::<T, OnProbabilities>(p).err()),
    ] {
        assert_eq!(got.as_ref(), Some(want), "{label}");
    }
}

/// Operand shapes that would enlarge the input's shape, or do not match it, are refused.
#[test]
fn shapes_that_do_not_broadcast_are_refused() {
    on_big_stack(|| {
        let cases: [(&[usize], &[usize]); 17] = [
            (&[7], &[1, 7]),
            (&[7], &[6]),
            (&[7], &[0]),
            (&[7], &[2, 7]),
            (&[4, 5], &[1, 4, 5]),
            (&[4, 5], &[2, 4, 5]),
            (&[4, 5], &[4]),
            (&[4, 5], &[5, 4]),
            (&[4, 5], &[2, 5]),
            (&[4, 5], &[4, 2]),
            (&[3, 4, 5], &[4, 4, 5]),
            (&[3, 4, 5], &[3, 1]),
            (&[2, 3, 4, 5], &[1, 1, 1, 1, 1]),
            (&[37, 33], &[33, 37]),
            (&[0, 3], &[2, 3]),
            (&[0, 3], &[0]),
            (&[], &[1]),
        ];
        for (shape, own) in cases {
            let n = count(shape);
            let x = vec![0.5f64; n];
            let y = vec![0.5f64; n];
            let data = vec![1.0f64; count(own)];
            for which in ["weight", "pos_weight", "grad_output"] {
                let mut p = Problem::new(shape, &x, &y);
                let op = Operand::array(&data, own);
                match which {
                    "weight" => p.weight = op,
                    "pos_weight" => p.pos_weight = op,
                    _ => p.grad_output = op,
                }
                let want = KernelError::Broadcast {
                    what: which,
                    operand: own.to_vec(),
                    shape: shape.to_vec(),
                };
                expect_error(&p, &want);
                // The message names the argument and both shapes.
                let msg = want.to_string();
                assert!(msg.contains(which) && msg.contains(&fastbce::error::tuple(own)));
            }
        }
    });
}

/// An operand whose buffer does not hold as many elements as its shape says is refused.
#[test]
fn operand_buffers_of_the_wrong_length_are_refused() {
    on_big_stack(|| {
        let shape = [4usize, 5];
        let x = vec![0.5f32; 20];
        let y = vec![0.5f32; 20];
        for (own, len) in [
            (&[4usize, 5][..], 19usize),
            (&[4, 5][..], 21),
            (&[5][..], 4),
            (&[5][..], 20),
            (&[][..], 0),
            (&[][..], 2),
            (&[4, 1][..], 5),
            (&[1][..], 0),
        ] {
            let data = vec![1.0f32; len];
            for which in ["weight", "pos_weight", "grad_output"] {
                let mut p = Problem::new(&shape, &x, &y);
                let op = Operand::array(&data, own);
                match which {
                    "weight" => p.weight = op,
                    "pos_weight" => p.pos_weight = op,
                    _ => p.grad_output = op,
                }
                let want = KernelError::Length {
                    what: which,
                    expected: count(own),
                    got: len,
                };
                expect_error(&p, &want);
            }
        }
    });
}

/// Input and target must hold exactly the shape's element count.
#[test]
fn input_and_target_of_the_wrong_length_are_refused() {
    on_big_stack(|| {
        let shape = [3usize, 4];
        let good = vec![0.5f64; 12];
        for len in [0usize, 11, 13, 24] {
            let bad = vec![0.5f64; len];
            let p = Problem::new(&shape, &bad, &good);
            expect_error(
                &p,
                &KernelError::Length {
                    what: "input",
                    expected: 12,
                    got: len,
                },
            );
            let p = Problem::new(&shape, &good, &bad);
            expect_error(
                &p,
                &KernelError::Length {
                    what: "target",
                    expected: 12,
                    got: len,
                },
            );
        }
        // An empty shape with data.
        let p = Problem::new(&[0, 3], &good, &good);
        expect_error(
            &p,
            &KernelError::Length {
                what: "input",
                expected: 0,
                got: 12,
            },
        );
    });
}

/// Loss and gradient outputs must hold exactly the input's element count; a refused call writes
/// nothing.
#[test]
fn outputs_of_the_wrong_length_are_refused() {
    on_big_stack(|| {
        fn check<T: Element + std::fmt::Debug>() {
            for shape in [&[3usize, 4][..], &[0, 3][..], &[7][..]] {
                let n = count(shape);
                let x = vec![T::from_f64(0.5); n];
                let y = vec![T::from_f64(0.25); n];
                let p = Problem::new(shape, &x, &y);
                for len in [n + 1, n.saturating_sub(1), n + 7] {
                    if len == n {
                        continue;
                    }
                    let fill = sentinel::<T>();
                    let mut loss = vec![fill; len];
                    let r = eval::<T, WithLogits>(
                        &p,
                        Request {
                            loss: LossOut::Each(ViewMut::new(&mut loss, p.shape())),
                            grad: None,
                            hess: None,
                        },
                    );
                    assert!(
                        matches!(r, Err(KernelError::Length { expected, got, .. }) if expected == n && got == len),
                        "loss output of {len} for shape {shape:?}: {r:?}"
                    );
                    assert!(loss.iter().all(|&v| same_bits(v, fill)), "written");
                    for wrt in [Wrt::Input, Wrt::Target] {
                        let mut g = vec![fill; len];
                        let r = eval::<T, OnProbabilities>(
                            &p,
                            Request {
                                loss: LossOut::Sum,
                                grad: Some((ViewMut::new(&mut g, p.shape()), wrt)),
                                hess: None,
                            },
                        );
                        assert!(
                            matches!(r, Err(KernelError::Length { expected, got, .. }) if expected == n && got == len),
                            "gradient output of {len} for shape {shape:?}: {r:?}"
                        );
                        assert!(g.iter().all(|&v| same_bits(v, fill)), "written");
                    }
                    // A right-sized loss with a wrong-sized gradient is refused as a whole.
                    let mut loss = vec![fill; n];
                    let mut g = vec![fill; len];
                    let r = eval::<T, WithLogits>(
                        &p,
                        Request {
                            loss: LossOut::Each(ViewMut::new(&mut loss, p.shape())),
                            grad: Some((ViewMut::new(&mut g, p.shape()), Wrt::Input)),
                            hess: None,
                        },
                    );
                    assert!(matches!(r, Err(KernelError::Length { .. })), "{r:?}");
                    assert!(loss.iter().all(|&v| same_bits(v, fill)), "loss written");
                }
            }
        }
        check::<f64>();
        check::<f32>();
    });
}

/// A shape whose element count overflows is refused, not a panic.
#[test]
fn element_count_overflow_is_refused() {
    on_big_stack(|| {
        let shape = [usize::MAX, 2];
        let p = Problem::<f64>::new(&shape, &[], &[]);
        assert!(matches!(
            loss_sum::<f64, WithLogits>(&p),
            Err(KernelError::TooLarge { .. })
        ));
    });
}

/// The slots the four broadcast operands take in a plan.
const OPERAND_SLOTS: [Slot; 4] = [Slot::Weight, Slot::PosWeight, Slot::GradOutput, Slot::Mask];

/// A plan of the four broadcast operands (weight, pos_weight, grad_output, mask) over `shape`.
fn operand_plan<T>(shape: &[usize], ops: [&Operand<'_, T>; 4]) -> Result<Plan, KernelError> {
    let names = ["weight", "pos_weight", "grad_output", "mask"];
    let mut arrays: [Option<Geometry<'_>>; SLOTS] = Default::default();
    for ((slot, op), name) in OPERAND_SLOTS.iter().zip(ops).zip(names) {
        arrays[*slot as usize] = Geometry::of(name, op);
    }
    Plan::new(shape, &arrays)
}

/// `Plan` walks any index range as runs that cover it in order, and along each run every operand
/// is at the element an independent broadcast puts there.
#[test]
fn plan_runs_cover_ranges_with_the_right_offsets() {
    on_big_stack(|| {
        for shape in SHAPES {
            let n = count(shape);
            let pats = patterns(shape);
            for i in 0..pats.len() {
                let owns: Vec<Option<Vec<usize>>> = (0..4)
                    .map(|k| pats[(i + 2 * k) % pats.len()].1.clone())
                    .collect();
                let datas: Vec<Vec<f64>> = owns
                    .iter()
                    .map(|o| vec![0.0; o.as_ref().map_or(1, |s| count(s))])
                    .collect();
                let ops: Vec<Operand<'_, f64>> = owns
                    .iter()
                    .zip(&datas)
                    .map(|(o, d)| match o {
                        None => Operand::Const(1.0),
                        Some(s) => Operand::array(d, s),
                    })
                    .collect();
                let plan = operand_plan(shape, [&ops[0], &ops[1], &ops[2], &ops[3]])
                    .expect("a valid broadcast");
                assert_eq!(plan.len(), n);
                assert_eq!(plan.is_empty(), n == 0);
                let inner = plan.inner_steps();
                assert!(
                    inner.iter().all(|&s| s == 0 || s == 1),
                    "inner steps {inner:?}"
                );
                let mut ranges = vec![(0, n), (0, 0), (n / 2, n), (n / 3, (n / 3 + 1).min(n))];
                for step in [1, 7, 13] {
                    ranges.extend((0..n).step_by(step).map(|s| (s, (s + step).min(n))));
                }
                for (start, end) in ranges {
                    let mut next = start;
                    plan.for_each_run(start, end, |position, len, offsets| {
                        assert_eq!(position, next, "runs out of order over {shape:?}");
                        assert!(len >= 1 && position + len <= end);
                        for j in 0..len {
                            for k in 0..4 {
                                let Some(own) = &owns[k] else { continue };
                                let slot = OPERAND_SLOTS[k] as usize;
                                let got = offsets[slot] + j * inner[slot] as usize;
                                let want = broadcast_index(shape, own, position + j);
                                assert_eq!(
                                    got,
                                    want,
                                    "shape {shape:?}, operand {k} of shape {own:?}, element {}",
                                    position + j
                                );
                            }
                        }
                        next = position + len;
                    });
                    assert_eq!(
                        next,
                        end.max(start),
                        "runs over {start}..{end} of {shape:?}"
                    );
                }
            }
        }
    });
}

/// Index arithmetic is 64-bit: a plan over more than 2^32 elements (no input buffers are needed to
/// walk it) gives the right row offsets and run lengths past 2^32.
#[test]
fn plan_positions_past_two_to_the_32() {
    let cols = (1usize << 31) + 5;
    let shape = [3usize, cols];
    let column = [10.0f32, 20.0, 30.0];
    let weight = Operand::array(&column, &[3, 1]);
    let one = Operand::Const(1.0f32);
    let plan =
        operand_plan(&shape, [&weight, &one, &one, &one]).expect("a column weight broadcasts");
    let w = Slot::Weight as usize;
    assert_eq!(plan.len(), 3 * cols);
    assert_eq!(
        plan.inner_steps()[w],
        0,
        "the column weight is constant along a row"
    );
    // 2^32 + 11 lies in row 2 (which starts at 2 * cols = 2^32 + 10), column 1.
    let start = (1usize << 32) + 11;
    let mut runs = Vec::new();
    plan.for_each_run(start, start + 100, |position, len, offsets| {
        runs.push((position, len, offsets[w]))
    });
    assert_eq!(runs, vec![(start, 100, 2)]);
    // A range that crosses from row 1 into row 2.
    let cross = 2 * cols - 3;
    let mut runs = Vec::new();
    plan.for_each_run(cross, cross + 7, |position, len, offsets| {
        runs.push((position, len, offsets[w]))
    });
    assert_eq!(runs, vec![(cross, 3, 1), (2 * cols, 4, 2)]);
}
