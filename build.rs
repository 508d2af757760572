//! Build script: find out whether the compiler accepts `#![feature(allocator_api)]`.
//!
//! allockit implements `allocator_api2::alloc::Allocator`. When *any* crate in a build turns on
//! `allocator-api2/nightly`, that path becomes a re-export of core's unstable `Allocator`, and every
//! crate implementing or calling it needs `#![feature(allocator_api)]`, whether or not its own
//! `nightly` feature is on. A crate cannot see its dependencies' features, so allockit asks the
//! compiler instead: where feature gates are accepted (a nightly compiler, or `RUSTC_BOOTSTRAP`), it
//! sets `cfg(allockit_nightly_rustc)` and `lib.rs` enables the gate. On stable nothing changes.

use std::env;
use std::io::Write;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTC_BOOTSTRAP");
    println!("cargo::rustc-check-cfg=cfg(allockit_nightly_rustc)");
    if compiler_accepts_allocator_api() {
        println!("cargo::rustc-cfg=allockit_nightly_rustc");
    }
}

/// Compiles a one-line crate that enables the gate; true if the compiler accepts it.
fn compiler_accepts_allocator_api() -> bool {
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
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Ok(target) = env::var("TARGET") {
        cmd.arg(format!("--target={target}"));
    }
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    let probe = b"#![feature(allocator_api)]\n#![no_std]\npub use core::alloc::Allocator;\n";
    let written = child
        .stdin
        .take()
        .is_some_and(|mut stdin| stdin.write_all(probe).is_ok());
    child.wait().is_ok_and(|status| status.success()) && written
}
