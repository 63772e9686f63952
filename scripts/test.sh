#!/usr/bin/env bash
# The test command: sets up what the tests need on a fresh machine, then runs the whole suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export PATH="$JAVA_HOME/bin:$PATH"
scripts/setup-test-deps.sh
mvn -B -ntp verify "$@"
