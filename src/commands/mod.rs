//! One file per subcommand; this module holds what they share: loading the env and config the
//! global options name, running planned checks, the one ending every command's Report goes
//! through, and the command line that reproduces one check.

mod hooks;
pub mod migrate;
pub mod preflight;
pub mod rate_limit;
pub mod rollback;
mod target;
pub mod verify;
mod watch;

use std::path::Path;
use std::time::SystemTime;

use crate::cli::GlobalArgs;
use crate::config::{self, LoadedConfig};
use crate::env::Environment;
use crate::error::InputError;
use crate::report::{CheckResult, Report};
use crate::secret::Redactor;

/// What a subcommand returns: the Report, and the secrets it met (for masking output).
pub struct Outcome {
    pub report: Report,
    pub secrets: Redactor,
}

/// The environment and config a run reads, and how to reproduce it.
pub struct Inputs {
    pub env: Environment,
    pub config: LoadedConfig,
    /// `shipgate <args>` without output options: add `--only ID` to re-run one check.
    pub reproduce_base: String,
    /// What to publish to GitHub once the report is written (`--pr-comment`, `--check-run`).
    pub github: crate::github::Settings,
    /// Where to send the outcome once the report is written and published (`[[notify]]`).
    pub notify: crate::notify::Settings,
}

const DEFAULT_CONFIG: &str = "shipgate.toml";
const DEFAULT_ENV_FILE: &str = ".env";

impl Inputs {
    pub fn load(global: &GlobalArgs, argv: &[String]) -> Result<Inputs, InputError> {
        let env = match &global.env_file {
            Some(path) => Environment::load(Some(path), true)?,
            None => Environment::load(Some(Path::new(DEFAULT_ENV_FILE)), false)?,
        };
        let config = match &global.config {
            Some(path) if !path.exists() => {
                return Err(InputError::new(format!(
                    "the config file {} does not exist",
                    path.display()
                ))
                .help(
                    "check the --config path, or leave it out to use ./shipgate.toml when present",
                ));
            }
            Some(path) => config::load(path)?,
            None if Path::new(DEFAULT_CONFIG).exists() => config::load(Path::new(DEFAULT_CONFIG))?,
            None => LoadedConfig::empty(),
        };
        let github = crate::github::Settings::resolve(
            global.pr_comment,
            global.check_run.as_deref(),
            config.config.github.as_ref(),
            config
                .source
                .as_ref()
                .map(|s| std::path::Path::new(&s.path)),
            |k| std::env::var(k).ok(),
        )?;
        let notify = {
            let mut resolver = crate::config::Resolver::new(&env, config.source.as_ref());
            crate::notify::Settings::resolve(&config.config.notify, &mut resolver, |k| {
                std::env::var(k).ok()
            })?
        };
        Ok(Inputs {
            env,
            config,
            reproduce_base: reproduce_base(argv, &std::env::vars().collect::<Vec<_>>()),
            github,
            notify,
        })
    }
}

/// How a command's results are re-run.
pub(crate) enum Reproduce {
    /// One by one: `--only ID`.
    EachById,
    /// Only as a whole (steps run in order): the same command.
    Whole,
}

/// The ending of every command: each result's reproduce line, then the Report and the secrets
/// to mask in it.
pub(crate) fn finish(
    command: &str,
    global: &GlobalArgs,
    inputs: &Inputs,
    started: SystemTime,
    mut results: Vec<CheckResult>,
    reproduce: Reproduce,
    secrets: Redactor,
) -> Outcome {
    for r in &mut results {
        r.reproduce = Some(match reproduce {
            Reproduce::EachById => format!("{} --only {}", inputs.reproduce_base, r.id),
            Reproduce::Whole => inputs.reproduce_base.clone(),
        });
    }
    let report = Report::new(command, started, SystemTime::now(), global.strict, results);
    Outcome { report, secrets }
}

