//! The functions' log subscriber, set up from Lambda's advanced logging
//! controls: for a custom runtime, Lambda passes the function's log format
//! in `AWS_LAMBDA_LOG_FORMAT` (every function's `LoggingConfig` asks for
//! JSON) and its application log level in `AWS_LAMBDA_LOG_LEVEL`
//! (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>);
//! without a level, INFO, as lambda_runtime did.
//!
//! This is what lambda_runtime's `init_default_subscriber` does, without
//! tracing-subscriber's `env-filter`, whose regex engine was in every zip
//! (issue 15): Lambda's controls name one level for the whole function, so
//! a level filter is all a function needs. `RUST_LOG` is still read when
//! Lambda sets no level, as a level; per-crate directives such as
//! `info,aws_sdk_s3=debug` are not supported, and say so in the log.

use tracing::level_filters::LevelFilter;

/// The level when neither variable names one, as lambda_runtime's default.
const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// Installs the process-wide subscriber: log lines to stdout, JSON when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON`, no timestamps (Lambda adds them).
pub fn init() {
    let format = std::env::var("AWS_LAMBDA_LOG_FORMAT").unwrap_or_default();
    let setting = LevelSetting::from_env(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(setting.level)
        .with_writer(std::io::stdout);
    if format.eq_ignore_ascii_case("json") {
        builder.json().init();
    } else {
        builder.init();
    }
    if let Some(unread) = setting.unread {
        tracing::warn!(
            value = unread.value,
            variable = unread.variable,
            "not a log level (TRACE, DEBUG, INFO, WARN, ERROR or FATAL); logging at {}",
            setting.level
        );
    }
}

/// The level the environment asks for, and a value that named none.
#[derive(Debug, PartialEq)]
struct LevelSetting {
    level: LevelFilter,
    unread: Option<Unread>,
}

#[derive(Debug, PartialEq)]
struct Unread {
    variable: &'static str,
    value: String,
}

impl LevelSetting {
    /// `AWS_LAMBDA_LOG_LEVEL` first, then `RUST_LOG`, as lambda_runtime
    /// reads them. Lambda's FATAL is tracing's ERROR (tracing has no
    /// FATAL; lambda_runtime fell back to INFO for it).
    fn from_env(lambda_level: Option<&str>, rust_log: Option<&str>) -> Self {
        let (variable, value) = match (lambda_level, rust_log) {
            (Some(value), _) => ("AWS_LAMBDA_LOG_LEVEL", value.trim()),
            (None, Some(value)) => ("RUST_LOG", value.trim()),
            (None, None) => {
                return LevelSetting {
                    level: DEFAULT_LEVEL,
                    unread: None,
                };
            }
        };
        let level = if value.eq_ignore_ascii_case("fatal") {
            Ok(LevelFilter::ERROR)
        } else {
            value.parse::<LevelFilter>()
        };
        match level {
            Ok(level) => LevelSetting {
                level,
                unread: None,
            },
            Err(_) => LevelSetting {
                level: DEFAULT_LEVEL,
                unread: Some(Unread {
                    variable,
                    value: value.to_owned(),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(lambda_level: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
        LevelSetting::from_env(lambda_level, rust_log).level
    }

    #[test]
    fn info_when_nothing_is_set() {
        assert_eq!(level(None, None), LevelFilter::INFO);
    }

    #[test]
    fn lambdas_application_log_level_is_the_level() {
        assert_eq!(level(Some("DEBUG"), None), LevelFilter::DEBUG);
        assert_eq!(level(Some("warn"), None), LevelFilter::WARN);
        assert_eq!(level(Some("TRACE"), Some("error")), LevelFilter::TRACE);
    }

    #[test]
    fn lambdas_fatal_is_error() {
        assert_eq!(level(Some("FATAL"), None), LevelFilter::ERROR);
    }

    #[test]
    fn rust_log_is_read_when_lambda_sets_no_level() {
        assert_eq!(level(None, Some("debug")), LevelFilter::DEBUG);
        assert_eq!(level(None, Some("off")), LevelFilter::OFF);
    }

    #[test]
    fn a_value_that_is_no_level_logs_at_info_and_is_reported() {
        let setting = LevelSetting::from_env(None, Some("info,aws_sdk_s3=debug"));
        assert_eq!(
            setting,
            LevelSetting {
                level: LevelFilter::INFO,
                unread: Some(Unread {
                    variable: "RUST_LOG",
                    value: "info,aws_sdk_s3=debug".into(),
                }),
            }
        );
        let setting = LevelSetting::from_env(Some("LOUD"), Some("debug"));
        assert_eq!(setting.level, LevelFilter::INFO);
        assert_eq!(setting.unread.unwrap().variable, "AWS_LAMBDA_LOG_LEVEL");
    }
}
