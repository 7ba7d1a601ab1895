# Shared by the end-to-end suites (scripts/docker-e2e.sh, scripts/podman-e2e.sh): sourced.
pass=0
fail=0
check() { # NAME, then a command that must succeed
    local name=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
        echo "ok   $name"
    else
        fail=$((fail + 1))
        echo "FAIL $name"
    fi
}
# TEXT NEEDLE: whether TEXT contains NEEDLE; if not, say so with TEXT's end
contains() { grep -qF -- "$2" <<<"$1" || { echo "  expected \"$2\" in:"; sed 's/^/    /' <<<"$1" | tail -15; return 1; }; }
