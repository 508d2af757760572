//! The unsafe engine of [`Slab`](super::Slab): one size class, its chunks and its free list.
//!
//! A class owns a list of chunks obtained from the upstream allocator. Each chunk is laid out as
//!
//! ```text
//! [ block 0 | block 1 | ... | block n-1 ][ Chunk header ][ debug builds: live bitmap ]
//! ```
//!
//! and every block of the class is in exactly one of four states:
//!
//! - **live**: handed out and not yet freed;
//! - **on the free list**: freed; its first word holds the next free block (the list is
//!   intrusive and LIFO, so the block freed last is the one handed out next). A block freed with
//!   less than the block size goes on a second list, the *narrowed* list, because the caller's
//!   pointer may cover only part of it: it is handed out again, with the chunk's rights to the
//!   whole block, once the free list is empty (before any fresh block);
//! - **fresh**: in the chunk being carved, between `fresh` and `fresh_end`, never handed out since
//!   the chunk was added or the slab reset; carving a new chunk touches none of its memory;
//! - **uncarved**: in a chunk of the `carve_next` chain, which a reset puts back in line to be
//!   carved.
//!
//! So `free list + narrowed list + fresh + uncarved + live = capacity` for every class, which
//! [`Class::check_invariants`] verifies.
//!
//! The hot paths ([`Class::take`] and [`Class::push`]) touch the free list's head and the fresh
//! region and nothing else: no counter moves with them. What the statistics need is worked out
//! when they are asked for: the free lists' lengths by walking them ([`Class::listed`]), the live
//! blocks from those. A snapshot therefore costs a walk of the free lists, which `Slab::stats` says.

use core::cell::Cell;
use core::mem::{align_of, size_of};
use core::ptr::{self, NonNull};

use crate::{AllocError, Allocator, Layout};

/// The header at the end of every chunk.
#[repr(C)]
pub(super) struct Chunk {
    /// The chunk added before this one (chunks form a list, newest first), or null.
    next: *mut Chunk,
    /// The first block; the chunk's allocation starts here.
    base: NonNull<u8>,
    /// How many blocks the chunk holds.
    blocks: usize,
}

/// Bits per word of the debug builds' live bitmap.
#[cfg(debug_assertions)]
const WORD_BITS: usize = usize::BITS as usize;

/// The debug bitmap word that holds the live bit of block `index` of `chunk`.
///
/// # Safety
///
/// - `chunk` is a live chunk (of any class) and `index` is below its block count.
#[cfg(debug_assertions)]
unsafe fn bit_word(chunk: *mut Chunk, index: usize) -> *mut usize {
    // SAFETY: in debug builds a chunk's bitmap of `blocks.div_ceil(WORD_BITS)` words follows its
    // header (see `Class::chunk_layout`), and `index / WORD_BITS` is below that count.
    unsafe { chunk.add(1).cast::<usize>().add(index / WORD_BITS) }
}

