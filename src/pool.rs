//! fastbce's own rayon thread pool, so that it neither fights nor depends on other rayon users in
//! the same process, sized by `set_num_threads`.
//!
//! Fork safety: a process that forks (multiprocessing, prefork servers) must leave a child that
//! computes. The child has none of the parent's threads, so the pool is dropped there and built
//! anew on its first call; and the state lock is taken around `fork` itself (`pthread_atfork`), so
//! a child never inherits it held by a thread that does not exist there. The lock is only ever
//! held for a few instructions: pools are built outside it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::KernelError;

/// At most this many threads per CPU: enough for any use, few enough that a mistaken count cannot
/// exhaust the machine's processes.
pub const MAX_THREADS_PER_CPU: usize = 4;

struct PoolState {
    /// Requested thread count; 0 until set, meaning "as many as the machine has".
    threads: usize,
    pool: Option<Arc<ThreadPool>>,
}

static STATE: Mutex<PoolState> = Mutex::new(PoolState {
    threads: 0,
    pool: None,
});

fn state() -> MutexGuard<'static, PoolState> {
    install_fork_handlers();
    // The state is valid whatever a panicking holder was doing: it only swaps whole values.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The CPUs this process may use, read once: `available_parallelism` reads the affinity mask and
/// the cgroup's CPU quota (about 20 system calls on Linux), which every call above one chunk with
/// the default thread count paid before (a tenth of a call of 10^5 elements here). Like NumPy's
/// BLAS and rayon's own default, a later change of affinity or quota is not followed;
/// `set_num_threads` is the way to change the count. An atomic rather than a `OnceLock`: nothing
/// to wait on, so a child forked while another thread reads the count cannot block on it (two
/// threads that read it first both store the same value).
fn machine_threads() -> usize {
    static THREADS: AtomicUsize = AtomicUsize::new(0);
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// The largest count `set_num_threads` takes.
pub fn max_threads() -> usize {
    MAX_THREADS_PER_CPU * machine_threads()
}

/// Sets the number of threads used by later calls (calls already running keep theirs): between 1
/// and [`max_threads`].
pub fn set_num_threads(threads: u64) -> Result<(), KernelError> {
    let max = max_threads();
    let count = usize::try_from(threads)
        .ok()
        .filter(|&n| (1..=max).contains(&n));
    let Some(count) = count else {
        return Err(KernelError::ThreadCount {
            requested: threads,
            max,
        });
    };
    let mut st = state();
    if st.threads != count {
        st.threads = count;
        st.pool = None;
    }
    Ok(())
}

pub fn get_num_threads() -> usize {
    state().effective_threads()
}

impl PoolState {
    fn effective_threads(&self) -> usize {
        match self.threads {
            0 => machine_threads(),
            n => n,
        }
    }
}

/// The pool to run on, or `None` when one thread is all there is to use.
fn current_pool() -> Result<Option<Arc<ThreadPool>>, KernelError> {
    let threads = {
        let st = state();
        let threads = st.effective_threads();
        if threads <= 1 {
            return Ok(None);
        }
        if let Some(pool) = &st.pool {
            return Ok(Some(Arc::clone(pool)));
        }
        threads
    };
    // Built without the lock held; if another thread built one meanwhile, the first kept wins.
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fastbce-{i}"))
        .build()
        .map_err(|e| KernelError::ThreadPool {
            reason: e.to_string(),
        })?;
    let mut st = state();
    if st.effective_threads() != threads {
        // The count changed while this pool was built: use it for this call only.
        return Ok(Some(Arc::new(pool)));
    }
    Ok(Some(Arc::clone(
        st.pool.get_or_insert_with(|| Arc::new(pool)),
    )))
}

/// `f(0) ⊕ f(1) ⊕ … ⊕ f(count - 1)`, folded from `zero` with `join` in index order, the calls in
/// parallel on the pool when there are several and several threads, else on the calling thread
/// (without allocating).
pub fn fold_ordered<R: Send>(
    count: usize,
    zero: R,
    f: impl Fn(usize) -> R + Send + Sync,
    join: impl Fn(R, R) -> R,
) -> Result<R, KernelError> {
    use rayon::prelude::*;
    if count > 1 {
        if let Some(pool) = current_pool()? {
            let parts: Vec<R> = pool.install(|| (0..count).into_par_iter().map(f).collect());
            return Ok(parts.into_iter().fold(zero, join));
        }
    }
    Ok((0..count).map(f).fold(zero, join))
}

/// Registers the fork handlers (once per process; later calls do nothing). The binding calls it at
/// import, before any thread can be inside the crate; the first use of the pool calls it too.
pub fn install_fork_handlers() {
    fork::install();
}

#[cfg(unix)]
mod fork {
    use super::*;
    use std::cell::RefCell;
    use std::sync::Once;

    thread_local! {
        /// The state lock, held by the forking thread from just before `fork` to just after.
        static HELD: RefCell<Option<MutexGuard<'static, PoolState>>> = const { RefCell::new(None) };
    }

    extern "C" fn prepare() {
        let guard = STATE.lock().unwrap_or_else(PoisonError::into_inner);
        HELD.with(|held| *held.borrow_mut() = Some(guard));
    }

    extern "C" fn parent() {
        HELD.with(|held| drop(held.borrow_mut().take()));
    }

    extern "C" fn child() {
        HELD.with(|held| {
            if let Some(mut guard) = held.borrow_mut().take() {
                // The parent's workers do not exist here: dropping the pool (which signals them)
                // is pointless at best, so it is forgotten, and the next call builds a new one.
                std::mem::forget(guard.pool.take());
            }
        });
    }

    static INSTALL: Once = Once::new();

    /// Registers the fork handlers, once per process.
    pub(super) fn install() {
        INSTALL.call_once(|| {
            // SAFETY: the handlers only lock, unlock and reset the pool state; they call nothing
            // that is unsafe between fork and exec beyond what a mutex needs.
            let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
            // Without handlers a child forked while another thread holds the lock could wait on
            // it; there is no better fallback than to go on.
            let _ = rc;
        });
    }
}

#[cfg(not(unix))]
mod fork {
    /// No `fork` here.
    pub(super) fn install() {}
}
