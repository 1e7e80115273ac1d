//! The retailer transaction record shared by every function.
