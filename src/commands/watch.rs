//! `verify --watch DURATION --every DURATION`: the same planned checks in rounds — the first at
//! once, then one every `every` until `watch` has passed (`watch / every + 1` rounds, never
//! more) — stopping at the first failing round. One line per round on stderr, one Report with
//! every round's results (each with `details.round`) and the schedule in `Report::watch`.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use super::{Inputs, Outcome, Reproduce};
use crate::cli::GlobalArgs;
use crate::config::checks::ChecksConfig;
use crate::error::InputError;
use crate::report::{ROUND_KEY, Round, RunStatus, Summary, Watch};
use crate::secret::Redactor;

/// `--every` when neither the flag nor the config sets it (or `watch`, when shorter).
const DEFAULT_EVERY: Duration = Duration::from_secs(5 * 60);
/// The most rounds a watch may hold: every round's results go into the one report.
pub const MAX_ROUNDS: u32 = 1000;

/// The schedule of a watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub watch: Duration,
    pub every: Duration,
    pub rounds: u32,
}

impl Schedule {
    /// The schedule the flags and `[verify] watch`/`every` ask for (the flags win), or none
    /// for a single run. Zero durations, `every` above `watch` and more than [`MAX_ROUNDS`]
    /// rounds are refused.
    pub fn resolve(
        watch_flag: Option<Duration>,
        every_flag: Option<Duration>,
        section: Option<&ChecksConfig>,
        inputs: &Inputs,
    ) -> Result<Option<Schedule>, InputError> {
        let mut resolver = crate::config::Resolver::new(&inputs.env, inputs.config.source.as_ref());
        let watch_text = section.and_then(|s| s.watch.as_ref());
        let every_text = section.and_then(|s| s.every.as_ref());
        let watch = match (watch_flag, watch_text) {
            (Some(d), _) => d,
            (None, Some(t)) => resolver.duration(t)?,
            (None, None) => {
                if let Some(t) = every_text {
                    return Err(resolver
                        .error(&t.span, "`every` is set but `watch` is not")
                        .help("set `watch = \"30m\"` in [verify] (or pass --watch), or remove `every`"));
                }
                return Ok(None);
            }
        };
        let every = match (every_flag, every_text) {
            (Some(d), _) => d,
            (None, Some(t)) => resolver.duration(t)?,
            (None, None) => DEFAULT_EVERY.min(watch),
        };
        // A schedule read from [verify] is wrong at its line, in the config's words.
        let from_config = match (watch_flag, every_flag) {
            (None, _) => watch_text,
            (Some(_), None) => every_text,
            (Some(_), Some(_)) => None,
        };
        Schedule::new(watch, every)
            .map(Some)
            .map_err(|e| match from_config {
                None => e,
                Some(t) => {
                    let in_config = |text: &str| {
                        text.replace("--watch", "`watch`")
                            .replace("--every", "`every`")
                    };
                    let placed = resolver.error(&t.span, in_config(&e.message));
                    match &e.help {
                        Some(help) => placed.help(in_config(help)),
                        None => placed,
                    }
                }
            })
    }

    pub fn new(watch: Duration, every: Duration) -> Result<Schedule, InputError> {
        let shown = crate::units::format_duration;
        if watch.is_zero() {
            return Err(InputError::new("--watch is 0: nothing would be watched")
                .help("give how long to watch, e.g. --watch 30m"));
        }
        if every.is_zero() {
            return Err(
                InputError::new("--every is 0: the rounds would never pause")
                    .help("give the time between rounds, e.g. --every 5m"),
            );
        }
        if every > watch {
            return Err(InputError::new(format!(
                "--every ({}) is longer than --watch ({}): no round would repeat",
                shown(every),
                shown(watch)
            ))
            .help("make --every at most --watch, e.g. --watch 30m --every 5m"));
        }
        let rounds = watch.as_nanos() / every.as_nanos() + 1;
        if rounds > u128::from(MAX_ROUNDS) {
            return Err(InputError::new(format!(
                "--watch {} --every {} makes {rounds} rounds; at most {MAX_ROUNDS} are allowed",
                shown(watch),
                shown(every)
            ))
            .help("check less often: a longer --every"));
        }
        Ok(Schedule {
            watch,
            every,
            rounds: rounds as u32,
        })
    }
}

/// How rounds are announced on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// `--quiet`.
    None,
    /// Not a terminal (CI, a pipe, a file): one plain line per round.
    Lines,
    /// A terminal: one line rewritten each round.
    Terminal,
}

impl Progress {
    fn round(self, line: &str, last: bool) {
        let mut err = std::io::stderr().lock();
        let _ = match self {
            Progress::None => Ok(()),
            Progress::Lines => writeln!(err, "{line}"),
            Progress::Terminal if last => write!(err, "\r\x1b[2K{line}\n"),
            Progress::Terminal => write!(err, "\r\x1b[2K{line}"),
        };
        let _ = err.flush();
    }
}

