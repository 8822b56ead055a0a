//! The go-plugin side of a Terraform provider: handshake, AutoMTLS, side services, debug mode, logging.
