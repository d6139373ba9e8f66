//! Writes a signed PEC transport envelope of about N MB (one random attachment) and the
//! provider CA, for timing and memory measurements of `sigillo check`:
//! `cargo run --release -p sigillo_pec --example big_envelope -- OUT_DIR SIZE_MB`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measurement tool, not product code

#[path = "common/big_envelope.rs"]
mod big_envelope;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().expect("OUT_DIR"));
    let mb: usize = args.next().expect("SIZE_MB").parse().expect("SIZE_MB is a number");
    println!("{}", big_envelope::write(&out, mb).display());
}
