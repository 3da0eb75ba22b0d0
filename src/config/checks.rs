//! The check schema of `[preflight]` and `[verify]`: one table per check kind. `[preflight]`
//! takes all but the verify-only kinds (see `VERIFY_ONLY`); `[verify]` takes every kind.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::located::{Located, Text};
use super::setting::Typed;

/// The checks of `[preflight]` or `[verify]`, and their deadlines.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// Overall deadline for the whole run of the section, e.g. `"2m"`. `--timeout` overrides it.
    pub timeout: Option<Text>,
    /// Default deadline of each check, e.g. `"10s"`.
    pub check_timeout: Option<Text>,
    /// `[verify]` only: re-run the checks for this long, e.g. `"30m"` (`--watch` overrides it).
    pub watch: Option<Text>,
    /// `[verify]` only: time between the starts of two rounds of `watch`, e.g. `"5m"`
    /// (`--every` overrides it).
    pub every: Option<Text>,
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
    pub command: Vec<Located<CommandConfig>>,
    #[serde(default)]
    pub sql: Vec<Located<SqlConfig>>,
    #[serde(default)]
    pub metrics: Vec<Located<MetricsConfig>>,
    #[serde(default)]
    pub prometheus: Vec<Located<PrometheusConfig>>,
    #[serde(default)]
    pub log: Vec<Located<LogConfig>>,
}

impl ChecksConfig {
    /// The first check, in file order, of a kind only `[verify]` runs: a query on the data,
    /// metrics, a log — what a deployed system has and a system about to be deployed to does
    /// not. Its kind and span.
    pub fn first_verify_only(&self) -> Option<(&'static str, &std::ops::Range<usize>)> {
        let sql = self.sql.iter().map(|c| ("sql", &c.span));
        let metrics = self.metrics.iter().map(|c| ("metrics", &c.span));
        let prometheus = self.prometheus.iter().map(|c| ("prometheus", &c.span));
        let log = self.log.iter().map(|c| ("log", &c.span));
        sql.chain(metrics)
            .chain(prometheus)
            .chain(log)
            .min_by_key(|(_, span)| span.start)
    }

    /// The first `[verify]`-only key of the section (`watch`, `every`), and its span.
    pub fn first_verify_only_key(&self) -> Option<(&'static str, &std::ops::Range<usize>)> {
        let watch = self.watch.iter().map(|t| ("watch", &t.span));
        let every = self.every.iter().map(|t| ("every", &t.span));
        watch.chain(every).min_by_key(|(_, span)| span.start)
    }
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
    pub required: Option<Typed<bool>>,
    #[serde(rename = "type", default = "string_type")]
    pub kind: VarType,
    /// Smallest allowed value (integer).
    pub min: Option<Typed<i64>>,
    /// Largest allowed value (integer).
    pub max: Option<Typed<i64>>,
    /// Allowed URL schemes (url), e.g. `["postgres", "postgresql"]`.
    #[serde(default)]
    pub schemes: Vec<String>,
    /// The value must be one of these.
    #[serde(default)]
    pub one_of: Vec<String>,
    /// A regular expression the whole value must match.
    pub pattern: Option<Text>,
    /// Treat the value as secret even if the name does not say so.
    pub secret: Option<Typed<bool>>,
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
    pub connections_warn_percent: Option<Typed<u8>>,
    /// Fail when this share of `max_connections` is in use (default 95).
    #[schemars(range(max = 100))]
    pub connections_fail_percent: Option<Typed<u8>>,
    /// A migrations directory: report pending migrations, and fail on applied files that changed
    /// or migrations that stopped part-way (as `shipgate migrate --check` does).
    pub migrations: Option<Text>,
    /// The history table of those migrations (default: `[migrate] table`, else `shipgate_migrations`).
    pub migrations_table: Option<String>,
    /// Checks (by name or id) that must pass before this one starts.
    #[serde(default)]
    pub needs: Vec<Text>,
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
    pub optional: Option<Typed<bool>>,
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
    /// Keys that must exist, e.g. `["lp:config"]`.
    #[serde(default)]
    pub keys_present: Vec<Text>,
    /// Keys that must not exist, e.g. `["maintenance_mode"]` after a deployment.
    #[serde(default)]
    pub keys_absent: Vec<Text>,
    /// Keys whose (string) value must equal the given one.
    #[serde(default)]
    pub key_equals: IndexMap<String, Text>,
    /// Assertions on the server's `INFO`, each `<field> <op> <value>`: any numeric field
    /// (`connected_clients < 500`, `used_memory < 2GiB`, `evicted_keys == 0`) or a derived ratio
    /// (`keyspace_hit_ratio >= 0.8`, `used_memory_ratio < 0.9`); ops `==` `!=` `<` `<=` `>` `>=`,
    /// values numbers or sizes.
    #[serde(default)]
    pub info: Vec<Text>,
    /// Checks (by name or id) that must pass before this one starts.
    #[serde(default)]
    pub needs: Vec<Text>,
}

