#!/usr/bin/env bash
# Pushes one marketdata image and prints, as its only output, the reference ctmd:image takes: the
# pushed version tag with the digest the registry stored. The stack's repository refuses to move
# a tag once pushed and ctmd:image refuses latest, so the reference names one build for good.
# It pushes no SBOM, provenance or signature: releases come signed from the image workflow for a
# v* tag, whose identity is the one to trust (docs/release.md, which also covers signing by hand).
#
#   hack/push.sh <repository>/marketdata:<version>     (make push IMAGE=...)
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

[[ $# -eq 1 ]] || die "usage: $0 <repository>/marketdata:<version>"
image=$1
last=${image##*/}
tag=""
[[ $last == *:* ]] && tag=${last##*:}
case $image in
*@*) die "$image: push a tag (the registry gives the digest); a digest is what this prints" ;;
esac
case $tag in
"") die "$image has no version tag: push <repository>/marketdata:<version>, e.g. make image push IMAGE=<repository>/marketdata:v1.4.0" ;;
latest) die "$image: latest moves with every push; push a version tag, e.g. make image push IMAGE=<repository>/marketdata:v1.4.0" ;;
*-dirty) die "$image was built from uncommitted changes and a version tag can be pushed only once: commit (and tag) first" ;;
esac

docker push "$image" >&2
repository=${image%:*}
digest=$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$image" | grep -m1 -F "$repository@sha256:") ||
	die "docker reports no digest of $image in $repository"
echo "$image@${digest#*@}"
