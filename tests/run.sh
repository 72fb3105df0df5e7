#!/usr/bin/env bash
# Every check and test of okta-itdr, from a fresh clone. Installs what it needs
# (a Python venv with moto and cfn-lint under .venv/), starts moto's server on a
# free localhost port for the AWS wire-API tests, and stops it on exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
moto_pin="moto[server]==5.2.1"
cfn_lint_pin="cfn-lint==1.51.0"
ocsf_pin="py-ocsf-models==0.10.0"

# Each step says when it starts (seconds since the command began): where the
# time goes, in every run's log.
step() { printf '\n==> [%ds] %s\n' "$SECONDS" "$*"; }

# CI builds a fresh clone: incremental compilation's caches would be written
# and never read.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

# The Python tools install while Rust builds: pip waits on the network, the
# build on the CPU.
step "Python tools (moto, cfn-lint) in .venv, in the background"
venv_log="$(mktemp -t okta-itdr-venv.XXXXXX.log)"
(
  if ! "$venv/bin/python" -c 'import moto, cfnlint, py_ocsf_models' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$moto_pin" "$cfn_lint_pin" "$ocsf_pin"
  fi
) >"$venv_log" 2>&1 &
venv_pid=$!
moto_pids=()
cleanup() {
  for pid in "$venv_pid" "${moto_pids[@]}"; do
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  done
}
trap cleanup EXIT

step "Rust toolchain"
cargo --version
for tool in rustfmt cargo-clippy; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install it with 'rustup component add ${tool#cargo-}'" >&2; exit 1; }
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

# One build of every test and binary, with the features `cargo test
# --workspace` resolves: the end-to-end tests run these binaries, and building
# them with any other selection (`-p ingest`) would compile half the tree again.
step "cargo build (tests and binaries)"
cargo build --workspace --bins --tests --locked

step "Python tools ready"
wait "$venv_pid" || { echo "installing the Python tools failed:" >&2; cat "$venv_log" >&2; exit 1; }
"$venv/bin/cfn-lint" --version

step "cfn-lint template.yaml"
"$venv/bin/cfn-lint" template.yaml

# Two moto servers: one serves a request at a time (Python), and the end-to-end
# tests are bound by it; each test keeps to one server (tests/src/lib.rs).
step "moto servers"
free_port() { "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
endpoints=""
moto_pids=()
for i in $(seq 1 "${OKTA_ITDR_MOTO_SERVERS:-2}"); do
  port="$(free_port)"
  moto_log="$(mktemp -t okta-itdr-moto.XXXXXX.log)"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
  moto_pids+=("$!")
  for _ in $(seq 1 100); do
    if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
      break
    fi
    kill -0 "${moto_pids[-1]}" 2>/dev/null || { echo "moto_server exited:" >&2; cat "$moto_log" >&2; exit 1; }
    sleep 0.2
  done
  echo "moto $i listening on 127.0.0.1:$port"
  endpoints="$endpoints http://127.0.0.1:$port"
done
export OKTA_ITDR_MOTO_ENDPOINTS="${endpoints# }"

export AWS_ENDPOINT_URL="${OKTA_ITDR_MOTO_ENDPOINTS%% *}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
# The OCSF validator (tests/ocsf/validate.py) runs with this interpreter.
export OKTA_ITDR_PYTHON="$venv/bin/python"

step "Panther peer corpus"
# Panther's Okta rule tests are kept out of the repository. CI always has them
# beside the clone; a user's fresh clone runs everything else.
corpus="${OKTA_ITDR_PANTHER_CORPUS:-$root/../shared/peer-tests/panther-okta/tests.jsonl}"
if [ -f "$corpus" ]; then
  export OKTA_ITDR_PANTHER_CORPUS="$corpus"
  echo "found $corpus: the Panther conformance suite runs"
elif [ -n "${CI:-}" ]; then
  echo "the Panther peer corpus is missing at $corpus and CI requires it (set OKTA_ITDR_PANTHER_CORPUS to its tests.jsonl)" >&2
  exit 1
else
  echo "Panther peer corpus not found at $corpus: the conformance suite is not run (set OKTA_ITDR_PANTHER_CORPUS to its tests.jsonl to run it)"
fi

step "tests (unit, property, integration against moto, end-to-end binaries)"
# cargo-nextest runs the test binaries side by side, one process per test: the
# end-to-end tests mostly wait on moto and the functions, so while they wait the
# CPU-bound suites (the realistic org, the memory bounds) run. Plain cargo test
# runs one binary after another; it is the fallback where nextest is missing.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --test-threads "${OKTA_ITDR_TEST_THREADS:-4}"
else
  echo "cargo-nextest not found: running cargo test (slower; 'cargo install cargo-nextest' to speed it up)"
  cargo test --workspace --locked --no-fail-fast
fi
step "done"
