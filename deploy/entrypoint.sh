#!/bin/sh
# Container entrypoint for fediaid.
#
# First start only (no $FEDIAID_DATA/fediaid.toml yet): run `fediaid init` from
#   FEDIAID_DOMAIN      e.g. aid.example.org          (required)
#   FEDIAID_GROUP       e.g. elmst                    (required)
#   FEDIAID_GROUP_NAME  e.g. "Elm St Mutual Aid"      (optional)
# init prints a one-time login link for the first coordinator: read it with
# `docker compose logs web`.
# Then run the container's command (default: fediaid serve --host 0.0.0.0 --port 8000).
#
# FEDIAID_AUTO_INIT=0 disables the automatic init (compose sets it on the
# worker, so that only the web service ever initialises the data directory).
set -eu

data="${FEDIAID_DATA:-/data}"

fail() {
    echo "fediaid-entrypoint: $*" >&2
    exit 1
}

if [ ! -f "$data/fediaid.toml" ] && [ "${1:-} ${2:-}" != "fediaid init" ]; then
    if [ "${FEDIAID_AUTO_INIT:-1}" = "0" ]; then
        fail "$data is not initialised yet (no fediaid.toml); start the web service first"
    fi
    [ -w "$data" ] || fail "$data is not writable by uid $(id -u); for a bind mount run: chown $(id -u):$(id -g) <host dir>"
    [ -n "${FEDIAID_DOMAIN:-}" ] || fail "FEDIAID_DOMAIN must be set for the first start"
    [ -n "${FEDIAID_GROUP:-}" ] || fail "FEDIAID_GROUP must be set for the first start"

    echo "fediaid-entrypoint: first start, running fediaid init for $FEDIAID_GROUP@$FEDIAID_DOMAIN" >&2
    if [ -n "${FEDIAID_GROUP_NAME:-}" ]; then
        fediaid init --data "$data" --domain "$FEDIAID_DOMAIN" --group "$FEDIAID_GROUP" --name "$FEDIAID_GROUP_NAME"
    else
        fediaid init --data "$data" --domain "$FEDIAID_DOMAIN" --group "$FEDIAID_GROUP"
    fi
fi

exec "$@"
