# What the firewall holds, read-only: one ruleset per interface, the aliases,
# and what is left alone (floating rules, NAT rules, the anti-lockout rule).
data "homelab_pfsense_inventory" "lab" {
  filter = {
    interface = ["LAN", "DMZ"]
  }
}

# Import IDs by resource address, e.g.
# "homelab_pfsense_firewall_ruleset.lan" = "LAN/*".
output "import_ids" {
  value = { for o in data.homelab_pfsense_inventory.lab.objects : "${o.type}.${o.name}" => o.id }
}

output "skipped" {
  value = [for s in data.homelab_pfsense_inventory.lab.skipped : "${s.what}: ${s.why}"]
}
