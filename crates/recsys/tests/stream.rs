//! `--stream`: training from a spool on disk instead of memory. When the whole file fits the
//! shuffle buffer, streaming trains exactly the model in-memory training does; with a smaller
//! buffer it still trains, and the manifest records the buffer.

use std::path::{Path, PathBuf};

use recsys::artifact;
use recsys::data::{ColumnNames, SynthSpec, write_synthetic};
use recsys::kinds::AnyRecipe;
use recsys::kinds::ranking::multitask::MultitaskWeights;
use recsys::kinds::ranking::{RankingModel, RankingModelConfig, RankingRecipe};
use recsys::train::Schedule;
use recsys::workflow::{DataSpec, Quiet, TrainJob, TrainOutcome, train_and_save};

/// A synthetic train file of 6,000 rows and a test file of 1,500 (different seeds).
fn files(dir: &Path) -> (PathBuf, PathBuf) {
    let spec = |interactions, seed| SynthSpec {
        users: 300,
        items: 120,
        interactions,
        seed,
        ..SynthSpec::default()
    };
    let (train, test) = (dir.join("train.tsv"), dir.join("test.tsv"));
    write_synthetic(&spec(6_000, 1), &train).unwrap();
    write_synthetic(&spec(1_500, 2), &test).unwrap();
    (train, test)
}

fn job(train: &Path, test: &Path, stream: Option<usize>, out: PathBuf) -> TrainJob {
    TrainJob {
        data: DataSpec::Files {
            train: train.to_owned(),
            test: Some(test.to_owned()),
            columns: ColumnNames::default(),
            stream,
        },
        recipe: AnyRecipe::Ranking(RankingRecipe {
            model: RankingModelConfig {
                embedding_dim: 8,
                hidden_layers: vec![16, 8],
            },
            schedule: Schedule {
                epochs: 2,
                batch_size: 512,
                ..Schedule::default()
            },
            ..RankingRecipe::default()
        }),
        side_dir: None,
        out,
    }
}

/// The ranking recipe of `job`.
fn ranking(job: &mut TrainJob) -> &mut RankingRecipe {
    match &mut job.recipe {
        AnyRecipe::Ranking(r) => r,
        other => panic!("{other:?}"),
    }
}

fn train(job: &TrainJob) -> TrainOutcome {
    train_and_save(job, &mut Quiet).unwrap()
}

#[test]
fn a_stream_that_fits_its_buffer_trains_the_in_memory_model_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = files(dir.path());
    let memory = train(&job(
        &train_file,
        &test_file,
        None,
        dir.path().join("memory"),
    ));
    let streamed = train(&job(
        &train_file,
        &test_file,
        Some(1_000_000),
        dir.path().join("streamed"),
    ));
    let metrics = |o: &TrainOutcome| {
        let e: Vec<_> = o.epochs.iter().map(|e| e.metrics).collect();
        (
            e,
            o.test,
            o.train_examples,
            o.test_examples,
            o.users,
            o.titles,
        )
    };
    assert_eq!(metrics(&streamed), metrics(&memory));
    let a = artifact::load::<RankingModel>(&dir.path().join("memory")).unwrap();
    let b = artifact::load::<RankingModel>(&dir.path().join("streamed")).unwrap();
    assert_eq!(a.model, b.model, "bit-identical weights and vocabularies");
    let recorded = serde_json::to_value(&b.manifest.training.unwrap().data).unwrap();
    assert_eq!(recorded["stream_shuffle_buffer"], 1_000_000);
}

#[test]
fn a_small_shuffle_buffer_still_trains_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = files(dir.path());
    let mut small = job(&train_file, &test_file, Some(100), dir.path().join("small"));
    ranking(&mut small).schedule.epochs = 5;
    let outcome = train(&small);
    assert_eq!(outcome.train_examples, 6_000);
    assert!(outcome.epochs.iter().all(|e| e.metrics.examples == 6_000));
    let first = outcome.epochs[0].metrics.root_mean_squared_error;
    let last = outcome.epochs[4].metrics.root_mean_squared_error;
    assert!(last < first, "training RMSE fell: {first} → {last}");
    let test = outcome.test.unwrap();
    assert!(test.root_mean_squared_error.is_finite() && test.examples == 1_500);
}

#[test]
fn what_needs_the_examples_in_memory_is_refused_with_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = files(dir.path());
    let mut validation = job(&train_file, &test_file, Some(1_000), dir.path().join("v"));
    ranking(&mut validation).schedule.validation_fraction = 0.1;
    let err = train_and_save(&validation, &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--validation-fraction") && err.contains("--stream"),
        "{err}"
    );

    let mut multitask = job(&train_file, &test_file, Some(1_000), dir.path().join("m"));
    ranking(&mut multitask).multitask = Some(MultitaskWeights::default());
    let err = train_and_save(&multitask, &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--stream") && err.contains("multitask"),
        "{err}"
    );
    assert!(!dir.path().join("v").exists() && !dir.path().join("m").exists());
}

#[test]
fn a_bad_row_in_a_streamed_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = files(dir.path());
    let text = std::fs::read_to_string(&train_file).unwrap();
    let bad: String = text.lines().take(10).map(|l| format!("{l}\n")).collect();
    std::fs::write(&train_file, format!("{bad}u1\titem 1\tNaN\n")).unwrap();
    let job = job(&train_file, &test_file, Some(1_000), dir.path().join("bad"));
    let err = train_and_save(&job, &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("train.tsv:11") && err.contains("NaN"), "{err}");
}
