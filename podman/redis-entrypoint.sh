#!/bin/sh
# Redis started without a config file listens on every address with protected mode on, so it
# refuses the other containers. The official image is built with protected mode off; this
# does the same at start, before the arguments compose gives (which still win).
set -e
if [ "$1" = redis-server ]; then
    shift
    set -- redis-server --protected-mode no "$@"
fi
exec "$@"
