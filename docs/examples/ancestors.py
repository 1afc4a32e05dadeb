# Ask canopyd what is above a group, over its Redis protocol (redis-py; Debian: python3-redis).
#   CANOPY_RESP_HOST=127.0.0.1 CANOPY_RESP_PORT=6380 python3 ancestors.py GROUP_ID [GROUP_ID...]
import os
import sys

import redis

r = redis.Redis(host=os.environ.get("CANOPY_RESP_HOST", "127.0.0.1"),
                port=int(os.environ.get("CANOPY_RESP_PORT", "6380")),
                password=os.environ.get("CANOPY_TOKEN"))  # None: canopyd runs without --token-file
group_ids = [int(arg) for arg in sys.argv[1:]]

# group.self_and_ancestors: root first, the group itself last.
ids = r.execute_command("ANCESTORS", group_ids[0], "SELF")
print("self_and_ancestors:", ids)

# Many groups, one round trip.
pipe = r.pipeline(transaction=False)
for group_id in group_ids:
    pipe.execute_command("ANCESTORS", group_id)
print("ancestors:", pipe.execute())

# Read your own write: after a commit (a transfer, a new subgroup), pass its LSN
# (SELECT pg_current_wal_lsn()); canopyd answers once it has applied it.
lsn = os.environ.get("CANOPY_MIN_LSN")
if lsn:
    ids = r.execute_command("DESCENDANTS", group_ids[0], "MINLSN", lsn, "WAITMS", 2000)
    print("descendants:", ids)
