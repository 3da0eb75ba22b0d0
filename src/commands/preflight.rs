//! `shipgate preflight`: turns `[preflight]` and the check flags into check units, runs them,
//! and returns the Report. Glue only: the probing is in `crate::checks`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::{Inputs, Outcome};
use crate::checks::database::{DatabaseProbe, DbAspect};
use crate::checks::env::{EnvProbe, ExampleRule, VarRule};
use crate::checks::expect::{Expectations, HeaderExpect, JsonAssertion, StatusExpect};
use crate::checks::http::{Body, HttpProbe, Mode, Retry, Sampling};
use crate::checks::path::{PathAspect, PathProbe};
use crate::checks::redis::{KeyRules, RedisAspect, RedisProbe};
use crate::checks::tls::TlsProbe;
use crate::checks::tool::ToolProbe;
use crate::checks::{self, Aspect, Context, Probe, Selection, Unit, id_part};
use crate::cli::{GlobalArgs, PreflightArgs};
use crate::config::preflight::{
    DatabaseConfig, EnvConfig, HttpConfig, LogConfig, MetricsConfig, PathConfig, PreflightConfig,
    RateText, RedisConfig, SqlConfig, StatusText, TlsConfig, ToolConfig, VarType,
};
use crate::config::{Located, Resolver, Text, Typed};
use crate::db::Backend;
use crate::error::InputError;
use crate::report::{Location, Report};
use crate::secret::{Secret, mask_url, name_looks_secret};
use crate::units::Version;

const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

pub async fn run(
    global: &GlobalArgs,
    args: &PreflightArgs,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    let section = inputs.config.config.preflight.as_ref();
    run_checks("preflight", global, section, args, inputs, |plan| {
        plan.flags(args)
    })
    .await
}

/// Plans the checks of a config section plus those of the flags, runs them, and reports:
/// `preflight` and `verify` are the same machinery over different sections.
pub(crate) async fn run_checks(
    command: &str,
    global: &GlobalArgs,
    section: Option<&PreflightConfig>,
    env_flags: &PreflightArgs,
    inputs: &Inputs,
    add_flags: impl FnOnce(&mut Planner<'_>) -> Result<(), InputError>,
) -> Result<Outcome, InputError> {
    let empty = PreflightConfig::default();
    let section = section.unwrap_or(&empty);
    let mut resolver = Resolver::new(&inputs.env, inputs.config.source.as_ref());
    let check_timeout =
        resolver.duration_or(section.check_timeout.as_ref(), DEFAULT_CHECK_TIMEOUT)?;
    let deadline = match global.timeout {
        Some(t) => t,
        None => resolver.duration_or(section.timeout.as_ref(), DEFAULT_DEADLINE)?,
    };

    let mut plan = Planner {
        resolver,
        check_timeout,
        deadline,
        units: Vec::new(),
        ids: HashSet::new(),
        names: HashMap::new(),
        ambiguous: HashSet::new(),
        captures: HashMap::new(),
        migrate_table: inputs
            .config
            .config
            .migrate
            .as_ref()
            .and_then(|m| m.table.clone()),
    };
    plan.env_checks(section, env_flags)?;
    plan.config(section)?;
    add_flags(&mut plan)?;
    let Planner {
        resolver, units, ..
    } = plan;

    if units.is_empty() {
        return Err(InputError::new(format!(
            "nothing to check: no [{command}] checks in the config and no check flags"
        ))
        .help(format!(
            "add checks to shipgate.toml (see examples/) or pass check flags; see `shipgate {command} --help`"
        )));
    }
    let selection = Selection {
        only: global.only.clone(),
        skip: global.skip.clone(),
    };
    selection.validate(&units)?;

    let captured = checks::Captured::default();
    let ctx = Context {
        http: super::http_client(),
        dry_run: global.dry_run,
        captured: captured.clone(),
        sql: Default::default(),
    };
    let started = SystemTime::now();
    let mut results = checks::run_all(units, &selection, ctx, deadline).await;
    for r in &mut results {
        r.reproduce = Some(format!("{} --only {}", inputs.reproduce_base, r.id));
    }
    let report = Report::new(command, started, SystemTime::now(), global.strict, results);
    let mut secrets = resolver.secrets;
    // Captured values are tokens and ids taken from responses: masked wherever they show up
    // (a later check's body excerpt, an error message).
    for value in captured.values() {
        secrets.add(&value);
    }
    Ok(Outcome { report, secrets })
}

/// Builds units, giving each a unique id.
pub(crate) struct Planner<'a> {
    pub(super) resolver: Resolver<'a>,
    pub(super) check_timeout: Duration,
    /// The overall deadline of the run.
    deadline: Duration,
    pub(super) units: Vec<Unit>,
    ids: HashSet<String>,
    /// Check names and ids, to the index of their unit: what `needs` refers to.
    names: HashMap<String, usize>,
    /// Names more than one check has (of different kinds): `needs` must use the id.
    ambiguous: HashSet<String>,
    /// Captured value names, to the index of the unit that captures them.
    captures: HashMap<String, usize>,
    /// `[migrate] table`, the default history table of database checks' `migrations`.
    migrate_table: Option<String>,
}