/// Plans the checks of a config section plus those of the flags, runs them, and reports:
/// `preflight` and `verify` are the same machinery over different sections.
pub(crate) async fn run_checks(
    command: &str,
    global: &GlobalArgs,
    section: Option<&crate::config::checks::ChecksConfig>,
    flags: crate::plan::Flags<'_>,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    let planned = plan_checks(command, global, section, flags, inputs)?;
    let started = SystemTime::now();
    let (results, secrets) = run_planned(planned, global).await;
    Ok(finish(
        command,
        global,
        inputs,
        started,
        results,
        Reproduce::EachById,
        secrets,
    ))
}

/// Checks planned and selected, ready to run once.
pub(crate) struct PlannedChecks {
    units: Vec<crate::checks::Unit>,
    deadline: std::time::Duration,
    secrets: Redactor,
    selection: crate::checks::Selection,
}

/// Plans the checks of a section and the flags, and validates `--only`/`--skip` against them.
pub(crate) fn plan_checks(
    command: &str,
    global: &GlobalArgs,
    section: Option<&crate::config::checks::ChecksConfig>,
    flags: crate::plan::Flags<'_>,
    inputs: &Inputs,
) -> Result<PlannedChecks, InputError> {
    let resolver = crate::config::Resolver::new(&inputs.env, inputs.config.source.as_ref());
    let migrate_table = inputs
        .config
        .config
        .migrate
        .as_ref()
        .and_then(|m| m.table.clone());
    let crate::plan::Planned {
        units,
        deadline,
        secrets,
    } = crate::plan::plan(section, flags, resolver, global.timeout, migrate_table)?;
    if units.is_empty() {
        return Err(InputError::new(format!(
            "nothing to check: no [{command}] checks in the config and no check flags"
        ))
        .help(format!(
            "add checks to shipgate.toml (see examples/) or pass check flags; see `shipgate {command} --help`"
        )));
    }
    let selection = crate::checks::Selection {
        only: global.only.clone(),
        skip: global.skip.clone(),
    };
    selection.validate(&units)?;
    Ok(PlannedChecks {
        units,
        deadline,
        secrets,
        selection,
    })
}

/// Runs planned checks once, within their deadline: the results, and the secrets to mask.
pub(crate) async fn run_planned(
    planned: PlannedChecks,
    global: &GlobalArgs,
) -> (Vec<CheckResult>, Redactor) {
    let PlannedChecks {
        units,
        deadline,
        mut secrets,
        selection,
    } = planned;
    let captured = crate::checks::Captured::default();
    let ctx = crate::checks::Context {
        http: crate::http_client::client(),
        dry_run: global.dry_run,
        captured: captured.clone(),
        sql: Default::default(),
    };
    let results = crate::checks::run_all(units, &selection, ctx, deadline).await;
    // Captured values are tokens and ids taken from responses: masked wherever they show up
    // (a later check's body excerpt, an error message).
    for value in captured.values() {
        secrets.add(&value);
    }
    (results, secrets)
}

/// A result a command reports about its own steps (not a probe's): `kind` is the command.
pub(crate) fn step_result(
    kind: &str,
    id: &str,
    name: &str,
    status: crate::report::Status,
    message: impl Into<String>,
) -> crate::report::CheckResult {
    crate::report::CheckResult {
        id: id.to_string(),
        name: name.to_string(),
        kind: kind.to_string(),
        status,
        duration_ms: 0,
        message: message.into(),
        details: serde_json::Map::new(),
        location: None,
        reproduce: None,
    }
}

/// Sets a result's details from a JSON object.
pub(crate) fn with_details(
    mut r: crate::report::CheckResult,
    details: serde_json::Value,
) -> crate::report::CheckResult {
    if let serde_json::Value::Object(map) = details {
        r.details = map;
    }
    r
}

