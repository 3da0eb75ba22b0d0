//! Notifications (`[[notify]]`): the run's outcome POSTed to webhooks — a Slack-compatible
//! message or the JSON report — after every command, once the report is written and published.
//!
//! Like publishing to GitHub this is a sink, with one difference: a notification that could not
//! be delivered is a warning and never changes the exit code, whatever the checks said. Each
//! attempt has a deadline (`timeout`), 5xx answers, 429s and dropped connections are retried a
//! bounded number of times with a doubling pause (a 429's `Retry-After` is waited out when it is
//! not longer than [`MAX_RETRY_AFTER`]), and all notifications together stop at
//! [`NOTIFY_DEADLINE`].
//!
//! The webhook URL is a secret (a Slack webhook's path is its credential): it is added to the
//! run's secrets and shown as `https://host/***`. The payload is rendered from the report after
//! it was redacted, so no secret the run met reaches the webhook.
//!
//! This module prints nothing: [`send`] returns notes and problems for the caller to print.

use crate::ratelimit::headers::RetryAfter;
use std::time::{Duration, SystemTime};

use crate::config::notify::{NotifyCommand, NotifyConfig, NotifyFormat, NotifyOn};
use crate::config::{Located, Resolver};
use crate::error::InputError;
use crate::report::{Report, RunStatus, json, slack};
use crate::secret::{MASK, Redactor, Secret};

/// Deadline of each attempt when the config gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `timeout` accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);
/// Retries after the first attempt when the config gives none.
pub const DEFAULT_RETRIES: u32 = 2;
/// The most retries accepted.
pub const MAX_RETRIES: u32 = 5;
/// The longest `Retry-After` waited out; a webhook asking for more is given up on.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The longest all notifications of a run may take together.
pub const NOTIFY_DEADLINE: Duration = Duration::from_secs(300);
/// The pause before the first retry (doubled each time) when the webhook says nothing.
const BACKOFF: Duration = Duration::from_secs(1);
/// How much of a webhook's answer is read, and quoted in a warning.
const ANSWER_LIMIT: usize = 4096;
const QUOTED_CHARS: usize = 200;

/// The resolved `[[notify]]` entries of a config, and the secrets they hold.
#[derive(Debug, Default)]
pub struct Settings {
    pub targets: Vec<Target>,
    /// The webhook URLs and secret header values: masked in every output of the run.
    pub secrets: Redactor,
    /// The CI run page, linked from Slack messages (GitHub Actions).
    pub run_url: Option<String>,
}

/// One webhook.
#[derive(Debug)]
pub struct Target {
    pub name: String,
    /// The URL, or why there is none (its variable is unset): said when a notification is due.
    url: Result<Secret, String>,
    /// The URL as it may be shown: scheme and host, the rest masked.
    shown: String,
    on: Vec<NotifyOn>,
    format: NotifyFormat,
    headers: Vec<(String, Secret)>,
    timeout: Duration,
    retries: u32,
    /// `None`: every command.
    commands: Option<Vec<NotifyCommand>>,
}

impl Settings {
    /// Resolves the config's `[[notify]]` entries. Mistakes in them are input errors at their
    /// `file:line`; a URL left empty by an unset variable is not (one config serves CI, where
    /// the secret is set, and a laptop): it is a warning when a notification is due.
    pub fn resolve(
        configs: &[Located<NotifyConfig>],
        resolver: &mut Resolver<'_>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, InputError> {
        let mut settings = Settings {
            run_url: run_url(&get),
            ..Settings::default()
        };
        for config in configs {
            let target = Target::resolve(config, resolver, &settings.targets)?;
            if let Ok(url) = &target.url {
                settings.secrets.add(url.expose());
                settings.secrets.add_url(url.expose());
            }
            settings.targets.push(target);
        }
        // Header values the resolver found secret (`Authorization = "Bearer ${TOKEN}"`).
        for value in resolver.secrets.values() {
            settings.secrets.add(value);
        }
        Ok(settings)
    }
}

