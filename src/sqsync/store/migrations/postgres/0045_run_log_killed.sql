-- PostgreSQL twin of ../0045_run_log_killed.sql: the outcome check gains 'killed'.
ALTER TABLE run_log DROP CONSTRAINT run_log_outcome_check;
ALTER TABLE run_log ADD CONSTRAINT run_log_outcome_check
    CHECK (outcome IN ('running', 'ok', 'failed', 'skipped', 'killed'));
