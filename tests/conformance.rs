//! The conformance suite: what every allocation strategy promises, tested once, generically, and
//! run for every strategy. A failure is named `strategy::property`.
//!
//! A new strategy adds one entry to the `conformance!` invocation at the bottom.

mod common;

use std::ptr::NonNull;

use allockit::{
    AllocError, Allocator, Arena, Box, Failing, HashMap, Layout, Platform, Slab, SlabBuilder,
    Trace, Vec, failing::Policy, strdup_in,
};
use common::{Rng, check, check_zeroed, fill, scaled};

/// The generic properties. Each takes the allocator by value and borrows it where it needs to
/// hand it to several owners (`&A` is an allocator too).
mod suite {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    fn addr(block: NonNull<[u8]>) -> usize {
        block.cast::<u8>().as_ptr().addr()
    }

    /// A live block, with the tag of the pattern it holds.
    struct Block {
        ptr: NonNull<u8>,
        layout: Layout,
        tag: usize,
    }

    fn alloc_filled<A: Allocator>(a: &A, layout: Layout, tag: usize) -> Block {
        let block = a.allocate(layout).expect("a small request succeeds");
        assert!(block.len() >= layout.size(), "block shorter than requested");
        assert_eq!(
            addr(block) % layout.align(),
            0,
            "block misaligned for {layout:?}"
        );
        let ptr = block.cast::<u8>();
        // SAFETY: the block holds at least `layout.size()` writable bytes.
        unsafe { fill(ptr, layout.size(), tag) };
        Block { ptr, layout, tag }
    }

    fn check_and_free<A: Allocator>(a: &A, block: Block) {
        // SAFETY: `block` is live, was filled with its tag, and is freed once with its layout.
        unsafe {
            check(block.ptr, block.layout.size(), block.tag);
            a.deallocate(block.ptr, block.layout);
        }
    }

    fn random_blocks<A: Allocator>(a: &A, rng: &mut Rng, count: usize) -> std::vec::Vec<Block> {
        (0..count)
            .map(|tag| {
                let size = 1 + rng.below(300);
                let align = 1 << rng.below(7);
                alloc_filled(a, layout(size, align), tag)
            })
            .collect()
    }

    /// Every alignment from 1 to 4096, with sizes below, at and above it.
    pub fn alignment<A: Allocator>(a: A) {
        for shift in 0..=12 {
            let align = 1usize << shift;
            for size in [1, 3, align, align + 1, 2 * align + 5] {
                check_and_free(&a, alloc_filled(&a, layout(size, align), size));
            }
        }
    }

    /// 200 live blocks of mixed sizes and alignments never overlap and keep their bytes.
    pub fn no_overlap<A: Allocator>(a: A) {
        let mut rng = Rng::new(1);
        let mut blocks = random_blocks(&a, &mut rng, 200);
        let mut spans: std::vec::Vec<(usize, usize)> = blocks
            .iter()
            .map(|b| (b.ptr.as_ptr().addr(), b.layout.size()))
            .collect();
        spans.sort_unstable();
        for pair in spans.windows(2) {
            assert!(
                pair[0].0 + pair[0].1 <= pair[1].0,
                "blocks at {:#x} (+{}) and {:#x} overlap",
                pair[0].0,
                pair[0].1,
                pair[1].0
            );
        }
        // Free in a scrambled order, checking every block on the way out.
        while !blocks.is_empty() {
            let i = rng.below(blocks.len());
            check_and_free(&a, blocks.swap_remove(i));
        }
    }

