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
//! Every byte of chunk memory goes through three private methods: [`Chunks::reserving`] before a
//! chunk is taken (it may refuse), [`Chunks::reserved`] just after, with what bumpalo took, and
//! [`Chunks::released`] after chunks went back (at a reset, a shrinking reset, and when the arena
//! is dropped). They keep a ledger that tests check against bumpalo's own count, and they charge
//! the arena's [`Account`], if it has one: nowhere else is an account charged or given back.
//!
//! The charge is exact. [`Chunks::plan`] works out the size bumpalo will give the chunk (its own
//! rule: twice the newest chunk or the request, rounded so that the chunk and its footer fill a
//! power of two below a page and whole pages above), and the gate opens by exactly that much, so
//! the account's budget is asked for the chunk's own bytes, no more. Each chunk is one charge of
//! its usable bytes (what [`ArenaStats::capacity`](super::ArenaStats::capacity) counts; bumpalo's
//! footer of a few words per chunk is not counted, as the capacity does not count it). A charge is
//! given back with its own size, so `charges` remembers each chunk's. Only if the global allocator
//! refuses the planned chunk and bumpalo settles for a smaller one is the chunk charged more than
//! its size (the planned size, until it is released): the account errs high, never low.
//!
//! The warm reset needs the cycle's high-water mark of chunk memory taken, its *footprint*: the
//! bytes of all chunks but the current one (their unfilled ends included, since the arena moved
//! on from them) plus what the bump pointer took of the current one, padding included. It only
//! falls when the most recent block is freed or shrunk, so it is recorded just before those
//! falls, and read once more at the reset: allocation pays nothing for it.

use core::cell::Cell;
use core::ptr::NonNull;

use alloc::vec::Vec;

use bumpalo::Bump;

#[cfg(not(loom))]
pub(super) use crate::subsystem::Account;
use crate::{AllocError, Allocator, Layout};

/// Under loom there are no subsystems (their accounts are `static`s, which loom's primitives
/// cannot build), so no arena is charged: the account type has no values.
#[cfg(loom)]
#[derive(Debug)]
pub(super) enum Account {}

#[cfg(loom)]
impl Account {
    fn charge(&self, _bytes: usize) -> Result<(), AllocError> {
        match *self {}
    }

    fn uncharge(&self, _bytes: usize) {
        match *self {}
    }

    pub(super) fn name(&self) -> &'static str {
        match *self {}
    }
}

// bumpalo 3's chunk sizing, repeated so that a chunk can be charged before it is taken. A unit
// test checks each constant against bumpalo, and `with_new_chunk` checks every chunk in debug
// builds.

/// The size of bumpalo's chunk footer: six words, aligned to 16.
const FOOTER: usize = (6 * size_of::<usize>()).next_multiple_of(16);
/// What bumpalo allows for the footer and the global allocator's own header when it rounds.
const OVERHEAD: usize = (16 + FOOTER).next_multiple_of(16);
/// The usable bytes of bumpalo's smallest chunk: 512 bytes with the overhead.
const SMALLEST_CHUNK: usize = 512 - OVERHEAD;
/// Chunks from this size on are rounded to whole pages, smaller ones to powers of two.
const PAGE: usize = 4096;
/// Every chunk is aligned to at least this.
const CHUNK_ALIGN: usize = 16;

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
    /// The account charged with every chunk, if any.
    account: Option<&'static Account>,
    /// With an account, what each chunk held was charged, oldest chunk first (one entry per chunk,
    /// the newest last); empty without one. Its sum is the account's live bytes for this arena.
    /// Room for the next entry is made before a chunk is charged, so pushing never allocates.
    charges: Cell<Vec<usize>>,
}

impl Chunks {
    /// No chunk; the first request reserves one, charged to `account` if there is one.
    pub(super) fn new(account: Option<&'static Account>) -> Self {
        let bump = Bump::new();
        bump.set_allocation_limit(Some(0));
        Self {
            bump,
            newest: Cell::new(0),
            high_water: Cell::new(0),
            reserved: Cell::new(0),
            account,
            charges: Cell::new(Vec::new()),
        }
    }

