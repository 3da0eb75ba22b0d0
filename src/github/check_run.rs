//! A completed check run on the commit under review: conclusion from the run's status, the
//! Markdown report as its summary, and every failing and warning result as an annotation,
//! sent in batches of 50 (the API's limit per request; later batches are appended by updates).

use http::Method;
use octocrab::params::checks::{
    CheckRunConclusion, CheckRunOutput, CheckRunOutputAnnotation, CheckRunOutputAnnotationLevel,
    CheckRunStatus,
};
use serde::Serialize;

use super::client::{ApiError, Client};
use super::context::Context;
use crate::report::{Report, RunStatus, Status, markdown};

/// Annotations per request (GitHub's `maxItems`).
pub const BATCH: usize = 50;
/// GitHub's limits on an output's summary (characters; bytes are never fewer), an annotation's
/// message (64 KB) and title (255 characters).
const SUMMARY_LIMIT: usize = 65_535;
const MESSAGE_LIMIT: usize = 60_000;
const TITLE_LIMIT: usize = 255;

/// Why the check run was not created, or holds only some of its annotations.
#[derive(Debug)]
pub enum CheckRunError {
    NoCommit {
        name: String,
    },
    Api {
        name: String,
        /// Annotations already sent (0: the check run was not created).
        sent: usize,
        total: usize,
        error: ApiError,
        /// What to change, for a 403.
        help: Option<String>,
    },
    NoId {
        name: String,
    },
}

impl std::fmt::Display for CheckRunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckRunError::NoCommit { name } => write!(
                f,
                "no check run `{name}`: no commit to attach it to (GITHUB_SHA is not set)"
            ),
            CheckRunError::Api {
                name,
                sent,
                total,
                error,
                help,
            } => {
                if *sent == 0 {
                    write!(f, "the check run `{name}` was not created")?;
                } else {
                    write!(
                        f,
                        "the check run `{name}` holds only {sent} of its {total} annotations"
                    )?;
                }
                write!(f, ": {error}")?;
                match help {
                    Some(help) => write!(f, "; {help}"),
                    None => Ok(()),
                }
            }
            CheckRunError::NoId { name } => write!(
                f,
                "GitHub created the check run `{name}` but its answer has no id"
            ),
        }
    }
}

impl std::error::Error for CheckRunError {}

#[derive(Serialize)]
struct NewCheckRun<'a> {
    name: &'a str,
    head_sha: &'a str,
    status: CheckRunStatus,
    conclusion: CheckRunConclusion,
    completed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details_url: Option<&'a str>,
    output: CheckRunOutput,
}

#[derive(Serialize)]
struct MoreAnnotations {
    output: CheckRunOutput,
}

pub async fn create(
    client: &Client,
    context: &Context,
    name: &str,
    report: &Report,
    config_file: Option<&str>,
) -> Result<String, CheckRunError> {
    let head_sha = context
        .head_sha
        .as_deref()
        .ok_or_else(|| CheckRunError::NoCommit { name: name.into() })?;
    let mut annotations = annotations(report, context, config_file);
    let total = annotations.len();
    let title = truncate(
        &format!(
            "{}: {}",
            report.summary.status.as_str(),
            crate::report::human::counts_sentence(report)
        ),
        TITLE_LIMIT,
    );
    let summary = markdown::render_within(report, SUMMARY_LIMIT);
    let output = |batch: Vec<CheckRunOutputAnnotation>| CheckRunOutput {
        title: title.clone(),
        summary: summary.clone(),
        text: None,
        annotations: batch,
        images: Vec::new(),
    };
    let rest = annotations.split_off(annotations.len().min(BATCH));
    let body = NewCheckRun {
        name,
        head_sha,
        status: CheckRunStatus::Completed,
        conclusion: conclusion(report.summary.status),
        completed_at: report.finished_at.clone(),
        details_url: context.run_url.as_deref(),
        output: output(annotations),
    };
    let route = format!("/repos/{}/{}/check-runs", context.owner, context.repo);
    let created = client
        .send(Method::POST, &route, Some(&body))
        .await
        .map_err(|e| explain(context, name, e, 0, total))?;
    let id = created.body["id"]
        .as_u64()
        .ok_or_else(|| CheckRunError::NoId { name: name.into() })?;
    let url = created.body["html_url"].as_str().unwrap_or("").to_string();
    let mut sent = total - rest.len();
    let mut rest = rest.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<_> = rest.by_ref().take(BATCH).collect();
        let count = batch.len();
        client
            .send(
                Method::PATCH,
                &format!("{route}/{id}"),
                Some(&MoreAnnotations {
                    output: output(batch),
                }),
            )
            .await
            .map_err(|e| explain(context, name, e, sent, total))?;
        sent += count;
    }
    Ok(format!(
        "check run `{name}` ({}, {} annotations){}",
        conclusion_word(report.summary.status),
        total,
        if url.is_empty() {
            String::new()
        } else {
            format!(": {url}")
        }
    ))
}