impl Planner<'_> {
    /// The environment checks of the config and the flags, planned as one unit so a variable
    /// named in both is checked once.
    fn env_checks(
        &mut self,
        section: &PreflightConfig,
        args: &PreflightArgs,
    ) -> Result<(), InputError> {
        if section.env.is_some() || !args.require_env.is_empty() || args.env_example.is_some() {
            self.env(section.env.as_ref(), args)?;
        }
        Ok(())
    }

    /// Plans the checks of a section in the order they are written, whatever their kind: the
    /// report follows the file, and `needs` may name any check above.
    fn config(&mut self, section: &PreflightConfig) -> Result<(), InputError> {
        enum Entry<'c> {
            Database(&'c Located<DatabaseConfig>),
            Redis(&'c Located<RedisConfig>),
            Path(&'c Located<PathConfig>),
            Http(&'c Located<HttpConfig>),
            Tls(&'c Located<TlsConfig>),
            Tool(&'c Located<ToolConfig>),
            Sql(&'c Located<SqlConfig>),
            Metrics(&'c Located<MetricsConfig>),
            Log(&'c Located<LogConfig>),
        }
        let mut entries: Vec<(usize, Entry<'_>)> = Vec::new();
        entries.extend(
            section
                .database
                .iter()
                .map(|e| (e.span.start, Entry::Database(e))),
        );
        entries.extend(
            section
                .redis
                .iter()
                .map(|e| (e.span.start, Entry::Redis(e))),
        );
        entries.extend(section.path.iter().map(|e| (e.span.start, Entry::Path(e))));
        entries.extend(section.http.iter().map(|e| (e.span.start, Entry::Http(e))));
        entries.extend(section.tls.iter().map(|e| (e.span.start, Entry::Tls(e))));
        entries.extend(section.tool.iter().map(|e| (e.span.start, Entry::Tool(e))));
        entries.extend(section.sql.iter().map(|e| (e.span.start, Entry::Sql(e))));
        entries.extend(
            section
                .metrics
                .iter()
                .map(|e| (e.span.start, Entry::Metrics(e))),
        );
        entries.extend(section.log.iter().map(|e| (e.span.start, Entry::Log(e))));
        // Stable: entries without a place (none today) keep their kind order.
        entries.sort_by_key(|(start, _)| *start);
        for (_, entry) in entries {
            match entry {
                Entry::Database(e) => self.database(e)?,
                Entry::Redis(e) => self.redis(e)?,
                Entry::Path(e) => self.path(e)?,
                Entry::Http(e) => self.http(e)?,
                Entry::Tls(e) => self.tls(e)?,
                Entry::Tool(e) => self.tool(e)?,
                Entry::Sql(e) => self.sql(e)?,
                Entry::Metrics(e) => self.metrics(e)?,
                Entry::Log(e) => self.log(e)?,
            }
        }
        Ok(())
    }

    /// Flags become config entries without a place in a file, then go the same way.
    fn flags(&mut self, args: &PreflightArgs) -> Result<(), InputError> {
        if let Some(url) = &args.database_url {
            let db = DatabaseConfig {
                name: None,
                url: text(url),
                wait: args.db_wait.as_deref().map(text),
                timeout: None,
                min_version: args.db_min_version.as_deref().map(text),
                tables: args.require_table.iter().map(|t| text(t)).collect(),
                extensions: args.require_extension.iter().map(|t| text(t)).collect(),
                latency_warn: None,
                latency_fail: None,
                connections_warn_percent: None,
                connections_fail_percent: None,
                migrations: None,
                migrations_table: None,
                needs: Vec::new(),
            };
            self.database(&Located::unplaced(db))
                .map_err(|e| from_flag(e, "--database-url"))?;
        } else if !args.require_table.is_empty() || !args.require_extension.is_empty() {
            return Err(InputError::new(
                "--require-table and --require-extension need --database-url",
            ));
        }
        if let Some(url) = &args.redis_url {
            let redis = RedisConfig {
                name: None,
                url: text(url),
                optional: Some(Typed::literal(args.redis_optional)),
                timeout: None,
                latency_warn: None,
                latency_fail: None,
                min_version: None,
                maxmemory_policy: None,
                persistence: None,
                ca_file: None,
                keys_present: Vec::new(),
                keys_absent: Vec::new(),
                key_equals: indexmap::IndexMap::new(),
                needs: Vec::new(),
            };
            self.redis(&Located::unplaced(redis))
                .map_err(|e| from_flag(e, "--redis-url"))?;
        }
        if args.min_free.is_some() && args.writable_dir.is_empty() && args.create_dir.is_empty() {
            return Err(InputError::new(
                "--min-free applies to --writable-dir and --create-dir, and none is given",
            )
            .key("--min-free")
            .help("add --writable-dir PATH, or leave --min-free out"));
        }
        let dirs = args.writable_dir.iter().map(|d| (d, false));
        for (dir, create) in dirs.chain(args.create_dir.iter().map(|d| (d, true))) {
            let path = PathConfig {
                name: None,
                path: text(&dir.display().to_string()),
                create: Some(Typed::literal(create)),
                mode: None,
                writable: None,
                min_free: args.min_free.as_deref().map(text),
                usage_warn_percent: None,
                usage_fail_percent: None,
            };
            self.path(&Located::unplaced(path))
                .map_err(|e| from_flag(e, "--writable-dir/--create-dir"))?;
        }
        for url in &args.http_url {
            let http = HttpConfig::get(text(url));
            self.http(&Located::unplaced(http))
                .map_err(|e| from_flag(e, "--http-url"))?;
        }
        for target in &args.tls_host {
            let (host, port) = split_host_port(target).map_err(|e| from_flag(e, "--tls-host"))?;
            let tls = TlsConfig {
                name: None,
                host: text(&host),
                port: port.map(Typed::literal),
                ca_file: None,
                warn_days: None,
                fail_days: None,
                timeout: None,
            };
            self.tls(&Located::unplaced(tls))
                .map_err(|e| from_flag(e, "--tls-host"))?;
        }
        for spec in &args.require_tool {
            let (name, min) = match spec.split_once(">=") {
                Some((n, v)) => (n.trim().to_string(), Some(text(v.trim()))),
                None => (spec.trim().to_string(), None),
            };
            let tool = ToolConfig {
                name,
                command: None,
                pattern: None,
                min_version: min,
                timeout: None,
            };
            self.tool(&Located::unplaced(tool))
                .map_err(|e| from_flag(e, "--require-tool"))?;
        }
        Ok(())
    }

    /// `shipgate verify --http URL …`: each URL one check with the shared expectations.
    pub(super) fn verify_flags(&mut self, args: &crate::cli::VerifyArgs) -> Result<(), InputError> {
        for url in &args.http {
            let mut http = HttpConfig::get(text(url));
            for header in &args.header {
                let (name, value) = super::header_flag(header)?;
                http.headers.insert(name, text(&value));
            }
            http.expect_status = args
                .expect_status
                .iter()
                .map(|s| StatusText::Text(s.clone()))
                .collect();
            http.expect_json = args.expect_json.iter().map(|j| text(j)).collect();
            http.body_contains = args.expect_body.iter().map(|b| text(b)).collect();
            http.max_latency = args.max_latency.as_deref().map(text);
            http.retry =
                args.retry_timeout
                    .as_deref()
                    .map(|t| crate::config::preflight::RetryConfig {
                        timeout: text(t),
                        interval: None,
                        backoff: None,
                    });
            self.http(&Located::unplaced(http))
                .map_err(|e| from_flag(e, "--http"))?;
        }
        Ok(())
    }

    /// Claims `kind.name`, or the first free `kind.name-N` when `name` was a default.
    pub(super) fn claim(
        &mut self,
        kind: &str,
        name: &str,
        given: bool,
        span: &std::ops::Range<usize>,
    ) -> Result<String, InputError> {
        let base = id_part(name);
        let mut candidate = base.clone();
        let mut n = 2;
        while self.ids.contains(&format!("{kind}.{candidate}")) {
            if given {
                return Err(self
                    .resolver
                    .error(span, format!("two {kind} checks are named `{base}`"))
                    .help("give each a distinct `name`"));
            }
            candidate = format!("{base}-{n}");
            n += 1;
        }
        self.ids.insert(format!("{kind}.{candidate}"));
        Ok(candidate)
    }

    /// Refuses a warning threshold above its failure threshold: one of them would never fire.
    fn ordered<T: PartialOrd + std::fmt::Debug>(
        &self,
        warn_key: &str,
        warn: T,
        fail_key: &str,
        fail: T,
        span: &std::ops::Range<usize>,
    ) -> Result<(), InputError> {
        if warn > fail {
            return Err(self
                .resolver
                .error(
                    span,
                    format!(
                        "{warn_key} ({warn:?}) is above {fail_key} ({fail:?}, as set or by default)"
                    ),
                )
                .help(format!(
                    "make {warn_key} at most {fail_key}; set both when changing one"
                )));
        }
        Ok(())
    }

    fn percents(
        &self,
        keys: [(&str, u8); 2],
        span: &std::ops::Range<usize>,
    ) -> Result<(), InputError> {
        for (key, value) in keys {
            if value > 100 {
                return Err(self
                    .resolver
                    .error(span, format!("{key} is {value}, above 100 percent")));
            }
        }
        self.ordered(keys[0].0, keys[0].1, keys[1].0, keys[1].1, span)
    }

    fn location(&self, span: &std::ops::Range<usize>) -> Option<Location> {
        self.resolver.location(span)
    }

    fn env(
        &mut self,
        config: Option<&Located<EnvConfig>>,
        args: &PreflightArgs,
    ) -> Result<(), InputError> {
        let mut names: Vec<(String, Option<Location>)> = Vec::new();
        let mut vars = Vec::new();
        let mut aspects = Vec::new();
        let mut placeholders = Vec::new();
        let mut example = None;
        if let Some(env) = config {
            placeholders = env.placeholders.clone();
            for name in &env.required {
                let value = self.resolver.string(name)?;
                if !names.iter().any(|(n, _)| *n == value) {
                    names.push((value, self.location(&name.span)));
                }
            }
            for (name, rule) in &env.vars {
                names.retain(|(n, _)| n != name);
                // The whole value must match, whatever the alternatives or quantifiers.
                let pattern = rule
                    .pattern
                    .as_ref()
                    .map(|p| self.resolver.anchored_regex(p))
                    .transpose()?;
                if rule.kind != VarType::Integer && (rule.min.is_some() || rule.max.is_some()) {
                    return Err(self.resolver.error(
                        &rule.span,
                        format!("`min`/`max` of {name} need `type = \"integer\"`"),
                    ));
                }
                if rule.kind != VarType::Url && !rule.schemes.is_empty() {
                    return Err(self.resolver.error(
                        &rule.span,
                        format!("`schemes` of {name} needs `type = \"url\"`"),
                    ));
                }
                vars.push((
                    self.resolver.table_location(&rule.span),
                    VarRule {
                        name: name.clone(),
                        value: None,
                        required: self.resolver.value_or(rule.required.as_ref(), true)?,
                        kind: rule.kind,
                        min: self.resolver.optional(rule.min.as_ref())?,
                        max: self.resolver.optional(rule.max.as_ref())?,
                        schemes: rule.schemes.clone(),
                        one_of: rule.one_of.clone(),
                        pattern,
                        secret: self.resolver.value_or(rule.secret.as_ref(), false)?,
                    },
                ));
            }
            if let Some(path) = &env.example {
                let path = PathBuf::from(self.resolver.string(path)?);
                example = Some((
                    path,
                    self.location(&env.example.as_ref().expect("checked").span),
                ));
            }
        }
        for name in &args.require_env {
            if !names.iter().any(|(n, _)| n == name) && !vars.iter().any(|(_, v)| &v.name == name) {
                names.push((name.clone(), None));
            }
        }
        if let Some(path) = &args.env_example {
            example = Some((path.clone(), None));
        }
        let plain = names.into_iter().map(|(name, loc)| {
            (
                loc,
                VarRule {
                    name,
                    value: None,
                    required: true,
                    kind: VarType::String,
                    min: None,
                    max: None,
                    schemes: vec![],
                    one_of: vec![],
                    pattern: None,
                    secret: false,
                },
            )
        });
        let all: Vec<(Option<Location>, VarRule)> = plain.chain(vars).collect();
        let mut rules = Vec::new();
        for (loc, mut rule) in all {
            rule.value = self.resolver.env.get(&rule.name).map(str::to_string);
            rule.secret |= name_looks_secret(&rule.name);
            if let Some(v) = &rule.value {
                if rule.secret {
                    self.resolver.secrets.add(v);
                }
                // DATABASE_URL is not secret by name, but its password is.
                self.resolver.secrets.add_url(v);
            }
            let id = self.claim("env", &rule.name, true, &(0..0))?;
            aspects.push(Aspect::new(
                format!("env.{id}"),
                format!("env {}", rule.name),
                loc,
            ));
            rules.push(rule);
        }
        let example = match example {
            Some((path, loc)) => {
                // Placed in the example file itself (its line), which the message names.
                let keys = crate::env::read_env_file(&path).map_err(|e| {
                    let mut err = InputError::new(format!(
                        "cannot use the env example {}: {}",
                        path.display(),
                        e.message
                    ))
                    .at(e.location.clone().or(loc.clone()));
                    err.help = e.help.clone();
                    err
                })?;
                let keys: Vec<(String, Option<String>)> = keys
                    .keys()
                    .map(|k| (k.clone(), self.resolver.env.get(k).map(str::to_string)))
                    .collect();
                for (k, v) in &keys {
                    if let Some(v) = v {
                        if name_looks_secret(k) {
                            self.resolver.secrets.add(v);
                        }
                        self.resolver.secrets.add_url(v);
                    }
                }
                let extras = self
                    .resolver
                    .env
                    .file_keys()
                    .filter(|k| !keys.iter().any(|(e, _)| e == k))
                    .map(str::to_string)
                    .collect();
                self.claim("env", "example", true, &(0..0))?;
                aspects.push(Aspect::new(
                    "env.example",
                    format!("env example {}", path.display()),
                    loc,
                ));
                Some(ExampleRule { path, keys, extras })
            }
            None => None,
        };
        // An empty `[preflight.env]` checks nothing.
        if aspects.is_empty() {
            return Ok(());
        }
        self.units.push(Unit {
            kind: "env",
            needs: Vec::new(),
            aspects,
            timeout: self.check_timeout,
            probe: Probe::Env(EnvProbe {
                vars: rules,
                example,
                placeholders,
            }),
        });
        Ok(())
    }

    fn database(&mut self, db: &Located<DatabaseConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&db.span);
        let default_name = "main";
        let name = self.claim(
            "database",
            db.name.as_deref().unwrap_or(default_name),
            db.name.is_some(),
            &db.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = db.name.clone().unwrap_or_else(|| name.clone());
        let url = self.resolver.text(&db.url)?;
        let backend = database_backend(&self.resolver, &url, &db.url.span)?;
        let connect_url = backend.as_ref().map(|(_, u)| u.clone()).unwrap_or_default();
        let min_version = db
            .min_version
            .as_ref()
            .map(|v| self.resolver.version(v))
            .transpose()?;
        let tables = db
            .tables
            .iter()
            .map(|t| self.resolver.string(t))
            .collect::<Result<Vec<_>, _>>()?;
        let extensions = db
            .extensions
            .iter()
            .map(|t| self.resolver.string(t))
            .collect::<Result<Vec<_>, _>>()?;
        let wait = self
            .resolver
            .duration_or(db.wait.as_ref(), Duration::ZERO)?;
        let timeout = self
            .resolver
            .duration_or(db.timeout.as_ref(), self.check_timeout)?;
        let latency_warn = self
            .resolver
            .duration_or(db.latency_warn.as_ref(), Duration::from_millis(200))?;
        let latency_fail = self
            .resolver
            .duration_or(db.latency_fail.as_ref(), Duration::from_millis(500))?;
        let (warn_pct, fail_pct) = (
            self.resolver
                .value_or(db.connections_warn_percent.as_ref(), 80)?,
            self.resolver
                .value_or(db.connections_fail_percent.as_ref(), 95)?,
        );
        self.percents(
            [
                ("connections_warn_percent", warn_pct),
                ("connections_fail_percent", fail_pct),
            ],
            &db.span,
        )?;
        self.ordered(
            "latency_warn",
            latency_warn,
            "latency_fail",
            latency_fail,
            &db.span,
        )?;
        let backend_kind = backend.as_ref().ok().map(|(b, _)| *b);
        let migrations = match (&db.migrations, backend_kind) {
            (Some(dir), Some(kind)) => {
                let dir = PathBuf::from(self.resolver.string(dir)?);
                let source = crate::migrate::source::load(&dir, None)?;
                let table = db
                    .migrations_table
                    .clone()
                    .or_else(|| self.migrate_table.clone())
                    .unwrap_or_else(|| "shipgate_migrations".to_string());
                let history = crate::migrate::history::History::new(&table, kind)
                    .map_err(|e| self.resolver.error(&db.span, e))?;
                Some((source, history))
            }
            _ => None,
        };
        let plan = DatabaseProbe::plan(
            backend_kind,
            min_version.is_some(),
            !tables.is_empty(),
            !extensions.is_empty(),
            migrations.is_some(),
        );
        let prefix = format!("database.{name}");
        let aspects = plan
            .iter()
            .map(|a| {
                let (suffix, title) = match a {
                    DbAspect::Connect => ("", "connection"),
                    DbAspect::Version => (".version", "server version"),
                    DbAspect::Tables => (".tables", "required tables"),
                    DbAspect::Extensions => (".extensions", "extensions"),
                    DbAspect::Latency => (".latency", "SELECT 1 latency"),
                    DbAspect::Connections => (".connections", "connection headroom"),
                    DbAspect::Migrations => (".migrations", "migrations"),
                };
                Aspect::new(
                    format!("{prefix}{suffix}"),
                    format!("database {label}: {title}"),
                    loc.clone(),
                )
            })
            .collect();
        let needs = self.needs(&db.needs)?;
        self.units.push(Unit {
            kind: "database",
            needs,
            aspects,
            // Waiting, connecting, then each query with its own `timeout`: the probe bounds
            // them all; this outer limit is the backstop.
            timeout: wait + timeout * 6 + Duration::from_secs(1),
            probe: Probe::Database(DatabaseProbe {
                name,
                shown_url: mask_url(&connect_url),
                url: Secret::new(connect_url),
                backend: backend.map(|(b, _)| b),
                wait,
                attempt_timeout: timeout,
                min_version,
                tables,
                extensions,
                latency_warn,
                latency_fail,
                connections_warn_percent: warn_pct,
                connections_fail_percent: fail_pct,
                aspects: plan,
                migrations,
            }),
        });
        Ok(())
    }

    fn redis(&mut self, redis: &Located<RedisConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&redis.span);
        let default_name = "cache";
        let name = self.claim(
            "redis",
            redis.name.as_deref().unwrap_or(default_name),
            redis.name.is_some(),
            &redis.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = redis.name.clone().unwrap_or_else(|| name.clone());
        let url = self.resolver.text(&redis.url)?;
        let problem = (url.value.trim().is_empty()).then(|| {
            if url.unset.is_empty() {
                "URL is empty".to_string()
            } else {
                format!("is not configured: {} is not set", url.unset.join(", "))
            }
        });
        if problem.is_none() && redis::parse_redis_url(&url.value).is_none() {
            let err = self.resolver.error(
                &redis.url.span,
                format!("`{}` is not a Redis URL", mask_url(&url.value)),
            );
            return Err(err.help(
                "write redis://[:password@]host:6379[/db], rediss://… for TLS, or unix:///path",
            ));
        }
        let timeout = self
            .resolver
            .duration_or(redis.timeout.as_ref(), self.check_timeout)?;
        let min_version = redis
            .min_version
            .as_ref()
            .map(|v| self.resolver.version(v))
            .transpose()?;
        let maxmemory_policy = redis
            .maxmemory_policy
            .as_ref()
            .map(|p| self.resolver.string(p))
            .transpose()?;
        let mut plan = vec![RedisAspect::Ping];
        if min_version.is_some() {
            plan.push(RedisAspect::Version);
        }
        if maxmemory_policy.is_some() {
            plan.push(RedisAspect::MaxmemoryPolicy);
        }
        if redis.persistence.is_some() {
            plan.push(RedisAspect::Persistence);
        }
        let strings = |r: &mut Resolver<'_>, list: &[Text]| {
            list.iter()
                .map(|k| r.string(k))
                .collect::<Result<Vec<_>, _>>()
        };
        let mut keys = KeyRules {
            present: strings(&mut self.resolver, &redis.keys_present)?,
            absent: strings(&mut self.resolver, &redis.keys_absent)?,
            equals: Vec::new(),
        };
        for (key, value) in &redis.key_equals {
            keys.equals
                .push((key.clone(), self.resolver.string(value)?));
        }
        if let Some(both) = keys.present.iter().find(|k| keys.absent.contains(k)) {
            return Err(self
                .resolver
                .error(
                    &redis.span,
                    format!("key `{both}` is in both keys_present and keys_absent"),
                )
                .help("keep it in the one that says what the deployment must leave"));
        }
        if !keys.present.is_empty() || !keys.absent.is_empty() || !keys.equals.is_empty() {
            plan.push(RedisAspect::Keys);
        }
        let latency_warn = self
            .resolver
            .duration_or(redis.latency_warn.as_ref(), Duration::from_millis(100))?;
        let latency_fail = self
            .resolver
            .duration_or(redis.latency_fail.as_ref(), Duration::from_millis(500))?;
        self.ordered(
            "latency_warn",
            latency_warn,
            "latency_fail",
            latency_fail,
            &redis.span,
        )?;
        let ca_file = redis
            .ca_file
            .as_ref()
            .map(|f| self.resolver.string(f).map(PathBuf::from))
            .transpose()?;
        let prefix = format!("redis.{name}");
        let aspects = plan
            .iter()
            .map(|a| {
                let (suffix, title) = match a {
                    RedisAspect::Ping => ("", "PING"),
                    RedisAspect::Version => (".version", "server version"),
                    RedisAspect::MaxmemoryPolicy => (".maxmemory-policy", "maxmemory-policy"),
                    RedisAspect::Persistence => (".persistence", "persistence"),
                    RedisAspect::Keys => (".keys", "keys"),
                };
                Aspect::new(
                    format!("{prefix}{suffix}"),
                    format!("redis {label}: {title}"),
                    loc.clone(),
                )
            })
            .collect();
        let needs = self.needs(&redis.needs)?;
        self.units.push(Unit {
            kind: "redis",
            needs,
            aspects,
            timeout: timeout + Duration::from_secs(1),
            probe: Probe::Redis(RedisProbe {
                name,
                shown_url: mask_url(&url.value),
                url: Secret::new(url.value),
                optional: self.resolver.value_or(redis.optional.as_ref(), false)?,
                problem,
                timeout,
                latency_warn,
                latency_fail,
                min_version,
                maxmemory_policy,
                persistence: redis.persistence,
                ca_file,
                keys,
                aspects: plan,
            }),
        });
        Ok(())
    }

    fn path(&mut self, path: &Located<PathConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&path.span);
        let dir = PathBuf::from(self.resolver.string(&path.path)?);
        if dir.as_os_str().is_empty() {
            return Err(self
                .resolver
                .error(&path.path.span, "the path is empty")
                .help("set `path` (its variable may be unset)"));
        }
        let default_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let name = self.claim(
            "path",
            path.name.as_deref().unwrap_or(&default_name),
            path.name.is_some(),
            &path.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = path.name.clone().unwrap_or_else(|| name.clone());
        let mode = match &path.mode {
            Some(m) => {
                let text = self.resolver.string(m)?;
                Some(
                    u32::from_str_radix(text.trim_start_matches("0o"), 8).map_err(|_| {
                        self.resolver.error(
                            &m.span,
                            format!("`{text}` is not an octal mode; write e.g. \"755\""),
                        )
                    })?,
                )
            }
            None => None,
        };
        let min_free = path
            .min_free
            .as_ref()
            .map(|s| self.resolver.size(s))
            .transpose()?;
        let (usage_warn, usage_fail) = (
            self.resolver
                .value_or(path.usage_warn_percent.as_ref(), 80)?,
            self.resolver
                .value_or(path.usage_fail_percent.as_ref(), 95)?,
        );
        self.percents(
            [
                ("usage_warn_percent", usage_warn),
                ("usage_fail_percent", usage_fail),
            ],
            &path.span,
        )?;
        let mut plan = vec![PathAspect::Exists];
        if self.resolver.value_or(path.writable.as_ref(), true)? {
            plan.push(PathAspect::Writable);
        }
        plan.push(PathAspect::Space);
        let prefix = format!("path.{name}");
        let aspects = plan
            .iter()
            .map(|a| {
                let (suffix, title) = match a {
                    PathAspect::Exists => ("", "directory"),
                    PathAspect::Writable => (".writable", "writable"),
                    PathAspect::Space => (".space", "free space"),
                };
                Aspect::new(
                    format!("{prefix}{suffix}"),
                    format!("path {label}: {title}"),
                    loc.clone(),
                )
            })
            .collect();
        self.units.push(Unit {
            kind: "path",
            needs: Vec::new(),
            aspects,
            timeout: self.check_timeout,
            probe: Probe::Path(PathProbe {
                name,
                path: dir,
                create: self.resolver.value_or(path.create.as_ref(), false)?,
                mode,
                min_free,
                usage_warn_percent: usage_warn,
                usage_fail_percent: usage_fail,
                aspects: plan,
            }),
        });
        Ok(())
    }

    fn http(&mut self, http: &Located<HttpConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&http.span);
        let needs = self.needs(&http.needs)?;
        self.resolver.captured = Some(Vec::new());
        let url = self.resolver.text(&http.url);
        let probe =
            url.and_then(|url| http_probe(&mut self.resolver, http, url, self.check_timeout));
        let referenced = self.resolver.captured.take().unwrap_or_default();
        let probe = probe?;
        let host = url::Url::parse(&probe.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "http".into());
        let name = self.claim(
            "http",
            http.name.as_deref().unwrap_or(&host),
            http.name.is_some(),
            &http.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = http.name.clone().unwrap_or_else(|| name.clone());
        for captured in &referenced {
            match self.captures.get(captured) {
                Some(from) if needs.contains(from) => {}
                Some(from) => {
                    let producer = self.units[*from].aspects[0].id.clone();
                    return Err(self
                        .resolver
                        .error(&http.span, format!("`${{captured.{captured}}}` comes from {producer}, which this check does not need"))
                        .help(format!("add needs = [\"{producer}\"], so it runs first and must pass")));
                }
                None => {
                    return Err(self
                        .resolver
                        .error(&http.span, format!("no earlier check captures `{captured}`"))
                        .help("capture it in a check declared before this one: capture = { NAME = \"$.json.path\" }"));
                }
            }
        }
        for capture in &probe.captures {
            if self.captures.contains_key(&capture.name) {
                return Err(self
                    .resolver
                    .error(&http.span, format!("`{}` is captured twice", capture.name))
                    .help("give each captured value its own name"));
            }
            self.captures.insert(capture.name.clone(), self.units.len());
        }
        // Room for every attempt: the retry window, then one last request (twice the request
        // timeout: the headers, then the body), twice for a cache check, `samples` times for
        // samples. The overall deadline still bounds it all.
        let requests = match &probe.mode {
            Mode::Once => probe.consecutive,
            Mode::Cache(_) => 2 * probe.consecutive,
            Mode::Samples(s) => s.count,
        };
        let timeout = probe.retry.as_ref().map_or(Duration::ZERO, |r| r.timeout)
            + probe.timeout * 2 * requests;
        self.push(
            Unit {
                kind: "http",
                needs,
                aspects: vec![Aspect::new(
                    format!("http.{name}"),
                    format!("http {label}"),
                    loc,
                )],
                timeout: timeout + Duration::from_secs(1),
                probe: Probe::Http(probe),
            },
            &label,
        );
        Ok(())
    }

    /// Adds a unit that later checks may name in `needs`, by its name or its id.
    pub(super) fn push(&mut self, unit: Unit, name: &str) {
        let index = self.units.len();
        if self.names.insert(name.to_string(), index).is_some() {
            self.ambiguous.insert(name.to_string());
        }
        self.units.push(unit);
    }

    /// The units a check needs, each declared before it.
    pub(super) fn needs(&mut self, needs: &[Text]) -> Result<Vec<usize>, InputError> {
        let mut out = Vec::new();
        for need in needs {
            let name = self.resolver.string(need)?;
            // Ids are unique; names are unique within a kind only.
            let by_id = self
                .units
                .iter()
                .position(|u| u.aspects.iter().any(|a| a.id == name));
            if by_id.is_none() && self.ambiguous.contains(&name) {
                let ids: Vec<&str> = self
                    .units
                    .iter()
                    .filter(|u| u.aspects[0].id.ends_with(&format!(".{}", id_part(&name))))
                    .map(|u| u.aspects[0].id.as_str())
                    .collect();
                return Err(self
                    .resolver
                    .error(
                        &need.span,
                        format!("needs `{name}`, and more than one check has that name"),
                    )
                    .help(format!("name it by its id: {}", ids.join(" or "))));
            }
            match by_id.or_else(|| self.names.get(&name).copied()) {
                Some(index) => out.push(index),
                None => {
                    let known: Vec<&str> = self
                        .units
                        .iter()
                        .flat_map(|u| u.aspects.iter().map(|a| a.id.as_str()))
                        .chain(self.names.keys().map(String::as_str))
                        .collect();
                    let mut err = self.resolver.error(
                        &need.span,
                        format!("needs `{name}`, and no check declared before this one has that name or id"),
                    );
                    err = match crate::error::did_you_mean(&name, known.iter().copied()) {
                        Some(near) => err.help(format!(
                            "did you mean `{near}`? (a check can need only checks above it)"
                        )),
                        None => err.help("a check can need only checks declared above it"),
                    };
                    return Err(err);
                }
            }
        }
        Ok(out)
    }

    pub(super) fn sql(&mut self, sql: &Located<SqlConfig>) -> Result<(), InputError> {
        use crate::checks::sql::{SqlExpect, SqlProbe};
        let loc = self.resolver.table_location(&sql.span);
        let name = self.claim("sql", &sql.name, true, &sql.span)?;
        let needs = self.needs(&sql.needs)?;
        let url = self.resolver.text(&sql.url)?;
        let backend = database_backend(&self.resolver, &url, &sql.url.span)?;
        let connect_url = backend.as_ref().map(|(_, u)| u.clone()).unwrap_or_default();
        let query = self.resolver.string(&sql.query)?;
        let mut expects = Vec::new();
        if let Some(v) = &sql.expect {
            expects.push(SqlExpect::Equals(v.as_text()));
        }
        if let Some(n) = self.resolver.optional(sql.expect_at_least.as_ref())? {
            expects.push(SqlExpect::AtLeast(n));
        }
        if let Some(n) = self.resolver.optional(sql.expect_rows.as_ref())? {
            expects.push(SqlExpect::Rows(n));
        }
        if self.resolver.optional(sql.expect_empty.as_ref())? == Some(true) {
            expects.push(SqlExpect::Empty);
        }
        if let Some(code) = &sql.expect_error {
            expects.push(SqlExpect::Error(self.resolver.string(code)?));
        }
        let expect = match expects.len() {
            1 => expects.remove(0),
            _ => {
                return Err(self
                    .resolver
                    .error(&sql.span, format!("sql check `{}` needs exactly one expectation", sql.name))
                    .help("one of expect, expect_at_least, expect_rows, expect_empty = true, expect_error"));
            }
        };
        let timeout = self
            .resolver
            .duration_or(sql.timeout.as_ref(), self.check_timeout)?;
        self.push(
            Unit {
                kind: "sql",
                needs,
                aspects: vec![Aspect::new(
                    format!("sql.{name}"),
                    format!("sql {}", sql.name),
                    loc,
                )],
                // SQL checks of one database share a few connections and may queue for one:
                // the probe bounds each of its own steps (connect, begin, query, rollback) by
                // `timeout`, and the run's deadline bounds the queue.
                timeout: self.deadline,
                probe: Probe::Sql(SqlProbe {
                    shown_url: mask_url(&connect_url),
                    url: Secret::new(connect_url),
                    backend: backend.map(|(b, _)| b),
                    query,
                    expect,
                    timeout,
                }),
            },
            &sql.name,
        );
        Ok(())
    }

    fn tls(&mut self, tls: &Located<TlsConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&tls.span);
        let host = self.resolver.string(&tls.host)?;
        if host.trim().is_empty() {
            return Err(self.resolver.error(&tls.host.span, "the TLS host is empty"));
        }
        let name = self.claim(
            "tls",
            tls.name.as_deref().unwrap_or(&host),
            tls.name.is_some(),
            &tls.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = tls.name.clone().unwrap_or_else(|| name.clone());
        let ca_file = tls
            .ca_file
            .as_ref()
            .map(|f| self.resolver.string(f).map(PathBuf::from))
            .transpose()?;
        let (warn_days, fail_days) = (
            self.resolver.value_or(tls.warn_days.as_ref(), 30)?,
            self.resolver.value_or(tls.fail_days.as_ref(), 7)?,
        );
        let port = self.resolver.value_or(tls.port.as_ref(), 443)?;
        if fail_days > warn_days {
            return Err(self.resolver.error(
                &tls.span,
                format!("fail_days ({fail_days}) is above warn_days ({warn_days})"),
            ));
        }
        let timeout = self
            .resolver
            .duration_or(tls.timeout.as_ref(), self.check_timeout)?;
        self.units.push(Unit {
            kind: "tls",
            needs: Vec::new(),
            aspects: vec![Aspect::new(
                format!("tls.{name}"),
                format!("tls {label}"),
                loc,
            )],
            timeout: timeout + Duration::from_secs(1),
            probe: Probe::Tls(TlsProbe {
                host,
                port,
                ca_file,
                warn_days,
                fail_days,
                timeout,
            }),
        });
        Ok(())
    }

    fn tool(&mut self, tool: &Located<ToolConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&tool.span);
        let name = self.claim("tool", &tool.name, true, &tool.span)?;
        let command = match &tool.command {
            Some(c) => {
                let text = self.resolver.string(c)?;
                shlex::split(&text)
                    .filter(|parts| !parts.is_empty())
                    .ok_or_else(|| {
                        self.resolver.error(
                            &c.span,
                            format!("cannot split the command `{text}` into words"),
                        )
                    })?
            }
            None => vec![tool.name.clone(), "--version".into()],
        };
        let pattern = tool
            .pattern
            .as_ref()
            .map(|p| self.resolver.regex(p))
            .transpose()?;
        let min_version: Option<Version> = tool
            .min_version
            .as_ref()
            .map(|v| self.resolver.version(v))
            .transpose()?;
        let timeout = self
            .resolver
            .duration_or(tool.timeout.as_ref(), self.check_timeout)?;
        self.units.push(Unit {
            kind: "tool",
            needs: Vec::new(),
            aspects: vec![Aspect::new(
                format!("tool.{name}"),
                format!("tool {}", tool.name),
                loc,
            )],
            timeout: timeout + Duration::from_secs(1),
            probe: Probe::Tool(ToolProbe {
                name: tool.name.clone(),
                command,
                pattern,
                min_version,
                custom_command: tool.command.is_some(),
                timeout,
            }),
        });
        Ok(())
    }
}

pub(super) fn text(value: &str) -> Text {
    Located::unplaced(value.to_string())
}

/// An HTTP request from its config: method, query, headers (secret-looking ones masked), body,
/// client options, the way it is sent and what it captures. Shared by `[[preflight.http]]`,
/// `[[verify.http]]` and rollback hooks. `${captured.…}` is accepted when the caller has set
/// `resolver.captured`.
pub(crate) fn http_probe(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    url: crate::config::interp::Interpolated,
    default_timeout: Duration,
) -> Result<HttpProbe, InputError> {
    let problem = url_problem(&url);
    // Empty because a variable is unset: the environment's failure, reported by the check.
    // Not a URL at all: the input is wrong, and nothing runs.
    if problem.is_some() && !url.value.trim().is_empty() && url.captured.is_empty() {
        return Err(resolver
            .error(&http.url.span, problem.unwrap_or_default())
            .help("write a full URL such as https://api.example.com/health"));
    }
    let method = http_method(resolver, http.method.as_deref(), &http.span)?;
    let mut headers = request_headers(resolver, &http.headers)?;
    let mut query = Vec::new();
    for (name, value) in &http.query {
        let value = resolver.string(value)?;
        if name_looks_secret(name) {
            resolver.secrets.add(&value);
        }
        query.push((name.clone(), value));
    }
    let body = request_body(resolver, http, &mut headers)?;
    let consecutive = resolver.value_or(http.consecutive.as_ref(), 1)?;
    if !(1..=1000).contains(&consecutive) {
        return Err(resolver
            .error(
                &http.span,
                format!("consecutive = {consecutive}: give 1 to 1000"),
            )
            .help("the number of passes in a row needed, e.g. consecutive = 3"));
    }
    // `${captured.…}` is filled into what is sent, never into what is expected: from here on,
    // the resolver refuses it (the caller gets the names met so far back at the end).
    let captured_names = resolver.captured.take();
    let uses_captured = captured_names.as_ref().is_some_and(|c| !c.is_empty());
    let rest = http_probe_rest(resolver, http, default_timeout);
    resolver.captured = captured_names;
    let rest = rest?;
    if !http.capture.is_empty() && matches!(rest.mode, Mode::Samples(_)) {
        return Err(resolver
            .error(
                &http.span,
                "`capture` takes values from one answer, and `samples` sends many",
            )
            .help("capture in a check of its own (the login), and list it in this one's `needs`"));
    }
    Ok(HttpProbe {
        url: url.value,
        method,
        headers,
        query,
        body,
        uses_captured,
        problem,
        timeout: rest.timeout,
        client: rest.client,
        insecure: rest.insecure,
        expect: rest.expect,
        retry: rest.retry,
        consecutive,
        mode: rest.mode,
        captures: rest.captures,
    })
}

/// What an HTTP check expects and how it sends: the parts that cannot hold captured values.
struct ProbeRest {
    timeout: Duration,
    insecure: bool,
    expect: Expectations,
    retry: Option<Retry>,
    mode: Mode,
    client: Option<reqwest::Client>,
    captures: Vec<crate::checks::http::Capture>,
}

/// The shortest wait between two attempts: a `0s` interval would hammer the service (1,600
/// requests in 2 s) and prove nothing a 100 ms one does not.
const MIN_RETRY_INTERVAL: Duration = Duration::from_millis(100);

fn retry(
    resolver: &mut Resolver<'_>,
    r: &crate::config::preflight::RetryConfig,
) -> Result<Retry, InputError> {
    let timeout = resolver.duration(&r.timeout)?;
    let interval = resolver.duration_or(r.interval.as_ref(), Duration::from_secs(1))?;
    if interval < MIN_RETRY_INTERVAL
        && let Some(text) = &r.interval
    {
        return Err(resolver
            .error(
                &text.span,
                format!(
                    "retry interval {} is below the floor of {}",
                    crate::units::format_duration(interval),
                    crate::units::format_duration(MIN_RETRY_INTERVAL)
                ),
            )
            .help(format!(
                "wait at least {} between attempts, e.g. interval = \"500ms\"",
                crate::units::format_duration(MIN_RETRY_INTERVAL)
            )));
    }
    let backoff = resolver.value_or(r.backoff.as_ref(), 1.0)?;
    if !(1.0..=10.0).contains(&backoff)
        && let Some(b) = &r.backoff
    {
        return Err(resolver
            .error(&b.span, format!("backoff = {backoff}: give 1 to 10"))
            .help("the factor the interval grows by after each attempt, e.g. backoff = 1.5"));
    }
    Ok(Retry {
        timeout,
        interval,
        backoff,
    })
}

fn http_probe_rest(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    default_timeout: Duration,
) -> Result<ProbeRest, InputError> {
    let timeout = resolver.duration_or(http.timeout.as_ref(), default_timeout)?;
    let mut expect = expectations(resolver, http)?;
    let retry = match &http.retry {
        Some(r) => Some(retry(resolver, r)?),
        None => None,
    };
    let mode = send_mode(resolver, http, &mut expect)?;
    let redirects = resolver.value_or(http.redirects.as_ref(), 0)?;
    let insecure = resolver.value_or(http.insecure.as_ref(), false)?;
    let client = if redirects > 0 || http.ca_file.is_some() || insecure {
        let mut options = super::ClientOptions {
            redirects,
            insecure,
            ..Default::default()
        };
        if let Some(file) = &http.ca_file {
            let path = resolver.string(file)?;
            let pem = crate::files::read_bounded(
                std::path::Path::new(&path),
                crate::files::PAYLOAD_LIMIT,
            )
            .map_err(|e| {
                resolver.error(&file.span, format!("cannot read the CA file {path}: {e}"))
            })?;
            options.extra_roots = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| {
                    resolver.error(&file.span, format!("{path} holds no PEM certificate"))
                })?;
        }
        Some(super::http_client_with(&options).map_err(|e| {
            resolver.error(&http.span, format!("cannot set up the HTTP client: {e}"))
        })?)
    } else {
        None
    };
    let mut captures = Vec::new();
    for (name, path) in &http.capture {
        let path_text = resolver.string(path)?;
        let parsed = serde_json_path::JsonPath::parse(&path_text).map_err(|e| {
            resolver.error(
                &path.span,
                format!("capture `{name}`: `{path_text}` is not JSONPath: {e}"),
            )
        })?;
        captures.push(crate::checks::http::Capture {
            name: name.clone(),
            path_text,
            path: parsed,
        });
    }
    Ok(ProbeRest {
        timeout,
        insecure,
        expect,
        retry,
        mode,
        client,
        captures,
    })
}

/// The backend of a database URL; an empty one names the variables that left it empty.
/// An empty URL (its variable unset) is the check's failure, reported with the rest of the
/// run; a URL that is not a database URL is wrong input, refused before anything runs.
fn database_backend(
    resolver: &Resolver<'_>,
    url: &crate::config::interp::Interpolated,
    span: &std::ops::Range<usize>,
) -> Result<Result<(Backend, String), String>, InputError> {
    if url.value.trim().is_empty() {
        return Ok(Err(if url.unset.is_empty() {
            "the database URL is empty".to_string()
        } else {
            format!(
                "the database URL is empty: {} is not set",
                url.unset.join(", ")
            )
        }));
    }
    Backend::from_url(&url.value)
        .map(Ok)
        .map_err(|e| resolver.error(span, e))
}

/// A request method as written (any case; default GET).
pub(super) fn http_method(
    resolver: &Resolver<'_>,
    method: Option<&str>,
    span: &std::ops::Range<usize>,
) -> Result<reqwest::Method, InputError> {
    let text = method.unwrap_or("GET").to_ascii_uppercase();
    reqwest::Method::from_bytes(text.as_bytes()).map_err(|_| {
        resolver
            .error(span, format!("`{text}` is not an HTTP method"))
            .help("e.g. GET, POST, PUT, DELETE, HEAD")
    })
}

/// Why a check cannot use its URL: empty (its variable unset) or not a URL. Reported by the
/// check, so the rest of the run goes on.
pub(super) fn url_problem(url: &crate::config::interp::Interpolated) -> Option<String> {
    if url.value.trim().is_empty() {
        Some(if url.unset.is_empty() {
            "the URL is empty".to_string()
        } else {
            format!("the URL is empty: {} is not set", url.unset.join(", "))
        })
    } else {
        url::Url::parse(&url.value)
            .err()
            .map(|e| format!("`{}` is not a URL: {e}", mask_url(&url.value)))
    }
}

/// Request headers, their values kept as secrets; a secret-looking header's value (and the
/// credential after `Bearer `) is masked in all output.
pub(super) fn request_headers(
    resolver: &mut Resolver<'_>,
    given: &indexmap::IndexMap<String, Text>,
) -> Result<Vec<(String, Secret)>, InputError> {
    let mut headers = Vec::new();
    for (header, text) in given {
        let value = resolver.string(text)?;
        // Checked here, once, for every kind that sends headers: at send time it would be an
        // unplaced "builder error", retried for a whole retry window.
        let problem = if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            Some(format!(
                "`{header}` is not a valid HTTP header name (letters, digits and `-`, e.g. X-LP-ID)"
            ))
        } else if reqwest::header::HeaderValue::from_str(&value).is_err() {
            Some(format!(
                "the value of header {header} is not valid in HTTP (a control character or line break?)"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            let err = resolver.error(&text.span, problem);
            // From a flag there is no file position: name the flag.
            return Err(if text.is_unplaced() {
                err.key("--header")
            } else {
                err
            });
        }
        // A `${captured.…}` placeholder is not the secret; the value filled in is, and joins
        // the secrets when it is captured.
        if name_looks_secret(header) && !value.contains("${captured.") {
            resolver.secrets.add(&value);
            if let Some((_, credential)) = value.split_once(' ') {
                resolver.secrets.add(credential);
            }
        }
        headers.push((header.clone(), Secret::new(value)));
    }
    Ok(headers)
}

/// The body of a request: text, JSON written as TOML, or a file; JSON sets its content type
/// unless a header does.
fn request_body(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    headers: &mut Vec<(String, Secret)>,
) -> Result<Option<Body>, InputError> {
    let given = [
        http.body.is_some(),
        http.json.is_some(),
        http.body_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(resolver
            .error(
                &http.span,
                "a request has one body: `body`, `json` or `body_file`",
            )
            .help("keep one of them"));
    }
    if let Some(body) = &http.body {
        return Ok(Some(Body::Text(resolver.string(body)?)));
    }
    if let Some(file) = &http.body_file {
        let path = resolver.string(file)?;
        return crate::files::read_text_bounded(
            std::path::Path::new(&path),
            crate::files::PAYLOAD_LIMIT,
        )
        .map(|b| Some(Body::Text(b)))
        .map_err(|e| resolver.error(&file.span, format!("cannot read the body file {path}: {e}")));
    }
    let Some(json) = &http.json else {
        return Ok(None);
    };
    let value = interpolate_json(resolver, &json.value, &json.span)?;
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), Secret::new("application/json")));
    }
    Ok(Some(Body::Json(value)))
}

/// `${VAR}` in every string of a JSON body (keys stay as written).
fn interpolate_json(
    resolver: &mut Resolver<'_>,
    value: &serde_json::Value,
    span: &std::ops::Range<usize>,
) -> Result<serde_json::Value, InputError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(resolver.string(&Located {
            value: s.clone(),
            span: span.clone(),
        })?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| interpolate_json(resolver, v, span))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), interpolate_json(resolver, v, span)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Once, `samples` times, or twice for a cache. Samples judge latency over the distribution,
/// so `max_latency` becomes their `max`; they do not mix with waiting for health.
fn send_mode(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    expect: &mut Expectations,
) -> Result<Mode, InputError> {
    let sampling_keys = http.latency.is_some() || http.max_error_rate.is_some();
    let Some(count) = resolver.optional(http.samples.as_ref())? else {
        if sampling_keys {
            return Err(resolver
                .error(
                    &http.span,
                    "`latency` and `max_error_rate` judge samples, and `samples` is not set",
                )
                .help("add e.g. `samples = 20`"));
        }
        return Ok(match http.expect_cached {
            Some(mode) => Mode::Cache(mode),
            None => Mode::Once,
        });
    };
    if count == 0 || count > 10_000 {
        return Err(resolver.error(&http.span, format!("samples = {count}: give 1 to 10000")));
    }
    if http.retry.is_some() || http.consecutive.is_some() || http.expect_cached.is_some() {
        return Err(resolver
            .error(
                &http.span,
                "`samples` does not mix with `retry`, `consecutive` or `expect_cached`",
            )
            .help("wait for health in a check of its own, and list it in this one's `needs`"));
    }
    let mut sampling = Sampling {
        count,
        max: expect.max_latency.take(),
        ..Default::default()
    };
    if let Some(latency) = &http.latency {
        let limit =
            |r: &mut Resolver<'_>, t: &Option<Text>| t.as_ref().map(|t| r.duration(t)).transpose();
        sampling.p50 = limit(resolver, &latency.p50)?;
        sampling.p95 = limit(resolver, &latency.p95)?;
        sampling.p99 = limit(resolver, &latency.p99)?;
        if let Some(max) = limit(resolver, &latency.max)? {
            sampling.max = Some(max);
        }
    }
    if let Some(rate) = &http.max_error_rate {
        sampling.max_error_rate = parse_rate(rate)
            .map_err(|e| resolver.error(&http.span, format!("max_error_rate: {e}")))?;
    }
    Ok(Mode::Samples(sampling))
}

/// `0.001`, `"0.1%"`: a fraction from 0 to 1.
fn parse_rate(rate: &RateText) -> Result<f64, String> {
    let value = match rate {
        RateText::Fraction(f) => *f,
        RateText::Text(t) => match t.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .map(|p| p / 100.0)
                .map_err(|_| format!("`{t}` is not a percentage"))?,
            None => t
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("`{t}` is not a rate; write e.g. \"0.1%\" or 0.001"))?,
        },
    };
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1 (0% and 100%)"))
    }
}

