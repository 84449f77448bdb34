//! Benchmarks that need more than one process: servers to measure and a load generator
//! that runs beside them. Run through the scripts in `scripts/bench-*`.
