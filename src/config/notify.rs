//! `[[notify]]`: webhooks told of a run's outcome (Slack-compatible, or the JSON report), after
//! every command. Resolved by `crate::notify::Settings::resolve`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::located::{Located, Text};
use super::setting::Typed;

/// `[[notify]]`: one webhook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Names the notification in messages. Default: `slack` or `json` (the format), then
    /// `slack-2`, ….
    pub name: Option<String>,
    /// The webhook URL, usually `"${SLACK_WEBHOOK_URL}"`. The whole URL is a secret: it is
    /// shown as `https://host/***`.
    pub url: Text,
    /// The run statuses that send it: any of `fail`, `warn`, `pass` (default `["fail"]`).
    pub on: Option<Located<Vec<NotifyOn>>>,
    /// `slack` (default): a Slack-compatible message, `text` plus `blocks`; `json`: the JSON
    /// report, as `--format json` prints it.
    pub format: Option<NotifyFormat>,
    /// Request headers; values may use `${VAR}`. Secret-looking ones are never printed.
    #[serde(default)]
    pub headers: IndexMap<String, Text>,
    /// Deadline of each attempt, from connecting to the last byte of the answer (default `10s`,
    /// at most `2m`).
    pub timeout: Option<Text>,
    /// Attempts after the first when the webhook does not answer, answers 5xx or 429 (default 2,
    /// at most 5).
    pub retries: Option<Typed<u32>>,
    /// The subcommands that send it (default all): `preflight`, `migrate`, `verify`,
    /// `rate-limit-test`, `rollback`.
    pub commands: Option<Located<Vec<NotifyCommand>>>,
}

/// A run status that sends a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    Fail,
    Warn,
    Pass,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    #[default]
    Slack,
    Json,
}

/// A subcommand, as `Report::command` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyCommand {
    Preflight,
    Migrate,
    Verify,
    RateLimitTest,
    Rollback,
}

impl NotifyCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyCommand::Preflight => "preflight",
            NotifyCommand::Migrate => "migrate",
            NotifyCommand::Verify => "verify",
            NotifyCommand::RateLimitTest => "rate-limit-test",
            NotifyCommand::Rollback => "rollback",
        }
    }
}
