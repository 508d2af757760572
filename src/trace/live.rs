//! The live set of a tracking `Trace`: what it knows of every live block, kept small, in one table
//! per shard (see `shards.rs`), each behind its own lock.
//!
//! A tracking trace with many live blocks spends most of its time in these tables, and a good part
//! of it faulting in and rehashing them as they grow, so a table holds 16 bytes per block: the
//! address, and the record packed into one word (a 32-bit size, a 16-bit slack and the
//! alignment's logarithm). The rare record that does not fit (4 GiB or more, or a slack of 64 KiB
//! or more) is marked in the table and kept whole in a second table. A [`Record`] itself is 16
//! bytes, `Option<Record>` too, so that records travel between functions in registers.
//! Backtraces, when a trace captures them, live in a third table, which is empty otherwise and
//! then costs nothing. A record leaves its table together with its backtrace ([`Live::take`]),
//! and both travel with the call (a resize puts them back under the block's new address), so a
//! backtrace can neither be left behind under an address nor end up on another block.
//!
//! Nothing allocates, frees or drops under a table's lock: [`insert`] makes room by building a
//! larger table outside the lock and moving the entries over under it (no allocation: the new
//! table has room), and the old table's memory, like any record displaced, is dropped after the
//! lock is released. The tables' memory comes from [`Bookkeeping`], never the traced allocator.
//! Each table also remembers the last few frees it saw, so that a double free can say what the
//! block was.

use core::num::NonZeroU8;

use super::{AddressHash, Backtrace, Bookkeeping};
use crate::sync::Mutex;
use crate::{AllocError, Layout};

/// How many recent frees each table remembers for its double-free messages.
const FREED_HISTORY: usize = 16;

type Table<V> = hashbrown::HashMap<usize, V, AddressHash, Bookkeeping>;

