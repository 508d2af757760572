//! A quick side-by-side table of the strategies on one workload, `seed_map`: create a map, put N
//! copied keys `key-{i}`, look every key up, drop it all.
//!
//! Rounds are interleaved (every strategy runs once per round, in a new shuffled order each
//! round), so that a noisy machine slows them all alike; the table gives each strategy's median
//! over the rounds and its ratio to `Platform` measured in the same run.
//!
//! ```text
//! cargo run --release --example compare                # N = 100 000, 20 rounds
//! cargo run --release --example compare -- 1000 200    # N = 1 000, 200 rounds
//! ```
#![cfg_attr(feature = "nightly", feature(allocator_api))]

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use std::hint::black_box;
use std::time::Instant;

use workloads::{
    ArenaBoxed, ArenaStr, PlatformBoxed, RawBump, SlabPooled, Strategy, SubsystemVm, TracedArena,
    TracedPlatform, TrackedPlatform,
};

/// One row of the table: a strategy's name, what its keys are, and its workload.
struct Row {
    name: &'static str,
    keys: &'static str,
    run: fn(&[String]) -> usize,
    samples: Vec<f64>,
}

fn row<S: Strategy>(keys: &'static str) -> Row {
    Row {
        name: S::NAME,
        keys,
        run: workloads::seed_map::<S>,
        samples: Vec::new(),
    }
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(100_000, |a| a.parse().expect("N: a number of keys"));
    let rounds: usize = args
        .next()
        .map_or(20, |a| a.parse().expect("rounds: a number"));
    let keys = workloads::keys(n);

    // Platform first: it is the baseline of the ratios.
    let mut rows = vec![
        row::<PlatformBoxed>("`Box<str>`"),
        row::<ArenaBoxed>("`Box<str, &Arena>`"),
        row::<ArenaStr>("`&str` (`alloc_str`)"),
        row::<RawBump>("`Box<str, &Bump>`"),
        row::<SlabPooled>("`Box<str, &Slab>`"),
        row::<TracedPlatform>("`Box<str, &Trace<Platform>>`"),
        row::<TracedArena>("`Box<str, &Trace<Arena>>`"),
        row::<TrackedPlatform>("`Box<str, &Trace<Platform>>`"),
        row::<SubsystemVm>("`Box<str, subsystem::Vm>`"),
    ];

    // One untimed round to warm caches and the allocator.
    for row in &rows {
        black_box((row.run)(&keys));
    }
    // A new order every round (a seeded shuffle): the strategy that runs right after another
    // inherits the state it left in the global allocator (after the platform's 100 000 frees,
    // glibc trims its heap and the next run's chunks cost page faults), so no strategy may
    // always sit in the same place.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..rounds {
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            let row = &mut rows[i];
            let start = Instant::now();
            black_box((row.run)(black_box(&keys)));
            row.samples
                .push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }

    let medians: Vec<f64> = rows.iter_mut().map(|r| median(&mut r.samples)).collect();
    println!("seed_map, N = {n}, {rounds} interleaved rounds, median of each\n");
    println!("| strategy | keys | ns per key | vs platform |");
    println!("|---|---|---:|---:|");
    for (row, m) in rows.iter().zip(&medians) {
        println!(
            "| {} | {} | {:.1} | {:.2}x |",
            row.name,
            row.keys,
            m,
            m / medians[0]
        );
    }
}
