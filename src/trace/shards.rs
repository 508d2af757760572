//! The counters of a `Trace`: one shard per thread, a shared peak, and the limit.
//!
//! # Shards
//!
//! Every thread that allocates through a trace counts in a shard of its own: allocations, frees,
//! grows, shrinks, failures, and the bytes that rose and fell. A shard sits on cache lines of its
//! own and is written by one thread at a time, the holder of its [thread index](super::index), with
//! plain (`Relaxed`) loads and stores: no atomic read-modify-write, and no line that two threads
//! write. A thread that exits gives its index back; the next thread to claim the index takes over
//! the shard and keeps adding to it. Shards are made on a thread's first call (from
//! [`Bookkeeping`], never the traced allocator) and freed with the trace.
//!
//! A thread that holds no index (more than [`SHARDS`] threads at once, thread teardown, no `std`)
//! counts in the overflow shard instead, under the overflow lock: whoever holds the lock is that
//! shard's one writer.
//!
//! # Snapshots
//!
//! [`Shards::snapshot`] adds the shards up. Each sum is exact once the threads that wrote them
//! have joined. While they run, every field of a snapshot is consistent, and what it shows live
//! was live at some moment: the rises (allocations, grows) are written with `Release` and read
//! first, with `Acquire`, and the falls (frees, shrinks) are read after them. So a fall that
//! happened before a rise the snapshot counts is counted too, and the figure is at most what was
//! live when the second pass began; a fall counted whose rise was not (a block allocated and freed
//! between the two passes) only makes it smaller, and the snapshot then counts no more freed than
//! allocated (`live` never below zero, `live = allocated - freed`). A snapshot therefore never
//! shows more live than was, even when its thread is preempted between the passes, and can raise
//! the peak to what it shows. (At the counters level a caller may free with more bytes than it
//! asked for, up to the length the allocator returned; live *bytes* then read lower, down to
//! zero.)
//!
//! # Peaks
//!
//! A peak is the most that was live at once. Live figures only reach a new high just before they
//! fall, so a shard raises the peak at a fall (a free or a shrink), not at each allocation, and
//! only when its own live figures passed the highest at which it raised it before: rising costs
//! two counter updates and no other store, and a steady churn of allocations and frees raises
//! nothing after its first high.
//!
//! What is live over all shards is not something one thread can read cheaply, so each shard
//! *publishes* what it changed since it last did into shared sums (two atomic additions, rarely):
//! whenever its bytes allocated, or freed, cross a multiple of [`PUBLISH_BYTES`], so that neither
//! its unpublished bytes nor its unpublished blocks (each at least a byte) reach that figure,
//! either way. It raises the peak to the sums then. At a fall a shard estimates what is
//! live as the shared sums plus its own unpublished part, and raises the shared peak to that (a
//! `fetch_max`, only when higher). So:
//!
//! - on one thread the estimate is exact, and so is the peak;
//! - under threads it is off by the other shards' unpublished parts, less than `PUBLISH_BYTES`
//!   bytes and blocks each, either way;
//! - a snapshot raises the peak to the live figures it saw (which were live at some moment), so
//!   no later snapshot reports a peak below what an earlier one saw live;
//! - a thread whose blocks are all freed by others, and which allocates less than
//!   `PUBLISH_BYTES` in all, may leave its high to no estimate but a snapshot's.
//!
//! # The limit
//!
//! With a limit set, every byte a call adds must be covered by *credit*. Each shard holds a
//! little, spent and refilled by its writer with plain loads and stores, and takes more from the
//! limit, or gives back what it does not need, under the switch lock, where `committed` counts
//! what is live plus every shard's credit and never passes the limit. So the limit is never
//! exceeded, and a refused request (by the limit or by the inner allocator) takes back only its
//! own credit. A shard keeps at most twice [`Limit::spare`] after a call: `CREDIT` (4 KiB), or a
//! 256th of the limit if that is less; the overflow shard, whose writers come and go, keeps
//! none. On one thread the limit is exact; under threads a request can be refused early, by at
//! most the credit that the *other live threads* hold in their shards (at most
//! `2 * spare` each). Credit never stays behind with a thread that stopped allocating for good:
//! before a request is refused, the shards of threads that exited (their index free) are
//! settled and their credit comes back, and so does the credit of a shard whose index a
//! different thread holds now (its *holder number*, counted up at each claim, tells them
//! apart) until that thread joins the limit itself.
//! Every `set_limit` starts a new epoch, whose credit starts at zero: a limit lowered takes
//! effect at once, whatever credit the shards held.
//!
//! Setting a limit while other threads allocate must not lose what they do on the fast path,
//! which does not look at the limit. [`Shards::set_limit`], under the switch lock:
//!
//! 1. marks the trace *switching*, so that calls which see it wait for the lock;
//! 2. reads every shard's live bytes into that shard's `limit_base`, and makes their sum what is
//!    committed;
//! 3. publishes the limited mode with a new epoch.
//!
//! A shard's writer, on its first call in a new epoch, *joins* it under the switch lock: it
//! commits what its shard's live bytes moved since `limit_base` was read, and drops the credit of
//! the epoch before (never committed in this one). Each rise and fall is so counted exactly once, by the switch or by
//! the shard, and credit never crosses epochs. Only a call already past its fast-path test when
//! the switch began (one per thread at most) escapes the limit: if it allocated, it was admitted
//! without it; if it freed, its bytes still count. Either way the count comes right at the next
//! request that takes credit under the lock, on any thread: it commits what every shard that has
//! not joined did since the switch read it. (A request that spends credit it already holds, or
//! is checked against a limit while such a call is in the inner allocator, may meanwhile be
//! admitted up to that one call's bytes past the limit.)

