//! What is particular to `Slab`: where each block lives, blocks crossing between a class and the
//! upstream, LIFO reuse, non-growable mode, reset, many chunks, what goes back to the upstream on
//! drop, and the debug builds' misuse checks. (The generic promises are in `conformance.rs`.)

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use allockit::{
    AllocError, Allocator, Arena, Box, HashMap, Layout, Platform, Slab, SlabBuilder, Trace,
    strdup_in,
};
use common::{check, check_zeroed, fill, scaled};

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Where each step of a block's life puts it: `Some(block size)` for a class, `None` upstream.
fn place<A: Allocator>(slab: &Slab<A>, l: Layout) -> Option<usize> {
    slab.class_for(l)
}

#[test]
fn a_block_crosses_between_classes_and_the_upstream_with_its_contents() {
    let slab = SlabBuilder::new().classes(&[16, 64]).build();
    let mut l = layout(10, 8);
    let mut ptr = slab.allocate(l).unwrap().cast::<u8>();
    // SAFETY: 10 writable bytes.
    unsafe { fill(ptr, 10, 1) };
    let mut kept = 10;
    // (new size, where it must be, whether the address must stay)
    let steps = [
        (16, Some(16), true),  // grows inside its class
        (40, Some(64), false), // class 16 -> class 64
        (64, Some(64), true),
        (100, None, false),    // class -> upstream
        (3000, None, false),   // upstream -> upstream (the upstream's own grow)
        (50, Some(64), false), // shrink: upstream -> class
        (12, Some(16), false), // class 64 -> class 16
        (5, Some(16), true),
        (0, None, false), // a zero-sized block needs no memory
    ];
    for (size, where_, stays) in steps {
        let new = layout(size, 8);
        assert_eq!(place(&slab, new), where_, "size {size}");
        // SAFETY: `ptr` is live with layout `l`; `new` is larger for a grow, smaller for a shrink.
        let block = unsafe {
            if size >= l.size() {
                slab.grow(ptr, l, new)
            } else {
                slab.shrink(ptr, l, new)
            }
        }
        .unwrap();
        assert!(block.len() >= size);
        if stays {
            assert_eq!(block.cast::<u8>(), ptr, "size {size} should stay in place");
        }
        let moved = block.cast::<u8>();
        kept = kept.min(size);
        // SAFETY: the first `kept` bytes were written with tag 1 and preserved since.
        unsafe { check(moved, kept, 1) };
        // Every block lives in exactly one place.
        let stats = slab.stats();
        let in_class = stats.live_blocks();
        let upstream = stats.upstream_live();
        match where_ {
            Some(_) => assert_eq!((in_class, upstream), (1, 0), "size {size}: {stats}"),
            None if size == 0 => assert_eq!((in_class, upstream), (0, 0), "size 0: {stats}"),
            None => assert_eq!((in_class, upstream), (0, 1), "size {size}: {stats}"),
        }
        ptr = moved;
        l = new;
    }
    // Back up from zero-sized, into a class, zeroed.
    let new = layout(30, 8);
    // SAFETY: `ptr` is the zero-sized block with layout `l`.
    let block = unsafe { slab.grow_zeroed(ptr, l, new) }.unwrap();
    // SAFETY: 30 zeroed bytes, then freed once.
    unsafe {
        check_zeroed(block.cast(), 30);
        slab.deallocate(block.cast(), new);
    }
    assert_eq!(slab.stats().live_blocks(), 0);
}

#[test]
fn grow_zeroed_inside_a_class_zeroes_what_the_caller_wrote_past_its_size() {
    let slab = Slab::new(16, 4);
    let small = layout(3, 1);
    let block = slab.allocate(small).unwrap();
    assert_eq!(block.len(), 16, "the whole block is the caller's");
    // SAFETY: all 16 bytes of the block are writable.
    unsafe { block.cast::<u8>().write_bytes(0xAB, 16) };
    let grown_layout = layout(12, 1);
    // SAFETY: `block` is live with layout `small`; `grown_layout` is larger.
    let grown = unsafe { slab.grow_zeroed(block.cast(), small, grown_layout) }.unwrap();
    assert_eq!(grown.cast::<u8>(), block.cast::<u8>());
    // SAFETY: the block holds 16 initialised bytes; 3..16 must now be zero.
    unsafe {
        assert_eq!(grown.cast::<u8>().read(), 0xAB);
        check_zeroed(grown.cast::<u8>().add(3), 13);
        slab.deallocate(grown.cast(), grown_layout);
    }
}

