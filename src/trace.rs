//! `Trace`: an adaptor that counts, and optionally records, everything that passes through any
//! allocator: statistics, peak, a leak report, misuse detection and backtraces.
//!
//! What it is: `Trace<A>` wraps any `A: Allocator` and is an allocator itself, so it nests with
//! the other strategies (`Trace<&Arena>`, `Trace<&Slab>`, a `&Trace<Platform>` shared by many
//! maps) and, wrapped around [`std::alloc::System`], can be the program's `#[global_allocator]`.
//! The C design's `mem_create_trace_allocator(inner)`, `mem_check_leaks` and `mem_format_stats`
//! are [`Trace::new`], [`Trace::check_leaks`] and [`Trace::stats`].
//!
//! It works at one of two [`Level`]s, chosen when it is made:
//!
//! - [`Level::Counters`] ([`Trace::new`]): counts allocations, frees, grows, shrinks, failures and
//!   bytes, with live and peak figures. Cheap enough to leave on in production: the first thread
//!   to allocate through a trace owns a set of counters that it updates with plain loads and
//!   stores, no atomic read-modify-write (a few nanoseconds per call; its peaks are worked out at
//!   the first free after a run of allocations, not at each one); other threads, and that
//!   thread's allocations and resizes while a [limit](Trace::set_limit) is set, take one
//!   uncontended lock (an atomic swap and a store) around a few additions. A snapshot adds the
//!   two sides up.
//! - [`Level::Tracking`] ([`Trace::with_tracking`]): also records every live block (address, size,
//!   alignment, block length, and optionally a backtrace) in a hash table. This is what lists
//!   leaks, and what catches misuse: freeing, growing or shrinking a pointer that is not live
//!   (a double free, or a pointer from another allocator), or with a layout that does not fit the
//!   block, panics with a message naming the address, the recorded layout and the given one, and
//!   the inner allocator never sees the bad request. It costs one hash-table insert or remove per
//!   call under the lock, and 16 bytes of table per live block (hashbrown's load factor adds up to
//!   a factor of two); plus a backtrace capture (microseconds) per allocation when
//!   [backtraces are on](Trace::set_backtraces), kept in a second table.
//!
//! What it never does: change what the inner allocator hands out (blocks, their lengths and
//! failures pass through untouched), or allocate its own bookkeeping through the allocator it
//! traces. The live-block table comes from [`std::alloc::System`] (or, without `std`, the global
//! allocator), so a tracing global allocator never recurses into itself.
//!
//! Zero-sized blocks own no memory: `Trace` serves them itself with a dangling, aligned pointer,
//! as std's `Global` does, and counts nothing for them.
//!
//! A block "fits" a layout, as the `Allocator` contract says, when the alignment is the one it was
//! allocated with and the size lies between the requested size and the length `allocate`
//! returned: hashbrown frees with that larger length when an allocator (a [`Slab`](crate::Slab))
//! hands out more than it asked for. At the counters level, byte counts follow the sizes the
//! callers pass, so such a free counts the extra bytes too; block counts are always exact, and at
//! the tracking level so are byte counts.
//!
//! `Trace<A>` is `Sync` whenever `A` is: threads may allocate through one `&Trace` at once, and its
//! counts are exact after they join.

use core::alloc::GlobalAlloc;
use core::fmt;
use core::hash::{BuildHasher, Hasher};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::lock::{Guard, Lock};
use fast::{Fast, signed};
use live::{Live, Record};

mod fast;
mod live;

use crate::units::Bytes;
use crate::{AllocError, Allocator, Layout};

/// Where `Trace` keeps its own bookkeeping: never the allocator it traces, and never the global
/// allocator when `std` is there (a tracing global allocator must not call itself).
#[cfg(feature = "std")]
type Bookkeeping = std::alloc::System;
#[cfg(not(feature = "std"))]
type Bookkeeping = allocator_api2::alloc::Global;

/// A captured backtrace, shared so that a leak report can hold it without copying.
#[cfg(feature = "std")]
type Backtrace = std::sync::Arc<std::backtrace::Backtrace>;
/// Without `std` there are no backtraces: a type with no values (so `Option<Backtrace>` is always
/// `None`, and takes no room).
#[cfg(not(feature = "std"))]
type Backtrace = core::convert::Infallible;

/// How much a [`Trace`] records.
///
/// # Examples
///
/// ```
/// use allockit::trace::Level;
/// use allockit::{Platform, Trace};
///
/// // Counters in release builds, records (leak lists, misuse checks) in debug builds.
/// let level = if cfg!(debug_assertions) { Level::Tracking } else { Level::Counters };
/// let trace = Trace::with_level(Platform, level);
/// assert_eq!(trace.level(), level);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// Counters only: what [`Trace::new`] makes.
    Counters,
    /// Counters, and a record of every live block, which lists leaks and catches misuse: what
    /// [`Trace::with_tracking`] makes.
    Tracking,
}

/// An allocator adaptor that counts, and at [`Level::Tracking`] records, every request to its
/// inner allocator.
///
/// See the [module documentation](crate::trace) for the two levels and what they cost.
///
/// # Examples
///
/// ```
/// use allockit::{HashMap, Platform, Trace};
///
/// let trace = Trace::new(Platform);
/// let mut map = HashMap::new_in(&trace);
/// map.insert(1, 2);
/// drop(map);
/// trace.check_leaks().unwrap();
/// println!("{}", trace.stats());
/// ```
pub struct Trace<A> {
    /// The allocator every non-zero-sized request goes to.
    inner: A,
    /// Fixed at construction.
    level: Level,
    /// Whether allocations capture a backtrace (tracking level only).
    #[cfg(feature = "std")]
    backtraces: AtomicBool,
    /// The counters and the live set. The lock is held only for bookkeeping, never while the inner
    /// allocator runs or while something that may allocate through the global allocator runs.
    state: Lock<State>,
    /// The counters of the thread that allocates first, which it updates without the lock (see
    /// `trace/fast.rs`): used at the counters level while no limit is set.
    fast: Fast,
    /// Whether a limit is set: a tracking trace then counts each allocation before the inner
    /// call, where the limit is checked, instead of after it together with the record.
    limited: AtomicBool,
    /// The locked side's live blocks and bytes (wrapping), published after every locked update so
    /// that the fast side can compute peaks over both.
    locked_live: (AtomicUsize, AtomicUsize),
}

