#!/usr/bin/python3
"""feed_client.py: reads canopyd's change feed over RESP with redis-py (Debian's python3-redis),
for the e2e test (tests/e2e/feed_e2e_test.cc), the way an application would poll it:

  python3 feed_client.py --unix PATH --from LSN --until LSN [--subtree ID] [--count N]

Polls `FEED <position> COUNT n BLOCK 1000` from --from until the position reaches --until, and
prints one line per change: "<lsn> <table> <op> <id>" followed by the change's JSON (parsed with
json and dumped again, keys sorted). An error reply is printed as "ERROR <the error>" and exits 1.
"""
import argparse
import json
import sys

import redis


def lsn_value(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--unix", required=True)
    parser.add_argument("--from", dest="start", required=True)
    parser.add_argument("--until", required=True)
    parser.add_argument("--subtree")
    parser.add_argument("--count", default="50")
    args = parser.parse_args()

    client = redis.Redis(unix_socket_path=args.unix, decode_responses=True)
    position = args.start
    options = ["COUNT", args.count, "BLOCK", "1000"]
    if args.subtree:
        options += ["SUBTREE", args.subtree]
    while lsn_value(position) < lsn_value(args.until):
        try:
            position, transactions = client.execute_command("FEED", position, *options)
        except redis.exceptions.ResponseError as error:
            print("ERROR", error)
            return 1
        for text in transactions:
            transaction = json.loads(text)
            for change in transaction["changes"]:
                print(transaction["lsn"], change["table"], change["op"], change["id"],
                      json.dumps(change, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
