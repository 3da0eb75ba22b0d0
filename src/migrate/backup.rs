//! `--backup DIR`: a copy of the database taken before anything changes. PostgreSQL: `pg_dump
//! -Fc`, then read back with `pg_restore --list`; MySQL: `mysqldump`; SQLite: `VACUUM INTO`.
//! Passwords go to the tools through their environment variables, never on a command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::{AnyConnection, Executor};

use crate::db::{self, Backend, describe_error};
use crate::units::{Version, format_duration};

/// Why a backup could not be taken; each message is rendered here, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The dump tool is not installed or cannot be started.
    Missing {
        tool: String,
        cause: String,
    },
    /// `tool --version` did not answer.
    Silent {
        tool: String,
    },
    /// A version (`what`: "the version of pg_dump", "the server version `x`") cannot be read.
    Unreadable {
        what: String,
    },
    /// pg_dump refuses to dump a newer server.
    TooOld {
        tool: Version,
        server: Version,
    },
    Db(db::Error),
    /// A file operation failed (`doing`: "cannot create the backup folder x").
    File {
        doing: String,
        cause: String,
    },
    /// A step (`what`: "pg_dump", "VACUUM INTO x") did not finish within the timeout.
    Timeout {
        what: String,
        after: Duration,
    },
    /// A tool could not be run.
    CannotRun {
        what: String,
        cause: String,
    },
    /// A tool exited with an error.
    ToolFailed {
        what: String,
        status: String,
        stderr: String,
    },
    /// SQLite's `VACUUM INTO` failed.
    Vacuum {
        path: String,
        cause: String,
    },
    /// The dump is empty, or `pg_restore --list` reads nothing from it.
    Empty {
        path: String,
        listed: bool,
    },
    /// `--verify-backup` on PostgreSQL: the role may not create the throwaway database.
    NoCreateDb,
    /// The dump was cut short; its partial file was removed.
    Removed {
        cause: Box<Error>,
        path: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Missing { tool, cause } => write!(
                f,
                "--backup needs {tool}, which cannot be run ({cause}); install it (Debian: postgresql-client / mariadb-client)"
            ),
            Error::Silent { tool } => write!(f, "`{tool} --version` did not answer"),
            Error::Unreadable { what } => write!(f, "cannot read {what}"),
            Error::TooOld { tool, server } => {
                let major = major(server);
                write!(
                    f,
                    "pg_dump {tool} cannot dump PostgreSQL {server}: install pg_dump {major} or newer (postgresql-client-{major})"
                )
            }
            Error::Db(e) => e.fmt(f),
            Error::File { doing, cause } => write!(f, "{doing}: {cause}"),
            Error::Timeout { what, after } => {
                write!(
                    f,
                    "{what} did not finish within {}",
                    format_duration(*after)
                )
            }
            Error::CannotRun { what, cause } => write!(f, "cannot run {what}: {cause}"),
            Error::ToolFailed {
                what,
                status,
                stderr,
            } => write!(f, "{what} failed ({status}): {stderr}"),
            Error::Vacuum { path, cause } => write!(f, "VACUUM INTO {path} failed: {cause}"),
            Error::Empty {
                path,
                listed: false,
            } => write!(f, "the backup {path} is empty"),
            Error::Empty { path, listed: true } => {
                write!(f, "pg_restore --list read nothing from {path}")
            }
            Error::NoCreateDb => f.write_str(
                "--verify-backup restores the backup into a throwaway database, and this role may not create one (it lacks CREATEDB): grant it (ALTER ROLE … CREATEDB) or leave --verify-backup out",
            ),
            Error::Removed { cause, path } => {
                write!(f, "{cause} (the partial file {path} was removed)")
            }
        }
    }
}

impl std::error::Error for Error {}

/// How much of a failing tool's stderr a message keeps.
const STDERR_SHOWN: usize = 2000;

/// A version's major number (`16` of 16.4).
fn major(v: &Version) -> u64 {
    v.to_string()
        .split('.')
        .next()
        .unwrap_or("0")
        .parse::<u64>()
        .unwrap_or(0)
}

/// A backup that was written and checked.
#[derive(Clone, Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
}

