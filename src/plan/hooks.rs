//! Hooks (`[[migrate.hooks]]`, `[[rollback.hooks]]`) as check units: an `http` hook is a request
//! of the HTTP check kind, a `command` hook a command of the command kind, a `sql` hook SQL that
//! commits; each bounded by the hook's own timeout rather than a check's, reported as
//! `hook.<name>`.

use std::time::Duration;

use crate::checks::command::CommandProbe;
use crate::checks::http::HttpProbe;
use crate::checks::redis::RedisCommandProbe;
use crate::checks::sql_write::SqlWriteProbe;
use crate::checks::{Aspect, Probe, Unit, id_part};
use crate::config::checks::HttpConfig;
use crate::config::hooks::{HookConfig, HookWhen};
use crate::config::{Located, Resolver};
use crate::db::Backend;
use crate::error::InputError;
use crate::secret::{Secret, mask_url};

/// A hook's deadline when it names none.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// The database a command works on, for `sql` hooks that name no `url` of their own.
pub struct HookDatabase<'a> {
    pub url: &'a Secret,
    pub shown_url: &'a str,
    pub backend: Backend,
    /// Bounds the lock waits of a hook's statements (`--lock-timeout`).
    pub lock_timeout: Duration,
}

/// One hook, planned.
#[derive(Debug)]
pub struct Hook {
    pub unit: Unit,
    /// An `after` hook that runs even when the database steps failed.
    pub always: bool,
}

/// A command's hooks, in config order, by when they run.
#[derive(Debug, Default)]
pub struct Hooks {
    pub before: Vec<Hook>,
    pub after: Vec<Hook>,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self.before.is_empty() && self.after.is_empty()
    }
}

/// Plans `[[migrate.hooks]]` or `[[rollback.hooks]]`; `database` is the command's, when it has
/// one (`rollback --app-only` has none: a `sql` hook must then name its `url`).
pub fn hooks(
    config: &[Located<HookConfig>],
    database: Option<&HookDatabase<'_>>,
    resolver: &mut Resolver<'_>,
) -> Result<Hooks, InputError> {
    let mut hooks = Hooks::default();
    for hook in config {
        let when = hook.when.unwrap_or_default();
        let always = resolver.value_or(hook.always.as_ref(), false)?;
        if always && when == HookWhen::Before {
            return Err(resolver
                .error(
                    &hook.span,
                    format!("hook `{}`: `always` is for `after` hooks", hook.name),
                )
                .help("a `before` hook that fails stops the run; `always = true` makes an `after` hook run even then"));
        }
        let planned = Hook {
            unit: hook_unit(hook, database, resolver)?,
            always,
        };
        match when {
            HookWhen::Before => hooks.before.push(planned),
            HookWhen::After => hooks.after.push(planned),
        }
    }
    Ok(hooks)
}

fn hook_unit(
    hook: &Located<HookConfig>,
    database: Option<&HookDatabase<'_>>,
    resolver: &mut Resolver<'_>,
) -> Result<Unit, InputError> {
    let location = resolver.table_location(&hook.span);
    let timeout = resolver.duration_or(hook.timeout.as_ref(), HOOK_TIMEOUT)?;
    if hook.url.is_some() && hook.sql.is_none() && hook.redis.is_none() {
        return Err(resolver
            .error(
                &hook.span,
                format!(
                    "hook `{}`: `url` is the database of a `sql` hook or the server of a `redis` one",
                    hook.name
                ),
            )
            .help("an `http` hook names its URL inside `http = { url = … }`"));
    }
    let probe = match (&hook.http, &hook.command, &hook.sql, &hook.redis) {
        (Some(http), None, None, None) => Probe::Http(http_probe(resolver, http, timeout)?),
        (None, Some(command), None, None) => {
            let words = super::command::argv(resolver, command)?;
            let run = super::command::invocation(resolver, words, timeout);
            Probe::Command(CommandProbe::new(run))
        }
        (None, None, None, Some(command)) => {
            Probe::RedisCommand(redis_probe(hook, command, timeout, resolver)?)
        }
        (None, None, Some(sql), None) => {
            Probe::SqlWrite(sql_probe(hook, sql, database, timeout, resolver)?)
        }
        _ => {
            return Err(resolver
                .error(
                    &hook.span,
                    format!(
                        "hook `{}` needs exactly one of `http`, `command`, `sql` or `redis`",
                        hook.name
                    ),
                )
                .help("e.g. command = \"kubectl rollout undo deployment/api-server\""));
        }
    };
    Ok(Unit {
        kind: "hook",
        needs: Vec::new(),
        aspects: vec![Aspect::new(
            format!("hook.{}", id_part(&hook.name)),
            format!("hook {}", hook.name),
            location,
        )],
        timeout: timeout + Duration::from_secs(1),
        probe,
    })
}

/// A `redis` hook: its command's words, sent to its `url`.
fn redis_probe(
    hook: &Located<HookConfig>,
    command: &crate::config::Text,
    timeout: Duration,
    resolver: &mut Resolver<'_>,
) -> Result<RedisCommandProbe, InputError> {
    let words = super::command::argv(resolver, command)?;
    let Some(url) = &hook.url else {
        return Err(resolver
            .error(
                &hook.span,
                format!("redis hook `{}` needs a `url`", hook.name),
            )
            .help("e.g. url = \"${REDIS_URL}\""));
    };
    let url = resolver.string(url)?;
    if url.trim().is_empty() {
        return Err(resolver
            .error(
                &hook.span,
                format!("redis hook `{}`: `url` is empty", hook.name),
            )
            .help(
                "its variable may be unset: a hook that cannot run stops the run before it starts",
            ));
    }
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(resolver
            .error(
                &hook.span,
                format!(
                    "redis hook `{}`: `url` is not a redis:// or rediss:// URL",
                    hook.name
                ),
            )
            .help("its text is not shown: it may hold a password"));
    }
    Ok(RedisCommandProbe {
        shown_url: mask_url(&url),
        url: Secret::new(url),
        ca_file: None,
        command: words,
        timeout,
    })
}

/// A `sql` hook: on its own `url`, else on the command's database.
fn sql_probe(
    hook: &Located<HookConfig>,
    sql: &crate::config::Text,
    database: Option<&HookDatabase<'_>>,
    timeout: Duration,
    resolver: &mut Resolver<'_>,
) -> Result<SqlWriteProbe, InputError> {
    let text = resolver.string(sql)?;
    let lock_timeout = database.map_or(timeout, |d| d.lock_timeout);
    if let Some(url) = &hook.url {
        let url = resolver.string(url)?;
        let (backend, url) = Backend::from_url(&url).map_err(|e| resolver.error(&hook.span, e))?;
        return Ok(SqlWriteProbe {
            shown_url: mask_url(&url),
            url: Secret::new(url),
            backend,
            sql: text,
            lock_timeout,
            timeout,
        });
    }
    let Some(db) = database else {
        return Err(resolver
            .error(
                &hook.span,
                format!("sql hook `{}` has no database to run on", hook.name),
            )
            .help("`rollback --app-only` touches no database: give the hook its own `url = \"${DATABASE_URL}\"`"));
    };
    Ok(SqlWriteProbe {
        url: db.url.clone(),
        shown_url: db.shown_url.to_string(),
        backend: db.backend,
        sql: text,
        lock_timeout,
        timeout,
    })
}

fn http_probe(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    timeout: Duration,
) -> Result<HttpProbe, InputError> {
    let url = resolver.text(&http.url)?;
    let mut probe = super::http::http_probe(resolver, http, url, timeout)?;
    probe.timeout = timeout;
    Ok(probe)
}
