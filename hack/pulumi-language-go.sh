#!/usr/bin/env bash
# The pulumi-language-go the pinned CLI runs (hack/tools.sh installs this next to it, with HOST set):
# the Go language host of PULUMI_LANGUAGE_GO_VERSION, handed the project's Go runtime options as the
# flags it reads (-binary, -buildTarget). That host is the last one the module proxy serves, and it
# predates the run request's options field, through which the pinned CLI passes them (Pulumi's own
# release of the CLI ships a host that reads that field). Without this, a local stack would ignore
# Pulumi.yaml's buildTarget and link the program on every run, unlike a user's.
set -euo pipefail
HOST=@HOST@
# The host starts in the program's directory (Pulumi.yaml's main), so the project file is the first
# one above it, unless CTMD_PULUMI_PROJECT names it (make bench-iac, whose projects name a program
# elsewhere).
project=${CTMD_PULUMI_PROJECT:-}
if [[ -z $project ]]; then
	dir=$PWD
	while [[ $dir != / && ! -f $dir/Pulumi.yaml ]]; do dir=$(dirname "$dir"); done
	project=$dir/Pulumi.yaml
fi
flags=()
if [[ -f $project ]]; then
	# Only the runtime's options are indented by four spaces in a project file (config keys by two,
	# their attributes by four under a key of their own, and none is named binary or buildTarget).
	for option in binary buildTarget; do
		value=$(sed -n "s/^    $option: *//p" "$project")
		if [[ -n $value ]]; then flags+=("-$option=$value"); fi
	done
fi
exec "$HOST" "${flags[@]}" "$@"