impl Target {
    fn resolve(
        config: &Located<NotifyConfig>,
        resolver: &mut Resolver<'_>,
        before: &[Target],
    ) -> Result<Target, InputError> {
        let format = config.format.unwrap_or_default();
        let name = match &config.name {
            Some(name) => name.clone(),
            None => {
                let base = match format {
                    NotifyFormat::Slack => "slack",
                    NotifyFormat::Json => "json",
                };
                let mut name = base.to_string();
                let mut n = 1;
                while before.iter().any(|t| t.name == name) {
                    n += 1;
                    name = format!("{base}-{n}");
                }
                name
            }
        };

        let resolved = resolver.text(&config.url)?;
        let value = resolved.value.trim().to_string();
        if value.is_empty() && resolved.unset.is_empty() {
            return Err(resolver
                .error(&config.url.span, "the webhook URL is empty")
                .help("give the webhook URL, e.g. url = \"${SLACK_WEBHOOK_URL}\""));
        }
        // Any unset variable in it, not only a URL left wholly empty: `…/services/${HOOK}` with
        // HOOK unset would otherwise be posted to as a (wrong) URL.
        let (url, shown) = if !resolved.unset.is_empty() {
            let why = format!(
                "{} {} not set",
                resolved.unset.join(", "),
                if resolved.unset.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            );
            // The URL's text may hold a literal secret part: only the variables are named.
            let shown = format!("(needs {})", resolved.unset.join(", "));
            (Err(why), shown)
        } else {
            // The whole URL is a secret: say nothing of it but where it points.
            resolver.secrets.add(&value);
            let parsed = url::Url::parse(&value).map_err(|e| {
                resolver
                    .error(
                        &config.url.span,
                        format!("the webhook URL `{}` is not a URL: {e}", shown_url(&value)),
                    )
                    .help("give the whole URL, e.g. https://hooks.slack.com/services/…")
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(resolver
                    .error(
                        &config.url.span,
                        format!(
                            "the webhook URL is `{}`: notifications are sent over http:// or https://",
                            shown_url(&value)
                        ),
                    )
                    .help("give the webhook's https:// URL"));
            }
            (Ok(Secret::new(value.clone())), shown_url(&value))
        };

        let on = match &config.on {
            None => vec![NotifyOn::Fail],
            Some(on) if on.value.is_empty() => {
                return Err(resolver
                    .error(&on.span, "`on = []` never sends the notification")
                    .help(
                        "list the run statuses that send it, e.g. on = [\"fail\", \"warn\"], or remove this [[notify]]",
                    ));
            }
            Some(on) => on.value.clone(),
        };
        let commands = match &config.commands {
            None => None,
            Some(c) if c.value.is_empty() => {
                return Err(resolver
                    .error(&c.span, "`commands = []` never sends the notification")
                    .help("leave `commands` out to notify after every command, or name some, e.g. commands = [\"migrate\", \"verify\"]"));
            }
            Some(c) => Some(c.value.clone()),
        };

        let headers = crate::plan::http::request_headers(resolver, &config.headers)?;

        let timeout = resolver.duration_or(config.timeout.as_ref(), DEFAULT_TIMEOUT)?;
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            let span = config
                .timeout
                .as_ref()
                .map(|t| t.span.clone())
                .unwrap_or(0..0);
            return Err(resolver
                .error(
                    &span,
                    format!(
                        "timeout = {}: a notification's deadline must be above 0 and at most {}s",
                        crate::units::format_duration(timeout),
                        MAX_TIMEOUT.as_secs()
                    ),
                )
                .help("e.g. timeout = \"10s\" (the default)"));
        }
        let retries = resolver.value_or(config.retries.as_ref(), DEFAULT_RETRIES)?;
        if retries > MAX_RETRIES {
            let span = config
                .retries
                .as_ref()
                .map(|r| r.span.clone())
                .unwrap_or(0..0);
            return Err(resolver
                .error(
                    &span,
                    format!("retries = {retries}: at most {MAX_RETRIES} retries are made"),
                )
                .help(format!(
                    "e.g. retries = {DEFAULT_RETRIES} (the default); each waits longer than the last"
                )));
        }

        Ok(Target {
            name,
            url,
            shown,
            on,
            format,
            headers,
            timeout,
            retries,
            commands,
        })
    }

    fn wants_command(&self, command: &str) -> bool {
        self.commands
            .as_ref()
            .is_none_or(|c| c.iter().any(|c| c.as_str() == command))
    }

    fn wants_status(&self, status: RunStatus) -> bool {
        let on = match status {
            RunStatus::Pass => NotifyOn::Pass,
            RunStatus::Warn => NotifyOn::Warn,
            RunStatus::Fail => NotifyOn::Fail,
        };
        self.on.contains(&on)
    }

    fn on_text(&self) -> String {
        let on: Vec<&str> = self
            .on
            .iter()
            .map(|o| match o {
                NotifyOn::Fail => "fail",
                NotifyOn::Warn => "warn",
                NotifyOn::Pass => "pass",
            })
            .collect();
        on.join(", ")
    }
}

