//! Under the `nightly` feature: core's unstable `Allocator` trait for every strategy and adaptor,
//! so that std's own `Vec<T, A>` and `Box<T, A>` take them.
//!
//! Each strategy implements allocator-api2 0.2's `Allocator` (what hashbrown uses) once, in its
//! own file. The impls here forward every method of core's trait to that one: no logic is written
//! twice, and a fix to a strategy reaches both traits. The two traits have the same methods, the
//! same `Layout` and `NonNull<[u8]>`, and the same contract; only their `AllocError` types differ,
//! and each impl converts one into the other.
//!
//! allockit never turns on `allocator-api2/nightly`, `hashbrown/nightly` or `bumpalo/allocator_api`
//! (each changes what the others compile against), so nothing here depends on what those crates
//! do with their own flags.
//!
//! `Platform` is the exception: it is allocator-api2's `Global` (so that `HashMap::new()` is an
//! allockit `HashMap`), a type of another crate, for which the orphan rule forbids this crate to
//! implement core's trait. std's collections default to std's `Global`, the same global allocator.
//!
//! **One combination cannot work.** When some other crate in the build turns on
//! `allocator-api2/nightly`, allocator-api2's `Allocator` *is* core's, so each impl below would
//! implement one trait a second time, and the compiler rejects the build with "conflicting
//! implementations of trait `Allocator`". The error's source line, shown with it, names the
//! cause: turn allockit's `nightly` feature off. Nothing is lost by that: allockit's impls are
//! then core's impls, so std's collections take its allocators anyway (the README's table of
//! combinations; CI builds both cases in `checks/`).

use core::alloc::{AllocError as CoreAllocError, Layout};
use core::ptr::NonNull;

use crate::Allocator;

/// Converts allocator-api2's error into core's.
#[inline(always)]
fn core_error<T>(result: Result<T, crate::AllocError>) -> Result<T, CoreAllocError> {
    result.map_err(|crate::AllocError| CoreAllocError)
}

/// Implements core's `Allocator` for a type by forwarding every method to its allocator-api2
/// impl. The impl line carries the explanation, so that a conflict error shows it.
macro_rules! forward_to_allocator_api2 {
    ($(impl[$($generics:tt)*] for $ty:ty;)*) => {$(
        // SAFETY: every method forwards to `<$ty as allocator_api2::alloc::Allocator>` with the
        // same arguments, whose contract is word for word core's (blocks valid while the
        // allocator lives, moves invalidate nothing, any block may be passed to any method), so
        // what that impl promises, this one does; the blocks are the same blocks.
        unsafe impl<$($generics)*> core::alloc::Allocator
            for $ty // Conflict? A crate enabled `allocator-api2/nightly`: turn allockit's `nightly` off.
        {
            #[inline(always)]
            fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, CoreAllocError> {
                core_error(Allocator::allocate(self, layout))
            }

            #[inline(always)]
            fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, CoreAllocError> {
                core_error(Allocator::allocate_zeroed(self, layout))
            }

            #[inline(always)]
            unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
                // SAFETY: the caller's guarantees for core's `deallocate`, which are those of
                // allocator-api2's.
                unsafe { Allocator::deallocate(self, ptr, layout) }
            }

            #[inline(always)]
            unsafe fn grow(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, CoreAllocError> {
                // SAFETY: the caller's guarantees for core's `grow`, which are those of
                // allocator-api2's.
                core_error(unsafe { Allocator::grow(self, ptr, old_layout, new_layout) })
            }

            #[inline(always)]
            unsafe fn grow_zeroed(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, CoreAllocError> {
                // SAFETY: as for `grow`.
                core_error(unsafe { Allocator::grow_zeroed(self, ptr, old_layout, new_layout) })
            }

            #[inline(always)]
            unsafe fn shrink(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, CoreAllocError> {
                // SAFETY: as for `grow`.
                core_error(unsafe { Allocator::shrink(self, ptr, old_layout, new_layout) })
            }
        }
    )*};
}

// `&Arena`, `&Slab<A>`, `&Trace<A>`, ... follow from core's impl for references.
forward_to_allocator_api2! {
    impl[] for crate::Arena;
    impl[A: Allocator] for crate::Slab<A>;
    impl[A: Allocator] for crate::Trace<A>;
    impl[A: Allocator] for crate::Failing<A>;
    impl[] for crate::subsystem::Account;
    impl[D: crate::subsystem::Define] for crate::subsystem::Handle<D>;
}
