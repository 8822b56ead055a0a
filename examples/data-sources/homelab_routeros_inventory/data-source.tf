# What the router holds, read-only: one ruleset per filter or NAT chain (in
# the router's order), the address-list entries and the static DNS records,
# and what is left alone (dynamic rules, entries and records).
data "homelab_routeros_inventory" "router" {
  filter = {
    chain = ["input", "forward", "srcnat", "dstnat"]
    list  = ["mgmt"]
  }
}

# Import IDs by resource address, e.g.
# "homelab_routeros_firewall_ruleset.filter_input" = "filter/input/*".
output "import_ids" {
  value = { for o in data.homelab_routeros_inventory.router.objects : "${o.type}.${o.name}" => o.id }
}

# How many rules each chain holds.
output "rules_per_chain" {
  value = {
    for o in data.homelab_routeros_inventory.router.objects :
    "${o.attributes.table}/${o.attributes.chain}" => tonumber(o.attributes.rules)
    if o.type == "homelab_routeros_firewall_ruleset"
  }
}

output "skipped" {
  value = [for s in data.homelab_routeros_inventory.router.skipped : "${s.what}: ${s.why}"]
}
