//! `Arena`: a bump allocator (bumpalo inside) with an exact byte limit, typed allocation, warm
//! resets and stats that say what each byte is doing.
//!
//! What it is: memory comes from a list of chunks; an allocation moves a pointer through the
//! current chunk, and a full chunk is followed by one twice as large. Blocks are not freed one by
//! one: dropping the arena, or [`Arena::reset`], returns everything at once. The C design's
//! `mem_create_arena_allocator(64 * 1024)` is [`Arena::with_capacity(64 * 1024)`](Arena::with_capacity),
//! and its `WITH_ARENA` scope is [`with_arena`]. Values go in with bumpalo's methods and names
//! ([`alloc`](Arena::alloc), [`alloc_slice_copy`](Arena::alloc_slice_copy),
//! [`alloc_slice_fill_iter`](Arena::alloc_slice_fill_iter), ...), and collections take `&Arena`
//! as their allocator.
//!
//! What it costs: an allocation is a subtraction, a comparison and two counter updates; a chunk
//! allocation every time the current chunk runs out, until the arena is warm: a
//! [`reset`](Arena::reset) keeps one chunk large enough for everything the last cycle held at
//! once, so a loop of passes stops reserving memory after its first pass. A free only gives
//! memory back when it is the most recent block; otherwise its bytes stay *freed* until the next
//! reset (hashbrown's old tables after a rehash land here), and so do the old blocks of a `grow`
//! that had to move (a `Vec`'s old buffers). The [`stats`](Arena::stats) say how much of each.
//!
//! What it never does: run destructors of what it holds (the collections that own values drop
//! them; values from [`alloc`](Arena::alloc) and its kin are
//! [never dropped](Arena#values-are-never-dropped)), hand out a block past its [limit](Arena::set_limit), or panic inside `allocate`: an impossible
//! or over-limit request returns [`AllocError`].
//!
//! When to pick it: many allocations that die together, such as a compiler pass, a request, a
//! frame, or a temporary map. For long-lived data with many frees, pick [`Platform`](crate::Platform).
//!
//! Where its memory shows: an arena made with [`Arena::with_account`] (or a scope of
//! [`with_arena_in`]) charges each chunk to a subsystem's [`Account`], so scratch memory appears
//! in [`subsystem::report`](crate::subsystem::report) and under the account's budget; a chunk the
//! budget refuses is an [`AllocError`] like any other refusal. The charging happens only when a
//! chunk is taken or given back, never on the allocation path.
//!
//! It is an allocator by shared reference (`&Arena`: many collections in one arena) and by value
//! (`Arena`: a collection that owns its arena). It is `Send` but not `Sync`, like bumpalo's `Bump`:
//!
//! ```compile_fail
//! fn requires_sync<T: Sync>(_: &T) {}
//! requires_sync(&allockit::Arena::new());
//! ```

use core::cell::Cell;
use core::fmt;
use core::ptr::{self, NonNull};

use crate::units::Bytes;
use crate::{AllocError, Allocator, Layout};

mod chunks;
mod scope;
mod typed;

use chunks::{Account, Chunks};
pub use scope::with_arena;
#[cfg(not(loom))]
pub use scope::with_arena_in;

