//! The toolkit stack (`provisioner bootstrap`): what exists once per account
//! and region, shared by every stage deployed there: the asset bucket that
//! holds Lambda code and templates too large to send inline, and API
//! Gateway's account-wide CloudWatch role.
//!
//! Written as plain JSON because it is small, fixed and must not change when
//! the platform model does: its `Version` output is what deploy checks.

use serde_json::{Value, json};

use crate::assets::{ASSET_BUCKET_PATTERN, TOOLKIT_MINOR_VERSION, TOOLKIT_VERSION};

/// Output holding the asset bucket's name.
pub const BUCKET_OUTPUT: &str = "AssetBucket";

/// Logical id of the asset bucket in the template.
pub const BUCKET_LOGICAL_ID: &str = "AssetBucket";

/// Output holding the toolkit version (a decimal string, CloudFormation
/// outputs are strings).
pub const VERSION_OUTPUT: &str = "Version";

/// Output holding the ARN of the role API Gateway logs with, in every stage
/// of the account and region.
pub const API_GATEWAY_ROLE_OUTPUT: &str = "ApiGatewayCloudWatchRoleArn";

/// The permissions of the AWS managed policy
/// `AmazonAPIGatewayPushToCloudWatchLogs`, written out so a review reads
/// them here and a change of the managed policy cannot widen them unseen.
/// <https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonAPIGatewayPushToCloudWatchLogs.html>
pub const API_GATEWAY_LOGGING_ACTIONS: [&str; 7] = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
];

/// Days an overwritten or deleted asset version is kept before S3 expires
/// it: long enough to roll back a deploy, short enough not to pile up.
pub const NONCURRENT_VERSION_DAYS: u32 = 30;

/// `MAJOR.MINOR`, as the `Version` output carries it.
pub fn toolkit_version() -> String {
    format!("{TOOLKIT_VERSION}.{TOOLKIT_MINOR_VERSION}")
}

/// The toolkit template, pretty JSON with a final newline.
pub fn template_body() -> String {
    let mut body = serde_json::to_string_pretty(&crate::model::sorted_keys(template()))
        .expect("the template is plain JSON");
    body.push('\n');
    body
}

