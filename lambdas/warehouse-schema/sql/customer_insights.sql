-- One row per known customer: what they spent, how often, since when.
--
-- Lines without a customer (about a quarter of the retailer's rows) are left
-- out. Spend, invoice count, average invoice and first/last purchase count
-- purchases only (cancellations excluded); cancellations are shown apart, and
-- net_spend is purchases plus (negative) cancellations.
CREATE VIEW public.customer_insights AS
SELECT
    customer_id,
    MAX(country) AS country,
    COUNT(DISTINCT CASE WHEN NOT is_cancellation THEN invoice_no END) AS invoices,
    SUM(CASE WHEN NOT is_cancellation THEN line_total ELSE 0 END) AS total_spend,
    SUM(CASE WHEN NOT is_cancellation THEN line_total ELSE 0 END)
        / NULLIF(COUNT(DISTINCT CASE WHEN NOT is_cancellation THEN invoice_no END), 0)
        AS average_invoice,
    MIN(CASE WHEN NOT is_cancellation THEN invoice_date END) AS first_purchase,
    MAX(CASE WHEN NOT is_cancellation THEN invoice_date END) AS last_purchase,
    COUNT(DISTINCT CASE WHEN is_cancellation THEN invoice_no END) AS cancelled_invoices,
    SUM(CASE WHEN is_cancellation THEN line_total ELSE 0 END) AS cancelled_amount,
    SUM(line_total) AS net_spend
FROM public.transactions
WHERE customer_id IS NOT NULL
GROUP BY customer_id
