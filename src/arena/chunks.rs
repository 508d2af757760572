//! The engine under [`Arena`](super::Arena): bumpalo's `Bump`, with every chunk it reserves and
//! releases passing through this file.
//!
//! bumpalo adds a chunk by itself whenever a request does not fit the current one. To have one
//! place that decides every chunk (the warm reset needs its size; an account charged for the
//! arena's memory will need to approve it before it is taken), `Chunks` keeps bumpalo's own
//! allocation limit closed: equal to the bytes of the chunks it already holds, so that bumpalo
//! refuses to add any. A request that does not fit the current chunk then fails inside bumpalo
//! with no side effect and comes to [`Chunks::with_new_chunk`], which opens the limit by the size
//! of one chunk, repeats the request, and closes it again.
//!
//! Every byte of chunk memory goes through two private methods: [`Chunks::reserving`] before a
//! chunk is taken (it may refuse) and [`Chunks::released`] after chunks went back (at a reset, a
//! shrinking reset, and when the arena is dropped). Today they keep a ledger that tests check
//! against bumpalo's own count; charging an `Account` means adding its calls there and nowhere
//! else.
//!
//! The warm reset needs the cycle's high-water mark of chunk memory taken, its *footprint*: the
//! bytes of all chunks but the current one (their unfilled ends included, since the arena moved
//! on from them) plus what the bump pointer took of the current one, padding included. It only
//! falls when the most recent block is freed or shrunk, so it is recorded just before those
//! falls, and read once more at the reset: allocation pays nothing for it.

use core::cell::Cell;
use core::ptr::NonNull;

use bumpalo::Bump;

use crate::{AllocError, Allocator, Layout};

/// The first chunk bumpalo reserves is a little under 512 bytes; a plan never goes below that.
const SMALLEST_CHUNK: usize = 512;

/// bumpalo rounds a chunk's size up to a power of two below a page and to whole pages above, less
/// its footer: never by a page or more. A plan adds this much to the size it asks for.
const ROUNDING: usize = 4096;

/// bumpalo's `Bump` with its chunk reservations under the arena's control.
pub(super) struct Chunks {
    /// Owns every chunk. Its allocation limit is `Some(bump.allocated_bytes())` (no room for a
    /// new chunk) whenever no method of `Chunks` is running: only `with_new_chunk` opens it.
    bump: Bump,
    /// Usable bytes of the newest chunk (what bumpalo doubles for the next one); 0 with no chunk.
    newest: Cell<usize>,
    /// The largest footprint recorded since creation or the last reset, taken just before each
    /// fall of the footprint. The cycle's high-water mark is the larger of this and the current
    /// footprint.
    high_water: Cell<usize>,
    /// Bytes of chunk memory passed to `reserving` and not yet to `released`. Equals
    /// `bump.allocated_bytes()` whenever no method of `Chunks` is running.
    reserved: Cell<usize>,
}

impl Chunks {
    /// No chunk; the first request reserves one.
    pub(super) fn new() -> Self {
        let bump = Bump::new();
        bump.set_allocation_limit(Some(0));
        Self {
            bump,
            newest: Cell::new(0),
            high_water: Cell::new(0),
            reserved: Cell::new(0),
        }
    }

    /// One chunk with room for at least `bytes` bytes (none for 0).
    ///
    /// # Errors
    ///
    /// [`AllocError`] if `bytes` is larger than any layout can be, or the chunk cannot be had.
    pub(super) fn with_room(bytes: usize) -> Result<Self, AllocError> {
        let chunks = Self::new();
        if bytes == 0 {
            return Ok(chunks);
        }
        let layout = Layout::from_size_align(bytes, 1).map_err(|_| AllocError)?;
        let block = chunks.with_new_chunk(layout, || chunks.bump.try_alloc_layout(layout).ok())?;
        // SAFETY: `block` is the block just allocated with `layout`, and nothing else uses it. It
        // is the most recent block, so bumpalo takes all of its bytes back: the chunk is empty.
        unsafe { (&chunks.bump).deallocate(block, layout) };
        debug_assert!(chunks.room() >= bytes);
        Ok(chunks)
    }

