//! `Slab`: pools of fixed-size blocks with O(1) allocate and free, for the many same-sized
//! objects a runtime makes (hash-map keys, AST nodes, objects of one type).
//!
//! What it is: one or more *size classes* (up to [`MAX_CLASSES`]), each a list of chunks obtained
//! from an *upstream* allocator ([`Platform`] unless said otherwise) and carved into blocks of one
//! size. A freed block goes on its class's free list, which lives in the free blocks themselves,
//! and is the next one handed out (LIFO, so it is still warm in the cache). The C design's
//! `mem_create_freelist_allocator(size, 100)` is [`Slab::new(size, 100)`](Slab::new).
//!
//! Which class serves a request follows from its [`Layout`] alone, with one table lookup: the
//! smallest class whose blocks are at least as large, provided its blocks are aligned enough
//! (a class's alignment is the largest power of two dividing its block size, so 48-byte blocks
//! are 16-aligned). Everything else (larger sizes, stricter alignments, such as the tables of a
//! hash map) goes to the upstream unchanged, and since `deallocate` receives the same layout, it
//! always knows which of the two holds a block.
//!
//! What it costs: an allocation looks its class up (one load from the table) and pops the free
//! list (two loads, one store), or moves a pointer through the newest chunk; a free looks its
//! class up in the same table, whose entry also says whether the layout covers the whole block,
//! and pushes onto the list. No counter moves on these paths: [`Slab::stats`] counts what it
//! reports when asked, walking the free lists, so a snapshot costs time in proportion to the
//! blocks that are free. A block freed with less than its block size (a string) goes on a second
//! list and comes back, whole, before any fresh block. A full class adds a chunk twice as
//! large as its last one, up to a cap ([`SlabBuilder::max_chunk_blocks`]); a new chunk is carved
//! lazily, so its memory is first touched by the allocation that uses it. Each block wastes the
//! difference between its class size and the request, and no block is ever returned to the
//! upstream before [`Slab::reset`] or drop.
//!
//! What it never does: move a block, let a block of one class serve another, hand out a block
//! twice, or panic inside `allocate`: an impossible request, or a full class in non-growable mode
//! ([`SlabBuilder::growable`]), returns [`AllocError`]. Debug builds check every free: freeing a
//! block twice, or a pointer that no chunk of the class holds, panics with the address and the
//! layout. Release builds keep no bookkeeping for this.
//!
//! How to pick block sizes: look at the sizes you allocate (a [`Trace`](crate::Trace) around the upstream counts them), and
//! give each frequent size its own class. Classes round up to a multiple of 8 bytes; a request
//! fills the smallest class that fits, so with classes `[16, 32, 64, 128, 256]` a 33-byte string
//! wastes 31 bytes. Keep the classes at most about twice apart, and let the rare large requests go
//! upstream.
//!
//! When to pick it: many objects of a few sizes that are freed one by one in no particular order,
//! living long or short. For objects that die together, an [`Arena`](crate::Arena) is simpler and
//! as fast; for everything else, the upstream is right.
//!
//! It is an allocator by shared reference (`&Slab`: many collections share one pool) and by
//! value (a collection that owns its pool). It is `Send` but not `Sync`:
//!
//! ```compile_fail
//! fn requires_sync<T: Sync>(_: &T) {}
//! requires_sync(&allockit::Slab::new(32, 100));
//! ```

mod class;

use core::cell::Cell;
use core::fmt;
use core::mem::size_of;
use core::ptr::{self, NonNull};

use class::Class;

use crate::units::Bytes;
use crate::{AllocError, Allocator, Layout, Platform};

/// The most size classes one [`Slab`] holds.
pub const MAX_CLASSES: usize = 8;

/// The largest block size a class can have (one 4 KiB page). Larger objects are better served
/// by the upstream.
pub const MAX_BLOCK_SIZE: usize = 4096;

/// Block sizes are multiples of this; it is also the size of the free-list link a free block
/// holds (rounded up to 8 bytes on every target).
const GRAIN: usize = 8;

/// The class table has one entry per grain of size, from 0 to `MAX_BLOCK_SIZE`.
const TABLE_LEN: usize = MAX_BLOCK_SIZE / GRAIN + 1;

/// The index of the upstream marker in the class array, the entry after the last class: where
/// the table sends sizes that no class serves.
const NO_CLASS: usize = MAX_CLASSES;

/// The table holds byte offsets into the class array in the low 16 bits of its entries (so that
/// a lookup is one load and one add); they fit.
const _: () = assert!(NO_CLASS * size_of::<Class>() <= u16::MAX as usize);

/// Added to a table entry when the entry's size, `index * GRAIN`, is its class's block size, so
/// that a free tells from the same load whether its layout covers the whole block. An
/// allocation reads the low 16 bits alone.
const EXACT: u32 = 1 << 16;

/// How many blocks a chunk of a class may hold by default: as many as fit in 1 MiB, at least 1.
const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// The first chunk of a class built without initial blocks holds as many blocks as fit in 4 KiB.
const FIRST_CHUNK_BYTES: usize = 4096;

