//! The live set of a tracking `Trace`: what it knows of every live block, kept small.
//!
//! A tracking trace with many live blocks spends most of its time in this set, and a good part of
//! it faulting in and rehashing the table as it grows, so the table holds 16 bytes per block: the
//! address, and the record packed into one word (a 32-bit size, a 16-bit slack and the
//! alignment's logarithm). The rare record that does not fit (4 GiB or more, or a slack of 64 KiB
//! or more) is marked in the table and kept whole in a second table. A [`Record`] itself is 16
//! bytes, `Option<Record>` too, so that records travel between functions in registers.
//! Backtraces, when a trace captures them, live in a third table, which is empty otherwise and
//! then costs nothing.

use core::num::NonZeroU8;

use super::{AddressHash, Backtrace, Bookkeeping};
use crate::Layout;

/// What a tracking trace knows of a live block, apart from its backtrace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Record {
    /// The size it was requested with (or last grown or shrunk to).
    size: usize,
    /// The returned length minus `size`, or `u32::MAX` if it does not fit below that: then the
    /// length counts as unbounded (every size from `size` up fits), so that no free of such a
    /// block is ever called misuse; only a far too large free of it goes unnoticed.
    slack: u32,
    /// The alignment's base-2 logarithm, plus one (so that `Option<Record>` needs no more room).
    align_code: NonZeroU8,
}

impl Record {
    /// The record of a block requested with `size` and `align` whose returned length is `len`.
    #[inline]
    pub(super) fn new(size: usize, len: usize, align: usize) -> Self {
        debug_assert!(align.is_power_of_two() && len >= size);
        Self {
            size,
            slack: u32::try_from(len - size).unwrap_or(u32::MAX),
            // At most 64 (`usize::BITS - 1 + 1`), never 0.
            align_code: NonZeroU8::new(align.trailing_zeros() as u8 + 1).unwrap_or(NonZeroU8::MIN),
        }
    }

    /// The size it was requested with.
    #[inline]
    pub(super) fn size(self) -> usize {
        self.size
    }

    /// The length the inner allocator returned: the largest size it may be freed with
    /// (`usize::MAX` if that was too far above the size to keep).
    #[inline]
    pub(super) fn len(self) -> usize {
        match self.slack {
            u32::MAX => usize::MAX,
            slack => self.size + slack as usize,
        }
    }

    /// The alignment it was requested with.
    #[inline]
    pub(super) fn align(self) -> usize {
        1 << (self.align_code.get() - 1)
    }

    /// The layout it was requested with.
    pub(super) fn layout(self) -> Layout {
        // SAFETY: `size` and `align` come from a valid `Layout` given by a caller.
        unsafe { Layout::from_size_align_unchecked(self.size, self.align()) }
    }

    /// Whether `layout` fits the block, by the `Allocator` contract: the same alignment, and a
    /// size from the requested one up to the returned length.
    #[inline]
    pub(super) fn fits(self, layout: Layout) -> bool {
        layout.align() == self.align() && (self.size..=self.len()).contains(&layout.size())
    }
}

/// A record packed into one word: the size in bits 0..32, the slack in 32..48, the alignment code
/// in 48..56; or [`Packed::BIG`] for a record kept whole in [`Live::big`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct Packed(u64);

impl Packed {
    /// The mark of a record too large to pack (its alignment code, 0xFF, is never a real one).
    const BIG: Self = Self(u64::MAX);

    #[inline]
    fn of(record: Record) -> Option<Self> {
        let size = u32::try_from(record.size).ok()?;
        let slack = u16::try_from(record.slack).ok()?;
        Some(Self(
            u64::from(size) | u64::from(slack) << 32 | u64::from(record.align_code.get()) << 48,
        ))
    }

    /// The record, or `None` for [`Packed::BIG`].
    #[inline]
    fn unpack(self) -> Option<Record> {
        let align_code = NonZeroU8::new((self.0 >> 48) as u8).filter(|_| self != Self::BIG)?;
        Some(Record {
            size: (self.0 & 0xFFFF_FFFF) as usize,
            slack: u32::from((self.0 >> 32) as u16),
            align_code,
        })
    }
}