/// `[[preflight.path]]`: a directory the deployment writes to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathConfig {
    /// Used in check ids: `path.<name>`. Default: the directory's last component.
    pub name: Option<String>,
    pub path: Text,
    /// Create the directory (and parents) when missing; never under `--dry-run`.
    pub create: Option<Typed<bool>>,
    /// Octal mode for a created directory, e.g. `"755"`.
    pub mode: Option<Text>,
    /// Prove the directory writable by creating and removing a file (default true).
    pub writable: Option<Typed<bool>>,
    /// Free space needed, e.g. `"1GiB"`.
    pub min_free: Option<Text>,
    /// Warn when the filesystem is fuller than this (default 80).
    #[schemars(range(max = 100))]
    pub usage_warn_percent: Option<Typed<u8>>,
    /// Fail when the filesystem is fuller than this (default 95).
    #[schemars(range(max = 100))]
    pub usage_fail_percent: Option<Typed<u8>>,
    /// The newest file matching this glob (`*`, `?`; relative to `path`, e.g.
    /// `"backup_*.dump"` or `"daily/*.sql.gz"`) must exist; with `max_age`/`min_size`, be
    /// younger and larger than those.
    pub newest: Option<Text>,
    /// The newest matching file is at most this old, e.g. `"26h"` (needs `newest`).
    pub max_age: Option<Text>,
    /// The newest matching file holds at least this much, e.g. `"1MiB"` (needs `newest`).
    pub min_size: Option<Text>,
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
    /// Query parameters added to the URL; values may use `${VAR}` and `${captured.NAME}`.
    #[serde(default)]
    pub query: IndexMap<String, Text>,
    /// Request body as text (e.g. `'{"enabled": false}'`); may use `${VAR}`.
    pub body: Option<Text>,
    /// Request body as JSON, written as TOML (`json = { email = "a@b.c" }`), sent with
    /// `Content-Type: application/json`; strings may use `${VAR}`.
    pub json: Option<Located<serde_json::Value>>,
    /// Request body read from this file.
    pub body_file: Option<Text>,
    pub timeout: Option<Text>,
    /// Redirects to follow (default 0: a redirect is the answer, as with curl without -L).
    pub redirects: Option<Typed<u8>>,
    /// Extra trusted CA certificate (PEM), besides the system's.
    pub ca_file: Option<Text>,
    /// Do not verify the server's certificate. Reported as a warning on every run.
    pub insecure: Option<Typed<bool>>,
    /// Response headers: `"present"`, an exact value, or `"~regex"`.
    #[serde(default)]
    pub expect_headers: IndexMap<String, Text>,
    /// Texts the body must contain.
    #[serde(default)]
    pub body_contains: Vec<Text>,
    /// Regular expressions the body must match.
    #[serde(default)]
    pub body_matches: Vec<Text>,
    /// JSON assertions: `$.status == "healthy"`, `$.items length >= 1`, `$.token exists`.
    #[serde(default)]
    pub expect_json: Vec<Text>,
    /// The response must come within this time, e.g. `"200ms"`.
    pub max_latency: Option<Text>,
    /// Keep trying until the expectations hold (waiting for health).
    pub retry: Option<RetryConfig>,
    /// Pass only after this many passes in a row (default 1).
    pub consecutive: Option<Typed<u32>>,
    /// Send this many requests, one after another, and judge their latency distribution
    /// (`latency`) and error rate (`max_error_rate`).
    pub samples: Option<Typed<u32>>,
    /// Latency limits over the samples: `{ p50 = "100ms", p95 = "500ms", p99 = "1s", max = "2s" }`.
    pub latency: Option<Located<LatencyConfig>>,
    /// Share of samples allowed to fail their expectations: `"0.1%"` or `0.001` (default 0).
    pub max_error_rate: Option<RateText>,
    /// Send the request twice; the second answer must show a cache at work: `"faster"` (it came
    /// back faster), `"header"` (a cache header says hit: `X-Cache`, `CF-Cache-Status`,
    /// `X-Cache-Status`, or `Age`), or `"either"`.
    pub expect_cached: Option<CacheMode>,
    /// Values to take from the JSON body, by name: `{ token = "$.access_token" }`. Later checks
    /// that list this one in `needs` use them as `${captured.token}`.
    #[serde(default)]
    pub capture: IndexMap<String, Text>,
    /// Checks (by name, or id such as `http.login`) that must pass before this one starts.
    #[serde(default)]
    pub needs: Vec<Text>,
}

