//! End-to-end tests of the harness itself with the real CLI and Terraform's built-in
//! `terraform_data` resource: no provider binary (and no network) needed.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use labforge_acceptance_tests::{Action, Provider, Step, TestCase, Workdir};

fn data(name: &str, input: &str) -> String {
    format!("resource \"terraform_data\" \"{name}\" {{\n  input = \"{input}\"\n}}\n")
}

#[test]
fn lifecycle_with_terraform_data() {
    let one = data("a", "one");
    let two = format!(
        "{}resource \"terraform_data\" \"b\" {{\n  triggers_replace = \"x\"\n}}\n",
        data("a", "two")
    );
    let three = format!(
        "{}resource \"terraform_data\" \"b\" {{\n  triggers_replace = \"y\"\n}}\n",
        data("a", "two")
    );
    TestCase::new()
        .env("LABFORGE_HARNESS_SELF_TEST", "1")
        .step(
            Step::config(&one)
                .expect_action("terraform_data.a", Action::Create)
                .expect_unknown("terraform_data.a", "id")
                .expect_planned("terraform_data.a", "input", "one")
                .expect_attr("terraform_data.a", "input", "one")
                .expect_attr("terraform_data.a", "output", "one")
                .expect_attr_set("terraform_data.a", "id")
                .expect_attr_null("terraform_data.a", "triggers_replace")
                .expect_not_sensitive("terraform_data.a", "input")
                .check(|state| {
                    assert_eq!(state.addresses(), ["terraform_data.a"]);
                    Ok(())
                }),
        )
        .step(
            Step::config(&two)
                .expect_action("terraform_data.a", Action::Update)
                .expect_action("terraform_data.b", Action::Create)
                .expect_attr("terraform_data.a", "output", "two"),
        )
        .step(Step::plan_only(&two).expect_empty_plan())
        .step(Step::plan_only(&two))
        .step(
            Step::plan_only(&three)
                .expect_action("terraform_data.b", Action::Replace)
                .expect_action("terraform_data.a", Action::NoOp),
        )
        .step(Step::plan_only(&one).expect_action("terraform_data.b", Action::Delete))
        .step(Step::refresh().expect_attr("terraform_data.a", "input", "two"))
        .step(
            Step::config("resource \"terraform_data\" \"a\" {\n  nonsense = 1\n}\n")
                .expect_error(r#"Unsupported argument|An argument named "nonsense""#),
        )
        .step(Step::config(&three).expect_action("terraform_data.b", Action::DestroyBeforeCreate))
        .check_destroy(|ctx| {
            let before = ctx.state.unwrap();
            assert_eq!(before.addresses(), ["terraform_data.a", "terraform_data.b"]);
            let after = ctx.workdir.state_json()?;
            assert!(after.is_empty(), "{:?}", after.addresses());
            Ok(())
        })
        .run();
}

#[test]
fn import_steps() {
    // terraform_data imports with only its id; everything else is null after import.
    let config = data("a", "x");
    TestCase::new()
        .step(Step::config(&config))
        .step(
            Step::import("terraform_data.a")
                .import_state_verify()
                .import_state_verify_ignore(&["input", "output"])
                .expect_attr_set("terraform_data.a", "id"),
        )
        .step(
            Step::import("terraform_data.a")
                .import_id_with(|s| s.attr_str("terraform_data.a", "id"))
                .import_state_verify()
                .import_state_verify_ignore(&["input", "output"]),
        )
        .step(
            Step::import("terraform_data.a")
                .import_state_verify()
                .expect_error("imported state differs(?s:.*)input: applied \"x\", imported null"),
        )
        .run();
}

#[test]
fn import_block_variant() {
    // With an `import {}` block the plan imports and then updates `input` (it is null after
    // import), so this expects a non-empty plan.
    TestCase::new()
        .step(Step::config(data("a", "x")))
        .step(
            Step::import("terraform_data.a")
                .import_block()
                .expect_non_empty_plan()
                .expect_action("terraform_data.a", Action::Update),
        )
        .step(
            Step::import("terraform_data.a")
                .import_block()
                .expect_error("plans to update it; expected no changes"),
        )
        .run();
}

#[test]
fn non_empty_plan_after_apply_is_detected() {
    let always = "resource \"terraform_data\" \"t\" {\n  triggers_replace = timestamp()\n}\n";
    // Accepted when expected…
    TestCase::new()
        .step(Step::config(always).expect_non_empty_plan())
        .step(Step::plan_only(always).expect_non_empty_plan())
        .run();
    // …and a readable failure otherwise.
    let err = TestCase::new()
        .step(Step::config(always))
        .try_run()
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("step 1/1 (config) failed"), "{msg}");
    assert!(msg.contains("expected an empty plan"), "{msg}");
    assert!(msg.contains("-refresh=false"), "{msg}");
    assert!(msg.contains("--- stdout ---"), "{msg}");
    assert!(msg.contains("must be replaced"), "{msg}");
}