/// A pool of fixed-size blocks in one or more size classes, with a fallback allocator for the
/// rest.
///
/// See the [module documentation](crate::slab) for what it costs and promises.
///
/// # Examples
///
/// ```
/// use allockit::{strdup_in, HashMap, Slab};
///
/// // Blocks of 32 bytes, 100 reserved at once: the C `mem_create_freelist_allocator(32, 100)`.
/// let pool = Slab::new(32, 100);
/// let mut names = HashMap::new_in(&pool);
/// names.insert(strdup_in("x", &pool), 1);
/// names.insert(strdup_in("a name of 32 bytes, give or take", &pool), 2);
/// assert_eq!(names["x"], 1);
///
/// let stats = pool.stats();
/// assert_eq!(stats.classes()[0].live, 2); // the keys; the map's table went upstream
/// assert_eq!(stats.upstream_live(), 1);
/// ```
pub struct Slab<A: Allocator = Platform> {
    /// The classes in increasing block size; entries from `class_count` to `MAX_CLASSES` are
    /// unused, and entry `MAX_CLASSES` (`NO_CLASS`) is always the upstream marker
    /// (`Class::upstream_marker`), which holds no block.
    classes: [Class; MAX_CLASSES + 1],
    /// How many entries of `classes` are in use (at least 1).
    class_count: usize,
    /// For each size `s` in `1..=MAX_BLOCK_SIZE`, entry `s.div_ceil(GRAIN)` is the byte offset
    /// in `classes` of the smallest class with blocks of at least `s` bytes, or of the upstream
    /// marker (`NO_CLASS`) if no class is that large, with the `EXACT` bit set where
    /// `s.div_ceil(GRAIN) * GRAIN` is that class's block size (never for the marker). Entry 0
    /// (zero-sized layouts) is the marker's. The low 16 bits of every entry are
    /// `index * size_of::<Class>()` for an index of `classes`; the rest is 0 or `EXACT`.
    table: [u32; TABLE_LEN],
    /// Whether a full class may add a chunk.
    growable: bool,
    /// Where chunks, and the requests that no class serves, come from.
    upstream: A,
    /// Requests passed to the upstream (allocations, and grows and shrinks that moved a block
    /// there from a class).
    upstream_allocations: Cell<usize>,
    /// Upstream blocks freed through the slab (deallocations, and moves into a class).
    upstream_frees: Cell<usize>,
}

/// How to build a [`Slab`]: its classes, first chunk size, chunk cap and growth mode.
///
/// # Examples
///
/// ```
/// use allockit::{Slab, SlabBuilder};
///
/// let pool = SlabBuilder::new()
///     .classes(&[16, 32, 64, 128, 256])
///     .initial_blocks(64)
///     .max_chunk_blocks(4096)
///     .build();
/// assert_eq!(pool.stats().classes().len(), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabBuilder {
    classes: [usize; MAX_CLASSES],
    class_count: usize,
    initial_blocks: usize,
    max_chunk_blocks: Option<usize>,
    growable: bool,
}

impl Default for SlabBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SlabBuilder {
    /// A builder for a growable slab with one class of 64-byte blocks and no block reserved until
    /// the first allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::SlabBuilder::new().build();
    /// assert_eq!(pool.stats().classes()[0].block_size, 64);
    /// ```
    pub const fn new() -> Self {
        let mut classes = [0; MAX_CLASSES];
        classes[0] = 64;
        Self {
            classes,
            class_count: 1,
            initial_blocks: 0,
            max_chunk_blocks: None,
            growable: true,
        }
    }

    /// The block sizes of the classes, in any order. Each is rounded up to a multiple of 8;
    /// sizes that round to the same value make one class.
    ///
    /// # Panics
    ///
    /// If `sizes` is empty, holds more than [`MAX_CLASSES`] sizes, or a size is 0 or above
    /// [`MAX_BLOCK_SIZE`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::SlabBuilder::new().classes(&[20, 24, 100]).build();
    /// let sizes: Vec<usize> = pool.stats().classes().iter().map(|c| c.block_size).collect();
    /// assert_eq!(sizes, [24, 104]);
    /// ```
    pub fn classes(mut self, sizes: &[usize]) -> Self {
        assert!(
            !sizes.is_empty(),
            "allockit::SlabBuilder::classes: at least one block size is needed"
        );
        assert!(
            sizes.len() <= MAX_CLASSES,
            "allockit::SlabBuilder::classes: {} block sizes given, at most {MAX_CLASSES} are supported",
            sizes.len()
        );
        let mut classes = [0; MAX_CLASSES];
        for (slot, &size) in classes.iter_mut().zip(sizes) {
            assert!(
                (1..=MAX_BLOCK_SIZE).contains(&size),
                "allockit::SlabBuilder::classes: block size {size} is not in 1..={MAX_BLOCK_SIZE}"
            );
            *slot = size.next_multiple_of(GRAIN);
        }
        let used = &mut classes[..sizes.len()];
        used.sort_unstable();
        let mut count = 0;
        for i in 0..used.len() {
            if count == 0 || used[i] != used[count - 1] {
                used[count] = used[i];
                count += 1;
            }
        }
        self.classes = [0; MAX_CLASSES];
        self.classes[..count].copy_from_slice(&classes[..count]);
        self.class_count = count;
        self
    }

    /// How many blocks each class reserves when the slab is built, in one chunk (0 by default:
    /// the first allocation reserves). Later chunks double in size from there, up to
    /// [`max_chunk_blocks`](Self::max_chunk_blocks).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::SlabBuilder::new().classes(&[32]).initial_blocks(100).build();
    /// assert_eq!(pool.stats().classes()[0].free, 100);
    /// ```
    pub const fn initial_blocks(mut self, blocks: usize) -> Self {
        self.initial_blocks = blocks;
        self
    }

