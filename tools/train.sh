#!/usr/bin/env bash
# tools/train.sh — the main job: train the 784-256-128-10 MLP with Adam on Fashion-MNIST on the
# default Vulkan device (VKT_DEVICE=<index|name> to choose another) and print per-epoch train loss,
# validation loss and accuracy, then test accuracy and samples per second.
#
# Installs what is missing (Debian packages, including dataset-fashion-mnist, and fortunes for
# the GPT's default corpus: tools/train.sh --model gpt), builds, runs.
# Extra arguments go to `vkt train` (see `vkt train --help`), e.g. tools/train.sh --epochs 3
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
vkt_install_packages $VKT_PACKAGES fortunes
vkt_build build-release --buildtype=release -Dtests=false
build-release/tools/vkt devices
exec build-release/tools/vkt train "$@"
