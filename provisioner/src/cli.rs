//! The command line: arguments and dispatch to the command modules.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

#[cfg(feature = "aws")]
use crate::aws::AwsOptions;
#[cfg(feature = "aws")]
use crate::commands::{bootstrap, deploy, destroy, diff};
use crate::commands::{graph, list, synth};
use crate::failure::{CommandResult, Failure};
use crate::stage;
use crate::synth_output::DEFAULT_SYNTH_DIR;

/// `provisioner --version`: the release and the git commit it was built
/// from (`unknown` when built outside a git checkout, e.g. from a tarball;
/// see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PROVISIONER_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(name = "provisioner", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[cfg(feature = "aws")]
    #[command(flatten)]
    pub aws: AwsOptions,
    /// No progress or notes on standard error: only errors and the result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The raw details as well, e.g. the IAM statements a deploy asks
    /// approval for as JSON.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl Cli {
    pub fn verbosity(&self) -> crate::output::Verbosity {
        use crate::output::Verbosity;
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the Lambda assets that changed and write every template and the
    /// manifest to the output folder, or print one stack's template.
    Synth {
        #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
        stage: String,
        /// Output folder (replaced as a whole, atomically); `--out` and
        /// `--synth-dir` are the same option.
        #[arg(
            short = 'o',
            long = "output-dir",
            visible_aliases = ["out", "synth-dir"],
            value_name = "DIR",
            default_value = DEFAULT_SYNTH_DIR
        )]
        out: PathBuf,
        /// Print only this stack's template to standard output.
        stack: Option<String>,
    },
    /// Print the stacks in deploy order with the reasons of each dependency.
    List {
        #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
        stage: String,
        #[arg(long, value_enum, default_value = "text")]
        output: crate::output::Format,
    },
    /// Draw the platform (stacks, resources, data flow) from the synth output.
    Graph {
        /// Default: the stage of `--synth-dir` when given, else dev.
        #[arg(long, env = "PROVISIONER_STAGE")]
        stage: Option<String>,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: graph::Format,
        /// Folder written by `provisioner synth` (default: target/synth).
        #[arg(
            short = 'o',
            long = "output-dir",
            visible_aliases = ["synth-dir", "out"],
            value_name = "DIR"
        )]
        synth_dir: Option<PathBuf>,
    },
    /// The commands that talk to AWS (the `aws` feature's).
    #[cfg(feature = "aws")]
    #[command(flatten)]
    Aws(AwsCommand),
    /// Print a shell completion script: `provisioner completions bash >
    /// ~/.local/share/bash-completion/completions/provisioner`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `provisioner man | man -l -`.
    Man,
}

#[cfg(feature = "aws")]
#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Create or upgrade the toolkit stack (the asset bucket) in the
    /// stage's account and region.
    Bootstrap(bootstrap::BootstrapArgs),
    /// Deploy the synthesised stacks: dependency order, independent stacks
    /// in parallel, unchanged stacks skipped.
    Deploy(deploy::DeployArgs),
    /// Show what a deploy would change, with security changes marked.
    Diff(diff::DiffArgs),
    /// Check the account for the stage before a deploy (credentials,
    /// region, Lambda concurrency quota, toolkit, API Gateway's logging
    /// role): one line per check with its fix; nothing is changed.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// Delete the stacks of a stage in reverse dependency order.
    Destroy(destroy::DestroyArgs),
    /// Replay the retailer's CSV files into the ingest API (signed, in
    /// batches, with retries); rows not accepted go to a rejected file.
    Send(crate::commands::send::SendArgs),
    /// Check the deployed stage against its synth output through each
    /// service's API: one line per check, exit 1 when one fails.
    Verify(crate::commands::verify::VerifyArgs),
    /// Count each day's lines in the lake, DynamoDB and Redshift and name
    /// the line ids missing from a store or held twice: exit 1 on any
    /// difference.
    Reconcile(crate::commands::reconcile::ReconcileArgs),
    /// Re-drive everything saved as failed (the stream writers' failed/
    /// records, Firehose's errors/ manifests) into its store: exit 1 when
    /// something still fails.
    Replay(crate::commands::replay::ReplayArgs),
    /// Load days of the lake into the warehouse again (COPY into staging,
    /// merge by line_id), one transaction per day.
    Reimport(crate::commands::reimport::ReimportArgs),
    /// Run the dev stage on this machine with its real functions (fakecloud):
    /// deploy, send the files through the API, and show what arrived where.
    Local(crate::local::LocalArgs),
}

#[cfg(feature = "aws")]
impl AwsCommand {
    fn run(self, aws: &AwsOptions, stdout: &mut dyn Write) -> CommandResult {
        match self {
            Self::Bootstrap(args) => bootstrap::run(args, aws, stdout),
            Self::Deploy(args) => deploy::run(args, aws, stdout),
            Self::Diff(args) => diff::run(args, aws, stdout),
            Self::Doctor(args) => crate::commands::doctor::run(args, aws, stdout),
            Self::Destroy(args) => destroy::run(args, aws, stdout),
            Self::Send(args) => crate::commands::send::run(args, aws, stdout),
            Self::Verify(args) => crate::commands::verify::run(args, aws, stdout),
            Self::Reconcile(args) => crate::commands::reconcile::run(args, aws, stdout),
            Self::Replay(args) => crate::commands::replay::run(args, aws, stdout),
            Self::Reimport(args) => crate::commands::reimport::run(args, aws, stdout),
            Self::Local(args) => crate::local::run(args, stdout),
        }
    }
}

