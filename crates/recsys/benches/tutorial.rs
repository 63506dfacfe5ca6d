//! Benchmark of the tutorial recipe on MovieLens 100k: steady-state training epoch, examples per
//! second, and `evaluate` on the 20,000 test rows.
//!
//! `cargo bench -p recsys --bench tutorial [-- --runs R --epochs N --evals E --path distinct|example]`
//! with `RECSYS_DATA_DIR` pointing at the folder holding `ml-100k/`. The steady epoch is the median
//! of epochs 2..N over R runs (epoch 1 includes first-touch page faults); min and max are shown.
//! `evaluate` is the median of E calls after 200 ms of calls left out, the way TFRS's figures in
//! `../shared/peers` leave out its first evaluation; the first call is shown on its own. In a
//! fresh process the first ~50 ms of evaluations ran at one CPU's speed (4.3–5.5 ms a call
//! against 2.4–2.6): rayon's pool, started by the first call, had both its threads on one CPU
//! until Linux moved one (`perf`: the two threads' samples added up to one CPU). Counted in,
//! those calls moved the median of 50 from 2.5 to as much as 4.3 ms between runs.
//! The last line is one JSON object for scripts (`bench/compare_tfrs.sh`).
//!
//! At the end it prints how long one core takes to hand a cache line to the other and get it
//! back. This 2-vCPU machine's host sometimes places its two cores far apart (a round trip of
//! ~320 ns instead of ~55 ns, measured in C): every two-thread figure is then slower (the steady
//! epoch 0.061 s instead of 0.044 s), so each figure needs its round trip beside it. (Measured
//! before the runs too, it made the evaluation 3% slower, so it comes last.)

use std::time::Instant;

use recsys::kinds::ranking::evaluate;
use recsys::kinds::ranking::{FirstLayer, fit_with};
use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
use recsys::train::{EpochReport, Schedule, TrainObserver};
use recsys::workflow::{DataSpec, Quiet};

struct Args {
    runs: usize,
    epochs: usize,
    evals: usize,
    path: FirstLayer,
}

