//! `Arena`: a bump allocator (bumpalo inside) with an exact byte limit and honest stats.
//!
//! What it is: memory comes from a list of chunks; an allocation moves a pointer through the
//! current chunk, and a full chunk is followed by one twice as large. Blocks are not freed one by
//! one: dropping the arena, or [`Arena::reset`], returns everything at once. The C design's
//! `mem_create_arena_allocator(64 * 1024)` is [`Arena::with_capacity(64 * 1024)`](Arena::with_capacity),
//! and its `WITH_ARENA` scope is [`with_arena`].
//!
//! What it costs: an allocation is a subtraction, a comparison and two counter updates; a chunk
//! allocation every time the current chunk runs out. A free only gives memory back when it is the
//! most recent block; otherwise its bytes are *wasted* until the next reset, and so are the old
//! blocks of a `grow` that had to move (hashbrown's old tables after a rehash land here). The
//! [`stats`](Arena::stats) say how much.
//!
//! What it never does: run destructors of what it holds (the collections that own values drop
//! them), hand out a block past its [limit](Arena::set_limit), or panic inside `allocate`: an
//! impossible or over-limit request returns [`AllocError`].
//!
//! When to pick it: many allocations that die together, such as a compiler pass, a request, a
//! frame, or a temporary map. For long-lived data with many frees, pick [`Platform`](crate::Platform).
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

use bumpalo::Bump;

use crate::units::Bytes;
use crate::{AllocError, Allocator, Layout};

/// A bump-allocating arena: fast allocation, freeing all at once.
///
/// See the [module documentation](crate::arena) for what it costs and promises.
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
    bump: Bump,
    /// How many more bytes may be handed out: `ceiling - used`, where `used` counts the bytes of
    /// the blocks handed out since creation or the last reset that the bump pointer has not taken
    /// back (live blocks plus `wasted`). Kept as one counter so that `allocate` does one load, one
    /// comparison and one store.
    budget: Cell<usize>,
    /// `budget + used`: the limit (`usize::MAX` when there is none), or `used` itself if the limit
    /// was set below what was already used, so that `budget` never goes below zero.
    ceiling: Cell<usize>,
    /// The limit as the user set it.
    limit: Cell<Option<usize>>,
    /// The part of `used` that no live block occupies: freed blocks (other than the most recent
    /// one), blocks a `grow` moved away from, and tails cut off by `shrink`. Always `<= used`.
    wasted: Cell<usize>,
}

/// A snapshot of an [`Arena`]'s accounting, from [`Arena::stats`].
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
/// assert_eq!(stats.wasted, 100); // not the most recent block: only a reset takes it back
/// assert_eq!(stats.live(), 100);
/// println!("{stats}");
/// # Ok::<(), allockit::AllocError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArenaStats {
    /// Bytes handed out and not taken back by the bump pointer: live blocks plus `wasted`. This is
    /// what the limit caps. Alignment padding is not counted.
    pub used: usize,
    /// The part of `used` held by freed blocks, blocks a `grow` moved away from, and tails cut off
    /// by `shrink`, which a bump arena cannot reuse before a reset.
    pub wasted: usize,
    /// Bytes of chunk memory reserved from the global allocator, used or not.
    pub capacity: usize,
    /// How many chunks the arena holds.
    pub chunks: usize,
    /// The byte limit on `used`, if one is set.
    pub limit: Option<usize>,
}

impl ArenaStats {
    /// Bytes in blocks that are still live: `used - wasted`.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// arena.alloc_str("hello");
    /// assert_eq!(arena.stats().live(), 5);
    /// ```
    pub fn live(&self) -> usize {
        self.used - self.wasted
    }
}

