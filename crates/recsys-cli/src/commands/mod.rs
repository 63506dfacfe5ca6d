//! One function per subcommand: call the library, print the result (JSON on stdout with
//! `--json`, text otherwise).

mod evaluate;
mod export;
mod rank;
mod serve;
mod synth;
mod train;
mod tutorial;

use serde::Serialize;

use crate::args::Command;

/// Runs a parsed command.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Tutorial(a) => tutorial::run(a),
        Command::Train(a) => train::run(*a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Rank(a) => rank::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Export(a) => export::run(a),
    }
}

/// Prints `value` as one line of JSON on stdout.
fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Formats Keras-named metrics on one line.
fn metrics_line(m: &recsys::train::Metrics) -> String {
    format!(
        "root_mean_squared_error: {:.4} - loss: {:.4} - regularization_loss: {:.4} - total_loss: {:.4}",
        m.root_mean_squared_error, m.loss, m.regularization_loss, m.total_loss
    )
}

/// TFRS's names for top-K accuracies: `factorized_top_k/top_1_categorical_accuracy: 0.0012 - …`.
fn top_k_line(r: &recsys::train::RetrievalReport) -> String {
    let parts: Vec<String> = r
        .factorized_top_k
        .iter()
        .map(|t| {
            format!(
                "factorized_top_k/top_{}_categorical_accuracy: {:.4}",
                t.k, t.accuracy
            )
        })
        .collect();
    parts.join(" - ")
}
