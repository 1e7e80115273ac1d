//! Each Lambda function: its deployed code is the synthesised asset (by
//! content hash) and its timeout and memory are the synthesised ones.

use aws_sdk_lambda::Client;

use super::platform::Target;
use super::{Check, Platform, Problem};
use crate::deploy::error::AwsError;

/// CloudFormation's defaults when a template leaves them out.
const DEFAULT_TIMEOUT: i64 = 3;
const DEFAULT_MEMORY: i64 = 128;

pub async fn checks(platform: &Platform, lambda: &Client) -> Vec<Check> {
    let mut checks = Vec::new();
    for function in platform.resources("AWS::Lambda::Function") {
        checks.extend(function_checks(platform, lambda, function).await);
    }
    checks
}

/// What synth says of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The asset's name (`lake-writer`), or the logical id without one.
    pub label: String,
    /// sha256 of the asset zip, hex as in the manifest; `None` for inline code.
    pub sha256: Option<String>,
    pub s3_key: Option<String>,
    pub timeout: i64,
    pub memory: i64,
}

/// What Lambda reports of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// base64 of the zip's sha256, as Lambda's `CodeSha256`.
    pub code_sha256: String,
    pub timeout: i64,
    pub memory: i64,
}

fn expected(platform: &Platform, function: Target<'_>) -> Expected {
    let props = function.props();
    let s3_key = props["Code"]["S3Key"].as_str().map(str::to_string);
    let asset = s3_key
        .as_deref()
        .and_then(|key| platform.assets.iter().find(|a| a.s3_key == key));
    Expected {
        label: asset.map_or_else(|| function.path(), |a| a.name.clone()),
        sha256: asset.map(|a| a.sha256.clone()),
        s3_key,
        timeout: props["Timeout"].as_i64().unwrap_or(DEFAULT_TIMEOUT),
        memory: props["MemorySize"].as_i64().unwrap_or(DEFAULT_MEMORY),
    }
}

fn names(label: &str) -> [String; 2] {
    [
        format!("function {label}: deployed code is the synthesised asset"),
        format!("function {label}: timeout and memory as synthesised"),
    ]
}

async fn function_checks(platform: &Platform, lambda: &Client, function: Target<'_>) -> Vec<Check> {
    let component = function.stack.id.as_str();
    let expected = expected(platform, function);
    let [code_name, settings_name] = names(&expected.label);
    let name = match function.physical() {
        Ok(name) => name,
        Err(why) => {
            return vec![
                platform.unavailable(component, &code_name, &why),
                platform.unavailable(component, &settings_name, &why),
            ];
        }
    };
    let answer = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await;
    let deployed = match answer {
        Ok(c) => Deployed {
            code_sha256: c.code_sha256().unwrap_or_default().to_string(),
            timeout: c.timeout().unwrap_or_default().into(),
            memory: c.memory_size().unwrap_or_default().into(),
        },
        Err(e) => {
            let e = AwsError::from_sdk(format!("reading the configuration of function {name}"), e);
            return vec![
                Check::aws_error(component, code_name, &e),
                Check::aws_error(component, settings_name, &e),
            ];
        }
    };
    let bucket = platform
        .resolve(function.stack, &function.props()["Code"]["S3Bucket"])
        .unwrap_or_else(|_| "<asset bucket>".to_string());
    let region = &platform.region;
    vec![
        Check::from_problems(
            component,
            code_name,
            format!("{name} runs {}", deployed.code_sha256),
            code_problems(
                name,
                &expected,
                &deployed,
                &format!("provisioner deploy --stage {} {component}", platform.stage),
                &bucket,
                region,
            ),
        ),
        Check::from_problems(
            component,
            settings_name,
            format!("{name}: {} s, {} MB", deployed.timeout, deployed.memory),
            settings_problems(name, &expected, &deployed, region),
        ),
    ]
}

