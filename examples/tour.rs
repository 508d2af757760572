//! A tour of allockit: the usage patterns of the C design, run end to end, each printing what it
//! did. Run it with `cargo run --example tour`.

use allockit::failing::{Policy, check_all_allocation_failures};
use allockit::subsystem;
use allockit::{
    AllocError, Allocator, Arena, Box, Failing, HashMap, MapExt, Platform, SlabBuilder, Trace, Vec,
    format_in, strdup_in, try_strdup_in, with_arena,
};

fn main() {
    default_allocator();
    custom_arena();
    passes_with_warm_resets();
    scoped_arena();
    pooled_objects();
    swap_by_type_alias();
    with_tracing();
    long_lived_with_leak_detection();
    different_contexts();
    out_of_room();
    every_allocation_failing();
}

fn heading(title: &str) {
    println!("\n== {title} ==");
}

/// C: `HashMap *map = hash_map_create();` on the platform allocator.
fn default_allocator() {
    heading("Default allocator");
    let mut config: HashMap<&str, u32> = HashMap::new();
    config.insert("max_depth", 64);
    config.insert("gc_interval_ms", 250);
    let mut keys: std::vec::Vec<_> = config.iter().collect();
    keys.sort();
    println!("HashMap::new() uses Platform, the global allocator: {keys:?}");
}

/// C: `Allocator *arena = mem_create_arena_allocator(64 * 1024);` and a map with copied keys.
fn custom_arena() {
    heading("Custom arena");
    let arena = Arena::with_capacity(64 * 1024);
    let mut symbols = HashMap::new_in(&arena);
    for (i, name) in ["main", "parse", "emit", "optimize", "link"]
        .iter()
        .enumerate()
    {
        symbols.insert(strdup_in(name, &arena), i);
    }
    println!("{} symbols, 'emit' -> {}", symbols.len(), symbols["emit"]);
    drop(symbols);
    println!("{}", arena.stats());
    println!("mem_destroy(arena) is drop(arena): every block goes back at once");
}

/// A compiler's passes in one arena: nodes with `alloc`, child lists with `alloc_slice_copy`,
/// names built with `format_in!` and kept as `&str`, and a `reset` between passes that keeps a
/// chunk large enough for the whole pass.
fn passes_with_warm_resets() {
    heading("Passes with warm resets");
    enum Node<'a> {
        Leaf(&'a str),
        Call(&'a str, &'a [&'a Node<'a>]),
    }
    /// Bytes of the names in the tree.
    fn name_bytes(node: &Node<'_>) -> usize {
        match node {
            Node::Leaf(name) => name.len(),
            Node::Call(name, args) => {
                name.len() + args.iter().map(|a| name_bytes(a)).sum::<usize>()
            }
        }
    }
    let mut arena = Arena::new();
    for pass in 0..4 {
        let mut calls = Vec::new_in(&arena);
        for i in 0..2000 {
            let name = format_in!(&arena, "tmp{}", i % 100).into_arena_str();
            let args = [
                &*arena.alloc(Node::Leaf(name)),
                &*arena.alloc(Node::Leaf("x")),
            ];
            calls.push(&*arena.alloc(Node::Call("add", arena.alloc_slice_copy(&args))));
        }
        let names: usize = calls.iter().map(|c| name_bytes(c)).sum();
        let stats = arena.stats();
        println!(
            "pass {pass}: {} calls, {names} bytes of names; {stats}",
            calls.len()
        );
        drop(calls);
        arena.reset();
    }
    println!("after the first pass, one chunk holds a whole pass: no chunk is reserved any more");
}

/// C: `WITH_ARENA(temp, 8192, { ... })`.
fn scoped_arena() {
    heading("WITH_ARENA");
    let text = "the quick brown fox jumps over the lazy dog the end";
    let (distinct, most) = with_arena(8192, |temp| {
        let mut counts = HashMap::new_in(temp);
        for word in text.split(' ') {
            *counts.entry(temp.alloc_str(word)).or_insert(0) += 1;
        }
        let most = counts
            .iter()
            .max_by_key(|(w, n)| (**n, std::cmp::Reverse(**w)));
        println!("inside the scope: {}", temp.stats());
        (counts.len(), most.map(|(w, n)| (w.to_string(), *n)))
    });
    println!("{distinct} distinct words, most frequent {most:?}; the scope's arena is reset");
    // The second scope reuses the pooled arena: no new chunk.
    with_arena(8192, |temp| {
        println!("next scope starts clean: {}", temp.stats())
    });
}