    /// One chunk with room for at least `bytes` bytes (none for 0), charged to `account` if there
    /// is one.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if `bytes` is larger than any layout can be, or the chunk cannot be had
    /// (the global allocator or the account's budget refuses it).
    pub(super) fn with_room(
        bytes: usize,
        account: Option<&'static Account>,
    ) -> Result<Self, AllocError> {
        let chunks = Self::new(account);
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
    /// newest chunk if it is large enough, else a new one of that size, reserved after all the
    /// others went back. If that chunk cannot be had (the global allocator or the account's
    /// budget refuses it), no chunk is kept. The chunk kept stays charged.
    pub(super) fn reset(&mut self) {
        let need = self.high_water.get().max(self.footprint());
        if need > self.newest.get() {
            // Everything goes back before the one chunk is asked for, so that it never sits beside
            // the chunks it replaces, in memory or under the account's budget.
            self.release_all();
            if let Ok(fresh) = Self::with_room(need, self.account) {
                *self = fresh;
            }
        } else {
            let before = self.bump.allocated_bytes();
            // Frees every chunk but the newest and moves its bump pointer back to the end.
            self.bump.reset();
            let after = self.bump.allocated_bytes();
            self.bump.set_allocation_limit(Some(after));
            self.released(before - after, self.count());
            self.high_water.set(0);
        }
        debug_assert_eq!(self.newest.get(), self.room());
        self.check_invariants();
    }

    /// Frees every block and every chunk (and gives back every charge).
    pub(super) fn release_all(&mut self) {
        *self = Self::new(self.account);
    }

    /// The account charged with the chunks, if any.
    pub(super) fn account(&self) -> Option<&'static Account> {
        self.account
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
    /// request if that is larger, rounded up. [`plan`](Self::plan) works out that size, which is
    /// announced to [`reserving`](Self::reserving) first, and the gate opens by exactly that much;
    /// [`reserved`](Self::reserved) then hears what bumpalo took.
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
        // bumpalo takes less only if the global allocator refused the planned chunk (bumpalo then
        // tries halves), which never happens in tests: there, a chunk is exactly as planned.
        debug_assert!(
            added == 0 || added == planned,
            "bumpalo took {added} bytes for a chunk, planned {planned}"
        );
        if added != 0 {
            self.newest.set(added);
        }
        self.reserved(planned, added);
        result.ok_or(AllocError)
    }

    /// The usable bytes of the chunk bumpalo adds for `request`, by bumpalo's own rule: the
    /// larger of twice the newest chunk, the request (rounded up to its alignment, at least 16)
    /// and the smallest chunk; then, with the footer and the global allocator's header, rounded
    /// up to a power of two below a page or to whole pages from a page on. `None` if that is
    /// larger than any layout can be.
    fn plan(&self, request: Layout) -> Option<usize> {
        let align = request.align().max(CHUNK_ALIGN);
        let request_bytes = request.size().checked_next_multiple_of(align)?;
        let bytes = self
            .newest
            .get()
            .checked_mul(2)?
            .max(request_bytes)
            .max(SMALLEST_CHUNK);
        let with_overhead = bytes.checked_add(OVERHEAD)?;
        let rounded = if bytes < PAGE {
            with_overhead.next_power_of_two()
        } else {
            with_overhead.checked_next_multiple_of(PAGE)?
        };
        let bytes = rounded - OVERHEAD;
        (bytes + FOOTER <= isize::MAX as usize - (align - 1)).then_some(bytes)
    }

    /// Called before `bytes` of chunk memory are reserved; an error refuses the chunk, and the
    /// request that needed it fails with [`AllocError`], with nothing changed.
    ///
    /// With an account, this is where its budget is asked: the chunk is charged here, after room
    /// for its entry in `charges` is made.
    #[inline]
    fn reserving(&self, bytes: usize) -> Result<(), AllocError> {
        if let Some(account) = self.account {
            self.with_charges(|charges| charges.try_reserve(1).map_err(|_| AllocError))?;
            account.charge(bytes)?;
        }
        self.reserved.set(self.reserved.get() + bytes);
        Ok(())
    }

    /// Called after a chunk of `planned` bytes was announced to
    /// [`reserving`](Self::reserving), with the bytes bumpalo took: `planned`, or 0 if no chunk
    /// could be had (or, rarely, fewer: see the module documentation).
    #[inline]
    fn reserved(&self, planned: usize, added: usize) {
        self.reserved.set(self.reserved.get() - (planned - added));
        if let Some(account) = self.account {
            if added == 0 {
                account.uncharge(planned);
            } else {
                // `reserving` made room for this entry: no allocation.
                self.with_charges(|charges| charges.push(planned));
            }
        }
    }

    /// Called after `bytes` of chunk memory went back to the global allocator: every chunk but
    /// the newest `kept` ones.
    ///
    /// With an account, this is where the released chunks' charges are given back.
    #[inline]
    fn released(&self, bytes: usize, kept: usize) {
        self.reserved.set(self.reserved.get() - bytes);
        if let Some(account) = self.account {
            self.with_charges(|charges| {
                let gone = charges.len() - kept;
                for charge in charges.drain(..gone) {
                    account.uncharge(charge);
                }
            });
        }
    }

    /// Runs `f` on the list of charges. The list is taken out of its cell for the call (leaving
    /// an empty list, which allocates nothing) and put back after.
    #[inline]
    fn with_charges<R>(&self, f: impl FnOnce(&mut Vec<usize>) -> R) -> R {
        let mut charges = self.charges.take();
        let result = f(&mut charges);
        self.charges.set(charges);
        result
    }

