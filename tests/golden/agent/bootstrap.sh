# ---- spawn-tf agent: shared by every run of the sweep; the lines above are this run's ----
# Under cloud-init it detaches itself (systemd-run) and returns; the detached copy runs the user's
# script (after the marker line at the end), reports to S3 and tags, then ends the instance.
set -u
export HOME=/root AWS_PAGER="" AWS_DEFAULT_REGION="$SPAWN_REGION"
export SPAWN_RESULTS_URI="s3://$SPAWN_RESULTS_BUCKET/$SPAWN_SWEEP_FOLDER/$SPAWN_RUN/"
spawn_root="${SPAWN_AGENT_ROOT:-}"
spawn_dir="$spawn_root/opt/spawn"
export PATH="$spawn_root/usr/local/bin:$PATH"
mkdir -p "$spawn_dir" "$spawn_root/usr/local/bin"
if [ "${SPAWN_DETACHED:-}" != 1 ]; then
  spawn_pass=(--setenv=SPAWN_DETACHED=1 --setenv=PATH="$PATH")
  for spawn_var in AWS_ENDPOINT_URL SPAWN_AGENT_ROOT SPAWN_IMDS_ENDPOINT SPAWN_MIN_UPTIME SPAWN_POLL_SECONDS SPAWN_LOG_UPLOAD_SECONDS AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN; do
    [ -n "${!spawn_var:-}" ] && spawn_pass+=(--setenv="$spawn_var=${!spawn_var}")
  done
  cp "$0" "$spawn_dir/user-data"
  exec systemd-run --unit="spawn-agent-$$" --collect --quiet "${spawn_pass[@]}" /bin/bash "$spawn_dir/user-data"
fi

imds="${SPAWN_IMDS_ENDPOINT:-http://169.254.169.254}"
poll="${SPAWN_POLL_SECONDS:-5}"
upload_every="${SPAWN_LOG_UPLOAD_SECONDS:-60}"
min_uptime="${SPAWN_MIN_UPTIME:-180}"
bucket="$SPAWN_RESULTS_BUCKET" folder="$SPAWN_SWEEP_FOLDER" run="$SPAWN_RUN"
key="$run.$SPAWN_FINGERPRINT"
out="$SPAWN_OUTPUT_DIR"
[ -n "$spawn_root" ] && out="$spawn_root$out"
export SPAWN_OUTPUT_DIR="$out"
mkdir -p "$out" "$spawn_dir/run"
log="$spawn_dir/run/workload.log"
verdict="$spawn_dir/run/verdict"
agent_log="$spawn_dir/agent.log"
exec 3>>"$agent_log"
note() { echo "$(date -u +%FT%TZ) $*" >&3; }
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

imds_get() {  # IMDSv2 only: a token first
  local token
  token=$(curl -sf -m 2 -X PUT "$imds/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300") || return 1
  curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"
}

retry() {  # AWS calls fail for a minute or two while the instance role propagates
  local n=0
  until "$@" >>"$agent_log" 2>&1; do
    n=$((n + 1))
    [ "$n" -ge 8 ] && { note "gave up: $*"; return 1; }
    sleep $((n < 4 ? n * 2 : 10))
  done
}

keys() {  # the keys under a prefix, one per line
  aws s3api list-objects-v2 --bucket "$bucket" --prefix "$1" --query 'Contents[].Key' --output text 2>>"$agent_log" \
    | tr '\t' '\n' | grep -v '^None$' | grep -v '^$'
}

put() {  # put KEY FILE
  retry aws s3api put-object --bucket "$bucket" --key "$1" --body "$2"
}

json_text() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }

tag() { retry aws ec2 create-tags --resources "$instance" --tags "Key=spawn:status,Value=$1"; }

instance=$(imds_get instance-id) || { note "no instance id from $imds"; exit 1; }
started_at=$(now)
attempts="$folder/_attempts/$key/"
note "run $run ($key) on $instance"

# Earlier attempts decide this one's number and whether any is left.
begun=0 failures=0 interruptions=0
while read -r k; do
  case "${k##*/}" in
    *.*) case "${k##*.}" in
           failed|timeout) failures=$((failures + 1)) ;;
           interrupted) interruptions=$((interruptions + 1)) ;;
         esac ;;
    *) begun=$((begun + 1)) ;;
  esac
done < <(retry aws s3api list-objects-v2 --bucket "$bucket" --prefix "$attempts" --max-keys 1 && keys "$attempts")
attempt=$((begun + 1))
export SPAWN_ATTEMPT="$attempt"