use core::ptr::{self, NonNull};

use super::Bookkeeping;
use super::index::{self, SHARDS};
use super::live::Live;
use super::stats::Stats;
use crate::AllocError;
use crate::sync::{
    AtomicPtr, AtomicUsize, CachePadded, Mutex, Ordering, const_fn_unless_loom, fence,
};

/// A shard publishes what it changed whenever its bytes allocated, or freed, cross a multiple of
/// this (a power of two). Every block is at least a byte, so its unpublished blocks stay below
/// this number too.
#[cfg(not(loom))]
pub(crate) const PUBLISH_BYTES: usize = 2048;
/// A shard publishes what it changed (small under loom, so that publishing runs).
#[cfg(loom)]
pub(crate) const PUBLISH_BYTES: usize = 16;

const _: () = assert!(PUBLISH_BYTES.is_power_of_two());

/// Under a limit, the most credit a shard takes beyond what a call needs, and keeps after a fall
/// (it gives back what passes twice this); less for a small limit ([`Limit::spare`]).
#[cfg(not(loom))]
pub(crate) const CREDIT: usize = 4096;
/// Under a limit, the credit a shard keeps (small under loom).
#[cfg(loom)]
pub(crate) const CREDIT: usize = 16;

/// `mode`'s low bits: what a call must do besides counting in its shard.
const UNLIMITED: usize = 0;
/// A limit is set: spend credit before rising, refill it after falling.
const LIMITED: usize = 1;
/// A limit is being set: wait for the switch lock.
const SWITCHING: usize = 2;
/// The trace records every block (fixed at construction): never the fast path (its slots are
/// always tagged [`SLOW`]).
pub(crate) const TRACKING: usize = 4;
/// The bits of `mode` below the epoch.
const STATE: usize = 7;
/// `mode >> EPOCH`: how many limits have been set, so that a shard knows whether it joined the
/// current one.
const EPOCH: u32 = 3;

/// A wrapping count read as the signed number it stands for.
#[inline(always)]
pub(crate) fn signed(value: usize) -> isize {
    value as isize
}

/// A wrapping live figure, with "below zero" shown as zero.
#[inline]
pub(crate) fn clamp(value: usize) -> usize {
    if signed(value) < 0 { 0 } else { value }
}

/// Adds `n` to a counter of rises that only the calling thread writes (`Release`: a snapshot
/// that reads the new value with `Acquire` sees every fall before it; see the module docs).
#[inline(always)]
fn bump(counter: &AtomicUsize, n: usize) -> usize {
    let value = counter.load(Ordering::Relaxed).wrapping_add(n);
    counter.store(value, Ordering::Release);
    value
}

/// [`bump`], returning the values before and after.
#[inline(always)]
fn bump_from(counter: &AtomicUsize, n: usize) -> (usize, usize) {
    let before = counter.load(Ordering::Relaxed);
    let after = before.wrapping_add(n);
    counter.store(after, Ordering::Release);
    (before, after)
}

/// [`bump_fall`], returning the values before and after.
#[inline(always)]
fn bump_fall_from(counter: &AtomicUsize, n: usize) -> (usize, usize) {
    let before = counter.load(Ordering::Relaxed);
    let after = before.wrapping_add(n);
    counter.store(after, Ordering::Relaxed);
    (before, after)
}

/// Whether a shard must publish after a call took one of its byte counters from `before` to
/// `after`: when the counter crossed a multiple of [`PUBLISH_BYTES`]. So what a shard leaves
/// unpublished stays below `PUBLISH_BYTES` bytes and blocks, either way, and the test needs no
/// load beyond the counter the call updates.
#[inline(always)]
fn due(before: usize, after: usize) -> bool {
    (before ^ after) >= PUBLISH_BYTES
}

/// Adds `n` to a counter of falls that only the calling thread writes.
#[inline(always)]
fn bump_fall(counter: &AtomicUsize, n: usize) -> usize {
    let value = counter.load(Ordering::Relaxed).wrapping_add(n);
    counter.store(value, Ordering::Relaxed);
    value
}

/// One thread's counters in one trace, and (at the tracking level) the records of the blocks it
/// allocated. The counters are written by the shard's one writer; see the module docs.
pub(crate) struct Shard {
    // The first line: what every call reads or writes.
    allocations: AtomicUsize,
    deallocations: AtomicUsize,
    bytes_allocated: AtomicUsize,
    bytes_freed: AtomicUsize,
    /// `bytes_allocated` when a fall last raised the peak: while it is unchanged nothing rose,
    /// and a fall needs no further test (every rise adds bytes).
    settled_at: AtomicUsize,
    /// The highest live figures of this shard at which it raised the peak: a fall raises it
    /// again only past them.
    settled_blocks: AtomicUsize,
    settled_bytes: AtomicUsize,
    // The rest.
    /// This shard's parts of [`Peaks`]'s published sums: its live figures when it last
    /// published.
    published_blocks: AtomicUsize,
    published_bytes: AtomicUsize,
    grows: AtomicUsize,
    shrinks: AtomicUsize,
    failures: AtomicUsize,
    /// The limit epoch this shard joined last (0: none).
    limit_epoch: AtomicUsize,
    /// The index holder ([`index::holder`]) whose calls joined that epoch here: a thread that
    /// takes the index over joins anew, and the credit of one that exited can be taken back
    /// meanwhile. Written under the switch lock.
    limit_holder: AtomicUsize,
    /// Under a limit, the bytes this shard may still add without committing more.
    credit: AtomicUsize,
    /// Under a limit, the bytes of requests in flight: covered by credit, not yet counted in the
    /// shard's live bytes (or given back). A switch counts them with the live bytes.
    pending: AtomicUsize,
    /// The shard's live bytes as the last limit switch read them. Written under the switch lock.
    limit_base: AtomicUsize,
    /// At the tracking level, the records of the blocks this shard's writers allocated or
    /// resized last. Any thread may take a record out (a block freed on another thread).
    pub(crate) live: Mutex<Live>,
}