/// Everything `Trace` keeps under its lock.
struct State {
    /// The locked side's counters. Its `live_*` figures are this side's alone and wrapping (a
    /// block allocated on the fast side may be freed here); its peaks are over both sides.
    stats: Stats,
    /// The most live bytes allowed (`usize::MAX`: no limit).
    limit: usize,
    /// At the tracking level, one record per live non-zero-sized block, keyed by address; empty
    /// at the counters level.
    live: Live,
    /// The most recent frees (tracking level), so that a double free can name what the block
    /// was: `(address, size, align)`, in a ring.
    freed: [(usize, usize, usize); FREED_HISTORY],
    /// Where the next entry of `freed` goes.
    freed_next: usize,
}

/// How many recent frees a tracking `Trace` remembers for its double-free messages.
const FREED_HISTORY: usize = 32;

/// A snapshot of a [`Trace`]'s counters, from [`Trace::stats`]. It is consistent
/// (`live = allocated - freed`, `peak >= live`) even while other threads allocate, and exact
/// once they have joined. A peak is the most that was live at the end of some call; when calls
/// overlap in time, it may miss what overlapping calls held at the same moment.
///
/// Zero-sized requests are not counted. Grows and shrinks are counted apart from allocations and
/// frees; their change in size goes into `bytes_allocated` or `bytes_freed`.
///
/// `Display` prints a table with KiB/MiB units: the C design's `mem_format_stats`.
///
/// # Examples
///
/// ```
/// use allockit::{Platform, Trace, Vec};
///
/// let trace = Trace::new(Platform);
/// let mut v: Vec<u64, _> = Vec::with_capacity_in(4, &trace);
/// v.extend([1, 2, 3, 4, 5]); // one grow, from 32 to 64 bytes
/// let stats = trace.stats();
/// assert_eq!((stats.allocations, stats.grows, stats.live_blocks), (1, 1, 1));
/// assert_eq!((stats.bytes_allocated, stats.live_bytes), (64, 64));
/// println!("{stats}");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Successful allocations (`allocate`, `allocate_zeroed`).
    pub allocations: usize,
    /// Deallocations.
    pub deallocations: usize,
    /// Successful grows (`grow`, `grow_zeroed`).
    pub grows: usize,
    /// Successful shrinks.
    pub shrinks: usize,
    /// Requests refused, by the inner allocator or by the trace's [limit](Trace::set_limit)
    /// (allocations, grows and shrinks).
    pub failures: usize,
    /// Bytes requested by allocations, plus what grows added.
    pub bytes_allocated: usize,
    /// Bytes given back by deallocations, plus what shrinks took off.
    pub bytes_freed: usize,
    /// Blocks allocated and not yet freed: `allocations - deallocations`.
    pub live_blocks: usize,
    /// Bytes in live blocks: `bytes_allocated - bytes_freed`.
    pub live_bytes: usize,
    /// The most blocks live at once.
    pub peak_blocks: usize,
    /// The most bytes live at once.
    pub peak_bytes: usize,
}

impl Stats {
    const ZERO: Self = Self {
        allocations: 0,
        deallocations: 0,
        grows: 0,
        shrinks: 0,
        failures: 0,
        bytes_allocated: 0,
        bytes_freed: 0,
        live_blocks: 0,
        live_bytes: 0,
        peak_blocks: 0,
        peak_bytes: 0,
    };

    /// What happened between `earlier` and this snapshot: the counts of events (allocations,
    /// deallocations, grows, shrinks, failures, bytes allocated and freed) are differences; the
    /// live and peak figures are this snapshot's.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{HashMap, Platform, Trace};
    ///
    /// let trace = Trace::new(Platform);
    /// let _warm_up = allocator_api2::boxed::Box::new_in(0u8, &trace);
    /// let before = trace.stats();
    /// let mut map = HashMap::new_in(&trace);
    /// map.insert(1, 1);
    /// let region = trace.stats().since(&before);
    /// assert_eq!(region.allocations, 1);
    /// assert_eq!(region.live_blocks, 2); // the map's table and the warm-up box
    /// ```
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            allocations: self.allocations.wrapping_sub(earlier.allocations),
            deallocations: self.deallocations.wrapping_sub(earlier.deallocations),
            grows: self.grows.wrapping_sub(earlier.grows),
            shrinks: self.shrinks.wrapping_sub(earlier.shrinks),
            failures: self.failures.wrapping_sub(earlier.failures),
            bytes_allocated: self.bytes_allocated.wrapping_sub(earlier.bytes_allocated),
            bytes_freed: self.bytes_freed.wrapping_sub(earlier.bytes_freed),
            ..*self
        }
    }

    #[inline]
    fn note_allocation(&mut self, size: usize, other: (usize, usize)) {
        self.allocations += 1;
        self.live_blocks = self.live_blocks.wrapping_add(1);
        self.note_growth(size, other);
    }

    /// A free of `size` bytes; `other` as for `note_shrinkage`, which raises the peaks before
    /// the block leaves the live count.
    #[inline]
    fn note_deallocation(&mut self, size: usize, other: (usize, usize)) {
        self.note_shrinkage(size, other);
        self.deallocations += 1;
        self.live_blocks = self.live_blocks.wrapping_sub(1);
    }

    #[inline]
    fn note_growth(&mut self, bytes: usize, other: (usize, usize)) {
        self.bytes_allocated = self.bytes_allocated.wrapping_add(bytes);
        self.live_bytes = self.live_bytes.wrapping_add(bytes);
        self.raise_peaks(other);
    }

    /// A fall of `bytes` live bytes. The peaks are raised first, to what was live on both sides
    /// before it (`other`: the fast side's figures), since the fast side leaves the peak of a
    /// run of its allocations for the next fall to raise.
    #[inline]
    fn note_shrinkage(&mut self, bytes: usize, other: (usize, usize)) {
        self.raise_peaks(other);
        self.bytes_freed = self.bytes_freed.wrapping_add(bytes);
        self.live_bytes = self.live_bytes.wrapping_sub(bytes);
    }

    /// Raises the peaks to this side's live figures plus `other`, the other side's.
    #[inline]
    fn raise_peaks(&mut self, other: (usize, usize)) {
        let blocks = self.live_blocks.wrapping_add(other.0);
        if signed(blocks) > signed(self.peak_blocks) {
            self.peak_blocks = blocks;
        }
        let bytes = self.live_bytes.wrapping_add(other.1);
        if signed(bytes) > signed(self.peak_bytes) {
            self.peak_bytes = bytes;
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<10} {:>10} {:>12}", "", "blocks", "bytes")?;
        let rows = [
            ("allocated", self.allocations, self.bytes_allocated),
            ("freed", self.deallocations, self.bytes_freed),
            ("live", self.live_blocks, self.live_bytes),
            ("peak", self.peak_blocks, self.peak_bytes),
        ];
        for (name, blocks, bytes) in rows {
            writeln!(f, "{name:<10} {blocks:>10} {:>12}", Bytes(bytes))?;
        }
        write!(
            f,
            "{} grows, {} shrinks, {} failed requests",
            self.grows, self.shrinks, self.failures
        )
    }
}