    /// The most blocks a chunk added by growth may hold (by default, as many as fit in 1 MiB).
    /// A value of 0 counts as 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Allocator, Layout, SlabBuilder};
    ///
    /// let pool = SlabBuilder::new().classes(&[32]).initial_blocks(2).max_chunk_blocks(2).build();
    /// let layout = Layout::new::<[u8; 32]>();
    /// for _ in 0..6 {
    ///     pool.allocate(layout)?; // freed when the pool is dropped
    /// }
    /// assert_eq!(pool.stats().classes()[0].chunks, 3);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub const fn max_chunk_blocks(mut self, blocks: usize) -> Self {
        self.max_chunk_blocks = Some(if blocks == 0 { 1 } else { blocks });
        self
    }

    /// Whether a full class may reserve another chunk (`true` by default). A non-growable slab
    /// returns [`AllocError`] for a request its class cannot serve from the blocks it has;
    /// [`Slab::preheat`] still reserves. Requests that go upstream are not affected.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Allocator, AllocError, Layout, SlabBuilder};
    ///
    /// let pool = SlabBuilder::new().classes(&[16]).initial_blocks(1).growable(false).build();
    /// let layout = Layout::new::<u64>();
    /// let _only = pool.allocate(layout)?;
    /// assert_eq!(pool.allocate(layout), Err(AllocError));
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub const fn growable(mut self, growable: bool) -> Self {
        self.growable = growable;
        self
    }

    /// Builds the slab on the platform allocator.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the initial blocks
    /// cannot be reserved.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::SlabBuilder::new().classes(&[32, 64]).build();
    /// assert_eq!(pool.stats().reserved(), 0);
    /// ```
    pub fn build(self) -> Slab {
        self.build_in(Platform)
    }

    /// Builds the slab on `upstream`.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the initial blocks
    /// cannot be reserved.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, SlabBuilder};
    ///
    /// let arena = Arena::new();
    /// let pool = SlabBuilder::new().classes(&[24]).initial_blocks(10).build_in(&arena);
    /// assert!(arena.stats().used >= 240);
    /// # drop(pool);
    /// ```
    pub fn build_in<A: Allocator>(self, upstream: A) -> Slab<A> {
        match self.try_build_in(upstream) {
            Ok(slab) => slab,
            Err(AllocError) => {
                // The first class's chunk, as near as a layout can say (an overflowing request
                // is reported as the largest size a layout can hold).
                let size = self.classes[0]
                    .saturating_mul(self.initial_blocks)
                    .min(isize::MAX as usize - 7);
                alloc::alloc::handle_alloc_error(
                    Layout::from_size_align(size, 8).unwrap_or(Layout::new::<u8>()),
                )
            }
        }
    }

    /// Builds the slab on `upstream`, or returns [`AllocError`] if the initial blocks cannot be
    /// reserved.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the upstream refuses a chunk, or a chunk's size overflows.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{AllocError, Arena, SlabBuilder};
    ///
    /// let arena = Arena::new();
    /// arena.set_limit(Some(1000));
    /// let builder = SlabBuilder::new().classes(&[64]).initial_blocks(100);
    /// assert_eq!(builder.try_build_in(&arena).err(), Some(AllocError));
    /// ```
    pub fn try_build_in<A: Allocator>(self, upstream: A) -> Result<Slab<A>, AllocError> {
        let sizes = &self.classes[..self.class_count];
        // Offsets below `(NO_CLASS + 1) * size_of::<Class>()`, which fit (see `NO_CLASS`).
        let offset = |index: usize| (index * size_of::<Class>()) as u32;
        let mut table = [offset(NO_CLASS); TABLE_LEN];
        let mut class = 0;
        for (entry, slot) in table.iter_mut().enumerate().skip(1) {
            while class < sizes.len() && sizes[class] < entry * GRAIN {
                class += 1;
            }
            if class == sizes.len() {
                break;
            }
            let exact = if sizes[class] == entry * GRAIN {
                EXACT
            } else {
                0
            };
            *slot = offset(class) | exact;
        }
        let slab = Slab {
            classes: core::array::from_fn(|i| match sizes.get(i) {
                _ if i == NO_CLASS => Class::upstream_marker(),
                Some(&size) => {
                    let cap = self
                        .max_chunk_blocks
                        .unwrap_or((DEFAULT_CHUNK_BYTES / size).max(1));
                    // Growth doubles from the initial chunk, or starts from a page's worth.
                    let first = match self.initial_blocks {
                        0 => (FIRST_CHUNK_BYTES / size).max(1),
                        n => n.saturating_mul(2),
                    };
                    Class::new(size, first.min(cap), cap)
                }
                None => Class::unused(),
            }),
            class_count: sizes.len(),
            table,
            growable: self.growable,
            upstream,
            upstream_allocations: Cell::new(0),
            upstream_frees: Cell::new(0),
        };
        if self.initial_blocks > 0 {
            for class in slab.used_classes() {
                // The first chunk holds exactly the initial blocks, whatever the cap. On failure,
                // dropping `slab` returns the chunks already reserved.
                class.reserve(self.initial_blocks, &slab.upstream)?;
            }
        }
        Ok(slab)
    }
}

impl Slab {
    /// A slab with one class of `block_size`-byte blocks (rounded up to a multiple of 8), with
    /// `initial_blocks` of them reserved at once from the platform allocator: the C design's
    /// `mem_create_freelist_allocator(block_size, initial_blocks)`.
    ///
    /// Use [`SlabBuilder`] for several classes, a chunk cap or a non-growable slab.
    ///
    /// # Panics
    ///
    /// If `block_size` is 0 or above [`MAX_BLOCK_SIZE`]. Calls
    /// [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the initial blocks cannot be
    /// reserved.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Slab};
    ///
    /// let pool = Slab::new(16, 100);
    /// let a = Box::new_in(1u64, &pool);
    /// let b = Box::new_in(2u64, &pool);
    /// assert_eq!(*a + *b, 3);
    /// assert_eq!(pool.stats().classes()[0].live, 2);
    /// ```
    pub fn new(block_size: usize, initial_blocks: usize) -> Self {
        Self::new_in(block_size, initial_blocks, Platform)
    }
}

