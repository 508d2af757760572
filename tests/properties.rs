//! Model-based property tests: random programs of allocate, grow, grow_zeroed, shrink, free and
//! reset run against a model of the live blocks (`common/model.rs`). After every step every block
//! is aligned, no two overlap, and every block holds its bytes. Every strategy runs bare and
//! nested (inside `Trace`, `Failing`, or both), and each run ends with a leak check: a tracking
//! trace's, or the strategy's own counts.
//!
//! `CASES` programs of up to `MAX_OPS` operations per strategy; fewer under Miri.

mod common;

use allockit::failing::Policy;
use allockit::{Allocator, Arena, Failing, Platform, Slab, SlabBuilder, Trace, subsystem};
use common::model::{MAX_ALIGN_SHIFT, MAX_SIZE, Op, reset_slab, run};
use common::scaled;
use proptest::prelude::*;

/// Programs per strategy (the one knob Miri turns down).
const CASES: u32 = scaled(256, 2) as u32;
/// The longest program.
const MAX_OPS: usize = scaled(200, 12);

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..=MAX_SIZE, 0..=MAX_ALIGN_SHIFT, any::<bool>())
            .prop_map(|(size, align_shift, zeroed)| Op::Alloc { size, align_shift, zeroed }),
        // Mostly small blocks, which is where the slab's classes are.
        3 => (0..=300usize, 0..=4u8, any::<bool>())
            .prop_map(|(size, align_shift, zeroed)| Op::Alloc { size, align_shift, zeroed }),
        2 => (any::<usize>(), 0..=MAX_SIZE, any::<bool>())
            .prop_map(|(index, extra, zeroed)| Op::Grow { index, extra, zeroed }),
        1 => (any::<usize>(), 0..=1000u16, 0..=MAX_ALIGN_SHIFT)
            .prop_map(|(index, per_mille, align_shift)| Op::Shrink { index, per_mille, align_shift }),
        3 => any::<usize>().prop_map(|index| Op::Free { index }),
        1 => Just(Op::Reset),
    ]
}

fn program() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..=MAX_OPS)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Under Miri, no persistence files (no file system) and no forking.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn slab() -> Slab {
    SlabBuilder::new()
        .classes(&[8, 16, 32, 48, 64, 128, 256])
        .initial_blocks(4)
        .max_chunk_blocks(16)
        .build()
}

/// A tracking trace around `alloc`, run with `ops`, then checked for leaks.
fn traced<A: Allocator>(alloc: A, ops: &[Op], may_fail: bool) {
    let mut trace = &Trace::with_tracking(alloc);
    run(&mut trace, ops, None, may_fail);
    if let Err(report) = trace.check_leaks() {
        panic!("{report}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn platform(ops in program()) {
        run(&mut Platform, &ops, None, false);
        traced(Platform, &ops, false);
    }

    #[test]
    fn arena(ops in program()) {
        let arena = Arena::new();
        traced(&arena, &ops, false);
        assert_eq!(arena.stats().live(), 0);
    }

    #[test]
    fn arena_with_reset(ops in program()) {
        let mut arena = Arena::with_capacity(1);
        run(&mut arena, &ops, Some(|arena, _| arena.reset()), false);
        assert_eq!(arena.stats().live(), 0, "{}", arena.stats());
    }

    #[test]
    fn slab_with_reset(ops in program()) {
        let mut slab = slab();
        run(&mut slab, &ops, Some(reset_slab), false);
        let stats = slab.stats();
        assert_eq!((stats.live_blocks(), stats.upstream_live()), (0, 0), "{stats}");
    }

    #[test]
    fn trace_of_slab(ops in program()) {
        let slab = slab();
        traced(&slab, &ops, false);
        assert_eq!(slab.stats().live_blocks(), 0);
    }

    #[test]
    fn failing_arena(ops in program(), seed in any::<u64>()) {
        let arena = Arena::new();
        let mut bare = Failing::new(&arena, Policy::random(seed, 0.1));
        run(&mut bare, &ops, None, true);
        prop_assert_eq!(bare.stats().live_bytes, 0);
        traced(Failing::new(&arena, Policy::random(seed, 0.1)), &ops, true);
    }

    #[test]
    fn trace_of_failing_platform(ops in program(), seed in any::<u64>()) {
        let failing = Failing::new(Platform, Policy::random(seed, 0.1));
        traced(&failing, &ops, true);
        assert_eq!(failing.stats().live_bytes, 0);
    }

    #[test]
    fn counters_trace_and_subsystem(ops in program()) {
        let mut trace = &Trace::new(Platform);
        run(&mut trace, &ops, None, false);
        let stats = trace.stats();
        prop_assert_eq!((stats.live_blocks, stats.live_bytes), (0, 0));
        prop_assert_eq!(stats.bytes_allocated, stats.bytes_freed);
        run(&mut subsystem::Modules::new(), &ops, None, false);
        traced(subsystem::Modules, &ops, false);
    }

    #[test]
    fn slab_by_value_in_a_failing_trace(ops in program(), seed in any::<u64>()) {
        // Trace<Failing<Slab>>: three layers, the slab owned at the bottom.
        traced(Failing::new(slab(), Policy::random(seed, 0.05)), &ops, true);
    }
}