/// The records of every live block, keyed by address, and the backtraces of those that have one.
/// The keys of `big` are the keys of `records` marked [`Packed::BIG`]; the keys of `backtraces`
/// are keys of `records`, or of records that [`Live::remove`] took out and that are on their way
/// back ([`Live::restore`]) or to a new address.
pub(super) struct Live {
    records: hashbrown::HashMap<usize, Packed, AddressHash, Bookkeeping>,
    big: hashbrown::HashMap<usize, Record, AddressHash, Bookkeeping>,
    backtraces: hashbrown::HashMap<usize, Backtrace, AddressHash, Bookkeeping>,
}

impl Live {
    pub(super) const fn new() -> Self {
        Self {
            records: hashbrown::HashMap::with_hasher_in(AddressHash, Bookkeeping {}),
            big: hashbrown::HashMap::with_hasher_in(AddressHash, Bookkeeping {}),
            backtraces: hashbrown::HashMap::with_hasher_in(AddressHash, Bookkeeping {}),
        }
    }

    /// How many blocks are live.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Records a new block at `address`. If the address was live already (an inner allocator
    /// that handed out a live block again), returns what it displaced, for the caller to report
    /// and drop.
    #[inline]
    pub(super) fn insert(
        &mut self,
        address: usize,
        record: Record,
        backtrace: Option<Backtrace>,
    ) -> Option<(Record, Option<Backtrace>)> {
        match (self.put(address, record), backtrace) {
            (None, None) => None,
            (None, Some(backtrace)) => {
                self.backtraces.insert(address, backtrace);
                None
            }
            (Some(old), backtrace) => {
                let old_backtrace = match backtrace {
                    Some(backtrace) => self.backtraces.insert(address, backtrace),
                    None => self.backtraces.remove(&address),
                };
                Some((old, old_backtrace))
            }
        }
    }

    /// Takes the record of the block at `address` out, if it is live. Its backtrace stays, for
    /// [`take_backtrace`](Self::take_backtrace) or [`restore`](Self::restore).
    #[inline]
    pub(super) fn remove(&mut self, address: usize) -> Option<Record> {
        let packed = self.records.remove(&address)?;
        packed.unpack().or_else(|| self.big.remove(&address))
    }

    /// Puts back a record that [`remove`](Self::remove) took out, with its backtrace.
    pub(super) fn restore(&mut self, address: usize, record: Record) {
        self.put(address, record);
    }

    /// Puts `record` in the table at `address`, returning the record it displaces.
    #[inline]
    fn put(&mut self, address: usize, record: Record) -> Option<Record> {
        let (packed, old_big) = match Packed::of(record) {
            Some(packed) => (packed, None),
            None => (Packed::BIG, self.big.insert(address, record)),
        };
        let old = self.records.insert(address, packed)?;
        // A displaced big record is in `old_big` if the new one is big too, else still in `big`.
        old.unpack()
            .or(old_big)
            .or_else(|| self.big.remove(&address))
    }

    /// Takes out the backtrace of the block at `address`, whose record is out.
    #[inline]
    pub(super) fn take_backtrace(&mut self, address: usize) -> Option<Backtrace> {
        if self.backtraces.is_empty() {
            None
        } else {
            self.backtraces.remove(&address)
        }
    }

    /// The backtrace of the block at `address`, if it has one.
    pub(super) fn backtrace(&self, address: usize) -> Option<&Backtrace> {
        self.backtraces.get(&address)
    }

