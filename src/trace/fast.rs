//! The counters-level fast path of `Trace`: counters that one thread, the first to allocate
//! through the trace, updates without any atomic read-modify-write.
//!
//! Every other thread, every trace with a limit, and every tracking trace goes through the lock
//! instead. The owner's counters are atomics written with plain (`Relaxed`) loads and stores:
//! only the owner writes them, so no update is lost, and any thread may read them. A snapshot adds
//! them to the locked counters; once the threads have joined, the sum is exact.
//!
//! Each side computes its peaks from its own live figures plus the other side's latest
//! published ones, so a peak is the most that was live at some call: exact when calls do not
//! overlap in time, and within what overlapping calls held otherwise.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::Stats;

/// The owner's counters (see the module docs). All `wrapping`: blocks allocated on one side and
/// freed on the other make one side's live figures go "below zero" for a while.
pub(super) struct Fast {
    /// The token of the thread that may take the fast path now: the owner, 0 while nobody owns
    /// the counters, or `CLOSED` while the trace must take its lock for every call (tracking, or
    /// a limit). One load tells the caller all three.
    gate: AtomicUsize,
    /// The token of the thread that owns these counters, or 0 while nobody does.
    owner: AtomicUsize,
    allocations: AtomicUsize,
    deallocations: AtomicUsize,
    grows: AtomicUsize,
    shrinks: AtomicUsize,
    failures: AtomicUsize,
    bytes_allocated: AtomicUsize,
    bytes_freed: AtomicUsize,
    peak_blocks: AtomicUsize,
    peak_bytes: AtomicUsize,
}

/// The `gate` of a trace that takes its lock for every call.
const CLOSED: usize = usize::MAX;

/// Adds `n` to a counter only this thread writes.
#[inline(always)]
fn bump(counter: &AtomicUsize, n: usize) -> usize {
    let value = counter.load(Relaxed).wrapping_add(n);
    counter.store(value, Relaxed);
    value
}

/// Raises a peak only this thread writes.
#[inline(always)]
fn raise(peak: &AtomicUsize, value: usize) {
    if signed(value) > signed(peak.load(Relaxed)) {
        peak.store(value, Relaxed);
    }
}

/// A wrapping count read as the signed number it stands for.
#[inline(always)]
pub(super) fn signed(value: usize) -> isize {
    value as isize
}

impl Fast {
    /// Counters whose fast path is open (`open`), or closed for good (a tracking trace).
    pub(super) const fn new(open: bool) -> Self {
        Self {
            gate: AtomicUsize::new(if open { 0 } else { CLOSED }),
            owner: AtomicUsize::new(0),
            allocations: AtomicUsize::new(0),
            deallocations: AtomicUsize::new(0),
            grows: AtomicUsize::new(0),
            shrinks: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            bytes_allocated: AtomicUsize::new(0),
            bytes_freed: AtomicUsize::new(0),
            peak_blocks: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
        }
    }

    /// Whether the calling thread may take the fast path: the gate is open and the thread owns
    /// the counters, claiming them if nobody does yet.
    #[inline(always)]
    pub(super) fn enter(&self) -> bool {
        let gate = self.gate.load(Relaxed);
        // A thread's token is never 0 or `CLOSED`, and `NO_TOKEN` is never a gate, so one
        // comparison settles the common case.
        gate == thread_token() || (gate == 0 && self.claim())
    }

    #[cold]
    fn claim(&self) -> bool {
        let me = thread_token();
        me != NO_TOKEN
            && self.owner.compare_exchange(0, me, Relaxed, Relaxed).is_ok()
            && self.gate.compare_exchange(0, me, Relaxed, Relaxed).is_ok()
    }

    /// Closes the fast path (`false`, while a limit is set) or opens it again (`true`). Calls
    /// already on it finish there.
    pub(super) fn set_open(&self, open: bool) {
        let gate = if open {
            self.owner.load(Relaxed)
        } else {
            CLOSED
        };
        self.gate.store(gate, Relaxed);
    }

    /// Live blocks and bytes on this side (wrapping).
    #[inline(always)]
    pub(super) fn net(&self) -> (usize, usize) {
        (
            self.allocations
                .load(Relaxed)
                .wrapping_sub(self.deallocations.load(Relaxed)),
            self.bytes_allocated
                .load(Relaxed)
                .wrapping_sub(self.bytes_freed.load(Relaxed)),
        )
    }

