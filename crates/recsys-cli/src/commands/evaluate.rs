//! `recsys evaluate`.

use recsys::workflow;

use super::{metrics_line, print_json};
use crate::args::EvaluateArgs;
use crate::progress::Progress;

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let columns = args.columns.columns();
    let test = args.test.as_deref().map(|t| (t, &columns));
    let metrics = workflow::evaluate_saved(
        &args.model,
        test,
        args.data.data_dir.as_deref(),
        &mut Progress::default(),
    )?;
    if args.output.json {
        return print_json(&metrics);
    }
    println!("{} examples: {}", metrics.examples, metrics_line(&metrics));
    Ok(())
}
