//! Progress on stderr: an indicatif bar per epoch, Keras-style epoch lines, and the tutorial's
//! narration. stdout stays clean for `--json`.

use indicatif::{ProgressBar, ProgressStyle};
use recsys::data::DownloadObserver;
use recsys::train::{EpochReport, TrainObserver};

/// Draws training progress and narration on stderr.
#[derive(Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
    loss: f32,
}

impl TrainObserver for Progress {
    fn narrate(&mut self, what: &str) {
        eprintln!("==> {what}");
    }

    fn epoch_begin(&mut self, epoch: usize, epochs: usize, steps: usize) {
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template("Epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        self.bar = Some(bar);
    }

    fn step_end(&mut self, _step: usize, loss: f32) {
        self.loss = loss;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss: {loss:.4}"));
            bar.inc(1);
        }
    }

    fn epoch_end(&mut self, epoch: usize, r: &EpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let m = &r.metrics;
        let val = r.validation.map_or(String::new(), |v| {
            format!(
                " - val_root_mean_squared_error: {:.4}",
                v.root_mean_squared_error
            )
        });
        let retrieval = r
            .retrieval_loss
            .map_or(String::new(), |l| format!(" - retrieval_loss: {l:.4}"));
        eprintln!(
            "Epoch {epoch}: {:.3}s - root_mean_squared_error: {:.4} - loss: {:.4} - regularization_loss: {:.4} - total_loss: {:.4}{retrieval}{val}",
            r.seconds, m.root_mean_squared_error, m.loss, m.regularization_loss, m.total_loss
        );
    }
}

impl DownloadObserver for Progress {
    fn start(&mut self, total: Option<u64>) {
        eprintln!(
            "==> Downloading MovieLens 100k from {}",
            recsys::data::ML100K_URL
        );
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .expect("static template")
                .progress_chars("=> "),
        );
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