/// The expectations of an HTTP check, each parsed once with an error placed on its key.
fn expectations(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
) -> Result<Expectations, InputError> {
    let err = |r: &Resolver<'_>, e: String| r.error(&http.span, e);
    let mut expect = Expectations::default();
    for s in &http.expect_status {
        let parsed = match s {
            StatusText::Code(c) => StatusExpect::parse(&c.to_string()),
            StatusText::Text(t) => StatusExpect::parse(t),
        };
        expect.status.push(parsed.map_err(|e| err(resolver, e))?);
    }
    for (name, want) in &http.expect_headers {
        let want = resolver.string(want)?;
        expect.headers.push(if want == "present" {
            HeaderExpect::Present(name.clone())
        } else if let Some(pattern) = want.strip_prefix('~') {
            HeaderExpect::Matches(
                name.clone(),
                regex::Regex::new(pattern).map_err(|e| {
                    err(
                        resolver,
                        format!("expect_headers.{name}: invalid regex: {e}"),
                    )
                })?,
            )
        } else {
            HeaderExpect::Equals(name.clone(), want.clone())
        });
    }
    for text in &http.body_contains {
        let text = resolver.string(text)?;
        expect.body_contains.push(text);
    }
    for pattern in &http.body_matches {
        expect.body_matches.push(resolver.regex(pattern)?);
    }
    for assertion in &http.expect_json {
        let text = resolver.string(assertion)?;
        expect
            .json
            .push(JsonAssertion::parse(&text).map_err(|e| resolver.error(&assertion.span, e))?);
    }
    expect.max_latency = http
        .max_latency
        .as_ref()
        .map(|t| resolver.duration(t))
        .transpose()?;
    Ok(expect)
}

