//! `recsys synth`.

use serde::Serialize;

use super::print_json;
use crate::args::SynthArgs;

#[derive(Serialize)]
struct Written<'a> {
    path: &'a std::path::Path,
    rows: u64,
    bytes: u64,
}

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let summary = recsys::data::write_synthetic(&args.spec(), &args.out)?;
    let written = Written {
        path: &args.out,
        rows: summary.rows,
        bytes: summary.bytes,
    };
    if args.output.json {
        return print_json(&written);
    }
    println!(
        "Wrote {} rows ({} bytes) to {}",
        written.rows,
        written.bytes,
        args.out.display()
    );
    Ok(())
}