impl<A> Trace<A> {
    /// A trace at [`Level::Counters`] around `inner`. `const`, so it can initialise a `static`
    /// (a global allocator).
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, Box, Trace};
    ///
    /// let arena = Arena::new();
    /// let trace = Trace::new(&arena);
    /// let b = Box::new_in(7u32, &trace);
    /// assert_eq!(trace.stats().live_bytes, 4);
    /// drop(b);
    /// assert_eq!(trace.stats().live_bytes, 0);
    /// ```
    pub const fn new(inner: A) -> Self {
        Self::with_level(inner, Level::Counters)
    }

    /// A trace at [`Level::Tracking`] around `inner`: it records every live block, so that
    /// [`check_leaks`](Self::check_leaks) lists them and misuse panics. `const`, like `new`.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Allocator, Layout, Platform, Trace};
    ///
    /// let trace = Trace::with_tracking(Platform);
    /// let leaked = trace.allocate(Layout::new::<[u8; 24]>())?;
    /// let report = trace.check_leaks().unwrap_err();
    /// assert_eq!(report.blocks().len(), 1);
    /// assert_eq!(report.blocks()[0].address, leaked.cast::<u8>().as_ptr().addr());
    /// println!("{report}");
    /// # unsafe { trace.deallocate(leaked.cast(), Layout::new::<[u8; 24]>()) };
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub const fn with_tracking(inner: A) -> Self {
        Self::with_level(inner, Level::Tracking)
    }

    /// A trace at `level` around `inner`.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{trace::Level, Platform, Trace};
    ///
    /// let level = if cfg!(debug_assertions) { Level::Tracking } else { Level::Counters };
    /// let trace = Trace::with_level(Platform, level);
    /// assert_eq!(trace.level(), level);
    /// ```
    pub const fn with_level(inner: A, level: Level) -> Self {
        Self {
            inner,
            level,
            #[cfg(feature = "std")]
            backtraces: AtomicBool::new(false),
            state: Lock::new(State {
                stats: Stats::ZERO,
                limit: usize::MAX,
                live: Live::new(),
                freed: [(0, 0, 0); FREED_HISTORY],
                freed_next: 0,
            }),
            fast: Fast::new(matches!(level, Level::Counters)),
            limited: AtomicBool::new(false),
            locked_live: (AtomicUsize::new(0), AtomicUsize::new(0)),
        }
    }

    /// The level this trace was made with.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{trace::Level, Platform, Trace};
    ///
    /// assert_eq!(Trace::new(Platform).level(), Level::Counters);
    /// ```
    pub fn level(&self) -> Level {
        self.level
    }

    /// Turns backtrace capture on or off for the allocations that follow (off at first). Only a
    /// tracking trace captures them; they appear in leak reports and misuse panics. A capture
    /// takes microseconds, so this is for hunting a leak, not for production.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Allocator, Layout, Platform, Trace};
    ///
    /// let trace = Trace::with_tracking(Platform);
    /// trace.set_backtraces(true);
    /// let block = trace.allocate(Layout::new::<u64>())?;
    /// let report = trace.check_leaks().unwrap_err();
    /// assert!(report.blocks()[0].backtrace().is_some());
    /// # unsafe { trace.deallocate(block.cast(), Layout::new::<u64>()) };
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[cfg(feature = "std")]
    pub fn set_backtraces(&self, on: bool) {
        self.backtraces.store(on, Ordering::Relaxed);
    }

    /// Caps the live bytes: a request that would take them past `limit` is refused with
    /// [`AllocError`] before it reaches the inner allocator, and counted as a failure. `None`
    /// lifts the cap. Lowering it below what is live refuses new requests until enough is freed;
    /// nothing live is touched. Live bytes are counted as the module docs say, so at the tracking
    /// level the cap is exact.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{HashMap, Platform, Trace};
    ///
    /// let trace = Trace::new(Platform);
    /// trace.set_limit(Some(1024));
    /// let mut map: HashMap<u64, u64, _> = HashMap::new_in(&trace);
    /// assert!(map.try_reserve(10).is_ok());
    /// assert!(map.try_reserve(1000).is_err()); // a table of 1000 entries needs more than 1 KiB
    /// assert_eq!(trace.stats().failures, 1);
    /// trace.set_limit(None);
    /// assert!(map.try_reserve(1000).is_ok());
    /// ```
    pub fn set_limit(&self, limit: Option<usize>) {
        let mut state = self.state.lock();
        state.limit = limit.unwrap_or(usize::MAX);
        self.limited.store(limit.is_some(), Ordering::Relaxed);
        if self.level == Level::Counters {
            // With a limit every allocation and resize goes through the lock, where the limit is
            // checked. (The owner's frees need no check, and stay on the fast path.)
            self.fast.set_open(limit.is_none());
        }
    }

    /// The cap on live bytes, if one is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let trace = allockit::Trace::new(allockit::Platform);
    /// assert_eq!(trace.limit(), None);
    /// trace.set_limit(Some(4096));
    /// assert_eq!(trace.limit(), Some(4096));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        match self.state.lock().limit {
            usize::MAX => None,
            limit => Some(limit),
        }
    }

    /// The inner allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, Trace};
    ///
    /// let trace = Trace::new(Arena::new());
    /// assert_eq!(trace.inner().stats().used, 0);
    /// ```
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Unwraps the inner allocator, dropping the trace's records.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, Trace};
    ///
    /// let arena: Arena = Trace::new(Arena::new()).into_inner();
    /// # drop(arena);
    /// ```
    pub fn into_inner(self) -> A {
        self.inner
    }

    /// A consistent snapshot of the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Platform, Trace};
    ///
    /// let trace = Trace::new(Platform);
    /// let a = Box::new_in([0u8; 100], &trace);
    /// drop(a);
    /// let stats = trace.stats();
    /// assert_eq!((stats.allocations, stats.deallocations, stats.peak_bytes), (1, 1, 100));
    /// ```
    pub fn stats(&self) -> Stats {
        let locked = self.state.lock().stats;
        self.fast.add_to(&locked)
    }

    /// `Ok(())` if no block is live, else a [`LeakReport`] of what is: at the tracking level every
    /// live block (address, size, alignment, backtrace), in address order; at the counters level
    /// the totals only. The C design's `mem_check_leaks`.
    ///
    /// # Errors
    ///
    /// A [`LeakReport`] when any block allocated through the trace is still live.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Platform, Trace};
    ///
    /// let trace = Trace::with_tracking(Platform);
    /// let kept = Box::new_in(1u64, &trace);
    /// let report = trace.check_leaks().unwrap_err();
    /// assert_eq!((report.live_blocks(), report.live_bytes()), (1, 8));
    /// drop(kept);
    /// assert!(trace.check_leaks().is_ok());
    /// ```
    pub fn check_leaks(&self) -> Result<(), LeakReport> {
        let mut blocks = allocator_api2::vec::Vec::new_in(Bookkeeping {});
        let (stats, listed) = loop {
            // The list is reserved outside the lock: allocating under it could wait forever on
            // this very lock (with `std`, `System` never comes back here, but keep the rule).
            let wanted = self.state.lock().live.len();
            if blocks.try_reserve(wanted).is_err() {
                break (self.stats(), false);
            }
            let state = self.state.lock();
            if state.live.len() <= blocks.capacity() {
                for (address, record, backtrace) in state.live.iter() {
                    #[cfg(not(feature = "std"))]
                    let _ = backtrace;
                    blocks.push(LeakedBlock {
                        address,
                        size: record.size(),
                        align: record.align(),
                        #[cfg(feature = "std")]
                        backtrace,
                    });
                }
                break (
                    self.fast.add_to(&state.stats),
                    self.level == Level::Tracking,
                );
            }
        };
        if stats.live_blocks == 0 {
            return Ok(());
        }
        blocks.sort_unstable_by_key(|b| b.address);
        Err(LeakReport {
            stats,
            blocks,
            listed,
        })
    }

    /// The locked side's live blocks and bytes as last published.
    #[inline(always)]
    fn locked_live(&self) -> (usize, usize) {
        (
            self.locked_live.0.load(Ordering::Relaxed),
            self.locked_live.1.load(Ordering::Relaxed),
        )
    }

    /// Publishes the locked side's live figures (called with the lock held).
    #[inline(always)]
    fn publish(&self, stats: &Stats) {
        self.locked_live
            .0
            .store(stats.live_blocks, Ordering::Relaxed);
        self.locked_live
            .1
            .store(stats.live_bytes, Ordering::Relaxed);
    }

    /// Counts a request for `extra` more bytes before it goes to the inner allocator, or refuses
    /// it (counting a failure) if it would take the live bytes past the limit. Counting first
    /// keeps the limit exact under threads with one lock per call; [`unreserve`](Self::unreserve)
    /// takes the count back if the inner allocator then fails.
    #[inline]
    fn reserve(&self, extra: usize, event: Event) -> Result<Undo, AllocError> {
        let mut state = self.state.lock();
        let other = self.fast.net();
        let live = fast::clamp(state.stats.live_bytes.wrapping_add(other.1));
        if live.saturating_add(extra) > state.limit {
            state.stats.failures += 1;
            return Err(AllocError);
        }
        let undo = Undo {
            extra,
            event,
            peak_blocks: state.stats.peak_blocks,
            peak_bytes: state.stats.peak_bytes,
        };
        match event {
            Event::Allocation => state.stats.note_allocation(extra, other),
            Event::Grow => {
                state.stats.grows += 1;
                state.stats.note_growth(extra, other);
            }
        }
        self.publish(&state.stats);
        Ok(undo)
    }

    /// Takes back what [`reserve`](Self::reserve) counted, and counts the failure instead.
    #[cold]
    fn unreserve(&self, undo: Undo) {
        let mut state = self.state.lock();
        let stats = &mut state.stats;
        match undo.event {
            Event::Allocation => {
                stats.allocations -= 1;
                stats.live_blocks = stats.live_blocks.wrapping_sub(1);
            }
            Event::Grow => stats.grows -= 1,
        }
        stats.bytes_allocated = stats.bytes_allocated.wrapping_sub(undo.extra);
        stats.live_bytes = stats.live_bytes.wrapping_sub(undo.extra);
        // The peaks the reservation raised come back down, unless other calls since need them.
        let other = self.fast.net();
        stats.peak_blocks = undo.peak_blocks;
        stats.peak_bytes = undo.peak_bytes;
        stats.raise_peaks(other);
        stats.failures += 1;
        let stats = *stats;
        self.publish(&stats);
    }

    /// At the tracking level without a limit: counts the outcome of an allocation and records
    /// the new block, under one lock.
    #[inline]
    fn count_and_record(
        &self,
        result: Result<NonNull<[u8]>, AllocError>,
        layout: Layout,
        backtrace: Option<Backtrace>,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let mut state = self.state.lock();
        let Ok(block) = result else {
            state.stats.failures += 1;
            return result;
        };
        state.stats.note_allocation(layout.size(), self.fast.net());
        self.publish(&state.stats);
        let record = Record::new(layout.size(), block.len(), layout.align());
        insert_live(state, block, record, backtrace);
        Ok(block)
    }

    /// At the tracking level, records a new block (already counted).
    #[inline]
    fn record(&self, block: NonNull<[u8]>, layout: Layout, backtrace: Option<Backtrace>) {
        if self.level != Level::Tracking {
            return;
        }
        let record = Record::new(layout.size(), block.len(), layout.align());
        insert_live(self.state.lock(), block, record, backtrace);
    }

    /// At the tracking level, takes the record of `ptr` out of the live set, after checking that
    /// `layout` fits it, and with `free` also counts the block's deallocation under the same lock;
    /// panics (with the lock released) if `layout` does not fit. `None` at the counters level.
    #[inline]
    fn take_record(
        &self,
        ptr: NonNull<u8>,
        layout: Layout,
        call: &str,
        free: bool,
    ) -> Option<Record> {
        if self.level != Level::Tracking {
            return None;
        }
        let address = ptr.as_ptr().addr();
        let mut state = self.state.lock();
        let Some(record) = state.live.remove(address) else {
            not_live(state, ptr, layout, call)
        };
        if record.fits(layout) {
            if free {
                state
                    .stats
                    .note_deallocation(record.size(), self.fast.net());
                self.publish(&state.stats);
                let next = state.freed_next;
                state.freed[next] = (address, record.size(), record.align());
                state.freed_next = (next + 1) % FREED_HISTORY;
                // Dropped at the end of this block, after the lock is released: a backtrace frees
                // through the global allocator.
                let _backtrace = state.live.take_backtrace(address);
                drop(state);
            }
            return Some(record);
        }
        let backtrace = state.live.backtrace(address).cloned();
        drop(state);
        self.misfit(ptr, layout, call, record, backtrace)
    }

    /// Panics for a layout that does not fit its block, after putting the block's record back so
    /// that the state is as it was. The message (which may allocate, for the backtrace) is
    /// formatted without the lock.
    #[cold]
    #[inline(never)]
    fn misfit(
        &self,
        ptr: NonNull<u8>,
        layout: Layout,
        call: &str,
        record: Record,
        backtrace: Option<Backtrace>,
    ) -> ! {
        let message = misfit_message(call, ptr, layout, record, backtrace.as_ref());
        self.state.lock().live.restore(ptr.as_ptr().addr(), record);
        // `backtrace` is dropped while unwinding, without the lock.
        panic!("{message}");
    }

    /// Counts a free through the lock (the counters level off the fast path).
    #[inline]
    fn note_deallocate(&self, size: usize) {
        let mut state = self.state.lock();
        state.stats.note_deallocation(size, self.fast.net());
        self.publish(&state.stats);
    }

    /// Without `std` there are no backtraces.
    #[cfg(not(feature = "std"))]
    #[inline(always)]
    fn capture(&self) -> Option<Backtrace> {
        None
    }

    /// Captures a backtrace if this trace wants one and this thread is not capturing already.
    #[cfg(feature = "std")]
    fn capture(&self) -> Option<Backtrace> {
        if self.level != Level::Tracking || !self.backtraces.load(Ordering::Relaxed) {
            return None;
        }
        std::thread_local! {
            static CAPTURING: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
        }
        // Capturing allocates; when this trace is the global allocator those allocations come back
        // here, and must not capture in turn. (During thread teardown, capture nothing.)
        if CAPTURING.try_with(|c| c.replace(true)).unwrap_or(true) {
            return None;
        }
        let backtrace = std::sync::Arc::new(std::backtrace::Backtrace::force_capture());
        let _ = CAPTURING.try_with(|c| c.set(false));
        Some(backtrace)
    }
}

