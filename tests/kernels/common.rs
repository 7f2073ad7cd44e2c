//! Shared helpers for the kernel tests: a deterministic PRNG, independent float64 references for
//! both losses, an independent implementation of broadcasting, ulp distances and thin wrappers
//! around `evaluate`.
//!
//! Nothing here calls into the crate's formulas: the references are written from the definitions
//! (`loss = -w [pw y log sigmoid(x) + (1 - y) log sigmoid(-x)]`, `loss = -w [y log p + (1 - y)
//! log(1 - p)]`), so that a test compares two independent computations.

#![allow(dead_code)]

use fastbce::{
    evaluate, Element, Formula, KernelError, LossOut, Operand, Problem, Request, ViewMut, Wrt,
};

pub const EPS: f64 = f64::EPSILON;
/// PyTorch's clamp of the probability-gradient denominator: 1e-12 rounded to float32.
pub const PROB_EPS: f64 = 1e-12_f32 as f64;

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

/// splitmix64: tiny, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A label in [0, 1]: hard 0/1 a third of the time, else soft (some very near 0 or 1).
    pub fn label(&mut self) -> f64 {
        match self.below(8) {
            0 | 1 => 0.0,
            2 | 3 => 1.0,
            4 => self.uniform(0.0, 1e-6),
            5 => 1.0 - self.uniform(0.0, 1e-6),
            _ => self.unit(),
        }
    }

    /// A probability in [0, 1]: mostly interior, sometimes at or very near an end.
    pub fn probability(&mut self) -> f64 {
        match self.below(16) {
            0 => 0.0,
            1 => 1.0,
            2 => self.uniform(0.0, 1e-9),
            3 => 1.0 - self.uniform(0.0, 1e-9),
            _ => self.unit(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// References (float64, written from the definitions)
// ---------------------------------------------------------------------------------------------

/// `-log(sigmoid(x))`, i.e. `softplus(-x)`, without cancellation.
pub fn neg_log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        (-x).exp().ln_1p()
    } else {
        -x + x.exp().ln_1p()
    }
}

pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// With-logits loss from its definition, `w [pw y softplus(-x) + (1 - y) softplus(x)]`: two
/// non-negative terms, accurate to a few ulp for finite `x`.
pub fn logits_loss(x: f64, y: f64, w: f64, pw: f64) -> f64 {
    w * (pw * y * neg_log_sigmoid(x) + (1.0 - y) * neg_log_sigmoid(-x))
}

/// The textbook / PyTorch form `(1 - y) x + lw (log1p(exp(-|x|)) + max(-x, 0))`; loses digits to
/// cancellation, so it is only compared with a tolerance proportional to `|x|`.
pub fn logits_loss_textbook(x: f64, y: f64, w: f64, pw: f64) -> f64 {
    let lw = 1.0 + (pw - 1.0) * y;
    w * ((1.0 - y) * x + lw * ((-x.abs()).exp().ln_1p() + (-x).max(0.0)))
}

/// d loss / d x as two terms `(positive, negative)` with the gradient being `w (pos - neg)`:
/// `(1 - y) sigmoid(x)` and `pw y sigmoid(-x)`.
pub fn logits_dinput_terms(x: f64, y: f64, pw: f64) -> (f64, f64) {
    ((1.0 - y) * sigmoid(x), pw * y * sigmoid(-x))
}

pub fn logits_dinput(x: f64, y: f64, w: f64, pw: f64) -> f64 {
    let (a, b) = logits_dinput_terms(x, y, pw);
    w * (a - b)
}

/// d loss / d y: the loss is linear in `y`, so this is `w [pw softplus(-x) - softplus(x)]`;
/// returns the two terms `(pw softplus(-x), softplus(x))`.
pub fn logits_dtarget_terms(x: f64, pw: f64) -> (f64, f64) {
    (pw * neg_log_sigmoid(x), neg_log_sigmoid(-x))
}

pub fn logits_dtarget(x: f64, w: f64, pw: f64) -> f64 {
    let (a, b) = logits_dtarget_terms(x, pw);
    w * (a - b)
}

/// `ln(1 - p)`, exact subtraction where Sterbenz allows it.
pub fn ln_one_minus(p: f64) -> f64 {
    if p >= 0.5 {
        (1.0 - p).ln()
    } else {
        (-p).ln_1p()
    }
}

/// Binary cross-entropy on probabilities with PyTorch's clamp of each log at -100.
pub fn prob_loss(p: f64, y: f64, w: f64) -> f64 {
    let lp = p.ln().max(-100.0);
    let lq = ln_one_minus(p).max(-100.0);
    let a = if y == 0.0 { 0.0 } else { -y * lp };
    let b = if y == 1.0 { 0.0 } else { -(1.0 - y) * lq };
    w * (a + b)
}

/// The unclamped loss, for finite differences in the interior.
pub fn prob_loss_unclamped(p: f64, y: f64, w: f64) -> f64 {
    -w * (y * p.ln() + (1.0 - y) * ln_one_minus(p))
}

/// PyTorch's input gradient: `w (p - y) / max(p (1 - p), eps)`.
pub fn prob_dinput(p: f64, y: f64, w: f64) -> f64 {
    w * (p - y) / (p * (1.0 - p)).max(PROB_EPS)
}

/// `w (ln(1 - p) - ln p)`, no clamp.
pub fn prob_dtarget(p: f64, w: f64) -> f64 {
    w * (ln_one_minus(p) - p.ln())
}

/// Central difference of `f` at `at` with step `h`.
pub fn central(f: impl Fn(f64) -> f64, at: f64, h: f64) -> f64 {
    (f(at + h) - f(at - h)) / (2.0 * h)
}

/// A sum with Kahan–Babuška (Neumaier) compensation: a sum accurate to about one ulp.
pub fn accurate_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for v in values {
        let t = s + v;
        if s.abs() >= v.abs() {
            c += (s - t) + v;
        } else {
            c += (v - t) + s;
        }
        s = t;
    }
    s + c
}

