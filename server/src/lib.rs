//! The `lookout` server: configuration, start-up, MQTT ingest and the database writer. `main.rs`
//! only parses the command line; tests start the same [`startup::Application`].

pub mod config;
pub mod ingest;
pub mod startup;
pub mod writer;
