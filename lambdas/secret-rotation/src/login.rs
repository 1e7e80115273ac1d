//! A secret's value as the warehouse's secrets hold it (`{"username",
//! "password", ...}`), checked before any SQL is written with it, and the
//! form its password takes in `ALTER USER`.

use redshift_statements::login::{password_hash, plain_identifier, redshift_password};
use serde_json::{Map, Value};

/// A secret's JSON value: the username and password the SQL uses, and
/// every field as it was, so a new version keeps the other fields.
#[derive(Clone, PartialEq)]
pub struct SecretValue {
    pub username: String,
    pub password: String,
    fields: Map<String, Value>,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a secret's value cannot be used; never holds the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValueError {
    #[error("it is not a JSON object with string `username` and `password`")]
    Malformed,
    #[error(
        "its username {0:?} is not a plain Redshift identifier (lower-case letters, digits and _, \
         starting with a letter or _, at most 127 bytes), as the schema creates them"
    )]
    Username(String),
    #[error(
        "its password is not usable by Redshift (8 to 64 characters, with an upper-case letter, a \
         lower-case letter and a digit, none of ' \" \\ / @ or space)"
    )]
    Password,
}

impl SecretValue {
    /// Parses and checks a secret string.
    pub fn parse(text: &str) -> Result<SecretValue, ValueError> {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) else {
            return Err(ValueError::Malformed);
        };
        let field = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(username), Some(password)) = (field("username"), field("password")) else {
            return Err(ValueError::Malformed);
        };
        if !plain_identifier(&username) {
            return Err(ValueError::Username(username));
        }
        Ok(SecretValue {
            username,
            password,
            fields,
        })
    }

    /// The same value with a new password, checked.
    pub fn with_password(&self, password: String) -> Result<SecretValue, ValueError> {
        if !redshift_password(&password) {
            return Err(ValueError::Password);
        }
        let mut fields = self.fields.clone();
        fields.insert("password".into(), Value::String(password.clone()));
        Ok(SecretValue {
            username: self.username.clone(),
            password,
            fields,
        })
    }

    /// Checks the password as Redshift will.
    pub fn checked_password(self) -> Result<SecretValue, ValueError> {
        if redshift_password(&self.password) {
            Ok(self)
        } else {
            Err(ValueError::Password)
        }
    }

    /// The JSON text to store.
    pub fn to_secret_string(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }

    /// `md5` followed by the hex MD5 of the password then the username:
    /// the form `ALTER USER ... PASSWORD` takes instead of the clear text
    /// (the same as `warehouse-schema` sends).
    pub fn password_hash(&self) -> String {
        password_hash(&self.username, &self.password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_password_keeps_every_other_field() {
        let value = SecretValue::parse(
            r#"{"username":"retail_owner","password":"Old1password","engine":"redshift"}"#,
        )
        .unwrap();
        let new = value.with_password("New2password".into()).unwrap();
        let stored: Value = serde_json::from_str(&new.to_secret_string()).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"username":"retail_owner","password":"New2password","engine":"redshift"})
        );
    }

    #[test]
    fn a_username_that_would_need_quoting_is_refused() {
        for username in ["Retail", "retail owner", "x\"; DROP USER y; --", "", "1abc"] {
            let text = serde_json::json!({"username": username, "password": "Abcdefg1"});
            assert_eq!(
                SecretValue::parse(&text.to_string()),
                Err(ValueError::Username(username.into())),
                "{username:?}"
            );
        }
    }

    #[test]
    fn a_value_without_username_or_password_is_malformed() {
        for text in [
            "not json",
            "[]",
            r#"{"username":"a"}"#,
            r#"{"password":"A"}"#,
        ] {
            assert_eq!(
                SecretValue::parse(text),
                Err(ValueError::Malformed),
                "{text}"
            );
        }
    }

    #[test]
    fn a_password_redshift_refuses_is_refused_before_any_sql() {
        let value = SecretValue::parse(r#"{"username":"u","password":"x"}"#).unwrap();
        for password in [
            "short1A",
            "nouppercase1",
            "NoDigitsHere",
            "Has'Quote1",
            "Has Space1",
        ] {
            assert_eq!(
                value.with_password(password.into()),
                Err(ValueError::Password),
                "{password}"
            );
        }
        assert_eq!(value.checked_password(), Err(ValueError::Password));
    }

    #[test]
    fn the_hash_is_md5_of_password_then_username() {
        // md5("Abcdefg1" || "retail_owner"), as Redshift computes it.
        let value =
            SecretValue::parse(r#"{"username":"retail_owner","password":"Abcdefg1"}"#).unwrap();
        let hash = value.password_hash();
        assert!(hash.starts_with("md5") && hash.len() == 35, "{hash}");
        assert!(!hash.contains("Abcdefg1"));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let value =
            SecretValue::parse(r#"{"username":"retail_owner","password":"Abcdefg1"}"#).unwrap();
        assert!(!format!("{value:?}").contains("Abcdefg1"));
    }
}
