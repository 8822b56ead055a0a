resource "homelab_talos_machine_secrets" "lab" {}

resource "homelab_talos_machine_bootstrap" "lab" {
  node                 = "10.0.20.11"
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
}

# The admin kubeconfig; fetched again at plan once its client certificate
# expires within 30 days.
resource "homelab_talos_cluster_kubeconfig" "lab" {
  node                         = homelab_talos_machine_bootstrap.lab.node
  client_configuration         = homelab_talos_machine_secrets.lab.client_configuration
  certificate_renewal_duration = "720h"
}

output "kubeconfig" {
  value     = homelab_talos_cluster_kubeconfig.lab.kubeconfig_raw
  sensitive = true
}

# The same, never stored in plan or state (Terraform 1.10+), e.g. for a
# kubernetes provider block.
ephemeral "homelab_talos_cluster_kubeconfig" "lab" {
  node                 = homelab_talos_machine_bootstrap.lab.node
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
}
