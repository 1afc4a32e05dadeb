#!/usr/bin/ruby
# frozen_string_literal: true

# resp_client.rb — drives canopyd's RESP listener with redis-rb (Debian's ruby-redis) for the
# e2e test (tests/e2e/resp_e2e_test.cc), which compares every answer with GitLab's SQL.
#
#   ruby resp_client.rb (--host H --port P | --unix PATH) [--password TOKEN] [--username NAME]
#                       [--pipeline] COMMANDS_FILE
#
# COMMANDS_FILE: one command per line as a JSON array of strings, e.g. ["ANCESTORS","5","SELF"].
# Prints one JSON line per command, in order: the reply as JSON (integers, strings, arrays, null)
# or {"err":"<the error line>"} for an error reply (CommandError: redis-rb keeps the whole line,
# "NOTFOUND ..."); a connection-level failure is {"err":"CONNECTION <class>: <message>"}.
# Every command goes through `redis.call` (what an app would use for a command redis-rb does not
# know). With --pipeline all commands are sent in one `redis.pipelined` block (one round trip);
# redis-rb 4 raises the first error reply of a pipeline, so then the script prints
# {"err":...} once and exits 1.
require "json"
require "redis"

options = { timeout: 30.0 } # bounded: the test's MINLSN waits are shorter
pipeline = false
file = nil
args = ARGV.dup
until args.empty?
  arg = args.shift
  case arg
  when "--host" then options[:host] = args.shift
  when "--port" then options[:port] = Integer(args.shift)
  when "--unix" then options[:path] = args.shift
  when "--password" then options[:password] = args.shift
  when "--username" then options[:username] = args.shift
  when "--pipeline" then pipeline = true
  else file = arg
  end
end
abort("usage: resp_client.rb (--host H --port P | --unix PATH) [--password T] FILE") unless file

commands = File.readlines(file, chomp: true).reject(&:empty?).map { |line| JSON.parse(line) }

# Replies as JSON; bulk strings arrive as binary (ASCII-8BIT) and are UTF-8 text here.
def plain(value)
  case value
  when Array then value.map { |v| plain(v) }
  when Hash then value.to_h { |k, v| [plain(k), plain(v)] }
  when String
    s = value.dup.force_encoding(Encoding::UTF_8)
    s.valid_encoding? ? s : s.scrub("\uFFFD")
  else value
  end
end

def line(value)
  JSON.generate(plain(value))
end

def error_line(error)
  message = plain(error.message)
  message = "CONNECTION #{error.class}: #{message}" unless error.is_a?(Redis::CommandError)
  JSON.generate({ "err" => message })
end

redis = Redis.new(**options)
$stdout.sync = false
if pipeline
  begin
    replies = redis.pipelined do |p|
      commands.each { |c| p.call(*c) }
    end
    replies.each { |r| puts line(r) }
  rescue Redis::BaseError => e
    puts error_line(e)
    exit 1
  end
else
  commands.each do |c|
    puts line(redis.call(*c))
  rescue Redis::BaseError => e
    puts error_line(e)
  end
end
$stdout.flush
