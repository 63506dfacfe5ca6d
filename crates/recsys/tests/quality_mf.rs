//! Biased-MF quality on TFRS's own split: the `best` preset's recipe, cut to 10 burn-in sweeps
//! and 30 averaged draws so that it runs in seconds in a test build, already beats Surprise's
//! SVD (0.942) and lands under 0.92 (the full preset: see docs/experiments.md).

mod common;

use recsys::data::ColumnNames;
use recsys::kinds::mf::MfTrainer;
use recsys::preset::{Preset, Recipe};
use recsys::workflow::{DataSpec, MfTrainJob, Quiet, train_mf_and_save};

#[test]
fn a_shortened_best_preset_beats_svd_on_tfrs_split() {
    let Some(peers) = common::peers_dir() else {
        return;
    };
    let Recipe::Mf(mut recipe) = Preset::Best.recipe() else {
        panic!("best trains a biased MF")
    };
    let MfTrainer::Bpmf(c) = &mut recipe.trainer else {
        panic!("best samples")
    };
    (c.burn_in, c.samples) = (10, 30);
    let out = tempfile::tempdir().unwrap();
    let job = MfTrainJob {
        data: DataSpec::Files {
            train: peers.join("split/train.tsv"),
            test: Some(peers.join("split/test.tsv")),
            columns: ColumnNames::default(),
            stream: None,
        },
        recipe,
        out: out.path().join("best"),
    };
    let rmse = train_mf_and_save(&job, &mut Quiet)
        .unwrap()
        .test
        .unwrap()
        .root_mean_squared_error;
    eprintln!("shortened best preset, seed 42: test RMSE {rmse:.4}");
    assert!(rmse < 0.92, "test RMSE {rmse}");
}
