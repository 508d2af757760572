//! A quick side-by-side table of the strategies and their peers on one workload, run interleaved
//! in one process:
//!
//! - `seed_map` (the default): create a map, put N copied keys `key-{i}`, look every key up, drop
//!   it all (N = 100 000 unless given);
//! - `bump`: N allocations of 32 bytes, then give them all back (N = 1 000 000);
//! - `churn`: keep 1 024 blocks of 32 bytes live; N times free a pseudo-random one and allocate its
//!   replacement (N = 1 000 000);
//! - `churn_boxed`: the same work written with `Box<[u64; 4], A>` values and their drop glue, a
//!   second code layout (N = 1 000 000);
//! - `threads`: T = 1, 2, 4 and 8 threads, each churning its own 1 024 blocks N times (N = 200 000)
//!   through one shared allocator, started together behind a barrier; the time is the wall time
//!   of the whole round;
//! - `compiler_pass`: issue 15's toy compiler pass (`benches/workloads/compiler_pass.rs`) over a
//!   generated 2 000-line source, N passes in one arena with a reset between them (N = 100), on
//!   allockit's arena, bumpalo and bump-scope, and on the platform (every node freed at the
//!   "reset"); the time is per pass, the first (cold) pass included.
//!
//! Rounds are interleaved (every strategy runs once per round, in a new shuffled order each
//! round), so that a noisy machine slows them all alike and no strategy always runs right after
//! another (after the platform's many frees, glibc trims its heap and whoever runs next pays the
//! page faults); the table gives each strategy's median over the rounds and its ratio to
//! `Platform` measured in the same run. Its last column is paired: in every round, the
//! strategy's time over its peer's in that same round, and the median of those ratios. A slow
//! spell of the machine then moves both sides of a ratio together, which the ratio of two
//! medians taken over different rounds does not promise. Each allockit strategy is paired with
//! its closest peer: the arena with bumpalo (which it wraps) and bump-scope, the slab with the
//! minimal free list of `benches/workloads/peers.rs`, a `Trace` with its inner allocator, the
//! rest (and the peers themselves) with the platform; in `threads`, everything with the platform
//! at the same T. For `seed_map`, `platform_ref` holds the platform by reference: its keys have
//! the layout of the keys of `&Trace<Platform>` (24 bytes, where `Box<str>` takes 16), so it is
//! the baseline that shows what tracing alone costs. For `compiler_pass` the arena is also paired
//! with the faster of its two peers in each round (the minimum of their two times in that round;
//! noise pulls a minimum of two down, so this ratio errs against the arena).
//!
//! ```text
//! cargo run --release --example compare                     # seed_map, N = 100 000, 20 rounds
//! cargo run --release --example compare -- seed_map 1000 200
//! cargo run --release --example compare -- bump
//! cargo run --release --example compare -- churn 1000000 30
//! cargo run --release --example compare -- threads 200000 15
//! cargo run --release --example compare -- compiler_pass            # 100 passes, 20 rounds
//! cargo run --release --example compare -- seed_map 100000 40 arena,trace_arena   # only these
//! ```
//!
//! `examples/chart.rs` turns the table into an SVG chart.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use workloads::compiler_pass::{self, PassArena};
use workloads::{
    ArenaBoxed, ArenaLeaked, ArenaStr, BumpScopeBoxed, BumpScopeStr, MimallocBoxed, MiniList,
    MiniListStr, PlatformBoxed, PlatformRef, RawBump, SlabPooled, SlabStr, Strategy, SubsystemVm,
    TracedArena, TracedArenaStr, TracedPlatform, TrackedPlatform,
};

/// The lines of `compiler_pass`'s generated source.
const SOURCE_LINES: usize = 2_000;

/// The inputs every strategy shares in one run.
struct Input {
    n: usize,
    keys: Vec<String>,
    ptrs: Vec<NonNull<u8>>,
    /// `compiler_pass`'s source (empty for the other workloads).
    source: String,
}

/// One row of the table: a strategy's name, what it stores, the rows it is paired with, and its
/// run of the workload, which returns the time it took in nanoseconds.
struct Row {
    name: &'static str,
    /// The thread count, for `threads` (0 elsewhere); rows pair only within one count.
    threads: usize,
    what: &'static str,
    baselines: Vec<&'static str>,
    run: Box<dyn Fn(&mut Input) -> f64>,
    samples: Vec<f64>,
}

/// Times `f` in nanoseconds.
fn timed(f: impl FnOnce() -> usize) -> f64 {
    let start = Instant::now();
    black_box(f());
    start.elapsed().as_nanos() as f64
}

