//! What more than one page shows or reads: view components (the history chart, incidents' forms, load
//! errors, the page clock, the account menu, the theme buttons, outcome messages), the live stream a page follows, and the
//! server functions that more than one page calls. Components use the domain, and the server
//! layer only inside server function bodies; they never use a page.

pub mod account_menu;
pub mod chart;
pub mod device_list;
pub mod incident_forms;
pub mod live_stream;
pub mod load_error;
pub mod not_found;
pub mod outcome_message;
pub mod page_clock;
pub mod sparkline;
pub mod theme_choice;