impl<A: Allocator> Slab<A> {
    /// Like [`Slab::new`], with chunks (and the requests no class serves) from `upstream`.
    ///
    /// # Panics
    ///
    /// As [`Slab::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, Box, Slab};
    ///
    /// let arena = Arena::new();
    /// let pool = Slab::new_in(32, 10, &arena);
    /// let node = Box::new_in([0u8; 24], &pool);
    /// assert_eq!(node.len(), 24);
    /// ```
    pub fn new_in(block_size: usize, initial_blocks: usize, upstream: A) -> Self {
        SlabBuilder::new()
            .classes(&[block_size])
            .initial_blocks(initial_blocks)
            .build_in(upstream)
    }

    /// The upstream allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::Slab::new(32, 0);
    /// let _platform: &allockit::Platform = pool.upstream();
    /// ```
    pub fn upstream(&self) -> &A {
        &self.upstream
    }

    /// The block size of the class that serves `layout`, or `None` if the request goes upstream
    /// (too large, too strictly aligned, or zero-sized, which needs no memory at all).
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Layout, SlabBuilder};
    ///
    /// let pool = SlabBuilder::new().classes(&[16, 48]).build();
    /// assert_eq!(pool.class_for(Layout::from_size_align(20, 8)?), Some(48));
    /// assert_eq!(pool.class_for(Layout::from_size_align(20, 32)?), None); // 48-byte blocks are 16-aligned
    /// assert_eq!(pool.class_for(Layout::from_size_align(100, 8)?), None);
    /// # Ok::<(), core::alloc::LayoutError>(())
    /// ```
    pub fn class_for(&self, layout: Layout) -> Option<usize> {
        self.class_of(layout).map(|class| class.size)
    }

    /// Makes sure every class has at least `blocks` free blocks (counting them walks the free
    /// lists, as [`stats`](Self::stats) does), reserving what is missing now
    /// (in chunks of at most the chunk cap), so that the next `blocks` allocations of each class
    /// reach neither the upstream nor its page faults. Works in non-growable mode too: this is
    /// how such a slab gets more room.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the upstream refuses a chunk; the chunks reserved before stay.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::Slab::new(32, 0);
    /// pool.preheat(1000)?;
    /// assert!(pool.stats().classes()[0].free >= 1000);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn preheat(&self, blocks: usize) -> Result<(), AllocError> {
        for class in self.used_classes() {
            class.preheat(blocks, &self.upstream)?;
        }
        Ok(())
    }

    /// Frees every block of every class at once, keeping the chunks for reuse.
    ///
    /// The `&mut` guarantees that no collection still holds a block. Blocks that went upstream are
    /// not the slab's to free: the collections that owned them returned them, unless they were
    /// leaked, in which case they stay with the upstream.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Slab};
    ///
    /// let mut pool = Slab::new(32, 100);
    /// for i in 0..50u64 {
    ///     std::mem::forget(Box::new_in(i, &pool));
    /// }
    /// pool.reset();
    /// let stats = pool.stats();
    /// assert_eq!((stats.classes()[0].live, stats.classes()[0].free), (0, 100));
    /// ```
    pub fn reset(&mut self) {
        for class in &mut self.classes[..self.class_count] {
            class.reset();
        }
    }

    /// A snapshot of the slab's accounting: per class, blocks live and free, chunks and bytes
    /// reserved; and the requests passed upstream.
    ///
    /// Allocating and freeing a block update no counter (that keeps them as cheap as a bare free
    /// list), so the snapshot counts what it needs here: it walks each class's free list, which
    /// takes time in proportion to the blocks freed and not yet reused. Call it to report, not on
    /// every allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, SlabBuilder};
    ///
    /// let pool = SlabBuilder::new().classes(&[16, 64]).initial_blocks(8).build();
    /// let _small = Box::new_in(1u8, &pool);
    /// let _large = Box::new_in([0u8; 1000], &pool);
    /// let stats = pool.stats();
    /// assert_eq!(stats.classes()[0].live, 1);
    /// assert_eq!(stats.classes()[1].live, 0);
    /// assert_eq!(stats.upstream_allocations, 1);
    /// println!("{stats}");
    /// ```
    pub fn stats(&self) -> SlabStats {
        let mut classes = [ClassStats::default(); MAX_CLASSES];
        for (stats, class) in classes.iter_mut().zip(self.used_classes()) {
            *stats = ClassStats {
                block_size: class.size,
                align: class.align,
                live: class.live(),
                free: class.capacity() - class.live(),
                chunks: class.chunk_count(),
                reserved: class.reserved(),
            };
        }
        SlabStats {
            classes,
            class_count: self.class_count,
            upstream_allocations: self.upstream_allocations.get(),
            upstream_frees: self.upstream_frees.get(),
        }
    }

    /// The classes in use.
    fn used_classes(&self) -> &[Class] {
        &self.classes[..self.class_count]
    }

    /// The entry of the class array for `layout`: the smallest class whose blocks hold
    /// `layout.size()` bytes, provided they are aligned to `layout.align()`; else (zero-sized,
    /// too large or too strictly aligned) the upstream marker.
    ///
    /// For a layout known at compile time this is one load from the table: the size test folds
    /// away, and so does the alignment test for alignments up to the grain, which every class's
    /// blocks have. No test for "no class" follows: the marker fails the hot paths' own tests (it
    /// has no free block, and no layout is ever exact for it).
    #[inline(always)]
    fn slot(&self, layout: Layout) -> &Class {
        // The low 16 bits: the class's offset.
        self.class_at(self.entry(layout) as u16 as usize, layout)
    }

    /// The table entry for `layout.size()`: its class's offset, plus `EXACT` if that size is the
    /// class's block size (never for the marker).
    #[inline(always)]
    fn entry(&self, layout: Layout) -> u32 {
        let size = layout.size();
        if size <= MAX_BLOCK_SIZE {
            // SAFETY: `size <= MAX_BLOCK_SIZE`, so `size.div_ceil(GRAIN) < TABLE_LEN`.
            *unsafe { self.table.get_unchecked(size.div_ceil(GRAIN)) }
        } else {
            (NO_CLASS * size_of::<Class>()) as u32
        }
    }

    /// The class at byte `offset` of the class array (the low 16 bits of a table entry), if its
    /// blocks are aligned for `layout`; else the upstream marker.
    #[inline(always)]
    fn class_at(&self, offset: usize, layout: Layout) -> &Class {
        // SAFETY: the low 16 bits of every table entry are the byte offset of an entry of
        // `classes` (field invariant of `table`), and so is the marker's offset: the sum points at
        // a `Class` of the array, which lives as long as `self`.
        let class = unsafe { &*self.classes.as_ptr().byte_add(offset) };
        if layout.align() <= GRAIN || layout.align() <= class.align {
            class
        } else {
            self.upstream_marker()
        }
    }

    /// The upstream marker: the class array's entry for layouts that no class serves.
    #[inline(always)]
    fn upstream_marker(&self) -> &Class {
        &self.classes[NO_CLASS]
    }

    /// The class that serves `layout`, if any (see [`slot`](Self::slot)).
    #[inline(always)]
    fn class_of(&self, layout: Layout) -> Option<&Class> {
        let class = self.slot(layout);
        (!class.is_upstream_marker()).then_some(class)
    }

    /// Passes an allocation upstream, reporting exactly the requested length (see the
    /// `Allocator` impl for why).
    fn allocate_upstream(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(crate::dangling(layout));
        }
        let block = if zeroed {
            self.upstream.allocate_zeroed(layout)?
        } else {
            self.upstream.allocate(layout)?
        };
        self.upstream_allocations
            .set(self.upstream_allocations.get() + 1);
        Ok(NonNull::slice_from_raw_parts(block.cast(), layout.size()))
    }

    /// Allocates a block for `layout` wherever it belongs, zeroed or not: from its class's free
    /// list or fresh region here, everything else in [`allocate_slow`](Self::allocate_slow).
    #[inline(always)]
    fn allocate_any(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        let class = self.slot(layout);
        match class.take() {
            Some(block) => {
                if zeroed {
                    // SAFETY: the block holds `class.size` writable bytes.
                    unsafe { ptr::write_bytes(block.as_ptr(), 0, class.size) };
                }
                Ok(NonNull::slice_from_raw_parts(block, class.size))
            }
            // The `?` tests the slow path's result on that path, so that the fast paths join the
            // caller's code as a known success (no second test of the block).
            None => Ok(self.allocate_slow(layout, zeroed)?),
        }
    }

    /// [`allocate_any`](Self::allocate_any) off the fast path: a new chunk, a reset chunk, a
    /// narrowed node, or the upstream.
    #[cold]
    #[inline(never)]
    fn allocate_slow(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        match self.class_of(layout) {
            Some(class) => {
                let block = class.take_slow(self.growable, &self.upstream)?;
                if zeroed {
                    // SAFETY: the block holds `class.size` writable bytes.
                    unsafe { ptr::write_bytes(block.as_ptr(), 0, class.size) };
                }
                Ok(NonNull::slice_from_raw_parts(block, class.size))
            }
            None => self.allocate_upstream(layout, zeroed),
        }
    }

    /// Frees a block freed with less than the block size of `class`, the entry of the class
    /// array for `layout` (which may be the upstream marker, whose blocks come here too).
    ///
    /// # Safety
    ///
    /// As for `Allocator::deallocate`; `class` is `self.slot(layout)`.
    #[inline(never)]
    unsafe fn deallocate_narrowed(&self, ptr: NonNull<u8>, layout: Layout, class: &Class) {
        if layout.size() >= size_of::<*mut u8>() && !class.is_upstream_marker() {
            // A class block freed with less than its size (a string, say), through a pointer
            // that may cover only that much: the narrowed list takes it as it is.
            // SAFETY: the caller guarantees `ptr` is a live block of this slab fitting `layout`,
            // so it came from `class` (see the `Allocator` impl); `ptr` covers
            // `layout.size() >= 8` bytes.
            unsafe { class.push_narrowed(ptr, layout) }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { self.deallocate_slow(ptr, layout) }
        }
    }

    /// Frees a block that the fast paths of `deallocate` do not take: one freed with less than
    /// its class's block size and less than 8 bytes, an upstream block, or the block of a
    /// zero-sized layout.
    ///
    /// # Safety
    ///
    /// As for `Allocator::deallocate`.
    #[cold]
    #[inline(never)]
    unsafe fn deallocate_slow(&self, ptr: NonNull<u8>, layout: Layout) {
        match self.class_of(layout) {
            // A block freed with less than the 8 bytes of a link: `ptr` may be narrowed to that
            // size, so the free list gets the chunk's rights to the block instead.
            // SAFETY: the caller guarantees `ptr` is a live block of this slab fitting `layout`,
            // so it came from the class that `layout` maps to (see the `Allocator` impl);
            // `full_access` gives a pointer to the whole block.
            Some(class) => unsafe { class.push(class.full_access(ptr), layout) },
            None if layout.size() == 0 => {}
            None => {
                self.upstream_frees.set(self.upstream_frees.get() + 1);
                // SAFETY: `layout` maps upstream, so the block is an upstream block allocated
                // (or last grown or shrunk) with exactly `layout`.
                unsafe { self.upstream.deallocate(ptr, layout) }
            }
        }
    }

    /// Grows or shrinks a block: in place when old and new layout belong to the same class, by
    /// moving the contents when they belong to two classes, and in
    /// [`reallocate_upstream`](Self::reallocate_upstream) when the upstream (or a zero-sized
    /// layout) is on either side.
    ///
    /// # Safety
    ///
    /// - `ptr` is a live block of this slab, and `old` fits it.
    /// - `new` is the caller's new layout (larger for a grow, smaller for a shrink).
    #[inline(always)]
    unsafe fn reallocate(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        zeroed: bool,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let (from, to) = (self.slot(old), self.slot(new));
        if from.is_upstream_marker() || to.is_upstream_marker() {
            // SAFETY: the caller's contract, passed on.
            return unsafe { self.reallocate_upstream(ptr, old, new, zeroed) };
        }
        if ptr::eq(from, to) {
            // The caller may now use the block up to its new size, but `ptr` may be narrowed to
            // the old one (see `deallocate_slow`): hand out the chunk's rights to the block.
            let ptr = if old.size() < to.size {
                to.full_access(ptr)
            } else {
                ptr
            };
            if zeroed {
                // SAFETY: the block holds `to.size` bytes, and the caller's old size is at most
                // that (both layouts belong to this class).
                unsafe { ptr::write_bytes(ptr.as_ptr().add(old.size()), 0, to.size - old.size()) };
            }
            return Ok(NonNull::slice_from_raw_parts(ptr, to.size));
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { self.moved(ptr, old, new, zeroed) }
    }

    /// Moves a block to a new one of layout `new` (a class's, or the upstream's): allocates it,
    /// copies the contents up to the smaller size, frees the old block.
    ///
    /// # Safety
    ///
    /// As for [`reallocate`](Self::reallocate).
    #[inline(always)]
    unsafe fn moved(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        zeroed: bool,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.allocate_any(new, zeroed)?;
        // SAFETY: the old block holds at least `old.size()` bytes and the new one at least
        // `new.size()`; they are distinct blocks (one is fresh), and the caller owns both.
        unsafe {
            ptr::copy_nonoverlapping(
                ptr.as_ptr(),
                block.cast::<u8>().as_ptr(),
                old.size().min(new.size()),
            );
        }
        // SAFETY: `ptr` is the caller's live block with layout `old`, freed once.
        unsafe { self.deallocate(ptr, old) };
        Ok(block)
    }

    /// [`reallocate`](Self::reallocate) with the upstream, or a zero-sized layout, on either
    /// side: the upstream's own grow or shrink when both are upstream blocks, else a move.
    ///
    /// # Safety
    ///
    /// As for [`reallocate`](Self::reallocate).
    #[cold]
    #[inline(never)]
    unsafe fn reallocate_upstream(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        zeroed: bool,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let both_upstream = self.class_of(old).is_none() && self.class_of(new).is_none();
        if both_upstream && old.size() != 0 && new.size() != 0 {
            // SAFETY: the block is an upstream block allocated with exactly `old` (the slab
            // reports the requested length for upstream blocks), and `new` is the caller's.
            let block = unsafe {
                if new.size() < old.size() {
                    self.upstream.shrink(ptr, old, new)
                } else if zeroed {
                    self.upstream.grow_zeroed(ptr, old, new)
                } else {
                    self.upstream.grow(ptr, old, new)
                }
            }?;
            return Ok(NonNull::slice_from_raw_parts(block.cast(), new.size()));
        }
        // Crossing between a class, the upstream and "no memory" (zero-sized): move.
        // SAFETY: the caller's contract, passed on.
        unsafe { self.moved(ptr, old, new, zeroed) }
    }

    /// Panics if any class contradicts its invariants (see `class.rs`).
    #[cfg(test)]
    fn check_invariants(&self) {
        for class in self.used_classes() {
            class.check_invariants();
        }
        for unused in &self.classes[self.class_count..] {
            assert_eq!(unused.capacity(), 0);
        }
        assert!(self.upstream_marker().is_upstream_marker());
    }
}

