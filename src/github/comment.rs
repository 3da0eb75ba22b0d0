//! One sticky pull-request comment per command and config: found again by a hidden marker on
//! its last line, created once and edited on later runs, so a PR shows the latest verdict in one
//! place instead of a comment per push.

use http::Method;
use serde_json::json;

use super::PrComment;
use super::client::Client;
use super::context::Context;
use crate::report::{Report, RunStatus, markdown};

/// GitHub refuses a comment body over 65,536 characters; bytes are never fewer.
const BODY_LIMIT: usize = 65_536;
/// Comments listed per page (GitHub's maximum) and pages read at most: 3,000 comments.
const PER_PAGE: usize = 100;
const MAX_PAGES: u32 = 30;

/// The marker that tells this comment apart: `<!-- shipgate:v1 command=verify
/// config=deploy/shipgate.toml -->`. Only `[A-Za-z0-9._/-]` of the config path is kept
/// (percent-encoded otherwise), so no path can end the HTML comment early.
pub fn marker(command: &str, config_file: Option<&str>) -> String {
    let config = config_file.map_or_else(
        || "none".to_string(),
        |path| {
            path.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"._/-".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        },
    );
    format!("<!-- shipgate:v1 command={command} config={config} -->")
}

/// The comment's text: the report within GitHub's limit, a footer linking the run, the marker.
pub fn body(report: &Report, context: &Context, marker: &str) -> String {
    let mut footer = format!(
        "\n---\n<sub>shipgate {} · {}",
        report.tool.version, report.finished_at
    );
    if let Some(url) = &context.run_url {
        footer.push_str(&format!(" · [workflow run]({url})"));
    }
    footer.push_str("</sub>\n\n");
    footer.push_str(marker);
    footer.push('\n');
    let report_text = markdown::render_within(report, BODY_LIMIT - footer.len());
    format!("{report_text}{footer}")
}

/// Creates or updates the comment as `mode` says. `Ok(None)`: nothing to do (and nothing worth
/// saying); `Ok(Some(note))`: what was done.
pub async fn post(
    client: &Client,
    context: &Context,
    mode: PrComment,
    report: &Report,
    config_file: Option<&str>,
) -> Result<Option<String>, String> {
    if mode == PrComment::Never {
        return Ok(None);
    }
    let Some(pr) = &context.pull_request else {
        return Ok(Some(format!(
            "no PR comment: the `{}` event is not about a pull request",
            context.event_name
        )));
    };
    // As the repository names it: `--config ./deploy/x.toml` and `deploy/x.toml` share a comment.
    let config_file = config_file.map(|c| context.repo_path(c));
    let marker = marker(&report.command, config_file.as_deref());
    let existing = find(client, context, pr.number, &marker).await?;
    let failed = report.summary.status == RunStatus::Fail;
    let body = json!({ "body": body(report, context, &marker) });
    let explain = |e: super::ApiError, what: &str| match e {
        super::ApiError::Forbidden { .. } => format!(
            "{what} on pull request #{}: {e}; {}",
            pr.number,
            super::forbidden_help(context, "pull-requests: write")
        ),
        _ => format!("{what} on pull request #{}: {e}", pr.number),
    };
    match (existing, mode) {
        (None, PrComment::OnFailure) if !failed => Ok(Some(format!(
            "no PR comment: the run passed (pr_comment = on-failure) and pull request #{} has none to update",
            pr.number
        ))),
        (Some(id), _) => {
            let route = format!(
                "/repos/{}/{}/issues/comments/{id}",
                context.owner, context.repo
            );
            let answer = client
                .send(Method::PATCH, &route, Some(&body))
                .await
                .map_err(|e| explain(e, "the shipgate comment could not be updated"))?;
            Ok(Some(format!(
                "updated the shipgate comment on pull request #{}{}",
                pr.number,
                url_suffix(&answer.body)
            )))
        }
        (None, _) => {
            let route = format!(
                "/repos/{}/{}/issues/{}/comments",
                context.owner, context.repo, pr.number
            );
            let answer = client
                .send(Method::POST, &route, Some(&body))
                .await
                .map_err(|e| explain(e, "the shipgate comment could not be posted"))?;
            Ok(Some(format!(
                "commented on pull request #{}{}",
                pr.number,
                url_suffix(&answer.body)
            )))
        }
    }
}

fn url_suffix(body: &serde_json::Value) -> String {
    body["html_url"]
        .as_str()
        .map(|u| format!(": {u}"))
        .unwrap_or_default()
}

/// The id of the first comment whose last line is the marker, reading every page (bounded).
async fn find(
    client: &Client,
    context: &Context,
    number: u64,
    marker: &str,
) -> Result<Option<u64>, String> {
    for page in 1..=MAX_PAGES {
        let route = format!(
            "/repos/{}/{}/issues/{number}/comments?per_page={PER_PAGE}&page={page}",
            context.owner, context.repo
        );
        let answer = client.send(Method::GET, &route, None::<&()>).await.map_err(|e| {
            let why = match e {
                super::ApiError::Forbidden { .. } => {
                    format!("{e}; {}", super::forbidden_help(context, "pull-requests: write"))
                }
                _ => e.to_string(),
            };
            format!(
                "the comments of pull request #{number} could not be read, so no comment was posted: {why}"
            )
        })?;
        let comments = answer.body.as_array().cloned().unwrap_or_default();
        let found = comments.iter().find_map(|c| {
            let body = c["body"].as_str()?;
            (body.trim_end().lines().last() == Some(marker))
                .then(|| c["id"].as_u64())
                .flatten()
        });
        if found.is_some() {
            return Ok(found);
        }
        if !answer.has_next_page || comments.len() < PER_PAGE {
            return Ok(None);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn the_marker_names_command_and_config_and_cannot_end_early() {
        assert_eq!(
            marker("verify", Some("deploy/shipgate.toml")),
            "<!-- shipgate:v1 command=verify config=deploy/shipgate.toml -->"
        );
        assert_eq!(
            marker("migrate", None),
            "<!-- shipgate:v1 command=migrate config=none -->"
        );
        let odd = marker("verify", Some("a b-->x.toml"));
        assert_eq!(
            odd,
            "<!-- shipgate:v1 command=verify config=a%20b--%3Ex.toml -->"
        );
        assert_eq!(odd.matches("-->").count(), 1);
    }

    #[test]
    fn the_body_fits_githubs_limit_and_ends_with_the_marker() {
        let mut report = sample::report();
        let template = report.results[1].clone();
        for i in 0..3_000 {
            let mut r = template.clone();
            r.id = format!("check.n{i}");
            r.message = "x".repeat(100);
            report.results.push(r);
        }
        report.summary = crate::report::Summary::of(&report.results, false);
        let context = Context {
            api_url: String::new(),
            owner: "a".into(),
            repo: "b".into(),
            token: None,
            event_name: "pull_request".into(),
            pull_request: None,
            head_sha: None,
            workspace: None,
            run_url: Some("https://github.com/a/b/actions/runs/1".into()),
        };
        let m = marker("preflight", None);
        let text = body(&report, &context, &m);
        assert!(text.chars().count() <= BODY_LIMIT, "{}", text.len());
        assert_eq!(text.trim_end().lines().last(), Some(m.as_str()));
        assert!(text.contains("[workflow run](https://github.com/a/b/actions/runs/1)"));
        assert!(text.contains("Cut to fit GitHub's size limit"));
    }
}
