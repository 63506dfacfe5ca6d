//! `recsys train`.

use recsys::workflow::{self, TrainJob};

use super::{metrics_line, print_json, top_k_line};
use crate::args::TrainArgs;
use crate::progress::Progress;

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let job = TrainJob {
        data: args.data_spec(),
        recipe: args.recipe()?,
        side_dir: args.data.data_dir.clone(),
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
    if let Some(r) = &outcome.retrieval {
        println!(
            "Retrieval over {} movies: {} - retrieval_loss: {:.4}",
            r.candidates,
            top_k_line(r),
            r.loss
        );
    }
    println!("Saved to {}", outcome.model_dir.display());
    Ok(())
}