/// One size class: blocks of `size` bytes aligned to `align`.
///
/// `repr(C)` keeps the fields that every allocation and free touch in the first cache line, and
/// the alignment makes the class array's stride a power of two (the class index becomes an offset
/// with a shift).
#[repr(C, align(64))]
pub(super) struct Class {
    /// The head of the free list, or null. Every node is a block of one of `chunks`, at a block
    /// boundary, whose first word holds the next node. Every node is a pointer with the rights of
    /// the whole block (the caller's own if it covers the block, else the chunk's), so that a
    /// block leaves the list ready to hand out.
    free: Cell<*mut u8>,
    /// The head of the narrowed list, or null: blocks freed with a layout smaller than the block
    /// (but of at least the 8 bytes of a link), through a pointer that may cover only that much.
    /// Every node is a block of one of `chunks`, at a block boundary, whose first word holds the
    /// next node.
    narrowed: Cell<*mut u8>,
    /// The next fresh block; `fresh..fresh_end` are whole blocks of one chunk, never handed out
    /// since that chunk was added or the slab reset. Both null when there is no such region.
    fresh: Cell<*mut u8>,
    /// The end of the fresh region.
    fresh_end: Cell<*mut u8>,
    /// The block size: a non-zero multiple of [`super::GRAIN`], at most [`super::MAX_BLOCK_SIZE`].
    /// Zero only for the unused entries of the slab's class array.
    pub(super) size: usize,
    /// The alignment every block of the class has: the largest power of two dividing `size`
    /// (chunks are allocated with this alignment, and blocks are `size` apart).
    pub(super) align: usize,
    /// The newest chunk, whose `next` links lead to all the others; null when there is none.
    chunks: Cell<*mut Chunk>,
    /// The first chunk of the tail of `chunks` that a reset put back in line: it and every chunk
    /// after it are entirely uncarved. Null except after a reset.
    carve_next: Cell<*mut Chunk>,
    /// How many blocks the next chunk added by growth gets.
    next_blocks: Cell<usize>,
    /// The cap on blocks per chunk (at least 1).
    max_blocks: usize,
    /// Blocks in the chunks of the `carve_next` chain.
    uncarved: Cell<usize>,
    /// Blocks in all chunks.
    capacity: Cell<usize>,
    /// Number of chunks.
    chunk_count: Cell<usize>,
    /// Bytes of all chunks, headers included, as requested from the upstream.
    reserved: Cell<usize>,
    /// The newest chunks' first blocks (null where there is none), newest first: a copy of the
    /// list's head that `full_access` scans without touching the chunks' headers, which lie far
    /// apart in memory. With chunks that double, these hold most of the blocks.
    recent: [Cell<*mut u8>; RECENT],
    /// The end of the blocks of each of `recent` (0 where there is none).
    recent_end: [Cell<usize>; RECENT],
}

/// How many of the newest chunks a class keeps in `recent`.
const RECENT: usize = 8;

impl Class {
    /// An unused entry of the slab's class array: serves nothing, owns nothing.
    pub(super) const fn unused() -> Self {
        Self::new(0, 0, 1)
    }

    /// A class of blocks of `size` bytes (a multiple of the grain), with no chunk yet.
    pub(super) const fn new(size: usize, first_blocks: usize, max_blocks: usize) -> Self {
        Self {
            size,
            align: if size == 0 {
                1
            } else {
                1 << size.trailing_zeros()
            },
            chunks: Cell::new(ptr::null_mut()),
            free: Cell::new(ptr::null_mut()),
            narrowed: Cell::new(ptr::null_mut()),
            fresh: Cell::new(ptr::null_mut()),
            fresh_end: Cell::new(ptr::null_mut()),
            carve_next: Cell::new(ptr::null_mut()),
            next_blocks: Cell::new(first_blocks),
            max_blocks,
            uncarved: Cell::new(0),
            capacity: Cell::new(0),
            chunk_count: Cell::new(0),
            reserved: Cell::new(0),
            recent: [const { Cell::new(ptr::null_mut()) }; RECENT],
            recent_end: [const { Cell::new(0) }; RECENT],
        }
    }

    /// The entry of the slab's class array that stands for "no class": it holds no block and
    /// serves no size (its block size is `usize::MAX`, which no layout reaches), so that the hot
    /// paths, finding it, fall through to the slab's slow paths, which send the request upstream.
    pub(super) const fn upstream_marker() -> Self {
        Self::new(usize::MAX, 0, 1)
    }

    /// Whether this is the [`upstream_marker`](Self::upstream_marker).
    pub(super) fn is_upstream_marker(&self) -> bool {
        self.size == usize::MAX
    }

    /// Blocks handed out and not yet freed. Walks the free list.
    pub(super) fn live(&self) -> usize {
        self.capacity.get() - self.listed() - self.fresh_left() - self.uncarved.get()
    }

    /// How many nodes the free list and the narrowed list hold, counted by walking them: the
    /// lists keep no count, so that pushing and popping touch nothing but their heads.
    pub(super) fn listed(&self) -> usize {
        let mut count = 0;
        for head in [&self.free, &self.narrowed] {
            let mut link = head.get();
            while !link.is_null() {
                count += 1;
                // SAFETY: `link` is a node of one of the lists (field invariants), whose first
                // word holds the next one; a narrowed pointer still covers that word.
                link = unsafe { link.cast::<*mut u8>().read() };
            }
        }
        count
    }

    /// Blocks left in the fresh region.
    fn fresh_left(&self) -> usize {
        (self.fresh_end.get().addr() - self.fresh.get().addr())
            .checked_div(self.size)
            .unwrap_or(0)
    }