/// A bump-allocating arena: fast allocation, freeing all at once.
///
/// See the [module documentation](crate::arena) for what it costs and promises.
///
/// # Values are never dropped
///
/// Like bumpalo's `Bump`, the arena hands out memory and forgets what was put in it: a value
/// placed with [`alloc`](Self::alloc), [`alloc_with`](Self::alloc_with) or one of the
/// `alloc_slice_*` methods is never dropped, neither at a [`reset`](Self::reset) nor when the arena
/// goes. For plain data (numbers, `&str`, references into the arena, enums of those) that costs
/// nothing. A value that owns something elsewhere (a `std::string::String`, a file) leaks it. For
/// a value that must be dropped, use [`Box<T, &Arena>`](crate::Box), whose drop runs the
/// destructor and gives the block back, or a collection in the arena:
///
/// ```
/// use allockit::{Arena, Box};
/// use std::cell::Cell;
///
/// struct Noisy<'a>(&'a Cell<u32>);
/// impl Drop for Noisy<'_> {
///     fn drop(&mut self) {
///         self.0.set(self.0.get() + 1);
///     }
/// }
///
/// let drops = Cell::new(0);
/// let arena = Arena::new();
/// arena.alloc(Noisy(&drops)); // never dropped
/// drop(Box::new_in(Noisy(&drops), &arena)); // dropped with its box
/// drop(arena);
/// assert_eq!(drops.get(), 1);
/// ```
///
/// A reference from the arena cannot outlive it:
///
/// ```compile_fail
/// let node: &mut u32;
/// {
///     let arena = allockit::Arena::new();
///     node = arena.alloc(7);
/// }
/// *node += 1;
/// ```
///
/// nor survive a [`reset`](Self::reset), which takes `&mut self`:
///
/// ```compile_fail
/// let mut arena = allockit::Arena::new();
/// let node = arena.alloc(7);
/// arena.reset();
/// *node += 1;
/// ```
///
/// # Examples
///
/// ```
/// use allockit::{strdup_in, Arena, HashMap};
///
/// let arena = Arena::with_capacity(64 * 1024);
/// let mut symbols = HashMap::new_in(&arena);
/// for (i, name) in ["main", "argc", "argv"].into_iter().enumerate() {
///     symbols.insert(strdup_in(name, &arena), i);
/// }
/// assert_eq!(symbols["argv"], 2);
/// drop(symbols);
/// assert!(arena.stats().used > 0);
/// ```
pub struct Arena {
    /// Owns every chunk; every block this arena hands out lies in one of its chunks.
    chunks: Chunks,
    /// How many more bytes may be handed out: `ceiling - used`, where `used` counts the bytes of
    /// the blocks handed out since creation or the last reset that the bump pointer has not taken
    /// back (live blocks plus `freed` plus `left_by_moves`). Kept as one counter so that
    /// `allocate` does one load, one comparison and one store.
    budget: Cell<usize>,
    /// `budget + used`: the limit (`usize::MAX` when there is none), or `used` itself if the limit
    /// was set below what was already used, so that `budget` never goes below zero.
    ceiling: Cell<usize>,
    /// The limit as the user set it.
    limit: Cell<Option<usize>>,
    /// The part of `used` given back by frees that were not of the most recent block, and the
    /// tails cut off by `shrink` that the bump pointer could not take back.
    freed: Cell<usize>,
    /// The part of `used` held by the old blocks that a `grow` (or a shrink to a stricter
    /// alignment) moved away from. `freed + left_by_moves <= used`.
    left_by_moves: Cell<usize>,
    /// The largest `used` recorded since creation or the last reset, taken just before each fall
    /// of `used`: the high-water mark is the larger of this and `used` now.
    peak: Cell<usize>,
}

/// A snapshot of an [`Arena`]'s accounting, from [`Arena::stats`].
///
/// `used` = `live()` + `freed` + `left_by_moves`: the last two are bytes a bump arena cannot hand
/// out again before the next [`reset`](Arena::reset), which takes all of them back. All byte
/// counts but `capacity` are of blocks as requested, without alignment padding.
///
/// `Display` prints one line with KiB/MiB units.
///
/// # Examples
///
/// ```
/// use allockit::{Allocator, Arena, Layout};
///
/// let arena = Arena::new();
/// let layout = Layout::new::<[u8; 100]>();
/// let first = arena.allocate(layout)?;
/// let _second = arena.allocate(layout)?;
/// // SAFETY: `first` came from `arena` with `layout` and is freed once.
/// unsafe { arena.deallocate(first.cast(), layout) };
///
/// let stats = arena.stats();
/// assert_eq!(stats.used, 200);
/// assert_eq!(stats.freed, 100); // not the most recent block: only a reset takes it back
/// assert_eq!(stats.live(), 100);
/// assert_eq!(stats.peak, 200);
/// println!("{stats}");
/// # Ok::<(), allockit::AllocError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArenaStats {
    /// Bytes handed out since creation or the last reset and not taken back by the bump pointer:
    /// live blocks plus `freed` plus `left_by_moves`. This is what the limit caps.
    pub used: usize,
    /// Bytes given back by frees (and by shrinks, for the tail cut off) that the arena cannot
    /// reuse before a reset: a bump arena takes bytes back only from its most recent block.
    /// hashbrown's old tables land here: a rehash allocates the new table and frees the old one.
    pub freed: usize,
    /// Bytes of the old blocks that a `grow` had to move away from (a `Vec`'s old buffer, when
    /// the vector was not the most recent block or its chunk was full), or a shrink to a stricter
    /// alignment; reusable after a reset.
    pub left_by_moves: usize,
    /// The high-water mark of `used` since creation or the last reset.
    pub peak: usize,
    /// Bytes of chunk memory reserved from the global allocator, used or not.
    pub capacity: usize,
    /// How many chunks the arena holds.
    pub chunks: usize,
    /// The byte limit on `used`, if one is set.
    pub limit: Option<usize>,
}

