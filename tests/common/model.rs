//! Programs of allocator operations run against a model of the live blocks and their bytes.
//!
//! Shared by the property tests (`tests/properties.rs`, programs from proptest) and the fuzz
//! target (`fuzz/`, programs decoded from fuzzer bytes). After every step the model checks that
//! every live block is aligned, that no two live blocks overlap, and that every block still holds
//! the bytes written into it.

use core::ptr::NonNull;

use allockit::{AllocError, Allocator, Layout, Slab};

use super::{check, check_zeroed, fill};

/// One operation. Indices pick a live block modulo the number of live blocks (no-op if none).
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Allocate `size` bytes (0..=4096) aligned to `1 << align_shift` (up to 4096), zeroed or not.
    Alloc {
        size: usize,
        align_shift: u8,
        zeroed: bool,
    },
    /// Grow a live block by `extra` bytes (its tail zeroed with `zeroed`).
    Grow {
        index: usize,
        extra: usize,
        zeroed: bool,
    },
    /// Shrink a live block to `per_mille` thousandths of its size, with a stricter alignment
    /// `1 << align_shift` if that is larger than its own.
    Shrink {
        index: usize,
        per_mille: u16,
        align_shift: u8,
    },
    /// Free a live block.
    Free { index: usize },
    /// Reset the allocator, if it has a reset: every block is gone at once.
    Reset,
}

/// The largest size an `Alloc` asks for, and the largest a block grows to.
pub const MAX_SIZE: usize = 4096;
/// The largest alignment shift (4096).
pub const MAX_ALIGN_SHIFT: u8 = 12;
/// The most blocks a program keeps live: past it, an `Alloc` frees a block instead, so that the
/// checks after every step stay cheap in long programs.
pub const MAX_LIVE: usize = 64;

impl Op {
    /// Decodes an operation from fuzzer bytes (6 bytes per operation); `None` at the end.
    pub fn decode(bytes: &mut &[u8]) -> Option<Op> {
        let (head, rest) = bytes.split_first_chunk::<6>()?;
        *bytes = rest;
        let wide = usize::from(u16::from_le_bytes([head[1], head[2]]));
        let index = usize::from(head[3]);
        Some(match head[0] % 16 {
            0..=5 => Op::Alloc {
                size: wide % (MAX_SIZE + 1),
                align_shift: head[4] % (MAX_ALIGN_SHIFT + 1),
                zeroed: head[5] & 1 != 0,
            },
            6..=8 => Op::Grow {
                index,
                extra: wide % (MAX_SIZE + 1),
                zeroed: head[5] & 1 != 0,
            },
            9..=10 => Op::Shrink {
                index,
                per_mille: (wide % 1001) as u16,
                align_shift: head[4] % (MAX_ALIGN_SHIFT + 1),
            },
            11..=14 => Op::Free { index },
            _ => Op::Reset,
        })
    }
}

/// A live block as the model knows it: where, its layout, and the tag of the pattern it holds.
#[derive(Clone, Copy, Debug)]
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    tag: usize,
}

/// What a program did, for the tests' own statistics.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    /// Operations run.
    pub operations: usize,
    /// Requests the allocator refused (only allowed where failures were expected).
    pub refusals: usize,
    /// The most blocks live at once.
    pub peak_live: usize,
}

/// Resets an allocator, given the blocks live at that moment.
pub type Reset<A> = fn(&mut A, Vec<(NonNull<u8>, Layout)>);

