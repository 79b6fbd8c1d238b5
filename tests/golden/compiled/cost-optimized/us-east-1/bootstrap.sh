# ---- spawn-tf bootstrap: shared by every run of the sweep; the lines above are this run's ----
# Runs the user's script (appended after the marker line at the end) with the run's environment.
set -u
export HOME=/root AWS_PAGER="" AWS_DEFAULT_REGION="$SPAWN_REGION"
export SPAWN_RESULTS_URI="s3://$SPAWN_RESULTS_BUCKET/$SPAWN_SWEEP_FOLDER/$SPAWN_RUN/"
export SPAWN_ATTEMPT="${SPAWN_ATTEMPT:-1}"
spawn_root="${SPAWN_AGENT_ROOT:-}"
spawn_script="$spawn_root/opt/spawn/run/user-script"
export SPAWN_OUTPUT_DIR="$spawn_root$SPAWN_OUTPUT_DIR"
mkdir -p "${spawn_script%/*}" "$SPAWN_OUTPUT_DIR"
sed "1,/^__SPAWN_USER_SCRIPT__\$/d" "$0" > "$spawn_script"
chmod 700 "$spawn_script"
if [ "$(head -c 2 "$spawn_script")" = "#!" ]; then
  "$spawn_script"
else
  bash "$spawn_script"
fi
exit $?
__SPAWN_USER_SCRIPT__