    /// A block for `layout`, in the current chunk or in a new one.
    #[inline(always)]
    pub(super) fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.bump
            .try_alloc_layout(layout)
            .or_else(|_| self.allocate_in_new_chunk(layout))
    }

    /// The rest of [`allocate`](Self::allocate), kept out of line so that the fast path holds
    /// nothing for it (not even the layout on the stack).
    #[cold]
    #[inline(never)]
    fn allocate_in_new_chunk(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.with_new_chunk(layout, || self.bump.try_alloc_layout(layout).ok())
    }

    /// Frees a block; returns how many bytes the bump pointer took back: all of them for the most
    /// recent block, none for any other.
    ///
    /// # Safety
    ///
    /// - `ptr` must be a live block of this `Chunks`, allocated (or last resized) with `layout`.
    #[inline(always)]
    pub(super) unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) -> usize {
        let room = self.room();
        // SAFETY: the caller guarantees that `ptr` is a live block of `self.bump` with `layout`.
        unsafe { (&self.bump).deallocate(ptr, layout) };
        let reclaimed = self.room() - room;
        if reclaimed != 0 {
            self.record_high_water(room);
        }
        reclaimed
    }

    /// Grows a block, in place when bumpalo can, else into a new block (in a new chunk if need
    /// be). The old block is left where it was.
    ///
    /// # Safety
    ///
    /// - `ptr` must be a live block of this `Chunks` with `old`;
    /// - `new.size() >= old.size()`.
    pub(super) unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new.size() >= old.size());
        // SAFETY: the caller's guarantees are those of `Allocator::grow` for `&Bump`.
        match unsafe { (&self.bump).grow(ptr, old, new) } {
            Ok(block) => Ok(block),
            Err(AllocError) => self.with_new_chunk(new, || {
                // SAFETY: a failed grow leaves the block as it was, so the caller's guarantees
                // still hold for this second try.
                unsafe { (&self.bump).grow(ptr, old, new) }.ok()
            }),
        }
    }

    /// Shrinks a block that is already aligned for `new`, which never allocates; returns the
    /// block (bumpalo may move the most recent block up to give its tail back) and the bytes the
    /// bump pointer took back.
    ///
    /// # Safety
    ///
    /// - `ptr` must be a live block of this `Chunks` with `old`;
    /// - `new.size() <= old.size()`, and `ptr` is aligned to `new.align()`.
    pub(super) unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<(NonNull<[u8]>, usize), AllocError> {
        debug_assert!(new.size() <= old.size());
        debug_assert!(ptr.as_ptr().addr() & (new.align() - 1) == 0);
        let room = self.room();
        // SAFETY: the caller's guarantees are those of `Allocator::shrink` for `&Bump`; the
        // block is aligned for `new`, so bumpalo shrinks it without allocating.
        let block = unsafe { (&self.bump).shrink(ptr, old, new) }?;
        let reclaimed = self.room() - room;
        if reclaimed != 0 {
            self.record_high_water(room);
        }
        Ok((block, reclaimed))
    }

    /// Whether bumpalo will grow the block at `ptr` in place: it is the most recent block, the
    /// alignment does not increase, and the current chunk has room for the extra bytes. This is
    /// bumpalo 3's own rule, repeated here so that the arena can check its limit before the grow.
    pub(super) fn grows_in_place(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> bool {
        if old.size() == 0 || new.align() > old.align() {
            return false;
        }
        // SAFETY: the iterator only reads the current chunk's bump pointer; nothing allocates in
        // this arena while it lives and no chunk memory is read.
        let top = unsafe { self.bump.iter_allocated_chunks_raw() }.next();
        let is_last = top.is_some_and(|(start, _)| start == ptr.as_ptr());
        let extra = (new.size() - old.size()).next_multiple_of(old.align());
        is_last && self.room() >= extra
    }

    /// Frees every block, then keeps one chunk with room for the cycle's high-water mark: the
    /// newest chunk if it is large enough, else a new one of that size, reserved in place of all
    /// the others. If that chunk cannot be had, the newest chunk is kept all the same.
    pub(super) fn reset(&mut self) {
        let need = self.high_water.get().max(self.footprint());
        let before = self.bump.allocated_bytes();
        // Frees every chunk but the newest and moves its bump pointer back to the end.
        self.bump.reset();
        let after = self.bump.allocated_bytes();
        self.bump.set_allocation_limit(Some(after));
        self.released(before - after);
        self.newest.set(self.room());
        self.high_water.set(0);
        let fresh = if need > self.room() {
            Self::with_room(need).ok()
        } else {
            None
        };
        if let Some(fresh) = fresh {
            // Dropping the old engine releases its chunk.
            *self = fresh;
        }
        self.check_invariants();
    }

    /// Frees every block and every chunk.
    pub(super) fn release_all(&mut self) {
        *self = Self::new();
    }

    /// Bytes the current chunk still has room for.
    #[inline(always)]
    pub(super) fn room(&self) -> usize {
        self.bump.chunk_capacity()
    }

    /// Bytes of chunk memory held (not counting bumpalo's footers).
    pub(super) fn capacity(&self) -> usize {
        self.bump.allocated_bytes()
    }

    /// How many chunks are held.
    pub(super) fn count(&self) -> usize {
        // SAFETY: the iterator only walks the chunk list to count it; nothing allocates in this
        // arena while it lives and no chunk memory is read.
        unsafe { self.bump.iter_allocated_chunks_raw() }.count()
    }

    /// Bytes of chunk memory the blocks handed out since the last reset took, padding and the
    /// unfilled ends of the chunks the arena moved on from included.
    fn footprint(&self) -> usize {
        self.capacity() - self.room()
    }

    /// Records the footprint as it stands just before the bump pointer gives bytes back, when the
    /// current chunk had `room` bytes of room.
    #[inline]
    fn record_high_water(&self, room: usize) {
        let footprint = self.capacity() - room;
        if footprint > self.high_water.get() {
            self.high_water.set(footprint);
        }
    }

    /// The one place where chunks are reserved: runs `request_again` (a request for `request`
    /// that failed because the current chunk is full) once more with room for one new chunk.
    ///
    /// The chunk is bumpalo's choice, as if there were no gate: twice the newest chunk, or the
    /// request if that is larger, rounded up. The gate opens by an upper bound of that size,
    /// announced to [`reserving`](Self::reserving) first; what bumpalo did not take of it goes to
    /// [`released`](Self::released) after.
    #[inline]
    fn with_new_chunk<T>(
        &self,
        request: Layout,
        request_again: impl FnOnce() -> Option<T>,
    ) -> Result<T, AllocError> {
        let planned = self.plan(request).ok_or(AllocError)?;
        let before = self.capacity();
        let gate = before.checked_add(planned).ok_or(AllocError)?;
        self.reserving(planned)?;
        self.bump.set_allocation_limit(Some(gate));
        let result = request_again();
        let after = self.capacity();
        self.bump.set_allocation_limit(Some(after));
        let added = after - before;
        debug_assert!(
            added <= planned,
            "bumpalo took {added} bytes for a chunk, planned {planned}"
        );
        if added != 0 {
            self.newest.set(added);
        }
        self.released(planned - added);
        result.ok_or(AllocError)
    }

    /// An upper bound of the chunk bumpalo adds for `request`: see [`ROUNDING`].
    fn plan(&self, request: Layout) -> Option<usize> {
        let doubled = self.newest.get().checked_mul(2)?;
        let request = request
            .size()
            .checked_next_multiple_of(request.align().max(16))?;
        let bytes = doubled
            .max(request)
            .max(SMALLEST_CHUNK)
            .checked_add(ROUNDING)?;
        (bytes <= isize::MAX as usize).then_some(bytes)
    }

    /// Called before up to `bytes` of chunk memory are reserved; an error refuses the chunk, and
    /// the request that needed it fails with [`AllocError`].
    ///
    /// The hook for an account charged with the arena's memory: its budget check and charge go
    /// here.
    #[inline]
    fn reserving(&self, bytes: usize) -> Result<(), AllocError> {
        self.reserved.set(self.reserved.get() + bytes);
        Ok(())
    }

    /// Called after `bytes` of chunk memory went back to the global allocator, or were announced
    /// to [`reserving`](Self::reserving) and not taken.
    ///
    /// The hook for an account charged with the arena's memory: its refund goes here.
    #[inline]
    fn released(&self, bytes: usize) {
        self.reserved.set(self.reserved.get() - bytes);
    }

    /// Checks the fields' invariants (debug builds and tests).
    pub(super) fn check_invariants(&self) {
        debug_assert_eq!(self.reserved.get(), self.capacity(), "ledger out of step");
        debug_assert_eq!(
            self.bump.allocation_limit(),
            Some(self.capacity()),
            "the gate is open"
        );
        debug_assert!(self.newest.get() <= self.capacity());
        debug_assert!(self.footprint() <= self.capacity());
        debug_assert!(self.high_water.get() <= self.capacity());
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        // `bump` frees its chunks right after this.
        self.released(self.capacity());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Layout {
        Layout::from_size_align(n, 1).unwrap()
    }

    #[test]
    fn bumpalo_never_reserves_a_chunk_past_the_gate() {
        let chunks = Chunks::new();
        chunks.check_invariants();
        // A chunk is added only through `with_new_chunk`, and the ledger follows.
        for n in [1, 100, 1000, 10_000, 100_000, 3] {
            chunks.allocate(bytes(n)).unwrap();
            chunks.check_invariants();
        }
        assert!(chunks.count() > 1);
        // Straight to bumpalo, with the gate closed: a request that needs a chunk is refused.
        let room = chunks.room();
        assert!(chunks.bump.try_alloc_layout(bytes(room + 1)).is_err());
        chunks.check_invariants();
    }

    #[test]
    fn chunks_double_as_bumpalo_would_and_stay_within_the_plan() {
        let chunks = Chunks::new();
        let mut sizes = alloc::vec::Vec::new();
        for _ in 0..12 {
            let room = chunks.room();
            chunks.allocate(bytes(room + 1)).unwrap();
            sizes.push(chunks.newest.get());
        }
        // Each chunk is at least twice the one before (the request is never the larger here).
        assert!(sizes.windows(2).all(|w| w[1] >= 2 * w[0]), "{sizes:?}");
        // An over-aligned, larger request gets a chunk of its own size.
        let huge = Layout::from_size_align(1 << 22, 4096).unwrap();
        let block = chunks.allocate(huge).unwrap();
        assert_eq!(block.as_ptr().addr() % 4096, 0);
        assert!(chunks.newest.get() >= 1 << 22);
        chunks.check_invariants();
    }

    #[test]
    fn with_room_gives_one_empty_chunk() {
        for n in [0, 1, 511, 4096, 100_000] {
            let chunks = Chunks::with_room(n).unwrap();
            assert!(chunks.room() >= n);
            assert_eq!(chunks.count(), usize::from(n > 0));
            assert_eq!(chunks.footprint(), 0);
            chunks.check_invariants();
        }
        assert!(Chunks::with_room(usize::MAX).is_err());
    }

    #[test]
    fn high_water_survives_the_fall_it_was_recorded_before() {
        let mut chunks = Chunks::with_room(4096).unwrap();
        let a = chunks.allocate(bytes(3000)).unwrap();
        // SAFETY: `a` is the most recent block, with that layout: all of it comes back.
        assert_eq!(unsafe { chunks.deallocate(a, bytes(3000)) }, 3000);
        assert_eq!(chunks.footprint(), 0);
        assert_eq!(chunks.high_water.get(), 3000);
        // The reset keeps the chunk: it holds the high-water mark.
        let room = chunks.room();
        chunks.reset();
        assert_eq!((chunks.count(), chunks.room()), (1, room));
        assert_eq!(chunks.high_water.get(), 0);
    }

    #[test]
    fn reset_replaces_chunks_too_small_for_the_cycle_by_one_that_holds_it() {
        let mut chunks = Chunks::new();
        for _ in 0..200 {
            chunks.allocate(bytes(1000)).unwrap();
        }
        let need = chunks.footprint();
        assert!(chunks.count() > 2);
        chunks.reset();
        assert_eq!(chunks.count(), 1);
        assert!(chunks.room() >= need);
        // The same work again fits that one chunk.
        for _ in 0..200 {
            chunks.allocate(bytes(1000)).unwrap();
        }
        assert_eq!(chunks.count(), 1);
        chunks.release_all();
        assert_eq!((chunks.count(), chunks.capacity()), (0, 0));
        chunks.check_invariants();
    }
}
