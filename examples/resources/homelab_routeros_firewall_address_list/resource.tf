resource "homelab_routeros_firewall_address_list" "admin_pc" {
  list    = "admins"
  address = "192.168.88.5"
  comment = "admin pc"
}

# A range that is a prefix is printed by RouterOS as the prefix; both
# spellings mean the same and never show as a change.
resource "homelab_routeros_firewall_address_list" "lab" {
  list    = "lab"
  address = "10.10.0.0-10.10.1.255"
}

# Temporary: RouterOS removes the entry when the timeout runs out, and the
# next plan creates it again.
resource "homelab_routeros_firewall_address_list" "blocked" {
  list    = "blocked"
  address = "203.0.113.66"
  timeout = "1d"
}