    /// Blocks in all chunks, live or not.
    pub(super) fn capacity(&self) -> usize {
        self.capacity.get()
    }

    /// Number of chunks.
    pub(super) fn chunk_count(&self) -> usize {
        self.chunk_count.get()
    }

    /// Bytes reserved from the upstream for this class's chunks.
    pub(super) fn reserved(&self) -> usize {
        self.reserved.get()
    }

    /// The layout of a chunk of `blocks` blocks, or `None` if it overflows.
    fn chunk_layout(&self, blocks: usize) -> Option<(Layout, usize)> {
        let body = blocks.checked_mul(self.size)?;
        // `body` is a multiple of `size`, itself a multiple of 8, so the header that follows it
        // is aligned for `Chunk` (whose alignment is that of a pointer).
        let bytes = body.checked_add(size_of::<Chunk>())?;
        #[cfg(debug_assertions)]
        let bytes = bytes.checked_add(blocks.div_ceil(WORD_BITS) * size_of::<usize>())?;
        let layout = Layout::from_size_align(bytes, self.align.max(align_of::<Chunk>())).ok()?;
        Some((layout, body))
    }

    /// Takes a block on the fast path: the most recently freed one, else the next fresh one.
    /// Returns `None` when neither is at hand (the free list is empty and the fresh region used
    /// up), when the free list is empty and the narrowed list is not, and always for the
    /// [`upstream_marker`](Self::upstream_marker); [`take_slow`](Self::take_slow) then serves.
    #[inline(always)]
    pub(super) fn take(&self) -> Option<NonNull<u8>> {
        let head = self.free.get();
        // An empty free list is tested first: a run of allocations carving a chunk then costs one
        // branch on `head`.
        let block = if head.is_null() {
            // The free list is the path a program in a steady state takes: carving is laid out
            // out of its way.
            core::hint::cold_path();
            let fresh = self.fresh.get();
            // Narrowed blocks are reused before fresh ones (so that a program freeing and
            // allocating strings stays in the memory it has touched); `take_slow` serves them.
            if fresh == self.fresh_end.get() || !self.narrowed.get().is_null() {
                return None;
            }
            // SAFETY: a fresh region that is not empty lies in a chunk (both ends are null only
            // when it is empty), so `fresh` is not null. Saying so lets the compiler join this
            // path with the free list's without testing the result again.
            unsafe { core::hint::assert_unchecked(!fresh.is_null()) };
            // SAFETY: `fresh..fresh_end` are whole blocks of one chunk and this one is not the
            // last position, so `fresh + size` is at most `fresh_end`, inside or one past the
            // chunk's blocks.
            self.fresh.set(unsafe { fresh.add(self.size) });
            fresh
        } else {
            // SAFETY: `head` is a node of the free list (field invariant): a free block of this
            // class, aligned to `align >= 8`, whose first word holds the next node.
            let next = unsafe { head.cast::<*mut u8>().read() };
            self.free.set(next);
            head
        };
        #[cfg(debug_assertions)]
        self.mark(block, true);
        // SAFETY: every block is inside a chunk, so it is not null.
        Some(unsafe { NonNull::new_unchecked(block) })
    }

    /// Takes a block when [`take`](Self::take) found none at hand: from the narrowed list (with
    /// the chunk's rights to the whole block), else from the fresh region, else from a chunk
    /// that a reset put back in line, else (if `growable`) from a new chunk. (It serves the free
    /// list too, for a caller that comes here first.)
    ///
    /// Must not be called on the [`upstream_marker`](Self::upstream_marker).
    #[cold]
    #[inline(never)]
    pub(super) fn take_slow<A: Allocator>(
        &self,
        growable: bool,
        upstream: &A,
    ) -> Result<NonNull<u8>, AllocError> {
        debug_assert!(!self.is_upstream_marker());
        let head = self.narrowed.get();
        if (head.is_null() || !self.free.get().is_null())
            && let Some(block) = self.take()
        {
            return Ok(block);
        }
        let block = if head.is_null() {
            self.refill(growable, upstream)?
        } else {
            // SAFETY: `head` is a node of the narrowed list (field invariant): a free block of
            // this class whose first word, which a narrowed pointer still covers, holds the next.
            self.narrowed.set(unsafe { head.cast::<*mut u8>().read() });
            // SAFETY: a free block of this class lies in one of its chunks, so it is not null.
            self.full_access(unsafe { NonNull::new_unchecked(head) })
                .as_ptr()
        };
        #[cfg(debug_assertions)]
        self.mark(block, true);
        // SAFETY: every block is inside a chunk, so it is not null.
        Ok(unsafe { NonNull::new_unchecked(block) })
    }

