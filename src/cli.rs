//! The command line (clap derive). Global options work before or after the subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "shipgate",
    version,
    about = "Runs deployment runbooks in CI and decides: preflight checks and SQL migrations, with JSON, JUnit and GitHub output.",
    after_help = "Exit codes: 0 passed (warnings allowed unless --strict), 1 a check failed, \
                  2 wrong input (nothing ran), 3 checks ran but a report could not be written, \
                  130 verify --watch interrupted (Ctrl-C) after passing rounds."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Config file [default: shipgate.toml when it exists]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Env file read before checks; never overrides a variable already set [default: .env when it exists]
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// Format of the report on stdout
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Also write a report to a file, e.g. `--output junit=junit.xml` (repeatable)
    #[arg(long, global = true, value_name = "FORMAT=PATH", value_parser = parse_output)]
    pub output: Vec<OutputTarget>,

    /// Warnings fail the run
    #[arg(long, global = true)]
    pub strict: bool,

    /// Run only the checks with this id or below it, e.g. `database.main.tables` (repeatable)
    #[arg(long, global = true, value_name = "ID")]
    pub only: Vec<String>,

    /// Leave out the checks with this id or below it (repeatable)
    #[arg(long, global = true, value_name = "ID")]
    pub skip: Vec<String>,

    /// Overall deadline, e.g. `2m`; of each round under `verify --watch` [default: the config's `timeout`, else 5m; for migrate and rollback none]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub timeout: Option<std::time::Duration>,

    /// Show only checks that did not pass
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Show details of every check
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// No colour (also when NO_COLOR is set or stdout is not a terminal)
    #[arg(long, global = true)]
    pub no_color: bool,

    /// GitHub Actions output (summary, outputs, annotations) even outside GitHub Actions
    #[arg(long, global = true)]
    pub github: bool,

    /// Change nothing: say what would be created instead of creating it
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Post the report as a sticky pull-request comment, in GitHub Actions [default: the config's `[github] pr_comment`, else never]
    #[arg(long, global = true, value_enum, value_name = "WHEN")]
    pub pr_comment: Option<crate::github::PrComment>,

    /// Create a GitHub check run with every failure and warning annotated, optionally named: `--check-run='deploy gate'` [default name: shipgate <command>]
    #[arg(long, global = true, value_name = "NAME", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub check_run: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pre-deployment checks: environment, databases, Redis, directories, HTTP, TLS, tools
    Preflight(Box<PreflightArgs>),
    /// Post-deployment checks: HTTP with JSON assertions, latency and retries, plus the preflight kinds
    Verify(Box<VerifyArgs>),
    /// Apply pending SQL migrations: plan, lock, one transaction per migration, file:line on failure
    Migrate(Box<MigrateArgs>),
    /// Roll migrations back with their down scripts: refuses missing downs and data loss, runs hooks
    Rollback(Box<RollbackArgs>),
    /// Prove a rate limiter: engages at its limit, advertises it correctly, recovers, cannot be dodged
    #[command(name = "rate-limit-test")]
    RateLimitTest(Box<RateLimitArgs>),
    /// Re-run the failed checks of a JSON report (e.g. a CI job's artifact) with the same
    /// command and config; global options given here are added
    Rerun {
        /// The JSON report (`--format json`, `--output json=…`, the action's `report` output)
        #[arg(value_name = "REPORT.json")]
        report: PathBuf,
    },
    /// Run as the GitHub Action: the command and its arguments come from the `INPUT_*`
    /// variables `action.yml` sets (see `crate::action`)
    #[command(name = "github-action", hide = true)]
    GithubAction,
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Checks given as flags, for one-line use without a config file. They run after the
/// config's checks.
#[derive(Debug, Args, Clone, Default)]
pub struct PreflightArgs {
    /// Database to check (postgres://, mysql://, mariadb://, sqlite://); id `database.main`
    #[arg(long, value_name = "URL", help_heading = "Checks")]
    pub database_url: Option<String>,

    /// Table that must exist in --database-url (repeatable, or comma-separated)
    #[arg(
        long,
        value_name = "TABLE",
        value_delimiter = ',',
        help_heading = "Checks"
    )]
    pub require_table: Vec<String>,

    /// PostgreSQL extension that must be installed (repeatable, or comma-separated)
    #[arg(
        long,
        value_name = "NAME",
        value_delimiter = ',',
        help_heading = "Checks"
    )]
    pub require_extension: Vec<String>,

    /// Lowest acceptable database server version, e.g. 13
    #[arg(long, value_name = "VERSION", help_heading = "Checks", value_parser = checked(crate::units::Version::parse))]
    pub db_min_version: Option<String>,

    /// Keep retrying the database connection for this long, e.g. 30s
    #[arg(long, value_name = "DURATION", help_heading = "Checks", value_parser = checked(crate::units::parse_duration))]
    pub db_wait: Option<String>,

    /// Redis to PING; id `redis.cache`
    #[arg(long, value_name = "URL", help_heading = "Checks")]
    pub redis_url: Option<String>,

    /// An unreachable --redis-url is a warning, not a failure
    #[arg(long, help_heading = "Checks")]
    pub redis_optional: bool,

    /// Directory that must exist and be writable (repeatable)
    #[arg(long, value_name = "PATH", help_heading = "Checks")]
    pub writable_dir: Vec<PathBuf>,

    /// Directory to create (mode 755) when missing, then prove writable (repeatable)
    #[arg(long, value_name = "PATH", help_heading = "Checks")]
    pub create_dir: Vec<PathBuf>,

    /// Free space each --writable-dir/--create-dir needs, e.g. 1GiB
    #[arg(long, value_name = "SIZE", help_heading = "Checks", value_parser = checked(crate::units::parse_size))]
    pub min_free: Option<String>,

    /// Variables that must be set and not placeholders (repeatable, or comma-separated)
    #[arg(
        long,
        value_name = "NAME",
        value_delimiter = ',',
        help_heading = "Checks"
    )]
    pub require_env: Vec<String>,

    /// An .env.example whose every key must be set
    #[arg(long, value_name = "PATH", help_heading = "Checks")]
    pub env_example: Option<PathBuf>,

    /// URL that must answer 2xx (repeatable)
    #[arg(long, value_name = "URL", help_heading = "Checks")]
    pub http_url: Vec<String>,

    /// HOST[:PORT] whose certificate must verify and not expire within 30 days (repeatable)
    #[arg(long, value_name = "HOST[:PORT]", help_heading = "Checks")]
    pub tls_host: Vec<String>,

    /// Executable that must exist, optionally with a minimum version: `node>=18` (repeatable)
    #[arg(long, value_name = "NAME[>=VERSION]", help_heading = "Checks")]
    pub require_tool: Vec<String>,
}

