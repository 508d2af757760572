//! `Trace` as the program's global allocator: every allocation of the whole program (std's
//! `Vec`, `String`, `HashMap`, the runtime's own) is counted and recorded, with backtraces on
//! request. Run it with `cargo run --example global_trace`.
//!
//! The trace wraps `std::alloc::System`, not `Platform`: `Platform` *is* the global allocator, so
//! wrapping it here would call itself. The trace's own bookkeeping uses `System` directly, so it
//! never comes back through the trace either.

use std::alloc::System;
use std::collections::HashMap;

use allockit::Trace;

#[global_allocator]
static GLOBAL: Trace<System> = Trace::with_tracking(System);

fn main() {
    let before = GLOBAL.stats();
    let mut words: HashMap<String, usize> = HashMap::new();
    for word in "the quick brown fox jumps over the lazy dog the end".split(' ') {
        *words.entry(word.to_string()).or_insert(0) += 1;
    }
    let region = GLOBAL.stats().since(&before);
    println!("counting {} distinct words took:\n{region}\n", words.len());
    drop(words);
    let after = GLOBAL.stats().since(&before);
    println!(
        "after dropping the map: {} allocations, {} deallocations in the region\n",
        after.allocations, after.deallocations
    );

    // A deliberate leak, found by address among everything live, with where it was allocated.
    GLOBAL.set_backtraces(true);
    let leaked: &'static mut [u8] = Box::leak(vec![7u8; 1234].into_boxed_slice());
    GLOBAL.set_backtraces(false);
    let report = GLOBAL.check_leaks().expect_err("the leak is live");
    let block = report
        .blocks()
        .iter()
        .find(|b| b.address == leaked.as_ptr().addr())
        .expect("the leaked block is listed");
    let backtrace = block.backtrace().map(|b| b.to_string()).unwrap_or_default();
    let frames: Vec<&str> = backtrace
        .lines()
        .filter(|l| l.contains("global_trace::"))
        .collect();
    println!(
        "{} blocks live in the whole program; the leak: {:#x}, {} bytes, allocated in {:?}",
        report.live_blocks(),
        block.address,
        block.size,
        frames
    );
}