/// The commands that talk to AWS: the `aws` feature's. Without it (the
/// build `scripts/provisioner` makes for synth, list and graph), asking for
/// one is explained rather than called unknown.
pub const AWS_COMMANDS: &[&str] = &[
    "bootstrap",
    "deploy",
    "diff",
    "doctor",
    "destroy",
    "send",
    "verify",
    "reconcile",
    "replay",
    "reimport",
    "local",
];

/// `error` as clap reports it, except an AWS command asked of a build
/// without the `aws` feature (with it, those names always parse): that one
/// says which build has it.
pub fn explain_parse_error(error: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::InvalidSubcommand {
        return error;
    }
    let Some(ContextValue::String(name)) = error.get(ContextKind::InvalidSubcommand) else {
        return error;
    };
    if !AWS_COMMANDS.contains(&name.as_str()) {
        return error;
    }
    clap::Error::raw(
        ErrorKind::InvalidSubcommand,
        format!(
            "`{name}` talks to AWS, and this provisioner was built without AWS (the `aws` \
             feature), for synth, list and graph only\n  hint: run `scripts/provisioner {name} \
             ...`, which builds the whole CLI, or `cargo run -p provisioner -- {name} ...`\n"
        ),
    )
}

pub fn run(cli: Cli) -> CommandResult {
    crate::output::set_verbosity(cli.verbosity());
    // Every command prints through this one standard output (see `output`).
    let stdout = &mut crate::output::stdout();
    let stderr = &mut crate::output::stderr();
    match cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "provisioner", stdout);
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command())
                .render(stdout)
                .map_err(crate::output::unwritable)
        }
        Command::Synth { stage, out, stack } => synth::run(
            stage::named(&stage)?,
            &out,
            stack.as_deref(),
            &mut build_lambda_assets,
            stdout,
            stderr,
        ),
        Command::List { stage, output } => {
            // Stack order and dependencies do not depend on the functions'
            // code: nothing is built.
            synth::compile_policies_in_background();
            let stage = stage::named(&stage)?;
            let here = std::env::current_dir().map_err(Failure::usage)?;
            let functions = crate::assets::function_names(&here).map_err(|e| {
                Failure::usage(e).hint("run provisioner from the repository (it reads lambdas/)")
            })?;
            let table = stacks::assets::AssetTable::unbuilt(&functions);
            list::print(
                &synth::synthesize(stage, &table, Vec::new())?,
                output,
                stdout,
            )
        }
        Command::Graph {
            stage,
            format,
            synth_dir,
        } => {
            let stage = match (stage, &synth_dir) {
                (Some(stage), _) => stage,
                (None, Some(dir)) => crate::synth_output::stage_of(dir)?,
                (None, None) => "dev".to_string(),
            };
            let synth_dir = synth_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_SYNTH_DIR));
            graph::run(&synth_dir, stage::named(&stage)?.name, format, stdout)
        }
        #[cfg(feature = "aws")]
        Command::Aws(command) => command.run(&cli.aws, stdout),
    }
}

/// Builds (or takes from the cache) every Lambda asset of the workspace
/// around the current folder into `dir/assets/`.
fn build_lambda_assets(
    dir: &Path,
    progress: &mut dyn Write,
) -> Result<
    (
        stacks::assets::AssetTable,
        Vec<stacks::manifest::AssetEntry>,
    ),
    Failure,
> {
    let here = std::env::current_dir().map_err(Failure::usage)?;
    let options = crate::assets::BuildOptions::discover(&here).map_err(|e| {
        Failure::usage(e).hint("run provisioner from the repository (it builds lambdas/)")
    })?;
    let built = crate::assets::build_assets(&options, dir, progress).map_err(Failure::usage)?;
    Ok((built.table, built.entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a build without the `aws` feature prints for `provisioner
    /// ARG`: its parser knows the other commands only.
    fn without_aws(arg: &str) -> (clap::error::ErrorKind, String) {
        let lean = clap::Command::new("provisioner")
            .subcommands(["synth", "list", "graph"].map(clap::Command::new));
        let error =
            explain_parse_error(lean.try_get_matches_from(["provisioner", arg]).unwrap_err());
        (error.kind(), error.to_string())
    }

    #[test]
    fn an_aws_command_asked_of_a_build_without_aws_names_the_build_that_has_it() {
        let (kind, message) = without_aws("deploy");
        assert_eq!(kind, clap::error::ErrorKind::InvalidSubcommand);
        assert!(
            message.contains("`deploy` talks to AWS")
                && message.contains("scripts/provisioner deploy"),
            "{message}"
        );
        let (_, typo) = without_aws("sytnh");
        assert!(typo.contains("unrecognized subcommand 'sytnh'"), "{typo}");
    }

    #[cfg(feature = "aws")]
    #[test]
    fn the_aws_commands_listed_are_the_aws_features_commands() {
        use clap::Subcommand;
        let aws = AwsCommand::augment_subcommands(clap::Command::new("aws"));
        let names: Vec<&str> = aws.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(names, AWS_COMMANDS);
    }
}
