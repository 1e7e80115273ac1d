//! Where the stage's CloudWatch alarms go: one SNS topic per stage,
//! encrypted with the stage's key, which every alarm notifies when it goes
//! into ALARM and when it is OK again. The topic's ARN is the Storage
//! stack's `AlarmTopicArn` output; subscribe to it (README, "Alarms"), or
//! set the stage's `alarm_email` to have the stack subscribe an address.
//!
//! CloudWatch cannot publish to a topic encrypted with the AWS managed SNS
//! key (its key policy cannot be changed to admit CloudWatch), hence the
//! stage's own key, whose policy allows `cloudwatch.amazonaws.com`.
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services>

use crate::model::kms::Key;
use crate::model::sns::{Subscription, Topic};
use crate::model::tags::tags;
use crate::model::{Handle, Stack, Value, opt};
use crate::stage::Stage;

use super::PlatformError;

/// Adds the stage's alarm topic, and an email subscription when the stage
/// names an address (AWS mails it a confirmation link first).
pub fn add_alarm_topic(
    stack: &mut Stack,
    stage: &Stage,
    key: &Handle<Key>,
) -> Result<Handle<Topic>, PlatformError> {
    let topic = stack.add(
        "AlarmTopic",
        Topic {
            display_name: opt(format!("{} alarms", stage.prefix())),
            kms_master_key_id: opt(key.arn()),
            tags: tags([("Stage", stage.name)]),
        },
    )?;
    if let Some(email) = stage.alarm_email {
        stack.add(
            "AlarmEmailSubscription",
            Subscription {
                topic_arn: topic.arn().into(),
                protocol: "email".into(),
                endpoint: email.into(),
            },
        )?;
    }
    stack.output(
        "AlarmTopicArn",
        topic.arn(),
        "SNS topic every alarm of the stage notifies (subscribe to it to be told)",
    )?;
    Ok(topic)
}

/// An alarm's `AlarmActions` and `OKActions`: the stage's alarm topic.
pub fn notify(topic: &Handle<Topic>) -> Option<Vec<Value<String>>> {
    Some(vec![topic.arn().into()])
}