/// The toolkit template as a JSON value.
pub fn template() -> Value {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("provisioner toolkit v{}: asset bucket for Lambda code and large templates, API Gateway's CloudWatch role", toolkit_version()),
        "Resources": {
            // API Gateway logs with one role per account and region, set on
            // AWS::ApiGateway::Account: a stage setting it would overwrite
            // the other stage's, and its destroy would delete the role the
            // other logs with. Both are retained: deleting the Account
            // resource does not unset the role, so a deleted role would
            // leave every API of the account without logs.
            // <https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html>
            "ApiGatewayCloudWatchRole": {
                "Type": "AWS::IAM::Role",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "Description": "API Gateway writes the access and execution logs of every API in this account and region",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": { "Service": "apigateway.amazonaws.com" },
                            "Action": "sts:AssumeRole",
                            "Condition": { "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } }
                        }]
                    },
                    "Policies": [{
                        "PolicyName": "PushToCloudWatchLogs",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{
                                "Sid": "AmazonAPIGatewayPushToCloudWatchLogs",
                                "Effect": "Allow",
                                "Action": API_GATEWAY_LOGGING_ACTIONS,
                                // The managed policy says "*": this account
                                // and region are all API Gateway logs to.
                                "Resource": { "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*" }
                            }]
                        }
                    }]
                }
            },
            "ApiGatewayAccount": {
                "Type": "AWS::ApiGateway::Account",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "CloudWatchRoleArn": { "Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"] }
                }
            },
            "AssetBucket": {
                "Type": "AWS::S3::Bucket",
                // Assets are content-addressed and referenced by deployed
                // stacks: deleting the toolkit must not break them. But a
                // first create that fails must not leave a bucket behind
                // whose name then blocks every later bootstrap.
                // <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html>
                "DeletionPolicy": "RetainExceptOnCreate",
                "UpdateReplacePolicy": "Retain",
                "Metadata": {
                    "checkov": { "skip": [{
                        "id": "CKV_AWS_18",
                        "comment": "Access logs would need a second bucket per account and region; \
                                    writes come only from deploys, which CloudTrail records"
                    }] }
                },
                "Properties": {
                    "BucketName": { "Fn::Sub": ASSET_BUCKET_PATTERN },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [{
                            "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" }
                        }]
                    },
                    "VersioningConfiguration": { "Status": "Enabled" },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true
                    },
                    "OwnershipControls": {
                        "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }]
                    },
                    "LifecycleConfiguration": {
                        "Rules": [{
                            "Id": "ExpireOldVersions",
                            "Status": "Enabled",
                            "NoncurrentVersionExpiration": { "NoncurrentDays": NONCURRENT_VERSION_DAYS },
                            // Uploads killed half-way leave parts that are billed until aborted.
                            "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 }
                        }]
                    }
                }
            },
            "AssetBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "DeletionPolicy": "RetainExceptOnCreate",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "Bucket": { "Ref": "AssetBucket" },
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": { "AWS": "*" },
                            "Action": "s3:*",
                            "Resource": [
                                { "Fn::GetAtt": ["AssetBucket", "Arn"] },
                                { "Fn::Sub": "${AssetBucket.Arn}/*" }
                            ],
                            "Condition": { "Bool": { "aws:SecureTransport": "false" } }
                        }]
                    }
                }
            }
        },
        "Outputs": {
            BUCKET_OUTPUT: {
                "Description": "Bucket of Lambda code assets and large templates",
                "Value": { "Ref": "AssetBucket" }
            },
            VERSION_OUTPUT: {
                "Description": "Toolkit version; deploy refuses an older one",
                "Value": toolkit_version()
            },
            API_GATEWAY_ROLE_OUTPUT: {
                "Description": "Role API Gateway writes its logs with, account-wide",
                "Value": { "Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"] }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> Value {
        template()["Resources"]["AssetBucket"].clone()
    }

    #[test]
    fn the_asset_bucket_survives_the_deletion_of_the_toolkit_but_not_its_failed_first_create() {
        assert_eq!(bucket()["DeletionPolicy"], "RetainExceptOnCreate");
        // RetainExceptOnCreate is not a valid UpdateReplacePolicy.
        assert_eq!(bucket()["UpdateReplacePolicy"], "Retain");
    }

    #[test]
    fn the_asset_bucket_is_encrypted_versioned_and_private() {
        let props = &bucket()["Properties"];
        assert_eq!(
            props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
                ["SSEAlgorithm"],
            "AES256"
        );
        assert_eq!(props["VersioningConfiguration"]["Status"], "Enabled");
        let block = props["PublicAccessBlockConfiguration"].as_object().unwrap();
        assert_eq!(block.len(), 4);
        assert!(block.values().all(|v| v == true));
    }

    #[test]
    fn old_asset_versions_expire() {
        let rule = &bucket()["Properties"]["LifecycleConfiguration"]["Rules"][0];
        assert_eq!(rule["Status"], "Enabled");
        assert_eq!(
            rule["NoncurrentVersionExpiration"]["NoncurrentDays"],
            NONCURRENT_VERSION_DAYS
        );
    }

    #[test]
    fn the_asset_bucket_refuses_requests_without_tls() {
        let statement = &template()["Resources"]["AssetBucketPolicy"]["Properties"]["PolicyDocument"]
            ["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(
            statement["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
    }

    #[test]
    fn the_bucket_is_named_as_the_platform_stacks_expect_it() {
        assert_eq!(
            bucket()["Properties"]["BucketName"]["Fn::Sub"],
            ASSET_BUCKET_PATTERN
        );
    }

    #[test]
    fn outputs_name_the_bucket_and_the_version() {
        let outputs = &template()["Outputs"];
        assert_eq!(outputs[BUCKET_OUTPUT]["Value"]["Ref"], "AssetBucket");
        assert_eq!(outputs[VERSION_OUTPUT]["Value"], toolkit_version());
        assert_eq!(
            outputs[API_GATEWAY_ROLE_OUTPUT]["Value"]["Fn::GetAtt"][0],
            "ApiGatewayCloudWatchRole"
        );
    }

    #[test]
    fn api_gateway_logs_with_one_retained_role_per_account_and_region() {
        let resources = &template()["Resources"];
        let account = &resources["ApiGatewayAccount"];
        assert_eq!(account["Type"], "AWS::ApiGateway::Account");
        assert_eq!(
            account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0],
            "ApiGatewayCloudWatchRole"
        );
        for id in ["ApiGatewayAccount", "ApiGatewayCloudWatchRole"] {
            assert_eq!(resources[id]["DeletionPolicy"], "Retain", "{id}");
            assert_eq!(resources[id]["UpdateReplacePolicy"], "Retain", "{id}");
        }
        let role = &resources["ApiGatewayCloudWatchRole"]["Properties"];
        assert_eq!(
            role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
            "apigateway.amazonaws.com"
        );
    }

    #[test]
    fn the_api_gateway_role_has_the_managed_policy_permissions_in_this_account_and_region_only() {
        let statement = &template()["Resources"]["ApiGatewayCloudWatchRole"]["Properties"]["Policies"]
            [0]["PolicyDocument"]["Statement"][0];
        let actions: Vec<&str> = statement["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        // AmazonAPIGatewayPushToCloudWatchLogs, version 1.
        assert_eq!(
            actions,
            [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:FilterLogEvents",
            ]
        );
        assert_eq!(
            statement["Resource"]["Fn::Sub"],
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"
        );
    }
}