/// `round 3/7 at 12:05:00: 70 passed (70 checks)`.
fn round_line(round: &Round, planned: u32) -> String {
    format!(
        "round {}/{planned} at {}: {}",
        round.round,
        round.clock(),
        crate::report::human::summary_sentence(&round.summary)
    )
}

/// Runs the checks on `schedule`; under `--dry-run`, one round (which sends nothing) and a
/// line saying what would repeat.
pub(crate) async fn run(
    command: &str,
    global: &GlobalArgs,
    section: Option<&ChecksConfig>,
    flags: crate::plan::Flags<'_>,
    inputs: &Inputs,
    schedule: Schedule,
) -> Result<Outcome, InputError> {
    let progress = if global.quiet {
        Progress::None
    } else if std::io::stderr().is_terminal() {
        Progress::Terminal
    } else {
        Progress::Lines
    };
    let runs = if global.dry_run { 1 } else { schedule.rounds };
    let started = SystemTime::now();
    let origin = tokio::time::Instant::now();
    let mut results = Vec::new();
    let mut rounds: Vec<Round> = Vec::new();
    let mut secrets = Redactor::new();
    let mut failed_round = None;
    let mut interrupted = false;
    // Ctrl-C between or during rounds ends the watch with the report of the rounds that
    // finished; once the watch is over, one ends the process at once (below).
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No handler could be installed: Ctrl-C keeps its default (ends the process).
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(ctrl_c);
    for n in 1..=runs {
        let round = async {
            if n > 1 {
                // A fixed rate from the first round's start: a slow round does not push the
                // schedule back, and one longer than `every` is followed at once.
                tokio::time::sleep_until(origin + schedule.every * (n - 1)).await;
            }
            // Planned again each round: a run consumes its units, and captures start clean.
            let planned = super::plan_checks(command, global, section, flags, inputs)?;
            let round_started = SystemTime::now();
            let (results, secrets) = super::run_planned(planned, global).await;
            Ok::<_, InputError>((round_started, results, secrets))
        };
        let (round_started, mut round_results, round_secrets) = tokio::select! {
            done = round => done?,
            () = &mut ctrl_c => {
                interrupted = true;
                if progress == Progress::Terminal {
                    eprintln!();
                }
                eprintln!("interrupted: round {n}/{} did not finish; writing the report of the rounds before it", schedule.rounds);
                break;
            }
        };
        let finished = SystemTime::now();
        secrets.extend(&round_secrets);
        let summary = Summary::of(&round_results, global.strict);
        let failed = summary.status == RunStatus::Fail;
        for r in &mut round_results {
            r.details.insert(ROUND_KEY.into(), n.into());
            r.name = format!("{} (round {n}/{})", r.name, schedule.rounds);
        }
        results.extend(round_results);
        let round = Round {
            round: n,
            started_at: humantime::format_rfc3339_millis(round_started).to_string(),
            duration_ms: finished
                .duration_since(round_started)
                .unwrap_or_default()
                .as_millis() as u64,
            summary,
        };
        let last = failed || n == runs;
        let mut line = round_line(&round, schedule.rounds);
        if progress == Progress::Terminal && !last {
            // The rewritten line says when it changes next.
            let next = started + schedule.every * n;
            let next = humantime::format_rfc3339_seconds(next).to_string();
            line.push_str(&format!("; next at {}", next.get(11..19).unwrap_or(&next)));
        }
        progress.round(&secrets.redact(&line), last);
        rounds.push(round);
        if failed {
            failed_round = Some(n);
            break;
        }
    }
    // The handler stays installed for the life of the process: from here on (writing and
    // publishing the report) Ctrl-C ends the process at once, as it would without --watch.
    let code = if failed_round.is_some() {
        crate::exit::FAILED
    } else {
        crate::exit::INTERRUPTED
    };
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(code));
        }
    });
    let watch = Watch {
        watch_ms: schedule.watch.as_millis() as u64,
        every_ms: schedule.every.as_millis() as u64,
        planned_rounds: schedule.rounds,
        failed_round,
        dry_run: global.dry_run,
        interrupted,
        rounds,
    };
    if global.dry_run && progress != Progress::None {
        eprintln!("{}", watch.sentence());
    }
    let mut outcome = super::finish(
        command,
        global,
        inputs,
        started,
        results,
        Reproduce::EachById,
        secrets,
    );
    outcome.report.watch = Some(watch);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn rounds_are_watch_over_every_plus_one_and_bounded() {
        assert_eq!(Schedule::new(s(1800), s(300)).unwrap().rounds, 7);
        assert_eq!(Schedule::new(s(3), s(1)).unwrap().rounds, 4);
        assert_eq!(Schedule::new(s(100), s(30)).unwrap().rounds, 4);
        assert_eq!(Schedule::new(s(5), s(5)).unwrap().rounds, 2);
        let e = |w, e| Schedule::new(w, e).unwrap_err().to_string();
        assert!(e(s(60), s(120)).contains("longer than --watch"));
        assert!(e(s(60), s(0)).contains("--every is 0"));
        assert!(e(s(0), s(0)).contains("--watch is 0"));
        assert!(e(s(3600), Duration::from_millis(100)).contains("at most 1000"));
    }
}
