//! `AWS::CloudWatch::*`: alarms on what the data path could not deliver.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudwatch-alarm.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    pub alarm_description: Option<Value<String>>,
    pub namespace: Value<String>,
    pub metric_name: Value<String>,
    pub dimensions: Vec<Dimension>,
    pub statistic: Value<String>,
    pub period: Value<i64>,
    pub evaluation_periods: Value<i64>,
    pub threshold: Value<f64>,
    pub comparison_operator: Value<String>,
    pub treat_missing_data: Option<Value<String>>,
    /// Notified when the alarm goes into ALARM (the stage's alarm topic).
    pub alarm_actions: Option<Vec<Value<String>>>,
    /// Notified when it returns to OK, so a recovery is seen too.
    #[serde(rename = "OKActions")]
    pub ok_actions: Option<Vec<Value<String>>>,
}
resource!(Alarm = "AWS::CloudWatch::Alarm", ref name, {
    arn => "Arn",
});

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    pub name: Value<String>,
    pub value: Value<String>,
}
