//! Acceptance test harness that drives the real terraform/tofu CLI.
//!
//! ```no_run
//! use labforge_acceptance_tests::{Action, Step, TestCase};
//!
//! TestCase::new()
//!     .step(
//!         Step::config(r#"resource "terraform_data" "x" { input = "a" }"#)
//!             .expect_action("terraform_data.x", Action::Create)
//!             .expect_attr("terraform_data.x", "output", "a"),
//!     )
//!     .run();
//! ```
//!
//! See [`harness`] for the pieces and the environment variables.

pub mod corner;
pub mod harness;

pub use harness::*;
