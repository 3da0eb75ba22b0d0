//! `[preflight]`: the pre-deployment checks of a runbook.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::located::{Located, Text};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreflightConfig {
    /// Overall deadline for the whole preflight, e.g. `"2m"`. `--timeout` overrides it.
    pub timeout: Option<Text>,
    /// Default deadline of each check, e.g. `"10s"`.
    pub check_timeout: Option<Text>,
    pub env: Option<Located<EnvConfig>>,
    #[serde(default)]
    pub database: Vec<Located<DatabaseConfig>>,
    #[serde(default)]
    pub redis: Vec<Located<RedisConfig>>,
    #[serde(default)]
    pub path: Vec<Located<PathConfig>>,
    #[serde(default)]
    pub http: Vec<Located<HttpConfig>>,
    #[serde(default)]
    pub tls: Vec<Located<TlsConfig>>,
    #[serde(default)]
    pub tool: Vec<Located<ToolConfig>>,
    #[serde(default)]
    pub sql: Vec<Located<SqlConfig>>,
}

/// `[preflight.env]`: variables the deployment needs.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Variables that must be set, non-empty and not a placeholder.
    #[serde(default)]
    pub required: Vec<Text>,
    /// An `.env.example` whose every key must be set; keys of the env file it lacks are warned about.
    pub example: Option<Text>,
    /// More placeholder values to refuse, besides `changeme`, `your_*_here`, `xxx`, `TODO`.
    #[serde(default)]
    pub placeholders: Vec<String>,
    /// Typed variables, by name.
    #[serde(default)]
    pub vars: IndexMap<String, Located<EnvVarConfig>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    String,
    Integer,
    Boolean,
    Url,
    Duration,
}

/// `[preflight.env.vars.NAME]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvVarConfig {
    /// Whether the variable must be set (default true). An unset optional variable passes.
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(rename = "type", default = "string_type")]
    pub kind: VarType,
    /// Smallest allowed value (integer).
    pub min: Option<i64>,
    /// Largest allowed value (integer).
    pub max: Option<i64>,
    /// Allowed URL schemes (url), e.g. `["postgres", "postgresql"]`.
    #[serde(default)]
    pub schemes: Vec<String>,
    /// The value must be one of these.
    #[serde(default)]
    pub one_of: Vec<String>,
    /// A regular expression the whole value must match.
    pub pattern: Option<Text>,
    /// Treat the value as secret even if the name does not say so.
    #[serde(default)]
    pub secret: bool,
}

fn yes() -> bool {
    true
}

fn string_type() -> VarType {
    VarType::String
}

/// `[[preflight.database]]`: PostgreSQL, MySQL/MariaDB or SQLite, by the URL's scheme.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Used in check ids: `database.<name>`. Default `main` (then `main-2`, …).
    pub name: Option<String>,
    /// `postgres://…`, `mysql://…`, `mariadb://…` or `sqlite://path`.
    pub url: Text,
    /// Keep retrying the connection for this long (like `pg_isready`), e.g. `"30s"`.
    pub wait: Option<Text>,
    /// Deadline of this check (on top of `wait`).
    pub timeout: Option<Text>,
    /// Lowest acceptable server version, e.g. `"13"`.
    pub min_version: Option<Text>,
    /// Tables that must exist; `schema.table` allowed.
    #[serde(default)]
    pub tables: Vec<Text>,
    /// PostgreSQL extensions that must be installed, e.g. `pgcrypto`.
    #[serde(default)]
    pub extensions: Vec<Text>,
    /// Warn when `SELECT 1` takes longer (default `200ms`).
    pub latency_warn: Option<Text>,
    /// Fail when `SELECT 1` takes longer (default `500ms`).
    pub latency_fail: Option<Text>,
    /// Warn when this share of `max_connections` is in use (default 80).
    #[schemars(range(max = 100))]
    pub connections_warn_percent: Option<u8>,
    /// Fail when this share of `max_connections` is in use (default 95).
    #[schemars(range(max = 100))]
    pub connections_fail_percent: Option<u8>,
    /// A migrations directory: report pending migrations, and fail on applied files that changed
    /// or migrations that stopped part-way (as `shipgate migrate --check` does).
    pub migrations: Option<Text>,
    /// The history table of those migrations (default: `[migrate] table`, else `shipgate_migrations`).
    pub migrations_table: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Persistence {
    /// RDB snapshots configured (`save` not empty).
    Rdb,
    /// Append-only file enabled.
    Aof,
    /// RDB or AOF.
    Any,
    /// Neither (a pure cache).
    None,
}

/// `[[preflight.redis]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Used in check ids: `redis.<name>`. Default `cache` (then `cache-2`, …).
    pub name: Option<String>,
    /// `redis://[:password@]host:port[/db]` or `rediss://…`.
    pub url: Text,
    /// An unreachable (or unconfigured) Redis is a warning, not a failure.
    #[serde(default)]
    pub optional: bool,
    pub timeout: Option<Text>,
    /// Warn when PING takes longer (default `100ms`).
    pub latency_warn: Option<Text>,
    /// Fail when PING takes longer (default `500ms`).
    pub latency_fail: Option<Text>,
    pub min_version: Option<Text>,
    /// Expected `maxmemory-policy`, e.g. `allkeys-lru`.
    pub maxmemory_policy: Option<Text>,
    /// Expected persistence.
    pub persistence: Option<Persistence>,
    /// CA certificate (PEM) to trust for `rediss://` instead of the system's roots.
    pub ca_file: Option<Text>,
}

