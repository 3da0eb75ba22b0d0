//! The report on GitHub itself, through its REST API (octocrab): a sticky pull-request comment
//! and a check run with every failure and warning annotated. Workflow commands, the job summary
//! and step outputs need no API and live in `crate::output` and `crate::report::github`.
//!
//! Publishing is a sink like an `--output` file: it runs after the report is printed and
//! written, a failure of GitHub's API never changes the checks' verdict, and it is said as a
//! warning naming the cause (exit 3 only when the checks passed).

mod check_run;
mod client;
mod comment;
mod context;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

pub use client::{ApiError, Limits};
pub use context::{Context, PullRequest};

use crate::error::InputError;
use crate::report::Report;

/// When the report goes into a pull-request comment.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum PrComment {
    /// No comment.
    #[default]
    Never,
    /// A comment when the run fails; an existing one is updated to say it passes now.
    OnFailure,
    /// A comment on every run, updated in place.
    Always,
}

/// What to publish, resolved from the flags, the config's `[github]` and the environment.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub pr_comment: PrComment,
    /// The check run's name; `None`: no check run. Empty: `shipgate <command>`.
    pub check_run: Option<String>,
    /// Where the run is on GitHub; `None` when publishing is off.
    pub context: Option<Context>,
    /// Publishing was asked for (by the config) but this is not GitHub Actions: said, not done.
    pub not_on_github: Option<String>,
    /// The config file, which tells one run's comment from another's, and carries annotations
    /// of results that have no file of their own.
    pub config_file: Option<String>,
    /// Bounds of each API call (tests shorten them).
    pub limits: Limits,
}

/// `[github]` in shipgate.toml.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// Post the report as a sticky comment on the pull request: `never` (default),
    /// `on-failure` or `always`. Needs `permissions: pull-requests: write`.
    pub pr_comment: Option<PrComment>,
    /// Create a check run on the PR's head commit, with every failure and warning annotated:
    /// `true` (named `shipgate <command>`) or the run's name. Needs `permissions: checks: write`.
    pub check_run: Option<CheckRunSetting>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum CheckRunSetting {
    On(bool),
    Named(String),
}

/// The longest all publishing may take (each call is bounded too).
const PUBLISH_DEADLINE: Duration = Duration::from_secs(180);

