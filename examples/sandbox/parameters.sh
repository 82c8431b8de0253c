#!/usr/bin/env bash
# Prints a Gantry service's per-environment parameters (service/template.yaml), read from a
# deployed sandbox stack, ready for `sam deploy --parameter-overrides`. (The sandbox tags its
# services, listener and task roles gantry:hub, so the hub needs no list of them.) The sandbox has one blue/green pair: dev, qa and prod all
# deploy to it, which is enough to watch a promotion go through every stage.
#
#   examples/sandbox/parameters.sh [SANDBOX_STACK]     # default: gantry-sandbox
set -euo pipefail
stack="${1:-gantry-sandbox}"
out() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
cluster=$(out ClusterName) listener=$(out ListenerArn)
blue=$(out BlueService) blue_tg=$(out BlueTargetGroupArn)
green=$(out GreenService) green_tg=$(out GreenTargetGroupArn)
alarm=$(out AlarmName)
sep=''
for env in Dev Qa Prod; do
  printf '%s%sCluster=%s %sListenerArn=%s' "$sep" "$env" "$cluster" "$env" "$listener"
  sep=' '
  printf ' %sBlueService=%s %sBlueTargetGroupArn=%s' "$env" "$blue" "$env" "$blue_tg"
  printf ' %sGreenService=%s %sGreenTargetGroupArn=%s' "$env" "$green" "$env" "$green_tg"
  printf ' %sAlarmNames=%s' "$env" "$alarm"
done
printf '\n'