    /// `grow` keeps the old bytes, whether the block is the newest or not, and across alignments.
    pub fn grow_keeps_contents<A: Allocator>(a: A) {
        let mut block = alloc_filled(&a, layout(8, 8), 1);
        let mut tag = 1;
        for (i, size) in [24, 100, 1000, 5000].into_iter().enumerate() {
            // Every other step, put a block after this one so it cannot simply extend.
            let other = (i % 2 == 1).then(|| alloc_filled(&a, layout(16, 1), 99));
            let new = layout(size, 8);
            // SAFETY: `block` is live with `block.layout`, and `new` is larger.
            let grown = unsafe { a.grow(block.ptr, block.layout, new) }.expect("grow succeeds");
            assert!(grown.len() >= size);
            let ptr = grown.cast::<u8>();
            // SAFETY: the first `block.layout.size()` bytes were preserved by `grow`.
            unsafe { check(ptr, block.layout.size(), tag) };
            tag += 1;
            // SAFETY: the grown block holds `size` writable bytes.
            unsafe { fill(ptr, size, tag) };
            block = Block {
                ptr,
                layout: new,
                tag,
            };
            if let Some(other) = other {
                check_and_free(&a, other);
            }
        }
        // A stricter alignment on the way up.
        let new = layout(6000, 256);
        // SAFETY: `block` is live with its layout, and `new` is larger.
        let grown = unsafe { a.grow(block.ptr, block.layout, new) }.expect("grow succeeds");
        assert_eq!(addr(grown) % 256, 0);
        // SAFETY: `grow` preserved the old bytes.
        unsafe { check(grown.cast(), block.layout.size(), block.tag) };
        // SAFETY: the block is live with layout `new`.
        unsafe { a.deallocate(grown.cast(), new) };
    }

    /// `grow_zeroed` keeps the old bytes and zeroes the new tail.
    pub fn grow_zeroed_zeroes_tail<A: Allocator>(a: A) {
        for newest in [true, false] {
            let block = alloc_filled(&a, layout(10, 2), 5);
            let other = (!newest).then(|| alloc_filled(&a, layout(8, 1), 6));
            let new = layout(300, 2);
            // SAFETY: `block` is live with its layout, and `new` is larger.
            let grown = unsafe { a.grow_zeroed(block.ptr, block.layout, new) }.unwrap();
            let ptr = grown.cast::<u8>();
            // SAFETY: `grow_zeroed` preserved the first 10 bytes and zeroed the other 290.
            unsafe {
                check(ptr, 10, 5);
                check_zeroed(ptr.add(10), 290);
                a.deallocate(ptr, new);
            }
            if let Some(other) = other {
                check_and_free(&a, other);
            }
        }
    }

    /// `shrink` keeps the bytes up to the new size, also when the alignment goes up.
    pub fn shrink_keeps_contents<A: Allocator>(a: A) {
        let mut block = alloc_filled(&a, layout(1000, 4), 7);
        for size in [999, 500, 10, 1] {
            let new = layout(size, 4);
            // SAFETY: `block` is live with its layout, and `new` is no larger.
            let shrunk = unsafe { a.shrink(block.ptr, block.layout, new) }.unwrap();
            assert!(shrunk.len() >= size);
            // SAFETY: `shrink` preserved the first `size` bytes.
            unsafe { check(shrunk.cast(), size, 7) };
            block = Block {
                ptr: shrunk.cast(),
                layout: new,
                tag: 7,
            };
        }
        check_and_free(&a, block);

        let block = alloc_filled(&a, layout(1000, 1), 8);
        let new = layout(100, 512);
        // SAFETY: `block` is live with its layout, and `new` is smaller.
        let shrunk = unsafe { a.shrink(block.ptr, block.layout, new) }.unwrap();
        assert_eq!(addr(shrunk) % 512, 0);
        check_and_free(
            &a,
            Block {
                ptr: shrunk.cast(),
                layout: new,
                tag: 8,
            },
        );
    }

    /// `allocate_zeroed` returns zeroes, also where a freed block held other bytes.
    pub fn allocate_zeroed_is_zeroed<A: Allocator>(a: A) {
        let l = layout(256, 8);
        check_and_free(&a, alloc_filled(&a, l, 3));
        let block = a.allocate_zeroed(l).unwrap().cast::<u8>();
        // SAFETY: the block holds 256 initialised (zeroed) bytes and is freed once.
        unsafe {
            check_zeroed(block, 256);
            a.deallocate(block, l);
        }
    }

