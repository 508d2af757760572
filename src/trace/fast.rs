//! The counters-level fast path of `Trace`: counters that one thread, the first to allocate
//! through the trace, updates without any atomic read-modify-write.
//!
//! Every other thread, every tracking trace, and every allocation or resize while a limit is set
//! goes through the lock instead. (The owner's frees stay on the fast path under a limit: a free
//! only lowers what is live, and the limit check adds this side's figures, so a free it has not
//! seen yet can make the check stricter for a moment, never looser.) The owner's counters are
//! atomics written with plain (`Relaxed`) loads and stores: only the owner writes them, so no
//! update is lost, and any thread may read them. A snapshot adds them to the locked counters;
//! once the threads have joined, the sum is exact.
//!
//! Each side computes its peaks from its own live figures plus the other side's latest
//! published ones, so a peak is the most that was live at some call: exact when calls do not
//! overlap in time, and within what overlapping calls held otherwise.
//!
//! The fast side does not raise its peaks on every allocation. What is live only reaches a new
//! high just before it falls, so an allocation only counts itself, and the first free (or
//! shrink) after a run of allocations raises the peaks to what was live before it took its bytes
//! back. It knows it is the first because `settled_at`, the allocation count at the last raise,
//! differs from the allocation count (a grow, which adds no allocation, moves `settled_at`
//! instead). The locked side raises its peaks after every rise and before every fall, and a
//! snapshot takes what is live now as a peak too, so no high is missed.
//!
//! So an allocation costs two counter updates and no other store, and a free in a run of frees
//! two comparisons (the owner's token, and the allocation count against `settled_at`) besides its
//! two counter updates. (A version that marked each rise with a store, and tested it with the
//! token in one comparison, ran fewer instructions but measured slower on `seed_map` over an
//! arena.)

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::Stats;

/// The owner's counters (see the module docs). All `wrapping`: blocks allocated on one side and
/// freed on the other make one side's live figures go "below zero" for a while.
pub(super) struct Fast {
    /// The token of the thread whose allocations and resizes may take the fast path now: the
    /// owner, `UNOWNED` while nobody owns the counters, or `CLOSED` while the trace must take its
    /// lock for them (tracking, or a limit). One load tells the caller all three.
    gate: AtomicUsize,
    /// The token of the thread that owns these counters, or `UNOWNED` while nobody does. Its
    /// frees take the fast path whether or not the gate is open.
    owner: AtomicUsize,
    allocations: AtomicUsize,
    /// `allocations` when the owner last raised its peaks: while the two are equal, a free has no
    /// peak to raise. Written by the owner only.
    settled_at: AtomicUsize,
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

/// The `gate` and the `owner` while no thread owns the counters. Never a token, and not 0, so
/// that a thread that has no token yet (0) matches neither.
const UNOWNED: usize = usize::MAX - 2;

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
            gate: AtomicUsize::new(if open { UNOWNED } else { CLOSED }),
            owner: AtomicUsize::new(UNOWNED),
            allocations: AtomicUsize::new(0),
            settled_at: AtomicUsize::new(0),
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
    /// the counters. One load and one comparison; a thread that finds nobody owning them claims
    /// them on the slow path ([`claim`](Self::claim)).
    #[inline(always)]
    pub(super) fn enter(&self) -> bool {
        // No gate is 0 (a thread without a token yet) or `NO_TOKEN`, and no token is `UNOWNED`
        // or `CLOSED`.
        self.gate.load(Relaxed) == token()
    }

    /// Whether the calling thread owns the counters: it may free on the fast path (after
    /// [`settle`](Self::settle)), even while the gate is closed. One load and one comparison.
    #[inline(always)]
    pub(super) fn owns(&self) -> bool {
        // `UNOWNED` is never a token, and 0 (no token yet) is never an owner.
        self.owner.load(Relaxed) == token()
    }

