//! What Lookout's benchmarks share: the benchmark messages (`payload`), the paced QoS 1 load
//! generator (`publish`), CPU and memory readings from /proc (`procstat`) and the reports'
//! number formats (`markdown`).

pub mod markdown;
pub mod payload;
pub mod procstat;
pub mod publish;