fn parse_args() -> Args {
    let mut a = Args {
        runs: 5,
        epochs: 6,
        evals: 200,
        path: FirstLayer::PerDistinctId,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().map(String::as_str).unwrap_or_default();
        match flag.as_str() {
            "--runs" => a.runs = value().parse().expect("--runs N"),
            "--epochs" => a.epochs = value().parse().expect("--epochs N"),
            "--evals" => a.evals = value().parse().expect("--evals N"),
            "--path" => {
                a.path = match value() {
                    "example" => FirstLayer::PerExample,
                    _ => FirstLayer::PerDistinctId,
                }
            }
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    if a.epochs < 2 || a.runs == 0 || a.evals == 0 {
        // The steady epoch is the median of epochs 2..N: one epoch has none.
        eprintln!("tutorial bench: needs --epochs 2 or more, --runs and --evals 1 or more");
        std::process::exit(2);
    }
    a
}

#[derive(Default)]
struct EpochTimes(Vec<f64>);

impl TrainObserver for EpochTimes {
    fn epoch_end(&mut self, _epoch: usize, report: &EpochReport) {
        self.0.push(report.seconds);
    }
}

fn summary(xs: &mut [f64]) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    (median, xs[0], xs[n - 1])
}

/// Keeps the calling thread on CPU `cpu` (Linux; elsewhere a no-op): unpinned, a new thread
/// may start on its parent's core, and the two then share it.
fn pin_to(cpu: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: `set` is a plain bit set, initialised by CPU_ZERO before use.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// The median of five measures of CPU 0 handing a cache line to CPU 1 and back, in
/// nanoseconds, after two to wake the cores up: two threads pinned to them take turns bumping
/// one atomic counter (threads of their own: the pool's threads inherit the affinity of the
/// thread that starts it). `None` on one core, or if 10,000 handoffs take over 0.2 s.
fn core_round_trip_ns() -> Option<f64> {
    use std::sync::atomic::{AtomicU64, Ordering::*};
    const TURNS: u64 = 10_000;
    const GIVE_UP: u64 = u64::MAX;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return None;
    }
    let mut measures = Vec::new();
    for _ in 0..7 {
        let counter = AtomicU64::new(0);
        let ns = std::thread::scope(|s| {
            s.spawn(|| {
                pin_to(1);
                for i in 0..TURNS {
                    loop {
                        match counter.load(Acquire) {
                            v if v == 2 * i + 1 => break,
                            GIVE_UP => return,
                            _ => {}
                        }
                    }
                    counter.store(2 * i + 2, Release);
                }
            });
            let initiator = s.spawn(|| {
                pin_to(0);
                let start = Instant::now();
                for i in 0..TURNS {
                    counter.store(2 * i + 1, Release);
                    while counter.load(Acquire) != 2 * i + 2 {
                        if start.elapsed().as_secs_f64() > 0.2 {
                            counter.store(GIVE_UP, Release);
                            return None;
                        }
                    }
                }
                Some(start.elapsed().as_secs_f64() * 1e9 / TURNS as f64)
            });
            initiator
                .join()
                .expect("the measuring thread does not panic")
        })?;
        measures.push(ns);
    }
    Some(summary(&mut measures[2..]).0)
}

fn main() -> Result<(), recsys::Error> {
    let args = parse_args();
    let spec = DataSpec::MovieLens {
        data_dir: None,
        train_size: 80_000,
        test_size: 20_000,
    };
    let data = spec.load(42, &mut Quiet)?;
    let (users, titles) = data.vocabularies();
    let fresh = |seed| {
        RankingModel::new(
            RankingModelConfig::default(),
            users.clone(),
            titles.clone(),
            seed,
        )
    };

    let mut steady = Vec::new();
    let mut first = Vec::new();
    let mut last = None;
    for run in 0..args.runs.max(1) {
        let mut model = fresh(run as u64 + 1)?;
        let train = data.train.clone();
        let config = Schedule {
            epochs: args.epochs,
            ..Schedule::default()
        }
        .check()?;
        let mut times = EpochTimes::default();
        let train = std::borrow::Cow::Borrowed(&train);
        fit_with(&mut model, train, &config, args.path, &mut times)?;
        first.push(times.0[0]);
        steady.extend_from_slice(&times.0[1..]);
        last = Some(model);
    }
    let model = last.expect("at least one run");

    // One evaluation of the test rows, in the tutorial's batches of 4,096; its seconds.
    let timed_eval = || -> Result<f64, recsys::Error> {
        let t = Instant::now();
        std::hint::black_box(evaluate(&model, &data.test, 4096)?);
        Ok(t.elapsed().as_secs_f64())
    };
    let first_eval = timed_eval()?;
    let warm = Instant::now();
    while warm.elapsed().as_millis() < 200 {
        timed_eval()?;
    }
    let mut evals = (0..args.evals)
        .map(|_| timed_eval())
        .collect::<Result<Vec<_>, _>>()?;

    let round_trip = core_round_trip_ns();
    let (epoch, epoch_min, epoch_max) = summary(&mut steady);
    let (first_epoch, _, _) = summary(&mut first);
    let (eval, eval_min, eval_max) = summary(&mut evals);
    let n = data.train.len() as f64;
    println!(
        "tutorial recipe, first layer {:?}, {} runs x {} epochs",
        args.path, args.runs, args.epochs
    );
    println!(
        "  steady epoch (80,000 examples): {epoch:.4} s (min {epoch_min:.4}, max {epoch_max:.4}), {:.0} examples/s",
        n / epoch
    );
    println!("  first epoch: {first_epoch:.4} s");
    println!(
        "  evaluate (20,000 examples): {:.3} ms (min {:.3}, max {:.3}); first call {:.3} ms",
        eval * 1e3,
        eval_min * 1e3,
        eval_max * 1e3,
        first_eval * 1e3
    );
    match round_trip {
        Some(ns) => println!("  core-to-core round trip, after: {ns:.0} ns"),
        None => println!("  core-to-core round trip: - (one core, or too slow to measure)"),
    }
    let json = round_trip.map_or("null".into(), |ns| format!("{ns:.1}"));
    println!(
        "{{\"core_round_trip_ns\":{json},\"steady_epoch_s\":{epoch},\"steady_epoch_min_s\":{epoch_min},\"steady_epoch_max_s\":{epoch_max},\"examples_per_s\":{},\"first_epoch_s\":{first_epoch},\"evaluate_s\":{eval},\"evaluate_min_s\":{eval_min},\"first_evaluate_s\":{first_eval}}}",
        n / epoch
    );
    Ok(())
}
