//! `recsys serve`: load the models, bind, serve until SIGTERM or Ctrl-C.

use std::time::Duration;

use anyhow::Context;
use recsys_serve::{AppState, Models, app, shutdown_signal, spawn_watcher};

use crate::args::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let limits = args.limits();
    let names: Vec<String> = args.models.iter().map(|m| m.name.clone()).collect();
    let models = Models::load(args.models)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let state = AppState::new(models, limits);
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        if args.watch_interval_ms > 0 {
            spawn_watcher(
                state.models.clone(),
                Duration::from_millis(args.watch_interval_ms),
            );
        }
        eprintln!(
            "recsys serve: listening on http://{addr} (models: {})",
            names.join(", ")
        );
        axum::serve(listener, app(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving")?;
        eprintln!("recsys serve: stopped");
        Ok(())
    })
}