/// `scheme://host[:port]/***`: where a webhook points, without its credential (the path, the
/// query, any userinfo).
pub fn shown_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) => match url.host_str() {
            Some(host) => {
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{host}{port}/{MASK}", url.scheme())
            }
            None => format!("{}:{MASK}", url.scheme()),
        },
        Err(_) => MASK.to_string(),
    }
}

/// The GitHub Actions run page, when the run is one.
fn run_url(get: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let server = get("GITHUB_SERVER_URL").filter(|v| !v.is_empty())?;
    let repository = get("GITHUB_REPOSITORY").filter(|v| !v.is_empty())?;
    let run = get("GITHUB_RUN_ID").filter(|v| !v.is_empty())?;
    Some(format!(
        "{}/{repository}/actions/runs/{run}",
        server.trim_end_matches('/')
    ))
}

/// What sending did (`notes`) and what went wrong (`problems`, each a warning).
#[derive(Debug, Default)]
pub struct Sent {
    pub notes: Vec<String>,
    pub problems: Vec<String>,
}

/// Sends the report to every webhook that wants it: this command, this status. `report` must be
/// redacted already. Under `dry_run` nothing is sent: the notes say what would have been, where.
pub async fn send(settings: &Settings, report: &Report, dry_run: bool) -> Sent {
    let mut sent = Sent::default();
    let client = crate::http_client::client();
    let status = report.summary.status;
    // The target in flight when the deadline hits, and those after it, are named then.
    let mut reached = 0;
    let work = async {
        for (i, target) in settings.targets.iter().enumerate() {
            reached = i;
            let name = &target.name;
            if !target.wants_command(&report.command) {
                if dry_run {
                    sent.notes.push(format!(
                        "dry run: `{name}` is not sent after {} (its `commands` leave it out)",
                        report.command
                    ));
                }
                continue;
            }
            if !target.wants_status(status) {
                if dry_run {
                    sent.notes.push(format!(
                        "dry run: `{name}` would not be sent: the run's status is {}, and it is sent on {}",
                        status.as_str(),
                        target.on_text()
                    ));
                }
                continue;
            }
            let url = match &target.url {
                Ok(url) => url,
                Err(why) => {
                    sent.problems.push(format!(
                        "the notification `{name}` was not sent: its url cannot be used ({why}); set it where shipgate runs (in GitHub Actions: `env:` from a secret), or limit the notification with `on`/`commands`"
                    ));
                    continue;
                }
            };
            let (body, what) = match target.format {
                NotifyFormat::Slack => {
                    let options = slack::Options {
                        run_url: settings.run_url.clone(),
                    };
                    let payload = slack::render(report, &options);
                    let head = payload["text"]
                        .as_str()
                        .and_then(|t| t.lines().next())
                        .unwrap_or("")
                        .to_string();
                    (payload.to_string(), format!("a Slack message «{head}»"))
                }
                NotifyFormat::Json => (json::render(report), "the JSON report".to_string()),
            };
            if dry_run {
                sent.notes.push(format!(
                    "dry run: would POST {what} ({} bytes) to `{name}` at {}; nothing sent",
                    body.len(),
                    target.shown
                ));
                continue;
            }
            match deliver(&client, target, url.expose(), body).await {
                Ok(note) => sent.notes.push(note),
                Err(problem) => sent.problems.push(problem),
            }
        }
    };
    if tokio::time::timeout(NOTIFY_DEADLINE, work).await.is_err() {
        let unsent: Vec<String> = settings.targets[reached..]
            .iter()
            .filter(|t| t.wants_command(&report.command) && t.wants_status(status))
            .map(|t| format!("`{}`", t.name))
            .collect();
        sent.problems.push(format!(
            "notifications took longer than {}s and were stopped; not sent: {} (lower their `timeout` or `retries`)",
            NOTIFY_DEADLINE.as_secs(),
            unsent.join(", ")
        ));
    }
    sent
}

/// One attempt's outcome.
enum Attempt {
    Delivered(reqwest::StatusCode),
    /// Worth another try, after this pause (a 429's `Retry-After`, else the backoff).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// Another try would get the same answer.
    GiveUp(String),
}

