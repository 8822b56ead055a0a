# The cluster's secrets: made once, kept in state (protect it).
resource "homelab_talos_machine_secrets" "lab" {
  talos_version = "v1.13"
}

# The admin talosconfig, e.g. for `talosctl --talosconfig`.
data "homelab_talos_client_configuration" "lab" {
  cluster_name         = "lab"
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
  endpoints            = ["10.0.20.11"]
}

output "talosconfig" {
  value     = data.homelab_talos_client_configuration.lab.talos_config
  sensitive = true
}
