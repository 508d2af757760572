//! The `Sync` strategies under four threads of mixed allocate, grow, shrink and free (programs
//! decoded from seeded random bytes by the shared model, which checks every block's bytes after
//! every step). Each strategy runs inside a tracking `Trace` that panics on a block freed twice
//! or unknown, and whose leak check shows that no block was lost; the strategies' own counters
//! must agree exactly with the trace's.

mod common;

use allockit::failing::Policy;
use allockit::{Allocator, Failing, Platform, Stats, Trace, subsystem};
use common::model::{Op, run};
use common::{Rng, scaled};

const THREADS: usize = 4;

/// Thread `t`'s program: `ops` operations decoded from bytes seeded by `t`.
fn program(t: usize, ops: usize) -> Vec<Op> {
    let mut rng = Rng::new(0xC0FFEE + t as u64);
    let bytes: Vec<u8> = (0..ops * 6).map(|_| rng.next_u64() as u8).collect();
    let mut rest = &bytes[..];
    let mut program = Vec::with_capacity(ops);
    while let Some(op) = Op::decode(&mut rest) {
        // A reset would free other threads' blocks: not a thing a shared allocator does.
        if !matches!(op, Op::Reset) {
            program.push(op);
        }
    }
    program
}

/// Runs the four programs at once on `alloc` inside a tracking trace; returns the trace's
/// counts after checking that nothing leaked.
fn stress<A: Allocator + Sync>(alloc: A, may_fail: bool) -> Stats {
    let ops = scaled(20_000, 25);
    let trace = Trace::with_tracking(alloc);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let trace = &trace;
            s.spawn(move || {
                let outcome = run(&mut &*trace, &program(t, ops), None, may_fail);
                assert!(outcome.operations > 0);
            });
        }
    });
    if let Err(report) = trace.check_leaks() {
        panic!("{report}");
    }
    let stats = trace.stats();
    assert_eq!(stats.allocations, stats.deallocations);
    assert_eq!(stats.bytes_allocated, stats.bytes_freed);
    assert!(stats.allocations > 0);
    stats
}

#[test]
fn platform() {
    stress(Platform, false);
}

#[test]
fn counters_trace_agrees_with_a_tracking_one() {
    let counters = Trace::new(Platform);
    let tracked = stress(&counters, false);
    let counted = counters.stats();
    assert_eq!(
        (
            counted.allocations,
            counted.deallocations,
            counted.grows,
            counted.shrinks
        ),
        (
            tracked.allocations,
            tracked.deallocations,
            tracked.grows,
            tracked.shrinks
        )
    );
    assert_eq!(
        (counted.bytes_allocated, counted.bytes_freed),
        (tracked.bytes_allocated, tracked.bytes_freed)
    );
    assert_eq!((counted.live_blocks, counted.live_bytes), (0, 0));
}

#[test]
fn failing_counts_every_refusal() {
    let failing = Failing::new(Platform, Policy::random(7, 0.1));
    let tracked = stress(&failing, true);
    let stats = failing.stats();
    assert!(stats.failures > 0);
    // Every refusal reached the tracking trace above as a failure; shrinks are never refused.
    assert_eq!(stats.failures, tracked.failures);
    assert_eq!(stats.live_bytes, 0);
}

#[test]
fn subsystem_handles() {
    let before = subsystem::COMPILER.stats();
    let tracked = stress(subsystem::Compiler, false);
    let region = subsystem::COMPILER.stats().since(&before);
    assert_eq!(
        (region.allocations, region.deallocations, region.grows),
        (tracked.allocations, tracked.deallocations, tracked.grows)
    );
    assert_eq!(region.bytes_allocated, tracked.bytes_allocated);
}
