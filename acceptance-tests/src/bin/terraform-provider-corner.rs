//! `terraform-provider-corner`: the test-only provider of `labforge_acceptance_tests::corner`.

use std::process::ExitCode;

fn main() -> ExitCode {
    labforge_framework::serve(
        labforge_acceptance_tests::corner::Corner,
        labforge_acceptance_tests::corner::ADDRESS,
        env!("CARGO_PKG_VERSION"),
    )
}
