//! `shipgate rerun REPORT.json`: the command line that re-runs what failed in a report — the
//! JSON report a CI job uploaded — so "works on my machine" is one command.
//!
//! The report's `invocation` is the run's command line as a shell would read it, with secrets
//! that came from variables written as `"${NAME}"`. It is read here with the shell's quoting
//! rules (single quotes, double quotes, backslashes) and only those: `${NAME}` and `$NAME` are
//! replaced by the variable's value, nothing is ever run by a shell.

use std::path::Path;

use serde_json::Value;

use crate::error::InputError;
use crate::report::REPORT_SCHEMA;

/// What to run, and the sentence that says so.
#[derive(Debug, PartialEq, Eq)]
pub struct Rerun {
    pub argv: Vec<String>,
    pub note: String,
}

/// Commands whose checks `--only` selects; the others are re-run whole.
const SELECTABLE: [&str; 2] = ["preflight", "verify"];

pub fn plan(
    path: &Path,
    text: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Rerun, InputError> {
    let shown = path.display();
    let report: Value = serde_json::from_str(text).map_err(|e| {
        InputError::new(format!("{shown} is not a JSON report: {e}"))
            .help("pass the file `--format json` or `--output json=…` wrote (the action's `report` output)")
    })?;
    if report["schema"] != REPORT_SCHEMA {
        return Err(InputError::new(format!(
            "{shown} is not a shipgate report (its `schema` is {}, expected \"{REPORT_SCHEMA}\")",
            report["schema"]
        )));
    }
    let command = report["command"].as_str().unwrap_or_default().to_string();
    let invocation = report["invocation"].as_str().ok_or_else(|| {
        InputError::new(format!(
            "{shown} does not record its command line (it was written by a shipgate older than this one)"
        ))
        .help("run the failed checks' `reproduce` lines from the report instead")
    })?;
    if invocation.contains(crate::secret::MASK) {
        return Err(InputError::new(format!(
            "the command line of {shown} holds a secret that was masked (***), so it cannot be run again as it was: {invocation}"
        ))
        .help("run that line with the secret filled in; pass secrets through variables (--database-url \"$DATABASE_URL\") and rerun can fill them in itself"));
    }
    let mut argv = shell_words(invocation, &get)?;
    if argv.first().map(String::as_str) != Some("shipgate") || argv.get(1) != Some(&command) {
        return Err(InputError::new(format!(
            "the command line of {shown} is not a `shipgate {command}` run: {invocation}"
        )));
    }
    // Under `verify --watch` an id comes once per round: select it once.
    let mut failed: Vec<String> = Vec::new();
    for id in report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| matches!(r["status"].as_str(), Some("fail" | "error")))
        .filter_map(|r| r["id"].as_str())
    {
        if !failed.iter().any(|f| f == id) {
            failed.push(id.to_string());
        }
    }
    if failed.is_empty() {
        return Err(InputError::new(format!(
            "nothing to re-run: no check failed in {shown} (the `{command}` run's status is {})",
            report["summary"]["status"]
        )));
    }
    let note = if SELECTABLE.contains(&command.as_str()) {
        for id in &failed {
            argv.push("--only".into());
            argv.push(id.clone());
        }
        // A watch is re-run as a watch: a failure that took rounds to show may need them again.
        let watching = match report["watch"]["failed_round"].as_u64() {
            Some(round) => format!(
                "; it watches again, as the failed run did until round {round}/{} (drop --watch to run once)",
                report["watch"]["planned_rounds"]
            ),
            None => String::new(),
        };
        format!(
            "re-running {} failed {} of the {command} run in {shown} (and what they need): {}{watching}",
            failed.len(),
            if failed.len() == 1 { "check" } else { "checks" },
            failed.join(", ")
        )
    } else {
        format!(
            "re-running the {command} run in {shown} whole ({command} steps cannot be selected one by one); it failed at {}",
            failed.join(", ")
        )
    };
    Ok(Rerun { argv, note })
}