#[test]
fn the_block_freed_last_is_handed_out_first() {
    let slab = Slab::new(32, 10);
    let l = layout(32, 8);
    let a = slab.allocate(l).unwrap().cast::<u8>();
    let b = slab.allocate(l).unwrap().cast::<u8>();
    let c = slab.allocate(l).unwrap().cast::<u8>();
    // SAFETY: live blocks of `slab`, each freed once.
    unsafe {
        slab.deallocate(a, l);
        slab.deallocate(c, l);
    }
    assert_eq!(slab.allocate(l).unwrap().cast::<u8>(), c);
    assert_eq!(slab.allocate(l).unwrap().cast::<u8>(), a);
    // Then fresh blocks again, after `c`'s.
    let d = slab.allocate(l).unwrap().cast::<u8>();
    assert!(d != a && d != b && d != c);
    assert_eq!(slab.stats().classes()[0].live, 4);
}

#[test]
fn a_non_growable_slab_refuses_when_full_and_serves_again_after_a_free() {
    let upstream = Trace::new(Platform); // counts what the slab takes and gives back
    let slab = SlabBuilder::new()
        .classes(&[16, 64])
        .initial_blocks(10)
        .growable(false)
        .build_in(&upstream);
    let reserved = upstream.stats().allocations;
    assert_eq!(reserved, 2, "one chunk per class");
    let l = layout(16, 8);
    let blocks: std::vec::Vec<_> = (0..10).map(|_| slab.allocate(l).unwrap()).collect();
    assert_eq!(slab.allocate(l), Err(AllocError));
    assert_eq!(slab.allocate_zeroed(l), Err(AllocError));
    // The other class and the upstream are not affected.
    let other = slab.allocate(layout(64, 8)).unwrap();
    let big = slab.allocate(layout(1000, 8)).unwrap();
    // A shrink into the full class fails too, and leaves the block where it was.
    // SAFETY: `other` is live with layout (64, 8); `l` is smaller and maps to the full class.
    let moved = unsafe { slab.shrink(other.cast(), layout(64, 8), l) };
    assert_eq!(moved, Err(AllocError));
    // SAFETY: live blocks of `slab`, each freed once with its layout.
    unsafe {
        slab.deallocate(other.cast(), layout(64, 8));
        slab.deallocate(big.cast(), layout(1000, 8));
        slab.deallocate(blocks[3].cast(), l);
    }
    let again = slab.allocate(l).unwrap();
    assert_eq!(again.cast::<u8>(), blocks[3].cast::<u8>());
    assert_eq!(slab.allocate(l), Err(AllocError));
    // Preheating is how a non-growable slab gets room.
    slab.preheat(5).unwrap();
    for _ in 0..5 {
        slab.allocate(l).unwrap();
    }
    assert_eq!(slab.allocate(l), Err(AllocError));
    // Upstream requests since the build: the 1000-byte block, and one preheated chunk for the
    // 16-byte class (the 64-byte class still had 10 free blocks, so it needed none).
    assert_eq!(upstream.stats().allocations, reserved + 1 + 1);
}

#[test]
fn reset_frees_every_block_and_reuses_the_chunks() {
    let upstream = Trace::new(Platform); // counts what the slab takes and gives back
    let mut slab = SlabBuilder::new()
        .classes(&[16, 128])
        .max_chunk_blocks(64)
        .build_in(&upstream);
    let n = scaled(1_000, 100);
    for round in 0..3 {
        for i in 0..n {
            let key = strdup_in(&format!("{round}-{i}"), &slab);
            std::mem::forget(key); // a leak the reset takes back
            std::mem::forget(Box::new_in([0u8; 100], &slab));
        }
        let stats = slab.stats();
        assert_eq!(stats.live_blocks(), 2 * n);
        let chunks = upstream.stats().live_blocks;
        slab.reset();
        let stats = slab.stats();
        assert_eq!(stats.live_blocks(), 0, "{stats}");
        assert!(stats.classes().iter().all(|c| c.free >= n), "{stats}");
        // The chunks stay with the slab, and the next round needs no new one.
        assert_eq!(upstream.stats().live_blocks, chunks);
        if round > 0 {
            assert_eq!(upstream.stats().allocations, chunks);
        }
    }
    drop(slab);
    assert_eq!(
        upstream.stats().live_blocks,
        0,
        "dropping the slab returns every chunk"
    );
}