/// C: `mem_create_freelist_allocator(sizeof(HashMapEntry) + 32, 100)`: a pool of same-sized
/// objects. Here a slab with a few size classes pools a map's string keys; the map's table, which
/// is larger, goes upstream to the platform.
fn pooled_objects() {
    heading("Pool of same-sized objects");
    let pool = SlabBuilder::new()
        .classes(&[16, 32, 64])
        .initial_blocks(100)
        .build();
    let mut sessions = HashMap::new_in(&pool);
    for id in 0..1000 {
        sessions.insert(strdup_in(&format!("session-{id:04}"), &pool), id);
    }
    // Half the sessions end: their key blocks go back on the free list...
    sessions.retain(|_, id| *id % 2 == 0);
    println!("after 1000 inserts and 500 removals:\n{}", pool.stats());
    // ...and the next 500 keys reuse them, without asking the platform for anything.
    let before = pool.stats();
    for id in 1000..1500 {
        sessions.insert(strdup_in(&format!("session-{id:04}"), &pool), id);
    }
    let after = pool.stats();
    println!(
        "500 more keys: 16-byte chunks {} -> {}, live {} -> {}",
        before.classes()[0].chunks,
        after.classes()[0].chunks,
        before.classes()[0].live,
        after.classes()[0].live,
    );
}

/// C: `#ifdef DEBUG` choosing the allocator. In Rust the choice is a type alias.
fn swap_by_type_alias() {
    heading("Swap by type alias");
    // Debug builds: every block on its own, visible to leak checkers and sanitizers.
    #[cfg(debug_assertions)]
    type Alloc = Platform;
    #[cfg(debug_assertions)]
    const ALLOC: &str = "Platform (debug build)";
    // Release builds: the map owns an arena and frees it in one go.
    #[cfg(not(debug_assertions))]
    type Alloc = Arena;
    #[cfg(not(debug_assertions))]
    const ALLOC: &str = "Arena (release build)";

    let mut squares: HashMap<u32, u64, Alloc> = HashMap::new_in(Alloc::default());
    for i in 0..1000 {
        squares.insert(i, u64::from(i) * u64::from(i));
    }
    println!(
        "{} squares on {}; 999^2 = {}",
        squares.len(),
        ALLOC,
        squares[&999]
    );
}

/// C: `Allocator *trace = mem_create_trace_allocator(arena);` ... `mem_format_stats(trace)`.
fn with_tracing() {
    heading("With tracing");
    let arena = Arena::new();
    let trace = Trace::new(&arena);
    let mut squares = HashMap::new_in(&trace);
    for i in 0..1000u64 {
        squares.insert(i, i * i);
    }
    drop(squares);
    println!(
        "a map of 1000 entries in an arena, traced:\n{}",
        trace.stats()
    );
}

/// C: a long-lived allocator checked with `mem_check_leaks` at shutdown. One entry is leaked on
/// purpose; the report names its address, size and (with backtraces on) where it was made.
fn long_lived_with_leak_detection() {
    heading("Long-lived with leak detection");
    let trace = Trace::with_tracking(Platform);
    trace.set_backtraces(true);
    let mut cache = HashMap::new_in(&trace);
    for i in 0..10 {
        cache.insert(strdup_in(&format!("entry-{i}"), &trace), i);
    }
    // A bug: one key escapes the map and is never freed.
    let (key, _) = cache.remove_entry("entry-7").expect("present");
    let leaked: &mut str = Box::leak(key);
    drop(cache);
    match trace.check_leaks() {
        Ok(()) => println!("no leaks"),
        Err(report) => {
            let block = &report.blocks()[0];
            let frames: std::vec::Vec<String> = block
                .backtrace()
                .map(|b| b.to_string())
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("tour::"))
                .map(|l| l.trim().to_string())
                .collect();
            println!(
                "{} block ({} bytes, \"{leaked}\") leaked at {:#x}, allocated in {frames:?}",
                report.live_blocks(),
                block.size,
                block.address,
            );
        }
    }
}

