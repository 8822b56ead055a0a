//! Terraform plugin protocol 6 and go-plugin service definitions, written by labforge, compiled at build time.
