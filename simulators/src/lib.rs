//! API simulators of the homelab backends, for tests and the demo.
