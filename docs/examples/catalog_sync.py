# Keep a catalog_resources table (project id, name, description, visibility_level) in step with
# `projects` from canopyd's change feed (docs/feed.md). This replaces GitLab's trigger on
# `projects`, its sync-event queue table and the worker that polls it. canopyd carries the
# description, a column its index does not keep: start it with --feed-columns
# projects.description. Debian: python3-redis, python3-psycopg2.
#
#   CANOPY_RESP_SOCKET=/run/canopy/resp.sock CATALOG_DSN="dbname=gitlab" python3 catalog_sync.py
#   ... python3 catalog_sync.py --once     # catch up with canopyd's position now, then exit
#
# Exactly-once effect: the rows and the feed position they reach commit in one transaction, so
# a worker killed at any point resumes from its last commit. A position canopyd no longer holds
# (it restarted, or this worker was down longer than --feed-window) is answered OUTOFRANGE; the
# worker then resynchronises. It takes canopyd's position P, copies `projects` in one
# transaction, and replays the feed from P. Every change carries the row's new values, and
# replaying one the copy already holds is harmless, so the table ends equal to `projects`.
#
# PostgreSQL streams a commit a moment before other sessions see its rows. So before it reads
# `projects` for what the feed has reached (its copy; an insert without its description), the
# worker waits for the transactions begun so far to end (wait_for_commits): else the copy could
# miss the one at P, and such an insert could find no row.
#
# The position also moves without changes (other tables' commits, this worker's own writes). It
# is stored with the next change, or once STORE_IDLE_SECONDS (CATALOG_STORE_IDLE_SECONDS) have
# passed since the last store: storing every such move at once would commit, which moves the
# position again, in a busy loop.
import os
import sys
import time

import json
import psycopg2
import redis

FEED_OPTIONS = ["TABLES", "projects",
                "COLUMNS", "projects.name,projects.description,projects.visibility_level",
                "COUNT", 100]

STORE_IDLE_SECONDS = float(os.environ.get("CATALOG_STORE_IDLE_SECONDS", "10"))
LOG_WAIT_SECONDS = 10.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog_resources (
  project_id bigint PRIMARY KEY, name text, description text, visibility_level integer);
CREATE TABLE IF NOT EXISTS catalog_sync_position (
  id integer PRIMARY KEY CHECK (id = 1), lsn text NOT NULL);
