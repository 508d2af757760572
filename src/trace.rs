//! `Trace`: an adaptor that counts, and optionally records, everything that passes through any
//! allocator: statistics, peaks, a limit, a leak report, misuse detection and backtraces.
//!
//! What it is: `Trace<A>` wraps any `A: Allocator` and is an allocator itself, so it nests with
//! the other strategies (`Trace<&Arena>`, `Trace<&Slab>`, a `&Trace<Platform>` shared by many
//! maps and threads) and, wrapped around [`std::alloc::System`], can be the program's
//! `#[global_allocator]`. The C design's `mem_create_trace_allocator(inner)`, `mem_check_leaks`
//! and `mem_format_stats` are [`Trace::new`], [`Trace::check_leaks`] and [`Trace::stats`].
//!
//! It works at one of two [`Level`]s, chosen when it is made:
//!
//! - [`Level::Counters`] ([`Trace::new`]): counts allocations, frees, grows, shrinks, failures and
//!   bytes, with live and peak figures. Cheap enough to leave on in production, on every thread:
//!   each thread counts in a shard of its own with plain loads and stores, no atomic
//!   read-modify-write and no cache line shared with another writer; a snapshot adds the shards
//!   up.
//! - [`Level::Tracking`] ([`Trace::with_tracking`]): also records every live block (address, size,
//!   alignment, block length, and optionally a backtrace), in one table per thread, each behind
//!   its own lock. This is what lists leaks, and what catches misuse: freeing, growing or
//!   shrinking a pointer that is not live (a double free, or a pointer from another allocator),
//!   or with a layout that does not fit the block, panics with a message naming the address, the
//!   recorded layout and the given one, and the inner allocator never sees the bad request. It
//!   costs one table insert or remove per call under an uncontended lock, and 16 bytes of table
//!   per live block (hashbrown's load factor adds up to a factor of two); plus a backtrace
//!   capture (microseconds) per allocation when [backtraces are on](Trace::set_backtraces).
//!
//! # Threads
//!
//! `Trace<A>` is `Sync` whenever `A` is, and every thread that allocates through it takes the
//! same path as the first: its own shard of counters (and at the tracking level its own table),
//! made on its first call and handed on to the next thread when it exits. Up to 64 threads hold a
//! shard at once (32 on 32-bit targets); beyond that, and while a thread is being torn down,
//! calls share one overflow shard behind a lock. `shards.rs` tells the protocol in full.
//!
//! - **Counts** are exact once the threads have joined.
//! - **Snapshots** ([`Trace::stats`]) are consistent in every field at any moment:
//!   `live = allocated - freed`, never below zero, and `peak >= live`.
//! - **Peaks** are exact on one thread. Under threads each shard raises the peak from the others'
//!   *published* figures, which lag by less than 2 KiB and 2 048 blocks per other shard (a shard
//!   publishes whenever its bytes allocated, or freed, cross a multiple of 2 KiB), so a peak is within that much of the true
//!   high-water mark, either way; and it is never below a live figure any snapshot showed.
//! - **A limit** ([`Trace::set_limit`]) in force is never exceeded, under any interleaving, and a
//!   request refused takes back only its own bytes. Each shard keeps a little credit from the
//!   limit (at most 8 KiB after a call), so under threads a request may be refused early by at
//!   most the credit that other live threads hold; credit left by threads that exited comes back
//!   before anything is refused. On one thread the limit is exact. The one exception is the
//!   moment a limit is set: a call on another thread that had already passed its check admits
//!   its own bytes unlimited (one call per thread), and they count from the next request on.
//!
//! What it never does: change what the inner allocator hands out (blocks, their lengths and
//! failures pass through untouched), or allocate its own bookkeeping through the allocator it
//! traces. Shards and tables come from [`std::alloc::System`] (or, without `std`, the global
//! allocator), so a tracing global allocator never recurses into itself; and nothing allocates,
//! frees or drops while one of its locks is held.
//!
//! Zero-sized blocks own no memory: `Trace` serves them itself with a dangling, aligned pointer,
//! as std's `Global` does, and counts nothing for them.
//!
//! A block "fits" a layout, as the `Allocator` contract says, when the alignment is the one it was
//! allocated with and the size lies between the requested size and the length `allocate`
//! returned: hashbrown frees with that larger length when an allocator (a [`Slab`](crate::Slab))
//! hands out more than it asked for. At the tracking level byte counts follow the recorded sizes,
//! so they stay exact whatever size in that range a caller passes. At the counters level they
//! follow the sizes callers pass, so such a free counts the extra bytes too (and lowers the live
//! bytes, and what the limit sees, by that much more); block counts are always exact.