impl Shard {
    const_fn_unless_loom! {
        fn new() -> Self {
            Self {
                allocations: AtomicUsize::new(0),
                deallocations: AtomicUsize::new(0),
                bytes_allocated: AtomicUsize::new(0),
                bytes_freed: AtomicUsize::new(0),
                settled_at: AtomicUsize::new(0),
                settled_blocks: AtomicUsize::new(0),
                settled_bytes: AtomicUsize::new(0),
                published_blocks: AtomicUsize::new(0),
                published_bytes: AtomicUsize::new(0),
                grows: AtomicUsize::new(0),
                shrinks: AtomicUsize::new(0),
                failures: AtomicUsize::new(0),
                limit_epoch: AtomicUsize::new(0),
                limit_holder: AtomicUsize::new(0),
                credit: AtomicUsize::new(0),
                pending: AtomicUsize::new(0),
                limit_base: AtomicUsize::new(0),
                live: Mutex::new(Live::new()),
            }
        }
    }

    /// Live blocks and bytes in this shard (wrapping: a shard may free what another allocated).
    #[inline(always)]
    fn net(&self) -> (usize, usize) {
        (
            self.allocations
                .load(Ordering::Relaxed)
                .wrapping_sub(self.deallocations.load(Ordering::Relaxed)),
            self.net_bytes(),
        )
    }

    #[inline(always)]
    fn net_bytes(&self) -> usize {
        self.bytes_allocated
            .load(Ordering::Relaxed)
            .wrapping_sub(self.bytes_freed.load(Ordering::Relaxed))
    }

    /// What a limit counts for this shard: its live bytes and the bytes of its requests in flight.
    /// `pending` is read first, with `Acquire`: a request counted in the live bytes was taken
    /// off `pending` (with `Release`) only after, so that a reader on another thread never sees
    /// it in neither.
    fn held(&self) -> usize {
        let pending = self.pending.load(Ordering::Acquire);
        self.net_bytes().wrapping_add(pending)
    }

    /// Takes `reservation`'s bytes off the requests in flight: counted now, or given back.
    #[inline]
    fn landed(&self, reservation: &Reservation) {
        if reservation.bytes != 0 {
            let pending = self.pending.load(Ordering::Relaxed);
            self.pending
                .store(pending.wrapping_sub(reservation.bytes), Ordering::Release);
        }
    }

    /// Counts an allocation of `size` bytes: two counter updates, no other store.
    #[inline(always)]
    pub(crate) fn allocated(&self, peaks: &Peaks, size: usize) {
        bump(&self.allocations, 1);
        let (before, after) = bump_from(&self.bytes_allocated, size);
        if due(before, after) {
            self.publish(peaks);
        }
    }

    /// Counts a free of `size` bytes, raising the peak first if this shard's live figures passed
    /// the highest it raised it at.
    #[inline(always)]
    pub(crate) fn freed(&self, peaks: &Peaks, size: usize) {
        self.settle(peaks);
        bump_fall(&self.deallocations, 1);
        let (before, after) = bump_fall_from(&self.bytes_freed, size);
        if due(before, after) {
            self.publish(peaks);
        }
    }

    /// Counts a grow (`grow`) or a shrink from `from` bytes to `to`. At the tracking level
    /// `from` is the recorded size, which a shrink's new size may pass (any old size up to the
    /// block's length fits): the bytes then rise, though the call was a shrink.
    #[inline(always)]
    pub(crate) fn resized(&self, peaks: &Peaks, grow: bool, from: usize, to: usize) {
        if grow {
            bump(&self.grows, 1);
        } else {
            bump_fall(&self.shrinks, 1);
        }
        let (before, after) = if to >= from {
            bump_from(&self.bytes_allocated, to - from)
        } else {
            self.settle(peaks);
            bump_fall_from(&self.bytes_freed, from - to)
        };
        if due(before, after) {
            self.publish(peaks);
        }
    }

    /// Counts a request that was refused.
    #[inline(always)]
    pub(crate) fn failed(&self) {
        bump(&self.failures, 1);
    }

    /// Before a fall: if this shard's live blocks or bytes passed the highest at which it raised
    /// the peak, raises it to the estimate of what is live now. One load and one comparison when
    /// nothing rose since the last raise (a run of frees).
    #[inline(always)]
    fn settle(&self, peaks: &Peaks) {
        let allocated = self.bytes_allocated.load(Ordering::Relaxed);
        if allocated == self.settled_at.load(Ordering::Relaxed) {
            return;
        }
        let (blocks, bytes) = self.net();
        if signed(blocks.wrapping_sub(self.settled_blocks.load(Ordering::Relaxed))) > 0
            || signed(bytes.wrapping_sub(self.settled_bytes.load(Ordering::Relaxed))) > 0
        {
            self.raise(peaks, blocks, bytes);
        }
    }

