//! `String<A>` and `format_in!` over every strategy: growth, refusals that leave the string as it
//! was, map keys looked up by `&str`, comparisons, `fmt::Write`, and the conversions to
//! `Box<str, A>` and, in an arena, to a plain `&str`.
// The gate is needed where `nightly` makes allocator-api2's items core's unstable ones, and unused
// (so allowed) where it does not.
#![cfg_attr(feature = "nightly", feature(allocator_api), allow(unused_features))]

mod common;

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::BuildHasher;

use allockit::failing::Policy;
use allockit::{
    AllocError, Allocator, Arena, Box, Failing, HashMap, Platform, SlabBuilder, String, Trace,
    format_in, try_format_in,
};
use common::scaled;

/// What every strategy must do with strings in it.
mod suite {
    use super::*;

    /// A string built a piece at a time grows through several capacities and keeps its bytes.
    pub fn growth<A: Allocator>(alloc: A) {
        let n = scaled(2_000, 60);
        let mut s = String::new_in(&alloc);
        let mut expected = std::string::String::new();
        let mut capacities = std::vec::Vec::new();
        for i in 0..n {
            let piece = ["a", "é", "字", "🦀"][i % 4];
            let one_char_at_a_time = [true, false, false][i % 3];
            if one_char_at_a_time {
                s.push(piece.chars().next().unwrap());
            } else {
                s.push_str(piece);
            }
            expected.push_str(piece);
            if capacities.last() != Some(&s.capacity()) {
                capacities.push(s.capacity());
            }
        }
        assert_eq!(s, expected.as_str());
        assert_eq!(s.len(), expected.len());
        assert!(capacities.len() > 3, "grew only {capacities:?}");
        assert_eq!(s.chars().last(), Some('🦀'));
        assert_eq!(s.pop(), Some('🦀'));
        s.truncate(3);
        assert_eq!(s, "aé");
        s.clear();
        assert!(s.is_empty());
    }

    /// Filled to capacity, a string whose growth is refused is left exactly as it was.
    pub fn refusal_leaves_the_string_as_it_was<A: Allocator>(alloc: A) {
        let failing = Failing::new(&alloc, Policy::Never);
        let mut s = String::new_in(&failing);
        s.try_push_str("first words").unwrap();
        while s.len() < s.capacity() {
            s.try_push('.').unwrap();
        }
        let (len, capacity) = (s.len(), s.capacity());
        let before = std::string::String::from(s.as_str());
        failing.set_policy(Policy::From(0));
        assert_eq!(s.try_push_str("more"), Err(AllocError));
        assert_eq!(s.try_push('x'), Err(AllocError));
        assert_eq!(s.try_reserve(1), Err(AllocError));
        assert_eq!(write!(s, "{}", 12), Err(std::fmt::Error));
        assert_eq!((s.len(), s.capacity()), (len, capacity));
        assert_eq!(s, before);
        assert_eq!(
            try_format_in!(&failing, "{}{}", "needs ", "room").map(|_| ()),
            Err(AllocError)
        );
        // Room again: the same string grows on.
        failing.set_policy(Policy::Never);
        s.try_push_str(" and more").unwrap();
        assert_eq!(s, format!("{before} and more").as_str());
    }

    /// A map keyed by `String<A>` in the same allocator is looked up by `&str`.
    pub fn keys_are_looked_up_by_str<A: Allocator + Clone>(alloc: A) {
        let n = scaled(500, 40);
        let mut map: HashMap<String<A>, usize, A> = HashMap::new_in(alloc.clone());
        for i in 0..n {
            map.insert(format_in!(alloc.clone(), "name-{i}"), i);
        }
        assert_eq!(map.len(), n);
        for i in 0..n {
            assert_eq!(map[format!("name-{i}").as_str()], i);
        }
        assert_eq!(map.get("name-"), None);
        assert!(map.remove("name-7").is_some());
        assert!(!map.contains_key("name-7"));
        // The same hash as the `str` it holds, for any hasher.
        let state = RandomState::new();
        let key = String::from_str_in("name-3", alloc.clone());
        assert_eq!(state.hash_one(&key), state.hash_one("name-3"));
    }

    /// `format_in!` and `write!` build the text `format!` would.
    pub fn formatting<A: Allocator + Clone>(alloc: A) {
        let s = format_in!(alloc.clone(), "{:>5}|{:<4}|{:?}|{:x}", "ab", 7, "q\"", 255);
        assert_eq!(
            s,
            format!("{:>5}|{:<4}|{:?}|{:x}", "ab", 7, "q\"", 255).as_str()
        );
        assert_eq!(format_in!(alloc.clone(), "literal only"), "literal only");
        assert_eq!(format!("{s}"), s.as_str());
        assert_eq!(format!("{s:?}"), format!("{:?}", s.as_str()));
        let mut w = String::new_in(alloc.clone());
        for i in 0..scaled(200, 20) {
            write!(w, "{i},").unwrap();
        }
        assert!(w.starts_with("0,1,2,") && w.ends_with(","));
        let copy = w.clone();
        assert_eq!(copy, w);
        let boxed: Box<str, A> = copy.into_boxed_str();
        assert_eq!(&*boxed, w.as_str());
    }
}

/// One test per property and strategy, named `strategy::property`.
macro_rules! strategies {
    ($($strategy:ident($run:ident) => $body:block)*) => {$(
        mod $strategy {
            #[allow(unused_imports)]
            use super::*;
            strategies!(@each $run $body; growth, refusal_leaves_the_string_as_it_was,
                keys_are_looked_up_by_str, formatting);
        }
    )*};
    (@each $run:ident $body:block; $($test:ident),*) => {$(
        #[test]
        fn $test() {
            let $run = |alloc| crate::suite::$test(alloc);
            $body
        }
    )*};
}

