#!/usr/bin/env bash
# buf breaking: the protos of the work tree against those of main's previous commit,
# HEAD~1 on main, the merge-base with main on a branch (main or origin/main).
# A clone without that commit (shallow, or no git at all) skips with a visible line.
# BUF: the buf binary (default: buf on PATH).
set -euo pipefail
buf=${BUF:-buf}
skip() { echo "buf breaking: skipped: $1"; exit 0; }

head=$(git rev-parse -q --verify HEAD 2>/dev/null) || skip "not a git checkout"
against=""
for main in main origin/main; do
    if main_commit=$(git rev-parse -q --verify "$main^{commit}" 2>/dev/null); then
        if [ "$main_commit" != "$head" ]; then
            against=$(git merge-base HEAD "$main" 2>/dev/null) || against=""
            [ "$against" = "$head" ] && against=""
        fi
        break
    fi
done
if [ -z "$against" ]; then
    against=$(git rev-parse -q --verify "HEAD~1^{commit}" 2>/dev/null) ||
        skip "no previous commit to compare with (a shallow clone?)"
fi
short=$(git rev-parse --short "$against")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$against" protos | tar -x -C "$tmp" 2>/dev/null || skip "no protos/ at $short"
"$buf" breaking protos --against "$tmp/protos"
echo "buf breaking: no breaking change against $short"