/// A compiler: long-lived data on the platform, one arena per pass, one per function body.
fn different_contexts() {
    heading("Different contexts");
    // Long-lived names belong to the VM; the pass's own data is the compiler's.
    let mut interned: HashMap<Box<str, subsystem::Vm>, u32, subsystem::Vm> =
        HashMap::new_in(subsystem::Vm);
    let source = ["fn add(a, b) { a + b }", "fn twice(x) { add(x, x) }"];

    let pass = Arena::new();
    let mut bodies: Vec<usize, &Arena> = Vec::new_in(&pass);
    let mut diagnostics: Vec<Box<str, subsystem::Compiler>, subsystem::Compiler> =
        Vec::new_in(subsystem::Compiler);
    for function in source {
        // Per-function scratch: tokens live only while the body is analysed.
        let tokens = with_arena(4096, |scratch| {
            let mut tokens = Vec::new_in(scratch);
            for token in function.split(|c: char| !c.is_alphanumeric()) {
                if !token.is_empty() {
                    tokens.push(scratch.alloc_str(token));
                }
            }
            for token in &tokens {
                let next = interned.len() as u32;
                interned
                    .entry(strdup_in(token, subsystem::Vm))
                    .or_insert(next);
            }
            tokens.len()
        });
        bodies.push(tokens);
        diagnostics.push(strdup_in(
            &format!("analysed {} tokens", tokens),
            subsystem::Compiler,
        ));
    }
    println!("tokens per function {:?}", &bodies[..]);
    println!("pass arena: {}", pass.stats());
    println!(
        "{} names interned in the VM subsystem, kept after the pass",
        interned.len()
    );
    println!("per-subsystem accounting:\n{}", subsystem::report());
    let chunks = bodies.allocator().stats().chunks;
    drop(bodies);
    drop(pass);
    println!("pass over: its {chunks} chunk(s) freed at once");
}

/// C: `MEM_NEW` returning NULL. Here: `AllocError`, and the map keeps what it had.
fn out_of_room() {
    heading("Out of room");
    let arena = Arena::new();
    let mut map = HashMap::new_in(&arena);
    for i in 0..100 {
        map.insert(strdup_in(&format!("key-{i}"), &arena), i);
    }
    arena.set_limit(Some(arena.stats().used));
    let reserve = map.try_reserve(1000);
    let copy = try_strdup_in("one more", &arena);
    println!(
        "at the limit ({}): try_reserve -> {:?}, try_strdup_in -> {:?}",
        arena.stats(),
        reserve.map_err(|_| "refused"),
        copy.map(|_| ()).map_err(|e| e.to_string())
    );
    println!(
        "the map still holds all {} entries; key-42 -> {}",
        map.len(),
        map["key-42"]
    );
    show_allocator_generic_code(&arena);
}

/// Code written once for any allocator.
fn show_allocator_generic_code<A: Allocator>(alloc: A) {
    let v: Result<Vec<u8, A>, _> = {
        let mut v = Vec::new_in(alloc);
        v.try_reserve(16).map(|()| v)
    };
    println!(
        "generic code sees the same refusal: {:?}",
        v.map(|_| ()).map_err(|_| "AllocError")
    );
}

/// C: `hash_map_put` returning early when `MEM_NEW` gives NULL, tested the way Zig does: run the
/// code once per allocation, with exactly that one failing, and check that each run reports the
/// error, leaks nothing and never panics.
fn every_allocation_failing() {
    heading("Every allocation failing in turn");
    // One put into a map whose allocator refuses the next request: the map is as it was.
    let failing = Failing::new(Platform, Policy::Never);
    let mut map: HashMap<Box<str, &Failing<Platform>>, u32, _> = HashMap::new_in(&failing);
    for (i, name) in ["alpha", "beta", "gamma"].into_iter().enumerate() {
        map.try_put(name, i as u32).expect("nothing fails yet");
    }
    failing.set_policy(Policy::Nth(failing.stats().attempts));
    let refused = map.try_put("delta", 3);
    println!(
        "try_put(\"delta\") with its allocation refused -> {refused:?}; the map still has {} \
         entries",
        map.len()
    );

    // The driver, on a workload that builds, grows, trims and drops a map of copied keys.
    let workload = |alloc: &Failing<Trace<&Arena>>| -> Result<usize, AllocError> {
        let mut names = HashMap::new_in(alloc);
        for i in 0..50 {
            names.try_put(&format!("name-{i}"), i)?;
        }
        names.retain(|_, i| *i % 3 == 0);
        Ok(names.len())
    };
    let arena = Arena::new();
    match check_all_allocation_failures(&arena, workload) {
        Ok(report) => println!("{report}"),
        Err(error) => println!("the workload mishandles a failure: {error}"),
    }
}