impl ArenaStats {
    /// Bytes in blocks that are still live: `used - freed - left_by_moves`.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// arena.alloc_str("hello");
    /// assert_eq!(arena.stats().live(), 5);
    /// ```
    pub fn live(&self) -> usize {
        self.used - self.freed - self.left_by_moves
    }
}

impl fmt::Display for ArenaStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arena: {} used ({} live, {} freed and {} left by moving grows, both reused after \
             reset), peak {}, of {} in {} chunk{}",
            Bytes(self.used),
            Bytes(self.live()),
            Bytes(self.freed),
            Bytes(self.left_by_moves),
            Bytes(self.peak),
            Bytes(self.capacity),
            self.chunks,
            if self.chunks == 1 { "" } else { "s" },
        )?;
        match self.limit {
            Some(limit) => write!(f, ", limit {}", Bytes(limit)),
            None => Ok(()),
        }
    }
}

impl Arena {
    /// Creates an empty arena; the first allocation reserves its first chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.stats().chunks, 0);
    /// arena.alloc_str("x");
    /// assert_eq!(arena.stats().chunks, 1);
    /// ```
    pub fn new() -> Self {
        Self::from_chunks(Chunks::new(None))
    }

    /// Creates an arena whose first chunk holds at least `bytes` bytes: the C design's
    /// `mem_create_arena_allocator(bytes)`.
    ///
    /// # Panics
    ///
    /// Panics if the chunk cannot be reserved; [`try_with_capacity`](Self::try_with_capacity)
    /// returns an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::with_capacity(64 * 1024);
    /// assert!(arena.stats().capacity >= 64 * 1024);
    /// ```
    pub fn with_capacity(bytes: usize) -> Self {
        match Self::try_with_capacity(bytes) {
            Ok(arena) => arena,
            Err(AllocError) => panic!("allockit: cannot reserve an arena chunk of {bytes} bytes"),
        }
    }

    /// Like [`with_capacity`](Self::with_capacity), but returns an error when the chunk cannot be
    /// reserved.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the global allocator refuses the chunk, or `bytes` is larger than any
    /// layout can be.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::Arena;
    ///
    /// assert!(Arena::try_with_capacity(4096).is_ok());
    /// assert!(Arena::try_with_capacity(usize::MAX).is_err());
    /// ```
    pub fn try_with_capacity(bytes: usize) -> Result<Self, AllocError> {
        Self::try_with_room(bytes, None)
    }

