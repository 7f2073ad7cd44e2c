//! Which instruction set the kernels run with, chosen once at run time.
//!
//! The wheel is built for baseline x86-64; the hot loops are compiled a second and third time for
//! AVX2+FMA and AVX-512 (see `engine`), and the best level the CPU has is used unless the
//! environment variable `FASTBCE_SIMD` (or `set_level`) caps it lower.

use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set level, from the reference path up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Each element in `f64` with the standard library's functions: the reference path.
    Scalar = 0,
    /// The polynomial kernels for the baseline target (SSE2 on x86-64, NEON on aarch64).
    Baseline = 1,
    /// x86-64 with AVX2 and FMA.
    Avx2 = 2,
    /// x86-64 with AVX-512F (and AVX2, FMA).
    Avx512 = 3,
}

pub const LEVELS: [Level; 4] = [Level::Scalar, Level::Baseline, Level::Avx2, Level::Avx512];

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Baseline => {
                if cfg!(target_arch = "aarch64") {
                    "neon"
                } else {
                    "baseline"
                }
            }
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    pub fn parse(name: &str) -> Option<Level> {
        let name = name.trim().to_ascii_lowercase();
        LEVELS
            .into_iter()
            .find(|l| l.name() == name || (name == "baseline" && *l == Level::Baseline))
    }

    fn from_u8(v: u8) -> Level {
        LEVELS.get(usize::from(v)).copied().unwrap_or(Level::Scalar)
    }
}

/// The best level this CPU supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx2;
        }
    }
    Level::Baseline
}

const UNSET: u8 = u8::MAX;
static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);

/// The level in use: the detected one, capped by `FASTBCE_SIMD` when that names a level.
pub fn active() -> Level {
    match ACTIVE.load(Ordering::Relaxed) {
        UNSET => {
            let cap = std::env::var("FASTBCE_SIMD")
                .ok()
                .and_then(|v| Level::parse(&v))
                .unwrap_or(Level::Avx512);
            set_level(cap)
        }
        v => Level::from_u8(v),
    }
}

/// Uses `cap`, or the best level the CPU has if that is lower; returns the level now in use.
pub fn set_level(cap: Level) -> Level {
    let level = cap.min(detected());
    ACTIVE.store(level as u8, Ordering::Relaxed);
    level
}
