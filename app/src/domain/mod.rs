//! Plain data and rules, the same in the server and in the browser: topics and their filters,
//! payloads, roles and accounts, device liveness, availability from recorded transitions (uptime),
//! status page specs, when alerts fire and how their notices read, how times and values read,
//! and what server functions and forms answer.
//! Nothing here knows the database, the request or a page: this layer uses no other layer of the
//! crate (`scripts/check-layers.py` keeps it so).

pub mod accounts;
pub mod alert_rule;
pub mod alerting;
pub mod answer;
pub mod chart;
pub mod device_list;
pub mod history;
pub mod incident;
pub mod ingest_status;
pub mod live;
pub mod liveness;
pub mod maintenance;
pub mod message_log;
pub mod notice;
pub mod outcome;
pub mod payload;
pub mod publish;
pub mod roles;
pub mod series;
pub mod status_page;
pub mod subscription;
pub mod theme;
pub mod tokens;
pub mod topic_filter;
pub mod topic_list;
pub mod topic_path;
pub mod uptime;
pub mod wording;