    /// Claims the counters for the calling thread if the gate is open and nobody owns them yet;
    /// whether it did. The caller then takes the fast path. One load, for the callers that find
    /// the counters owned or the gate closed (every call on the slow path but the first).
    #[inline(always)]
    pub(super) fn claim(&self) -> bool {
        self.gate.load(Relaxed) == UNOWNED && self.claim_unowned()
    }

    /// [`claim`](Self::claim) once the gate was seen unowned.
    #[cold]
    fn claim_unowned(&self) -> bool {
        let me = thread_token();
        me != NO_TOKEN
            && self
                .owner
                .compare_exchange(UNOWNED, me, Relaxed, Relaxed)
                .is_ok()
            && self
                .gate
                .compare_exchange(UNOWNED, me, Relaxed, Relaxed)
                .is_ok()
    }

    /// Closes the fast path of allocations and resizes (`false`, while a limit is set) or opens
    /// it again (`true`). Calls already on it finish there; the owner's frees stay on it.
    pub(super) fn set_open(&self, open: bool) {
        let gate = if open {
            // The owner, or `UNOWNED` if nobody has claimed the counters yet.
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

    /// An allocation of `size` bytes. It leaves the peaks to the next fall (see the module docs).
    #[inline(always)]
    pub(super) fn allocation(&self, size: usize) {
        bump(&self.allocations, 1);
        bump(&self.bytes_allocated, size);
    }

    /// A deallocation of `size` bytes, after [`settle`](Self::settle).
    #[inline(always)]
    pub(super) fn deallocation(&self, size: usize) {
        bump(&self.deallocations, 1);
        bump(&self.bytes_freed, size);
    }

    /// A grow by `extra` bytes. It adds no allocation, so it unsettles the peaks itself.
    #[inline(always)]
    pub(super) fn growth(&self, extra: usize) {
        bump(&self.grows, 1);
        bump(&self.bytes_allocated, extra);
        let allocations = self.allocations.load(Relaxed);
        self.settled_at.store(allocations.wrapping_sub(1), Relaxed);
    }

    /// A shrink by `bytes`; `other` as for [`settle`](Self::settle).
    #[inline(always)]
    pub(super) fn shrinkage(&self, bytes: usize, other: impl FnOnce() -> (usize, usize)) {
        self.settle(other);
        bump(&self.shrinks, 1);
        bump(&self.bytes_freed, bytes);
    }

    /// Before a fall on the fast path (by the owner): if this side has allocated or grown since
    /// it last did so, raises the peaks to what is live now on both sides (`other` gives the
    /// locked side's figures).
    #[inline(always)]
    pub(super) fn settle(&self, other: impl FnOnce() -> (usize, usize)) {
        let allocations = self.allocations.load(Relaxed);
        if allocations != self.settled_at.load(Relaxed) {
            self.settled_at.store(allocations, Relaxed);
            let (blocks, bytes) = self.net();
            let other = other();
            raise(&self.peak_blocks, blocks.wrapping_add(other.0));
            raise(&self.peak_bytes, bytes.wrapping_add(other.1));
        }
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

#[cfg(feature = "std")]
std::thread_local! {
    /// The calling thread's token, 0 until [`thread_token`] gives it one. Without a destructor,
    /// so a global allocator may read it.
    static TOKEN: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// The calling thread's token as it stands: 0 if it has none yet (which matches no gate), and
/// `NO_TOKEN` during thread teardown. One thread-local load.
#[cfg(feature = "std")]
#[inline(always)]
fn token() -> usize {
    TOKEN.try_with(core::cell::Cell::get).unwrap_or(NO_TOKEN)
}

/// A number for the calling thread, given on its first call: never 0, `UNOWNED`, `CLOSED` or
/// `NO_TOKEN` (tokens count up from 1), but `NO_TOKEN` during thread teardown, when no fast path
/// is taken.
#[cfg(feature = "std")]
#[cold]
fn thread_token() -> usize {
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
#[inline(always)]
fn token() -> usize {
    NO_TOKEN
}

/// Without `std` there are no thread-locals: every call takes the lock.
#[cfg(not(feature = "std"))]
#[cold]
fn thread_token() -> usize {
    NO_TOKEN
}
