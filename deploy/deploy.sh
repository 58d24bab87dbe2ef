#!/usr/bin/env bash
# Altaviz delivery to Azure Container Apps: the one script the workflows run (.github/workflows/deploy.yml
# and rollback.yml) and a person runs by hand, after `az login` (CI logs in with OIDC, azure/login).
#
#   deploy/deploy.sh ENV TAG             run the migration job on IMAGE:TAG, move the app and the pipeline
#                                        watcher to IMAGE:TAG, run `altaviz smoke` against the app; when the
#                                        new revisions do not come up or the smoke fails, put the app, the
#                                        watcher and the job back on the images they ran before, and fail
#   deploy/deploy.sh --rollback ENV TAG  the app, the watcher and the migration job to IMAGE:TAG, then
#                                        `altaviz smoke` (deploy/rollback.sh ENV TAG runs this); no migration
#   deploy/deploy.sh --publish TAG       docker build and push IMAGE:TAG, unless the registry already has
#                                        it (an image is built once per commit)
#
# ENV is staging or production; TAG is an image tag (CI uses the commit SHA).
# Settings (environment variables, [default]):
#   DEPLOY_IMAGE            image repository, no tag [<AZURE_CONTAINER_REGISTRY>.azurecr.io/altaviz when
#                           that is set, else ghcr.io/<GITHUB_REPOSITORY_OWNER in lower case>/altaviz]
#   DEPLOY_RESOURCE_GROUP   [altaviz-ENV]
#   DEPLOY_APP              container app serving the web service, `altaviz serve` [altaviz-app]
#   DEPLOY_WATCHER          container app running `altaviz pipeline watch` [altaviz-pipeline]
#   DEPLOY_MIGRATE_JOB      Container Apps job running `altaviz db upgrade` [altaviz-migrate]
#   DEPLOY_URL              address the smoke checks [https://<the app's ingress FQDN>]
#   DEPLOY_TIMEOUT_SECONDS  longest wait for the migration and for each new revision [900]
#   DEPLOY_POLL_SECONDS     pause between two looks at them [10]
# Exit status: 0 deployed (or rolled back) and smoke passed; 1 failed (after an automatic rollback when
# there was one); 2 bad arguments or settings.
set -euo pipefail

usage() {
  sed -n '4,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

fail_usage() {
  echo "deploy: $1" >&2
  exit 2
}

say() {
  echo "==> $*"
}

check_environment() {
  case "$1" in
    staging | production) ;;
    *) fail_usage "environment must be staging or production, not '$1'" ;;
  esac
}

check_tag() {
  # Docker's tag grammar: 1-128 of letters, digits, _ . - and not starting with . or -.
  if ! [[ "$1" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
    fail_usage "'$1' is not an image tag (1-128 letters, digits, _ . -; not starting with . or -)"
  fi
}

image_repository() {
  if [ -n "${DEPLOY_IMAGE:-}" ]; then
    echo "$DEPLOY_IMAGE"
  elif [ -n "${AZURE_CONTAINER_REGISTRY:-}" ]; then
    echo "${AZURE_CONTAINER_REGISTRY}.azurecr.io/altaviz"
  elif [ -n "${GITHUB_REPOSITORY_OWNER:-}" ]; then
    echo "ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/altaviz"
  else
    fail_usage "set DEPLOY_IMAGE to the image repository (e.g. ghcr.io/acme/altaviz), or AZURE_CONTAINER_REGISTRY"
  fi
}

configure() {
  environment="$1"
  resource_group="${DEPLOY_RESOURCE_GROUP:-altaviz-$environment}"
  app="${DEPLOY_APP:-altaviz-app}"
  watcher="${DEPLOY_WATCHER:-altaviz-pipeline}"
  job="${DEPLOY_MIGRATE_JOB:-altaviz-migrate}"
  timeout_seconds="${DEPLOY_TIMEOUT_SECONDS:-900}"
  poll_seconds="${DEPLOY_POLL_SECONDS:-10}"
  repository="$(image_repository)"
}

# --- reading what runs ---------------------------------------------------------------------------------

app_image() {
  az containerapp show --name "$1" --resource-group "$resource_group" \
    --query 'properties.template.containers[0].image' --output tsv
}

job_image() {
  az containerapp job show --name "$1" --resource-group "$resource_group" \
    --query 'properties.template.containers[0].image' --output tsv
}

smoke_url() {
  if [ -n "${DEPLOY_URL:-}" ]; then
    echo "$DEPLOY_URL"
    return
  fi
  local fqdn
  fqdn="$(az containerapp show --name "$app" --resource-group "$resource_group" \
    --query properties.configuration.ingress.fqdn --output tsv)" || return 1
  if [ -z "$fqdn" ]; then
    echo "deploy: $app has no ingress address; set DEPLOY_URL" >&2
    return 1
  fi
  echo "https://$fqdn"
}

# --- changing it -----------------------------------------------------------------------------------------

update_app() {  # NAME IMAGE: a new revision on IMAGE, then wait until it is the one ready to serve
  say "$1 -> $2"
  az containerapp update --name "$1" --resource-group "$resource_group" --image "$2" --output none ||
    return 1
  wait_ready "$1"
}

wait_ready() {
  local waited=0 names latest ready
  while :; do
    # tsv prints a list one item a line, a missing one as None.
    names="$(az containerapp show --name "$1" --resource-group "$resource_group" \
      --query '[properties.latestRevisionName, properties.latestReadyRevisionName]' --output tsv)" ||
      return 1
    latest="$(sed -n 1p <<<"$names")"
    ready="$(sed -n 2p <<<"$names")"
    if [ -n "$latest" ] && [ "$latest" != None ] && [ "$latest" = "$ready" ]; then
      say "$1: revision $latest is ready"
      return 0
    fi
    if [ "$waited" -ge "$timeout_seconds" ]; then
      echo "deploy: $1's revision $latest was not ready after ${timeout_seconds}s (ready: ${ready:-none})" >&2
      return 1
    fi
    sleep "$poll_seconds"
    waited=$((waited + poll_seconds))
  done
}

update_job() {  # NAME IMAGE
  say "$1 (job) -> $2"
  az containerapp job update --name "$1" --resource-group "$resource_group" --image "$2" --output none
}

migrate() {  # IMAGE: run the migration job on it and wait for the execution to end
  local execution status waited=0
  update_job "$job" "$1" || return 1
  execution="$(az containerapp job start --name "$job" --resource-group "$resource_group" \
    --query name --output tsv)" || return 1
  say "migration: execution $execution of $job (altaviz db upgrade)"
  while :; do
    status="$(az containerapp job execution show --name "$job" --resource-group "$resource_group" \
      --job-execution-name "$execution" --query properties.status --output tsv)" || return 1
    case "$status" in
      Succeeded)
        say "migration: $execution succeeded"
        return 0
        ;;
      Failed | Stopped | Degraded)
        echo "deploy: migration execution $execution ended $status (its logs: az containerapp job logs" \
          "show --name $job --resource-group $resource_group --execution $execution --container" \
          "<the job's container>)" >&2
        return 1
        ;;
    esac
    if [ "$waited" -ge "$timeout_seconds" ]; then
      echo "deploy: migration execution $execution still $status after ${timeout_seconds}s" >&2
      return 1
    fi
    sleep "$poll_seconds"
    waited=$((waited + poll_seconds))
  done
}

