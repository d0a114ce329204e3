//! The pages: a module per page (the admin pages in a folder of their own), each with the server
//! functions only it calls and the data they answer. A page uses every layer below it, and never
//! another page: what two pages share belongs in components or the domain.

pub mod account;
pub mod admin;
pub mod devices;
pub mod explorer;
pub mod incidents;
pub mod login;
pub mod overview;
pub mod publish;
pub mod topic;