#[test]
fn many_chunks_keep_every_block_intact_and_all_go_back_on_drop() {
    let upstream = Trace::new(Platform); // counts what the slab takes and gives back
    let slab = SlabBuilder::new()
        .classes(&[24])
        .initial_blocks(1)
        .max_chunk_blocks(3)
        .build_in(&upstream);
    let n = scaled(3_000, 150);
    let l = layout(24, 8);
    let blocks: std::vec::Vec<NonNull<u8>> = (0..n)
        .map(|tag| {
            let ptr = slab.allocate(l).unwrap().cast::<u8>();
            // SAFETY: 24 writable bytes.
            unsafe { fill(ptr, 24, tag) };
            ptr
        })
        .collect();
    let chunks = slab.stats().classes()[0].chunks;
    assert!(chunks >= n / 3, "{chunks} chunks for {n} blocks");
    assert_eq!(upstream.stats().live_blocks, chunks);
    for (tag, &ptr) in blocks.iter().enumerate() {
        // SAFETY: each block was filled with its tag.
        unsafe { check(ptr, 24, tag) };
    }
    for &ptr in blocks.iter().step_by(2) {
        // SAFETY: live blocks, freed once.
        unsafe { slab.deallocate(ptr, l) };
    }
    for (tag, &ptr) in blocks.iter().enumerate().skip(1).step_by(2) {
        // SAFETY: the odd blocks are still live and untouched by the frees.
        unsafe { check(ptr, 24, tag) };
    }
    // Half the blocks are still live: dropping the slab returns their chunks anyway.
    drop(slab);
    assert_eq!(upstream.stats().live_blocks, 0);
}

#[test]
fn a_failing_upstream_gives_alloc_error_and_the_slab_stays_usable() {
    let arena = Arena::new();
    let slab = SlabBuilder::new()
        .classes(&[32])
        .initial_blocks(4)
        .build_in(&arena);
    let l = layout(32, 8);
    let blocks: std::vec::Vec<_> = (0..4).map(|_| slab.allocate(l).unwrap()).collect();
    arena.set_limit(Some(arena.stats().used));
    assert_eq!(
        slab.allocate(l),
        Err(AllocError),
        "the next chunk is refused"
    );
    assert_eq!(slab.allocate(layout(1000, 8)), Err(AllocError));
    // SAFETY: a live block, freed once.
    unsafe { slab.deallocate(blocks[0].cast(), l) };
    assert_eq!(
        slab.allocate(l).unwrap().cast::<u8>(),
        blocks[0].cast::<u8>()
    );
    arena.set_limit(None);
    assert!(slab.allocate(l).is_ok());
}

#[test]
fn keys_of_varied_lengths_fill_the_class_that_fits_them() {
    let slab = SlabBuilder::new().classes(&[16, 32, 64, 128, 256]).build();
    let mut map = HashMap::new_in(&slab);
    let lengths = [1, 16, 17, 32, 33, 64, 65, 128, 129, 256, 257, 1000];
    for (i, &len) in lengths.iter().enumerate() {
        map.insert(strdup_in(&"k".repeat(len), &slab), i);
    }
    let stats = slab.stats();
    let live: std::vec::Vec<usize> = stats.classes().iter().map(|c| c.live).collect();
    assert_eq!(live, [2, 2, 2, 2, 2], "{stats}");
    // The two strings past 256 bytes and the map's table went upstream.
    assert_eq!(stats.upstream_live(), 3, "{stats}");
    assert_eq!(map["k".repeat(129).as_str()], 8);
    let shown = stats.to_string();
    assert!(shown.contains("upstream"), "{shown}");
    assert_eq!(shown.lines().count(), 1 + 5 + 1, "{shown}");
}