    /// [`settle`](Self::settle) past the last high: the estimate is the published sums plus what
    /// this shard did not publish yet.
    #[inline(never)]
    fn raise(&self, peaks: &Peaks, blocks: usize, bytes: usize) {
        self.settled_at.store(
            self.bytes_allocated.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let settled_blocks = self.settled_blocks.load(Ordering::Relaxed);
        if signed(blocks.wrapping_sub(settled_blocks)) > 0 {
            self.settled_blocks.store(blocks, Ordering::Relaxed);
        }
        let settled_bytes = self.settled_bytes.load(Ordering::Relaxed);
        if signed(bytes.wrapping_sub(settled_bytes)) > 0 {
            self.settled_bytes.store(bytes, Ordering::Relaxed);
        }
        let blocks = peaks
            .published_blocks
            .load(Ordering::Relaxed)
            .wrapping_add(blocks)
            .wrapping_sub(self.published_blocks.load(Ordering::Relaxed));
        let bytes = peaks
            .published_bytes
            .load(Ordering::Relaxed)
            .wrapping_add(bytes)
            .wrapping_sub(self.published_bytes.load(Ordering::Relaxed));
        peaks.raise(blocks, bytes);
    }

    /// Adds what this shard changed since it last published to the shared sums, and raises the
    /// peak to them: a rise of the others shows there, since this shard then has nothing
    /// unpublished.
    #[cold]
    #[inline(never)]
    fn publish(&self, peaks: &Peaks) {
        let (blocks, bytes) = self.net();
        let blocks_delta = blocks.wrapping_sub(self.published_blocks.load(Ordering::Relaxed));
        let bytes_delta = bytes.wrapping_sub(self.published_bytes.load(Ordering::Relaxed));
        let total_blocks = peaks
            .published_blocks
            .fetch_add(blocks_delta, Ordering::Relaxed)
            .wrapping_add(blocks_delta);
        let total_bytes = peaks
            .published_bytes
            .fetch_add(bytes_delta, Ordering::Relaxed)
            .wrapping_add(bytes_delta);
        self.published_blocks.store(blocks, Ordering::Relaxed);
        self.published_bytes.store(bytes, Ordering::Relaxed);
        peaks.raise(total_blocks, total_bytes);
    }
}

/// The shared sums the shards publish into, and the peaks. Written rarely (a publish, a new
/// high), read at the first fall after a rise.
pub(crate) struct Peaks {
    published_blocks: AtomicUsize,
    published_bytes: AtomicUsize,
    peak_blocks: AtomicUsize,
    peak_bytes: AtomicUsize,
}

impl Peaks {
    /// Raises the peaks to `blocks` and `bytes` (wrapping figures; "below zero" raises nothing).
    fn raise(&self, blocks: usize, bytes: usize) {
        if signed(blocks) > signed(self.peak_blocks.load(Ordering::Relaxed)) {
            self.peak_blocks.fetch_max(blocks, Ordering::Relaxed);
        }
        if signed(bytes) > signed(self.peak_bytes.load(Ordering::Relaxed)) {
            self.peak_bytes.fetch_max(bytes, Ordering::Relaxed);
        }
    }
}

/// The limit, and what is committed against it. Changed under the switch lock only.
struct Limit {
    /// The cap on live bytes while `mode` says limited.
    limit: usize,
    /// What is live plus every shard's credit, as the shards joined it (see the module docs):
    /// never above `limit` after a request is admitted. Wrapping: at the counters level callers
    /// that free with more than they asked can take it "below zero".
    committed: usize,
}

impl Limit {
    /// What may still be committed.
    fn available(&self) -> usize {
        self.limit.saturating_sub(clamp(self.committed))
    }

    /// The credit a shard takes beyond its need, and keeps: `CREDIT`, or a 256th of the limit if
    /// that is less, so that shards holding credit refuse little early even under a small limit.
    fn spare(&self) -> usize {
        CREDIT.min(self.limit / 256)
    }
}

/// A trace's counters: the shards, the overflow shard, the peaks and the limit.
pub(crate) struct Shards {
    /// `epoch << EPOCH | state`: read by every call to choose its path.
    mode: AtomicUsize,
    /// Shard `i` belongs to the thread holding index `i`; null until it first counts here. A
    /// slot is tagged [`SLOW`] while its calls must leave the fast path (a limit, the tracking
    /// level; always while null), so that the fast path reads no mode. The last slot, for
    /// threads that hold no index, stays empty.
    slots: [AtomicPtr<CachePadded<Shard>>; SHARDS + 1],
    /// The shard of threads that hold no index, written only under `overflow_lock`.
    overflow: CachePadded<Shard>,
    overflow_lock: Mutex<()>,
    peaks: CachePadded<Peaks>,
    /// The limit and what is committed; held while the limit is switched, and by shards taking
    /// or giving back credit.
    limit: CachePadded<Mutex<Limit>>,
    /// [`Limit::spare`] of the limit in force, readable without the lock.
    spare: AtomicUsize,
}

/// The tag, in a slot's lowest address bit (a shard is aligned to 128), of a slot whose calls
/// take the slow path.
const SLOW: usize = 1;

/// An empty slot: null, and tagged [`SLOW`].
#[cfg(loom)]
fn empty() -> *mut CachePadded<Shard> {
    ptr::without_provenance_mut(SLOW)
}

/// `shard` tagged [`SLOW`], or not.
fn tagged(shard: *mut CachePadded<Shard>, slow: bool) -> *mut CachePadded<Shard> {
    shard.map_addr(|address| {
        if slow {
            address | SLOW
        } else {
            address & !SLOW
        }
    })
}

/// Whether a pointer from [`Shards::fast`] is a shard for the fast path (not tagged [`SLOW`]).
#[inline(always)]
pub(crate) fn is_fast(shard: *const Shard) -> bool {
    shard.addr() & SLOW == 0
}

/// The shard behind a pointer from [`Shards::fast`].
///
/// # Safety
///
/// - [`is_fast`] of `shard` is true;
/// - the `Shards` it came from is still borrowed for `'a`.
#[inline(always)]
pub(crate) unsafe fn fast_shard<'a>(shard: *const Shard) -> &'a Shard {
    debug_assert!(is_fast(shard));
    // SAFETY: an untagged slot holds a shard (a null slot is tagged), which lives as long as its
    // `Shards` (freed in `drop`), borrowed for `'a` by the caller's guarantee. `CachePadded` is
    // `repr(align)` around the shard alone, so a pointer to it is one to the shard.
    unsafe { &*shard }
}

/// Every slot empty.
#[cfg(not(loom))]
const fn slots() -> [AtomicPtr<CachePadded<Shard>>; SHARDS + 1] {
    [const { AtomicPtr::new(ptr::without_provenance_mut(SLOW)) }; SHARDS + 1]
}

/// Every slot empty (loom's atomics cannot be made in a `const`).
#[cfg(loom)]
fn slots() -> [AtomicPtr<CachePadded<Shard>>; SHARDS + 1] {
    core::array::from_fn(|_| AtomicPtr::new(empty()))
}

/// The shard a call counts in: the calling thread's own, or the overflow shard, whose lock each
/// count takes (never held across a call to the inner allocator).
pub(crate) struct Writer<'a> {
    shards: &'a Shards,
    shard: &'a Shard,
    overflow: bool,
}