    /// Creates an empty arena whose chunks are charged to `account`, so that its memory shows in
    /// that subsystem's live and peak bytes and in [`subsystem::report`](crate::subsystem::report),
    /// and counts against its [budget](Account::set_budget).
    ///
    /// What is charged is chunk memory, not blocks: each chunk the arena reserves is one live
    /// block of the account, of the chunk's usable bytes (the arena's
    /// [`capacity`](ArenaStats::capacity) counts the same bytes; bumpalo's footer of six words per
    /// chunk is not counted). The charge is made before the chunk is taken and is exact: the arena
    /// works out the size the chunk will have, and the budget is asked for that, so a budget
    /// refuses a chunk only if that chunk would take the account past it. A refused chunk makes
    /// the request that needed it fail with [`AllocError`], and nothing else changes: the blocks
    /// already handed out, the stats, and the account's figures but its failure count stay as
    /// they were, and a later request that fits the current chunk still succeeds.
    ///
    /// Chunks are given back to the account when they go back to the global allocator: all of
    /// them when the arena is dropped or [`reset_and_shrink`](Self::reset_and_shrink) is called,
    /// all but the one kept by a [`reset`](Self::reset). The chunk a reset keeps stays charged:
    /// the arena still holds it. A reset that replaces the chunks by one larger chunk gives every
    /// old chunk back first and then charges the new one, so a budget that covers the new chunk
    /// alone is enough; if the budget refuses it, the arena is left with no chunk, as
    /// `reset_and_shrink` leaves it.
    ///
    /// The arena's own [limit](Self::set_limit) is separate and unchanged: it caps the bytes
    /// handed out in blocks, while the account's budget caps the chunk memory reserved.
    ///
    /// The account is [registered](Account::register), so the report lists it from now on.
    /// [`with_arena_in`] is the same for a `with_arena` scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::{self, Account};
    /// use allockit::{AllocError, Arena, Vec};
    ///
    /// static REQUESTS: Account = Account::new("requests");
    ///
    /// let mut arena = Arena::with_account(&REQUESTS);
    /// let mut ids: Vec<u64, &Arena> = Vec::with_capacity_in(1000, &arena);
    /// ids.extend(0..1000);
    /// // The arena's chunks are the account's live bytes, one live block per chunk.
    /// let stats = REQUESTS.stats();
    /// assert_eq!(stats.live_bytes, arena.stats().capacity);
    /// assert_eq!(stats.live_blocks, arena.stats().chunks);
    /// assert!(subsystem::report().to_string().contains("requests"));
    ///
    /// // A budget refuses the next chunk, and the arena answers `AllocError`.
    /// REQUESTS.set_budget(Some(stats.live_bytes));
    /// assert_eq!(ids.try_reserve(10_000).map_err(|_| AllocError), Err(AllocError));
    /// assert_eq!(ids.len(), 1000);
    ///
    /// drop(ids);
    /// arena.reset(); // the chunk kept stays charged
    /// assert_eq!(REQUESTS.stats().live_bytes, arena.stats().capacity);
    /// drop(arena);
    /// assert_eq!(REQUESTS.stats().live_bytes, 0);
    /// ```
    #[cfg(not(loom))]
    pub fn with_account(account: &'static Account) -> Self {
        account.register();
        Self::from_chunks(Chunks::new(Some(account)))
    }

    /// An arena charged to `account` (if any) whose first chunk holds at least `bytes` bytes.
    fn try_with_room(bytes: usize, account: Option<&'static Account>) -> Result<Self, AllocError> {
        if bytes > isize::MAX as usize {
            return Err(AllocError);
        }
        Chunks::with_room(bytes, account).map(Self::from_chunks)
    }

    fn from_chunks(chunks: Chunks) -> Self {
        Self {
            chunks,
            budget: Cell::new(usize::MAX),
            ceiling: Cell::new(usize::MAX),
            limit: Cell::new(None),
            freed: Cell::new(0),
            left_by_moves: Cell::new(0),
            peak: Cell::new(0),
        }
    }

