//! Redis through the `redis` crate: PING answers PONG fast enough, and the server's version,
//! eviction policy, persistence, keys and INFO numbers are what the deployment expects.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::redis_info::{Info, InfoAssertion, Outcome};
use super::{Finding, skipped_after};
use crate::config::checks::Persistence;
use crate::report::Status;
use crate::secret::Secret;
use crate::units::{Version, format_duration};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisAspect {
    Ping,
    Version,
    MaxmemoryPolicy,
    Persistence,
    Keys,
    Info,
}

impl super::AspectKind for RedisAspect {
    fn id_suffix(self) -> &'static str {
        match self {
            RedisAspect::Ping => "",
            RedisAspect::Version => ".version",
            RedisAspect::MaxmemoryPolicy => ".maxmemory-policy",
            RedisAspect::Persistence => ".persistence",
            RedisAspect::Keys => ".keys",
            RedisAspect::Info => ".info",
        }
    }

    fn title(self) -> &'static str {
        match self {
            RedisAspect::Ping => "PING",
            RedisAspect::Version => "server version",
            RedisAspect::MaxmemoryPolicy => "maxmemory-policy",
            RedisAspect::Persistence => "persistence",
            RedisAspect::Keys => "keys",
            RedisAspect::Info => "INFO",
        }
    }
}

/// Keys that must exist, must not, or must hold a value (`maintenance_mode` gone after a
/// deployment).
#[derive(Debug, Default)]
pub struct KeyRules {
    pub present: Vec<String>,
    pub absent: Vec<String>,
    pub equals: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct RedisProbe {
    pub name: String,
    pub url: Secret,
    pub shown_url: String,
    /// Unreachable (or not configured) is a warning.
    pub optional: bool,
    /// Why the URL cannot be used, found while resolving the config (e.g. its variable is unset).
    pub problem: Option<String>,
    pub timeout: Duration,
    pub latency_warn: Duration,
    pub latency_fail: Duration,
    pub min_version: Option<Version>,
    pub maxmemory_policy: Option<String>,
    pub persistence: Option<Persistence>,
    /// CA certificate (PEM) trusted for `rediss://` instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    pub keys: KeyRules,
    /// `info = [...]`: assertions on the numbers of `INFO`.
    pub info: Vec<InfoAssertion>,
    pub aspects: Vec<RedisAspect>,
}

impl RedisProbe {
    pub async fn run(&self, aspect_count: usize) -> Vec<Finding> {
        let unreachable_status = if self.optional {
            Status::Warn
        } else {
            Status::Fail
        };
        let optional_note = if self.optional {
            " (optional: a warning, not a failure)"
        } else {
            ""
        };
        let started = Instant::now();
        let connection = match &self.problem {
            Some(problem) => Err(format!("Redis {problem}")),
            None => self
                .connect()
                .await
                .map_err(|e| format!("Redis {} unreachable: {e}", self.shown_url)),
        };
        let mut conn = match connection {
            Ok(c) => c,
            Err(error) => {
                let mut f = vec![
                    Finding::new(unreachable_status, format!("{error}{optional_note}"))
                        .detail("url", self.shown_url.clone())
                        .detail("optional", self.optional)
                        .took(started.elapsed()),
                ];
                f.extend(skipped_after(
                    &format!("redis {} is not reachable", self.name),
                    aspect_count - 1,
                ));
                return f;
            }
        };
        let mut findings = Vec::new();
        for aspect in &self.aspects {
            let t = Instant::now();
            let finding = match aspect {
                RedisAspect::Ping => self.ping(&mut conn).await,
                RedisAspect::Version => self.check_version(&mut conn).await,
                RedisAspect::MaxmemoryPolicy => self.check_policy(&mut conn).await,
                RedisAspect::Persistence => self.check_persistence(&mut conn).await,
                RedisAspect::Keys => self.check_keys(&mut conn).await,
                RedisAspect::Info => self.check_info(&mut conn).await,
            };
            findings.push(if finding.duration.is_some() {
                finding
            } else {
                finding.took(t.elapsed())
            });
        }
        findings
    }

    async fn connect(&self) -> Result<MultiplexedConnection, ConnectError> {
        connect(&self.url, self.ca_file.as_deref(), self.timeout).await
    }