impl Settings {
    /// Flags win over the config. A flag that cannot be honoured here (outside GitHub Actions)
    /// is refused before anything runs; the same wish in the config is only noted, because one
    /// config serves both CI and a laptop.
    pub fn resolve(
        flag_pr_comment: Option<PrComment>,
        flag_check_run: Option<&str>,
        config: Option<&GithubConfig>,
        config_file: Option<&Path>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, InputError> {
        let pr_comment = flag_pr_comment
            .or_else(|| config.and_then(|c| c.pr_comment))
            .unwrap_or_default();
        let check_run = match flag_check_run {
            Some(name) => Some(name.trim().to_string()),
            None => match config.and_then(|c| c.check_run.as_ref()) {
                Some(CheckRunSetting::On(true)) => Some(String::new()),
                Some(CheckRunSetting::Named(name)) => Some(name.trim().to_string()),
                Some(CheckRunSetting::On(false)) | None => None,
            },
        };
        let mut settings = Settings {
            pr_comment,
            check_run,
            config_file: config_file.map(|p| p.display().to_string()),
            ..Settings::default()
        };
        if !settings.wanted() {
            return Ok(settings);
        }
        let flagged = (flag_pr_comment.is_some() && pr_comment != PrComment::Never)
            || flag_check_run.is_some();
        match Context::from_env(&get) {
            Ok(context) => {
                if flagged && context.token.is_none() {
                    return Err(InputError::new(
                        "--pr-comment and --check-run need a GitHub token, and GITHUB_TOKEN is not set",
                    )
                    .help("in a workflow: env: GITHUB_TOKEN: ${{ github.token }} (the action passes its github-token input)"));
                }
                settings.context = Some(context);
            }
            Err(context::Missing(what)) if flagged => {
                return Err(InputError::new(format!(
                    "--pr-comment and --check-run publish to GitHub, but {what} is not set: this is not a GitHub Actions run"
                ))
                .help("leave the flags out here (the job summary and --output files work anywhere), or set them in the config's [github] table, which applies only in GitHub Actions"));
            }
            Err(context::Missing(what)) => {
                settings.not_on_github = Some(format!(
                    "[github] in the config asks for a PR comment or a check run, but {what} is not set (not GitHub Actions): nothing published"
                ));
            }
        }
        Ok(settings)
    }

    fn wanted(&self) -> bool {
        self.pr_comment != PrComment::Never || self.check_run.is_some()
    }
}

/// What publishing did (`notes`) and what went wrong (`problems`, each a warning).
#[derive(Debug, Default)]
pub struct Published {
    pub notes: Vec<String>,
    pub problems: Vec<String>,
}

/// Posts the report where the settings say. Under `dry_run` nothing is sent: the notes say
/// what would have been.
pub async fn publish(settings: &Settings, report: &Report, dry_run: bool) -> Published {
    let mut published = Published::default();
    if let Some(note) = &settings.not_on_github {
        published.notes.push(note.clone());
    }
    let Some(context) = &settings.context else {
        return published;
    };
    let check_run_name = settings.check_run.as_ref().map(|name| {
        if name.is_empty() {
            format!("shipgate {}", report.command)
        } else {
            name.clone()
        }
    });
    if dry_run {
        if let Some(name) = &check_run_name {
            published.notes.push(format!(
                "dry run: would create the check run `{name}` on {} with {} annotations",
                context.head_sha.as_deref().unwrap_or("(no commit)"),
                check_run::annotations(report, context, settings.config_file.as_deref()).len()
            ));
        }
        if settings.pr_comment != PrComment::Never {
            published.notes.push(match &context.pull_request {
                Some(pr) => format!(
                    "dry run: would post or update the shipgate comment on pull request #{}",
                    pr.number
                ),
                None => "dry run: not a pull request event, so no comment".to_string(),
            });
        }
        return published;
    }
    let client = match client::Client::new(context, settings.limits) {
        Ok(c) => c,
        Err(e) => {
            published
                .problems
                .push(format!("nothing was published to GitHub: {e}"));
            return published;
        }
    };
    let work = async {
        if let Some(name) = &check_run_name {
            match check_run::create(
                &client,
                context,
                name,
                report,
                settings.config_file.as_deref(),
            )
            .await
            {
                Ok(note) => published.notes.push(note),
                Err(e) => published.problems.push(e.to_string()),
            }
        }
        if settings.pr_comment != PrComment::Never {
            match comment::post(
                &client,
                context,
                settings.pr_comment,
                report,
                settings.config_file.as_deref(),
            )
            .await
            {
                Ok(Some(note)) => published.notes.push(note),
                Ok(None) => {}
                Err(e) => published.problems.push(e),
            }
        }
    };
    if tokio::time::timeout(PUBLISH_DEADLINE, work).await.is_err() {
        published.problems.push(format!(
            "publishing to GitHub took longer than {}s and was stopped",
            PUBLISH_DEADLINE.as_secs()
        ));
    }
    published
}

/// A 403's meaning for the job's author: the permission to add, and the fork case.
fn forbidden_help(context: &Context, permission: &str) -> String {
    let fork = context.pull_request.as_ref().is_some_and(|pr| pr.from_fork);
    if fork {
        "this pull request comes from a fork, whose GITHUB_TOKEN is read-only (GitHub's rule): nothing can be written; the report is in the job summary".to_string()
    } else {
        format!(
            "the token lacks `{permission}`: add `permissions: {permission}` to the job (or workflow)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    const ON_GITHUB: &[(&str, &str)] = &[
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_TOKEN", "ghs_secret"),
        ("GITHUB_SHA", "abc"),
    ];

    #[test]
    fn flags_win_over_the_config() {
        let config = GithubConfig {
            pr_comment: Some(PrComment::Always),
            check_run: Some(CheckRunSetting::Named("deploy gate".into())),
        };
        let s = Settings::resolve(None, None, Some(&config), None, env(ON_GITHUB)).unwrap();
        assert_eq!(s.pr_comment, PrComment::Always);
        assert_eq!(s.check_run.as_deref(), Some("deploy gate"));
        let s = Settings::resolve(
            Some(PrComment::Never),
            Some("mine"),
            Some(&config),
            None,
            env(ON_GITHUB),
        )
        .unwrap();
        assert_eq!(s.pr_comment, PrComment::Never);
        assert_eq!(s.check_run.as_deref(), Some("mine"));
        let off = GithubConfig {
            pr_comment: None,
            check_run: Some(CheckRunSetting::On(false)),
        };
        let s = Settings::resolve(None, None, Some(&off), None, env(ON_GITHUB)).unwrap();
        assert!(!s.wanted() && s.context.is_none());
    }

    #[test]
    fn flags_outside_github_actions_are_refused_and_the_config_only_noted() {
        let e = Settings::resolve(None, Some(""), None, None, env(&[])).unwrap_err();
        assert!(
            e.to_string().contains("GITHUB_REPOSITORY is not set"),
            "{e}"
        );
        let e = Settings::resolve(
            Some(PrComment::Always),
            None,
            None,
            None,
            env(&[("GITHUB_REPOSITORY", "a/b")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("GITHUB_TOKEN is not set"), "{e}");
        let config = GithubConfig {
            pr_comment: Some(PrComment::OnFailure),
            check_run: None,
        };
        let s = Settings::resolve(None, None, Some(&config), None, env(&[])).unwrap();
        assert!(s.context.is_none());
        assert!(s.not_on_github.unwrap().contains("nothing published"));
        // `--pr-comment never` asks for nothing, so it is fine anywhere.
        assert!(Settings::resolve(Some(PrComment::Never), None, None, None, env(&[])).is_ok());
    }
}
