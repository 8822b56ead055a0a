use std::process::ExitCode;

fn main() -> ExitCode {
    labforge_framework::serve(
        homelab::Homelab,
        homelab::ADDRESS,
        env!("CARGO_PKG_VERSION"),
    )
}