/// Lambda reports the code hash in base64, the manifest in hex. The fix
/// deploys the stack first: deploy checks the bucket's copy of each asset
/// against the manifest and replaces a damaged one, so the code then
/// re-applied is the asset, not whatever the key holds.
pub fn code_problems(
    name: &str,
    expected: &Expected,
    deployed: &Deployed,
    deploy: &str,
    bucket: &str,
    region: &str,
) -> Vec<Problem> {
    let Some(sha256) = &expected.sha256 else {
        return Vec::new(); // inline code: nothing to compare with an asset
    };
    let want = hex::decode(sha256)
        .map(aws_smithy_types::base64::encode)
        .unwrap_or_default();
    if want == deployed.code_sha256 {
        return Vec::new();
    }
    vec![Problem::new(
        format!(
            "{name} runs code {} but the asset {} has {want} (changed outside provisioner?)",
            deployed.code_sha256, expected.label
        ),
        format!(
            "{deploy}, then aws lambda update-function-code --function-name {name} \
             --s3-bucket {bucket} --s3-key {} --region {region}",
            expected.s3_key.as_deref().unwrap_or_default()
        ),
    )]
}

pub fn settings_problems(
    name: &str,
    expected: &Expected,
    deployed: &Deployed,
    region: &str,
) -> Vec<Problem> {
    let fix = format!(
        "aws lambda update-function-configuration --function-name {name} --timeout {} \
         --memory-size {} --region {region}",
        expected.timeout, expected.memory
    );
    let mut problems = Vec::new();
    if deployed.timeout != expected.timeout {
        problems.push(Problem::new(
            format!(
                "timeout {} s, synthesised {} s",
                deployed.timeout, expected.timeout
            ),
            fix.clone(),
        ));
    }
    if deployed.memory != expected.memory {
        problems.push(Problem::new(
            format!(
                "memory {} MB, synthesised {} MB",
                deployed.memory, expected.memory
            ),
            fix,
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sha256 of the empty string, in both spellings.
    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const BASE64: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    fn expected() -> Expected {
        Expected {
            label: "ingest".into(),
            sha256: Some(HEX.into()),
            s3_key: Some(format!("{HEX}.zip")),
            timeout: 10,
            memory: 256,
        }
    }

    fn deployed(code: &str, timeout: i64, memory: i64) -> Deployed {
        Deployed {
            code_sha256: code.into(),
            timeout,
            memory,
        }
    }

    #[test]
    fn the_asset_hex_hash_matches_lambdas_base64_hash() {
        let ok = deployed(BASE64, 10, 256);
        assert!(
            code_problems(
                "f",
                &expected(),
                &ok,
                "provisioner deploy",
                "b",
                "eu-west-1"
            )
            .is_empty()
        );
        assert!(settings_problems("f", &expected(), &ok, "eu-west-1").is_empty());
    }

    #[test]
    fn code_changed_by_hand_fails_with_the_commands_that_restore_the_checked_asset() {
        let changed = deployed("AAAA", 10, 256);
        let problems = code_problems(
            "retail-dev-ingest",
            &expected(),
            &changed,
            "provisioner deploy --stage dev Api",
            "assets",
            "eu-west-1",
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].fix,
            format!(
                "provisioner deploy --stage dev Api, then aws lambda update-function-code \
                 --function-name retail-dev-ingest --s3-bucket assets --s3-key {HEX}.zip \
                 --region eu-west-1"
            )
        );
    }

    #[test]
    fn a_shorter_timeout_and_less_memory_are_both_named() {
        let problems = settings_problems("f", &expected(), &deployed(BASE64, 3, 128), "eu-west-1");
        let found: Vec<_> = problems.iter().map(|p| p.found.as_str()).collect();
        assert_eq!(
            found,
            [
                "timeout 3 s, synthesised 10 s",
                "memory 128 MB, synthesised 256 MB"
            ]
        );
    }
}
