//! The check flags of `preflight` (`--database-url`, `--http-url`, …) and `verify` (`--http`,
//! `--sql`, …): each becomes a config entry without a place in a file, then is planned like one.

use super::Planner;
use crate::cli::{PreflightArgs, VerifyArgs};
use crate::config::checks::{
    DatabaseConfig, HttpConfig, PathConfig, RedisConfig, RetryConfig, ScalarText, SqlConfig,
    StatusText, TlsConfig, ToolConfig,
};
use crate::config::{Located, Text, Typed};
use crate::error::InputError;

/// The check flags of the command that plans.
#[derive(Clone, Copy)]
pub enum Flags<'f> {
    Preflight(&'f PreflightArgs),
    Verify(&'f VerifyArgs),
}

impl Planner<'_> {
    pub(super) fn flags(&mut self, flags: Flags<'_>) -> Result<(), InputError> {
        match flags {
            Flags::Preflight(args) => self.preflight_flags(args),
            Flags::Verify(args) => {
                self.verify_flags(args)?;
                self.sql_flags(args)
            }
        }
    }

    /// Flags become config entries without a place in a file, then go the same way.
    fn preflight_flags(&mut self, args: &PreflightArgs) -> Result<(), InputError> {
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
                info: Vec::new(),
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
                newest: None,
                max_age: None,
                min_size: None,
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
    fn verify_flags(&mut self, args: &VerifyArgs) -> Result<(), InputError> {
        for url in &args.http {
            let mut http = HttpConfig::get(text(url));
            for header in &args.header {
                let (name, value) = super::http::header_flag(header)?;
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
            http.retry = args.retry_timeout.as_deref().map(|t| RetryConfig {
                timeout: text(t),
                interval: None,
                backoff: None,
            });
            self.http(&Located::unplaced(http))
                .map_err(|e| from_flag(e, "--http"))?;
        }
        Ok(())
    }

    /// `--database-url URL --sql QUERY --expect VALUE`: each `--sql` one check, compared with
    /// the `--expect` in the same position.
    fn sql_flags(&mut self, args: &VerifyArgs) -> Result<(), InputError> {
        if args.sql.is_empty() {
            if !args.expect.is_empty() {
                return Err(InputError::new(
                    "--expect compares the result of a --sql, and none is given",
                )
                .key("--expect"));
            }
            if args.database_url.is_some() {
                return Err(InputError::new(
                    "--database-url is the database of --sql, and none is given",
                )
                .key("--database-url")
                .help("add --sql QUERY --expect VALUE; to check the database itself, use `shipgate preflight --database-url`"));
            }
            return Ok(());
        }
        let Some(url) = &args.database_url else {
            return Err(InputError::new("--sql needs --database-url").key("--sql"));
        };
        if args.expect.len() != args.sql.len() {
            return Err(InputError::new(format!(
                "{} --sql but {} --expect: give one --expect per --sql, in the same order",
                args.sql.len(),
                args.expect.len()
            ))
            .key("--expect"));
        }
        for (i, (query, expect)) in args.sql.iter().zip(&args.expect).enumerate() {
            let sql = SqlConfig {
                name: if args.sql.len() == 1 {
                    "query".into()
                } else {
                    format!("query-{}", i + 1)
                },
                url: text(url),
                query: text(query),
                expect: Some(ScalarText::Text(expect.clone())),
                expect_at_least: None,
                expect_rows: None,
                expect_empty: None,
                expect_error: None,
                timeout: None,
                needs: Vec::new(),
            };
            self.sql(&Located::unplaced(sql))
                .map_err(|e| from_flag(e, "--sql"))?;
        }
        Ok(())
    }
}

pub(super) fn text(value: &str) -> Text {
    Located::unplaced(value.to_string())
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