impl Shards {
    const_fn_unless_loom! {
        /// No counts yet; `tracking` sends every call off the fast path for good.
        pub(crate) fn new(tracking: bool) -> Self {
            Self {
                mode: AtomicUsize::new(if tracking { TRACKING } else { UNLIMITED }),
                slots: slots(),
                overflow: CachePadded(Shard::new()),
                overflow_lock: Mutex::new(()),
                peaks: CachePadded(Peaks {
                    published_blocks: AtomicUsize::new(0),
                    published_bytes: AtomicUsize::new(0),
                    peak_blocks: AtomicUsize::new(0),
                    peak_bytes: AtomicUsize::new(0),
                }),
                limit: CachePadded(Mutex::new(Limit {
                    limit: usize::MAX,
                    committed: 0,
                })),
                spare: AtomicUsize::new(0),
            }
        }
    }

    /// The calling thread's slot: its index's, or the last (always empty) without one.
    #[inline(always)]
    fn slot(&self) -> &AtomicPtr<CachePadded<Shard>> {
        let index = index::current();
        debug_assert!(index <= SHARDS);
        // SAFETY: a thread's index is below `SHARDS`, or `SHARDS` for none (`index::current`),
        // and there are `SHARDS + 1` slots.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The calling thread's shard, tagged [`SLOW`] unless the call may take the fast path:
    /// counters only, no limit, and the thread has a shard here already. Two loads (the thread's
    /// index, its slot). See [`fast_shard`] for the untagged case.
    #[inline(always)]
    pub(crate) fn fast(&self) -> *const Shard {
        self.slot()
            .load(Ordering::Acquire)
            .cast::<Shard>()
            .cast_const()
    }

    /// The shared sums and peaks, which the fast path's counting takes.
    #[inline(always)]
    pub(crate) fn peaks(&self) -> &Peaks {
        &self.peaks
    }

    /// The mode word: the state bits ([`TRACKING`], ...) and the limit's epoch.
    #[inline(always)]
    pub(crate) fn mode(&self) -> usize {
        self.mode.load(Ordering::Relaxed)
    }

    /// The calling thread's shard, if it has one here, without making one.
    #[inline(always)]
    pub(crate) fn own(&self) -> Option<&Shard> {
        let shard = tagged(self.slot().load(Ordering::Acquire), false);
        // SAFETY: a non-null slot holds a shard that lives as long as `self`.
        unsafe { shard.as_ref() }.map(|padded| &padded.0)
    }

    /// The shard the calling thread counts in, made (and its index claimed) if need be; the
    /// overflow shard if the thread gets none.
    #[inline]
    pub(crate) fn writer(&self) -> Writer<'_> {
        match self.own().or_else(|| self.make_own()) {
            Some(shard) => Writer {
                shards: self,
                shard,
                overflow: false,
            },
            None => Writer {
                shards: self,
                shard: &self.overflow,
                overflow: true,
            },
        }
    }

    /// Claims an index for the calling thread if it has none, and makes its shard here.
    #[cold]
    fn make_own(&self) -> Option<&Shard> {
        let index = index::claim()?;
        let slot = &self.slots[index];
        if tagged(slot.load(Ordering::Acquire), false).is_null() {
            let shard = allocator_api2::boxed::Box::try_new_in(
                CachePadded(Shard::new()),
                Bookkeeping::default(),
            )
            .ok()?;
            let (raw, _) = allocator_api2::boxed::Box::into_raw_with_allocator(shard);
            // Only the holder of `index` stores into its slot, so the slot is still empty; the
            // limit's lock orders this with a switch, which tags every slot.
            let _switch = self.limit.lock();
            let slow = self.mode.load(Ordering::Relaxed) & STATE != UNLIMITED;
            slot.store(tagged(raw, slow), Ordering::Release);
        }
        // SAFETY: a shard is there now, and lives as long as `self`.
        unsafe { tagged(slot.load(Ordering::Acquire), false).as_ref() }.map(|padded| &padded.0)
    }

    /// Tags every shard's slot [`SLOW`], or not (under the limit's lock).
    fn tag_all(&self, slow: bool) {
        for slot in &self.slots[..SHARDS] {
            let shard = slot.load(Ordering::Relaxed);
            if !tagged(shard, false).is_null() {
                slot.store(tagged(shard, slow), Ordering::Release);
            }
        }
    }