// SAFETY: the `Allocator` contract, argued for `Slab<A>` (and `&Slab<A>` by allocator-api2's
// blanket impl for references):
// - Blocks stay valid while the slab lives: class blocks lie in chunks that are returned to the
//   upstream only on drop (`reset` takes `&mut self`, so no collection holds a block then, and it
//   keeps the chunks anyway); upstream blocks are the upstream's, which the slab owns and keeps.
// - Moving the slab invalidates nothing: chunks are separate allocations of the upstream, reached
//   from the slab through pointers; the upstream's own blocks survive its moves by its contract.
//   `Slab` is not `Clone`.
// - Any block it handed out may be passed to any of its methods: the block's place (class or
//   upstream) is a function of the layout's size and alignment. The slab reports a class's block
//   size as the length of a class block, so every size a caller may free it with (from the
//   requested size to that length) maps to the same class; it reports exactly the requested size
//   for upstream blocks, so their layouts map back upstream.
unsafe impl<A: Allocator> Allocator for Slab<A> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_any(layout, false)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_any(layout, true)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let entry = self.entry(layout);
        // The fast path: a class block freed with its whole size, which the table entry tells
        // (its `EXACT` part, and a size that is a multiple of the grain, as the entry's is) with
        // no look at the class, and aligned as the class's blocks are (a test that folds away for
        // alignments up to the grain). The upstream marker is never exact, so its blocks take
        // the slow path.
        if entry >= EXACT && layout.size().is_multiple_of(GRAIN) {
            // (In `usize`, so that the subtraction folds into the addressing of the class.)
            let class = self.class_at(entry as usize - EXACT as usize, layout);
            if layout.align() <= GRAIN || !class.is_upstream_marker() {
                // SAFETY: the caller guarantees `ptr` is a live block of this slab fitting
                // `layout`, so it came from the class that `layout` maps to (see above), and
                // `layout` covers the whole block.
                unsafe { class.push(ptr, layout) };
                return;
            }
        }
        // Laid out apart from the fast path, so that the compiler does not merge the two pushes.
        core::hint::cold_path();
        let class = self.class_at(entry as u16 as usize, layout);
        // SAFETY: the caller's contract, passed on.
        unsafe { self.deallocate_narrowed(ptr, layout, class) }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() >= old_layout.size());
        // SAFETY: the caller's guarantees for `grow` are those of `reallocate`.
        unsafe { self.reallocate(ptr, old_layout, new_layout, false) }
    }

    #[inline]
    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() >= old_layout.size());
        // SAFETY: as for `grow`.
        unsafe { self.reallocate(ptr, old_layout, new_layout, true) }
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() <= old_layout.size());
        // SAFETY: as for `grow`.
        unsafe { self.reallocate(ptr, old_layout, new_layout, false) }
    }
}