smoke() {
  say "smoke: altaviz smoke $1"
  altaviz smoke "$1"
}

# --- the three commands ----------------------------------------------------------------------------------

deploy() {
  local tag="$2" target previous_app previous_watcher previous_job url
  configure "$1"
  target="$repository:$tag"
  # Everything the rollback needs is read before anything changes.
  previous_app="$(app_image "$app")"
  previous_watcher="$(app_image "$watcher")"
  previous_job="$(job_image "$job")"
  url="$(smoke_url)"
  say "deploy $target to $environment ($resource_group); now running: $previous_app"

  if ! migrate "$target"; then
    update_job "$job" "$previous_job" || true
    echo "deploy: not deployed: the migration failed; the app and the watcher were not changed" >&2
    return 1
  fi
  if update_app "$app" "$target" && update_app "$watcher" "$target" && smoke "$url"; then
    say "deployed $target to $environment"
    return 0
  fi

  echo "deploy: $target failed on $environment; rolling back to $previous_app" >&2
  if [ "$previous_app" = "$target" ]; then
    echo "deploy: $app already ran $target before this deploy: no earlier image to return to;" \
      "run deploy/rollback.sh $environment <an earlier tag>" >&2
    return 1
  fi
  local rolled_back=true
  update_app "$app" "$previous_app" || rolled_back=false
  update_app "$watcher" "$previous_watcher" || rolled_back=false
  update_job "$job" "$previous_job" || rolled_back=false
  if $rolled_back && smoke "$url"; then
    echo "deploy: rolled back: $environment runs $previous_app again and its smoke passed" >&2
  else
    echo "deploy: the rollback to $previous_app did not pass either: see the output above" >&2
  fi
  return 1
}

rollback() {
  local tag="$2" target url
  configure "$1"
  target="$repository:$tag"
  url="$(smoke_url)"
  say "roll $environment ($resource_group) back to $target; now running: $(app_image "$app")"
  update_app "$app" "$target"
  update_app "$watcher" "$target"
  update_job "$job" "$target"
  smoke "$url"
  say "rolled $environment back to $target (the schema was not changed: see docs/RUNBOOK.md, Rollback)"
}

publish() {
  local tag="$1" target
  target="$(image_repository):$tag"
  if docker manifest inspect "$target" >/dev/null 2>&1; then
    say "$target is already in the registry: not built again"
    return 0
  fi
  say "build $target"
  docker build --pull --label "org.opencontainers.image.revision=$tag" --tag "$target" .
  docker push "$target"
}

main() {
  cd "$(dirname "$0")/.."
  case "${1:-}" in
    --publish)
      [ "$#" -eq 2 ] || usage
      check_tag "$2"
      publish "$2"
      ;;
    --rollback)
      [ "$#" -eq 3 ] || usage
      check_environment "$2"
      check_tag "$3"
      rollback "$2" "$3"
      ;;
    -h | --help | "") usage ;;
    *)
      [ "$#" -eq 2 ] || usage
      check_environment "$1"
      check_tag "$2"
      deploy "$1" "$2"
      ;;
  esac
}

main "$@"