    /// Zero-sized layouts of every alignment work, and a zero-sized block can grow and come back.
    pub fn zero_sized<A: Allocator>(a: A) {
        for shift in 0..=12 {
            let l = layout(0, 1 << shift);
            let block = a.allocate(l).expect("a zero-sized request succeeds");
            assert_eq!(addr(block) % l.align(), 0);
            // SAFETY: the block is live with layout `l`.
            unsafe { a.deallocate(block.cast(), l) };
        }
        let zero = layout(0, 8);
        let block = a.allocate(zero).unwrap();
        let big = layout(32, 8);
        // SAFETY: `block` is live with layout `zero`, and `big` is larger.
        let grown = unsafe { a.grow(block.cast(), zero, big) }.unwrap();
        // SAFETY: 32 writable bytes.
        unsafe { fill(grown.cast(), 32, 4) };
        // SAFETY: `grown` is live with layout `big`, and `zero` is smaller.
        let shrunk = unsafe { a.shrink(grown.cast(), big, zero) }.unwrap();
        // SAFETY: `shrunk` is live with layout `zero`.
        unsafe { a.deallocate(shrunk.cast(), zero) };
    }

    /// A layout near `isize::MAX` is refused with `AllocError`, never a panic or an abort, and a
    /// failed `grow` leaves the block as it was.
    ///
    /// Not under Miri: Miri cannot return null for a request its host cannot meet; it stops the
    /// program with "resource exhaustion" instead.
    pub fn huge_layout_fails<A: Allocator>(a: A) {
        for align in [1, 8, 4096] {
            let huge = layout(isize::MAX as usize - (align - 1), align);
            assert_eq!(a.allocate(huge), Err(AllocError));
            assert_eq!(a.allocate_zeroed(huge), Err(AllocError));
        }
        // More than any machine has (1 EiB), though a valid layout.
        assert_eq!(a.allocate(layout(1 << 60, 8)), Err(AllocError));
        let huge = layout(isize::MAX as usize - 7, 8);
        let block = alloc_filled(&a, layout(64, 8), 9);
        // SAFETY: `block` is live with its layout, and `huge` is larger.
        let grown = unsafe { a.grow(block.ptr, block.layout, huge) };
        assert_eq!(grown, Err(AllocError));
        // SAFETY: as above.
        let grown = unsafe { a.grow_zeroed(block.ptr, block.layout, huge) };
        assert_eq!(grown, Err(AllocError));
        check_and_free(&a, block);
    }

    /// Blocks freed in the order they were allocated.
    pub fn free_in_allocation_order<A: Allocator>(a: A) {
        let blocks = random_blocks(&a, &mut Rng::new(2), 100);
        for block in blocks {
            check_and_free(&a, block);
        }
        // The allocator is still fine afterwards.
        check_and_free(&a, alloc_filled(&a, layout(64, 8), 1));
    }

    /// Blocks freed newest first.
    pub fn free_in_reverse_order<A: Allocator>(a: A) {
        let blocks = random_blocks(&a, &mut Rng::new(3), 100);
        for block in blocks.into_iter().rev() {
            check_and_free(&a, block);
        }
        check_and_free(&a, alloc_filled(&a, layout(64, 8), 1));
    }

    /// Moving the allocator (into a box, then out again) invalidates none of its blocks.
    pub fn moving_keeps_blocks<A: Allocator>(a: A) {
        let mut rng = Rng::new(4);
        let mut blocks = random_blocks(&a, &mut rng, 50);
        let boxed = std::boxed::Box::new(a);
        blocks.extend(random_blocks(&*boxed, &mut rng, 50));
        let moved: A = *boxed;
        for block in blocks {
            check_and_free(&moved, block);
        }
    }

    /// The collections built on the trait work on top of it: a growing `Vec`, `Box`es, strings
    /// and a map that rehashes several times.
    pub fn collections_work<A: Allocator>(a: A) {
        let n = scaled(5_000, 100);
        let mut v = Vec::new_in(&a);
        for i in 0..n {
            v.push(i as u64);
        }
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
        v.truncate(10);
        v.shrink_to_fit();
        assert_eq!(v.len(), 10);

        let boxed = Box::new_in([7u64; 4], &a);
        let mut map = HashMap::new_in(&a);
        for i in 0..n {
            map.insert(strdup_in(&format!("key-{i}"), &a), i);
        }
        assert!((0..n).all(|i| map[format!("key-{i}").as_str()] == i));
        assert_eq!(*boxed, [7; 4]);
    }
}

