#!/usr/bin/env bash
# The reference book (docs/, an mdBook): build it and check every relative link of the
# project's Markdown (README, HACKING, BENCHMARKS, docs/src). Installs mdbook with cargo
# when it is missing (the pinned version, without its server: ~1.5 min cold).
set -euo pipefail
cd "$(dirname "$0")/.."
MDBOOK_VERSION=0.5.4
if ! command -v mdbook >/dev/null || [ "$(mdbook --version)" != "mdbook v$MDBOOK_VERSION" ]; then
    cargo install --quiet --locked --no-default-features mdbook --version "$MDBOOK_VERSION"
fi
mdbook build docs
python3 tools/check-links.py