/// HTTP checks given as flags, for one-line use without a config file.
#[derive(Debug, Args, Clone, Default)]
pub struct VerifyArgs {
    /// URL to GET; repeatable (each is one check with the expectations below)
    #[arg(long, value_name = "URL", help_heading = "Checks")]
    pub http: Vec<String>,

    /// Request header `Name: value` for every --http (repeatable)
    #[arg(long, value_name = "NAME: VALUE", help_heading = "Checks")]
    pub header: Vec<String>,

    /// Accepted status: 200, 2xx, !5xx (repeatable: any of them) [default: 2xx]
    #[arg(long, value_name = "STATUS", help_heading = "Checks", value_parser = checked(crate::checks::expect::StatusExpect::parse))]
    pub expect_status: Vec<String>,

    /// JSON assertion, e.g. '$.status == "healthy"' (repeatable)
    #[arg(long, value_name = "ASSERTION", help_heading = "Checks", value_parser = checked(crate::checks::expect::JsonAssertion::parse))]
    pub expect_json: Vec<String>,

    /// Text the body must contain (repeatable)
    #[arg(long, value_name = "TEXT", help_heading = "Checks")]
    pub expect_body: Vec<String>,

    /// The response must come within this time, e.g. 200ms
    #[arg(long, value_name = "DURATION", help_heading = "Checks", value_parser = checked(crate::units::parse_duration))]
    pub max_latency: Option<String>,

    /// Keep trying for this long until the expectations hold, e.g. 60s
    #[arg(long, value_name = "DURATION", help_heading = "Checks", value_parser = checked(crate::units::parse_duration))]
    pub retry_timeout: Option<String>,

    /// Database for --sql (postgres://, mysql://, mariadb://, sqlite://)
    #[arg(long, value_name = "URL", help_heading = "Checks")]
    pub database_url: Option<String>,

    /// Query run read-only in --database-url; repeatable (each is one check)
    #[arg(long, value_name = "QUERY", help_heading = "Checks")]
    pub sql: Vec<String>,

    /// What the first column of the first row of the --sql in the same position must equal
    #[arg(long, value_name = "VALUE", help_heading = "Checks")]
    pub expect: Vec<String>,

