//! Instruction counts of single allocator calls, under Valgrind's callgrind (through gungraun):
//! for every strategy and peer, `allocate`, `deallocate` and `grow` of one block, each with the
//! layout known at compile time and with a layout the compiler cannot see (`black_box`).
//!
//! Each measured call sits alone in an `#[inline(never)]` function exported as `op_*`; callgrind
//! counts only inside it (gungraun's entry point), so the count is the call itself with its
//! prologue and return, not the setup around it. Every call is measured warm, on the path a
//! program in a steady state takes: the block that `allocate` hands out was freed just before (a
//! free list pops it, an arena bumps from a chunk it already has), `deallocate` frees a block
//! allocated just before, and `grow` moves a 32-byte block to 64 bytes with a 64-byte block
//! freed just before (an arena grows its last block in place).
//!
//! Run it (Valgrind and the matching runner installed, see README.md) with
//! `cargo bench --bench instructions`, then `bash benches/instructions-table.sh` prints the
//! table of instructions per call from the last run.

#[path = "workloads/mod.rs"]
mod workloads;

use std::hint::black_box;
use std::ptr::NonNull;

use allockit::{Allocator, Layout};
use gungraun::{
    Callgrind, EntryPoint, LibraryBenchmarkConfig, library_benchmark, library_benchmark_group, main,
};
use workloads::Strategy;

/// The layout of every block allocated or freed: the `churn` workload's.
const SMALL: Layout = workloads::BLOCK_32;
/// What `grow` makes of a `SMALL` block.
const LARGE: Layout = Layout::new::<[u64; 8]>();

/// A block of `layout` from `alloc`, allocated after a block of `layout` was freed (the warm
/// path).
fn warm_block<A: Allocator>(alloc: &A, layout: Layout) -> NonNull<u8> {
    let first = alloc.allocate(layout).expect("a block").cast::<u8>();
    // SAFETY: allocated just above with `layout`, freed once.
    unsafe { alloc.deallocate(first, layout) };
    alloc.allocate(layout).expect("a block").cast()
}

/// A measured call: the owner, the block to free or grow (if any), the small and the large
/// layout; it returns the block it allocated (if any).
type Op<Owner> = fn(&Owner, NonNull<u8>, Layout, Layout) -> Option<NonNull<u8>>;

/// Runs `op` on a fresh owner of `S`, after the warm-up that the module docs describe, and frees
/// what is left. `op` is one of the `op_*` functions, which alone callgrind counts.
fn measure<S: Strategy>(op: Op<S::Owner>, kind: Kind) {
    let owner = S::owner();
    let alloc = S::alloc(&owner);
    // Warm both layouts: the free lists then hold a block of each.
    let large = warm_block(&alloc, LARGE);
    // SAFETY: allocated just above, freed once.
    unsafe { alloc.deallocate(large, LARGE) };
    let small = warm_block(&alloc, SMALL);
    let ptr = match kind {
        // The block to hand out again: freed now, so that `allocate` pops it.
        Kind::Allocate => {
            // SAFETY: allocated just above, freed once.
            unsafe { alloc.deallocate(small, SMALL) };
            NonNull::dangling()
        }
        Kind::Deallocate | Kind::Grow => small,
    };
    let out = op(
        black_box(&owner),
        black_box(ptr),
        black_box(SMALL),
        black_box(LARGE),
    );
    let left = match kind {
        Kind::Allocate => out.map(|p| (p, SMALL)),
        Kind::Deallocate => None,
        Kind::Grow => out.map(|p| (p, LARGE)),
    };
    if let Some((ptr, layout)) = left {
        // SAFETY: the block `op` returned, with its layout, freed once.
        unsafe { alloc.deallocate(ptr, layout) };
    }
    drop(owner);
}

/// Which call a benchmark measures, and so which warm-up it needs.
#[derive(Clone, Copy)]
enum Kind {
    Allocate,
    Deallocate,
    Grow,
}

