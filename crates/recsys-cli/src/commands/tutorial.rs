//! `recsys tutorial`.

use recsys::train::TrainObserver;
use recsys::tutorial::{self, TutorialConfig};
use serde::Serialize;

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
    let mut progress = Progress::default();
    let report = tutorial::run(&config, &mut progress)?;
    // The tutorial's last section: convert the model for on-device use, load it, predict.
    progress.narrate("Exporting for on-device use: ONNX and TensorFlow Lite, raw string inputs");
    let export = recsys_export::tutorial_export(
        &report.model_dir,
        tutorial::TUTORIAL_USER,
        tutorial::TUTORIAL_RELOAD_TITLE,
    )?;
    progress.narrate(&format!(
        "Loading {} back and predicting",
        export.onnx.path.display()
    ));
    if args.output.json {
        #[derive(Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            tutorial: &'a tutorial::TutorialReport,
            export: &'a recsys_export::TutorialExport,
        }
        return print_json(&Json {
            tutorial: &report,
            export: &export,
        });
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
    println!(
        "Exported to {} ({} bytes) and {} ({} bytes); the ONNX file predicts {:.7} for user {} and \"{}\" (saved model: {:.7}, {})",
        export.onnx.path.display(),
        export.onnx.bytes,
        export.tflite.path.display(),
        export.tflite.bytes,
        export.exported_score,
        export.user_id,
        export.movie_title,
        export.saved_score,
        if export.identical {
            "identical"
        } else {
            "DIFFERENT"
        }
    );
    Ok(())
}
