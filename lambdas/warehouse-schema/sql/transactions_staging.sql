-- Where Firehose COPYs the stream's lines. Firehose delivers at least once (a
-- retried COPY can load lines again), so nothing reads this table but the
-- merge that batch-import runs on its schedule (lambdas/batch-import/src/merge.rs):
-- it moves the rows into public.transactions, one per line_id, replacing rows
-- with the same line_id, in one locked transaction, and empties this table.
-- The views read public.transactions only.
--
-- LIKE: the same columns, types, distribution and sort key as the table.
CREATE TABLE IF NOT EXISTS public.transactions_staging (LIKE public.transactions);
