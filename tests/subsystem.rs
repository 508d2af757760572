//! Subsystems: exact and isolated accounting per subsystem, zero-sized handles and run-time
//! lookup, budgets that turn into `AllocError` without losing anything, a program's own
//! subsystems in the report, and exact counts under threads.
//!
//! The built-in accounts are process-wide, and tests run in parallel, so only one test touches
//! them; the others define their own accounts.

mod common;

use allockit::subsystem::{self, Account, Define, Handle, Subsystem};
use allockit::{Allocator, Box, HashMap, MapExt, Vec};
use common::scaled;

#[test]
fn built_in_subsystems_account_separately() {
    let (vm0, compiler0, modules0) = (
        subsystem::VM.stats(),
        subsystem::COMPILER.stats(),
        subsystem::MODULES.stats(),
    );
    let n = scaled(1_000, 50);
    let mut globals: HashMap<Box<str, subsystem::Vm>, usize, subsystem::Vm> =
        HashMap::new_in(subsystem::Vm);
    for i in 0..n {
        globals.try_put(&format!("global-{i}"), i).unwrap();
    }
    let vm = subsystem::VM.stats().since(&vm0);
    // Every key, plus the table's growths.
    assert!(vm.allocations > n, "{vm}");
    assert_eq!(
        subsystem::COMPILER.stats(),
        compiler0,
        "the VM's maps are not the compiler's"
    );

    // Run-time lookup reaches the same account as the handle.
    let ast = Box::new_in([0u8; 100], Subsystem::Compiler.allocator());
    let compiler = subsystem::COMPILER.stats().since(&compiler0);
    assert_eq!((compiler.allocations, compiler.bytes_allocated), (1, 100));
    let dynamic: &'static dyn Allocator = Subsystem::Modules.allocator();
    let module = Box::new_in(7u64, dynamic);
    assert_eq!(subsystem::MODULES.stats().since(&modules0).allocations, 1);

    // Handles cost nothing in the values that carry them.
    assert_eq!(size_of::<subsystem::Vm>(), 0);
    assert_eq!(size_of::<Box<str, subsystem::Vm>>(), 2 * size_of::<usize>());

    drop((globals, ast, module));
    for (account, before) in [
        (&subsystem::VM, vm0),
        (&subsystem::COMPILER, compiler0),
        (&subsystem::MODULES, modules0),
    ] {
        let region = account.stats().since(&before);
        assert_eq!(
            region.allocations,
            region.deallocations,
            "{}",
            account.name()
        );
        assert_eq!(
            region.bytes_allocated,
            region.bytes_freed,
            "{}",
            account.name()
        );
    }
    let report = subsystem::report().to_string();
    for name in ["vm", "compiler", "modules", "total"] {
        assert!(report.contains(name), "{report}");
    }
}

static BUDGETED: Account = Account::new("budgeted");

#[test]
fn a_budget_turns_into_alloc_error_and_the_map_loses_nothing() {
    let account: &'static Account = Subsystem::Custom(&BUDGETED).allocator();
    let mut map: HashMap<Box<str, &Account>, usize, &Account> = HashMap::new_in(account);
    for i in 0..100 {
        map.try_put(&format!("key-{i}"), i).unwrap();
    }
    account.set_budget(Some(account.stats().live_bytes));
    assert_eq!(account.budget(), Some(account.stats().live_bytes));
    let failures = account.stats().failures;
    assert!(map.try_reserve(1_000).is_err());
    assert!(map.try_put("one more", 100).is_err());
    assert_eq!(account.stats().failures, failures + 2);
    assert_eq!(map.len(), 100);
    assert!((0..100).all(|i| map[format!("key-{i}").as_str()] == i));
    // Raising the budget lets the map grow again.
    account.set_budget(None);
    map.try_put("one more", 100).unwrap();
    assert_eq!(map.len(), 101);
    let row = subsystem::report()
        .rows()
        .iter()
        .find(|r| r.name == "budgeted")
        .copied()
        .unwrap();
    assert_eq!(row.stats.failures, failures + 2);
}

static REPORTED: Account = Account::new("reported-big");
static SMALL: Account = Account::new("reported-small");

enum ReportedDef {}
impl Define for ReportedDef {
    const ACCOUNT: &'static Account = &REPORTED;
}
enum SmallDef {}
impl Define for SmallDef {
    const ACCOUNT: &'static Account = &SMALL;
}

#[test]
fn a_programs_own_subsystems_appear_in_the_report_by_live_bytes() {
    let big: Vec<u8, Handle<ReportedDef>> = Vec::with_capacity_in(10_000, Handle::new());
    let small: Vec<u8, Handle<SmallDef>> = Vec::with_capacity_in(10, Handle::new());
    let report = subsystem::report();
    let names: std::vec::Vec<&str> = report.rows().iter().map(|r| r.name).collect();
    let big_at = names.iter().position(|&n| n == "reported-big").unwrap();
    let small_at = names.iter().position(|&n| n == "reported-small").unwrap();
    assert!(big_at < small_at, "sorted by live bytes: {names:?}");
    for pair in report.rows().windows(2) {
        assert!(pair[0].stats.live_bytes >= pair[1].stats.live_bytes);
    }
    let text = report.to_string();
    assert!(
        text.contains("reported-big") && text.contains("9.8 KiB"),
        "{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("total"), "{text}");
    drop((big, small));
}

static THREAD_A: Account = Account::new("thread-a");
static THREAD_B: Account = Account::new("thread-b");
static THREAD_C: Account = Account::new("thread-c");

#[test]
fn four_threads_in_three_subsystems_leave_exact_counts() {
    let accounts: [&'static Account; 3] = [&THREAD_A, &THREAD_B, &THREAD_C];
    let ops = scaled(20_000, 100);
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                let mut kept: std::vec::Vec<Vec<u8, &Account>> = std::vec::Vec::new();
                for i in 0..ops {
                    let account = accounts[(t + i) % 3];
                    let mut bytes = Vec::with_capacity_in(1 + i % 50, account);
                    bytes.extend(0..(1 + i % 50) as u8);
                    kept.push(bytes);
                    if i % 3 == 2 {
                        kept.swap_remove(i % kept.len());
                    }
                }
            });
        }
    });
    for (k, account) in accounts.iter().enumerate() {
        // Replay: thread t allocated in account k at the steps where (t + i) % 3 == k.
        let mut allocations = 0;
        let mut bytes = 0;
        for t in 0..4 {
            for i in 0..ops {
                if (t + i) % 3 == k {
                    allocations += 1;
                    bytes += 1 + i % 50;
                }
            }
        }
        let s = account.stats();
        assert_eq!(
            (s.allocations, s.bytes_allocated),
            (allocations, bytes),
            "{}",
            account.name()
        );
        assert_eq!(
            (s.deallocations, s.bytes_freed),
            (allocations, bytes),
            "{}",
            account.name()
        );
        assert_eq!((s.live_blocks, s.live_bytes), (0, 0));
    }
}
