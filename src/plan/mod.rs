//! The planning layer: turns the check sections of the config (`[preflight]`, `[verify]`) and
//! the check flags into check units — each with its ids, the units it needs, the values it
//! captures and its thresholds — for `crate::checks` to run. One file per check kind; this
//! file holds what they share: ids, the needs graph, captures and threshold rules.

mod command;
mod database;
mod env;
mod flags;
pub mod hooks;
pub mod http;
mod log;
mod metrics;
mod path;
mod prometheus;
mod redis;
mod sql;
mod tls;
mod tool;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::checks::{Unit, id_part};
use crate::cli::PreflightArgs;
use crate::config::checks::{
    ChecksConfig, CommandConfig, DatabaseConfig, HttpConfig, LogConfig, MetricsConfig, PathConfig,
    PrometheusConfig, RedisConfig, SqlConfig, TlsConfig, ToolConfig,
};
use crate::config::{Located, Resolver, Text};
use crate::error::InputError;
use crate::report::Location;
use crate::secret::Redactor;

pub use flags::Flags;

const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

/// Builds units, giving each a unique id.
struct Planner<'a> {
    resolver: Resolver<'a>,
    check_timeout: Duration,
    /// The overall deadline of the run.
    deadline: Duration,
    units: Vec<Unit>,
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
        section: &ChecksConfig,
        args: &PreflightArgs,
    ) -> Result<(), InputError> {
        if section.env.is_some() || !args.require_env.is_empty() || args.env_example.is_some() {
            self.env(section.env.as_ref(), args)?;
        }
        Ok(())
    }

    /// Plans the checks of a section in the order they are written, whatever their kind: the
    /// report follows the file, and `needs` may name any check above.
    fn config(&mut self, section: &ChecksConfig) -> Result<(), InputError> {
        enum Entry<'c> {
            Database(&'c Located<DatabaseConfig>),
            Redis(&'c Located<RedisConfig>),
            Path(&'c Located<PathConfig>),
            Http(&'c Located<HttpConfig>),
            Tls(&'c Located<TlsConfig>),
            Tool(&'c Located<ToolConfig>),
            Command(&'c Located<CommandConfig>),
            Sql(&'c Located<SqlConfig>),
            Metrics(&'c Located<MetricsConfig>),
            Prometheus(&'c Located<PrometheusConfig>),
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
        entries.extend(
            section
                .command
                .iter()
                .map(|e| (e.span.start, Entry::Command(e))),
        );
        entries.extend(section.sql.iter().map(|e| (e.span.start, Entry::Sql(e))));
        entries.extend(
            section
                .metrics
                .iter()
                .map(|e| (e.span.start, Entry::Metrics(e))),
        );
        entries.extend(
            section
                .prometheus
                .iter()
                .map(|e| (e.span.start, Entry::Prometheus(e))),
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
                Entry::Command(e) => self.command(e)?,
                Entry::Sql(e) => self.sql(e)?,
                Entry::Metrics(e) => self.metrics(e)?,
                Entry::Prometheus(e) => self.prometheus(e)?,
                Entry::Log(e) => self.log(e)?,
            }
        }
        Ok(())
    }

    /// Claims `kind.name`, or the first free `kind.name-N` when `name` was a default.
    fn claim(
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

    /// Adds a unit that later checks may name in `needs`, by its name or its id.
    fn push(&mut self, unit: Unit, name: &str) {
        let index = self.units.len();
        if self.names.insert(name.to_string(), index).is_some() {
            self.ambiguous.insert(name.to_string());
        }
        self.units.push(unit);
    }

    /// The units a check needs, each declared before it.
    fn needs(&mut self, needs: &[Text]) -> Result<Vec<usize>, InputError> {
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
}

/// What a section and its flags plan to: the units, the deadline of the whole run, and the
/// secrets met while resolving them (masked in all output).
pub struct Planned {
    pub units: Vec<Unit>,
    pub deadline: Duration,
    pub secrets: Redactor,
}

/// Plans the checks of a config section, then those of the flags: `preflight` and `verify`
/// are the same machinery over different sections. `timeout` is `--timeout`, which overrides
/// the section's; `migrate_table` is `[migrate] table`.
pub fn plan(
    section: Option<&ChecksConfig>,
    flags: Flags<'_>,
    mut resolver: Resolver<'_>,
    timeout: Option<Duration>,
    migrate_table: Option<String>,
) -> Result<Planned, InputError> {
    let empty = ChecksConfig::default();
    let section = section.unwrap_or(&empty);
    let check_timeout =
        resolver.duration_or(section.check_timeout.as_ref(), DEFAULT_CHECK_TIMEOUT)?;
    let deadline = match timeout {
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
        migrate_table,
    };
    // Only preflight has environment flags; verify checks the environment its section names.
    let no_env_flags = PreflightArgs::default();
    let env_flags = match flags {
        Flags::Preflight(args) => args,
        Flags::Verify(_) => &no_env_flags,
    };
    plan.env_checks(section, env_flags)?;
    plan.config(section)?;
    plan.flags(flags)?;
    Ok(Planned {
        units: plan.units,
        deadline,
        secrets: plan.resolver.secrets,
    })
}
