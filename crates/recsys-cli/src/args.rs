//! Every command-line flag, defined once with its help text, and converted once into the
//! library's configuration types (nothing downstream reads raw flags).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use recsys::data::ColumnNames;
use recsys::kinds::ranking::RankingModelConfig;
use recsys::preset::Preset;
use recsys::train::{OptimizerKind, Schedule, Shuffle};
use recsys::workflow::DataSpec;
use recsys_export::{ExportOptions, Format, Inputs, Precision};
use recsys_serve::{Limits, ModelSpec};

mod preset;
pub use preset::{MfArgs, MultitaskArgs};

/// recsys: train, evaluate and rank with recommender models — TensorFlow Recommenders' ranking
/// tutorial, in Rust.
#[derive(Debug, Parser)]
#[command(name = "recsys", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the TFRS ranking tutorial end to end: load MovieLens 100k, split, train, evaluate,
    /// rank for user 42, save, reload and predict.
    Tutorial(TutorialArgs),
    /// Train a ranking model and save it.
    Train(Box<TrainArgs>),
    /// Evaluate a saved model (on its own test split, or on --test FILE).
    Evaluate(EvaluateArgs),
    /// Rank movies for a user with a saved model.
    Rank(RankArgs),
    /// Write a synthetic interaction data set of a given shape (Zipf item popularity, ratings
    /// from hidden factors plus noise), for benchmarks at scale.
    Synth(SynthArgs),
    /// Serve saved models over HTTP: our JSON, TensorFlow Serving's REST API, KServe v2
    /// (Triton's clients) and Prometheus metrics, with hot reload.
    Serve(ServeArgs),
    /// Export a saved model to ONNX or TensorFlow Lite, raw string inputs included.
    Export(ExportArgs),
}

/// Flags every command shares.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// Print one JSON object on stdout instead of human-readable text (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
}

/// Where MovieLens 100k lives.
#[derive(Debug, Args, Clone, Default)]
pub struct DataDirArgs {
    /// A folder holding `ml-100k/` (default: $RECSYS_DATA_DIR, else download to the cache):
    /// MovieLens's ratings, and the side information of `--preset features`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Model shape and training recipe. Unset flags take the preset's values (the tutorial's,
/// without `--preset`).
#[derive(Debug, Args, Clone, Default)]
pub struct RecipeArgs {
    /// Passes over the training data [tutorial: 3].
    #[arg(long, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Examples per training step [tutorial: 8192].
    #[arg(long, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Learning rate [tutorial: 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub learning_rate: Option<f32>,
    /// Optimizer [tutorial: adagrad].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Seed for the split, the weight initialisation and the shuffle [default: 42].
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Keep the training file's order instead of shuffling once before batching.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Width of the user and movie embeddings [tutorial: 32].
    #[arg(long, allow_negative_numbers = true)]
    pub embedding_dim: Option<usize>,
    /// Widths of the hidden ReLU layers, comma-separated [tutorial: 256,64].
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub layers: Option<Vec<usize>>,
}

/// The optimizers, as flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Keras Adagrad (the tutorial's).
    Adagrad,
    /// Keras Adam.
    Adam,
    /// Plain SGD.
    Sgd,
}

impl OptimizerArg {
    /// The library's optimizer.
    pub fn kind(self) -> OptimizerKind {
        match self {
            OptimizerArg::Adagrad => OptimizerKind::Adagrad,
            OptimizerArg::Adam => OptimizerKind::Adam,
            OptimizerArg::Sgd => OptimizerKind::Sgd,
        }
    }
}

impl RecipeArgs {
    /// The library's model shape: the flags over the tutorial's.
    pub fn model(&self) -> RankingModelConfig {
        self.model_over(RankingModelConfig::default())
    }

    /// The library's model shape: the flags over `d` (a preset's).
    pub fn model_over(&self, d: RankingModelConfig) -> RankingModelConfig {
        RankingModelConfig {
            embedding_dim: self.embedding_dim.unwrap_or(d.embedding_dim),
            hidden_layers: self.layers.clone().unwrap_or(d.hidden_layers),
        }
    }

