//! Criterion benchmarks: the same workloads for every strategy, `Platform` always the baseline.
//!
//! Groups are named `workload/strategy/size`, so that criterion's reports sit side by side:
//!
//! - `seed_map`: create a map, put N copied keys `key-{i}`, look every key up, drop (N = 1 000 and
//!   100 000);
//! - `bump`: 1 000 000 allocations of 32 bytes, then give them all back;
//! - `churn`: keep 1 024 live blocks of 32 bytes; 1 000 000 times, free a pseudo-random one and
//!   allocate its replacement (the strategies that free block by block);
//! - `churn_boxed`: the same work with `Box<[u64; 4], A>` values and their drop glue (a second
//!   code layout);
//! - `threads`: T = 1, 2, 4, 8 threads, each churning its own 1 024 blocks 100 000 times through
//!   one shared allocator (the `Sync` strategies), started together behind a barrier;
//! - `scope`: one `with_arena` of 100 small allocations (and of 1, the scope's own cost), warm,
//!   against a fresh `Arena` each time;
//! - `compiler_pass`: issue 15's toy compiler pass over a generated 2 000-line source, 100 passes
//!   in one arena with a reset between them (`benches/workloads/compiler_pass.rs`), on allockit's
//!   arena, bumpalo, bump-scope and the platform.
//!
//! Beside allockit's strategies run their peers (`benches/workloads/peers.rs`): mimalloc beside
//! the platform (glibc), bumpalo and bump-scope beside the arena, a minimal free list beside the
//! slab. Criterion runs one strategy after another, so on a noisy machine the interleaved,
//! paired ratios of `examples/compare.rs` are the ones to quote; criterion's HTML reports (in
//! `target/criterion/report/index.html`) show each group's distributions side by side.
//!
//! Run with `cargo bench --bench strategies`; `cargo bench --bench strategies -- seed_map` runs one
//! group.

#[path = "workloads/mod.rs"]
mod workloads;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use workloads::compiler_pass::{self, PassArena};
use workloads::{
    ArenaBoxed, ArenaStr, BumpScopeBoxed, BumpScopeStr, FreshScope, MimallocBoxed, MiniList,
    MiniListStr, PlatformBoxed, PlatformRef, PooledScope, RawBump, Scope, SlabPooled, SlabStr,
    Strategy, SubsystemVm, TracedArena, TracedPlatform, TrackedPlatform,
};

fn seed_map(c: &mut Criterion) {
    let mut group = c.benchmark_group("seed_map");
    for n in [1_000, 100_000] {
        let keys = workloads::keys(n);
        if n >= 100_000 {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(4));
        }
        fn one<S: Strategy>(
            group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
            keys: &[String],
        ) {
            group.bench_with_input(BenchmarkId::new(S::NAME, keys.len()), keys, |b, keys| {
                b.iter(|| workloads::seed_map::<S>(black_box(keys)))
            });
        }
        one::<PlatformBoxed>(&mut group, &keys);
        one::<MimallocBoxed>(&mut group, &keys);
        one::<PlatformRef>(&mut group, &keys);
        one::<ArenaBoxed>(&mut group, &keys);
        one::<RawBump>(&mut group, &keys);
        one::<BumpScopeBoxed>(&mut group, &keys);
        one::<ArenaStr>(&mut group, &keys);
        one::<BumpScopeStr>(&mut group, &keys);
        one::<SlabPooled>(&mut group, &keys);
        one::<MiniList>(&mut group, &keys);
        one::<SlabStr>(&mut group, &keys);
        one::<MiniListStr>(&mut group, &keys);
        one::<TracedPlatform>(&mut group, &keys);
        one::<TracedArena>(&mut group, &keys);
        one::<TrackedPlatform>(&mut group, &keys);
        one::<SubsystemVm>(&mut group, &keys);
    }
    group.finish();
}

