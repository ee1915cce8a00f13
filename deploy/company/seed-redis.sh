#!/bin/sh
# Seeds the example company's session store once: the marker is set in the
# same store, which keeps its data on a volume, so a restart never brings
# back what a request erased.
set -eu
host=${REDIS_HOST:-company-redis}
if [ "$(redis-cli -h "$host" SET company:seeded 1 NX)" != "OK" ]; then
  echo "sessions already seeded"
  exit 0
fi
redis-cli -h "$host" < /seed/sessions.redis
echo "sessions seeded"
