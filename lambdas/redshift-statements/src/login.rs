//! Redshift's rules for a database user's login, shared by the functions
//! that set passwords (warehouse-schema creates the users, secret-rotation
//! changes their passwords).

use md5::{Digest, Md5};

/// Only the identifiers the schema creates: no quoting or escaping can be
/// needed, so nothing a secret holds can change the SQL.
pub fn plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() < 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Redshift's rule for a clear-text password.
/// <https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_USER.html>
pub fn redshift_password(password: &str) -> bool {
    (8..=64).contains(&password.chars().count())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '\\' | '/' | '@'))
}

/// `md5` followed by the hex MD5 of the password then the username: the
/// form `CREATE USER` and `ALTER USER ... PASSWORD` take instead of the
/// clear text.
pub fn password_hash(username: &str, password: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(password.as_bytes());
    md5.update(username.as_bytes());
    let hex: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("md5{hex}")
}