    /// Every shard made so far, and the overflow shard (for the tracking level's searches).
    pub(crate) fn all(&self) -> impl Iterator<Item = &Shard> {
        self.slots
            .iter()
            .filter_map(|slot| {
                // SAFETY: as in `own`.
                unsafe { tagged(slot.load(Ordering::Acquire), false).as_ref() }
                    .map(|padded| &padded.0)
            })
            .chain([&self.overflow.0])
    }

    /// A snapshot of the counters (see the module docs for why it is consistent).
    pub(crate) fn snapshot(&self) -> Stats {
        let mut stats = Stats::default();
        // The rises first, with `Acquire`...
        for shard in self.all() {
            stats.allocations = stats
                .allocations
                .wrapping_add(shard.allocations.load(Ordering::Acquire));
            stats.grows = stats
                .grows
                .wrapping_add(shard.grows.load(Ordering::Acquire));
            stats.failures = stats
                .failures
                .wrapping_add(shard.failures.load(Ordering::Relaxed));
            stats.bytes_allocated = stats
                .bytes_allocated
                .wrapping_add(shard.bytes_allocated.load(Ordering::Acquire));
        }
        // ... then the falls, so that what is live is at most what was live at some moment in
        // between: every fall before a rise counted is counted too, and a fall counted whose rise
        // is not only makes the figure smaller (down to zero: no more is counted freed than
        // allocated).
        let mut deallocations = 0usize;
        let mut bytes_freed = 0usize;
        for shard in self.all() {
            deallocations = deallocations.wrapping_add(shard.deallocations.load(Ordering::Relaxed));
            stats.shrinks = stats
                .shrinks
                .wrapping_add(shard.shrinks.load(Ordering::Relaxed));
            bytes_freed = bytes_freed.wrapping_add(shard.bytes_freed.load(Ordering::Relaxed));
        }
        stats.live_blocks = clamp(stats.allocations.wrapping_sub(deallocations));
        stats.live_bytes = clamp(stats.bytes_allocated.wrapping_sub(bytes_freed));
        stats.deallocations = stats.allocations.wrapping_sub(stats.live_blocks);
        stats.bytes_freed = stats.bytes_allocated.wrapping_sub(stats.live_bytes);
        // What this snapshot shows live was live at some moment: a peak no later snapshot may
        // report below.
        self.peaks.raise(stats.live_blocks, stats.live_bytes);
        stats.peak_blocks =
            clamp(self.peaks.peak_blocks.load(Ordering::Relaxed)).max(stats.live_blocks);
        stats.peak_bytes =
            clamp(self.peaks.peak_bytes.load(Ordering::Relaxed)).max(stats.live_bytes);
        stats
    }

    /// The limit, if one is set.
    pub(crate) fn limit(&self) -> Option<usize> {
        let limit = self.limit.lock();
        (self.mode.load(Ordering::Relaxed) & LIMITED != 0).then_some(limit.limit)
    }

    /// Sets or lifts the limit (see the module docs for the switch).
    pub(crate) fn set_limit(&self, new: Option<usize>) {
        let mut limit = self.limit.lock();
        let mode = self.mode.load(Ordering::Relaxed);
        let Some(new) = new else {
            self.mode.store(mode & !LIMITED, Ordering::Release);
            if mode & TRACKING == 0 {
                self.tag_all(false);
            }
            return;
        };
        self.mode.store(mode | SWITCHING, Ordering::SeqCst);
        self.tag_all(true);
        // Ordered with the fence of a request spending credit meanwhile (see `reserve`).
        fence(Ordering::SeqCst);
        let mut live = 0usize;
        for shard in self.all() {
            let base = shard.held();
            shard.limit_base.store(base, Ordering::Relaxed);
            live = live.wrapping_add(base);
        }
        limit.limit = new;
        limit.committed = live;
        self.spare.store(limit.spare(), Ordering::Relaxed);
        let epoch = (mode >> EPOCH).wrapping_add(1);
        self.mode.store(
            epoch << EPOCH | (mode & TRACKING) | LIMITED,
            Ordering::Release,
        );
    }
}

impl<'a> Writer<'a> {
    /// The table this call records blocks in (its shard's; only the table's lock guards it).
    #[inline]
    pub(crate) fn table(&self) -> &'a Mutex<Live> {
        &self.shard.live
    }

    /// The shard this call counts in.
    #[inline]
    pub(crate) fn shard(&self) -> &'a Shard {
        self.shard
    }

    /// Runs `f` as the shard's one writer: under the overflow lock for the overflow shard.
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&Shard) -> R) -> R {
        if self.overflow {
            let _writing = self.shards.overflow_lock.lock();
            f(self.shard)
        } else {
            f(self.shard)
        }
    }

    /// Whether a limit is set, or being set (one load).
    #[inline(always)]
    fn limited(&self) -> bool {
        self.shards.mode.load(Ordering::Relaxed) & (LIMITED | SWITCHING) != 0
    }

    /// Counts an allocation of `size` bytes, made under `reservation`.
    #[inline]
    pub(crate) fn allocated(&self, size: usize, reservation: Reservation) {
        self.with(|shard| {
            shard.allocated(&self.shards.peaks, size);
            shard.landed(&reservation);
        });
    }

    /// Counts a free of `size` bytes, giving them back to the limit first.
    #[inline]
    pub(crate) fn freed(&self, size: usize) {
        self.with(|shard| {
            if self.limited() {
                self.shards.fall(shard, self.overflow, size);
            }
            shard.freed(&self.shards.peaks, size);
        });
    }

    /// Counts a grow or shrink from `from` bytes to `to`, made under `reservation`, giving a
    /// fall back to the limit first.
    #[inline]
    pub(crate) fn resized(&self, grow: bool, from: usize, to: usize, reservation: Reservation) {
        self.with(|shard| {
            if to < from && self.limited() {
                self.shards.fall(shard, self.overflow, from - to);
            }
            shard.resized(&self.shards.peaks, grow, from, to);
            shard.landed(&reservation);
        });
    }

    /// Before a request that adds `extra` bytes: spends credit for them if a limit is set.
    /// `Err` (with the failure counted) if the limit cannot cover them.
    #[inline]
    pub(crate) fn reserve(&self, extra: usize) -> Result<Reservation, AllocError> {
        if !self.limited() || extra == 0 {
            return Ok(Reservation { bytes: 0, epoch: 0 });
        }
        self.with(|shard| self.shards.reserve(shard, self.overflow, extra))
    }

    /// Gives back the credit of a request the inner allocator refused, and counts the failure.
    pub(crate) fn refused(&self, reservation: Reservation) {
        self.with(|shard| {
            shard.failed();
            shard.landed(&reservation);
            if reservation.bytes != 0
                && self.shards.join(shard, self.overflow) == Some(reservation.epoch)
            {
                self.shards
                    .refill(shard, self.overflow, reservation.bytes, reservation.epoch);
            }
        });
    }
}

