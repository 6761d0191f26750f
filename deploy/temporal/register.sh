#!/bin/sh
# One-shot (temporalio/admin-tools), after the server is healthy: the `default` namespace and
# CodeRunner's custom search attributes, which workflows upsert so the Web UI can filter on them.
# Keep the list in step with models/search_attributes.py. Idempotent: existing ones are kept.
set -eu

NS=${TEMPORAL_NAMESPACE:-default}

until temporal operator cluster health >/dev/null 2>&1; do
  echo "waiting for Temporal at $TEMPORAL_ADDRESS"; sleep 2
done

temporal operator namespace describe --namespace "$NS" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$NS" --retention 72h

register() {
  name=$1
  type=$2
  tries=0
  # a just-created namespace takes a few seconds to reach every frontend cache
  until temporal operator search-attribute list --namespace "$NS" | grep -qw "$name" \
    || temporal operator search-attribute create --namespace "$NS" --name "$name" --type "$type"; do
    tries=$((tries + 1))
    [ "$tries" -ge 30 ] && { echo "could not register $name"; exit 1; }
    sleep 2
  done
  echo "search attribute $name ($type) ready"
}

register CodeRunnerDeployment Keyword
register CodeRunnerEnvironment Keyword
register CodeRunnerVersion Keyword
register CodeRunnerStatus Keyword
register CodeRunnerRolloutPhase Keyword
register CodeRunnerCanaryWeight Int
register CodeRunnerBudgetLevel Int
register CodeRunnerPipeline Keyword
register CodeRunnerPipelineStage Keyword
register CodeRunnerPipelineDeadLetters Int
echo "registration: done"