fn explain(
    context: &Context,
    name: &str,
    error: ApiError,
    sent: usize,
    total: usize,
) -> CheckRunError {
    let help = matches!(error, ApiError::Forbidden { .. })
        .then(|| super::forbidden_help(context, "checks: write"));
    CheckRunError::Api {
        name: name.into(),
        sent,
        total,
        error,
        help,
    }
}

fn conclusion(status: RunStatus) -> CheckRunConclusion {
    match status {
        RunStatus::Pass => CheckRunConclusion::Success,
        RunStatus::Warn => CheckRunConclusion::Neutral,
        RunStatus::Fail => CheckRunConclusion::Failure,
    }
}

fn conclusion_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Pass => "success",
        RunStatus::Warn => "neutral",
        RunStatus::Fail => "failure",
    }
}

/// One annotation per failing, erroring and warning result, worst first. A result without a
/// file of its own is placed on the config file's first line; without a config file it has no
/// place in the repository and is left to the summary.
pub fn annotations(
    report: &Report,
    context: &Context,
    config_file: Option<&str>,
) -> Vec<CheckRunOutputAnnotation> {
    report
        .problems()
        .into_iter()
        .filter_map(|r| {
            let (path, line, column) = match (&r.location, config_file) {
                (Some(loc), _) => (
                    context.repo_path(&loc.file),
                    loc.line.max(1),
                    Some(loc.column),
                ),
                (None, Some(config)) => (context.repo_path(config), 1, None),
                (None, None) => return None,
            };
            let mut message = format!("{}: {}", r.id, r.message);
            if let Some(cmd) = &r.reproduce {
                message.push_str(&format!("\nreproduce: {cmd}"));
            }
            Some(CheckRunOutputAnnotation {
                path,
                start_line: line,
                end_line: line,
                start_column: column.filter(|c| *c >= 1),
                end_column: column.filter(|c| *c >= 1),
                annotation_level: match r.status {
                    Status::Warn => CheckRunOutputAnnotationLevel::Warning,
                    _ => CheckRunOutputAnnotationLevel::Failure,
                },
                message: truncate(&message, MESSAGE_LIMIT),
                title: Some(truncate(&r.name, TITLE_LIMIT)),
                raw_details: None,
            })
        })
        .collect()
}

/// At most `limit` characters, cut with an ellipsis.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Location, sample};

    fn context() -> Context {
        Context {
            api_url: "http://127.0.0.1:1".into(),
            owner: "acme".into(),
            repo: "shop".into(),
            token: None,
            event_name: "pull_request".into(),
            pull_request: None,
            head_sha: Some("abc".into()),
            workspace: Some(std::env::current_dir().unwrap()),
            run_url: None,
        }
    }

    #[test]
    fn every_problem_is_annotated_worst_first_on_its_file_or_the_config() {
        let report = sample::report();
        let list = annotations(&report, &context(), Some("deploy/shipgate.toml"));
        let ids: Vec<(&str, u32, &str)> = list
            .iter()
            .map(|a| {
                (
                    a.path.as_str(),
                    a.start_line,
                    a.message.split(':').next().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                ("deploy/shipgate.toml", 1, "http.api"),
                ("shipgate.toml", 7, "database.main.tables"),
                ("deploy/shipgate.toml", 1, "redis.cache"),
            ]
        );
        assert!(matches!(
            list[2].annotation_level,
            CheckRunOutputAnnotationLevel::Warning
        ));
        assert!(list[1].message.contains("\nreproduce: shipgate preflight"));
        // Without a config file, results with no file have no place in the repository.
        assert_eq!(annotations(&report, &context(), None).len(), 1);
    }

    #[test]
    fn long_texts_are_cut_to_githubs_limits() {
        let mut report = sample::report();
        report.results[1].name = "n".repeat(300);
        report.results[1].message = "m".repeat(70_000);
        report.results[1].location = Some(Location {
            file: "a.toml".into(),
            line: 0,
            column: 0,
        });
        let list = annotations(&report, &context(), None);
        let a = list.iter().find(|a| a.path == "a.toml").unwrap();
        assert_eq!(a.title.as_ref().unwrap().chars().count(), TITLE_LIMIT);
        assert!(a.message.chars().count() <= MESSAGE_LIMIT);
        assert_eq!((a.start_line, a.start_column), (1, None));
    }
}