#[test]
fn failures_name_the_step_and_still_clean_up() {
    let seen: Rc<RefCell<Option<PathBuf>>> = Rc::default();
    let seen2 = seen.clone();
    let destroyed = Rc::new(RefCell::new(false));
    let destroyed2 = destroyed.clone();
    let err = TestCase::new()
        .step(Step::config(data("a", "one")).pre_step(move |ctx| {
            *seen2.borrow_mut() = Some(ctx.workdir.path().to_path_buf());
            Ok(())
        }))
        .step(Step::config(data("a", "two")).expect_attr("terraform_data.a", "input", "three"))
        .check_destroy(move |_| {
            // Not run when a step failed.
            *destroyed2.borrow_mut() = true;
            Ok(())
        })
        .try_run()
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("step 2/2 (config) failed"), "{msg}");
    assert!(
        msg.contains(r#"expected terraform_data.a.input = "three", got "two""#),
        "{msg}"
    );
    assert!(!*destroyed.borrow());
    let dir = seen.borrow().clone().unwrap();
    if std::env::var_os("TF_ACC_PERSIST_WORKING_DIR").is_none() {
        assert!(!dir.exists(), "{} should be removed", dir.display());
    }

    // A step that expects an error but succeeds fails.
    let err = TestCase::new()
        .step(Step::config(data("a", "one")).expect_error("nope"))
        .try_run()
        .unwrap_err();
    assert!(format!("{err:#}").contains("but the step succeeded"));

    // An error that does not match is reported with the command output.
    let err = TestCase::new()
        .step(
            Step::config("resource \"terraform_data\" \"a\" {\n  bad = 1\n}\n")
                .expect_error("nope"),
        )
        .try_run()
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("expected an error matching /nope/"), "{msg}");
    assert!(msg.contains("Unsupported argument"), "{msg}");
}

#[test]
fn sensitive_values_and_outputs() {
    let config = r#"
resource "terraform_data" "s" {
  input = sensitive("hunter2")
}
output "plain" {
  value = "hello"
}
"#;
    TestCase::new()
        .step(
            Step::config(config)
                .expect_sensitive("terraform_data.s", "input")
                .expect_attr("terraform_data.s", "input", "hunter2")
                .expect_output("plain", "hello"),
        )
        .run();
}

#[test]
fn workdir_helpers() {
    let mut wd = Workdir::with_providers(&[]).unwrap();
    wd.set_env("SOME_VAR", "1");
    wd.write_config(&data("w", "v")).unwrap();
    wd.init().unwrap();
    let plan = wd.plan_json().unwrap();
    assert_eq!(plan.action("terraform_data.w").unwrap(), Action::Create);
    wd.apply().unwrap();
    let state = wd.state_json().unwrap();
    assert_eq!(state.attr_str("terraform_data.w", "output").unwrap(), "v");
    assert!(wd.has_state());
    assert!(wd.plan_is_empty(true).unwrap().0);
    let out = wd.run(&["state", "list"]).unwrap();
    assert_eq!(out.stdout.trim(), "terraform_data.w");
    let err = wd
        .run(&["state", "show", "terraform_data.nope"])
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("`terraform state show terraform_data.nope` exited with 1")
            || msg.contains("tofu state show"),
        "{msg}"
    );
    wd.destroy().unwrap();
    assert!(wd.state_json().unwrap().is_empty());
    assert!(!wd.has_state());
}