"""


def lsn_value(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def store_position(cur, position):
    cur.execute("INSERT INTO catalog_sync_position VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET lsn = EXCLUDED.lsn", (position,))


def wait_for_commits(db):
    """Waits until every transaction begun before this call has ended.

    PostgreSQL writes a commit to the WAL, which logical replication streams at once, a moment
    before other sessions see its rows (longer with a synchronous standby, which the commit waits
    for first). So a transaction that canopyd has already applied can still be invisible here. Its
    id is below the one this call takes, and it is open in a snapshot taken after that. The wait
    has no bound: a transaction begun earlier and still open (a long one) holds it up, and it is
    logged every LOG_WAIT_SECONDS. REQUIRES: no transaction of `db` open (each step commits)."""
    with db, db.cursor() as cur:
        cur.execute("SELECT pg_current_xact_id()")  # above every transaction id handed out so far
        mark = cur.fetchone()[0]
    logged = time.monotonic()
    while True:
        with db, db.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot()) x "
                        "WHERE x < %s::xid8", (mark,))
            if cur.fetchone()[0] == 0:
                return
        if time.monotonic() - logged >= LOG_WAIT_SECONDS:
            print("waiting for transactions begun before", mark, "to end", flush=True)
            logged = time.monotonic()
        time.sleep(0.01)


def resynchronise(db, feed):
    position, _ = feed.execute_command("FEED", "$")  # what canopyd has applied now
    wait_for_commits(db)  # every transaction up to `position` visible to the copy
    with db, db.cursor() as cur:
        cur.execute("DELETE FROM catalog_resources")
        cur.execute("INSERT INTO catalog_resources "
                    "SELECT id, name, description, visibility_level FROM projects")
        store_position(cur, position)
    print("resynchronised at", position, flush=True)
    return position


def reads_projects(change):
    """An insert without its description: an UPDATE that changed the id left it unchanged."""
    return change["op"] == "insert" and "description" not in change["after"]


def apply(cur, transaction):
    for change in transaction["changes"]:
        if change["op"] == "truncate":
            cur.execute("DELETE FROM catalog_resources")
        elif change["op"] == "delete":
            cur.execute("DELETE FROM catalog_resources WHERE project_id = %s", (change["id"],))
        else:  # insert, or an update of the name, the description or the visibility level
            row = change["after"]
            # A description the change left out is unchanged (an UPDATE of another column that
            # left a large, TOASTed description alone): keep ours. null is a NULL description.
            sent = "description" in row
            value = row.get("description")
            if reads_projects(change):  # (after wait_for_commits: its row is visible, or gone)
                cur.execute("SELECT description FROM projects WHERE id = %s", (change["id"],))
                found = cur.fetchone()
                if found is None:  # a later transaction deleted it (the feed brings that too)
                    continue
                value = found[0]
            cur.execute("INSERT INTO catalog_resources VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (project_id) DO UPDATE SET name = EXCLUDED.name, "
                        "visibility_level = EXCLUDED.visibility_level, "
                        "description = CASE WHEN %s THEN EXCLUDED.description "
                        "ELSE catalog_resources.description END",
                        (change["id"], row["name"], value, row["visibility_level"],
                         sent or change["op"] == "insert"))


def main():
    once = "--once" in sys.argv[1:]
    feed = redis.Redis(unix_socket_path=os.environ["CANOPY_RESP_SOCKET"], decode_responses=True,
                       password=os.environ.get("CANOPY_TOKEN"))
    db = psycopg2.connect(os.environ["CATALOG_DSN"])
    db.set_session(isolation_level="READ COMMITTED")  # each statement sees what has committed
    with db, db.cursor() as cur:
        cur.execute(SCHEMA)
        cur.execute("SELECT lsn FROM catalog_sync_position")
        stored = cur.fetchone()
    position = stored[0] if stored else None
    stored_position = position
    stored_at = time.monotonic()
    target = None
    while True:
        try:
            if position is None:
                position = stored_position = resynchronise(db, feed)
                stored_at = time.monotonic()
            if once and target is None:
                target, _ = feed.execute_command("FEED", "$")
            if once and lsn_value(position) >= lsn_value(target):
                if position != stored_position:
                    with db, db.cursor() as cur:
                        store_position(cur, position)
                return 0
            next_position, transactions = feed.execute_command(
                "FEED", position, *FEED_OPTIONS, "BLOCK", 1000)
        except redis.exceptions.ConnectionError as error:  # canopyd restarting
            print("canopyd unreachable:", error, flush=True)
            time.sleep(0.5)
            continue
        except redis.exceptions.ResponseError as error:
            text = str(error)
            if "OUTOFRANGE" in text or "no longer holds" in text or "in the future" in text:
                print("position", position, "is gone:", text, flush=True)
                position = None  # resynchronise
                continue
            if text.startswith("SHUTDOWN"):  # canopyd stopping (LOADING is a ConnectionError)
                print("canopyd unavailable:", text, flush=True)
                time.sleep(0.5)
                continue
            raise
        changes = [json.loads(text) for text in transactions]
        if any(reads_projects(change) for t in changes for change in t["changes"]):
            wait_for_commits(db)  # what those inserts read from projects visible first
        if any(t["changes"] for t in changes) or (
                next_position != stored_position and
                time.monotonic() - stored_at >= STORE_IDLE_SECONDS):
            with db, db.cursor() as cur:  # the rows and the position: one transaction
                for transaction in changes:
                    apply(cur, transaction)
                store_position(cur, next_position)
            stored_position, stored_at = next_position, time.monotonic()
        position = next_position


if __name__ == "__main__":
    sys.exit(main())
