//! What a call computes, as types. Each kernel is compiled for one [`Mode`], so the work another
//! mode would do is not in it; [`visit`] turns a request's run-time choice into the type, with one
//! arm per combination the kernels compute.

use crate::error::KernelError;

/// What becomes of the per-element losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    Skip,
    Each,
    Sum,
}

/// Which derivatives are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradKind {
    None,
    Input,
    Target,
    /// The input gradient and the second derivative with respect to the input.
    InputAndHessian,
}

/// One combination of outputs.
pub trait Mode: Copy + Send + Sync + 'static {
    const LOSS: LossKind;
    const GRAD: GradKind;
    const EACH_LOSS: bool = matches!(Self::LOSS, LossKind::Each);
    const SUM_LOSS: bool = matches!(Self::LOSS, LossKind::Sum);
    const ANY_LOSS: bool = !matches!(Self::LOSS, LossKind::Skip);
    const INPUT_GRAD: bool = matches!(Self::GRAD, GradKind::Input | GradKind::InputAndHessian);
    const TARGET_GRAD: bool = matches!(Self::GRAD, GradKind::Target);
    const HESSIAN: bool = matches!(Self::GRAD, GradKind::InputAndHessian);
    const ANY_GRAD: bool = !matches!(Self::GRAD, GradKind::None);
}

macro_rules! modes {
    ($($(#[$doc:meta])* $name:ident = ($loss:ident, $grad:ident);)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl Mode for $name {
            const LOSS: LossKind = LossKind::$loss;
            const GRAD: GradKind = GradKind::$grad;
        }
    )*};
}

modes! {
    /// Per-element losses (reduction "none").
    EachLoss = (Each, None);
    /// The sum of the losses (mean, sum).
    SumLoss = (Sum, None);
    InputGrad = (Skip, Input);
    EachLossInputGrad = (Each, Input);
    SumLossInputGrad = (Sum, Input);
    TargetGrad = (Skip, Target);
    EachLossTargetGrad = (Each, Target);
    SumLossTargetGrad = (Sum, Target);
    /// What gradient boosting asks for.
    InputGradHessian = (Skip, InputAndHessian);
}

/// Something to run for one mode, chosen at run time.
pub trait Visitor {
    type Output;
    fn visit<M: Mode>(self) -> Self::Output;
}

/// Calls `visitor` with the mode that computes `loss` and `grad`.
pub fn visit<V: Visitor>(
    loss: LossKind,
    grad: GradKind,
    visitor: V,
) -> Result<V::Output, KernelError> {
    use GradKind as G;
    use LossKind as L;
    Ok(match (loss, grad) {
        (L::Each, G::None) => visitor.visit::<EachLoss>(),
        (L::Sum, G::None) => visitor.visit::<SumLoss>(),
        (L::Skip, G::Input) => visitor.visit::<InputGrad>(),
        (L::Each, G::Input) => visitor.visit::<EachLossInputGrad>(),
        (L::Sum, G::Input) => visitor.visit::<SumLossInputGrad>(),
        (L::Skip, G::Target) => visitor.visit::<TargetGrad>(),
        (L::Each, G::Target) => visitor.visit::<EachLossTargetGrad>(),
        (L::Sum, G::Target) => visitor.visit::<SumLossTargetGrad>(),
        (L::Skip, G::InputAndHessian) => visitor.visit::<InputGradHessian>(),
        (L::Skip, G::None) => {
            return Err(KernelError::Unsupported {
                what: "nothing to compute",
            })
        }
        (L::Each | L::Sum, G::InputAndHessian) => {
            return Err(KernelError::Unsupported {
                what: "a hessian is computed beside the input gradient alone",
            })
        }
    })
}
