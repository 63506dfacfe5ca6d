//! `recsys train`.

use recsys::preset::Recipe;
use recsys::workflow::{self, FeatureTrainJob, MfTrainJob, TrainJob};

use super::{metrics_line, print_json, top_k_line};
use crate::args::TrainArgs;
use crate::progress::Progress;

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let outcome = match args.recipe()? {
        Recipe::Ranking {
            model,
            train,
            multitask,
        } => {
            let job = TrainJob {
                data: args.data_spec(),
                model,
                train,
                init_weights: args.init_weights.clone(),
                multitask,
                out: args.out.clone(),
            };
            workflow::train_and_save(&job, &mut Progress::default())?
        }
        Recipe::Features(recipe) => {
            let job = FeatureTrainJob {
                data: args.data_spec(),
                side_dir: args.data.data_dir.clone(),
                recipe,
                out: args.out.clone(),
            };
            workflow::train_features_and_save(&job, &mut Progress::default())?
        }
        Recipe::Mf(recipe) => {
            let job = MfTrainJob {
                data: args.data_spec(),
                recipe,
                out: args.out.clone(),
            };
            workflow::train_mf_and_save(&job, &mut Progress::default())?
        }
    };
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
