//! SQL that writes, for hooks (`REFRESH MATERIALIZED VIEW`, a maintenance flag): its statements
//! in one transaction that commits, on its own connection, every lock wait bounded by the lock
//! timeout and the whole by the hook's timeout. A failure rolls the transaction back.

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Executor};

use super::Finding;
use crate::db::{self, Backend};
use crate::migrate::{Dialect as _, split_statements};
use crate::secret::Secret;
use crate::units::{format_duration, plural};

#[derive(Debug)]
pub struct SqlWriteProbe {
    pub url: Secret,
    pub shown_url: String,
    pub backend: Backend,
    pub sql: String,
    /// How long a statement may wait for a lock held by someone else.
    pub lock_timeout: Duration,
    pub timeout: Duration,
}

impl SqlWriteProbe {
    pub async fn run(&self) -> Finding {
        let started = Instant::now();
        let statements = split_statements(&self.sql);
        if statements.is_empty() {
            return Finding::fail("the SQL holds no statement");
        }
        let mut conn = match db::connect(self.url.expose(), self.timeout).await {
            Ok(c) => c,
            Err(e) => return Finding::fail(format!("cannot connect to {}: {e}", self.shown_url)),
        };
        let texts: Vec<&str> = statements.iter().map(|s| s.text).collect();
        let ran = tokio::time::timeout(self.timeout, self.write(&mut conn, &texts)).await;
        let finding = match ran {
            Ok(Ok(())) => Finding::pass(format!(
                "ran {} on {} (committed)",
                plural(texts.len(), "statement", "statements"),
                self.shown_url
            )),
            Ok(Err((step, e))) => {
                let _ = tokio::time::timeout(self.timeout, conn.execute("ROLLBACK")).await;
                Finding::fail(format!(
                    "{step} failed on {}: {e}; rolled back, nothing of it stays",
                    self.shown_url
                ))
            }
            // The connection is dropped mid-statement: the server rolls the transaction back.
            Err(_) => Finding::fail(format!(
                "did not finish within {} and was stopped (rolled back)",
                format_duration(self.timeout)
            )),
        };
        finding
            .detail("sql", self.sql.clone())
            .took(started.elapsed())
    }

    /// BEGIN, each statement, COMMIT; on failure, which step and why.
    async fn write(
        &self,
        conn: &mut AnyConnection,
        statements: &[&str],
    ) -> Result<(), (String, db::Error)> {
        let begin = self.backend.begin();
        db::limit_lock_waits(conn, self.backend, self.lock_timeout)
            .await
            .map_err(|e| ("setting the lock timeout".to_string(), e))?;
        conn.execute(begin)
            .await
            .map_err(|e| (begin.to_string(), db::Error::server(&e)))?;
        for (i, text) in statements.iter().enumerate() {
            conn.execute(sqlx::AssertSqlSafe(text.to_string()))
                .await
                .map_err(|e| (format!("statement {}", i + 1), db::Error::server(&e)))?;
        }
        conn.execute("COMMIT")
            .await
            .map_err(|e| ("COMMIT".to_string(), db::Error::server(&e)))?;
        Ok(())
    }
}