// ---------------------------------------------------------------------------------------------
// Comparisons
// ---------------------------------------------------------------------------------------------

fn key32(v: f32) -> i64 {
    let b = i64::from(v.to_bits() & 0x7fff_ffff);
    if v.is_sign_negative() {
        -b
    } else {
        b
    }
}

fn key64(v: f64) -> i128 {
    let b = i128::from(v.to_bits() & 0x7fff_ffff_ffff_ffff);
    if v.is_sign_negative() {
        -b
    } else {
        b
    }
}

/// Distance in units in the last place (+0 and -0 coincide; NaN is only equal to NaN).
pub fn ulps32(a: f32, b: f32) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => (key32(a) - key32(b)).unsigned_abs(),
        _ => u64::MAX,
    }
}

pub fn ulps64(a: f64, b: f64) -> u128 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => (key64(a) - key64(b)).unsigned_abs(),
        _ => u128::MAX,
    }
}

/// `|got - want| <= rel |want| + abs`; equal infinities and NaN/NaN count as close.
pub fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    if got.is_infinite() || want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= rel * want.abs() + abs
}

/// Bitwise equality that treats every NaN alike.
pub fn same_bits<T: Element>(a: T, b: T) -> bool {
    let (a, b) = (a.to_f64(), b.to_f64());
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

pub fn assert_same_slices<T: Element + std::fmt::Debug>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            same_bits(g, w),
            "{what}: element {i} differs: got {g:?}, want {w:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Broadcasting, implemented independently by materialising
// ---------------------------------------------------------------------------------------------

/// The element of an operand of shape `own` (aligned from the right) that broadcasts to the flat
/// index `flat` of `shape`.
pub fn broadcast_index(shape: &[usize], own: &[usize], flat: usize) -> usize {
    let offset = shape.len() - own.len();
    let (mut rest, mut linear, mut stride) = (flat, 0, 1);
    for d in (0..shape.len()).rev() {
        let i = rest % shape[d];
        rest /= shape[d];
        if d >= offset {
            let extent = own[d - offset];
            if extent != 1 {
                linear += i * stride;
            }
            stride *= extent;
        }
    }
    linear
}

pub fn count(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// An operand as a test describes it, in float64 (values chosen representable where needed).
#[derive(Clone, Debug)]
pub enum Spec {
    Const(f64),
    Array(Vec<f64>, Vec<usize>),
}

impl Spec {
    /// `len` values of `gen` laid out in `own`.
    pub fn array(own: &[usize], mut gen: impl FnMut() -> f64) -> Spec {
        Spec::Array((0..count(own)).map(|_| gen()).collect(), own.to_vec())
    }

    /// The operand broadcast to `shape`, written out element by element.
    pub fn materialise(&self, shape: &[usize]) -> Vec<f64> {
        let n = count(shape);
        match self {
            Spec::Const(v) => vec![*v; n],
            Spec::Array(data, own) => (0..n)
                .map(|i| data[broadcast_index(shape, own, i)])
                .collect(),
        }
    }

    /// The same operand as a full-shape array.
    pub fn full(&self, shape: &[usize]) -> Spec {
        Spec::Array(self.materialise(shape), shape.to_vec())
    }

    fn round_f32(&self) -> Spec {
        match self {
            Spec::Const(v) => Spec::Const(*v as f32 as f64),
            Spec::Array(d, s) => {
                Spec::Array(d.iter().map(|&v| v as f32 as f64).collect(), s.clone())
            }
        }
    }

    fn typed<T: Element>(&self) -> TSpec<T> {
        match self {
            Spec::Const(v) => TSpec::Const(T::from_f64(*v)),
            Spec::Array(d, s) => {
                TSpec::Array(d.iter().map(|&v| T::from_f64(v)).collect(), s.clone())
            }
        }
    }
}

pub enum TSpec<T> {
    Const(T),
    Array(Vec<T>, Vec<usize>),
}

impl<T: Element> TSpec<T> {
    pub fn operand(&self) -> Operand<'_, T> {
        match self {
            TSpec::Const(v) => Operand::Const(*v),
            TSpec::Array(data, shape) => Operand::array(data, shape),
        }
    }
}

/// One problem, stored in float64.
#[derive(Clone, Debug)]
pub struct Case {
    pub shape: Vec<usize>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub w: Spec,
    pub pw: Spec,
    pub go: Spec,
    pub scale: f64,
}

impl Case {
    pub fn new(shape: &[usize], x: Vec<f64>, y: Vec<f64>) -> Case {
        Case {
            shape: shape.to_vec(),
            x,
            y,
            w: Spec::Const(1.0),
            pw: Spec::Const(1.0),
            go: Spec::Const(1.0),
            scale: 1.0,
        }
    }

    /// Elementwise cases: one element per `(x, y, w, pw)` tuple.
    pub fn elementwise(rows: &[(f64, f64, f64, f64)]) -> Case {
        let n = rows.len();
        let mut case = Case::new(
            &[n],
            rows.iter().map(|r| r.0).collect(),
            rows.iter().map(|r| r.1).collect(),
        );
        case.w = Spec::Array(rows.iter().map(|r| r.2).collect(), vec![n]);
        case.pw = Spec::Array(rows.iter().map(|r| r.3).collect(), vec![n]);
        case
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Every value rounded to float32, so that float32 and float64 runs see the same numbers.
    pub fn round_f32(&self) -> Case {
        Case {
            shape: self.shape.clone(),
            x: self.x.iter().map(|&v| v as f32 as f64).collect(),
            y: self.y.iter().map(|&v| v as f32 as f64).collect(),
            w: self.w.round_f32(),
            pw: self.pw.round_f32(),
            go: self.go.round_f32(),
            scale: self.scale,
        }
    }

    pub fn typed<T: Element>(&self) -> Typed<T> {
        Typed {
            shape: self.shape.clone(),
            x: self.x.iter().map(|&v| T::from_f64(v)).collect(),
            y: self.y.iter().map(|&v| T::from_f64(v)).collect(),
            w: self.w.typed(),
            pw: self.pw.typed(),
            go: self.go.typed(),
            scale: self.scale,
        }
    }

    /// The operands written out per element: `(w, pw, go)`.
    pub fn materialised(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        (
            self.w.materialise(&self.shape),
            self.pw.materialise(&self.shape),
            self.go.materialise(&self.shape),
        )
    }
}

/// A case converted to a storage type, owning what the `Problem` borrows.
pub struct Typed<T> {
    pub shape: Vec<usize>,
    pub x: Vec<T>,
    pub y: Vec<T>,
    pub w: TSpec<T>,
    pub pw: TSpec<T>,
    pub go: TSpec<T>,
    pub scale: f64,
}

impl<T: Element> Typed<T> {
    pub fn problem(&self) -> Problem<'_, T> {
        let mut p = Problem::new(&self.shape, &self.x, &self.y);
        p.weight = self.w.operand();
        p.pos_weight = self.pw.operand();
        p.grad_output = self.go.operand();
        p.grad_scale = self.scale;
        p
    }
}

// ---------------------------------------------------------------------------------------------
// Running the kernels
// ---------------------------------------------------------------------------------------------

/// Everything the kernels compute for one problem, from separate and from combined requests.
#[derive(Debug)]
pub struct All<T> {
    /// `LossOut::Each` alone.
    pub loss: Vec<T>,
    /// `LossOut::Sum` alone.
    pub sum: f64,
    /// Gradients alone.
    pub grad_input: Vec<T>,
    pub grad_target: Vec<T>,
    /// `LossOut::Each` together with the input gradient.
    pub loss_with_grad: Vec<T>,
    pub grad_input_with_loss: Vec<T>,
    /// `LossOut::Sum` together with the target gradient.
    pub sum_with_grad: f64,
    pub grad_target_with_sum: Vec<T>,
}

/// A value no kernel produces from the test data, to spot elements left unwritten.
pub fn sentinel<T: Element>() -> T {
    T::from_f64(-12345.5)
}

thread_local! {
    static ON_BIG_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on a thread with a large stack (unless already on one) and returns its result; panics
/// propagate. Every test body runs inside this.
///
/// In debug builds the kernel entry points have stack frames of several MiB (everything is
/// `#[inline(always)]` into one function per instruction set), more than the 2 MiB that libtest
/// gives each test thread; `tests/stack.rs` reports that separately, and the numeric tests run
/// here so that it does not mask their results. Calls over several chunks with several threads
/// run on the crate's own pool, which this does not cover (see `tests/reduction.rs`).
pub fn on_big_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if ON_BIG_STACK.with(|b| b.get()) {
        return f();
    }
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || {
                ON_BIG_STACK.with(|b| b.set(true));
                f()
            })
            .expect("spawn a test thread");
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs the `#[ignore]`d test `name` of the current test binary in a child process, with
/// `RUST_MIN_STACK` set to `min_stack` bytes when given (it sizes every thread the child starts,
/// the crate's worker threads included) or removed when not, and returns whether it passed and
/// what it printed. A child that aborts (a stack overflow does) fails here instead of taking the
/// whole test binary down with it.
pub fn run_child(name: &str, min_stack: Option<usize>) -> (bool, String) {
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    match min_stack {
        Some(bytes) => cmd.env("RUST_MIN_STACK", bytes.to_string()),
        None => cmd.env_remove("RUST_MIN_STACK"),
    };
    let out = cmd.output().expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let passed = out.status.success() && text.contains("test result: ok. 1 passed");
    (
        passed,
        format!("child `{name}` exited with {}:\n{text}", out.status),
    )
}

/// Runs the ignored test `name` in a child with large thread stacks and fails if it does.
pub fn child_must_pass(name: &str) {
    let (passed, report) = run_child(name, Some(64 << 20));
    assert!(passed, "{report}");
}

/// `evaluate`, on a large stack.
pub fn eval<T: Element, F: Formula>(
    p: &Problem<'_, T>,
    request: Request<'_, T>,
) -> Result<f64, KernelError> {
    on_big_stack(|| evaluate::<T, F>(p, request))
}

pub fn loss_each<T: Element, F: Formula>(p: &Problem<'_, T>) -> Result<Vec<T>, KernelError> {
    let mut out = vec![sentinel::<T>(); p.len()];
    let r = eval::<T, F>(
        p,
        Request {
            loss: LossOut::Each(ViewMut::new(&mut out, p.shape())),
            grad: None,
            hess: None,
        },
    )?;
    assert_eq!(r, 0.0, "LossOut::Each returned {r}");
    Ok(out)
}

pub fn loss_sum<T: Element, F: Formula>(p: &Problem<'_, T>) -> Result<f64, KernelError> {
    eval::<T, F>(
        p,
        Request {
            loss: LossOut::Sum,
            grad: None,
            hess: None,
        },
    )
}

pub fn grad<T: Element, F: Formula>(p: &Problem<'_, T>, wrt: Wrt) -> Result<Vec<T>, KernelError> {
    let mut out = vec![sentinel::<T>(); p.len()];
    eval::<T, F>(
        p,
        Request {
            loss: LossOut::Skip,
            grad: Some((ViewMut::new(&mut out, p.shape()), wrt)),
            hess: None,
        },
    )?;
    Ok(out)
}

pub fn eval_all<T: Element, F: Formula>(p: &Problem<'_, T>) -> All<T> {
    let n = p.len();
    let loss = loss_each::<T, F>(p).expect("loss");
    let sum = loss_sum::<T, F>(p).expect("sum");
    let grad_input = grad::<T, F>(p, Wrt::Input).expect("grad input");
    let grad_target = grad::<T, F>(p, Wrt::Target).expect("grad target");

    let mut loss_with_grad = vec![sentinel::<T>(); n];
    let mut grad_input_with_loss = vec![sentinel::<T>(); n];
    eval::<T, F>(
        p,
        Request {
            loss: LossOut::Each(ViewMut::new(&mut loss_with_grad, p.shape())),
            grad: Some((
                ViewMut::new(&mut grad_input_with_loss, p.shape()),
                Wrt::Input,
            )),
            hess: None,
        },
    )
    .expect("loss and grad input");
    let mut grad_target_with_sum = vec![sentinel::<T>(); n];
    let sum_with_grad = eval::<T, F>(
        p,
        Request {
            loss: LossOut::Sum,
            grad: Some((
                ViewMut::new(&mut grad_target_with_sum, p.shape()),
                Wrt::Target,
            )),
            hess: None,
        },
    )
    .expect("sum and grad target");
    All {
        loss,
        sum,
        grad_input,
        grad_target,
        loss_with_grad,
        grad_input_with_loss,
        sum_with_grad,
        grad_target_with_sum,
    }
}

/// Checks what both storage types must satisfy among themselves: one answer per element, so no
/// result depends on what else the call asks for (gradients on whether a loss is requested
/// alongside, losses and sums on whether a gradient is).
pub fn check_consistency<T: Element + std::fmt::Debug>(all: &All<T>) {
    assert_same_slices(
        "grad input with loss",
        &all.grad_input_with_loss,
        &all.grad_input,
    );
    assert_same_slices(
        "grad target with sum",
        &all.grad_target_with_sum,
        &all.grad_target,
    );
    assert_same_slices("loss with grad", &all.loss_with_grad, &all.loss);
    assert!(
        same_bits(all.sum_with_grad, all.sum),
        "sum with grad {} != sum alone {}",
        all.sum_with_grad,
        all.sum
    );
}

/// A float32 result must be the float64 result (on the same, float32-representable, data)
/// rounded to float32, within one ulp. Returns a description of the violations, if any.
/// docs/DESIGN.md, "Accuracy": a float32 loss is within 4 ulp of the exact value.
pub const F32_LOSS_ULPS: u64 = 4;
/// Float32 gradients are computed in float64 and rounded once, except where
/// `Formula::NARROW_INPUT_GRADIENT` says otherwise.
pub const F32_ROUNDED_ULPS: u64 = 1;
/// Input gradients computed in float32 (compensated, `Formula::NARROW_INPUT_GRADIENT`) are within
/// the design's 4 ulp of their larger term (and, where nothing cancels, of the result itself).
pub const F32_NARROW_GRAD_ULPS: u64 = 4;

/// The larger of the with-logits input gradient's two terms, `|w go scale| max((1 - y) sigmoid(x),
/// pw y sigmoid(-x))`, per element, in float64: docs/DESIGN.md ("Accuracy") bounds the gradient's error in ulp of it.
pub fn logits_input_grad_larger_term(case: &Case) -> Vec<f64> {
    let (w, pw, go) = case.materialised();
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    (0..case.len())
        .map(|i| {
            let (x, y) = (case.x[i], case.y[i]);
            let terms = ((1.0 - y) * sigmoid(x))
                .abs()
                .max((pw[i] * y * sigmoid(-x)).abs());
            (w[i] * go[i] * case.scale).abs() * terms
        })
        .collect()
}

///
/// With `larger`, an element also passes when it is within `max_ulps` ulp of `larger[i]` (a
/// magnitude the error is measured against where terms cancel), taking an ulp as `2^-24` of it.
pub fn f32_violations(
    what: &str,
    case: &Case,
    got: &[f32],
    want64: &[f64],
    max_ulps: u64,
    larger: Option<&[f64]>,
) -> Option<String> {
    assert_eq!(got.len(), want64.len());
    let mut worst = (0u64, 0usize);
    let mut bad = 0usize;
    for (i, (&g, &w)) in got.iter().zip(want64).enumerate() {
        let mut d = ulps32(g, w as f32);
        if let Some(larger) = larger {
            if (f64::from(g) - w).abs() <= max_ulps as f64 * 2f64.powi(-24) * larger[i] {
                d = 0;
            }
        }
        if d > max_ulps {
            bad += 1;
        }
        if d > worst.0 {
            worst = (d, i);
        }
    }
    let (d, i) = worst;
    (d > max_ulps).then(|| {
        format!(
            "{what}: {bad} of {} elements more than {max_ulps} ulp from the float64 result rounded; worst {d} ulp \
             at element {i}: x = {:e}, y = {:e}, w = {:e}, pw = {:e}; got {:e} ({:#010x}), float64 gives \
             {:e} -> {:e} ({:#010x})",
            got.len(),
            case.x[i],
            case.y[i],
            case.w.materialise(&case.shape)[i],
            case.pw.materialise(&case.shape)[i],
            got[i],
            got[i].to_bits(),
            want64[i],
            want64[i] as f32,
            (want64[i] as f32).to_bits(),
        )
    })
}

/// Runs a case in float32 and in float64 and checks every float32 output against the float64 one
/// (all of them, reporting every violation together). Returns the float64 results.
pub fn check_f32_matches_f64<F: Formula>(case: &Case) -> All<f64> {
    let case = case.round_f32();
    let t64 = case.typed::<f64>();
    let t32 = case.typed::<f32>();
    let a64 = eval_all::<f64, F>(&t64.problem());
    let a32 = eval_all::<f32, F>(&t32.problem());
    check_consistency(&a32);
    // A narrow input gradient is bounded in ulp of its larger term; only the with-logits formula
    // computes one, so that is the term taken.
    let (with_input_grad_ulps, larger) = if F::NARROW_INPUT_GRADIENT {
        (
            F32_NARROW_GRAD_ULPS,
            Some(logits_input_grad_larger_term(&case)),
        )
    } else {
        (F32_ROUNDED_ULPS, None)
    };
    let mut problems: Vec<String> = [
        ("loss (f32)", &a32.loss, &a64.loss, F32_LOSS_ULPS, None),
        (
            "loss with grad (f32)",
            &a32.loss_with_grad,
            &a64.loss,
            F32_LOSS_ULPS,
            None,
        ),
        (
            "grad input (f32)",
            &a32.grad_input,
            &a64.grad_input,
            with_input_grad_ulps,
            larger.as_deref(),
        ),
        (
            "grad target (f32)",
            &a32.grad_target,
            &a64.grad_target,
            F32_ROUNDED_ULPS,
            None,
        ),
    ]
    .into_iter()
    .filter_map(|(what, got, want, ulps, larger)| {
        f32_violations(what, &case, got, want, ulps, larger)
    })
    .collect();
    // Each float32 loss is within its ulp bound (relative 2^-24 per ulp) of the float64 one, and so
    // is their sum of non-negative terms.
    for (what, s32, ulps) in [
        ("sum", a32.sum, F32_LOSS_ULPS),
        ("sum with grad", a32.sum_with_grad, F32_LOSS_ULPS),
    ] {
        if !close(s32, a64.sum, ulps as f64 * 2f64.powi(-23), 1e-300) {
            problems.push(format!("{what} (f32) {s32:e} vs f64 {:e}", a64.sum));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    a64
}

/// Checks float64 results of the with-logits kernel against the references.
pub fn check_logits_f64(case: &Case, all: &All<f64>) {
    let (w, pw, go) = case.materialised();
    let mut ref_losses = Vec::with_capacity(case.len());
    for i in 0..case.len() {
        let (x, y, w, pw, gs) = (case.x[i], case.y[i], w[i], pw[i], go[i] * case.scale);
        let ctx = || format!("x = {x:e}, y = {y:e}, w = {w:e}, pw = {pw:e}, go*scale = {gs:e}");
        assert!(x.is_finite(), "check_logits_f64 takes finite logits");

        // Loss: the definitional form, tightly.
        let want = logits_loss(x, y, w, pw);
        ref_losses.push(want);
        let got = all.loss[i];
        assert!(
            close(got, want, 1e-14, 1e-321),
            "loss: got {got:e}, reference {want:e} ({} ulp); {}",
            ulps64(got, want),
            ctx()
        );
        // The textbook form, with a tolerance for its own cancellation.
        if x.abs() < 30.0 {
            let tb = logits_loss_textbook(x, y, w, pw);
            let tol = 1e-13 * tb.abs() + 64.0 * EPS * w * (x.abs() * (1.0 + pw) + 1.0);
            assert!(
                (got - tb).abs() <= tol,
                "loss: got {got:e}, textbook {tb:e}; {}",
                ctx()
            );
        }

        // Input gradient: the two-term closed form, within a few ulp of the larger term.
        let (a, b) = logits_dinput_terms(x, y, pw);
        let want = gs * w * (a - b);
        let scale = (gs * w).abs() * a.max(b);
        let got = all.grad_input[i];
        assert!(
            (got - want).abs() <= 16.0 * EPS * scale + 1e-321,
            "grad input: got {got:e}, closed form {want:e}; {}",
            ctx()
        );
        // Central differences of the reference loss.
        let h = 1e-5;
        let fd = gs * central(|t| logits_loss(t, y, w, pw), x, h);
        let tol = 1e-6 * fd.abs() + 1e-8 * (gs * w).abs() * (1.0 + pw) * (1.0 + x.abs());
        assert!(
            (got - fd).abs() <= tol,
            "grad input: got {got:e}, finite difference {fd:e}; {}",
            ctx()
        );

        // Target gradient: closed form and central differences (the loss is linear in y).
        let (a, b) = logits_dtarget_terms(x, pw);
        let want = gs * w * (a - b);
        let got = all.grad_target[i];
        assert!(
            (got - want).abs() <= 16.0 * EPS * (gs * w).abs() * a.max(b) + 1e-321,
            "grad target: got {got:e}, closed form {want:e}; {}",
            ctx()
        );
        let h = 1e-3;
        let fd = gs * central(|t| logits_loss(x, t, w, pw), y, h);
        let tol = 1e-6 * fd.abs() + 1e-9 * (gs * w).abs() * (1.0 + pw) * (1.0 + x.abs());
        assert!(
            (got - fd).abs() <= tol,
            "grad target: got {got:e}, finite difference {fd:e}; {}",
            ctx()
        );
    }
    check_sum(all.sum, &ref_losses, "sum");
    check_sum(all.sum_with_grad, &ref_losses, "sum with grad");
}

/// Checks float64 results of the probability kernel against the references.
pub fn check_probabilities_f64(case: &Case, all: &All<f64>) {
    let (w, _, go) = case.materialised();
    let mut ref_losses = Vec::with_capacity(case.len());
    for i in 0..case.len() {
        let (p, y, w, gs) = (case.x[i], case.y[i], w[i], go[i] * case.scale);
        let ctx = || format!("p = {p:e}, y = {y:e}, w = {w:e}, go*scale = {gs:e}");

        let want = prob_loss(p, y, w);
        ref_losses.push(want);
        let got = all.loss[i];
        assert!(
            close(got, want, 1e-14, 1e-321),
            "loss: got {got:e}, reference {want:e} ({} ulp); {}",
            ulps64(got, want),
            ctx()
        );

        let want = gs * prob_dinput(p, y, w);
        let got = all.grad_input[i];
        assert!(
            close(got, want, 1e-14, 1e-321),
            "grad input: got {got:e}, closed form {want:e}; {}",
            ctx()
        );
        // Central differences in the interior, where neither clamp is active.
        let margin = p.min(1.0 - p);
        if margin > 1e-6 {
            let h = 1e-4 * margin;
            let fd = gs * central(|t| prob_loss_unclamped(t, y, w), p, h);
            // Relative to the gradient's two terms, y/p and (1 - y)/(1 - p), which can cancel.
            let terms = (gs * w).abs() * (y / p + (1.0 - y) / (1.0 - p));
            let tol = 1e-6 * (fd.abs() + terms);
            assert!(
                (got - fd).abs() <= tol,
                "grad input: got {got:e}, finite difference {fd:e}; {}",
                ctx()
            );
        }

        let want = gs * prob_dtarget(p, w);
        let got = all.grad_target[i];
        let terms = (gs * w).abs() * (ln_one_minus(p).abs() + p.ln().abs());
        assert!(
            close(got, want, 0.0, 16.0 * EPS * terms + 1e-321),
            "grad target: got {got:e}, closed form {want:e}; {}",
            ctx()
        );
        if margin > 0.0 {
            let h = 1e-3;
            let fd = gs * central(|t| prob_loss_unclamped(p, t, w), y, h);
            let tol = 1e-6 * fd.abs() + 1e-9 * terms.max((gs * w).abs());
            assert!(
                (got - fd).abs() <= tol,
                "grad target: got {got:e}, finite difference {fd:e}; {}",
                ctx()
            );
        }
    }
    check_sum(all.sum, &ref_losses, "sum");
    check_sum(all.sum_with_grad, &ref_losses, "sum with grad");
}

/// A sum of non-negative per-element losses, each within 1e-14 of the reference: the kernel's sum
/// must be within that plus the summation error of the reference.
pub fn check_sum(got: f64, ref_losses: &[f64], what: &str) {
    let want = accurate_sum(ref_losses.iter().copied());
    let tol = 2e-14 * ref_losses.iter().map(|v| v.abs()).sum::<f64>() + 1e-300;
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, reference {want:e} over {} elements",
        ref_losses.len()
    );
}
