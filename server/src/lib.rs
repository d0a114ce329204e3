//! The `lookout` server: configuration, start-up, MQTT ingest, the database writer,
//! maintenance, publishing from the dashboard, and the zero-set-up demo. `main.rs` only parses the command line; tests start the same
//! [`startup::Application`].

// The router's view types nest a level per route; with a dozen routes Leptos' pages exceed the
// compiler's default depth of 128 when it lays out their async blocks.
#![recursion_limit = "256"]

pub mod account;
pub mod admin;
pub mod alert_outbox;
pub mod alerts;
pub mod config;
pub mod connections;
pub mod demo;
pub mod embedded_site;
pub mod https;
pub mod ingest;
pub mod leave_group;
pub mod live;
pub mod login;
pub mod maintenance;
pub mod notify;
pub mod page_outbox;
pub mod pem;
pub mod publish;
pub mod startup;
pub mod status_pages;
pub mod theme;
pub mod uptime_watch;
pub mod user_cli;
pub mod web;
pub mod writer;
