//! `recsys tutorial`.

use recsys::tutorial::{self, TutorialConfig};

use super::{metrics_line, print_json};
use crate::args::TutorialArgs;
use crate::progress::Progress;

pub fn run(args: TutorialArgs) -> anyhow::Result<()> {
    let config = TutorialConfig {
        data_dir: args.data.data_dir,
        model: args.recipe.model(),
        train: args.recipe.train(),
        out: args.out,
        ..TutorialConfig::default()
    };
    let report = tutorial::run(&config, &mut Progress::default())?;
    if args.output.json {
        return print_json(&report);
    }
    println!("Test set: {}", metrics_line(&report.test));
    println!("Ranking for user {}:", tutorial::TUTORIAL_USER);
    for s in &report.ranking {
        println!("  {}: {:.7}", s.movie_title, s.score);
    }
    println!(
        "Saved to {}; reloaded model predicts {:.7} for user {} and \"{}\" (in memory: {:.7}, {})",
        report.model_dir.display(),
        report.reloaded_score,
        tutorial::TUTORIAL_USER,
        tutorial::TUTORIAL_RELOAD_TITLE,
        report.in_memory_score,
        if report.identical {
            "identical"
        } else {
            "DIFFERENT"
        }
    );
    Ok(())
}