/// `[[preflight.path]]`: a directory the deployment writes to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathConfig {
    /// Used in check ids: `path.<name>`. Default: the directory's last component.
    pub name: Option<String>,
    pub path: Text,
    /// Create the directory (and parents) when missing; never under `--dry-run`.
    #[serde(default)]
    pub create: bool,
    /// Octal mode for a created directory, e.g. `"755"`.
    pub mode: Option<Text>,
    /// Prove the directory writable by creating and removing a file (default true).
    #[serde(default = "yes")]
    pub writable: bool,
    /// Free space needed, e.g. `"1GiB"`.
    pub min_free: Option<Text>,
    /// Warn when the filesystem is fuller than this (default 80).
    #[schemars(range(max = 100))]
    pub usage_warn_percent: Option<u8>,
    /// Fail when the filesystem is fuller than this (default 95).
    #[schemars(range(max = 100))]
    pub usage_fail_percent: Option<u8>,
}

/// `[[preflight.http]]`: a dependency answers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Used in check ids: `http.<name>`. Default: the URL's host.
    pub name: Option<String>,
    pub url: Text,
    /// Default `GET`.
    pub method: Option<String>,
    /// Accepted statuses: `200`, `"2xx"`, `"!5xx"` (default: any 2xx).
    #[serde(default)]
    pub expect_status: Vec<StatusText>,
    /// Request headers; values may use `${VAR}`. Secret-looking ones are never printed.
    #[serde(default)]
    pub headers: IndexMap<String, Text>,
    /// Request body (e.g. `'{"enabled": false}'`); values may use `${VAR}`.
    pub body: Option<Text>,
    pub timeout: Option<Text>,
    /// Response headers: `"present"`, an exact value, or `"~regex"`.
    #[serde(default)]
    pub expect_headers: IndexMap<String, String>,
    /// Texts the body must contain.
    #[serde(default)]
    pub body_contains: Vec<String>,
    /// Regular expressions the body must match.
    #[serde(default)]
    pub body_matches: Vec<String>,
    /// JSON assertions: `$.status == "healthy"`, `$.items length >= 1`, `$.token exists`.
    #[serde(default)]
    pub expect_json: Vec<Text>,
    /// The response must come within this time, e.g. `"200ms"`.
    pub max_latency: Option<Text>,
    /// Keep trying until the expectations hold (waiting for health).
    pub retry: Option<RetryConfig>,
    /// Pass only after this many passes in a row (default 1).
    pub consecutive: Option<u32>,
}

impl HttpConfig {
    /// A plain `GET url` expecting 2xx (what `--http-url` means).
    pub fn get(url: Text) -> HttpConfig {
        HttpConfig {
            name: None,
            url,
            method: None,
            expect_status: Vec::new(),
            headers: IndexMap::new(),
            body: None,
            timeout: None,
            expect_headers: IndexMap::new(),
            body_contains: Vec::new(),
            body_matches: Vec::new(),
            expect_json: Vec::new(),
            max_latency: None,
            retry: None,
            consecutive: None,
        }
    }
}

/// A status as written: `200` or `"2xx"` / `"!5xx"`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusText {
    Code(u16),
    Text(String),
}

/// `retry = { timeout = "60s", interval = "2s", backoff = 1.5 }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Give up after this long (bounded by the overall deadline).
    pub timeout: Text,
    /// Wait between attempts (default `1s`).
    pub interval: Option<Text>,
    /// Multiply the interval after each attempt (default 1, at most 10).
    pub backoff: Option<f64>,
}

/// `[[preflight.tls]]`: the certificate a server presents.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Used in check ids: `tls.<name>`. Default: the host.
    pub name: Option<String>,
    pub host: Text,
    /// Default 443.
    pub port: Option<u16>,
    /// Extra trusted CA certificates (PEM), besides the system's.
    pub ca_file: Option<Text>,
    /// Warn when the certificate expires within this many days (default 30).
    pub warn_days: Option<u32>,
    /// Fail when the certificate expires within this many days (default 7).
    pub fail_days: Option<u32>,
    pub timeout: Option<Text>,
}

/// `[[preflight.tool]]`: an executable and its version.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    /// The executable, looked up on `PATH`; also the check id `tool.<name>`.
    pub name: String,
    /// The command that prints the version (default `<name> --version`).
    pub command: Option<Text>,
    /// A regular expression whose first group (or whole match) is the version.
    pub pattern: Option<Text>,
    pub min_version: Option<Text>,
    pub timeout: Option<Text>,
}

/// `[[verify.sql]]`: a query and what it must return, or a probe that must fail.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// Used in check ids: `sql.<name>`.
    pub name: String,
    /// The database (postgres://, mysql://, mariadb://, sqlite://).
    pub url: Text,
    /// Runs in a read-only transaction that is rolled back (with `expect_error`: a transaction
    /// that is rolled back).
    pub query: Text,
    /// The first column of the first row equals this.
    pub expect: Option<ScalarText>,
    /// The first column of the first row is at least this number.
    pub expect_at_least: Option<f64>,
    /// The query returns this many rows.
    pub expect_rows: Option<usize>,
    /// The query returns no rows.
    pub expect_empty: Option<bool>,
    /// The statement fails with this SQLSTATE, e.g. `"23505"` (unique violation).
    pub expect_error: Option<String>,
    pub timeout: Option<Text>,
}

/// A scalar as written: `3`, `"healthy"`, `true`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ScalarText {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl ScalarText {
    pub fn as_text(&self) -> String {
        match self {
            ScalarText::Int(n) => n.to_string(),
            ScalarText::Float(f) => f.to_string(),
            ScalarText::Bool(b) => b.to_string(),
            ScalarText::Text(t) => t.clone(),
        }
    }
}
