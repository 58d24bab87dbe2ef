#!/usr/bin/env bash
# Roll an environment back to an earlier image tag: deploy/rollback.sh ENV TAG (staging or production, and
# a tag the registry holds, e.g. a commit SHA from `git log`). The work is deploy/deploy.sh's --rollback.
set -euo pipefail
exec "$(dirname "$0")/deploy.sh" --rollback "$@"
