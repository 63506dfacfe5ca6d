//! `recsys serve`, the real binary: its answers over HTTP equal `recsys rank --json` within
//! 1e-6, for a ranking model and a biased MF, and SIGTERM stops it cleanly (the feature model's
//! case is in `features.rs`, which builds its side information).

#[macro_use]
mod util;

use util::serve::serve_equals_rank_then_sigterm;
use util::{Dir, TestCommand, train_tiny};

recsys_test!(
    serve_answers_equal_rank_and_stop_on_sigterm,
    |dir: Dir, cmd: TestCommand| {
        train_tiny(&dir, "model");
        serve_equals_rank_then_sigterm(&dir, cmd, "3");
    }
);

recsys_test!(
    a_biased_mf_is_served_as_it_ranks,
    |dir: Dir, cmd: TestCommand| {
        let best = ["--preset", "best", "--factors", "2", "--burn-in", "2"];
        util::train_tiny_with(&dir, "model", &[&best[..], &["--samples", "3"]].concat());
        serve_equals_rank_then_sigterm(&dir, cmd, "3");
    }
);

recsys_test!(
    serve_refuses_a_missing_model_before_binding,
    |_dir: Dir, mut cmd: TestCommand| {
        let out = cmd
            .args(["serve", "--model", "nope", "--addr", "127.0.0.1:0"])
            .assert_failure();
        out.assert_stderr_contains("nope");
    }
);
