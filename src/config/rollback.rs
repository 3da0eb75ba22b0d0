//! `[rollback]`: what runs after the database is rolled back.

use schemars::JsonSchema;
use serde::Deserialize;

use super::checks::HttpConfig;
use super::located::{Located, Text};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackConfig {
    /// Run in order after the database steps succeed, each reported like a check.
    #[serde(default)]
    pub hooks: Vec<Located<HookConfig>>,
}

/// `[[rollback.hooks]]`: an HTTP call or a command.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Used in ids: `hook.<name>`.
    pub name: String,
    /// An HTTP call, e.g. `{ method = "PUT", url = "…/flags/LP_DASHBOARD_ENABLED", body = '{"enabled": false}' }`.
    pub http: Option<Located<HttpConfig>>,
    /// A command, run without a shell, e.g. `"kubectl rollout undo deployment/api-server"`.
    pub command: Option<Text>,
    /// Deadline of the hook (default `60s`).
    pub timeout: Option<Text>,
}