/// POSTs `body` until it is delivered or the retries run out.
async fn deliver(
    client: &reqwest::Client,
    target: &Target,
    url: &str,
    body: String,
) -> Result<String, String> {
    let name = &target.name;
    let attempts = target.retries + 1;
    let mut backoff = BACKOFF;
    let mut last = String::new();
    for attempt in 1..=attempts {
        match try_once(client, target, url, body.clone()).await {
            Attempt::Delivered(status) => {
                let tries = if attempt == 1 {
                    String::new()
                } else {
                    format!(" after {attempt} attempts")
                };
                return Ok(format!(
                    "`{name}` delivered to {} ({}){tries}",
                    target.shown,
                    status.as_u16()
                ));
            }
            Attempt::GiveUp(why) => {
                return Err(format!(
                    "the notification `{name}` to {} failed: {why}",
                    target.shown
                ));
            }
            Attempt::Retry { why, after } => {
                if let Some(after) = after
                    && after > MAX_RETRY_AFTER
                {
                    return Err(format!(
                        "the notification `{name}` to {} failed: {why}, and asked to wait {}s, longer than the {}s shipgate waits",
                        target.shown,
                        after.as_secs(),
                        MAX_RETRY_AFTER.as_secs()
                    ));
                }
                last = why;
                if attempt < attempts {
                    tokio::time::sleep(after.unwrap_or(backoff)).await;
                    backoff *= 2;
                }
            }
        }
    }
    Err(format!(
        "the notification `{name}` to {} failed after {attempts} {}: {last}",
        target.shown,
        if attempts == 1 { "attempt" } else { "attempts" }
    ))
}

async fn try_once(client: &reqwest::Client, target: &Target, url: &str, body: String) -> Attempt {
    let mut request = client.post(url).timeout(target.timeout).body(body);
    if !target
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
    }
    for (header, value) in &target.headers {
        request = request.header(header.as_str(), value.expose());
    }
    let timed_out = || Attempt::Retry {
        why: format!(
            "no answer within {}",
            crate::units::format_duration(target.timeout)
        ),
        after: None,
    };
    // reqwest's timeout covers connecting, the request and the whole answer; this one is a
    // second bound in case anything escapes it.
    let exchange = async {
        let mut response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(RetryAfter::parse)
            .map(|r| r.delay(SystemTime::now()));
        let mut answer = Vec::new();
        while answer.len() < ANSWER_LIMIT {
            match response.chunk().await? {
                Some(chunk) => answer.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((status, retry_after, answer))
    };
    let (status, retry_after, answer) =
        match tokio::time::timeout(target.timeout + Duration::from_secs(1), exchange).await {
            Err(_) => return timed_out(),
            Ok(Err(e)) if e.is_timeout() => return timed_out(),
            Ok(Err(e)) => {
                return Attempt::Retry {
                    why: crate::checks::http::error_chain(&e.without_url()),
                    after: None,
                };
            }
            Ok(Ok(answer)) => answer,
        };
    if status.is_success() {
        return Attempt::Delivered(status);
    }
    let said = quoted(&answer);
    let why = format!("the webhook answered {status}{said}");
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Retry {
            why,
            after: retry_after,
        };
    }
    if status.is_server_error() {
        return Attempt::Retry { why, after: None };
    }
    let help = match status.as_u16() {
        401 | 403 => ": check the webhook's credentials (its URL, or the `headers`)",
        404 | 410 => {
            ": the webhook URL is wrong or the webhook was removed; check the variable that holds it"
        }
        400 | 422 => {
            ": the webhook did not accept the payload; is `format` right for it (`slack` or `json`)?"
        }
        _ => "",
    };
    Attempt::GiveUp(format!("{why}{help}"))
}