#[test]
fn a_slab_moves_to_another_thread_with_its_blocks() {
    let slab = Slab::new(16, 8);
    let boxed = Box::new_in(41u64, &slab);
    let value = *boxed;
    drop(boxed);
    let live = std::thread::spawn(move || {
        let b = Box::new_in(value + 1, &slab);
        assert_eq!(*b, 42);
        slab.stats().live_blocks()
    })
    .join()
    .unwrap();
    assert_eq!(live, 1);
}

#[test]
fn a_block_freed_or_grown_through_a_narrowed_pointer_is_handed_out_whole() {
    // allocator-api2's `Box<u8, A>` keeps a pointer with rights to its one byte only (Stacked
    // Borrows narrows it through a reference). Miri found that the slab wrote its free-list link,
    // and later handed the block out, through that pointer; both must use the chunk's rights.
    let slab = Slab::new(16, 4);
    // Narrowed below the link's 8 bytes: rebuilt when freed.
    drop(Box::new_in(1u8, &slab));
    let whole = Box::new_in([7u8; 16], &slab);
    assert_eq!(*whole, [7; 16]);
    drop(whole);
    // Narrowed to 8 of 16 bytes: the link fits, and the block is rebuilt when handed out again.
    drop(Box::new_in([1u8; 8], &slab));
    let whole = Box::new_in([8u8; 16], &slab);
    assert_eq!(*whole, [8; 16]);
    drop(whole);
    // Grown in place from one byte to the whole block.
    let (one, _) = Box::into_raw_with_allocator(Box::new_in(2u8, &slab));
    // SAFETY: `one` is live with layout (1, 1); (16, 1) is larger and stays in the class.
    let grown = unsafe { slab.grow(NonNull::new(one).unwrap(), layout(1, 1), layout(16, 1)) };
    let grown = grown.unwrap().cast::<u8>();
    // SAFETY: 16 writable bytes, of which the first was preserved; then freed once.
    unsafe {
        assert_eq!(grown.read(), 2);
        fill(grown, 16, 3);
        check(grown, 16, 3);
        slab.deallocate(grown, layout(16, 1));
    }
}

#[test]
fn blocks_freed_with_less_than_their_size_are_reused_first_and_counted() {
    // Strings freed with their own length (less than the 32-byte block) go on the class's
    // narrowed list: they come back before any fresh block, each exactly once, and the
    // statistics count them as free.
    let slab = Slab::new(32, 8);
    let short = layout(20, 1);
    let blocks: Vec<NonNull<u8>> = (0..4)
        .map(|_| slab.allocate(short).unwrap().cast())
        .collect();
    for &block in &blocks {
        // SAFETY: each block is live with layout `short`, freed once.
        unsafe { slab.deallocate(block, short) };
    }
    let stats = slab.stats().classes()[0];
    assert_eq!((stats.live, stats.free), (0, 8));
    // Whole-size frees and narrowed ones mix: the whole-size list is served first, then the
    // narrowed blocks (newest first), and only then the fresh ones.
    let whole = layout(32, 8);
    let first = slab.allocate(whole).unwrap().cast::<u8>();
    assert_eq!(first, blocks[3]);
    // SAFETY: live with layout `whole`, freed once.
    unsafe { slab.deallocate(first, whole) };
    let again: Vec<NonNull<u8>> = (0..5)
        .map(|_| slab.allocate(whole).unwrap().cast())
        .collect();
    assert_eq!(again[..4], [blocks[3], blocks[2], blocks[1], blocks[0]]);
    assert!(!blocks.contains(&again[4]), "a fresh block comes last");
    for (i, &block) in again.iter().enumerate() {
        // SAFETY: each block is live and holds 32 writable bytes.
        unsafe { fill(block, 32, i) };
    }
    for (i, &block) in again.iter().enumerate() {
        // SAFETY: as above; then freed once.
        unsafe {
            check(block, 32, i);
            slab.deallocate(block, whole);
        }
    }
    assert_eq!(slab.stats().live_blocks(), 0);
}

