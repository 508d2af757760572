//! Fuzzes every strategy with programs of allocator operations decoded from the fuzzer's bytes:
//! the first byte picks the strategy (and seeds random failure), the rest are operations for the
//! shared model (`tests/common/model.rs`), which checks alignment, overlap and every block's bytes
//! after every step, and ends with a leak check.
#![no_main]

#[path = "../../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use allockit::failing::Policy;
use allockit::{Allocator, Arena, Failing, Platform, SlabBuilder, Trace, subsystem};
use common::model::{Op, reset_slab, run};
use libfuzzer_sys::fuzz_target;

/// A tracking trace around `alloc`, run with `ops`, then checked for leaks.
fn traced<A: Allocator>(alloc: A, ops: &[Op], may_fail: bool) {
    let mut trace = &Trace::with_tracking(alloc);
    run(&mut trace, ops, None, may_fail);
    if let Err(report) = trace.check_leaks() {
        panic!("{report}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let mut ops = Vec::new();
    while let Some(op) = Op::decode(&mut rest) {
        ops.push(op);
    }
    let seed = u64::from(selector);
    match selector % 8 {
        0 => traced(Platform, &ops, false),
        1 => {
            let mut arena = Arena::with_capacity(1);
            run(&mut arena, &ops, Some(|arena, _| arena.reset()), false);
            assert_eq!(arena.stats().live(), 0);
        }
        2 => {
            let mut slab = SlabBuilder::new()
                .classes(&[8, 16, 32, 48, 64, 128, 256, 4096])
                .initial_blocks(2)
                .max_chunk_blocks(8)
                .build();
            run(&mut slab, &ops, Some(reset_slab), false);
            assert_eq!(slab.stats().live_blocks(), 0);
            assert_eq!(slab.stats().upstream_live(), 0);
        }
        3 => {
            let slab = SlabBuilder::new().classes(&[16, 24, 40]).build();
            traced(&slab, &ops, false);
        }
        4 => {
            let arena = Arena::new();
            traced(Failing::new(&arena, Policy::random(seed, 0.1)), &ops, true);
        }
        5 => traced(Failing::new(Platform, Policy::random(seed, 0.2)), &ops, true),
        6 => traced(subsystem::Vm, &ops, false),
        _ => {
            // Counters only: the lock-free path of the first thread.
            let mut trace = &Trace::new(Platform);
            run(&mut trace, &ops, None, false);
            assert_eq!(trace.stats().live_blocks, 0);
        }
    }
});
