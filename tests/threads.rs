//! The `Sync` strategies under 2, 4 and 8 threads (8 is more than this machine's cores) of mixed
//! allocate, grow, shrink and free (programs decoded from seeded random bytes by the shared
//! model, which checks every block's bytes after every step). Each strategy runs inside a
//! tracking `Trace` that panics on a block freed twice or unknown, and whose leak check shows
//! that no block was lost; the strategies' own counters must agree exactly with the trace's.
//!
//! Then `Trace` itself under threads: counts exact after the join, every snapshot taken meanwhile
//! consistent and its peaks never below a live figure seen before, a limit never exceeded (by
//! what an inner allocator actually holds), and accounts used from a pool of threads that come
//! and go, more of them over time than a trace has shards.

mod common;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use allockit::failing::Policy;
use allockit::subsystem::Account;
use allockit::trace::Level;
use allockit::{Allocator, Failing, Layout, Platform, Stats, Trace, subsystem};
use common::inner::Summing;
use common::model::{Op, run};
use common::{Rng, scaled};

/// The thread counts every test here runs at.
const THREADS: [usize; 3] = [2, 4, 8];

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

/// Runs `threads` programs at once on `alloc` inside a tracking trace; returns the trace's
/// counts after checking that nothing leaked.
fn stress<A: Allocator + Sync>(alloc: A, threads: usize, may_fail: bool) -> Stats {
    let ops = scaled(20_000, 25);
    let trace = Trace::with_tracking(alloc);
    std::thread::scope(|s| {
        for t in 0..threads {
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
    for threads in THREADS {
        stress(Platform, threads, false);
    }
}

#[test]
fn counters_trace_agrees_with_a_tracking_one() {
    for threads in THREADS {
        counters_trace_agrees(threads);
    }
}

fn counters_trace_agrees(threads: usize) {
    let counters = Trace::new(Platform);
    let tracked = stress(&counters, threads, false);
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
    for threads in THREADS {
        failing_counts(threads);
    }
}

fn failing_counts(threads: usize) {
    let failing = Failing::new(Platform, Policy::random(7, 0.1));
    let tracked = stress(&failing, threads, true);
    let stats = failing.stats();
    assert!(stats.failures > 0);
    // Every refusal reached the tracking trace above as a failure; shrinks are never refused.
    assert_eq!(stats.failures, tracked.failures);
    assert_eq!(stats.live_bytes, 0);
}

#[test]
fn subsystem_handles() {
    for threads in THREADS {
        subsystem_handle(threads);
    }
}

fn subsystem_handle(threads: usize) {
    let before = subsystem::COMPILER.stats();
    let tracked = stress(subsystem::Compiler, threads, false);
    let region = subsystem::COMPILER.stats().since(&before);
    assert_eq!(
        (region.allocations, region.deallocations, region.grows),
        (tracked.allocations, tracked.deallocations, tracked.grows)
    );
    assert_eq!(region.bytes_allocated, tracked.bytes_allocated);
}

/// One thread's share of a workload through `alloc`: seeded allocations (up to `max` bytes),
/// grows, shrinks and frees, keeping up to `keep` blocks live; refusals are allowed. Frees what
/// it kept at the end.
fn churn_on<A: Allocator>(alloc: &A, seed: u64, ops: usize, max: usize, keep: usize) {
    let mut rng = Rng::new(seed);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    for _ in 0..ops {
        match rng.below(8) {
            0..=3 if live.len() < keep => {
                let l = Layout::from_size_align(1 + rng.below(max), 8).unwrap();
                if let Ok(block) = alloc.allocate(l) {
                    live.push((block.cast(), l));
                }
            }
            4 if !live.is_empty() => {
                let i = rng.below(live.len());
                let (p, l) = live[i];
                let new = Layout::from_size_align(l.size() + 1 + rng.below(max), 8).unwrap();
                // SAFETY: `p` is live with `l`; `new` is larger.
                if let Ok(block) = unsafe { alloc.grow(p, l, new) } {
                    live[i] = (block.cast(), new);
                }
            }
            5 if !live.is_empty() => {
                let i = rng.below(live.len());
                let (p, l) = live[i];
                let new = Layout::from_size_align(1 + rng.below(l.size()), 8).unwrap();
                // SAFETY: `p` is live with `l`; `new` is not larger.
                if let Ok(block) = unsafe { alloc.shrink(p, l, new) } {
                    live[i] = (block.cast(), new);
                }
            }
            _ if !live.is_empty() => {
                let (p, l) = live.swap_remove(rng.below(live.len()));
                // SAFETY: live with `l`, freed once.
                unsafe { alloc.deallocate(p, l) };
            }
            _ => {}
        }
    }
    for (p, l) in live {
        // SAFETY: live with `l`, freed once.
        unsafe { alloc.deallocate(p, l) };
    }
}

/// Checks one snapshot on its own, and against the highest live figures seen before it.
fn check_snapshot(s: &Stats, seen: &mut (usize, usize)) {
    assert_eq!(s.live_blocks, s.allocations - s.deallocations, "{s:?}");
    assert_eq!(s.live_bytes, s.bytes_allocated - s.bytes_freed, "{s:?}");
    assert!(
        s.peak_blocks >= s.live_blocks && s.peak_bytes >= s.live_bytes,
        "{s:?}"
    );
    assert!(
        s.peak_blocks >= seen.0 && s.peak_bytes >= seen.1,
        "{s:?} after {seen:?}"
    );
    seen.0 = seen.0.max(s.live_blocks);
    seen.1 = seen.1.max(s.live_bytes);
}

#[test]
fn counts_are_exact_and_every_snapshot_consistent_at_2_4_and_8_threads() {
    let ops = scaled(30_000, 24);
    for level in [Level::Counters, Level::Tracking] {
        for threads in THREADS {
            let trace = Trace::with_level(Platform, level);
            let done = AtomicBool::new(false);
            let snapshots = std::thread::scope(|s| {
                let observer = s.spawn(|| {
                    let mut seen = (0, 0);
                    let mut taken = 0;
                    while !done.load(Ordering::SeqCst) || taken == 0 {
                        check_snapshot(&trace.stats(), &mut seen);
                        taken += 1;
                    }
                    taken
                });
                let workers: Vec<_> = (0..threads)
                    .map(|t| {
                        let trace = &trace;
                        s.spawn(move || churn_on(trace, t as u64, ops, 200, 64))
                    })
                    .collect();
                for worker in workers {
                    worker.join().unwrap();
                }
                done.store(true, Ordering::SeqCst);
                observer.join().unwrap()
            });
            assert!(snapshots > 0);
            // Every thread's work, replayed alone on a tracking trace of its own: the exact sums.
            let mut expected = Stats::default();
            for t in 0..threads {
                let alone = Trace::with_tracking(Platform);
                churn_on(&alone, t as u64, ops, 200, 64);
                let a = alone.stats();
                expected.allocations += a.allocations;
                expected.deallocations += a.deallocations;
                expected.grows += a.grows;
                expected.shrinks += a.shrinks;
                expected.bytes_allocated += a.bytes_allocated;
                expected.bytes_freed += a.bytes_freed;
            }
            let s = trace.stats();
            let mut seen = (0, 0);
            check_snapshot(&s, &mut seen);
            assert_eq!(
                (s.allocations, s.deallocations, s.grows, s.shrinks),
                (
                    expected.allocations,
                    expected.deallocations,
                    expected.grows,
                    expected.shrinks
                ),
                "{level:?}, {threads} threads"
            );
            assert_eq!(
                (
                    s.bytes_allocated,
                    s.bytes_freed,
                    s.live_blocks,
                    s.live_bytes
                ),
                (expected.bytes_allocated, expected.bytes_freed, 0, 0),
                "{level:?}, {threads} threads"
            );
            assert_eq!(s.failures, 0);
            assert!(trace.check_leaks().is_ok());
        }
    }
}

#[test]
fn a_limit_is_never_exceeded_at_2_4_and_8_threads() {
    let ops = scaled(20_000, 30);
    let limit = scaled(64 * 1024, 8 * 1024);
    for level in [Level::Counters, Level::Tracking] {
        for threads in THREADS {
            let inner = Summing::default();
            let trace = Trace::with_level(&inner, level);
            trace.set_limit(Some(limit));
            std::thread::scope(|s| {
                for t in 0..threads {
                    let trace = &trace;
                    // Up to 64 blocks of up to 2 KiB each per thread: far more than the limit.
                    s.spawn(move || churn_on(trace, 100 + t as u64, ops, 2048, 64));
                }
            });
            let most = inner.most.load(Ordering::SeqCst);
            assert!(
                most <= limit,
                "{level:?}, {threads} threads: held {most} > {limit}"
            );
            let s = trace.stats();
            assert!(s.failures > 0, "the limit refused some: {s:?}");
            // The peak is an estimate under threads, within 2 KiB per thread either way.
            assert!(s.peak_bytes <= limit + threads * 2048, "{s:?}");
            assert_eq!((s.live_blocks, s.live_bytes), (0, 0));
            assert_eq!(inner.held.load(Ordering::SeqCst), 0);
            // Under threads a request may be refused early by the credit other threads hold, never
            // more than twice a 256th of the limit each: with them all idle, one thread gets near
            // all of it.
            let big = Layout::from_size_align(limit - threads * limit / 128, 8).unwrap();
            let block = trace.allocate(big).expect("the limit is free again");
            // SAFETY: live with `big`, freed once.
            unsafe { trace.deallocate(block.cast(), big) };
        }
    }
}

static POOL_ACCOUNT: Account = Account::new("thread-pool");

#[test]
fn an_account_used_from_a_pool_of_threads_that_come_and_go() {
    // More threads over time than a trace has shards: every exiting thread gives its shard back,
    // and blocks cross from one generation of threads to the next.
    let generations = scaled(40, 3);
    let per_thread = scaled(300, 10);
    let before = POOL_ACCOUNT.stats();
    let mut handed_on: Vec<Sent> = Vec::new();
    let mut expected = (0usize, 0usize);
    for generation in 0..generations {
        let threads = THREADS[generation % THREADS.len()];
        let received = std::mem::take(&mut handed_on);
        let chunks: Vec<Vec<Sent>> = {
            let mut chunks: Vec<Vec<Sent>> = (0..threads).map(|_| Vec::new()).collect();
            for (i, block) in received.into_iter().enumerate() {
                chunks[i % threads].push(block);
            }
            chunks
        };
        handed_on = std::thread::scope(|s| {
            let workers: Vec<_> = chunks
                .into_iter()
                .enumerate()
                .map(|(t, inherited)| {
                    s.spawn(move || {
                        // Free what the last generation left, then work, and leave a few.
                        for block in inherited {
                            // SAFETY: live with `BLOCK`, handed over once, freed once.
                            unsafe { POOL_ACCOUNT.deallocate(block.0, BLOCK) };
                        }
                        let mut mine: Vec<Sent> = Vec::new();
                        for i in 0..per_thread {
                            let block = POOL_ACCOUNT.allocate(BLOCK).unwrap();
                            mine.push(Sent(block.cast()));
                            if i % 2 == 1 {
                                let Sent(p) = mine.swap_remove((i + t) % mine.len());
                                // SAFETY: live with `BLOCK`, freed once.
                                unsafe { POOL_ACCOUNT.deallocate(p, BLOCK) };
                            }
                        }
                        for Sent(p) in mine.drain(3..) {
                            // SAFETY: live with `BLOCK`, freed once.
                            unsafe { POOL_ACCOUNT.deallocate(p, BLOCK) };
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        expected.0 += threads * per_thread;
        expected.1 = handed_on.len();
    }
    for Sent(p) in handed_on {
        // SAFETY: live with `BLOCK`, freed once.
        unsafe { POOL_ACCOUNT.deallocate(p, BLOCK) };
    }
    let s = POOL_ACCOUNT.stats().since(&before);
    assert_eq!(s.allocations, expected.0);
    assert_eq!(s.deallocations, expected.0);
    assert_eq!((s.live_blocks, s.live_bytes), (0, 0));
    assert!(expected.1 > 0);
}

/// The blocks an account hands to the next generation of threads.
const BLOCK: Layout = Layout::new::<[u64; 4]>();

/// A block pointer handed to another thread.
struct Sent(NonNull<u8>);
// SAFETY: a handle to a block of a `Sync` allocator; one thread at a time uses it.
unsafe impl Send for Sent {}

/// A snapshot used to read all the frees, then all the allocations: a thread preempted between
/// the two passes counted every allocation made meanwhile and none of its frees, and raised the
/// peak to hundreds of MB for a workload that never held more than one block. What a snapshot
/// shows live was live at some moment, however long it is preempted.
#[test]
fn a_snapshot_never_shows_more_live_than_ever_was() {
    let rounds = scaled(200_000, 300);
    let one = Layout::from_size_align(1000, 8).unwrap();
    for level in [Level::Counters, Level::Tracking] {
        let trace = Trace::with_level(Platform, level);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut seen = (0, 0);
                while !done.load(Ordering::SeqCst) {
                    let stats = trace.stats();
                    check_snapshot(&stats, &mut seen);
                    assert!(
                        stats.live_bytes <= 1000 && stats.peak_bytes <= 1000,
                        "{stats:?}"
                    );
                    // Preempted between its passes now and then, as the scheduler pleases.
                    std::thread::yield_now();
                }
            });
            for _ in 0..rounds {
                let block = trace.allocate(one).unwrap();
                // SAFETY: live with `one`, freed once.
                unsafe { trace.deallocate(block.cast(), one) };
            }
            done.store(true, Ordering::SeqCst);
        });
        let s = trace.stats();
        assert_eq!((s.peak_blocks, s.peak_bytes), (1, 1000), "{level:?}: {s:?}");
    }
}

/// Threads that took credit from the limit and exited left it with their shards, where no thread
/// gave it back: half a 64 KiB limit after 63 of them. Their credit comes back before a request
/// is refused, also when other threads, busy with other traces, have taken their indices over
/// (`squat`), so that the one thread left gets all of the limit.
#[test]
fn credit_left_by_threads_that_exited_comes_back() {
    let cases: &[(usize, usize)] = if cfg!(miri) {
        &[(64 * 1024, 3)]
    } else {
        &[(1 << 20, 8), (64 * 1024, 63)]
    };
    for &(limit, threads) in cases {
        for level in [Level::Counters, Level::Tracking] {
            for squat in [false, true] {
                let trace = Trace::with_level(Platform, level);
                trace.set_limit(Some(limit));
                let barrier = std::sync::Barrier::new(threads);
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..threads)
                        .map(|_| {
                            s.spawn(|| {
                                let l = Layout::from_size_align(limit / 256, 1).unwrap();
                                let block = trace.allocate(l).unwrap();
                                // SAFETY: live with `l`, freed once.
                                unsafe { trace.deallocate(block.cast(), l) };
                                barrier.wait(); // each holds its index until all took one
                            })
                        })
                        .collect();
                    // Joined one by one: the end of a scope does not wait for the threads'
                    // thread-local destructors (which give their indices back); a join does.
                    for handle in handles {
                        handle.join().unwrap();
                    }
                });
                let other = Trace::new(Platform);
                let squatters = if squat { threads } else { 0 };
                let (held, done) = (
                    std::sync::Barrier::new(squatters + 1),
                    std::sync::Barrier::new(squatters + 1),
                );
                std::thread::scope(|s| {
                    for _ in 0..squatters {
                        s.spawn(|| {
                            // Takes an index (most likely one the threads above left).
                            let l = Layout::new::<u64>();
                            let block = other.allocate(l).unwrap();
                            held.wait();
                            done.wait();
                            // SAFETY: live with `l`, freed once.
                            unsafe { other.deallocate(block.cast(), l) };
                        });
                    }
                    held.wait();
                    let all = Layout::from_size_align(limit, 8).unwrap();
                    let block = trace.allocate(all);
                    done.wait();
                    let block = block.unwrap_or_else(|_| {
                        panic!(
                            "{level:?}, squat {squat}: all of the limit, for the one thread left"
                        )
                    });
                    // SAFETY: live with `all`, freed once.
                    unsafe { trace.deallocate(block.cast(), all) };
                });
            }
        }
    }
}

/// A request the limit admitted is in the inner allocator when the limit is set again (to the
/// same value): it used to be forgotten by the new limit, which then let another request in past
/// it, and for good if the thread exited first.
#[test]
fn a_request_in_flight_when_the_limit_is_set_again_stays_counted() {
    let limit = 1 << 20;
    let big = 512 * 1024;
    for level in [Level::Counters, Level::Tracking] {
        for exit_first in [false, true] {
            let (inner, entered, go) = common::inner::Gate::new(big);
            let trace = Trace::with_level(&inner, level);
            trace.set_limit(Some(limit));
            let rest = Layout::from_size_align(limit - big / 2, 8).unwrap();
            let (theirs, mine) = std::thread::scope(|s| {
                let other = s.spawn(|| {
                    let l = Layout::from_size_align(big, 8).unwrap();
                    Sent(trace.allocate(l).expect("half the limit").cast())
                });
                entered.recv().unwrap(); // admitted, and inside the inner allocator
                trace.set_limit(Some(limit));
                if exit_first {
                    go.send(()).unwrap();
                    let theirs = other.join().unwrap();
                    (theirs, trace.allocate(rest))
                } else {
                    let mine = trace.allocate(rest);
                    go.send(()).unwrap();
                    (other.join().unwrap(), mine)
                }
            });
            assert!(mine.is_err(), "{level:?}: admitted past the limit");
            assert!(inner.sum.most.load(Ordering::SeqCst) <= limit);
            // SAFETY: live with (big, 8), freed once.
            unsafe { trace.deallocate(theirs.0, Layout::from_size_align(big, 8).unwrap()) };
        }
    }
}

/// A call on the fast path when a first limit is set is admitted without it (the documented
/// exception); its bytes used to stay uncounted for good once its thread exited. They count by
/// the next request that takes credit.
#[test]
fn a_call_that_raced_the_first_limit_counts_by_the_next_request() {
    let limit = 1 << 20;
    let big = 512 * 1024;
    let (inner, entered, go) = common::inner::Gate::new(big);
    let trace = Trace::new(&inner);
    let small = Layout::from_size_align(8, 8).unwrap();
    let theirs = std::thread::scope(|s| {
        let other = s.spawn(|| {
            let b = trace.allocate(small).unwrap(); // a shard first: the next call is fast
            // SAFETY: live with `small`, freed once.
            unsafe { trace.deallocate(b.cast(), small) };
            let l = Layout::from_size_align(big, 8).unwrap();
            Sent(trace.allocate(l).unwrap().cast())
        });
        entered.recv().unwrap();
        trace.set_limit(Some(limit));
        go.send(()).unwrap();
        other.join().unwrap()
    });
    let all = Layout::from_size_align(limit, 8).unwrap();
    assert!(trace.allocate(all).is_err(), "half the limit is live");
    // (Not quite half: a request of `big` bytes would wait at the gate.)
    let half = Layout::from_size_align(limit - big - 8, 8).unwrap();
    let block = trace.allocate(half).expect("the other half");
    // SAFETY: both live with these layouts, freed once.
    unsafe {
        trace.deallocate(block.cast(), half);
        trace.deallocate(theirs.0, Layout::from_size_align(big, 8).unwrap());
    }
}
