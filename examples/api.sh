# Sourced by transfer.sh and progressive.sh: calls to the API with curl, JSON read with `node -e`
# (jq may not be installed; node is, since Trainyard runs on it). POSIX sh.

TRAINYARD_URL=${TRAINYARD_URL:-http://localhost:3000}
# With AUTH_MODE=off the server ignores the key, so an empty one is fine there.
TRAINYARD_API_KEY=${TRAINYARD_API_KEY-}
# How long to wait for one job to end, in seconds (a queued job waits for a free worker).
TRAINYARD_WAIT_SECONDS=${TRAINYARD_WAIT_SECONDS:-900}

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

command -v curl >/dev/null 2>&1 || die 'needs curl'
command -v node >/dev/null 2>&1 || die 'needs node'

# json DOC EXPR: the JavaScript expression EXPR of the parsed DOC (as `j`); strings print as they
# are, anything else as JSON. `m(metrics)` formats a metrics object ("loss 0.1234, accuracy 0.9").
json() {
  node -e '
    const m = (metrics) => Object.entries(metrics ?? {}).map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`).join(", ");
    const value = new Function("j", "m", `return (${process.argv[1]});`)(JSON.parse(process.argv[2]), m);
    if (value === undefined) process.exit(3);
    process.stdout.write(typeof value === "string" ? value : JSON.stringify(value));
  ' "$2" "$1"
}

# api METHOD PATH [BODY]: prints the answer's body. No answer, or a 4xx/5xx, stops the script with
# the problem's detail and the errors naming each field.
api() {
  api_out=$(mktemp)
  if [ $# -ge 3 ]; then
    api_code=$(curl -sS -o "$api_out" -w '%{http_code}' -X "$1" "$TRAINYARD_URL$2" \
      -H "authorization: Bearer $TRAINYARD_API_KEY" -H 'content-type: application/json' --data-binary "$3") ||
      { rm -f "$api_out"; die "no answer from $TRAINYARD_URL (is it running? npm start)"; }
  else
    api_code=$(curl -sS -o "$api_out" -w '%{http_code}' -X "$1" "$TRAINYARD_URL$2" \
      -H "authorization: Bearer $TRAINYARD_API_KEY") ||
      { rm -f "$api_out"; die "no answer from $TRAINYARD_URL (is it running? npm start)"; }
  fi
  api_body=$(cat "$api_out")
  rm -f "$api_out"
  case $api_code in
    2??) printf '%s\n' "$api_body" ;;
    *) die "$1 $2: HTTP $api_code: $api_body" ;;
  esac
}

# submit SPEC: posts a job spec, prints the created job.
submit() {
  api POST /v1/jobs "$1"
}

# wait_for_job ID: polls the job until it ends, printing its progress as it changes. Returns if it
# succeeded; stops the script if it failed, was cancelled or did not end within TRAINYARD_WAIT_SECONDS.
wait_for_job() {
  waited=0
  last=
  while :; do
    run=$(api GET "/v1/runs/$1")
    line=$(json "$run" '[j.status, j.summary.lastEpoch === null ? j.waitingReason : `epoch ${j.summary.lastEpoch}/${j.spec.epochs}: ${m(j.summary.final)}`].filter(Boolean).join(" ")')
    if [ "$line" != "$last" ]; then
      echo "  $line"
      last=$line
    fi
    case ${line%% *} in
      succeeded) return 0 ;;
      failed | cancelled) die "job $1 ended ${line%% *}: $(json "$run" 'j.failureReason ?? "no reason given"')" ;;
    esac
    [ "$waited" -lt "$TRAINYARD_WAIT_SECONDS" ] || die "job $1 did not end within $TRAINYARD_WAIT_SECONDS s (is a worker running? GET /v1/workers)"
    sleep 1
    waited=$((waited + 1))
  done
}

# print_results ID: the job's final metrics, and its test scores when it has a test split.
print_results() {
  run=$(api GET "/v1/runs/$1")
  echo "  final: $(json "$run" 'm(j.summary.final)')"
  json "$run" 'Object.keys(j.summary.test).length ? `  test: ${m(j.summary.test)}\n` : ""'
}
