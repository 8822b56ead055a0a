# Adopt a node configured by hand (talosctl apply-config): the ID is the node's address.
# Then set client_configuration and machine_configuration_input in its configuration;
# the first apply only records them when the node already runs that configuration.
terraform import homelab_talos_machine_configuration_apply.cp1 10.0.20.11
