#!/usr/bin/env bash
# action/run.sh: the action's run step. shipgate itself reads the inputs (INPUT_COMMAND,
# INPUT_CONFIG, INPUT_ARGS; see src/action.rs) and writes the step outputs status, passed,
# failed, warnings and report; this adds exit-code, which only the caller can know, and passes
# the exit code on so the step fails when the checks do.
set -uo pipefail
bin=${SHIPGATE_BIN:-shipgate}
"$bin" github-action
code=$?
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
	printf 'exit-code=%s\n' "$code" >>"$GITHUB_OUTPUT"
fi
exit "$code"