    /// Sets the most bytes the arena may hand out ([`ArenaStats::used`]), or removes the limit.
    ///
    /// The limit is exact: a request that would take `used` past it returns [`AllocError`], even
    /// when the current chunk has room (bumpalo's own limit is checked only when a chunk is added).
    /// Lowering the limit below what is already used makes every further request (but a
    /// zero-sized one) fail until enough is given back or the arena is [`reset`](Self::reset).
    /// Chunk capacity is reserved ahead of use and may exceed the limit by up to one chunk's
    /// growth, or by the chunk a reset keeps.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, Box};
    ///
    /// let arena = Arena::new();
    /// arena.set_limit(Some(16));
    /// let a = Box::try_new_in([0u8; 12], &arena)?;
    /// assert!(Box::try_new_in([0u8; 8], &arena).is_err()); // 12 + 8 > 16
    /// let b = Box::try_new_in([0u8; 4], &arena)?; // exactly 16
    /// assert_eq!(arena.stats().used, 16);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn set_limit(&self, limit: Option<usize>) {
        self.limit.set(limit);
        self.set_used(self.used());
    }

    /// The byte limit set by [`set_limit`](Self::set_limit), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.limit(), None);
    /// arena.set_limit(Some(1024));
    /// assert_eq!(arena.limit(), Some(1024));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.limit.get()
    }

    /// The account the arena's chunks are charged to, if it has one (see
    /// [`with_account`](Self::with_account)).
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::{Account, COMPILER};
    /// use allockit::Arena;
    ///
    /// assert!(Arena::new().account().is_none());
    /// let arena = Arena::with_account(&COMPILER);
    /// assert!(arena.account().is_some_and(|a| std::ptr::eq(a, &COMPILER)));
    /// ```
    #[cfg(not(loom))]
    pub fn account(&self) -> Option<&'static Account> {
        self.chunks.account()
    }

    /// Frees every block at once and keeps one chunk large enough for everything the arena held at
    /// its peak since the last reset, so that the same work again reserves no memory. The limit
    /// stays.
    ///
    /// The policy, exactly: during a cycle (from creation or a reset to the next reset) the arena
    /// records its high-water mark of chunk memory taken, which is the cycle's
    /// [`peak`](ArenaStats::peak) of used bytes plus the alignment padding between blocks and the
    /// unfilled ends of the chunks it moved on from. `reset` frees every chunk but the newest (the
    /// largest); if that one is smaller than the high-water mark, it frees that one too and then
    /// reserves one chunk of that size, so that the new chunk never sits beside the ones it
    /// replaces (neither in memory nor in an [account](Self::with_account)'s budget). A loop that does the same work in every cycle reserves chunks in
    /// its first cycle as the arena grows, one chunk at its first reset, and then nothing: the
    /// one chunk holds everything the first cycle's chunks held. The exception is alignment
    /// padding that falls differently in one chunk than it did across several; a cycle that
    /// overflows for that reason makes the next reset keep a chunk larger by at least what the
    /// overflow took, so the loop settles within a cycle or two more (bumpalo's rounding of chunk
    /// sizes up to whole pages usually absorbs the difference).
    ///
    /// `reset` never gives the newest chunk back, even after a cycle that needed less of it; use
    /// [`reset_and_shrink`](Self::reset_and_shrink) to return the memory. If the larger chunk
    /// cannot be had, the arena is left with no chunk, as `reset_and_shrink` leaves it, and the
    /// next cycle grows as usual. The chunk kept is reserved memory, not used bytes: the limit
    /// does not count it (an account's budget does).
    ///
    /// Taking `&mut self` is what makes this sound: no collection or reference can still be
    /// borrowing from the arena.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, Vec};
    ///
    /// let mut arena = Arena::new();
    /// let mut chunks_reserved = std::vec::Vec::new();
    /// for _pass in 0..4 {
    ///     let mut names = Vec::new_in(&arena);
    ///     for i in 0..2000 {
    ///         names.push(arena.alloc_str(if i % 2 == 0 { "short" } else { "a longer name" }));
    ///     }
    ///     drop(names);
    ///     chunks_reserved.push(arena.stats().chunks);
    ///     arena.reset();
    /// }
    /// // The first pass grew through several chunks; every later pass fits the one chunk kept.
    /// assert!(chunks_reserved[0] > 1);
    /// assert_eq!(chunks_reserved[2..], [1, 1]);
    /// assert_eq!(arena.stats().used, 0);
    /// ```
    pub fn reset(&mut self) {
        self.chunks.reset();
        self.forget_blocks();
    }

    /// Frees every block and gives every chunk back to the global allocator: the arena is as
    /// [`new`](Self::new) made it, with its limit. The next allocation starts again from a small
    /// chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut arena = allockit::Arena::with_capacity(1 << 20);
    /// arena.alloc_str("scratch");
    /// arena.reset_and_shrink();
    /// let stats = arena.stats();
    /// assert_eq!((stats.used, stats.capacity, stats.chunks), (0, 0, 0));
    /// ```
    pub fn reset_and_shrink(&mut self) {
        self.chunks.release_all();
        self.forget_blocks();
    }

    /// Copies `s` into the arena and returns the copy, borrowed from the arena.
    ///
    /// This is the lean way to store strings in an arena: a `&str` is 16 bytes, while a
    /// [`Box<str, &Arena>`](crate::Box) from [`strdup_in`](crate::strdup_in) is 24, because every
    /// box carries its allocator reference. Use `alloc_str` for keys and values that live exactly
    /// as long as the arena (a map of `&str` in the same arena); use `strdup_in` where the string
    /// must own its memory, or where code is generic over the allocator. To build a string piece
    /// by piece, use a [`String<&Arena>`](crate::String) and
    /// [`into_arena_str`](crate::String::into_arena_str).
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory; see
    /// [`try_alloc_str`](Self::try_alloc_str).
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, HashMap};
    ///
    /// let arena = Arena::new();
    /// let mut counts: HashMap<&str, u32, &Arena> = HashMap::new_in(&arena);
    /// for word in "a b a".split(' ') {
    ///     *counts.entry(arena.alloc_str(word)).or_insert(0) += 1;
    /// }
    /// assert_eq!(counts["a"], 2);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_str(&self, s: &str) -> &str {
        match self.try_alloc_str(s) {
            Ok(copy) => copy,
            Err(AllocError) => panic!("allockit: arena cannot store a string of {} bytes", s.len()),
        }
    }

    /// Copies `s` into the arena, or returns an error if the arena is past its limit or out of
    /// memory.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the copy would take the arena past its limit, or no chunk can be had.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// arena.set_limit(Some(4));
    /// assert_eq!(arena.try_alloc_str("abcd")?, "abcd");
    /// assert!(arena.try_alloc_str("e").is_err());
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_str(&self, s: &str) -> Result<&str, AllocError> {
        let bytes = self.try_alloc_slice_copy(s.as_bytes())?;
        // SAFETY: the bytes are a copy of a `str`, so they are valid UTF-8.
        Ok(unsafe { core::str::from_utf8_unchecked(bytes) })
    }

    /// A snapshot of the arena's accounting: bytes used, live, freed, left by moving grows, the
    /// peak, capacity, chunks and limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, HashMap};
    ///
    /// let arena = Arena::new();
    /// let mut map = HashMap::new_in(&arena);
    /// for i in 0..1000 {
    ///     map.insert(i, i);
    /// }
    /// let stats = arena.stats();
    /// // Each rehash allocated a larger table and freed the old one: only a reset takes it back.
    /// assert!(stats.freed > 0);
    /// assert!(stats.used <= stats.peak && stats.peak <= stats.capacity);
    /// ```
    pub fn stats(&self) -> ArenaStats {
        ArenaStats {
            used: self.used(),
            freed: self.freed.get(),
            left_by_moves: self.left_by_moves.get(),
            peak: self.peak(),
            capacity: self.chunks.capacity(),
            chunks: self.chunks.count(),
            limit: self.limit(),
        }
    }

    /// Bytes handed out and not taken back: live blocks plus freed ones plus those left by moves.
    fn used(&self) -> usize {
        self.ceiling.get() - self.budget.get()
    }

    /// The high-water mark of `used` since creation or the last reset.
    fn peak(&self) -> usize {
        self.peak.get().max(self.used())
    }

    /// Sets `used` and recomputes the ceiling from the limit (the slow path: reset, limit changes,
    /// bytes given back).
    fn set_used(&self, used: usize) {
        let ceiling = self.limit.get().unwrap_or(usize::MAX).max(used);
        self.ceiling.set(ceiling);
        self.budget.set(ceiling - used);
    }

    /// After the chunks let go of every block: the counters of a new cycle.
    fn forget_blocks(&mut self) {
        self.set_used(0);
        self.freed.set(0);
        self.left_by_moves.set(0);
        self.peak.set(0);
    }

    /// Checks that `extra` more bytes fit under the limit and returns the budget left after them.
    #[inline(always)]
    fn admit(&self, extra: usize) -> Result<usize, AllocError> {
        let budget = self.budget.get();
        if extra > budget {
            return Err(AllocError);
        }
        Ok(budget - extra)
    }

    /// Records that the bump pointer took `bytes` back: `used` falls, so the peak is raised to
    /// what `used` was first.
    #[inline(always)]
    fn reclaim(&self, bytes: usize) {
        if bytes != 0 {
            let used = self.used();
            if used > self.peak.get() {
                self.peak.set(used);
            }
            self.set_used(used - bytes);
        }
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: the `Allocator` contract, argued for `Arena` (and `&Arena` by allocator-api2's blanket
// impl for references):
// - Blocks stay valid while the arena lives: they lie in chunks that are freed only by
//   `Arena::reset` and `Arena::reset_and_shrink` (which take `&mut self`, so no collection can
//   still hold a block) and when the arena is dropped.
// - Moving the arena invalidates nothing: the chunks are separate heap allocations that `Bump`
//   points to; they do not move with it. `Arena` is not `Clone`, so there are no clones to
//   consider.
// - Any block it handed out may be passed to any of its methods: every method forwards the block
//   to the one `Bump` (inside `Chunks`) that allocated it, with the caller's layout, and keeps only
//   counters.
unsafe impl Allocator for Arena {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let budget = self.admit(layout.size())?;
        let block = self.chunks.allocate(layout)?;
        self.budget.set(budget);
        Ok(NonNull::slice_from_raw_parts(block, layout.size()))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller guarantees that `ptr` is a live block of this arena, hence of
        // `self.chunks`, and that `layout` fits it; allocate/grow/shrink return exactly the
        // requested size, so `layout.size()` is the block's size.
        let reclaimed = unsafe { self.chunks.deallocate(ptr, layout) };
        if reclaimed == 0 {
            self.freed.set(self.freed.get() + layout.size());
        } else {
            self.reclaim(reclaimed);
            self.freed.set(self.freed.get() + layout.size() - reclaimed);
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() >= old_layout.size());
        let in_place = self.chunks.grows_in_place(ptr, old_layout, new_layout);
        let extra = if in_place {
            new_layout.size() - old_layout.size()
        } else {
            new_layout.size()
        };
        let budget = self.admit(extra)?;
        // SAFETY: the caller guarantees that `ptr` is a live block of this arena (so of
        // `self.chunks`) fitting `old_layout`, and that `new_layout` is at least as large.
        let block = unsafe { self.chunks.grow(ptr, old_layout, new_layout) }?;
        self.budget.set(budget);
        if !in_place {
            self.left_by_moves
                .set(self.left_by_moves.get() + old_layout.size());
        }
        debug_assert!(
            !in_place
                || block.cast::<u8>().as_ptr().addr()
                    + (new_layout.size() - old_layout.size()).next_multiple_of(old_layout.align())
                    == ptr.as_ptr().addr(),
            "allockit: bumpalo did not grow {ptr:p} in place as its rule predicts"
        );
        Ok(block)
    }

    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's guarantees for `grow_zeroed` are those of `grow`.
        let block = unsafe { self.grow(ptr, old_layout, new_layout) }?;
        let tail = new_layout.size() - old_layout.size();
        // SAFETY: `block` holds `new_layout.size()` bytes, so the `tail` bytes from offset
        // `old_layout.size()` are inside it; they are written, not read.
        unsafe { ptr::write_bytes(block.cast::<u8>().as_ptr().add(old_layout.size()), 0, tail) };
        Ok(block)
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() <= old_layout.size());
        if !ptr.as_ptr().addr().is_multiple_of(new_layout.align()) {
            // A stricter alignment the block does not meet: move to a new block.
            let block = self.allocate(new_layout)?;
            // SAFETY: the old block holds at least `new_layout.size()` initialised-or-not bytes the
            // caller owns, and `block` is a fresh, disjoint block of that size.
            unsafe {
                ptr::copy_nonoverlapping(
                    ptr.as_ptr(),
                    block.cast::<u8>().as_ptr(),
                    new_layout.size(),
                )
            };
            self.left_by_moves
                .set(self.left_by_moves.get() + old_layout.size());
            return Ok(block);
        }
        // SAFETY: as above, `ptr` is a live block of `self.chunks` fitting `old_layout`, and
        // `new_layout` is no larger; the block is aligned for `new_layout`.
        let (block, reclaimed) = unsafe { self.chunks.shrink(ptr, old_layout, new_layout) }?;
        self.reclaim(reclaimed);
        self.freed
            .set(self.freed.get() + (old_layout.size() - new_layout.size()) - reclaimed);
        Ok(block)
    }
}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("stats", &self.stats())
            .field("account", &self.chunks.account().map(Account::name))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes taken from the chunks, including alignment padding: bumpalo's own view, valid while
    /// the arena has one chunk.
    fn consumed(arena: &Arena) -> usize {
        arena.chunks.capacity() - arena.chunks.room()
    }

    /// `(used, freed, left_by_moves)`.
    fn counts(arena: &Arena) -> (usize, usize, usize) {
        let stats = arena.stats();
        (stats.used, stats.freed, stats.left_by_moves)
    }

    #[test]
    fn accounting_matches_bumpalo_within_one_chunk() {
        // With byte-aligned blocks there is no padding, so `used` must equal what bumpalo consumed.
        let arena = Arena::with_capacity(4096);
        let l = |n| Layout::from_size_align(n, 1).unwrap();
        let a = arena.allocate(l(100)).unwrap().cast::<u8>();
        let b = arena.allocate(l(50)).unwrap().cast::<u8>();
        assert_eq!(arena.used(), consumed(&arena));
        // SAFETY: `b` is the most recent block, of 50 bytes: growing it stays in place.
        let b = unsafe { arena.grow(b, l(50), l(80)) }.unwrap().cast::<u8>();
        assert_eq!(counts(&arena), (180, 0, 0));
        assert_eq!(arena.used(), consumed(&arena));
        // SAFETY: `a` is not the most recent block: growing it moves it and leaves the old one.
        let a = unsafe { arena.grow(a, l(100), l(120)) }
            .unwrap()
            .cast::<u8>();
        assert_eq!(counts(&arena), (300, 0, 100));
        assert_eq!(arena.used(), consumed(&arena));
        // SAFETY: `a` is now the most recent block: freeing it gives its bytes back.
        unsafe { arena.deallocate(a, l(120)) };
        assert_eq!(counts(&arena), (180, 0, 100));
        assert_eq!(arena.used(), consumed(&arena));
        // SAFETY: `b` is a live 80-byte block. With `a` gone the bump pointer is back at `b`, so
        // its bytes come back too; the old 100 bytes of `a` stay until a reset.
        unsafe { arena.deallocate(b, l(80)) };
        assert_eq!(counts(&arena), (100, 0, 100));
        assert_eq!(arena.used(), consumed(&arena));
        assert_eq!(arena.stats().peak, 300);
    }

    #[test]
    fn shrink_of_the_most_recent_block_gives_its_tail_back() {
        let arena = Arena::with_capacity(4096);
        let l = |n| Layout::from_size_align(n, 1).unwrap();
        let a = arena.allocate(l(1000)).unwrap().cast::<u8>();
        // SAFETY: `a` is a live 1000-byte block; shrinking by more than half lets bumpalo reclaim.
        let a = unsafe { arena.shrink(a, l(1000), l(100)) }
            .unwrap()
            .cast::<u8>();
        assert_eq!(arena.used(), consumed(&arena));
        assert_eq!(arena.stats().live(), 100);
        assert_eq!(arena.stats().peak, 1000);
        // SAFETY: `a` is a live 100-byte block.
        unsafe { arena.deallocate(a, l(100)) };
        assert_eq!(arena.used(), consumed(&arena));
    }

    #[test]
    fn in_place_rule_agrees_with_bumpalo_for_aligned_blocks() {
        let arena = Arena::with_capacity(4096);
        let l8 = |n| Layout::from_size_align(n, 8).unwrap();
        let a = arena.allocate(l8(3)).unwrap().cast::<u8>();
        // Growing by 5 needs 8 bytes below the block: still in place (the debug assertion in
        // `grow` checks bumpalo's result against the prediction).
        assert!(arena.chunks.grows_in_place(a, l8(3), l8(8)));
        // SAFETY: `a` is a live 3-byte block with alignment 8.
        let a = unsafe { arena.grow(a, l8(3), l8(8)) }.unwrap().cast::<u8>();
        assert_eq!(arena.left_by_moves.get(), 0);
        // A stricter alignment is never grown in place.
        assert!(
            !arena
                .chunks
                .grows_in_place(a, l8(8), Layout::from_size_align(16, 16).unwrap())
        );
        // SAFETY: `a` is a live 8-byte block.
        unsafe { arena.deallocate(a, l8(8)) };
    }

    #[test]
    fn a_grow_into_a_new_chunk_is_counted_as_a_move() {
        let arena = Arena::with_capacity(1024);
        let l = |n| Layout::from_size_align(n, 1).unwrap();
        let room = arena.chunks.room();
        let a = arena.allocate(l(room - 10)).unwrap().cast::<u8>();
        // SAFETY: `a` is the most recent block but the chunk lacks the room: it moves to a new one.
        unsafe { arena.grow(a, l(room - 10), l(room + 10)) }.unwrap();
        assert_eq!(arena.stats().chunks, 2);
        assert_eq!(counts(&arena), (2 * room, 0, room - 10));
        arena.chunks.check_invariants();
    }
}
