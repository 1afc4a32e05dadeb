// IsPermanentReplicationError: which errors make the replica give up (state
// failed) instead of retrying with backoff. Labels: decoder, cdc.
#include <gtest/gtest.h>

#include "canopy/cdc/replica.h"

namespace canopy::cdc {
namespace {

TEST(PermanentReplicationError, MissingThingsAndRefusalsArePermanent) {
  // As libpq words refused connections (no SQLSTATE).
  EXPECT_TRUE(IsPermanentReplicationError(
      Status::Unavailable("cannot connect to PostgreSQL: connection to server on socket "
                          "\"/tmp/s/.s.PGSQL.5432\" failed: FATAL:  "
                          "database \"gitlab_missing\" does not exist")));
  EXPECT_TRUE(IsPermanentReplicationError(
      Status::Unavailable("cannot connect to PostgreSQL: connection to server at \"127.0.0.1\", "
                          "port 5432 failed: FATAL:  password "
                          "authentication failed for user \"canopy\"")));
  EXPECT_TRUE(IsPermanentReplicationError(
      Status::Unavailable("cannot connect to PostgreSQL: connection to server failed: FATAL:  must "
                          "be superuser or replication role "
                          "to start walsender")));
  // As PgConnection::Error words server errors.
  EXPECT_TRUE(IsPermanentReplicationError(Status::FailedPrecondition(
      "CREATE PUBLICATION: ERROR:  permission denied for database x (SQLSTATE 42501)")));
  EXPECT_TRUE(IsPermanentReplicationError(Status::FailedPrecondition(
      "COPY (SELECT ...: ERROR:  column \"archived\" does not exist (SQLSTATE 42703)")));
  EXPECT_TRUE(IsPermanentReplicationError(Status::FailedPrecondition(
      "SELECT ...: ERROR:  relation \"public.projects\" does not exist (SQLSTATE 42P01)")));
}

TEST(PermanentReplicationError, TransientTroubleIsRetried) {
  EXPECT_FALSE(IsPermanentReplicationError(Status()));
  EXPECT_FALSE(IsPermanentReplicationError(
      Status::Unavailable("cannot connect to PostgreSQL: connection to server at \"127.0.0.1\", "
                          "port 1 failed: Connection refused")));
  EXPECT_FALSE(IsPermanentReplicationError(
      Status::Unavailable("cannot connect to PostgreSQL: connection to server failed: FATAL:  the "
                          "database system is starting up")));
  EXPECT_FALSE(IsPermanentReplicationError(
      Status::Unavailable("reading the replication stream: connection lost: FATAL:  terminating "
                          "connection due to administrator "
                          "command (SQLSTATE 57P01)")));
  EXPECT_FALSE(IsPermanentReplicationError(
      Status::FailedPrecondition("CREATE_REPLICATION_SLOT: ERROR:  replication slot \"s\" is "
                                 "active for PID 7 (SQLSTATE 55006)")));
  EXPECT_FALSE(IsPermanentReplicationError(Status::Unavailable(
      "server closed the replication connection without an error (PostgreSQL shutting down?)")));
}

}  // namespace
}  // namespace canopy::cdc