strategies! {
    platform(run) => { run(Platform) }
    arena(run) => {
        let arena = Arena::new();
        run(&arena);
        assert!(arena.stats().peak > 0);
    }
    slab(run) => {
        let slab = SlabBuilder::new().classes(&[16, 32, 64]).build();
        run(&slab);
        let stats = slab.stats();
        assert_eq!((stats.live_blocks(), stats.upstream_live()), (0, 0), "{stats}");
    }
    trace(run) => {
        let trace = Trace::with_tracking(Platform);
        run(&trace);
        if let Err(report) = trace.check_leaks() {
            panic!("{report}");
        }
    }
    failing(run) => { run(&Failing::new(Platform, Policy::Never)) }
    subsystem(run) => { run(allockit::subsystem::Modules) }
}

#[test]
fn try_push_str_at_a_full_arena_leaves_the_string_as_it_was() {
    let arena = Arena::new();
    let mut s = String::try_from_str_in("0123456789", &arena).unwrap();
    let _after = arena.alloc_str("a block after the string, so that it cannot grow in place");
    arena.set_limit(Some(arena.stats().used));
    let before = arena.stats();
    assert_eq!(s.try_push_str("!"), Err(AllocError));
    assert_eq!(s.try_push('!'), Err(AllocError));
    assert_eq!(s.try_reserve(100), Err(AllocError));
    assert_eq!((s.as_str(), s.capacity()), ("0123456789", 10));
    assert_eq!(arena.stats(), before, "a refusal changed the arena");
    assert!(try_format_in!(&arena, "{}", 1).is_err());
    assert!(String::try_from_str_in("x", &arena).is_err());
    assert!(String::try_with_capacity_in(1, &arena).is_err());
    // Raising the limit lets the same string grow: it moves, leaving its old buffer behind.
    arena.set_limit(None);
    s.try_push_str("!").unwrap();
    assert_eq!(s, "0123456789!");
    assert_eq!(arena.stats().left_by_moves, 10);
}

#[test]
fn a_string_at_the_top_of_the_arena_grows_in_place() {
    let arena = Arena::with_capacity(64 * 1024);
    let mut s = String::new_in(&arena);
    for _ in 0..scaled(1_000, 50) {
        s.push_str("token ");
    }
    let stats = arena.stats();
    assert_eq!(stats.left_by_moves, 0, "{stats}");
    assert_eq!(stats.used, s.capacity());
}

#[test]
fn into_arena_str_keeps_the_bytes_and_gives_the_spare_capacity_back() {
    let mut arena = Arena::new();
    let name: &str = {
        let mut s = String::with_capacity_in(100, &arena);
        s.push_str("identifier");
        s.into_arena_str()
    };
    assert_eq!(name, "identifier");
    // The most recent block: the 90 spare bytes went back to the bump pointer.
    assert_eq!((arena.stats().used, arena.stats().freed), (10, 0));
    // Not the most recent block: the spare bytes count as freed.
    let mut s = String::with_capacity_in(100, &arena);
    s.push_str("second");
    let _later = arena.alloc(0u64);
    let second = s.into_arena_str();
    assert_eq!(second, "second");
    assert_eq!(arena.stats().freed, 94);
    assert_eq!(arena.stats().live(), 10 + 6 + 8);
    // Empty strings take nothing.
    assert_eq!(String::new_in(&arena).into_arena_str(), "");
    arena.reset();
    assert_eq!(arena.stats().used, 0);
}

#[test]
fn strings_compare_and_order_with_str_and_std_strings() {
    let arena = Arena::new();
    let b = String::from_str_in("b", &arena);
    let b_elsewhere = String::from_str_in("b", Platform);
    let std_b = std::string::String::from("b");
    // Each impl, both ways round: `String<A>` against `str`, `&str`, std's `String` and a
    // `String` in another allocator.
    assert!(b == *"b");
    assert!(*"b" == b);
    assert!(b == "b");
    assert!("b" == b);
    assert!(b == b_elsewhere);
    assert!(b == std_b);
    assert!(std_b == b);
    assert!(b != "c");
    assert!("a" != b);
    assert!(b > *"a");
    assert!(*"c" > b);
    assert!(b < "c");
    assert!("a" < b);
    let std_c = std::string::String::from("c");
    assert!(b < std_c);
    assert!(std_c > b);
    assert!(String::from_str_in("a", Platform) < b);
    assert!(b <= b_elsewhere);
    let mut sorted = std::vec::Vec::from_iter(
        ["pear", "apple", "fig"]
            .into_iter()
            .map(|w| String::from_str_in(w, &arena)),
    );
    sorted.sort();
    assert_eq!(sorted, ["apple", "fig", "pear"]);
    // Deref to `str`: its methods and indexing.
    assert_eq!(sorted[0].to_uppercase(), "APPLE");
    assert_eq!(&sorted[2][1..3], "ea");
    let mut s = String::from_str_in("abc", &arena);
    s.make_ascii_uppercase();
    s += "d";
    s.extend(['e', 'f']);
    s.extend(["g", "h"]);
    assert_eq!(s, "ABCdefgh");
}

#[test]
fn a_formatting_error_of_its_own_panics_but_a_refusal_does_not() {
    struct Broken;
    impl std::fmt::Display for Broken {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Err(std::fmt::Error)
        }
    }
    let panicked = std::panic::catch_unwind(|| try_format_in!(Platform, "{}", Broken));
    assert!(panicked.is_err());
    let arena = Arena::new();
    arena.set_limit(Some(4));
    assert_eq!(
        try_format_in!(&arena, "{}", 123_456).map(|_| ()),
        Err(AllocError)
    );
    assert_eq!(arena.stats().used, 0, "a refused format kept bytes");
}