// Without `std` a record carries no backtrace, so the explicit drops after each lock, there for
// the backtraces of the `std` build, drop nothing.
#![cfg_attr(
    not(feature = "std"),
    allow(clippy::drop_non_drop, dropping_copy_types)
)]

use core::fmt;
use core::hash::{BuildHasher, Hasher};
use core::ptr::NonNull;

#[cfg(feature = "std")]
use crate::sync::{AtomicBool, Ordering};
use crate::sync::{Mutex, const_fn_unless_loom};
use crate::{AllocError, Allocator, Layout};
use live::{Record, Taken};
use shards::{Shards, TRACKING, Writer};

mod global;
mod index;
pub(crate) mod live;
#[cfg(all(test, loom))]
mod loom;
mod report;
mod shards;
mod stats;

pub use report::{LeakReport, LeakedBlock};
pub use stats::Stats;

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
/// See the [module documentation](crate::trace) for the two levels, threads, and what they cost.
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
    /// Whether allocations capture a backtrace (tracking level only).
    #[cfg(feature = "std")]
    backtraces: AtomicBool,
    /// The counters, the limit and (tracking level) the records, in one shard per thread.
    shards: Shards,
}

impl<A> Trace<A> {
    const_fn_unless_loom! {
        /// A trace at [`Level::Counters`] around `inner`. `const`, so it can initialise a
        /// `static` (a global allocator).
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
        pub fn new(inner: A) -> Self {
            Self::with_level(inner, Level::Counters)
        }
    }

    const_fn_unless_loom! {
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
        pub fn with_tracking(inner: A) -> Self {
            Self::with_level(inner, Level::Tracking)
        }
    }