fn row<S: Strategy>(workload: &str, what: &'static str) -> Row {
    let run: Box<dyn Fn(&mut Input) -> f64> = match workload {
        "seed_map" => Box::new(|input| timed(|| workloads::seed_map::<S>(&input.keys))),
        "bump" => Box::new(|input| {
            timed(|| {
                workloads::bump::<S>(input.n, &mut input.ptrs);
                0
            })
        }),
        "churn" => Box::new(|input| timed(|| workloads::churn::<S>(1024, input.n))),
        "churn_boxed" => {
            Box::new(|input| timed(|| workloads::churn_boxed::<S>(1024, input.n) as usize))
        }
        other => panic!("unknown workload {other}: {WORKLOADS}"),
    };
    Row {
        name: S::NAME,
        threads: 0,
        what,
        baselines: vec!["platform"],
        run,
        samples: Vec::new(),
    }
}

/// A row of `compiler_pass`: N passes in one arena of kind `P`.
fn pass_row<P: PassArena + 'static>(what: &'static str) -> Row {
    Row {
        name: P::NAME,
        threads: 0,
        what,
        baselines: vec!["platform"],
        run: Box::new(|input| timed(|| compiler_pass::run::<P>(&input.source, input.n) as usize)),
        samples: Vec::new(),
    }
}

