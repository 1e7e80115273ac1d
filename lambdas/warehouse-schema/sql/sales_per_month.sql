-- Sales per month (the first day of the month).
--
-- Cancellations are excluded from the sales columns: a cancellation (invoice
-- number C..., negative quantity) refunds an earlier sale, usually of an
-- earlier month, so netting it here would understate this month's sales.
-- They are counted apart (cancellations, cancelled_amount, negative) and
-- net_revenue nets everything recorded in the month.
-- Sales lines are lines of non-cancelled invoices with a positive quantity:
-- stock adjustments (negative quantities at price 0 outside C invoices) are
-- left out, and so are accounting adjustments (invoice number A..., such as
-- the "Adjust bad debt" lines A563185 to A563187, whose unit price may be
-- negative): they are not sales, but net_revenue includes them.
-- Revenue includes postage and fees (POST, DOT, M, ...) as invoiced.
CREATE VIEW public.sales_per_month AS
SELECT
    CAST(DATE_TRUNC('month', invoice_date) AS DATE) AS sales_month,
    COUNT(DISTINCT CASE WHEN NOT is_cancellation AND quantity > 0 AND invoice_no NOT LIKE 'A%' THEN invoice_no END) AS invoices,
    COUNT(DISTINCT CASE WHEN NOT is_cancellation AND quantity > 0 AND invoice_no NOT LIKE 'A%' THEN customer_id END) AS customers,
    SUM(CASE WHEN NOT is_cancellation AND quantity > 0 AND invoice_no NOT LIKE 'A%' THEN quantity ELSE 0 END) AS units_sold,
    SUM(CASE WHEN NOT is_cancellation AND quantity > 0 AND invoice_no NOT LIKE 'A%' THEN line_total ELSE 0 END) AS revenue,
    COUNT(DISTINCT CASE WHEN is_cancellation THEN invoice_no END) AS cancellations,
    SUM(CASE WHEN is_cancellation THEN line_total ELSE 0 END) AS cancelled_amount,
    SUM(line_total) AS net_revenue
FROM public.transactions
GROUP BY 1
