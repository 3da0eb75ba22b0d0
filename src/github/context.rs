//! Where a run is on GitHub: the repository, the API, the token, and the pull request and
//! commit the event is about, read from the variables the runner sets and the event payload.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::secret::Secret;

/// The pull request an event belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    /// The PR's head commit, where a check run shows on the PR (`GITHUB_SHA` is the test merge
    /// commit on `pull_request` events). Unknown for a PR found only through `GITHUB_REF`.
    pub head_sha: Option<String>,
    /// Opened from a fork: the token is read-only and writes are refused.
    pub from_fork: bool,
}

#[derive(Clone, Debug)]
pub struct Context {
    /// `GITHUB_API_URL` (GitHub Enterprise: `https://HOST/api/v3`), else api.github.com.
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    pub token: Option<Secret>,
    pub event_name: String,
    pub pull_request: Option<PullRequest>,
    /// The commit a check run is attached to.
    pub head_sha: Option<String>,
    /// `GITHUB_WORKSPACE`: annotation paths are relative to it.
    pub workspace: Option<PathBuf>,
    /// The run's page, linked from the comment.
    pub run_url: Option<String>,
}

/// Why there is no context: the variables GitHub Actions sets are missing.
#[derive(Debug, PartialEq, Eq)]
pub struct Missing(pub &'static str);

impl Context {
    /// Reads the context through `get` (an environment lookup). The event payload is read from
    /// `GITHUB_EVENT_PATH` when there is one; a payload that cannot be read leaves the pull
    /// request to `GITHUB_REF`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Context, Missing> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let repository = var("GITHUB_REPOSITORY").ok_or(Missing("GITHUB_REPOSITORY"))?;
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or(Missing("GITHUB_REPOSITORY (as owner/name)"))?;
        let event_name = var("GITHUB_EVENT_NAME").unwrap_or_default();
        let event = var("GITHUB_EVENT_PATH")
            .and_then(|p| read_event(Path::new(&p)))
            .unwrap_or(Value::Null);
        let pull_request = pull_request(&event_name, &event, var("GITHUB_REF").as_deref());
        let head_sha = pull_request
            .as_ref()
            .and_then(|pr| pr.head_sha.clone())
            .or_else(|| {
                event["workflow_run"]["head_sha"]
                    .as_str()
                    .map(str::to_string)
            })
            .or_else(|| var("GITHUB_SHA"));
        let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
        let run_url = var("GITHUB_RUN_ID").map(|id| {
            format!(
                "{}/{owner}/{repo}/actions/runs/{id}",
                server.trim_end_matches('/')
            )
        });
        Ok(Context {
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            owner: owner.to_string(),
            repo: repo.to_string(),
            token: var("GITHUB_TOKEN").map(Secret::new),
            event_name,
            pull_request,
            head_sha,
            workspace: var("GITHUB_WORKSPACE").map(PathBuf::from),
            run_url,
        })
    }

    /// A path as the repository knows it: relative to the workspace, with `/` separators.
    pub fn repo_path(&self, file: &str) -> String {
        let path = Path::new(file);
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let relative = self
            .workspace
            .as_deref()
            .and_then(|w| {
                let w = std::path::absolute(w).unwrap_or_else(|_| w.to_path_buf());
                absolute.strip_prefix(w).ok().map(Path::to_path_buf)
            })
            .unwrap_or_else(|| path.to_path_buf());
        let text = relative.to_string_lossy().replace('\\', "/");
        text.strip_prefix("./").unwrap_or(&text).to_string()
    }
}

fn read_event(path: &Path) -> Option<Value> {
    let text = crate::files::read_text_bounded(path, crate::files::PAYLOAD_LIMIT).ok()?;
    serde_json::from_str(&text).ok()
}