/// The mirror and CLI config work for a provider that is only installed (init does not
/// start providers), under the default host of the CLI in use.
#[test]
fn init_installs_from_the_mirror() {
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("terraform-provider-fake");
    std::fs::write(&bin, "#!/bin/sh\nexit 1\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let provider = Provider::new("fake", "9.8.7", &bin);
    let mut wd = Workdir::new(&provider).unwrap();
    wd.write_config(&provider.required_providers_block())
        .unwrap();
    let out = wd.init().unwrap();
    assert!(out.stdout.contains("9.8.7"), "{}", out.stdout);
    let lock = std::fs::read_to_string(wd.path().join(".terraform.lock.hcl")).unwrap();
    let host = wd.cli().flavor.default_registry_host();
    assert!(
        lock.contains(&format!("provider \"{host}/labforge/fake\"")),
        "{lock}"
    );
    assert!(lock.contains("9.8.7"), "{lock}");
    // Fully qualified sources for the other host resolve as well.
    let mut wd2 = Workdir::new(&provider).unwrap();
    wd2.write_config(
        "terraform {\n  required_providers {\n    fake = {\n      source = \"registry.opentofu.org/labforge/fake\"\n    }\n  }\n}\n",
    )
    .unwrap();
    wd2.init().unwrap();
    let mut wd3 = Workdir::new(&provider).unwrap();
    wd3.write_config(
        "terraform {\n  required_providers {\n    fake = {\n      source = \"registry.terraform.io/labforge/fake\"\n    }\n  }\n}\n",
    )
    .unwrap();
    wd3.init().unwrap();
}

/// Every config step ends with `plan -refresh-only -detailed-exitcode`, which must exit 0.
/// Terraform 1.10 to 1.14 compare the refreshed state with the state file exactly,
/// root outputs included (hashicorp/terraform#36403): a root output holding a number
/// Terraform computed itself (`length()`) differs in precision from the same number
/// read back from the state file, so that check fails right after apply with
/// `terraform_data` alone, while the same output as a string passes.
#[test]
fn refresh_only_plan_is_checked_after_apply() {
    let config = |value: &str| {
        format!(
            "resource \"terraform_data\" \"t\" {{\n  input = [\"a\", \"b\"]\n}}\n\
             output \"n\" {{\n  value = {value}\n}}\n"
        )
    };
    TestCase::new()
        .step(
            Step::config(config("tostring(length(terraform_data.t.output))"))
                .expect_output("n", "2"),
        )
        .step(Step::refresh().expect_output("n", "2"))
        .run();

    let cli = labforge_acceptance_tests::Cli::get().unwrap();
    let minor = cli
        .version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok());
    let exact_compare = cli.flavor == labforge_acceptance_tests::Flavor::Terraform
        && cli.version.starts_with("1.")
        && minor.is_some_and(|m| (10..=14).contains(&m));
    let result = TestCase::new()
        .step(Step::config(config("length(terraform_data.t.output)")).expect_output("n", 2))
        .try_run();
    if !exact_compare {
        // OpenTofu, and Terraform before 1.10 or from 1.15, do not count it as a change.
        result.unwrap();
        return;
    }
    let msg = format!("{:#}", result.unwrap_err());
    assert!(msg.contains("step 1/1 (config) failed"), "{msg}");
    assert!(
        msg.contains(
            "shows changes after apply (plan -refresh-only); expected an empty refresh-only plan"
        ),
        "{msg}"
    );
    assert!(msg.contains("but exits 2"), "{msg}");
    assert!(
        msg.contains("--- stdout ---") && msg.contains("No changes"),
        "{msg}"
    );
}
