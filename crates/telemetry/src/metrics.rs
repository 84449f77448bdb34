//! Prometheus metrics for every process: the `metrics` facade records, this module holds
//! the one recorder and renders it for `/metrics`. Histograms are real Prometheus
//! histograms (buckets from 1 ms to 30 s), so rates and quantiles aggregate across replicas.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Latency buckets in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. When another recorder was installed
/// first (a test harness), the handle renders this recorder's empty registry.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            eprintln!("telemetry: a metrics recorder was already installed; /metrics is empty");
        }
        let upkeep = handle.clone();
        // Drains histogram samples into their buckets, so memory stays bounded between
        // scrapes.
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".to_owned())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            });
        if let Err(err) = spawned {
            eprintln!("telemetry: cannot start metrics upkeep: {err}");
        }
        handle
    })
}

/// The metrics in the Prometheus text format.
pub fn render() -> String {
    let handle = prometheus();
    handle.run_upkeep();
    handle.render()
}