/// Panics for a pointer that is not live, releasing the lock first: a double free if the address
/// is among the recent frees (naming what the block was), else a foreign pointer.
#[cold]
#[inline(never)]
fn not_live(state: Guard<'_, State>, ptr: NonNull<u8>, layout: Layout, call: &str) -> ! {
    let address = ptr.as_ptr().addr();
    let freed = state
        .freed
        .iter()
        .find(|&&(a, size, _)| a == address && size != 0)
        .copied();
    drop(state);
    match freed {
        Some((_, size, align)) => panic!(
            "allockit::Trace: {call} of {ptr:p} with {layout:?}, but that block is not live: it \
             was freed already (it was {:?}). A double free; the inner allocator was not called",
            Layout::from_size_align(size, align).unwrap()
        ),
        None => panic!(
            "allockit::Trace: {call} of {ptr:p} with {layout:?}, but no live block of this \
             allocator starts there: a pointer from another allocator, or a double free. The \
             inner allocator was not called"
        ),
    }
}

/// Puts the record of `block`, which the inner allocator just handed out, into the live set, and
/// releases the lock. A record already there means the inner allocator handed out a live block
/// again: that panics, after the lock is released (and the displaced record dropped without it).
fn insert_live(
    mut state: Guard<'_, State>,
    block: NonNull<[u8]>,
    record: Record,
    backtrace: Option<Backtrace>,
) {
    let old = state
        .live
        .insert(block.cast::<u8>().as_ptr().addr(), record, backtrace);
    drop(state);
    assert!(
        old.is_none(),
        "allockit::Trace: the inner allocator handed out {:p}, which is still live",
        block.cast::<u8>()
    );
}

