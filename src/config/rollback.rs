//! `[rollback]`: what runs around the database rollback.

use schemars::JsonSchema;
use serde::Deserialize;

use super::hooks::HookConfig;
use super::located::Located;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackConfig {
    /// Run in order before (`when = "before"`) or after the database steps, each reported like
    /// a check; `shipgate rollback --app-only` runs them with no database step.
    #[serde(default)]
    pub hooks: Vec<Located<HookConfig>>,
}
