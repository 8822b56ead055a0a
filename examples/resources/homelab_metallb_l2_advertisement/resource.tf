# Announce the `lan` pool with ARP/NDP from the worker nodes, on eth0.
resource "homelab_metallb_l2_advertisement" "lan" {
  name             = "lan"
  ip_address_pools = ["lan"]
  interfaces       = ["eth0"]
  node_selectors = [{
    match_expressions = [{
      key      = "node-role.kubernetes.io/control-plane"
      operator = "DoesNotExist"
    }]
  }]
}
