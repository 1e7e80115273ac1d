-- Invoices by total, biggest first (size_rank 1 is the biggest).
--
-- Cancellation invoices (C...) are excluded: they are refunds, not invoices
-- of their own size; so are accounting adjustments (A..., bad debt). An invoice's total is all of its lines, postage and fees
-- included, as the customer was charged.
CREATE VIEW public.biggest_invoices AS
SELECT
    invoice_no,
    invoiced_at,
    customer_id,
    country,
    lines,
    units,
    total,
    RANK() OVER (ORDER BY total DESC) AS size_rank
FROM (
    SELECT
        invoice_no,
        MIN(invoice_date) AS invoiced_at,
        MAX(customer_id) AS customer_id,
        MAX(country) AS country,
        COUNT(*) AS lines,
        SUM(quantity) AS units,
        SUM(line_total) AS total
    FROM public.transactions
    WHERE NOT is_cancellation
      AND invoice_no NOT LIKE 'A%'
    GROUP BY invoice_no
) AS invoices
