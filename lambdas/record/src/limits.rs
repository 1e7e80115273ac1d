//! Size limits shared by validation and the warehouse column types, so a
//! row that passes validation always loads (Redshift `VARCHAR(n)` counts
//! bytes, and a value too long fails the whole COPY unless truncated).

use crate::money::Money;

pub const INVOICE_NO_BYTES: usize = 16;
pub const STOCK_CODE_BYTES: usize = 32;
pub const DESCRIPTION_BYTES: usize = 256;
pub const CUSTOMER_ID_BYTES: usize = 16;
pub const COUNTRY_BYTES: usize = 64;
/// A `LineId` is 16 hex digits plus a one-letter source tag and `-`.
pub const LINE_ID_BYTES: usize = 18;
/// The largest unit price `DECIMAL(12,3)` holds.
pub const MAX_UNIT_PRICE: Money = Money::from_thousandths(999_999_999_999);
/// The longest idempotency key a client may send: a file path and a line
/// number fit easily; the key is hashed into the [`crate::LineId`], so its
/// length costs nothing downstream.
pub const IDEMPOTENCY_KEY_BYTES: usize = 256;