impl fmt::Display for ArenaStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arena: {} used ({} live, {} wasted) of {} in {} chunk{}",
            Bytes(self.used),
            Bytes(self.live()),
            Bytes(self.wasted),
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
        Self::from_bump(Bump::new())
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
        Self::from_bump(Bump::with_capacity(bytes))
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
        if bytes > isize::MAX as usize {
            return Err(AllocError);
        }
        Bump::try_with_capacity(bytes)
            .map(Self::from_bump)
            .map_err(|_| AllocError)
    }

    fn from_bump(bump: Bump) -> Self {
        Self {
            bump,
            budget: Cell::new(usize::MAX),
            ceiling: Cell::new(usize::MAX),
            limit: Cell::new(None),
            wasted: Cell::new(0),
        }
    }

    /// Sets the most bytes the arena may hand out ([`ArenaStats::used`]), or removes the limit.
    ///
    /// The limit is exact: a request that would take `used` past it returns [`AllocError`], even
    /// when the current chunk has room (bumpalo's own limit is checked only when a chunk is added).
    /// Lowering the limit below what is already used makes every further request (but a
    /// zero-sized one) fail until enough is given back or the arena is [`reset`](Self::reset).
    /// Chunk capacity is reserved ahead of use and may exceed the limit by up to one chunk's
    /// growth.
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

    /// Frees every block at once and keeps the largest chunk for reuse; the limit stays.
    ///
    /// Taking `&mut self` is what makes this sound: no collection or reference can still be
    /// borrowing from the arena.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut arena = allockit::Arena::new();
    /// for _ in 0..1000 {
    ///     arena.alloc_str("some text that fills chunks");
    /// }
    /// let before = arena.stats();
    /// arena.reset();
    /// let after = arena.stats();
    /// assert_eq!(after.used, 0);
    /// assert_eq!(after.chunks, 1);
    /// assert!(after.capacity <= before.capacity);
    /// ```
    pub fn reset(&mut self) {
        self.bump.reset();
        self.set_used(0);
        self.wasted.set(0);
    }

    /// Copies `s` into the arena and returns the copy, borrowed from the arena.
    ///
    /// This is the lean way to store strings in an arena: a `&str` is 16 bytes, while a
    /// [`Box<str, &Arena>`](crate::Box) from [`strdup_in`](crate::strdup_in) is 24, because every
    /// box carries its allocator reference. Use `alloc_str` for keys and values that live exactly
    /// as long as the arena (a map of `&str` in the same arena); use `strdup_in` where the string
    /// must own its memory, or where code is generic over the allocator.
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
    pub fn try_alloc_str(&self, s: &str) -> Result<&str, AllocError> {
        let layout = Layout::for_value(s);
        let block = self.allocate(layout)?.cast::<u8>();
        // SAFETY: `block` is a fresh allocation of `s.len()` bytes that cannot overlap `s`.
        unsafe { ptr::copy_nonoverlapping(s.as_ptr(), block.as_ptr(), s.len()) };
        // SAFETY: the `s.len()` bytes at `block` are initialised with a copy of a `str`, so they
        // are valid UTF-8; the block stays valid and unaliased until the arena is reset (which
        // takes `&mut self`) or dropped, so it may be borrowed for as long as `self`.
        Ok(unsafe {
            core::str::from_utf8_unchecked(core::slice::from_raw_parts(block.as_ptr(), s.len()))
        })
    }

    /// A snapshot of the arena's accounting: bytes used and wasted, capacity, chunks, limit.
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
    /// // Each rehash moved the table and left the old one behind.
    /// assert!(stats.wasted > 0);
    /// assert!(stats.used <= stats.capacity);
    /// ```
    pub fn stats(&self) -> ArenaStats {
        // SAFETY: the iterator only walks the chunk list to count it; nothing allocates in this
        // arena while it lives and no chunk memory is read.
        let chunks = unsafe { self.bump.iter_allocated_chunks_raw() }.count();
        ArenaStats {
            used: self.used(),
            wasted: self.wasted.get(),
            capacity: self.bump.allocated_bytes(),
            chunks,
            limit: self.limit(),
        }
    }

    /// Bytes handed out and not taken back: live blocks plus wasted ones.
    fn used(&self) -> usize {
        self.ceiling.get() - self.budget.get()
    }

    /// Sets `used` and recomputes the ceiling from the limit (the slow path: reset, limit changes,
    /// bytes given back).
    fn set_used(&self, used: usize) {
        let ceiling = self.limit.get().unwrap_or(usize::MAX).max(used);
        self.ceiling.set(ceiling);
        self.budget.set(ceiling - used);
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

    /// Records that the bump pointer took `bytes` back.
    #[inline(always)]
    fn reclaim(&self, bytes: usize) {
        if bytes != 0 {
            self.set_used(self.used() - bytes);
        }
    }

    /// Whether bumpalo will grow the block at `ptr` in place: it is the most recent block, the
    /// alignment does not increase, and the current chunk has room for the extra bytes. This is
    /// bumpalo 3's own rule, repeated here so the limit can be checked before the grow.
    fn grows_in_place(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> bool {
        if old.size() == 0 || new.align() > old.align() {
            return false;
        }
        // SAFETY: the iterator only reads the current chunk's bump pointer; nothing allocates in
        // this arena while it lives and no chunk memory is read.
        let top = unsafe { self.bump.iter_allocated_chunks_raw() }.next();
        let is_last = top.is_some_and(|(start, _)| start == ptr.as_ptr());
        let extra = (new.size() - old.size()).next_multiple_of(old.align());
        is_last && self.bump.chunk_capacity() >= extra
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: the `Allocator` contract, argued for `Arena` (and `&Arena` by allocator-api2's blanket
// impl for references):
// - Blocks stay valid while the arena lives: they lie in chunks that bumpalo frees only in
//   `Bump::reset` (reached through `Arena::reset`, which takes `&mut self`, so no collection can
//   still hold a block) and when the arena is dropped.
// - Moving the arena invalidates nothing: the chunks are separate heap allocations that `Bump`
//   points to; they do not move with it. `Arena` is not `Clone`, so there are no clones to consider.
// - Any block it handed out may be passed to any of its methods: every method forwards the block
//   to the one `Bump` that allocated it, with the caller's layout, and keeps only counters.
unsafe impl Allocator for Arena {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let budget = self.admit(layout.size())?;
        let block = self.bump.try_alloc_layout(layout).map_err(|_| AllocError)?;
        self.budget.set(budget);
        Ok(NonNull::slice_from_raw_parts(block, layout.size()))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let before = self.bump.chunk_capacity();
        // SAFETY: the caller guarantees that `ptr` is a live block of this arena, hence of
        // `self.bump`, and that `layout` fits it; allocate/grow/shrink return exactly the
        // requested size, so `layout.size()` is the block's size.
        unsafe { (&self.bump).deallocate(ptr, layout) };
        // bumpalo takes the bytes back only when `ptr` is the most recent block.
        let reclaimed = self.bump.chunk_capacity() - before;
        self.reclaim(reclaimed);
        self.wasted
            .set(self.wasted.get() + layout.size() - reclaimed);
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() >= old_layout.size());
        let in_place = self.grows_in_place(ptr, old_layout, new_layout);
        let extra = if in_place {
            new_layout.size() - old_layout.size()
        } else {
            new_layout.size()
        };
        let budget = self.admit(extra)?;
        // SAFETY: the caller guarantees that `ptr` is a live block of this arena (so of
        // `self.bump`) fitting `old_layout`, and that `new_layout` is at least as large.
        let block = unsafe { (&self.bump).grow(ptr, old_layout, new_layout) }?;
        self.budget.set(budget);
        if !in_place {
            self.wasted.set(self.wasted.get() + old_layout.size());
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
            self.wasted.set(self.wasted.get() + old_layout.size());
            return Ok(block);
        }
        let before = self.bump.chunk_capacity();
        // SAFETY: as above, `ptr` is a live block of `self.bump` fitting `old_layout`, and
        // `new_layout` is no larger. The block is aligned for `new_layout`, so bumpalo shrinks it
        // without allocating (it may move the most recent block up to give its tail back).
        let block = unsafe { (&self.bump).shrink(ptr, old_layout, new_layout) }?;
        let reclaimed = self.bump.chunk_capacity() - before;
        self.reclaim(reclaimed);
        self.wasted
            .set(self.wasted.get() + (old_layout.size() - new_layout.size()) - reclaimed);
        Ok(block)
    }
}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Runs `f` with a temporary arena and frees everything it allocated when `f` returns: the C
/// design's `WITH_ARENA(temp, capacity, { ... })`.
///
/// The arena's first chunk holds at least `capacity` bytes. With the `std` feature, arenas come
/// from a small per-thread pool and go back to it reset, so a warm `with_arena` (in a loop, or
/// nested) reserves no new chunk: it costs about as much as a reset. A limit set inside `f` does
/// not outlive the scope.
///
/// Nothing borrowed from the arena can escape the closure; the borrow checker refuses it:
///
/// ```compile_fail
/// let escaped: &str = allockit::with_arena(64, |temp| temp.alloc_str("escapes"));
/// ```
///
/// Owned results built from the arena's contents are fine.
///
/// # Panics
///
/// Panics if a new arena's first chunk cannot be reserved, and whenever `f` panics (the arena is
/// still reset and returned to the pool).
///
/// # Examples
///
/// ```
/// use allockit::{strdup_in, with_arena, HashMap};
///
/// let longest = with_arena(8192, |temp| {
///     let mut lengths = HashMap::new_in(temp);
///     for word in "a scope frees all of this at once".split(' ') {
///         lengths.insert(strdup_in(word, temp), word.len());
///     }
///     lengths.values().copied().max()
/// });
/// assert_eq!(longest, Some(5));
/// ```
pub fn with_arena<R>(capacity: usize, f: impl FnOnce(&Arena) -> R) -> R {
    let scope = pool::Scope::enter(capacity);
    f(scope.arena())
}

/// Where `with_arena` gets its arenas: a per-thread pool with `std`, a fresh arena without.
mod pool {
    use super::Arena;

    /// Arenas kept per thread; deeper nesting than this creates and drops arenas as it goes.
    #[cfg(feature = "std")]
    const POOL_SIZE: usize = 8;

    #[cfg(feature = "std")]
    std::thread_local! {
        static POOL: core::cell::RefCell<alloc::vec::Vec<Arena>> =
            const { core::cell::RefCell::new(alloc::vec::Vec::new()) };
    }

    /// One `with_arena` scope: holds its arena and gives it back, reset, when dropped.
    pub(super) struct Scope {
        /// `Some` until `drop` takes it to return it to the pool.
        arena: Option<Arena>,
    }

    impl Scope {
        pub(super) fn enter(capacity: usize) -> Self {
            #[cfg(feature = "std")]
            let arena = POOL
                .try_with(|pool| pool.borrow_mut().pop())
                .ok()
                .flatten()
                .filter(|arena| arena.bump.chunk_capacity() >= capacity)
                .unwrap_or_else(|| Arena::with_capacity(capacity));
            #[cfg(not(feature = "std"))]
            let arena = Arena::with_capacity(capacity);
            Self { arena: Some(arena) }
        }

        pub(super) fn arena(&self) -> &Arena {
            self.arena
                .as_ref()
                .expect("a scope holds its arena until dropped")
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            #[cfg(feature = "std")]
            if let Some(mut arena) = self.arena.take() {
                arena.reset();
                arena.set_limit(None);
                // During thread teardown the pool may be gone; the arena is then simply dropped.
                let _ = POOL.try_with(|pool| {
                    if let Ok(mut pool) = pool.try_borrow_mut()
                        && pool.len() < POOL_SIZE
                    {
                        pool.push(arena);
                    }
                });
            }
        }
    }

    impl core::fmt::Debug for Scope {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Scope").field("arena", &self.arena).finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes taken from the current chunk, including alignment padding: bumpalo's own view.
    fn consumed(arena: &Arena) -> usize {
        arena.bump.allocated_bytes() - arena.bump.chunk_capacity()
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
        assert_eq!((arena.used(), arena.wasted.get()), (180, 0));
        assert_eq!(arena.used(), consumed(&arena));
        // SAFETY: `a` is not the most recent block: growing it moves it and wastes the old one.
        let a = unsafe { arena.grow(a, l(100), l(120)) }
            .unwrap()
            .cast::<u8>();
        assert_eq!((arena.used(), arena.wasted.get()), (300, 100));
        assert_eq!(arena.used(), consumed(&arena));
        // SAFETY: `a` is now the most recent block: freeing it gives its bytes back.
        unsafe { arena.deallocate(a, l(120)) };
        assert_eq!((arena.used(), arena.wasted.get()), (180, 100));
        assert_eq!(arena.used(), consumed(&arena));
        // SAFETY: `b` is a live 80-byte block. With `a` gone the bump pointer is back at `b`, so
        // its bytes come back too; the old 100 bytes of `a` stay wasted until a reset.
        unsafe { arena.deallocate(b, l(80)) };
        assert_eq!((arena.used(), arena.wasted.get()), (100, 100));
        assert_eq!(arena.used(), consumed(&arena));
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
        assert_eq!(arena.used() - arena.wasted.get(), 100);
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
        assert!(arena.grows_in_place(a, l8(3), l8(8)));
        // SAFETY: `a` is a live 3-byte block with alignment 8.
        let a = unsafe { arena.grow(a, l8(3), l8(8)) }.unwrap().cast::<u8>();
        assert_eq!(arena.wasted.get(), 0);
        // A stricter alignment is never grown in place.
        assert!(!arena.grows_in_place(a, l8(8), Layout::from_size_align(16, 16).unwrap()));
        // SAFETY: `a` is a live 8-byte block.
        unsafe { arena.deallocate(a, l8(8)) };
    }
}
