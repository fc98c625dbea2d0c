#!/bin/bash
# Settings given as environment variables with dots in their names (discovery.type=...) become
# -E options, as the entrypoint of Elastic's image does, so compose's environment works as is.
set -euo pipefail
settings=()
while IFS='=' read -r -d '' name value; do
    if [[ "$name" =~ ^[a-z0-9_]+\.[a-z0-9_.]+$ ]]; then
        settings+=(-E "$name=$value")
    fi
done < <(env -0)
exec elasticsearch "${settings[@]}" "$@"