    /// The last resort of [`take_slow`](Self::take_slow): the free list and the fresh region are
    /// empty.
    fn refill<A: Allocator>(&self, growable: bool, upstream: &A) -> Result<*mut u8, AllocError> {
        let chunk = self.carve_next.get();
        let chunk = if !chunk.is_null() {
            // SAFETY: `carve_next` is null or a chunk of this class (field invariant).
            let (next, blocks) = unsafe { ((*chunk).next, (*chunk).blocks) };
            self.carve_next.set(next);
            self.uncarved.set(self.uncarved.get() - blocks);
            chunk
        } else if growable {
            let blocks = self.next_blocks.get();
            let chunk = self.add_chunk(blocks, upstream)?;
            self.next_blocks
                .set(blocks.saturating_mul(2).min(self.max_blocks));
            chunk
        } else {
            return Err(AllocError);
        };
        self.start_carving(chunk);
        let block = self.fresh.get();
        // SAFETY: the chunk holds at least one block, so the next one is at most the end.
        self.fresh.set(unsafe { block.add(self.size) });
        Ok(block)
    }

    /// Makes `chunk`'s blocks the fresh region. Whatever was left of the previous one must be
    /// nothing.
    fn start_carving(&self, chunk: *mut Chunk) {
        debug_assert_eq!(self.fresh.get(), self.fresh_end.get());
        // SAFETY: `chunk` is a live chunk of this class; its header is initialised.
        let (base, blocks) = unsafe { ((*chunk).base.as_ptr(), (*chunk).blocks) };
        // SAFETY: the chunk holds `blocks * size` bytes of blocks from `base`; the end pointer is
        // one past them, still inside the chunk's allocation (the header follows).
        self.fresh_end.set(unsafe { base.add(blocks * self.size) });
        self.fresh.set(base);
    }

    /// Reserves the class's first chunk, of `blocks` blocks, to be carved lazily.
    pub(super) fn reserve<A: Allocator>(
        &self,
        blocks: usize,
        upstream: &A,
    ) -> Result<(), AllocError> {
        debug_assert!(self.chunks.get().is_null());
        let chunk = self.add_chunk(blocks, upstream)?;
        self.start_carving(chunk);
        Ok(())
    }

    /// Reserves a chunk of `blocks` blocks from `upstream` and puts it at the head of the list.
    /// Its blocks are not on the free list: the caller carves or threads them.
    fn add_chunk<A: Allocator>(
        &self,
        blocks: usize,
        upstream: &A,
    ) -> Result<*mut Chunk, AllocError> {
        debug_assert!(blocks >= 1 && self.size > 0);
        let (layout, body) = self.chunk_layout(blocks).ok_or(AllocError)?;
        let base = upstream.allocate(layout)?.cast::<u8>();
        // SAFETY: the allocation holds `layout.size() >= body + size_of::<Chunk>()` bytes, so the
        // header at offset `body` is inside it, and aligned for `Chunk` (see `chunk_layout`).
        let chunk = unsafe { base.as_ptr().add(body) }.cast::<Chunk>();
        // SAFETY: as above; the header's bytes belong to this fresh allocation.
        unsafe {
            chunk.write(Chunk {
                next: self.chunks.get(),
                base,
                blocks,
            })
        };
        #[cfg(debug_assertions)]
        // SAFETY: the bitmap of `blocks.div_ceil(WORD_BITS)` words follows the header inside the
        // allocation (see `chunk_layout`); it starts cleared: no block of the chunk is live.
        unsafe {
            ptr::write_bytes(chunk.add(1).cast::<usize>(), 0, blocks.div_ceil(WORD_BITS))
        };
        self.chunks.set(chunk);
        for i in (1..RECENT).rev() {
            self.recent[i].set(self.recent[i - 1].get());
            self.recent_end[i].set(self.recent_end[i - 1].get());
        }
        self.recent[0].set(base.as_ptr());
        self.recent_end[0].set(base.as_ptr().addr() + body);
        self.capacity.set(self.capacity.get() + blocks);
        self.chunk_count.set(self.chunk_count.get() + 1);
        self.reserved.set(self.reserved.get() + layout.size());
        Ok(chunk)
    }

