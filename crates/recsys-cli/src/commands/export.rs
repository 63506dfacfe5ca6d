//! `recsys export`.

use recsys::artifact;
use recsys::workflow;
use recsys_export::{Precision, PrecisionChange};
use serde::Serialize;

use super::print_json;
use crate::args::ExportArgs;
use crate::progress::Progress;

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    export: recsys_export::ExportReport,
    /// The test-RMSE change of the stored precision (f16 and int8 only).
    rmse: Option<PrecisionChange>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let options = args.options();
    let saved = artifact::load_any(&args.model)?;
    // The kind says which graph it exports as, or why it has none.
    let graph = saved.model.portable()?;
    recsys_export::check_options(graph, &options)?;
    let rmse = if options.precision == Precision::F32 {
        None
    } else {
        let columns = args.columns.columns();
        let test = args.test.as_deref().map(|t| (t, &columns));
        let rows = workflow::test_ratings(
            &args.model,
            &saved.manifest,
            test,
            args.data.data_dir.as_deref(),
            &mut Progress::default(),
        );
        match rows {
            Ok(rows) => Some(recsys_export::precision_change(
                graph,
                &rows,
                options.precision,
            )?),
            // The file is still worth writing; say why the figure is missing.
            Err(e) if args.test.is_none() => {
                tracing::warn!("test RMSE change not measured: {e}");
                None
            }
            Err(e) => return Err(e.into()),
        }
    };
    let export = recsys_export::export_graph(graph, &args.out, &options)?;
    print(&Report { export, rmse }, args.output.json)
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    let e = &report.export;
    println!(
        "Wrote {} ({} bytes; weights {} bytes as {}, {} as f32)",
        e.path.display(),
        e.bytes,
        e.weight_bytes,
        e.precision.as_str(),
        e.f32_weight_bytes
    );
    if let Some(v) = &e.vocabulary {
        println!(
            "Vocabularies (row = index + 1, 0 = unknown): {}",
            v.display()
        );
    }
    if let Some(r) = &report.rmse {
        println!(
            "Test RMSE on {} examples: {:.4} as f32, {:.4} as {} (change {:+.5})",
            r.examples,
            r.f32_rmse,
            r.exported_rmse,
            r.precision.as_str(),
            r.change
        );
    }
    Ok(())
}
