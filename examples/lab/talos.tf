# ---------------------------------------------------------------- Talos Linux
#
# The cluster's secrets, one machine configuration per role, and the Talos
# nodes of var.talos_nodes (homelab-sim writes its simulated nodes there):
# each gets its role's configuration; the first control plane node
# bootstraps etcd and hands out the admin kubeconfig. With no nodes, only the
# secrets and configurations are made (locally, kept in state: sensitive).
#
# Destroy resets the nodes (on_destroy): each is wiped and reboots into
# maintenance mode, ready for the next cluster. Not gracefully: the whole
# cluster goes at once, and etcd refuses to let its last member leave.

locals {
  # One cluster per site: two sites' clusters never share a name.
  cluster_name     = var.site_name
  cluster_endpoint = "https://${local.cluster_vip}:6443"
  talos_version    = "v1.14"

  # Nodes named cp* are control plane nodes, the others workers.
  talos_controlplanes = { for name, endpoint in var.talos_nodes : name => endpoint if startswith(name, "cp") }
  talos_workers       = { for name, endpoint in var.talos_nodes : name => endpoint if !startswith(name, "cp") }
  talos_bootstrap     = length(local.talos_controlplanes) > 0 ? local.talos_controlplanes[sort(keys(local.talos_controlplanes))[0]] : null
}

resource "homelab_talos_machine_secrets" "lab" {
  talos_version = local.talos_version
}

data "homelab_talos_machine_configuration" "controlplane" {
  cluster_name     = local.cluster_name
  cluster_endpoint = local.cluster_endpoint
  machine_type     = "controlplane"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  talos_version    = local.talos_version
  install_disk     = "/dev/sda"
  config_patches = [
    yamlencode({ machine = { certSANs = [local.cluster_vip, "k8s.${var.lab_domain}"] } }),
  ]
}

data "homelab_talos_machine_configuration" "worker" {
  cluster_name     = local.cluster_name
  cluster_endpoint = local.cluster_endpoint
  machine_type     = "worker"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  talos_version    = local.talos_version
  install_disk     = "/dev/sda"
}

data "homelab_talos_client_configuration" "lab" {
  cluster_name         = local.cluster_name
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
  endpoints            = values(local.talos_controlplanes)
}

resource "homelab_talos_machine_configuration_apply" "controlplane" {
  for_each = local.talos_controlplanes

  # The node is the VM of the same name (proxmox.tf): it must exist before
  # its configuration is applied, and outlive the reset on destroy.
  depends_on = [homelab_proxmox_vm.node]

  node                        = each.value
  client_configuration        = homelab_talos_machine_secrets.lab.client_configuration
  machine_configuration_input = data.homelab_talos_machine_configuration.controlplane.machine_configuration
  on_destroy = {
    reset    = true
    graceful = false
    reboot   = true
  }
}

resource "homelab_talos_machine_configuration_apply" "worker" {
  for_each = local.talos_workers

  # The node is the VM of the same name (proxmox.tf): it must exist before
  # its configuration is applied, and outlive the reset on destroy.
  depends_on = [homelab_proxmox_vm.node]

  node                        = each.value
  client_configuration        = homelab_talos_machine_secrets.lab.client_configuration
  machine_configuration_input = data.homelab_talos_machine_configuration.worker.machine_configuration
  on_destroy = {
    reset    = true
    graceful = false
    reboot   = true
  }
}

resource "homelab_talos_machine_bootstrap" "lab" {
  count = local.talos_bootstrap == null ? 0 : 1

  node                 = local.talos_bootstrap
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
  depends_on           = [homelab_talos_machine_configuration_apply.controlplane]
}

resource "homelab_talos_cluster_kubeconfig" "lab" {
  count = local.talos_bootstrap == null ? 0 : 1

  node                 = homelab_talos_machine_bootstrap.lab[0].node
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
}

output "talosconfig" {
  description = "The admin talosconfig (talosctl --talosconfig)."
  value       = data.homelab_talos_client_configuration.lab.talos_config
  sensitive   = true
}

output "kubeconfig" {
  description = "The cluster's admin kubeconfig (null without Talos nodes)."
  value       = one(homelab_talos_cluster_kubeconfig.lab[*].kubeconfig_raw)
  sensitive   = true
}
