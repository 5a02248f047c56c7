#!/bin/sh
# Transfer learning in two jobs: a small CNN learns MNIST digits 0–4, then a second job starts from
# its best checkpoint to learn digits 5–9 from 600 rows: the convolutions are loaded and frozen,
# the dense layer `features` is loaded and fine-tuned, and the new output layer `digits59` (a new
# name, so it is not loaded) starts fresh. Prints the plan the server made and the final metrics.
#
#   TRAINYARD_API_KEY=<key> sh examples/transfer.sh      # TRAINYARD_URL: default http://localhost:3000
set -eu
. "$(dirname "$0")/api.sh"

echo "source job: a CNN on MNIST digits 0-4"
source_job=$(submit '{
  "name": "transfer source: MNIST digits 0-4, CNN",
  "dataset": { "name": "mnist", "shape": "image", "classes": [0, 1, 2, 3, 4], "limit": 1500 },
  "model": { "layers": [
    { "type": "conv2d", "name": "conv1", "filters": 8, "kernelSize": 3, "padding": "same", "activation": "relu" },
    { "type": "maxPool2d", "poolSize": 2 },
    { "type": "conv2d", "name": "conv2", "filters": 16, "kernelSize": 3, "padding": "same", "activation": "relu" },
    { "type": "maxPool2d", "poolSize": 2 },
    { "type": "flatten" },
    { "type": "dense", "name": "features", "units": 32, "activation": "relu" },
    { "type": "dense", "name": "digits04", "units": 5 } ] },
  "optimizer": "adam", "learningRate": 0.002, "epochs": 3, "batchSize": 32, "validationSplit": 0.1, "seed": 1
}')
source_id=$(json "$source_job" 'j.id')
echo "  job $source_id"
wait_for_job "$source_id"
print_results "$source_id"

echo "transfer job: digits 5-9 from 600 rows, starting from the source's best checkpoint"
transfer_job=$(submit '{
  "name": "transfer: MNIST digits 5-9 from the digits 0-4 CNN",
  "dataset": { "name": "mnist", "shape": "image", "classes": [5, 6, 7, 8, 9], "limit": 600 },
  "model": { "layers": [
    { "type": "conv2d", "name": "conv1", "filters": 8, "kernelSize": 3, "padding": "same", "activation": "relu" },
    { "type": "maxPool2d", "poolSize": 2 },
    { "type": "conv2d", "name": "conv2", "filters": 16, "kernelSize": 3, "padding": "same", "activation": "relu" },
    { "type": "maxPool2d", "poolSize": 2 },
    { "type": "flatten" },
    { "type": "dense", "name": "features", "units": 32, "activation": "relu" },
    { "type": "dense", "name": "digits59", "units": 5 } ] },
  "init": { "from": { "job": "'"$source_id"'", "checkpoint": "best" }, "freeze": { "upTo": "conv2" } },
  "optimizer": "adam", "learningRate": 0.002, "epochs": 3, "batchSize": 32, "validationSplit": 0.2, "seed": 1
}')
transfer_id=$(json "$transfer_job" 'j.id')
echo "  job $transfer_id"
echo "  plan: $(json "$transfer_job" 'j.spec.init.reason')"
wait_for_job "$transfer_id"
print_results "$transfer_id"