/// The six measured calls of one strategy (`op_<call>_<name>`, `_dyn` where the layout is not
/// known at compile time) and their gungraun benchmarks, in a group named after the strategy.
macro_rules! subject {
    ($name:ident in $module:ident, $strategy:ty) => {
        mod $module {
            use super::*;

            type S = $strategy;
            type Owner = <S as Strategy>::Owner;

            #[unsafe(export_name = concat!("op_allocate_", stringify!($name)))]
            #[inline(never)]
            fn allocate(owner: &Owner, _: NonNull<u8>, _: Layout, _: Layout) -> Option<NonNull<u8>> {
                S::alloc(owner).allocate(SMALL).ok().map(NonNull::cast)
            }

            #[unsafe(export_name = concat!("op_allocate_dyn_", stringify!($name)))]
            #[inline(never)]
            fn allocate_dyn(
                owner: &Owner,
                _: NonNull<u8>,
                small: Layout,
                _: Layout,
            ) -> Option<NonNull<u8>> {
                S::alloc(owner).allocate(small).ok().map(NonNull::cast)
            }

            #[unsafe(export_name = concat!("op_deallocate_", stringify!($name)))]
            #[inline(never)]
            fn deallocate(
                owner: &Owner,
                ptr: NonNull<u8>,
                _: Layout,
                _: Layout,
            ) -> Option<NonNull<u8>> {
                // SAFETY: `measure` passes a live block of `SMALL` from this owner.
                unsafe { S::alloc(owner).deallocate(ptr, SMALL) };
                None
            }

            #[unsafe(export_name = concat!("op_deallocate_dyn_", stringify!($name)))]
            #[inline(never)]
            fn deallocate_dyn(
                owner: &Owner,
                ptr: NonNull<u8>,
                small: Layout,
                _: Layout,
            ) -> Option<NonNull<u8>> {
                // SAFETY: as above; `small` is `SMALL`.
                unsafe { S::alloc(owner).deallocate(ptr, small) };
                None
            }

            #[unsafe(export_name = concat!("op_grow_", stringify!($name)))]
            #[inline(never)]
            fn grow(owner: &Owner, ptr: NonNull<u8>, _: Layout, _: Layout) -> Option<NonNull<u8>> {
                // SAFETY: as above; `LARGE` is larger than `SMALL`.
                let block = unsafe { S::alloc(owner).grow(ptr, SMALL, LARGE) };
                block.ok().map(NonNull::cast)
            }

            #[unsafe(export_name = concat!("op_grow_dyn_", stringify!($name)))]
            #[inline(never)]
            fn grow_dyn(
                owner: &Owner,
                ptr: NonNull<u8>,
                small: Layout,
                large: Layout,
            ) -> Option<NonNull<u8>> {
                // SAFETY: as above; `small` is `SMALL` and `large` is `LARGE`.
                let block = unsafe { S::alloc(owner).grow(ptr, small, large) };
                block.ok().map(NonNull::cast)
            }

            #[library_benchmark]
            pub fn allocate_() {
                measure::<S>(allocate, Kind::Allocate);
            }
            #[library_benchmark]
            pub fn allocate_dyn_() {
                measure::<S>(allocate_dyn, Kind::Allocate);
            }
            #[library_benchmark]
            pub fn deallocate_() {
                measure::<S>(deallocate, Kind::Deallocate);
            }
            #[library_benchmark]
            pub fn deallocate_dyn_() {
                measure::<S>(deallocate_dyn, Kind::Deallocate);
            }
            #[library_benchmark]
            pub fn grow_() {
                measure::<S>(grow, Kind::Grow);
            }
            #[library_benchmark]
            pub fn grow_dyn_() {
                measure::<S>(grow_dyn, Kind::Grow);
            }

            library_benchmark_group!(
                name = $name;
                benchmarks = allocate_, allocate_dyn_, deallocate_, deallocate_dyn_, grow_, grow_dyn_
            );
        }
        use $module::$name;
    };
}

subject!(platform in calls_platform, workloads::PlatformBoxed);
subject!(mimalloc in calls_mimalloc, workloads::MimallocBoxed);
subject!(arena in calls_arena, workloads::ArenaBoxed);
subject!(bumpalo in calls_bumpalo, workloads::RawBump);
subject!(bump_scope in calls_bump_scope, workloads::BumpScopeBoxed);
subject!(slab in calls_slab, workloads::SlabPooled);
subject!(minifree in calls_minifree, workloads::MiniList);
subject!(trace_counters in calls_trace_counters, workloads::TracedPlatform);
subject!(trace_arena in calls_trace_arena, workloads::TracedArena);
subject!(trace_tracking in calls_trace_tracking, workloads::TrackedPlatform);
subject!(subsystem in calls_subsystem, workloads::SubsystemVm);

main!(
    config = LibraryBenchmarkConfig::default()
        .tool(Callgrind::with_args(["--branch-sim=yes"]).entry_point(EntryPoint::Custom("op_*".into())));
    library_benchmark_groups = platform, mimalloc, arena, bumpalo, bump_scope, slab, minifree,
        trace_counters, trace_arena, trace_tracking, subsystem
);