/// The dump tool for this backend, checked before anything changes: present, and (pg_dump) not
/// older than the server, which it refuses to dump. With `verify` (`--verify-backup`), the
/// restore side too: the `mysql` client, and on PostgreSQL the right to create a database.
pub async fn preflight(
    conn: &mut AnyConnection,
    backend: Backend,
    verify: bool,
) -> Result<(), Error> {
    match backend {
        Backend::Postgres => {
            let tool = tool_version("pg_dump").await?;
            let server: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| Error::Db(db::Error::server(&e)))?;
            let server = Version::find(&server).ok_or_else(|| Error::Unreadable {
                what: format!("the server version `{server}`"),
            })?;
            if major(&tool) < major(&server) {
                return Err(Error::TooOld { tool, server });
            }
            tool_version("pg_restore").await?;
            if verify {
                let may: bool = sqlx::query_scalar(
                    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
                )
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| Error::Db(db::Error::server(&e)))?
                .unwrap_or(false);
                if !may {
                    return Err(Error::NoCreateDb);
                }
            }
            Ok(())
        }
        Backend::MySql => {
            tool_version("mysqldump").await?;
            if verify {
                tool_version("mysql").await?;
            }
            Ok(())
        }
        Backend::Sqlite => Ok(()),
    }
}

async fn tool_version(tool: &str) -> Result<Version, Error> {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(tool)
            .arg("--version")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| Error::Silent {
        tool: tool.to_string(),
    })?
    .map_err(|e| Error::Missing {
        tool: tool.to_string(),
        cause: e.to_string(),
    })?;
    Version::find(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| Error::Unreadable {
        what: format!("the version of {tool}"),
    })
}

