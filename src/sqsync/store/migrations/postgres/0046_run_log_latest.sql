-- PostgreSQL twin of ../0046_run_log_latest.sql (the same statements).
-- The run log grows by a row per job per run (at frequency = 1 over 100 connections,
-- about 290,000 a day), so its lookups must not scan it (issue 15). Every SQLite index
-- ends with the rowid, so (connection, job) finds a job's latest run by walking back
-- from its end, and (connection, outcome) a connection's latest failure the same way.
-- started_at serves the retention delete of old rows. The index on
-- (connection, job, started_at) ordered by time, which the lookups never used.
DROP INDEX IF EXISTS run_log_connection_job;
CREATE INDEX run_log_job_latest ON run_log (connection, job);
CREATE INDEX run_log_outcome_latest ON run_log (connection, outcome);
CREATE INDEX run_log_started ON run_log (started_at);