    /// The library's schedule (checked later, by the library): the flags over the
    /// tutorial's.
    pub fn train(&self) -> Schedule {
        let d = Schedule::default();
        Schedule {
            epochs: self.epochs.unwrap_or(d.epochs),
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            optimizer: self.optimizer.map_or(d.optimizer, OptimizerArg::kind),
            learning_rate: self.learning_rate.unwrap_or(d.learning_rate),
            seed: self.seed.unwrap_or(d.seed),
            shuffle: match self.no_shuffle {
                true => Shuffle::Off,
                false => d.shuffle,
            },
            ..d
        }
    }
}

/// `recsys tutorial`.
#[derive(Debug, Args)]
pub struct TutorialArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Where to save the trained model.
    #[arg(long, value_name = "DIR", default_value = "recsys-tutorial-model")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Names of the columns of interaction files.
#[derive(Debug, Args, Clone)]
pub struct ColumnArgs {
    /// Header of the user id column.
    #[arg(long, default_value = "user_id")]
    pub user_column: String,
    /// Header of the item (movie title) column.
    #[arg(long, default_value = "movie_title")]
    pub item_column: String,
    /// Header of the rating column.
    #[arg(long, default_value = "user_rating")]
    pub rating_column: String,
}

impl ColumnArgs {
    /// The library's column mapping.
    pub fn columns(&self) -> ColumnNames {
        ColumnNames {
            user_id: self.user_column.clone(),
            movie_title: self.item_column.clone(),
            user_rating: self.rating_column.clone(),
        }
    }
}

/// `recsys train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
    /// Training ratings, TSV or CSV with a header (default: MovieLens 100k, split 80/20).
    #[arg(long, value_name = "FILE")]
    pub train: Option<PathBuf>,
    /// Test ratings, same format as --train.
    #[arg(long, value_name = "FILE", requires = "train")]
    pub test: Option<PathBuf>,
    /// Stream --train (and --test) instead of holding them in memory: each file is read once
    /// into a temporary file of 12 bytes a row, and every epoch reads it back a batch at a
    /// time, so memory is the model plus a batch, however many rows. Ranking presets only.
    #[arg(long, requires = "train")]
    pub stream: bool,
    /// With --stream: rows of the buffer the training rows are shuffled through on their way
    /// in (tf.data's `shuffle(buffer_size)`); a file that fits is shuffled exactly as in
    /// memory.
    #[arg(long, value_name = "ROWS", requires = "stream", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub shuffle_buffer: u64,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// MovieLens split: training examples.
    #[arg(long, default_value_t = 80_000, allow_negative_numbers = true)]
    pub train_size: usize,
    /// MovieLens split: test examples.
    #[arg(long, default_value_t = 20_000, allow_negative_numbers = true)]
    pub test_size: usize,
    /// Start from these weights (safetensors with the TFRS parity fixture's tensor names).
    #[arg(long, value_name = "FILE")]
    pub init_weights: Option<PathBuf>,
    /// The recipe to start from (the library's presets; `--help` lists them). Flags given
    /// explicitly override the preset's values.
    #[arg(long, default_value = "tutorial", value_parser = preset::parser())]
    pub preset: Preset,
    /// Train the side-feature model declared in this TOML recipe (features, network, training;
    /// see configs/features.toml) instead of a preset's.
    #[arg(long, value_name = "RECIPE.toml")]
    pub features: Option<PathBuf>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    #[command(flatten)]
    pub mf: MfArgs,
    #[command(flatten)]
    pub multitask: MultitaskArgs,
    /// Where to save the trained model.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl TrainArgs {
    /// Where the data comes from.
    pub fn data_spec(&self) -> DataSpec {
        match &self.train {
            Some(train) => DataSpec::Files {
                train: train.clone(),
                test: self.test.clone(),
                columns: self.columns.columns(),
                stream: self
                    .stream
                    .then(|| usize::try_from(self.shuffle_buffer).unwrap_or(usize::MAX)),
            },
            None => DataSpec::MovieLens {
                data_dir: self.data.data_dir.clone(),
                train_size: self.train_size,
                test_size: self.test_size,
            },
        }
    }
}

