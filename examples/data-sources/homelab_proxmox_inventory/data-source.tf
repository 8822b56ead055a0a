# What the cluster holds, read-only: VMs and templates, and the images and
# ISOs in the nodes' storages, and what is left alone (containers, container
# templates, backups, snippets, VM disk volumes).
data "homelab_proxmox_inventory" "pve1" {
  filter = {
    node = ["pve1"]
  }
}

# Import IDs by resource address, e.g.
# "homelab_proxmox_vm.pve1_web01" = "pve1/101".
output "import_ids" {
  value = { for o in data.homelab_proxmox_inventory.pve1.objects : "${o.type}.${o.name}" => o.id }
}

# The templates, by name.
output "templates" {
  value = {
    for o in data.homelab_proxmox_inventory.pve1.objects :
    o.attributes.name => tonumber(o.attributes.vm_id)
    if o.type == "homelab_proxmox_vm" && o.attributes.template == "true"
  }
}

output "skipped" {
  value = [for s in data.homelab_proxmox_inventory.pve1.skipped : "${s.what}: ${s.why}"]
}
