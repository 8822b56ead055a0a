resource "homelab_talos_machine_secrets" "lab" {}

# A control plane node's configuration, with patches applied in order.
data "homelab_talos_machine_configuration" "controlplane" {
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "controlplane"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  talos_version    = "v1.13"
  install_disk     = "/dev/sda"
  config_patches = [
    yamlencode({
      machine = { certSANs = ["10.0.20.10", "k8s.lab.example"] }
      cluster = { allowSchedulingOnControlPlanes = true }
    }),
    yamlencode({ machine = { install = { wipe = true } } }),
  ]
}

# Workers get the OS CA certificate without its key.
data "homelab_talos_machine_configuration" "worker" {
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "worker"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  talos_version    = "v1.13"
}

# The same, never stored in plan or state (Terraform 1.10+).
ephemeral "homelab_talos_machine_configuration" "worker" {
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "worker"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
}