/// `recsys evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The saved model directory.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Ratings to evaluate on (default: the test split recorded in the model).
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    #[command(flatten)]
    pub columns: ColumnArgs,
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `recsys rank`.
#[derive(Debug, Args)]
pub struct RankArgs {
    /// The saved model directory.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The user to rank for (a raw user id).
    #[arg(long)]
    pub user: String,
    /// Titles to rank.
    #[arg(long, num_args = 1.., required_unless_present = "all", conflicts_with = "all")]
    pub items: Vec<String>,
    /// Rank every title the model knows.
    #[arg(long)]
    pub all: bool,
    /// With --all, how many to show.
    #[arg(
        long,
        default_value_t = 10,
        requires = "all",
        allow_negative_numbers = true
    )]
    pub top: usize,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `recsys synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Distinct users.
    #[arg(long, default_value_t = 943, allow_negative_numbers = true)]
    pub users: u64,
    /// Distinct items.
    #[arg(long, default_value_t = 1682, allow_negative_numbers = true)]
    pub items: u64,
    /// Rows to write.
    #[arg(long, default_value_t = 100_000, allow_negative_numbers = true)]
    pub interactions: u64,
    /// Seed: the same seed writes the same file.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    pub seed: u64,
    /// Zipf exponent of item popularity.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub zipf_exponent: f64,
    /// Where to write the TSV (user_id, movie_title, user_rating).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl SynthArgs {
    /// The library's data set shape (checked by the library).
    pub fn spec(&self) -> recsys::data::SynthSpec {
        recsys::data::SynthSpec {
            users: self.users,
            items: self.items,
            interactions: self.interactions,
            seed: self.seed,
            zipf_exponent: self.zipf_exponent,
            ..recsys::data::SynthSpec::default()
        }
    }
}

/// `recsys serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A model to serve: DIR (named after the directory) or NAME=DIR. Repeat for several; the
    /// first is the default for /v1/rank and /v1/predict.
    #[arg(long = "model", value_name = "[NAME=]DIR", required = true, value_parser = ModelSpec::parse)]
    pub models: Vec<ModelSpec>,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// How often to check each model directory for a new version, in milliseconds (0: never;
    /// POST /admin/models/NAME/reload still works).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub watch_interval_ms: u64,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_body_bytes: usize,
    /// Most candidates (or pairs, instances, inputs) scored per request.
    #[arg(long, default_value_t = Limits::default().max_candidates,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_candidates: usize,
    /// Longest a request may take, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
}

impl ServeArgs {
    /// The server's request limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes,
            max_candidates: self.max_candidates,
            request_timeout: Duration::from_millis(self.timeout_ms),
        }
    }
}

/// `recsys export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The saved model directory.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The file format.
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// The file to write (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// What the exported graph takes: raw strings, or embedding rows (int64) with the
    /// vocabularies written beside the file as FILE-STEM.vocabulary.json.
    #[arg(long, value_enum, default_value_t = InputsArg::Strings)]
    pub inputs: InputsArg,
    /// How the weights are stored; f16 and int8 also report the test-RMSE change.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,
    /// Ratings to measure the RMSE change on (default: the test split the model recorded).
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    #[command(flatten)]
    pub columns: ColumnArgs,
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Export formats, as flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// ONNX, opset 13 (onnxruntime, tract, ...).
    Onnx,
    /// TensorFlow Lite flatbuffer (LiteRT), built-in operators only.
    Tflite,
}