/// Takes the backup into `dir` (created if missing), within `timeout`.
pub async fn take(
    conn: &mut AnyConnection,
    backend: Backend,
    url: &str,
    dir: &Path,
    label: &str,
    timeout: Duration,
) -> Result<Backup, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::File {
        doing: format!("cannot create the backup folder {}", dir.display()),
        cause: e.to_string(),
    })?;
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    let parsed = url::Url::parse(url).map_err(|e| Error::File {
        doing: "cannot read the database URL".into(),
        cause: e.to_string(),
    })?;
    let database = percent_encoding::percent_decode_str(parsed.path().trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    let name = if database.is_empty() {
        "database".to_string()
    } else {
        database.replace('/', "_")
    };
    let (stem, extension) = match backend {
        Backend::Postgres => (format!("{name}-{stamp}-before-{label}"), "dump"),
        Backend::MySql => (format!("{name}-{stamp}-before-{label}"), "sql"),
        Backend::Sqlite => (format!("sqlite-{stamp}-before-{label}"), "db"),
    };
    // Two runs within one second (a no-op run takes its backup too) must not overwrite the
    // first one's: the second gets `-2`, and so on.
    let final_path = (1..=1000)
        .map(|n| match n {
            1 => dir.join(format!("{stem}.{extension}")),
            n => dir.join(format!("{stem}-{n}.{extension}")),
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| {
            dir.join(format!(
                "{stem}-{}.{extension}",
                uuid::Uuid::new_v4().simple()
            ))
        });
    // Written under a temporary name: a dump cut short must not look like a backup.
    let path = PathBuf::from(format!("{}.partial", final_path.display()));
    let written: Result<(), Error> = async {
        match backend {
            Backend::Postgres => {
                let (without_password, password) = pg_target(&parsed);
                let mut cmd = tokio::process::Command::new("pg_dump");
                cmd.args(["-Fc", "--no-password", "-f"])
                    .arg(&path)
                    .arg("-d")
                    .arg(without_password);
                if let Some(p) = password {
                    cmd.env("PGPASSWORD", p);
                }
                run(cmd, "pg_dump", timeout).await?;
                let mut list = tokio::process::Command::new("pg_restore");
                list.arg("--list").arg(&path);
                let listing = run(list, "pg_restore --list", timeout).await?;
                if listing.trim().is_empty() {
                    return Err(Error::Empty {
                        path: path.display().to_string(),
                        listed: true,
                    });
                }
            }
            Backend::MySql => {
                let mut cmd = tokio::process::Command::new("mysqldump");
                cmd.args(["--single-transaction", "--routines", "--triggers"]);
                mysql_target(&parsed, &mut cmd);
                cmd.arg(format!("--result-file={}", path.display()))
                    .arg(&name);
                run(cmd, "mysqldump", timeout).await?;
            }
            Backend::Sqlite => {
                let target = path.display().to_string().replace('\'', "''");
                let vacuum = conn.execute(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")));
                tokio::time::timeout(timeout, vacuum)
                    .await
                    .map_err(|_| Error::Timeout {
                        what: format!("VACUUM INTO {}", path.display()),
                        after: timeout,
                    })?
                    .map_err(|e| Error::Vacuum {
                        path: path.display().to_string(),
                        cause: describe_error(&e),
                    })?;
            }
        }
        Ok(())
    }
    .await;
    // A dump cut short (an error, a timeout) must not be left behind to be taken for a backup.
    if let Err(why) = written {
        let removed = std::fs::remove_file(&path).is_ok();
        return Err(if removed {
            Error::Removed {
                cause: Box::new(why),
                path: path.display().to_string(),
            }
        } else {
            why
        });
    }
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if bytes == 0 {
        let _ = std::fs::remove_file(&path);
        return Err(Error::Empty {
            path: final_path.display().to_string(),
            listed: false,
        });
    }
    std::fs::rename(&path, &final_path).map_err(|e| Error::File {
        doing: format!("cannot name the backup {}", final_path.display()),
        cause: e.to_string(),
    })?;
    Ok(Backup {
        path: final_path,
        bytes,
    })
}

/// A PostgreSQL URL for libpq tools without its password, and the password (from the userinfo
/// or a `?password=` parameter), which goes through PGPASSWORD: a command line is visible to
/// every user in `ps`.
pub(super) fn pg_target(parsed: &url::Url) -> (String, Option<String>) {
    let mut password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let mut without_password = parsed.clone();
    let _ = without_password.set_password(None);
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| {
            if k == "password" {
                password = Some(v.into_owned());
                None
            } else {
                Some((k.into_owned(), v.into_owned()))
            }
        })
        .collect();
    without_password.set_query(None);
    if !kept.is_empty() {
        without_password.query_pairs_mut().extend_pairs(kept);
    }
    (without_password.to_string(), password)
}

/// Where a MySQL client tool connects (host, port, user over TCP), and its password through
/// MYSQL_PWD, never the command line.
pub(super) fn mysql_target(parsed: &url::Url, cmd: &mut tokio::process::Command) {
    cmd.arg("--protocol=TCP");
    let host = parsed
        .host_str()
        .unwrap_or("127.0.0.1")
        .trim_start_matches('[')
        .trim_end_matches(']');
    cmd.arg(format!("--host={host}"));
    cmd.arg(format!("--port={}", parsed.port().unwrap_or(3306)));
    if !parsed.username().is_empty() {
        let user = percent_encoding::percent_decode_str(parsed.username()).decode_utf8_lossy();
        cmd.arg(format!("--user={user}"));
    }
    if let Some(p) = parsed.password() {
        cmd.env(
            "MYSQL_PWD",
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned(),
        );
    }
}

/// Runs a tool within `timeout` (killed when it runs out); its stdout when it succeeded.
pub(super) async fn run(
    cmd: tokio::process::Command,
    what: &str,
    timeout: Duration,
) -> Result<String, Error> {
    run_reading(cmd, what, timeout, std::process::Stdio::null()).await
}

/// [`run`] with `stdin` as the tool's standard input (a dump the `mysql` client reads).
pub(super) async fn run_reading(
    mut cmd: tokio::process::Command,
    what: &str,
    timeout: Duration,
    stdin: std::process::Stdio,
) -> Result<String, Error> {
    cmd.stdin(stdin).kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| Error::Timeout {
            what: what.to_string(),
            after: timeout,
        })?
        .map_err(|e| Error::CannotRun {
            what: what.to_string(),
            cause: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::ToolFailed {
            what: what.to_string(),
            status: out.status.to_string(),
            // A tool that floods stderr must not flood the report (its first lines say why).
            stderr: crate::checks::expect::excerpt(
                String::from_utf8_lossy(&out.stderr).trim(),
                STDERR_SHOWN,
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
