# The LAN's LoadBalancer addresses, handed out to any service.
resource "homelab_metallb_ip_address_pool" "lan" {
  name      = "lan"
  addresses = ["192.168.1.225-192.168.1.240"]
}

# A pool only the `web` namespace's services with `tier=edge` get, preferred
# over other pools, skipping .0 and .255.
resource "homelab_metallb_ip_address_pool" "edge" {
  name            = "edge"
  addresses       = ["192.168.77.200-192.168.77.254", "fd00:77::/120"]
  auto_assign     = false
  avoid_buggy_ips = true
  service_allocation = {
    priority   = 10
    namespaces = ["web"]
    service_selectors = [{
      match_labels = { tier = "edge" }
    }]
  }
}
