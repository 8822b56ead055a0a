# What the DNS server holds, read-only (a View token suffices): the zones and
# their records, and what is left alone (built-in zones, the SOA and NS
# records the server makes with a zone, types the resources do not manage).
data "homelab_technitium_inventory" "home" {
  filter = {
    zone = ["home.arpa", "1.168.192.in-addr.arpa"]
  }
}

# Import IDs by resource address, e.g.
# "homelab_technitium_dns_record.nas_home_arpa_a" = "home.arpa/nas/A/192.168.1.20".
output "import_ids" {
  value = { for o in data.homelab_technitium_inventory.home.objects : "${o.type}.${o.name}" => o.id }
}

# Every A record's name and address.
output "a_records" {
  value = [
    for o in data.homelab_technitium_inventory.home.objects : o.summary
    if o.type == "homelab_technitium_dns_record" && o.attributes.type == "A"
  ]
}

output "skipped" {
  value = [for s in data.homelab_technitium_inventory.home.skipped : "${s.what}: ${s.why}"]
}
