#!/bin/sh
# A progressive network (Rusu et al.) in two jobs: a first column, an MLP on MNIST digits 0–4, then
# a second column on digits 5–9 that keeps the first frozen and reads its hidden activations through
# lateral adapters (n2_lateral_c0, head_lateral_c0). Prints both jobs' final metrics.
#
#   TRAINYARD_API_KEY=<key> sh examples/progressive.sh   # TRAINYARD_URL: default http://localhost:3000
set -eu
. "$(dirname "$0")/api.sh"

echo "column job: an MLP on MNIST digits 0-4"
column_job=$(submit '{
  "name": "progressive column 0: MNIST digits 0-4",
  "dataset": { "name": "mnist", "classes": [0, 1, 2, 3, 4], "limit": 1500 },
  "model": { "layers": [
    { "type": "dense", "name": "h1", "units": 64, "activation": "relu" },
    { "type": "dense", "name": "h2", "units": 32, "activation": "relu" },
    { "type": "dense", "name": "out", "units": 5 } ] },
  "optimizer": "adam", "learningRate": 0.002, "epochs": 3, "batchSize": 32, "validationSplit": 0.1, "seed": 1
}')
column_id=$(json "$column_job" 'j.id')
echo "  job $column_id"
wait_for_job "$column_id"
print_results "$column_id"

echo "progressive job: a second column on digits 5-9, with lateral connections from the first"
progressive_job=$(submit '{
  "name": "progressive column 1: MNIST digits 5-9",
  "dataset": { "name": "mnist", "classes": [5, 6, 7, 8, 9], "limit": 600 },
  "model": {
    "progressive": { "columns": [ { "job": "'"$column_id"'", "checkpoint": "best" } ] },
    "layers": [
      { "type": "dense", "name": "n1", "units": 64, "activation": "relu" },
      { "type": "dense", "name": "n2", "units": 32, "activation": "relu" },
      { "type": "dense", "name": "head", "units": 5 } ] },
  "optimizer": "adam", "learningRate": 0.002, "epochs": 3, "batchSize": 32, "validationSplit": 0.2, "seed": 1
}')
progressive_id=$(json "$progressive_job" 'j.id')
echo "  job $progressive_id, column 0: job $(json "$progressive_job" 'j.spec.model.progressive.columns[0].job') checkpoint $(json "$progressive_job" 'j.spec.model.progressive.columns[0].checkpoint')"
wait_for_job "$progressive_id"
print_results "$progressive_id"