impl Shards {
    /// The epoch of the limit in force, with `shard` (whose writer calls) having joined it (see
    /// the module docs) and waited out a switch; `None` without a limit.
    fn join(&self, shard: &Shard, overflow: bool) -> Option<usize> {
        // The overflow shard's writers take turns under its lock, and its credit is theirs.
        let holder = if overflow { 0 } else { index::holder() };
        loop {
            let mode = self.mode.load(Ordering::Acquire);
            if mode & SWITCHING != 0 {
                drop(self.limit.lock());
                continue;
            }
            if mode & LIMITED == 0 {
                return None;
            }
            let epoch = mode >> EPOCH;
            if shard.limit_epoch.load(Ordering::Relaxed) == epoch
                && shard.limit_holder.load(Ordering::Relaxed) == holder
            {
                return Some(epoch);
            }
            let mut limit = self.limit.lock();
            if self.mode.load(Ordering::Relaxed) != mode {
                continue; // switched again meanwhile
            }
            Self::settle_limit(&mut limit, shard, epoch);
            shard.limit_holder.store(holder, Ordering::Relaxed);
            return Some(epoch);
        }
    }

    /// [`Writer::reserve`] under a limit, by `shard`'s writer.
    #[inline(never)]
    fn reserve(
        &self,
        shard: &Shard,
        overflow: bool,
        extra: usize,
    ) -> Result<Reservation, AllocError> {
        loop {
            let Some(epoch) = self.join(shard, overflow) else {
                return Ok(Reservation { bytes: 0, epoch: 0 });
            };
            let credit = shard.credit.load(Ordering::Relaxed);
            let pending = shard.pending.load(Ordering::Relaxed);
            if let Some(left) = credit.checked_sub(extra) {
                shard.credit.store(left, Ordering::Relaxed);
                shard
                    .pending
                    .store(pending.wrapping_add(extra), Ordering::Relaxed);
                // A switch that began meanwhile either sees this request in `pending` (its
                // fence and this one order the two), or this thread sees the switch and goes
                // around to join the new epoch, with its credit (of the old one) untouched.
                fence(Ordering::SeqCst);
                let now = self.mode.load(Ordering::Relaxed);
                if now & SWITCHING != 0 || now >> EPOCH != epoch {
                    shard.credit.store(credit, Ordering::Relaxed);
                    shard.pending.store(pending, Ordering::Relaxed);
                    continue;
                }
                return Ok(Reservation {
                    bytes: extra,
                    epoch,
                });
            }
            let mut limit = self.limit.lock();
            if self.mode.load(Ordering::Relaxed) >> EPOCH != epoch {
                continue; // switched meanwhile: join the new epoch
            }
            let short = extra - credit;
            self.catch_up(&mut limit, epoch);
            let available = limit.available();
            if available < short {
                drop(limit);
                shard.failed();
                return Err(AllocError);
            }
            // The overflow shard takes no spare: see `refill`.
            let spare = if overflow { 0 } else { limit.spare() };
            let take = available.min(short.saturating_add(spare));
            limit.committed = limit.committed.wrapping_add(take);
            shard.credit.store(credit + take - extra, Ordering::Relaxed);
            shard
                .pending
                .store(pending.wrapping_add(extra), Ordering::Relaxed);
            return Ok(Reservation {
                bytes: extra,
                epoch,
            });
        }
    }

    /// Brings `shard` into the limit's `epoch` (under the limit's lock): commits what it holds now
    /// in place of what the switch read (its live bytes then, if it never joined this epoch) or
    /// of its credit (if it did, and so gives the credit back).
    fn settle_limit(limit: &mut Limit, shard: &Shard, epoch: usize) {
        let counted = if shard.limit_epoch.load(Ordering::Relaxed) == epoch {
            shard
                .held()
                .wrapping_add(shard.credit.load(Ordering::Relaxed))
        } else {
            shard.limit_base.load(Ordering::Relaxed)
        };
        limit.committed = limit
            .committed
            .wrapping_sub(counted)
            .wrapping_add(shard.held());
        shard.credit.store(0, Ordering::Relaxed);
        shard.limit_epoch.store(epoch, Ordering::Relaxed);
    }

