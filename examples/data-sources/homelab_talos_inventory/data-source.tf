# What the Talos nodes at these addresses hold that the provider can import
# (TALOSCONFIG gives the client certificate; without it only maintenance-mode
# nodes can be told apart).
data "homelab_talos_inventory" "lab" {
  filter = {
    node = ["10.0.20.11", "10.0.20.12", "10.0.20.21"]
  }
}

output "talos_nodes" {
  value = [
    for o in data.homelab_talos_inventory.lab.objects : o.attributes["node"]
    if o.type == "homelab_talos_machine_configuration_apply"
  ]
}
