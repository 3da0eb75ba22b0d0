//! `shipgate verify`: the post-deployment checks of `[verify]` and the `--http` flags. The same
//! check kinds and engine as `preflight`, over another section.

use super::{Inputs, Outcome};
use crate::cli::{GlobalArgs, PreflightArgs, VerifyArgs};
use crate::error::InputError;

pub async fn run(
    global: &GlobalArgs,
    args: &VerifyArgs,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    let section = inputs.config.config.verify.as_ref();
    super::preflight::run_checks(
        "verify",
        global,
        section,
        &PreflightArgs::default(),
        inputs,
        |plan| plan.verify_flags(args),
    )
    .await
}