/// Exported graph inputs, as flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputsArg {
    /// `user_id` and `movie_title` strings.
    Strings,
    /// `user_row` and `movie_row` int64 embedding rows.
    Ids,
}

/// Weight precisions, as flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// 32-bit floats, as trained.
    F32,
    /// 16-bit floats.
    F16,
    /// 8-bit integers with per-channel scales.
    Int8,
}

impl ExportArgs {
    /// The library's export options.
    pub fn options(&self) -> ExportOptions {
        ExportOptions {
            format: match self.format {
                FormatArg::Onnx => Format::Onnx,
                FormatArg::Tflite => Format::Tflite,
            },
            inputs: match self.inputs {
                InputsArg::Strings => Inputs::Strings,
                InputsArg::Ids => Inputs::Ids,
            },
            precision: match self.precision {
                PrecisionArg::F32 => Precision::F32,
                PrecisionArg::F16 => Precision::F16,
                PrecisionArg::Int8 => Precision::Int8,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("recsys").chain(args.iter().copied()))
    }

    #[test]
    fn tutorial_defaults_are_the_tutorials_recipe() {
        let Command::Tutorial(t) = parse(&["tutorial"]).unwrap().command else {
            panic!()
        };
        assert_eq!(t.recipe.train(), Schedule::default());
        assert_eq!(t.recipe.model(), RankingModelConfig::default());
        assert!(!t.output.json);
    }

    #[test]
    fn train_parses_the_parity_command() {
        let cli = parse(&[
            "train",
            "--train",
            "a.tsv",
            "--test",
            "b.tsv",
            "--init-weights",
            "w.safetensors",
            "--no-shuffle",
            "--epochs",
            "3",
            "--out",
            "m",
            "--json",
        ])
        .unwrap();
        let Command::Train(t) = cli.command else {
            panic!()
        };
        assert_eq!(t.recipe.train().shuffle, Shuffle::Off);
        assert!(t.output.json);
        assert!(matches!(
            t.data_spec(),
            DataSpec::Files { test: Some(_), .. }
        ));
        assert_eq!(t.init_weights, Some(PathBuf::from("w.safetensors")));
    }

    #[test]
    fn train_edge_forms() {
        let Command::Train(t) = parse(&[
            "train",
            "--out",
            "m",
            "--layers",
            "128,32,8",
            "--optimizer",
            "adam",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(t.recipe.layers, Some(vec![128, 32, 8]));
        assert_eq!(t.recipe.train().optimizer, OptimizerKind::Adam);
        assert!(matches!(
            t.data_spec(),
            DataSpec::MovieLens {
                train_size: 80_000,
                ..
            }
        ));
        assert!(parse(&["train"]).is_err(), "--out is required");
        assert!(
            parse(&["train", "--out", "m", "--test", "b.tsv"]).is_err(),
            "--test needs --train"
        );
        assert!(parse(&["train", "--out", "m", "--epochs", "x"]).is_err());
        // A negative number is a bad value for the flag, not a stray argument.
        let err = parse(&["train", "--out", "m", "--learning-rate", "-1"]).unwrap();
        let Command::Train(t) = err.command else {
            panic!()
        };
        assert_eq!(
            t.recipe.learning_rate,
            Some(-1.0),
            "reaches the library's range check"
        );
        let err = parse(&["train", "--out", "m", "--epochs", "-1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--epochs"), "{err}");
    }

    #[test]
    fn evaluate_forms() {
        let Command::Evaluate(e) = parse(&["evaluate", "--model", "m"]).unwrap().command else {
            panic!()
        };
        assert!(e.test.is_none());
        let Command::Evaluate(e) = parse(&[
            "evaluate",
            "--model",
            "m",
            "--test",
            "t.csv",
            "--rating-column",
            "stars",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(e.columns.columns().user_rating, "stars");
        assert!(parse(&["evaluate"]).is_err());
    }

    #[test]
    fn synth_forms() {
        let Command::Synth(a) = parse(&[
            "synth",
            "--out",
            "s.tsv",
            "--users",
            "162000",
            "--items",
            "59000",
            "--interactions",
            "25000000",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        let spec = a.spec();
        assert_eq!(
            (spec.users, spec.items, spec.interactions),
            (162_000, 59_000, 25_000_000)
        );
        assert!(parse(&["synth"]).is_err(), "--out is required");
        let err = parse(&["synth", "--out", "s", "--users", "-5"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--users"), "{err}");
    }

    #[test]
    fn rank_forms() {
        let Command::Rank(r) = parse(&[
            "rank", "--model", "m", "--user", "42", "--items", "A (1990)", "B (1991)",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(r.items, vec!["A (1990)", "B (1991)"]);
        let Command::Rank(r) = parse(&[
            "rank", "--model", "m", "--user", "42", "--all", "--top", "5",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert!(r.all && r.top == 5);
        assert!(
            parse(&["rank", "--model", "m", "--user", "42"]).is_err(),
            "needs --items or --all"
        );
        assert!(
            parse(&[
                "rank", "--model", "m", "--user", "42", "--all", "--items", "x"
            ])
            .is_err()
        );
    }

    #[test]
    fn serve_forms() {
        let Command::Serve(s) = parse(&["serve", "--model", "m/"]).unwrap().command else {
            panic!()
        };
        assert_eq!(s.models, vec![ModelSpec::named("m", "m/")]);
        assert_eq!(
            s.addr,
            "127.0.0.1:8080".parse().unwrap(),
            "loopback by default"
        );
        assert_eq!(s.limits(), Limits::default());
        let Command::Serve(s) = parse(&[
            "serve",
            "--model",
            "a=x",
            "--model",
            "b=y",
            "--addr",
            "127.0.0.1:0",
            "--watch-interval-ms",
            "0",
            "--max-candidates",
            "5",
            "--timeout-ms",
            "250",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(
            s.models,
            vec![ModelSpec::named("a", "x"), ModelSpec::named("b", "y")]
        );
        assert_eq!(s.addr.port(), 0);
        assert_eq!(s.watch_interval_ms, 0);
        assert_eq!(s.limits().max_candidates, 5);
        assert_eq!(s.limits().request_timeout, Duration::from_millis(250));
        assert!(parse(&["serve"]).is_err(), "--model is required");
        let err = parse(&["serve", "--model", "m", "--addr", "localhost"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--addr"), "{err}");
        let err = parse(&["serve", "--model", "x="]).unwrap_err().to_string();
        assert!(err.contains("--model"), "{err}");
        assert!(parse(&["serve", "--model", "m", "--timeout-ms", "0"]).is_err());
        assert!(parse(&["serve", "--model", "m", "--max-candidates", "-1"]).is_err());
    }

    #[test]
    fn export_forms() {
        let Command::Export(e) = parse(&[
            "export", "--model", "m", "--format", "onnx", "--out", "m.onnx",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(e.options(), ExportOptions::default());
        assert!(!e.output.json && e.test.is_none());
        let Command::Export(e) = parse(&[
            "export",
            "--model",
            "m",
            "--format",
            "tflite",
            "--out",
            "m.tflite",
            "--inputs",
            "ids",
            "--precision",
            "int8",
            "--test",
            "t.tsv",
            "--json",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        let o = e.options();
        assert_eq!(
            (o.format, o.inputs, o.precision),
            (Format::Tflite, Inputs::Ids, Precision::Int8)
        );
        assert!(e.output.json);
        let base = ["export", "--model", "m", "--out", "x"];
        assert!(parse(&base).is_err(), "--format is required");
        assert!(parse(&[&base[..], &["--format", "pb"]].concat()).is_err());
        let bad = [&base[..], &["--format", "onnx", "--precision", "f8"]].concat();
        assert!(parse(&bad).unwrap_err().to_string().contains("--precision"));
        assert!(parse(&["export", "--format", "onnx", "--out", "x"]).is_err());
    }
}
