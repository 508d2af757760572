//! `Trace` as the `#[global_allocator]` of this test binary, with full tracking: everything the
//! tests (and the test harness) allocate goes through it, its bookkeeping never recurses, and
//! backtrace capture, which allocates, does not either.

use std::alloc::System;

use allockit::Trace;

#[global_allocator]
static GLOBAL: Trace<System> = Trace::with_tracking(System);

#[test]
fn the_global_trace_sees_std_collections() {
    // Other tests of this binary may run at once, so only lower bounds hold for the totals; the
    // block itself is found by address.
    let before = GLOBAL.stats();
    let v: Vec<u64> = (0..1000).collect();
    let after = GLOBAL.stats();
    assert!(after.allocations > before.allocations);
    assert!(after.peak_bytes >= 8000);
    let report = GLOBAL.check_leaks().expect_err("`v` is live");
    let block = report
        .blocks()
        .iter()
        .find(|b| b.address == v.as_ptr().addr())
        .expect("the vector's buffer is recorded");
    assert_eq!((block.size, block.align), (8000, 8));
    drop(report);
    drop(v);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "capturing a backtrace under Miri is slow and not what is tested"
)]
fn backtraces_in_the_global_allocator_do_not_recurse() {
    GLOBAL.set_backtraces(true);
    let boxed = Box::new([1u8; 321]);
    GLOBAL.set_backtraces(false);
    let report = GLOBAL.check_leaks().expect_err("`boxed` is live");
    let block = report
        .blocks()
        .iter()
        .find(|b| b.address == (&raw const *boxed).addr())
        .expect("the box is recorded");
    let backtrace = block.backtrace().expect("captured").to_string();
    assert!(
        backtrace.contains("backtraces_in_the_global_allocator_do_not_recurse"),
        "{backtrace}"
    );
    drop(report);
    drop(boxed);
}
