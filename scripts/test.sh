#!/usr/bin/env bash
# `npm test`: the whole suite on the manager's embedded SQLite store, then the manager suite (and the metrics
# test, whose gauges are SQL queries, and the proving tests, whose claims are conditional SQL updates) again on PostgreSQL when SEALFLEET_TEST_PG names a server to create test
# databases on. Without one the PostgreSQL pass is skipped with a line saying so, unless SEALFLEET_REQUIRE_PG=1
# (CI), which makes it a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SEALFLEET_TEST_PG:-}" ] && [ "${SEALFLEET_REQUIRE_PG:-}" = 1 ]; then
  echo "error: SEALFLEET_REQUIRE_PG=1 but SEALFLEET_TEST_PG is not set: the manager suite must also run on PostgreSQL (as root: export SEALFLEET_TEST_PG=\$(bash scripts/ci-postgres.sh))" >&2
  exit 1
fi

# shellcheck disable=SC2046 # one argument per test file
node --import tsx --test --test-force-exit --test-concurrency=2 $(find test -name '*.test.ts' -not -path 'test/proofs/*' -not -path 'test/chaos/*' | sort)
# Alone, each: the chaos run's processes and fault driver, and a real C2, want both cores.
node --import tsx --test --test-force-exit test/chaos/*.test.ts
node --import tsx --test --test-force-exit test/proofs/*.test.ts

if [ -z "${SEALFLEET_TEST_PG:-}" ]; then
  echo "npm test: the manager suite on PostgreSQL was skipped: SEALFLEET_TEST_PG is not set (as root: export SEALFLEET_TEST_PG=\$(bash scripts/ci-postgres.sh))"
  exit 0
fi
SEALFLEET_TEST_STORE=postgres node --import tsx --test --test-force-exit --test-concurrency=2 test/manager/*.test.ts test/security/*.test.ts test/metrics/*.test.ts test/dashboard/api.test.ts test/proving/*.test.ts