// SAFETY: a `Slab` moved to another thread takes its chunks with it: nothing else points into
// them except the blocks of collections that borrow the slab (`&Slab` is not `Send`, since
// `Slab` is not `Sync`) or own it (and so move with it). The one thread that holds the slab is
// the only one touching its free lists. The upstream moves along, so it must be `Send`.
unsafe impl<A: Allocator + Send> Send for Slab<A> {}

impl<A: Allocator> Drop for Slab<A> {
    fn drop(&mut self) {
        let upstream = &self.upstream;
        for class in &mut self.classes[..self.class_count] {
            // SAFETY: every chunk of the class came from `self.upstream`; the slab is being
            // dropped, so no block of it is used again (the borrow checker ended every borrow).
            unsafe { class.release(upstream) };
        }
    }
}

impl<A: Allocator + fmt::Debug> fmt::Debug for Slab<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab")
            .field("stats", &self.stats())
            .field("growable", &self.growable)
            .field("upstream", &self.upstream)
            .finish()
    }
}

/// A snapshot of a [`Slab`]'s accounting, from [`Slab::stats`].
///
/// `Display` prints a table: one row per class, and one for the upstream.
///
/// # Examples
///
/// ```
/// use allockit::{Box, Slab};
///
/// let pool = Slab::new(32, 100);
/// let _blocks: Vec<_> = (0..10u64).map(|i| Box::new_in(i, &pool)).collect();
/// let stats = pool.stats();
/// assert_eq!(stats.live_blocks(), 10);
/// assert_eq!(stats.classes()[0].free, 90);
/// println!("{stats}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlabStats {
    classes: [ClassStats; MAX_CLASSES],
    class_count: usize,
    /// Requests the slab passed to the upstream: allocations no class serves, and grows or
    /// shrinks that moved a block out of a class.
    pub upstream_allocations: usize,
    /// Upstream blocks freed through the slab (including blocks moved into a class).
    pub upstream_frees: usize,
}

