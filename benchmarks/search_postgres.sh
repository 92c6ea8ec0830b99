#!/usr/bin/env bash
# Two workers on one study through a local PostgreSQL server: what `--storage postgresql://...`
# gives several machines, shown on one. Starts a throwaway server (initdb, a Unix socket in a temp
# folder), runs two `tui-trainer search` processes on the same study at once (as two machines
# would), checks that they shared the trials (distinct, the study's total, both worked) and stops
# the server. Usage: benchmarks/search_postgres.sh [DATA_DIR]   (default: synthetic data)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-synthetic}
PY=${PY:-.venv/bin/python}
PG_BIN=${PG_BIN:-$(dirname "$(command -v pg_ctl)")}
WORK=$(mktemp -d /tmp/tt-pg.XXXXXX)
chmod 777 "$WORK"
PORT=54329
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
cleanup() { as_pg "$PG_BIN/pg_ctl -D $WORK/db -m fast stop" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$PY" -c "import psycopg" 2>/dev/null || "$PY" -m pip install --quiet 'psycopg[binary]'
as_pg "$PG_BIN/initdb -D $WORK/db -A trust -U tt" >/dev/null
as_pg "$PG_BIN/pg_ctl -D $WORK/db -o '-p $PORT -k $WORK -c listen_addresses=' -l $WORK/pg.log -w start" >/dev/null
"$PY" -c "
import psycopg
psycopg.connect(host='$WORK', port=$PORT, user='tt', dbname='postgres', autocommit=True).execute('CREATE DATABASE studies')"
URL="postgresql://tt@/studies?host=$WORK&port=$PORT"

cat > "$WORK/pg-demo.toml" <<TOML
description = "two workers, one PostgreSQL study"
preset = "cpu-quick"
trials = 6
objective = "best_acc"
sampler = "tpe"
pruner = "median"
[set]
"run.epochs" = 2
"run.eval_every" = 1
"model.widths" = [16, 32, 32]
[space]
"optimizer.lr" = { low = 0.25, high = 2.5, log = true }
TOML

start=$(date +%s)
for w in 1 2; do   # two lead processes, as on two machines: each with one worker and its own runs folder
  "$PY" -m tui_trainer search "$WORK/pg-demo.toml" --storage "$URL" --workers 1 --data "$DATA" \
    --runs "$WORK/runs-$w" --json > "$WORK/worker-$w.jsonl" 2> "$WORK/worker-$w.err" &
done
wait
took=$(( $(date +%s) - start ))
"$PY" -m tui_trainer search "$WORK/pg-demo.toml" --storage "$URL" --runs "$WORK/runs-1" --status
"$PY" -m tui_trainer search "$WORK/pg-demo.toml" --storage "$URL" --runs "$WORK/runs-1" --status --json \
  > "$WORK/status.json"
"$PY" - "$WORK" "$took" <<'PYCHECK'
import json, sys, pathlib
work, took = pathlib.Path(sys.argv[1]), sys.argv[2]
status = json.loads((work / "status.json").read_text())
trials = status["trials"]
by_pid: dict = {}
for t in trials:
    by_pid.setdefault(t["pid"], []).append(t["trial"])
folders = {w: sorted(p.name for p in (work / f"runs-{w}").glob("2*")) for w in (1, 2)}
print("\n| worker pid | trials it ran |\n|---|---|")
for pid, numbers in by_pid.items():
    print(f"| {pid} | {', '.join(map(str, numbers))} |")
numbers = [t["trial"] for t in trials]
ok = sorted(numbers) == list(range(6)) and len(by_pid) == 2 and all(folders.values())
print(f"\n{len(numbers)} trials in {took} s: distinct and the study's total (6): {sorted(numbers) == list(range(6))}; "
      f"run by 2 processes: {len(by_pid) == 2}; run folders per process: {[len(f) for f in folders.values()]}; "
      f"best {status['best_value']:.2%} (trial {status['best_trial']}); {status['complete']} complete, "
      f"{status['pruned']} pruned, {status['failed']} failed")
if not ok:
    for w in (1, 2):
        print(f"--- search {w} stderr:", (work / f"worker-{w}.err").read_text()[-1500:])
sys.exit(0 if ok else 1)
PYCHECK
