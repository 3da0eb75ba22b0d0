//! `[migrate]`: where the migrations are and how to apply them.

use schemars::JsonSchema;
use serde::Deserialize;

use super::hooks::HookConfig;
use super::located::{Located, Text};
use super::setting::Typed;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateConfig {
    /// The database, when neither `--database-url` nor `DATABASE_URL` gives one (default: the
    /// first `[[preflight.database]]`).
    pub database_url: Option<Text>,
    /// The migrations directory (default `migrations`, else `prisma/migrations` when only that
    /// exists).
    pub dir: Option<Text>,
    /// Force a layout: `sqlx`, `up-down` (golang-migrate), `diesel`, `dbmate`, `flyway`, `prisma`.
    pub layout: Option<String>,
    /// The history table (default `shipgate_migrations`); `schema.table` allowed.
    pub table: Option<String>,
    /// How long to wait for another migrator's lock (default `60s`).
    pub lock_timeout: Option<Text>,
    /// Deadline of a whole `migrate` or `rollback` run (connecting, the lock, the backup, every
    /// migration), when `--timeout` is not given; default none: each step keeps its own bound.
    pub timeout: Option<Text>,
    /// Tables that must exist before migrating (e.g. `funds`, created by another service).
    #[serde(default)]
    pub require_tables: Vec<Text>,
    /// Apply a pending migration older than the newest applied one instead of refusing.
    pub allow_out_of_order: Option<Typed<bool>>,
    /// Run in order before (`when = "before"`) or after the migrations that a run applies, each
    /// reported like a check (`hook.<name>`): maintenance mode on, views refreshed, maintenance off.
    #[serde(default)]
    pub hooks: Vec<Located<HookConfig>>,
    /// The migration lint (`migrate --lint`, and the lint rows of `--check` and `--dry-run`).
    pub lint: Option<LintConfig>,
}

/// `[migrate.lint]`: Squawk's rules on the pending migrations, weighed against the database.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LintConfig {
    /// From this many rows a table is large: a statement that locks it for a scan, a build or
    /// a rewrite fails the lint; on a smaller table it is a warning (default 100000).
    pub large_table_rows: Option<Typed<u64>>,
    /// `fail` (default): a finding on a large table fails the run; `warn`: every finding is at
    /// most a warning.
    pub level: Option<Text>,
    /// Squawk rules to turn off (`prefer-text-field`).
    #[serde(default)]
    pub disable: Vec<Text>,
    /// Squawk rules that are off by default to turn on (`require-timeout-settings`).
    #[serde(default)]
    pub enable: Vec<Text>,
    /// Findings to leave out, each counted in the report: a rule everywhere
    /// (`ban-drop-column`) or in one migration (`20240101120000:ban-drop-column`).
    #[serde(default)]
    pub ignore: Vec<Text>,
}
