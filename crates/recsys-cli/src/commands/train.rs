//! `recsys train`.

use recsys::workflow::{self, TrainJob};

use super::{metrics_line, print_json};
use crate::args::TrainArgs;
use crate::progress::Progress;

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let job = TrainJob {
        data: args.data_spec(),
        model: args.recipe.model(),
        train: args.recipe.train(),
        init_weights: args.init_weights.clone(),
        out: args.out.clone(),
    };
    let outcome = workflow::train_and_save(&job, &mut Progress::default())?;
    if args.output.json {
        return print_json(&outcome);
    }
    if let Some(test) = &outcome.test {
        println!(
            "Test set ({} examples): {}",
            outcome.test_examples,
            metrics_line(test)
        );
    }
    println!("Saved to {}", outcome.model_dir.display());
    Ok(())
}
