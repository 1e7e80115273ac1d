//! secret-rotation: Secrets Manager's rotation function for the
//! warehouse's secrets (the master user's and the owner's, loader's and
//! reader's, `stacks/src/platform/rotation.rs`).
//!
//! Secrets Manager invokes it four times per rotation with
//! `{"SecretId", "ClientRequestToken", "Step"}`, the token being the id of
//! the new version:
//!
//! - `createSecret`: a new password (`GetRandomPassword`, without the
//!   characters Redshift refuses) stored as the token's version with the
//!   stage AWSPENDING, the other fields of AWSCURRENT kept (username...);
//!   nothing when that version already has a value (a re-run).
//! - `setSecret`: `ALTER USER "<username>" PASSWORD 'md5...'` through the
//!   Redshift Data API, logged in as the master with the master secret
//!   (`MASTER_SECRET_ARN`). The Data API only ever logs in with a secret's
//!   AWSCURRENT, so this works for the master's own rotation too: it logs
//!   in with the old password and sets the new one. The password goes as
//!   its `md5` hash (as `warehouse-schema` sends it), so neither the SQL
//!   nor an error about it holds the clear text; errors are scrubbed of
//!   the password and the hash all the same.
//! - `testSecret`: checks that the user exists (`SELECT 1 FROM pg_user`,
//!   the number of rows read from `DescribeStatement`), except for the
//!   master's own secret: setSecret has changed its password already and
//!   the Data API still logs in with AWSCURRENT (the old one) until
//!   finishSecret, so no statement can run as the master then, and none is
//!   run. It does **not** log in with the new password: the Data API can only log in with a
//!   secret's AWSCURRENT (or temporary IAM credentials), never with the
//!   AWSPENDING version, and this function is outside the VPC, so it
//!   cannot open a connection of its own to a private cluster. A wrong
//!   password would show at the first login after finishSecret; the
//!   previous password is still AWSPREVIOUS then, to set back by hand.
//! - `finishSecret`: AWSCURRENT moved to the token's version
//!   (`UpdateSecretVersionStage`, removed from the current one);
//!   nothing when it is already there.
//!
//! Before any step, as AWS's reference rotation functions do: the secret
//! must have rotation enabled and the token must be one of its versions;
//! a version that is already AWSCURRENT ends the step (a re-run after
//! finishSecret), and one without AWSPENDING is refused.
//! <https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html>
//!
//! The calls are those `policies/lambda-secret-rotation.json.hbs` allows:
//! DescribeSecret, GetSecretValue, PutSecretValue and
//! UpdateSecretVersionStage on the four secrets, GetRandomPassword, and
//! the Data API's BatchExecuteStatement and DescribeStatement. No password
//! is ever logged.

pub mod login;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use redshift_statements::{Target, Wait};
use serde::Deserialize;
use tokio::time::Instant;

use login::{SecretValue, ValueError};

/// The stage of the version in use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The stage of the version being rotated to.
pub const AWSPENDING: &str = "AWSPENDING";

/// What Redshift refuses in a password: ' " \ / @ and space.
/// <https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_USER.html>
pub const EXCLUDED_CHARACTERS: &str = "'\"\\/@ ";
/// The length of a new password (Redshift takes 8 to 64).
pub const PASSWORD_LENGTH: i64 = 32;

/// Longest one SDK call may take, its retries included; Lambda's timeout
/// (`stacks/src/platform/rotation.rs`, 120 s) is far beyond it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one attempt may take, so the SDK can retry a stalled one.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
/// Longest the function waits for its one Data API statement.
pub const DATA_API_WAIT: Duration = Duration::from_secs(60);

/// The SDK clients' timeouts.
pub fn timeout_config() -> aws_sdk_secretsmanager::config::timeout::TimeoutConfig {
    aws_sdk_secretsmanager::config::timeout::TimeoutConfig::builder()
        .operation_timeout(CALL_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

/// The invocation Secrets Manager sends (it also sends `RotationToken`,
/// which this function does not need).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    pub secret_id: String,
    pub client_request_token: String,
    pub step: String,
}

/// The four rotation steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Set,
    Test,
    Finish,
}

impl Step {
    fn parse(step: &str) -> Option<Step> {
        match step {
            "createSecret" => Some(Step::Create),
            "setSecret" => Some(Step::Set),
            "testSecret" => Some(Step::Test),
            "finishSecret" => Some(Step::Finish),
            _ => None,
        }
    }
}

/// Where the users live and how to log in as the master, from the
/// function's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub cluster_identifier: String,
    pub database: String,
    /// The master user's secret: the Data API logs in with its AWSCURRENT.
    pub master_secret_arn: String,
}

