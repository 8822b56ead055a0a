//! Ephemeral resource `homelab_talos_machine_configuration`: the data
//! source of the same name ([`crate::data_sources::machine_configuration`]),
//! without the result being stored in state or plan (Terraform 1.10+). Use
//! it with write-only inputs.

use labforge_framework::schema::Schema;
use labforge_framework::{Ctx, EphemeralResource, Opened, Result};

use crate::client::Client;
use crate::data_sources::machine_configuration::{MachineConfigurationModel, generate, schema};

/// The ephemeral resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineConfiguration;

impl EphemeralResource for MachineConfiguration {
    type Client = Client;
    type Model = MachineConfigurationModel;
    const NAME: &'static str = "talos_machine_configuration";

    fn schema(&self) -> Schema {
        schema("Ephemeral: the result is never written to plan or state.")
    }

    async fn open(
        &self,
        _ctx: &Ctx<Client>,
        config: MachineConfigurationModel,
    ) -> Result<Opened<MachineConfigurationModel>> {
        let text = generate(&config)?;
        Ok(Opened {
            result: MachineConfigurationModel {
                machine_configuration: Some(text),
                ..config
            },
            renew_at: None,
        })
    }
}