write_status() {  # write_status STATUS EXIT_CODE REASON
  local code=null finished=null
  [ "$2" != "none" ] && code="$2"
  [ "$1" != "running" ] && finished="\"$(now)\""
  cat >"$spawn_dir/run/status.json" <<JSON
{"sweep": "$SPAWN_SWEEP", "run": "$run", "index": $SPAWN_INDEX, "fingerprint": "$SPAWN_FINGERPRINT", "status": "$1", "exit_code": $code, "attempt": $attempt, "instance_id": "$instance", "region": "$SPAWN_REGION", "started_at": "$started_at", "finished_at": $finished, "reason": $(json_text "$3")}
JSON
  put "$folder/$run/status.json" "$spawn_dir/run/status.json"
}

finish_instance() {  # on_complete, never before the provider has read the new instance
  while [ "$(cut -d. -f1 /proc/uptime)" -lt "$min_uptime" ]; do sleep 5; done
  if [ "$SPAWN_ON_COMPLETE" = stop ]; then
    retry aws ec2 stop-instances --instance-ids "$instance"
  else
    shutdown -h now
  fi
}

if [ "$failures" -ge "$SPAWN_MAX_ATTEMPTS" ] || [ "$interruptions" -ge "$SPAWN_MAX_INTERRUPTIONS" ]; then
  note "exhausted: $failures failures, $interruptions interruptions"
  write_status exhausted none "$failures failed attempts, $interruptions interruptions"
  : >"$spawn_dir/run/empty"
  put "$folder/_done/$key/exhausted.none" "$spawn_dir/run/empty"
  tag exhausted
  finish_instance
  exit 0
fi

# One live agent per attempt: the conditional write fails (412) for the second one, which exits
# and leaves the instance to the first. Any other failure is retried, as every AWS call is.
: >"$spawn_dir/run/empty"
n=0
until answer=$(aws s3api put-object --bucket "$bucket" --key "$folder/_lease/$key/$attempt" \
                 --body "$spawn_dir/run/empty" --if-none-match '*' 2>&1); do
  echo "$answer" >>"$agent_log"
  case "$answer" in
    *PreconditionFailed*) note "attempt $attempt of $key is taken by another agent"; exit 0 ;;
  esac
  n=$((n + 1))
  [ "$n" -ge 8 ] && { note "gave up taking the lease of attempt $attempt"; exit 1; }
  sleep $((n < 4 ? n * 2 : 10))
done
printf '{"started_at": "%s", "region": "%s"}\n' "$started_at" "$SPAWN_REGION" >"$spawn_dir/run/attempt.json"
put "$attempts$instance" "$spawn_dir/run/attempt.json"
tag running
write_status running none ""

# `spored complete --status S [--message M]`: the workload's own verdict, as spawn's scripts give it.
# A mistake is an error (logged here and in the workload's log, exit 2), never silently ignored.
cat >"$spawn_root/usr/local/bin/spored" <<SPORED
#!/bin/bash
usage="usage: spored complete --status success|stopped|failed [--message MESSAGE]"
fail() { echo "spored: \$1" >&2; echo "\$usage" >&2; echo "\$(date -u +%FT%TZ) spored: \$1" >>"$agent_log"; exit 2; }
[ "\${1:-}" = complete ] || fail "unknown command '\${1:-}'"
shift; status="" message=""
while [ \$# -gt 0 ]; do
  case "\$1" in
    --status|-s|--message|-m)
      [ \$# -ge 2 ] || fail "\$1 needs a value"
      case "\$1" in --status|-s) status="\$2" ;; *) message="\$2" ;; esac
      shift 2 ;;
    --status=*) status="\${1#*=}"; shift ;;
    --message=*) message="\${1#*=}"; shift ;;
    *) fail "unknown argument '\$1'" ;;
  esac
done
case "\$status" in
  success|stopped|failed) ;;
  "") fail "--status is required" ;;
  *) fail "unknown status '\$status'; expected one of: success, stopped, failed" ;;
esac
printf '%s\n%s\n' "\$status" "\$message" >"$verdict"
SPORED
chmod 755 "$spawn_root/usr/local/bin/spored"

script="$spawn_dir/run/user-script"
sed "1,/^__SPAWN_USER_SCRIPT__\$/d" "$0" >"$script"
chmod 700 "$script"
[ -s "$script" ] || printf 'true\n' >"$script"
[ "$(head -c 2 "$script")" = "#!" ] || sed -i '1i #!/bin/bash' "$script"
( cd "$out" && exec setsid "$script" ) >"$log" 2>&1 &
child=$!
note "workload started as $child"

