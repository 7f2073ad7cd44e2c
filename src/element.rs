//! The floating-point types the kernels read and write.
//!
//! The portable kernels evaluate every formula in `f64` and round once on the way out: for `f32`
//! storage this keeps the result within half an ulp of the `f64` value, far inside the accuracy the
//! project promises.

pub trait Element: Copy + Send + Sync + PartialOrd + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
}

impl Element for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Element for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }
}
