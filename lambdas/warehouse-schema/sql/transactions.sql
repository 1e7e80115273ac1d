-- The transactions table: one row per invoice line, loaded by Firehose (the
-- stream) and by batch-import (files), both with COPY ... FORMAT AS JSON 'auto',
-- which matches JSON keys to these lower-case column names. The columns and
-- sizes are record::WAREHOUSE_COLUMNS (tested); sizes are bytes, as the
-- validation in the record crate counts them.
--
-- line_id identifies the line at its source (the client's idempotency key,
-- file and line, or Kinesis shard and sequence number). Every load replaces
-- rows by line_id: batch-import's file loads, and the merge of what Firehose
-- COPYs into public.transactions_staging (transactions_staging.sql), so a
-- retried load or a repeated delivery does not duplicate them.
--
-- IF NOT EXISTS: the table and its data survive every deployment; a change of
-- columns needs a migration, not an edit of this file.
CREATE TABLE IF NOT EXISTS public.transactions (
    invoice_no VARCHAR(16) NOT NULL,
    stock_code VARCHAR(32) NOT NULL,
    description VARCHAR(256),
    quantity INTEGER NOT NULL,
    invoice_date TIMESTAMP NOT NULL,
    unit_price DECIMAL(12,3) NOT NULL,
    customer_id VARCHAR(16),
    country VARCHAR(64) NOT NULL,
    is_cancellation BOOLEAN NOT NULL,
    line_total DECIMAL(18,3) NOT NULL,
    line_id VARCHAR(18) NOT NULL
)
DISTSTYLE AUTO
SORTKEY (invoice_date)
