//! `[[verify.sql]]` and `--sql`: a query compared with one expectation.

use super::Planner;
use crate::checks::{Aspect, Probe, Unit};
use crate::config::Located;
use crate::config::checks::SqlConfig;
use crate::error::InputError;
use crate::secret::{Secret, mask_url};

impl Planner<'_> {
    pub(super) fn sql(&mut self, sql: &Located<SqlConfig>) -> Result<(), InputError> {
        use crate::checks::sql::{SqlExpect, SqlProbe};
        let loc = self.resolver.table_location(&sql.span);
        let name = self.claim("sql", &sql.name, true, &sql.span)?;
        let needs = self.needs(&sql.needs)?;
        let url = self.resolver.text(&sql.url)?;
        let backend = super::database::database_backend(&self.resolver, &url, &sql.url.span)?;
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
}
