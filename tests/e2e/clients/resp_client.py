#!/usr/bin/python3
"""resp_client.py: drives canopyd's RESP listener with redis-py (Debian's python3-redis) for the
e2e test (tests/e2e/resp_e2e_test.cc), which compares every answer with GitLab's SQL.

  python3 resp_client.py (--host H --port P | --unix PATH) [--password TOKEN] [--username NAME]
                         [--pipeline] COMMANDS_FILE

COMMANDS_FILE: one command per line as a JSON array of strings, e.g. ["ANCESTORS","5","SELF"].
Prints one JSON line per command, in order: the reply as JSON (integers, strings, arrays, null)
or {"err":"<the error line>"} for an error reply. Every command goes through
`execute_command` (what an app uses for a command redis-py does not know). With --pipeline all
commands go through one `pipeline(transaction=False)` (one round trip), errors in place.

redis-py strips the first word of the error replies it maps to exception classes ("ERR ...",
"NOAUTH ...", "LOADING ..."); this script records the line the server sent on each exception
(a wrapper around the parser's parse_error that changes nothing else), so the test sees it.
A connection-level failure is {"err":"CONNECTION <class>: <message>"}.
"""
import argparse
import json
import sys

import redis
from redis import connection, exceptions


_parse_error = connection.BaseParser.parse_error


def _parse_error_keeping_the_line(self, response):
    error = _parse_error(self, response)
    error.wire_line = response
    return error


connection.BaseParser.parse_error = _parse_error_keeping_the_line


def wire_error(error):
    """The error line as the server sent it."""
    line = getattr(error, "wire_line", None)
    if line is not None:
        return line
    return "CONNECTION %s: %s" % (type(error).__name__, error)


def dump(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix")
    parser.add_argument("--password")
    parser.add_argument("--username")
    parser.add_argument("--pipeline", action="store_true")
    parser.add_argument("commands_file")
    args = parser.parse_args()

    with open(args.commands_file, encoding="utf-8") as f:
        commands = [json.loads(line) for line in f if line.strip()]

    options = dict(password=args.password, username=args.username, decode_responses=True,
                   socket_timeout=30, socket_connect_timeout=30)  # bounded waits
    if args.unix:
        r = redis.Redis(unix_socket_path=args.unix, **options)
    else:
        r = redis.Redis(host=args.host, port=args.port, **options)

    out = []
    if args.pipeline:
        pipe = r.pipeline(transaction=False)
        for c in commands:
            pipe.execute_command(*c)
        try:
            replies = pipe.execute(raise_on_error=False)
        except exceptions.RedisError as e:  # the connection, not a reply
            replies = [e] * len(commands)
        for reply in replies:
            if isinstance(reply, exceptions.RedisError):
                out.append(dump({"err": wire_error(reply)}))
            else:
                out.append(dump(reply))
    else:
        for c in commands:
            try:
                out.append(dump(r.execute_command(*c)))
            except exceptions.RedisError as e:
                out.append(dump({"err": wire_error(e)}))
    sys.stdout.buffer.write(("\n".join(out) + ("\n" if out else "")).encode("utf-8"))


if __name__ == "__main__":
    main()