impl SlabStats {
    /// One entry per class, in increasing block size.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::SlabBuilder::new().classes(&[64, 16]).build();
    /// assert_eq!(pool.stats().classes()[0].block_size, 16);
    /// ```
    pub fn classes(&self) -> &[ClassStats] {
        &self.classes[..self.class_count]
    }

    /// Live blocks over all classes.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::Slab::new(8, 4);
    /// let _one = allockit::Box::new_in(1u8, &pool);
    /// assert_eq!(pool.stats().live_blocks(), 1);
    /// ```
    pub fn live_blocks(&self) -> usize {
        self.classes().iter().map(|c| c.live).sum()
    }

    /// Bytes reserved from the upstream for chunks, over all classes.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::Slab::new(32, 100);
    /// assert!(pool.stats().reserved() >= 3200);
    /// ```
    pub fn reserved(&self) -> usize {
        self.classes().iter().map(|c| c.reserved).sum()
    }

    /// Upstream blocks that the slab handed out and that are not freed yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = allockit::Slab::new(32, 0);
    /// let big = allockit::Box::new_in([0u8; 100], &pool);
    /// assert_eq!(pool.stats().upstream_live(), 1);
    /// drop(big);
    /// assert_eq!(pool.stats().upstream_live(), 0);
    /// ```
    pub fn upstream_live(&self) -> usize {
        self.upstream_allocations - self.upstream_frees
    }
}

/// The accounting of one size class of a [`Slab`], in [`SlabStats::classes`].
///
/// # Examples
///
/// ```
/// let pool = allockit::Slab::new(48, 10);
/// let class = pool.stats().classes()[0];
/// assert_eq!((class.block_size, class.align, class.free, class.chunks), (48, 16, 10, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassStats {
    /// The size of the class's blocks.
    pub block_size: usize,
    /// The alignment every block of the class has.
    pub align: usize,
    /// Blocks handed out and not yet freed.
    pub live: usize,
    /// Blocks reserved and not live: on the free list, or never used yet.
    pub free: usize,
    /// Chunks reserved from the upstream.
    pub chunks: usize,
    /// Bytes reserved from the upstream for the chunks (headers included).
    pub reserved: usize,
}