    /// Re-run the checks for this long, e.g. 30m: a round at once, then one every --every; stops at the first failing round (exit 1). --timeout bounds each round [default: the config's `watch`, else one round]
    #[arg(long, value_name = "DURATION", help_heading = "Watch", value_parser = parse_duration_arg)]
    pub watch: Option<std::time::Duration>,

    /// Time between the starts of two rounds of --watch [default: the config's `every`, else 5m, or --watch when shorter]
    #[arg(long, value_name = "DURATION", help_heading = "Watch", requires = "watch", value_parser = parse_duration_arg)]
    pub every: Option<std::time::Duration>,
}

/// Where the migrations and their history are: shared by `migrate` and `rollback`.
#[derive(Debug, Args, Clone, Default)]
pub struct MigrationsArgs {
    /// The database [default: $DATABASE_URL, else the config]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,

    /// The migrations directory [default: the config's `dir`, else migrations, else a Prisma project's prisma/migrations]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,

    /// Force a layout: sqlx, up-down (golang-migrate), diesel, dbmate, flyway, prisma [default: detected]
    #[arg(long, value_name = "LAYOUT", value_parser = checked(crate::migrate::Layout::parse))]
    pub layout: Option<String>,

    /// The history table [default: the config's `table`, else shipgate_migrations]
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,

    /// How long to wait for another migrator's lock [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = checked(crate::units::parse_duration))]
    pub lock_timeout: Option<String>,

    /// Back the database up into DIR first (pg_dump -Fc checked with pg_restore --list, mysqldump, VACUUM INTO)
    #[arg(long, value_name = "DIR")]
    pub backup: Option<std::path::PathBuf>,
}

/// One target from flags; without a URL, the `[[rate_limit.target]]` entries of the config.
#[derive(Debug, Args, Clone, Default)]
pub struct RateLimitArgs {
    /// The endpoint to test (only this one is contacted)
    #[arg(value_name = "URL")]
    pub url: Option<String>,

    /// Request method [default: GET]
    #[arg(long, short = 'X', value_name = "METHOD")]
    pub method: Option<String>,

    /// Request header `Name: value` (repeatable)
    #[arg(long, short = 'H', value_name = "NAME: VALUE")]
    pub header: Vec<String>,

    /// Request body
    #[arg(long, short = 'd', value_name = "BODY")]
    pub body: Option<String>,

    /// Extra trusted CA certificate (PEM) for an https URL, besides the system's
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<std::path::PathBuf>,

    /// Requests to send [default: 150]
    #[arg(long, short = 'n', value_name = "N")]
    pub requests: Option<u32>,

    /// Requests in flight at once [default: 1; with --rate, the most in flight: 256]
    #[arg(long, short = 'c', value_name = "C")]
    pub concurrency: Option<u32>,

    /// Open loop at this rate, e.g. 50/s or 600/m (latency measured from each intended send time)
    #[arg(long, value_name = "R/s", value_parser = checked(crate::units::parse_rate))]
    pub rate: Option<String>,

    /// Stop sending after this long [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = checked(crate::units::parse_duration))]
    pub max_duration: Option<String>,

    /// Deadline of each request [default: 10s]
    #[arg(long = "request-timeout", value_name = "DURATION", value_parser = checked(crate::units::parse_duration))]
    pub request_timeout: Option<String>,

    /// Successes expected before the first limited response
    #[arg(long, value_name = "N")]
    pub expect_limit: Option<u32>,

    /// Accepted distance from --expect-limit [default: 0]
    #[arg(long, value_name = "N", requires = "expect_limit")]
    pub tolerance: Option<u32>,

    /// The limiter's window, e.g. 60s [default: the advertised policy's window]
    #[arg(long, value_name = "DURATION", value_parser = checked(crate::units::parse_duration))]
    pub window: Option<String>,

    /// Status of a limited response [default: 429; nginx limit_req answers 503 unless configured]
    #[arg(long, value_name = "STATUS")]
    pub limited_status: Option<u16>,

    /// A limited response without Retry-After is a warning or a failure [default: warn]
    #[arg(long, value_name = "warn|fail", value_parser = ["warn", "fail"])]
    pub missing_retry_after: Option<String>,

    /// After the limit, wait for Retry-After (or the window) and send one request that must pass
    #[arg(long)]
    pub verify_recovery: bool,

    /// The longest wait for --verify-recovery [default: 2m]
    #[arg(long, value_name = "DURATION", value_parser = checked(crate::units::parse_duration))]
    pub max_wait: Option<String>,

    /// After the limit, send requests with rotated X-Forwarded-For (and without it): passing ones
    /// mean the limiter is keyed on a header the client controls
    #[arg(long)]
    pub probe_bypass: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub target: MigrationsArgs,

