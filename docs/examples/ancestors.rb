# Ask canopyd what is above a group, over its Redis protocol (redis-rb; Debian: ruby-redis).
#   CANOPY_RESP_HOST=127.0.0.1 CANOPY_RESP_PORT=6380 ruby ancestors.rb GROUP_ID [GROUP_ID...]
require "redis"

redis = Redis.new(host: ENV.fetch("CANOPY_RESP_HOST", "127.0.0.1"),
                  port: Integer(ENV.fetch("CANOPY_RESP_PORT", "6380")),
                  password: ENV["CANOPY_TOKEN"]) # nil: canopyd runs without --token-file
group_ids = ARGV.map { |id| Integer(id) }

# group.self_and_ancestors: root first, the group itself last.
ids = redis.call("ANCESTORS", group_ids.first, "SELF")
puts "self_and_ancestors: #{ids.inspect}"

# Many groups, one round trip.
batch = redis.pipelined do |pipeline|
  group_ids.each { |id| pipeline.call("ANCESTORS", id) }
end
puts "ancestors: #{batch.inspect}"

# Read your own write: after a commit (a transfer, a new subgroup), pass its LSN
# (SELECT pg_current_wal_lsn()); canopyd answers once it has applied it.
if (lsn = ENV["CANOPY_MIN_LSN"])
  ids = redis.call("DESCENDANTS", group_ids.first, "MINLSN", lsn, "WAITMS", 2000)
  puts "descendants: #{ids.inspect}"
end