/// What a tracking trace knows of a live block, apart from its backtrace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
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
    pub(crate) fn new(size: usize, len: usize, align: usize) -> Self {
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
    pub(crate) fn size(self) -> usize {
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

/// A record out of its table, with its backtrace: what [`Live::take`] hands over.
pub(crate) struct Taken {
    pub(crate) record: Record,
    pub(crate) backtrace: Option<Backtrace>,
}

/// The records of the live blocks of one shard, keyed by address, and the backtraces of those
/// that have one. The keys of `big` are the keys of `records` marked [`Packed::BIG`]; the keys of
/// `backtraces` are keys of `records`.
pub(crate) struct Live {
    records: Table<Packed>,
    big: Table<Record>,
    backtraces: Table<Backtrace>,
    /// The most recent frees from this table: `(address, size, align)`, in a ring.
    freed: [(usize, usize, usize); FREED_HISTORY],
    /// Where the next entry of `freed` goes.
    freed_next: usize,
}

impl Live {
    pub(crate) const fn new() -> Self {
        Self {
            records: Table::with_hasher_in(AddressHash, Bookkeeping {}),
            big: Table::with_hasher_in(AddressHash, Bookkeeping {}),
            backtraces: Table::with_hasher_in(AddressHash, Bookkeeping {}),
            freed: [(0, 0, 0); FREED_HISTORY],
            freed_next: 0,
        }
    }

    /// How many blocks are live.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Records a new block at `address`, if that needs no allocation; else gives everything
    /// back. `Ok(Some(..))` holds what was at `address` already (an inner allocator that handed
    /// out a live block again), for the caller to report and drop after the lock.
    #[inline]
    fn put(&mut self, address: usize, taken: Taken) -> Result<Option<Taken>, Taken> {
        let packed = Packed::of(taken.record);
        if !room(&self.records)
            || (packed.is_none() && !room(&self.big))
            || (taken.backtrace.is_some() && !room(&self.backtraces))
        {
            return Err(taken);
        }
        let Taken { record, backtrace } = taken;
        let old_big = match packed {
            Some(_) => None,
            None => self.big.insert(address, record),
        };
        let Some(old) = self.records.insert(address, packed.unwrap_or(Packed::BIG)) else {
            if let Some(backtrace) = backtrace {
                self.backtraces.insert(address, backtrace);
            }
            return Ok(None);
        };
        // A displaced big record is in `old_big` if the new one is big too, else still in `big`.
        let displaced = old
            .unpack()
            .or(old_big)
            .or_else(|| self.big.remove(&address));
        let old_backtrace = match backtrace {
            Some(backtrace) => self.backtraces.insert(address, backtrace),
            None => self.backtraces.remove(&address),
        };
        Ok(displaced.map(|record| Taken {
            record,
            backtrace: old_backtrace,
        }))
    }

    /// The record of the block at `address`, if it is live here.
    #[cfg(test)]
    fn get(&self, address: usize) -> Option<Record> {
        let packed = *self.records.get(&address)?;
        packed.unpack().or_else(|| self.big.get(&address).copied())
    }

    /// The record of the block at `address`, with its backtrace, if it is live here: taken out
    /// if `fits` says so of the record (one lookup), else left in place and handed back with a
    /// copy of its backtrace. `None` if the block is not live here.
    #[inline]
    pub(crate) fn take_if(
        &mut self,
        address: usize,
        fits: impl FnOnce(Record) -> bool,
    ) -> Option<Result<Taken, (Record, Option<Backtrace>)>> {
        let hashbrown::hash_map::Entry::Occupied(entry) = self.records.entry(address) else {
            return None;
        };
        let record = match entry.get().unpack() {
            Some(record) => record,
            None => *self.big.get(&address)?,
        };
        if !fits(record) {
            return Some(Err((record, self.backtraces.get(&address).cloned())));
        }
        if entry.remove() == Packed::BIG {
            self.big.remove(&address);
        }
        let backtrace = if self.backtraces.is_empty() {
            None
        } else {
            self.backtraces.remove(&address)
        };
        Some(Ok(Taken { record, backtrace }))
    }

    /// Takes the record of the block at `address` out, with its backtrace, if it is live here.
    #[cfg(test)]
    fn take(&mut self, address: usize) -> Option<Taken> {
        let packed = self.records.remove(&address)?;
        let record = packed.unpack().or_else(|| self.big.remove(&address))?;
        let backtrace = if self.backtraces.is_empty() {
            None
        } else {
            self.backtraces.remove(&address)
        };
        Some(Taken { record, backtrace })
    }

    /// Remembers a free of `record` at `address`, for double-free messages.
    #[inline]
    pub(crate) fn note_freed(&mut self, address: usize, record: Record) {
        self.freed[self.freed_next] = (address, record.size(), record.align());
        self.freed_next = (self.freed_next + 1) % FREED_HISTORY;
    }

    /// The size and alignment of a recent free at `address`, if this table saw one.
    pub(crate) fn freed_as(&self, address: usize) -> Option<(usize, usize)> {
        self.freed
            .iter()
            .find(|&&(a, size, _)| a == address && size != 0)
            .map(|&(_, size, align)| (size, align))
    }

    /// Every live block: its address, record and backtrace, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, Record, Option<&Backtrace>)> + '_ {
        self.records.iter().filter_map(|(&address, &packed)| {
            let record = packed
                .unpack()
                .or_else(|| self.big.get(&address).copied())?;
            Some((address, record, self.backtraces.get(&address)))
        })
    }
}

/// What a table's growth asks for, for `handle_alloc_error` when the trace's own memory runs out
/// where a request cannot be undone.
pub(crate) const TABLE_GROWTH: Layout = Layout::new::<[u64; 32]>();

/// Whether `table` takes one more entry without allocating.
fn room<V>(table: &Table<V>) -> bool {
    table.len() < table.capacity()
}

/// An empty table with room for twice `len` entries, and a few more: made outside a lock.
fn larger<V>(len: usize) -> Result<Table<V>, AllocError> {
    let mut table = Table::with_hasher_in(AddressHash, Bookkeeping {});
    table
        .try_reserve(len.saturating_mul(2).max(16))
        .map_err(|_| AllocError)?;
    Ok(table)
}

/// Records a new block at `address` in `table`, making room outside its lock when it is full.
/// `Ok(Some(..))`: what was at `address` already (to report, and drop, after the lock, which is
/// released by then). `Err` gives everything back if the bookkeeping memory ran out.
#[inline]
pub(crate) fn insert(
    table: &Mutex<Live>,
    address: usize,
    taken: Taken,
) -> Result<Option<Taken>, (Taken, AllocError)> {
    let put = table.lock().put(address, taken);
    match put {
        Ok(displaced) => Ok(displaced),
        Err(taken) => insert_growing(table, address, taken),
    }
}

/// [`insert`] into a full table: room is made outside the lock, and the entries moved over under
/// it, until the record fits.
#[cold]
#[inline(never)]
fn insert_growing(
    table: &Mutex<Live>,
    address: usize,
    mut taken: Taken,
) -> Result<Option<Taken>, (Taken, AllocError)> {
    loop {
        let mut live = table.lock();
        taken = match live.put(address, taken) {
            Ok(displaced) => return Ok(displaced),
            Err(taken) => taken,
        };
        let lengths = (live.records.len(), live.big.len(), live.backtraces.len());
        let big = Packed::of(taken.record).is_none();
        let backtrace = taken.backtrace.is_some();
        let full = (
            !room(&live.records),
            big && !room(&live.big),
            backtrace && !room(&live.backtraces),
        );
        drop(live);
        // Allocated without the lock; moved into place under it; the old memory freed after.
        let grown = (|| -> Result<_, AllocError> {
            Ok((
                if full.0 {
                    Some(larger(lengths.0)?)
                } else {
                    None
                },
                if full.1 {
                    Some(larger(lengths.1)?)
                } else {
                    None
                },
                if full.2 {
                    Some(larger(lengths.2)?)
                } else {
                    None
                },
            ))
        })();
        let (mut records, mut big_records, mut backtraces) = match grown {
            Ok(grown) => grown,
            Err(AllocError) => return Err((taken, AllocError)),
        };
        let mut live = table.lock();
        swap_if_fuller(&mut live.records, &mut records);
        swap_if_fuller(&mut live.big, &mut big_records);
        swap_if_fuller(&mut live.backtraces, &mut backtraces);
        drop(live);
        drop((records, big_records, backtraces));
    }
}

/// If `table` is full, moves its entries into `grown` (which has room for them: no allocation)
/// and swaps the two, so that `grown` holds the old, empty table to free after the lock.
fn swap_if_fuller<V>(table: &mut Table<V>, grown: &mut Option<Table<V>>) {
    let Some(new) = grown else { return };
    if room(table) || new.capacity() < table.len() + 1 {
        return;
    }
    for (address, value) in table.drain() {
        new.insert(address, value);
    }
    core::mem::swap(table, new);
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

    fn bare(record: Record) -> Taken {
        Taken {
            record,
            backtrace: None,
        }
    }

    /// Inserts through the lock, making room as the trace does.
    fn put(table: &Mutex<Live>, address: usize, taken: Taken) -> Option<Record> {
        insert(table, address, taken)
            .ok()
            .expect("room")
            .map(|t| t.record)
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn records_too_large_to_pack_are_kept_whole() {
        let small = Record::new(24, 32, 8);
        let huge_size = Record::new(1 << 32, 1 << 32, 16);
        let huge_slack = Record::new(8, 8 + (1 << 16), 8);
        assert!(Packed::of(small).is_some());
        assert!(Packed::of(huge_size).is_none() && Packed::of(huge_slack).is_none());
        let table = Mutex::new(Live::new());
        for (i, record) in [small, huge_size, huge_slack].into_iter().enumerate() {
            assert!(put(&table, i * 16, bare(record)).is_none());
        }
        assert_eq!(table.lock().big.len(), 2);
        let mut all: alloc::vec::Vec<_> = table.lock().iter().map(|(a, r, _)| (a, r)).collect();
        all.sort_by_key(|&(a, _)| a);
        assert_eq!(all, [(0, small), (16, huge_size), (32, huge_slack)]);
        // Displacing, in each direction, hands back the old record and leaves no stale big one.
        assert_eq!(put(&table, 0, bare(huge_size)), Some(small));
        assert_eq!(put(&table, 16, bare(small)), Some(huge_size));
        assert_eq!(put(&table, 32, bare(huge_size)), Some(huge_slack));
        let mut live = table.lock();
        assert_eq!(live.take(0).map(|t| t.record), Some(huge_size));
        assert_eq!(live.take(16).map(|t| t.record), Some(small));
        assert_eq!(live.take(32).map(|t| t.record), Some(huge_size));
        assert!(live.big.is_empty() && live.len() == 0);
    }

    #[test]
    fn inserting_a_live_address_again_returns_the_old_record() {
        let table = Mutex::new(Live::new());
        assert!(put(&table, 0x40, bare(Record::new(16, 16, 8))).is_none());
        let old = put(&table, 0x40, bare(Record::new(32, 48, 16)));
        assert_eq!(old, Some(Record::new(16, 16, 8)));
        let mut live = table.lock();
        assert_eq!(live.len(), 1);
        let (address, now, _) = live.iter().next().unwrap();
        assert_eq!((address, now), (0x40, Record::new(32, 48, 16)));
        assert_eq!(live.take(0x40).map(|t| t.record), Some(now));
        assert!(live.take(0x40).is_none());
    }

    #[test]
    fn a_full_table_grows_outside_its_lock_and_keeps_every_record() {
        let table = Mutex::new(Live::new());
        let n = if cfg!(miri) { 100 } else { 10_000 };
        for i in 0..n {
            assert!(put(&table, i * 16, bare(Record::new(i + 1, i + 1, 16))).is_none());
        }
        let live = table.lock();
        assert_eq!(live.len(), n);
        for i in 0..n {
            assert_eq!(live.get(i * 16), Some(Record::new(i + 1, i + 1, 16)));
        }
    }

    #[test]
    fn recent_frees_are_remembered_in_a_ring() {
        let mut live = Live::new();
        for i in 0..FREED_HISTORY + 4 {
            live.note_freed(i * 8, Record::new(i + 1, i + 1, 8));
        }
        assert_eq!(live.freed_as(0), None, "pushed out by later frees");
        let last = FREED_HISTORY + 3;
        assert_eq!(live.freed_as(last * 8), Some((last + 1, 8)));
    }

    #[cfg(feature = "std")]
    #[test]
    fn backtraces_travel_with_their_record() {
        let backtrace = || Some(std::sync::Arc::new(std::backtrace::Backtrace::disabled()));
        let record = Record::new(8, 8, 8);
        let table = Mutex::new(Live::new());
        let with = Taken {
            record,
            backtrace: backtrace(),
        };
        assert!(put(&table, 0x100, with).is_none());
        assert!(put(&table, 0x200, bare(record)).is_none());
        {
            let live = table.lock();
            assert!(live.iter().any(|(a, _, b)| a == 0x100 && b.is_some()));
            assert!(live.iter().any(|(a, _, b)| a == 0x200 && b.is_none()));
        }
        // Out (a resize), and back under a new address: the backtrace comes along.
        let out = table.lock().take(0x100).unwrap();
        assert!(out.backtrace.is_some() && table.lock().backtraces.is_empty());
        assert!(put(&table, 0x300, out).is_none());
        assert!(table.lock().backtraces.contains_key(&0x300));
        // A displaced record hands back its backtrace.
        let displaced = insert(&table, 0x300, bare(record)).ok().unwrap().unwrap();
        assert!(displaced.backtrace.is_some() && table.lock().backtraces.is_empty());
    }
}