/// The panic message for a layout that does not fit its block.
fn misfit_message(
    call: &str,
    ptr: NonNull<u8>,
    layout: Layout,
    record: Record,
    backtrace: Option<&Backtrace>,
) -> alloc::string::String {
    use core::fmt::Write;
    let mut message = alloc::string::String::new();
    let _ = write!(
        message,
        "allockit::Trace: {call} of {ptr:p} with {layout:?}, but the block was allocated with \
         {:?} and is {} bytes long: a layout fits only with the same alignment and a size from {} \
         to {}. The inner allocator was not called",
        record.layout(),
        record.len(),
        record.size(),
        record.len(),
    );
    #[cfg(feature = "std")]
    if let Some(backtrace) = backtrace {
        let _ = write!(message, "\nallocated at:\n{backtrace}");
    }
    #[cfg(not(feature = "std"))]
    let _ = backtrace;
    message
}

// SAFETY: the `Allocator` contract, argued for `Trace<A>` (and `&Trace<A>` by allocator-api2's
// blanket impl for references):
// - Blocks stay valid while the trace lives: every non-zero-sized block is the inner allocator's,
//   passed through unchanged, so it stays valid as long as `inner` (owned by the trace) does.
//   Zero-sized blocks are dangling and need no memory.
// - Moving the trace moves `inner`, which by its own contract invalidates none of its blocks; the
//   records hold addresses as numbers, and live in memory the trace does not move.
// - Any block it handed out may be passed to any of its methods: non-zero-sized blocks go back to
//   `inner` with the caller's layouts, as the caller got them from `inner`; a zero-sized layout is
//   recognised by its size and never reaches `inner`. At the tracking level a request that breaks
//   the contract panics before `inner` sees it.
unsafe impl<A: Allocator> Allocator for Trace<A> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_with(layout, false)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_with(layout, true)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        if self.fast.owns() {
            self.fast.settle(|| self.locked_live());
            self.fast.deallocation(layout.size());
            // SAFETY: the caller guarantees `ptr` is a live block of this trace fitting `layout`:
            // a block of `inner`.
            return unsafe { self.inner.deallocate(ptr, layout) };
        }
        // SAFETY: the caller's guarantees, passed on.
        unsafe { self.deallocate_locked(ptr, layout) }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's guarantees for `grow` are those of `resize`.
        unsafe { self.resize(ptr, old_layout, new_layout, Resize::Grow) }
    }

    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `grow`.
        unsafe { self.resize(ptr, old_layout, new_layout, Resize::GrowZeroed) }
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `grow`.
        unsafe { self.resize(ptr, old_layout, new_layout, Resize::Shrink) }
    }
}

