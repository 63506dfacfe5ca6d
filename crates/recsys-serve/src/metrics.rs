//! `Metrics`: request counts and latency histograms per route, rendered with the models'
//! versions in Prometheus's text exposition format at `GET /metrics`.
//!
//! Routes are labelled by their template (`/v2/models/{name}/infer`), never the raw path, so
//! the number of series stays fixed whatever clients send.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::models::Models;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Request counters and latency histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<HashMap<String, RouteStats>>,
}

#[derive(Debug, Default)]
struct RouteStats {
    /// `(method, status, count)`.
    counts: Vec<(String, u16, u64)>,
    /// Per bucket (not cumulative), then the overflow past the last bound.
    buckets: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

impl Metrics {
    /// Records one request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let stats = match routes.get_mut(route) {
            Some(s) => s,
            None => routes.entry(route.to_owned()).or_default(),
        };
        match stats
            .counts
            .iter_mut()
            .find(|(m, s, _)| m == method && *s == status)
        {
            Some((_, _, n)) => *n += 1,
            None => stats.counts.push((method.to_owned(), status, 1)),
        }
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BUCKETS.len());
        stats.buckets[bucket] += 1;
        stats.sum_seconds += seconds;
        stats.count += 1;
    }

    /// The Prometheus text exposition of every counter, histogram and model gauge.
    pub fn render(&self, models: &Models) -> String {
        let mut out = String::new();
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();

        out.push_str("# HELP recsys_http_requests_total HTTP requests answered, by route template, method and status code.\n");
        out.push_str("# TYPE recsys_http_requests_total counter\n");
        for name in &names {
            let mut counts = routes[*name].counts.clone();
            counts.sort();
            for (method, status, n) in counts {
                let _ = writeln!(
                    out,
                    "recsys_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    escape(name),
                    escape(&method)
                );
            }
        }

        out.push_str("# HELP recsys_http_request_duration_seconds Time from receiving a request to its response, by route template.\n");
        out.push_str("# TYPE recsys_http_request_duration_seconds histogram\n");
        for name in &names {
            let stats = &routes[*name];
            let route = escape(name);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&stats.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "recsys_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "recsys_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "recsys_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "recsys_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                stats.count
            );
        }
        drop(routes);

        out.push_str("# HELP recsys_model_version Version of each model now serving: 1 at start, +1 per successful reload.\n");
        out.push_str("# TYPE recsys_model_version gauge\n");
        for slot in models.iter() {
            let _ = writeln!(
                out,
                "recsys_model_version{{model=\"{}\"}} {}",
                escape(slot.name()),
                slot.current().version
            );
        }
        out.push_str("# HELP recsys_model_info The model now serving: its version, weights checksum and writer.\n");
        out.push_str("# TYPE recsys_model_info gauge\n");
        for slot in models.iter() {
            let m = slot.current();
            let _ = writeln!(
                out,
                "recsys_model_info{{model=\"{}\",version=\"{}\",weights_sha256=\"{}\",created_by=\"{}\"}} 1",
                escape(slot.name()),
                m.version,
                escape(&m.weights_sha256),
                escape(&m.manifest.created_by)
            );
        }
        out.push_str("# HELP recsys_model_reloads_total Reload attempts that loaded a new version (success) or kept the old one (failure).\n");
        out.push_str("# TYPE recsys_model_reloads_total counter\n");
        for slot in models.iter() {
            let (ok, failed) = slot.reload_counts();
            let name = escape(slot.name());
            let _ = writeln!(
                out,
                "recsys_model_reloads_total{{model=\"{name}\",result=\"success\"}} {ok}"
            );
            let _ = writeln!(
                out,
                "recsys_model_reloads_total{{model=\"{name}\",result=\"failure\"}} {failed}"
            );
        }
        out
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_counts_split_by_status() {
        let m = Metrics::default();
        m.observe_request("/v1/rank", "POST", 200, Duration::from_micros(50));
        m.observe_request("/v1/rank", "POST", 200, Duration::from_millis(3));
        m.observe_request("/v1/rank", "POST", 400, Duration::from_secs(60));
        let routes = m.routes.lock().unwrap();
        let s = &routes["/v1/rank"];
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], 1, "50 µs ≤ 0.1 ms");
        assert_eq!(s.buckets[5], 1, "3 ms ≤ 5 ms");
        assert_eq!(s.buckets[BUCKETS.len()], 1, "60 s overflows");
        assert_eq!(
            s.counts,
            vec![("POST".to_owned(), 200, 2), ("POST".to_owned(), 400, 1)]
        );
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