    /// Makes sure at least `blocks` blocks are free, adding chunks of at most `max_blocks` blocks
    /// whose blocks go on the free list (touching them now, so that later allocations do not).
    pub(super) fn preheat<A: Allocator>(
        &self,
        blocks: usize,
        upstream: &A,
    ) -> Result<(), AllocError> {
        let mut missing = blocks.saturating_sub(self.capacity.get() - self.live());
        while missing > 0 {
            let count = missing.min(self.max_blocks);
            let chunk = self.add_chunk(count, upstream)?;
            // SAFETY: `chunk` was just added; its header is initialised.
            let base = unsafe { (*chunk).base.as_ptr() };
            for i in (0..count).rev() {
                // SAFETY: block `i` of the new chunk is inside it, aligned to `align >= 8`, and
                // not live; it becomes a free-list node holding the previous head.
                unsafe {
                    let block = base.add(i * self.size);
                    block.cast::<*mut u8>().write(self.free.get());
                    self.free.set(block);
                }
            }
            missing -= count;
        }
        Ok(())
    }

    /// Returns a live block to the free list.
    ///
    /// # Safety
    ///
    /// - `block` is a live block of this class (handed out by [`take`](Self::take) or
    ///   [`take_slow`](Self::take_slow) and not freed since), and `layout` is the layout it is
    ///   freed with.
    /// - `block` may be used to access the whole block (`size` bytes). A caller that frees with
    ///   less than the block size may hold a pointer narrowed to that size (allocator-api2's
    ///   `Box<u8, A>` does): it passes [`full_access`](Self::full_access) of it instead, so that
    ///   the block is handed out again with the rights to all of it.
    ///
    /// Debug builds check the first point and panic, naming `block` and `layout`, if it does not
    /// hold.
    #[inline(always)]
    pub(super) unsafe fn push(&self, block: NonNull<u8>, layout: Layout) {
        #[cfg(debug_assertions)]
        self.check_live(block, layout);
        #[cfg(not(debug_assertions))]
        let _ = layout;
        // SAFETY: the caller guarantees `block` is a live block of this class: `size >= 8` bytes,
        // aligned to `align >= 8`, which it no longer uses and may access whole. It becomes a
        // free-list node.
        unsafe { block.as_ptr().cast::<*mut u8>().write(self.free.get()) };
        self.free.set(block.as_ptr());
        #[cfg(debug_assertions)]
        self.mark(block.as_ptr(), false);
    }

    /// Returns a live block that its caller frees with a layout smaller than the block to the
    /// narrowed list, through the caller's pointer, which may cover only `layout.size()` bytes.
    ///
    /// # Safety
    ///
    /// - `block` is a live block of this class, and `layout` is the layout it is freed with.
    /// - `layout.size()` is at least 8 (the size of a link), and `block` may be used to access
    ///   that many bytes.
    ///
    /// Debug builds check the first point as [`push`](Self::push) does.
    #[inline(always)]
    pub(super) unsafe fn push_narrowed(&self, block: NonNull<u8>, layout: Layout) {
        #[cfg(debug_assertions)]
        self.check_live(block, layout);
        debug_assert!(layout.size() >= size_of::<*mut u8>());
        // SAFETY: the caller guarantees `block` is a live block of this class, aligned to
        // `align >= 8`, which it no longer uses, and that `block` covers at least the first 8
        // bytes: the link. It becomes a node of the narrowed list.
        unsafe { block.as_ptr().cast::<*mut u8>().write(self.narrowed.get()) };
        self.narrowed.set(block.as_ptr());
        #[cfg(debug_assertions)]
        self.mark(block.as_ptr(), false);
    }

    /// A pointer to the block at `block`'s address with the rights of the chunk that holds it
    /// (the whole block), found by walking the chunks. Returns `block` itself if no chunk holds
    /// it, which the callers' contracts rule out.
    #[cold]
    #[inline(never)]
    pub(super) fn full_access(&self, block: NonNull<u8>) -> NonNull<u8> {
        let addr = block.as_ptr().addr();
        for (base, end) in self.recent.iter().zip(&self.recent_end) {
            let base = base.get();
            if base.addr() <= addr && addr < end.get() {
                return NonNull::new(base.with_addr(addr)).unwrap_or(block);
            }
        }
        self.full_access_older(block)
    }