fn bump(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let mut group = c.benchmark_group("bump");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    let mut ptrs = Vec::with_capacity(N);
    fn one<S: Strategy>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        ptrs: &mut Vec<std::ptr::NonNull<u8>>,
    ) {
        group.bench_function(BenchmarkId::new(S::NAME, N), |b| {
            b.iter(|| workloads::bump::<S>(N, ptrs))
        });
    }
    one::<PlatformBoxed>(&mut group, &mut ptrs);
    one::<MimallocBoxed>(&mut group, &mut ptrs);
    one::<ArenaBoxed>(&mut group, &mut ptrs);
    one::<RawBump>(&mut group, &mut ptrs);
    one::<BumpScopeBoxed>(&mut group, &mut ptrs);
    one::<SlabPooled>(&mut group, &mut ptrs);
    one::<MiniList>(&mut group, &mut ptrs);
    group.finish();
}

fn churn(c: &mut Criterion) {
    const LIVE: usize = 1024;
    const STEPS: usize = 1_000_000;
    for (name, boxed) in [("churn", false), ("churn_boxed", true)] {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(4));
        fn one<S: Strategy>(
            group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
            boxed: bool,
        ) {
            group.bench_function(BenchmarkId::new(S::NAME, STEPS), |b| {
                if boxed {
                    b.iter(|| workloads::churn_boxed::<S>(LIVE, STEPS))
                } else {
                    b.iter(|| workloads::churn::<S>(LIVE, STEPS) as u64)
                }
            });
        }
        one::<PlatformBoxed>(&mut group, boxed);
        one::<MimallocBoxed>(&mut group, boxed);
        one::<SlabPooled>(&mut group, boxed);
        one::<MiniList>(&mut group, boxed);
        one::<TracedPlatform>(&mut group, boxed);
        one::<TrackedPlatform>(&mut group, boxed);
        one::<SubsystemVm>(&mut group, boxed);
        group.finish();
    }
}

fn threads(c: &mut Criterion) {
    const LIVE: usize = 1024;
    const STEPS: usize = 100_000;
    let mut group = c.benchmark_group("threads");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    fn one<S: Strategy>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        t: usize,
    ) where
        for<'a> S::Alloc<'a>: Send,
    {
        // The time of a round is its wall time from the first thread's start to the last one's
        // end, as `workloads::threads` measures it.
        group.bench_function(BenchmarkId::new(S::NAME, t), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| workloads::threads::<S>(t, LIVE, STEPS))
                    .sum()
            })
        });
    }
    for t in [1, 2, 4, 8] {
        one::<PlatformBoxed>(&mut group, t);
        one::<MimallocBoxed>(&mut group, t);
        one::<TracedPlatform>(&mut group, t);
        one::<SubsystemVm>(&mut group, t);
        one::<TrackedPlatform>(&mut group, t);
    }
    group.finish();
}

fn scope(c: &mut Criterion) {
    let mut group = c.benchmark_group("scope");
    fn one<S: Scope>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        allocations: u64,
    ) {
        group.bench_with_input(
            BenchmarkId::new(S::NAME, allocations),
            &allocations,
            |b, &n| b.iter(|| workloads::scope::<S>(black_box(n))),
        );
    }
    for allocations in [100, 1] {
        one::<PooledScope>(&mut group, allocations);
        one::<FreshScope>(&mut group, allocations);
    }
    group.finish();
}

fn compiler_pass(c: &mut Criterion) {
    const PASSES: usize = 100;
    let source = compiler_pass::source(2_000);
    // Every arena must compute the same pass (this panics if one does not).
    compiler_pass::run_all(&source, 2);
    let mut group = c.benchmark_group("compiler_pass");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    fn one<P: PassArena>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        source: &str,
    ) {
        group.bench_with_input(BenchmarkId::new(P::NAME, PASSES), source, |b, source| {
            b.iter(|| compiler_pass::run::<P>(black_box(source), PASSES))
        });
    }
    one::<compiler_pass::PlatformPass>(&mut group, &source);
    one::<compiler_pass::AllockitArena>(&mut group, &source);
    one::<compiler_pass::Bumpalo>(&mut group, &source);
    one::<compiler_pass::BumpScope>(&mut group, &source);
    group.finish();
}

criterion_group!(
    benches,
    seed_map,
    bump,
    churn,
    threads,
    scope,
    compiler_pass
);
criterion_main!(benches);
