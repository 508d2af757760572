//! Helpers shared by the test binaries: sizes that shrink under Miri, a seeded generator, and
//! byte patterns that name the block they belong to.
#![allow(dead_code)] // each test binary uses its own subset

use core::ptr::NonNull;

pub mod inner;
pub mod model;

/// The one knob for test sizes: full under a normal run, small under Miri (which is ~1000x slower).
pub const fn scaled(normal: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { normal }
}

/// A small deterministic generator (SplitMix64), so that every run tests the same sequence.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..end`.
    pub fn below(&mut self, end: usize) -> usize {
        (self.next_u64() % end as u64) as usize
    }
}

/// The longest block `fill` can pattern.
pub const MAX_PATTERN: usize = 1 << 14;

/// `PATTERN[k] == k % 251`: a block tagged `tag` holds the slice starting at `tag * 31 % 251`,
/// so blocks with different tags differ, and a shifted copy shows. Copying and comparing whole
/// slices (memcpy and memcmp) keeps the tests fast under Miri.
static PATTERN: [u8; MAX_PATTERN + 251] = {
    let mut table = [0; MAX_PATTERN + 251];
    let mut k = 0;
    while k < table.len() {
        table[k] = (k % 251) as u8;
        k += 1;
    }
    table
};

/// The bytes a block of `len` bytes tagged `tag` holds.
pub fn pattern(tag: usize, len: usize) -> &'static [u8] {
    assert!(
        len <= MAX_PATTERN,
        "blocks of {len} bytes are longer than the test pattern"
    );
    let start = tag.wrapping_mul(31) % 251;
    &PATTERN[start..start + len]
}

/// Fills `len` bytes at `ptr` with the pattern of `tag`.
///
/// # Safety
///
/// - `ptr` must be valid for writes of `len` bytes.
pub unsafe fn fill(ptr: NonNull<u8>, len: usize, tag: usize) {
    let bytes = pattern(tag, len);
    // SAFETY: the caller guarantees `len` writable bytes at `ptr`; `bytes` is a static table,
    // which a block handed out by an allocator cannot overlap.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), len) };
}

/// Asserts that `len` bytes at `ptr` still hold the pattern of `tag`.
///
/// # Safety
///
/// - `ptr` must be valid for reads of `len` initialised bytes.
pub unsafe fn check(ptr: NonNull<u8>, len: usize, tag: usize) {
    // SAFETY: the caller guarantees `len` readable, initialised bytes at `ptr`.
    let actual = unsafe { core::slice::from_raw_parts(ptr.as_ptr(), len) };
    if actual != pattern(tag, len) {
        let at = (0..len)
            .find(|&i| actual[i] != pattern(tag, len)[i])
            .unwrap_or(0);
        panic!("block {tag}: byte {at} of {len} changed");
    }
}

/// Asserts that `len` bytes at `ptr` are all zero.
///
/// # Safety
///
/// - `ptr` must be valid for reads of `len` initialised bytes.
pub unsafe fn check_zeroed(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees `len` readable, initialised bytes at `ptr`.
    let actual = unsafe { core::slice::from_raw_parts(ptr.as_ptr(), len) };
    if let Some(at) = actual.iter().position(|&b| b != 0) {
        panic!("byte {at} of {len} should be zero, is {}", actual[at]);
    }
}