    /// Every live block: its address, record and backtrace, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, Record, Option<Backtrace>)> + '_ {
        self.records.iter().filter_map(|(&address, &packed)| {
            let record = packed
                .unpack()
                .or_else(|| self.big.get(&address).copied())?;
            Some((address, record, self.backtraces.get(&address).cloned()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_small_enough_for_registers() {
        assert_eq!(size_of::<Option<Record>>(), 2 * size_of::<usize>());
    }

    #[test]
    fn records_keep_what_they_are_given() {
        for (size, len, align) in [
            (1, 1, 1),
            (20, 32, 8),
            (4096, 4096, 4096),
            (
                1 << (usize::BITS - 3),
                1 << (usize::BITS - 3),
                1 << (usize::BITS - 3),
            ),
            (0, u32::MAX as usize - 1, 2),
        ] {
            let record = Record::new(size, len, align);
            assert_eq!(
                (record.size(), record.len(), record.align()),
                (size, len, align)
            );
            assert_eq!(
                record.layout(),
                Layout::from_size_align(size, align).unwrap()
            );
        }
    }

    #[test]
    fn a_record_fits_the_layouts_of_the_contract() {
        let record = Record::new(20, 32, 8);
        let fits = |size, align| record.fits(Layout::from_size_align(size, align).unwrap());
        assert!(fits(20, 8) && fits(26, 8) && fits(32, 8));
        assert!(!fits(19, 8) && !fits(33, 8) && !fits(20, 4) && !fits(20, 16));
    }

    #[test]
    fn a_slack_too_large_to_keep_counts_as_unbounded() {
        let record = Record::new(8, 8 + u32::MAX as usize, 8);
        assert_eq!((record.size(), record.len()), (8, usize::MAX));
        assert!(record.fits(Layout::from_size_align(usize::MAX / 4, 8).unwrap()));
        assert!(!record.fits(Layout::from_size_align(7, 8).unwrap()));
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn records_too_large_to_pack_are_kept_whole() {
        let small = Record::new(24, 32, 8);
        let huge_size = Record::new(1 << 32, 1 << 32, 16);
        let huge_slack = Record::new(8, 8 + (1 << 16), 8);
        assert!(Packed::of(small).is_some());
        assert!(Packed::of(huge_size).is_none() && Packed::of(huge_slack).is_none());
        let mut live = Live::new();
        for (i, record) in [small, huge_size, huge_slack].into_iter().enumerate() {
            assert!(live.insert(i * 16, record, None).is_none());
        }
        assert_eq!(live.big.len(), 2);
        let mut all: alloc::vec::Vec<_> = live.iter().map(|(a, r, _)| (a, r)).collect();
        all.sort_by_key(|&(a, _)| a);
        assert_eq!(all, [(0, small), (16, huge_size), (32, huge_slack)]);
        // Displacing, in each direction, hands back the old record and leaves no stale big one.
        assert_eq!(live.insert(0, huge_size, None).unwrap().0, small);
        assert_eq!(live.insert(16, small, None).unwrap().0, huge_size);
        assert_eq!(live.insert(32, huge_size, None).unwrap().0, huge_slack);
        assert_eq!(live.remove(0), Some(huge_size));
        assert_eq!(live.remove(16), Some(small));
        assert_eq!(live.remove(32), Some(huge_size));
        assert!(live.big.is_empty() && live.len() == 0);
    }

    #[test]
    fn inserting_a_live_address_again_returns_the_old_record() {
        let mut live = Live::new();
        assert!(live.insert(0x40, Record::new(16, 16, 8), None).is_none());
        let (old, _) = live.insert(0x40, Record::new(32, 48, 16), None).unwrap();
        assert_eq!(old, Record::new(16, 16, 8));
        assert_eq!(live.len(), 1);
        let (address, now, _) = live.iter().next().unwrap();
        assert_eq!((address, now), (0x40, Record::new(32, 48, 16)));
        assert_eq!(live.remove(0x40), Some(now));
        assert_eq!(live.remove(0x40), None);
    }

    #[cfg(feature = "std")]
    #[test]
    fn backtraces_follow_their_block() {
        let backtrace = || Some(std::sync::Arc::new(std::backtrace::Backtrace::disabled()));
        let record = Record::new(8, 8, 8);
        let mut live = Live::new();
        live.insert(0x100, record, backtrace());
        live.insert(0x200, record, None);
        assert!(live.iter().any(|(a, _, b)| a == 0x100 && b.is_some()));
        assert!(live.iter().any(|(a, _, b)| a == 0x200 && b.is_none()));
        // Out and back (a failed resize): the backtrace stays.
        let out = live.remove(0x100).unwrap();
        live.restore(0x100, out);
        assert!(live.backtrace(0x100).is_some());
        // Out for good (a free): the backtrace comes out too.
        live.remove(0x100).unwrap();
        assert!(live.take_backtrace(0x100).is_some());
        assert!(live.backtraces.is_empty());
        // A displaced record hands back its backtrace.
        live.insert(0x300, record, backtrace());
        let (_, old) = live.insert(0x300, record, None).unwrap();
        assert!(old.is_some() && live.backtraces.is_empty());
    }
}