#[test]
fn an_exact_size_with_a_stricter_alignment_than_its_class_goes_upstream_and_back() {
    // 96-byte blocks are 32-aligned: a 96-byte layout aligned to 64 is the upstream's, though
    // its size is exactly the class's, and so is its free.
    let slab = SlabBuilder::new().classes(&[32, 96]).build();
    let over = layout(96, 64);
    assert_eq!(slab.class_for(over), None);
    let block = slab.allocate(over).unwrap().cast::<u8>();
    assert_eq!(block.as_ptr().addr() % 64, 0);
    assert_eq!(slab.stats().upstream_live(), 1);
    // SAFETY: live with layout `over`, freed once.
    unsafe { slab.deallocate(block, over) };
    assert_eq!(slab.stats().upstream_live(), 0);
    assert_eq!(slab.stats().live_blocks(), 0);
}

/// Runs `f`, which must panic, and returns its message.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the misuse should panic");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload.downcast::<&str>().unwrap().to_string(),
    }
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the misuse checks exist in debug builds only"
)]
fn debug_builds_catch_a_double_free_naming_the_address_and_layout() {
    let slab = Slab::new(32, 4);
    let l = layout(20, 4);
    let block = slab.allocate(l).unwrap().cast::<u8>();
    let other = slab.allocate(l).unwrap().cast::<u8>();
    // SAFETY: the first free is correct.
    unsafe { slab.deallocate(block, l) };
    let message = panic_message(|| {
        // SAFETY: not sound by the contract: the check must stop it before anything is written.
        unsafe { slab.deallocate(block, l) }
    });
    assert!(message.contains("double free"), "{message}");
    assert!(message.contains(&format!("{block:p}")), "{message}");
    assert!(message.contains(&format!("{l:?}")), "{message}");
    // Nothing changed: one live block, and the freed one comes back once.
    assert_eq!(slab.stats().classes()[0].live, 1);
    assert_eq!(slab.allocate(l).unwrap().cast::<u8>(), block);
    assert_ne!(slab.allocate(l).unwrap().cast::<u8>(), block);
    // SAFETY: a live block, freed once.
    unsafe { slab.deallocate(other, l) };
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the misuse checks exist in debug builds only"
)]
fn debug_builds_catch_foreign_and_interior_pointers() {
    let slab = Slab::new(32, 4);
    let l = layout(32, 8);
    let foreign = Platform.allocate(l).unwrap().cast::<u8>();
    let message = panic_message(|| {
        // SAFETY: not sound by the contract: the check must stop it before anything is written.
        unsafe { slab.deallocate(foreign, l) }
    });
    assert!(message.contains("in no chunk"), "{message}");
    assert!(message.contains(&format!("{foreign:p}")), "{message}");
    assert!(message.contains(&format!("{l:?}")), "{message}");
    // SAFETY: `foreign` is the platform's, freed once there.
    unsafe { Platform.deallocate(foreign, l) };

    let block = slab.allocate(l).unwrap().cast::<u8>();
    // SAFETY: 8 bytes into a 32-byte block.
    let inside = unsafe { block.add(8) };
    let message = panic_message(|| {
        // SAFETY: as above.
        unsafe { slab.deallocate(inside, l) }
    });
    assert!(message.contains("not at its start"), "{message}");
    assert_eq!(slab.stats().classes()[0].live, 1);
    // SAFETY: the real block, freed once.
    unsafe { slab.deallocate(block, l) };
    assert_eq!(slab.stats().classes()[0].live, 0);
}

#[test]
fn an_initial_reservation_too_large_to_compute_is_refused() {
    // The chunk's size overflows `usize` (or a `Layout`): the fallible builder answers
    // `AllocError`, never an arithmetic panic, whatever the class and the chunk cap.
    for classes in [&[8][..], &[64], &[16, 32, 64, 128], &[4096]] {
        // Each of these times 8 bytes is past `isize::MAX`: no upstream is ever asked.
        for blocks in [
            usize::MAX,
            usize::MAX / 2,
            usize::MAX / 8,
            isize::MAX as usize / 8 + 1,
        ] {
            for cap in [None, Some(1), Some(usize::MAX)] {
                let mut builder = SlabBuilder::new().classes(classes).initial_blocks(blocks);
                if let Some(cap) = cap {
                    builder = builder.max_chunk_blocks(cap);
                }
                let upstream = Trace::new(Platform);
                assert_eq!(builder.try_build_in(&upstream).err(), Some(AllocError));
                assert_eq!(
                    upstream.stats().live_blocks,
                    0,
                    "nothing kept after the refusal"
                );
            }
        }
    }
}
