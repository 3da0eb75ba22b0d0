//! `shipgate verify`: the post-deployment checks of `[verify]` and the one-line flags (`--http`,
//! `--sql`). The same check kinds and engine as `preflight`, over another section, plus the
//! kinds only a deployed system has (SQL, metrics, Prometheus queries and logs). With `--watch`
//! (or `[verify] watch`), the same checks in rounds (see `super::watch`).

use super::watch::Schedule;
use super::{Inputs, Outcome};
use crate::cli::{GlobalArgs, VerifyArgs};
use crate::error::InputError;
use crate::plan::Flags;

pub async fn run(
    global: &GlobalArgs,
    args: &VerifyArgs,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    let section = inputs.config.config.verify.as_ref();
    match Schedule::resolve(args.watch, args.every, section, inputs)? {
        Some(schedule) => {
            super::watch::run(
                "verify",
                global,
                section,
                Flags::Verify(args),
                inputs,
                schedule,
            )
            .await
        }
        None => super::run_checks("verify", global, section, Flags::Verify(args), inputs).await,
    }
}