impl fmt::Display for SlabStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>8} {:>10} {:>10} {:>7} {:>10}",
            "block", "live", "free", "chunks", "reserved"
        )?;
        for class in self.classes() {
            writeln!(
                f,
                "{:>8} {:>10} {:>10} {:>7} {:>10}",
                Bytes(class.block_size),
                class.live,
                class.free,
                class.chunks,
                Bytes(class.reserved),
            )?;
        }
        write!(
            f,
            "{:>8} {:>10}  ({} requests, {} freed)",
            "upstream",
            self.upstream_live(),
            self.upstream_allocations,
            self.upstream_frees,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn the_table_picks_the_smallest_class_that_fits() {
        let slab = SlabBuilder::new().classes(&[16, 32, 48, 256]).build();
        for size in 1..=300 {
            let expected = [16, 32, 48, 256].into_iter().find(|&c| c >= size);
            assert_eq!(slab.class_for(layout(size, 1)), expected, "size {size}");
        }
        assert_eq!(slab.class_for(layout(0, 1)), None);
        // Alignment: 48-byte blocks are 16-aligned, 256-byte blocks 256-aligned.
        assert_eq!(slab.class_for(layout(40, 16)), Some(48));
        assert_eq!(slab.class_for(layout(40, 32)), None);
        assert_eq!(slab.class_for(layout(200, 256)), Some(256));
        assert_eq!(slab.class_for(layout(200, 512)), None);
        let largest = SlabBuilder::new().classes(&[MAX_BLOCK_SIZE]).build();
        assert_eq!(
            largest.class_for(layout(MAX_BLOCK_SIZE, 4096)),
            Some(MAX_BLOCK_SIZE)
        );
        assert_eq!(largest.class_for(layout(MAX_BLOCK_SIZE + 1, 1)), None);
    }

    #[test]
    fn every_size_a_block_may_be_freed_with_maps_to_its_class() {
        let slab = SlabBuilder::new().classes(&[8, 24, 40, 64, 4096]).build();
        // Every size in a normal run; a sample under Miri, which is much slower.
        for size in (1..=MAX_BLOCK_SIZE).step_by(if cfg!(miri) { 61 } else { 1 }) {
            for align in [1, 8, 16, 64] {
                let Some(class) = slab.class_for(layout(size, align)) else {
                    continue;
                };
                // The class for a size is monotonic, so the two ends and the middle suffice.
                for fit in [size, (size + class) / 2, class] {
                    assert_eq!(slab.class_for(layout(fit, align)), Some(class));
                }
            }
        }
    }

    #[test]
    fn invariants_hold_through_carving_freeing_preheating_and_reset() {
        let mut slab = SlabBuilder::new()
            .classes(&[16, 64])
            .initial_blocks(3)
            .max_chunk_blocks(5)
            .build();
        slab.check_invariants();
        let l16 = layout(16, 8);
        let l64 = layout(50, 2);
        let mut live = Vec::new();
        for round in 0..40 {
            live.push((slab.allocate(l16).unwrap().cast::<u8>(), l16));
            if round % 3 == 0 {
                live.push((slab.allocate(l64).unwrap().cast::<u8>(), l64));
            }
            if round % 4 == 1 {
                let (ptr, l) = live.swap_remove(round % live.len());
                // SAFETY: a live block of this slab, freed once with its layout.
                unsafe { slab.deallocate(ptr, l) };
            }
            slab.check_invariants();
        }
        slab.preheat(20).unwrap();
        slab.check_invariants();
        let stats = slab.stats();
        assert!(stats.classes().iter().all(|c| c.free >= 20));
        assert!(stats.classes().iter().all(|c| c.chunks >= 2));
        for (ptr, l) in live.drain(..) {
            // SAFETY: as above.
            unsafe { slab.deallocate(ptr, l) };
        }
        slab.check_invariants();
        slab.reset();
        slab.check_invariants();
        // After a reset, every chunk is carved again before a new one is added.
        let chunks = slab.stats().classes()[0].chunks;
        let capacity = slab.stats().classes()[0].free;
        for _ in 0..capacity {
            live.push((slab.allocate(l16).unwrap().cast::<u8>(), l16));
            slab.check_invariants();
        }
        assert_eq!(slab.stats().classes()[0].chunks, chunks);
        live.push((slab.allocate(l16).unwrap().cast::<u8>(), l16));
        assert_eq!(slab.stats().classes()[0].chunks, chunks + 1);
        slab.check_invariants();
        let mut spans: Vec<usize> = live.iter().map(|(p, _)| p.as_ptr().addr()).collect();
        spans.sort_unstable();
        assert!(
            spans.windows(2).all(|w| w[1] - w[0] >= 16),
            "blocks overlap"
        );
    }

    #[test]
    fn growth_doubles_up_to_the_cap() {
        let slab = SlabBuilder::new()
            .classes(&[8])
            .initial_blocks(1)
            .max_chunk_blocks(6)
            .build();
        let l = layout(8, 8);
        let mut sizes = Vec::new();
        let mut before = 0;
        for _ in 0..40 {
            let _ = slab.allocate(l).unwrap();
            let capacity = slab.stats().classes()[0].free + slab.stats().classes()[0].live;
            if capacity != before {
                sizes.push(capacity - before);
                before = capacity;
            }
        }
        slab.check_invariants();
        assert_eq!(sizes[..5], [1, 2, 4, 6, 6]);
    }

    #[test]
    fn a_block_of_the_wrong_class_is_refused_in_debug_builds() {
        if !cfg!(debug_assertions) {
            return;
        }
        let slab = SlabBuilder::new().classes(&[16, 32]).build();
        let block = slab.allocate(layout(16, 8)).unwrap().cast::<u8>();
        let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            // SAFETY: not sound by the contract (wrong layout): the debug check must catch it
            // before anything is written.
            unsafe { slab.deallocate(block, layout(32, 8)) }
        }));
        let message = *caught
            .unwrap_err()
            .downcast::<alloc::string::String>()
            .unwrap();
        assert!(
            message.contains("no chunk of this slab's 32-byte class"),
            "{message}"
        );
        slab.check_invariants();
        // SAFETY: the block is still live with its real layout.
        unsafe { slab.deallocate(block, layout(16, 8)) };
        slab.check_invariants();
    }
}
