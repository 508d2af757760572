//! Strings copied into an allocator: the C design's `MEM_STRDUP(alloc, s)`.

use core::ptr::{self, NonNull};

use crate::{AllocError, Allocator, Box, Layout};

/// Copies `s` into memory from `alloc` and returns it as an owned `Box<str, A>`: the C design's
/// `MEM_STRDUP(alloc, s)`.
///
/// The box frees its bytes through `alloc` when dropped. An empty string allocates nothing. In an
/// [`Arena`](crate::Arena), [`Arena::alloc_str`](crate::Arena::alloc_str) is leaner (16 bytes a
/// key instead of 24) when the string lives as long as the arena.
///
/// # Panics
///
/// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) (which aborts by default) if
/// `alloc` cannot provide the bytes, as `Box::new_in` does; [`try_strdup_in`] returns an error
/// instead.
///
/// # Examples
///
/// ```
/// use allockit::{strdup_in, Arena, Box, HashMap};
///
/// let arena = Arena::new();
/// let mut map: HashMap<Box<str, &Arena>, u32, &Arena> = HashMap::new_in(&arena);
/// map.insert(strdup_in("key-1", &arena), 1);
/// assert_eq!(map.get("key-1"), Some(&1));
/// ```
#[inline]
pub fn strdup_in<A: Allocator>(s: &str, alloc: A) -> Box<str, A> {
    match try_strdup_in(s, alloc) {
        Ok(copy) => copy,
        Err(AllocError) => alloc::alloc::handle_alloc_error(Layout::for_value(s)),
    }
}

/// Copies `s` into memory from `alloc`, or returns [`AllocError`] if `alloc` refuses: the
/// fallible `MEM_STRDUP`.
///
/// # Errors
///
/// [`AllocError`] when `alloc` cannot provide `s.len()` bytes (out of memory, or past an arena's
/// limit); `alloc` is dropped and nothing is allocated.
///
/// # Examples
///
/// ```
/// use allockit::{try_strdup_in, Arena};
///
/// let arena = Arena::new();
/// arena.set_limit(Some(8));
/// let name = try_strdup_in("compiler", &arena)?;
/// assert_eq!(&*name, "compiler");
/// assert!(try_strdup_in("x", &arena).is_err()); // the limit is reached
/// # Ok::<(), allockit::AllocError>(())
/// ```
#[inline]
pub fn try_strdup_in<A: Allocator>(s: &str, alloc: A) -> Result<Box<str, A>, AllocError> {
    let len = s.len();
    let bytes = if len == 0 {
        // Like `Box::new_in` for a zero-sized value: no allocation, and `Box` will not free one.
        NonNull::<u8>::dangling()
    } else {
        let block = alloc.allocate(Layout::for_value(s))?.cast::<u8>();
        // SAFETY: `block` is a fresh allocation of at least `len` bytes, disjoint from `s`.
        unsafe { ptr::copy_nonoverlapping(s.as_ptr(), block.as_ptr(), len) };
        block
    };
    let raw = ptr::slice_from_raw_parts_mut(bytes.as_ptr(), len) as *mut str;
    // SAFETY: `raw` points to `len` initialised bytes copied from a `str` (valid UTF-8), allocated
    // by `alloc` with the layout of `[u8; len]`, which is the layout `Box<str, A>` frees with; for
    // `len == 0` the pointer is dangling and well aligned, and `Box` frees nothing.
    Ok(unsafe { Box::from_raw_in(raw, alloc) })
}