    /// [`full_access`](Self::full_access) for a block in a chunk older than `recent`: walks the
    /// chunk list.
    fn full_access_older(&self, block: NonNull<u8>) -> NonNull<u8> {
        match self.locate(block.as_ptr().addr()) {
            // SAFETY: `locate` returns a live chunk of this class; its header is initialised.
            Some((chunk, _, _)) => unsafe { (*chunk).base.with_addr(block.addr()) },
            None => block,
        }
    }

    /// Makes every block free at once and puts every chunk back in line to be carved.
    pub(super) fn reset(&mut self) {
        self.free.set(ptr::null_mut());
        self.narrowed.set(ptr::null_mut());
        self.fresh.set(ptr::null_mut());
        self.fresh_end.set(ptr::null_mut());
        self.carve_next.set(self.chunks.get());
        self.uncarved.set(self.capacity.get());
        #[cfg(debug_assertions)]
        for chunk in self.chunk_iter() {
            // SAFETY: `chunk` is a live chunk of this class; its bitmap follows its header.
            unsafe {
                ptr::write_bytes(
                    chunk.add(1).cast::<usize>(),
                    0,
                    (*chunk).blocks.div_ceil(WORD_BITS),
                )
            };
        }
    }

    /// Returns every chunk to `upstream`.
    ///
    /// # Safety
    ///
    /// - `upstream` is the allocator this class's chunks came from.
    /// - The class is not used again, and no block of it is used again.
    pub(super) unsafe fn release<A: Allocator>(&mut self, upstream: &A) {
        let mut chunk = self.chunks.replace(ptr::null_mut());
        while !chunk.is_null() {
            // SAFETY: `chunk` is a live chunk of this class: its header is initialised, and it was
            // allocated from `upstream` with `chunk_layout(blocks)` (which succeeded then, so it
            // does now). The header is read before the chunk is freed.
            unsafe {
                let Chunk { next, base, blocks } = chunk.read();
                let (layout, _) = self.chunk_layout(blocks).unwrap_unchecked();
                upstream.deallocate(base, layout);
                chunk = next;
            }
        }
    }

