//! fastbce's own rayon thread pool, so that it neither fights nor depends on other rayon users in
//! the same process, sized by `set_num_threads`.
//!
//! Fork safety: a process that forks (multiprocessing, prefork servers) must leave a child that
//! computes. The child has none of the parent's threads, so the pool is dropped there and built
//! anew on its first call; and the state lock is taken around `fork` itself (`pthread_atfork`), so
//! a child never inherits it held by a thread that does not exist there. The lock is only ever
//! held for a few instructions: pools are built outside it.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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
    // The calling thread is one of the call's threads (`fold_ordered`).
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads - 1)
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
/// parallel when there are several and several threads, else on the calling thread (without
/// allocating).
///
/// In parallel, the calling thread computes chunks itself beside the pool's workers (a pool of
/// one thread fewer than the count). Each of them has a share, a contiguous range of the chunks,
/// which it takes from the front; with its own done, it takes the others' from their backs. Where
/// the caller used to hand every chunk to the pool and sleep until the last one was done, a call
/// of a few chunks paid for waking a worker and then for being woken: about 40 µs on a virtual
/// machine, where two chunks on one thread take 22 µs. Now a worker that wakes late finds its
/// share taken, and the caller waits only for chunks that a worker has started: it spins for a
/// while, then sleeps. The shares are contiguous so that each thread streams through its own part
/// of memory: with the chunks handed out in turn, two threads took turns at the same pages of a
/// fresh output, whose first touch the kernel serves a huge page at a time (float64
/// `value_and_grad` at 1e7 took 1.25 times as long).
pub fn fold_ordered<R: Send + 'static>(
    count: usize,
    zero: R,
    f: impl Fn(usize) -> R + Send + Sync,
    join: impl Fn(R, R) -> R,
) -> Result<R, KernelError> {
    // (Beyond 2^32 chunks, 2^46 elements, the shares' packed indices would not fit.)
    if count > 1 && u32::try_from(count).is_ok() {
        if let Some(pool) = current_pool()? {
            let parts = Chunks::run(&pool, count, &f);
            return Ok(parts.into_iter().fold(zero, join));
        }
    }
    Ok((0..count).map(f).fold(zero, join))
}

/// How long a caller whose chunks are all taken spins for those still running before it sleeps:
/// about the time of one chunk, so that a call's end is seldom a wake-up.
const SPIN: Duration = Duration::from_micros(100);

/// A chunk function with its lifetime erased, for the pool's `'static` jobs. It is called only
/// for a chunk that was claimed before the last one finished, and the caller does not return
/// before that: see [`Chunks::compute`].
struct Erased<R>(*const (dyn Fn(usize) -> R + Sync));

// SAFETY: the pointee is `Sync` (called from several threads at once is what it is for), and the
// pointer is dereferenced only while the caller's borrow lives (above).
unsafe impl<R> Send for Erased<R> {}
unsafe impl<R> Sync for Erased<R> {}