/// The pull request of the event: `pull_request`/`pull_request_target` payloads carry it
/// whole; `issue_comment` on a PR and `workflow_run` name its number; else `refs/pull/N/merge`.
fn pull_request(event_name: &str, event: &Value, git_ref: Option<&str>) -> Option<PullRequest> {
    let pr = &event["pull_request"];
    if let Some(number) = pr["number"].as_u64().or_else(|| event["number"].as_u64())
        && pr.is_object()
    {
        let head_repo = pr["head"]["repo"]["full_name"].as_str();
        let base_repo = pr["base"]["repo"]["full_name"].as_str();
        return Some(PullRequest {
            number,
            head_sha: pr["head"]["sha"].as_str().map(str::to_string),
            from_fork: pr["head"]["repo"]["fork"].as_bool() == Some(true)
                || matches!((head_repo, base_repo), (Some(h), Some(b)) if h != b),
        });
    }
    if event_name == "issue_comment"
        && event["issue"]["pull_request"].is_object()
        && let Some(number) = event["issue"]["number"].as_u64()
    {
        return Some(PullRequest {
            number,
            head_sha: None,
            from_fork: false,
        });
    }
    if let Some(run) = event["workflow_run"].as_object()
        && let Some(number) = run
            .get("pull_requests")
            .and_then(|p| p[0]["number"].as_u64())
    {
        return Some(PullRequest {
            number,
            head_sha: run
                .get("head_sha")
                .and_then(|s| s.as_str())
                .map(str::to_string),
            from_fork: false,
        });
    }
    let number = git_ref?
        .strip_prefix("refs/pull/")?
        .split('/')
        .next()?
        .parse()
        .ok()?;
    Some(PullRequest {
        number,
        head_sha: None,
        from_fork: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(vars: &[(&str, &str)], event: Option<Value>) -> Result<Context, Missing> {
        let dir = tempfile::tempdir().unwrap();
        let event_path = dir.path().join("event.json");
        if let Some(event) = event {
            std::fs::write(&event_path, event.to_string()).unwrap();
        }
        let event_path = event_path.display().to_string();
        Context::from_env(|k| {
            if k == "GITHUB_EVENT_PATH" {
                return Some(event_path.clone());
            }
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn a_pull_request_event_gives_the_number_and_the_head_commit_not_the_merge_commit() {
        let c = context(
            &[
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_SHA", "merge000"),
                ("GITHUB_RUN_ID", "42"),
            ],
            Some(json!({"number": 7, "pull_request": {"number": 7, "head": {"sha": "head111", "repo": {"full_name": "acme/shop", "fork": false}}, "base": {"repo": {"full_name": "acme/shop"}}}})),
        )
        .unwrap();
        assert_eq!((c.owner.as_str(), c.repo.as_str()), ("acme", "shop"));
        assert_eq!(
            c.pull_request,
            Some(PullRequest {
                number: 7,
                head_sha: Some("head111".into()),
                from_fork: false
            })
        );
        assert_eq!(c.head_sha.as_deref(), Some("head111"));
        assert_eq!(c.api_url, "https://api.github.com");
        assert_eq!(
            c.run_url.as_deref(),
            Some("https://github.com/acme/shop/actions/runs/42")
        );
    }

    #[test]
    fn a_fork_is_recognised() {
        let c = context(
            &[("GITHUB_REPOSITORY", "acme/shop")],
            Some(json!({"pull_request": {"number": 3, "head": {"sha": "h", "repo": {"full_name": "mallory/shop", "fork": true}}, "base": {"repo": {"full_name": "acme/shop"}}}})),
        )
        .unwrap();
        assert!(c.pull_request.unwrap().from_fork);
    }

    #[test]
    fn push_and_other_events() {
        let c = context(
            &[
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_SHA", "abc"),
                ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
            ],
            Some(json!({"ref": "refs/heads/main"})),
        )
        .unwrap();
        assert_eq!(c.pull_request, None);
        assert_eq!(c.head_sha.as_deref(), Some("abc"));
        assert_eq!(c.api_url, "https://ghe.example.com/api/v3");

        let c = context(
            &[
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_EVENT_NAME", "issue_comment"),
            ],
            Some(json!({"issue": {"number": 9, "pull_request": {"url": "…"}}})),
        )
        .unwrap();
        assert_eq!(c.pull_request.unwrap().number, 9);

        let c = context(
            &[
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_EVENT_NAME", "workflow_run"),
            ],
            Some(json!({"workflow_run": {"head_sha": "wr1", "pull_requests": [{"number": 11}]}})),
        )
        .unwrap();
        assert_eq!(c.pull_request.as_ref().unwrap().number, 11);
        assert_eq!(c.head_sha.as_deref(), Some("wr1"));

        // No readable payload: the ref still names the PR.
        let c = context(
            &[
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_REF", "refs/pull/12/merge"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(c.pull_request.unwrap().number, 12);
    }

    #[test]
    fn without_a_repository_there_is_no_context() {
        assert_eq!(
            context(&[], None).unwrap_err(),
            Missing("GITHUB_REPOSITORY")
        );
        assert!(context(&[("GITHUB_REPOSITORY", "nope")], None).is_err());
    }

    #[test]
    fn paths_are_relative_to_the_workspace() {
        let cwd = std::env::current_dir().unwrap();
        let c = Context {
            workspace: Some(cwd.clone()),
            ..context(&[("GITHUB_REPOSITORY", "a/b")], None).unwrap()
        };
        assert_eq!(c.repo_path("deploy/shipgate.toml"), "deploy/shipgate.toml");
        assert_eq!(
            c.repo_path(&cwd.join("x/y.sql").display().to_string()),
            "x/y.sql"
        );
        assert_eq!(c.repo_path("./z.toml"), "z.toml");
    }
}