/// The invocation minus the options that only shape output or select checks, shell-quoted.
/// A value holding a secret that the shell expanded from a variable of `vars` (the process
/// environment) names the variable instead — `--database-url "$DATABASE_URL"` — so the line
/// runs as written wherever that variable is set; any other secret is masked.
pub fn reproduce_base(argv: &[String], vars: &[(String, String)]) -> String {
    const DROP_WITH_VALUE: &[&str] = &["--format", "--output", "--only", "--skip", "--pr-comment"];
    const DROP_FLAG: &[&str] = &["-q", "--quiet", "-v", "--verbose", "--github", "--no-color"];
    let secret_vars: Vec<&(String, String)> = vars
        .iter()
        .filter(|(name, value)| {
            value.len() >= 4
                && is_variable_name(name)
                && (crate::secret::name_looks_secret(name)
                    || !crate::secret::url_secrets(value).is_empty())
        })
        .collect();
    let mut kept = vec!["shipgate".to_string()];
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let name = arg.split('=').next().unwrap_or(arg);
        if DROP_WITH_VALUE.contains(&name) {
            if !arg.contains('=') {
                args.next();
            }
            continue;
        }
        // Takes its value only as `--check-run=NAME`.
        if DROP_FLAG.contains(&arg.as_str()) || name == "--check-run" {
            continue;
        }
        kept.push(
            match arg.split_once('=').filter(|_| arg.starts_with("--")) {
                Some((flag, value)) => format!("{flag}={}", shell_word(value, &secret_vars)),
                None => shell_word(arg, &secret_vars),
            },
        );
    }
    kept.join(" ")
}

/// One argument as a shell word: secret values of variables written as `${NAME}` inside double
/// quotes; otherwise single-quoted as needed, with a URL's password masked whatever its length
/// (the general redaction leaves values under four characters alone, but here the context says
/// exactly what it is).
fn shell_word(arg: &str, secret_vars: &[&(String, String)]) -> String {
    let mut used: Vec<&(String, String)> = secret_vars
        .iter()
        .copied()
        .filter(|(_, value)| arg.contains(value.as_str()))
        .collect();
    if used.is_empty() {
        let arg = crate::secret::mask_url(arg);
        return shlex::try_quote(&arg)
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| arg.clone());
    }
    // The longest value first, so `$DATABASE_URL` wins over the `$DB_PASSWORD` inside it.
    used.sort_by_key(|(name, value)| (std::cmp::Reverse(value.len()), name.clone()));
    let mut quoted = String::from("\"");
    let mut rest = arg;
    while !rest.is_empty() {
        let next = used
            .iter()
            .filter_map(|(name, value)| rest.find(value.as_str()).map(|at| (at, name, value)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, name, value)) = next else {
            push_double_quoted(&mut quoted, rest);
            break;
        };
        push_double_quoted(&mut quoted, &rest[..at]);
        quoted.push_str(&format!("${{{name}}}"));
        rest = &rest[at + value.len()..];
    }
    quoted.push('"');
    quoted
}

/// Text inside double quotes, where `\`, `"`, `$` and `` ` `` keep a meaning to the shell.
fn push_double_quoted(out: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduce_drops_output_options() {
        let argv: Vec<String> = [
            "shipgate",
            "preflight",
            "--format",
            "json",
            "--output=junit=j.xml",
            "-q",
            "--only",
            "x",
            "--config",
            "my config.toml",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            reproduce_base(&argv, &[]),
            "shipgate preflight --config 'my config.toml'"
        );
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_secret_from_a_variable_is_named_by_the_variable() {
        let env = vars(&[
            ("DATABASE_URL", "postgres://app:s3cret@db:5432/app"),
            ("DB_PASSWORD", "s3cret"),
            ("API_TOKEN", "tok_abcdef"),
            ("HOME", "/home/ci"),
            ("SHLVL", "1"),
        ]);
        assert_eq!(
            reproduce_base(
                &argv(&[
                    "shipgate",
                    "preflight",
                    "--database-url",
                    "postgres://app:s3cret@db:5432/app",
                    "--header=Authorization: Bearer tok_abcdef",
                    "--writable-dir",
                    "/home/ci",
                    "--redis-url",
                    "redis://:pw@cache:6379",
                ]),
                &env
            ),
            "shipgate preflight --database-url \"${DATABASE_URL}\" --header=\"Authorization: Bearer ${API_TOKEN}\" --writable-dir /home/ci --redis-url 'redis://:***@cache:6379'"
        );
        // Shell-special characters around the variable stay literal inside the double quotes.
        assert_eq!(
            shell_word(
                "$x `y` \\ \" tok_abcdef",
                &[&("API_TOKEN".into(), "tok_abcdef".into())]
            ),
            "\"\\$x \\`y\\` \\\\ \\\" ${API_TOKEN}\""
        );
    }
}
