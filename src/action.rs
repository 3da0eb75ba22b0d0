//! The GitHub Action's entry point, `shipgate github-action`: turns the step's inputs into the
//! command line a user would have typed.
//!
//! `action.yml` hands its inputs over as `INPUT_*` variables, never as `${{ inputs.* }}` inside a
//! script, where a crafted input would become shell code. The `args` input is split into words
//! the way a POSIX shell splits them (quotes, backslashes) but no shell ever sees it: `$(…)`,
//! `$VAR` and `;` stay literal text.

use crate::error::InputError;

/// The subcommands the action may run.
pub const COMMANDS: [&str; 5] = [
    "preflight",
    "verify",
    "migrate",
    "rollback",
    "rate-limit-test",
];

/// The command line for the inputs read through `get` (an environment lookup), starting with
/// the program name: `shipgate <command> [--config <config>] <args…> [--pr-comment <when>]
/// [--check-run[=<name>]]`. An empty input leaves the choice to the config.
pub fn argv_from_inputs(get: impl Fn(&str) -> Option<String>) -> Result<Vec<String>, InputError> {
    let input = |name: &str| {
        get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let command = input("INPUT_COMMAND").ok_or_else(|| {
        InputError::new("the action's `command` input is empty")
            .help(format!("set `command:` to one of {}", COMMANDS.join(", ")))
    })?;
    if !COMMANDS.contains(&command.as_str()) {
        return Err(
            InputError::new(format!("the action's `command` input is `{command}`"))
                .help(format!("use one of {}", COMMANDS.join(", "))),
        );
    }
    let mut argv = vec!["shipgate".to_string(), command];
    if let Some(config) = input("INPUT_CONFIG") {
        argv.push("--config".into());
        argv.push(config);
    }
    if let Some(args) = input("INPUT_ARGS") {
        // The text is not shown: it may hold a credential, and unsplit it cannot be masked.
        let words = shlex::split(&args).ok_or_else(|| {
            InputError::new(
                "the action's `args` input has an unclosed quote or a trailing backslash",
            )
            .help("quote like a shell would: --header 'X-Team: ops' or --header \"X-Team: ops\"")
        })?;
        argv.extend(words);
    }
    if let Some(when) = input("INPUT_PR_COMMENT") {
        argv.push("--pr-comment".into());
        argv.push(when);
    }
    match input("INPUT_CHECK_RUN").as_deref() {
        None | Some("false") => {}
        Some("true") => argv.push("--check-run".into()),
        Some(name) => argv.push(format!("--check-run={name}")),
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(pairs: &[(&str, &str)]) -> Result<Vec<String>, InputError> {
        argv_from_inputs(|k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn builds_the_command_line_from_the_inputs() {
        assert_eq!(
            argv(&[
                ("INPUT_COMMAND", "verify"),
                ("INPUT_CONFIG", "deploy/shipgate.toml"),
                ("INPUT_ARGS", "--only http.api --header 'X-Team: ops' -v"),
            ])
            .unwrap(),
            [
                "shipgate",
                "verify",
                "--config",
                "deploy/shipgate.toml",
                "--only",
                "http.api",
                "--header",
                "X-Team: ops",
                "-v"
            ]
        );
        assert_eq!(
            argv(&[
                ("INPUT_COMMAND", " migrate "),
                ("INPUT_CONFIG", ""),
                ("INPUT_ARGS", "  ")
            ])
            .unwrap(),
            ["shipgate", "migrate"]
        );
    }

    #[test]
    fn pr_comment_and_check_run_inputs_become_flags() {
        let words = argv(&[
            ("INPUT_COMMAND", "verify"),
            ("INPUT_PR_COMMENT", "on-failure"),
            ("INPUT_CHECK_RUN", "true"),
        ])
        .unwrap();
        assert_eq!(&words[2..], ["--pr-comment", "on-failure", "--check-run"]);
        let words = argv(&[
            ("INPUT_COMMAND", "verify"),
            ("INPUT_CHECK_RUN", "deploy gate"),
        ])
        .unwrap();
        assert_eq!(&words[2..], ["--check-run=deploy gate"]);
        let words = argv(&[("INPUT_COMMAND", "verify"), ("INPUT_CHECK_RUN", "false")]).unwrap();
        assert_eq!(words.len(), 2);
    }

    #[test]
    fn shell_syntax_in_args_stays_text() {
        let words = argv(&[
            ("INPUT_COMMAND", "preflight"),
            (
                "INPUT_ARGS",
                "--require-env \"$(touch /tmp/pwned)\" ; rm -rf / `id` $HOME",
            ),
        ])
        .unwrap();
        assert_eq!(
            &words[2..],
            [
                "--require-env",
                "$(touch /tmp/pwned)",
                ";",
                "rm",
                "-rf",
                "/",
                "`id`",
                "$HOME"
            ]
        );
    }

    #[test]
    fn refuses_a_missing_or_unknown_command_and_unbalanced_quotes() {
        let e = argv(&[]).unwrap_err().to_string();
        assert!(e.contains("`command` input is empty"), "{e}");
        assert!(
            e.contains("preflight, verify, migrate, rollback, rate-limit-test"),
            "{e}"
        );
        let e = argv(&[("INPUT_COMMAND", "deploy")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`command` input is `deploy`"), "{e}");
        let e = argv(&[
            ("INPUT_COMMAND", "verify"),
            (
                "INPUT_ARGS",
                "--database-url 'postgres://app:hunter2@db/app",
            ),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("unclosed quote"), "{e}");
        assert!(
            !e.contains("hunter2"),
            "the text may hold a credential: {e}"
        );
    }
}