/// Which resizing call `Trace::resize` forwards.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resize {
    Grow,
    GrowZeroed,
    Shrink,
}

impl Resize {
    /// The call's name, for panic messages.
    fn name(self) -> &'static str {
        match self {
            Resize::Grow => "grow",
            Resize::GrowZeroed => "grow_zeroed",
            Resize::Shrink => "shrink",
        }
    }

    /// Makes this call of `inner`.
    ///
    /// # Safety
    ///
    /// The contract of the `Allocator` method this call names, for `ptr`, `old` and `new`.
    #[inline(always)]
    unsafe fn call<A: Allocator>(
        self,
        inner: &A,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's guarantees, for the method named.
        unsafe {
            match self {
                Resize::Grow => inner.grow(ptr, old, new),
                Resize::GrowZeroed => inner.grow_zeroed(ptr, old, new),
                Resize::Shrink => inner.shrink(ptr, old, new),
            }
        }
    }
}

impl<A: Allocator> Trace<A> {
    /// `allocate_zeroed` of the inner allocator if `zeroed`, else `allocate`; nothing counted.
    #[inline(always)]
    fn allocate_inner(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        if zeroed {
            self.inner.allocate_zeroed(layout)
        } else {
            self.inner.allocate(layout)
        }
    }

    /// An allocation of `layout` from the inner allocator (`allocate_zeroed` if `zeroed`),
    /// counted, and recorded at the tracking level.
    #[inline(always)]
    fn allocate_with(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(crate::dangling(layout));
        }
        if self.fast.enter() {
            return self.allocate_fast(layout, zeroed);
        }
        self.allocate_locked(layout, zeroed)
    }

    /// [`allocate_with`](Self::allocate_with) on the fast path.
    #[inline(always)]
    fn allocate_fast(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        let result = self.allocate_inner(layout, zeroed);
        match result {
            Ok(_) => self.fast.allocation(layout.size()),
            Err(AllocError) => self.fast.failure(),
        }
        result
    }

    /// [`allocate_with`](Self::allocate_with) off the fast path: on it after all if this thread
    /// claims the counters now, else through the lock, recording the block at the tracking level
    /// and checking the limit if there is one. Kept out of line so that the fast path stays small
    /// enough to inline into callers.
    #[inline(never)]
    fn allocate_locked(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        if self.fast.claim() {
            return self.allocate_fast(layout, zeroed);
        }
        let backtrace = self.capture();
        if self.level == Level::Tracking && !self.limited.load(Ordering::Relaxed) {
            let result = self.allocate_inner(layout, zeroed);
            return self.count_and_record(result, layout, backtrace);
        }
        let undo = self.reserve(layout.size(), Event::Allocation)?;
        match self.allocate_inner(layout, zeroed) {
            Ok(block) => {
                self.record(block, layout, backtrace);
                Ok(block)
            }
            Err(AllocError) => {
                self.unreserve(undo);
                Err(AllocError)
            }
        }
    }

    /// `deallocate` through the lock: counted there, with the record taken out (and checked) at
    /// the tracking level.
    ///
    /// # Safety
    ///
    /// As for `Allocator::deallocate`, with a non-zero-sized `layout`.
    #[inline(never)]
    unsafe fn deallocate_locked(&self, ptr: NonNull<u8>, layout: Layout) {
        // Counted (with the record taken out, at the tracking level) before the block goes back,
        // so that no other thread can be handed its address while it is still in the live set.
        if self.take_record(ptr, layout, "deallocate", true).is_none() {
            self.note_deallocate(layout.size());
        }
        // SAFETY: the caller guarantees `ptr` is a live block of this trace fitting `layout`; a
        // non-zero-sized block of the trace is a block of `inner` allocated with a layout that
        // `layout` fits.
        unsafe { self.inner.deallocate(ptr, layout) }
    }

    /// Grows or shrinks through `inner`, keeping the counters and the record up to date. A
    /// zero-sized side becomes an allocation or a deallocation.
    ///
    /// # Safety
    ///
    /// - `ptr` is a live block of this trace, and `old` fits it.
    /// - `new` is at least as large as `old` for a grow, at most as large for a shrink.
    #[inline]
    unsafe fn resize(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        how: Resize,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            return if how == Resize::GrowZeroed {
                self.allocate_zeroed(new)
            } else {
                self.allocate(new)
            };
        }
        if new.size() == 0 {
            // SAFETY: the caller guarantees `ptr` is live with `old`.
            unsafe { self.deallocate(ptr, old) };
            return Ok(crate::dangling(new));
        }
        if self.fast.enter() {
            // SAFETY: the caller's guarantees, passed on.
            return unsafe { self.resize_fast(ptr, old, new, how) };
        }
        // SAFETY: the caller's guarantees, passed on; neither layout is zero-sized.
        unsafe { self.resize_locked(ptr, old, new, how) }
    }

    /// [`resize`](Self::resize) on the fast path.
    ///
    /// # Safety
    ///
    /// As for `resize`.
    #[inline(always)]
    unsafe fn resize_fast(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        how: Resize,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's guarantees, passed on: `ptr` is a block of `inner` that `old`
        // fits, and `new` is larger or smaller as the call says.
        let result = unsafe { how.call(&self.inner, ptr, old, new) };
        match (&result, how) {
            (Err(AllocError), _) => self.fast.failure(),
            (Ok(_), Resize::Shrink) => self
                .fast
                .shrinkage(old.size() - new.size(), || self.locked_live()),
            (Ok(_), _) => self.fast.growth(new.size() - old.size()),
        }
        result
    }

    /// [`resize`](Self::resize) off the fast path, for non-zero-sized layouts: on it after all if
    /// this thread claims the counters now, else through the lock, with the record checked and
    /// moved at the tracking level. Out of line, as `allocate_locked` is.
    ///
    /// # Safety
    ///
    /// As for `resize`, and neither `old` nor `new` is zero-sized.
    #[inline(never)]
    unsafe fn resize_locked(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        how: Resize,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if self.fast.claim() {
            // SAFETY: the caller's guarantees, passed on.
            return unsafe { self.resize_fast(ptr, old, new, how) };
        }
        let call = how.name();
        // At the tracking level the record is out of the live set while `inner` works, so that
        // no other thread can see the old address as live if `inner` moves the block.
        let record = self.take_record(ptr, old, call, false);
        let old_size = record.map_or(old.size(), Record::size);
        let undo = if how == Resize::Shrink {
            None
        } else {
            match self.reserve(new.size().saturating_sub(old_size), Event::Grow) {
                Ok(undo) => Some(undo),
                Err(AllocError) => {
                    if let Some(record) = record {
                        self.state.lock().live.restore(ptr.as_ptr().addr(), record);
                    }
                    return Err(AllocError);
                }
            }
        };
        // SAFETY: the caller's guarantees, passed on: `ptr` is a block of `inner` that `old` fits
        // (checked above at the tracking level), and `new` is larger or smaller as the call says.
        let result = unsafe { how.call(&self.inner, ptr, old, new) };
        let block = match result {
            Ok(block) => block,
            Err(AllocError) => {
                match undo {
                    Some(undo) => self.unreserve(undo),
                    None => self.state.lock().stats.failures += 1,
                }
                if let Some(record) = record {
                    self.state.lock().live.restore(ptr.as_ptr().addr(), record);
                }
                return Err(AllocError);
            }
        };
        if how == Resize::Shrink || record.is_some() {
            let mut state = self.state.lock();
            if how == Resize::Shrink {
                state.stats.shrinks += 1;
                state
                    .stats
                    .note_shrinkage(old_size - new.size(), self.fast.net());
                self.publish(&state.stats);
            }
            if record.is_some() {
                // The backtrace moves with the block, from its old address to its new one.
                let backtrace = state.live.take_backtrace(ptr.as_ptr().addr());
                let record = Record::new(new.size(), block.len(), new.align());
                insert_live(state, block, record, backtrace);
            }
        }
        Ok(block)
    }
}

