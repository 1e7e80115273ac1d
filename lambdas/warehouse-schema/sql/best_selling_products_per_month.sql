-- Best-selling products per month, ranked by units sold and by revenue
-- (filter on rank_by_units <= 10 for a top ten).
--
-- Products only: stock codes of five digits and an optional letter suffix
-- (85123A), the same rule as record::Transaction::is_product; postage, fees,
-- discounts and manual entries (POST, DOT, M, D, BANK CHARGES, ...) are left
-- out. Cancellations, stock adjustments (quantity <= 0) and accounting
-- adjustments (A... invoices) are excluded: this is what was sold, not what
-- was sold and kept.
CREATE VIEW public.best_selling_products_per_month AS
SELECT
    sales_month,
    stock_code,
    description,
    units_sold,
    revenue,
    invoices,
    RANK() OVER (PARTITION BY sales_month ORDER BY units_sold DESC) AS rank_by_units,
    RANK() OVER (PARTITION BY sales_month ORDER BY revenue DESC) AS rank_by_revenue
FROM (
    SELECT
        CAST(DATE_TRUNC('month', invoice_date) AS DATE) AS sales_month,
        stock_code,
        MAX(description) AS description,
        SUM(quantity) AS units_sold,
        SUM(line_total) AS revenue,
        COUNT(DISTINCT invoice_no) AS invoices
    FROM public.transactions
    WHERE NOT is_cancellation
      AND quantity > 0
      AND invoice_no NOT LIKE 'A%'
      AND stock_code ~ '^[0-9]{5}[A-Za-z]*$'
    GROUP BY 1, 2
) AS monthly
