data "homelab_proxmox_nodes" "all" {}

output "node_names" {
  value = data.homelab_proxmox_nodes.all.names
}