/// What [`Trace::reserve`] counted: an allocation or a grow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Event {
    Allocation,
    Grow,
}

/// How to take back a reservation: what it added, and the peaks before it.
#[derive(Clone, Copy)]
struct Undo {
    extra: usize,
    event: Event,
    peak_blocks: usize,
    peak_bytes: usize,
}

/// Panics if dropped: guards a call that must not unwind (a global allocator must not), turning
/// a panic inside it into an abort (a panic while panicking aborts), after the message of the
/// first panic has been printed.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        panic!("allockit::Trace: a global allocator must not unwind; aborting");
    }
}

/// Runs `f`, aborting the process if it panics.
fn no_unwind<R>(f: impl FnOnce() -> R) -> R {
    let guard = AbortOnUnwind;
    let result = f();
    core::mem::forget(guard);
    result
}

// SAFETY: `GlobalAlloc` is implemented through the `Allocator` impl above, whose blocks meet the
// layout they were requested with. Failures become null, as `GlobalAlloc` requires, and a misuse
// panic aborts instead of unwinding (unwinding out of a global allocator is undefined behaviour).
// As a global allocator, `inner` must not itself use the global allocator (use
// `std::alloc::System`), and the trace's own bookkeeping uses `System` directly, never the global
// allocator, so no call comes back into the trace while it holds its lock.
unsafe impl<A: Allocator> GlobalAlloc for Trace<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        no_unwind(|| {
            self.allocate(layout)
                .map_or(ptr::null_mut(), |block| block.cast::<u8>().as_ptr())
        })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        no_unwind(|| {
            self.allocate_zeroed(layout)
                .map_or(ptr::null_mut(), |block| block.cast::<u8>().as_ptr())
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `GlobalAlloc` callers pass a non-null block of this allocator with its layout.
        no_unwind(|| unsafe { self.deallocate(NonNull::new_unchecked(ptr), layout) })
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the `GlobalAlloc::realloc` contract: `ptr` is a live, non-null block of this
        // allocator with `layout`, and `new_size`, rounded up to `layout.align()`, does not
        // overflow `isize`, so the new layout is valid.
        no_unwind(|| unsafe {
            let new = Layout::from_size_align_unchecked(new_size, layout.align());
            let ptr = NonNull::new_unchecked(ptr);
            let block = if new_size >= layout.size() {
                self.grow(ptr, layout, new)
            } else {
                self.shrink(ptr, layout, new)
            };
            block.map_or(ptr::null_mut(), |block| block.cast::<u8>().as_ptr())
        })
    }
}

