# A primary zone: created with its SOA and NS records.
resource "homelab_technitium_zone" "home" {
  name = "home.arpa"
}

# A reverse zone, by its in-addr.arpa name.
resource "homelab_technitium_zone" "reverse" {
  name = "1.168.192.in-addr.arpa"
}

# A conditional forwarder zone.
resource "homelab_technitium_zone" "corp" {
  name      = "corp.example"
  type      = "Forwarder"
  forwarder = "10.20.0.53"
}

# A secondary zone, transferred from its primaries.
resource "homelab_technitium_zone" "partner" {
  name                          = "partner.example"
  type                          = "Secondary"
  primary_name_server_addresses = ["192.0.2.53", "192.0.2.54"]
}