    /// Apply up to and including this version
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,

    /// Change nothing; exit 1 when a migration is pending or an applied file changed
    #[arg(long, conflicts_with = "resume")]
    pub check: bool,

    /// Apply a pending migration older than the newest applied one instead of refusing
    #[arg(long)]
    pub allow_out_of_order: bool,

    /// Continue a no-transaction migration that stopped part-way, from the statement that failed
    #[arg(long)]
    pub resume: bool,

    /// For a database with no history: record every migration up to VERSION as applied, without running it
    #[arg(long, value_name = "VERSION")]
    pub baseline: Option<String>,

    /// Accept that the file of applied VERSION changed on purpose (needs --reason)
    #[arg(long, value_name = "VERSION", requires = "reason")]
    pub accept_checksum: Option<String>,

    /// Record that partial VERSION was finished by hand (needs --reason)
    #[arg(long, value_name = "VERSION", requires = "reason")]
    pub mark_resolved: Option<String>,

    /// Why: kept in the history row with who and when
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Prove the --backup restores before anything changes: into a throwaway database (SQLite: the file read-only), tables and row counts compared, then dropped
    #[arg(long, requires = "backup")]
    pub verify_backup: bool,

    /// Lint the pending migrations (Squawk's rules, weighed against the database) and apply nothing; exit 1 on a finding that fails
    #[arg(long, conflicts_with_all = ["check", "resume", "baseline", "accept_checksum", "mark_resolved", "backup"])]
    pub lint: bool,

    /// Lint every migration file, applied ones too (alone: as --lint; with --check or --dry-run: their lint rows)
    #[arg(long, conflicts_with_all = ["resume", "baseline", "accept_checksum", "mark_resolved", "backup"])]
    pub lint_all: bool,

    /// Leave the lint rows out of --check and --dry-run
    #[arg(long, conflicts_with_all = ["lint", "lint_all"])]
    pub no_lint: bool,
}

#[derive(Debug, Args, Clone, Default)]
#[command(group(clap::ArgGroup::new("range").required(true).args(["to", "steps", "all", "app_only"])))]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: MigrationsArgs,

    /// Roll back everything applied after VERSION (VERSION stays applied)
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,

    /// Roll back the newest N applied migrations
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: Option<u32>,

    /// Roll back every applied migration
    #[arg(long)]
    pub all: bool,

    /// Go ahead even when the down scripts drop or truncate tables (or columns) that hold rows
    #[arg(long)]
    pub allow_data_loss: bool,

    /// Continue a rollback that stopped part-way outside a transaction, after its last completed statement
    #[arg(long)]
    pub resume: bool,

    /// Roll back the application only: run the [[rollback.hooks]] (before, then after) and no database step
    #[arg(long, conflicts_with_all = ["allow_data_loss", "resume", "database_url", "dir", "layout", "table", "lock_timeout", "backup"])]
    pub app_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    Markdown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTarget {
    pub format: Format,
    pub path: PathBuf,
}

fn parse_output(value: &str) -> Result<OutputTarget, String> {
    let (format, path) = value
        .split_once('=')
        .ok_or_else(|| format!("`{value}` is not FORMAT=PATH, e.g. junit=junit.xml"))?;
    let format = Format::from_str(format, true)
        .map_err(|_| format!("unknown format `{format}`; use human, json, junit or markdown"))?;
    if path.is_empty() {
        return Err(format!("`{value}` has no path after `=`"));
    }
    Ok(OutputTarget {
        format,
        path: PathBuf::from(path),
    })
}

/// Validates a flag value with the parser its config key uses, keeping the text: clap then
/// names the flag in the error, and the value goes the same way as a config value.
fn checked<T, E>(
    parse: fn(&str) -> Result<T, E>,
) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static
where
    T: 'static,
    E: std::fmt::Display + 'static,
{
    move |value: &str| {
        parse(value)
            .map(|_| value.to_string())
            .map_err(|e| e.to_string())
    }
}

fn parse_duration_arg(value: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "shipgate",
            "preflight",
            "--format",
            "json",
            "--output",
            "junit=j.xml",
            "--require-env",
            "A,B",
        ])
        .unwrap();
        assert_eq!(cli.global.format, Format::Json);
        assert_eq!(
            cli.global.output[0],
            OutputTarget {
                format: Format::Junit,
                path: "j.xml".into()
            }
        );
        let Command::Preflight(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.require_env, ["A", "B"]);
        assert!(Cli::try_parse_from(["shipgate", "preflight", "--output", "xml=j.xml"]).is_err());
    }
}
