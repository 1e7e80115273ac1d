//! A stage across two accounts (issue 14: `prod-private`, the lake in the
//! data account, the private warehouse in the warehouse account) deployed
//! by the `provisioner` binary against moto with two profiles, one per
//! account: each account's stacks land in that account, a redeploy changes
//! nothing, a profile of the wrong account is refused, and destroy removes
//! both sides.
//!
//! moto keeps one set of backends per account and finds a request's account
//! from its access key: a key that IAM (in moto) created in an account
//! (`moto/iam/models.py::get_account_id_from`; an unknown key is moto's
//! default account 123456789012). So the test creates one IAM user and key
//! per account (the account chosen by moto's `x-moto-account-id` header)
//! and writes them as two profiles. Deploys use `--method direct`, as in
//! `e2e_moto.rs`, and the stage's secret is stood in for
//! (`support::stand_in_for_what_moto_skips`).

use crate::support;

use std::path::Path;

use support::{Moto, REGION, synth_stage_with};

const DATA: &str = "111122223333";
const WAREHOUSE: &str = "444455556666";

/// An access key of `account` in moto: (id, secret).
async fn access_key(moto: &Moto, account: &str) -> (String, String) {
    use aws_sdk_iam::config::{Credentials, Region};
    let config = aws_sdk_iam::Config::builder()
        .behavior_version_latest()
        .http_client(provisioner::aws::https_client())
        .region(Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
        .build();
    let iam = aws_sdk_iam::Client::from_conf(config);
    let header = account.to_string();
    let in_account = move |req: &mut aws_sdk_iam::config::http::HttpRequest| {
        req.headers_mut()
            .insert("x-moto-account-id", header.clone());
    };
    iam.create_user()
        .user_name("deployer")
        .customize()
        .mutate_request(in_account.clone())
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("deployer")
        .customize()
        .mutate_request(in_account)
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

/// `provisioner ARGS` with only the profile files in `home` (no keys in
/// the environment).
fn run(moto: &Moto, home: &Path, args: &[&str]) -> support::Ran {
    run_with(moto, home, args, &[])
}

/// [`run`] with `env` set too.
fn run_with(moto: &Moto, home: &Path, args: &[&str], env: &[(&str, &str)]) -> support::Ran {
    let started = std::time::Instant::now();
    let output = moto
        .command(args)
        .envs(env.iter().copied())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    support::Ran {
        output,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Every `<stack> <result>` line of the reports (one per account).
fn results(ran: &support::Ran) -> Vec<(String, String)> {
    ran.stdout()
        .lines()
        .filter(|l| !l.starts_with("deploy ") && !l.starts_with("destroy "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((
                parts.next()?.to_string(),
                parts.collect::<Vec<_>>().join(" "),
            ))
        })
        .collect()
}

/// The one JSON document a command printed under `--output json`.
fn json_of(ran: &support::Ran) -> serde_json::Value {
    serde_json::from_str(&ran.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout(), ran.stderr()))
}

/// The live stacks of the account whose key this is.
async fn stacks_of(moto: &Moto, key: &(String, String)) -> Vec<String> {
    use aws_sdk_cloudformation::config::{Credentials, Region};
    let config = aws_sdk_cloudformation::Config::builder()
        .behavior_version_latest()
        .http_client(provisioner::aws::https_client())
        .region(Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(Credentials::new(&key.0, &key.1, None, None, "e2e"))
        .build();
    let cfn = aws_sdk_cloudformation::Client::from_conf(config);
    let listed = cfn.list_stacks().send().await.unwrap();
    let mut names: Vec<String> = listed
        .stack_summaries()
        .iter()
        .filter(|s| s.stack_status().map(|s| s.as_str()) != Some("DELETE_COMPLETE"))
        .filter_map(|s| s.stack_name().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn prod_private_deploys_each_account_with_its_profile_redeploys_as_no_op_and_is_destroyed() {
    let moto = Moto::start();
    let data_key = access_key(&moto, DATA).await;
    let warehouse_key = access_key(&moto, WAREHOUSE).await;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    std::fs::write(
        home.join("credentials"),
        format!(
            "[retail-data]\naws_access_key_id = {}\naws_secret_access_key = {}\n\
             [retail-warehouse]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            data_key.0, data_key.1, warehouse_key.0, warehouse_key.1
        ),
    )
    .unwrap();
    std::fs::write(
        home.join("config"),
        format!("[profile retail-data]\nregion = {REGION}\n[profile retail-warehouse]\nregion = {REGION}\n"),
    )
    .unwrap();

    let dir = home.join("synth");
    synth_stage_with("prod-private", &dir, &|name| format!("fixture {name}"));
    // moto cannot turn termination protection off (as in e2e_moto's prod
    // test): left off so that destroy can run.
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let mut expected: Vec<(String, String)> = Vec::new();
    for stack in manifest["stacks"].as_array_mut().unwrap() {
        stack["terminationProtection"] = false.into();
        expected.push((
            stack["account"]["id"].as_str().unwrap().to_string(),
            stack["stackName"].as_str().unwrap().to_string(),
        ));
    }
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let in_account = |account: &str| {
        let mut names: Vec<String> = expected
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, n)| n.clone())
            .collect();
        names.push(stacks::assets::TOOLKIT_STACK_NAME.to_string());
        names.sort();
        names
    };
    let synth_dir = dir.to_str().unwrap();
    let deploy = [
        "deploy",
        "--stage",
        "prod-private",
        "--synth-dir",
        synth_dir,
        "--method",
        "direct",
        "--require-approval",
        "never",
    ];

    // A profile of the wrong account is refused before anything changes.
    let mut wrong = deploy.to_vec();
    let flag = format!("{WAREHOUSE}=retail-data");
    wrong.extend(["--profile-for", &flag]);
    let refused = run(&moto, home, &wrong);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains(&format!(
            "profile `retail-data` reaches account {DATA}, but stacks"
        )) && refused
            .stderr()
            .contains(&format!("go to account {WAREHOUSE}")),
        "{}",
        refused.stderr()
    );
    assert!(stacks_of(&moto, &data_key).await.is_empty());
    assert!(stacks_of(&moto, &warehouse_key).await.is_empty());

    let first = run(&moto, home, &deploy);
    println!("first deploy: {:.1} s", first.seconds);
    let first = first.ok();
    let created = results(&first);
    assert!(
        !created.is_empty() && created.iter().all(|(_, r)| r == "created"),
        "{}",
        first.stdout()
    );
    assert_eq!(stacks_of(&moto, &data_key).await, in_account(DATA));
    assert_eq!(
        stacks_of(&moto, &warehouse_key).await,
        in_account(WAREHOUSE)
    );

    // The redeploy writes one outputs file with the stacks of both accounts,
    // and one JSON report: every stack unchanged, in its own account.
    let outputs_file = home.join("outputs.json");
    let mut redeploy = deploy.to_vec();
    redeploy.extend(["--outputs-file", outputs_file.to_str().unwrap()]);
    redeploy.extend(["--output", "json"]);
    let again = run(&moto, home, &redeploy).ok();
    println!("redeploy: {:.1} s", again.seconds);
    let outputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&outputs_file).unwrap()).unwrap();
    for stack in ["Storage", "Warehouse"] {
        assert!(
            outputs[stack].as_object().is_some_and(|o| !o.is_empty()),
            "{stack} in {outputs:#}"
        );
    }
    let account_of = |stack: &str| {
        manifest["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == stack)
            .map(|s| s["account"]["id"].clone())
    };
    let report = json_of(&again);
    assert_eq!(report["result"], "done", "{report:#}");
    let unchanged = report["stacks"].as_array().unwrap();
    assert_eq!(unchanged.len(), expected.len(), "{report:#}");
    for stack in unchanged {
        assert_eq!(stack["result"], "unchanged", "{stack:#}");
        assert_eq!(
            account_of(stack["id"].as_str().unwrap()),
            Some(stack["account"].clone()),
            "{stack:#}"
        );
    }

    // diff compares each account's stacks with its own session: nothing
    // differs (--fail: exit 1 on a difference), in text (a heading per
    // account) and in one JSON document.
    let diff_args = [
        "diff",
        "--stage",
        "prod-private",
        "--synth-dir",
        synth_dir,
        "--fail",
        "--no-change-set",
    ];
    let diff = run(&moto, home, &diff_args);
    println!("diff: {:.1} s\n{}", diff.seconds, diff.stdout());
    let diff = diff.ok();
    for account in [DATA, WAREHOUSE] {
        assert!(
            diff.stdout().contains(&format!("account {account}")),
            "{}",
            diff.stdout()
        );
    }
    let mut diff_json = diff_args.to_vec();
    diff_json.extend(["--output", "json"]);
    let compared = json_of(&run(&moto, home, &diff_json).ok());
    assert_eq!(compared["differing"], serde_json::json!([]), "{compared:#}");
    assert_eq!(
        compared["stacks"].as_array().unwrap().len(),
        expected.len(),
        "{compared:#}"
    );

    // verify reads each account's stacks with that account's session: every
    // check names its account, is about a stack of that account, and finds
    // its stack deployed there (read with the other account's credentials,
    // every stack would be "not deployed"). One attempt per call: moto
    // answers GetFunctionConfiguration of the warehouse account's functions
    // with HTTP 500 ("Object of type Cluster is not JSON serializable": it
    // resolves their CLUSTER_IDENTIFIER, a `Ref` of the cluster, to its own
    // model object), which the usual 7 attempts retry for about 45 s; the
    // check fails either way.
    let verify = run_with(
        &moto,
        home,
        &[
            "verify",
            "--stage",
            "prod-private",
            "--synth-dir",
            synth_dir,
            "--output",
            "json",
        ],
        &[("AWS_MAX_ATTEMPTS", "1")],
    );
    println!(
        "verify: {:.1} s, exit {}\n{}",
        verify.seconds,
        verify.code(),
        verify.stdout()
    );
    assert_ne!(verify.code(), 2, "{}", verify.stderr());
    let report: serde_json::Value = serde_json::from_str(&verify.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", verify.stdout(), verify.stderr()));
    let checks = report["checks"].as_array().unwrap();
    for account in [DATA, WAREHOUSE] {
        assert!(
            checks
                .iter()
                .any(|c| c["account"] == account && c["status"] == "pass"),
            "no passing check in account {account}: {checks:#?}"
        );
    }
    for check in checks {
        assert_eq!(
            account_of(check["component"].as_str().unwrap()),
            Some(check["account"].clone()),
            "{check:#}"
        );
        assert!(
            !check["detail"]
                .as_str()
                .unwrap()
                .ends_with("is not deployed"),
            "{check:#}"
        );
    }

    // reconcile and reimport read the lake and tables in the data account
    // and the warehouse in its own: each finds its stack deployed (with one
    // session, one of them would be "not deployed", exit 2).
    let reconcile = run(
        &moto,
        home,
        &["reconcile", "--stage", "prod-private", "--output", "json"],
    );
    println!("reconcile: {}\n{}", reconcile.stdout(), reconcile.stderr());
    let reconcile = reconcile.ok();
    assert!(
        !reconcile.stdout().contains("is not deployed"),
        "{}",
        reconcile.stdout()
    );
    let reimport = run(
        &moto,
        home,
        &[
            "reimport",
            "--stage",
            "prod-private",
            "--from",
            "2010-12-01",
            "--to",
            "2010-12-02",
        ],
    );
    println!("reimport: {}\n{}", reimport.stdout(), reimport.stderr());
    assert!(
        reimport
            .ok()
            .stdout()
            .contains("reimport prod-private: 0 of 2 days loaded"),
        "the lake is empty"
    );
    let flag = format!("{WAREHOUSE}=retail-data");
    let refused = run(
        &moto,
        home,
        &[
            "reconcile",
            "--stage",
            "prod-private",
            "--profile-for",
            &flag,
        ],
    );
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused
            .stderr()
            .contains(&format!("profile `retail-data` reaches account {DATA}")),
        "{}",
        refused.stderr()
    );

    let destroy_args = [
        "destroy",
        "--stage",
        "prod-private",
        "--synth-dir",
        synth_dir,
        "--force",
    ];
    let mut destroy_json = destroy_args.to_vec();
    destroy_json.extend(["--output", "json"]);
    let destroy = run(&moto, home, &destroy_json);
    println!("destroy: {:.1} s\n{}", destroy.seconds, destroy.stdout());
    // The warehouse account goes first. moto cannot delete the VPC of its
    // Network stack (DependencyViolation, as in e2e_moto's tests): every
    // other warehouse stack is deleted, and the stop leaves the data
    // account untouched, as the one report says.
    assert_eq!(destroy.code(), 1, "{}", destroy.stderr());
    let report = json_of(&destroy);
    assert_eq!(report["result"], "failed", "{report:#}");
    for stack in report["stacks"].as_array().unwrap() {
        let (id, result) = (stack["id"].as_str().unwrap(), &stack["result"]);
        if stack["account"] == DATA {
            assert_eq!(result, "not deleted", "{stack:#}");
            assert_eq!(
                stack["reason"],
                format!("stopped after a failure in account {WAREHOUSE}"),
                "{stack:#}"
            );
            continue;
        }
        let moto_vpc_limit = id == "Network"
            && result == "failed"
            && stack["reason"]
                .as_str()
                .is_some_and(|r| r.contains("DependencyViolation"));
        assert!(result == "deleted" || moto_vpc_limit, "{stack:#}");
    }
    // moto forgets the Network stack it could not delete (e2e_moto's
    // prod test notes it too): only the toolkit is listed.
    assert_eq!(
        stacks_of(&moto, &warehouse_key).await,
        [stacks::assets::TOOLKIT_STACK_NAME.to_string()]
    );
    assert_eq!(stacks_of(&moto, &data_key).await, in_account(DATA));
    assert!(
        destroy
            .stderr()
            .contains(&format!("nothing was deleted in account {DATA}")),
        "{}",
        destroy.stderr()
    );

    // The data side, named: only its account is asked.
    let mut data_side = destroy_args.to_vec();
    let data_stacks: Vec<String> = manifest["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["account"]["id"] == DATA)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    data_side.extend(data_stacks.iter().map(String::as_str));
    let destroyed = run(&moto, home, &data_side).ok();
    let deleted = results(&destroyed);
    assert!(
        !deleted.is_empty()
            && deleted
                .iter()
                .all(|(id, r)| r == "deleted" || id.contains('/') || id.starts_with("retained")),
        "{}",
        destroyed.stdout()
    );
    assert_eq!(
        stacks_of(&moto, &data_key).await,
        [stacks::assets::TOOLKIT_STACK_NAME.to_string()]
    );
}
