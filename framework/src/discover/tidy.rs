//! Tidy what `terraform plan -generate-config-out` writes (placeholder).
