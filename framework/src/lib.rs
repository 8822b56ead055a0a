//! A framework for Terraform providers: schema as data, planning, typed CRUD, diagnostics.
