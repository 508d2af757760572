//! Criterion benchmarks: the same workloads for every strategy, `Platform` always the baseline.
//!
//! Groups are named `workload/strategy/size`, so that criterion's reports sit side by side:
//!
//! - `seed_map`: create a map, put N copied keys `key-{i}`, look every key up, drop (N = 1 000 and
//!   100 000);
//! - `bump`: 1 000 000 allocations of 32 bytes, then give them all back;
//! - `churn`: keep 1 024 live blocks of 32 bytes; 1 000 000 times, free a pseudo-random one and
//!   allocate its replacement (the strategies that free block by block);
//! - `scope`: one `with_arena` of 100 small allocations (and of 1, the scope's own cost), warm,
//!   against a fresh `Arena` each time.
//!
//! Run with `cargo bench --bench strategies`; `cargo bench --bench strategies -- seed_map` runs one
//! group.

#[path = "workloads/mod.rs"]
mod workloads;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use workloads::{
    ArenaBoxed, ArenaStr, FreshScope, PlatformBoxed, PlatformRef, PooledScope, RawBump, Scope,
    SlabPooled, SlabStr, Strategy, SubsystemVm, TracedArena, TracedPlatform, TrackedPlatform,
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
        one::<PlatformRef>(&mut group, &keys);
        one::<ArenaBoxed>(&mut group, &keys);
        one::<ArenaStr>(&mut group, &keys);
        one::<RawBump>(&mut group, &keys);
        one::<SlabPooled>(&mut group, &keys);
        one::<SlabStr>(&mut group, &keys);
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
    one::<ArenaBoxed>(&mut group, &mut ptrs);
    one::<RawBump>(&mut group, &mut ptrs);
    one::<SlabPooled>(&mut group, &mut ptrs);
    group.finish();
}

fn churn(c: &mut Criterion) {
    const LIVE: usize = 1024;
    const STEPS: usize = 1_000_000;
    let mut group = c.benchmark_group("churn");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    fn one<S: Strategy>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        group.bench_function(BenchmarkId::new(S::NAME, STEPS), |b| {
            b.iter(|| workloads::churn::<S>(LIVE, STEPS))
        });
    }
    one::<PlatformBoxed>(&mut group);
    one::<SlabPooled>(&mut group);
    one::<TracedPlatform>(&mut group);
    one::<TrackedPlatform>(&mut group);
    one::<SubsystemVm>(&mut group);
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

criterion_group!(benches, seed_map, bump, churn, scope);
criterion_main!(benches);
