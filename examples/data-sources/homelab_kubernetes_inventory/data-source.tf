# The MetalLB objects of the cluster, read-only (RBAC get and list on
# metallb.io suffice): pools, L2 and BGP advertisements, BGP peers and
# communities, and what is left alone (objects Helm, Flux or Argo CD manage,
# objects an owner controls, the Secrets peers' passwords are in).
data "homelab_kubernetes_inventory" "metallb" {
  filter = {
    namespace = ["metallb-system"]
  }
}

# Import IDs by resource address, e.g.
# "homelab_metallb_ip_address_pool.lan_pool" = "metallb-system/lan-pool".
output "import_ids" {
  value = { for o in data.homelab_kubernetes_inventory.metallb.objects : "${o.type}.${o.name}" => o.id }
}

# The pools' names.
output "pools" {
  value = [
    for o in data.homelab_kubernetes_inventory.metallb.objects :
    o.attributes.name if o.attributes.kind == "IPAddressPool"
  ]
}

output "skipped" {
  value = [for s in data.homelab_kubernetes_inventory.metallb.skipped : "${s.what}: ${s.why}"]
}
