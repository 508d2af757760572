//! The live set of a tracking `Trace`: what it knows of every live block, kept small.
//!
//! A tracking trace with many live blocks spends most of its time missing the cache in this set,
//! and growing it, so each entry is 24 bytes with its key: the requested size, the slack the
//! inner allocator gave on top (the returned length minus the size) and the alignment's
//! logarithm. Backtraces, when a trace captures them, live in a second map that is empty
//! otherwise, and so costs nothing when they are off.

#[cfg(feature = "std")]
use super::Backtrace;
use super::{AddressHash, Bookkeeping, Record};

/// One block's entry.
#[derive(Clone, Copy)]
struct Compact {
    /// The size it was requested with (or last grown or shrunk to).
    size: usize,
    /// The returned length minus `size`, or `u32::MAX` if it does not fit below that: then the
    /// length counts as unbounded (every size from `size` up fits), so that no free of such a
    /// block is ever called misuse; only a far too large free goes unnoticed.
    slack: u32,
    /// The alignment's base-2 logarithm.
    align_shift: u8,
}

impl Compact {
    fn of(record: &Record) -> Self {
        Self {
            size: record.size,
            slack: u32::try_from(record.len - record.size).unwrap_or(u32::MAX),
            align_shift: record.align.trailing_zeros() as u8,
        }
    }

    fn align(self) -> usize {
        1 << self.align_shift
    }

    fn len(self) -> usize {
        match self.slack {
            u32::MAX => usize::MAX,
            slack => self.size + slack as usize,
        }
    }
}

/// The records of every live block, keyed by address.
pub(super) struct Live {
    records: hashbrown::HashMap<usize, Compact, AddressHash, Bookkeeping>,
    /// The backtraces of the live blocks that have one.
    #[cfg(feature = "std")]
    backtraces: hashbrown::HashMap<usize, Backtrace, AddressHash, Bookkeeping>,
}

impl Live {
    pub(super) const fn new() -> Self {
        Self {
            records: hashbrown::HashMap::with_hasher_in(AddressHash, Bookkeeping {}),
            #[cfg(feature = "std")]
            backtraces: hashbrown::HashMap::with_hasher_in(AddressHash, Bookkeeping {}),
        }
    }

    /// How many blocks are live.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Records the block at `address`; returns the record it displaces, if the address was live
    /// already.
    pub(super) fn insert(&mut self, address: usize, record: Record) -> Option<Record> {
        let old = self.records.insert(address, Compact::of(&record));
        #[cfg(feature = "std")]
        let old_backtrace = match record.backtrace {
            Some(backtrace) => self.backtraces.insert(address, backtrace),
            None if self.backtraces.is_empty() => None,
            None => self.backtraces.remove(&address),
        };
        old.map(|old| {
            Self::expand(
                old,
                #[cfg(feature = "std")]
                old_backtrace,
            )
        })
    }

    /// Takes the record of the block at `address` out, if it is live.
    pub(super) fn remove(&mut self, address: usize) -> Option<Record> {
        let compact = self.records.remove(&address)?;
        #[cfg(feature = "std")]
        let backtrace = if self.backtraces.is_empty() {
            None
        } else {
            self.backtraces.remove(&address)
        };
        Some(Self::expand(
            compact,
            #[cfg(feature = "std")]
            backtrace,
        ))
    }

    /// Every live block's record, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, Record)> + '_ {
        self.records.iter().map(|(&address, &compact)| {
            (
                address,
                Self::expand(
                    compact,
                    #[cfg(feature = "std")]
                    self.backtraces.get(&address).cloned(),
                ),
            )
        })
    }

    fn expand(compact: Compact, #[cfg(feature = "std")] backtrace: Option<Backtrace>) -> Record {
        Record {
            size: compact.size,
            len: compact.len(),
            align: compact.align(),
            #[cfg(feature = "std")]
            backtrace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(size: usize, len: usize, align: usize) -> Record {
        Record {
            size,
            len,
            align,
            #[cfg(feature = "std")]
            backtrace: None,
        }
    }

    #[test]
    fn records_come_back_as_they_went_in() {
        let mut live = Live::new();
        for (i, &(size, len, align)) in [
            (1, 1, 1),
            (20, 32, 8),
            (4096, 4096, 4096),
            (usize::MAX / 2, usize::MAX / 2, 1 << (usize::BITS - 2)),
            (1, u32::MAX as usize, 2),
        ]
        .iter()
        .enumerate()
        {
            let address = 0x1000 * (i + 1);
            assert!(live.insert(address, record(size, len, align)).is_none());
            let back = live.remove(address).unwrap();
            assert_eq!((back.size, back.len, back.align), (size, len, align));
        }
        assert_eq!(live.len(), 0);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_slack_too_large_to_keep_counts_as_unbounded() {
        let mut live = Live::new();
        live.insert(0x10, record(8, 8 + u32::MAX as usize, 8));
        let back = live.remove(0x10).unwrap();
        assert_eq!((back.size, back.len), (8, usize::MAX));
        assert!(back.fits(crate::Layout::from_size_align(8 + (1 << 40), 8).unwrap()));
        assert!(!back.fits(crate::Layout::from_size_align(7, 8).unwrap()));
    }

    #[test]
    fn inserting_a_live_address_again_returns_the_old_record() {
        let mut live = Live::new();
        live.insert(0x40, record(16, 16, 8));
        let old = live.insert(0x40, record(32, 48, 16)).unwrap();
        assert_eq!((old.size, old.len, old.align), (16, 16, 8));
        assert_eq!(live.len(), 1);
        let now = live.iter().next().unwrap();
        assert_eq!(
            (now.0, now.1.size, now.1.len, now.1.align),
            (0x40, 32, 48, 16)
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn backtraces_follow_their_block() {
        let mut live = Live::new();
        let mut with = record(8, 8, 8);
        with.backtrace = Some(std::sync::Arc::new(std::backtrace::Backtrace::disabled()));
        live.insert(0x100, with);
        live.insert(0x200, record(8, 8, 8));
        assert!(
            live.iter()
                .any(|(a, r)| a == 0x100 && r.backtrace.is_some())
        );
        assert!(
            live.iter()
                .any(|(a, r)| a == 0x200 && r.backtrace.is_none())
        );
        assert!(live.remove(0x100).unwrap().backtrace.is_some());
        assert!(live.backtraces.is_empty());
        // A block recorded again without a backtrace loses the one it had.
        let mut again = record(8, 8, 8);
        again.backtrace = Some(std::sync::Arc::new(std::backtrace::Backtrace::disabled()));
        live.insert(0x300, again);
        live.insert(0x300, record(16, 16, 8));
        assert!(live.remove(0x300).unwrap().backtrace.is_none());
        assert!(live.backtraces.is_empty());
    }
}
