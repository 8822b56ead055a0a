//! Every schema of the provider is well formed (the same check Terraform
//! would see as errors from GetProviderSchema).

use labforge_framework::Provider;

#[test]
fn schemas_are_well_formed() {
    let p = homelab::Homelab;
    let mut errors = p.schema().definition_errors();
    let registry = p.resources();
    for (name, schema, _) in registry.resource_schemas() {
        errors.extend(
            schema
                .definition_errors()
                .into_iter()
                .map(|e| format!("{name}: {e}")),
        );
    }
    for (name, schema) in registry.data_source_schemas() {
        errors.extend(
            schema
                .definition_errors()
                .into_iter()
                .map(|e| format!("{name}: {e}")),
        );
    }
    // Models against schemas, both ways: an attribute without a model field
    // would always be written as null; a field without an attribute could
    // never be encoded.
    errors.extend(registry.definition_errors().iter().cloned());
    assert!(errors.is_empty(), "{errors:#?}");
}