    const_fn_unless_loom! {
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
        pub fn with_level(inner: A, level: Level) -> Self {
            Self {
                inner,
                #[cfg(feature = "std")]
                backtraces: AtomicBool::new(false),
                shards: Shards::new(matches!(level, Level::Tracking)),
            }
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
        if self.shards.mode() & TRACKING != 0 {
            Level::Tracking
        } else {
            Level::Counters
        }
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
    /// level the cap is exact. Under threads a request may be refused early by the credit other
    /// live threads hold (at most 8 KiB each; see the module docs), never admitted past the
    /// cap, except for the calls other threads had under way when the cap was set (one each,
    /// admitted unlimited and counted from then on). At the tracking level a shrink whose old
    /// size is above the recorded size (any size up to the block's length fits) can raise the
    /// live bytes, and can then be refused by the cap like a grow.
    ///
    /// With a limit, every call takes a slower path than the counters' fast path: a few more
    /// loads and stores, and a lock every few KiB.
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
        self.shards.set_limit(limit);
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
    /// trace.set_limit(Some(usize::MAX));
    /// assert_eq!(trace.limit(), Some(usize::MAX));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.shards.limit()
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

    /// Unwraps the inner allocator, dropping the trace's counters and records.
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

    /// A consistent snapshot of the counters (see the module docs for what holds under
    /// threads).
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
        self.shards.snapshot()
    }

    /// `Ok(())` if no block is live, else a [`LeakReport`] of what is: at the tracking level every
    /// live block (address, size, alignment, backtrace), in address order; at the counters level
    /// the totals only. The C design's `mem_check_leaks`. The list is exact when no other thread
    /// is allocating through the trace meanwhile.
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
        let mut listed = self.level() == Level::Tracking;
        'shards: for shard in self.shards.all() {
            loop {
                // Room is made outside the lock: nothing allocates under it.
                let wanted = shard.live.lock().len();
                if blocks.try_reserve(wanted).is_err() {
                    listed = false;
                    break 'shards;
                }
                let live = shard.live.lock();
                if live.len() <= blocks.capacity() - blocks.len() {
                    for (address, record, backtrace) in live.iter() {
                        #[cfg(not(feature = "std"))]
                        let _ = backtrace;
                        blocks.push(LeakedBlock {
                            address,
                            size: record.size(),
                            align: record.align(),
                            // A reference count goes up: no allocation.
                            #[cfg(feature = "std")]
                            backtrace: backtrace.cloned(),
                        });
                    }
                    break;
                }
            }
        }
        let stats = self.stats();
        if stats.live_blocks == 0 && blocks.is_empty() {
            return Ok(());
        }
        if !listed {
            blocks.clear();
        }
        blocks.sort_unstable_by_key(|b| b.address);
        Err(LeakReport {
            stats,
            blocks,
            listed,
        })
    }

    /// Counts `bytes` obtained outside the inner allocator as one live block (an arena's chunk
    /// charged to an account), under the limit: `Err` (a failure counted) if it cannot cover
    /// them. Not recorded at the tracking level. Zero bytes count nothing.
    #[cfg(not(loom))]
    pub(crate) fn charge(&self, bytes: usize) -> Result<(), AllocError> {
        if bytes == 0 {
            return Ok(());
        }
        let writer = self.shards.writer();
        let reservation = writer.reserve(bytes)?;
        writer.allocated(bytes, reservation);
        Ok(())
    }

    /// Gives back a [`charge`](Self::charge) of `bytes`.
    #[cfg(not(loom))]
    pub(crate) fn uncharge(&self, bytes: usize) {
        if bytes != 0 {
            self.shards.writer().freed(bytes);
        }
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
        if !self.backtraces.load(Ordering::Relaxed) {
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

// SAFETY: the `Allocator` contract, argued for `Trace<A>` (and `&Trace<A>` by allocator-api2's
// blanket impl for references):
// - Blocks stay valid while the trace lives: every non-zero-sized block is the inner allocator's,
//   passed through unchanged, so it stays valid as long as `inner` (owned by the trace) does.
//   Zero-sized blocks are dangling and need no memory.
// - Moving the trace moves `inner`, which by its own contract invalidates none of its blocks; the
//   records hold addresses as numbers, in shards the trace does not move.
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

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            self.zero_sized(ptr, layout, "deallocate");
            return;
        }
        let shard = self.shards.fast();
        if !shards::is_fast(shard) {
            // SAFETY: the caller's guarantees, passed on, with a non-zero-sized layout.
            return unsafe { self.deallocate_slow(ptr, layout) };
        }
        // SAFETY: the caller guarantees `ptr` is a live block of this trace fitting `layout`: a
        // block of `inner`. (The counting waits for it: at the counters level the order does
        // not matter, and the inner allocator's work then overlaps the shard's loads.)
        unsafe { self.inner.deallocate(ptr, layout) };
        // SAFETY: a fast shard of `self.shards`, borrowed through `self`.
        unsafe { shards::fast_shard(shard) }.freed(self.shards.peaks(), layout.size());
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
        let shard = self.shards.fast();
        if !shards::is_fast(shard) {
            return self.allocate_slow(layout, zeroed);
        }
        // SAFETY: a fast shard of `self.shards`, borrowed through `self`.
        let shard = unsafe { shards::fast_shard(shard) };
        let result = self.allocate_inner(layout, zeroed);
        match result {
            Ok(_) => shard.allocated(self.shards.peaks(), layout.size()),
            Err(AllocError) => shard.failed(),
        }
        result
    }

    /// [`allocate_with`](Self::allocate_with) off the fast path: a thread's first call, a limit,
    /// or the tracking level. Kept out of line so that the fast path inlines into callers.
    #[inline(never)]
    fn allocate_slow(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        let size = layout.size();
        let writer = self.shards.writer();
        let reservation = writer.reserve(size)?;
        let backtrace = self.capture();
        let block = match self.allocate_inner(layout, zeroed) {
            Ok(block) => block,
            Err(AllocError) => {
                writer.refused(reservation);
                return Err(AllocError);
            }
        };
        if self.level() == Level::Tracking {
            let taken = Taken {
                record: Record::new(size, block.len(), layout.align()),
                backtrace,
            };
            if let Err(taken) = record(writer.table(), block.cast(), taken) {
                // No room for the record: the allocation is undone, as if the inner allocator
                // had refused it.
                // SAFETY: `block` was just allocated by `inner` with `layout`, and is freed once.
                unsafe { self.inner.deallocate(block.cast(), layout) };
                writer.refused(reservation);
                drop(taken);
                return Err(AllocError);
            }
        }
        writer.allocated(size, reservation);
        Ok(block)
    }

    /// A call with a zero-sized `layout` for `ptr`, which needs no memory: at the tracking level,
    /// panics (as [`misfit`] does, the inner allocator not called) if `ptr` is a block this trace
    /// recorded, which no zero-sized layout fits.
    /// Out of line, so that the fast paths only test the size.
    #[cold]
    #[inline(never)]
    fn zero_sized(&self, ptr: NonNull<u8>, layout: Layout, call: &str) {
        if self.shards.mode() & TRACKING == 0 {
            return;
        }
        for shard in self.shards.all() {
            // Panics if `ptr` is recorded here: every record has bytes, and a zero-sized layout
            // fits none of them, so nothing is ever taken out (and if it were, it goes back).
            let taken = take_from(shard, ptr, layout, call);
            restore(&shard.live, ptr, taken);
        }
    }

    /// `deallocate` off the fast path: at the tracking level the block's record is taken out
    /// (after checking that `layout` fits it) before the inner allocator frees the block, so that
    /// no other thread can be handed its address while it is still recorded; the free is counted
    /// after.
    ///
    /// # Safety
    ///
    /// As for `Allocator::deallocate`, with a non-zero-sized `layout`.
    #[inline(never)]
    unsafe fn deallocate_slow(&self, ptr: NonNull<u8>, layout: Layout) {
        let writer = self.shards.writer();
        let taken = self.take_record(&writer, ptr, layout, "deallocate");
        // SAFETY: the caller guarantees `ptr` is a live block of this trace fitting `layout`
        // (checked at the tracking level): a block of `inner`.
        unsafe { self.inner.deallocate(ptr, layout) };
        // Counted once the inner allocator holds the block no more: under a limit, its bytes
        // may be given to another request from now on.
        writer.freed(taken.as_ref().map_or(layout.size(), |t| t.record.size()));
        // A backtrace frees through the global allocator: dropped after every lock.
        drop(taken);
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
            self.zero_sized(ptr, old, how.name());
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
        let shard = self.shards.fast();
        if !shards::is_fast(shard) {
            // SAFETY: the caller's guarantees, passed on; neither layout is zero-sized.
            return unsafe { self.resize_slow(ptr, old, new, how) };
        }
        // SAFETY: a fast shard of `self.shards`, borrowed through `self`.
        let shard = unsafe { shards::fast_shard(shard) };
        let peaks = self.shards.peaks();
        // SAFETY: the caller's guarantees, passed on: `ptr` is a block of `inner` that `old`
        // fits, and `new` is larger or smaller as the call says.
        let result = unsafe { how.call(&self.inner, ptr, old, new) };
        match result {
            Ok(_) => shard.resized(peaks, how != Resize::Shrink, old.size(), new.size()),
            Err(AllocError) => shard.failed(),
        }
        result
    }

    /// [`resize`](Self::resize) off the fast path, for non-zero-sized layouts. At the tracking
    /// level the block's record (with its backtrace) is out of its table while `inner` works, so
    /// that no other thread can see the old address as live if `inner` moves the block, and goes
    /// back under the new address. Out of line, as `allocate_slow` is.
    ///
    /// # Safety
    ///
    /// As for `resize`, and neither `old` nor `new` is zero-sized.
    #[inline(never)]
    unsafe fn resize_slow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        how: Resize,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let writer = self.shards.writer();
        let taken = self.take_record(&writer, ptr, old, how.name());
        // What the block counts as now: its recorded size at the tracking level (which a shrink's
        // new size may pass: any old size up to the block's length fits), else the caller's.
        let from = taken.as_ref().map_or(old.size(), |t| t.record.size());
        let reservation = match writer.reserve(new.size().saturating_sub(from)) {
            Ok(reservation) => reservation,
            Err(AllocError) => {
                restore(writer.table(), ptr, taken);
                return Err(AllocError);
            }
        };
        // SAFETY: the caller's guarantees, passed on: `ptr` is a block of `inner` that `old` fits
        // (checked above at the tracking level), and `new` is larger or smaller as the call says.
        let block = match unsafe { how.call(&self.inner, ptr, old, new) } {
            Ok(block) => block,
            Err(AllocError) => {
                writer.refused(reservation);
                restore(writer.table(), ptr, taken);
                return Err(AllocError);
            }
        };
        writer.resized(how != Resize::Shrink, from, new.size(), reservation);
        if let Some(taken) = taken {
            let moved = Taken {
                record: Record::new(new.size(), block.len(), new.align()),
                backtrace: taken.backtrace,
            };
            if let Err(moved) = record(writer.table(), block.cast(), moved) {
                // The block is resized and its old self gone: without room for its record there
                // is no undoing it. The trace's own memory ran out, as a map's would.
                drop(moved);
                alloc::alloc::handle_alloc_error(live::TABLE_GROWTH);
            }
        }
        Ok(block)
    }

    /// At the tracking level, takes the record of `ptr` out of the tables (the calling thread's
    /// first, then every other shard's) after checking that `layout` fits it; panics, with every
    /// lock released, if it is not live or `layout` does not fit. `None` at the counters level.
    #[inline]
    fn take_record(
        &self,
        writer: &Writer<'_>,
        ptr: NonNull<u8>,
        layout: Layout,
        call: &str,
    ) -> Option<Taken> {
        if self.level() != Level::Tracking {
            return None;
        }
        // The calling thread's table first: a block is most often freed where it was allocated.
        let own = writer.shard();
        if let Some(taken) = take_from(own, ptr, layout, call) {
            return Some(taken);
        }
        self.take_elsewhere(own, ptr, layout, call)
    }

    /// [`take_record`](Self::take_record) for a block not in the calling thread's table: every
    /// other shard's, then a panic.
    #[cold]
    #[inline(never)]
    fn take_elsewhere(
        &self,
        own: &shards::Shard,
        ptr: NonNull<u8>,
        layout: Layout,
        call: &str,
    ) -> Option<Taken> {
        for shard in self.shards.all() {
            if !core::ptr::eq(own, shard)
                && let Some(taken) = take_from(shard, ptr, layout, call)
            {
                return Some(taken);
            }
        }
        let address = ptr.as_ptr().addr();
        let freed = self
            .shards
            .all()
            .find_map(|shard| shard.live.lock().freed_as(address));
        not_live(ptr, layout, call, freed)
    }
}