    /// An allocation of `size` bytes; `other` is the locked side's live blocks and bytes.
    #[inline(always)]
    pub(super) fn allocation(&self, size: usize, other: (usize, usize)) {
        let allocations = bump(&self.allocations, 1);
        let bytes = bump(&self.bytes_allocated, size);
        let blocks_live = allocations
            .wrapping_sub(self.deallocations.load(Relaxed))
            .wrapping_add(other.0);
        let bytes_live = bytes
            .wrapping_sub(self.bytes_freed.load(Relaxed))
            .wrapping_add(other.1);
        raise(&self.peak_blocks, blocks_live);
        raise(&self.peak_bytes, bytes_live);
    }

    /// A deallocation of `size` bytes.
    #[inline(always)]
    pub(super) fn deallocation(&self, size: usize) {
        bump(&self.deallocations, 1);
        bump(&self.bytes_freed, size);
    }

    /// A grow by `extra` bytes; `other` as for `allocation`.
    #[inline(always)]
    pub(super) fn growth(&self, extra: usize, other: (usize, usize)) {
        bump(&self.grows, 1);
        let bytes = bump(&self.bytes_allocated, extra);
        let bytes_live = bytes
            .wrapping_sub(self.bytes_freed.load(Relaxed))
            .wrapping_add(other.1);
        raise(&self.peak_bytes, bytes_live);
    }

    /// A shrink by `bytes`.
    #[inline(always)]
    pub(super) fn shrinkage(&self, bytes: usize) {
        bump(&self.shrinks, 1);
        bump(&self.bytes_freed, bytes);
    }

    /// A request the inner allocator refused.
    #[inline(always)]
    pub(super) fn failure(&self) {
        bump(&self.failures, 1);
    }

    /// Adds these counters to `locked` (the lock's counters) for a snapshot.
    pub(super) fn add_to(&self, locked: &Stats) -> Stats {
        let (net_blocks, net_bytes) = self.net();
        let live_blocks = clamp(locked.live_blocks.wrapping_add(net_blocks));
        let live_bytes = clamp(locked.live_bytes.wrapping_add(net_bytes));
        Stats {
            allocations: locked.allocations + self.allocations.load(Relaxed),
            deallocations: locked.deallocations + self.deallocations.load(Relaxed),
            grows: locked.grows + self.grows.load(Relaxed),
            shrinks: locked.shrinks + self.shrinks.load(Relaxed),
            failures: locked.failures + self.failures.load(Relaxed),
            bytes_allocated: locked
                .bytes_allocated
                .wrapping_add(self.bytes_allocated.load(Relaxed)),
            bytes_freed: locked
                .bytes_freed
                .wrapping_add(self.bytes_freed.load(Relaxed)),
            live_blocks,
            live_bytes,
            peak_blocks: clamp(locked.peak_blocks)
                .max(clamp(self.peak_blocks.load(Relaxed)))
                .max(live_blocks),
            peak_bytes: clamp(locked.peak_bytes)
                .max(clamp(self.peak_bytes.load(Relaxed)))
                .max(live_bytes),
        }
    }
}

/// A wrapping live figure, with "below zero" (possible only for a moment, or when callers free
/// with more than they asked for) shown as zero.
#[inline]
pub(super) fn clamp(value: usize) -> usize {
    if signed(value) < 0 { 0 } else { value }
}

/// What [`thread_token`] returns when it has no token to give: during thread teardown, and
/// always without `std`. Never a thread's token, and never a gate, so no fast path is taken.
const NO_TOKEN: usize = usize::MAX - 1;

/// A number for the calling thread: never 0, `CLOSED` or `NO_TOKEN` (tokens count up from 1), but
/// `NO_TOKEN` during thread teardown, when no fast path is taken. Thread-local without a
/// destructor, so a global allocator may call it.
#[cfg(feature = "std")]
#[inline]
fn thread_token() -> usize {
    std::thread_local! {
        static TOKEN: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    TOKEN
        .try_with(|token| match token.get() {
            0 => {
                let fresh = NEXT.fetch_add(1, Relaxed);
                token.set(fresh);
                fresh
            }
            known => known,
        })
        .unwrap_or(NO_TOKEN)
}

/// Without `std` there are no thread-locals: every call takes the lock.
#[cfg(not(feature = "std"))]
#[inline]
fn thread_token() -> usize {
    NO_TOKEN
}
