//! The variables a run sees: the process environment first, then the `--env-file`. A file never
//! overrides a variable the process already has, as the deploy system's value wins.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::error::InputError;
use crate::report::Location;
use crate::secret::{Redactor, name_looks_secret};

#[derive(Clone, Default)]
pub struct Environment {
    process: HashMap<String, String>,
    file: IndexMap<String, String>,
    file_path: Option<PathBuf>,
}

/// Names only: the values are the secrets of the deployment.
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("process_vars", &self.process.len())
            .field("file", &self.file_path)
            .field("file_keys", &self.file.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Environment {
    /// The process environment plus `env_file` if given. `explicit` says the user named the file
    /// (a missing one is then an error) rather than it being the default `.env`.
    pub fn load(env_file: Option<&Path>, explicit: bool) -> Result<Environment, InputError> {
        let process = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let mut env = Environment {
            process,
            ..Environment::default()
        };
        if let Some(path) = env_file {
            if path.exists() {
                env.file = read_env_file(path)?;
                env.file_path = Some(path.to_path_buf());
            } else if explicit {
                return Err(InputError::new(format!(
                    "the env file {} does not exist",
                    path.display()
                ))
                .help(
                    "check the --env-file path, or leave the flag out to use ./.env when present",
                ));
            }
        }
        Ok(env)
    }

    /// An environment of exactly these variables (for tests and embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Environment {
            process: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Environment::default()
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.process
            .get(name)
            .or_else(|| self.file.get(name))
            .map(String::as_str)
    }

    /// The env file's variables the process does not have (the process wins, as in [`get`]).
    ///
    /// [`get`]: Environment::get
    pub fn file_only(&self) -> impl Iterator<Item = (&str, &str)> {
        self.file
            .iter()
            .filter(|(k, _)| !self.process.contains_key(*k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The keys the env file defines, in file order.
    pub fn file_keys(&self) -> impl Iterator<Item = &str> {
        self.file.keys().map(String::as_str)
    }

    pub fn file_path(&self) -> Option<&Path> {
        self.file_path.as_deref()
    }

    /// Every secret the environment holds, whether the config refers to it or not: a hook or
    /// a command may print any variable it inherits. The values of variables named like
    /// secrets (`*TOKEN*`, `*SECRET*`, …; see [`name_looks_secret`]), from the process and the
    /// env file, and the passwords and secret query values of every URL-shaped value.
    pub fn secrets(&self) -> Redactor {
        let mut secrets = Redactor::new();
        for (name, value) in self.process.iter().chain(self.file.iter()) {
            if name_looks_secret(name) && !is_plainly_not_secret(value) {
                secrets.add(value);
            }
            if value.contains("://") {
                secrets.add_url(value);
            }
        }
        secrets
    }
}

/// Values that a secret-looking name may hold but that protect nothing, and that masking
/// everywhere would garble the report with (`KEY_TTL=3600` would turn "3600 rows" into
/// "*** rows"): switches and short numbers.
pub(crate) fn is_plainly_not_secret(value: &str) -> bool {
    let value = value.trim();
    matches!(
        value.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "none"
    ) || (value.len() < 8 && value.chars().all(|c| c.is_ascii_digit()))
}

/// Reads a dotenv file into its keys and values, in file order. A line it cannot parse is
/// reported by number only: the line may hold a secret.
pub fn read_env_file(path: &Path) -> Result<IndexMap<String, String>, InputError> {
    let text = crate::files::read_text_bounded(path, crate::files::CONFIG_LIMIT).map_err(|e| {
        InputError::new(format!("cannot read the env file {}: {e}", path.display()))
            .help("check the --env-file path: it names a dotenv file of NAME=value lines")
    })?;
    let mut out = IndexMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((k, v)) => {
                out.insert(k, v);
            }
            Err(dotenvy::Error::LineParse(..)) => {
                // dotenvy's error carries part of the text (often the value), never shown.
                let line_no = failing_line(&text);
                let key = text
                    .lines()
                    .nth(line_no - 1)
                    .and_then(|l| l.trim().trim_start_matches("export ").split_once('='))
                    .map(|(k, _)| k.trim())
                    .filter(|k| is_variable_name(k));
                let message = match key {
                    Some(k) => format!("cannot parse the value of `{k}` (value not shown)"),
                    None => "cannot parse this line (not shown: it may hold a secret)".to_string(),
                };
                return Err(InputError::new(message)
                    .at(Some(Location {
                        file: path.display().to_string(),
                        line: line_no as u32,
                        column: 1,
                    }))
                    .help("env file lines are `NAME=value`; quote values with spaces or `#`, and close every quote"));
            }
            Err(e) => {
                return Err(InputError::new(format!(
                    "cannot read the env file {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(out)
}

/// The line a parse error starts on: the first line from which every longer prefix of the file
/// fails to parse. (A quoted value spanning lines makes a shorter prefix fail on its own.)
fn failing_line(text: &str) -> usize {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let fails = |n: usize| {
        let prefix: String = lines[..n].concat();
        dotenvy::from_read_iter(prefix.as_bytes()).any(|item| item.is_err())
    };
    let mut line = lines.len().max(1);
    while line > 1 && fails(line - 1) {
        line -= 1;
    }
    line
}

fn is_variable_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_wins_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "SHIPGATE_ENV_TEST_A=from-file\nSHIPGATE_ENV_TEST_ONLY_FILE=yes\n",
        )
        .unwrap();
        let mut env = Environment::load(Some(&path), true).unwrap();
        env.process
            .insert("SHIPGATE_ENV_TEST_A".into(), "from-process".into());
        assert_eq!(env.get("SHIPGATE_ENV_TEST_A"), Some("from-process"));
        assert_eq!(env.get("SHIPGATE_ENV_TEST_ONLY_FILE"), Some("yes"));
        assert_eq!(env.file_keys().count(), 2);
    }

    #[test]
    fn secrets_of_every_variable_not_only_those_referenced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "STRIPE_SECRET=sk_live_file\nFEATURE_KEY_TTL=3600\n").unwrap();
        let mut env = Environment::load(Some(&path), true).unwrap();
        env.process = [
            ("API_TOKEN", "tok-process-1"),
            ("CACHE_URL", "redis://:redis-pass@cache:6379/0"),
            ("DEBUG_KEYS", "true"),
            ("HOME", "/root"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = env.secrets();
        assert_eq!(
            r.redact("tok-process-1 sk_live_file redis-pass 3600 true /root"),
            "*** *** *** 3600 true /root"
        );
    }

    #[test]
    fn missing_explicit_file_is_an_error_default_is_not() {
        let missing = Path::new("/nonexistent/.env");
        assert!(Environment::load(Some(missing), true).is_err());
        assert!(Environment::load(Some(missing), false).is_ok());
    }

    #[test]
    fn parse_error_hides_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "OK=1\nSECRET_X='unterminated-s3cret\nLATER=2\n").unwrap();
        let err = read_env_file(&path).unwrap_err().to_string();
        assert!(err.contains(":2:1:"), "{err}");
        assert!(err.contains("`SECRET_X`"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        std::fs::write(
            &path,
            "A=1\nB=\"multi\nline\"\nAPI_SECRET=s3cret part two\n",
        )
        .unwrap();
        let err = read_env_file(&path).unwrap_err().to_string();
        assert!(err.contains(":4:1:"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        std::fs::write(&path, "A=1\nghp_s3cretpastedtoken here\n").unwrap();
        let err = read_env_file(&path).unwrap_err().to_string();
        assert!(err.contains(":2:1:") && !err.contains("s3cret"), "{err}");
    }
}
