data "homelab_technitium_zone_records" "home" {
  zone = "home.arpa"
}

# Every A record of the zone, name => addresses.
output "a_records" {
  value = {
    for r in data.homelab_technitium_zone_records.home.records :
    r.name => r.value... if r.type == "A"
  }
}
