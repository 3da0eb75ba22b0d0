//! shipgate: deployment runbooks as one command that CI runs and trusts.
//!
//! The data flows one way: argv and config ([`cli`], [`config`], [`env`]) → checks
//! ([`checks`]) → a [`report::Report`] → renderers ([`report`]) → sinks ([`output`]) → exit code.

pub mod action;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod env;
pub mod error;
pub mod files;
pub mod github;
pub mod http_client;
pub mod migrate;
pub mod notify;
pub mod output;
pub mod plan;
pub mod ratelimit;
pub mod report;
pub mod rerun;
pub mod secret;
pub mod units;

/// Exit codes (documented in the README). Never reuse one for two meanings.
pub mod exit {
    /// Everything passed (warnings allowed unless `--strict`).
    pub const PASSED: u8 = 0;
    /// A check failed.
    pub const FAILED: u8 = 1;
    /// The input is wrong (usage, config, files); nothing ran.
    pub const INPUT: u8 = 2;
    /// The checks ran but a report could not be written (an `--output` file, a GitHub file).
    pub const OUTPUT: u8 = 3;
    /// `verify --watch` was interrupted (Ctrl-C) with every round so far passed; the report of
    /// those rounds was written. 128 + SIGINT, as shells report it.
    pub const INTERRUPTED: u8 = 130;
}