/// Takes the record of `ptr` out of `shard`'s table if it is there and `layout` fits it (and for
/// a free, remembers it among the table's recent frees); panics, with the lock released, if it is
/// there and `layout` does not fit.
#[inline]
fn take_from(shard: &shards::Shard, ptr: NonNull<u8>, layout: Layout, call: &str) -> Option<Taken> {
    let address = ptr.as_ptr().addr();
    let mut live = shard.live.lock();
    match live.take_if(address, |record| record.fits(layout))? {
        Ok(taken) => {
            if call == "deallocate" {
                live.note_freed(address, taken.record);
            }
            Some(taken)
        }
        Err((record, backtrace)) => {
            drop(live);
            misfit(ptr, layout, call, record, backtrace);
        }
    }
}

/// Puts a record taken out for a resize back under its address, if there was one. If the trace's
/// memory ran out meanwhile, the record is lost (the block then reads as foreign) rather than
/// aborting.
fn restore(table: &Mutex<live::Live>, ptr: NonNull<u8>, taken: Option<Taken>) {
    if let Some(taken) = taken {
        let _ = record(table, ptr, taken);
    }
}

/// Records a block in `table`. Panics, after every lock is released, if the address was live
/// already: the inner allocator handed out a live block again. `Err` gives the record back if
/// there is no memory for it.
fn record(table: &Mutex<live::Live>, block: NonNull<u8>, taken: Taken) -> Result<(), Taken> {
    match live::insert(table, block.as_ptr().addr(), taken) {
        Ok(None) => Ok(()),
        Ok(Some(displaced)) => {
            drop(displaced);
            panic!(
                "allockit::Trace: the inner allocator handed out {block:p}, which is still live"
            );
        }
        Err((taken, AllocError)) => Err(taken),
    }
}

/// Panics for a layout that does not fit its block. The message (which may allocate, for the
/// backtrace) is formatted without any lock.
#[cold]
#[inline(never)]
fn misfit(
    ptr: NonNull<u8>,
    layout: Layout,
    call: &str,
    record: Record,
    backtrace: Option<Backtrace>,
) -> ! {
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
    if let Some(backtrace) = &backtrace {
        let _ = write!(message, "\nallocated at:\n{backtrace}");
    }
    // `backtrace` is dropped while unwinding, without any lock.
    drop(backtrace);
    panic!("{message}");
}

/// Panics for a pointer that is not live: a double free if the address is among the recent
/// frees (`freed`: the size and alignment it had), else a foreign pointer.
#[cold]
#[inline(never)]
fn not_live(ptr: NonNull<u8>, layout: Layout, call: &str, freed: Option<(usize, usize)>) -> ! {
    match freed {
        Some((size, align)) => panic!(
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

impl<A: fmt::Debug> fmt::Debug for Trace<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("level", &self.level())
            .field("stats", &self.stats())
            .field("limit", &self.limit())
            .field("inner", &self.inner)
            .finish()
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