impl Config {
    /// `CLUSTER_IDENTIFIER`, `DATABASE` and `MASTER_SECRET_ARN`, read with
    /// `var` (`std::env::var` in the function).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Config, RotationError> {
        let get = |name: &'static str| {
            var(name)
                .filter(|value| !value.is_empty())
                .ok_or(RotationError::Environment { name })
        };
        Ok(Config {
            cluster_identifier: get("CLUSTER_IDENTIFIER")?,
            database: get("DATABASE")?,
            master_secret_arn: get("MASTER_SECRET_ARN")?,
        })
    }
}

/// Why a step failed: Secrets Manager records the function's error and
/// retries the rotation. No variant holds a password.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("the function's environment has no {name}; the Warehouse stack sets it")]
    Environment { name: &'static str },
    #[error(
        "unknown rotation step {step:?} for secret {secret}; Secrets Manager sends createSecret, \
         setSecret, testSecret or finishSecret"
    )]
    UnknownStep { secret: String, step: String },
    #[error("describing secret {secret}: {detail}")]
    Describe { secret: String, detail: String },
    #[error("secret {secret} does not have rotation enabled; it has no rotation schedule")]
    RotationNotEnabled { secret: String },
    #[error("secret {secret} has no version {token}, so the rotation cannot go on")]
    NoSuchVersion { secret: String, token: String },
    #[error(
        "version {token} of secret {secret} is not AWSPENDING (its stages: {stages:?}); it is not \
         staged for rotation"
    )]
    NotPending {
        secret: String,
        token: String,
        stages: Vec<String>,
    },
    #[error("secret {secret} has no AWSCURRENT version")]
    NoCurrentVersion { secret: String },
    #[error("reading the {stage} version of secret {secret}: {detail}")]
    Read {
        secret: String,
        stage: &'static str,
        detail: String,
    },
    #[error("the {stage} version of secret {secret} cannot be used: {problem}")]
    Value {
        secret: String,
        stage: &'static str,
        #[source]
        problem: ValueError,
    },
    #[error(
        "the AWSPENDING version of secret {secret} names user {pending:?}, its AWSCURRENT \
         {current:?}; a rotation only changes the password"
    )]
    UserChanged {
        secret: String,
        current: String,
        pending: String,
    },
    #[error("generating a password for secret {secret}: {detail}")]
    RandomPassword { secret: String, detail: String },
    #[error("storing version {token} of secret {secret} as AWSPENDING: {detail}")]
    Put {
        secret: String,
        token: String,
        detail: String,
    },
    #[error(
        "setting the password of user {username} (secret {secret}) through the Data API on \
         cluster {cluster}: {detail}"
    )]
    SetPassword {
        secret: String,
        username: String,
        cluster: String,
        detail: String,
    },
    #[error(
        "checking that user {username} (secret {secret}) exists through the Data API on cluster \
         {cluster}: {detail}"
    )]
    Test {
        secret: String,
        username: String,
        cluster: String,
        detail: String,
    },
    #[error(
        "user {username} of secret {secret} does not exist on cluster {cluster}; the schema \
         custom resource creates it"
    )]
    NoSuchUser {
        secret: String,
        username: String,
        cluster: String,
    },
    #[error("moving AWSCURRENT of secret {secret} to version {token}: {detail}")]
    Finish {
        secret: String,
        token: String,
        detail: String,
    },
}

/// The clients and configuration a step runs with.
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    pub secrets: &'a aws_sdk_secretsmanager::Client,
    pub data_api: &'a aws_sdk_redshiftdata::Client,
    pub config: &'a Config,
    /// Between two `DescribeStatement` calls.
    pub poll_interval: Duration,
    /// No Data API wait goes past it: the invocation's deadline.
    pub deadline: Instant,
}