    /// Catches what is committed up with what the shards hold (under the limit's lock, before
    /// credit is taken): a shard whose index no thread holds is settled (its credit comes back,
    /// and what its last calls did is committed), held meanwhile so that no thread takes it; a
    /// shard whose index another thread holds than the one that joined has its credit taken
    /// back (reading the holder's number with `Acquire` makes the last holder's writes to the
    /// credit, made with no lock, visible here; the new holder touches it only after joining,
    /// under this lock); a shard that has not joined `epoch` yet has what it did since the switch committed (and its
    /// base moved on), so that a call that raced the switch counts now, not at its thread's next
    /// call, which may never come.
    fn catch_up(&self, limit: &mut Limit, epoch: usize) {
        for (index, slot) in self.slots[..SHARDS].iter().enumerate() {
            // SAFETY: as in `own`.
            let Some(shard) = (unsafe { tagged(slot.load(Ordering::Acquire), false).as_ref() })
            else {
                continue;
            };
            let shard = &shard.0;
            let mut idle = false;
            index::while_idle(index, || {
                idle = true;
                Self::settle_limit(limit, shard, epoch);
            });
            if idle {
                continue;
            }
            if shard.limit_epoch.load(Ordering::Relaxed) == epoch
                && shard.limit_holder.load(Ordering::Relaxed) != index::holder_of(index)
            {
                // Joined by a holder that has left: the index's holder now (busy elsewhere,
                // perhaps for good) must join anew, under this lock, before it touches the
                // credit. Its live bytes stay committed as they are.
                let credit = shard.credit.load(Ordering::Relaxed);
                limit.committed = limit.committed.wrapping_sub(credit);
                shard.credit.store(0, Ordering::Relaxed);
            } else {
                Self::rebase(limit, shard, epoch);
            }
        }
        // The overflow shard keeps no credit between calls (see `refill`).
        Self::rebase(limit, &self.overflow, epoch);
    }

    /// Commits what `shard` did since the switch read it, if it has not joined `epoch` (under
    /// the limit's lock; its writer joins only under it too, so that the two never race).
    fn rebase(limit: &mut Limit, shard: &Shard, epoch: usize) {
        if shard.limit_epoch.load(Ordering::Relaxed) != epoch {
            let held = shard.held();
            let base = shard.limit_base.load(Ordering::Relaxed);
            limit.committed = limit.committed.wrapping_add(held.wrapping_sub(base));
            shard.limit_base.store(held, Ordering::Relaxed);
        }
    }

    /// Before a fall of `bytes` is counted in `shard`: refills its credit with them if a limit
    /// is set.
    #[inline(never)]
    fn fall(&self, shard: &Shard, overflow: bool, bytes: usize) {
        if let Some(epoch) = self.join(shard, overflow) {
            self.refill(shard, overflow, bytes, epoch);
        }
    }

    /// Adds `bytes` to `shard`'s credit of `epoch`, giving what passes twice the spare credit
    /// back (no longer committed).
    ///
    /// The overflow shard gives all of it back: its writers are whichever threads hold no index
    /// at the moment, so no one could tell when credit left there would be used again, and it
    /// would refuse other threads' requests early for good. (Its calls take the overflow lock
    /// anyway; the limit's lock costs them little more.)
    fn refill(&self, shard: &Shard, overflow: bool, bytes: usize, epoch: usize) {
        let credit = shard.credit.load(Ordering::Relaxed).saturating_add(bytes);
        if credit <= 2 * self.spare.load(Ordering::Relaxed) && !overflow {
            shard.credit.store(credit, Ordering::Relaxed);
            return;
        }
        let mut limit = self.limit.lock();
        if self.mode.load(Ordering::Relaxed) >> EPOCH == epoch {
            let keep = if overflow { 0 } else { limit.spare() };
            limit.committed = limit.committed.wrapping_sub(credit - keep);
            shard.credit.store(keep, Ordering::Relaxed);
        }
    }
}

/// Credit spent for one request, in the limit epoch it came from (no bytes without a limit).
#[must_use = "give the credit back with `Writer::refused` if the request fails"]
pub(crate) struct Reservation {
    bytes: usize,
    epoch: usize,
}

impl Drop for Shards {
    fn drop(&mut self) {
        for slot in &self.slots {
            if let Some(shard) = NonNull::new(tagged(slot.load(Ordering::Relaxed), false)) {
                // SAFETY: made by `make_own` with `Box::into_raw_with_allocator` on
                // `Bookkeeping`, and freed only here, once.
                drop(unsafe {
                    allocator_api2::boxed::Box::from_raw_in(shard.as_ptr(), Bookkeeping::default())
                });
            }
        }
    }
}

#[cfg(all(test, loom))]
impl Shards {
    /// The limit's bookkeeping adds up: what is committed is, for every shard that joined the
    /// limit's epoch, its live bytes and credit, and for every other, its live bytes as the
    /// switch read them (its changes since are counted when it joins). Call with no other
    /// thread working.
    pub(crate) fn check_limit(&self) {
        let limit = self.limit.lock();
        let mode = self.mode.load(Ordering::Relaxed);
        if mode & LIMITED == 0 {
            return;
        }
        let epoch = mode >> EPOCH;
        let mut expected = 0usize;
        for shard in self.all() {
            if shard.limit_epoch.load(Ordering::Relaxed) == epoch {
                expected = expected
                    .wrapping_add(shard.held())
                    .wrapping_add(shard.credit.load(Ordering::Relaxed));
            } else {
                expected = expected.wrapping_add(shard.limit_base.load(Ordering::Relaxed));
            }
        }
        assert_eq!(limit.committed, expected, "committed against the limit");
    }
}
