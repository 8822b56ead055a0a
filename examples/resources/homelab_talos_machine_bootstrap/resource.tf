resource "homelab_talos_machine_secrets" "lab" {}

data "homelab_talos_machine_configuration" "controlplane" {
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "controlplane"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
}

resource "homelab_talos_machine_configuration_apply" "cp1" {
  node                        = "10.0.20.11"
  client_configuration        = homelab_talos_machine_secrets.lab.client_configuration
  machine_configuration_input = data.homelab_talos_machine_configuration.controlplane.machine_configuration
}

# Bootstrap etcd once, on one control plane node, after its configuration is
# applied. It waits while the node is not ready yet; a node that was already
# bootstrapped (e.g. by an interrupted run) counts as done.
resource "homelab_talos_machine_bootstrap" "lab" {
  node                 = homelab_talos_machine_configuration_apply.cp1.node
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
  timeouts = {
    create = "10m"
  }
}