    /// Checks the fields' invariants (debug builds and tests).
    pub(super) fn check_invariants(&self) {
        debug_assert_eq!(self.reserved.get(), self.capacity(), "ledger out of step");
        if self.account.is_some() {
            self.with_charges(|charges| {
                debug_assert_eq!(charges.len(), self.count(), "one charge per chunk");
                debug_assert!(
                    charges.iter().sum::<usize>() >= self.capacity(),
                    "a chunk charged less than its size"
                );
            });
        }
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
        self.released(self.capacity(), 0);
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
        let chunks = Chunks::new(None);
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
        let chunks = Chunks::new(None);
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
            let chunks = Chunks::with_room(n, None).unwrap();
            assert!(chunks.room() >= n);
            assert_eq!(chunks.count(), usize::from(n > 0));
            assert_eq!(chunks.footprint(), 0);
            chunks.check_invariants();
        }
        assert!(Chunks::with_room(usize::MAX, None).is_err());
    }

    #[test]
    fn high_water_survives_the_fall_it_was_recorded_before() {
        let mut chunks = Chunks::with_room(4096, None).unwrap();
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
        let mut chunks = Chunks::new(None);
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

    #[test]
    fn the_sizing_constants_are_bumpalos() {
        let bump = Bump::new();
        bump.alloc(1u8);
        assert_eq!(bump.allocated_bytes(), SMALLEST_CHUNK);
        assert_eq!(
            bump.allocated_bytes_including_metadata() - bump.allocated_bytes(),
            FOOTER
        );
        assert_eq!((SMALLEST_CHUNK + OVERHEAD) % 512, 0);
    }

    #[test]
    fn every_chunk_is_exactly_the_size_planned() {
        // Requests around each rounding boundary, with alignments from 1 to 4096; each either fits
        // the current chunk or adds one chunk of exactly the planned size.
        let chunks = Chunks::new(None);
        let mut added_chunks = 0;
        for size in [1, 7, 400, 449, 1000, 4000, 4033, 5000, 70_000, 1 << 20, 3] {
            for align in [1, 8, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let (before, count) = (chunks.capacity(), chunks.count());
                let planned = chunks.plan(layout).unwrap();
                chunks.allocate(layout).unwrap();
                if chunks.count() != count {
                    assert_eq!(chunks.capacity() - before, planned, "{layout:?}");
                    added_chunks += 1;
                }
            }
            // A request one byte larger than the room left always needs a chunk.
            let layout = bytes(chunks.room() + 1);
            let (before, planned) = (chunks.capacity(), chunks.plan(layout).unwrap());
            chunks.allocate(layout).unwrap();
            assert_eq!(chunks.capacity() - before, planned, "{layout:?}");
            added_chunks += 1;
        }
        assert!(added_chunks > 11);
        chunks.check_invariants();
    }

    #[cfg(not(loom))]
    #[test]
    fn each_chunk_is_one_charge_of_its_size_given_back_when_the_chunk_goes() {
        static CHUNKS: Account = Account::new("chunks-unit-test");
        let mut chunks = Chunks::new(Some(&CHUNKS));
        let mut sizes = alloc::vec::Vec::new();
        for _ in 0..6 {
            let before = chunks.capacity();
            chunks.allocate(bytes(chunks.room() + 1)).unwrap();
            sizes.push(chunks.capacity() - before);
            assert_eq!(chunks.with_charges(|c| c.clone()), sizes);
            let stats = CHUNKS.stats();
            assert_eq!(
                (stats.live_blocks, stats.live_bytes),
                (sizes.len(), chunks.capacity())
            );
        }
        // A reset that keeps the newest chunk gives back the others, each with its own size.
        chunks.allocate(bytes(1)).unwrap();
        let freed_before = CHUNKS.stats().bytes_freed;
        let newest = chunks.newest.get();
        // The footprint of this cycle is larger than the newest chunk: the reset replaces all of
        // them by one new chunk, charged before the old one is given back.
        chunks.reset();
        let stats = CHUNKS.stats();
        assert_eq!(stats.live_blocks, 1);
        assert_eq!(stats.live_bytes, chunks.capacity());
        assert!(chunks.capacity() > newest);
        assert_eq!(
            stats.bytes_freed - freed_before,
            sizes.iter().sum::<usize>()
        );
        chunks.check_invariants();
        chunks.release_all();
        assert_eq!(
            (CHUNKS.stats().live_blocks, CHUNKS.stats().live_bytes),
            (0, 0)
        );
        assert_eq!(
            chunks.account().map(Account::name),
            Some("chunks-unit-test")
        );
        chunks.allocate(bytes(10)).unwrap();
        drop(chunks);
        let stats = CHUNKS.stats();
        assert_eq!((stats.live_blocks, stats.live_bytes), (0, 0));
        assert_eq!(stats.allocations, stats.deallocations);
        assert_eq!(stats.bytes_allocated, stats.bytes_freed);
    }
}