upload_log() { retry aws s3 cp --quiet "$log" "s3://$bucket/$folder/$run/logs/$attempt-$instance.log" && note "log uploaded"; }

stop_workload() {  # TERM the workload's process group, KILL what is left after 30 s
  kill -TERM -- -"$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null
  for _ in $(seq 30); do kill -0 "$child" 2>/dev/null || return 0; sleep 1; done
  kill -KILL -- -"$child" 2>/dev/null || kill -KILL "$child" 2>/dev/null
}

busiest_core() {  # percent busy of the busiest core since the last call
  local line name user nice system idle rest total busy max=0
  while read -r name user nice system idle rest; do
    [[ "$name" == cpu[0-9]* ]] || continue
    total=$((user + nice + system + idle)) busy=$((user + nice + system))
    local prev_total="${core_total[$name]:-0}" prev_busy="${core_busy[$name]:-0}"
    core_total[$name]=$total core_busy[$name]=$busy
    [ $((total - prev_total)) -gt 0 ] && [ $(((busy - prev_busy) * 100 / (total - prev_total))) -gt "$max" ] \
      && max=$(((busy - prev_busy) * 100 / (total - prev_total)))
  done </proc/stat
  if command -v nvidia-smi >/dev/null; then
    for gpu in $(nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null); do
      [ "$gpu" -gt "$max" ] && max=$gpu
    done
  fi
  echo "$max"
}
declare -A core_total core_busy
busiest_core >/dev/null

status="" reason="" exit_code=none
start=$(date +%s) last_upload=$start idle_since=$start
while kill -0 "$child" 2>/dev/null; do
  sleep "$poll"
  if [ -n "$(imds_get spot/instance-action 2>/dev/null)" ]; then
    status=interrupted reason="spot interruption notice"
    break
  fi
  if keys "$folder/_stop/" | grep -qxF -e "$folder/_stop/_all" -e "$folder/_stop/$run"; then
    status=stopped reason="stop marker"
    break
  fi
  elapsed=$(($(date +%s) - start))
  if [ -n "$SPAWN_TTL_SECONDS" ] && [ "$elapsed" -ge "$SPAWN_TTL_SECONDS" ]; then
    status=timeout reason="ttl of $SPAWN_TTL_SECONDS s reached"
    break
  fi
  if [ -n "$SPAWN_IDLE_TIMEOUT_SECONDS" ]; then
    [ "$(busiest_core)" -ge 5 ] && idle_since=$(date +%s)
    if [ $(($(date +%s) - idle_since)) -ge "$SPAWN_IDLE_TIMEOUT_SECONDS" ]; then
      status=timeout reason="idle for $SPAWN_IDLE_TIMEOUT_SECONDS s"
      break
    fi
  fi
  if [ $(($(date +%s) - last_upload)) -ge "$upload_every" ]; then
    upload_log
    last_upload=$(date +%s)
  fi
done

if [ -n "$status" ]; then
  note "ending the workload: $reason"
  [ "$status" = interrupted ] && { upload_log; kill -TERM -- -"$child" 2>/dev/null; }  # two minutes: logs first
  stop_workload
  wait "$child" 2>/dev/null
else
  wait "$child"
  exit_code=$?
  status=success
  [ "$exit_code" -ne 0 ] && status=failed reason="exit code $exit_code"
fi
if [ -s "$verdict" ]; then  # the workload said how it went
  said=$(sed -n 1p "$verdict") reason=$(sed -n 2p "$verdict")
  case "$said" in
    success|stopped|failed) [ "$status" != interrupted ] && status=$said ;;
  esac
fi
note "status $status, exit code $exit_code"

final=yes
case "$status" in
  interrupted) final=no ;;
  failed|timeout)
    [ "$SPAWN_RETRY_FAILED" = true ] && [ $((failures + 1)) -lt "$SPAWN_MAX_ATTEMPTS" ] && final=no ;;
esac

upload_log
if [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  retry aws s3 cp --quiet --recursive "$out" "s3://$bucket/$folder/$run/"
fi
write_status "$status" "$exit_code" "$reason"
put "$attempts$instance.$status" "$spawn_dir/run/empty"
[ "$final" = yes ] && put "$folder/_done/$key/$status.$exit_code" "$spawn_dir/run/empty"
tag "$status"
[ "$status" = interrupted ] && exit 0  # EC2 takes the instance back
finish_instance
exit 0
__SPAWN_USER_SCRIPT__