/// Latency limits over samples.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    pub p50: Option<Text>,
    pub p95: Option<Text>,
    pub p99: Option<Text>,
    pub max: Option<Text>,
}

/// A rate as written: `0.001` or `"0.1%"`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RateText {
    Fraction(f64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    Faster,
    Header,
    Either,
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
            query: IndexMap::new(),
            body: None,
            json: None,
            body_file: None,
            timeout: None,
            redirects: None,
            ca_file: None,
            insecure: None,
            expect_headers: IndexMap::new(),
            body_contains: Vec::new(),
            body_matches: Vec::new(),
            expect_json: Vec::new(),
            max_latency: None,
            retry: None,
            consecutive: None,
            samples: None,
            latency: None,
            max_error_rate: None,
            expect_cached: None,
            capture: IndexMap::new(),
            needs: Vec::new(),
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
    pub backoff: Option<Typed<f64>>,
}

/// `[[preflight.tls]]`: the certificate a server presents.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Used in check ids: `tls.<name>`. Default: the host.
    pub name: Option<String>,
    pub host: Text,
    /// Default 443.
    pub port: Option<Typed<u16>>,
    /// Extra trusted CA certificates (PEM), besides the system's.
    pub ca_file: Option<Text>,
    /// Warn when the certificate expires within this many days (default 30).
    pub warn_days: Option<Typed<u32>>,
    /// Fail when the certificate expires within this many days (default 7).
    pub fail_days: Option<Typed<u32>>,
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

/// `[[preflight.command]]`, `[[verify.command]]`: a program that must exit as expected and
/// print what it should (`kubectl rollout status deploy/api`, a validation script).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// Used in check ids: `command.<name>`. Default: the program's name.
    pub name: Option<String>,
    /// The program and its arguments, split into words as a shell would (quotes respected), run
    /// without a shell: no pipes, globs or `$(…)`. May use `${VAR}`.
    pub command: Text,
    /// Run `command` through `sh -c` (pipes, `&&`, globs). Said in the result every time.
    pub shell: Option<Typed<bool>>,
    /// Deadline of each run (default: the section's `check_timeout`); the program is killed then.
    pub timeout: Option<Text>,
    /// Variables set for the program, besides the inherited environment; values may use `${VAR}`.
    /// Secret-looking ones are never printed.
    #[serde(default)]
    pub env: IndexMap<String, Text>,
    /// Working directory (default: the current one).
    pub cwd: Option<Text>,
    /// Accepted exit codes: `0` (the default) or a list, e.g. `[0, 3]`.
    pub expect_exit: Option<ExitCodes>,
    /// Texts stdout must contain.
    #[serde(default)]
    pub stdout_contains: Vec<Text>,
    /// Regular expressions stdout must match.
    #[serde(default)]
    pub stdout_matches: Vec<Text>,
    /// Texts stderr must contain.
    #[serde(default)]
    pub stderr_contains: Vec<Text>,
    /// Regular expressions stderr must match.
    #[serde(default)]
    pub stderr_matches: Vec<Text>,
    /// JSON assertions on stdout parsed as JSON, as in `http` checks: `$.status == "healthy"`.
    #[serde(default)]
    pub expect_json: Vec<Text>,
    /// Run again until the expectations hold (waiting for a rollout).
    pub retry: Option<RetryConfig>,
    /// Pass only after this many passes in a row (default 1).
    pub consecutive: Option<Typed<u32>>,
    /// Checks (by name or id) that must pass before this one starts.
    #[serde(default)]
    pub needs: Vec<Text>,
}

/// Exit codes as written: `0` or `[0, 3]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ExitCodes {
    One(i32),
    Any(Vec<i32>),
}

impl ExitCodes {
    pub fn codes(&self) -> Vec<i32> {
        match self {
            ExitCodes::One(code) => vec![*code],
            ExitCodes::Any(codes) => codes.clone(),
        }
    }
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
    pub expect_at_least: Option<Typed<f64>>,
    /// The query returns this many rows.
    pub expect_rows: Option<Typed<usize>>,
    /// The query returns no rows.
    pub expect_empty: Option<Typed<bool>>,
    /// The statement fails with this SQLSTATE, e.g. `"23505"` (unique violation).
    pub expect_error: Option<Text>,
    pub timeout: Option<Text>,
    /// Checks (by name or id) that must pass before this one starts.
    #[serde(default)]
    pub needs: Vec<Text>,
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

/// `[[verify.metrics]]`: a Prometheus text exposition endpoint and what its samples must say.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Used in check ids: `metrics.<name>`. Default `metrics`.
    pub name: Option<String>,
    /// The endpoint, e.g. `http://127.0.0.1:9090/metrics`.
    pub url: Text,
    /// Request headers; values may use `${VAR}`. Secret-looking ones are never printed.
    #[serde(default)]
    pub headers: IndexMap<String, Text>,
    /// Assertions on samples: `lp_health{component="database"} == 1`, `up exists`,
    /// `http_requests_total > 0`, `errors_total{job="api"} absent`. Operators: `==`, `!=`, `<`,
    /// `<=`, `>`, `>=`, `exists`, `absent`. Labels not written are not compared; every series
    /// that matches must satisfy a comparison.
    pub expect: Vec<Text>,
    pub timeout: Option<Text>,
    /// Checks (by name or id) that must pass before this one starts.
    #[serde(default)]
    pub needs: Vec<Text>,
}

