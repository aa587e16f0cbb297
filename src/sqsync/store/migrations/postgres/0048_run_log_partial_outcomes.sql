-- PostgreSQL twin of ../0048_run_log_partial_outcomes.sql (the same statements).
-- The run log's outcome index covered every row, so a cron run that prunes a minute of
-- old 'ok' rows (200 at 100 connections) rewrote a page of it per connection, and every
-- finished run moved an entry in it, for the two lookups that only ever ask for rare
-- outcomes: a connection's latest failure (status) and its 'running' rows (marked
-- 'killed' under the lock). Partial indexes hold only those rows, so they stay a few
-- pages however long the log (issue 15). id is named so that PostgreSQL, whose indexes
-- do not end with the row id as SQLite's do, walks back to the latest failure too.
DROP INDEX IF EXISTS run_log_outcome_latest;
CREATE INDEX run_log_failed ON run_log (connection, id) WHERE outcome = 'failed';
CREATE INDEX run_log_running ON run_log (connection) WHERE outcome = 'running';