    /// The chunks, newest first.
    fn chunk_iter(&self) -> impl Iterator<Item = *mut Chunk> + '_ {
        let mut chunk = self.chunks.get();
        core::iter::from_fn(move || {
            if chunk.is_null() {
                return None;
            }
            let this = chunk;
            // SAFETY: a non-null link is a live chunk of this class.
            chunk = unsafe { (*this).next };
            Some(this)
        })
    }

    /// The chunk holding address `addr` in its blocks, the block's index there, and whether
    /// `addr` is the block's start.
    fn locate(&self, addr: usize) -> Option<(*mut Chunk, usize, bool)> {
        self.chunk_iter().find_map(|chunk| {
            // SAFETY: `chunk` is a live chunk of this class; its header is initialised.
            let (base, blocks) = unsafe { ((*chunk).base.as_ptr().addr(), (*chunk).blocks) };
            let offset = addr.wrapping_sub(base);
            (offset < blocks * self.size)
                .then(|| (chunk, offset / self.size, offset % self.size == 0))
        })
    }

    /// Panics unless `block` is the start of a live block of this class.
    #[cfg(debug_assertions)]
    fn check_live(&self, block: NonNull<u8>, layout: Layout) {
        let size = self.size;
        let Some((chunk, index, at_start)) = self.locate(block.as_ptr().addr()) else {
            panic!(
                "allockit::Slab: {block:p} (freed with {layout:?}) is in no chunk of this slab's \
                 {size}-byte class: a pointer from another allocator, or the wrong layout"
            );
        };
        assert!(
            at_start,
            "allockit::Slab: {block:p} (freed with {layout:?}) is inside a {size}-byte block, not \
             at its start"
        );
        // SAFETY: `chunk` is a live chunk of this class and `index` one of its blocks.
        let word = unsafe { bit_word(chunk, index).read() };
        assert!(
            word & (1 << (index % WORD_BITS)) != 0,
            "allockit::Slab: double free of {block:p} ({layout:?}, {size}-byte class): the block \
             is not live"
        );
    }

    /// Records in the debug bitmap that `block`, a block of this class, is live or not.
    #[cfg(debug_assertions)]
    fn mark(&self, block: *mut u8, live: bool) {
        let (chunk, index, _) = self
            .locate(block.addr())
            .expect("a block of this class is in one of its chunks");
        // SAFETY: `chunk` is a live chunk of this class and `index` one of its blocks; the word
        // is read and written through one pointer, with nothing else borrowing it.
        unsafe {
            let word = bit_word(chunk, index);
            let bit = 1 << (index % WORD_BITS);
            word.write(if live {
                word.read() | bit
            } else {
                word.read() & !bit
            });
        }
    }

    /// Panics if the class's state contradicts the invariants described in the module docs.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        let size = self.size;
        let (mut capacity, mut chunks) = (0, 0);
        for chunk in self.chunk_iter() {
            // SAFETY: `chunk` is a live chunk of this class.
            let (base, blocks) = unsafe { ((*chunk).base.as_ptr(), (*chunk).blocks) };
            assert!(blocks >= 1 && blocks <= self.max_blocks.max(blocks));
            assert_eq!(base.addr() % self.align, 0, "chunk misaligned");
            capacity += blocks;
            chunks += 1;
        }
        assert_eq!(capacity, self.capacity.get(), "{size}: capacity");
        assert_eq!(chunks, self.chunk_count.get(), "{size}: chunk count");

        let mut free = 0;
        for head in [&self.free, &self.narrowed] {
            let mut link = head.get();
            while !link.is_null() {
                let node = link;
                let (_, _, at_start) = self
                    .locate(node.addr())
                    .unwrap_or_else(|| panic!("{size}: free node {node:p} outside every chunk"));
                assert!(
                    at_start,
                    "{size}: free node {node:p} not at a block boundary"
                );
                assert_eq!(node.addr() % self.align, 0, "{size}: free node misaligned");
                #[cfg(debug_assertions)]
                {
                    let (chunk, index, _) = self.locate(node.addr()).unwrap();
                    // SAFETY: `locate` found `node` in block `index` of `chunk`.
                    let word = unsafe { bit_word(chunk, index).read() };
                    assert_eq!(
                        word & (1 << (index % WORD_BITS)),
                        0,
                        "{size}: free node marked live"
                    );
                }
                free += 1;
                assert!(free <= capacity, "{size}: the free lists have a cycle");
                // SAFETY: `node` is a node of one of the lists, whose first word holds the next
                // one.
                link = unsafe { node.cast::<*mut u8>().read() };
            }
        }

        let (fresh, end) = (self.fresh.get(), self.fresh_end.get());
        assert!(fresh.addr() <= end.addr());
        assert_eq!((end.addr() - fresh.addr()) % size.max(1), 0);
        let fresh_blocks = (end.addr() - fresh.addr()) / size.max(1);

        let mut uncarved = 0;
        let mut chunk = self.carve_next.get();
        while !chunk.is_null() {
            // SAFETY: `carve_next` and its links are live chunks of this class.
            unsafe {
                uncarved += (*chunk).blocks;
                chunk = (*chunk).next;
            }
        }
        assert_eq!(free, self.listed(), "{size}: free-list length");
        assert_eq!(uncarved, self.uncarved.get(), "{size}: uncarved blocks");
        assert_eq!(fresh_blocks, self.fresh_left(), "{size}: fresh blocks");
        assert!(
            free + fresh_blocks + uncarved <= capacity,
            "{size}: more free than capacity"
        );
        // Debug builds know which blocks are live independently: their bitmaps must agree.
        #[cfg(debug_assertions)]
        {
            let live = self.live();
            let mut marked = 0;
            for chunk in self.chunk_iter() {
                // SAFETY: `chunk` is a live chunk of this class; its header is initialised.
                let blocks = unsafe { (*chunk).blocks };
                for first in (0..blocks).step_by(WORD_BITS) {
                    // SAFETY: `first` is one of the chunk's blocks.
                    let word = unsafe { bit_word(chunk, first).read() };
                    marked += word.count_ones() as usize;
                }
            }
            assert_eq!(marked, live, "{size}: live bits");
        }
    }
}
