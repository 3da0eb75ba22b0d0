//! `shipgate preflight`: the checks of `[preflight]` and the check flags, planned by
//! `crate::plan`, run by `crate::checks`.

use super::{Inputs, Outcome};
use crate::cli::{GlobalArgs, PreflightArgs};
use crate::error::InputError;
use crate::plan::Flags;

pub async fn run(
    global: &GlobalArgs,
    args: &PreflightArgs,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    let section = inputs.config.config.preflight.as_ref();
    super::run_checks("preflight", global, section, Flags::Preflight(args), inputs).await
}
