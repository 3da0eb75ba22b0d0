//! `[[migrate.hooks]]` and `[[rollback.hooks]]`: what runs before and after the database steps
//! (maintenance mode on and off, a materialized view refreshed, a deployment rolled back).

use schemars::JsonSchema;
use serde::Deserialize;

use super::checks::HttpConfig;
use super::located::{Located, Text};
use super::setting::Typed;

/// When a hook runs, relative to the database steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HookWhen {
    /// Before the first migration is applied (or reverted), under the migration lock; a failing
    /// one stops the run before the database changes.
    Before,
    /// After the database steps completed (with `always = true`: even when they failed).
    #[default]
    After,
}

/// One hook: exactly one of `http`, `command`, `sql` or `redis`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Used in ids: `hook.<name>`.
    pub name: String,
    /// `before` or `after` the database steps (default `after`).
    pub when: Option<HookWhen>,
    /// An `after` hook that restores state (maintenance mode off) runs even when a migration,
    /// a rollback step or a `before` hook failed — once the run got as far as changing things.
    pub always: Option<Typed<bool>>,
    /// An HTTP call, e.g. `{ method = "PUT", url = "…/flags/LP_DASHBOARD_ENABLED", body = '{"enabled": false}' }`.
    pub http: Option<Located<HttpConfig>>,
    /// A command, run without a shell, e.g. `"kubectl rollout undo deployment/api-server"`.
    pub command: Option<Text>,
    /// SQL written in its own transaction (committed), bounded by the lock timeout, e.g.
    /// `"REFRESH MATERIALIZED VIEW lp_summary"`; on the command's database unless `url` is given.
    pub sql: Option<Text>,
    /// A Redis command, e.g. `"SET maintenance_mode on"`, sent to `url` (a `redis://` or
    /// `rediss://` URL, required).
    pub redis: Option<Text>,
    /// The database of a `sql` hook, when not the one migrated; the server of a `redis` hook.
    pub url: Option<Text>,
    /// Deadline of the hook (default `60s`).
    pub timeout: Option<Text>,
}
