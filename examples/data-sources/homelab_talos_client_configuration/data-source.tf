resource "homelab_talos_machine_secrets" "lab" {}

# A talosconfig with one context, "lab".
data "homelab_talos_client_configuration" "lab" {
  cluster_name         = "lab"
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
  endpoints            = ["10.0.20.11", "10.0.20.12", "10.0.20.13"]
  nodes                = ["10.0.20.11"]
}

resource "terraform_data" "talosconfig" {
  input = sha256(data.homelab_talos_client_configuration.lab.talos_config)
}
