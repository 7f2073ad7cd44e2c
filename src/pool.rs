//! fastbce's own rayon thread pool, so that it neither fights nor depends on other rayon users in
//! the same process, sized by `set_num_threads`.

use std::sync::{Arc, Mutex, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::KernelError;

struct PoolState {
    /// Requested thread count; 0 until set, meaning "as many as the machine has".
    threads: usize,
    /// The pool and the process that built it: a child forked after the pool started has none of
    /// its worker threads, so it must build its own.
    pool: Option<(Arc<ThreadPool>, u32)>,
}

static STATE: Mutex<PoolState> = Mutex::new(PoolState {
    threads: 0,
    pool: None,
});

fn state() -> std::sync::MutexGuard<'static, PoolState> {
    // The state is valid whatever a panicking holder was doing: it only swaps whole values.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn machine_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Sets the number of threads used by later calls (calls already running keep theirs).
pub fn set_num_threads(threads: usize) -> Result<(), KernelError> {
    if threads == 0 {
        return Err(KernelError::ThreadCount { requested: threads });
    }
    let mut st = state();
    if st.threads != threads {
        st.threads = threads;
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
    let mut st = state();
    let threads = st.effective_threads();
    if threads <= 1 {
        return Ok(None);
    }
    let pid = std::process::id();
    if let Some((pool, owner)) = &st.pool {
        if *owner == pid {
            return Ok(Some(Arc::clone(pool)));
        }
        // Forked child: the parent's workers do not exist here, so dropping the pool (which
        // signals them) is pointless at best; leave it be.
        std::mem::forget(st.pool.take());
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fastbce-{i}"))
        .build()
        .map_err(|e| KernelError::ThreadPool {
            reason: e.to_string(),
        })?;
    let pool = Arc::new(pool);
    st.pool = Some((Arc::clone(&pool), pid));
    Ok(Some(pool))
}

/// Maps `f` over `items`, in parallel on the pool when there are several items and several
/// threads, else on the calling thread. The results keep the items' order.
pub fn map_ordered<I: Send, R: Send>(
    items: Vec<I>,
    f: impl Fn(I) -> R + Send + Sync,
) -> Result<Vec<R>, KernelError> {
    use rayon::prelude::*;
    if items.len() > 1 {
        if let Some(pool) = current_pool()? {
            return Ok(pool.install(|| items.into_par_iter().map(f).collect()));
        }
    }
    Ok(items.into_iter().map(f).collect())
}
