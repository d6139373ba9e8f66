//! The end-to-end tests of Sigillo as one test binary: the real `sigillo` (and `pec-sim`)
//! binaries against a real Postgres, Dovecot and browser. One module per area; the
//! dashboard's harness (`web_common`) is shared by the `web_*` modules.
//!
//! Build the binaries first: `cargo build --workspace --bins` (scripts/test does).

// clippy.toml allows unwrap and expect in #[test] functions only; the helpers of these
// modules (harnesses, fixtures, polling) panic on purpose too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod web_common;

mod assignments;
mod blob_processes;
mod blob_verify;
mod check_cli;
mod closed_day;
mod desk_browser;
mod desk_registrations;
mod fascicoli;
mod health_db_down;
mod check_documents;
mod intake_imap;
mod intake_ingest;
mod intake_nul;
mod notify_e2e;
mod outgoing_pec;
mod pec_anchors;
mod pec_sim;
mod policy_switches;
mod register_cli;
mod service_logs;
mod titolario;
mod trusted_list_service;
mod trusted_lists;
mod validation_time;
mod web_accounts;
mod web_browser;
mod web_decisions;
mod web_desk;
mod web_desk_browser;
mod web_downloads;
mod web_exports;
mod web_input;
mod web_login;
mod web_outbox;
mod web_security;
mod web_user_cli;
