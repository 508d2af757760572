//! Build script: find out how this compiler lets allockit use core's unstable `Allocator` trait.
//!
//! allockit implements `allocator_api2::alloc::Allocator`. When *any* crate in a build turns on
//! `allocator-api2/nightly`, that path becomes a re-export of core's unstable `Allocator`, and every
//! crate implementing or calling it needs the `allocator_api` gate, whether or not allockit's own
//! `nightly` feature is on (which implements core's trait itself). A crate cannot see its
//! dependencies' features, so allockit asks the compiler, with the build's own flags:
//!
//! - `cfg(allockit_gate)`: allockit's own `#![feature(allocator_api)]` is accepted (a nightly
//!   compiler, or `RUSTC_BOOTSTRAP`), so `lib.rs` enables it;
//! - `cfg(allockit_core_allocator)`: core's trait can be used, with that gate or without it (a
//!   build whose `RUSTFLAGS` enable the gate in every crate with
//!   `-Zcrate-attr=feature(allocator_api)`, as hashbrown 0.17.2 needs when allocator-api2's
//!   `nightly` is on; a duplicate gate would be an error there).
//!
//! On stable neither is set, and nothing changes.

use std::env;
use std::io::Write;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTC_BOOTSTRAP");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo::rustc-check-cfg=cfg(allockit_gate)");
    println!("cargo::rustc-check-cfg=cfg(allockit_core_allocator)");
    let with_gate =
        compiles("#![feature(allocator_api)]\n#![no_std]\npub use core::alloc::Allocator;\n");
    if with_gate {
        println!("cargo::rustc-cfg=allockit_gate");
    }
    if with_gate || compiles("#![no_std]\npub use core::alloc::Allocator;\n") {
        println!("cargo::rustc-cfg=allockit_core_allocator");
    }
}

/// The flags cargo passes to every compilation of this crate (`RUSTFLAGS` and its config forms).
fn rustflags() -> Vec<String> {
    env::var("CARGO_ENCODED_RUSTFLAGS")
        .map(|flags| {
            flags
                .split('\x1f')
                .filter(|flag| !flag.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `source`, a library crate, compiles with this build's compiler, target and flags.
fn compiles(source: &str) -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Some(out_dir) = env::var_os("OUT_DIR") else {
        return false;
    };
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--crate-type=lib",
        "--crate-name=allockit_probe",
        "--emit=metadata",
    ])
    .arg("--out-dir")
    .arg(out_dir)
    .arg("-")
    .args(rustflags())
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Ok(target) = env::var("TARGET") {
        cmd.arg(format!("--target={target}"));
    }
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    let written = child
        .stdin
        .take()
        .is_some_and(|mut stdin| stdin.write_all(source.as_bytes()).is_ok());
    child.wait().is_ok_and(|status| status.success()) && written
}