/// Splits `line` into words like a POSIX shell, expanding `$NAME` and `${NAME}` outside single
/// quotes. An unset variable is an error: running with an empty URL would test nothing.
fn shell_words(
    line: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, InputError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(unbalanced(line)),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('\\' | '"' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(unbalanced(line)),
                        },
                        Some('$') => expand(&mut chars, &mut word, get)?,
                        Some(c) => word.push(c),
                        None => return Err(unbalanced(line)),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            '$' => {
                in_word = true;
                expand(&mut chars, &mut word, get)?;
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn expand(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    word: &mut String,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(), InputError> {
    let mut name = String::new();
    if chars.peek() == Some(&'{') {
        chars.next();
        for c in chars.by_ref() {
            if c == '}' {
                break;
            }
            name.push(c);
        }
    } else {
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
    }
    if name.is_empty() {
        word.push('$');
        return Ok(());
    }
    match get(&name) {
        Some(value) => {
            word.push_str(&value);
            Ok(())
        }
        None => Err(InputError::new(format!(
            "the report's command line uses ${name}, which is not set here"
        ))
        .help(format!(
            "set {name} as the CI job had it (e.g. in .env or `export {name}=…`), then run again"
        ))),
    }
}

fn unbalanced(line: &str) -> InputError {
    InputError::new(format!(
        "the report's command line has an unclosed quote: {line}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "DATABASE_URL" => Some("postgres://app:pa ss@db/app".into()),
            "HOME" => Some("/home/me".into()),
            _ => None,
        }
    }

    fn report(command: &str, invocation: &str, statuses: &[(&str, &str)]) -> String {
        json!({
            "schema": REPORT_SCHEMA, "command": command, "invocation": invocation,
            "summary": {"status": "fail"},
            "results": statuses.iter().map(|(id, s)| json!({"id": id, "status": s})).collect::<Vec<_>>()
        })
        .to_string()
    }

    #[test]
    fn failed_checks_are_selected_and_variables_filled_in() {
        let text = report(
            "preflight",
            "shipgate preflight --config 'my dir/shipgate.toml' --database-url \"${DATABASE_URL}\"",
            &[
                ("env.A", "pass"),
                ("database.main", "fail"),
                ("http.api", "error"),
                ("redis.cache", "warn"),
            ],
        );
        let plan = plan(Path::new("report.json"), &text, env).unwrap();
        assert_eq!(
            plan.argv,
            [
                "shipgate",
                "preflight",
                "--config",
                "my dir/shipgate.toml",
                "--database-url",
                "postgres://app:pa ss@db/app",
                "--only",
                "database.main",
                "--only",
                "http.api"
            ]
        );
        assert!(plan.note.contains("2 failed checks"), "{}", plan.note);
    }

    #[test]
    fn a_watch_selects_each_failed_id_once_and_watches_again() {
        let text = json!({
            "schema": REPORT_SCHEMA, "command": "verify",
            "invocation": "shipgate verify --watch 3s --every 1s",
            "summary": {"status": "fail"},
            "watch": {"failed_round": 2, "planned_rounds": 4},
            "results": [
                {"id": "http.api", "status": "pass", "details": {"round": 1}},
                {"id": "http.api", "status": "fail", "details": {"round": 2}},
                {"id": "http.api", "status": "fail", "details": {"round": 2}},
            ]
        })
        .to_string();
        let plan = plan(Path::new("r.json"), &text, env).unwrap();
        assert_eq!(
            plan.argv,
            [
                "shipgate", "verify", "--watch", "3s", "--every", "1s", "--only", "http.api"
            ]
        );
        assert!(plan.note.contains("1 failed check"), "{}", plan.note);
        assert!(plan.note.contains("until round 2/4"), "{}", plan.note);
    }

    #[test]
    fn migrate_is_rerun_whole() {
        let text = report(
            "migrate",
            "shipgate migrate --dir db",
            &[("migrate.002", "fail")],
        );
        let plan = plan(Path::new("r.json"), &text, env).unwrap();
        assert_eq!(plan.argv, ["shipgate", "migrate", "--dir", "db"]);
        assert!(plan.note.contains("whole"));
    }

    #[test]
    fn what_cannot_be_rerun_is_refused_with_the_reason() {
        let p = Path::new("r.json");
        let e = |text: String| plan(p, &text, env).unwrap_err().to_string();
        assert!(
            e(report("verify", "shipgate verify", &[("a", "pass")])).contains("nothing to re-run")
        );
        assert!(
            e(report(
                "verify",
                "shipgate verify --database-url \"$NOPE\"",
                &[("a", "fail")]
            ))
            .contains("uses $NOPE, which is not set here")
        );
        assert!(
            e(report(
                "verify",
                "shipgate verify --database-url 'postgres://u:***@h/d'",
                &[("a", "fail")]
            ))
            .contains("masked")
        );
        assert!(
            e(report("verify", "rm -rf /", &[("a", "fail")]))
                .contains("not a `shipgate verify` run")
        );
        assert!(e("{}".into()).contains("not a shipgate report"));
        assert!(e("nope".into()).contains("not a JSON report"));
    }

    #[test]
    fn shell_quoting_is_read_like_a_shell_and_nothing_else() {
        let words = shell_words(
            r#"a 'b c' "d \"e\" \$f $HOME" g\ h '$HOME' "${HOME}x" $(id)"#,
            &env,
        )
        .unwrap();
        assert_eq!(
            words,
            [
                "a",
                "b c",
                "d \"e\" $f /home/me",
                "g h",
                "$HOME",
                "/home/mex",
                "$(id)"
            ]
        );
    }
}