    /// The median of three PINGs.
    async fn ping(&self, conn: &mut MultiplexedConnection) -> Finding {
        let mut samples = Vec::with_capacity(3);
        for _ in 0..3 {
            let t = Instant::now();
            match redis::cmd("PING").query_async::<String>(conn).await {
                Ok(reply) if reply == "PONG" => samples.push(t.elapsed()),
                Ok(reply) => {
                    return Finding::fail(format!("PING answered `{reply}` instead of PONG"));
                }
                Err(e) => return Finding::fail(format!("PING failed: {e}")),
            }
        }
        samples.sort();
        let median = samples[1];
        let status = Finding::graded(median, self.latency_warn, self.latency_fail);
        let message = match status {
            Status::Pass => format!(
                "PONG in {} (healthy under {})",
                format_duration(median),
                format_duration(self.latency_warn)
            ),
            Status::Warn => format!(
                "PONG in {}: degraded, above {}",
                format_duration(median),
                format_duration(self.latency_warn)
            ),
            _ => format!(
                "PONG in {}: above the fail threshold of {}",
                format_duration(median),
                format_duration(self.latency_fail)
            ),
        };
        Finding::new(status, message)
            .detail("url", self.shown_url.clone())
            .detail("latency_ms", crate::units::millis(median))
            .detail("warn_ms", self.latency_warn.as_millis() as u64)
            .detail("fail_ms", self.latency_fail.as_millis() as u64)
    }

    async fn check_version(&self, conn: &mut MultiplexedConnection) -> Finding {
        let info = match info(conn, "server").await {
            Ok(i) => i,
            Err(e) => return Finding::fail(format!("INFO server failed: {e}")),
        };
        let Some(version) = info_field(&info, "redis_version").and_then(|v| Version::parse(v).ok())
        else {
            return Finding::fail("INFO server has no redis_version");
        };
        match &self.min_version {
            Some(min) if &version < min => Finding::fail(format!(
                "Redis {version} is older than the required {min}; upgrade the server"
            )),
            Some(min) => Finding::pass(format!("Redis {version} is at least {min}")),
            None => Finding::pass(format!("Redis {version}")),
        }
        .detail("server_version", version.to_string())
        .detail(
            "min_version",
            self.min_version.as_ref().map(ToString::to_string),
        )
    }

    async fn check_keys(&self, conn: &mut MultiplexedConnection) -> Finding {
        let rules = &self.keys;
        let mut failures = Vec::new();
        let names: Vec<&String> = rules.present.iter().chain(&rules.absent).collect();
        if !names.is_empty() {
            // One round trip: EXISTS per key, pipelined.
            let mut pipe = redis::pipe();
            for key in &names {
                pipe.cmd("EXISTS").arg(key.as_str());
            }
            let exists: Vec<bool> = match pipe.query_async(conn).await {
                Ok(v) => v,
                Err(e) => return Finding::fail(format!("EXISTS failed: {e}")),
            };
            for (key, exists) in names.iter().zip(exists) {
                let want_present = rules.present.contains(key);
                if exists != want_present {
                    failures.push(if want_present {
                        format!("key `{key}` is missing")
                    } else {
                        format!("key `{key}` is still set (it should be gone)")
                    });
                }
            }
        }
        for (key, want) in &rules.equals {
            match redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(conn)
                .await
            {
                Ok(Some(got)) if &got == want => {}
                Ok(Some(got)) => {
                    failures.push(format!("key `{key}` is `{got}`, expected `{want}`"))
                }
                Ok(None) => failures.push(format!("key `{key}` is missing, expected `{want}`")),
                Err(e) => failures.push(format!("GET {key} failed: {e}")),
            }
        }
        let total = names.len() + rules.equals.len();
        if failures.is_empty() {
            Finding::pass(format!(
                "{} as expected",
                crate::units::plural(total, "key", "keys")
            ))
        } else {
            Finding::fail(failures.join("; ")).detail("failures", failures)
        }
    }