/// The start of a webhook's answer, for a warning: `: "invalid_payload"`, or nothing.
fn quoted(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return String::new();
    }
    match line.char_indices().nth(QUOTED_CHARS) {
        Some((at, _)) => format!(": \"{}…\"", &line[..at]),
        None => format!(": \"{line}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;
    use crate::env::Environment;

    fn resolve(toml: &str, env: &[(&str, &str)]) -> Result<Settings, InputError> {
        let loaded = crate::config::parse(Source::new("shipgate.toml", toml))?;
        let env = Environment::from_pairs(env.iter().copied());
        let mut resolver = Resolver::new(&env, loaded.source.as_ref());
        Settings::resolve(&loaded.config.notify, &mut resolver, |_| None)
    }

    #[test]
    fn defaults_and_secrets() {
        let s = resolve(
            "[[notify]]\nurl = \"${SLACK_WEBHOOK_URL}\"\nheaders = { Authorization = \"Bearer ${HOOK_TOKEN}\" }\n\n[[notify]]\nurl = \"https://example.com/h\"\nformat = \"json\"\n\n[[notify]]\nurl = \"https://example.com/h2\"\n",
            &[
                ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/abcdef"),
                ("HOOK_TOKEN", "tok-123456"),
            ],
        )
        .unwrap();
        let names: Vec<&str> = s.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["slack", "json", "slack-2"]);
        let t = &s.targets[0];
        assert_eq!(t.on, [NotifyOn::Fail]);
        assert_eq!((t.timeout, t.retries), (DEFAULT_TIMEOUT, DEFAULT_RETRIES));
        assert!(t.commands.is_none() && t.wants_command("rate-limit-test"));
        assert_eq!(t.shown, "https://hooks.slack.com/***");
        assert_eq!(
            s.secrets
                .redact("to https://hooks.slack.com/services/T0/B0/abcdef with tok-123456"),
            "to *** with ***"
        );
    }

    #[test]
    fn sent_for_the_statuses_and_commands_named() {
        let s = resolve(
            "[[notify]]\nurl = \"https://x/y\"\non = [\"warn\", \"pass\"]\ncommands = [\"rate-limit-test\", \"rollback\"]\n",
            &[],
        )
        .unwrap();
        let t = &s.targets[0];
        assert!(t.wants_status(RunStatus::Warn) && t.wants_status(RunStatus::Pass));
        assert!(!t.wants_status(RunStatus::Fail));
        assert!(t.wants_command("rate-limit-test") && t.wants_command("rollback"));
        assert!(!t.wants_command("verify") && !t.wants_command("migrate"));
        assert_eq!(t.on_text(), "warn, pass");
    }

    #[test]
    fn a_url_with_any_unset_variable_is_not_posted_to() {
        let s = resolve(
            "[[notify]]\nurl = \"https://hooks.slack.com/services/${SLACK_HOOK}\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            s.targets[0].url.as_ref().unwrap_err(),
            "SLACK_HOOK is not set"
        );
        assert!(!s.targets[0].shown.contains("hooks.slack.com"));
    }

    #[test]
    fn an_unset_url_is_no_input_error() {
        let s = resolve("[[notify]]\nurl = \"${SLACK_WEBHOOK_URL}\"\n", &[]).unwrap();
        assert_eq!(
            s.targets[0].url.as_ref().unwrap_err(),
            "SLACK_WEBHOOK_URL is not set"
        );
    }

    #[test]
    fn mistakes_are_placed() {
        let cases: &[(&str, &str, u32)] = &[
            ("[[notify]]\nurl = \"\"\n", "the webhook URL is empty", 2),
            (
                "[[notify]]\nurl = \"ftp://x/y\"\n",
                "notifications are sent over http:// or https://",
                2,
            ),
            (
                "[[notify]]\nurl = \"https://x/y\"\non = []\n",
                "`on = []` never sends",
                3,
            ),
            (
                "[[notify]]\nurl = \"https://x/y\"\n\ntimeout = \"10m\"\n",
                "at most 120s",
                4,
            ),
            (
                "[[notify]]\nurl = \"https://x/y\"\nretries = 50\n",
                "at most 5 retries",
                3,
            ),
            (
                "[[notify]]\nurl = \"https://x/y\"\ncommands = []\n",
                "never sends",
                3,
            ),
            (
                "[[notify]]\nurl = \"https://x/y\"\non = [\"failure\"]\n",
                "unknown variant `failure`",
                3,
            ),
        ];
        for (toml, message, line) in cases {
            let err = resolve(toml, &[]).unwrap_err();
            assert!(err.message.contains(message), "{toml}: {err}");
            assert_eq!(err.location.as_ref().map(|l| l.line), Some(*line), "{err}");
            assert!(err.help.is_some() || message.contains("variant"), "{err}");
        }
    }

    #[test]
    fn shown_urls_keep_only_scheme_and_host() {
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T/B/x?y=1"),
            "https://hooks.slack.com/***"
        );
        assert_eq!(
            shown_url("http://user:pw@127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080/***"
        );
        assert_eq!(shown_url("not a url"), "***");
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let delay = |v: &str| RetryAfter::parse(v).map(|r| r.delay(now));
        assert_eq!(delay("3"), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(20));
        assert_eq!(delay(&later), Some(Duration::from_secs(20)));
        assert_eq!(delay("soon"), None);
    }

    #[test]
    fn run_url_from_github_actions() {
        let get = |k: &str| match k {
            "GITHUB_SERVER_URL" => Some("https://github.com/".to_string()),
            "GITHUB_REPOSITORY" => Some("acme/shop".to_string()),
            "GITHUB_RUN_ID" => Some("42".to_string()),
            _ => None,
        };
        assert_eq!(
            run_url(&get).as_deref(),
            Some("https://github.com/acme/shop/actions/runs/42")
        );
        assert_eq!(run_url(&|_: &str| None), None);
    }
}
