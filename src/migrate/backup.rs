//! `--backup DIR`: a copy of the database taken before anything changes. PostgreSQL: `pg_dump
//! -Fc`, then read back with `pg_restore --list`; MySQL: `mysqldump`; SQLite: `VACUUM INTO`.
//! Passwords go to the tools through their environment variables, never on a command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::{AnyConnection, Executor};

use crate::db::{Backend, describe_error};
use crate::units::{Version, format_duration};

/// A backup that was written and checked.
#[derive(Clone, Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
}

/// The dump tool for this backend, checked before anything changes: present, and (pg_dump) not
/// older than the server, which it refuses to dump.
pub async fn preflight(conn: &mut AnyConnection, backend: Backend) -> Result<(), String> {
    match backend {
        Backend::Postgres => {
            let tool = tool_version("pg_dump").await?;
            let server: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| describe_error(&e))?;
            let server = Version::find(&server)
                .ok_or_else(|| format!("cannot read the server version `{server}`"))?;
            let major = |v: &Version| {
                v.to_string()
                    .split('.')
                    .next()
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            };
            if major(&tool) < major(&server) {
                return Err(format!(
                    "pg_dump {tool} cannot dump PostgreSQL {server}: install pg_dump {} or newer (postgresql-client-{})",
                    major(&server),
                    major(&server)
                ));
            }
            tool_version("pg_restore").await.map(|_| ())
        }
        Backend::MySql => tool_version("mysqldump").await.map(|_| ()),
        Backend::Sqlite => Ok(()),
    }
}

async fn tool_version(tool: &str) -> Result<Version, String> {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(tool).arg("--version").kill_on_drop(true).output(),
    )
    .await
    .map_err(|_| format!("`{tool} --version` did not answer"))?
    .map_err(|e| {
        format!("--backup needs {tool}, which cannot be run ({e}); install it (Debian: postgresql-client / mariadb-client)")
    })?;
    Version::find(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("cannot read the version of {tool}"))
}

/// Takes the backup into `dir` (created if missing), within `timeout`.
pub async fn take(
    conn: &mut AnyConnection,
    backend: Backend,
    url: &str,
    dir: &Path,
    label: &str,
    timeout: Duration,
) -> Result<Backup, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the backup folder {}: {e}", dir.display()))?;
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    let parsed = url::Url::parse(url).map_err(|e| format!("cannot read the database URL: {e}"))?;
    let database = percent_encoding::percent_decode_str(parsed.path().trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    let name = if database.is_empty() {
        "database".to_string()
    } else {
        database.replace('/', "_")
    };
    let final_path = match backend {
        Backend::Postgres => dir.join(format!("{name}-{stamp}-before-{label}.dump")),
        Backend::MySql => dir.join(format!("{name}-{stamp}-before-{label}.sql")),
        Backend::Sqlite => dir.join(format!("sqlite-{stamp}-before-{label}.db")),
    };
    // Written under a temporary name: a dump cut short must not look like a backup.
    let path = PathBuf::from(format!("{}.partial", final_path.display()));
    let written: Result<(), String> = async {
        match backend {
            Backend::Postgres => {
                // The password goes through PGPASSWORD, whether written in the userinfo or as a
                // `?password=` parameter: a command line is visible to every user in `ps`.
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
                let mut cmd = tokio::process::Command::new("pg_dump");
                cmd.args(["-Fc", "--no-password", "-f"])
                    .arg(&path)
                    .arg("-d")
                    .arg(without_password.as_str());
                if let Some(p) = password {
                    cmd.env("PGPASSWORD", p);
                }
                run(cmd, "pg_dump", timeout).await?;
                let mut list = tokio::process::Command::new("pg_restore");
                list.arg("--list").arg(&path);
                let listing = run(list, "pg_restore --list", timeout).await?;
                if listing.trim().is_empty() {
                    return Err(format!(
                        "pg_restore --list read nothing from {}",
                        path.display()
                    ));
                }
            }
            Backend::MySql => {
                let mut cmd = tokio::process::Command::new("mysqldump");
                cmd.args([
                    "--single-transaction",
                    "--routines",
                    "--triggers",
                    "--protocol=TCP",
                ]);
                let host = parsed
                    .host_str()
                    .unwrap_or("127.0.0.1")
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                cmd.arg(format!("--host={host}"));
                cmd.arg(format!("--port={}", parsed.port().unwrap_or(3306)));
                if !parsed.username().is_empty() {
                    let user =
                        percent_encoding::percent_decode_str(parsed.username()).decode_utf8_lossy();
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
                cmd.arg(format!("--result-file={}", path.display()))
                    .arg(&name);
                run(cmd, "mysqldump", timeout).await?;
            }
            Backend::Sqlite => {
                let target = path.display().to_string().replace('\'', "''");
                let vacuum = conn.execute(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")));
                tokio::time::timeout(timeout, vacuum)
                    .await
                    .map_err(|_| {
                        format!(
                            "VACUUM INTO {} did not finish within {}",
                            path.display(),
                            format_duration(timeout)
                        )
                    })?
                    .map_err(|e| {
                        format!(
                            "VACUUM INTO {} failed: {}",
                            path.display(),
                            describe_error(&e)
                        )
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
            format!("{why} (the partial file {} was removed)", path.display())
        } else {
            why
        });
    }
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if bytes == 0 {
        let _ = std::fs::remove_file(&path);
        return Err(format!("the backup {} is empty", final_path.display()));
    }
    std::fs::rename(&path, &final_path)
        .map_err(|e| format!("cannot name the backup {}: {e}", final_path.display()))?;
    Ok(Backup {
        path: final_path,
        bytes,
    })
}

async fn run(
    mut cmd: tokio::process::Command,
    what: &str,
    timeout: Duration,
) -> Result<String, String> {
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| format!("{what} did not finish within {}", format_duration(timeout)))?
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{what} failed ({}): {}", out.status, err.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