    /// One `INFO` (its default sections: server, clients, memory, stats, keyspace, …), every
    /// assertion against it; one row listing what does not hold, as the metrics check does.
    async fn check_info(&self, conn: &mut MultiplexedConnection) -> Finding {
        // The connection's response timeout (the check's `timeout`) bounds the reply.
        let text = match redis::cmd("INFO").query_async::<String>(conn).await {
            Ok(text) => text,
            Err(e) => return Finding::fail(format!("INFO failed: {e}")),
        };
        let info = Info::parse(&text);
        let (mut held, mut unmet, mut undecided) = (Vec::new(), Vec::new(), Vec::new());
        for assertion in &self.info {
            match assertion.check(&info) {
                Outcome::Holds(shown) => held.push(shown),
                Outcome::Unmet(why) => unmet.push(why),
                Outcome::Undecided(why) => undecided.push(why),
            }
        }
        let total = self.info.len();
        let finding = if !unmet.is_empty() {
            let mut all = unmet.clone();
            all.extend(undecided.iter().cloned());
            Finding::fail(all.join("; ")).detail("failures", unmet)
        } else if !undecided.is_empty() {
            Finding::warn(undecided.join("; "))
        } else {
            Finding::pass(format!(
                "{} hold: {}",
                crate::units::plural(total, "INFO assertion", "INFO assertions"),
                held.join(", ")
            ))
        };
        finding
            .detail("undecided", undecided)
            .detail("held", held)
            .detail(
                "assertions",
                self.info.iter().map(|a| a.text.clone()).collect::<Vec<_>>(),
            )
    }

    async fn check_policy(&self, conn: &mut MultiplexedConnection) -> Finding {
        let Some(expected) = &self.maxmemory_policy else {
            return Finding::pass("no maxmemory-policy expected");
        };
        let actual = match config_get(conn, "maxmemory-policy").await {
            Ok(v) => v,
            Err(e) => {
                return Finding::warn(format!(
                    "cannot read maxmemory-policy (CONFIG GET is refused on some managed services): {e}"
                ));
            }
        };
        let finding = if &actual == expected {
            Finding::pass(format!("maxmemory-policy is {actual}"))
        } else {
            Finding::fail(format!(
                "maxmemory-policy is {actual}, expected {expected}; set it with CONFIG SET maxmemory-policy {expected} or in redis.conf"
            ))
        };
        finding
            .detail("maxmemory_policy", actual)
            .detail("expected", expected.clone())
    }

    async fn check_persistence(&self, conn: &mut MultiplexedConnection) -> Finding {
        let Some(expected) = self.persistence else {
            return Finding::pass("no persistence expected");
        };
        let info = match info(conn, "persistence").await {
            Ok(i) => i,
            Err(e) => return Finding::fail(format!("INFO persistence failed: {e}")),
        };
        let aof = info_field(&info, "aof_enabled") == Some("1");
        let rdb = match config_get(conn, "save").await {
            Ok(save) => !save.trim().is_empty(),
            Err(e) => return Finding::warn(format!("cannot read the RDB `save` setting: {e}")),
        };
        let actual = match (rdb, aof) {
            (true, true) => "rdb+aof",
            (true, false) => "rdb",
            (false, true) => "aof",
            (false, false) => "none",
        };
        let ok = match expected {
            Persistence::Rdb => rdb,
            Persistence::Aof => aof,
            Persistence::Any => rdb || aof,
            Persistence::None => !rdb && !aof,
        };
        let expected_text = format!("{expected:?}").to_lowercase();
        let finding = if ok {
            Finding::pass(format!(
                "persistence is {actual} (expected {expected_text})"
            ))
        } else {
            Finding::fail(format!(
                "persistence is {actual}, expected {expected_text}; a restart would {}",
                if expected == Persistence::None {
                    "keep data the deployment expects gone"
                } else {
                    "lose the data"
                }
            ))
        };
        finding
            .detail("rdb", rdb)
            .detail("aof", aof)
            .detail("expected", expected_text)
    }
}

async fn info(conn: &mut MultiplexedConnection, section: &str) -> redis::RedisResult<String> {
    redis::cmd("INFO")
        .arg(section)
        .query_async::<String>(conn)
        .await
}

fn info_field<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

async fn config_get(conn: &mut MultiplexedConnection, key: &str) -> redis::RedisResult<String> {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(key)
        .query_async(conn)
        .await?;
    Ok(pair.get(1).cloned().unwrap_or_default())
}

/// One connection to `url` (`rediss://` trusting `ca_file` when given), every wait within
/// `timeout`.
async fn connect(
    url: &Secret,
    ca_file: Option<&std::path::Path>,
    timeout: Duration,
) -> Result<MultiplexedConnection, ConnectError> {
    let client =
        match &ca_file {
            None => redis::Client::open(url.expose()),
            Some(path) => {
                let root_cert = crate::files::read_bounded(path, crate::files::PAYLOAD_LIMIT)
                    .map_err(|cause| ConnectError::CaFile {
                        path: path.to_path_buf(),
                        cause,
                    })?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(url.expose(), certs)
            }
        }
        .map_err(ConnectError::Url)?;
    // The crate's own defaults (1 s to connect, 500 ms per reply) would override the
    // configured timeout and make a slow PING unmeasurable.
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    match tokio::time::timeout(
        timeout,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) if e.is_timeout() => Err(ConnectError::Timeout(timeout)),
        Ok(Err(e)) => Err(ConnectError::Connect(e)),
        Err(_) => Err(ConnectError::Timeout(timeout)),
    }
}