impl Rotation<'_> {
    /// Runs the event's step.
    pub async fn handle(&self, event: &Event) -> Result<(), RotationError> {
        let secret = event.secret_id.as_str();
        let token = event.client_request_token.as_str();
        let step = Step::parse(&event.step).ok_or_else(|| RotationError::UnknownStep {
            secret: secret.to_owned(),
            step: event.step.clone(),
        })?;
        tracing::info!(secret, token, step = event.step, "rotation step");
        let (arn, versions) = self.staged_versions(secret, token).await?;
        if versions[token].iter().any(|stage| stage == AWSCURRENT) {
            tracing::info!(secret, token, "the version is already AWSCURRENT");
            return Ok(());
        }
        match step {
            Step::Create => self.create(secret, token).await,
            Step::Set => self.set(secret, token).await,
            Step::Test if self.is_master(secret, arn.as_deref()) => {
                // setSecret has changed the master's password already, and
                // the Data API logs in with the master secret's AWSCURRENT,
                // still the old one until finishSecret: no statement can run
                // as the master now, so nothing is checked (README).
                tracing::info!(
                    secret,
                    "the master's own rotation: no statement can run now"
                );
                Ok(())
            }
            Step::Test => self.test(secret).await,
            Step::Finish => self.finish(secret, token, &versions).await,
        }
    }

    /// The secret's versions and their stages, once it is clear that the
    /// token is a version staged for rotation (or already current).
    async fn staged_versions(
        &self,
        secret: &str,
        token: &str,
    ) -> Result<(Option<String>, HashMap<String, Vec<String>>), RotationError> {
        let described = self
            .secrets
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| RotationError::Describe {
                secret: secret.to_owned(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        if described.rotation_enabled() != Some(true) {
            return Err(RotationError::RotationNotEnabled {
                secret: secret.to_owned(),
            });
        }
        let versions = described
            .version_ids_to_stages()
            .cloned()
            .unwrap_or_default();
        let Some(stages) = versions.get(token) else {
            return Err(RotationError::NoSuchVersion {
                secret: secret.to_owned(),
                token: token.to_owned(),
            });
        };
        if !stages
            .iter()
            .any(|stage| stage == AWSCURRENT || stage == AWSPENDING)
        {
            return Err(RotationError::NotPending {
                secret: secret.to_owned(),
                token: token.to_owned(),
                stages: stages.clone(),
            });
        }
        Ok((described.arn().map(str::to_owned), versions))
    }

    /// Whether `secret` (as the event names it, and its ARN as described)
    /// is the master secret the function logs in with.
    fn is_master(&self, secret: &str, arn: Option<&str>) -> bool {
        secret == self.config.master_secret_arn || arn == Some(&self.config.master_secret_arn)
    }

    async fn create(&self, secret: &str, token: &str) -> Result<(), RotationError> {
        let current = self.read(secret, AWSCURRENT, None).await?;
        if self.has_pending_value(secret, token).await? {
            tracing::info!(secret, token, "the AWSPENDING version already has a value");
            return Ok(());
        }
        let generated = self
            .secrets
            .get_random_password()
            .password_length(PASSWORD_LENGTH)
            .exclude_characters(EXCLUDED_CHARACTERS)
            .require_each_included_type(true)
            .send()
            .await
            .map_err(|e| RotationError::RandomPassword {
                secret: secret.to_owned(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        let password = generated.random_password().unwrap_or_default().to_owned();
        let pending = current
            .with_password(password)
            .map_err(|problem| RotationError::Value {
                secret: secret.to_owned(),
                stage: AWSPENDING,
                problem,
            })?;
        self.secrets
            .put_secret_value()
            .secret_id(secret)
            .client_request_token(token)
            .secret_string(pending.to_secret_string())
            .version_stages(AWSPENDING)
            .send()
            .await
            .map_err(|e| RotationError::Put {
                secret: secret.to_owned(),
                token: token.to_owned(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        tracing::info!(secret, token, "stored a new AWSPENDING version");
        Ok(())
    }

    async fn set(&self, secret: &str, token: &str) -> Result<(), RotationError> {
        let current = self.read(secret, AWSCURRENT, None).await?;
        let pending = self
            .read(secret, AWSPENDING, Some(token))
            .await?
            .checked_password()
            .map_err(|problem| RotationError::Value {
                secret: secret.to_owned(),
                stage: AWSPENDING,
                problem,
            })?;
        if pending.username != current.username {
            return Err(RotationError::UserChanged {
                secret: secret.to_owned(),
                current: current.username,
                pending: pending.username,
            });
        }
        let hash = pending.password_hash();
        // The username is a plain identifier (checked by SecretValue), so
        // quoting it changes nothing and nothing can break out of it.
        let sql = format!("ALTER USER \"{}\" PASSWORD '{hash}'", pending.username);
        let scrub = |detail: String| {
            detail
                .replace(&pending.password, "<redacted>")
                .replace(&hash, "<redacted>")
        };
        self.run(vec![sql], "secret-rotation setSecret")
            .await
            .map_err(|detail| RotationError::SetPassword {
                secret: secret.to_owned(),
                username: pending.username.clone(),
                cluster: self.config.cluster_identifier.clone(),
                detail: scrub(detail),
            })?;
        tracing::info!(secret, username = pending.username, "password set");
        Ok(())
    }

    /// The user exists; no login with the new password (see the crate's
    /// documentation: the Data API can only log in with AWSCURRENT). The
    /// username is AWSCURRENT's, which createSecret copied into AWSPENDING
    /// and setSecret checked: Secrets Manager also calls this step alone
    /// when a schedule is set without rotating, with an AWSPENDING version
    /// of its own.
    async fn test(&self, secret: &str) -> Result<(), RotationError> {
        let current = self.read(secret, AWSCURRENT, None).await?;
        let username = current.username;
        let sql = format!("SELECT 1 FROM pg_user WHERE usename = '{username}'");
        let failed = |detail: String| RotationError::Test {
            secret: secret.to_owned(),
            username: username.clone(),
            cluster: self.config.cluster_identifier.clone(),
            detail,
        };
        let rows = self
            .run_counting_rows(sql, "secret-rotation testSecret")
            .await
            .map_err(failed)?;
        if rows < 1 {
            return Err(RotationError::NoSuchUser {
                secret: secret.to_owned(),
                username,
                cluster: self.config.cluster_identifier.clone(),
            });
        }
        tracing::info!(secret, username, "the user exists");
        Ok(())
    }

    async fn finish(
        &self,
        secret: &str,
        token: &str,
        versions: &HashMap<String, Vec<String>>,
    ) -> Result<(), RotationError> {
        let current = versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|stage| stage == AWSCURRENT))
            .map(|(version, _)| version.clone())
            .ok_or_else(|| RotationError::NoCurrentVersion {
                secret: secret.to_owned(),
            })?;
        self.secrets
            .update_secret_version_stage()
            .secret_id(secret)
            .version_stage(AWSCURRENT)
            .move_to_version_id(token)
            .remove_from_version_id(&current)
            .send()
            .await
            .map_err(|e| RotationError::Finish {
                secret: secret.to_owned(),
                token: token.to_owned(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        tracing::info!(secret, token, previous = current, "AWSCURRENT moved");
        Ok(())
    }

    /// The secret's value at `stage` (and `version`).
    async fn read(
        &self,
        secret: &str,
        stage: &'static str,
        version: Option<&str>,
    ) -> Result<SecretValue, RotationError> {
        let output = self
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .set_version_id(version.map(str::to_owned))
            .version_stage(stage)
            .send()
            .await
            .map_err(|e| RotationError::Read {
                secret: secret.to_owned(),
                stage,
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        SecretValue::parse(output.secret_string().unwrap_or_default()).map_err(|problem| {
            RotationError::Value {
                secret: secret.to_owned(),
                stage,
                problem,
            }
        })
    }

    /// Whether the token's AWSPENDING version has a value yet (Secrets
    /// Manager creates the version without one).
    async fn has_pending_value(&self, secret: &str, token: &str) -> Result<bool, RotationError> {
        let read = self
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .version_id(token)
            .version_stage(AWSPENDING)
            .send()
            .await;
        match read {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(RotationError::Read {
                secret: secret.to_owned(),
                stage: AWSPENDING,
                detail: DisplayErrorContext(&e).to_string(),
            }),
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            cluster_identifier: &self.config.cluster_identifier,
            database: &self.config.database,
            secret_arn: &self.config.master_secret_arn,
        }
    }

    fn wait(&self) -> Wait {
        Wait {
            poll_interval: self.poll_interval,
            max_wait: Some(DATA_API_WAIT),
            deadline: Some(self.deadline),
        }
    }

    /// Runs `sqls` as the master and waits for them; the error as text.
    async fn run(&self, sqls: Vec<String>, name: &str) -> Result<(), String> {
        let (target, wait) = (self.target(), self.wait());
        let run = redshift_statements::run_batch(self.data_api, &target, name, sqls, &wait);
        match tokio::time::timeout_at(self.deadline, run).await {
            Ok(outcome) => outcome.map_err(|e| e.to_string()),
            Err(_) => Err("the Data API did not answer before the function's deadline".into()),
        }
    }

    /// Runs one query as the master and returns how many rows it
    /// returned, as `DescribeStatement` reports them (no result is read).
    async fn run_counting_rows(&self, sql: String, name: &str) -> Result<i64, String> {
        let run = async {
            let id =
                redshift_statements::submit_batch(self.data_api, &self.target(), name, vec![sql])
                    .await
                    .map_err(|e| e.to_string())?;
            redshift_statements::wait_for(self.data_api, &id, &self.wait())
                .await
                .map_err(|e| e.to_string())?;
            let described = self
                .data_api
                .describe_statement()
                .id(&id)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "asking the Data API about statement {id}: {}",
                        aws_sdk_redshiftdata::error::DisplayErrorContext(&e)
                    )
                })?;
            Ok(described
                .sub_statements()
                .first()
                .map_or(described.result_rows(), |sub| sub.result_rows()))
        };
        match tokio::time::timeout_at(self.deadline, run).await {
            Ok(outcome) => outcome,
            Err(_) => Err("the Data API did not answer before the function's deadline".into()),
        }
    }
}