/// Runs `ops` on `alloc` and frees whatever is left at the end.
///
/// `reset` resets the allocator (for `Op::Reset`), given the blocks live at that moment, of which
/// it must free those a reset does not take back (a slab's upstream blocks); without it,
/// `Op::Reset` frees every block one by one. `may_fail` says whether `AllocError` is an acceptable answer (a `Failing` allocator);
/// otherwise it is a test failure.
pub fn run<A: Allocator>(
    alloc: &mut A,
    ops: &[Op],
    reset: Option<Reset<A>>,
    may_fail: bool,
) -> Outcome {
    let mut live: Vec<Block> = Vec::new();
    let mut outcome = Outcome::default();
    let mut next_tag = 0usize;
    let refused = |result: AllocError, what: &str| {
        assert!(may_fail, "{what} failed: {result:?}");
    };
    for (step, &op) in ops.iter().enumerate() {
        outcome.operations += 1;
        let op = match op {
            Op::Alloc { size, .. } if live.len() >= MAX_LIVE => Op::Free { index: size },
            op => op,
        };
        match op {
            Op::Alloc {
                size,
                align_shift,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                let result = if zeroed {
                    alloc.allocate_zeroed(layout)
                } else {
                    alloc.allocate(layout)
                };
                match result {
                    Ok(block) => {
                        assert!(block.len() >= size, "step {step}: block too short");
                        let ptr = block.cast::<u8>();
                        if zeroed {
                            // SAFETY: `allocate_zeroed` returned `block.len()` zeroed bytes.
                            unsafe { check_zeroed(ptr, block.len()) };
                        }
                        next_tag += 1;
                        // SAFETY: the block holds at least `size` writable bytes.
                        unsafe { fill(ptr, size, next_tag) };
                        live.push(Block {
                            ptr,
                            layout,
                            tag: next_tag,
                        });
                    }
                    Err(e) => {
                        outcome.refusals += 1;
                        refused(e, "allocate");
                    }
                }
            }
            Op::Grow {
                index,
                extra,
                zeroed,
            } if !live.is_empty() => {
                let i = index % live.len();
                let block = live[i];
                let new_size = (block.layout.size() + extra).min(MAX_SIZE.max(block.layout.size()));
                let new = Layout::from_size_align(new_size, block.layout.align()).unwrap();
                // SAFETY: `block` is live with its layout, and `new` is at least as large.
                let result = unsafe {
                    if zeroed {
                        alloc.grow_zeroed(block.ptr, block.layout, new)
                    } else {
                        alloc.grow(block.ptr, block.layout, new)
                    }
                };
                match result {
                    Ok(grown) => {
                        assert!(
                            grown.len() >= new_size,
                            "step {step}: grown block too short"
                        );
                        let ptr = grown.cast::<u8>();
                        // SAFETY: the old bytes were preserved; with `zeroed`, the rest up to the
                        // returned length is zero.
                        unsafe {
                            check(ptr, block.layout.size(), block.tag);
                            if zeroed {
                                check_zeroed(
                                    ptr.add(block.layout.size()),
                                    grown.len() - block.layout.size(),
                                );
                            }
                        }
                        next_tag += 1;
                        // SAFETY: `new_size` writable bytes.
                        unsafe { fill(ptr, new_size, next_tag) };
                        live[i] = Block {
                            ptr,
                            layout: new,
                            tag: next_tag,
                        };
                    }
                    Err(e) => {
                        outcome.refusals += 1;
                        refused(e, "grow");
                    }
                }
            }
            Op::Shrink {
                index,
                per_mille,
                align_shift,
            } if !live.is_empty() => {
                let i = index % live.len();
                let block = live[i];
                let new_size = block.layout.size() * usize::from(per_mille) / 1000;
                let align = block.layout.align().max(1 << align_shift);
                let new = Layout::from_size_align(new_size, align).unwrap();
                // SAFETY: `block` is live with its layout, and `new` is no larger.
                match unsafe { alloc.shrink(block.ptr, block.layout, new) } {
                    Ok(shrunk) => {
                        assert!(shrunk.len() >= new_size);
                        let ptr = shrunk.cast::<u8>();
                        assert_eq!(ptr.as_ptr().addr() % align, 0, "step {step}: misaligned");
                        // SAFETY: the first `new_size` bytes were preserved.
                        unsafe { check(ptr, new_size, block.tag) };
                        live[i] = Block {
                            ptr,
                            layout: new,
                            tag: block.tag,
                        };
                    }
                    Err(e) => {
                        outcome.refusals += 1;
                        refused(e, "shrink");
                    }
                }
            }
            Op::Free { index } if !live.is_empty() => {
                let block = live.swap_remove(index % live.len());
                // SAFETY: the block is live with its layout and holds its pattern; freed once.
                unsafe {
                    check(block.ptr, block.layout.size(), block.tag);
                    alloc.deallocate(block.ptr, block.layout);
                }
            }
            Op::Reset => match reset {
                Some(reset) => {
                    let blocks = live.drain(..).map(|b| (b.ptr, b.layout)).collect();
                    reset(alloc, blocks);
                }
                None => free_all(alloc, &mut live),
            },
            _ => {}
        }
        outcome.peak_live = outcome.peak_live.max(live.len());
        check_all(&live, step);
    }
    free_all(alloc, &mut live);
    outcome
}

/// Frees every live block, checking its bytes first.
fn free_all<A: Allocator>(alloc: &A, live: &mut Vec<Block>) {
    for block in live.drain(..) {
        // SAFETY: as in `Op::Free`.
        unsafe {
            check(block.ptr, block.layout.size(), block.tag);
            alloc.deallocate(block.ptr, block.layout);
        }
    }
}

/// Every live block is aligned, holds its bytes, and no two overlap.
fn check_all(live: &[Block], step: usize) {
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(live.len());
    for block in live {
        let addr = block.ptr.as_ptr().addr();
        assert_eq!(
            addr % block.layout.align(),
            0,
            "step {step}: block {} misaligned for {:?}",
            block.tag,
            block.layout
        );
        // SAFETY: the block is live and holds `layout.size()` bytes of its pattern.
        unsafe { check(block.ptr, block.layout.size(), block.tag) };
        if block.layout.size() > 0 {
            spans.push((addr, block.layout.size()));
        }
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        assert!(
            pair[0].0 + pair[0].1 <= pair[1].0,
            "step {step}: blocks at {:#x} (+{}) and {:#x} overlap",
            pair[0].0,
            pair[0].1,
            pair[1].0
        );
    }
}

/// A slab's reset takes back its class blocks; blocks it passed upstream are freed one by one
/// first (they are the upstream's, not the slab's to reclaim).
pub fn reset_slab(slab: &mut Slab, live: Vec<(NonNull<u8>, Layout)>) {
    for (ptr, layout) in live {
        if layout.size() > 0 && slab.class_for(layout).is_none() {
            // SAFETY: a live block of `slab`, freed once, before the reset.
            unsafe { slab.deallocate(ptr, layout) };
        }
    }
    slab.reset();
}