/// A Redis command a hook sends (`SET maintenance on`, `DEL feature:lp_dashboard`); its reply
/// is shown. Without a shell or a script: the words are the command's arguments.
#[derive(Debug)]
pub struct RedisCommandProbe {
    pub url: Secret,
    pub shown_url: String,
    pub ca_file: Option<std::path::PathBuf>,
    pub command: Vec<String>,
    pub timeout: Duration,
}

impl RedisCommandProbe {
    pub async fn run(&self) -> Finding {
        let started = Instant::now();
        let shown = self.command.join(" ");
        let Some((name, args)) = self.command.split_first() else {
            return Finding::fail("the Redis command is empty");
        };
        let mut conn = match connect(&self.url, self.ca_file.as_deref(), self.timeout).await {
            Ok(c) => c,
            Err(e) => return Finding::fail(format!("cannot connect to {}: {e}", self.shown_url)),
        };
        let mut cmd = redis::cmd(name);
        for a in args {
            cmd.arg(a);
        }
        let sent = tokio::time::timeout(self.timeout, cmd.query_async::<redis::Value>(&mut conn));
        let finding = match sent.await {
            Ok(Ok(reply)) => Finding::pass(format!(
                "`{shown}` on {}: {}",
                self.shown_url,
                describe_reply(&reply)
            )),
            Ok(Err(e)) => Finding::fail(format!("`{shown}` failed on {}: {e}", self.shown_url)),
            Err(_) => Finding::fail(format!(
                "`{shown}` got no answer within {}",
                format_duration(self.timeout)
            )),
        };
        finding.took(started.elapsed())
    }
}

/// A reply in a few words: `OK`, `1`, `"text"`, `3 items`, `nil`.
fn describe_reply(reply: &redis::Value) -> String {
    match reply {
        redis::Value::Nil => "nil".into(),
        redis::Value::Int(n) => n.to_string(),
        redis::Value::Okay => "OK".into(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::BulkString(b) => format!("\"{}\"", String::from_utf8_lossy(b)),
        redis::Value::Array(items) | redis::Value::Set(items) => format!("{} items", items.len()),
        other => format!("{other:?}"),
    }
}

/// Why there is no connection to check.
#[derive(Debug)]
enum ConnectError {
    CaFile {
        path: std::path::PathBuf,
        cause: crate::files::ReadError,
    },
    Url(redis::RedisError),
    Connect(redis::RedisError),
    Timeout(std::time::Duration),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::CaFile { path, cause } => {
                write!(f, "cannot read ca_file {}: {cause}", path.display())
            }
            ConnectError::Url(e) => write!(f, "invalid Redis URL: {e}"),
            ConnectError::Connect(e) => write!(f, "{e}"),
            ConnectError::Timeout(d) => write!(f, "no answer within {}", format_duration(*d)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn info_fields() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(super::info_field(info, "redis_version"), Some("7.0.15"));
        assert_eq!(super::info_field(info, "redis"), None);
    }
}