/// Instantiates the suite for each strategy: `name(run) => { ... run(allocator) ... }`, where the
/// block may set up the allocator's owner and check things after `run` returns.
///
/// Each strategy runs twice: `name::bare::property` hands the allocator itself to the property;
/// `name::traced::property` wraps it in a tracking `Trace` (which panics on any misuse) that must
/// end with no leak and balanced counts.
macro_rules! conformance {
    ($($strategy:ident($run:ident) => $body:block)*) => {$(
        mod $strategy {
            #[allow(unused_imports)]
            use super::*;
            mod bare {
                #[allow(unused_imports)]
                use super::*;
                conformance!(@tests bare $run $body);
            }
            mod traced {
                #[allow(unused_imports)]
                use super::*;
                conformance!(@tests traced $run $body);
            }
        }
    )*};
    (@tests $mode:ident $run:ident $body:block) => {
        conformance!(@each $mode $run $body;
            alignment, no_overlap, grow_keeps_contents, grow_zeroed_zeroes_tail,
            shrink_keeps_contents, allocate_zeroed_is_zeroed, zero_sized,
            #[cfg_attr(miri, ignore = "Miri stops with resource exhaustion instead of failing")]
            huge_layout_fails,
            free_in_allocation_order, free_in_reverse_order, moving_keeps_blocks,
            collections_work);
    };
    (@each $mode:ident $run:ident $body:block; $($(#[$attr:meta])* $test:ident),*) => {$(
        #[test]
        $(#[$attr])*
        fn $test() {
            let $run = |alloc| conformance!(@run $mode $test alloc);
            $body
        }
    )*};
    (@run bare $test:ident $alloc:ident) => { crate::suite::$test($alloc) };
    (@run traced $test:ident $alloc:ident) => {{
        let traced = Trace::with_tracking($alloc);
        crate::suite::$test(&traced);
        if let Err(report) = traced.check_leaks() {
            panic!("{report}");
        }
        let stats = traced.stats();
        assert_eq!(stats.allocations, stats.deallocations, "{stats}");
        assert_eq!(stats.bytes_allocated, stats.bytes_freed, "{stats}");
    }};
}

conformance! {
    platform(run) => { run(Platform) }
    arena_ref(run) => {
        let arena = Arena::new();
        run(&arena);
        let stats = arena.stats();
        assert!(stats.used <= stats.capacity);
    }
    arena_owned(run) => { run(Arena::new()) }
    arena_small_chunks(run) => {
        // A tiny first chunk, so that the suite crosses many chunk boundaries.
        let arena = Arena::with_capacity(1);
        run(&arena);
    }
    slab_ref(run) => {
        let slab = SlabBuilder::new().classes(&[16, 32, 64, 128, 256]).initial_blocks(16).build();
        run(&slab);
        // Every block the suite took went back: to its class, or to the upstream.
        let stats = slab.stats();
        assert_eq!(stats.live_blocks(), 0, "{stats}");
        assert_eq!(stats.upstream_live(), 0, "{stats}");
    }
    slab_owned(run) => {
        run(SlabBuilder::new().classes(&[16, 32, 64, 128, 256]).build())
    }
    slab_upstream_heavy(run) => {
        // One tiny class in chunks of one block: most requests go upstream, the rest cross
        // between the class and the upstream, and every block of the class has its own chunk.
        let slab = SlabBuilder::new().classes(&[8]).initial_blocks(1).max_chunk_blocks(1).build();
        run(&slab);
        assert_eq!(slab.stats().live_blocks(), 0);
        assert_eq!(slab.stats().upstream_live(), 0);
    }
    slab_single_class(run) => { run(&Slab::new(32, 100)) }
    slab_in_arena(run) => {
        let arena = Arena::new();
        run(&SlabBuilder::new().classes(&[24, 48, 96]).build_in(&arena));
    }
    failing_platform(run) => { run(Failing::new(Platform, Policy::Never)) }
    failing_in_arena(run) => {
        let arena = Arena::new();
        run(Failing::new(&arena, Policy::Budget(usize::MAX)));
    }
    subsystem_handle(run) => { run(allockit::subsystem::Modules) }
    subsystem_at_run_time(run) => { run(allockit::Subsystem::Compiler.allocator()) }
}
