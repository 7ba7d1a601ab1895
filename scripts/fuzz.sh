#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through libfuzzer-sys) of the readers of untrusted
# bytes, on the stable toolchain with the sanitizer-coverage flags cargo-fuzz passes:
#     scripts/fuzz.sh [SECONDS per target]     (CI: 45)
# Seeds: the scanner's test files (tests/make_pickles.py) and small hand-made inputs. A
# crash leaves its input in fuzz/artifacts/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-45}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target: the flags then reach the fuzzed code only, not build scripts and proc macros
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
(cd fuzz && cargo build --quiet --release --bins --target "$TRIPLE")
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
/usr/bin/python3 tests/make_pickles.py "$seeds/gen" "$seeds/PWNED" >/dev/null
mkdir -p fuzz/artifacts
for t in pickle zip scan manifest; do
    corpus=fuzz/corpus/$t
    mkdir -p "$corpus"
    cp "$seeds"/gen/* "$corpus"/ 2>/dev/null || true
    printf '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  model.pt\n' > "$corpus/manifest-seed"
    echo "== fuzz $t for ${SECS}s"
    "fuzz/target/$TRIPLE/release/$t" -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix=fuzz/artifacts/$t- -print_final_stats=1 "$corpus" 2>&1 \
        | grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|SUMMARY|.*panicked)" || true
    if ls fuzz/artifacts/$t-* >/dev/null 2>&1; then
        echo "fuzz: $t found a crash: $(ls fuzz/artifacts/$t-*)"; exit 1
    fi
done
echo "fuzz: no crash"
