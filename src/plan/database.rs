//! `[[…database]]` and `--database-url`: one unit per database, one aspect per thing it checks.

use std::path::PathBuf;
use std::time::Duration;

use super::Planner;
use crate::checks::database::{DatabaseProbe, EmptyUrl};
use crate::checks::{Aspect, Probe, Unit};
use crate::config::checks::DatabaseConfig;
use crate::config::{Located, Resolver};
use crate::db::Backend;
use crate::error::InputError;
use crate::secret::{Secret, mask_url};

impl Planner<'_> {
    pub(super) fn database(&mut self, db: &Located<DatabaseConfig>) -> Result<(), InputError> {
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
                let source = crate::migrate::load(&dir, None)?;
                let table = db
                    .migrations_table
                    .clone()
                    .or_else(|| self.migrate_table.clone())
                    .unwrap_or_else(|| "shipgate_migrations".to_string());
                let history = crate::migrate::History::new(&table, kind)
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
        let aspects = Aspect::for_steps(&plan, "database", &name, &label, loc);
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
}

/// The backend of a database URL; an empty one names the variables that left it empty.
/// An empty URL (its variable unset) is the check's failure, reported with the rest of the
/// run; a URL that is not a database URL is wrong input, refused before anything runs.
pub(super) fn database_backend(
    resolver: &Resolver<'_>,
    url: &crate::config::interp::Interpolated,
    span: &std::ops::Range<usize>,
) -> Result<Result<(Backend, String), EmptyUrl>, InputError> {
    if url.value.trim().is_empty() {
        return Ok(Err(EmptyUrl {
            unset: url.unset.clone(),
        }));
    }
    Backend::from_url(&url.value)
        .map(Ok)
        .map_err(|e| resolver.error(span, e))
}