/// A row of `threads` at `t` threads.
fn threads_row<S: Strategy>(t: usize, what: &'static str) -> Row
where
    for<'a> S::Alloc<'a>: Send,
{
    Row {
        name: S::NAME,
        threads: t,
        what,
        baselines: vec!["platform"],
        run: Box::new(move |input| workloads::threads::<S>(t, 1024, input.n).as_nanos() as f64),
        samples: Vec::new(),
    }
}

impl Row {
    /// Pairs this row with `baselines` instead of the platform (those that run).
    fn vs(self, baselines: &[&'static str]) -> Row {
        Row {
            baselines: baselines.to_vec(),
            ..self
        }
    }
}

/// The workloads `main` knows.
const WORKLOADS: &str = "seed_map, bump, churn, churn_boxed, threads or compiler_pass";

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "seed_map".into());
    let default_n = match workload.as_str() {
        "seed_map" => 100_000,
        "threads" => 200_000,
        "compiler_pass" => 100,
        _ => 1_000_000,
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
            row::<MimallocBoxed>(w, "`Box<str, Mimalloc>`"),
            row::<PlatformRef>(w, "`Box<str, &Platform>`"),
            row::<ArenaBoxed>(w, "`Box<str, &Arena>`").vs(&["bumpalo", "bump_scope"]),
            row::<RawBump>(w, "`Box<str, &Bump>`"),
            row::<BumpScopeBoxed>(w, "`Box<str, BumpScope>`"),
            row::<ArenaStr>(w, "`&str` (`alloc_str`)").vs(&["bump_scope_str"]),
            row::<BumpScopeStr>(w, "`&str` (`alloc_str`)"),
            row::<SlabPooled>(w, "`Box<str, &Slab>`").vs(&["minifree"]),
            row::<MiniList>(w, "`Box<str, &MiniFreeList>`"),
            row::<SlabStr>(w, "`&str` (leaked into the slab)").vs(&["minifree_str"]),
            row::<MiniListStr>(w, "`&str` (leaked into the list)"),
            row::<TracedPlatform>(w, "`Box<str, &Trace<Platform>>`").vs(&["platform_ref"]),
            row::<TracedArena>(w, "`Box<str, &Trace<Arena>>`").vs(&["arena"]),
            row::<ArenaLeaked>(w, "`&str` (leaked `Box<str, &Arena>`)"),
            row::<TracedArenaStr>(w, "`&str` (leaked `Box<str, &Trace<Arena>>`)")
                .vs(&["arena_leaked"]),
            row::<TrackedPlatform>(w, "`Box<str, &Trace<&Platform>>`").vs(&["platform_ref"]),
            row::<SubsystemVm>(w, "`Box<str, subsystem::Vm>`"),
        ],
        "bump" => vec![
            row::<PlatformBoxed>(w, "freed one by one"),
            row::<MimallocBoxed>(w, "freed one by one"),
            row::<ArenaBoxed>(w, "dropped whole").vs(&["bumpalo", "bump_scope"]),
            row::<RawBump>(w, "dropped whole"),
            row::<BumpScopeBoxed>(w, "dropped whole"),
            row::<SlabPooled>(w, "dropped whole").vs(&["minifree", "arena"]),
            row::<MiniList>(w, "dropped whole"),
        ],
        "churn" | "churn_boxed" => vec![
            row::<PlatformBoxed>(w, "glibc"),
            row::<MimallocBoxed>(w, "mimalloc"),
            row::<SlabPooled>(w, "free list").vs(&["minifree"]),
            row::<MiniList>(w, "minimal free list"),
            row::<TracedPlatform>(w, "counters"),
            row::<TrackedPlatform>(w, "tracking"),
            row::<SubsystemVm>(w, "counters, in a static"),
        ],
        "threads" => [1, 2, 4, 8]
            .into_iter()
            .flat_map(|t| {
                [
                    threads_row::<PlatformBoxed>(t, "glibc"),
                    threads_row::<MimallocBoxed>(t, "mimalloc"),
                    threads_row::<TracedPlatform>(t, "`&Trace<Platform>`, counters"),
                    threads_row::<SubsystemVm>(t, "`subsystem::Vm`"),
                    threads_row::<TrackedPlatform>(t, "`&Trace<&Platform>`, tracking"),
                ]
            })
            .collect(),
        "compiler_pass" => vec![
            pass_row::<compiler_pass::PlatformPass>("every node a block, freed at reset"),
            pass_row::<compiler_pass::AllockitArena>("`Arena`, warm `reset`").vs(&[
                "bumpalo",
                "bump_scope",
                "bumpalo|bump_scope",
            ]),
            pass_row::<compiler_pass::Bumpalo>("`bumpalo::Bump`, `reset`"),
            pass_row::<compiler_pass::BumpScope>("`bump_scope::Bump`, `reset`"),
        ],
        other => panic!("unknown workload {other}: {WORKLOADS}"),
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
        source: if w == "compiler_pass" {
            compiler_pass::source(SOURCE_LINES)
        } else {
            String::new()
        },
    };
    if w == "compiler_pass" {
        // Every arena must compute the same pass (this panics if one does not).
        compiler_pass::run_all(&input.source, 2);
    }

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
            let nanos = (row.run)(black_box(&mut input));
            row.samples.push(match w {
                "threads" => nanos / 1e6,
                "compiler_pass" => nanos / 1e3 / n as f64,
                _ => nanos / n as f64,
            });
        }
    }

    // Each row's time over each of its baselines' in the same round, before the medians sort
    // them. A baseline `a|b` is the faster of `a` and `b` in each round.
    let paired: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut cells = Vec::new();
            for &name in &row.baselines {
                let bases: Vec<&Row> = name
                    .split('|')
                    .filter_map(|name| {
                        rows.iter()
                            .find(|b| b.name == name && b.threads == row.threads)
                    })
                    .filter(|base| base.name != row.name)
                    .collect();
                if bases.is_empty() {
                    continue;
                }
                let mut ratios: Vec<f64> = row
                    .samples
                    .iter()
                    .enumerate()
                    .map(|(round, x)| {
                        x / bases
                            .iter()
                            .map(|b| b.samples[round])
                            .fold(f64::INFINITY, f64::min)
                    })
                    .collect();
                let of = match bases.as_slice() {
                    [base] => base.name.to_string(),
                    _ => format!(
                        "the faster of {}",
                        bases
                            .iter()
                            .map(|b| b.name)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                };
                cells.push(format!("{:.3}x of {of}", median(&mut ratios)));
            }
            cells.join(", ")
        })
        .collect();
    let medians: Vec<f64> = rows.iter_mut().map(|r| median(&mut r.samples)).collect();
    if w == "compiler_pass" {
        println!(
            "{workload}, N = {n} passes of a {SOURCE_LINES}-line source (the first cold), \
             {rounds} interleaved rounds, median of each\n"
        );
    } else {
        println!("{workload}, N = {n}, {rounds} interleaved rounds, median of each\n");
    }
    if w == "threads" {
        println!("| threads | strategy | | ms per round | vs platform | paired, per round |");
        println!("|---:|---|---|---:|---:|---|");
    } else if w == "compiler_pass" {
        println!("| strategy | | µs per pass | vs platform | paired, per round |");
        println!("|---|---|---:|---:|---|");
    } else {
        println!("| strategy | | ns per step | vs platform | paired, per round |");
        println!("|---|---|---:|---:|---|");
    }
    for (i, ((row, m), pair)) in rows.iter().zip(&medians).zip(&paired).enumerate() {
        let platform = rows
            .iter()
            .position(|b| b.name == "platform" && b.threads == row.threads)
            .unwrap_or(i);
        let threads = if w == "threads" {
            format!("| {} ", row.threads)
        } else {
            String::new()
        };
        println!(
            "{threads}| {} | {} | {:.2} | {:.2}x | {} |",
            row.name,
            row.what,
            m,
            m / medians[platform],
            pair
        );
    }
}