/// Names the flag an error came from: flag values have no file position to show.
pub(super) fn from_flag(error: InputError, flag: &str) -> InputError {
    if error.key.is_some() || error.location.is_some() {
        error
    } else {
        error.key(flag)
    }
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(target: &str) -> Result<(String, Option<u16>), InputError> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map(Some)
            .map_err(|_| InputError::new(format!("`{p}` in `{target}` is not a port")))
    };
    if let Some(rest) = target.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| InputError::new(format!("`{target}` has `[` without `]`")))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host.to_string(), port(p)?)),
            None => Ok((host.to_string(), None)),
        };
    }
    match target.split_once(':') {
        // More than one colon and no brackets: an IPv6 address without a port.
        Some((_, rest)) if rest.contains(':') => Ok((target.to_string(), None)),
        Some((host, p)) => Ok((host.to_string(), port(p)?)),
        None => Ok((target.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate(&RateText::Text("0.1%".into())), Ok(0.001));
        assert_eq!(parse_rate(&RateText::Fraction(0.05)), Ok(0.05));
        assert_eq!(parse_rate(&RateText::Text("0.02".into())), Ok(0.02));
        assert!(parse_rate(&RateText::Text("150%".into())).is_err());
        assert!(parse_rate(&RateText::Text("lots".into())).is_err());
    }

    #[test]
    fn host_and_port_forms() {
        assert_eq!(
            split_host_port("a.example").unwrap(),
            ("a.example".into(), None)
        );
        assert_eq!(
            split_host_port("a.example:8443").unwrap(),
            ("a.example".into(), Some(8443))
        );
        assert_eq!(
            split_host_port("[::1]:8443").unwrap(),
            ("::1".into(), Some(8443))
        );
        assert_eq!(split_host_port("::1").unwrap(), ("::1".into(), None));
        assert!(split_host_port("a.example:https").is_err());
    }
}
