//! The acceptance-test harness: drives the real `terraform`/`tofu` CLI against provider
//! binaries installed from a filesystem mirror, like users install them.
//!
//! Layout:
//! * [`cli`]: finding the CLI (`TF_ACC_TERRAFORM_PATH`, else `tofu`, else `terraform`).
//! * [`mirror`]: [`Provider`], the per-process filesystem mirror and the CLI config.
//! * [`binary`]: locating (and building if stale) `terraform-provider-<name>` binaries.
//! * [`workdir`]: [`Workdir`], a temp working dir and typed CLI commands.
//! * [`json`]: [`State`] and [`Plan`] from `show -json`, attribute paths, [`Action`].
//! * [`case`]: [`TestCase`] and [`Step`], the terraform-plugin-testing model. Every apply
//!   step is followed by `plan -refresh-only -detailed-exitcode`, which must exit 0: the
//!   state apply saved must equal a fresh read (see [`case`]).
//!
//! Environment:
//! * `TF_ACC_TERRAFORM_PATH`: the CLI to use.
//! * `TF_ACC_PERSIST_WORKING_DIR`: keep working dirs (their paths are printed).
//! * `TF_ACC_LOG` (and `TF_ACC_LOG_PATH`): passed as `TF_LOG` (`TF_LOG_PATH`).
//! * `TF_ACC_TEMP_DIR`: where temp dirs go (default: the system temp dir).
//! * `TF_ACC_COMMAND_TIMEOUT`: seconds before one CLI command is killed (default 600).
//!
//! Every command gets its own `TF_CLI_CONFIG_FILE`, `CHECKPOINT_DISABLE=1`,
//! `TF_IN_AUTOMATION=1`, `TF_INPUT=0`, and `-no-color -input=false` where accepted.

pub mod binary;
pub mod case;
pub mod cli;
pub mod json;
pub mod mirror;
pub mod workdir;

pub use binary::{provider_binary, target_profile_dir, workspace_root};
pub use case::{Ctx, Step, TestCase, verify_import};
pub use cli::{Cli, Flavor};
pub use json::{Action, Plan, Resource, ResourceChange, State, lookup, values_equal};
pub use mirror::{Provider, hcl_string, required_providers_block};
pub use workdir::{CmdOutput, CommandError, Workdir};