impl<A: fmt::Debug> fmt::Debug for Trace<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("level", &self.level)
            .field("stats", &self.stats())
            .field("inner", &self.inner)
            .finish()
    }
}

/// What [`Trace::check_leaks`] found still live.
///
/// `Display` lists every live block (address, size, alignment, and backtrace when captured) and
/// the totals.
///
/// # Examples
///
/// ```
/// use allockit::{Box, Platform, Trace};
///
/// let trace = Trace::with_tracking(Platform);
/// let kept = Box::new_in([1u8; 40], &trace);
/// let report = trace.check_leaks().unwrap_err();
/// assert_eq!(report.blocks()[0].size, 40);
/// let text = report.to_string();
/// assert!(text.contains("1 block (40 B) still live"));
/// drop(kept);
/// ```
pub struct LeakReport {
    stats: Stats,
    blocks: allocator_api2::vec::Vec<LeakedBlock, Bookkeeping>,
    listed: bool,
}

impl LeakReport {
    /// The live blocks, in address order; empty for a trace at the counters level.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Platform, Trace};
    ///
    /// let trace = Trace::new(Platform);
    /// let _kept = Box::new_in(0u32, &trace);
    /// let report = trace.check_leaks().unwrap_err();
    /// assert!(report.blocks().is_empty()); // counters only: the totals, no list
    /// assert_eq!(report.live_blocks(), 1);
    /// ```
    pub fn blocks(&self) -> &[LeakedBlock] {
        &self.blocks
    }

    /// How many blocks are live.
    ///
    /// # Examples
    ///
    /// ```
    /// let trace = allockit::Trace::new(allockit::Platform);
    /// let _kept = allockit::Box::new_in(0u8, &trace);
    /// assert_eq!(trace.check_leaks().unwrap_err().live_blocks(), 1);
    /// ```
    pub fn live_blocks(&self) -> usize {
        self.stats.live_blocks
    }

    /// How many bytes are live.
    ///
    /// # Examples
    ///
    /// ```
    /// let trace = allockit::Trace::new(allockit::Platform);
    /// let _kept = allockit::Box::new_in([0u8; 3], &trace);
    /// assert_eq!(trace.check_leaks().unwrap_err().live_bytes(), 3);
    /// ```
    pub fn live_bytes(&self) -> usize {
        self.stats.live_bytes
    }

    /// The trace's counters when the report was made.
    ///
    /// # Examples
    ///
    /// ```
    /// let trace = allockit::Trace::new(allockit::Platform);
    /// let _kept = allockit::Box::new_in(0u8, &trace);
    /// assert_eq!(trace.check_leaks().unwrap_err().stats().allocations, 1);
    /// ```
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl fmt::Display for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blocks = self.stats.live_blocks;
        writeln!(
            f,
            "{blocks} block{} ({}) still live",
            if blocks == 1 { "" } else { "s" },
            Bytes(self.stats.live_bytes)
        )?;
        if !self.listed {
            return write!(
                f,
                "(a trace at the counters level keeps no list; use Trace::with_tracking)"
            );
        }
        for block in self.blocks() {
            write!(f, "\n  {block}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakReport")
            .field("stats", &self.stats)
            .field("blocks", &self.blocks())
            .finish()
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LeakReport {}

/// One live block in a [`LeakReport`].
///
/// # Examples
///
/// ```
/// use allockit::{Box, Platform, Trace};
///
/// let trace = Trace::with_tracking(Platform);
/// let _kept = Box::new_in(5u16, &trace);
/// let report = trace.check_leaks().unwrap_err();
/// let block = &report.blocks()[0];
/// assert_eq!((block.size, block.align), (2, 2));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct LeakedBlock {
    /// The block's address.
    pub address: usize,
    /// The size it was requested with (or last resized to).
    pub size: usize,
    /// Its alignment.
    pub align: usize,
    #[cfg(feature = "std")]
    backtrace: Option<Backtrace>,
}

impl LeakedBlock {
    /// Where the block was allocated, if the trace captured backtraces then.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Platform, Trace};
    ///
    /// let trace = Trace::with_tracking(Platform);
    /// let _kept = Box::new_in(5u16, &trace);
    /// assert!(trace.check_leaks().unwrap_err().blocks()[0].backtrace().is_none());
    /// ```
    #[cfg(feature = "std")]
    pub fn backtrace(&self) -> Option<&std::backtrace::Backtrace> {
        self.backtrace.as_deref()
    }
}

impl fmt::Display for LeakedBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x}: {} (align {})",
            self.address,
            Bytes(self.size),
            self.align
        )?;
        #[cfg(feature = "std")]
        if let Some(backtrace) = &self.backtrace {
            write!(f, ", allocated at:\n{backtrace}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for LeakedBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakedBlock")
            .field("address", &format_args!("{:#x}", self.address))
            .field("size", &self.size)
            .field("align", &self.align)
            .finish_non_exhaustive()
    }
}

/// A hasher for block addresses: a multiply and a fold, since addresses are already unique and
/// only their low bits are predictable (alignment zeroes them).
#[derive(Clone, Copy, Debug, Default)]
struct AddressHash;

/// The state of [`AddressHash`].
#[derive(Clone, Copy, Debug, Default)]
struct AddressHasher(u64);

impl BuildHasher for AddressHash {
    type Hasher = AddressHasher;
    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_usize(&mut self, address: usize) {
        self.write_u64(address as u64);
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}