/// One parallel call's chunks, shared by the caller and the workers helping it.
struct Chunks<R> {
    count: usize,
    /// Per thread, the chunks of its share not yet taken, `front..back` packed as
    /// `front << 32 | back`: taken at the front by the thread it is for, at the back by the others.
    shares: Vec<AtomicU64>,
    /// Chunks finished, a panicked one included.
    done: AtomicUsize,
    results: Vec<Mutex<Option<R>>>,
    /// The first panic of a chunk, raised again on the calling thread.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Set under its lock when the last chunk finishes: what a sleeping caller waits for.
    finished: Mutex<bool>,
    wake: Condvar,
    f: Erased<R>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<R: Send + 'static> Chunks<R> {
    fn run(pool: &ThreadPool, count: usize, f: &(dyn Fn(usize) -> R + Sync)) -> Vec<R> {
        // SAFETY: only the lifetime changes; `help` says when the pointer may be used.
        let f = unsafe {
            std::mem::transmute::<
                *const (dyn Fn(usize) -> R + Sync + '_),
                *const (dyn Fn(usize) -> R + Sync + 'static),
            >(f)
        };
        let threads = (pool.current_num_threads() + 1).min(count);
        // Chunk indices fit in 32 bits (`fold_ordered`).
        let bound = |t: usize| (t * count / threads) as u64;
        let chunks = Arc::new(Chunks {
            count,
            shares: (0..threads)
                .map(|t| AtomicU64::new(bound(t) << 32 | bound(t + 1)))
                .collect(),
            done: AtomicUsize::new(0),
            results: (0..count).map(|_| Mutex::new(None)).collect(),
            panic: Mutex::new(None),
            finished: Mutex::new(false),
            wake: Condvar::new(),
            f: Erased(f),
        });
        for me in 1..threads {
            let chunks = Arc::clone(&chunks);
            pool.spawn(move || chunks.help(me));
        }
        chunks.help(0);
        chunks.wait();
        if let Some(payload) = lock(&chunks.panic).take() {
            std::panic::resume_unwind(payload);
        }
        chunks
            .results
            .iter()
            .map(|r| {
                lock(r)
                    .take()
                    .expect("every chunk finished without a panic")
            })
            .collect()
    }

    /// Computes the chunks of share `me` from its front, then those left of the others' from their
    /// backs, until none is left.
    fn help(&self, me: usize) {
        let threads = self.shares.len();
        while let Some(i) = self.take(me, true) {
            self.compute(i);
        }
        for other in (1..threads).map(|k| (me + k) % threads) {
            while let Some(i) = self.take(other, false) {
                self.compute(i);
            }
        }
    }

    /// Claims the chunk at the front (or the back) of share `s`, if it has one left.
    fn take(&self, s: usize, front: bool) -> Option<usize> {
        let share = &self.shares[s];
        let mut range = share.load(Ordering::Relaxed);
        loop {
            let (first, end) = (range >> 32, range & 0xffff_ffff);
            if first >= end {
                return None;
            }
            let (taken, rest) = if front {
                (first, range + (1 << 32))
            } else {
                (end - 1, range - 1)
            };
            match share.compare_exchange_weak(range, rest, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(taken as usize),
                Err(now) => range = now,
            }
        }
    }

    /// Computes chunk `i`, which this thread has claimed.
    fn compute(&self, i: usize) {
        // SAFETY: chunk `i` is claimed and not yet counted in `done`, so the caller is still in
        // `run` (it waits for `done == count`) and the function it lent is alive.
        let f = unsafe { &*self.f.0 };
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(i))) {
            Ok(r) => *lock(&self.results[i]) = Some(r),
            Err(payload) => {
                lock(&self.panic).get_or_insert(payload);
            }
        }
        // After the last chunk is counted a worker touches nothing the caller lent (only this
        // `Arc`'s fields).
        if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.count {
            *lock(&self.finished) = true;
            self.wake.notify_all();
        }
    }

    /// Returns once every chunk has finished: spinning for [`SPIN`], then asleep.
    fn wait(&self) {
        let start = Instant::now();
        while self.done.load(Ordering::Acquire) < self.count {
            if start.elapsed() > SPIN {
                let mut finished = lock(&self.finished);
                while !*finished {
                    finished = self
                        .wake
                        .wait(finished)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                return;
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Folds `i * i` over `count` chunks, on at least two threads, some chunks slower than
    /// [`SPIN`] so that the caller also sleeps.
    fn squares(count: usize) -> u64 {
        let f = |i: usize| {
            if i % 5 == 1 {
                std::thread::sleep(Duration::from_millis(1));
            }
            (i * i) as u64
        };
        fold_ordered(count, 0u64, f, |a, b| a + b).unwrap()
    }

    /// In index order, whichever thread computed a chunk: a sum that is not associative in
    /// floating point (big, then small values) comes out as the sequential fold's.
    fn ordered(count: usize) -> (f64, f64) {
        let f = |i: usize| {
            if i.is_multiple_of(2) {
                1e17
            } else {
                1.0 + i as f64
            }
        };
        let parallel = fold_ordered(count, 0.0, f, |a, b| a + b).unwrap();
        let sequential = (0..count).map(f).fold(0.0, |a, b| a + b);
        (parallel, sequential)
    }

    #[test]
    fn chunks_are_folded_in_order_from_many_callers() {
        set_num_threads(3).unwrap();
        let callers: Vec<_> = (0..8)
            .map(|t| {
                std::thread::spawn(move || {
                    for count in [2, 3, 7, 16 + t] {
                        let want = (0..count as u64).map(|i| i * i).sum::<u64>();
                        assert_eq!(squares(count), want);
                        let (parallel, sequential) = ordered(count);
                        assert_eq!(parallel.to_bits(), sequential.to_bits());
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
    }

    /// A panic in any chunk reaches the caller, after every other chunk has finished (they
    /// borrow the caller's data), and the pool goes on working.
    #[test]
    fn a_chunk_that_panics_panics_the_caller() {
        set_num_threads(2).unwrap();
        for bad in [0, 1, 5] {
            let finished = AtomicUsize::new(0);
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                fold_ordered(
                    6,
                    0usize,
                    |i| {
                        std::thread::sleep(Duration::from_micros(300));
                        if i == bad {
                            panic!("chunk {i}");
                        }
                        finished.fetch_add(1, Ordering::SeqCst);
                        i
                    },
                    |a, b| a + b,
                )
            }));
            let payload = outcome.expect_err("the panic reaches the caller");
            assert_eq!(
                payload.downcast_ref::<String>().unwrap(),
                &format!("chunk {bad}")
            );
            assert_eq!(finished.load(Ordering::SeqCst), 5);
        }
        assert_eq!(squares(9), (0..9u64).map(|i| i * i).sum::<u64>());
    }
}