/// `[[verify.prometheus]]`: a PromQL query against a Prometheus server's HTTP API, and what its
/// result must be: every value within a threshold, or no series at all (no firing alert).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Used in check ids: `prometheus.<name>`. Default `prometheus`.
    pub name: Option<String>,
    /// The server's base URL, e.g. `http://prometheus:9090` (the API is under `/api/v1/`).
    pub url: Text,
    /// A PromQL expression, e.g.
    /// `sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))`.
    /// May use `${VAR}` (`$$` is a literal dollar sign).
    pub query: Text,
    /// Comparisons every value of the result must satisfy, each `<op> <number>` (`< 0.01`,
    /// `>= 0.7`; ops `==` `!=` `<` `<=` `>` `>=`), optionally for the series with given labels
    /// only: `{handler="/api/reports"} < 0.5`. Every series of a vector (or the scalar) is
    /// judged; an empty result fails. NaN never passes.
    #[serde(default)]
    pub expect: Vec<Text>,
    /// `true`: the result must be an empty vector (e.g. `ALERTS{alertstate="firing"}`);
    /// `false` without `expect`: it must hold at least one series.
    pub expect_empty: Option<Typed<bool>>,
    /// The expectations must hold over this long up to now, e.g. `"5m"`: a range query
    /// (`/api/v1/query_range`) whose every point of every series is judged.
    #[serde(rename = "for")]
    pub for_: Option<Text>,
    /// The resolution of a `for` range (default: a sixtieth of it, at least 1s).
    pub step: Option<Text>,
    /// Ask again until the expectations hold, as HTTP checks wait for health: "the error rate
    /// is back to baseline within 5 minutes" is `retry = { timeout = "5m", interval = "15s" }`.
    pub retry: Option<RetryConfig>,
    /// Request headers (e.g. `Authorization`); values may use `${VAR}`. Secret-looking ones
    /// are never printed.
    #[serde(default)]
    pub headers: IndexMap<String, Text>,
    /// Extra trusted CA certificate (PEM), besides the system's.
    pub ca_file: Option<Text>,
    /// Do not verify the server's certificate. Reported as a warning on every run.
    pub insecure: Option<Typed<bool>>,
    /// Deadline of the request (default: the section's `check_timeout`), also sent as
    /// Prometheus' own evaluation `timeout`.
    pub timeout: Option<Text>,
    /// Checks (by name or id) that must pass before this one starts.
    #[serde(default)]
    pub needs: Vec<Text>,
}

/// `[[verify.log]]`: the last lines of a log file or of a command's output hold no line
/// matching `pattern`, and at least one matching `must_contain`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Used in check ids: `log.<name>`. Default: the file's name, or the command's program.
    pub name: Option<String>,
    /// The log file. Give `path` or `command`, not both.
    pub path: Option<Text>,
    /// A command whose output (stdout, then stderr) is the log, e.g.
    /// `"kubectl logs -l app=api --since=10m"`; run without a shell, killed at `timeout`.
    pub command: Option<Text>,
    /// Deadline of `command` (default: the section's `check_timeout`).
    pub timeout: Option<Text>,
    /// How many lines from the end to read (default 100, as in `tail -100`).
    pub lines: Option<Typed<u32>>,
    /// A regular expression no line may match, e.g. `"(?i)error"`.
    pub pattern: Option<Text>,
    /// A regular expression at least one line must match, e.g. `"server started"`.
    pub must_contain: Option<Text>,
    /// Lines matching this are not counted, e.g. `"(?i)0 errors"`.
    pub ignore: Option<Text>,
    /// A missing file (or a command that fails) is a warning rather than a failure.
    pub optional: Option<Typed<bool>>,
    /// Checks (by name or id) that must pass before this one starts.
    #[serde(default)]
    pub needs: Vec<Text>,
}
