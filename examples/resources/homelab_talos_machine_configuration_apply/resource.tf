resource "homelab_talos_machine_secrets" "lab" {
  talos_version = "v1.13"
}

data "homelab_talos_machine_configuration" "controlplane" {
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "controlplane"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  talos_version    = "v1.13"
  install_disk     = "/dev/sda"
}

# Applied to a node in maintenance mode: it installs, reboots and comes back
# running the configuration (the apply waits for it). Later changes to the
# patches are applied in place; refresh finds changes made behind
# Terraform's back and the next apply puts the configuration back. Destroy
# resets the node: it is wiped and reboots into maintenance mode (the destroy
# waits for it), ready for another cluster.
resource "homelab_talos_machine_configuration_apply" "cp1" {
  node                        = "10.0.20.11"
  client_configuration        = homelab_talos_machine_secrets.lab.client_configuration
  machine_configuration_input = data.homelab_talos_machine_configuration.controlplane.machine_configuration
  config_patches = [
    yamlencode({ machine = { network = { hostname = "cp-1" } } }),
  ]
  apply_mode = "auto"
  on_destroy = {
    reset    = true
    graceful = false # the only control plane: etcd keeps its last member
    reboot   = true
  }
  timeouts = {
    create = "15m"
    delete = "15m"
  }
}
