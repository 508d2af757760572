//! A quick side-by-side table of the strategies on one workload, run interleaved in one process:
//!
//! - `seed_map` (the default): create a map, put N copied keys `key-{i}`, look every key up, drop
//!   it all (N = 100 000 unless given);
//! - `bump`: N allocations of 32 bytes, then give them all back (N = 1 000 000);
//! - `churn`: keep 1 024 blocks of 32 bytes live; N times free a pseudo-random one and allocate its
//!   replacement (N = 1 000 000).
//!
//! Rounds are interleaved (every strategy runs once per round, in a new shuffled order each
//! round), so that a noisy machine slows them all alike and no strategy always runs right after
//! another (after the platform's many frees, glibc trims its heap and whoever runs next pays the
//! page faults); the table gives each strategy's median over the rounds and its ratio to
//! `Platform` measured in the same run. Its last column is paired: in every round, the
//! strategy's time over its baseline's in that same round (the inner allocator for a `Trace`,
//! `arena` for the slab in `bump`, else the platform), and the median of those ratios. A slow
//! spell of the machine then moves both sides of a ratio together, which the ratio of two
//! medians taken over different rounds does not promise. For `seed_map`, `platform_ref` holds the
//! platform by reference: its keys have the layout of the keys of `&Trace<Platform>` (24 bytes,
//! where `Box<str>` takes 16), so it is the baseline that shows what tracing alone costs.
//!
//! ```text
//! cargo run --release --example compare                     # seed_map, N = 100 000, 20 rounds
//! cargo run --release --example compare -- seed_map 1000 200
//! cargo run --release --example compare -- bump
//! cargo run --release --example compare -- churn 1000000 30
//! cargo run --release --example compare -- seed_map 100000 40 arena,trace_arena   # only these
//! ```

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use workloads::{
    ArenaBoxed, ArenaStr, PlatformBoxed, PlatformRef, RawBump, SlabPooled, SlabStr, Strategy,
    SubsystemVm, TracedArena, TracedPlatform, TrackedPlatform,
};

/// The inputs every strategy shares in one run.
struct Input {
    n: usize,
    keys: Vec<String>,
    ptrs: Vec<NonNull<u8>>,
}

/// One row of the table: a strategy's name, what it stores, the row it is paired with, and its
/// run of the workload.
struct Row {
    name: &'static str,
    what: &'static str,
    baseline: &'static str,
    run: fn(&mut Input) -> usize,
    samples: Vec<f64>,
}

fn row<S: Strategy>(workload: &str, what: &'static str) -> Row {
    Row {
        name: S::NAME,
        what,
        baseline: "platform",
        run: match workload {
            "seed_map" => |input| workloads::seed_map::<S>(&input.keys),
            "bump" => |input| {
                workloads::bump::<S>(input.n, &mut input.ptrs);
                0
            },
            "churn" => |input| workloads::churn::<S>(1024, input.n),
            other => panic!("unknown workload {other}: seed_map, bump or churn"),
        },
        samples: Vec::new(),
    }
}

impl Row {
    /// Pairs this row with `baseline` instead of the platform (if `baseline` runs).
    fn vs(self, baseline: &'static str) -> Row {
        Row { baseline, ..self }
    }
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "seed_map".into());
    let default_n = if workload == "seed_map" {
        100_000
    } else {
        1_000_000
    };
    let n: usize = args
        .next()
        .map_or(default_n, |a| a.parse().expect("N: a number"));
    let rounds: usize = args
        .next()
        .map_or(20, |a| a.parse().expect("rounds: a number"));

    // Platform first: it is the baseline of the ratios.
    let w = workload.as_str();
    let mut rows = match w {
        "seed_map" => vec![
            row::<PlatformBoxed>(w, "`Box<str>`"),
            row::<PlatformRef>(w, "`Box<str, &Platform>`"),
            row::<ArenaBoxed>(w, "`Box<str, &Arena>`"),
            row::<ArenaStr>(w, "`&str` (`alloc_str`)"),
            row::<RawBump>(w, "`Box<str, &Bump>`"),
            row::<SlabPooled>(w, "`Box<str, &Slab>`"),
            row::<SlabStr>(w, "`&str` (leaked into the slab)"),
            row::<TracedPlatform>(w, "`Box<str, &Trace<Platform>>`").vs("platform_ref"),
            row::<TracedArena>(w, "`Box<str, &Trace<Arena>>`").vs("arena"),
            row::<TrackedPlatform>(w, "`Box<str, &Trace<&Platform>>`").vs("platform_ref"),
            row::<SubsystemVm>(w, "`Box<str, subsystem::Vm>`"),
        ],
        "bump" => vec![
            row::<PlatformBoxed>(w, "freed one by one"),
            row::<ArenaBoxed>(w, "dropped whole"),
            row::<RawBump>(w, "dropped whole"),
            row::<SlabPooled>(w, "dropped whole").vs("arena"),
        ],
        "churn" => vec![
            row::<PlatformBoxed>(w, "glibc"),
            row::<SlabPooled>(w, "free list"),
            row::<TracedPlatform>(w, "counters"),
            row::<TrackedPlatform>(w, "tracking"),
            row::<SubsystemVm>(w, "counters, in a static"),
        ],
        other => panic!("unknown workload {other}: seed_map, bump or churn"),
    };
    // An optional list of strategies to run (the platform always runs: it is the baseline).
    if let Some(only) = args.next() {
        let only: Vec<&str> = only.split(',').collect();
        rows.retain(|row| row.name == "platform" || only.contains(&row.name));
    }
    let mut input = Input {
        n,
        keys: workloads::keys(if w == "seed_map" { n } else { 0 }),
        ptrs: Vec::with_capacity(if w == "bump" { n } else { 0 }),
    };

    // One untimed round to warm caches and the allocator.
    for row in &rows {
        black_box((row.run)(&mut input));
    }
    // A new order every round (a seeded shuffle), so that no strategy always sits in the same
    // place after another.
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
            black_box((row.run)(black_box(&mut input)));
            row.samples
                .push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }

    // Each row's time over its baseline's in the same round, before the medians sort them.
    let paired: Vec<Option<(&str, f64)>> = rows
        .iter()
        .map(|row| {
            let base = rows
                .iter()
                .find(|b| b.name == row.baseline)
                .unwrap_or(&rows[0]);
            if base.name == row.name {
                return None;
            }
            let mut ratios: Vec<f64> = row
                .samples
                .iter()
                .zip(&base.samples)
                .map(|(x, b)| x / b)
                .collect();
            Some((base.name, median(&mut ratios)))
        })
        .collect();
    let medians: Vec<f64> = rows.iter_mut().map(|r| median(&mut r.samples)).collect();
    println!("{workload}, N = {n}, {rounds} interleaved rounds, median of each\n");
    println!("| strategy | | ns per step | vs platform | paired, per round |");
    println!("|---|---|---:|---:|---|");
    for ((row, m), pair) in rows.iter().zip(&medians).zip(&paired) {
        let pair = match pair {
            Some((base, ratio)) => format!("{ratio:.3}x of {base}"),
            None => String::new(),
        };
        println!(
            "| {} | {} | {:.2} | {:.2}x | {} |",
            row.name,
            row.what,
            m,
            m / medians[0],
            pair
        );
    }
}
